#!/usr/bin/env bash
# test_run_cli.sh — CTest driver for `qsgdsim run` and `qsgdsim list` (cli/CMakeLists.txt).
# Usage: test_run_cli.sh errors|sweep|fail|sigint|sim|partial|lock|list QSGDSIM_BINARY
#   errors  each cli/tests/bad_*.cfg exits 2 with FILE:LINE and the expected words;
#           a valid file passes --check and --dry-run without writing anything
#   sweep   tests/sweep.cfg (2 quantizers x 2 worker counts): 4 complete points, points.tsv,
#           summary.tsv (speedup 1 for fp32); a rerun skips all; a lost status reruns one
#           point; --force reruns all
#   fail    tests/fail.cfg: the point with a missing data file fails (reported with its log),
#           the other completes, exit 1
#   sigint  tests/sigint.cfg: SIGINT while point 2 runs: exit 130, point 1 kept, nothing left
#           running, a rerun resumes with point 2 only
#   sim     `qsgdsim sim` takes its exit status from the status file, with a fake trainer
#           (tests/fake_trainer.c, built with smpicc): MPI_Abort or no status = 1 (smpirun
#           exits 0), failed (io) = 5, diverged = 3 with "diverged at iteration N"; a stale
#           status is removed first; 300 trainer arguments all reach smpirun; more ranks than
#           vm.max_map_count or MemAvailable allow are refused (6), 4096 are not; the memory
#           estimate counts the model; `qsgdsim run` refuses such a point before anything
#           starts (tests/fake_ranks.cfg), runs the others and warns about slow ones; its
#           --dry-run prints each point's estimate and verdict (the same estimate) and runs
#           nothing
#   partial the runner judges a point from complete outputs only: status complete with
#           .partial tables is failed (and rerun, never skipped), no metrics from a .partial;
#           summary.tsv's reason column; diverged points kept on resume (exit 3)
#   lock    a second runner on a busy directory and `qsgdsim sim` on a busy point exit 5;
#           SIGKILL of the runner stops its running point within seconds; the next runner
#           takes the lock over
#   list    `qsgdsim list` and its categories
set -euo pipefail
mode=${1:?mode: errors|sweep|fail|sigint|sim|partial|lock|list}
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

# the fake trainer (tests/fake_trainer.c), or skip (77) without smpicc
build_fake() {
  command -v smpicc >/dev/null 2>&1 || { echo "smpicc not found: skipped"; exit 77; }
  smpicc -O1 -o "$tmp/fake" "$tests/fake_trainer.c" >"$tmp/cc.log" 2>&1 || {
    cat "$tmp/cc.log" >&2
    echo "FAIL: cannot build the fake trainer" >&2
    exit 1
  }
}

# run_fake MODE OUT [ARGS...]: `qsgdsim sim` of the fake trainer ending as MODE; sets rc
run_fake() {
  local m=$1 o=$2
  shift 2
  rc=0
  FAKE_TRAINER_MODE=$m "$bin" sim --ranks 2 --trainer "$tmp/fake" --out "$o" "$@" >"$tmp/sim.out" 2>"$tmp/sim.err" || rc=$?
}

# run_exp MODE [ARGS...]: `qsgdsim run tests/fake.cfg` into $out with the fake trainer; sets rc
run_exp() {
  local m=$1
  shift
  rc=0
  QSGDSIM_TRAINER=$tmp/fake FAKE_TRAINER_MODE=$m "$bin" run "$tests/fake.cfg" --out "$out" --no-plot "$@" \
    >"$tmp/run.out" 2>"$tmp/run.err" || rc=$?
}

# no process whose command line names $1 within $2 seconds
none_left() {
  local k
  for k in $(seq 1 $(($2 * 10))); do
    pgrep -f -- "$1" >/dev/null || return 0
    sleep 0.1
  done
  return 1
}

