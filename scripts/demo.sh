#!/usr/bin/env bash
# scripts/demo.sh BUILD_DIR — the main job of `make demo`: runs `qsgdsim bounds` (QSGD on
# random vectors vs the paper's bounds), then says where the table and figure are and shows
# a few rows. Results go to $RESULTS_DIR/bounds (default: results/bounds in the repository).
# Exit status: that of qsgdsim (0 ok, 1 a bound violated or a failure).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
bin=$build/qsgdsim
results=${RESULTS_DIR:-$root/results}
case $results in /*) ;; *) results=$PWD/$results ;; esac
out=$results/bounds

if [ ! -x "$bin" ]; then
  echo "demo: $bin not found; build first (make build, or cmake --build $build)" >&2
  exit 1
fi

echo "demo: $bin bounds --out $out"
start=$(date +%s)
rc=0
"$bin" bounds --out "$out" --quiet || rc=$?
secs=$(( $(date +%s) - start ))

table=$out/bounds.tsv
figure=$out/bounds.png
echo
if [ ! -s "$table" ]; then
  echo "demo: qsgdsim bounds failed (exit $rc) and wrote no table" >&2
  exit $(( rc ? rc : 1 ))
fi

# A readable excerpt: n, s, bucket, dist and, per quantity, measured vs bound (awk reads the
# whole file, so no SIGPIPE under pipefail).
excerpt() {
  awk -F'\t' '
    /^#/ { next }
    !h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1
         print "n", "s", "bucket", "dist", "var_ratio", "var_bound", "nnz", "nnz_bound",
               "elias_bits/n", "thm3.2/n", "dense_bits/n"; next }
    $c["n"] == n && $c["bucket"] == 0 && $c["norm"] == "l2" && ($c["dist"] == "gaussian" || $c["dist"] == "flat") {
      eb = $c["elias_bound"] == "nan" ? "-" : sprintf("%.3f", $c["elias_bound"] / $c["n"])
      print $c["n"], $c["s"], $c["bucket"], $c["dist"], $c["var_ratio"], $c["var_bound"],
            $c["nnz"], $c["nnz_bound"], sprintf("%.3f", $c["elias_bits"] / $c["n"]), eb,
            sprintf("%.3f", $c["dense_bits"] / $c["n"]) }
  ' n="$1" "$table"
}
largest_n=$(awk -F'\t' '/^#/ { next } !h { for (i = 1; i <= NF; i++) if ($i == "n") k = i; h = 1; next }
                        $k > m { m = $k } END { print m }' "$table")

echo "=== qsgdsim bounds: QSGD on random vectors vs Lemma 3.1 / Theorem 3.2 (${secs} s) ==="
echo "table:  $table"
if [ -s "$figure" ]; then echo "figure: $figure"; else echo "figure: (none: gnuplot missing or failed, see above)"; fi
echo
echo "excerpt (n = $largest_n, whole-vector bucket, l2 norm; bits per coordinate vs 32 for floats):"
if command -v column >/dev/null; then excerpt "$largest_n" | column -t; else excerpt "$largest_n"; fi
echo
viol=$(awk -F'\t' '!/^#/ && /VIOLATED/' "$table" | wc -l)
rows=$(awk -F'\t' '!/^#/' "$table" | wc -l)
echo "$((rows - 1)) rows; rows with a violated bound: $viol (columns *_check; details on stderr above)"
exit "$rc"
