"""make_fixtures.py -- writes the PyTorch reference fixtures tests/fixtures/*.safetensors.

Run with Debian's PyTorch:  /usr/bin/python3 scripts/make_fixtures.py  (about a minute on CPU).
CI never runs this; it only reads the files. Each file holds one tiny network of
scripts/lctw_ref.py (the EDM U-Net or the DiT, ALGORITHM.md 2A/2B) wrapped in the consistency
function of section 3, with

  <state_dict name>   every parameter, trainable or frozen (NsLN gamma, DiT pos_embed), float32,
                      after the reference init *and* a random perturbation (lctw_ref.perturb_) so
                      that zero-initialised layers are non-zero and no gradient vanishes;
  _in.x _in.sigma _in.R        the batch, its noise levels and the loss weights;
  _out.y _out.F                f(x, sigma) and the raw network output F(c_in x, c_noise);
  _out.c_skip _out.c_out _out.c_in _out.c_noise _out.loss     per-sample coefficients, L;
  _grad.<name>        dL/dparameter for every trainable parameter, L = sum(f(x, sigma) * R);
  _grad_in.x          dL/dx.

Outputs and gradients are computed in float64 from the stored float32 weights and inputs and then
rounded, so they are the exact answer for the stored data, not PyTorch's float32 answer. The
metadata records the network config (JSON string "config") and how far PyTorch's own float32 run
lands from that answer ("f32_rel_err"), which is what a correct float32 implementation can expect.

The safetensors format is written here with struct + json: 8-byte little-endian header length,
a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}} padded with spaces
to a multiple of 8 bytes, then the raw little-endian data, tensors sorted by name.
"""

import copy
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lctw_ref as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures")
SIZE_LIMIT = 2_000_000  # bytes, all files together

UNET_TINY = dict(img_resolution=8, in_channels=4, out_channels=4, model_channels=8,
                 channel_mult=(1, 2), channel_mult_emb=4, num_blocks=1, attn_resolutions=(4,),
                 channels_per_head=8)
DIT_TINY = dict(input_size=8, patch_size=2, in_channels=4, hidden_size=32, depth=2, num_heads=2,
                mlp_ratio=4.0)

FIXTURES = [
    dict(name="unet_tiny_nsln", seed=101, sigma=[0.01, 5.0],
         build=lambda: ref.DhariwalUNet(norm="nsln", **UNET_TINY)),
    dict(name="unet_tiny_groupnorm", seed=102, sigma=[0.01, 5.0],
         build=lambda: ref.DhariwalUNet(norm="groupnorm", **UNET_TINY)),
    dict(name="dit_tiny", seed=103, sigma=[0.02, 20.0],
         build=lambda: ref.DiT(act="gelu", qk_norm=True, **DIT_TINY)),
    dict(name="dit_tiny_relu_noqk", seed=104, sigma=[0.5, 80.0],
         build=lambda: ref.DiT(act="relu", qk_norm=False, **DIT_TINY)),
]


# ----------------------------------------------------------------------------------------------
# safetensors


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
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * (-len(hj) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(hj)))
        fh.write(hj)
        for b in blobs:
            fh.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """Minimal reader (F32 only) used to verify what was written."""
    with open(path, "rb") as fh:
        data = fh.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, f"{path}: header length {n} is not a multiple of 8"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    out = {}
    end_max = 0
    for name, e in header.items():
        assert e["dtype"] == "F32", f"{path}: {name} has dtype {e['dtype']}"
        b, end = e["data_offsets"]
        assert end - b == 4 * int(np.prod(e["shape"], dtype=np.int64)), f"{path}: {name} size"
        out[name] = np.frombuffer(body[b:end], dtype="<f4").reshape(e["shape"])
        end_max = max(end_max, end)
    assert end_max == len(body), f"{path}: {len(body) - end_max} trailing bytes"
    return out, meta


# ----------------------------------------------------------------------------------------------
# one fixture


def run_model(model, x, sigma, r):
    """Forward + backward of L = sum(f * R); returns a dict of float64 numpy results."""
    x = x.clone().requires_grad_(True)
    f, out = ref.consistency(model, x, sigma)
    loss = (f * r).sum()
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params + [x])
    res = {"_out.y": f, "_out.F": out, "_out.loss": loss.reshape(1), "_grad_in.x": grads[-1]}
    for n, g in zip(names, grads[:-1]):
        res["_grad." + n] = g
    return {k: v.detach().double().numpy() for k, v in res.items()}