case $mode in
errors)
  expect_error bad_unknown_key.cfg 3 "unknown setting 'wrokers'" "valid:" "workers" "quantizer" "did you mean 'workers'"
  expect_error bad_type.cfg 4 "batch" "expected an integer" "got a string"
  expect_error bad_quantizer.cfg 4 "qsgdd" "valid: fp32, qsgd, onebit"
  expect_error bad_allreduce.cfg 5 "error-feedback state" "allgather or ps"
  expect_error bad_ring_onebit.cfg 3 "error-feedback state" "allgather or ps"
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

sim)
  build_fake
  o=$tmp/p
  mkdir -p "$o"
  echo complete >"$o/status" # stale: must not survive a run that writes none
  run_fake abort "$o"
  [ "$rc" -eq 1 ] || fail "MPI_Abort: exit status $rc, expected 1"
  grep -q "the trainer ended without writing its status (smpirun exit status 0: internal)" "$tmp/sim.err" ||
    fail "MPI_Abort: message: $(cat "$tmp/sim.err")"
  grep -q "^failed (internal): the trainer ended without writing its status" "$o/status" ||
    fail "MPI_Abort: status '$(cat "$o/status" 2>/dev/null)'"
  run_fake nostatus "$o"
  [ "$rc" -eq 1 ] || fail "no status: exit status $rc, expected 1"
  grep -q "^failed (internal)" "$o/status" || fail "no status: status '$(cat "$o/status")'"
  run_fake nostatus-io "$o"
  [ "$rc" -eq 5 ] || fail "no status, trainer exit 5: exit status $rc, expected 5"
  grep -q "^failed (io): the trainer ended without writing its status" "$o/status" ||
    fail "no status, trainer exit 5: status '$(cat "$o/status")'"
  run_fake failed-io "$o"
  [ "$rc" -eq 5 ] || fail "failed (io): exit status $rc, expected 5"
  [ "$(cat "$o/status")" = "failed (io): cannot write iterations.tsv.partial: File too large" ] ||
    fail "failed (io): status '$(cat "$o/status")'"
  run_fake diverged "$o"
  [ "$rc" -eq 3 ] || fail "diverged: exit status $rc, expected 3"
  grep -q "the training diverged at iteration 3; results kept in $o" "$tmp/sim.err" ||
    fail "diverged: message: $(cat "$tmp/sim.err")"
  ! grep -q "simulation failed" "$tmp/sim.err" || fail "diverged reported as a failure"
  run_fake complete "$o"
  [ "$rc" -eq 0 ] && [ "$(cat "$o/status")" = complete ] || fail "complete: exit status $rc"
  # every trainer argument reaches smpirun (there was a silent cut at 256)
  run_fake complete "$tmp/d" --dry-run -- $(seq -f 'arg%g' 1 300) LAST
  [ "$rc" -eq 0 ] || fail "--dry-run with 300 arguments: exit $rc"
  tr ' ' '\n' <"$tmp/sim.out" | grep -c '^arg[0-9]*$' | grep -qx 300 && grep -q ' LAST$' "$tmp/sim.out" ||
    fail "not every trainer argument reached smpirun: $(tail -c 200 "$tmp/sim.out")"
  # the ranks this machine can hold: memory maps (one trainer copy per rank), memory
  export QSGDSIM_MAX_MAP_COUNT=65530 QSGDSIM_MEM_AVAILABLE=24e9
  run_fake complete "$tmp/r" --ranks 30000 --dry-run
  [ "$rc" -eq 6 ] || fail "--ranks 30000 with vm.max_map_count 65530: exit $rc, expected 6"
  grep -q "vm.max_map_count = 65530" "$tmp/sim.err" && grep -q "sysctl -w vm.max_map_count=" "$tmp/sim.err" &&
    grep -q "use at most [0-9]* ranks" "$tmp/sim.err" || fail "--ranks 30000: message: $(cat "$tmp/sim.err")"
  run_fake complete "$tmp/r" --ranks 4096 --dry-run
  [ "$rc" -eq 0 ] || fail "--ranks 4096 refused on a 24 GB machine: $(cat "$tmp/sim.err")"
  # ... but warned about: SimGrid's own message rate (K(K-1) messages per all-gather step)
  grep -q "warning: --ranks 4096 with --exchange allgather: about [0-9]* s of wall time per training step" "$tmp/sim.err" ||
    fail "--ranks 4096: no wall-time warning: $(cat "$tmp/sim.err")"
  QSGDSIM_MEM_AVAILABLE=1e9 run_fake complete "$tmp/r" --ranks 4096 --dry-run
  [ "$rc" -eq 6 ] && grep -q "MemAvailable" "$tmp/sim.err" || fail "--ranks 4096 in 1 GB: exit $rc: $(cat "$tmp/sim.err")"
  # the memory estimate counts the model's buffers (synth-logreg dim=64: 65 parameters)
  QSGDSIM_MEM_AVAILABLE=1e9 run_fake complete "$tmp/r" --ranks 4096 --dry-run -- --model logreg \
    --data synth-logreg:n=600,dim=64,ntest=200 --batch 16
  [ "$rc" -eq 6 ] && grep -q "with the model's 65 parameters" "$tmp/sim.err" ||
    fail "--ranks 4096 with a model in 1 GB: exit $rc: $(cat "$tmp/sim.err")"
  # `qsgdsim run` estimates every point before anything starts (the same estimate): the
  # 4096-rank point is refused (maps), the others run; 1024 all-gather ranks are warned about
  export QSGDSIM_MAX_MAP_COUNT=9000
  out=$tmp/ranks
  # --dry-run prints, per point, the estimate the runner judges it by and its verdict, runs
  # and writes nothing: the 4096-rank point would be refused (maps), the 1024-rank one warned
  # about (wall time), each simulation has its estimate line, then the totals
  rc=0
  "$bin" run "$tests/fake_ranks.cfg" --out "$out" --dry-run >"$tmp/dry.out" 2>"$tmp/dry.err" || rc=$?
  [ "$rc" -eq 0 ] || fail "run --dry-run: exit $rc: $(cat "$tmp/dry.err")"
  [ "$(grep -c '^  estimate: [0-9]* MiB private ([0-9]* fixed + [0-9.]* per rank), [0-9]* memory maps, .* s of wall time per step' "$tmp/dry.out")" -eq 3 ] &&
    [ "$(grep -c '^  memory: per rank: gradient + message' "$tmp/dry.out")" -eq 3 ] ||
    fail "run --dry-run: not one estimate per point: $(cat "$tmp/dry.out")"
  sed -n '/^\[3\/3\] K=4096/,$p' "$tmp/dry.out" |
    grep -q "^  would be refused before it starts: --ranks 4096 needs about .* memory maps.*vm.max_map_count = 9000" ||
    fail "run --dry-run: the 4096-rank point not shown as refused: $(cat "$tmp/dry.out")"
  sed -n '/^\[2\/3\] K=1024/,/^\[3\/3\]/p' "$tmp/dry.out" |
    grep -q "^  warning: --ranks 1024 with --exchange allgather: about [0-9]* s of wall time per training step" ||
    fail "run --dry-run: the 1024-rank point not warned about: $(cat "$tmp/dry.out")"
  grep -q "^estimates (this machine: MemAvailable .* GiB, vm.max_map_count 9000): 1 point would be refused, 1 warned about; the largest needs" "$tmp/dry.out" ||
    fail "run --dry-run: no totals line: $(tail -1 "$tmp/dry.out")"
  [ ! -e "$out" ] || fail "run --dry-run created $out"
  # ... the same estimate as `qsgdsim sim --dry-run` of that point's command (within 2%: the
  # heap bytes measured for the model differ by what a process initializes once)
  est=$(sed -n '/^\[2\/3\] K=1024/,/^\[3\/3\]/s/^  estimate: \([0-9]*\) MiB.*/\1/p' "$tmp/dry.out")
  sest=$("$bin" sim --ranks 1024 --dry-run --out "$tmp/est" -- --model logreg \
    --data synth-logreg:n=600,dim=64,ntest=200 --quant fp32 --optim sgd:lr=0.05,momentum=0.9 \
    --batch 16 --epochs 1 --max-steps 4 | sed -n 's/^# estimate: \([0-9]*\) MiB.*/\1/p')
  [ -n "$est" ] && [ "$est" -gt 0 ] && [ -n "$sest" ] && [ $((50 * (est - sest))) -le "$est" ] &&
    [ $((50 * (sest - est))) -le "$est" ] ||
    fail "run --dry-run's estimate of the 1024-rank point '$est' MiB, qsgdsim sim --dry-run's '$sest'"
  QSGDSIM_TRAINER=$tmp/fake FAKE_TRAINER_MODE=complete "$bin" run "$tests/fake_ranks.cfg" --out "$out" --no-plot \
    >"$tmp/run.out" 2>"$tmp/run.err" || rc=$?
  [ "$rc" -eq 1 ] || fail "run, a point over vm.max_map_count: exit $rc, expected 1"
  grep -q "K=4096: not run: --ranks 4096 needs about .* memory maps.*vm.max_map_count = 9000.*use at most [0-9]* ranks, or raise the limit" "$tmp/run.err" ||
    fail "run: no refusal of the 4096-rank point naming vm.max_map_count: $(cat "$tmp/run.err")"
  grep -q "K=1024: warning: --ranks 1024 with --exchange allgather: about [0-9]* s of wall time per training step" "$tmp/run.err" ||
    fail "run: no wall-time warning for 1024 ranks: $(cat "$tmp/run.err")"
  [ "$(tsv_col "$out/summary.tsv" status | tr '\n' ' ')" = "complete complete failed " ] ||
    fail "run: statuses $(tsv_col "$out/summary.tsv" status | tr '\n' ' ')"
  tsv_col "$out/summary.tsv" reason | grep -q "refused before it started: --ranks 4096 needs" ||
    fail "run: the refused point's reason: $(tsv_col "$out/summary.tsv" reason)"
  [ ! -e "$out/K=4096/log.txt" ] || fail "run: the refused point was started"
  # memory: the estimate is tight (at most 20% high, MEM_EST_OVER): the 1024-rank point is
  # refused when it exceeds MemAvailable by more than that (0.8 x the estimate available);
  # between the two (0.9 x) warned about and run alone (the other points do not start beside
  # it); with 1.05 x the estimate available it runs with no memory warning (est: the
  # runner's own, from --dry-run above); --dry-run shows the same verdicts
  avail() { awk -v e="${est:-0}" -v f="$1" 'BEGIN { printf "%.0f", e * f * 1048576 }'; }
  rc=0
  QSGDSIM_MEM_AVAILABLE=$(avail 0.8) "$bin" run "$tests/fake_ranks.cfg" --out "$out" --dry-run >"$tmp/dry.out" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] && sed -n '/^\[2\/3\] K=1024/,/^\[3\/3\]/p' "$tmp/dry.out" |
    grep -q "^  would be refused before it starts: --ranks 1024 needs about .* GiB of memory" ||
    fail "run --dry-run in 0.8 x the estimate: the 1024-rank point not shown as refused: $(cat "$tmp/dry.out")"
  QSGDSIM_MEM_AVAILABLE=$(avail 0.9) "$bin" run "$tests/fake_ranks.cfg" --out "$out" --dry-run >"$tmp/dry.out" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] && sed -n '/^\[2\/3\] K=1024/,/^\[3\/3\]/p' "$tmp/dry.out" |
    grep -q "^  warning: --ranks 1024 may not fit in memory" ||
    fail "run --dry-run in 0.9 x the estimate: the 1024-rank point not warned about: $(cat "$tmp/dry.out")"
  QSGDSIM_MEM_AVAILABLE=$(avail 0.8) QSGDSIM_TRAINER=$tmp/fake FAKE_TRAINER_MODE=complete "$bin" run "$tests/fake_ranks.cfg" \
    --out "$out" --no-plot --force >"$tmp/run.out" 2>"$tmp/run.err" || rc=$?
  [ "$rc" -eq 1 ] && grep -q "K=1024: not run: --ranks 1024 needs about .* GiB of memory (.* MiB per rank with the model's 65 parameters), more than is available (MemAvailable = .* GiB, and the estimate is at most 20% high): use at most [0-9]* ranks" "$tmp/run.err" ||
    fail "run in 0.8 x the estimate: exit $rc, expected 1 and the 1024-rank point refused: $(cat "$tmp/run.err")"
  rc=0
  QSGDSIM_MEM_AVAILABLE=$(avail 0.9) QSGDSIM_TRAINER=$tmp/fake FAKE_TRAINER_MODE=complete "$bin" run "$tests/fake_ranks.cfg" \
    --out "$out" --no-plot --force -j 2 >"$tmp/run.out" 2>"$tmp/run.err" || rc=$?
  grep -q "K=1024: warning: --ranks 1024 may not fit in memory: about .* GiB estimated (at most 20% high), .* GiB available; it runs alone" "$tmp/run.err" &&
    [ "$(tsv_col "$out/summary.tsv" status | tr '\n' ' ')" = "complete complete failed " ] ||
    fail "run in 0.9 x the estimate: exit $rc, expected the 1024-rank point warned about and run: $(cat "$tmp/run.err") $(tsv_col "$out/summary.tsv" status | tr '\n' ' ')"
  rc=0
  QSGDSIM_MEM_AVAILABLE=$(avail 1.05) QSGDSIM_TRAINER=$tmp/fake FAKE_TRAINER_MODE=complete "$bin" run "$tests/fake_ranks.cfg" \
    --out "$out" --no-plot --force >"$tmp/run.out" 2>"$tmp/run.err" || rc=$?
  ! grep -q "may not fit in memory\|GiB of memory" "$tmp/run.err" &&
    [ "$(tsv_col "$out/summary.tsv" status | tr '\n' ' ')" = "complete complete failed " ] ||
    fail "run in 1.05 x the estimate: a memory warning or refusal: $(cat "$tmp/run.err")"
  unset QSGDSIM_MAX_MAP_COUNT QSGDSIM_MEM_AVAILABLE
  ;;

