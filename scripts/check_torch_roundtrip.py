#!/usr/bin/env python3
"""Checkpoint compatibility with PyTorch, both ways (run by tests/repl/test_torch_roundtrip.sh).

usage: check_torch_roundtrip.py LCTW_SAVED.safetensors X.npy SIGMA Y_LCTW.npy TORCH_OUT.safetensors

1. Loads the weights lctw saved into the reference module (scripts/lctw_ref.py) with
   load_state_dict(strict=True), using the configuration stored in the file's metadata.
2. Runs f(x, sigma) in PyTorch and compares it with lctw's output Y_LCTW (max rel error).
3. Perturbs every trainable weight in PyTorch and writes them to TORCH_OUT for lctw to load;
   prints the PyTorch output of the perturbed model as TORCH_OUT.y.npy for lctw to compare.
Prints one line "forward_rel_err=<value>" and exits 0, or raises.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lctw_ref  # noqa: E402
from make_fixtures import read_safetensors, write_safetensors  # noqa: E402


def build(meta):
    cfg = json.loads(meta["lctw.config"])
    arch = cfg.pop("arch")
    if arch == "DhariwalUNet":
        keep = {k: v for k, v in cfg.items() if k in (
            "img_resolution", "in_channels", "out_channels", "model_channels", "channel_mult",
            "channel_mult_emb", "num_blocks", "attn_resolutions", "norm", "last_norm",
            "channels_per_head")}
        return lctw_ref.DhariwalUNet(**keep)
    keep = {k: v for k, v in cfg.items() if k in (
        "input_size", "patch_size", "in_channels", "hidden_size", "depth", "num_heads",
        "mlp_ratio", "act", "qk_norm")}
    return lctw_ref.DiT(**keep)


def main():
    saved, xpath, sigma, ypath, out = sys.argv[1:6]
    tensors, meta = read_safetensors(saved)
    net = build(meta).float()
    sd = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items() if not k.startswith("_")}
    net.load_state_dict(sd, strict=True)
    x = torch.from_numpy(np.load(xpath)).float()
    s = torch.full((x.shape[0],), float(sigma))
    with torch.no_grad():
        y, _ = lctw_ref.consistency(net, x, s)
    y_l = torch.from_numpy(np.load(ypath)).float()
    err = ((y - y_l).abs().max() / y.abs().max()).item()
    print(f"forward_rel_err={err:.3e}")
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn(p.shape, generator=g))
        y2, _ = lctw_ref.consistency(net, x, s)
    tens = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    write_safetensors(out, tens, {"lctw.kind": meta["lctw.kind"], "lctw.config": meta["lctw.config"]})
    np.save(out + ".y.npy", y2.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
