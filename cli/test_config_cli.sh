#!/usr/bin/env bash
# test_config_cli.sh — CTest driver: experiment files and command lines that cannot run are
# refused, with a message that says where and why, and the exit status of their class
# (sim/sim_exit.h); issue 10, failures 2, 12, 13 (cli/CMakeLists.txt, cli_config_*).
# Usage: test_config_cli.sh values|empty|messages|size|list|exit|settings|paired|baseline QSGDSIM_BINARY
#   values    numbers that cannot run: epochs 1e308 (valid with max_steps), 1e400, integers
#             beyond 64 bits, plain integers libconfig 1.5 wraps; "too large" at FILE:LINE,
#             never a wrapped value
#   empty     an empty file, /dev/null, comments and a name only: "FILE: no experiment keys"
#   messages  a default that conflicts with a setting is reported at the setting's line; a
#             reason comes before an echoed value, which is cut with "..."; no FILE:0
#   size      a file over 1 MiB, /dev/zero, a NUL byte, 200,000 repeated values (not quadratic)
#   list      `qsgdsim list A B` lists both; an unknown word lists nothing and exits 2
#   exit      the qsgdsim command: unknown command / option 2 with the list; a failed write
#             of standard output 5; --help names the classes
#   settings  the run-settings table (sim/sim_settings.def): docs/experiments.md's table is
#             `qsgdsim list settings --markdown`; the argv of a point with every setting
#             given is the command line written by hand before the table, in its order;
#             `qsgdsim sim --help` names every launcher option of the table
#   paired    `pair = ["model", "batch"]` (issue 14): the exact argv of a paired sweep's points,
#             a reference matching a paired point, axis order, an unchanged cartesian sweep,
#             every error at its line; with the SMPI trainer, speedups over the fp32 point of
#             the same pair
set -euo pipefail
mode=${1:?mode: values|empty|messages|size|list|exit|settings|paired|baseline}
bin=${2:?path of the qsgdsim binary}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
here=$(cd "$(dirname "$0")" && pwd)
tests=$here/tests
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-config-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# check FILE: `qsgdsim run FILE --check` into $tmp/out, $tmp/err; sets rc.
check() {
  rc=0
  (cd "$tmp" && timeout 120 "$bin" run "$1" --check) >"$tmp/out" 2>"$tmp/err" || rc=$?
}

# expect_error FILE LINE WORD...: exit 2 and a line "FILE:LINE: ..." (or "FILE: ..." when
# LINE is -) containing every WORD; nothing of the experiment written.
expect_error() {
  local f=$1 line=$2
  shift 2
  check "$f"
  [ "$rc" -eq 2 ] || fail "$f: exit status $rc, expected 2; stderr: $(cat "$tmp/err")"
  local at="$f:$line: "
  [ "$line" = - ] && at="$f: "
  local msg
  msg=$(grep -F -- "$at" "$tmp/err" || true)
  if [ -z "$msg" ]; then
    fail "$f: no message at '$at'; stderr was:"
    sed 's/^/    /' "$tmp/err" >&2
    return 0
  fi
  local w
  for w in "$@"; do
    grep -qF -- "$w" <<<"$msg" || fail "$at message lacks '$w': $msg"
  done
  [ ! -e "$tmp/results" ] || fail "$f: an invalid file wrote $tmp/results"
  return 0
}

# never: no message of the last check says WORD
never() {
  ! grep -qF -- "$1" "$tmp/err" || fail "a message says '$1': $(grep -F -- "$1" "$tmp/err")"
}

