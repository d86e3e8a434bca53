"""lctw_ref.py -- compact PyTorch reference of the networks lctw implements in C.

Written for Debian's python3-torch (CPU, torch 1.13): run with /usr/bin/python3.
The module structure mirrors the public reference code so that state_dict names and shapes are
the ones a real checkpoint uses:

  * DhariwalUNet   EDM's ADM U-Net (NVlabs/edm training/networks.py) with the norm of every block
                   and of the output selectable: "nsln" (non-scaling LayerNorm, the paper network
                   of ALGORITHM.md section 2A), "groupnorm" (EDM's GroupNorm) or "layernorm".
                   Names: map_layer0.weight, enc.32x32_conv.weight, enc.16x16_block0.norm0.bias,
                   enc.16x16_block0.qkv.weight, dec.4x4_in0.proj.bias, out_norm.bias,
                   out_conv.weight.
  * DiT            facebookresearch/DiT models.py with timm's Attention (qkv, q_norm, k_norm, proj)
                   and Mlp (fc1, fc2), unconditional (a one-row label table), ALGORITHM.md 2B.
  * consistency    f(x, sigma) = c_skip x + c_out F(c_in x, c_noise), c_noise = 250 ln sigma (3).

Run this file to execute its self-check: every network is compared with an independent NumPy
float64 implementation written from the equations (loops over heads, shifted-window convs), the
norms with explicit mean/variance, and state_dicts must round-trip.
"""

import math
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SIGMA_MIN = 0.002
SIGMA_MAX = 80.0
SIGMA_DATA = 0.5

NORM_KINDS = ("nsln", "groupnorm", "layernorm")


# ----------------------------------------------------------------------------------------------
# EDM building blocks. EDM's init: every weight and bias ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in))
# (kaiming_uniform sqrt(3/fan_in) times init_weight sqrt(1/3)), or exactly zero ("zero").


def _fan_in_uniform(shape, fan_in, zero):
    if zero:
        return torch.zeros(*shape)
    return (torch.rand(*shape) * 2 - 1) / math.sqrt(fan_in)


class Linear(nn.Module):
    """y = x W^T + b, W [out, in] (EDM training/networks.py Linear)."""

    def __init__(self, in_features, out_features, bias=True, zero=False):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(_fan_in_uniform([out_features, in_features], in_features, zero))
        self.bias = (nn.Parameter(_fan_in_uniform([out_features], in_features, zero))
                     if bias else None)

    def forward(self, x):
        x = x @ self.weight.t()
        return x + self.bias if self.bias is not None else x


