/* dit.c — the unconditional DiT of ALGORITHM.md §2B as a forward-only composition of ops (the
 * tape gives the backward). Reference: scripts/lctw_ref.py (facebookresearch/DiT models.py with
 * timm's Attention/Mlp; parameter names are that state_dict's).
 *
 *   tok = patchify(x)·W_peᵀ + b_pe + pos_embed,  W_pe = Conv2d weight (D, C, p, p) as (D, C·p²)
 *   c   = mlp2(SiLU(mlp0(temb_256(c_noise)))) + table[0]   (unconditional: one "null" row)
 *   per block (adaLN-Zero), with (sh1, sc1, g1, sh2, sc2, g2) = chunk6(Linear_D→6D(SiLU(c))):
 *     tok += g1 ⊙ proj(Attn(LN(tok)·(1 + sc1) + sh1))
 *     tok += g2 ⊙ fc2(act(fc1(LN(tok)·(1 + sc2) + sh2)))
 *   out = unpatchify(linear(LN(tok)·(1 + sc) + sh)),  (sh, sc) = chunk2(Linear_D→2D(SiLU(c)))
 *
 * LN: LayerNorm without affine, eps 1e-6. Attn: timm Attention(qkv_bias=True), optional qk-norm
 * (per-head nn.LayerNorm(dh), affine, eps 1e-5) through split_heads → layer_norm → attention →
 * merge_heads; without qk-norm the fused attention_tokens reads q, k, v straight out of qkv.
 * Every activation is an arena tensor, so a training step allocates nothing once warm.
 */
#include "dit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/ops/ops.h"
#include "core/tmath.h"
#include "io/json.h"

#define DIT_LN_EPS 1e-6f            /* norm1, norm2, norm_final */
#define DIT_QK_EPS 1e-5f            /* nn.LayerNorm(head_dim) default */
#define DIT_FREQ_DIM 256            /* TimestepEmbedder.frequency_embedding_size */
#define DIT_INIT_STREAM 0x44695400u /* "DiT\0": the rng stream of the initialisation */

typedef struct {
    int w, b;
} lin_ix; /* parameter indices of a Linear */

typedef struct {
    lin_ix qkv, proj, fc1, fc2, ada;
    int qn_w, qn_b, kn_w, kn_b; /* −1 without qk-norm */
} dit_block;

typedef struct {
    lctw_dit_config cfg;
    int64_t gh, gw, T, mlp_hidden; /* token grid, tokens, MLP width */
    int pos;                       /* pos_embed (1, T, D), frozen */
    lin_ix pe, t0, t2, final_lin, final_ada;
    int table; /* y_embedder.embedding_table.weight (1, D) */
    dit_block *blocks;
} dit_impl;

static const struct {
    const char *name;
    int depth, hidden, heads;
} dit_sizes[] = {{"S", 12, 384, 6}, {"B", 12, 768, 12}, {"L", 24, 1024, 16}, {"XL", 28, 1152, 16}};

static const char *act_name(lctw_act_kind a) { return a == LCTW_ACT_RELU ? "relu" : "gelu"; }

/* ---- configuration ---- */

lctw_status lctw_dit_config_size(lctw_dit_config *cfg, const char *size, int patch, int in_ch,
                                 int height, int width) {
    for (size_t i = 0; i < sizeof dit_sizes / sizeof dit_sizes[0]; i++) {
        if (!size || strcasecmp(size, dit_sizes[i].name)) continue;
        memset(cfg, 0, sizeof *cfg);
        cfg->in_ch = in_ch;
        cfg->height = height;
        cfg->width = width;
        cfg->patch = patch;
        cfg->hidden = dit_sizes[i].hidden;
        cfg->depth = dit_sizes[i].depth;
        cfg->heads = dit_sizes[i].heads;
        cfg->mlp_ratio = 4.0;
        cfg->act = LCTW_ACT_GELU;
        cfg->qk_norm = 1;
        return lctw_dit_config_check(cfg);
    }
    return LCTW_FAIL(LCTW_EINVAL, "DiT size '%s' is unknown: use S, B, L or XL",
                     size ? size : "(none)");
}

static int64_t mlp_width(const lctw_dit_config *cfg) {
    return (int64_t)((double)cfg->hidden * cfg->mlp_ratio); /* int(hidden · ratio), as timm */
}

