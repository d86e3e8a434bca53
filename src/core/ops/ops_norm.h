/* ops_norm.h — normalisation, attention, embedding and token-layout ops (declarations;
 * included by ops.h). Implementations: norm.c, attention.c, embed.c, tokens.c.
 *
 * Layouts: images NCHW, tokens (B, T, D), attention heads (B, heads, T, dh). All inputs must be
 * contiguous; every output is a new contiguous arena tensor. eps is a parameter everywhere
 * (NsLN/GroupNorm/U-Net LayerNorm 1e-5; DiT norm1/norm2/final 1e-6; timm qk-norm
 * nn.LayerNorm(64) default 1e-5).
 */
#ifndef LCTW_OPS_NORM_H
#define LCTW_OPS_NORM_H

#include "../autograd.h"

#define LCTW_OP_LIST_NORM(X)                                                                       \
    X(norm_chw)                                                                                    \
    X(layer_norm)                                                                                  \
    X(group_norm)                                                                                  \
    X(softmax)                                                                                     \
    X(attention)                                                                                   \
    X(attention_tokens)                                                                            \
    X(attention_unet)                                                                              \
    X(split_heads)                                                                                 \
    X(merge_heads)                                                                                 \
    X(chunk)                                                                                       \
    X(timestep_embedding)                                                                          \
    X(modulate)                                                                                    \
    X(gate_add)                                                                                    \
    X(patchify)                                                                                    \
    X(unpatchify)

/* ---- normalisation (norm.c) ---- */

/* Per-sample normalisation over all trailing elements: x (N, …) — for images (N, C, H, W) the
 * statistics run over all C·H·W elements of one sample (biased variance):
 *   y = (x − mean)/√(var + eps) · γ + β,   γ, β of shape x.shape[1:] (element-wise), or NULL.
 * γ = NULL, β given: the Non-scaling LayerNorm (NsLN, ALGORITHM.md §2A).
 * γ and β given: nn.LayerNorm([C, H, W]) (the U-Net "layernorm" option). */
lctw_status lctw_op_norm_chw(lctw_ctx *c, lctw_tensor *x, lctw_tensor *gamma, lctw_tensor *beta,
                             float eps, lctw_tensor **y);
/* nn.LayerNorm(D) over the last dim of x (…, D); γ, β of shape (D) or NULL (no affine:
 * DiT norm1/norm2/final with eps 1e-6; qk-norm LayerNorm(64) with affine). */
lctw_status lctw_op_layer_norm(lctw_ctx *c, lctw_tensor *x, lctw_tensor *gamma, lctw_tensor *beta,
                               float eps, lctw_tensor **y);
/* nn.GroupNorm(groups, C): x (N, C, …), statistics per (sample, group of C/groups channels),
 * γ, β of shape (C) or NULL. */
lctw_status lctw_op_group_norm(lctw_ctx *c, lctw_tensor *x, int64_t groups, lctw_tensor *gamma,
                               lctw_tensor *beta, float eps, lctw_tensor **y);

/* ---- softmax and attention (attention.c) ---- */

/* softmax over the last dim (max-subtracted, fp32) */
lctw_status lctw_op_softmax(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y);
/* Scaled dot-product attention per (batch, head): q (B, H, Tq, dh), k (B, H, Tk, dh),
 * v (B, H, Tk, dv) → out (B, H, Tq, dv) = softmax(q kᵀ/√dh) v. */
lctw_status lctw_op_attention(lctw_ctx *c, lctw_tensor *q, lctw_tensor *k, lctw_tensor *v,
                              lctw_tensor **out);
/* DiT / timm self-attention without qk-norm, fused: qkv (B, T, 3D) viewed as
 * (B, T, 3, heads, dh) → out (B, T, D) = attention per head, heads concatenated on D (timm's
 * x.transpose(1, 2).reshape(B, T, D)); dh = D/heads. With qk-norm use split_heads ×3,
 * layer_norm on q and k, attention, merge_heads. */
lctw_status lctw_op_attention_tokens(lctw_ctx *c, lctw_tensor *qkv, int64_t heads,
                                     lctw_tensor **out);
/* EDM U-Net self-attention: qkv (B, 3C, H, W) — the output of the 1×1 qkv conv — reshaped to
 * (B·heads, C/heads, 3, H·W) (q, k, v interleaved per channel: channel (h·dc + i)·3 + s is
 * part s of channel i of head h); w = softmax_k(qᵀk/√dc), a = v·wᵀ; out (B, C, H, W) with
 * channel h·dc + i (ALGORITHM.md §2A step 4). */
