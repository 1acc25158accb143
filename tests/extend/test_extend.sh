#!/usr/bin/env bash
# test_extend.sh — CTest driver of tests/extend/ (test extend_*): a quantizer, a model and a
# data source defined in this directory, each one file plus one registry line
# (extend_registry.h), used through the qsgdsim_extend variant of the command line.
# Usage: test_extend.sh list|config|plot|train QSGDSIM_EXTEND_BINARY TESTS_DIR
#   list    `qsgdsim list quantizers|models` show them with the usage and help generated
#           from their option tables
#   config  xtest.cfg (all three, with options) passes --check and --dry-run (the argv of its
#           points carries the specs); each bad option of bad_xtest.cfg is FILE:LINE naming
#           the key
#   plot    the figure label of xtest:b=3,scale=0.5 (aliases resolved) in the plot data
#   train   `qsgdsim train` of the new model on the new data through the new quantizer:
#           canonical specs in the provenance, exact bits per step, the loss falls, and the
#           same seed gives the same numbers
set -euo pipefail
mode=${1:?mode: list|config|plot|train}
bin=${2:?path of the qsgdsim_extend binary}
here=${3:?tests/extend directory}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-extend-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# has FILE TEXT...: every TEXT is a fixed string of FILE
has() {
  local f=$1 t
  shift
  for t in "$@"; do
    grep -qF -- "$t" "$f" || { fail "'$t' not in the output:"; sed 's/^/    /' "$f" >&2; }
  done
}

case $mode in
list)
  "$bin" list quantizers >"$tmp/q" || fail "list quantizers exited $?"
  has "$tmp/q" "  xtest      fixed-point rounding to 2^bits values" "options: bits=B, scale=S" \
    "bits (b)         integer 1..16, default 4: bits per coordinate" \
    "scale            number 1e-30..1e+30, default 1: clamp range"
  "$bin" list models >"$tmp/m" || fail "list models exited $?"
  has "$tmp/m" "  xtest      ridge regression with plain loops" "options: l2=LAMBDA, init=W0"
  ;;
config)
  rc=0
  "$bin" run "$here/xtest.cfg" --check >"$tmp/out" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || fail "xtest.cfg: --check exited $rc"
  has "$tmp/out" "valid: 2 points"
  rc=0
  "$bin" run "$here/xtest.cfg" --dry-run --out "$tmp/never" >"$tmp/out" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || fail "xtest.cfg: --dry-run exited $rc"
  has "$tmp/out" "--model xtest:l2=0.01,init=0.25 --data xtest:n=64,dim=4 --quant xtest:bits=3,scale=0.5"
  [ ! -e "$tmp/never" ] || fail "--dry-run created the output directory"
  rc=0
  "$bin" run "$here/bad_xtest.cfg" --check >"$tmp/out" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "bad_xtest.cfg: --check exited $rc, expected 2"
  f=$here/bad_xtest.cfg
  has "$tmp/out" "$f:2: quantizer: option bits: '17' is not an integer in [1, 16]" \
    "$f:3: model: model xtest: option l2: '-1' is not a number" \
    "$f:4: data: xtest: unknown option 'dimm' (valid: n dim)" "3 errors; nothing was run"
  ;;
plot)
  # a finished experiment of 2 quantizers x 2 worker counts, as `qsgdsim run` leaves it
  d=$tmp/exp
  mkdir -p "$d"
  printf '# qsgdsim run: the points of experiment xtest\npoint\tdir\tquantizer\tworkers\n' >"$d/points.tsv"
  i=0
  for q in fp32 xtest:b=3,scale=0.5; do
    for k in 2 4; do
      i=$((i + 1))
      mkdir -p "$d/p$i"
      awk 'BEGIN { OFS = "\t"; print "# qsgdsim trainer, git test"
        print "iteration", "epoch", "sim_time", "compute", "encode", "comm", "decode", "bits_sent", "train_loss", "lr"
        for (i = 1; i <= 8; i++) print i, i / 4, i * 0.01, 0.004, 0.001, 0.004, 0.001, 96, 1 / i, 0.1
        print "# status: complete" }' >"$d/p$i/iterations.tsv"
      awk 'BEGIN { OFS = "\t"; print "# qsgdsim trainer, git test"
        print "iteration", "epoch", "sim_time", "test_loss", "test_accuracy"
        for (i = 0; i <= 8; i += 4) print i, i / 4, i * 0.01, 1 / (i + 1), "NaN"
        print "# status: complete" }' >"$d/p$i/eval.tsv"
      echo complete >"$d/p$i/status"
      printf '%s\tp%s\t%s\t%s\n' "$i" "$i" "$q" "$k" >>"$d/points.tsv"
    done
  done
  # the data files do not need gnuplot (without it: exit 1, data written)
  rc=0
  QSGDSIM_GNUPLOT=/nonexistent/gnuplot "$bin" plot "$d" >"$tmp/out" 2>&1 || rc=$?
  [ "$rc" -eq 1 ] || fail "qsgdsim plot exited $rc, expected 1 (no gnuplot)"
  [ -s "$d/plots/bits.dat" ] || fail "no bits.dat"
  grep -q $'\txtest bits=3 scale=0.5\t' "$d/plots/bits.dat" ||
    fail "bits.dat lacks the label 'xtest bits=3 scale=0.5'"
  ;;
train)
  args=(train --model xtest:l2=0.001 --data xtest:n=256,d=8 --quant xtest:b=8,scale=2
    --quant-min-numel 0 --epochs 4 --batch 16 --lr 0.1 --schedule constant --momentum 0
    --device cpu --threads 1 --quiet)
  for r in 1 2; do
    rc=0
    "$bin" "${args[@]}" --out "$tmp/t$r.tsv" >"$tmp/out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || { cat "$tmp/out" >&2; fail "train run $r exited $rc"; }
  done
  t=$tmp/t1.tsv
  has "$t" "# model: xtest:l2=0.001 " "# data: xtest:n=256,dim=8 " \
    "# quant: xtest:bits=8,scale=2 on 1 of 1 tensors" "# status: complete"
  # 8 parameters at 8 bits each: 64 bits per step; the test loss falls at least 4-fold
  awk -F'\t' '!/^#/ && $1 ~ /^[0-9]+$/ { if ($1 == 0) first = $5; else if ($9 != 64) bad = 1; last = $5; n++ }
              END { exit !(n == 5 && !bad && last < first / 4) }' "$t" ||
    { fail "expected 5 epochs, 64 bits per step and a falling test loss:"; cat "$t" >&2; }
  # same seed, same numbers (the timing columns aside)
  cmp <(grep -v '^#' "$tmp/t1.tsv" | cut -f1-6,9) <(grep -v '^#' "$tmp/t2.tsv" | cut -f1-6,9) ||
    fail "two runs with the same seed differ"
  ;;
*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac
[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "extend $mode: ok"