case $mode in
values)
  # failure 2: 1e308 epochs would be 0 iterations and "complete"
  expect_error "$tests/too_large_epochs.cfg" 4 "epochs = 1e+308" "too large" "4294967295" "max_steps"
  check "$tests/too_large_epochs_steps.cfg"
  [ "$rc" -eq 0 ] || fail "epochs 1e308 with max_steps = 5: exit $rc: $(cat "$tmp/err")"
  expect_error "$tests/too_large_inf.cfg" 3 "epochs" "too large"
  expect_error "$tests/too_large_inf.cfg" 4 "bucket" "too large"
  expect_error "$tests/too_large_int.cfg" 3 "seeds = 99999999999999999999" "too large"
  expect_error "$tests/too_large_int.cfg" 4 "max_steps = -99999999999999999999" "too large"
  never "negative numbers" # the wrapped value of line 4 was -1
  # plain integers beyond 32 bits: "too large" (libconfig 1.5) or read whole (newer), and
  # never a wrapped value (99999999999 -> 1215752191, 4294967296 -> 0, 4294967300 -> 4)
  expect_error "$tests/too_large_plain.cfg" 6 "quantizer" "4294967300"
  never "1215752191"
  never "listed twice"
  for l in 4 5; do
    msg=$(grep -F "too_large_plain.cfg:$l: " "$tmp/err" || true)
    [ -z "$msg" ] || grep -q "too large" <<<"$msg" || fail "line $l: $msg"
  done
  if grep -qF "too_large_plain.cfg:4: " "$tmp/err"; then
    expect_error "$tests/too_large_plain.cfg" 4 "batch = 99999999999" "too large" "99999999999L"
    expect_error "$tests/too_large_plain.cfg" 5 "seeds = 4294967296" "too large"
  fi
  # with the L suffix the same numbers are 64-bit integers: valid, passed on whole
  printf 'model = "leastsq";\nbatch = 99999999999L;\nseeds = (1, 4294967296L);\n' >"$tmp/l.cfg"
  (cd "$tmp" && "$bin" run "$tmp/l.cfg" --dry-run) >"$tmp/dry" 2>"$tmp/err" || fail "L integers: $(cat "$tmp/err")"
  grep -q -- "--batch 99999999999 " "$tmp/dry" || fail "--batch 99999999999 not passed on"
  grep -q -- "--seed 4294967296 " "$tmp/dry" || fail "--seed 4294967296 not passed on"
  # hexadecimal: 0x80000000 is a plain integer beyond 32 bits too
  printf 'model = "leastsq";\nseeds = [1, 0x80000000];\n' >"$tmp/h.cfg"
  expect_error "$tmp/h.cfg" 2 "seeds = 0x80000000" "too large"
  ;;

empty)
  # failure 12: nothing in the file ran the whole default experiment
  : >"$tmp/empty.cfg"
  expect_error "$tmp/empty.cfg" - "no experiment keys"
  expect_error /dev/null - "no experiment keys"
  printf '# only a comment\n\n// and another\n' >"$tmp/comments.cfg"
  expect_error "$tmp/comments.cfg" - "no experiment keys"
  expect_error "$tests/empty_keys.cfg" - "no experiment keys" "qsgdsim list settings"
  # one setting is enough
  printf 'model = "leastsq";\n' >"$tmp/one.cfg"
  check "$tmp/one.cfg"
  [ "$rc" -eq 0 ] || fail "a file with one setting: exit $rc: $(cat "$tmp/err")"
  ;;

messages)
  # failure 13: a default that conflicts with a setting: the setting's line, the default named
  expect_error "$tests/conflict_default.cfg" 4 "workers = 100000" "star:link=10GbE" "the default" "65536"
  never "conflict_default.cfg:0:"
  # the reason first, the echoed value after it, cut with "..."
  long=$(printf 'x%.0s' $(seq 3000))
  printf 'model = "leastsq";\nquantizer = "qsgd:bits=4,bucket=512,%s";\n' "$long" >"$tmp/long.cfg"
  expect_error "$tmp/long.cfg" 2 "quantizer: too long: 3023 characters, at most" '..." (3023 characters)'
  msg=$(grep -F "long.cfg:2: " "$tmp/err")
  [ "${#msg}" -lt 400 ] || fail "a 3000-character value is echoed whole (${#msg} characters)"
  # every message reports the value after the reason, also from a quantizer group and for
  # an unknown key (its name echoed cut)
  printf 'model = "leastsq";\nquantizer = { name = "qsgd"; bits = 4; format = "%s"; };\n%s = 1;\n' \
    "$long" "y$long" >"$tmp/long2.cfg"
  expect_error "$tmp/long2.cfg" 2 "quantizer" "too long" '...'
  expect_error "$tmp/long2.cfg" 3 "unknown setting 'yxxx" "(3001 characters)" "valid:" "workers"
  while IFS= read -r l; do
    [ "${#l}" -lt 1000 ] || fail "a message of ${#l} characters: ${l:0:200}..."
  done <"$tmp/err"
  # a file-wide message has no line number at all (never FILE:0)
  : >"$tmp/e.cfg"
  check "$tmp/e.cfg"
  never "e.cfg:0:"
  ;;