lctw_status lctw_op_attention_unet(lctw_ctx *c, lctw_tensor *qkv, int64_t heads, lctw_tensor **out);

/* ---- token layout (tokens.c) ---- */

/* x (B, T, n·D) viewed as (B, T, n, heads, dh) → part `part` (0-based; q = 0, k = 1, v = 2 for
 * timm's qkv) as (B, heads, T, dh). */
lctw_status lctw_op_split_heads(lctw_ctx *c, lctw_tensor *x, int64_t n, int64_t part, int64_t heads,
                                lctw_tensor **y);
/* x (B, H, T, dh) → (B, T, H·dh) */
lctw_status lctw_op_merge_heads(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y);
/* torch.chunk(x, n, dim)[i] (copied): dim must divide into n equal parts. Splits the adaLN
 * output (B, 6D) into shift/scale/gate, the FiLM (B, 2C) into scale/shift. */
lctw_status lctw_op_chunk(lctw_ctx *c, lctw_tensor *x, int dim, int64_t n, int64_t i,
                          lctw_tensor **y);
/* Broadcast over positions of a per-(sample, feature) shift and scale:
 *   y = x·(1 + scale) + shift
 * x (B, T, D) with shift, scale (B, D): DiT adaLN modulate (broadcast over T);
 * x (B, C, H, W) with shift, scale (B, C): U-Net FiLM h·(scale + 1) + shift (over H, W);
 * x (B, D) with (B, D): no broadcast. Either may be NULL (scale NULL: broadcast add). */
lctw_status lctw_op_modulate(lctw_ctx *c, lctw_tensor *x, lctw_tensor *shift, lctw_tensor *scale,
                             lctw_tensor **y);
/* out = x + gate ⊙ y, gate (B, D) broadcast like modulate (adaLN-Zero residual). */
lctw_status lctw_op_gate_add(lctw_ctx *c, lctw_tensor *x, lctw_tensor *gate, lctw_tensor *y,
                             lctw_tensor **out);
/* x (B, C, H, W) → (B, T, C·p·p), T = (H/p)(W/p) tokens in row-major (h', w') order; element
 * c·p² + i·p + j of token (h', w') is x[c, h'p + i, w'p + j]: this (C, p, p) order is the
 * flattened Conv2d(C, D, p, stride p) weight, so linear(patchify(x), W.view(D, C·p·p), b)
 * equals the DiT patch embedding. */
lctw_status lctw_op_patchify(lctw_ctx *c, lctw_tensor *x, int64_t p, lctw_tensor **y);
/* x (B, T, p·p·C) → (B, C, gh·p, gw·p), gw = T/gh (gh = 0: square grid): DiT unpatchify,
 * einsum "nhwpqc->nchpwq": element (i·p + j)·C + c of token (h', w') goes to
 * out[c, h'p + i, w'p + j] — note the (p, p, C) order, unlike patchify's (C, p, p). */
lctw_status lctw_op_unpatchify(lctw_ctx *c, lctw_tensor *x, int64_t p, int64_t gh, lctw_tensor **y);

/* ---- embeddings (embed.c) ---- */

/* Sinusoidal noise embedding of c_noise (= 250·ln σ, one per sample): t (B) → (B, dim),
 * out[b, j] = cos(t_b f_j), out[b, dim/2 + j] = sin(t_b f_j), f_j = max_period^(−j/(dim/2)).
 * EDM PositionalEmbedding: dim 128, max_period 10000; DiT TimestepEmbedder: dim 256, 10000.
 * Differentiable in t (d/dt is cheap), though nothing upstream needs it. */
lctw_status lctw_op_timestep_embedding(lctw_ctx *c, lctw_tensor *t, int64_t dim, double max_period,
                                       lctw_tensor **y);
/* Fixed 2-D sin-cos positional embedding of a gh×gw token grid (MAE / DiT recipe), a new CPU
 * heap tensor (gh·gw, D), D divisible by 4. Token m = row·gw + col. The first D/2 dims encode
 * the column (w) coordinate, the last D/2 the row (h); each half is [sin(pos·ω_k), cos(pos·ω_k)]
 * for k < D/4 with ω_k = 10000^(−k/(D/4)), computed in double. Not an op (no inputs). */
lctw_status lctw_sincos_pos_embed_2d(lctw_tensor **out, int64_t D, int64_t gh, int64_t gw);

#endif
