#!/usr/bin/env bash
# Tests of the distributed trainer (CTest; see sim/CMakeLists.txt).
#   test_sim.sh repro QSGDSIM SMPI_TRAINER MPI_TRAINER
#       Same seed => the same loss and accuracy trajectory, bit for bit, under SMPI and
#       under OpenMPI (mpirun on loopback, --oversubscribe), for every exchange strategy.
#   test_sim.sh errors QSGDSIM
#       Divergence stops the run with a message, exit 3, and keeps complete result files;
#       bad trainer options exit 2 with a message.
#   test_sim.sh failures QSGDSIM SMPI_TRAINER [MPI_TRAINER]
#       Every failure is reported as one (issue 10): a table that cannot be written (a full
#       disk: the table is a symlink to /dev/full; `ulimit -f` cannot be used, smpirun and
#       mpirun write big files of their own) gives status "failed (io): cannot write PATH:
#       reason", the .partial kept and nothing renamed, a stale status removed; counts that
#       do not fit are refused (--epochs 1e300), --max-steps honoured; every spec parsed up
#       front; a gradient that overflows under a quantizer is a divergence (exit 3, tables
#       kept and marked) for every exchange; the SMPI trainer run directly says how to run
#       it. With MPI_TRAINER, the same under mpirun with the exit statuses of sim_exit.h.
#   test_sim.sh allocator QSGDSIM
#       --allocator (the simulation's malloc, LD_PRELOAD) changes no number: iterations.tsv and
#       eval.tsv, every column (simulated times included: modelled compute and codec), the
#       same under glibc's malloc and each allocator installed (jemalloc, tcmalloc), for every
#       exchange; command.txt names the allocator and runs as written; an unknown name, a
#       missing library or a missing path: exit 2 with the setting and the way around it.
#   test_sim.sh train QSGDSIM
#       `qsgdsim train` (single worker, one process: `ulimit -f` works here): the exit
#       statuses of sim_exit.h, --epochs that overflowed refused, --max-steps honoured, the
#       quantizer spec parsed up front and --quant-min-numel 0 = every tensor (--quant-min:
#       deprecated, same numbers), cosine without total= over the whole run, the TSV kept
#       and marked on divergence (exit 3), a TSV that cannot be written: exit 5, data kept.
set -u
mode=$1; qsgdsim=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-simtest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
ok()  { echo "ok:   $*"; pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }
data="fmnist:n=1200,ntest=300"
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || data="synth-logreg:n=1200,dim=50,ntest=300"

