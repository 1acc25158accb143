#!/usr/bin/env bash
# numbers-check.sh — "same numbers" check of every study config (issue 12): runs a cut-down
# copy of each experiments/*.cfg, digests the numbers each point wrote (losses, accuracies,
# bits, simulated times: the exact text of the table cells) and compares digests.
#
#   numbers-check.sh digest BUILD_DIR OUT.tsv [STUDY...]   digest the studies (default: all)
#   numbers-check.sh compare A.tsv B.tsv                   exit 0 if identical, else the points
#                                                          that differ and the first differing row
#   numbers-check.sh ref REV BUILD_DIR [STUDY...]          build REV in a git worktree, digest it
#                                                          and the current tree (BUILD_DIR), compare
#   numbers-check.sh derive SRC.cfg DST.cfg                the cut-down copy of one study only
#   numbers-check.sh repro BUILD_DIR [STUDY...]            digest twice, compare (CTest numbers_check)
#
# A study is the file stem (fmnist, table1, ...). The cut-down copy keeps every quantizer,
# exchange and model value of the file; it forces max_steps <= 3 and eval_every = 2, fewer
# workers / networks / data where the sweep is large, and `compute = "fixed:0.001"`,
# `codec = "none"` where the study measures them (measured times are not reproducible).
# The cuts per study are in cut_study() below; `derive` shows the result.
#
# OUT.tsv: `#` lines (what, build), then one sorted line per point:
#   config  point  status  sha256  rows  first  last
# sha256 is over the point's numbers (OUT.tsv.d/CONFIG/POINT.txt, kept beside OUT.tsv):
#   it  <iterations.tsv: iteration epoch sim_time compute encode comm decode bits_sent train_loss lr>
#   ev  <eval.tsv: iteration epoch sim_time test_loss test_accuracy>
#   tables' `# status:` lines, the point's status file, summary.txt's iterations, sim_time,
#   final_train_loss, time_to_target, and the runner's summary.tsv row (status accuracy
#   sim_time time_to_target time_per_epoch bits_per_iter speedup).
# Columns are found by name; a missing one is the cell `<no COLUMN>` (so it shows as a diff).
# first/last: the first and last `it` rows, tabs as spaces.
#
# Environment: NUMBERS_JOBS (points at once, default 2), NUMBERS_FMNIST_DIR (repro: where
# the trainer's Fashion-MNIST is, default /usr/share/datasets/fashion-mnist), NUMBERS_TMP (work directory,
# default a mktemp dir, removed at the end unless NUMBERS_KEEP=1), NUMBERS_REF_DIR (ref:
# where REV's worktree and build live, default BUILD_DIR/numbers-ref; the build is kept
# and reused, the worktree removed).
# Exit status: 0 same numbers / digest written; 1 numbers differ or a point failed or a
# study could not run (said on stderr); 2 bad usage.
set -u -o pipefail

self_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=$(cd "$self_dir/.." && pwd)
jobs=${NUMBERS_JOBS:-2}
fmnist_dir=${NUMBERS_FMNIST_DIR:-/usr/share/datasets/fashion-mnist} # models/data.h DATA_FMNIST_DIR

