#!/usr/bin/env bash
# test-compressors-study.sh — CTest study_compressors: scripts/compressors-study.sh on
# synthetic results whose phases are known, so that every number it derives is known: time
# to the target, the fit T(B) = A + V/B and the break-even bandwidth B* = (V - V_b)/(A_b - A)
# with its four cases (below, always, never, and the baseline itself); refusals (an
# incomplete point, evaluations that differ between bandwidths). With QSGDSIM (the qsgdsim
# binary) also `qsgdsim run --check` of experiments/compressors*.cfg.
#
#   test-compressors-study.sh [QSGDSIM]
set -u -o pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
study=$here/scripts/compressors-study.sh
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

# point DIR QUANT EXCHANGE BW  COMPUTE ENCODE DECODE LAT GBIT  ACC1
# 20 iterations, every one compute + encode + decode + comm with comm = LAT + GBIT / BW (s);
# evaluations at 0, 10 (accuracy ACC1) and 20 (0.91).
point() {
    local d=$1 q=$2 ex=$3 B=$4
    mkdir -p "$d"
    awk -v q="$q" -v ex="$ex" -v B="$B" -v c="$5" -v e="$6" -v dd="$7" -v l="$8" -v w="$9" \
        -v a1="${10}" -v it="$d/iterations.tsv" -v ev="$d/eval.tsv" 'BEGIN {
        printf "# synthetic\n# config: quant = %s\n# config: exchange = %s\n", q, ex > it
        print "iteration\tepoch\tsim_time\tcompute\tencode\tcomm\tdecode\tbits_sent\ttrain_loss\tlr" > it
        printf "# config: quant = %s\n", q > ev
        print "iteration\tepoch\tsim_time\ttest_loss\ttest_accuracy" > ev
        print "0\t0\t0\t2\t0.1" > ev
        t = 0
        for (i = 1; i <= 20; i++) {
            cm = l + w / B; t += c + e + cm + dd
            printf "%d\t%.4f\t%.12g\t%.12g\t%.12g\t%.12g\t%.12g\t%d\t1\t0.1\n", i, i / 20, t, c, e, cm, dd, w * 1e9 > it
            if (i == 10) printf "10\t0.5\t%.12g\t1\t%s\n", t, a1 > ev
            if (i == 20) printf "20\t1\t%.12g\t0.5\t0.91\n", t > ev
        }
        print "# status: complete" > it; print "# status: complete" > ev
    }'
}
# summary DIR: summary.tsv of the points under DIR (quantizer, network from the names)
summary() {
    {
        printf '# synthetic\npoint\tdir\tquantizer\tnetwork\tstatus\n'
        local n=0 p
        for p in "$1"/q=*; do
            n=$((n + 1))
            local b=${p##*bw=}
            printf '%d\t%s\tx\tstar:bw=%sGbps,lat=5us\tcomplete\n' $n "${p##*/}" "$b"
        done
    } >"$1/summary.tsv"
}

# Baseline b: A_b = 10 (1e-3 + 1e-4) = 0.011 s, V_b = 10 x 0.01 = 0.1 Gbit.
# q4: A = 10 (1e-3 + 1e-4 + 4e-4 + 1e-4) = 0.016, V = 0.0125: B* = 0.0875 / 0.005 = 17.5, below.
# tk: A = 0.01, V = 0.01: always. bad: A = 0.02, V = 0.2: never.
# late: reaches the target only at iteration 20 (accuracy 0.84 at 10): N = 20.
make_set() { # DIR BASE
    local B
    for B in 1 10 100; do
        point "$2/q=base_bw=$B" fp32 allreduce $B 1e-3 0 0 1e-4 0.01 0.86
        point "$1/q=q4_bw=$B" "qsgd:bits=4" allgather $B 1e-3 1e-4 4e-4 1e-4 0.00125 0.86
        point "$1/q=tk_bw=$B" "topk" allgather $B 1e-3 0 0 0 0.001 0.86
        point "$1/q=bad_bw=$B" "bad" allgather $B 1e-3 1e-3 0 1e-4 0.02 0.86
        point "$1/q=late_bw=$B" "late" allgather $B 1e-3 1e-4 4e-4 1e-4 0.00125 0.84
    done
    summary "$1"
    summary "$2"
}
col() { # FILE QUANT COLUMN: the cell of QUANT's row (first match) in COLUMN
    awk -F'\t' -v q="$2" -v c="$3" '/^#/ { next } !h { for (i = 1; i <= NF; i++) k[$i] = i; h = 1; next }
        $1 == q { print $k[c]; exit }' "$1"
}
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; d = d < 0 ? -d : d; exit !(d <= 1e-3 * (b < 0 ? -b : b) + 1e-12) }'; }

make_set "$tmp/r" "$tmp/b"
if ! "$study" "$tmp/r" "$tmp/b" >"$tmp/out" 2>"$tmp/err"; then
    fail "the study failed on valid results: $(cat "$tmp/err")"