lctw_status lctw_dit_config_check(const lctw_dit_config *cfg) {
    if (cfg->in_ch < 1 || cfg->in_ch > 4096)
        return LCTW_FAIL(LCTW_EINVAL, "DiT: in_ch must be in 1..4096, got %d", cfg->in_ch);
    if (cfg->height < 1 || cfg->width < 1 || cfg->height > 65536 || cfg->width > 65536)
        return LCTW_FAIL(LCTW_EINVAL, "DiT: input size %d×%d must be in 1..65536 on each side",
                         cfg->height, cfg->width);
    if (cfg->patch < 1 || cfg->patch > 64)
        return LCTW_FAIL(LCTW_EINVAL, "DiT: patch must be in 1..64 (2, 4 or 8 in §2B), got %d",
                         cfg->patch);
    if (cfg->height % cfg->patch || cfg->width % cfg->patch)
        return LCTW_FAIL(LCTW_EINVAL, "DiT: input %d×%d is not divisible into %d×%d patches",
                         cfg->height, cfg->width, cfg->patch, cfg->patch);
    if (cfg->hidden < 4 || cfg->hidden > 65536 || cfg->hidden % 4)
        return LCTW_FAIL(LCTW_EINVAL,
                         "DiT: hidden must be a multiple of 4 in 4..65536 (the 2-D sin-cos "
                         "position table splits it in quarters), got %d",
                         cfg->hidden);
    if (cfg->heads < 1 || cfg->hidden % cfg->heads)
        return LCTW_FAIL(LCTW_EINVAL, "DiT: hidden %d does not split into %d heads", cfg->hidden,
                         cfg->heads);
    if (cfg->depth < 1 || cfg->depth > 1024)
        return LCTW_FAIL(LCTW_EINVAL, "DiT: depth must be in 1..1024, got %d", cfg->depth);
    if (!(cfg->mlp_ratio > 0.0) || cfg->mlp_ratio > 64.0 || mlp_width(cfg) < 1)
        return LCTW_FAIL(LCTW_EINVAL,
                         "DiT: mlp_ratio %g gives an MLP width of %lld for hidden %d; it must be "
                         "in (0, 64] and the width at least 1",
                         cfg->mlp_ratio, (long long)mlp_width(cfg), cfg->hidden);
    if (cfg->act != LCTW_ACT_GELU && cfg->act != LCTW_ACT_RELU)
        return LCTW_FAIL(LCTW_EINVAL, "DiT: act must be gelu (%d) or relu (%d), got %d",
                         LCTW_ACT_GELU, LCTW_ACT_RELU, (int)cfg->act);
    if (cfg->qk_norm != 0 && cfg->qk_norm != 1)
        return LCTW_FAIL(LCTW_EINVAL, "DiT: qk_norm must be 0 or 1, got %d", cfg->qk_norm);
    return LCTW_OK;
}

/* ---- forward ---- */

static lctw_tensor *P(lctw_model *m, int i) { return lctw_params_get(&m->params, i); }

static lctw_status lin(lctw_model *m, lctw_ctx *c, lctw_tensor *x, lin_ix l, lctw_tensor **y) {
    return lctw_op_linear(c, x, P(m, l.w), P(m, l.b), y);
}

/* x (B, T, D): the attention branch of a block, before the gate. */
static lctw_status attn_branch(lctw_model *m, dit_impl *d, const dit_block *bk, lctw_ctx *c,
                               lctw_tensor *h, lctw_tensor **out) {
    int64_t H = d->cfg.heads;
    lctw_tensor *qkv, *a;
    LCTW_TRY(lin(m, c, h, bk->qkv, &qkv)); /* (B, T, 3D) = (B, T, 3, H, dh) */
    if (d->cfg.qk_norm) {
        lctw_tensor *q, *k, *v, *qn, *kn, *o;
        LCTW_TRY(lctw_op_split_heads(c, qkv, 3, 0, H, &q)); /* (B, H, T, dh) */
        LCTW_TRY(lctw_op_split_heads(c, qkv, 3, 1, H, &k));
        LCTW_TRY(lctw_op_split_heads(c, qkv, 3, 2, H, &v));
        LCTW_TRY(lctw_op_layer_norm(c, q, P(m, bk->qn_w), P(m, bk->qn_b), DIT_QK_EPS, &qn));
        LCTW_TRY(lctw_op_layer_norm(c, k, P(m, bk->kn_w), P(m, bk->kn_b), DIT_QK_EPS, &kn));
        LCTW_TRY(lctw_op_attention(c, qn, kn, v, &o));
        LCTW_TRY(lctw_op_merge_heads(c, o, &a)); /* (B, T, D) */
    } else {
        LCTW_TRY(lctw_op_attention_tokens(c, qkv, H, &a));
    }
    return lin(m, c, a, bk->proj, out);
}