class Conv2d(nn.Module):
    """EDM Conv2d: optional 2x resample (box filter [1,1]x[1,1]) *before* a same-padded conv.

    kernel 0 means resample only (no weights). The box filter is kept as the buffer
    `resample_filter` (1x1x2x2, all 1/4) for up/down convs, as in EDM's state_dict.
    """

    def __init__(self, in_channels, out_channels, kernel, bias=True, up=False, down=False,
                 zero=False):
        super().__init__()
        assert not (up and down)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.up = up
        self.down = down
        fan_in = in_channels * kernel * kernel
        self.weight = (nn.Parameter(_fan_in_uniform([out_channels, in_channels, kernel, kernel],
                                                    fan_in, zero)) if kernel else None)
        self.bias = (nn.Parameter(_fan_in_uniform([out_channels], fan_in, zero))
                     if kernel and bias else None)
        f = torch.full((1, 1, 2, 2), 0.25)
        self.register_buffer("resample_filter", f if up or down else None)

    def forward(self, x):
        if self.up:  # transposed conv with the box filter x4 = nearest-neighbour 2x
            f = (self.resample_filter * 4).to(x.dtype).tile([x.shape[1], 1, 1, 1])
            x = F.conv_transpose2d(x, f, groups=x.shape[1], stride=2)
        if self.down:  # 2x2 average, stride 2
            f = self.resample_filter.to(x.dtype).tile([x.shape[1], 1, 1, 1])
            x = F.conv2d(x, f, groups=x.shape[1], stride=2)
        if self.weight is not None:
            x = F.conv2d(x, self.weight, padding=self.weight.shape[-1] // 2)
        if self.bias is not None:
            x = x + self.bias.reshape(1, -1, 1, 1)
        return x


class GroupNorm(nn.Module):
    """EDM GroupNorm: groups = min(32, C // 4), eps 1e-5, per-channel gamma (weight), beta (bias).
    """

    def __init__(self, num_channels, num_groups=32, min_channels_per_group=4, eps=1e-5):
        super().__init__()
        self.num_groups = min(num_groups, num_channels // min_channels_per_group)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


class NonScalingLayerNorm(nn.Module):
    """NsLN (ALGORITHM.md 2A): LayerNorm over all C*H*W elements of one sample (biased variance),
    gamma = ones with requires_grad False (kept in the state_dict as `weight`, never trained),
    beta in R^{CxHxW} learnable (`bias`, init 0). With scale=True it is an affine LayerNorm."""

    def __init__(self, shape, eps=1e-5, scale=False):
        super().__init__()
        self.shape = tuple(shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.shape), requires_grad=scale)
        self.bias = nn.Parameter(torch.zeros(self.shape))

    def forward(self, x):
        return F.layer_norm(x, self.shape, self.weight, self.bias, self.eps)


def make_norm(kind, channels, res, eps=1e-5):
    if kind == "groupnorm":
        return GroupNorm(channels, eps=eps)
    if kind == "nsln":
        return NonScalingLayerNorm([channels, res, res], eps=eps)
    if kind == "layernorm":
        return NonScalingLayerNorm([channels, res, res], eps=eps, scale=True)
    raise ValueError(f"norm must be one of {NORM_KINDS}, got {kind!r}")


def edm_attention(qkv, num_heads):
    """EDM's attention on a [B, 3C, H, W] qkv map: channels reshaped to [B*heads, C/heads, 3, HW]
    (q, k, v interleaved per channel), w = softmax_k(q^T k / sqrt(C/heads)), a = v w^T."""
    b, c3, h, w = qkv.shape
    c = c3 // 3
    q, k, v = qkv.reshape(b * num_heads, c // num_heads, 3, h * w).unbind(2)
    att = torch.einsum("ncq,nck->nqk", q, k / math.sqrt(k.shape[1])).softmax(dim=2)
    a = torch.einsum("nqk,nck->ncq", att, v)
    return a.reshape(b, c, h, w)


class UNetBlock(nn.Module):
    """EDM UNetBlock with adaptive_scale=True, skip_scale=1, resample_proj=False.

    res_in is the resolution of the block input (norm0), res_out that of its output (norm1, norm2);
    they matter only for the layer norms, whose parameters are [C, H, W]."""

    def __init__(self, in_channels, out_channels, emb_channels, res_in, res_out, up=False,
                 down=False, attention=False, channels_per_head=64, norm="nsln", dropout=0.0,
                 eps=1e-5):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_heads = out_channels // channels_per_head if attention else 0
        self.dropout = dropout
        self.norm0 = make_norm(norm, in_channels, res_in, eps)
        self.conv0 = Conv2d(in_channels, out_channels, 3, up=up, down=down)
        self.affine = Linear(emb_channels, 2 * out_channels)
        self.norm1 = make_norm(norm, out_channels, res_out, eps)
        self.conv1 = Conv2d(out_channels, out_channels, 3, zero=True)
        self.skip = None
        if out_channels != in_channels or up or down:
            kernel = 1 if out_channels != in_channels else 0
            self.skip = Conv2d(in_channels, out_channels, kernel, up=up, down=down)
        if self.num_heads:
            self.norm2 = make_norm(norm, out_channels, res_out, eps)
            self.qkv = Conv2d(out_channels, 3 * out_channels, 1)
            self.proj = Conv2d(out_channels, out_channels, 1, zero=True)

    def forward(self, x, emb):
        orig = x
        x = self.conv0(F.silu(self.norm0(x)))
        scale, shift = self.affine(emb).unsqueeze(2).unsqueeze(3).chunk(2, dim=1)
        x = F.silu(shift + self.norm1(x) * (scale + 1))
        x = self.conv1(F.dropout(x, p=self.dropout, training=self.training))
        x = x + (self.skip(orig) if self.skip is not None else orig)
        if self.num_heads:
            x = x + self.proj(edm_attention(self.qkv(self.norm2(x)), self.num_heads))
        return x


def positional_embedding(c_noise, num_channels, max_positions=10000):
    """EDM PositionalEmbedding (endpoint False): [cos(c f_j), sin(c f_j)], f_j = 10000^(-j/(n/2)).
    Frequencies are computed in c_noise's dtype (float32 as in EDM; float64 for the fixtures)."""
    half = num_channels // 2
    freqs = (1 / max_positions) ** (torch.arange(half, dtype=c_noise.dtype) / half)
    x = c_noise.ger(freqs)
    return torch.cat([x.cos(), x.sin()], dim=1)


class DhariwalUNet(nn.Module):
    """EDM DhariwalUNet (label_dim 0, augment_dim 0) with selectable norms (ALGORITHM.md 2A).

    channels_per_head is 64 in EDM and the paper; tiny test configs lower it so that attention
    exists at all (EDM gives C // 64 heads, i.e. none below 64 channels)."""

    def __init__(self, img_resolution, in_channels, out_channels, model_channels=128,
                 channel_mult=(1, 2, 3, 4), channel_mult_emb=4, num_blocks=4,
                 attn_resolutions=(16, 8), norm="nsln", last_norm=None, channels_per_head=64,
                 dropout=0.0):
        super().__init__()
        last_norm = norm if last_norm is None else last_norm
        self.config = dict(arch="DhariwalUNet", img_resolution=img_resolution,
                           in_channels=in_channels, out_channels=out_channels,
                           model_channels=model_channels, channel_mult=list(channel_mult),
                           channel_mult_emb=channel_mult_emb, num_blocks=num_blocks,
                           attn_resolutions=list(attn_resolutions), norm=norm,
                           last_norm=last_norm, channels_per_head=channels_per_head,
                           dropout=dropout)
        emb_channels = model_channels * channel_mult_emb
        kw = dict(emb_channels=emb_channels, channels_per_head=channels_per_head, norm=norm,
                  dropout=dropout)
        self.model_channels = model_channels
        self.map_layer0 = Linear(model_channels, emb_channels)
        self.map_layer1 = Linear(emb_channels, emb_channels)

        self.enc = nn.ModuleDict()
        cout = in_channels
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level == 0:
                cin, cout = cout, model_channels * mult
                self.enc[f"{res}x{res}_conv"] = Conv2d(cin, cout, 3)
            else:
                self.enc[f"{res}x{res}_down"] = UNetBlock(cout, cout, res_in=2 * res, res_out=res,
                                                          down=True, **kw)
            for idx in range(num_blocks):
                cin, cout = cout, model_channels * mult
                self.enc[f"{res}x{res}_block{idx}"] = UNetBlock(
                    cin, cout, res_in=res, res_out=res, attention=res in attn_resolutions, **kw)
        skips = [m.out_channels for m in self.enc.values()]

        self.dec = nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = img_resolution >> level
            if level == len(channel_mult) - 1:
                self.dec[f"{res}x{res}_in0"] = UNetBlock(cout, cout, res_in=res, res_out=res,
                                                         attention=True, **kw)
                self.dec[f"{res}x{res}_in1"] = UNetBlock(cout, cout, res_in=res, res_out=res, **kw)
            else:
                self.dec[f"{res}x{res}_up"] = UNetBlock(cout, cout, res_in=res // 2, res_out=res,
                                                        up=True, **kw)
            for idx in range(num_blocks + 1):
                cin, cout = cout + skips.pop(), model_channels * mult
                self.dec[f"{res}x{res}_block{idx}"] = UNetBlock(
                    cin, cout, res_in=res, res_out=res, attention=res in attn_resolutions, **kw)
        self.out_norm = make_norm(last_norm, cout, img_resolution)
        self.out_conv = Conv2d(cout, out_channels, 3, zero=True)

    def forward(self, x, c_noise):
        emb = positional_embedding(c_noise, self.model_channels)
        emb = F.silu(self.map_layer0(emb))
        emb = F.silu(self.map_layer1(emb))
        skips = []
        for block in self.enc.values():
            x = block(x, emb) if isinstance(block, UNetBlock) else block(x)
            skips.append(x)
        for block in self.dec.values():
            if x.shape[1] != block.in_channels:
                x = torch.cat([x, skips.pop()], dim=1)
            x = block(x, emb)
        return self.out_conv(F.silu(self.out_norm(x)))


# ----------------------------------------------------------------------------------------------
# DiT (facebookresearch/DiT models.py, timm Attention/Mlp/PatchEmbed names), unconditional.


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class PatchEmbed(nn.Module):
    """timm PatchEmbed: Conv p x p stride p (C -> D, bias), tokens in row-major (h, w) order."""

    def __init__(self, img_size, patch_size, in_chans, embed_dim):
        super().__init__()
        self.patch_size = (patch_size, patch_size)
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    """256-dim [cos, sin] embedding, freqs exp(-ln(10000) i / 128), then Linear, SiLU, Linear."""

    def __init__(self, hidden_size, frequency_embedding_size=256):
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(nn.Linear(frequency_embedding_size, hidden_size), nn.SiLU(),
                                 nn.Linear(hidden_size, hidden_size))

    @staticmethod
    def timestep_embedding(t, dim, max_period=10000):
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=t.dtype) / half)
        args = t[:, None] * freqs[None]
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)

    def forward(self, t):
        return self.mlp(self.timestep_embedding(t, self.frequency_embedding_size))


