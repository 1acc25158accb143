#!/usr/bin/env bash
# Installs the Debian 12 packages qsgdsim needs, and only those that are missing.
# Usage: scripts/install-deps.sh [--check]   (--check: list what is missing, install nothing)
# Run as root (or with sudo available). CUDA is optional and never installed here.
set -euo pipefail

# package            why
PACKAGES=(
  build-essential    # gcc, make
  cmake              # build system (>= 3.18)
  pkg-config         # finds SimGrid, CUnit, libconfig
  libsimgrid-dev     # SimGrid/SMPI: network simulator, virtual MPI ranks, smpicc/smpirun
  libjemalloc2       # the simulation's malloc (qsgdsim sim --allocator auto; speed only)
  libgsl-dev         # random distributions, statistics
  libopenblas-dev    # BLAS (CPU matrix products)
  libcunit1-dev      # unit tests
  libconfig-dev      # experiment files (file:line errors)
  zlib1g-dev         # reading gzip'd IDX files (Fashion-MNIST)
  gnuplot-nox        # figures (PNG via pngcairo)
  clang              # libFuzzer fuzz targets
  libclang-rt-14-dev # sanitizer and libFuzzer runtimes for clang 14
  clang-format       # the format check of the sources (CTest format; .clang-format)
  dataset-fashion-mnist # the Fashion-MNIST data set (/usr/share/datasets/fashion-mnist)
  openmpi-bin        # mpirun: the trainer on real MPI
  libopenmpi-dev     # mpicc / MPI headers for the real-MPI trainer
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} Debian packages present"
  exit 0
fi
echo "install-deps: missing: ${missing[*]}"
[ "${1:-}" = "--check" ] && exit 1

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