static lctw_status block_forward(lctw_model *m, dit_impl *d, const dit_block *bk, lctw_ctx *c,
                                 lctw_tensor *x, lctw_tensor *sc, lctw_tensor **out) {
    lctw_tensor *mod, *ch[6], *h, *hm, *a, *x1, *f;
    LCTW_TRY(lin(m, c, sc, bk->ada, &mod)); /* (B, 6D) */
    for (int i = 0; i < 6; i++)             /* shift1, scale1, gate1, shift2, scale2, gate2 */
        LCTW_TRY(lctw_op_chunk(c, mod, 1, 6, i, &ch[i]));
    LCTW_TRY(lctw_op_layer_norm(c, x, NULL, NULL, DIT_LN_EPS, &h));
    LCTW_TRY(lctw_op_modulate(c, h, ch[0], ch[1], &hm));
    LCTW_TRY(attn_branch(m, d, bk, c, hm, &a));
    LCTW_TRY(lctw_op_gate_add(c, x, ch[2], a, &x1));
    LCTW_TRY(lctw_op_layer_norm(c, x1, NULL, NULL, DIT_LN_EPS, &h));
    LCTW_TRY(lctw_op_modulate(c, h, ch[3], ch[4], &hm));
    LCTW_TRY(lin(m, c, hm, bk->fc1, &f)); /* (B, T, mlp) */
    if (d->cfg.act == LCTW_ACT_RELU)
        LCTW_TRY(lctw_op_relu(c, f, &h));
    else
        LCTW_TRY(lctw_op_gelu_tanh(c, f, &h));
    LCTW_TRY(lin(m, c, h, bk->fc2, &f));
    return lctw_op_gate_add(c, x1, ch[5], f, out);
}

/* tok (B, T, D) += pos_embed (1, T, D), in place. pos_embed is a frozen constant and linear's
 * backward reads only its input, weight and output gradient, so adding a constant to the linear
 * output changes no gradient: no broadcast-add op and no copy are needed. */
static lctw_status add_pos_embed(lctw_ctx *c, lctw_tensor *tok, lctw_tensor *pos) {
    int64_t B = tok->shape[0], TD = tok->shape[1] * tok->shape[2];
    int64_t shape[2] = {B, TD}, bstride[2] = {0, 1};
    lctw_tensor *t2, *p2;
    LCTW_TRY(lctw_arena_view(&c->arena, &t2, tok, 2, shape));
    LCTW_TRY(lctw_arena_strided(&c->arena, &p2, pos, 2, shape, bstride, pos->offset));
    return lctw_binary(t2, t2, p2, LCTW_BIN_ADD);
}