size)
  # failure 13: libconfig takes quadratic time on long strings: files are limited to 1 MiB
  { printf 'model = "leastsq";\ndescription = "'; head -c 1100000 /dev/zero | tr '\0' a; printf '";\n'; } >"$tmp/big.cfg"
  size=$(stat -c %s "$tmp/big.cfg")
  expect_error "$tmp/big.cfg" - "$size bytes; experiment files are limited to 1048576 bytes"
  expect_error /dev/zero - "more than 1048576 bytes"
  # an @include'd file is held to the same limit, at the line of the @include
  mkdir -p "$tmp/inc"
  printf 'model = "leastsq";\n@include "big.cfg"\n' >"$tmp/inc/main.cfg"
  cp "$tmp/big.cfg" "$tmp/inc/big.cfg"
  expect_error "$tmp/inc/main.cfg" 2 '@include "big.cfg"' "limited to 1048576 bytes"
  # and its integers are checked like the file's
  printf '\nbatch = 99999999999999999999;\n' >"$tmp/inc/small.cfg"
  printf 'model = "leastsq";\n@include "small.cfg"\n' >"$tmp/inc/main2.cfg"
  check "$tmp/inc/main2.cfg"
  [ "$rc" -eq 2 ] && grep -q "small.cfg:2: batch = 99999999999999999999: too large" "$tmp/err" ||
    fail "@include'd integer: exit $rc: $(cat "$tmp/err")"
  # a binary file
  printf 'model = "leastsq";\nbatch = 4\0;\n' >"$tmp/nul.cfg"
  expect_error "$tmp/nul.cfg" 2 "NUL byte"
  # a large file is not quadratic: 200,000 values, 7 distinct (seconds, not minutes; the
  # pairwise check took minutes)
  { printf 'model = "leastsq";\nseeds = ['; seq 0 199999 | awk '{ printf "%s%d", (NR > 1 ? "," : ""), $1 % 7 }'
    printf '];\n'; } >"$tmp/dup.cfg"
  SECONDS=0
  expect_error "$tmp/dup.cfg" 2 "seeds: a value is listed twice"
  [ "$SECONDS" -lt 60 ] || fail "200,000 repeated values took $SECONDS s"
  ;;

list)
  "$bin" list quantizers models >"$tmp/out" 2>"$tmp/err" || fail "list quantizers models: exit $?"
  grep -q '^quantizers ' "$tmp/out" && grep -q '^models ' "$tmp/out" ||
    fail "list quantizers models: $(grep -v '^ ' "$tmp/out")"
  [ "$(grep -c '^[a-z]' "$tmp/out")" -eq 2 ] || fail "list quantizers models: not 2 sections"
  "$bin" list model quantizer models >"$tmp/out" || fail "list with aliases: exit $?"
  [ "$(grep -v '^ ' "$tmp/out" | grep -v '^$' | cut -d' ' -f1 | tr '\n' ' ')" = "models quantizers " ] ||
    fail "list model quantizer models: $(grep -v '^ ' "$tmp/out")"
  rc=0
  "$bin" list quantizers bogus models >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "list quantizers bogus: exit $rc, expected 2"
  [ ! -s "$tmp/out" ] || fail "list quantizers bogus: listed before the error: $(head -1 "$tmp/out")"
  grep -q "unknown category 'bogus'; valid: quantizers models networks" "$tmp/err" ||
    fail "list bogus: $(cat "$tmp/err")"
  if [ -w /dev/full ]; then
    rc=0
    "$bin" list settings >/dev/full 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 5 ] && grep -q "cannot write standard output" "$tmp/err" ||
      fail "list >/dev/full: exit $rc: $(cat "$tmp/err")"
  fi
  ;;

