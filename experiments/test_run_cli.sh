#!/usr/bin/env bash
# test_run_cli.sh — CTest driver for `qsgdsim run` and `qsgdsim list` (experiments/CMakeLists.txt).
# Usage: test_run_cli.sh errors|sweep|fail|sigint|list QSGDSIM_BINARY
#   errors  each experiments/tests/bad_*.cfg exits 2 with FILE:LINE and the expected words;
#           a valid file passes --check and --dry-run without writing anything
#   sweep   tests/sweep.cfg (2 quantizers x 2 worker counts): 4 complete points, points.tsv,
#           summary.tsv (speedup 1 for fp32); a rerun skips all; a lost status reruns one
#           point; --force reruns all
#   fail    tests/fail.cfg: the point with a missing data file fails (reported with its log),
#           the other completes, exit 1
#   sigint  tests/sigint.cfg: SIGINT while point 2 runs: exit 130, point 1 kept, nothing left
#           running, a rerun resumes with point 2 only
#   list    `qsgdsim list` and its categories
set -euo pipefail
mode=${1:?mode: errors|sweep|fail|sigint|list}
bin=${2:?path of the qsgdsim binary}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
here=$(cd "$(dirname "$0")" && pwd)
tests=$here/tests
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-run-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect_error FILE LINE WORD...: exit 2, a line "FILE:LINE: ..." containing every WORD.
expect_error() {
  local f=$tests/$1 line=$2
  shift 2
  local rc=0
  (cd "$tmp" && "$bin" run "$f" --out "$tmp/never") >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "$f: exit status $rc, expected 2"
  local msg
  msg=$(grep -F "$f:$line: " "$tmp/err" || true)
  if [ -z "$msg" ]; then
    fail "$f: no message at $f:$line; stderr was:"
    sed 's/^/    /' "$tmp/err" >&2
    return 0
  fi
  local w
  for w in "$@"; do
    grep -qF -- "$w" <<<"$msg" || fail "$f:$line: message lacks '$w': $msg"
  done
  [ ! -e "$tmp/never" ] || fail "$f: an invalid file created the output directory"
  return 0
}

tsv_rows() { grep -v '^#' "$1" | sed 1d; }
# column NAME of a TSV (header after the '#' lines), one value per row
tsv_col() {
  grep -v '^#' "$1" | awk -F'\t' -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next }
                                            k { print $k }'
}

case $mode in
errors)
  expect_error bad_unknown_key.cfg 3 "unknown setting 'wrokers'" "valid:" "workers" "quantizer" "did you mean 'workers'"
  expect_error bad_type.cfg 4 "batch" "expected an integer" "got a string"
  expect_error bad_quantizer.cfg 4 "qsgdd" "valid: fp32, qsgd, onebit"
  expect_error bad_allreduce.cfg 4 "allreduce" "qsgd:bits=4,bucket=512" "(line 3)" "fp32"
  expect_error bad_syntax.cfg 3 "syntax error"
  expect_error bad_group.cfg 4 "bitz" "options:" "bits=B"
  expect_error bad_overlap.cfg 4 "overlap" "elias" "fixed-size"
  expect_error bad_ps.cfg 3 "workers = 1" "ps" "at least 2"
  expect_error bad_negative.cfg 3 "max_steps" "negative"
  expect_error bad_specs.cfg 2 "unknown model 'mlpx'" "valid:" "mlp"
  expect_error bad_specs.cfg 3 "unknown data source 'mnist'" "fmnist" "libsvm:PATH" "synth-logreg"
  expect_error bad_specs.cfg 4 "cosine" "total="
  expect_error bad_specs.cfg 5 "2GbE" "valid:" "10GbE"
  expect_error bad_specs.cfg 6 "K81" "valid:" "K80"
  expect_error bad_reference.cfg 5 "unknown field 'speed'" "speedup" "source"
  expect_error bad_device.cfg 3 "gpu" "auto, cpu, cuda"
  # a missing file and bad options are usage errors too
  rc=0; "$bin" run "$tmp/none.cfg" >/dev/null 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 2 ] && grep -q "none.cfg: cannot open" "$tmp/err" || fail "missing file: exit $rc"
  rc=0; "$bin" run "$tests/sweep.cfg" -j 0 >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "-j 0: exit $rc, expected 2"
  rc=0; "$bin" run >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "no file: exit $rc, expected 2"
  "$bin" run --help | grep -q "usage: qsgdsim run" || fail "run --help"
  # a valid file: --check and --dry-run write nothing
  out=$("$bin" run "$tests/reference.cfg" --check) || fail "--check of a valid file failed"
  grep -q "valid: 12 points" <<<"$out" || fail "--check: '$out'"
  (cd "$tmp" && "$bin" run "$tests/reference.cfg" --dry-run) >"$tmp/dry" || fail "--dry-run failed"
  [ "$(grep -c '^\[[0-9]*/12\]' "$tmp/dry")" -eq 12 ] || fail "--dry-run does not list 12 points"
  grep -q 'q=qsgd-bits4-bucket512_K=4_net=star-link1GbE  (has a reference value)' "$tmp/dry" ||
    fail "--dry-run: the group-built spec qsgd:bits=4,bucket=512 does not match its reference"
  grep -q -- '--quant qsgd:bits=2,bucket=512' "$tmp/dry" || fail "--dry-run: no spec built from the group"
  [ ! -e "$tmp/results" ] || fail "--dry-run wrote $tmp/results"
  ;;

