#!/usr/bin/env bash
# test_plot_cli.sh — CTest driver for `qsgdsim plot` (cli/CMakeLists.txt).
# Usage: test_plot_cli.sh fake|run|usage QSGDSIM_BINARY
#   fake   a hand-made experiment directory (2 quantizers x 2 worker counts x 2 networks, one
#          paper reference, the layout of docs/experiments.md): every figure is produced (PNG
#          when gnuplot is installed), svg on request, --terminal previews, the data files are
#          written and gnuplot missing is exit 1 with the data still there; a directory with
#          one worker count skips the speedup figure with a note
#   run    a real 2-point experiment (`qsgdsim run`, fp32 vs 4-bit QSGD on 2 SMPI ranks) and
#          its figures (skipped, exit 77, when this build has no runner or no SMPI trainer)
#   usage  bad directories and options exit 2 with a message
set -euo pipefail
mode=${1:?mode: fake|run|usage}
bin=${2:?path of the qsgdsim binary}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-plot-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
have_gnuplot=0
if command -v "${QSGDSIM_GNUPLOT:-gnuplot}" >/dev/null; then have_gnuplot=1; fi

is_png() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '211PNG' ]; }

# make_fake DIR WORKERS...: points.tsv, summary.tsv and per-point trainer tables.
make_fake() {
  local dir=$1
  shift
  mkdir -p "$dir"
  local head=$'point\tdir\tquantizer\tworkers\tnetwork'
  {
    echo "# qsgdsim run: the points (one per directory) of experiment 'fake'"
    echo "$head"
  } >"$dir/points.tsv"
  {
    echo "# qsgdsim run: summary of experiment 'fake'"
    echo "$head"$'\tstatus\taccuracy\tsim_time\ttime_to_target\ttime_per_epoch\tbits_per_iter\tspeedup\tref_speedup\tref_accuracy\tref_source'
  } >"$dir/summary.tsv"
  local i=0 q k net
  for q in fp32 qsgd:bits=4,bucket=512; do
    for k in "$@"; do
      for net in star:link=1GbE star:link=10GbE; do
        i=$((i + 1))
        local pd="q=${q//[:,=]/-}_K=${k}_net=${net//[:,=]/-}"
        local bits=7524928 comm=0.02
        [ "$q" = fp32 ] || bits=1002304
        [ "$net" = star:link=1GbE ] || comm=0.002
        [ "$q" = fp32 ] || comm=$(awk -v c="$comm" 'BEGIN { print c / 7.5 }')
        mkdir -p "$dir/$pd"
        awk -v k="$k" -v comm="$comm" -v bits="$bits" -v q="$q" 'BEGIN {
          OFS = "\t"
          print "# qsgdsim trainer, git test"
          print "# model: mlp:hidden=256x128"
          print "iteration", "epoch", "sim_time", "compute", "encode", "comm", "decode", "bits_sent", "train_loss", "lr"
          t = 0
          for (i = 1; i <= 40; i++) {
            c = 0.001; e = (q == "fp32") ? 0 : 0.0002; d = 0.0003
            t += c + e + comm + d
            print i, i / 20, t, c, e, comm, d, bits, 2.3 * exp(-i / 15) + 0.3 + (q == "fp32" ? 0 : 0.02), 0.05
          }
          print "# status: complete" }' >"$dir/$pd/iterations.tsv"
        local tpe
        tpe=$(awk -v comm="$comm" -v q="$q" 'BEGIN { print 20 * (0.001 + (q == "fp32" ? 0 : 0.0002) + comm + 0.0003) }')
        awk -v tpe="$tpe" 'BEGIN {
          OFS = "\t"; print "# qsgdsim trainer, git test"
          print "iteration", "epoch", "sim_time", "test_loss", "test_accuracy"
          for (i = 0; i <= 40; i += 10) print i, i / 20, tpe * i / 20, 2.3 * exp(-i / 15) + 0.3, 0.85 - 0.7 * exp(-i / 10)
          print "# status: complete" }' >"$dir/$pd/eval.tsv"
        echo complete >"$dir/$pd/status"
        printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$pd" "$q" "$k" "$net" >>"$dir/points.tsv"
        local ref=NaN src=-
        if [ "$q" != fp32 ] && [ "$net" = star:link=1GbE ]; then ref=5.5 src="made-up paper"; fi
        printf '%s\t%s\t%s\t%s\t%s\tcomplete\t0.85\t%s\tNaN\t%s\t%s\t%s\t%s\tNaN\t%s\n' "$i" "$pd" "$q" \
          "$k" "$net" "$(awk -v t="$tpe" 'BEGIN { print 2 * t }')" "$tpe" "$bits" \
          "$([ "$q" = fp32 ] && echo 1 || awk -v c="$comm" 'BEGIN { f = 0.0013 + c * 7.5; print f / (0.0015 + c) }')" \
          "$ref" "$src" >>"$dir/summary.tsv"
      done
    done
  done
}

