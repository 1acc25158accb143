#!/usr/bin/env bash
# Scaling of the SMPI simulator (issue 15): wall time per training step and memory of
# `qsgdsim sim` for K virtual workers, each exchange beside its bare-SMPI peer in the same run.
#
# Usage: bench/bench_sim_scale.sh BUILD_DIR [K ...]        (default K: 64 128 256 512 1024)
#   env: EXCHANGES  exchanges to run (default "allgather allreduce ps")
#        MODEL DATA QUANT (default mlp, fmnist, qsgd:bits=4,bucket=512), STEPS (default 3)
#        MAXK_allgather, MAXK_allreduce, MAXK_ps: largest K per exchange (default: no limit)
#        OUT  where the table, log and figure go (default results/bench/sim_scale)
#        TRAINER  the SMPI trainer to run (qsgdsim sim --trainer; default: the build's), e.g.
#             an older build's, to measure a change against it in the same run
#        ALLOCATOR  qsgdsim sim --allocator (default: its default, auto); the peer runs with
#             the same malloc (it is part of the recorded command line)
#
# For every exchange and K: the trainer (`qsgdsim sim`, QSGD 4-bit, star 10GbE, CM02,
# --max-steps STEPS, batch min(64, 60000 / workers)) under bench/memwatch.sh, then the peer:
# network_models/collective_probe run by smpirun with the trainer's own SimGrid flags
# (command.txt), doing the same collectives with the same message sizes for STEPS steps
# (allgather: MPI_Allgatherv of the encoded message; allreduce: the requantizing ring's
# 2(K-1) MPI_Sendrecv hops of one encoded chunk; ps: MPI_Gatherv to rank 0 + MPI_Bcast of the
# fp32 update). peer_step = the probe's wall time per step + the trainer's real gradient and
# codec seconds per step (summary.txt: gradient_wall_seconds + codec_wall_seconds);
# ratio = trainer wall per step / peer_step (issue 15's goal: <= 1.25 at K >= 256).
# The trainer's wall per step is its loop's wall time less its evaluations (summary.txt:
# wall_seconds - eval_wall_seconds; the evaluation at step 0 and at the last step are no part
# of a step, the peer has none), over its iterations; eval_s is what was left out.
# Memory (bench/memwatch.sh, the peak over the run): private (Private_Clean + Private_Dirty of
# smpimain), pss (private + shared pages divided by their mappings: physical memory) and
# maps (memory maps of the process tree). No peak RSS: SMPI's shared blocks are mapped many
# times and RSS counts them once per mapping. A failed run is reported as failed (exit 1).
set -euo pipefail
build=${1:?usage: bench_sim_scale.sh BUILD_DIR [K ...]}
shift || true
ks=("$@")
[ ${#ks[@]} -gt 0 ] || ks=(64 128 256 512 1024)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exchanges=${EXCHANGES:-allgather allreduce ps}
model=${MODEL:-mlp}; data=${DATA:-fmnist}; quant=${QUANT:-qsgd:bits=4,bucket=512}; steps=${STEPS:-3}
out=${OUT:-results/bench/sim_scale}
probe=$build/network_models/collective_probe
[ -x "$probe" ] || { echo "bench_sim_scale: $probe not built"; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-scale.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
table=$out/sim_scale.tsv
log=$out/sim_scale.log
: >"$log"
{
  echo "# qsgdsim simulator scaling: $model on $data, $quant, $steps steps, star 10GbE, CM02; peer = bare SMPI collectives (collective_probe) + the trainer's gradient and codec seconds"
  echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg), $(smpirun -version 2>/dev/null | head -1 || echo SimGrid)"
} | tee "$table"
printf "exchange\tK\titers\twall_step_s\tpeer_step_s\tratio\tcoll_step_s\tnumerics_step_s\tsetup_s\tprivate_MiB\tpss_MiB\tmaps\tpeer_private_MiB\tmsg_bytes\tcollective\teval_s\n" | tee -a "$table"
fail=0
for ex in $exchanges; do
  maxk_var=MAXK_$ex
  maxk=${!maxk_var:-0}
  for k in "${ks[@]}"; do
    if [ "$maxk" -gt 0 ] && [ "$k" -gt "$maxk" ]; then continue; fi
    workers=$k
    [ "$ex" = ps ] && workers=$((k - 1))
    batch=$((60000 / workers))
    [ "$batch" -gt 64 ] && batch=64
    d=$tmp/$ex-$k
    echo "== $ex K=$k batch=$batch" >>"$log"
    if ! "$here/memwatch.sh" "$tmp/mem" -- "$build/qsgdsim" sim --ranks "$k" --network star:link=10GbE \
      ${TRAINER:+--trainer "$TRAINER"} ${ALLOCATOR:+--allocator "$ALLOCATOR"} --out "$d" -- --model "$model" --data "$data" --quant "$quant" \
      --exchange "$ex" --batch "$batch" --epochs 1000 --max-steps "$steps" --eval-every 1000000 >>"$log" 2>&1; then
      echo "$ex K=$k: the simulation FAILED (see $log)" | tee -a "$table"
      fail=1
      continue
    fi
    get() { sed -n "s/^$1 = //p" "$d/summary.txt"; }
    ev=$(get eval_wall_seconds)
    [ -n "$ev" ] || ev=0 # a trainer from before eval_wall_seconds
    mem() { sed -n "s/^$1 //p" "$tmp/mem"; }
    iters=$(get iterations)
    np=$(sed -n 's/.*ranks, [0-9]* workers, \([0-9]*\) parameters.*/\1/p' "$log" | tail -1)
    # bits this reporting rank sent in step 1 (iterations.tsv column bits_sent)
    bits=$(awk -F'\t' '!/^#/ && $1 == 1 { print $8; exit }' "$d/iterations.tsv")
    case $ex in
      allgather) m=$(((bits + 7) / 8)); ops="allgatherv:$m"; coll=allgatherv ;;
      allreduce) m=$(((bits + 7) / 8 / (2 * (k - 1)))); [ "$m" -ge 1 ] || m=1; ops="ringsr:$m"; coll=ring ;;
      ps) m=$(((bits + 7) / 8)); ops="gatherv0:$m,bcast:$((4 * (np + 1)))"; coll=gatherv+bcast ;;
      *) echo "bench_sim_scale: no peer for exchange $ex" | tee -a "$table"; fail=1; continue ;;
    esac
    # the peer: the trainer's smpirun line (with its allocator: env 'LD_PRELOAD=...') with the
    # probe in place of the trainer
    smpi=$(tail -1 "$d/command.txt" | sed "s| [^ ]*qsgdsim-trainer-smpi .*||")
    if ! eval "\"\$here/memwatch.sh\" \"\$tmp/pmem\" -- $smpi \"\$probe\" --repeat \"\$steps\" \"\$ops\" 1" >"$tmp/probe" 2>>"$log"; then
      echo "$ex K=$k: the bare SMPI peer FAILED (see $log)" | tee -a "$table"
      fail=1
      continue
    fi
    cat "$tmp/probe" >>"$log"
    coll_s=$(awk -v s="$steps" '/^probe/ { for (i = 1; i <= NF; i++) if ($i ~ /^wall=/) w += substr($i, 6) } END { printf "%.4f", w / s }' "$tmp/probe")
    awk -v ex="$ex" -v k="$k" -v it="$iters" -v wall="$(get wall_seconds)" -v g="$(get gradient_wall_seconds)" \
      -v c="$(get codec_wall_seconds)" -v coll="$coll_s" -v tot="$(mem wall_s)" -v priv="$(mem private_kb)" \
      -v pss="$(mem pss_kb)" -v maps="$(mem maps)" -v ppriv="$(sed -n 's/^private_kb //p' "$tmp/pmem")" \
      -v m="$m" -v cn="$coll" -v ev="$ev" \
      'BEGIN { ws = (wall - ev) / it; num = (g + c) / it; peer = coll + num;
               printf "%s\t%d\t%d\t%.3f\t%.3f\t%.2f\t%.3f\t%.3f\t%.1f\t%.0f\t%.0f\t%d\t%.0f\t%d\t%s\t%.2f\n",
                 ex, k, it, ws, peer, ws / peer, coll, num, tot - wall, priv / 1024, pss / 1024, maps,
                 ppriv / 1024, m, cn, ev }' | tee -a "$table"
  done
