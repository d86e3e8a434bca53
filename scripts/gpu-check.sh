#!/usr/bin/env bash
# gpu-check.sh — the GPU machine's check of lctw (H100/H200 with the CUDA toolkit, the repository
# copied there, probably no network):
#   1. Debian packages: scripts/install-deps.sh if apt can work; otherwise name what is missing
#      and stop;
#   2. make -j16 CUDA=1;
#   3. build/tests/test_cuda (CPU-vs-CUDA parity of the tensor backend),
#      build/tests/test_ops_cuda (every differentiable op's CUDA twin, forward and backward, against
#      the CPU reference) and build/tests/test_step_cuda (a whole training step, sampling,
#      checkpoints and out-of-memory on CUDA against the CPU), each again with LCTW_NO_CUDA=1
#      (every case must SKIP, the run pass); a Lua check that an impossible allocation is a
#      clear error and the session goes on;
#   4. the suites whose name contains "cuda" (FULL=1: make test, every suite: several minutes);
#   5. a small benchmark: matmul 4096² GFLOP/s and randn / sum throughput, CUDA vs CPU;
#   6. the training benchmark: samples/s and peak memory of a training step (batch 128, 4×32×32)
#      and 1-/2-step sampling latency for 1000 samples, the paper U-Net and DiT-B/2, lctw
#      (build/bench/bench_gpu) against PyTorch eager (scripts/bench_gpu.py; skipped with a note
#      when python3-torch or its CUDA is missing).
# Every step runs under `timeout`; the whole script should fit in 8 minutes on an H100 / H200
# (estimate, not yet measured: ~2 min build, ~1 min tests, ~3 min benchmarks). Tables are printed
# last, the training benchmark's at the very end; the exit status is non-zero when any step failed.
#   Knobs: JOBS=16  BUILD=build  BIN=bin/lctw (passed to make)  CUDA_HOME=/usr/local/cuda
#          FULL=1 (every suite)  BENCH=0 (no training benchmark)  PYTHON=python3
set -u
cd "$(dirname "$0")/.." || exit 2
JOBS=${JOBS:-16}
BUILD=${BUILD:-build}
BIN=${BIN:-bin/lctw}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export PATH="$PATH:$CUDA_HOME/bin"
LOG=$(mktemp -d /tmp/gpu-check.XXXXXX)
T_START=$(date +%s)

rows=()   # "step|result|seconds|note"
failed=0

# step NAME TIMEOUT_S CMD... — runs CMD with a time limit, output to the terminal and a log.
step() {
  local name=$1 limit=$2; shift 2
  local t0 rc
  t0=$(date +%s)
  echo "=== $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$LOG/$name.log"
  rc=${PIPESTATUS[0]}
  local dt=$(( $(date +%s) - t0 )) res=ok
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then res="TIMEOUT"; elif [ "$rc" -ne 0 ]; then res="FAIL($rc)"; fi
  [ "$res" = ok ] || failed=1
  local note
  note=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$LOG/$name.log" | tail -1)
  rows+=("$name|$res|${dt}s|$note")
  return "$rc"
}

summary() {
  echo
  echo "=== gpu-check summary: ${GPU_DESC:-unknown device} ($(( $(date +%s) - T_START ))s in all)"
  printf '%-22s %-10s %-6s %s\n' step result time note
  for r in "${rows[@]}"; do
    IFS='|' read -r a b c d <<<"$r"
    printf '%-22s %-10s %-6s %s\n' "$a" "$b" "$c" "$d"
  done
  if [ -f "$LOG/bench.out" ]; then
    echo
    printf '%-26s %18s %18s %9s\n' benchmark cuda cpu speedup
    grep '^BENCH|' "$LOG/bench.out" | while IFS='|' read -r _ name cuda cpu unit; do
      local sp="-" cpus="-"
      if [ "$cpu" != "-" ]; then
        cpus="$cpu $unit"
        sp=$(awk -v a="$cuda" -v b="$cpu" 'BEGIN { if (b > 0) printf "%.0fx", a / b; else print "-" }')
      fi
      printf '%-26s %18s %18s %9s\n' "$name" "$cuda $unit" "$cpus" "$sp"
    done
  fi
  if [ -f "$LOG/train_bench.out" ]; then
    echo
    echo "=== training benchmark (batch 128, 4x32x32, fp32, no OT; sampling: 1000 samples)"
    printf '%-6s %-6s %12s %9s %12s %12s\n' model impl samples/s peak_MiB sample1_ms sample2_ms
    local mdl impl line a b
    for mdl in unet dit; do
      for impl in lctw torch; do
        line=$(grep "^RESULT impl=$impl model=$mdl " "$LOG/train_bench.out" | tail -1)
        if [ -z "$line" ]; then
          printf '%-6s %-6s %12s\n' "$mdl" "$impl" "(no result)"
          continue
        fi
        printf '%-6s %-6s %12s %9s %12s %12s\n' "$mdl" "$impl" "$(field "$line" samples_per_s)" \
          "$(field "$line" peak_mib)" "$(field "$line" sample1_ms)" "$(field "$line" sample2_ms)"
      done
      a=$(field "$(grep "^RESULT impl=lctw model=$mdl " "$LOG/train_bench.out" | tail -1)" samples_per_s)
      b=$(field "$(grep "^RESULT impl=torch model=$mdl " "$LOG/train_bench.out" | tail -1)" samples_per_s)
      if [ -n "$a" ] && [ -n "$b" ]; then
        awk -v a="$a" -v b="$b" -v m="$mdl" 'BEGIN { if (b > 0) printf "%-6s lctw/torch throughput %.2fx\n", m, a / b }'
      fi
    done
    grep '^SKIP' "$LOG/train_bench.out" | sed 's/^/  /'
  fi
  echo "(logs in $LOG)"
}