case $mode in
repro)
  smpi=$3; mpi=$4
  export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
  for case in "allgather 3 qsgd:bits=4,bucket=512" "allgather 2 qsgd:s=7,format=elias,bucket=256" \
              "allgather 4 onebit" "allreduce 3 fp32" "allreduce 3 qsgd:bits=8,bucket=512" "ps 3 qsgd:bits=8,bucket=512" \
              "stripes 3 onebit" "stripes 2 qsgd:s=7,format=elias,bucket=128" \
              "allgather 3 qsgd:bits=2,bucket=128 --overlap"; do
    set -- $case; ex=$1; np=$2; q=$3; shift 3
    args=(--data "$data" --model mlp:hidden=32 --quant "$q" --exchange "$ex" --batch 32 --epochs 2 --max-steps 12 --eval-every 4 --seed 7 --quiet "$@")
    "$qsgdsim" sim --ranks "$np" --out "$tmp/s-$ex-$np" -- "${args[@]}" > "$tmp/s.log" 2>&1 \
      || { bad "$ex/$q: SMPI run failed"; cat "$tmp/s.log"; continue; }
    mpirun --allow-run-as-root --oversubscribe -np "$np" "$mpi" --out "$tmp/m-$ex-$np" "${args[@]}" > "$tmp/m.log" 2>&1 \
      || { bad "$ex/$q: mpirun failed"; cat "$tmp/m.log"; continue; }
    a=$(grep -v '^#' "$tmp/s-$ex-$np/iterations.tsv" | cut -f1,8,9,10); b=$(grep -v '^#' "$tmp/m-$ex-$np/iterations.tsv" | cut -f1,8,9,10)
    c=$(grep -v '^#' "$tmp/s-$ex-$np/eval.tsv" | cut -f1,4,5); d=$(grep -v '^#' "$tmp/m-$ex-$np/eval.tsv" | cut -f1,4,5)
    rows=$(echo "$a" | wc -l)
    if [ "$a" = "$b" ] && [ "$c" = "$d" ] && [ "$rows" -eq 13 ]; then ok "$ex on $np ranks, $q $*: SMPI == OpenMPI (12 iterations, loss, bits, eval)"
    else bad "$ex on $np ranks, $q: trajectories differ"; diff <(echo "$a") <(echo "$b") | head -5; fi
    # simulated time = sum of its parts (compute + encode + comm + decode), per iteration
    awk -F'\t' '!/^#/ && $1 != "iteration" { s += $4 + $5 + $6 + $7; t = $3 } END { d = s - t; if (d < 0) d = -d; exit !(d <= 1e-6 * (t > 1 ? t : 1)) }' "$tmp/s-$ex-$np/iterations.tsv" \
      && ok "$ex: simulated time is the sum of compute, encode, comm, decode" || bad "$ex: time breakdown does not add up"
  done
  # Collectives sliced into pieces (what runs beyond MPI's 2 GiB int counts, forced here with
  # tiny pieces): the same numbers as one piece, under SMPI and OpenMPI.
  for case in "allgather 3 qsgd:s=7,format=elias,bucket=256" "allgather 2 fp32" \
              "ps 3 qsgd:s=3,format=elias,bucket=128" "ps 3 onebit"; do
    set -- $case; ex=$1; np=$2; q=$3
    # fixed compute and no codec time: simulated times are exact, so the extra latencies of the
    # pieces show however loaded the machine is
    args=(--data "$data" --model mlp:hidden=32 --quant "$q" --exchange "$ex" --batch 32 --epochs 2 --max-steps 6 --eval-every 3 --seed 7 --quiet
          --compute fixed:0.001 --codec none)
    "$qsgdsim" sim --ranks "$np" --out "$tmp/p1-$ex-$np" -- "${args[@]}" > "$tmp/s.log" 2>&1 \
      || { bad "$ex/$q: SMPI run failed"; cat "$tmp/s.log"; continue; }
    QSGDSIM_GATHER_PIECE=3000 "$qsgdsim" sim --ranks "$np" --out "$tmp/pn-$ex-$np" -- "${args[@]}" > "$tmp/s.log" 2>&1 \
      || { bad "$ex/$q: sliced SMPI run failed"; cat "$tmp/s.log"; continue; }
    mpirun --allow-run-as-root --oversubscribe -x QSGDSIM_GATHER_PIECE=3000 -np "$np" "$mpi" --out "$tmp/pm-$ex-$np" "${args[@]}" > "$tmp/m.log" 2>&1 \
      || { bad "$ex/$q: sliced mpirun failed"; cat "$tmp/m.log"; continue; }
    t() { grep -v '^#' "$1/iterations.tsv" | cut -f1,8,9,10; grep -v '^#' "$1/eval.tsv" | cut -f1,4,5; }
    if [ "$(t "$tmp/p1-$ex-$np")" = "$(t "$tmp/pn-$ex-$np")" ] && [ "$(t "$tmp/pn-$ex-$np")" = "$(t "$tmp/pm-$ex-$np")" ]; then
      ok "$ex on $np ranks, $q: 3000-byte pieces == one piece, SMPI == OpenMPI"
    else bad "$ex on $np ranks, $q: sliced collectives change the numbers"; diff <(t "$tmp/p1-$ex-$np") <(t "$tmp/pn-$ex-$np") | head -5; fi
    # the pieces really happened: each one costs the network another latency
    st() { grep -v '^#' "$1/iterations.tsv" | tail -1 | cut -f3; }
    awk -v a="$(st "$tmp/p1-$ex-$np")" -v b="$(st "$tmp/pn-$ex-$np")" 'BEGIN { exit !(b > a) }' \
      && ok "$ex/$q: sliced run pays extra latencies ($(st "$tmp/pn-$ex-$np") > $(st "$tmp/p1-$ex-$np") s)" \
      || bad "$ex/$q: sliced run is not slower: were there pieces?"
  done
  ;;