class LabelEmbedder(nn.Module):
    """DiT LabelEmbedder; unconditional with class dropout > 0 leaves one row, the null label."""

    def __init__(self, num_classes, hidden_size, dropout_prob=0.1):
        super().__init__()
        self.num_classes = num_classes
        self.embedding_table = nn.Embedding(num_classes + (dropout_prob > 0), hidden_size)

    def forward(self, labels):
        return self.embedding_table(labels)


class Attention(nn.Module):
    """timm Attention(qkv_bias=True, qk_norm): qkv [B,N,3,heads,hd], per-head LayerNorm(hd) on
    q and k (affine, eps 1e-5), softmax(q k^T / sqrt(hd)) v, heads concatenated, proj."""

    def __init__(self, dim, num_heads, qk_norm=True):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.q_norm = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        att = (q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)).softmax(dim=-1)
        x = (att @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    """timm Mlp: fc1, act, fc2 (no dropout)."""

    def __init__(self, in_features, hidden_features, act):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU(approximate="tanh") if act == "gelu" else nn.ReLU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    """adaLN-Zero block: norms are LayerNorm without affine, eps 1e-6."""

    def __init__(self, hidden_size, num_heads, mlp_ratio=4.0, act="gelu", qk_norm=True):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads, qk_norm=qk_norm)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio), act)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x, c):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate1.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift1, scale1))
        x = x + gate2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift2, scale2))
        return x


