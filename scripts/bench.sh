#!/usr/bin/env bash
# scripts/bench.sh BUILD_DIR — the job of `make bench`: runs every benchmark program built in
# BUILD_DIR/bench (bench_quant first, then the other bench_* programs in name order) and tees
# each one's output, under provenance lines (commit, date, host, CPU, load), to
# $RESULTS_DIR/bench/<program>.txt (default: results/bench in the repository); bench_quant
# also writes bench_quant.tsv. Benchmarks are not tests: numbers from a shared or busy
# machine are noisy (the load average is recorded), so compare best-of-N figures only.
#   BENCH_QUICK=1      pass --quick to bench_quant (a smoke run of a few seconds)
#   BENCH_QUANT_ARGS   extra arguments for bench_quant (e.g. "--n 2^20 --reps 9")
#   BENCH_ARGS         extra arguments for every other bench_* program
# Exit status: 0 if every program exited 0, else 1 (all programs still run).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
results=${RESULTS_DIR:-$root/results}
case $results in /*) ;; *) results=$PWD/$results ;; esac
out=$results/bench

if [ ! -d "$build/bench" ]; then
  echo "bench: $build/bench not found; build first (make build, or cmake --build $build)" >&2
  exit 1
fi

progs=()
[ -x "$build/bench/bench_quant" ] && progs+=("$build/bench/bench_quant")
for p in "$build"/bench/bench_*; do
  if [ -f "$p" ] && [ -x "$p" ] && [ "$(basename "$p")" != bench_quant ]; then
    progs+=("$p")
  fi
done
if [ ${#progs[@]} -eq 0 ]; then
  echo "bench: no bench_* programs in $build/bench; build first" >&2
  exit 1
fi
mkdir -p "$out"

commit=$(git -C "$root" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
host="$(uname -srm), $(nproc 2>/dev/null || echo '?') cores, ${cpu:-unknown CPU}"

status=0
for p in "${progs[@]}"; do
  name=$(basename "$p")
  txt=$out/$name.txt
  args=()
  if [ "$name" = bench_quant ]; then
    [ "${BENCH_QUICK:-0}" != 0 ] && args+=(--quick)
    # shellcheck disable=SC2206  # word splitting of the user's argument string is wanted
    [ -n "${BENCH_QUANT_ARGS:-}" ] && args+=(${BENCH_QUANT_ARGS})
    args+=(--tsv-out "$out/$name.tsv")
  else
    # shellcheck disable=SC2206
    [ -n "${BENCH_ARGS:-}" ] && args+=(${BENCH_ARGS})
  fi
  echo "bench: $name ${args[*]} -> $txt"
  {
    echo "# program: $name ${args[*]}"
    echo "# commit: $commit"
    echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# host: $host"
    echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
  } > "$txt"
  rc=0
  "$p" "${args[@]}" 2>&1 | tee -a "$txt" || rc=$? # pipefail: the program's status
  tsv=$out/$name.tsv
  if [ "$name" = bench_quant ] && [ -s "$tsv" ]; then
    # the same provenance lines on top of the table bench_quant wrote
    { head -n 5 "$txt"; cat "$tsv"; } > "$tsv.tmp" && mv "$tsv.tmp" "$tsv"
  fi
  if [ $rc -ne 0 ]; then
    echo "bench: $name exited with status $rc" | tee -a "$txt" >&2
    status=1
  fi
  echo
done
echo "bench: results in $out"
exit $status