# field LINE KEY — the value of key=value in a RESULT line (empty when absent)
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# ---- 0. the machine --------------------------------------------------------------------------
if command -v nvidia-smi >/dev/null; then
  GPU_DESC=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
fi
echo "gpu-check: ${GPU_DESC:-nvidia-smi unavailable}; nvcc: $(command -v nvcc || echo 'not found')"
if ! command -v nvcc >/dev/null; then
  echo "gpu-check: nvcc not found (set CUDA_HOME; looked in $CUDA_HOME/bin)" >&2
  exit 2
fi

# ---- 1. packages ------------------------------------------------------------------------------
# The package list is install-deps.sh's own (PKGS=( ... )), so the two never disagree.
pkgs=$(sed -n '/^PKGS=(/,/^)/p' scripts/install-deps.sh | sed -e 's/#.*//' -e 's/PKGS=(//' -e 's/)//' | tr -s ' \n' ' ')
missing_pkgs() {
  local m=()
  for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || m+=("$p")
  done
  echo "${m[*]:-}"
}
miss=$(missing_pkgs)
if [ -n "$miss" ]; then
  echo "gpu-check: missing Debian packages: $miss — trying scripts/install-deps.sh"
  step deps 120 scripts/install-deps.sh
  miss=$(missing_pkgs)
  if [ -n "$miss" ]; then
    echo "gpu-check: still missing: $miss (no network or no root?). Install them and rerun." >&2
    rows+=("deps|MISSING|-|$miss")
    summary
    exit 2
  fi
else
  rows+=("deps|ok|0s|all present")
fi

# ---- 2. build ---------------------------------------------------------------------------------
if ! step build 300 make -j"$JOBS" CUDA=1 BUILD="$BUILD" BIN="$BIN" all "$BUILD/tests/test_cuda" \
     "$BUILD/tests/test_ops_cuda" "$BUILD/tests/test_step_cuda" "$BUILD/bench/bench_gpu"; then
  summary
  exit 1
fi
if grep -qE '(^|[^-])warning:' "$LOG/build.log"; then
  rows+=("build warnings|WARN|-|$(grep -cE '(^|[^-])warning:' "$LOG/build.log") warning lines")
fi

# ---- 3. CUDA tests ----------------------------------------------------------------------------
step test_cuda 180 "$BUILD/tests/test_cuda"
if [ -s "$LOG/test_cuda.log" ] && ! grep -q '^FAIL' "$LOG/test_cuda.log" &&
   grep -q '^SKIP' "$LOG/test_cuda.log"; then
  echo "gpu-check: test_cuda skipped cases on a GPU machine:"; grep '^SKIP' "$LOG/test_cuda.log"
  rows+=("test_cuda skips|FAIL|-|cases skipped although a GPU is here")
  failed=1
fi
echo 'print(lctw.cuda.available(), lctw.cuda.describe())' > "$LOG/describe.lua"
if step describe 30 "$BIN" "$LOG/describe.lua" && ! grep -q '^true' "$LOG/describe.log"; then
  rows+=("describe check|FAIL|-|lctw.cuda.available() is not true")
  failed=1
