"""bench_gpu.py -- the PyTorch side of the GPU benchmark (bench/bench_gpu.c is lctw's side;
scripts/gpu-check.sh runs both on the same machine and prints the ratio table).

The same networks as lctw (scripts/lctw_ref.py, the reference the C models are tested against):

  unet  the paper's DhariwalUNet (128 channels, mult 1,2,3,4, 4 blocks, attention at 16 and 8,
        NsLN), 4x32x32
  dit   DiT-B/2 (depth 12, hidden 768, 12 heads, GELU-tanh, qk-norm), 4x32x32

and the same training step as lctw's trainer (src/ct/trainer.c) without the OT coupling (the
benchmark runs lctw with ot=false too):

  x ~ data batch (here: fixed random latents), n ~ N(0, I), grid indices i_j from the
  lognormal index sampler on the N = 10 Karras grid, x_s = x + sigma_j n, x_t = x + sigma_{j+1} n
  D_t = f(x_t, sigma_{j+1}) under no_grad;  D_s = f(x_s, sigma_j)
  L = mean_j w_j ln(1 + m_j / (2c^2)) + 5 * mean_{j in S} lambda(sigma_j) mean_e (D_s - x)^2,
      m_j = mean_e (D_s - D_t)^2, w_j = 1/(sigma_j - sigma_{j+1}), S = {i_j >= 7}
  backward, RAdam (lr 1e-4, wd 1e-4, eps 1e-8), three EMAs (0.999, 0.9999, 0.99993)

in float32 (TF32 off, as lctw by default), eager mode. Timed: `-n` steps after `-w` warm-up
steps, torch.cuda.synchronize() around the timed block; peak memory is
torch.cuda.max_memory_allocated() over the training steps. Sampling: 1- and 2-step consistency
sampling of 1000 samples (sigma_max = 80; 2-step: 641-point grid, ts 0, 420, 640) in batches of
`--sample-batch`, latency after one warm-up run.

Output: one line per model,
  RESULT impl=torch model=unet batch=128 params=... samples_per_s=... step_ms=... peak_mib=...
         sample1_ms=... sample2_ms=...
or "SKIP impl=torch reason=..." when torch or a CUDA device is missing (exit status 0, so the
lctw half of the benchmark still runs).
"""

import argparse
import math
import os
import sys
import time

try:
    import torch
except ImportError as e:  # python3-torch is not on every GPU machine
    print(f"SKIP impl=torch reason=no-torch ({e})")
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lctw_ref  # noqa: E402

SIGMA_MIN, SIGMA_MAX, SIGMA_DATA = 0.002, 80.0, 0.5


def build(name):
    if name == "unet":
        return lctw_ref.paper_unet("nsln")
    if name == "dit":
        return lctw_ref.dit_model("B", 2, input_size=32)
    raise ValueError(name)


def karras(n, i):
    rho = 7.0
    a, b = SIGMA_MAX ** (1 / rho), SIGMA_MIN ** (1 / rho)
    return (a + i / (n - 1) * (b - a)) ** rho


def index_sampler(n, batch, gen, p_mean=-1.1, p_std=2.0):
    """Lognormal index sampler (ALGORITHM.md 4.2): P(i) proportional to the lognormal mass
    between sigma_{i+1} and sigma_i, i in 0..n-2."""
    sig = torch.tensor([karras(n, i) for i in range(n)], dtype=torch.float64)
    erf = torch.special.erf
    cdf = 0.5 * (1 + erf((torch.log(sig) - p_mean) / (p_std * math.sqrt(2))))
    p = (cdf[:-1] - cdf[1:]).clamp_min(0)
    idx = torch.multinomial(p / p.sum(), batch, replacement=True, generator=gen)
    return idx, sig


