"""torch_models.py -- the PyTorch side of bench/bench_models.c: the same two networks (built by
scripts/lctw_ref.py, the reference the C models are tested against), the same batch, the same
step, timed the same way, printed with the same keys.

  unet  DhariwalUNet 4x32x32, 64 channels, mult (1,2,2), 2 blocks, attention at 16, 64 ch/head,
        NsLN everywhere
  dit   DiT-S/2 (depth 12, hidden 384, 6 heads, GELU-tanh, qk-norm)

both wrapped in the consistency parameterisation f(x, sigma) (lctw_ref.consistency).

  fwd    torch.no_grad() forward
  train  zero_grad, forward with autograd, f.backward(fixed random gradient / numel)

Run with Debian's interpreter and a fast BLAS (bench/run.sh does this):
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_NUM_THREADS=2 \
      /usr/bin/python3 bench/torch_models.py -b 8
Lines: "RESULT impl=torch model=... key=value ..." (ms per sample, median and minimum of the
timed steps), "GEMM impl=torch n=1024 gflops=...", and "# ..." comments (BLAS library in use).
"""

import argparse
import ctypes
import math
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import lctw_ref  # noqa: E402


def build(name):
    if name == "unet":
        return lctw_ref.DhariwalUNet(32, 4, 4, model_channels=64, channel_mult=(1, 2, 2),
                                     channel_mult_emb=4, num_blocks=2, attn_resolutions=(16,),
                                     norm="nsln", channels_per_head=64)
    if name == "dit":
        return lctw_ref.dit_model("S", 2, input_size=32)
    raise ValueError(name)


def blas_in_use():
    """The BLAS shared objects mapped into this process, and OpenBLAS's threading if it is one."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(path)
            if "blas" in base or "lapack" in base:
                libs.add(os.path.realpath(path))
    mode = "not OpenBLAS"
    for lib in sorted(libs):
        if "openblas" in lib and "libopenblas" in os.path.basename(lib):
            try:
                ob = ctypes.CDLL(lib)
                par = {0: "sequential", 1: "pthread", 2: "openmp"}.get(ob.openblas_get_parallel(),
                                                                        "?")
                mode = f"OpenBLAS {par}, {ob.openblas_get_num_threads()} thread(s)"
            except (OSError, AttributeError):
                pass
    return sorted(libs), mode


def gemm_gflops(n=1024):
    a = torch.rand(n, n)
    b = torch.rand(n, n)
    torch.mm(a, b)
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best * 1e-9


def bench(name, batch, warmup, iters):
    torch.manual_seed(1)
    net = build(name).float()
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    gen = torch.Generator().manual_seed(2026)
    sigma = torch.tensor([0.02 * 1000.0 ** (b / (batch - 1) if batch > 1 else 0.5)
                          for b in range(batch)], dtype=torch.float32)
    x = (0.5 * torch.randn(batch, 4, 32, 32, generator=gen)
         + sigma.reshape(-1, 1, 1, 1) * torch.randn(batch, 4, 32, 32, generator=gen))
    seed = torch.randn(batch, 4, 32, 32, generator=gen) / x.numel()
    t_fwd, t_train, t_tfwd, c_fwd, c_train = [], [], [], [], []
    faults = 0
    for it in range(-warmup, iters):
        if it == 0:
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0, u0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            lctw_ref.consistency(net, x, sigma)
        t1, u1 = time.perf_counter(), time.process_time()
        net.zero_grad()
        f, _ = lctw_ref.consistency(net, x, sigma)
        t2 = time.perf_counter()
        f.backward(seed)
        t3, u3 = time.perf_counter(), time.process_time()
        if it >= 0:
            c_fwd.append((u1 - u0) / batch)
            c_train.append((u3 - u1) / batch)
            t_fwd.append((t1 - t0) / batch)
            t_tfwd.append((t2 - t1) / batch)
            t_train.append((t3 - t1) / batch)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) // iters
    gsum = sum(float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"RESULT impl=torch model={name} batch={batch} params={params} "
          f"fwd_ms={1e3 * statistics.median(t_fwd):.3f} fwd_ms_min={1e3 * min(t_fwd):.3f} "
          f"train_ms={1e3 * statistics.median(t_train):.3f} "
          f"train_ms_min={1e3 * min(t_train):.3f} "
          f"train_fwd_ms={1e3 * statistics.median(t_tfwd):.3f} "
          f"fwd_cpu_ms={1e3 * statistics.median(c_fwd):.3f} "
          f"train_cpu_ms={1e3 * statistics.median(c_train):.3f} faults_per_step={faults} "
          f"rss_mib={rss:.0f} "
          f"grad_abs_sum={gsum:.4g}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-b", "--batch", type=int, default=8)
    ap.add_argument("-w", "--warmup", type=int, default=2)
    ap.add_argument("-n", "--iters", type=int, default=5)
    ap.add_argument("-m", "--models", choices=("unet", "dit", "all"), default="all")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-G", "--no-gemm", action="store_true", help="skip the sgemm probe")
    a = ap.parse_args()
    if a.batch < 1 or a.iters < 1 or a.warmup < 0 or a.threads < 1:
        ap.error("batch, iters and threads must be >= 1, warmup >= 0")
    torch.set_num_threads(a.threads)
    libs, mode = blas_in_use()
    print(f"# torch {torch.__version__}: {torch.get_num_threads()} thread(s) "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
          f"mkldnn {'on' if torch.backends.mkldnn.is_available() else 'off'}; "
          f"BLAS {', '.join(libs) or 'none found'} ({mode})")
    print(f"# batch {a.batch}, warm-up {a.warmup}, timed steps {a.iters}; ms per sample, median "
          f"(and minimum) of the timed steps", flush=True)
    if not a.no_gemm:
        print(f"GEMM impl=torch n=1024 gflops={gemm_gflops():.1f}", flush=True)
    for name in ("unet", "dit"):
        if a.models in (name, "all"):
            bench(name, a.batch, a.warmup, a.iters)


if __name__ == "__main__":
    main()