static lctw_status dit_net_forward(lctw_model *m, lctw_ctx *c, lctw_tensor *x, lctw_tensor *c_noise,
                                   lctw_tensor **y) {
    dit_impl *d = m->impl;
    const lctw_dit_config *cfg = &d->cfg;
    char s1[96], s2[96];
    if (x->ndim != 4 || x->shape[1] != cfg->in_ch || x->shape[2] != cfg->height ||
        x->shape[3] != cfg->width) {
        int64_t want[4] = {x->ndim ? x->shape[0] : 0, cfg->in_ch, cfg->height, cfg->width};
        return LCTW_FAIL(LCTW_ESHAPE, "DiT input is %s, expected %s (B×C×H×W)",
                         lctw_tensor_shape_str(s1, sizeof s1, x),
                         lctw_shape_str(s2, sizeof s2, 4, want));
    }
    int64_t B = x->shape[0], D = cfg->hidden, p = cfg->patch;
    if (c_noise->ndim != 1 || c_noise->shape[0] != B)
        return LCTW_FAIL(LCTW_ESHAPE, "DiT c_noise is %s, expected one value per sample (%lld)",
                         lctw_tensor_shape_str(s1, sizeof s1, c_noise), (long long)B);

    /* patch embedding: Conv2d(C, D, p, stride p) = linear on (C, p, p)-ordered patches */
    lctw_tensor *patches, *wpe, *tok, *temb, *t1, *t1s, *row, *bias2, *cvec, *sc;
    int64_t wshape[2] = {D, (int64_t)cfg->in_ch * p * p}, dshape[1] = {D};
    LCTW_TRY(lctw_op_patchify(c, x, p, &patches));
    LCTW_TRY(lctw_op_view(c, P(m, d->pe.w), 2, wshape, &wpe));
    LCTW_TRY(lctw_op_linear(c, patches, wpe, P(m, d->pe.b), &tok));
    LCTW_TRY(add_pos_embed(c, tok, P(m, d->pos)));

    /* conditioning c = t_embedder(c_noise) + table[0]; the row joins mlp.2's bias so the sum
     * costs one D-vector add instead of a (B, D) broadcast */
    LCTW_TRY(lctw_op_timestep_embedding(c, c_noise, DIT_FREQ_DIM, 10000.0, &temb));
    LCTW_TRY(lin(m, c, temb, d->t0, &t1));
    LCTW_TRY(lctw_op_silu(c, t1, &t1s));
    LCTW_TRY(lctw_op_view(c, P(m, d->table), 1, dshape, &row));
    LCTW_TRY(lctw_op_add(c, P(m, d->t2.b), row, &bias2));
    LCTW_TRY(lctw_op_linear(c, t1s, P(m, d->t2.w), bias2, &cvec));
    LCTW_TRY(lctw_op_silu(c, cvec, &sc)); /* every adaLN_modulation starts with SiLU(c) */

    for (int i = 0; i < cfg->depth; i++)
        LCTW_TRY(block_forward(m, d, &d->blocks[i], c, tok, sc, &tok));

    lctw_tensor *mod, *shift, *scale, *h, *hm, *o;
    LCTW_TRY(lin(m, c, sc, d->final_ada, &mod)); /* (B, 2D) */
    LCTW_TRY(lctw_op_chunk(c, mod, 1, 2, 0, &shift));
    LCTW_TRY(lctw_op_chunk(c, mod, 1, 2, 1, &scale));
    LCTW_TRY(lctw_op_layer_norm(c, tok, NULL, NULL, DIT_LN_EPS, &h));
    LCTW_TRY(lctw_op_modulate(c, h, shift, scale, &hm));
    LCTW_TRY(lin(m, c, hm, d->final_lin, &o)); /* (B, T, p·p·C), (p, p, C) order */
    return lctw_op_unpatchify(c, o, p, d->gh, y);
}

/* ---- initialisation (§2B; DiT initialize_weights) ---- */

static lctw_status fill_uniform_sym(lctw_tensor *t, lctw_rng *r, double bound) {
    LCTW_TRY(lctw_fill_uniform(t, r)); /* u ∈ (0, 1) → (2u − 1)·bound */
    LCTW_TRY(lctw_binary_scalar(t, t, (float)(2.0 * bound), LCTW_BIN_MUL, 0));
    return lctw_binary_scalar(t, t, (float)-bound, LCTW_BIN_ADD, 0);
}

static lctw_status fill_normal_std(lctw_tensor *t, lctw_rng *r, double std) {
    LCTW_TRY(lctw_fill_normal(t, r));
    return lctw_binary_scalar(t, t, (float)std, LCTW_BIN_MUL, 0);
}

/* xavier_uniform on a (out, in) view: U(±√(6 / (fan_in + fan_out))); the bias 0. */
static lctw_status init_xavier(lctw_model *m, lin_ix l, lctw_rng *r) {
    const lctw_param *p = &m->params.p[l.w];
    int64_t fan_out = p->shape[0], fan_in = p->numel / fan_out;
    LCTW_TRY(fill_uniform_sym(P(m, l.w), r, sqrt(6.0 / (double)(fan_in + fan_out))));
    return lctw_fill(P(m, l.b), 0.0f);
}