exit)
  rc=0; "$bin" bogus >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "unknown command: exit $rc, expected 2"
  grep -q "unknown command 'bogus'; valid commands: .*run.*list" "$tmp/err" || fail "unknown command: $(cat "$tmp/err")"
  rc=0; "$bin" help bogus >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "help bogus: exit $rc, expected 2"
  rc=0; "$bin" --bogus >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "--bogus: exit $rc, expected 2"
  rc=0; "$bin" >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "no command: exit $rc, expected 2"
  "$bin" --help >"$tmp/out" || fail "--help: exit $?"
  for w in "2 bad option" "3 diverged" "4 data" "5 I/O" "6 resources" "130 interrupted"; do
    grep -q "$w" "$tmp/out" || fail "--help does not name '$w'"
  done
  if [ -w /dev/full ]; then
    rc=0; "$bin" --version >/dev/full 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 5 ] || fail "--version >/dev/full: exit $rc, expected 5"
  fi
  # an invalid experiment file and a missing one are config errors
  rc=0; "$bin" run "$tests/too_large_int.cfg" --check >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "run of an invalid file: exit $rc, expected 2"
  rc=0; "$bin" run "$tmp/none.cfg" --check >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "run of a missing file: exit $rc, expected 2"
  ;;

settings)
  docs=$here/../docs/experiments.md
  "$bin" list settings --markdown >"$tmp/gen.md" || fail "list settings --markdown: exit $?"
  sed -n '/^| key | type | default | passed as | meaning |$/,/^| `reference` |/p' "$docs" >"$tmp/doc.md"
  [ -s "$tmp/doc.md" ] || fail "docs/experiments.md: no settings table"
  diff -u "$tmp/doc.md" "$tmp/gen.md" >"$tmp/diff" ||
    fail "docs/experiments.md's settings table is not the generated one (qsgdsim list settings --markdown):
$(cat "$tmp/diff")"
  rc=0; "$bin" list models --markdown >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "list models --markdown: exit $rc, expected 2"
  # every setting given: the argv in the order and form of the hand-written build_args
  base='model = "logreg"; data = "synth-logreg:n=600,dim=64,ntest=200"; optimizer = "sgd:lr=0.1";
quant_min_numel = 0; network = "star:link=1GbE"; smpi_model = "default"; smpi_allgatherv = "ring";
smpi_allgather = "bruck"; smpi_allreduce = "rdb"; workers = 3; batch = 16; epochs = 2.5;
max_steps = 4; seeds = 7; compute = "flops:V100"; codec = "device:V100"; device_eff = 0.4;
eval_every = 2; target_accuracy = 0.9; threads = 2; device = "cpu"; shared_decode = false;'
  printf '%s\nname = "a"; quantizer = "qsgd:bits=4,bucket=32"; exchange = "allgather"; overlap = true;\n' "$base" >"$tmp/a.cfg"
  printf '%s\nname = "b"; quantizer = "fp32"; exchange = "allreduce"; allreduce_impl = "mpi";\n' "$base" >"$tmp/b.cfg"
  common="--model logreg --data synth-logreg:n=600,dim=64,ntest=200"
  launcher="qsgdsim sim --ranks 3 --network star:link=1GbE --smpi-model default --allgatherv ring --allgather bruck --allreduce rdb --out OUT --"
  rest="--batch 16 --epochs 2.5 --max-steps 4 --seed 7 --compute flops:V100 --codec device:V100 --device-eff 0.4 --eval-every 2 --target-accuracy 0.9 --threads 2 --device cpu"
  want_a="$launcher $common --quant qsgd:bits=4,bucket=32 --quant-min-numel 0 --optim sgd:lr=0.1 --exchange allgather $rest --overlap --no-shared-decode"
  want_b="$launcher $common --quant fp32 --quant-min-numel 0 --optim sgd:lr=0.1 --exchange allreduce --allreduce mpi --allreduce-sum fp32 $rest --no-shared-decode"
  for x in a b; do
    rc=0; (cd "$tmp" && "$bin" run "$tmp/$x.cfg" --dry-run) >"$tmp/$x.out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || { fail "$x.cfg --dry-run: exit $rc: $(cat "$tmp/$x.out")"; continue; }
    got=$(grep '^  qsgdsim sim ' "$tmp/$x.out" | sed -e 's/^  //' -e 's/ --out [^ ]* -- / --out OUT -- /')
    want=want_$x
    [ "$got" = "${!want}" ] || fail "$x.cfg: the argv changed:
  got  $got
  want ${!want}"
  done
  "$bin" sim --help >"$tmp/simhelp" || fail "sim --help: exit $?"
  for o in ranks network smpi-model allgatherv allgather allreduce trainer dry-run out; do
    grep -q -- "^  --$o " "$tmp/simhelp" || fail "sim --help does not list --$o"
  done
  ;;