fi
step no_device 60 env LCTW_NO_CUDA=1 "$BUILD/tests/test_cuda"
step test_ops_cuda 180 "$BUILD/tests/test_ops_cuda"
if [ -s "$LOG/test_ops_cuda.log" ] && grep -q '^SKIP' "$LOG/test_ops_cuda.log"; then
  echo "gpu-check: test_ops_cuda skipped cases on a GPU machine:"; grep '^SKIP' "$LOG/test_ops_cuda.log"
  rows+=("test_ops_cuda skips|FAIL|-|cases skipped although a GPU is here")
  failed=1
fi
step ops_no_device 60 env LCTW_NO_CUDA=1 "$BUILD/tests/test_ops_cuda"
step test_step_cuda 120 "$BUILD/tests/test_step_cuda"
if [ -s "$LOG/test_step_cuda.log" ] && grep -q '^SKIP' "$LOG/test_step_cuda.log"; then
  echo "gpu-check: test_step_cuda skipped cases on a GPU machine:"; grep '^SKIP' "$LOG/test_step_cuda.log"
  rows+=("test_step_cuda skips|FAIL|-|cases skipped although a GPU is here")
  failed=1
fi
step step_no_device 60 env LCTW_NO_CUDA=1 "$BUILD/tests/test_step_cuda"
# out of device memory from Lua: a clear error naming the request and the free memory, and the
# session goes on (the next allocation works)
cat > "$LOG/oom.lua" <<'LUAEOF'
local free, total = lctw.cuda.mem_info()
local ok, err = pcall(lctw.tensor.zeros, {math.floor(total / 2), 4}, {device = "cuda"})
print("oom ok=" .. tostring(ok) .. " err=" .. tostring(err))
assert(not ok and tostring(err):find("requested") and tostring(err):find("free"), "unclear OOM error")
local t = lctw.tensor.zeros({1000}, {device = "cuda"})
print("after the error: a new CUDA tensor of " .. t:numel() .. " elements")
LUAEOF
step oom_lua 30 "$BIN" "$LOG/oom.lua"

# ---- 4. test suites ---------------------------------------------------------------------------
if [ "${FULL:-0}" = 1 ]; then
  step make_test 420 make -j"$JOBS" CUDA=1 BUILD="$BUILD" BIN="$BIN" test
else
  step make_test_cuda 120 make -j"$JOBS" CUDA=1 BUILD="$BUILD" BIN="$BIN" TESTS=cuda test
fi

# ---- 5. benchmark -----------------------------------------------------------------------------
cat > "$LOG/bench.c" <<'EOF'
/* gpu-check benchmark: matmul 4096² (fp32, TF32), randn and sum throughput, CUDA vs CPU.
 * Prints BENCH|name|cuda|cpu|unit lines. */
#include <stdio.h>
#include <time.h>