class FinalLayer(nn.Module):
    def __init__(self, hidden_size, patch_size, out_channels):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


def sincos_pos_embed_2d(embed_dim, grid_size):
    """MAE fixed 2-D sin-cos table [grid^2, D]: token t = (row i, col j); the first D/2 dims encode
    the column j, the last D/2 the row i, each as [sin(p w), cos(p w)], w_k = 10000^(-k/(D/4))."""
    quarter = embed_dim // 4
    omega = 1.0 / 10000 ** (np.arange(quarter, dtype=np.float64) / quarter)
    rows, cols = np.meshgrid(np.arange(grid_size), np.arange(grid_size), indexing="ij")

    def one_axis(pos):
        out = np.outer(pos.reshape(-1).astype(np.float64), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    return np.concatenate([one_axis(cols), one_axis(rows)], axis=1)


class DiT(nn.Module):
    """Unconditional DiT (learn_sigma False): out channels = in channels, label table of 1 row.

    act "gelu" (tanh approximation, DiT default) or "relu" (sLCT scripts); qk_norm False drops
    q_norm/k_norm only (norm1, norm2, norm_final stay)."""

    def __init__(self, input_size=32, patch_size=2, in_channels=4, hidden_size=768, depth=12,
                 num_heads=12, mlp_ratio=4.0, act="gelu", qk_norm=True):
        super().__init__()
        if act not in ("gelu", "relu"):
            raise ValueError(f"act must be 'gelu' or 'relu', got {act!r}")
        self.config = dict(arch="DiT", input_size=input_size, patch_size=patch_size,
                           in_channels=in_channels, hidden_size=hidden_size, depth=depth,
                           num_heads=num_heads, mlp_ratio=mlp_ratio, act=act, qk_norm=qk_norm)
        self.in_channels = in_channels
        self.out_channels = in_channels
        self.patch_size = patch_size
        self.x_embedder = PatchEmbed(input_size, patch_size, in_channels, hidden_size)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.y_embedder = LabelEmbedder(0, hidden_size, 0.1)
        n = self.x_embedder.num_patches
        self.pos_embed = nn.Parameter(torch.zeros(1, n, hidden_size), requires_grad=False)
        self.blocks = nn.ModuleList([DiTBlock(hidden_size, num_heads, mlp_ratio, act, qk_norm)
                                     for _ in range(depth)])
        self.final_layer = FinalLayer(hidden_size, patch_size, self.out_channels)
        self.initialize_weights()

    def initialize_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        grid = int(round(self.x_embedder.num_patches ** 0.5))
        pe = sincos_pos_embed_2d(self.pos_embed.shape[-1], grid)
        self.pos_embed.data.copy_(torch.from_numpy(pe).float().unsqueeze(0))
        w = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)  # sLCT's DiT zeroes it (DiT keeps conv default)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def unpatchify(self, x):
        c, p = self.out_channels, self.patch_size
        h = w = int(round(x.shape[1] ** 0.5))
        x = x.reshape(x.shape[0], h, w, p, p, c)
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(x.shape[0], c, h * p, w * p)

    def forward(self, x, c_noise):
        x = self.x_embedder(x) + self.pos_embed
        y = torch.zeros(x.shape[0], dtype=torch.long)  # the null label, the table's only row
        c = self.t_embedder(c_noise) + self.y_embedder(y)
        for block in self.blocks:
            x = block(x, c)
        return self.unpatchify(self.final_layer(x, c))


# ----------------------------------------------------------------------------------------------
# Consistency parameterisation (ALGORITHM.md 3), for either network: net(x, c_noise).


def consistency_coeffs(sigma, sigma_min=SIGMA_MIN, sigma_data=SIGMA_DATA):
    """c_skip, c_out, c_in, c_noise for a [B] tensor of sigmas (each returned as [B])."""
    sd2 = sigma_data ** 2
    c_skip = sd2 / ((sigma - sigma_min) ** 2 + sd2)
    c_out = (sigma - sigma_min) * sigma_data / (sigma ** 2 + sd2).sqrt()
    c_in = 1 / (sigma ** 2 + sd2).sqrt()
    c_noise = 1000 * 0.25 * torch.log(sigma + 1e-44)
    return c_skip, c_out, c_in, c_noise


def consistency(net, x, sigma, sigma_min=SIGMA_MIN, sigma_data=SIGMA_DATA):
    """Returns (f, F): f(x, sigma) = c_skip x + c_out F and the raw F(c_in x, c_noise)."""
    c_skip, c_out, c_in, c_noise = consistency_coeffs(sigma, sigma_min, sigma_data)
    r = lambda t: t.reshape(-1, 1, 1, 1)  # noqa: E731
    out = net(r(c_in) * x, c_noise)
    return r(c_skip) * x + r(c_out) * out, out