def make_fixture(spec):
    torch.manual_seed(spec["seed"])
    model = spec["build"]()
    gen = torch.Generator().manual_seed(spec["seed"] + 1000)
    ref.perturb_(model, gen)

    cfg = model.config
    if cfg["arch"] == "DhariwalUNet":
        shape = (len(spec["sigma"]), cfg["in_channels"], cfg["img_resolution"],
                 cfg["img_resolution"])
    else:
        shape = (len(spec["sigma"]), cfg["in_channels"], cfg["input_size"], cfg["input_size"])
    sigma = torch.tensor(spec["sigma"], dtype=torch.float32)
    x = (ref.SIGMA_DATA * torch.randn(shape, generator=gen)
         + sigma.reshape(-1, 1, 1, 1) * torch.randn(shape, generator=gen))
    r = torch.randn(shape, generator=gen)

    model64 = copy.deepcopy(model).double()
    x64, s64, r64 = x.double(), sigma.double(), r.double()
    res = run_model(model64, x64, s64, r64)
    c_skip, c_out, c_in, c_noise = ref.consistency_coeffs(s64)

    # what PyTorch's own float32 run achieves against the float64 answer
    res32 = run_model(model, x, sigma, r)
    grad_keys = [k for k in res if k.startswith("_grad.")]
    # gradients that vanish identically (a key bias shifts every logit of a query equally, so
    # softmax ignores it: attn.k_norm.bias) are listed and left out of relative measures
    gscale = max(float(np.abs(res[k]).max()) for k in grad_keys)
    zero = [k for k in grad_keys if float(np.abs(res[k]).max()) < 1e-12 * gscale]
    live = [k for k in grad_keys if k not in zero]
    f32 = {"y": ref.rel_err(res32["_out.y"], res["_out.y"]),
           "F": ref.rel_err(res32["_out.F"], res["_out.F"]),
           "grad_in_x": ref.rel_err(res32["_grad_in.x"], res["_grad_in.x"]),
           "grad_max": max(ref.rel_err(res32[k], res[k]) for k in live),
           "grad_zero_absmax": max([float(np.abs(res32[k]).max()) for k in zero] + [0.0])}
    # sensitivity of F to one float32 ulp of c_noise (a float32 c_noise is only that exact)
    with torch.no_grad():
        cn32 = c_noise.float().numpy()
        bumped = torch.from_numpy(np.nextafter(cn32, np.float32(np.inf)).astype(np.float64))
        xin = c_in.reshape(-1, 1, 1, 1) * x64
        f_a = model64(xin, c_noise).numpy()
        f_b = model64(xin, bumped).numpy()
    f32["F_per_c_noise_ulp"] = ref.rel_err(f_b, f_a)

    tensors = {n: p.detach().numpy() for n, p in model.named_parameters()}
    tensors.update({"_in.x": x.numpy(), "_in.sigma": sigma.numpy(), "_in.R": r.numpy(),
                    "_out.c_skip": c_skip.numpy(), "_out.c_out": c_out.numpy(),
                    "_out.c_in": c_in.numpy(), "_out.c_noise": c_noise.numpy()})
    tensors.update(res)
    names = [n for n, _ in model.named_parameters()]
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    meta = {
        "format": "lctw-fixture-1",
        "config": json.dumps(cfg),
        "consistency": json.dumps({"sigma_min": ref.SIGMA_MIN, "sigma_data": ref.SIGMA_DATA,
                                   "c_noise": "250*ln(sigma)"}),
        "loss": "L = sum(f(x, sigma) * R) over the whole batch",
        "params": json.dumps(names),
        "frozen": json.dumps(frozen),
        "zero_grads": json.dumps([k[len("_grad."):] for k in zero]),
        "precision": "weights and _in.* are exact; _out.* and _grad* are float64 results "
                     "rounded to float32",
        "f32_rel_err": json.dumps({k: float(f"{v:.3e}") for k, v in f32.items()}),
        "perturbation": "lctw_ref.perturb_(rel=0.1, zero_rel=0.5)",
        "seed": str(spec["seed"]),
        "generator": "scripts/make_fixtures.py (torch " + torch.__version__ + ")",
    }
    path = os.path.join(OUT_DIR, spec["name"] + ".safetensors")
    write_safetensors(path, tensors, meta)

    # read back and compare bit for bit
    back, meta_back = read_safetensors(path)
    assert meta_back == meta, f"{path}: metadata did not round-trip"
    assert set(back) == set(tensors), f"{path}: tensor names did not round-trip"
    for k, v in tensors.items():
        assert np.array_equal(back[k], np.asarray(v, dtype=np.float32)), f"{path}: {k} differs"
    # a fresh model loads the stored weights by name and reproduces the stored output
    fresh = spec["build"]().double()
    sd = {n: torch.from_numpy(back[n].astype(np.float64)) for n in names}
    sd.update({k: v for k, v in fresh.state_dict().items() if k not in sd})  # buffers
    fresh.load_state_dict(sd, strict=True)
    with torch.no_grad():
        y2, _ = ref.consistency(fresh, torch.from_numpy(back["_in.x"].astype(np.float64)),
                                torch.from_numpy(back["_in.sigma"].astype(np.float64)))
    reload_err = ref.rel_err(y2.numpy(), back["_out.y"])
    assert reload_err < 1e-6, f"{path}: reloaded model output rel err {reload_err:.2e}"

    gmax = {k: float(np.abs(res[k]).max()) for k in live}
    return dict(path=path, size=os.path.getsize(path), n_tensors=len(tensors),
                n_params=sum(int(np.prod(tensors[n].shape)) for n in names), n_grads=len(gmax),
                n_zero=len(zero), grad_absmax=max(gmax.values()),
                grad_absmax_min=min(gmax.values()), f32=f32, reload_err=reload_err)


def main():
    torch.set_num_threads(1)  # reproducible reductions, identical bytes on every run
    if ref.selftest(verbose=False):
        print("make_fixtures: the reference failed its self-check, nothing written")
        return 1
    os.makedirs(OUT_DIR, exist_ok=True)
    rows = [make_fixture(spec) for spec in FIXTURES]
    total = sum(r["size"] for r in rows)
    print("file                                    bytes tensors params  max|grad| min_t max|g_t|"
          " zero_g  torch-f32 rel err: y, F, worst grad; F per c_noise ulp")
    for r in rows:
        f = r["f32"]
        print(f"{os.path.basename(r['path']):36} {r['size']:8d} {r['n_tensors']:7d} "
              f"{r['n_params']:6d} {r['grad_absmax']:10.3g} {r['grad_absmax_min']:14.3g} "
              f"{r['n_zero']:6d}  {f['y']:.1e} {f['F']:.1e} {f['grad_max']:.1e}; "
              f"{f['F_per_c_noise_ulp']:.1e}")
    print(f"total {total} bytes (limit {SIZE_LIMIT})")
    if total >= SIZE_LIMIT:
        print("make_fixtures: fixtures exceed the size limit")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
