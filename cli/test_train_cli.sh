#!/usr/bin/env bash
# test_train_cli.sh — `qsgdsim train`'s options (cli/cmd_train.c). Usage: test_train_cli.sh QSGDSIM
#   - the run settings train takes are the rows of sim/sim_settings.def with .train: each is in
#     `train --help` (generated) and is accepted; the model and quantizer names of --help are
#     those of `qsgdsim list models | quantizers` (the registries)
#   - same messages and ranges as the trainer's (sim_setting_parse): --batch 0, --threads 257,
#     --epochs 0, --seed -1, --device gpu; exit 2
#   - train's defaults (batch 128, epochs 5) and fractional epochs (1.5: the last one partial)
#   - --quant-min: deprecated spelling, warns, same numbers as --quant-min-numel
#   - a malformed data file: "FILE:LINE: what" once (qsgd_err.where, not repeated), exit 4
set -uo pipefail
bin=${1:?path of the qsgdsim binary}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-train-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ls=(--model leastsq --data synth-leastsq:n=512,dim=10,kappa=10 --quiet)

"$bin" train --help >"$tmp/help" || fail "train --help exited $?"
# the rows with .train (options from the table itself)
opts=$(awk '/^SIM_SETTING|^SIM_OPTION/ { row = "" } { row = row $0 }
            /\}\)/ { if (row ~ /\.train = / && match(row, /\.option = "[^"]*"/))
                       print substr(row, RSTART + 11, RLENGTH - 12); row = "" }' \
        "$src/sim/sim_settings.def")
[ "$(echo "$opts" | wc -w)" -ge 10 ] || fail "fewer than 10 rows with .train: $opts"
for o in $opts; do
  grep -q -- "^  --$o " "$tmp/help" || fail "--$o (a .train row) is not in train --help"
done
for o in model data quant quant-min-numel optim batch epochs max-steps seed threads device; do
  echo "$opts" | grep -qx -- "$o" || fail "--$o is not a .train row"
done
for t in $("$bin" list models | sed -n 's/^  \([a-z0-9_-]*\) .*/\1/p') \
         $("$bin" list quantizers | sed -n 's/^  \([a-z0-9_-]*\) .*/\1/p'); do
  grep -Eq "(^| )$t( |$)" "$tmp/help" || fail "type $t not listed in train --help"
done
grep -q -- "--lr X" "$tmp/help" && grep -q -- "--quant-min N" "$tmp/help" || fail "train's own options"

# the trainer's messages and ranges
expect() { # expected-text args...
  local want=$1; shift
  "$bin" train "${ls[@]}" "$@" --out "$tmp/x.tsv" >"$tmp/out" 2>&1; local rc=$?
  [ $rc -eq 2 ] && grep -qF -- "$want" "$tmp/out" || fail "train $*: rc $rc, '$(head -1 "$tmp/out")', want '$want'"
}
expect "qsgdsim train: --batch: '0' must be >= 1" --batch 0
expect "qsgdsim train: --threads: '257' must be in 1..256" --threads 257
expect "qsgdsim train: --epochs: '0' must be > 0" --epochs 0
expect "qsgdsim train: --seed: '-1' is not a non-negative integer" --seed -1
expect "qsgdsim train: --device:" --device gpu
expect "qsgdsim train: --max-steps: '1e3' is not a non-negative integer" --max-steps 1e3

# defaults, fractional epochs
"$bin" train "${ls[@]}" --out "$tmp/d.tsv" || fail "default run exited $?"
grep -q "^# batch 128, epochs 5, steps/epoch 4, steps 20," "$tmp/d.tsv" || fail "defaults: $(grep '^# batch' "$tmp/d.tsv")"
"$bin" train "${ls[@]}" --epochs 1.5 --out "$tmp/f.tsv" || fail "--epochs 1.5 exited $?"
grep -q "^# batch 128, epochs 1.5, steps/epoch 4, steps 6," "$tmp/f.tsv" &&
  [ "$(grep -v '^#' "$tmp/f.tsv" | tail -1 | cut -f1,2)" = "2	6" ] || fail "--epochs 1.5: $(tail -2 "$tmp/f.tsv")"

# the deprecated spelling
"$bin" train "${ls[@]}" --quant qsgd:bits=4 --quant-min 0 --epochs 1 --out "$tmp/q1.tsv" 2>"$tmp/w" &&
  "$bin" train "${ls[@]}" --quant qsgd:bits=4 --quant-min-numel 0 --epochs 1 --out "$tmp/q2.tsv" &&
  grep -q "quant-min is deprecated" "$tmp/w" &&
  diff <(grep -v '^#' "$tmp/q1.tsv" | cut -f1-6,9) <(grep -v '^#' "$tmp/q2.tsv" | cut -f1-6,9) >/dev/null ||
  fail "--quant-min: warning and same numbers"

# where: FILE:LINE, said once
printf '1 1:1\nx 2:1\n' >"$tmp/b.svm"
"$bin" train --model logreg --data "libsvm:$tmp/b.svm" --quiet --out "$tmp/b.tsv" 2>"$tmp/e"; rc=$?
[ $rc -eq 4 ] && [ "$(cat "$tmp/e")" = "qsgdsim train: $tmp/b.svm:2: bad label 'x' (expected a number)" ] ||
  fail "malformed data: rc $rc, '$(cat "$tmp/e")'"

[ $fails -eq 0 ] && echo "train cli: all checks passed" || echo "train cli: $fails check(s) failed" >&2
exit $((fails > 0))
