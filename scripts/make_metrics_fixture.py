"""make_metrics_fixture.py -- writes tests/fixtures/metrics_fd.safetensors, the PyTorch reference
for lctw.metrics.fd (src/ct/metrics.c).

Run with Debian's PyTorch:  /usr/bin/python3 scripts/make_metrics_fixture.py  (a second on CPU).

Two small sets of latents a, b [48, 2, 4, 4] (float32; b heavier-tailed, shifted and with
correlated channels), and the Frechet distance between them for the feature maps pool = 1
(2x4x4 = 32 features) and pool = 2 (2x2x2 = 8 features), computed in float64 the way
pytorch-fid does -- but with an eigenvalue method instead of the Jacobi rotations of the C code:
    FD = |mu_a - mu_b|^2 + Tr(Sa) + Tr(Sb) - 2 * sum_i sqrt(lambda_i(Sa @ Sb)),
with the unbiased covariances and lambda_i the eigenvalues of the (non-symmetric) product from
LAPACK's general eigen-solver (torch.linalg.eigvals); they are real and >= 0 up to round-off.

The safetensors file is written with struct + json (8-byte little-endian header length, JSON
header padded with spaces to a multiple of 8, raw little-endian data, tensors sorted by name).
"""

import json
import os
import struct

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "metrics_fd.safetensors")


def features(x, pool):
    n, c, h, w = x.shape
    f = x.double().reshape(n, c, h // pool, pool, w // pool, pool).mean(dim=(3, 5))
    return f.reshape(n, -1)


def fd(a, b, pool):
    fa, fb = features(a, pool), features(b, pool)
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    sa, sb = torch.cov(fa.T), torch.cov(fb.T)  # unbiased (n - 1)
    lam = torch.linalg.eigvals(sa @ sb)
    assert lam.imag.abs().max() < 1e-9 * lam.real.abs().max()
    tr_sqrt = lam.real.clamp(min=0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + sa.trace() + sb.trace() - 2 * tr_sqrt)


def save(path, tensors, meta):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous().float()
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    g = torch.Generator().manual_seed(20250214)
    a = torch.randn(48, 2, 4, 4, generator=g)
    t = torch.distributions.StudentT(3.0).sample((48, 2, 4, 4))  # global RNG, seeded below
    mix = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    b = torch.einsum("dc,nchw->ndhw", mix, torch.randn(48, 2, 4, 4, generator=g)) * 1.3 + 0.25
    b = b + 0.3 * t
    a, b = a.float(), b.float()
    res = {"fd_pool1": fd(a, b, 1), "fd_pool2": fd(a, b, 2), "fd_self_pool1": fd(a, a, 1)}
    meta = {"format": "lctw-fixture-1", "generator": "scripts/make_metrics_fixture.py"}
    meta.update({k: repr(v) for k, v in res.items()})
    save(OUT, {"a": a, "b": b}, meta)
    print(OUT, os.path.getsize(OUT), "bytes", res)


if __name__ == "__main__":
    torch.manual_seed(7)
    main()
