#!/usr/bin/env bash
# Wall time of a simulated 16-worker epoch with gradients computed on the GPU vs the CPU
# (issue 6): K virtual workers in one SMPI process, each with its own CUDA model object
# (stream, cuBLAS handle, workspaces) sharing one GPU, training the Fashion-MNIST MLP and CNN
# with 4-bit QSGD over 10 GbE for one epoch, `--compute measured` (so the simulated compute
# time is the measured gradient time on that device).
# Usage: bench/bench_sim_gpu.sh BUILD_DIR [K]      (env: MODELS, QUANT, BATCH, EPOCHS, DEVICES)
# Without a usable GPU it says so and exits 0, unless DEVICES (default "cpu cuda") leaves out
# cuda (DEVICES=cpu: the CPU side alone, e.g. to rehearse scripts/gpu-check.sh without a GPU).
set -euo pipefail
build=${1:?usage: bench_sim_gpu.sh BUILD_DIR [K]}
k=${2:-16}
models=${MODELS:-"mlp cnn"}; quant=${QUANT:-qsgd:bits=4,bucket=512}; batch=${BATCH:-64}; epochs=${EPOCHS:-1}
devices=${DEVICES:-"cpu cuda"}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-simgpu.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
if [[ " $devices " == *" cuda "* ]] && ! "$build/qsgdsim" list backends 2>/dev/null | grep -q "^  cuda  *available"; then
  echo "# bench_sim_gpu: no usable CUDA GPU in this build/machine ($("$build/qsgdsim" list backends 2>/dev/null | grep -m1 "^  cuda" | sed "s/^ *//" || echo "qsgdsim list failed")): nothing to measure"
  exit 0
fi
echo "# qsgdsim: $k simulated workers, one epoch of Fashion-MNIST, $quant, batch $batch/worker, star 10GbE, compute measured"
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-6s %-6s %6s %10s %10s %10s %10s %9s  %s\n" model device iters wall_s grad_s total_s sim_s test_acc "gradients computed on"
for m in $models; do
  for dev in $devices; do
    out=$tmp/$m-$dev
    t0=$(date +%s.%N)
    "$build/qsgdsim" sim --ranks "$k" --network star:link=10GbE --out "$out" -- \
       --model "$m" --data fmnist --quant "$quant" --batch "$batch" --epochs "$epochs" \
       --device "$dev" --quiet > "$tmp/log" 2>&1 \
       || { echo "$m on $dev failed:"; tail -5 "$tmp/log"; exit 1; }
    t1=$(date +%s.%N)
    get() { sed -n "s/^$1 = //p" "$out/summary.txt"; }
    acc=$(grep -v '^#' "$out/eval.tsv" | tail -1 | cut -f5)
    printf "%-6s %-6s %6s %10.2f %10.2f %10.2f %10.4f %9.4f  %s\n" "$m" "$dev" "$(get iterations)" \
      "$(get wall_seconds)" "$(get gradient_wall_seconds)" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" \
      "$(get sim_time)" "$acc" "$(get device)"
  done
done
echo "# wall_s: the training loop; grad_s: of which computing gradients; total_s: the whole command"