static lctw_status init_zero(lctw_model *m, lin_ix l) {
    LCTW_TRY(lctw_fill(P(m, l.w), 0.0f));
    return lctw_fill(P(m, l.b), 0.0f);
}

static lctw_status dit_init(lctw_model *m, uint64_t seed) {
    dit_impl *d = m->impl;
    lctw_rng r = {seed, 0, DIT_INIT_STREAM};
    /* pos_embed: the fixed MAE table, computed in double on the CPU, copied to the device */
    lctw_tensor *pe;
    LCTW_TRY(lctw_sincos_pos_embed_2d(&pe, d->cfg.hidden, d->gh, d->gw));
    lctw_status s = lctw_tensor_copy(P(m, d->pos), pe);
    lctw_tensor_release(pe);
    LCTW_TRY(s);
    LCTW_TRY(init_xavier(m, d->pe, &r)); /* on the flattened (D, C·p²) conv weight */
    LCTW_TRY(fill_normal_std(P(m, d->t0.w), &r, 0.02));
    LCTW_TRY(lctw_fill(P(m, d->t0.b), 0.0f));
    LCTW_TRY(fill_normal_std(P(m, d->t2.w), &r, 0.02));
    LCTW_TRY(lctw_fill(P(m, d->t2.b), 0.0f));
    LCTW_TRY(fill_normal_std(P(m, d->table), &r, 0.02));
    for (int i = 0; i < d->cfg.depth; i++) {
        const dit_block *bk = &d->blocks[i];
        LCTW_TRY(init_xavier(m, bk->qkv, &r));
        if (d->cfg.qk_norm) {
            LCTW_TRY(lctw_fill(P(m, bk->qn_w), 1.0f));
            LCTW_TRY(lctw_fill(P(m, bk->qn_b), 0.0f));
            LCTW_TRY(lctw_fill(P(m, bk->kn_w), 1.0f));
            LCTW_TRY(lctw_fill(P(m, bk->kn_b), 0.0f));
        }
        LCTW_TRY(init_xavier(m, bk->proj, &r));
        LCTW_TRY(init_xavier(m, bk->fc1, &r));
        LCTW_TRY(init_xavier(m, bk->fc2, &r));
        LCTW_TRY(init_zero(m, bk->ada)); /* adaLN-Zero */
    }
    LCTW_TRY(init_zero(m, d->final_ada));
    return init_zero(m, d->final_lin);
}

/* ---- construction ---- */

static void dit_describe(const lctw_model *m, char *buf, size_t n) {
    const dit_impl *d = m->impl;
    const lctw_dit_config *cfg = &d->cfg;
    char size[32] = "";
    for (size_t i = 0; i < sizeof dit_sizes / sizeof dit_sizes[0]; i++)
        if (dit_sizes[i].depth == cfg->depth && dit_sizes[i].hidden == cfg->hidden &&
            dit_sizes[i].heads == cfg->heads && cfg->mlp_ratio == 4.0)
            snprintf(size, sizeof size, " (DiT-%s/%d)", dit_sizes[i].name, cfg->patch);
    snprintf(buf, n,
             "DiT%s: input %d×%d×%d, patch %d → %lld×%lld = %lld tokens, hidden %d, depth %d, "
             "%d heads of %d, MLP %lld (%s), qk-norm %s, adaLN-Zero; %lld trainable + %lld "
             "frozen parameters (pos_embed)",
             size, cfg->in_ch, cfg->height, cfg->width, cfg->patch, (long long)d->gh,
             (long long)d->gw, (long long)d->T, cfg->hidden, cfg->depth, cfg->heads,
             cfg->hidden / cfg->heads, (long long)d->mlp_hidden,
             cfg->act == LCTW_ACT_RELU ? "ReLU" : "GELU-tanh", cfg->qk_norm ? "on" : "off",
             (long long)m->params.trainable, (long long)(m->params.total - m->params.trainable));
}

static void dit_free_impl(lctw_model *m) {
    dit_impl *d = m->impl;
    if (d) free(d->blocks);
    free(d);
    m->impl = NULL;
}