sweep)
  out=$tmp/sweep
  rc=0
  "$bin" run "$tests/sweep.cfg" --out "$out" -j 2 >"$tmp/1.out" 2>"$tmp/1.err" || rc=$?
  [ "$rc" -eq 0 ] || { cat "$tmp/1.out" "$tmp/1.err" >&2; fail "sweep exited $rc"; }
  dirs="q=fp32_K=2 q=fp32_K=3 q=qsgd-bits4-bucket32_K=2 q=qsgd-bits4-bucket32_K=3"
  for d in $dirs; do
    [ "$(cat "$out/$d/status" 2>/dev/null)" = complete ] || fail "$d: status not complete"
    for f in iterations.tsv eval.tsv summary.txt log.txt point.txt command.txt; do
      [ -f "$out/$d/$f" ] || fail "$d/$f missing"
    done
  done
  [ "$(find "$out" -mindepth 1 -maxdepth 1 -type d -name 'q=*' | wc -l)" -eq 4 ] || fail "not 4 point directories"
  # the plot step (when the `plot` subcommand exists) writes only under DIR/plots
  [ -z "$(find "$out" -mindepth 1 -maxdepth 1 -type d ! -name 'q=*' ! -name plots)" ] ||
    fail "unexpected directories in $out"
  if "$bin" help plot >/dev/null 2>&1; then
    grep -q "plotting: qsgdsim plot $out" "$tmp/1.err" || fail "the plot step did not run"
  fi
  cmp -s "$tests/sweep.cfg" "$out/experiment.cfg" || fail "experiment.cfg is not a copy of the file"
  [ "$(grep -v '^#' "$out/points.tsv" | sed -n 1p)" = $'point\tdir\tquantizer\tworkers' ] ||
    fail "points.tsv header"
  [ "$(tsv_rows "$out/points.tsv" | wc -l)" -eq 4 ] || fail "points.tsv: not 4 rows"
  grep -q '^# command: ' "$out/summary.tsv" || fail "summary.tsv: no provenance"
  [ "$(tsv_rows "$out/summary.tsv" | wc -l)" -eq 4 ] || fail "summary.tsv: not 4 rows"
  paste <(tsv_col "$out/summary.tsv" quantizer) <(tsv_col "$out/summary.tsv" speedup) \
    <(tsv_col "$out/summary.tsv" status) <(tsv_col "$out/summary.tsv" bits_per_iter) >"$tmp/cols"
  awk -F'\t' '$1 == "fp32" && $2 != 1 { exit 1 }' "$tmp/cols" || fail "fp32 speedup is not 1: $(cat "$tmp/cols")"
  awk -F'\t' '$1 != "fp32" && !($2 > 0.5 && $2 < 2) { exit 1 }' "$tmp/cols" || fail "qsgd speedup: $(cat "$tmp/cols")"
  awk -F'\t' '$3 != "complete" { exit 1 }' "$tmp/cols" || fail "summary status: $(cat "$tmp/cols")"
  # 4-bit codes send fewer bits than fp32
  awk -F'\t' '$1 == "fp32" { f = $4 } $1 != "fp32" { q = $4 } END { exit !(q < f / 3) }' "$tmp/cols" ||
    fail "bits_per_iter: qsgd not below fp32/3: $(cat "$tmp/cols")"
  grep -q "speedup" "$tmp/1.out" || fail "no summary table on stdout"

  # rerun: everything is skipped, nothing is written in the point directories
  touch "$tmp/mark"
  rc=0
  "$bin" run "$tests/sweep.cfg" --out "$out" --no-plot >"$tmp/2.out" 2>"$tmp/2.err" || rc=$?
  [ "$rc" -eq 0 ] || fail "rerun exited $rc"
  grep -q "4 points already complete, skipped" "$tmp/2.out" || fail "rerun: no skip message: $(cat "$tmp/2.out")"
  [ -z "$(find "$out"/q=* -newer "$tmp/mark")" ] || fail "rerun rewrote point files"
  [ "$(tsv_rows "$out/summary.tsv" | wc -l)" -eq 4 ] || fail "rerun: summary.tsv not 4 rows"

  # an interrupted point (no status, a .partial file) is cleaned and rerun, alone
  rm "$out/q=fp32_K=3/status"
  touch "$out/q=fp32_K=3/iterations.tsv.partial"
  touch "$tmp/mark2"
  "$bin" run "$tests/sweep.cfg" --out "$out" --no-plot >"$tmp/3.out" 2>"$tmp/3.err" || fail "resume exited nonzero"
  grep -q "1 to run" "$tmp/3.out" || fail "resume: not exactly 1 point to run: $(cat "$tmp/3.out")"
  [ "$(cat "$out/q=fp32_K=3/status")" = complete ] || fail "resumed point not complete"
  [ ! -e "$out/q=fp32_K=3/iterations.tsv.partial" ] || fail "stale .partial kept"
  [ -z "$(find "$out/q=fp32_K=2" -newer "$tmp/mark2")" ] || fail "resume rewrote a complete point"

  # --force reruns every point
  touch "$tmp/mark3"
  "$bin" run "$tests/sweep.cfg" --out "$out" --force --no-plot >"$tmp/4.out" 2>"$tmp/4.err" || fail "--force exited nonzero"
  for d in $dirs; do
    [ -n "$(find "$out/$d/log.txt" -newer "$tmp/mark3")" ] || fail "--force did not rerun $d"
  done
  ;;

