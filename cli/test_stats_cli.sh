#!/usr/bin/env bash
# test_stats_cli.sh — CTest driver of `qsgdsim stats` (cli/CMakeLists.txt).
# Usage: test_stats_cli.sh run|fail QSGDSIM_BINARY
#   run   every registered type at its customary setting on a small n/T: exit 0, every row
#         ok, tables with provenance, one row per (spec, distribution), figure with gnuplot
#   fail  the checks can fail: a biased type claimed unbiased (--claim unbiased) is BIASED,
#         a wrong variance bound (--claim variance=X) is VIOLATED, an unbiased one stays ok;
#         each exits 1 and names the claim on stderr
set -euo pipefail
mode=${1:?mode: run|fail}
bin=${2:?path of the qsgdsim binary}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-stats-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
small=(--n 2048 --trials 200 --ef-steps 20 --seed 3)

case $mode in
run)
  rc=0
  "$bin" stats "${small[@]}" --out "$tmp/a" >"$tmp/a.stdout" 2>"$tmp/a.stderr" || rc=$?
  cat "$tmp/a.stderr" >&2
  [ "$rc" -eq 0 ] || fail "stats over every registered type exited $rc"
  f=$tmp/a/stats.tsv
  for key in version git command seed date; do
    grep -q "^# $key: " "$f" || fail "$f: no '# $key:' provenance line"
  done
  header=$(grep -v '^#' "$f" | sed -n 1p)
  case $header in spec$'\t'dist$'\t'n$'\t'trials$'\t'unbiased$'\t'bias*) ;; *) fail "header: $header" ;; esac
  # every registered type appears (the default list covers the registry)
  types=$("$bin" list quantizers | sed -n 's/^  \([a-z0-9_]*\) .*/\1/p')
  [ -n "$types" ] || fail "no types listed by qsgdsim list quantizers"
  for t in $types; do
    grep -v '^#' "$f" | cut -f1 | grep -Eq "^$t(:|\$)" || fail "type $t has no row"
  done
  rows=$(grep -v '^#' "$f" | sed 1d | wc -l)
  specs=$(grep -v '^#' "$f" | sed 1d | cut -f1 | sort -u | wc -l)
  [ "$rows" -eq $((2 * specs)) ] || fail "$rows rows for $specs specs x 2 distributions"
  if grep -v '^#' "$f" | grep -Eq 'VIOLATED|BIASED'; then fail "a claim is violated: $(grep -v "^#" "$f" | grep -E 'VIOLATED|BIASED' | cut -f1,2 | head -3)"; fi
  # the claims are really checked: unbiased types tested, bounds compared, EF measured
  awk -F'\t' '!/^#/ && $9 == "ok" { n++ } END { exit n < 4 }' "$f" || fail "fewer than 4 bias checks"
  awk -F'\t' '!/^#/ && $14 == "ok" { n++ } END { exit n < 8 }' "$f" || fail "fewer than 8 variance checks"
  awk -F'\t' '!/^#/ && $25 == "ok" { n++ } END { exit n < 2 }' "$f" || fail "fewer than 2 EF checks"
  grep -q $'^topk[^\t]*\tgaussian\t1\t' "$tmp/a/ef.tsv" || fail "ef.tsv has no topk row at t=1"
  [ "$(grep -vc '^#' "$tmp/a.stdout")" -eq $((rows + 1)) ] || fail "stdout table: not one line per row"
  ls "$tmp/a" | grep -q partial && fail "partial file left"
  if command -v "${QSGDSIM_GNUPLOT:-gnuplot}" >/dev/null; then
    [ "$(head -c 4 "$tmp/a/stats.png" 2>/dev/null | od -An -c | tr -d ' ')" = '211PNG' ] ||
      fail "no PNG figure although gnuplot is installed"
  fi
  # same seed, same numbers (the date aside)
  "$bin" stats "${small[@]}" --quant 'qsgd:bits=4;topk' --no-plot -q --out "$tmp/b" 2>/dev/null
  "$bin" stats "${small[@]}" --quant 'qsgd:bits=4;topk' --no-plot -q --out "$tmp/c" 2>/dev/null
  cmp -s <(grep -v '^#' "$tmp/b/stats.tsv") <(grep -v '^#' "$tmp/c/stats.tsv") || fail "two runs differ"
  ;;
fail)
  # expect_fail NEEDLE ARGS...: exit 1 and NEEDLE on stderr
  expect_fail() {
    local needle=$1 rc=0
    shift
    "$bin" stats "${small[@]}" --no-plot -q --out "$tmp/f" "$@" >/dev/null 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 1 ] || fail "stats $* exited $rc, expected 1"
    grep -qF -- "$needle" "$tmp/err" || fail "stats $*: no '$needle' on stderr: $(tail -2 "$tmp/err")"
  }
  expect_fail "claims unbiased" --quant topk --claim unbiased
  expect_fail "claims unbiased" --quant signsgd --claim unbiased --dist gaussian
  expect_fail "claims unbiased" --quant 'randomk:scale=0' --claim unbiased
  expect_fail "variance ratio" --quant 'qsgd:bits=4,bucket=512' --claim variance=1
  expect_fail "variance ratio" --quant natural --claim variance=0.05
  # the unbiased ones pass the same test (the check does not reject everything)
  rc=0
  "$bin" stats "${small[@]}" --no-plot -q --out "$tmp/g" --claim unbiased \
    --quant 'qsgd:bits=4;randomk;nuqsgd;fp32' 2>"$tmp/err" >/dev/null || rc=$?
  [ "$rc" -eq 0 ] || fail "unbiased types claimed unbiased exited $rc: $(grep VIOLATED "$tmp/err" | head -2)"
  # usage errors exit 2
  for args in "--quant nosuch" "--quant qsgd" "--claim nope" "--trials 2" "--dist flat" "--conf 1"; do
    rc=0
    # shellcheck disable=SC2086
    "$bin" stats $args --out "$tmp/never" >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 2 ] || fail "stats $args exited $rc, expected 2"
  done
  [ -e "$tmp/never" ] && fail "a usage error created the output directory"
  ;;
*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac
[ "$fails" -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "ok"
