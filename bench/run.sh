#!/usr/bin/env bash
# make bench — the benchmarks, results recorded by hand in bench/RESULTS.md (date, machine,
# command).
#
#   1. bench/*.lua with bin/lctw (if any): bench/ot.lua (OT assignment), bench/dash_overhead.lua
#      (the live dashboard's cost; it runs its children under util-linux `script` for a terminal)
#   2. $BUILD/bench/bench_models (bench/bench_models.c): U-Net and DiT-S/2 on the CPU, forward and
#      forward+backward time per sample
#   3. bench/torch_models.py: the same models in PyTorch (scripts/lctw_ref.py), when
#      /usr/bin/python3 has torch, with OpenBLAS-OpenMP as its BLAS when that is installed
#   4. a table: model, lctw ms/sample, torch ms/sample, ratio torch/lctw (> 1: lctw faster)
#
# Installs nothing. Knobs (environment): BENCH_THREADS (2), BENCH_BATCH (8), BENCH_ITERS (5),
# BENCH_WARMUP (2), BENCH_MODELS (all | unet | dit), BENCH_REPEAT (1: runs of each side,
# alternating; the table takes the median over runs of each run's median), BENCH_TORCH (1; 0
# skips PyTorch), BENCH_PROFILE (0; 1 adds lctw's backward time by op), BENCH_DASH (1; 0 skips
# bench/dash_overhead.lua), BENCH_DASH_STEPS/_ROUNDS/_MODEL (see that file).
set -u
cd "$(dirname "$0")/.."
LCTW=${LCTW:-bin/lctw}
BUILD=${BUILD:-build}
THREADS=${BENCH_THREADS:-2}
BATCH=${BENCH_BATCH:-8}
ITERS=${BENCH_ITERS:-5}
WARMUP=${BENCH_WARMUP:-2}
MODELS=${BENCH_MODELS:-all}
REPEAT=${BENCH_REPEAT:-1}
PY=/usr/bin/python3
OPENMP_BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp
status=0

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (timings are wall clock: other work on the machine slows them)"
for b in bench/*.lua; do
  [ -f "$b" ] || continue
  if [ "$b" = bench/dash_overhead.lua ] && [ "${BENCH_DASH:-1}" = 0 ]; then
    echo "== $b skipped (BENCH_DASH=0)"
    continue
  fi
  echo "== $b"
  "$LCTW" "$b" || { echo "bench $b failed"; status=1; }
done

# Both sides get the same thread count: lctw's OpenBLAS (pthread build) and PyTorch's OpenMP pool
# and its OpenBLAS (OpenMP build). OpenBLAS-pthread inside an OpenMP program (or OpenMP regions
# next to pthread OpenBLAS) oversubscribes the cores: 2-3x slower on 2 cores.
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
echo "threads: OMP_NUM_THREADS=$OMP_NUM_THREADS OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS;" \
  "batch $BATCH, warm-up $WARMUP, $ITERS timed steps, $REPEAT run(s) per side"

BIN_C="$BUILD/bench/bench_models"
if [ ! -x "$BIN_C" ]; then
  echo "$BIN_C is missing: run 'make bench' (it builds it)"
  exit 1
fi
have_torch=0
if [ "${BENCH_TORCH:-1}" != 0 ] && [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then
  have_torch=1
  if [ -d "$OPENMP_BLAS" ]; then
    TORCH_ENV=(env "LD_LIBRARY_PATH=$OPENMP_BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  else
    TORCH_ENV=(env)
    echo "NOTE: $OPENMP_BLAS is missing: PyTorch runs with the system libblas.so.3 (Debian's" \
      "reference BLAS or OpenBLAS-pthread), an unfair baseline. Install libopenblas0-openmp."
  fi
else
  echo "PyTorch baseline skipped: $PY has no torch (apt-get install python3-torch) or BENCH_TORCH=0"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
prof=()
[ "${BENCH_PROFILE:-0}" = 1 ] && prof=(-p)
for r in $(seq 1 "$REPEAT"); do
  echo "== lctw ($BIN_C, run $r/$REPEAT)"
  "$BIN_C" -b "$BATCH" -w "$WARMUP" -n "$ITERS" -m "$MODELS" -t "$THREADS" "${prof[@]}" \
    | tee -a "$out"
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "bench_models failed"; status=1; }
  if [ $have_torch = 1 ]; then
    echo "== torch (bench/torch_models.py, run $r/$REPEAT)"
    "${TORCH_ENV[@]}" "$PY" bench/torch_models.py -b "$BATCH" -w "$WARMUP" -n "$ITERS" \
      -m "$MODELS" -t "$THREADS" | tee -a "$out"
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "torch_models.py failed"; status=1; }
  fi
done

# The table: per (impl, model, field) the median over runs of the per-run medians, and the best
# (minimum) step of all runs: on a busy machine the least disturbed step.
awk '
function kv(line, key,   m) {
  if (match(line, " " key "=[^ ]+")) return substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2)
  return ""
}
function med(key,   n, i, j, t, v) {
  n = cnt[key]; if (!n) return ""
  for (i = 1; i <= n; i++) v[i] = val[key, i]
  for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j] < v[j-1]; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
  return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function add(key, x) { if (x != "") val[key, ++cnt[key]] = x + 0 }
BEGIN {
  ns = split("fwd train fwd_cpu train_cpu", steps, " ")
  name["fwd"] = "forward (no grad)"; name["train"] = "forward+backward"
  name["fwd_cpu"] = "  CPU time, forward"; name["train_cpu"] = "  CPU time, fwd+bwd"
}
/^GEMM / { add(kv($0, "impl") SUBSEP "gemm", kv($0, "gflops")) }
/^RESULT / {
  im = kv($0, "impl"); mo = kv($0, "model")
  if (!(mo in seen)) { seen[mo] = 1; order[++nm] = mo }
  for (k = 1; k <= ns; k++) {
    add(im SUBSEP mo SUBSEP steps[k], kv($0, steps[k] "_ms"))
    b = kv($0, steps[k] "_ms_min")
    if (b != "" && (!((im, mo, steps[k]) in best) || b + 0 < best[im, mo, steps[k]])) best[im, mo, steps[k]] = b + 0
  }
  params[im, mo] = kv($0, "params")
}
END {
  g1 = med("lctw" SUBSEP "gemm"); g2 = med("torch" SUBSEP "gemm")
  printf "\nsgemm 1024: lctw %s GFLOP/s, torch %s GFLOP/s\n", g1 == "" ? "-" : sprintf("%.1f", g1), g2 == "" ? "-" : sprintf("%.1f", g2)
  if (g1 != "" && g2 != "" && g2 < g1 / 3) print "NOTE: the PyTorch BLAS is much slower than lctw'"'"'s: the baseline is not a fair one"
  printf "%-6s %-22s %14s %15s %7s | %9s %10s %7s\n", "model", "step", "lctw ms/sample", "torch ms/sample", "ratio", "lctw best", "torch best", "ratio"
  for (i = 1; i <= nm; i++) for (k = 1; k <= ns; k++) {
    mo = order[i]; st = steps[k]
    a = med("lctw" SUBSEP mo SUBSEP st); b = med("torch" SUBSEP mo SUBSEP st)
    c = ((("lctw", mo, st) in best) ? best["lctw", mo, st] : ""); d = ((("torch", mo, st) in best) ? best["torch", mo, st] : "")
    printf "%-6s %-22s %14s %15s %7s | %9s %10s %7s\n", mo, name[st], a == "" ? "-" : sprintf("%.1f", a),
      b == "" ? "-" : sprintf("%.1f", b), (a == "" || b == "" || a == 0) ? "-" : sprintf("%.2f", b / a),
      c == "" ? "-" : sprintf("%.1f", c), d == "" ? "-" : sprintf("%.1f", d),
      (c == "" || d == "" || c == 0) ? "-" : sprintf("%.2f", d / c)
    if (k == 1 && (("lctw", mo) in params) && (("torch", mo) in params) && params["lctw", mo] != params["torch", mo])
      printf "NOTE: %s has %s trainable parameters in lctw, %s in torch: not the same model\n", mo, params["lctw", mo], params["torch", mo]
  }
  print "ratio = torch / lctw (> 1: lctw faster). ms/sample: wall clock, median over runs of each"
  print "run'"'"'s median step; best: the fastest single step of all runs. CPU time: all threads of the"
  print "process (spin-waiting included); with BENCH_THREADS=1 it is the least load-sensitive figure."
}' "$out"
exit $status
