#!/usr/bin/env bash
# scripts/gpu-check.sh — everything about the CUDA backend that needs a GPU, in one run, for
# a machine with an NVIDIA GPU (issues 6 and 11; docs/gpu.md). Builds with CUDA required, runs
# the GPU tests (kernel and model parity, the GPU codec bit for bit, GPU vs CPU training), the
# whole suite with device=auto (so every trainer test runs its gradients on the GPU), then the
# benchmarks: GPU codec vs a device-to-device copy, mlp/cnn samples/s on the GPU vs PyTorch on
# the same GPU vs the CPU, and simulated epochs of 16 and 64 workers with GPU vs CPU compute.
#   scripts/gpu-check.sh [OUT_DIR]          (default: $OUT if set, else results/gpu)
# Writes three files into OUT_DIR (the device tool brings back at most 8): summary.txt (one
# line per step, the test totals, the benchmark tables), gpu-check.log (every step's output)
# and gpu-check.tar.gz (each step's log and table as its own file). The exit status is 1 if
# a step failed or was cut by the time budget (the other steps still run).
#
# On a machine without Debian's packages (the bare GPU machine of the device tool) it uses
# the bundle that scripts/gpu-bundle.sh prepared in .gpu-bundle/: unpacked into a prefix
# ($QSGDSIM_GPU_PREFIX, default /tmp/qsgd-prefix; never into /), with PATH, LD_LIBRARY_PATH,
# PKG_CONFIG_PATH, CMAKE_PREFIX_PATH, OPAL_PREFIX and smpicc/smpirun/.pc paths pointed at it;
# Fashion-MNIST, whose path the code fixes (/usr/share/datasets/fashion-mnist), is linked there.
# Environment:
#   QSGDSIM_GPU_CHECK_CUDA=ON|OFF   OFF builds without CUDA and runs the CPU sides only (the
#                                   rehearsal on a machine without a GPU)
#   QSGDSIM_GPU_CHECK_BUDGET=S      wall-time budget in seconds (default 450): each step's time
#                                   limit is cut to what is left, steps that cannot start are
#                                   reported as skipped
#   QSGDSIM_GPU_CHECK_STEPS="a b"   run only these steps (a rerun; deps, configure and build
#                                   always run, incremental in an existing BUILD_DIR)
#   QSGDSIM_GPU_CHECK_BUNDLE=auto|force|off   use the bundle when the system lacks the packages
#                                   (auto), always, or never
#   BUILD_DIR (default build-gpu)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${1:-${OUT:-results/gpu}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=${BUILD_DIR:-build-gpu}
cuda=${QSGDSIM_GPU_CHECK_CUDA:-ON}
budget=${QSGDSIM_GPU_CHECK_BUDGET:-450}
only=${QSGDSIM_GPU_CHECK_STEPS:-}
bundle_mode=${QSGDSIM_GPU_CHECK_BUNDLE:-auto}
bundle=$root/.gpu-bundle
prefix=${QSGDSIM_GPU_PREFIX:-/tmp/qsgd-prefix}
jobs=$(nproc 2>/dev/null || echo 4)
work=$(mktemp -d "${TMPDIR:-/tmp}/qsgd-gpu-check.XXXXXX")
logs=$work/gpu-check
mkdir -p "$logs"
summary=$logs/summary.txt
status=0
t_start=$SECONDS

note() { echo "$*" | tee -a "$summary"; }
# step NAME LIMIT COMMAND...: run with a time limit (cut to the budget left), log, report
step() {
  local name=$1 limit=$2; shift 2
  if [ -n "$only" ] && ! [[ " $only " == *" $name "* ]]; then return 0; fi
  local left=$((budget - (SECONDS - t_start) - 15))
  [ "$limit" -gt "$left" ] && limit=$left
  if [ "$limit" -lt 10 ]; then
    note "SKIP  $name: the time budget (${budget} s) is spent"; status=1; return 0
  fi
  local t0=$SECONDS rc=0
  timeout -k 10 "$limit" "$@" > "$logs/$name.txt" 2>&1 || rc=$?
  local dt=$((SECONDS - t0))
  if [ $rc -eq 0 ]; then
    note "ok    $name (${dt} s)"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    note "FAIL  $name (${dt} s): cut at its time limit of ${limit} s; tail of $name.txt:"
    tail -8 "$logs/$name.txt" | sed 's/^/      /' | tee -a "$summary"; status=1
  else
    note "FAIL  $name (${dt} s, exit $rc): tail of $name.txt:"
    tail -15 "$logs/$name.txt" | sed 's/^/      /' | tee -a "$summary"; status=1
  fi
}
# fstep NAME FUNCTION: a step run in this shell (it sets the environment), no time limit
fstep() {
  local name=$1 t0=$SECONDS rc=0; shift
  "$@" > "$logs/$name.txt" 2>&1 || rc=$?
  if [ $rc -eq 0 ]; then note "ok    $name ($((SECONDS - t0)) s)"
  else
    note "FAIL  $name ($((SECONDS - t0)) s): tail of $name.txt:"
    tail -15 "$logs/$name.txt" | sed 's/^/      /' | tee -a "$summary"; status=1
  fi
  return $rc
}
# untar ARCHIVE.tar.xz DIR: with tar+xz, else Python's tarfile
untar() {
  if command -v xz >/dev/null; then tar -C "$2" -xJf "$1"
  else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; fi
}

