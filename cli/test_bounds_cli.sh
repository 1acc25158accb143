#!/usr/bin/env bash
# test_bounds_cli.sh — CTest driver for the qsgdsim command line (cli/CMakeLists.txt).
# Usage: test_bounds_cli.sh run|usage QSGDSIM_BINARY
#   run    tiny `qsgdsim bounds` runs: exit 0, provenance, header, row count, no partial files
#   usage  bad arguments exit 2 naming the argument; help and version exit 0
set -euo pipefail
mode=${1:?mode: run|usage}
bin=${2:?path of the qsgdsim binary}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-cli-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

expected_header=$'n\ts\tbucket\td\tnorm\tdist\ttrials\tvar_ratio\tvar_lo\tvar_hi\tvar_bound\tvar_check\tnnz\tnnz_lo\tnnz_hi\tnnz_bound\tnnz_check\telias_bits\telias_lo\telias_hi\telias_bound\telias_check\tdense_bits\tfp32_bits'

# check_table FILE ROWS: provenance lines, the header right after them, ROWS rows of 24 fields.
check_table() {
  local f=$1 rows=$2
  [ -f "$f" ] || { fail "$f missing"; return; }
  for key in version git command seed date; do
    grep -q "^# $key: " "$f" || fail "$f: no '# $key:' provenance line"
  done
  local header
  header=$(grep -v '^#' "$f" | sed -n 1p)
  [ "$header" = "$expected_header" ] || fail "$f: header is '$header'"
  local got
  got=$(grep -v '^#' "$f" | sed 1d | wc -l)
  [ "$got" -eq "$rows" ] || fail "$f: $got rows, expected $rows"
  awk -F'\t' '!/^#/ && NF != 24 { bad++ } END { exit bad > 0 }' "$f" || fail "$f: a line without 24 fields"
  if grep -v "^#" "$f" | grep -q VIOLATED; then fail "$f: a bound is marked VIOLATED"; fi
  local leftover
  for leftover in "$(dirname "$f")"/*partial*; do
    [ -e "$leftover" ] && fail "partial file left: $leftover"
  done
  return 0
}

case $mode in
run)
  # 2 n x 3 s x 2 buckets x 2 norms x 3 dists = 72 rows
  out=$tmp/a
  rc=0
  "$bin" bounds --n 64,300 --s 1,2,8 --bucket 0,32 --norm l2,max --dist gaussian,sparse,flat \
    --trials 20 --seed 7 --out "$out" >"$tmp/a.stdout" 2>"$tmp/a.stderr" || rc=$?
  cat "$tmp/a.stderr" >&2
  [ "$rc" -eq 0 ] || fail "bounds run exited $rc"
  check_table "$out/bounds.tsv" 72
  # stdout carries the same table without the provenance lines
  grep -v '^#' "$out/bounds.tsv" | cmp -s - "$tmp/a.stdout" || fail "stdout differs from bounds.tsv"
  if command -v "${QSGDSIM_GNUPLOT:-gnuplot}" >/dev/null; then
    [ "$(head -c 4 "$out/bounds.png" 2>/dev/null | od -An -c | tr -d ' ')" = '211PNG' ] ||
      fail "no PNG figure at $out/bounds.png although gnuplot is installed"
  else
    echo "note: gnuplot not installed, figure not checked" >&2
  fi
  # --bits uses s = 2^(b-1)-1; default buckets 0,512 and dists gaussian,heavy,sparse,flat: 16 rows
  rc=0
  "$bin" bounds --n 100 --bits 2,4 --trials 5 --quiet --no-plot --out "$tmp/b" 2>"$tmp/b.stderr" || rc=$?
  [ "$rc" -eq 0 ] || { cat "$tmp/b.stderr" >&2; fail "--bits run exited $rc"; }
  check_table "$tmp/b/bounds.tsv" 16
  s_values=$(grep -v '^#' "$tmp/b/bounds.tsv" | sed 1d | cut -f2 | sort -un | tr '\n' ' ')
  [ "$s_values" = "1 7 " ] || fail "--bits 2,4 gave s = $s_values, expected 1 7"
  # Same seed, same numbers (provenance date aside).
  "$bin" bounds --n 100 --bits 2,4 --trials 5 --quiet --no-plot --out "$tmp/c" 2>/dev/null
  cmp -s <(grep -v '^#' "$tmp/b/bounds.tsv") <(grep -v '^#' "$tmp/c/bounds.tsv") ||
    fail "two runs with the same seed differ"
  ;;
usage)
  # expect_usage "needle in stderr" ARGS...: exit 2, needle and 'usage:' on stderr
  expect_usage() {
    local needle=$1 rc=0
    shift
    "$bin" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ "$rc" -ne 2 ]; then
      fail "qsgdsim $* exited $rc, expected 2"
    elif ! grep -qF -- "$needle" "$tmp/err"; then
      fail "qsgdsim $*: stderr does not mention '$needle': $(head -1 "$tmp/err")"
    elif ! grep -q 'usage:' "$tmp/err"; then
      fail "qsgdsim $*: no usage on stderr"
    fi
  }
  o=(--out "$tmp/never")
  expect_usage "no command"
  expect_usage "nosuch" nosuch
  expect_usage "--bogus" --bogus
  expect_usage "nosuch" help nosuch
  expect_usage "--n" bounds "${o[@]}" --n 0
  expect_usage "--n" bounds "${o[@]}" --n abc
  expect_usage "--n" bounds "${o[@]}" --n 16,
  expect_usage "--n" bounds "${o[@]}" --n
  expect_usage "--s" bounds "${o[@]}" --s 1,x
  expect_usage "--s" bounds "${o[@]}" --s 2,2
  expect_usage "--s" bounds "${o[@]}" --s -3
  expect_usage "--bits" bounds "${o[@]}" --bits 1
  expect_usage "--bits" bounds "${o[@]}" --bits 17
  expect_usage "--s and --bits" bounds "${o[@]}" --s 2 --bits 4
  expect_usage "--bucket" bounds "${o[@]}" --bucket x
  expect_usage "--norm" bounds "${o[@]}" --norm l3
  expect_usage "--dist" bounds "${o[@]}" --dist gaussian,nope
  expect_usage "--trials" bounds "${o[@]}" --trials 1
  expect_usage "--density" bounds "${o[@]}" --density 0
  expect_usage "--seed" bounds "${o[@]}" --seed -1
  expect_usage "--bogus" bounds "${o[@]}" --bogus
  expect_usage "extra" bounds "${o[@]}" extra
  [ -e "$tmp/never" ] && fail "a usage error created the output directory"
  # help and version succeed and print on stdout
  for args in "--help" "help" "help bounds" "bounds --help" "bounds -h"; do
    # shellcheck disable=SC2086
    "$bin" $args >"$tmp/out" 2>&1 || fail "qsgdsim $args exited $?"
    grep -q 'usage:' "$tmp/out" || fail "qsgdsim $args printed no usage"
  done
  "$bin" --version >"$tmp/out" || fail "qsgdsim --version exited $?"
  grep -Eq '^qsgdsim [0-9]+\.[0-9]+\.[0-9]+ \(git [^)]+\)$' "$tmp/out" || fail "--version printed: $(cat "$tmp/out")"
  ;;
*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac
[ "$fails" -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "ok"
