#!/usr/bin/env bash
# scripts/demo.sh BUILD_DIR — the jobs of `make demo`:
#   1. the main job: `qsgdsim run experiments/quickstart.cfg -j 2` — fp32 vs QSGD 4-bit vs
#      QSGD 2-bit vs 1-bit SGD training an MLP on Fashion-MNIST on 4 simulated workers at
#      1 and 10 Gb/s (about a minute on 2 cores), with its summary table and figures;
#   2. a quick check: `qsgdsim bounds` (QSGD on random vectors vs Lemma 3.1 / Theorem 3.2).
# Then it says where the summary and the figures are and prints the summary table.
# Results go to $RESULTS_DIR/quickstart and $RESULTS_DIR/bounds (default RESULTS_DIR:
# results/ in the repository). Running it again resumes: complete points are kept.
# Exit status: 0 when both jobs succeed, else the first failing job's status (1 if unknown).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
bin=$build/qsgdsim
results=${RESULTS_DIR:-$root/results}
case $results in /*) ;; *) results=$PWD/$results ;; esac
qs=$results/quickstart
bounds=$results/bounds
cfg=$root/experiments/quickstart.cfg

if [ ! -x "$bin" ]; then
  echo "demo: $bin not found; build first (make build, or cmake --build $build)" >&2
  exit 1
fi
if [ ! -f "$cfg" ]; then
  echo "demo: $cfg not found" >&2
  exit 1
fi
mkdir -p "$results"

# ---- 1. the main job -----------------------------------------------------------------
echo "demo [1/2]: $bin run $cfg -j 2 --out $qs"
start=$(date +%s)
qs_rc=0
"$bin" run "$cfg" -j 2 --out "$qs" || qs_rc=$?
qs_secs=$(($(date +%s) - start))
if [ "$qs_rc" -eq 130 ]; then
  echo "demo: interrupted; run it again to resume (complete points are kept)" >&2
  exit 130
fi

# ---- 2. the bound check ----------------------------------------------------------------
echo
echo "demo [2/2]: $bin bounds --out $bounds --quiet"
start=$(date +%s)
b_rc=0
"$bin" bounds --out "$bounds" --quiet || b_rc=$?
b_secs=$(($(date +%s) - start))

# ---- where things are -------------------------------------------------------------------
summary=$qs/summary.tsv
echo
echo "=== quickstart: fp32 vs QSGD vs 1-bit SGD, MLP on Fashion-MNIST, 4 workers (${qs_secs} s, exit $qs_rc) ==="
if [ -s "$summary" ]; then
  echo "summary: $summary"
  figs=$(ls "$qs"/plots/*.png 2>/dev/null || true)
  if [ -n "$figs" ]; then
    echo "figures:"
    echo "$figs" | sed 's/^/  /'
  else
    echo "figures: (none: gnuplot missing or failed, see above; data in $qs/plots/*.dat)"
  fi
  echo
  # The table: quantizer, network, status, accuracy, s/epoch, bits/iter, speedup (awk reads
  # the whole file, so no SIGPIPE under pipefail).
  table() {
    awk -F'\t' '
      /^#/ { next }
      !h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1
           print "quantizer", "network", "status", "test_accuracy", "sim_s/epoch", "bits/iter", "speedup_vs_fp32"; next }
      { net = ("network" in c) ? $c["network"] : "-"
        sub(/^star:link=/, "", net)
        print $c["quantizer"], net, $c["status"], $c["accuracy"], sprintf("%.4g", $c["time_per_epoch"]),
              sprintf("%.4g", $c["bits_per_iter"]), sprintf("%.3g", $c["speedup"]) }' "$summary"
  }
  if command -v column >/dev/null; then table | column -t; else table; fi
  echo
  echo "speedup = fp32's simulated seconds per epoch / the quantizer's, at the same bandwidth"
  echo "(compute and codec times are measured on this machine: a cluster of machines like it)."
else
  echo "demo: the quickstart wrote no summary (exit $qs_rc); see the messages above" >&2
fi

echo
echo "=== qsgdsim bounds: QSGD on random vectors vs Lemma 3.1 / Theorem 3.2 (${b_secs} s, exit $b_rc) ==="
table_b=$bounds/bounds.tsv
if [ -s "$table_b" ]; then
  viol=$(awk -F'\t' '!/^#/ && /VIOLATED/' "$table_b" | wc -l)
  rows=$(awk -F'\t' '!/^#/' "$table_b" | wc -l)
  echo "table:  $table_b ($((rows - 1)) rows; rows with a violated bound: $viol)"
  if [ -s "$bounds/bounds.png" ]; then echo "figure: $bounds/bounds.png"; else echo "figure: (none: gnuplot missing or failed)"; fi
else
  echo "demo: qsgdsim bounds wrote no table (exit $b_rc)" >&2
fi

if [ "$qs_rc" -ne 0 ]; then exit "$qs_rc"; fi
if [ "$b_rc" -ne 0 ]; then exit "$b_rc"; fi
if [ ! -s "$summary" ] || [ ! -s "$table_b" ]; then exit 1; fi
exit 0
