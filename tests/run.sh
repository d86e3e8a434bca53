#!/usr/bin/env bash
# Runs every test suite and prints one line per case, then "N passed, N failed, N skipped".
#   C unit tests      build/tests/test_*      (tests/unit/test_*.c)
#   Lua tests         tests/lua/test_*.lua    (run by bin/lctw)
#   REPL / CLI tests  tests/repl/test_*.sh    (pipes and tmux)
#   whole-run checks  tests/check/test_*.sh   (op coverage)
# A suite that exits non-zero without printing a FAIL line (a crash) counts as one failure.
# Filter with TESTS=pattern (matched against the suite file name).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LCTW=${LCTW:-$PWD/bin/lctw}
export LCTW
log=$(mktemp)
LCTW_OP_COVERAGE=$(mktemp)
export LCTW_OP_COVERAGE
trap 'rm -f "$log" "$LCTW_OP_COVERAGE"' EXIT

run_suite() { # name, command...
  local name=$1; shift
  case "$name" in *${TESTS:-}*) ;; *) return ;; esac
  local out rc
  out=$("$@" 2>&1); rc=$?
  # keep only case lines and diagnostics; suites' own summaries are dropped
  printf '%s\n' "$out" | grep -vE '^[0-9]+ passed, [0-9]+ failed' | tee -a "$log"
  if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL'; then
    echo "FAIL $name: exited with status $rc" | tee -a "$log"
  fi
}

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] && run_suite "$(basename "$t")" "$t"
done
for t in tests/lua/test_*.lua; do
  [ -f "$t" ] && run_suite "$(basename "$t")" "$LCTW" "$t"
done
for t in tests/repl/test_*.sh; do
  [ -f "$t" ] && run_suite "$(basename "$t")" bash "$t"
done
# checks over the whole run (op coverage) come last
for t in tests/check/test_*.sh; do
  [ -f "$t" ] && run_suite "$(basename "$t")" bash "$t"
done

p=$(grep -c '^PASS' "$log"); f=$(grep -c '^FAIL' "$log"); s=$(grep -c '^SKIP' "$log")
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
