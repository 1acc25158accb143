#!/usr/bin/env bash
# Tests of the distributed trainer (CTest; see sim/CMakeLists.txt).
#   test_sim.sh repro QSGDSIM SMPI_TRAINER MPI_TRAINER
#       Same seed => the same loss and accuracy trajectory, bit for bit, under SMPI and
#       under OpenMPI (mpirun on loopback, --oversubscribe), for every exchange strategy.
#   test_sim.sh errors QSGDSIM
#       Divergence stops the run with a message, exit 3, and keeps complete result files;
#       bad trainer options exit 2 with a message.
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
              "allgather 4 onebit" "allreduce 3 fp32" "ps 3 qsgd:bits=8,bucket=512" \
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
  "$qsgdsim" sim --ranks 2 --out "$tmp/bad2" -- --exchange allreduce --quant qsgd:bits=4 --quiet > "$tmp/bad2.log" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "allreduce sums dense fp32" "$tmp/bad2.log" && ok "allreduce + qsgd: exit 2 with the reason" || { bad "allreduce+qsgd rc=$rc"; cat "$tmp/bad2.log"; }
  "$qsgdsim" sim --ranks 2 --network star:link=5GbE --out "$tmp/bad3" > "$tmp/bad3.log" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -qi "5GbE" "$tmp/bad3.log" && ok "unknown network preset: exit 2" || { bad "bad network rc=$rc"; cat "$tmp/bad3.log"; }
  ;;
esac
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