# ----------------------------------------------------------------------------------------------
# Parameter counts.


def count_params(model):
    """(trainable, frozen) numbers of parameter elements (buffers excluded)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return trainable, frozen


def paper_unet(norm="nsln"):
    """The Table-1 network: 128 channels, mult 1,2,3,4, 4 blocks, attention at 16 and 8, 4x32x32."""
    return DhariwalUNet(32, 4, 4, model_channels=128, channel_mult=(1, 2, 3, 4),
                        channel_mult_emb=4, num_blocks=4, attn_resolutions=(16, 8), norm=norm)


DIT_SIZES = {"S": (12, 384, 6), "B": (12, 768, 12), "L": (24, 1024, 16), "XL": (28, 1152, 16)}


def dit_model(size, patch, input_size=32, **kw):
    depth, hidden, heads = DIT_SIZES[size]
    return DiT(input_size=input_size, patch_size=patch, in_channels=4, hidden_size=hidden,
               depth=depth, num_heads=heads, **kw)


# ----------------------------------------------------------------------------------------------
# Independent NumPy float64 implementation, used only by the self-check. It walks the network
# from its config (not from the torch modules) and reads parameters by state_dict name.


def _np_silu(x):
    return x / (1 + np.exp(-x))


def _np_conv(x, w, b):
    """Same-padded 2-D cross-correlation as a sum over kernel taps of shifted windows."""
    k = w.shape[-1]
    pad = k // 2
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(k):
        for j in range(k):
            out += np.einsum("bchw,oc->bohw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return out + b.reshape(1, -1, 1, 1)


def _np_norm(kind, x, p, prefix):
    g, b = p[prefix + "weight"], p[prefix + "bias"]
    n, c = x.shape[:2]
    if kind == "groupnorm":
        groups = min(32, c // 4)
        xs = x.reshape(n, groups, -1)
        mean = xs.mean(axis=2, keepdims=True)
        var = ((xs - mean) ** 2).mean(axis=2, keepdims=True)
        y = ((xs - mean) / np.sqrt(var + 1e-5)).reshape(x.shape)
        return y * g.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)
    xs = x.reshape(n, -1)
    mean = xs.mean(axis=1, keepdims=True)
    var = ((xs - mean) ** 2).mean(axis=1, keepdims=True)
    y = ((xs - mean) / np.sqrt(var + 1e-5)).reshape(x.shape)
    if kind == "nsln":
        assert np.all(g == 1.0), prefix + "weight of a non-scaling LayerNorm must stay 1"
        return y + b[None]
    return y * g[None] + b[None]


def _np_softmax(z, axis):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _np_unet_block(p, pre, x, emb, cout, heads, norm, up=False, down=False):
    def resample(t):
        if down:
            n, c, h, w = t.shape
            return t.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
        if up:
            return t.repeat(2, axis=2).repeat(2, axis=3)
        return t

    h = resample(_np_silu(_np_norm(norm, x, p, pre + "norm0.")))
    h = _np_conv(h, p[pre + "conv0.weight"], p[pre + "conv0.bias"])
    ab = emb @ p[pre + "affine.weight"].T + p[pre + "affine.bias"]
    scale, shift = ab[:, :cout, None, None], ab[:, cout:, None, None]
    h = _np_silu(_np_norm(norm, h, p, pre + "norm1.") * (scale + 1) + shift)
    h = _np_conv(h, p[pre + "conv1.weight"], p[pre + "conv1.bias"])
    if pre + "skip.weight" in p:
        h = h + _np_conv(resample(x), p[pre + "skip.weight"], p[pre + "skip.bias"])
    else:
        h = h + resample(x)
    if heads:
        n, c, hh, ww = h.shape
        qkv = _np_conv(_np_norm(norm, h, p, pre + "norm2."), p[pre + "qkv.weight"],
                       p[pre + "qkv.bias"]).reshape(n, 3 * c, hh * ww)
        cph = c // heads
        a = np.zeros((n, c, hh * ww))
        for bi in range(n):
            for hd in range(heads):
                # channel (hd*cph + ch) of q, k, v sits at qkv channel 3*(hd*cph + ch) + {0,1,2}
                idx = 3 * (hd * cph + np.arange(cph))
                q, k, v = qkv[bi, idx], qkv[bi, idx + 1], qkv[bi, idx + 2]  # [cph, HW]
                wgt = _np_softmax(q.T @ k / math.sqrt(cph), axis=1)  # [HWq, HWk]
                a[bi, hd * cph:(hd + 1) * cph] = v @ wgt.T
        h = h + _np_conv(a.reshape(n, c, hh, ww), p[pre + "proj.weight"], p[pre + "proj.bias"])
    return h


def np_unet_forward(cfg, p, x, c_noise):
    mc, cph, norm = cfg["model_channels"], cfg["channels_per_head"], cfg["norm"]
    half = mc // 2
    freqs = (1.0 / 10000) ** (np.arange(half) / half)
    e = np.outer(c_noise, freqs)
    emb = np.concatenate([np.cos(e), np.sin(e)], axis=1)
    emb = _np_silu(emb @ p["map_layer0.weight"].T + p["map_layer0.bias"])
    emb = _np_silu(emb @ p["map_layer1.weight"].T + p["map_layer1.bias"])
    mults, nb, attn = cfg["channel_mult"], cfg["num_blocks"], cfg["attn_resolutions"]
    skips = []
    for level, mult in enumerate(mults):
        res = cfg["img_resolution"] >> level
        c = mc * mult
        if level == 0:
            x = _np_conv(x, p[f"enc.{res}x{res}_conv.weight"], p[f"enc.{res}x{res}_conv.bias"])
        else:
            x = _np_unet_block(p, f"enc.{res}x{res}_down.", x, emb, x.shape[1], 0, norm, down=True)
        skips.append(x)
        for i in range(nb):
            heads = c // cph if res in attn else 0
            x = _np_unet_block(p, f"enc.{res}x{res}_block{i}.", x, emb, c, heads, norm)
            skips.append(x)
    for level in reversed(range(len(mults))):
        res = cfg["img_resolution"] >> level
        c = mc * mults[level]
        if level == len(mults) - 1:
            cc = x.shape[1]
            x = _np_unet_block(p, f"dec.{res}x{res}_in0.", x, emb, cc, cc // cph, norm)
            x = _np_unet_block(p, f"dec.{res}x{res}_in1.", x, emb, cc, 0, norm)
        else:
            x = _np_unet_block(p, f"dec.{res}x{res}_up.", x, emb, x.shape[1], 0, norm, up=True)
        for i in range(nb + 1):
            x = np.concatenate([x, skips.pop()], axis=1)
            heads = c // cph if res in attn else 0
            x = _np_unet_block(p, f"dec.{res}x{res}_block{i}.", x, emb, c, heads, norm)
    assert not skips
    x = _np_silu(_np_norm(cfg["last_norm"], x, p, "out_norm."))
    return _np_conv(x, p["out_conv.weight"], p["out_conv.bias"])


def _np_layernorm(x, eps, g=None, b=None):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    return y if g is None else y * g + b


def np_dit_forward(cfg, p, x, c_noise):
    pt, d, heads = cfg["patch_size"], cfg["hidden_size"], cfg["num_heads"]
    n, cin, hh, ww = x.shape
    gh, gw = hh // pt, ww // pt
    # patch (i, j) flattened in (c, u, v) order = the conv weight's [D, C, p, p] layout
    patches = x.reshape(n, cin, gh, pt, gw, pt).transpose(0, 2, 4, 1, 3, 5).reshape(n, gh * gw, -1)
    wpe = p["x_embedder.proj.weight"].reshape(d, -1)
    tok = patches @ wpe.T + p["x_embedder.proj.bias"]
    # own construction of the sin-cos table: token t = i*gw + j
    quarter = d // 4
    om = 1.0 / 10000 ** (np.arange(quarter) / quarter)
    pe = np.zeros((gh * gw, d))
    for i in range(gh):
        for j in range(gw):
            t = i * gw + j
            pe[t] = np.concatenate([np.sin(j * om), np.cos(j * om), np.sin(i * om), np.cos(i * om)])
    assert np.allclose(pe, p["pos_embed"][0], atol=1e-6), "pos_embed differs from the MAE table"
    tok = tok + p["pos_embed"][0]  # the stored (float32-rounded) table, checked just above
    freqs = np.exp(-math.log(10000) * np.arange(128) / 128)
    a = np.outer(c_noise, freqs)
    temb = np.concatenate([np.cos(a), np.sin(a)], axis=1)
    temb = _np_silu(temb @ p["t_embedder.mlp.0.weight"].T + p["t_embedder.mlp.0.bias"])
    temb = temb @ p["t_embedder.mlp.2.weight"].T + p["t_embedder.mlp.2.bias"]
    c = temb + p["y_embedder.embedding_table.weight"][0]
    sc = _np_silu(c)
    hd = d // heads
    for bi in range(cfg["depth"]):
        pre = f"blocks.{bi}."
        mod = sc @ p[pre + "adaLN_modulation.1.weight"].T + p[pre + "adaLN_modulation.1.bias"]
        s1, c1, g1, s2, c2, g2 = [mod[:, k * d:(k + 1) * d, None].transpose(0, 2, 1)
                                  for k in range(6)]
        h = _np_layernorm(tok, 1e-6) * (1 + c1) + s1
        qkv = h @ p[pre + "attn.qkv.weight"].T + p[pre + "attn.qkv.bias"]  # [n, T, 3D]
        out = np.zeros_like(h)
        for b_ in range(n):
            for k in range(heads):
                q = qkv[b_, :, k * hd:(k + 1) * hd]
                kk = qkv[b_, :, d + k * hd:d + (k + 1) * hd]
                v = qkv[b_, :, 2 * d + k * hd:2 * d + (k + 1) * hd]
                if cfg["qk_norm"]:
                    q = _np_layernorm(q, 1e-5, p[pre + "attn.q_norm.weight"],
                                      p[pre + "attn.q_norm.bias"])
                    kk = _np_layernorm(kk, 1e-5, p[pre + "attn.k_norm.weight"],
                                       p[pre + "attn.k_norm.bias"])
                out[b_, :, k * hd:(k + 1) * hd] = _np_softmax(q @ kk.T / math.sqrt(hd), 1) @ v
        out = out @ p[pre + "attn.proj.weight"].T + p[pre + "attn.proj.bias"]
        tok = tok + g1 * out
        h = _np_layernorm(tok, 1e-6) * (1 + c2) + s2
        h = h @ p[pre + "mlp.fc1.weight"].T + p[pre + "mlp.fc1.bias"]
        if cfg["act"] == "gelu":
            h = 0.5 * h * (1 + np.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h ** 3)))
        else:
            h = np.maximum(h, 0)
        h = h @ p[pre + "mlp.fc2.weight"].T + p[pre + "mlp.fc2.bias"]
        tok = tok + g2 * h
    pre = "final_layer.adaLN_modulation.1."
    mod = sc @ p[pre + "weight"].T + p[pre + "bias"]
    shift, scale = mod[:, None, :d], mod[:, None, d:]
    h = _np_layernorm(tok, 1e-6) * (1 + scale) + shift
    h = h @ p["final_layer.linear.weight"].T + p["final_layer.linear.bias"]  # [n, T, p*p*C]
    out = np.zeros((n, cin, hh, ww))
    for i in range(gh):
        for j in range(gw):
            blk = h[:, i * gw + j].reshape(n, pt, pt, cin)  # (u, v, c) order
            out[:, :, i * pt:(i + 1) * pt, j * pt:(j + 1) * pt] = blk.transpose(0, 3, 1, 2)
    return out


def np_consistency(forward, cfg, p, x, sigma):
    sd2 = SIGMA_DATA ** 2
    c_skip = sd2 / ((sigma - SIGMA_MIN) ** 2 + sd2)
    c_out = (sigma - SIGMA_MIN) * SIGMA_DATA / np.sqrt(sigma ** 2 + sd2)
    c_in = 1 / np.sqrt(sigma ** 2 + sd2)
    out = forward(cfg, p, c_in[:, None, None, None] * x, 250.0 * np.log(sigma))
    return c_skip[:, None, None, None] * x + c_out[:, None, None, None] * out, out


# ----------------------------------------------------------------------------------------------
# Self-check.


def perturb_(model, gen, rel=0.1, zero_rel=0.5):
    """Moves every trainable parameter off its structured init so that no gradient vanishes:
    s = 1/sqrt(fan_in) (fan_in = numel / shape[0]) for weights of >= 2 dims outside norms,
    s = 0.2 for biases and norm parameters; all-zero tensors get zero_rel*s*N(0,1), the others
    += rel*s*N(0,1). Frozen parameters (NsLN gamma, DiT pos_embed) are left exact."""
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if not prm.requires_grad:
                continue
            if prm.dim() >= 2 and "norm" not in name:
                s = 1.0 / math.sqrt(prm.numel() / prm.shape[0])
            else:
                s = 0.2
            noise = torch.randn(prm.shape, generator=gen, dtype=torch.float64).to(prm.dtype)
            if torch.count_nonzero(prm) == 0:
                prm.copy_(zero_rel * s * noise)
            else:
                prm.add_(rel * s * noise)


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _tiny_models():
    unet_kw = dict(img_resolution=8, in_channels=4, out_channels=4, model_channels=16,
                   channel_mult=(1, 2), channel_mult_emb=4, num_blocks=1, attn_resolutions=(4,),
                   channels_per_head=8)
    models = [DhariwalUNet(norm=n, **unet_kw) for n in NORM_KINDS]
    models.append(DhariwalUNet(norm="groupnorm", last_norm="nsln", **unet_kw))
    for act, qk in (("gelu", True), ("relu", False)):
        models.append(DiT(input_size=8, patch_size=2, in_channels=4, hidden_size=32, depth=2,
                          num_heads=2, mlp_ratio=4.0, act=act, qk_norm=qk))
    return models


def selftest(verbose=True):
    """Returns the number of failed checks (each check prints one PASS/FAIL line)."""
    fails = 0

    def check(ok, what):
        nonlocal fails
        fails += 0 if ok else 1
        if verbose or not ok:
            print(("PASS " if ok else "FAIL ") + what)

    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(99)
    for model in _tiny_models():
        cfg = model.config
        tag = f"{cfg['arch']} {cfg.get('norm', '')}/{cfg.get('last_norm', '')}".strip() \
            if cfg["arch"] == "DhariwalUNet" else f"DiT act={cfg['act']} qk_norm={cfg['qk_norm']}"
        perturb_(model, gen)
        model = model.double()
        # state_dict round trip into a fresh instance
        twin = (DhariwalUNet if cfg["arch"] == "DhariwalUNet" else DiT)(
            **{k: v for k, v in cfg.items() if k != "arch"}).double()
        res = twin.load_state_dict(model.state_dict(), strict=True)
        same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                     twin.state_dict().values()))
        check(not res.missing_keys and not res.unexpected_keys and same,
              f"{tag}: state_dict round-trips ({len(model.state_dict())} entries)")
        want = {f"{n}.weight" for n, m in model.named_modules()
                if isinstance(m, NonScalingLayerNorm) and not m.weight.requires_grad}
        if cfg["arch"] == "DiT":
            want.add("pos_embed")
        frozen = {n for n, q in model.named_parameters() if not q.requires_grad}
        n_nsln = 0
        if cfg["arch"] == "DhariwalUNet":
            blocks = [b for b in model.modules() if isinstance(b, UNetBlock)]
            if cfg["norm"] == "nsln":
                n_nsln += sum(3 if b.num_heads else 2 for b in blocks)
            n_nsln += cfg["last_norm"] == "nsln"
        frozen_ok = frozen == want and len(want) == n_nsln + (cfg["arch"] == "DiT")
        check(frozen_ok, f"{tag}: only NsLN gammas / pos_embed are frozen")

        x = torch.randn(2, 4, 8, 8, dtype=torch.float64, generator=gen)
        sigma = torch.tensor([0.01, 5.0], dtype=torch.float64)
        x = 0.5 * x + sigma.reshape(-1, 1, 1, 1) * torch.randn(x.shape, dtype=torch.float64,
                                                               generator=gen)
        with torch.no_grad():
            f, out = consistency(model, x, sigma)
        p = {k: v.numpy() for k, v in model.state_dict().items()}
        fwd = np_unet_forward if cfg["arch"] == "DhariwalUNet" else np_dit_forward
        nf, nout = np_consistency(fwd, cfg, p, x.numpy(), sigma.numpy())
        e1, e2 = rel_err(out.numpy(), nout), rel_err(f.numpy(), nf)
        check(e1 < 1e-12 and e2 < 1e-12,
              f"{tag}: torch vs independent numpy float64, rel err F {e1:.1e} f {e2:.1e}")

        # f(x, sigma_min) = x exactly (c_skip = 1, c_out = 0)
        with torch.no_grad():
            f0, _ = consistency(model, x, torch.full((2,), SIGMA_MIN, dtype=torch.float64))
        check(torch.equal(f0, x), f"{tag}: f(x, sigma_min) == x")

        # autograd against a central difference along a random direction of all parameters
        params = [q for q in model.parameters() if q.requires_grad]
        r = torch.randn(x.shape, dtype=torch.float64, generator=gen)
        loss = (consistency(model, x, sigma)[0] * r).sum()
        grads = torch.autograd.grad(loss, params)
        dirs = [torch.randn(q.shape, dtype=torch.float64, generator=gen) for q in params]
        analytic = sum((g * d).sum() for g, d in zip(grads, dirs)).item()
        eps = 1e-6
        with torch.no_grad():
            vals = []
            for sgn in (1, -1):
                for q, d in zip(params, dirs):
                    q.add_(sgn * eps * d)
                vals.append((consistency(model, x, sigma)[0] * r).sum().item())
                for q, d in zip(params, dirs):
                    q.sub_(sgn * eps * d)
        numeric = (vals[0] - vals[1]) / (2 * eps)
        e = abs(numeric - analytic) / max(abs(analytic), 1e-12)
        check(e < 1e-6, f"{tag}: directional derivative, autograd {analytic:.6g} "
                        f"vs central difference {numeric:.6g} (rel {e:.1e})")
        # a key bias shifts all logits of a query equally: softmax ignores it, its gradient is 0
        names = [n for n, q in model.named_parameters() if q.requires_grad]
        gmax = max(float(g.abs().max()) for g in grads)
        live = [n for n, g in zip(names, grads) if float(g.abs().max()) > 1e-10 * gmax]
        expect = [n for n in names if not n.endswith("k_norm.bias")]
        check(live == expect, f"{tag}: {len(live)}/{len(names)} parameter gradients are non-zero "
                              f"(all but attn.k_norm.bias)")

    # the paper network's parameter counts (ALGORITHM.md 2A)
    t, fz = count_params(paper_unet("nsln"))
    check(t == 158_355_972 and fz == 7_112_704,
          f"paper U-Net NsLN: {t:,} trainable + {fz:,} frozen (want 158,355,972 + 7,112,704)")
    t, fz = count_params(paper_unet("groupnorm"))
    check(t == 151_325_956 and fz == 0, f"paper U-Net GroupNorm: {t:,} (want 151,325,956)")
    print(f"{fails} check(s) failed" if fails else "all self-checks passed")
    return fails


if __name__ == "__main__":
    sys.exit(1 if selftest() else 0)
