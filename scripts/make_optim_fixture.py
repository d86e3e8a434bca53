"""make_optim_fixture.py -- writes tests/fixtures/optim_radam.safetensors: PyTorch 1.13 optimizer
trajectories for tests/unit/test_optim.c and tests/lua/test_optim.lua (ALGORITHM.md 4.5, 4.6).

Run with Debian's PyTorch:  /usr/bin/python3 scripts/make_optim_fixture.py  (a second; the output
is byte-for-byte reproducible). CI never runs this; the tests only read the file.

Setup: a flat buffer of N = 40 float32 elements laid out like a model's one parameter buffer:
  [0, 16)   parameter "a", trainable
  [16, 24)  parameter "b", frozen (requires_grad False: not given to the optimizer)
  [24, 40)  parameter "c", trainable
theta0 = sign * U(0.5, 2). The gradient of step t (1..30) is row t-1 of `grads` (fixed data, not a
function of theta): N(0,1) + 0.3, times a per-element scale in {1, 1e-2, 1e-4, 1e-5} so that eps
matters (RAdam's eps sits outside the sqrt(1 - beta2^t) factor, Adam's inside). The frozen
elements have non-zero gradients too: an optimizer must still leave them untouched.

Each configuration below runs torch.optim.<kind>(params, lr, betas, eps, weight_decay) for 30
steps (single-tensor implementation, the default), changing lr to lr_after before step
lr_change_step (1-based; 0 = never), and stores
  <name>.theta  [30, 40]  the flat buffer after each step (frozen entries stay theta0)
  <name>.m      [40]      exp_avg after step 30 (0 on frozen entries)
  <name>.v      [40]      exp_avg_sq after step 30
  <name>.hyper  [8]       kind (0 radam, 1 adam, 2 adamw), lr, beta1, beta2, eps, weight_decay,
                          lr_change_step, lr_after  (float32 copies; the C test hard-codes the
                          double values and checks they agree)
and, shared: theta0 [40], grads [30, 40], trainable [40] (1/0 mask).

RAdam with beta2 = 0.999 takes the unrectified step theta -= lr * m_hat for t <= 5 (rho_t <= 5)
and the rectified one from t = 6; with beta2 = 0.99 the switch happens at the same t but rho_inf
is 199 instead of 1999. `rho_t` metadata lists rho_t of the first 8 steps for both.

The safetensors format is written with struct + json as in scripts/make_fixtures.py.
"""

import json
import math
import os
import struct

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "optim_radam.safetensors")
SIZE_LIMIT = 50_000
N, STEPS = 40, 30
SLICES = {"a": (0, 16, True), "b": (16, 24, False), "c": (24, 40, True)}
KINDS = {"radam": 0, "adam": 1, "adamw": 2}

CONFIGS = [
    dict(name="radam_wd", kind="radam", lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1,
         lr_change_step=20, lr_after=5e-3),
    dict(name="radam_eps", kind="radam", lr=1e-2, betas=(0.9, 0.999), eps=1e-4,
         weight_decay=1e-4, lr_change_step=0, lr_after=0.0),
    dict(name="radam_betas", kind="radam", lr=2e-2, betas=(0.8, 0.99), eps=1e-8,
         weight_decay=0.0, lr_change_step=0, lr_after=0.0),
    dict(name="adam", kind="adam", lr=1e-2, betas=(0.9, 0.999), eps=1e-3, weight_decay=0.05,
         lr_change_step=10, lr_after=2e-2),
    dict(name="adamw", kind="adamw", lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1,
         lr_change_step=0, lr_after=0.0),
]