fail)
  out=$tmp/fail
  rc=0
  "$bin" run "$tests/fail.cfg" --out "$out" --no-plot >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 1 ] || fail "exit status $rc, expected 1"
  good="data=synth-logreg-n600-dim64-ntest200" bad="data=libsvm-nonexistent-qsgdsim-test-svm"
  [ "$(cat "$out/$good/status" 2>/dev/null)" = complete ] || fail "the good point did not complete"
  grep -q "$bad: FAILED (exit status" "$tmp/err" || fail "failure not reported: $(cat "$tmp/err")"
  grep -q "cannot open" "$tmp/err" || fail "the log tail of the failed point is not shown"
  paste <(tsv_col "$out/summary.tsv" dir) <(tsv_col "$out/summary.tsv" status) >"$tmp/cols"
  grep -q "^$good	complete$" "$tmp/cols" && grep -q "^$bad	failed$" "$tmp/cols" ||
    fail "summary.tsv statuses: $(cat "$tmp/cols")"
  ;;

sigint)
  out=$tmp/sigint
  "$bin" run "$tests/sigint.cfg" --out "$out" --no-plot >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  p2="$out/steps=0"
  for _ in $(seq 1 200); do # until point 2 is training (at most 20 s)
    [ -s "$p2/iterations.tsv.partial" ] && break
    sleep 0.1
  done
  [ -s "$p2/iterations.tsv.partial" ] || fail "point 2 never started"
  kill -INT "$pid"
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 130 ] || fail "exit status $rc after SIGINT, expected 130"
  [ "$(cat "$out/steps=4/status" 2>/dev/null)" = complete ] || fail "point 1 lost its complete status"
  [ ! -e "$p2/status" ] || fail "the interrupted point has a status file"
  sleep 0.2
  if pgrep -f -- "$out" >/dev/null; then
    fail "processes left running: $(pgrep -af -- "$out")"
  fi
  grep -q "interrupted" "$tmp/err" || fail "no interruption message"
  # resume: the rerun plans point 2 alone; SIGTERM stops it the same way
  "$bin" run "$tests/sigint.cfg" --out "$out" --no-plot >"$tmp/out2" 2>"$tmp/err2" &
  pid=$!
  for _ in $(seq 1 100); do
    grep -q "to run" "$tmp/out2" 2>/dev/null && break
    sleep 0.1
  done
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  grep -q "1 to run" "$tmp/out2" || fail "resume after SIGINT: $(cat "$tmp/out2")"
  [ "$rc" -eq 130 ] || fail "exit status $rc after SIGTERM, expected 130"
  ;;

list)
  out=$("$bin" list) || fail "list exited nonzero"
  for w in fp32 qsgd onebit logreg mlp 10GbE fat-tree K80 allgather stripes workers; do
    grep -qw -- "$w" <<<"$out" || fail "list lacks '$w'"
  done
  out=$("$bin" list quantizers) || fail "list quantizers exited nonzero"
  grep -q qsgd <<<"$out" && ! grep -q K80 <<<"$out" || fail "list quantizers: $out"
  rc=0; "$bin" list bogus >/dev/null 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 2 ] && grep -q "valid:" "$tmp/err" || fail "list bogus: exit $rc"
  ;;

*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac

if [ "$fails" -gt 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "ok: $mode"