done
echo "# wall_step_s: the trainer's loop less its evaluations ((wall_seconds - eval_wall_seconds) / iterations); eval_s: the evaluations' seconds left out;" | tee -a "$table"
echo "# setup_s: the rest of the command (data, sharding, buffers);" | tee -a "$table"
echo "# coll_step_s: the bare SMPI collectives per step; numerics_step_s: real gradient + codec seconds per step (all ranks)" | tee -a "$table"
# fitted exponent b of wall per step = a K^b per exchange: least squares on log-log, K >= 256
# where there are two such points, else all K (NaN: fewer than two points)
fits=$(awk -F'\t' '!/^#/ && $1 != "exchange" && $2 ~ /^[0-9]+$/ && $4 > 0 { n[$1]++; k[$1, n[$1]] = $2; w[$1, n[$1]] = $4 }
  END { split("allgather allreduce ps", ex, " ")
        for (i = 1; i <= 3; i++) { e = ex[i]; big = 0
          for (j = 1; j <= n[e]; j++) big += k[e, j] >= 256
          kmin = big >= 2 ? 256 : 0; m = sx = sy = sxx = sxy = 0
          for (j = 1; j <= n[e]; j++) if (k[e, j] >= kmin) { x = log(k[e, j]); y = log(w[e, j]); m++; sx += x; sy += y; sxx += x * x; sxy += x * y }
          printf "%s%s", (i > 1 ? " " : ""), (m >= 2 ? sprintf("%.2f", (m * sxy - sx * sy) / (m * sxx - sx * sx)) : "NaN") } }' "$table")
echo "# fitted exponents of wall per step (allgather allreduce ps, K >= 256 where possible): $fits" | tee -a "$table"
if command -v gnuplot >/dev/null && [ "$(grep -cv '^#\|^exchange\|FAILED' "$table")" -ge 2 ]; then
  gnuplot -e "tsv='$table'; out='$out/sim_scale.png'; fits='$fits'" "$here/sim_scale.gp" 2>>"$log" &&
    echo "# figure: $out/sim_scale.png" | tee -a "$table"
fi
exit "$fail"