die() { echo "numbers-check: $*" >&2; exit 1; }
bad() { echo "numbers-check: $*" >&2; exit 2; } # bad usage: a missing file or directory
usage() {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---- experiment files: top-level settings as KEY<TAB>VALUE lines ---------------------------
# Comments (#, //, /* */) are dropped outside strings; a value ends at the `;` at depth 0
# of ()[]{}; multi-line values are joined with single spaces.
cfg_settings() { # FILE
    awk '
    function emit(s,   key, val) {
        sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s)
        if (s == "") return
        if (!match(s, /^[A-Za-z*][-A-Za-z0-9_*]*[ \t]*[=:]/)) {
            printf "%s: cannot read the setting \"%s\"\n", FILENAME, substr(s, 1, 60) > "/dev/stderr"
            bad = 1; return
        }
        key = substr(s, 1, RLENGTH - 1); sub(/[ \t]+$/, "", key)
        val = substr(s, RLENGTH + 1); sub(/^[ \t]+/, "", val)
        gsub(/[ \t]+/, " ", val)
        printf "%s\t%s\n", key, val
    }
    {
        line = $0; n = length(line); i = 1
        if (!instr && !incomment && depth == 0 && line ~ /^[ \t]*@include/) {
            printf "%s:%d: @include is not supported here\n", FILENAME, NR > "/dev/stderr"
            bad = 1; next
        }
        while (i <= n) {
            c = substr(line, i, 1); d = substr(line, i + 1, 1)
            if (incomment) { if (c == "*" && d == "/") { incomment = 0; i += 2 } else i++; continue }
            if (instr) {
                buf = buf c
                if (c == "\\") { buf = buf d; i += 2; continue }
                if (c == "\"") instr = 0
                i++; continue
            }
            if (c == "\"") { instr = 1; buf = buf c; i++; continue }
            if (c == "#" || (c == "/" && d == "/")) break
            if (c == "/" && d == "*") { incomment = 1; i += 2; continue }
            if (c == "(" || c == "[" || c == "{") depth++
            if (c == ")" || c == "]" || c == "}") depth--
            if (c == ";" && depth == 0) { emit(buf); buf = ""; i++; continue }
            buf = buf c; i++
        }
        buf = buf " "
    }
    END {
        if (buf ~ /[^ \t]/) emit(buf)
        exit bad
    }' "$1"
}

# The cut for each study: KEY=VALUE lines replacing (or adding) settings. Everything not
# named keeps the file's value. Generic rules first, then per study.
cut_study() { # STEM SETTINGS_FILE
    local stem=$1 settings=$2 compute codec steps
    compute=$(awk -F'\t' '$1 == "compute" { print $2 }' "$settings")
    codec=$(awk -F'\t' '$1 == "codec" { print $2 }' "$settings")
    steps=$(awk -F'\t' '$1 == "max_steps" { print $2 }' "$settings")
    # Measured compute or codec (also the default) is not reproducible: fixed models instead.
    case $compute in "" | \"measured*) echo 'compute="fixed:0.001"' ;; esac
    case $codec in "" | \"measured*) echo 'codec="none"' ;; esac
    # Few steps: 3 (the studies that already run 1-2 keep theirs), evaluated at 0, 2 and the end.
    case $steps in 1 | 2 | 3) ;; *) echo 'max_steps=3' ;; esac
    echo 'eval_every=2'
    case $stem in
    quickstart) # 4 workers x 60,000 images: a subset is as good for the numbers
        echo 'data="fmnist:n=4096,ntest=1000"' ;;
    fmnist) # 5 quantizers x 5 worker counts (1-16) x 2 networks, all kept
        echo 'data="fmnist:n=4096,ntest=1000"' ;;
    convex) # 5 quantizers x 4 worker counts (64-dim least squares: cheap), all kept
        echo 'data="synth-leastsq:n=4096,dim=64,kappa=10,noise=1,ntest=1024"' ;;
    bandwidth | bandwidth_allreduce) # profile models (AlexNet: 250 MB per message) on 8 workers
        echo 'workers=2'
        echo 'network=["star:link=1GbE", "star:link=100GbIB"]' ;;
    table1 | table1_allgather | table1_sensitivity | table1_calibration)
        # 2-16 ranks of VGG19/AlexNet/... (workers paired with the model): 2 ranks each
        awk -F'\t' '$1 == "workers" { v = $2
            if (v ~ /^\[/) { n = gsub(/,/, ",", v) + 1; s = "["; for (i = 1; i <= n; i++) s = s (i > 1 ? ", " : "") "2"; print "workers=" s "]" }
            else print "workers=2" }' "$settings" ;;
    compressors | compressors_allreduce) # 15 compressors x 3 networks on 8 workers: 2 networks
        echo 'data="fmnist:n=4096,ntest=1000"'
        echo 'network=["star:link=1GbE,lat=5us", "star:link=100GbIB,lat=5us"]' ;;
    esac
}