def write_safetensors(path, tensors, metadata):
    """tensors: name -> array (stored as F32); metadata: str -> str. Written atomically."""
    header = {"__metadata__": dict(metadata)}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(np.asarray(tensors[name], dtype="<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    hj = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    hj += b" " * (-len(hj) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(hj)))
        fh.write(hj)
        for b in blobs:
            fh.write(b)
    os.replace(tmp, path)


def make_data():
    g = torch.Generator().manual_seed(1313)
    sign = torch.where(torch.rand(N, generator=g) < 0.5, -1.0, 1.0)
    theta0 = sign * (0.5 + 1.5 * torch.rand(N, generator=g))
    scale_choices = torch.tensor([1.0, 1e-2, 1e-4, 1e-5])
    scale = scale_choices[torch.arange(N) % 4]
    grads = (torch.randn(STEPS, N, generator=g) + 0.3) * scale
    return theta0.float(), grads.float()


def run(cfg, theta0, grads):
    params = {k: torch.nn.Parameter(theta0[s:e].clone(), requires_grad=tr)
              for k, (s, e, tr) in SLICES.items()}
    trainable = [params[k] for k, (_, _, tr) in SLICES.items() if tr]
    cls = {"radam": torch.optim.RAdam, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    opt = cls[cfg["kind"]](trainable, lr=cfg["lr"], betas=cfg["betas"], eps=cfg["eps"],
                           weight_decay=cfg["weight_decay"])
    traj = np.zeros((STEPS, N), dtype=np.float32)
    for t in range(1, STEPS + 1):
        if cfg["lr_change_step"] and t == cfg["lr_change_step"]:
            for group in opt.param_groups:
                group["lr"] = cfg["lr_after"]
        for k, (s, e, tr) in SLICES.items():
            if tr:
                params[k].grad = grads[t - 1, s:e].clone()
        opt.step()
        for k, (s, e, _) in SLICES.items():
            traj[t - 1, s:e] = params[k].detach().numpy()
    m = np.zeros(N, dtype=np.float32)
    v = np.zeros(N, dtype=np.float32)
    for k, (s, e, tr) in SLICES.items():
        if tr:
            st = opt.state[params[k]]
            assert float(st["step"]) == STEPS
            m[s:e] = st["exp_avg"].numpy()
            v[s:e] = st["exp_avg_sq"].numpy()
    hyper = [KINDS[cfg["kind"]], cfg["lr"], cfg["betas"][0], cfg["betas"][1], cfg["eps"],
             cfg["weight_decay"], cfg["lr_change_step"], cfg["lr_after"]]
    return traj, m, v, np.array(hyper, dtype=np.float32)


def rho(t, b2):
    rho_inf = 2 / (1 - b2) - 1
    return rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)


def main():
    torch.set_num_threads(1)
    theta0, grads = make_data()
    tensors = {"theta0": theta0.numpy(), "grads": grads.numpy(),
               "trainable": np.array([1.0 if SLICES["b"][0] > i or i >= SLICES["b"][1] else 0.0
                                      for i in range(N)], dtype=np.float32)}
    for cfg in CONFIGS:
        traj, m, v, hyper = run(cfg, theta0, grads)
        n = cfg["name"]
        tensors[n + ".theta"] = traj
        tensors[n + ".m"] = m
        tensors[n + ".v"] = v
        tensors[n + ".hyper"] = hyper
        frozen = slice(SLICES["b"][0], SLICES["b"][1])
        assert np.array_equal(traj[:, frozen], np.tile(theta0.numpy()[frozen], (STEPS, 1)))
    meta = {
        "format": "lctw-optim-fixture-1",
        "torch": torch.__version__,
        "configs": json.dumps(CONFIGS),
        "layout": json.dumps({k: [s, e, tr] for k, (s, e, tr) in SLICES.items()}),
        "rho_t": json.dumps({"0.999": [round(rho(t, 0.999), 6) for t in range(1, 9)],
                             "0.99": [round(rho(t, 0.99), 6) for t in range(1, 9)]}),
    }
    write_safetensors(OUT, tensors, meta)
    size = os.path.getsize(OUT)
    print(f"wrote {OUT}: {size} bytes (limit {SIZE_LIMIT})")
    print("rho_t:", meta["rho_t"])
    assert size < SIZE_LIMIT, "fixture too large"
    assert not math.isnan(float(tensors["radam_wd.theta"].sum()))


if __name__ == "__main__":
    main()
