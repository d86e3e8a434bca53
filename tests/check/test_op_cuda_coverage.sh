#!/usr/bin/env bash
# Every op of the registry (X(name) entries of src/core/ops/ops*.h) must have a CUDA parity case
# in tests/ops/test_ops_cuda.c (an OP(name) entry of its case table). Reads the sources only, so
# it runs (and must pass) without a GPU; the test binary checks the same at run time (coverage).
cd "$(dirname "$0")/../.."
src=tests/ops/test_ops_cuda.c
if [ ! -f "$src" ]; then
  echo "FAIL test_op_cuda_coverage.sh: CUDA op coverage: $src is missing"
  exit 0
fi
ops=$(grep -v '#define' src/core/ops/ops*.h | grep -o 'X([a-z_0-9]*)' | sed 's/X(\(.*\))/\1/' | sort -u)
have=$(grep -o '{OP([a-z_0-9]*)' "$src" | sed 's/{OP(\(.*\))/\1/' | sort -u)
missing=()
for op in $ops; do
  grep -qx "$op" <<<"$have" || missing+=("$op")
done
n=$(wc -w <<<"$ops")
if [ "$n" -eq 0 ]; then
  echo "FAIL test_op_cuda_coverage.sh: CUDA op coverage: no ops found in src/core/ops/ops*.h"
elif [ ${#missing[@]} -eq 0 ]; then
  echo "PASS test_op_cuda_coverage.sh: CUDA op coverage: $n ops, each with a CUDA parity case"
else
  echo "FAIL test_op_cuda_coverage.sh: CUDA op coverage: no CUDA parity case in $src for: ${missing[*]}"
fi
