#!/usr/bin/env bash
# Every op of the registry (X(name) entries of src/core/ops/ops*.h) must have been gradient-
# checked by a test in this run (tests/unit/gradcheck.h check_grad appends to $LCTW_OP_COVERAGE).
cd "$(dirname "$0")/../.."
log=${LCTW_OP_COVERAGE:-}
if [ -z "$log" ] || [ ! -s "$log" ]; then
  echo "SKIP test_op_coverage.sh: op coverage: no op test ran in this run"
  exit 0
fi
missing=()
for op in $(grep -v '#define' src/core/ops/ops*.h | grep -o 'X([a-z_0-9]*)' | sed 's/X(\(.*\))/\1/' | sort -u); do
  grep -qx "$op" "$log" || missing+=("$op")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "PASS test_op_coverage.sh: op coverage: $(sort -u "$log" | wc -l) ops, each with a gradient test"
else
  echo "FAIL test_op_coverage.sh: op coverage: no gradient test for: ${missing[*]}"
fi
