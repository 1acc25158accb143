#!/usr/bin/env bash
# train_fmnist.sh — reproduces the Fashion-MNIST accuracy table of docs/training.md:
# softmax, mlp and cnn with fp32 gradients and with 8-bit QSGD (bucket 512), one worker.
# Usage: scripts/train_fmnist.sh [BUILD_DIR [OUT_DIR]]   (defaults: build, results/train)
# Needs the Debian package dataset-fashion-mnist. Takes ~15-25 min on 2 cores.
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-results/train}
Q="$BUILD/qsgdsim"
[ -x "$Q" ] || { echo "train_fmnist: $Q not built (run: make build)" >&2; exit 1; }
mkdir -p "$OUT"
THREADS=${THREADS:-2}
common=(--data fmnist --batch 128 --momentum 0.9 --schedule cosine --seed 1 --threads "$THREADS")
run() { # name, then train options
    local name=$1; shift
    echo "== $name"
    "$Q" train "${common[@]}" "$@" --out "$OUT/$name.tsv" | grep -v '^#'
}
Q8=qsgd:bits=8,bucket=512
run softmax-fp32      --model softmax --epochs 10 --lr 0.02
run softmax-qsgd8     --model softmax --epochs 10 --lr 0.02 --quant $Q8 --quant-min-numel 1
run mlp-fp32          --model mlp:hidden=256x128 --epochs 10 --lr 0.05
run mlp-qsgd8         --model mlp:hidden=256x128 --epochs 10 --lr 0.05 --quant $Q8
run cnn-fp32          --model cnn:channels=16x32,fc=128 --epochs 6 --lr 0.05
run cnn-qsgd8         --model cnn:channels=16x32,fc=128 --epochs 6 --lr 0.05 --quant $Q8
echo "== summary (final epoch): name, test accuracy, training seconds"
for f in "$OUT"/*.tsv; do
    awk -F'\t' -v n="$(basename "$f" .tsv)" '!/^#/ && $1 != "epoch" {a=$6; s=$7} END {printf "%-16s %.4f %8.1f\n", n, a, s}' "$f"
done