static const lctw_model_vt dit_vt = {
    .kind = "dit",
    .net_forward = dit_net_forward,
    .init = dit_init,
    .describe = dit_describe,
    .free_impl = dit_free_impl,
};

static lctw_status add_lin(lctw_params *ps, lin_ix *l, int64_t out, int64_t in, const char *pre) {
    int64_t ws[2] = {out, in}, bs[1] = {out};
    LCTW_TRY(lctw_params_addf(ps, &l->w, 1, 2, ws, "%s.weight", pre));
    return lctw_params_addf(ps, &l->b, 1, 1, bs, "%s.bias", pre);
}

/* Declares every parameter in PyTorch's named_parameters() order. */
static lctw_status declare(lctw_params *ps, dit_impl *d) {
    const lctw_dit_config *cfg = &d->cfg;
    int64_t D = cfg->hidden, C = cfg->in_ch, p = cfg->patch, dh = D / cfg->heads;
    int64_t pos_s[3] = {1, d->T, D}, pe_s[4] = {D, C, p, p}, pe_b[1] = {D}, tab_s[2] = {1, D};
    int64_t qk_s[1] = {dh};
    char pre[64];
    LCTW_TRY(lctw_params_add(ps, "pos_embed", 3, pos_s, 0, &d->pos));
    LCTW_TRY(lctw_params_add(ps, "x_embedder.proj.weight", 4, pe_s, 1, &d->pe.w));
    LCTW_TRY(lctw_params_add(ps, "x_embedder.proj.bias", 1, pe_b, 1, &d->pe.b));
    LCTW_TRY(add_lin(ps, &d->t0, D, DIT_FREQ_DIM, "t_embedder.mlp.0"));
    LCTW_TRY(add_lin(ps, &d->t2, D, D, "t_embedder.mlp.2"));
    LCTW_TRY(lctw_params_add(ps, "y_embedder.embedding_table.weight", 2, tab_s, 1, &d->table));
    for (int i = 0; i < cfg->depth; i++) {
        dit_block *bk = &d->blocks[i];
        snprintf(pre, sizeof pre, "blocks.%d.attn.qkv", i);
        LCTW_TRY(add_lin(ps, &bk->qkv, 3 * D, D, pre));
        bk->qn_w = bk->qn_b = bk->kn_w = bk->kn_b = -1;
        if (cfg->qk_norm) {
            LCTW_TRY(
                lctw_params_addf(ps, &bk->qn_w, 1, 1, qk_s, "blocks.%d.attn.q_norm.weight", i));
            LCTW_TRY(lctw_params_addf(ps, &bk->qn_b, 1, 1, qk_s, "blocks.%d.attn.q_norm.bias", i));
            LCTW_TRY(
                lctw_params_addf(ps, &bk->kn_w, 1, 1, qk_s, "blocks.%d.attn.k_norm.weight", i));
            LCTW_TRY(lctw_params_addf(ps, &bk->kn_b, 1, 1, qk_s, "blocks.%d.attn.k_norm.bias", i));
        }
        snprintf(pre, sizeof pre, "blocks.%d.attn.proj", i);
        LCTW_TRY(add_lin(ps, &bk->proj, D, D, pre));
        snprintf(pre, sizeof pre, "blocks.%d.mlp.fc1", i);
        LCTW_TRY(add_lin(ps, &bk->fc1, d->mlp_hidden, D, pre));
        snprintf(pre, sizeof pre, "blocks.%d.mlp.fc2", i);
        LCTW_TRY(add_lin(ps, &bk->fc2, D, d->mlp_hidden, pre));
        snprintf(pre, sizeof pre, "blocks.%d.adaLN_modulation.1", i);
        LCTW_TRY(add_lin(ps, &bk->ada, 6 * D, D, pre));
    }
    LCTW_TRY(add_lin(ps, &d->final_lin, p * p * C, D, "final_layer.linear"));
    return add_lin(ps, &d->final_ada, 2 * D, D, "final_layer.adaLN_modulation.1");
}

