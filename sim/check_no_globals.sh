#!/usr/bin/env bash
# check_no_globals.sh TRAINER — the SMPI trainer has no mutable globals of its own, so that
# `qsgdsim sim` may run it with --cfg=smpi/privatization:no (one copy of the program for all
# virtual ranks, instead of one dlopen'd copy per rank: ~8 memory maps and a file each, which
# ended runs near 6,500 ranks). Every object symbol in the writable .data/.bss/.tdata/.tbss
# sections must be one of the toolchain's (crt, libgcc's CPU model, the CUDA runtime's
# registration handles, C++ personality) or a constant table C++ places there; anything else
# is a global that SMPI ranks would share, and fails this test with its name.
set -euo pipefail
bin=${1:?usage: check_no_globals.sh TRAINER}
command -v objdump >/dev/null || { echo "check_no_globals: objdump not found (binutils)"; exit 77; }
allowed='^(completed\.0|__dso_handle|DW\.ref\.__gxx_personality_v0|__cpu_model|__cpu_features2|__TMC_END__'
allowed+='|_ZL20__cudaFatCubinHandle|_ZZ[0-9]+__device_stub__.*|_ZGVZ[0-9]+__device_stub__.*'
# models/model_cuda.cu's table of CUDA model types: constant, or built once on first use (a
# function-local `static const`, with its guard): the same value for every rank
allowed+='|_ZL7g_types|_ZZL7g_typesvE2tw|_ZGVZL7g_typesvE2tw'
# AddressSanitizer's one-byte ODR indicators (-DQSGDSIM_SANITIZE=ON), one per global it
# instruments, set at registration (the globals themselves are checked like any other)
allowed+='|__odr_asan\..*)$'
bad=$(objdump -t "$bin" | awk '$0 ~ /[[:space:]]O[[:space:]]+\.(data|bss|tdata|tbss)[[:space:]]/ { print $NF }' |
  grep -Ev "$allowed" || true)
n=$(objdump -t "$bin" | awk '$0 ~ /[[:space:]]O[[:space:]]+\.(data|bss|tdata|tbss)[[:space:]]/' | wc -l)
if [ -n "$bad" ]; then
  echo "check_no_globals: $bin has mutable globals, which SMPI ranks would share under"
  echo "--cfg=smpi/privatization:no (cli/cmd_sim.c): make them per-run state or const:"
  echo "$bad" | sed 's/^/  /'
  exit 1
fi
echo "check_no_globals: $bin: $n writable objects, all the toolchain's or constant: ok"