# ---- the machine, before anything else -------------------------------------------------
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "git: $(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "os: $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")  kernel $(uname -r)  $(uname -m)"
  echo "cpu: $jobs cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "cc: $(cc --version 2>/dev/null | head -1 || echo none)  g++: $(g++ --version 2>/dev/null | head -1 || echo none)"
  echo "cmake: $(cmake --version 2>/dev/null | head -1)  ninja: $(ninja --version 2>/dev/null || echo none)"
  nvcc_bin=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; } || echo none)
  echo "nvcc: $nvcc_bin $("$nvcc_bin" --version 2>/dev/null | tail -2 | head -1)"
  echo "python3: $(command -v python3) $(python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "tf32 matmul", torch.backends.cuda.matmul.allow_tf32, "tf32 cudnn", torch.backends.cudnn.allow_tf32)' 2>&1 | tail -1)"
  echo "QSGDSIM_GPU_CHECK_CUDA=$cuda budget=${budget}s build=$build out=$out"
  nvidia-smi 2>&1 | head -20
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
} > "$logs/machine.txt" 2>&1
note "# gpu-check $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(sed -n 's/^git: //p' "$logs/machine.txt"), $jobs cores, $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo 'no nvidia-smi')"

# ---- dependencies: the system's, or the bundle unpacked into $prefix --------------------
system_has_deps() {
  command -v pkg-config >/dev/null && pkg-config --exists simgrid cunit libconfig gsl 2>/dev/null \
    && command -v smpicc >/dev/null && command -v smpirun >/dev/null
}
unpack_prefix() { # unpack .gpu-bundle/prefix.tar.xz into $prefix (once per bundle) and relocate it
  local P=$prefix L=$prefix/usr/lib/x86_64-linux-gnu
  if [ -f "$P/.qsgd-bundle-manifest" ] && cmp -s "$bundle/MANIFEST" "$P/.qsgd-bundle-manifest"; then
    echo "prefix $P already holds this bundle"; return 0
  fi
  case $P in /|/usr|/usr/*|"") echo "refusing prefix '$P'"; return 1;; esac
  rm -rf "$P" && mkdir -p "$P" || return 1
  untar "$bundle/prefix.tar.xz" "$P" || { echo "cannot unpack $bundle/prefix.tar.xz into $P"; return 1; }
  # scripts and .pc files with Debian's /usr paths written in
  local cc_bin; cc_bin=$(command -v cc || command -v gcc || echo /usr/bin/cc)
  sed -i -e "s|/usr/include|$P/usr/include|g" -e "s|/usr/lib/x86_64-linux-gnu|$P/usr/lib/x86_64-linux-gnu|g" \
         -e "s|^CC=/usr/bin/cc$|CC=$cc_bin|" -e "s|/usr/bin/python3|python3|g" \
         "$P"/usr/bin/smpicc "$P"/usr/bin/smpicxx "$P"/usr/bin/smpirun "$P"/usr/bin/smpif90 "$P"/usr/bin/smpiff
  find "$P" -name '*.pc' -type f -exec sed -i -E "s#(^|[=[:space:]]|-I|-L)/usr(/|\$)#\1$P/usr\2#g" {} +
  sed -i -e "s|^prefix=/usr|prefix=$P/usr|" -e "s|/usr/include|$P/usr/include|g" "$P/usr/bin/gsl-config"
  # base libraries: the system's copy where it has one (same soname, newer on Ubuntu 24.04)
  local f so sys
  for f in "$L"/libgfortran.so.5.* "$L"/libquadmath.so.0.* "$L"/libatomic.so.1.* "$L"/libudev.so.1.* \
           "$L"/libsqlite3.so.0.* "$L"/libnuma.so.1.* "$P"/lib/x86_64-linux-gnu/libz.so.1.*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    so=$(objdump -p "$f" 2>/dev/null | awk '/SONAME/{print $2}')
    sys=$(ldconfig -p 2>/dev/null | awk -v s="$so" '$1 == s && /x86-64/ {print $NF; exit}')
    if [ -n "$sys" ] && [ -e "$sys" ]; then ln -sf "$sys" "$f" && echo "system's $so: $sys"; fi
  done
  cp "$bundle/MANIFEST" "$P/.qsgd-bundle-manifest"
  echo "unpacked $(grep -vc '^#' "$bundle/MANIFEST") packages into $P"
}
use_prefix_env() {
  local P=$prefix L=$prefix/usr/lib/x86_64-linux-gnu
  export PATH="$P/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$L:$L/openblas-pthread:$P/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_PATH="$L/pkgconfig:$P/usr/share/pkgconfig:$L/openblas-pthread/pkgconfig:$L/openmpi/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export CMAKE_PREFIX_PATH="$P/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export OPAL_PREFIX="$P/usr"                  # Open MPI relocated (mpicc -showme, mpirun, plugins)
  export PMIX_INSTALL_PREFIX="$L/pmix2"        # and its PMIx
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_plm_rsh_agent=               # one node: no ssh needed (the image has none)
}
install_data() { # Fashion-MNIST at the path the code fixes, from the bundle if missing
  local d=/usr/share/datasets/fashion-mnist f
  if [ -e "$d/train-images-idx3-ubyte.gz" ]; then echo "Fashion-MNIST: $d"; return 0; fi
  [ -s "$bundle/fmnist.tar.xz" ] || { echo "Fashion-MNIST missing ($d) and no $bundle/fmnist.tar.xz"; return 1; }
  local dst=$prefix/usr/share/datasets/fashion-mnist
  if [ ! -e "$dst/train-images-idx3-ubyte.gz" ]; then
    mkdir -p "$dst" && untar "$bundle/fmnist.tar.xz" "$dst" || return 1
    for f in "$dst"/*-ubyte; do touch "$f" && gzip -1 -n -f "$f" || return 1; done
  fi
  mkdir -p "$(dirname "$d")" && ln -sfn "$dst" "$d" \
    || { echo "cannot link $d -> $dst (not root?): Fashion-MNIST steps will fail"; return 1; }
  echo "Fashion-MNIST: $d -> $dst"
}
deps() {
  local ok=1
  for t in cmake python3 timeout tar gzip; do command -v $t >/dev/null || { echo "missing: $t"; ok=0; }; done
  command -v cc >/dev/null || command -v gcc >/dev/null || { echo "missing: a C compiler (cc/gcc)"; ok=0; }
  if [ "$cuda" != OFF ]; then
    command -v g++ >/dev/null || { echo "missing: g++ (nvcc's host compiler)"; ok=0; }
    command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || { echo "missing: nvcc"; ok=0; }
  fi
  [ $ok = 1 ] || return 1
  if [ "$bundle_mode" = force ] || { [ "$bundle_mode" = auto ] && ! system_has_deps; }; then
    [ -s "$bundle/prefix.tar.xz" ] || { echo "the system lacks SimGrid/GSL/OpenBLAS/CUnit/libconfig and there is no $bundle/prefix.tar.xz: run scripts/gpu-bundle.sh on a Debian 12 machine and carry .gpu-bundle"; return 1; }
    command -v objdump >/dev/null || echo "note: no objdump: the bundled base libraries are used as they are"
    unpack_prefix || return 1
    use_prefix_env
    echo "using the bundle in $prefix"
  else
    echo "using the system's packages"
    scripts/install-deps.sh --check || true
  fi
  install_data || return 1
  echo "PATH=$PATH"; echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"; echo "PKG_CONFIG_PATH=${PKG_CONFIG_PATH:-}"
  pkg-config --modversion simgrid cunit libconfig gsl || return 1
  smpicc --version && command -v smpirun || return 1
  command -v make >/dev/null || { echo "missing: make (the bundle brings it)"; return 1; }
  mpicc -showme 2>&1 && mpirun --version 2>&1 | head -1 || echo "note: no working Open MPI: sim_repro will not be built"
}
fstep deps deps || { note "the dependencies are not there: nothing else can run"; }

# ---- build and tests --------------------------------------------------------------------
# Makefiles, the generator rehearsed (Ninja works too since the probe's target was renamed);
# the bundle brings make if the image has none.
gen=(-G "Unix Makefiles")
[ -f "$build/CMakeCache.txt" ] && gen=()  # keep an existing build's generator
dev=cuda; devices="cpu cuda"
[ "$cuda" = OFF ] && { dev=cpu; devices=cpu; }
gpu_tests='cuda_models|cuda_train|quant_qcuda'
if [ "$status" = 0 ]; then
  step configure 180 cmake "${gen[@]}" -S . -B "$build" -DQSGDSIM_CUDA="$cuda" -DQSGDSIM_FUZZ=OFF \
       -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release
  grep -E '^-- +\[[ x]\]' "$logs/configure.txt" | sed 's/^-- */      /' | tee -a "$summary"
  step build 360 cmake --build "$build" -j "$jobs"
fi
if [ -x "$build/qsgdsim" ]; then
  step list 30 "$build/qsgdsim" list backends
  [ "$cuda" != OFF ] && step test-gpu 200 bash -c "cd '$build' && ctest --output-on-failure -R '$gpu_tests'"
  excl=(); [ "$cuda" != OFF ] && excl=(-E "$gpu_tests")  # run just before by test-gpu
  step test-all 300 bash -c "cd '$build' && ctest --output-on-failure -j '$jobs' $(printf "%q " "${excl[@]}")"
  grep -hE 'tests passed|tests failed|\(Failed\)|\*\*\*|Not Run|Skipped' "$logs"/test-*.txt 2>/dev/null \
    | sed 's/^/      /' | tee -a "$summary"
  [ "$cuda" != OFF ] && step bench-codec 120 "$build/bench/bench_quant_gpu" --n 22,26
  [ "$cuda" != OFF ] && step bench-models-cuda 150 "$build/bench/bench_models" --device cuda --models mlp,cnn \
       --batches 64,256,1024 --threads 1 --rounds 3 --secs 1
  # GPU utilisation sampled every 0.5 s during the simulated epochs (nvidia-smi, if it can)
  sim() { # sim K: the CPU rows, then the GPU rows with nvidia-smi sampling (0.5 s) alongside
    local k=$1 mon="" rc=0
    DEVICES=cpu bash bench/bench_sim_gpu.sh "$build" "$k" || rc=1
    [ "$cuda" = OFF ] && return $rc
    if command -v nvidia-smi >/dev/null; then
      nvidia-smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used --format=csv,noheader \
        -lms 500 > "$logs/gpu-util-sim-$k.csv" 2>&1 & mon=$!
    fi
    DEVICES=cuda bash bench/bench_sim_gpu.sh "$build" "$k" || rc=1
    [ -n "$mon" ] && kill "$mon" 2>/dev/null
    [ -s "$logs/gpu-util-sim-$k.csv" ] && awk -F', ' '{u=$2+0; s+=u; n++; if (u > 0) b++} END{if (n) printf "# nvidia-smi during the cuda rows: %d samples, mean GPU utilisation %.1f%%, samples with any use %d\n", n, s/n, b}' "$logs/gpu-util-sim-$k.csv"
    return $rc
  }
  export -f sim; export cuda devices build logs
  step bench-sim-16 150 bash -c 'sim 16'
  step bench-sim-64 150 bash -c 'sim 64'
  step bench-models-cpu 120 "$build/bench/bench_models" --device cpu --models mlp,cnn --batches 64,256,1024 \
       --threads 1,"$jobs" --rounds 2 --secs 1 --no-peer
  step train-$dev 120 "$build/qsgdsim" train --model cnn --data fmnist --epochs 2 --device "$dev" \
       --out "$logs/train-cnn-$dev.tsv"
  for b in bench-codec bench-models-cuda bench-sim-16 bench-sim-64 bench-models-cpu; do
    [ -s "$logs/$b.txt" ] && { echo "---- $b"; cat "$logs/$b.txt"; } >> "$summary"
  done
  [ -s "$logs/train-cnn-$dev.tsv" ] && { echo "---- train-$dev (last lines)"; grep -v '^#' "$logs/train-cnn-$dev.tsv" | tail -3; } >> "$summary"
else
  note "FAIL  no qsgdsim binary in $build: tests and benchmarks not run"; status=1
fi

# ---- what comes back: summary.txt, gpu-check.log, gpu-check.tar.gz ----------------------
note "# total $((SECONDS - t_start)) s, exit $status"
for f in "$logs"/machine.txt "$logs"/*.txt; do
  case $f in "$summary") continue;; "$logs/machine.txt") [ -n "${seen:-}" ] && continue; seen=1;; esac
  echo "======== $(basename "$f")"; cat "$f"
done > "$out/gpu-check.log" 2>/dev/null
[ -f "$build/Testing/Temporary/LastTest.log" ] && cp "$build/Testing/Temporary/LastTest.log" "$logs/ctest-LastTest.log"
cp "$summary" "$out/summary.txt"
tar -C "$work" -czf "$out/gpu-check.tar.gz" gpu-check
rm -rf "$work"
echo "# wrote $out/summary.txt, $out/gpu-check.log, $out/gpu-check.tar.gz"
exit $status