errors)
  "$qsgdsim" sim --ranks 2 --out "$tmp/div" -- --data "$data" --model mlp:hidden=16 --optim sgd:lr=1e30 --max-steps 20 --quiet > "$tmp/div.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ] && grep -q "diverged at iteration" "$tmp/div.log" && [ -f "$tmp/div/iterations.tsv" ] \
     && tail -1 "$tmp/div/iterations.tsv" | grep -q "status: diverged" && [ ! -e "$tmp/div/iterations.tsv.partial" ]; then
    ok "divergence: message, nonzero exit ($rc), iterations.tsv kept with its status line"
  else bad "divergence not handled (rc=$rc)"; cat "$tmp/div.log"; ls "$tmp/div"; fi
  "$qsgdsim" sim --ranks 2 --out "$tmp/bad" -- --quant nosuch --quiet > "$tmp/bad.log" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "unknown quantizer 'nosuch'" "$tmp/bad.log" && ok "unknown quantizer: exit 2 with the valid names" || { bad "bad quantizer rc=$rc"; cat "$tmp/bad.log"; }
  # issue 13, the exchanges' rules (sim_settings.c, by quantizer property): refused with exit
  # 2 and a message naming the exchanges that work
  for rule in "onebit|allreduce||error-feedback state per worker.*allgather or ps" \
              "signsgd|allreduce||majority vote.*allgather or ps" \
              "signsgd|stripes||stripes averages.*allgather or ps" \
              "qsgd:bits=4|allreduce|--allreduce mpi|allreduce mpi sums dense fp32.*--allreduce ring"; do
    IFS='|' read -r q ex more want <<< "$rule"
    "$qsgdsim" sim --ranks 2 --out "$tmp/bad2" -- --exchange "$ex" --quant "$q" $more --quiet > "$tmp/bad2.log" 2>&1; rc=$?
    [ $rc -eq 2 ] && grep -q "$want" "$tmp/bad2.log" && ok "$ex + $q $more: exit 2, '$want'" || { bad "$ex+$q rc=$rc"; cat "$tmp/bad2.log"; }
  done
  # the requantizing ring: fp16 with each hop adding in fp32 or in the wire format, measured
  # (ring_rel_err); qsgd 8 bits too. Wire rounds once more a hop: its error is larger.
  for how in fp32 wire; do
    for q in fp16 qsgd:bits=8,bucket=512; do
      "$qsgdsim" sim --ranks 4 --out "$tmp/ar-$how-${q%%:*}" -- --data "$data" --model mlp:hidden=32 --quant "$q" --exchange allreduce \
        --allreduce-sum "$how-measure" --batch 32 --max-steps 6 --seed 7 --quiet > "$tmp/ar.log" 2>&1 \
        || { bad "allreduce $q $how: failed"; cat "$tmp/ar.log"; }
    done
  done
  errs=$(for f in "$tmp"/ar-*/iterations.tsv; do awk -F'\t' -v f="${f%/iterations.tsv}" '$1 == "iteration" && $11 == "ring_rel_err" { h = 1; next }
         h && !/^#/ { s += $11; n++ } END { printf "%s %.3g\n", substr(f, length(f) - 7), n ? s / n : -1 }' "$f"; done)
  echo "$errs" | sed 's/^/  mean ring_rel_err /'
  awk '{ e[$1] = $2 } END { exit !(e["p32-fp16"] > 0 && e["p32-fp16"] < 0.01 && e["ire-fp16"] > e["p32-fp16"] && e["p32-qsgd"] > e["p32-fp16"]) }' <<< "$errs" \
    && ok "requantizing ring: fp16 error small and larger in the wire format, qsgd 8-bit larger still" || bad "requantizing ring errors: $errs"
  # more ranks than values (a 5-parameter model on 12 ranks, its weight quantized): the rings
  # and stripes have empty chunks, which the requantizing ring read out of bounds (a crash)
  for c in "allreduce qsgd:bits=4,bucket=512" "allreduce qsgd:s=7,format=elias" \
           "allreduce fp16 --allreduce-sum wire" "stripes qsgd:bits=4,bucket=512" \
           "allgather qsgd:bits=4,bucket=512" "ps qsgd:bits=4,bucket=512"; do
    read -r ex q more <<< "$c"
    "$qsgdsim" sim --ranks 12 --out "$tmp/tiny" -- --data synth-logreg:n=1200,dim=4,ntest=100 --model logreg \
      --quant "$q" --quant-min-numel 1 --exchange "$ex" $more --batch 8 --max-steps 3 --quiet > "$tmp/tiny.log" 2>&1; rc=$?
    [ $rc -eq 0 ] && tail -1 "$tmp/tiny/iterations.tsv" | grep -q "status: complete" \
      && ok "12 ranks, 5 values: $ex $q $more completes" || { bad "12 ranks, 5 values: $ex $q $more rc=$rc"; tail -5 "$tmp/tiny.log"; }
    rm -rf "$tmp/tiny"
  done
  "$qsgdsim" sim --ranks 2 --network star:link=5GbE --out "$tmp/bad3" > "$tmp/bad3.log" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -qi "5GbE" "$tmp/bad3.log" && ok "unknown network preset: exit 2" || { bad "bad network rc=$rc"; cat "$tmp/bad3.log"; }
  ;;
failures)
  smpi=$3; mpi=${4:-}
  sd="synth-logreg:n=1200,dim=50,ntest=300" # deterministic, no dataset needed
  small=(--data "$sd" --model mlp:hidden=16 --batch 8 --eval-every 50 --compute fixed:0.001 --codec none --quiet)
  sim() { local d=$1; shift; "$qsgdsim" sim --ranks 2 --out "$tmp/$d" -- "$@" > "$tmp/$d.log" 2>&1; }
  st() { cat "$1/status" 2>/dev/null; }
  # the SMPI trainer started without smpirun (it used to crash before main)
  "$smpi" --help > "$tmp/help.log" 2>&1; rc=$?
  [ $rc -eq 0 ] && grep -q -- "--epochs" "$tmp/help.log" && grep -q "qsgdsim sim" "$tmp/help.log" \
    && ok "SMPI trainer run directly: --help prints the usage, exit 0" || { bad "SMPI trainer --help: rc=$rc"; cat "$tmp/help.log"; }
  "$smpi" --epochs 1 > "$tmp/direct.log" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "smpirun" "$tmp/direct.log" && grep -q "qsgdsim sim" "$tmp/direct.log" \
    && ok "SMPI trainer run directly: says to run it through qsgdsim sim or smpirun, exit 2" || { bad "SMPI trainer run directly: rc=$rc"; cat "$tmp/direct.log"; }
  # a full disk under each file the trainer writes; a stale "complete" must not survive
  for f in iterations.tsv eval.tsv summary.txt; do
    d="$tmp/full-$f"; mkdir -p "$d"; ln -s /dev/full "$d/$f.partial"; echo complete > "$d/status"
    sim "full-$f" "${small[@]}" --epochs 2; rc=$?
    want="failed (io): cannot write $d/$f.partial: No space left on device"
    if [ $rc -ne 0 ] && [ "$(st "$d")" = "$want" ] && [ ! -e "$d/$f" ] && grep -q "cannot write $d/$f.partial" "$tmp/full-$f.log"; then
      ok "full disk under $f: exit $rc, status '$want', nothing renamed"
    else bad "full disk under $f: rc=$rc, status '$(st "$d")'"; ls "$d"; tail -5 "$tmp/full-$f.log"; fi
  done
  d="$tmp/full-status"; mkdir -p "$d"; ln -s /dev/full "$d/status.partial.0"; echo complete > "$d/status"
  sim full-status "${small[@]}" --epochs 1; rc=$?
  [ $rc -ne 0 ] && [ "$(st "$d")" != complete ] && grep -q "cannot write $d/status.partial.0" "$tmp/full-status.log" \
    && ok "status file cannot be written: exit $rc, no 'complete'" || { bad "status write failure: rc=$rc, status '$(st "$d")'"; tail -5 "$tmp/full-status.log"; }
  # counts: --epochs 1e300 overflowed to 0 iterations and "complete"
  sim ep "${small[@]}" --epochs 1e300; rc=$?
  [ $rc -eq 2 ] && st "$tmp/ep" | grep -q "^failed (config): --epochs: .*4294967295" \
    && ok "--epochs 1e300: refused, exit 2, status names --epochs and the limit" || { bad "--epochs 1e300: rc=$rc, status '$(st "$tmp/ep")'"; tail -3 "$tmp/ep.log"; }
  sim ep5 "${small[@]}" --epochs 1e300 --max-steps 5; rc=$?
  rows=$(grep -v '^#' "$tmp/ep5/iterations.tsv" 2>/dev/null | tail -n +2 | wc -l)
  [ $rc -eq 0 ] && [ "$(st "$tmp/ep5")" = complete ] && [ "$rows" -eq 5 ] \
    && ok "--epochs 1e300 --max-steps 5: 5 iterations, complete" || { bad "--epochs 1e300 --max-steps 5: rc=$rc, $rows rows"; tail -3 "$tmp/ep5.log"; }
  for a in "--epochs inf" "--epochs 0" "--batch 99999999999999999999" "--max-steps -1" "--eval-every 1e3"; do
    sim cnt "${small[@]}" $a; rc=$?
    [ $rc -eq 2 ] && st "$tmp/cnt" | grep -q "^failed (config): ${a%% *}" \
      && ok "$a: exit 2, $(st "$tmp/cnt" | cut -c1-70)" || { bad "$a: rc=$rc, status '$(st "$tmp/cnt")'"; tail -3 "$tmp/cnt.log"; }
  done
  # every spec parsed up front, even one no tensor would use (all are below 10000 here)
  sim q1 "${small[@]}" --quant qsgd:bits=1; rc=$?
  [ $rc -eq 2 ] && st "$tmp/q1" | grep -q "^failed (config): --quant: .*bits" \
    && ok "--quant qsgd:bits=1 on a model of small tensors: exit 2 with the reason" || { bad "qsgd:bits=1: rc=$rc, status '$(st "$tmp/q1")'"; tail -3 "$tmp/q1.log"; }
  sim m1 "${small[@]}" --model mlp:hidden=0x; rc=$?
  [ $rc -eq 2 ] && st "$tmp/m1" | grep -q "^failed (config): --model" \
    && ok "bad --model spec: exit 2" || { bad "bad model: rc=$rc, status '$(st "$tmp/m1")'"; tail -3 "$tmp/m1.log"; }
  sim data1 "${small[@]}" --data libsvm:/nonexistent/x.svm; rc=$?
  [ $rc -ne 0 ] && st "$tmp/data1" | grep -q "^failed (data): data 'libsvm:/nonexistent/x.svm'" \
    && ok "missing data file: status failed (data)" || { bad "missing data: rc=$rc, status '$(st "$tmp/data1")'"; tail -3 "$tmp/data1.log"; }
  # a gradient that overflows under a quantizer (the encoder refuses -inf/NaN) is a divergence
  for c in "allgather qsgd:bits=4,bucket=512" "allgather qsgd:s=7,format=elias" "allgather onebit" \
           "allgather qsgd:bits=4 --no-shared-decode" "ps qsgd:bits=4" "ps qsgd:s=7,format=elias" \
           "stripes onebit" "allgather qsgd:bits=4 --overlap" "allgather onebit --overlap --no-shared-decode"; do
    set -- $c; ex=$1; q=$2; shift 2
    rm -rf "$tmp/dv"
    "$qsgdsim" sim --ranks 3 --out "$tmp/dv" -- --data "$sd" --model mlp:hidden=16 --quant "$q" --exchange "$ex" \
      --quant-min-numel 1 --optim sgd:lr=1e10 --max-steps 20 --batch 32 --quiet "$@" > "$tmp/dv.log" 2>&1; rc=$?
    if [ $rc -eq 3 ] && st "$tmp/dv" | grep -q "^diverged at iteration [0-9]* (a worker's gradient overflowed" \
       && tail -1 "$tmp/dv/iterations.tsv" | grep -q "^# status: diverged" && [ -f "$tmp/dv/eval.tsv" ] \
       && ! ls "$tmp/dv" | grep -q partial && grep -q "the gradient overflows" "$tmp/dv.log"; then
      ok "$ex $q $*: overflowing gradient -> $(st "$tmp/dv" | cut -d' ' -f1-4), exit 3, tables kept"
    else bad "$ex $q $*: rc=$rc, status '$(st "$tmp/dv")'"; ls "$tmp/dv"; tail -4 "$tmp/dv.log"; fi
  done
  if [ -n "$mpi" ]; then
    export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_MCA_btl_vader_single_copy_mechanism=none
    mr() { local d=$1; shift; mpirun --allow-run-as-root --oversubscribe -np 2 "$mpi" --out "$tmp/$d" "$@" > "$tmp/$d.log" 2>&1; }
    d="$tmp/mfull"; mkdir -p "$d"; ln -s /dev/full "$d/iterations.tsv.partial"
    mr mfull "${small[@]}" --epochs 2; rc=$?
    [ $rc -eq 5 ] && [ "$(st "$d")" = "failed (io): cannot write $d/iterations.tsv.partial: No space left on device" ] \
      && ok "OpenMPI: full disk under iterations.tsv: MPI_Abort after the status file, exit 5" || { bad "OpenMPI full disk: rc=$rc, status '$(st "$d")'"; tail -5 "$tmp/mfull.log"; }
    mr mep "${small[@]}" --epochs 1e300; rc=$?
    [ $rc -eq 2 ] && st "$tmp/mep" | grep -q "^failed (config): --epochs" && ok "OpenMPI: --epochs 1e300: exit 2" || { bad "OpenMPI --epochs 1e300: rc=$rc"; tail -3 "$tmp/mep.log"; }
    mr mdata "${small[@]}" --data libsvm:/nonexistent/x.svm; rc=$?
    [ $rc -eq 4 ] && st "$tmp/mdata" | grep -q "^failed (data)" && ok "OpenMPI: missing data: exit 4" || { bad "OpenMPI missing data: rc=$rc"; tail -3 "$tmp/mdata.log"; }
    mr mdv --data "$sd" --model mlp:hidden=16 --quant onebit --quant-min-numel 1 --optim sgd:lr=1e10 --max-steps 20 --batch 32 --quiet; rc=$?
    [ $rc -eq 3 ] && st "$tmp/mdv" | grep -q "^diverged at iteration" && tail -1 "$tmp/mdv/iterations.tsv" | grep -q "^# status: diverged" \
      && ok "OpenMPI: overflowing gradient under onebit: exit 3, tables kept" || { bad "OpenMPI overflow: rc=$rc, status '$(st "$tmp/mdv")'"; tail -3 "$tmp/mdv.log"; }
  fi
  ;;