/* The reference's constructor arguments (as in the fixtures' "config"), plus height/width. */
static lctw_status config_json(const lctw_dit_config *cfg, char **out) {
    lctw_json_writer w;
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_begin_object(&w);
    lctw_json_writer_key(&w, "arch");
    lctw_json_writer_string(&w, "DiT");
    if (cfg->height == cfg->width) {
        lctw_json_writer_key(&w, "input_size");
        lctw_json_writer_int(&w, cfg->height);
    }
    lctw_json_writer_key(&w, "height");
    lctw_json_writer_int(&w, cfg->height);
    lctw_json_writer_key(&w, "width");
    lctw_json_writer_int(&w, cfg->width);
    lctw_json_writer_key(&w, "patch_size");
    lctw_json_writer_int(&w, cfg->patch);
    lctw_json_writer_key(&w, "in_channels");
    lctw_json_writer_int(&w, cfg->in_ch);
    lctw_json_writer_key(&w, "hidden_size");
    lctw_json_writer_int(&w, cfg->hidden);
    lctw_json_writer_key(&w, "depth");
    lctw_json_writer_int(&w, cfg->depth);
    lctw_json_writer_key(&w, "num_heads");
    lctw_json_writer_int(&w, cfg->heads);
    lctw_json_writer_key(&w, "mlp_ratio");
    lctw_json_writer_number(&w, cfg->mlp_ratio);
    lctw_json_writer_key(&w, "act");
    lctw_json_writer_string(&w, act_name(cfg->act));
    lctw_json_writer_key(&w, "qk_norm");
    lctw_json_writer_bool(&w, cfg->qk_norm);
    lctw_json_writer_end_object(&w);
    return lctw_json_writer_finish(&w, out, NULL);
}

/* The impl's geometry and block table (parameters not declared yet). */
static lctw_status impl_new(dit_impl **out, const lctw_dit_config *cfg) {
    dit_impl *d = calloc(1, sizeof *d);
    *out = d;
    if (!d) return LCTW_FAIL(LCTW_ENOMEM, "DiT: out of memory");
    d->cfg = *cfg;
    d->gh = cfg->height / cfg->patch;
    d->gw = cfg->width / cfg->patch;
    d->T = d->gh * d->gw;
    d->mlp_hidden = mlp_width(cfg);
    d->blocks = calloc((size_t)cfg->depth, sizeof *d->blocks);
    if (!d->blocks) return LCTW_FAIL(LCTW_ENOMEM, "DiT: out of memory for %d blocks", cfg->depth);
    return LCTW_OK;
}

static lctw_status dit_build(lctw_model *m, const lctw_dit_config *cfg, lctw_device dev,
                             uint64_t seed) {
    dit_impl *d;
    lctw_status s = impl_new(&d, cfg);
    m->impl = d;
    LCTW_TRY(s);
    LCTW_TRY(config_json(cfg, &m->config_json));
    LCTW_TRY(declare(&m->params, d));
    LCTW_TRY(lctw_params_finalize(&m->params, dev));
    return dit_init(m, seed);
}

lctw_status lctw_dit_count_params(const lctw_dit_config *cfg, int64_t *trainable, int64_t *frozen) {
    LCTW_TRY(lctw_dit_config_check(cfg));
    dit_impl *d;
    lctw_params ps;
    lctw_params_init(&ps);
    lctw_status s = impl_new(&d, cfg);
    if (s == LCTW_OK) s = declare(&ps, d);
    if (s == LCTW_OK) {
        if (trainable) *trainable = ps.trainable;
        if (frozen) *frozen = ps.total - ps.trainable;
    }
    lctw_params_release(&ps);
    if (d) free(d->blocks);
    free(d);
    return s;
}

lctw_status lctw_dit_new(lctw_model **out, const lctw_dit_config *cfg, lctw_device dev,
                         uint64_t seed) {
    *out = NULL;
    LCTW_TRY(lctw_dit_config_check(cfg));
    lctw_model *m = calloc(1, sizeof *m);
    if (!m) return LCTW_FAIL(LCTW_ENOMEM, "DiT: out of memory");
    m->vt = &dit_vt;
    lctw_params_init(&m->params);
    m->in_ch = cfg->in_ch;
    m->height = cfg->height;
    m->width = cfg->width;
    lctw_status s = dit_build(m, cfg, dev, seed);
    if (s != LCTW_OK) {
        lctw_model_free(m);
        return s;
    }
    *out = m;
    return LCTW_OK;
}
