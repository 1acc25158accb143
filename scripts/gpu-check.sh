#!/usr/bin/env bash
# scripts/gpu-check.sh — everything about the CUDA backend that needs a GPU, in one run, for
# a machine with an NVIDIA GPU (issue 6; docs/gpu.md). Builds with CUDA required, runs the GPU
# tests (kernel and model parity, the GPU codec bit for bit, GPU vs CPU training), the whole
# suite with device=auto (so every trainer test runs its gradients on the GPU), then the
# benchmarks: GPU codec vs a device-to-device copy, mlp/cnn samples/s on the GPU vs the CPU
# vs PyTorch on the same GPU, and a 16-worker simulated epoch with GPU vs CPU compute.
#   scripts/gpu-check.sh [OUT_DIR]          (default: $OUT if set, else results/gpu)
# Each step's output goes to OUT_DIR/<step>.txt; a summary line per step to stdout. The
# exit status is 1 if any step failed (all steps still run).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${1:-${OUT:-results/gpu}}
mkdir -p "$out"
build=${BUILD_DIR:-build-gpu}
jobs=$(nproc 2>/dev/null || echo 4)
status=0
step() { # step NAME COMMAND...: run, log, report
  local name=$1; shift
  local t0=$SECONDS
  if "$@" > "$out/$name.txt" 2>&1; then
    echo "ok    $name ($((SECONDS - t0)) s)"
  else
    echo "FAIL  $name ($((SECONDS - t0)) s): tail of $out/$name.txt:"; tail -15 "$out/$name.txt" | sed 's/^/      /'
    status=1
  fi
}
{ date -u; git describe --always --dirty 2>/dev/null; nvidia-smi 2>&1 | head -15; nproc; } > "$out/machine.txt"
step deps scripts/install-deps.sh --check
step configure cmake -S . -B "$build" -DQSGDSIM_CUDA=ON -DQSGDSIM_FUZZ=OFF -DCMAKE_CUDA_ARCHITECTURES=90
step build cmake --build "$build" -j "$jobs"
step list "$build/qsgdsim" list backends
step test-gpu bash -c "cd '$build' && ctest --output-on-failure -R 'cuda_models|cuda_train|quant_qcuda'"
step test-all bash -c "cd '$build' && ctest --output-on-failure -j '$jobs'"
step bench-codec "$build/bench/bench_quant_gpu" --n 22,26
step bench-models-cuda "$build/bench/bench_models" --device cuda --models mlp,cnn --batches 64,256,1024 --threads 1 --rounds 3 --secs 1
step bench-models-cpu "$build/bench/bench_models" --device cpu --models mlp,cnn --batches 64,256,1024 --threads 1,"$jobs" --rounds 3 --secs 1 --no-peer
step bench-sim bash bench/bench_sim_gpu.sh "$build" 16
step train-cuda "$build/qsgdsim" train --model cnn --data fmnist --epochs 2 --device cuda --out "$out/train-cnn-cuda.tsv"
exit $status