allocator)
  libs=()
  for a in jemalloc tcmalloc; do
    "$qsgdsim" sim --ranks 2 --allocator "$a" --dry-run --out "$tmp/d-$a" -- --max-steps 1 > "$tmp/d.log" 2>&1 && libs+=("$a")
  done
  [ ${#libs[@]} -gt 0 ] || echo "note: neither jemalloc nor tcmalloc can be used here (not installed, or a sanitizer build): glibc's malloc only"
  for spec in "allgather qsgd:bits=4,bucket=512" "allreduce qsgd:bits=4,bucket=512" "allreduce fp32" \
              "ps qsgd:s=7,format=elias,bucket=256" "stripes onebit" "allgather topk:ratio=0.01"; do
    set -- $spec; ex=$1; q=$2
    args=(--model mlp:hidden=64 --data "$data" --quant "$q" --exchange "$ex" --batch 32 --max-steps 12 --eval-every 6
          --seed 3 --optim sgd:lr=0.05,momentum=0.9 --compute fixed:0.001 --codec device:V100 --quiet)
    t() { [ -s "$1/iterations.tsv" ] && grep -v '^#' "$1/iterations.tsv" && grep -v '^#' "$1/eval.tsv"; }
    "$qsgdsim" sim --ranks 5 --allocator glibc --out "$tmp/a-$ex-glibc" -- "${args[@]}" > "$tmp/a.log" 2>&1 \
      || { bad "$ex/$q: glibc run failed"; cat "$tmp/a.log"; continue; }
    ref=$(t "$tmp/a-$ex-glibc")
    for a in "${libs[@]}"; do
      "$qsgdsim" sim --ranks 5 --allocator "$a" --out "$tmp/a-$ex-$a" -- "${args[@]}" > "$tmp/a.log" 2>&1 \
        || { bad "$ex/$q: $a run failed"; cat "$tmp/a.log"; continue; }
      grep -q "^# allocator: $a /" "$tmp/a-$ex-$a/command.txt" && grep -q "^env 'LD_PRELOAD=/[^']*' smpirun " "$tmp/a-$ex-$a/command.txt" \
        || bad "$ex: command.txt does not name allocator $a"
      [ -n "$ref" ] && [ "$ref" = "$(t "$tmp/a-$ex-$a")" ] && ok "$ex $q: $a == glibc (every column of iterations.tsv and eval.tsv)" \
        || { bad "$ex $q: $a differs from glibc"; diff <(echo "$ref") <(t "$tmp/a-$ex-$a") | head -4; }
    done
  done
  grep -q "^# allocator: glibc$" "$tmp/a-ps-glibc/command.txt" && ! grep -q LD_PRELOAD "$tmp/a-ps-glibc/command.txt" \
    && ok "--allocator glibc: no LD_PRELOAD, command.txt says glibc" || bad "--allocator glibc: command.txt"
  if [ ${#libs[@]} -gt 0 ]; then # the recorded line runs as written
    line=$(tail -1 "$tmp/a-ps-${libs[0]}/command.txt" | sed "s|--out $tmp/a-ps-${libs[0]}|--out $tmp/a-rerun|")
    mkdir -p "$tmp/a-rerun"
    eval "$line" > "$tmp/a.log" 2>&1 && [ "$(t "$tmp/a-rerun")" = "$(t "$tmp/a-ps-glibc")" ] \
      && ok "command.txt's line (env LD_PRELOAD=... smpirun ...) runs as written, same numbers" || { bad "command.txt's line"; tail -3 "$tmp/a.log"; }
  fi
  "$qsgdsim" sim --ranks 2 --allocator hoard --dry-run --out "$tmp/d" -- --max-steps 1 > "$tmp/d.log" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "allocator hoard: unknown (auto, glibc, jemalloc, tcmalloc, /path)" "$tmp/d.log" \
    && ok "--allocator hoard: exit 2, says what is allowed" || { bad "--allocator hoard: rc=$rc"; cat "$tmp/d.log"; }
  "$qsgdsim" sim --ranks 2 --allocator /nonexistent/libm.so --dry-run --out "$tmp/d" -- --max-steps 1 > "$tmp/d.log" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q -E "allocator /nonexistent/libm.so: (No such file or directory|this build runs the simulation under the sanitizers)" "$tmp/d.log" \
    && ok "--allocator /nonexistent/libm.so: exit 2, names the path" || { bad "--allocator path: rc=$rc"; cat "$tmp/d.log"; }
  for a in jemalloc tcmalloc; do # a named allocator that is not installed says how to get it
    case " ${libs[*]} " in *" $a "*) continue ;; esac
    "$qsgdsim" sim --ranks 2 --allocator "$a" --dry-run --out "$tmp/d" -- --max-steps 1 > "$tmp/d.log" 2>&1; rc=$?
    [ $rc -eq 2 ] && grep -q -E "apt-get install|under the sanitizers" "$tmp/d.log" && ok "--allocator $a (not installed, or a sanitizer build): exit 2, says why and what to do" \
      || { bad "--allocator $a missing: rc=$rc"; cat "$tmp/d.log"; }
  done
  ;;
train)
  tr() { "$qsgdsim" train "$@" > "$tmp/t.log" 2>&1; }
  ls=(--model leastsq --data synth-leastsq:n=512,dim=10,kappa=10 --quiet)
  lg=(--model mlp:hidden=16 --data synth-logreg:n=1200,dim=50,ntest=300 --quiet)
  tr "${ls[@]}" --epochs 4611686018427387904 --out "$tmp/t1.tsv"; rc=$?
  [ $rc -eq 2 ] && grep -q "4294967295" "$tmp/t.log" && [ ! -e "$tmp/t1.tsv" ] \
    && ok "train --epochs 2^62: refused (it wrapped to 0 steps), exit 2" || { bad "train --epochs 2^62: rc=$rc"; cat "$tmp/t.log"; }
  tr "${ls[@]}" --epochs 4611686018427387904 --max-steps 5 --out "$tmp/t2.tsv"; rc=$?
  [ $rc -eq 0 ] && grep -v '^#' "$tmp/t2.tsv" | tail -1 | cut -f2 | grep -qx 5 && tail -1 "$tmp/t2.tsv" | grep -qx "# status: complete" \
    && ok "train --epochs 2^62 --max-steps 5: 5 steps, complete" || { bad "train --max-steps 5: rc=$rc"; cat "$tmp/t.log"; }
  for a in "--epochs 0" "--batch 1e30" "--max-steps -3" "--lr inf"; do
    tr "${ls[@]}" $a --out "$tmp/t3.tsv"; rc=$?
    [ $rc -eq 2 ] && grep -q -- "${a%% *}" "$tmp/t.log" && ok "train $a: exit 2" || { bad "train $a: rc=$rc"; cat "$tmp/t.log"; }
  done
  tr "${lg[@]}" --quant qsgd:bits=1 --quant-min-numel 0 --out "$tmp/t4.tsv"; rc=$?
  [ $rc -eq 2 ] && grep -q "qsgd:bits=1" "$tmp/t.log" && [ ! -e "$tmp/t4.tsv" ] \
    && ok "train --quant qsgd:bits=1 --quant-min-numel 0: exit 2 with the reason (it trained fp32)" || { bad "train qsgd:bits=1: rc=$rc"; cat "$tmp/t.log"; }
  tr "${lg[@]}" --quant qsgd:bits=4 --quant-min-numel 0 --epochs 1 --out "$tmp/t5.tsv"; rc=$?
  [ $rc -eq 0 ] && grep -q "^# quant: qsgd.* on 4 of 4 tensors" "$tmp/t5.tsv" \
    && ok "train --quant-min-numel 0: every tensor quantized (as the trainer's)" || { bad "train --quant-min-numel 0: rc=$rc"; grep quant "$tmp/t5.tsv"; }
  # the old spelling still works, with a deprecation warning, and gives the same numbers
  tr "${lg[@]}" --quant qsgd:bits=4 --quant-min 0 --epochs 1 --out "$tmp/t5b.tsv"; rc=$?
  [ $rc -eq 0 ] && grep -q "quant-min is deprecated" "$tmp/t.log" \
    && diff <(grep -v '^#' "$tmp/t5.tsv" | cut -f1-6,9) <(grep -v '^#' "$tmp/t5b.tsv" | cut -f1-6,9) > /dev/null \
    && ok "train --quant-min 0: deprecated (warns), same numbers" || { bad "train --quant-min: rc=$rc"; cat "$tmp/t.log"; }
  # cosine without total= decays over the whole run (train_schedule_resolve): 2 x 4 steps
  tr "${ls[@]}" --optim sgd:lr=0.01,schedule=cosine --epochs 2 --out "$tmp/tcos.tsv"; rc=$?
  [ $rc -eq 0 ] && grep -q "^# optim: sgd:lr=0.01,schedule=cosine,total=8," "$tmp/tcos.tsv" \
    && ok "train cosine without total=: the whole run (total=8)" || { bad "train cosine: rc=$rc"; cat "$tmp/t.log" "$tmp/tcos.tsv"; }
  tr "${ls[@]}" --lr 50 --schedule constant --epochs 30 --out "$tmp/t6.tsv"; rc=$?
  [ $rc -eq 3 ] && tail -1 "$tmp/t6.tsv" | grep -q "^# status: diverged at step" && grep -q "^0	0	" "$tmp/t6.tsv" \
     && ! ls "$tmp" | grep -q "t6.tsv.tmp" \
    && ok "train divergence: exit 3, the TSV kept and marked (it was deleted)" || { bad "train divergence: rc=$rc"; cat "$tmp/t.log"; ls "$tmp"; }
  (ulimit -f 2; "$qsgdsim" train --model logreg --data synth-logreg:n=256,dim=5,ntest=64 --batch 32 --epochs 200 \
     --quiet --out "$tmp/t7.tsv" > "$tmp/t.log" 2>&1); rc=$?
  [ $rc -eq 5 ] && grep -q "cannot write $tmp/t7.tsv.tmp.[0-9]*: File too large" "$tmp/t.log" && [ ! -e "$tmp/t7.tsv" ] \
     && ls "$tmp" | grep -q "t7.tsv.tmp" \
    && ok "train under ulimit -f: exit 5, 'cannot write ...: File too large', what was written kept" || { bad "train ulimit -f: rc=$rc"; cat "$tmp/t.log"; }
  tr "${ls[@]}" --data libsvm:/nonexistent/x.svm --model logreg --out "$tmp/t8.tsv"; rc=$?
  [ $rc -eq 4 ] && ok "train on a missing data file: exit 4" || { bad "train missing data: rc=$rc"; cat "$tmp/t.log"; }
  ;;
esac
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