fi
be=$tmp/r/breakeven.tsv
[ -f "$be" ] || fail "no breakeven.tsv"
bc=breakeven_vs_fp32_allreduce_Gbps
wc=wins_vs_fp32_allreduce
check() { # QUANT COLUMN EXPECTED (numbers to 1e-3 relative: the table has 4-6 digits)
    local v
    v=$(col "$be" "$1" "$2")
    case $3 in
    [0-9]*) near "$v" "$3" || fail "$1 $2 = '$v', expected $3" ;;
    *) [ "$v" = "$3" ] || fail "$1 $2 = '$v', expected $3" ;;
    esac
}
check "qsgd:bits=4" iters_to_target 10
check "qsgd:bits=4" A_s 0.016
check "qsgd:bits=4" V_Gbit 0.0125
check "qsgd:bits=4" link_Mbit_per_iter 1.25
check "qsgd:bits=4" $bc 17.5
check "qsgd:bits=4" $wc below
check topk $bc inf
check topk $wc always
check bad $bc NaN
check bad $wc never
check fp32 A_s 0.011
check fp32 $wc -
check late iters_to_target 20
check late A_s 0.032
check late $bc 3.571 # (0.025 - 0.1) / (0.011 - 0.032)
check late $wc below
# time_to_target.tsv: qsgd 4-bit at 10 Gb/s, measured = predicted = A + V/10
t=$(awk -F'\t' '$1 == "qsgd:bits=4" && $3 == 10 { print $6 }' "$tmp/r/time_to_target.tsv")
near "$t" 0.01725 || fail "time to target of qsgd:bits=4 at 10 Gb/s: '$t', expected 0.01725"

# a lossy scheme on the all-reduce (PowerSGD's two rings) is compared, not a baseline: with
# "pw" in the baseline directory the table keeps one baseline column set (fp32), and pw gets
# its break-even against fp32 like the all-gather schemes (A = 0.012, V = 0.02: 0.08/0.001 = 80)
make_set "$tmp/r4" "$tmp/b4"
for B in 1 10 100; do
    point "$tmp/b4/q=pw_bw=$B" "powersgd:rank=2" allreduce $B 1e-3 1e-4 0 1e-4 0.002 0.86
done
summary "$tmp/b4"
"$study" "$tmp/r4" "$tmp/b4" >/dev/null 2>"$tmp/err" || fail "with powersgd on the all-reduce: $(cat "$tmp/err")"
be=$tmp/r4/breakeven.tsv
[ "$(head -5 "$be" | grep -v '^#' | head -1 | tr '\t' '\n' | grep -c '^breakeven_vs_')" = 1 ] ||
    fail "powersgd on the all-reduce became a baseline: $(grep -v '^#' "$be" | head -1)"
check "powersgd:rank=2" $bc 80
check "powersgd:rank=2" $wc below
# -b names the baselines: both all-reduce schemes
"$study" -b fp32,powersgd:rank=2 "$tmp/r4" "$tmp/b4" >/dev/null 2>"$tmp/err" || fail "-b: $(cat "$tmp/err")"
[ "$(grep -v '^#' "$be" | head -1 | tr '\t' '\n' | grep -c '^breakeven_vs_')" = 2 ] ||
    fail "-b fp32,powersgd:rank=2: not two baselines: $(grep -v '^#' "$be" | head -1)"
rc=0
"$study" -b bf16 "$tmp/r4" "$tmp/b4" >/dev/null 2>"$tmp/err" || rc=$?
[ $rc = 1 ] && grep -q "no allreduce scheme of the baseline quantizers (bf16)" "$tmp/err" ||
    fail "-b bf16 with no bf16 ring: exit $rc, $(cat "$tmp/err")"
be=$tmp/r/breakeven.tsv

# refusals: an incomplete point; evaluations that differ between bandwidths
make_set "$tmp/r2" "$tmp/b2"
sed -i 's/\tcomplete$/\tfailed/' "$tmp/b2/summary.tsv"
rc=0
"$study" "$tmp/r2" "$tmp/b2" >/dev/null 2>"$tmp/err" || rc=$?
[ $rc = 1 ] && grep -q "status failed" "$tmp/err" || fail "a failed point: exit $rc, $(cat "$tmp/err")"
make_set "$tmp/r3" "$tmp/b3"
sed -i 's/^20\t1\t\([^\t]*\)\t0.5\t0.91$/20\t1\t\1\t0.5\t0.92/' "$tmp/r3/q=tk_bw=10/eval.tsv"
rc=0
"$study" "$tmp/r3" "$tmp/b3" >/dev/null 2>"$tmp/err" || rc=$?
[ $rc = 1 ] && grep -q "evaluations differ" "$tmp/err" || fail "differing evaluations: exit $rc, $(cat "$tmp/err")"

# the experiment files are valid
if [ $# -ge 1 ]; then
    for f in compressors compressors_allreduce compressors_cnn compressors_cnn_allreduce; do
        "$1" run "$here/experiments/$f.cfg" --check >"$tmp/out" 2>&1 || fail "$f.cfg: $(cat "$tmp/out")"
    done
fi
[ $fails = 0 ] && echo "study_compressors: ok" && exit 0
exit 1