# The derived file: the study's settings in their order, overridden ones replaced, new ones
# appended; `reference` is dropped (its points may be cut away: a warning, not numbers).
derive() { # SRC DST
    local src=$1 dst=$2 stem settings cuts
    stem=$(basename "$src" .cfg)
    settings=$(mktemp) && cuts=$(mktemp) || die "mktemp failed"
    if ! cfg_settings "$src" >"$settings"; then
        rm -f "$settings" "$cuts"; die "$src: cannot be read (above)"
    fi
    cut_study "$stem" "$settings" >"$cuts"
    {
        echo "# $stem, cut down by scripts/numbers-check.sh from $src"
        awk -F'\t' '
        NR == FNR { k = substr($0, 1, index($0, "=") - 1); cut[k] = substr($0, index($0, "=") + 1)
                    order[++n] = k; next }
        $1 == "reference" { next }
        $1 in cut { printf "%s = %s;\n", $1, cut[$1]; done[$1] = 1; next }
        { printf "%s = %s;\n", $1, $2 }
        END { for (i = 1; i <= n; i++) if (!(order[i] in done)) printf "%s = %s;\n", order[i], cut[order[i]] }
        ' "$cuts" "$settings"
    } >"$dst"
    rm -f "$settings" "$cuts"
}

# ---- digest ---------------------------------------------------------------------------------
# The numbers of one table: TAG, then the named columns of every data row, then its
# `# status:` line. Header = the first line that is not a comment.
table_numbers() { # TAG FILE COLUMN...
    local tag=$1 file=$2
    shift 2
    if [ ! -f "$file" ]; then
        printf '%s\t<no %s>\n' "$tag" "$(basename "$file")"
        return
    fi
    awk -F'\t' -v tag="$tag" -v want="$*" '
    BEGIN { nw = split(want, w, " ") }
    /^# status:/ { print tag "\t" $0; next }
    /^#/ { next }
    !hdr { for (i = 1; i <= NF; i++) col[$i] = i; hdr = 1; next }
    {
        line = tag
        for (j = 1; j <= nw; j++) line = line "\t" ((w[j] in col) ? $(col[w[j]]) : "<no " w[j] ">")
        print line
    }' "$file"
}

point_numbers() { # RESULT_DIR POINT
    local dir=$1/$2
    table_numbers it "$dir/iterations.tsv" iteration epoch sim_time compute encode comm decode \
        bits_sent train_loss lr
    table_numbers ev "$dir/eval.tsv" iteration epoch sim_time test_loss test_accuracy
    if [ -f "$dir/status" ]; then printf 'status\t%s\n' "$(head -n 1 "$dir/status")"; else printf 'status\t<none>\n'; fi
    if [ -f "$dir/summary.txt" ]; then
        awk '$1 ~ /^(iterations|sim_time|final_train_loss|time_to_target)$/ { print "sum\t" $0 }' \
            "$dir/summary.txt"
    fi
    awk -F'\t' -v point="$2" '
    BEGIN { nw = split("status accuracy sim_time time_to_target time_per_epoch bits_per_iter speedup", w, " ") }
    /^#/ { next }
    !hdr { for (i = 1; i <= NF; i++) col[$i] = i; hdr = 1; next }
    $(col["dir"]) == point {
        line = "run"
        for (j = 1; j <= nw; j++) line = line "\t" ((w[j] in col) ? $(col[w[j]]) : "<no " w[j] ">")
        print line
    }' "$1/summary.tsv" 2>/dev/null
}

