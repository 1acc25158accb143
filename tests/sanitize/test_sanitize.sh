#!/usr/bin/env bash
# The sanitizer build's self-test (CTest sanitize_selftest, only with -DQSGDSIM_SANITIZE=ON):
# every sanitizer is on and fatal, with the options and suppressions of cmake/sanitize.cmake,
# in a plain program and in SMPI ranks run by the `smpirun` found in PATH (under CTest the
# wrapper in BUILD/sanitize/bin, as for `qsgdsim sim`): a clean run exits 0 with no report,
# each planted error is reported by its sanitizer and fails the run.
# Then the suppressions (cmake/lsan.supp) at work: a third-party leak on a path of qsgdsim's own
# is suppressed, so the command keeps its exit status.
#   test_sanitize.sh PROBE [SMPI_PROBE [QSGDSIM]]
set -u
probe=$(readlink -f "$1"); smpi_probe=${2:+$(readlink -f "$2")}; qsgdsim=${3:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-sanitize.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
ok()  { echo "ok:   $*"; pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }

# the environment every test gets (cmake/sanitize_test_env.cmake.in)
supp=$(printf '%s\n' "${LSAN_OPTIONS:-}" | tr ':' '\n' | sed -n 's/^suppressions=//p' | head -1)
[ -n "$supp" ] && [ -r "$supp" ] && ok "LSAN_OPTIONS names a readable suppression file ($supp)" \
  || bad "LSAN_OPTIONS='${LSAN_OPTIONS:-}' names no readable suppression file"
case ":${UBSAN_OPTIONS:-}:" in *:halt_on_error=1:*) ok "UBSAN_OPTIONS has halt_on_error=1";;
  *) bad "UBSAN_OPTIONS='${UBSAN_OPTIONS:-}' lacks halt_on_error=1";; esac

# what each planted error must print
expect() {
  case $1 in
  heap) echo "AddressSanitizer: heap-buffer-overflow";;
  stack) echo "AddressSanitizer: stack-buffer-overflow";;
  float-cast) echo "is outside the range of representable values";;
  shift) echo "shift exponent 40 is too large";;
  leak) echo "LeakSanitizer: detected memory leaks";;
  esac
}

# run LABEL COMMAND...: `none` must exit 0 without a report; every error must exit nonzero
# with its report.
check() {
  local label=$1; shift
  "$@" none > "$tmp/out" 2>&1; rc=$?
  # "ASan is ignoring requested __asan_handle_no_return ... False positive error reports may
  # follow": ASan lost track of the stack (SimGrid's raw/ucontext stack switching)
  if [ $rc -eq 0 ] && ! grep -q "Sanitizer\|ASan\|runtime error" "$tmp/out"; then ok "$label: a clean run exits 0, no report"
  else bad "$label: clean run rc=$rc"; tail -20 "$tmp/out"; fi
  for what in heap stack float-cast shift leak; do
    "$@" "$what" > "$tmp/out" 2>&1; rc=$?
    if [ $rc -ne 0 ] && grep -q "$(expect "$what")" "$tmp/out"; then ok "$label: $what reported, exit $rc"
    else bad "$label: $what not reported (rc=$rc)"; tail -20 "$tmp/out"; fi
  done
}
check "plain program" "$probe"

if [ -n "$smpi_probe" ]; then
  printf 'host1\nhost2\nhost3\nhost4\n' > "$tmp/hosts"
  cat > "$tmp/platform.xml" <<'XML'
<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <cluster id="c" prefix="host" suffix="" radical="1-4" speed="1Gf" bw="1GBps" lat="1us"/>
</platform>
XML
  echo "smpirun: $(command -v smpirun)"
  smpi() { (cd "$tmp" && smpirun -np 4 -platform "$tmp/platform.xml" -hostfile "$tmp/hosts" --log=root.thres:warning "$smpi_probe" "$1"); }
  check "SMPI, 4 ranks" smpi
fi

if [ -n "$qsgdsim" ]; then
  # libconfig 1.5 leaks its scanner's buffer on a syntax error after a string token
  printf '"abc";\n' > "$tmp/bad.cfg"
  "$qsgdsim" run "$tmp/bad.cfg" --check > "$tmp/out" 2>&1; rc=$?
  if [ $rc -eq 2 ] && grep -q "bad.cfg:1:" "$tmp/out" && ! grep -q "Sanitizer" "$tmp/out"; then
    ok "libconfig's scanner leak suppressed: a syntax error exits 2 (config), no report"
  else bad "syntax error: rc=$rc (want 2, no sanitizer report)"; tail -20 "$tmp/out"; fi
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
