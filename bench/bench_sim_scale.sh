#!/usr/bin/env bash
# Scaling of the SMPI simulator: wall time, memory and the simulator's own overhead (wall
# time not spent computing gradients) for K = 1 .. 256 virtual workers training the
# Fashion-MNIST MLP (784-256-128-10) with 4-bit QSGD over 10 GbE.
# Usage: bench/bench_sim_scale.sh BUILD_DIR [K ...]      (env: EPOCHS, DATA, QUANT, BATCH)
set -euo pipefail
build=${1:?usage: bench_sim_scale.sh BUILD_DIR [K ...]}; shift || true
ks=("$@"); [ ${#ks[@]} -gt 0 ] || ks=(1 2 4 8 16 32 64 128 256)
epochs=${EPOCHS:-1}; data=${DATA:-fmnist}; quant=${QUANT:-qsgd:bits=4,bucket=512}; batch=${BATCH:-64}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-scale.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
echo "# qsgdsim simulator scaling: $data, mlp 784-256-128-10, $quant, batch $batch/worker, $epochs epoch(s), star 10GbE, CM02"
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-5s %6s %10s %10s %10s %10s %11s %11s %9s %9s\n" K iters sim_s wall_s total_s grad_s overhead peak_MiB anon_MiB test_acc
for k in "${ks[@]}"; do
  out=$tmp/k$k
  t0=$(date +%s.%N)
  "$build/qsgdsim" sim --ranks "$k" --network star:link=10GbE --out "$out" -- \
     --data "$data" --quant "$quant" --batch "$batch" --epochs "$epochs" --quiet > "$tmp/log" 2>&1 \
     || { echo "K=$k failed:"; tail -5 "$tmp/log"; exit 1; }
  t1=$(date +%s.%N)
  get() { sed -n "s/^$1 = //p" "$out/summary.txt"; }
  acc=$(grep -v '^#' "$out/eval.tsv" | tail -1 | cut -f5)
  awk -v k="$k" -v it="$(get iterations)" -v sim="$(get sim_time)" -v wall="$(get wall_seconds)" \
      -v tot="$(echo "$t1 - $t0" | bc)" -v g="$(get gradient_wall_seconds)" -v o="$(get simulator_overhead)" \
      -v p="$(get peak_rss_bytes)" -v a="$(get rss_anon_bytes)" -v acc="$acc" \
      'BEGIN { printf "%-5d %6d %10.4f %10.2f %10.2f %10.2f %10.1f%% %11.0f %9.0f %9.4f\n", k, it, sim, wall, tot, g, 100*o, p/1048576, a/1048576, acc }'
done
echo "# wall_s: the training loop; total_s: the whole command (data loading, sharding, setup);"
echo "# peak_MiB counts SMPI's shared receive buffers once per rank (one physical block mapped K"
echo "# times); anon_MiB is private memory at the end of the run."