# Run one study with BUILD's qsgdsim; append its points to ROWS, numbers under NUMDIR.
digest_study() { # BUILD CFG WORK ROWS NUMDIR
    local build=$1 cfg=$2 work=$3 rows=$4 numdir=$5 stem derived out rc point status sum n
    stem=$(basename "$cfg" .cfg)
    derived=$work/$stem.cfg
    out=$work/results/$stem
    derive "$cfg" "$derived"
    if ! "$build/qsgdsim" run "$derived" --check >"$work/$stem.check.log" 2>&1; then
        echo "numbers-check: $stem: the cut-down copy is refused by $build/qsgdsim:" >&2
        sed 's/^/  /' "$work/$stem.check.log" >&2
        return 1
    fi
    local t0=$SECONDS
    "$build/qsgdsim" run "$derived" --out "$out" -j "$jobs" --no-plot >"$work/$stem.log" 2>&1
    rc=$?
    echo "numbers-check: $stem: $(($(wc -l <"$out/points.tsv") - $(grep -c '^#' "$out/points.tsv") - 1)) points, $((SECONDS - t0)) s, qsgdsim run exit $rc" >&2
    case $rc in
    0 | 3) ;;
    *)
        echo "numbers-check: $stem: qsgdsim run exited $rc (its output: $work/$stem.log)" >&2
        tail -n 20 "$work/$stem.log" | sed 's/^/  /' >&2
        ;;
    esac
    mkdir -p "$numdir/$stem" || return 1
    while IFS=$'\t' read -r _ point _; do
        point_numbers "$out" "$point" >"$numdir/$stem/$point.txt"
        status=$(awk -F'\t' '$1 == "status" { print $2; exit }' "$numdir/$stem/$point.txt")
        sum=$(sha256sum <"$numdir/$stem/$point.txt" | cut -c1-64)
        n=$(grep -c . "$numdir/$stem/$point.txt")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$stem" "$point" "${status:-<none>}" "$sum" "$n" \
            "$(awk -F'\t' '$1 == "it" && $2 ~ /^[0-9]/ { $1 = ""; sub(/^ /, ""); print; exit }' "$numdir/$stem/$point.txt")" \
            "$(awk -F'\t' '$1 == "it" && $2 ~ /^[0-9]/ { $1 = ""; sub(/^ /, ""); l = $0 } END { print l }' "$numdir/$stem/$point.txt")" \
            >>"$rows"
    done < <(awk -F'\t' '/^#/ { next } !h { h = 1; next } { print $1 "\t" $2 "\t" }' "$out/points.tsv")
    [ "$rc" = 0 ] || [ "$rc" = 3 ]
}

