"""make_vae_fixture.py -- writes tests/fixtures/vae_ref.safetensors, the PyTorch reference for
src/nn/vae.c (tests/unit/test_vae.c).

Run with Debian's PyTorch:  /usr/bin/python3 scripts/make_vae_fixture.py  (a few seconds on CPU).
The decoders/encoders are written here from the description in ../shared/data/README.md,
independently of the C code, and run in float64 on the real weights from
../shared/data/taesd/*.safetensors (read here with struct + json; the weights are not copied
into the fixture). Stored, float32:

  vaelight.z      2x4x3x4   SD1 latents in data space (x0.18215), seeded normal
  vaelight.img    2x3x24x32 the VAElight decoder's output (RGB in [-1, 1])
  vaelight.enc    2x4x3x4   the VAElight encoder applied to clamp(vaelight.img, -1, 1), data space
  taef2.z         2x32x2x3  TAEF2 latents, seeded normal
  taef2.img       2x3x16x24 the TAEF2 decoder's output (RGB ~ [0, 1])
  taef2.enc       2x32x2x3  the TAEF2 encoder applied to clamp(taef2.img, 0, 1)

Shapes are tiny and non-square so the file stays ~32 KB (tests/fixtures has a 2 MB budget).
"""

import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "taesd")
OUT = os.path.join(ROOT, "tests", "fixtures", "vae_ref.safetensors")
SD1 = 0.18215


def read_st(path):
    with open(path, "rb") as fh:
        data = fh.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    out = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", name
        b, end = e["data_offsets"]
        a = np.frombuffer(body[b:end], dtype="<f4").reshape(e["shape"])
        out[name] = torch.from_numpy(a.astype(np.float64))
    return out


def write_st(path, tensors, metadata):
    header = {"__metadata__": dict(metadata)}
    blobs, off = [], 0
    for name in sorted(tensors):
        b = np.ascontiguousarray(tensors[name].numpy().astype("<f4")).tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path + ".tmp", "wb") as fh:
        fh.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
    os.replace(path + ".tmp", path)


def lrelu(x):
    return F.leaky_relu(x, 0.01)


# ---- VAElight ----

def vl_branch(W, x, prefix, n):
    for i in range(1, n + 1):
        w, b = W[f"{prefix}{i}.weight"], W[f"{prefix}{i}.bias"]
        if w.shape[-1] == 2:
            x = F.conv_transpose2d(x, w, b, stride=2)
        else:
            x = F.conv2d(x, w, b, padding=1)
        if i < n:
            x = lrelu(x)
    return x


def vaelight_decode(W, z):
    x = z / SD1
    up = lambda t, s: F.interpolate(t, scale_factor=s, mode="bilinear", align_corners=False)
    return (up(vl_branch(W, x, "c2v", 4), 8) + up(vl_branch(W, x, "c3v", 5), 4)
            + up(vl_branch(W, x, "c4v", 8), 2) + vl_branch(W, x, "cv", 11))


def vaelight_encode(W, img):
    a = img
    for i in range(1, 7):
        w, b = W[f"cv{i}.weight"], W[f"cv{i}.bias"]
        a = F.conv2d(a, w, b, stride=2) if w.shape[-1] == 2 else F.conv2d(a, w, b, padding=1)
        if i < 6:
            a = lrelu(a)
    p = F.avg_pool2d(img, 8)
    for i in range(14, 19):
        p = F.conv2d(p, W[f"cv{i}.weight"], W[f"cv{i}.bias"], padding=1)
        if i < 18:
            p = lrelu(p)
    return (a + p) * SD1


# ---- TAESD ----

def conv3(W, x, k, stride=1):
    return F.conv2d(x, W[f"{k}.weight"], W.get(f"{k}.bias"), stride=stride, padding=1)


def block(W, x, i):
    if f"{i}.pool.0.weight" in W:
        p = F.conv2d(x, W[f"{i}.pool.0.weight"])
        p = F.group_norm(p, 4, W[f"{i}.pool.1.weight"], W[f"{i}.pool.1.bias"], eps=1e-5)
        x = x + F.conv2d(F.relu(p), W[f"{i}.pool.3.weight"])
    h = F.relu(conv3(W, x, f"{i}.conv.0"))
    h = F.relu(conv3(W, h, f"{i}.conv.2"))
    h = conv3(W, h, f"{i}.conv.4")
    return F.relu(h + x)


def taesd_decode(W, z):
    x = torch.tanh(z / 3) * 3
    x = F.relu(conv3(W, x, 1))
    for i in (3, 4, 5):
        x = block(W, x, i)
    for c, blocks in ((7, (8, 9, 10)), (12, (13, 14, 15)), (17, (18,))):
        x = conv3(W, F.interpolate(x, scale_factor=2, mode="nearest"), c)
        for i in blocks:
            x = block(W, x, i)
    return conv3(W, x, 19)


def taesd_encode(W, img):
    x = conv3(W, img, 0)
    x = block(W, x, 1)
    for c, blocks in ((2, (3, 4, 5)), (6, (7, 8, 9)), (10, (11, 12, 13))):
        x = conv3(W, x, c, stride=2)
        for i in blocks:
            x = block(W, x, i)
    return conv3(W, x, 14)


def main():
    g = torch.Generator().manual_seed(1606)
    out = {}
    vd = read_st(os.path.join(DATA, "sd1_vaelight_decoder.safetensors"))
    ve = read_st(os.path.join(DATA, "sd1_vaelight_encoder.safetensors"))
    z = torch.randn(2, 4, 3, 4, generator=g, dtype=torch.float64)
    z = z.float().double()
    img = vaelight_decode(vd, z)
    out["vaelight.z"], out["vaelight.img"] = z, img
    out["vaelight.enc"] = vaelight_encode(ve, img.float().double().clamp(-1, 1))

    td = read_st(os.path.join(DATA, "taef2_decoder.safetensors"))
    te = read_st(os.path.join(DATA, "taef2_encoder.safetensors"))
    z = torch.randn(2, 32, 2, 3, generator=g, dtype=torch.float64).float().double()
    img = taesd_decode(td, z)
    out["taef2.z"], out["taef2.img"] = z, img
    out["taef2.enc"] = taesd_encode(te, img.float().double().clamp(0, 1))
    for k, v in sorted(out.items()):
        print(f"{k:14s} {tuple(v.shape)} min {v.min():.4f} max {v.max():.4f}")
    write_st(OUT, out, {"generator": "scripts/make_vae_fixture.py", "compute": "float64"})
    print(OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