paired)
  # issue 14: `pair = ["model", "batch"]` zips lists into one dimension of the product
  d=$tmp/paired.out
  rc=0; (cd "$tmp" && "$bin" run "$tests/paired.cfg" --dry-run) >"$d" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || fail "paired.cfg --dry-run: exit $rc: $(cat "$d")"
  grep -qF "paired.cfg): 6 points," "$d" || fail "paired.cfg: not 6 points: $(head -2 "$d")"
  [ "$(grep '^axes:' "$d")" = "axes: (model, batch) (3) quantizer (2)" ] ||
    fail "paired.cfg: axes line: $(grep '^axes:' "$d")"
  rest="--data synth-logreg:n=600,dim=64,ntest=200 --QUANT --quant-min-numel 0 --optim sgd:lr=0.1 --exchange allgather --BATCH --epochs 1 --max-steps 4 --seed 7 --compute fixed:0.001 --codec none --eval-every 0 --target-accuracy 0 --threads 1 --device auto"
  want=""
  for mb in "logreg 16 logreg" "mlp:hidden=8 8 mlp-hidden8" "mlp:hidden=16 16 mlp-hidden16"; do
    set -- $mb
    for q in "fp32 fp32" "qsgd:bits=4,bucket=32 qsgd-bits4-bucket32"; do
      qs=${q% *} qn=${q#* }
      dir="model=$3_batch=$2_q=$qn"
      r=${rest/--QUANT/--quant $qs}
      want+="qsgdsim sim --ranks 2 --network star:link=1GbE --smpi-model cm02 --out results/paired/$dir -- --model $1 ${r/--BATCH/--batch $2}"$'\n'
    done
  done
  got=$(grep '^  qsgdsim sim ' "$d" | sed 's/^  //')
  [ "$got" = "${want%$'\n'}" ] || fail "paired.cfg: the points changed:
got:
$got
want:
$want"
  # the reference naming model and batch matches the paired point (4) only
  [ "$(grep -c 'has a reference value' "$d")" -eq 1 ] &&
    grep -qF "[4/6] model=mlp-hidden8_batch=8_q=qsgd-bits4-bucket32  (has a reference value)" "$d" ||
    fail "paired.cfg: the reference does not match point 4 alone: $(grep '^\[' "$d")"
  # a pair's settings are one axis at the place of the first in the file, in the pair's order
  printf '%s\n' 'batch = [16, 8]; workers = [2, 3]; model = ["logreg", "mlp:hidden=8"];' \
    'data = "synth-logreg:n=600,dim=64,ntest=200"; pair = ["model", "batch"];' >"$tmp/order.cfg"
  rc=0; (cd "$tmp" && "$bin" run "$tmp/order.cfg" --dry-run) >"$d" 2>&1 || rc=$?
  got=$(grep '^\[' "$d" | cut -d' ' -f2 | tr '\n' ' ')
  [ "$rc" -eq 0 ] && [ "$got" = "model=logreg_batch=16_K=2 model=logreg_batch=16_K=3 model=mlp-hidden8_batch=8_K=2 model=mlp-hidden8_batch=8_K=3 " ] ||
    fail "order.cfg: exit $rc, points: $got $(cat "$d")"
  # the cartesian product is unchanged without pair
  rc=0; (cd "$tmp" && "$bin" run "$tests/sweep.cfg" --dry-run) >"$d" 2>&1 || rc=$?
  got=$(grep '^\[' "$d" | cut -d' ' -f2 | tr '\n' ' ')
  [ "$rc" -eq 0 ] && [ "$(grep '^axes:' "$d")" = "axes: quantizer (2) workers (2)" ] &&
    [ "$got" = "q=fp32_K=2 q=fp32_K=3 q=qsgd-bits4-bucket32_K=2 q=qsgd-bits4-bucket32_K=3 " ] ||
    fail "sweep.cfg: exit $rc, $(grep '^axes:' "$d"), points: $got"
  # errors, each at its line
  expect_error "$tests/bad_pair.cfg" 8 "pair: unknown setting 'bacth'" "did you mean 'batch'"
  expect_error "$tests/bad_pair.cfg" 9 "pair: model is paired twice (also line 7)"
  expect_error "$tests/bad_pair.cfg" 10 "pair: workers is paired twice (also line 8)"
  expect_error "$tests/bad_pair.cfg" 7 "pair (model, batch): lists of different lengths" \
    "model has 2 values (line 2), batch has 3 (line 3)"
  expect_error "$tests/bad_pair.cfg" 9 "pair: quantizer is one value (line 5), not a list"
  expect_error "$tests/bad_pair.cfg" 10 "pair: seeds is not set in the file"
  expect_error "$tests/bad_pair_single.cfg" 5 "pair: batch is one value (line 3), not a list"
  expect_error "$tests/bad_pair_single.cfg" 5 "pair: seeds is not set in the file"
  expect_error "$tests/bad_pair_tuple.cfg" 2 "pair (model, batch): a tuple is listed twice" \
    "values 1 and 3" '("logreg", 16)'
  expect_error "$tests/bad_pair_tuple.cfg" 7 "pair: give at least two settings"
  printf 'model = ["logreg"];\npair = "model";\n' >"$tmp/bad_pair_type.cfg"
  expect_error "$tmp/bad_pair_type.cfg" 2 "pair: expected a list of settings" "got a string"
  printf 'model = ["logreg"];\nbatch = [4];\npair = ("model", 4);\n' >"$tmp/bad_pair_elem.cfg"
  expect_error "$tmp/bad_pair_elem.cfg" 3 "pair: expected the name of a setting" "got an integer"
  # baselines: run it where the SMPI trainer is built; the speedup of each QSGD point is over
  # the fp32 point of the same model AND batch
  if [ -x "$(dirname "$bin")/qsgdsim-trainer-smpi" ] && command -v smpirun >/dev/null; then
    rc=0; "$bin" run "$tests/paired.cfg" --out "$tmp/p" -j 2 --no-plot >"$d" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || fail "paired.cfg run: exit $rc: $(tail -20 "$d")"
    awk -F'\t' '/^#/ { next } !h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next }
      { k = $c["model"] "|" $c["batch"]; t[NR] = $c["time_per_epoch"]; s[NR] = $c["speedup"];
        q[NR] = $c["quantizer"]; key[NR] = k; if ($c["quantizer"] == "fp32") fp[k] = NR }
      END { n = 0; for (r in t) { b = fp[key[r]]; want = t[b] / t[r];
              if (!(b && s[r] > 0 && (s[r] - want) ^ 2 < 1e-10 * want ^ 2)) { print "point row " r ": speedup " s[r] ", want " want; exit 1 }
              n++ }
            if (n != 6) { print n " rows"; exit 1 } }' "$tmp/p/summary.tsv" >"$tmp/awk" ||
      fail "paired.cfg: speedups not over the fp32 point of the same model and batch: $(cat "$tmp/awk")"
    [ "$(grep -v '^#' "$tmp/p/points.tsv" | head -1)" = $'point\tdir\tmodel\tbatch\tquantizer' ] ||
      fail "paired.cfg: points.tsv header: $(grep -v '^#' "$tmp/p/points.tsv" | head -1)"
  else
    echo "paired: no SMPI trainer next to $bin: the run part is skipped"
  fi
  ;;

baseline)
  # issue 14: `baseline = { exchange = "allreduce"; }` names the point a speedup is over;
  # references carry a group, summarised by the RMS and the largest log residual
  d=$tmp/baseline.out
  # errors, each at its line
  printf '%s\n' 'model = ["logreg"];' 'baseline = { exchange = "allreduce"; speedup = 2; };' >"$tmp/b1.cfg"
  expect_error "$tmp/b1.cfg" 2 "baseline: unknown field 'speedup'" "settings only"
  printf '%s\n' 'model = ["logreg"];' 'baseline = { };' >"$tmp/b2.cfg"
  expect_error "$tmp/b2.cfg" 2 "baseline: an empty group"
  printf '%s\n' 'quantizer = ["fp32", "qsgd:bits=4"];' 'baseline = { exchange = "ps"; };' >"$tmp/b3.cfg"
  expect_error "$tmp/b3.cfg" 2 "baseline: no point of the experiment has these settings"
  printf '%s\n' 'model = ["logreg"];' 'reference = ({ model = "logreg"; speedup = 2; group = 3; });' >"$tmp/b5.cfg"
  expect_error "$tmp/b5.cfg" 2 "reference group" "string"
  if [ -x "$(dirname "$bin")/qsgdsim-trainer-smpi" ] && command -v smpirun >/dev/null; then
    rc=0; "$bin" run "$tests/baseline.cfg" --out "$tmp/b" -j 2 --no-plot >"$d" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || fail "baseline.cfg run: exit $rc: $(tail -20 "$d")"
    # every speedup is over the fp32 all-reduce point of its model; residual = ln(s / ref)
    awk -F'\t' '/^#/ { next } !h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next }
      { m[NR] = $c["model"]; t[NR] = $c["time_per_epoch"]; s[NR] = $c["speedup"];
        r[NR] = $c["ref_speedup"]; x[NR] = $c["residual"]; g[NR] = $c["ref_group"]
        if ($c["exchange"] == "allreduce") fp[$c["model"]] = NR }
      END { n = 0; for (i in t) { want = t[fp[m[i]]] / t[i]
              if (!(s[i] > 0 && (s[i] - want) ^ 2 < 1e-10 * want ^ 2)) { print "row " i ": speedup " s[i] ", want " want; exit 1 }
              if (r[i] != "NaN") { w = log(s[i] / r[i])
                if ((x[i] - w) ^ 2 > 1e-10 * (w ^ 2 + 1e-12)) { print "row " i ": residual " x[i] ", want " w; exit 1 }
                n++ } else if (x[i] != "NaN" || g[i] != "") { print "row " i ": residual without reference"; exit 1 } }
            if (n != 3) { print n " rows with references"; exit 1 } }' "$tmp/b/summary.tsv" >"$tmp/awk" ||
      fail "baseline.cfg: $(cat "$tmp/awk")"
    # the group lines: RMS and largest over the group's rows, from the table's residuals
    want=$(awk -F'\t' '/^#/ { next } !h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next }
      $c["ref_group"] == "measured" { ss += $c["residual"] ^ 2; n++
        if ($c["residual"] ^ 2 > w ^ 2) { w = $c["residual"]; at = $c["point"] } }
      END { printf "measured: %d rows, RMS log residual %.1f%%, largest %+.1f%% (point %d,", n, 100 * sqrt(ss / n), 100 * w, at }' "$tmp/b/summary.tsv")
    grep -qF "  $want" "$d" || fail "baseline.cfg: no line '$want' on stdout: $(tail -5 "$d")"
    grep -qF "# residuals, ln(speedup / ref_speedup): $want" "$tmp/b/summary.tsv" ||
      fail "baseline.cfg: summary.tsv has no line '$want'"
    grep -qF "  projected: 1 row, RMS log residual" "$d" || fail "baseline.cfg: no projected line: $(tail -5 "$d")"
  else
    echo "baseline: no SMPI trainer next to $bin: the run part is skipped"
  fi
  ;;

*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac

if [ "$fails" -ne 0 ]; then
  echo "$fails failure(s)" >&2
  exit 1
fi
echo "ok: $mode"
