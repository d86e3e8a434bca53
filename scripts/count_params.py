"""count_params.py -- parameter counts of the reference networks (scripts/lctw_ref.py).

Run with Debian's PyTorch:  /usr/bin/python3 scripts/count_params.py
Prints the paper U-Net (ALGORITHM.md 2A: 128 channels, mult 1,2,3,4, 4 blocks, attention at 16
and 8, 4x32x32 latents) with NsLN and with GroupNorm, and the unconditional DiT-S/B/L/XL with
patch 2/4/8 on 4x32x32 (2B), each as trainable + frozen elements. The DiT counts are also
computed from a closed formula written independently of the modules. Exits non-zero if a count
differs from the number the spec states exactly (158,355,972 / 7,112,704 / 151,325,956) or if
module and formula counts disagree.
"""

import contextlib
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lctw_ref as ref  # noqa: E402

PAPER_UNET = {"nsln": (158_355_972, 7_112_704), "groupnorm": (151_325_956, 0)}
DIT_SPEC_M = {"S": 32.5, "B": 129.5, "L": 456.8, "XL": 673.7}  # ALGORITHM.md 2B, patch 2


@contextlib.contextmanager
def no_random_init():
    """Counting does not need values: skip the costly random fills of the big DiTs."""
    names = ("kaiming_uniform_", "uniform_", "normal_", "xavier_uniform_")
    saved = {n: getattr(nn.init, n) for n in names}
    try:
        for n in names:
            setattr(nn.init, n, lambda t, *a, **k: t)
        yield
    finally:
        for n, f in saved.items():
            setattr(nn.init, n, f)


def dit_formula(depth, d, heads, patch, in_ch=4, img=32, qk_norm=True, freq=256, mlp_ratio=4):
    """(trainable, frozen) of an unconditional DiT from its layer list."""
    hd = d // heads
    block = (3 * d * d + 3 * d            # attn.qkv
             + (4 * hd if qk_norm else 0)  # q_norm, k_norm: weight + bias of LayerNorm(hd)
             + d * d + d                   # attn.proj
             + mlp_ratio * d * d + mlp_ratio * d + mlp_ratio * d * d + d  # mlp.fc1, mlp.fc2
             + 6 * d * d + 6 * d)          # adaLN_modulation
    p2c = patch * patch * in_ch
    trainable = (depth * block
                 + p2c * d + d                       # x_embedder.proj
                 + freq * d + d + d * d + d          # t_embedder.mlp
                 + d                                 # y_embedder: one (null) row
                 + 2 * d * d + 2 * d + d * p2c + p2c)  # final_layer
    frozen = (img // patch) ** 2 * d                 # pos_embed
    return trainable, frozen


def main():
    bad = 0
    print("Paper U-Net (EDM DhariwalUNet, 128 ch, mult 1,2,3,4, 4 blocks, attn 16,8, 4x32x32)")
    for norm, want in PAPER_UNET.items():
        got = ref.count_params(ref.paper_unet(norm))
        ok = got == want
        bad += not ok
        print(f"  {norm:9} trainable {got[0]:>13,}  frozen {got[1]:>11,}  "
              f"{'OK' if ok else 'MISMATCH, want %s + %s' % (f'{want[0]:,}', f'{want[1]:,}')}")

    print("Unconditional DiT on 4x32x32 (learn_sigma off, 1-row label table, qk-norm; "
          "frozen = pos_embed)")
    for size, (depth, d, heads) in ref.DIT_SIZES.items():
        for patch in (2, 4, 8):
            with no_random_init():
                got = ref.count_params(ref.dit_model(size, patch))
            formula = dit_formula(depth, d, heads, patch)
            ok = got == formula
            bad += not ok
            note = ""
            if patch == 2:
                spec = DIT_SPEC_M[size]
                same = round(got[0] / 1e6, 1) == spec
                note = f"  spec {spec}M: {'matches' if same else 'DIFFERS'}"
                bad += not same
            print(f"  {'DiT-%s/%d' % (size, patch):9} trainable {got[0]:>13,}  "
                  f"frozen {got[1]:>9,}  "
                  f"formula {'OK' if ok else 'MISMATCH %s' % (formula,)}{note}")
    print("all counts as expected" if not bad else f"{bad} count(s) differ")
    return 1 if bad else 0


if __name__ == "__main__":
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    sys.exit(main())