studies_of() { # [STUDY...] -> config paths
    local s
    if [ $# = 0 ]; then
        ls "$src_dir"/experiments/*.cfg
    else
        for s in "$@"; do
            [ -f "$src_dir/experiments/$s.cfg" ] || bad "no study $s (experiments/$s.cfg)"
            echo "$src_dir/experiments/$s.cfg"
        done
    fi
}

work_dir() {
    if [ -n "${NUMBERS_TMP:-}" ]; then
        mkdir -p "$NUMBERS_TMP" && echo "$NUMBERS_TMP"
    else
        mktemp -d "${TMPDIR:-/tmp}/numbers-check.XXXXXX"
    fi
}

cmd_digest() { # BUILD OUT [STUDY...]
    [ $# -ge 2 ] || usage
    local build out work rows cfg cfgs failed=0 git
    build=$(cd "$1" 2>/dev/null && pwd) || bad "no build directory $1"
    out=$2
    shift 2
    [ -x "$build/qsgdsim" ] || bad "$build/qsgdsim is not built"
    cfgs=$(studies_of "$@") || exit 2
    work=$(work_dir) || die "cannot make a work directory"
    mkdir -p "$work/$$" && work=$work/$$
    rows=$work/rows.tsv
    : >"$rows"
    rm -rf "$out.d" && mkdir -p "$out.d" || die "cannot write $out.d"
    for cfg in $cfgs; do
        digest_study "$build" "$cfg" "$work" "$rows" "$out.d" || failed=1
    done
    git=$("$build/qsgdsim" --version 2>/dev/null | head -n 1)
    {
        printf '# numbers-check.sh digest: %s\n' "$build ($git)"
        printf '# columns: config\tpoint\tstatus\tsha256\trows\tfirst\tlast\n'
        LC_ALL=C sort "$rows"
    } >"$out.tmp" && mv "$out.tmp" "$out" || die "cannot write $out"
    echo "numbers-check: $(grep -vc '^#' "$out") points digested into $out" >&2
    grep -v '^#' "$out" | awk -F'\t' '$3 !~ /^complete/ { print "numbers-check: " $1 " " $2 ": " $3 }' >&2
    if [ "${NUMBERS_KEEP:-0}" = 1 ]; then
        echo "numbers-check: results kept in $work" >&2
    else
        rm -rf "$work"
        [ -n "${NUMBERS_TMP:-}" ] || rmdir "$(dirname "$work")" 2>/dev/null
    fi
    [ "$failed" = 0 ] || echo "numbers-check: FAILED: a study did not run completely (above)" >&2
    return "$failed"
}

cmd_compare() { # A B
    [ $# = 2 ] || usage
    local a=$1 b=$2
    [ -f "$a" ] || bad "no $a"
    [ -f "$b" ] || bad "no $b"
    awk -F'\t' -v A="$a" -v B="$b" '
    FNR == 1 { f++ }
    /^#/ { next }
    { k = $1 "\t" $2; if (f == 1) { sa[k] = $4; ra[k] = $0; ka[++na] = k } else { sb[k] = $4; rb[k] = $0; kb[++nb] = k } }
    END {
        for (i = 1; i <= na; i++) { k = ka[i]
            if (!(k in sb)) { print "only in " A ": " k; d++ }
            else if (sa[k] != sb[k]) { print "differ: " k; d++ } }
        for (i = 1; i <= nb; i++) if (!(kb[i] in sa)) { print "only in " B ": " kb[i]; d++ }
        exit d > 0
    }' "$a" "$b" >"$a.cmp.$$"
    local rc=$?
    local line cfg point fa fb
    while IFS= read -r line; do
        echo "$line"
        case $line in
        differ:*)
            cfg=$(echo "${line#differ: }" | cut -f1)
            point=$(echo "${line#differ: }" | cut -f2)
            fa=$a.d/$cfg/$point.txt
            fb=$b.d/$cfg/$point.txt
            if [ -f "$fa" ] && [ -f "$fb" ]; then
                # The first row (line of the numbers) that differs, and how many do.
                awk -v A="$a" -v B="$b" '
                NR == FNR { ra[FNR] = $0; na = FNR; next }
                { rb[FNR] = $0; nb = FNR }
                END {
                    n = na > nb ? na : nb
                    for (i = 1; i <= n; i++) if (ra[i] != rb[i]) {
                        if (!d++) printf "  first differing row (%d):\n    %s: %s\n    %s: %s\n", i, A, (i in ra) ? ra[i] : "<none>", B, (i in rb) ? rb[i] : "<none>"
                    }
                    printf "  %d of %d rows differ\n", d, n
                }' "$fa" "$fb"
            else
                printf '  %s: %s\n  %s: %s\n' "$a" "$(grep -F "$cfg	$point	" "$a" | cut -f3-)" \
                    "$b" "$(grep -F "$cfg	$point	" "$b" | cut -f3-)"
            fi
            ;;
        esac
    done <"$a.cmp.$$"
    rm -f "$a.cmp.$$"
    if [ "$rc" = 0 ]; then
        echo "numbers-check: same numbers: $(grep -vc '^#' "$a") points ($a, $b)"
    else
        echo "numbers-check: NUMBERS DIFFER ($a vs $b)"
    fi
    return "$rc"
}

cmd_ref() { # REV BUILD [STUDY...]
    [ $# -ge 2 ] || usage
    local rev=$1 build=$2 sha refdir tree rbuild rc_a rc_b rc
    shift 2
    sha=$(git -C "$src_dir" rev-parse --verify -q "$rev^{commit}") || bad "no revision $rev"
    build=$(cd "$build" 2>/dev/null && pwd) || bad "no build directory $build"
    refdir=${NUMBERS_REF_DIR:-$build/numbers-ref}
    mkdir -p "$refdir" || die "cannot make $refdir"
    refdir=$(cd "$refdir" && pwd)
    tree=$refdir/src-${sha:0:12}
    rbuild=$refdir/build-${sha:0:12}
    if [ ! -e "$tree/.git" ]; then
        git -C "$src_dir" worktree add --detach "$tree" "$sha" >/dev/null || die "git worktree add $tree $sha failed"
    fi
    # Expanded now: the trap runs after this function's locals are gone.
    trap "git -C $(printf %q "$src_dir") worktree remove --force $(printf %q "$tree") 2>/dev/null" EXIT
    echo "numbers-check: building $rev (${sha:0:12}) in $rbuild" >&2
    cmake -S "$tree" -B "$rbuild" -DQSGDSIM_CUDA=OFF -DQSGDSIM_FUZZ=OFF >"$refdir/configure.log" 2>&1 ||
        die "configuring $rev failed: $refdir/configure.log"
    cmake --build "$rbuild" --target qsgdsim -j "${NUMBERS_BUILD_JOBS:-2}" >"$refdir/build.log" 2>&1 ||
        die "building $rev failed: $refdir/build.log"
    echo "numbers-check: building the current tree in $build" >&2
    cmake --build "$build" --target qsgdsim -j "${NUMBERS_BUILD_JOBS:-2}" >"$refdir/build-current.log" 2>&1 ||
        die "building the current tree failed: $refdir/build-current.log"
    cmd_digest "$rbuild" "$refdir/ref.tsv" "$@"
    rc_a=$?
    cmd_digest "$build" "$refdir/current.tsv" "$@"
    rc_b=$?
    cmd_compare "$refdir/ref.tsv" "$refdir/current.tsv"
    rc=$?
    [ "$rc_a" = 0 ] || echo "numbers-check: a study of $rev did not run completely (above)" >&2
    [ "$rc_b" = 0 ] || echo "numbers-check: a study of the current tree did not run completely (above)" >&2
    [ "$rc" = 0 ] && [ "$rc_a" = 0 ] && [ "$rc_b" = 0 ]
}

cmd_repro() { # BUILD [STUDY...]
    [ $# -ge 1 ] || usage
    local build=$1 work rc s kept=()
    shift
    # Fashion-MNIST is an optional Debian package: a study that needs it is left out (said);
    # nothing left is a skip (77). `digest` has no such exception: there it is a failure.
    local cfgs
    cfgs=$(studies_of "$@") || exit 2
    for s in $cfgs; do
        if grep -q '^data *= *"fmnist' "$s" && [ ! -f "$fmnist_dir/train-images-idx3-ubyte.gz" ]; then
            echo "numbers-check: $(basename "$s" .cfg) left out: no Fashion-MNIST in $fmnist_dir" >&2
        else
            kept+=("$(basename "$s" .cfg)")
        fi
    done
    [ ${#kept[@]} -gt 0 ] || { echo "numbers-check: no study can run here; skipped" >&2; return 77; }
    set -- "${kept[@]}"
    work=$(mktemp -d "${TMPDIR:-/tmp}/numbers-repro.XXXXXX") || die "mktemp failed"
    cmd_digest "$build" "$work/a.tsv" "$@" || { rm -rf "$work"; die "first digest failed"; }
    cmd_digest "$build" "$work/b.tsv" "$@" || { rm -rf "$work"; die "second digest failed"; }
    cmd_compare "$work/a.tsv" "$work/b.tsv"
    rc=$?
    if [ "$rc" = 0 ]; then rm -rf "$work"; else echo "numbers-check: both digests kept in $work" >&2; fi
    return "$rc"
}

main() {
    [ $# -ge 1 ] || usage
    local cmd=$1
    shift
    case $cmd in
    digest) cmd_digest "$@" ;;
    compare) cmd_compare "$@" ;;
    ref) cmd_ref "$@" ;;
    repro) cmd_repro "$@" ;;
    derive) [ $# = 2 ] || usage; derive "$1" "$2" ;;
    settings) [ $# = 1 ] || usage; cfg_settings "$1" ;;
    -h | --help | help) usage ;;
    *) echo "numbers-check: unknown command $cmd" >&2; usage ;;
    esac
}
# One line: bash reads no further, so editing this file during a run does not disturb it.
main "$@"; exit $?