def step_fn(model, opt, emas, x, gen, c=None):
    b = x.shape[0]
    dev = x.device
    n_grid = 10
    idx, sig = index_sampler(n_grid, b, gen)
    s = sig[idx].to(dev, torch.float32)
    sn = sig[idx + 1].to(dev, torch.float32)
    noise = torch.randn(x.shape, device=dev)
    x_s = x + s.view(-1, 1, 1, 1) * noise
    x_t = x + sn.view(-1, 1, 1, 1) * noise
    with torch.no_grad():
        d_t, _ = lctw_ref.consistency(model, x_t, sn)
    d_s, _ = lctw_ref.consistency(model, x_s, s)
    d = x[0].numel()
    if c is None:
        c = 0.00054 * math.sqrt(d)
    m = ((d_s - d_t) ** 2).flatten(1).mean(1)
    w = 1.0 / (s - sn)
    loss_ct = (w * torch.log1p(m / (2 * c * c))).mean()
    in_s = (idx >= int(0.75 * n_grid)).to(dev)
    lam = 1.0 / s ** 2 + 1.0 / SIGMA_DATA ** 2
    mse = ((d_s - x) ** 2).flatten(1).mean(1)
    n_s = in_s.sum().clamp_min(1)
    loss_diff = (lam * mse * in_s).sum() / n_s
    loss = loss_ct + 5.0 * loss_diff
    opt.zero_grad(set_to_none=False)
    loss.backward()
    opt.step()
    with torch.no_grad():
        params = [p for p in model.parameters()]
        for decay, avg in emas:
            if hasattr(torch, "_foreach_lerp_"):
                torch._foreach_lerp_(avg, params, 1.0 - decay)
            else:  # older torch: one lerp per tensor
                for a, p in zip(avg, params):
                    a.lerp_(p, 1.0 - decay)
    return loss


def sample(model, n, steps, batch, dev):
    ts = [0, 640] if steps == 1 else [0, 420, 640]
    out = []
    with torch.no_grad():
        for i0 in range(0, n, batch):
            b = min(batch, n - i0)
            x = karras(641, ts[0]) * torch.randn(b, 4, 32, 32, device=dev)
            for k in range(len(ts) - 1):
                s = torch.full((b,), karras(641, ts[k]), device=dev)
                x0, _ = lctw_ref.consistency(model, x, s)
                if k + 2 == len(ts):
                    x = x0
                else:
                    sb = min(max(karras(641, ts[k + 1]), SIGMA_MIN), SIGMA_MAX)
                    x = x0 + math.sqrt(sb * sb - SIGMA_MIN ** 2) * torch.randn_like(x0)
            out.append(x)
    return torch.cat(out)


def timed(fn, dev):
    torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize(dev)
    return time.perf_counter() - t0


def bench(name, args, dev):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = build(name).to(dev)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.RAdam([p for p in model.parameters() if p.requires_grad], lr=1e-4,
                            weight_decay=1e-4, eps=1e-8)
    emas = [(d, [p.detach().clone() for p in model.parameters()])
            for d in (0.999, 0.9999, 0.99993)]
    x = 0.5 * torch.randn(args.batch, 4, 32, 32, device=dev)
    torch.cuda.reset_peak_memory_stats(dev)
    for _ in range(args.warmup):
        step_fn(model, opt, emas, x, gen)
    dt = timed(lambda: [step_fn(model, opt, emas, x, gen) for _ in range(args.iters)], dev)
    peak = torch.cuda.max_memory_allocated(dev) / 2 ** 20
    sps = args.batch * args.iters / dt
    model.eval()
    lat = {}
    for steps in (1, 2):
        sample(model, args.samples, steps, args.sample_batch, dev)  # warm-up
        lat[steps] = timed(lambda: sample(model, args.samples, steps, args.sample_batch, dev),
                           dev)
    print(f"RESULT impl=torch model={name} batch={args.batch} params={trainable} "
          f"samples_per_s={sps:.1f} step_ms={1e3 * dt / args.iters:.1f} peak_mib={peak:.0f} "
          f"sample1_ms={1e3 * lat[1]:.1f} sample2_ms={1e3 * lat[2]:.1f}", flush=True)
    del model, opt, emas
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--models", default="unet,dit")
    ap.add_argument("-b", "--batch", type=int, default=128)
    ap.add_argument("-w", "--warmup", type=int, default=2)
    ap.add_argument("-n", "--iters", type=int, default=5)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--sample-batch", type=int, default=500)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("SKIP impl=torch reason=no-cuda-device (torch.cuda.is_available() is False)")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    print(f"# torch {torch.__version__}, {torch.cuda.get_device_name(dev)}", flush=True)
    for name in args.models.split(","):
        bench(name, args, dev)
    return 0


if __name__ == "__main__":
    sys.exit(main())