#include "core/tensor.h"
#include "core/tmath.h"
#include "lctw_cuda.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((x) != LCTW_OK) {                                                                      \
            fprintf(stderr, "bench: %s: %s\n", #x, lctw_error_message());                          \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static lctw_status sync_dev(lctw_device d) { return d == LCTW_DEV_CUDA ? lctw_cuda_sync() : LCTW_OK; }

/* GFLOP/s of an n×n matmul, best of iters after a warm-up */
static double bench_matmul(lctw_device dev, int64_t n, int iters, int tf32) {
    lctw_tensor *a, *b, *c;
    int64_t sh[2] = {n, n};
    lctw_rng r = {42, 0, 1};
    TRY(lctw_tensor_empty(&a, 2, sh, dev));
    TRY(lctw_tensor_empty(&b, 2, sh, dev));
    TRY(lctw_tensor_empty(&c, 2, sh, dev));
    TRY(lctw_fill_normal(a, &r));
    TRY(lctw_fill_normal(b, &r));
    if (dev == LCTW_DEV_CUDA) lctw_cuda_set_tf32(tf32);
    TRY(lctw_matmul(c, a, b));
    TRY(sync_dev(dev));
    double best = 1e30;
    for (int i = 0; i < iters; i++) {
        double t0 = now();
        TRY(lctw_matmul(c, a, b));
        TRY(sync_dev(dev));
        double t = now() - t0;
        if (t < best) best = t;
    }
    lctw_cuda_set_tf32(0);
    lctw_tensor_release(a);
    lctw_tensor_release(b);
    lctw_tensor_release(c);
    return 2.0 * (double)n * (double)n * (double)n / best / 1e9;
}

/* G elements/s of randn (what = 0) or sum (what = 1) over n elements */
static double bench_stream(lctw_device dev, int64_t n, int iters, int what) {
    lctw_tensor *t;
    lctw_rng r = {7, 0, 2};
    TRY(lctw_tensor_empty(&t, 1, &n, dev));
    TRY(lctw_fill_normal(t, &r));
    TRY(sync_dev(dev));
    double best = 1e30, s;
    for (int i = 0; i < iters; i++) {
        double t0 = now();
        if (what == 0)
            TRY(lctw_fill_normal(t, &r));
        else
            TRY(lctw_reduce_all(t, LCTW_RED_SUM, 0, &s));
        TRY(sync_dev(dev));
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    lctw_tensor_release(t);
    return (double)n / best / 1e9;
}

int main(void) {
    if (lctw_cuda_device_count() <= 0) {
        fprintf(stderr, "bench: %s\n", lctw_cuda_describe());
        return 1;
    }
    printf("device: %s\n", lctw_cuda_describe());
    double g32 = bench_matmul(LCTW_DEV_CUDA, 4096, 5, 0);
    double gtf = bench_matmul(LCTW_DEV_CUDA, 4096, 5, 1);
    double gcpu = bench_matmul(LCTW_DEV_CPU, 4096, 1, 0);
    double rg = bench_stream(LCTW_DEV_CUDA, 100000000, 5, 0);
    double rc = bench_stream(LCTW_DEV_CPU, 10000000, 2, 0);
    double sg = bench_stream(LCTW_DEV_CUDA, 100000000, 5, 1);
    double sc = bench_stream(LCTW_DEV_CPU, 10000000, 2, 1);
    if (g32 < 0 || gtf < 0 || gcpu < 0 || rg < 0 || rc < 0 || sg < 0 || sc < 0) return 1;
    printf("BENCH|matmul 4096x4096 fp32|%.0f|%.0f|GFLOP/s\n", g32, gcpu);
    printf("BENCH|matmul 4096x4096 tf32|%.0f|-|GFLOP/s\n", gtf);
    printf("BENCH|randn (1e8 cuda, 1e7 cpu)|%.2f|%.3f|Gel/s\n", rg, rc);
    printf("BENCH|sum (1e8 cuda, 1e7 cpu)|%.2f|%.3f|Gel/s\n", sg, sc);
    return 0;
}
EOF
LIBS="-llua5.4 -lreadline -lm -lpthread -ldl -L$CUDA_HOME/lib64 -Wl,-rpath,$CUDA_HOME/lib64 -lcublas -lcudart -lstdc++"
BLASF=""
if [ -f /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ]; then
  BLASF="-DLCTW_OPENBLAS -I/usr/include/x86_64-linux-gnu/openblas-pthread"; LIBS="$LIBS -lopenblas"
fi
if step bench_build 60 cc -std=gnu11 -O2 -Isrc -Ikernels -D_GNU_SOURCE -DLCTW_CUDA $BLASF \
     -o "$LOG/bench" "$LOG/bench.c" "$BUILD/liblctw.a" $LIBS; then
  step bench 120 "$LOG/bench"
  cp "$LOG/bench.log" "$LOG/bench.out"
fi

# ---- 6. training benchmark: lctw vs PyTorch, same machine, same command -------------------------
if [ "${BENCH:-1}" != 0 ]; then
  : > "$LOG/train_bench.out"
  for mdl in unet dit; do
    step "bench_lctw_$mdl" 100 "$BUILD/bench/bench_gpu" "$mdl" -b 128 -w 2 -n 5 -s 1000 -S 500
    grep -E '^(RESULT|SKIP)' "$LOG/bench_lctw_$mdl.log" >> "$LOG/train_bench.out"
  done
  PY=${PYTHON:-python3}
  if "$PY" -c 'import torch' 2>/dev/null; then
    step bench_torch 200 "$PY" scripts/bench_gpu.py -m unet,dit -b 128 -w 2 -n 5 --samples 1000 \
      --sample-batch 500
    grep -E '^(RESULT|SKIP)' "$LOG/bench_torch.log" >> "$LOG/train_bench.out"
  else
    echo "gpu-check: $PY has no torch (python3-torch not installed): PyTorch half of the benchmark skipped"
    echo "SKIP impl=torch reason=no-torch ($PY cannot import torch)" >> "$LOG/train_bench.out"
    rows+=("bench_torch|SKIP|-|no torch for $PY")
  fi
fi

summary
exit $failed