partial)
  build_fake
  out=$tmp/partial
  pdir=$out/run
  # status complete, tables left .partial (a failed write): failed, no numbers from .partial
  run_exp partial
  [ "$rc" -eq 1 ] || fail "partial: exit status $rc, expected 1"
  [ "$(tsv_col "$out/summary.tsv" status)" = failed ] || fail "partial: summary status $(tsv_col "$out/summary.tsv" status)"
  [ "$(tsv_col "$out/summary.tsv" accuracy)" = NaN ] || fail "partial: accuracy taken from a .partial"
  tsv_col "$out/summary.tsv" reason | grep -q "iterations.tsv was not completed" ||
    fail "partial: reason '$(tsv_col "$out/summary.tsv" reason)'"
  # rerun: it runs again (not skipped); complete now, with its numbers and an empty reason
  run_exp complete
  [ "$rc" -eq 0 ] || fail "complete: exit status $rc"
  grep -q "1 to run" "$tmp/run.out" || fail "the partial point was skipped: $(cat "$tmp/run.out")"
  # the failed attempt is kept, not deleted: its .partial tables and status in previous/
  [ -e "$pdir/previous/iterations.tsv.partial" ] && [ "$(cat "$pdir/previous/status")" = complete ] ||
    fail "the failed attempt was not kept in $pdir/previous: $(ls -A "$pdir" "$pdir/previous" 2>&1)"
  [ ! -e "$pdir/iterations.tsv.partial" ] || fail "the old .partial was left beside the new run"
  [ "$(tsv_col "$out/summary.tsv" accuracy)" = 0.75 ] || fail "complete: accuracy $(tsv_col "$out/summary.tsv" accuracy)"
  [ -z "$(tsv_col "$out/summary.tsv" reason)" ] || fail "complete: reason not empty"
  # a complete status whose table is only .partial (left by an older trainer) is rerun, and said why
  mv "$pdir/iterations.tsv" "$pdir/iterations.tsv.partial"
  run_exp complete
  grep -q "1 to run" "$tmp/run.out" || fail "status complete with a .partial table was skipped"
  grep -q "run: not complete (status says complete but iterations.tsv was not completed" "$tmp/run.err" ||
    fail "no reason given for the rerun: $(cat "$tmp/run.err")"
  # a table cut short (no '# status:' line) is not complete either
  grep -v '^# status' "$pdir/eval.tsv" >"$tmp/e" && cp "$tmp/e" "$pdir/eval.tsv"
  run_exp complete
  grep -q "eval.tsv has no '# status:' line" "$tmp/run.err" || fail "truncated eval.tsv: $(cat "$tmp/run.err")"
  # failed (io): the status line is the reason
  run_exp failed-io --force
  # --force keeps the complete attempt it replaces
  grep -q "^# status: complete" "$pdir/previous/iterations.tsv" ||
    fail "--force threw the complete attempt away: $(ls -A "$pdir/previous" 2>&1)"
  [ "$rc" -eq 1 ] || fail "failed-io: exit status $rc, expected 1"
  [ "$(tsv_col "$out/summary.tsv" reason)" = "failed (io): cannot write iterations.tsv.partial: File too large" ] ||
    fail "failed-io: reason '$(tsv_col "$out/summary.tsv" reason)'"
  # no status: the runner's reason
  run_exp nostatus
  [ "$rc" -eq 1 ] || fail "nostatus: exit status $rc, expected 1"
  tsv_col "$out/summary.tsv" reason | grep -q "^failed (internal): the trainer ended without writing its status" ||
    fail "nostatus: reason '$(tsv_col "$out/summary.tsv" reason)'"
  # diverged: exit 3, its numbers from the closed tables; kept on resume
  run_exp diverged
  [ "$rc" -eq 3 ] || fail "diverged: exit status $rc, expected 3"
  [ "$(tsv_col "$out/summary.tsv" status)" = diverged ] &&
    [ "$(tsv_col "$out/summary.tsv" reason)" = "diverged at iteration 3 (train loss inf)" ] &&
    [ "$(tsv_col "$out/summary.tsv" accuracy)" = 0.75 ] || fail "diverged: summary: $(grep -v '^#' "$out/summary.tsv")"
  run_exp complete
  [ "$rc" -eq 3 ] && grep -q "0 to run" "$tmp/run.out" || fail "diverged point not kept on resume: exit $rc"
  ;;

