#!/usr/bin/env bash
# test-table1-bands.sh — CTest study_table1 (cli/CMakeLists.txt): plots/table1_bands.sh on a
# hand-made summary.tsv with known numbers (the prediction, the band's low and high over the
# other groups, the paper's number, per network, in order of first appearance), its refusals;
# and `qsgdsim run --check` of the Table 1 studies (experiments/table1*.cfg).
#   test-table1-bands.sh QSGDSIM_BINARY
set -euo pipefail
bin=${1:?path of the qsgdsim binary}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-bands-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# summary.tsv: two networks; the calibrated group, two bands, an fp32 row without reference,
# a NaN speedup (a failed point) that must be ignored
d=$tmp/r
mkdir -p "$d"
{
  echo "# qsgdsim run: summary of experiment 'fake'"
  printf 'point\tdir\tquantizer\tmodel\tstatus\tspeedup\tref_speedup\tref_source\tresidual\tref_group\treason\n'
  printf '1\ta\tfp32\tA\tcomplete\t1\tNaN\t-\tNaN\t\t\n'
  printf '2\tb\tq4\tA\tcomplete\t1.8\t2.05\tTable 1: AlexNet, 4-bit\t-0.13\tcalibrated\t\n'
  printf '3\tc\tq4\tA\tcomplete\t2.3\t2.05\tTable 1: AlexNet, 4-bit\t0.11\tdie_bw 1.0\t\n'
  printf '4\td\tq4\tA\tcomplete\t1.6\t2.05\tTable 1: AlexNet, 4-bit\t-0.25\tcompute x1.25\t\n'
  printf '5\te\tq4\tA\tfailed\tNaN\t2.05\tTable 1: AlexNet, 4-bit\tNaN\tcompute x0.75\t\n'
  printf '6\tf\tq8\tR\tcomplete\t1.2\t1.56\tTable 1: ResNet-152\t-0.26\tcalibrated\t\n'
  printf '7\tg\tq8\tR\tcomplete\t1.25\t1.56\tTable 1: ResNet-152\t-0.22\tdie_bw 1.0\t\n'
} >"$d/summary.tsv"
rc=0
bash "$here/table1_bands.sh" "$d" >"$tmp/out" 2>&1 || rc=$?
if command -v gnuplot >/dev/null; then
  [ "$rc" -eq 0 ] || fail "table1_bands.sh exited $rc: $(cat "$tmp/out")"
  [ "$(head -c 4 "$d/plots/bands.png" | od -An -c | tr -d ' ')" = '211PNG' ] || fail "no bands.png"
else
  echo "note: gnuplot not installed, the figure is not checked" >&2
fi
got=$(grep -v '^#' "$d/plots/bands.dat" 2>/dev/null | tr '\t' ' ')
want=$'0 AlexNet 2.05 1.8 1.6 2.3\n1 ResNet-152 1.56 1.2 1.2 1.25'
[ "$got" = "$want" ] || fail "bands.dat:
got:
$got
want:
$want"
# refusals: no summary; a summary without reference groups
rc=0
bash "$here/table1_bands.sh" "$tmp/none" >"$tmp/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && grep -q "no .*summary.tsv" "$tmp/out" || fail "missing summary: exit $rc, $(cat "$tmp/out")"
mkdir -p "$tmp/noref"
printf 'point\tdir\tquantizer\tstatus\tspeedup\tref_speedup\tref_source\tref_group\n1\ta\tfp32\tcomplete\t1\tNaN\t-\t\n' >"$tmp/noref/summary.tsv"
rc=0
bash "$here/table1_bands.sh" "$tmp/noref" >"$tmp/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && grep -q "no complete rows with references" "$tmp/out" ||
  fail "no references: exit $rc, $(cat "$tmp/out")"
# the Table 1 studies are valid experiment files
for f in "$root"/experiments/table1*.cfg; do
  "$bin" run "$f" --check >"$tmp/out" 2>&1 || fail "$(basename "$f"): $(cat "$tmp/out")"
done
if [ "$fails" -ne 0 ]; then
  echo "$fails failure(s)" >&2
  exit 1
fi
echo "ok: table1 bands"