# plot_ok DIR FIGURES...: exit 0, the figures as PNGs (with gnuplot), the data files.
plot_ok() {
  local dir=$1 rc=0
  shift
  "$bin" plot "$dir" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [ "$have_gnuplot" = 1 ]; then
    [ "$rc" -eq 0 ] || { cat "$tmp/err" >&2; fail "qsgdsim plot $dir exited $rc"; }
    local f
    for f in "$@"; do
      is_png "$dir/plots/$f.png" || fail "no PNG $dir/plots/$f.png"
      grep -qF "$dir/plots/$f.png" "$tmp/out" || fail "stdout does not list $f.png"
    done
  else
    [ "$rc" -eq 1 ] || fail "without gnuplot qsgdsim plot exited $rc, expected 1"
    echo "note: gnuplot not installed, figures not checked" >&2
  fi
  ls "$dir"/plots/*.dat >/dev/null 2>&1 || fail "no data files in $dir/plots"
  if ls -a "$dir/plots" | grep -q partial; then fail "partial files left in $dir/plots"; fi
  return 0
}

case $mode in
fake)
  d=$tmp/fake
  make_fake "$d" 2 4
  plot_ok "$d" convergence breakdown speedup speedup_network bits reference
  # the data: one block per panel and line, finite numbers
  [ "$(grep -c '^# block' "$d/plots/convergence_train.dat")" -eq 8 ] ||
    fail "convergence_train.dat: expected 8 blocks (4 panels x 2 quantizers)"
  grep -q $'^2\tK=2\t' "$d/plots/speedup.dat" || fail "speedup.dat lacks the K=2 rows"
  awk -F'\t' '!/^#/ && NF == 7 && $7 > 0 { n++ } END { exit n != 8 }' "$d/plots/breakdown.dat" ||
    fail "breakdown.dat: expected 8 bars with a positive total"
  [ "$(grep -vc "^#" "$d/plots/reference.dat")" -eq 2 ] || fail "reference.dat: expected 2 rows (K = 2, 4 at 1GbE)"
  # a setting paired with the quantizer (here the network: fp32 on 1GbE, QSGD on 10GbE, as
  # `pair = ["quantizer", "network"]` makes) travels in the bar labels, not in the panels
  d4=$tmp/fake-paired
  make_fake "$d4" 2 4
  for f in points.tsv summary.tsv; do
    awk -F'\t' '/^#/ || $2 == "dir" || ($3 == "fp32") == ($5 == "star:link=1GbE")' "$d4/$f" >"$d4/$f.new"
    mv "$d4/$f.new" "$d4/$f"
  done
  plot_ok "$d4" breakdown bits
  [ "$(grep -c '^# panel' "$d4/plots/breakdown.dat")" -eq 1 ] ||
    fail "paired: breakdown.dat split by the paired network: $(grep -c '^# panel' "$d4/plots/breakdown.dat") panels"
  awk -F'\t' '!/^#/ && NF { print $2 }' "$d4/plots/breakdown.dat" | sort -u >"$tmp/labels"
  [ "$(wc -l <"$tmp/labels")" -eq 2 ] && grep -q '^fp32 .*1GbE' "$tmp/labels" &&
    grep -q '^QSGD 4-bit .*10GbE' "$tmp/labels" ||
    fail "paired: bar labels do not carry the network: $(tr '\n' '|' <"$tmp/labels")"
  # not paired (every quantizer on both networks): two panels, as before
  [ "$(grep -c '^# panel' "$d/plots/breakdown.dat")" -eq 2 ] ||
    fail "breakdown.dat: expected 2 panels (one per network)"
  # points.tsv alone (a run still going): still plots, speedups computed from the tables
  d2=$tmp/fake-points
  make_fake "$d2" 2 4
  rm "$d2/summary.tsv"
  plot_ok "$d2" convergence breakdown speedup
  # one worker count: no speedup vs workers, with a note naming why
  d3=$tmp/fake-one-k
  make_fake "$d3" 4
  plot_ok "$d3" convergence breakdown speedup_network bits
  grep -q 'speedup: skipped (workers not swept' "$tmp/err" || fail "no note for the skipped speedup figure"
  [ -e "$d3/plots/speedup.png" ] && fail "speedup.png made with one worker count"
  if [ "$have_gnuplot" = 1 ]; then
    # svg on request; text previews on stdout
    "$bin" plot "$d" --format svg >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "--format svg failed"; }
    grep -q '<svg' "$d/plots/breakdown.svg" 2>/dev/null || fail "no breakdown.svg"
    "$bin" plot "$d" --terminal >"$tmp/term" 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "--terminal failed"; }
    grep -q "==== breakdown" "$tmp/term" && grep -q "simulated seconds" "$tmp/term" ||
      fail "--terminal printed no breakdown preview"
  fi
  # gnuplot missing: exit 1, a clear message, the data files still written
  rm -rf "$d/plots"
  rc=0
  QSGDSIM_GNUPLOT=/nonexistent/gnuplot "$bin" plot "$d" >/dev/null 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 1 ] || fail "missing gnuplot: exit $rc, expected 1"
  grep -q 'gnuplot not found' "$tmp/err" || fail "missing gnuplot: no message"
  [ -s "$d/plots/breakdown.dat" ] || fail "missing gnuplot: data files not written"
  ;;
run)
  if ! "$bin" help run >/dev/null 2>&1; then
    echo "skip: this qsgdsim has no run command" >&2
    exit 77
  fi
  cat >"$tmp/tiny.cfg" <<'EOF'
name = "tiny";
model = "logreg";
data = "synth-logreg:n=512,dim=16,ntest=128";
quantizer = ["fp32", "qsgd:bits=4,bucket=64"];
quant_min_numel = 1;
workers = 2;
network = "star:link=1GbE";
compute = "fixed:0.001";
codec = "none";
batch = 16;
max_steps = 8;
eval_every = 4;
EOF
  rc=0
  "$bin" run "$tmp/tiny.cfg" --out "$tmp/tiny" --no-plot >"$tmp/run.out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    if grep -q 'trainer' "$tmp/run.out" && grep -qi 'not found\|no such' "$tmp/run.out"; then
      echo "skip: no SMPI trainer in this build" >&2
      exit 77
    fi
    cat "$tmp/run.out" >&2
    fail "qsgdsim run of a 2-point experiment exited $rc"
  else
    plot_ok "$tmp/tiny" convergence breakdown bits
  fi
  ;;
usage)
  expect2() {
    local needle=$1 rc=0
    shift
    "$bin" plot "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 2 ] || fail "qsgdsim plot $*: exit $rc, expected 2"
    grep -qF -- "$needle" "$tmp/err" || fail "qsgdsim plot $*: stderr lacks '$needle': $(head -1 "$tmp/err")"
  }
  expect2 "no experiment directory" 
  expect2 "not a directory" "$tmp/nonexistent"
  mkdir -p "$tmp/empty"
  expect2 "not an experiment directory" "$tmp/empty"
  [ -e "$tmp/empty/plots" ] && fail "a bad directory got a plots/ subdirectory"
  printf 'a\tb\n1\t2\n' >"$tmp/empty/summary.tsv"
  expect2 "'point' and 'dir'" "$tmp/empty"
  make_fake "$tmp/ok" 2
  expect2 "--format" "$tmp/ok" --format gif
  expect2 "--bogus" "$tmp/ok" --bogus
  expect2 "more than one" "$tmp/ok" "$tmp/ok"
  "$bin" plot --help >"$tmp/out" || fail "plot --help exited $?"
  grep -q 'usage: qsgdsim plot' "$tmp/out" || fail "plot --help printed no usage"
  ;;
*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac
[ "$fails" -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "ok"