lock)
  build_fake
  out=$tmp/lock
  QSGDSIM_TRAINER=$tmp/fake FAKE_TRAINER_MODE=hang "$bin" run "$tests/fake.cfg" --out "$out" --no-plot \
    >"$tmp/a.out" 2>"$tmp/a.err" &
  pid=$!
  for _ in $(seq 1 200); do
    [ -e "$out/run/iterations.tsv.partial" ] && break
    sleep 0.1
  done
  [ -e "$out/run/iterations.tsv.partial" ] || fail "the point never started"
  run_exp complete
  [ "$rc" -eq 5 ] || fail "second runner: exit status $rc, expected 5: $(cat "$tmp/run.err")"
  grep -q "$out is in use by qsgdsim run (pid $pid on .*) since " "$tmp/run.err" ||
    fail "second runner: message: $(cat "$tmp/run.err")"
  run_fake complete "$out/run"
  [ "$rc" -eq 5 ] && grep -q "$out/run is in use by qsgdsim sim (pid" "$tmp/sim.err" ||
    fail "sim on a running point: exit $rc: $(cat "$tmp/sim.err")"
  [ ! -e "$out/run/status" ] || fail "a refused sim wrote a status"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  none_left "$out" 5 || fail "the point outlived its SIGKILLed runner: $(pgrep -af -- "$out")"
  run_exp complete
  [ "$rc" -eq 0 ] || fail "runner after the SIGKILLed one: exit $rc: $(cat "$tmp/run.err")"
  grep -q "taking over the lock of qsgdsim run (pid $pid" "$tmp/run.err" || fail "no takeover message: $(cat "$tmp/run.err")"
  [ ! -s "$out/.lock" ] || fail "the lock file was not emptied at the end"
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
