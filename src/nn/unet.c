/* unet.c — the paper's network, EDM's DhariwalUNet (ADM) with selectable norms, as a forward-only
 * composition of ops (ALGORITHM.md §2A; scripts/lctw_ref.py DhariwalUNet). The tape gives the
 * backward.
 *
 *   emb = SiLU(map_layer1(SiLU(map_layer0([cos(c·f), sin(c·f)])))),  f_j = 10000^(−j/(mc/2))
 *   enc: {r}x{r}_conv (level 0) or {r}x{r}_down, then {r}x{r}_block0..nb−1; every output pushed
 *   dec: {r}x{r}_in0 (attention), _in1 at the lowest level, else {r}x{r}_up; then
 *        {r}x{r}_block0..nb, each after concatenating [x, popped skip] on channels
 *   out: out_conv(SiLU(out_norm(x)))
 *
 * UNetBlock(x, emb), skip_scale 1, adaptive_scale:
 *   h = conv0(resample(SiLU(norm0(x))))                 resample: down = 2×2 mean, up = nearest 2×
 *   (scale, shift) = chunk(affine(emb), 2)              scale first
 *   h = conv1(SiLU(norm1(h)·(scale + 1) + shift)) + skip(x)   skip: resample, then 1×1 if cin≠cout
 *   attention: h += proj(attention_unet(qkv(norm2(h)), cout / channels_per_head))
 *
 * Norms: nsln = per-sample normalisation over C·H·W with an element-wise β ∈ ℝ^{C×H×W}; its γ is
 * stored (frozen ones, the reference state_dict has it) but not multiplied in, since it is 1 by
 * definition; layernorm = the same with a trainable γ; groupnorm = GroupNorm(min(32, C/4)),
 * per-channel γ, β. All eps 1e-5.
 *
 * Parameters are declared in PyTorch's named_parameters() order (map_layer0/1, enc, dec,
 * out_norm, out_conv; per block norm0, conv0, affine, norm1, conv1, skip, norm2, qkv, proj), so
 * the flat buffer and a reference checkpoint list the same tensors in the same order.
 *
 * Initialisation (EDM): every conv/linear weight and bias ~ U(±1/√fan_in) (fan_in = in·k²), zero
 * for conv1, proj and out_conv, norms γ = 1, β = 0. Element e of the flat parameter buffer draws
 * uniform number e of Philox stream UNET_INIT_STREAM under the seed: deterministic, independent
 * of the device and of the order in which parameters are filled.
 */
#include "unet.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops/ops.h"
#include "core/rng.h"
#include "io/json.h"

#define UNET_EPS 1e-5f
#define UNET_MAX_PERIOD 10000.0
#define UNET_INIT_STREAM 0x696e6974u /* "init" */
#define UNET_MAX_CH (1 << 20)        /* sanity bound on any channel count */
#define UNET_MAX_BLOCKS 1000         /* per level */

enum { INIT_UNIFORM = 0, INIT_ZERO, INIT_ONE };

typedef struct {
    int w, b; /* parameter indices, −1 when absent */
} wb_idx;

typedef struct {
    lctw_norm_kind kind;
    int64_t groups; /* groupnorm */
    int w, b;       /* γ (frozen for nsln), β */
} unorm;

typedef struct {
    char name[48]; /* "enc.16x16_block0" */
    int cin, cout, res_in, res_out;
    int up, down, heads;
    int concat; /* decoder *_block*: x = [x, popped skip] first */
    unorm norm0, norm1, norm2;
    wb_idx conv0, affine, conv1, skip, qkv, proj;
} ublock;

typedef struct {
    lctw_unet_config cfg;
    int emb_ch;
    wb_idx map0, map1, in_conv;
    ublock *blocks;
    int n_blocks, n_enc; /* encoder blocks first (after in_conv), then the decoder */
    unorm out_norm;
    wb_idx out_conv;
    int max_skips;
    lctw_tensor **skips; /* the skip stack of one forward (arena tensors) */
    /* init rule per parameter */
    unsigned char *init_kind;
    int64_t *fan_in;
    int cap_init;
} unet;

const char *lctw_norm_name(lctw_norm_kind k) {
    switch (k) {
    case LCTW_NORM_NSLN: return "nsln";
    case LCTW_NORM_GROUPNORM: return "groupnorm";
    case LCTW_NORM_LAYERNORM: return "layernorm";
    }
    return "?";
}

static int norm_from_name(const char *s, lctw_norm_kind *k) {
    for (int i = LCTW_NORM_NSLN; i <= LCTW_NORM_LAYERNORM; i++)
        if (!strcmp(s, lctw_norm_name((lctw_norm_kind)i))) {
            *k = (lctw_norm_kind)i;
            return 1;
        }
    return 0;
}

static int norm_valid(lctw_norm_kind k) { return k >= LCTW_NORM_NSLN && k <= LCTW_NORM_LAYERNORM; }

static int64_t gn_groups(int64_t C) { return C / 4 < 32 ? C / 4 : 32; }

void lctw_unet_config_paper(lctw_unet_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->in_ch = 4;
    cfg->height = cfg->width = 32;
    cfg->model_channels = 128;
    cfg->n_levels = 4;
    for (int i = 0; i < 4; i++)
        cfg->channel_mult[i] = i + 1;
    cfg->channel_mult_emb = 4;
    cfg->num_blocks = 4;
    cfg->n_attn = 2;
    cfg->attn_res[0] = 16;
    cfg->attn_res[1] = 8;
    cfg->channels_per_head = 64;
    cfg->norm = cfg->last_norm = LCTW_NORM_NSLN;
}

/* ---- the block plan (shared by the check and the builder) ---- */

static int has_attn(const lctw_unet_config *cfg, int res) {
    for (int i = 0; i < cfg->n_attn; i++)
        if (cfg->attn_res[i] == res) return 1;
    return 0;
}

static int plan_count(const lctw_unet_config *cfg) {
    int L = cfg->n_levels, nb = cfg->num_blocks;
    return (L - 1) + L * nb + 2 + (L - 1) + L * (nb + 1);
}

static void plan_block(ublock *b, int cin, int cout, int res_in, int res_out, int up, int down,
                       int attn, const char *fmt, ...) __attribute__((format(printf, 9, 10)));
static void plan_block(ublock *b, int cin, int cout, int res_in, int res_out, int up, int down,
                       int attn, const char *fmt, ...) {
    memset(b, 0, sizeof *b);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->name, sizeof b->name, fmt, ap);
    va_end(ap);
    b->cin = cin;
    b->cout = cout;
    b->res_in = res_in;
    b->res_out = res_out;
    b->up = up;
    b->down = down;
    b->heads = attn; /* 1 = with attention; the head count is set by the caller */
}

/* Fills blk (plan_count entries) in module order; *n_enc receives the encoder count. Assumes the
 * scalar fields were validated (levels, resolution, channels). */
static void plan_blocks(const lctw_unet_config *cfg, ublock *blk, int *n_enc, int *skip_ch) {
    int mc = cfg->model_channels, H = cfg->height, L = cfg->n_levels, nb = cfg->num_blocks;
    int n = 0, ns = 0, cout = cfg->in_ch;
    for (int level = 0; level < L; level++) {
        int res = H >> level, ch = mc * cfg->channel_mult[level];
        if (level == 0) {
            cout = ch;
        } else {
            plan_block(&blk[n++], cout, cout, 2 * res, res, 0, 1, 0, "enc.%dx%d_down", res, res);
        }
        skip_ch[ns++] = cout;
        for (int i = 0; i < nb; i++) {
            plan_block(&blk[n++], cout, ch, res, res, 0, 0, has_attn(cfg, res), "enc.%dx%d_block%d",
                       res, res, i);
            cout = ch;
            skip_ch[ns++] = cout;
        }
    }
    *n_enc = n;
    for (int level = L - 1; level >= 0; level--) {
        int res = H >> level, ch = mc * cfg->channel_mult[level];
        if (level == L - 1) {
            plan_block(&blk[n++], cout, cout, res, res, 0, 0, 1, "dec.%dx%d_in0", res, res);
            plan_block(&blk[n++], cout, cout, res, res, 0, 0, 0, "dec.%dx%d_in1", res, res);
        } else {
            plan_block(&blk[n++], cout, cout, res / 2, res, 1, 0, 0, "dec.%dx%d_up", res, res);
        }
        for (int i = 0; i <= nb; i++) {
            plan_block(&blk[n++], cout + skip_ch[--ns], ch, res, res, 0, 0, has_attn(cfg, res),
                       "dec.%dx%d_block%d", res, res, i);
            blk[n - 1].concat = 1;
            cout = ch;
        }
    }
}

static lctw_status check_norm_channels(const lctw_unet_config *cfg, lctw_norm_kind kind, int64_t C,
                                       const char *where) {
    if (kind != LCTW_NORM_GROUPNORM) return LCTW_OK;
    int64_t g = gn_groups(C);
    if (g < 1 || C % g)
        return LCTW_FAIL(LCTW_EINVAL,
                         "unet config: groupnorm of %s has %lld channels, which do not split into "
                         "min(32, C/4) = %lld groups",
                         where, (long long)C, (long long)g);
    return LCTW_OK;
}

lctw_status lctw_unet_config_check(const lctw_unet_config *cfg) {
    if (cfg->in_ch < 1 || cfg->in_ch > UNET_MAX_CH)
        return LCTW_FAIL(LCTW_EINVAL, "unet config: in_ch = %d, must be in 1..%d", cfg->in_ch,
                         UNET_MAX_CH);
    if (cfg->height < 1 || cfg->width < 1)
        return LCTW_FAIL(LCTW_EINVAL, "unet config: input %d×%d, height and width must be >= 1",
                         cfg->height, cfg->width);
    if (cfg->height != cfg->width)
        return LCTW_FAIL(LCTW_EINVAL,
                         "unet config: input %d×%d is not square (the U-Net has one "
                         "img_resolution)",
                         cfg->height, cfg->width);
    if (cfg->n_levels < 1 || cfg->n_levels > LCTW_UNET_MAX_LEVELS)
        return LCTW_FAIL(LCTW_EINVAL, "unet config: %d entries in channel_mult, must be 1..%d",
                         cfg->n_levels, LCTW_UNET_MAX_LEVELS);
    if (cfg->model_channels < 1 || cfg->model_channels > UNET_MAX_CH)
        return LCTW_FAIL(LCTW_EINVAL, "unet config: model_channels = %d, must be in 1..%d",
                         cfg->model_channels, UNET_MAX_CH);
    for (int i = 0; i < cfg->n_levels; i++)
        if (cfg->channel_mult[i] < 1 ||
            (int64_t)cfg->channel_mult[i] * cfg->model_channels > UNET_MAX_CH)
            return LCTW_FAIL(LCTW_EINVAL,
                             "unet config: channel_mult[%d] = %d, must be >= 1 (and "
                             "model_channels·mult <= %d)",
                             i + 1, cfg->channel_mult[i], UNET_MAX_CH);
    if (cfg->channel_mult_emb < 1 ||
        (int64_t)cfg->channel_mult_emb * cfg->model_channels > UNET_MAX_CH)
        return LCTW_FAIL(LCTW_EINVAL, "unet config: channel_mult_emb = %d, must be >= 1",
                         cfg->channel_mult_emb);
    if (cfg->model_channels % 2)
        return LCTW_FAIL(LCTW_EINVAL,
                         "unet config: model_channels = %d must be even (it is the width of the "
                         "[cos, sin] noise embedding)",
                         cfg->model_channels);
    if (cfg->num_blocks < 0 || cfg->num_blocks > UNET_MAX_BLOCKS)
        return LCTW_FAIL(LCTW_EINVAL, "unet config: num_blocks = %d, must be in 0..%d",
                         cfg->num_blocks, UNET_MAX_BLOCKS);
    int step = 1 << (cfg->n_levels - 1);
    if (cfg->height % step)
        return LCTW_FAIL(LCTW_EINVAL,
                         "unet config: resolution %d is not divisible by 2^(levels − 1) = %d "
                         "(%d levels)",
                         cfg->height, step, cfg->n_levels);
    if (cfg->n_attn < 0 || cfg->n_attn > LCTW_UNET_MAX_LEVELS)
        return LCTW_FAIL(LCTW_EINVAL, "unet config: %d attention resolutions, must be 0..%d",
                         cfg->n_attn, LCTW_UNET_MAX_LEVELS);
    for (int i = 0; i < cfg->n_attn; i++) {
        int r = cfg->attn_res[i], ok = 0;
        char list[128] = "";
        for (int l = 0; l < cfg->n_levels; l++) {
            size_t k = strlen(list);
            snprintf(list + k, sizeof list - k, "%s%d", l ? ", " : "", cfg->height >> l);
            ok |= (cfg->height >> l) == r;
        }
        if (!ok)
            return LCTW_FAIL(LCTW_EINVAL,
                             "unet config: attention resolution %d is not one of the U-Net's "
                             "resolutions (%s)",
                             r, list);
    }
    if (cfg->channels_per_head < 1)
        return LCTW_FAIL(LCTW_EINVAL, "unet config: channels_per_head = %d, must be >= 1",
                         cfg->channels_per_head);
    if (!norm_valid(cfg->norm))
        return LCTW_FAIL(LCTW_EINVAL,
                         "unet config: norm kind %d unknown (nsln, groupnorm or layernorm)",
                         (int)cfg->norm);
    if (!norm_valid(cfg->last_norm))
        return LCTW_FAIL(LCTW_EINVAL,
                         "unet config: last_norm kind %d unknown (nsln, groupnorm or layernorm)",
                         (int)cfg->last_norm);
    /* per block: head counts and GroupNorm channel splits */
    int nb = plan_count(cfg), n_enc;
    ublock *blk = malloc((size_t)nb * sizeof *blk);
    int *skip_ch = malloc((size_t)cfg->n_levels * (size_t)(cfg->num_blocks + 1) * sizeof *skip_ch);
    if (!blk || !skip_ch) {
        free(blk);
        free(skip_ch);
        return LCTW_FAIL(LCTW_ENOMEM, "unet config: out of memory");
    }
    plan_blocks(cfg, blk, &n_enc, skip_ch);
    lctw_status s = LCTW_OK;
    for (int i = 0; i < nb && s == LCTW_OK; i++) {
        const ublock *b = &blk[i];
        if (b->heads) {
            int heads = b->cout / cfg->channels_per_head;
            if (heads < 1)
                s = LCTW_FAIL(LCTW_EINVAL,
                              "unet config: %s has attention on %d channels, fewer than "
                              "channels_per_head = %d (EDM would silently drop the attention); "
                              "lower channels_per_head",
                              b->name, b->cout, cfg->channels_per_head);
            else if (b->cout % heads)
                s = LCTW_FAIL(LCTW_EINVAL,
                              "unet config: %s: %d channels do not split into %d heads "
                              "(channels / channels_per_head %d)",
                              b->name, b->cout, heads, cfg->channels_per_head);
        }
        char where[64];
        snprintf(where, sizeof where, "%s.norm0", b->name);
        if (s == LCTW_OK) s = check_norm_channels(cfg, cfg->norm, b->cin, where);
        snprintf(where, sizeof where, "%s.norm1", b->name);
        if (s == LCTW_OK) s = check_norm_channels(cfg, cfg->norm, b->cout, where);
    }
    if (s == LCTW_OK)
        s = check_norm_channels(cfg, cfg->last_norm,
                                (int64_t)cfg->model_channels * cfg->channel_mult[0], "out_norm");
    free(blk);
    free(skip_ch);
    return s;
}

/* ---- building ---- */

static lctw_status add_param(lctw_model *m, int *idx, int trainable, int kind, int64_t fan_in,
                             int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static lctw_status add_param(lctw_model *m, int *idx, int trainable, int kind, int64_t fan_in,
                             int ndim, const int64_t *shape, const char *fmt, ...) {
    unet *u = m->impl;
    char name[LCTW_PARAM_NAME + 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    LCTW_TRY(lctw_params_add(&m->params, name, ndim, shape, trainable, idx));
    if (*idx >= u->cap_init) {
        int cap = u->cap_init ? 2 * u->cap_init : 256;
        unsigned char *k = realloc(u->init_kind, (size_t)cap);
        if (k) u->init_kind = k;
        int64_t *f = realloc(u->fan_in, (size_t)cap * sizeof *f);
        if (f) u->fan_in = f;
        if (!k || !f) return LCTW_FAIL(LCTW_ENOMEM, "unet: out of memory");
        u->cap_init = cap;
    }
    u->init_kind[*idx] = (unsigned char)kind;
    u->fan_in[*idx] = fan_in;
    return LCTW_OK;
}

/* Conv2d(cin, cout, k) with bias, module `mod`. */
static lctw_status add_conv(lctw_model *m, wb_idx *p, const char *mod, int cin, int cout, int k,
                            int zero) {
    int64_t ws[4] = {cout, cin, k, k}, bs[1] = {cout}, fan = (int64_t)cin * k * k;
    int kind = zero ? INIT_ZERO : INIT_UNIFORM;
    LCTW_TRY(add_param(m, &p->w, 1, kind, fan, 4, ws, "%s.weight", mod));
    return add_param(m, &p->b, 1, kind, fan, 1, bs, "%s.bias", mod);
}

static lctw_status add_linear(lctw_model *m, wb_idx *p, const char *mod, int in, int out) {
    int64_t ws[2] = {out, in}, bs[1] = {out};
    LCTW_TRY(add_param(m, &p->w, 1, INIT_UNIFORM, in, 2, ws, "%s.weight", mod));
    return add_param(m, &p->b, 1, INIT_UNIFORM, in, 1, bs, "%s.bias", mod);
}

static lctw_status add_norm(lctw_model *m, unorm *n, const char *mod, lctw_norm_kind kind, int C,
                            int res) {
    n->kind = kind;
    n->groups = gn_groups(C);
    if (kind == LCTW_NORM_GROUPNORM) {
        int64_t s[1] = {C};
        LCTW_TRY(add_param(m, &n->w, 1, INIT_ONE, 0, 1, s, "%s.weight", mod));
        return add_param(m, &n->b, 1, INIT_ZERO, 0, 1, s, "%s.bias", mod);
    }
    int64_t s[3] = {C, res, res};
    LCTW_TRY(add_param(m, &n->w, kind == LCTW_NORM_LAYERNORM, INIT_ONE, 0, 3, s, "%s.weight", mod));
    return add_param(m, &n->b, 1, INIT_ZERO, 0, 3, s, "%s.bias", mod);
}

static lctw_status add_block(lctw_model *m, ublock *b) {
    const unet *u = m->impl;
    const lctw_unet_config *cfg = &u->cfg;
    char mod[96];
    b->skip = b->qkv = b->proj = (wb_idx){-1, -1};
    b->norm2.w = b->norm2.b = -1;
    snprintf(mod, sizeof mod, "%s.norm0", b->name);
    LCTW_TRY(add_norm(m, &b->norm0, mod, cfg->norm, b->cin, b->res_in));
    snprintf(mod, sizeof mod, "%s.conv0", b->name);
    LCTW_TRY(add_conv(m, &b->conv0, mod, b->cin, b->cout, 3, 0));
    snprintf(mod, sizeof mod, "%s.affine", b->name);
    LCTW_TRY(add_linear(m, &b->affine, mod, u->emb_ch, 2 * b->cout));
    snprintf(mod, sizeof mod, "%s.norm1", b->name);
    LCTW_TRY(add_norm(m, &b->norm1, mod, cfg->norm, b->cout, b->res_out));
    snprintf(mod, sizeof mod, "%s.conv1", b->name);
    LCTW_TRY(add_conv(m, &b->conv1, mod, b->cout, b->cout, 3, 1));
    if (b->cin != b->cout) { /* up/down blocks keep their width: their skip is a pure resample */
        snprintf(mod, sizeof mod, "%s.skip", b->name);
        LCTW_TRY(add_conv(m, &b->skip, mod, b->cin, b->cout, 1, 0));
    }
    if (b->heads) {
        b->heads = b->cout / cfg->channels_per_head;
        snprintf(mod, sizeof mod, "%s.norm2", b->name);
        LCTW_TRY(add_norm(m, &b->norm2, mod, cfg->norm, b->cout, b->res_out));
        snprintf(mod, sizeof mod, "%s.qkv", b->name);
        LCTW_TRY(add_conv(m, &b->qkv, mod, b->cout, 3 * b->cout, 1, 0));
        snprintf(mod, sizeof mod, "%s.proj", b->name);
        LCTW_TRY(add_conv(m, &b->proj, mod, b->cout, b->cout, 1, 1));
    }
    return LCTW_OK;
}

static lctw_status unet_build(lctw_model *m) {
    unet *u = m->impl;
    const lctw_unet_config *cfg = &u->cfg;
    int mc = cfg->model_channels, H = cfg->height;
    u->emb_ch = mc * cfg->channel_mult_emb;
    u->n_blocks = plan_count(cfg);
    u->max_skips = cfg->n_levels * (cfg->num_blocks + 1);
    u->blocks = calloc((size_t)u->n_blocks, sizeof *u->blocks);
    u->skips = calloc((size_t)u->max_skips, sizeof *u->skips);
    int *skip_ch = calloc((size_t)u->max_skips, sizeof *skip_ch);
    if (!u->blocks || !u->skips || !skip_ch) {
        free(skip_ch);
        return LCTW_FAIL(LCTW_ENOMEM, "unet: out of memory");
    }
    plan_blocks(cfg, u->blocks, &u->n_enc, skip_ch);
    free(skip_ch);
    LCTW_TRY(add_linear(m, &u->map0, "map_layer0", mc, u->emb_ch));
    LCTW_TRY(add_linear(m, &u->map1, "map_layer1", u->emb_ch, u->emb_ch));
    char mod[64];
    snprintf(mod, sizeof mod, "enc.%dx%d_conv", H, H);
    LCTW_TRY(add_conv(m, &u->in_conv, mod, cfg->in_ch, mc * cfg->channel_mult[0], 3, 0));
    for (int i = 0; i < u->n_blocks; i++)
        LCTW_TRY(add_block(m, &u->blocks[i]));
    int cout = mc * cfg->channel_mult[0];
    LCTW_TRY(add_norm(m, &u->out_norm, "out_norm", cfg->last_norm, cout, H));
    return add_conv(m, &u->out_conv, "out_conv", cout, cfg->in_ch, 3, 1);
}

/* ---- initialisation ---- */

static lctw_status unet_init(lctw_model *m, uint64_t seed) {
    const unet *u = m->impl;
    lctw_params *ps = &m->params;
    if (!ps->data) return LCTW_FAIL(LCTW_EINVAL, "unet init: parameters are not allocated");
    lctw_tensor *host = ps->data;
    if (lctw_tensor_device(ps->data) != LCTW_DEV_CPU)
        LCTW_TRY(lctw_tensor_empty(&host, 1, &ps->total, LCTW_DEV_CPU));
    float *d = lctw_tensor_data(host);
    for (int i = 0; i < ps->n; i++) {
        const lctw_param *p = &ps->p[i];
        float *w = d + p->offset;
        if (u->init_kind[i] == INIT_ZERO) {
            memset(w, 0, (size_t)p->numel * sizeof *w);
        } else if (u->init_kind[i] == INIT_ONE) {
            for (int64_t k = 0; k < p->numel; k++)
                w[k] = 1.0f;
        } else {
            /* (2u − 1)·bound with |2u − 1| ≤ 1 − 2⁻²³: stays within ±bound after rounding */
            double bound = 1.0 / sqrt((double)u->fan_in[i]);
            uint32_t o[4];
            uint64_t blk = UINT64_MAX;
            for (int64_t k = 0; k < p->numel; k++) {
                uint64_t e = (uint64_t)(p->offset + k);
                if (e / 4 != blk) {
                    blk = e / 4;
                    lctw_rng_block(seed, UNET_INIT_STREAM, blk, o);
                }
                w[k] = (float)((2.0 * (double)lctw_rng_u01(o[e % 4]) - 1.0) * bound);
            }
        }
    }
    lctw_status s = LCTW_OK;
    if (host != ps->data) {
        s = lctw_tensor_copy(ps->data, host);
        lctw_tensor_release(host);
    }
    return s;
}

/* ---- forward ---- */

#define P(i) lctw_params_get(ps, (i))

static lctw_status norm_fwd(lctw_ctx *c, const lctw_params *ps, const unorm *n, lctw_tensor *x,
                            lctw_tensor **y) {
    switch (n->kind) {
    case LCTW_NORM_NSLN: return lctw_op_norm_chw(c, x, NULL, P(n->b), UNET_EPS, y);
    case LCTW_NORM_LAYERNORM: return lctw_op_norm_chw(c, x, P(n->w), P(n->b), UNET_EPS, y);
    case LCTW_NORM_GROUPNORM:
        return lctw_op_group_norm(c, x, n->groups, P(n->w), P(n->b), UNET_EPS, y);
    }
    return LCTW_FAIL(LCTW_EINVAL, "unet: unknown norm kind %d", (int)n->kind);
}

static lctw_status conv_fwd(lctw_ctx *c, const lctw_params *ps, wb_idx p, lctw_tensor *x,
                            lctw_tensor **y) {
    lctw_tensor *w = P(p.w);
    return lctw_op_conv2d(c, x, w, P(p.b), 1, (int)(w->shape[2] / 2), y);
}

static lctw_status resample(lctw_ctx *c, const ublock *b, lctw_tensor *x, lctw_tensor **y) {
    if (b->down) return lctw_op_avg_pool2d(c, x, 2, y);
    if (b->up) return lctw_op_upsample_nearest2x(c, x, y);
    *y = x;
    return LCTW_OK;
}

static lctw_status block_fwd(lctw_ctx *c, const lctw_params *ps, const ublock *b, lctw_tensor *x,
                             lctw_tensor *emb, lctw_tensor **out) {
    lctw_tensor *h, *t, *ss, *scale, *shift, *s;
    LCTW_TRY(norm_fwd(c, ps, &b->norm0, x, &t));
    LCTW_TRY(lctw_op_silu(c, t, &h));
    LCTW_TRY(resample(c, b, h, &t));
    LCTW_TRY(conv_fwd(c, ps, b->conv0, t, &h));
    LCTW_TRY(lctw_op_linear(c, emb, P(b->affine.w), P(b->affine.b), &ss));
    LCTW_TRY(lctw_op_chunk(c, ss, 1, 2, 0, &scale));
    LCTW_TRY(lctw_op_chunk(c, ss, 1, 2, 1, &shift));
    LCTW_TRY(norm_fwd(c, ps, &b->norm1, h, &t));
    LCTW_TRY(lctw_op_modulate(c, t, shift, scale, &h));
    LCTW_TRY(lctw_op_silu(c, h, &t));
    LCTW_TRY(conv_fwd(c, ps, b->conv1, t, &h));
    LCTW_TRY(resample(c, b, x, &s));
    if (b->skip.w >= 0) {
        LCTW_TRY(conv_fwd(c, ps, b->skip, s, &t));
        s = t;
    }
    LCTW_TRY(lctw_op_add(c, h, s, &t));
    h = t;
    if (b->heads) {
        lctw_tensor *q, *a;
        LCTW_TRY(norm_fwd(c, ps, &b->norm2, h, &t));
        LCTW_TRY(conv_fwd(c, ps, b->qkv, t, &q));
        LCTW_TRY(lctw_op_attention_unet(c, q, b->heads, &a));
        LCTW_TRY(conv_fwd(c, ps, b->proj, a, &t));
        LCTW_TRY(lctw_op_add(c, h, t, &q));
        h = q;
    }
    *out = h;
    return LCTW_OK;
}

static lctw_status unet_forward(lctw_model *m, lctw_ctx *c, lctw_tensor *x, lctw_tensor *c_noise,
                                lctw_tensor **y) {
    unet *u = m->impl;
    const lctw_params *ps = &m->params;
    const lctw_unet_config *cfg = &u->cfg;
    char s1[96], s2[96];
    if (x->ndim != 4 || x->shape[1] != cfg->in_ch || x->shape[2] != cfg->height ||
        x->shape[3] != cfg->width) {
        int64_t want[4] = {x->ndim ? x->shape[0] : 0, cfg->in_ch, cfg->height, cfg->width};
        return LCTW_FAIL(LCTW_ESHAPE, "unet: input is %s, expected %s (B×C×H×W)",
                         lctw_tensor_shape_str(s1, sizeof s1, x),
                         lctw_shape_str(s2, sizeof s2, 4, want));
    }
    if (c_noise->ndim != 1 || c_noise->shape[0] != x->shape[0])
        return LCTW_FAIL(LCTW_ESHAPE, "unet: c_noise is %s, expected one value per sample (%lld)",
                         lctw_tensor_shape_str(s1, sizeof s1, c_noise), (long long)x->shape[0]);
    lctw_tensor *e, *t, *emb, *h;
    LCTW_TRY(lctw_op_timestep_embedding(c, c_noise, cfg->model_channels, UNET_MAX_PERIOD, &e));
    LCTW_TRY(lctw_op_linear(c, e, P(u->map0.w), P(u->map0.b), &t));
    LCTW_TRY(lctw_op_silu(c, t, &e));
    LCTW_TRY(lctw_op_linear(c, e, P(u->map1.w), P(u->map1.b), &t));
    LCTW_TRY(lctw_op_silu(c, t, &emb));

    int ns = 0;
    LCTW_TRY(conv_fwd(c, ps, u->in_conv, x, &h));
    u->skips[ns++] = h;
    for (int i = 0; i < u->n_enc; i++) {
        LCTW_TRY(block_fwd(c, ps, &u->blocks[i], h, emb, &t));
        h = t;
        u->skips[ns++] = h;
    }
    for (int i = u->n_enc; i < u->n_blocks; i++) {
        const ublock *b = &u->blocks[i];
        if (b->concat) {
            LCTW_TRY(lctw_op_concat_channels(c, h, u->skips[--ns], &t));
            h = t;
        }
        LCTW_TRY(block_fwd(c, ps, b, h, emb, &t));
        h = t;
    }
    LCTW_TRY(norm_fwd(c, ps, &u->out_norm, h, &t));
    LCTW_TRY(lctw_op_silu(c, t, &h));
    return conv_fwd(c, ps, u->out_conv, h, y);
}

#undef P

/* ---- describe / free / config JSON ---- */

static void list_str(char *buf, size_t n, const int *v, int k) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < k && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%d", i ? "," : "", v[i]);
    if (!k) snprintf(buf, n, "none");
}

static void commas(char *buf, size_t n, int64_t v) {
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%lld", (long long)v), o = 0;
    for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

static void unet_describe(const lctw_model *m, char *buf, size_t n) {
    const unet *u = m->impl;
    const lctw_unet_config *cfg = &u->cfg;
    char mult[64], attn[64], tr[32], fr[32];
    list_str(mult, sizeof mult, cfg->channel_mult, cfg->n_levels);
    list_str(attn, sizeof attn, cfg->attn_res, cfg->n_attn);
    commas(tr, sizeof tr, m->params.trainable);
    commas(fr, sizeof fr, m->params.total - m->params.trainable);
    snprintf(buf, n,
             "U-Net (EDM DhariwalUNet) on %d×%d×%d: %d channels × (%s), %d blocks per level, "
             "attention at %s (%d channels per head), embedding %d, norm %s, last norm %s; "
             "%s trainable + %s frozen parameters",
             cfg->in_ch, cfg->height, cfg->width, cfg->model_channels, mult, cfg->num_blocks, attn,
             cfg->channels_per_head, u->emb_ch, lctw_norm_name(cfg->norm),
             lctw_norm_name(cfg->last_norm), tr, fr);
}

static void unet_free(lctw_model *m) {
    unet *u = m->impl;
    if (!u) return;
    free(u->blocks);
    free(u->skips);
    free(u->init_kind);
    free(u->fan_in);
    free(u);
    m->impl = NULL;
}

static void json_int_array(lctw_json_writer *w, const char *key, const int *v, int n) {
    lctw_json_writer_key(w, key);
    lctw_json_writer_begin_array(w);
    for (int i = 0; i < n; i++)
        lctw_json_writer_int(w, v[i]);
    lctw_json_writer_end_array(w);
}

/* The reference constructor's arguments (lctw_ref.DhariwalUNet.config). */
static lctw_status config_to_json(const lctw_unet_config *cfg, char **out) {
    lctw_json_writer w;
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_begin_object(&w);
    lctw_json_writer_key(&w, "arch");
    lctw_json_writer_string(&w, "DhariwalUNet");
    lctw_json_writer_key(&w, "img_resolution");
    lctw_json_writer_int(&w, cfg->height);
    lctw_json_writer_key(&w, "in_channels");
    lctw_json_writer_int(&w, cfg->in_ch);
    lctw_json_writer_key(&w, "out_channels");
    lctw_json_writer_int(&w, cfg->in_ch);
    lctw_json_writer_key(&w, "model_channels");
    lctw_json_writer_int(&w, cfg->model_channels);
    json_int_array(&w, "channel_mult", cfg->channel_mult, cfg->n_levels);
    lctw_json_writer_key(&w, "channel_mult_emb");
    lctw_json_writer_int(&w, cfg->channel_mult_emb);
    lctw_json_writer_key(&w, "num_blocks");
    lctw_json_writer_int(&w, cfg->num_blocks);
    json_int_array(&w, "attn_resolutions", cfg->attn_res, cfg->n_attn);
    lctw_json_writer_key(&w, "norm");
    lctw_json_writer_string(&w, lctw_norm_name(cfg->norm));
    lctw_json_writer_key(&w, "last_norm");
    lctw_json_writer_string(&w, lctw_norm_name(cfg->last_norm));
    lctw_json_writer_key(&w, "channels_per_head");
    lctw_json_writer_int(&w, cfg->channels_per_head);
    lctw_json_writer_key(&w, "dropout");
    lctw_json_writer_number(&w, 0.0);
    lctw_json_writer_end_object(&w);
    size_t len;
    return lctw_json_writer_finish(&w, out, &len);
}

static const lctw_model_vt unet_vt = {
    .kind = "unet",
    .net_forward = unet_forward,
    .init = unet_init,
    .describe = unet_describe,
    .free_impl = unet_free,
};

lctw_status lctw_unet_new(lctw_model **out, const lctw_unet_config *cfg, lctw_device dev,
                          uint64_t seed) {
    *out = NULL;
    LCTW_TRY(lctw_unet_config_check(cfg));
    lctw_model *m = calloc(1, sizeof *m);
    unet *u = calloc(1, sizeof *u);
    if (!m || !u) {
        free(m);
        free(u);
        return LCTW_FAIL(LCTW_ENOMEM, "unet: out of memory");
    }
    m->vt = &unet_vt;
    lctw_params_init(&m->params);
    m->in_ch = cfg->in_ch;
    m->height = cfg->height;
    m->width = cfg->width;
    m->impl = u;
    u->cfg = *cfg;
    lctw_status s = unet_build(m);
    if (s == LCTW_OK) s = lctw_params_finalize(&m->params, dev);
    if (s == LCTW_OK) s = unet_init(m, seed);
    if (s == LCTW_OK) s = config_to_json(cfg, &m->config_json);
    if (s != LCTW_OK) {
        lctw_model_free(m);
        return s;
    }
    *out = m;
    return LCTW_OK;
}

/* ---- configuration from JSON ---- */

static lctw_status json_int(const lctw_json *root, const char *key, int required, int *v) {
    const lctw_json *j = lctw_json_get(root, key);
    if (!j) {
        if (required) return LCTW_FAIL(LCTW_EFORMAT, "unet config JSON: '%s' is missing", key);
        return LCTW_OK;
    }
    if (j->type != LCTW_JSON_NUMBER || !j->is_int || j->i < INT32_MIN || j->i > INT32_MAX)
        return LCTW_FAIL(LCTW_EFORMAT, "unet config JSON: '%s' must be an integer, got a %s", key,
                         j->type == LCTW_JSON_NUMBER ? "non-integer number"
                                                     : lctw_json_type_name(j->type));
    *v = (int)j->i;
    return LCTW_OK;
}

static lctw_status json_int_list(const lctw_json *root, const char *key, int required, int *v,
                                 int *n) {
    const lctw_json *j = lctw_json_get(root, key);
    if (!j) {
        if (required) return LCTW_FAIL(LCTW_EFORMAT, "unet config JSON: '%s' is missing", key);
        return LCTW_OK;
    }
    if (j->type != LCTW_JSON_ARRAY)
        return LCTW_FAIL(LCTW_EFORMAT, "unet config JSON: '%s' must be an array, got a %s", key,
                         lctw_json_type_name(j->type));
    if (j->len > LCTW_UNET_MAX_LEVELS)
        return LCTW_FAIL(LCTW_EFORMAT, "unet config JSON: '%s' has %zu entries, at most %d", key,
                         j->len, LCTW_UNET_MAX_LEVELS);
    for (int i = 0; i < LCTW_UNET_MAX_LEVELS; i++)
        v[i] = 0;
    for (size_t i = 0; i < j->len; i++) {
        const lctw_json *e = j->items[i];
        if (e->type != LCTW_JSON_NUMBER || !e->is_int || e->i < INT32_MIN || e->i > INT32_MAX)
            return LCTW_FAIL(LCTW_EFORMAT, "unet config JSON: '%s'[%zu] must be an integer", key,
                             i + 1);
        v[i] = (int)e->i;
    }
    *n = (int)j->len;
    return LCTW_OK;
}

static lctw_status json_norm(const lctw_json *root, const char *key, lctw_norm_kind *k) {
    const lctw_json *j = lctw_json_get(root, key);
    if (!j) return LCTW_OK;
    if (j->type != LCTW_JSON_STRING || !norm_from_name(j->str, k))
        return LCTW_FAIL(LCTW_EFORMAT,
                         "unet config JSON: '%s' must be \"nsln\", \"groupnorm\" or "
                         "\"layernorm\", got %s%s%s",
                         key, j->type == LCTW_JSON_STRING ? "\"" : "a ",
                         j->type == LCTW_JSON_STRING ? j->str : lctw_json_type_name(j->type),
                         j->type == LCTW_JSON_STRING ? "\"" : "");
    return LCTW_OK;
}

static lctw_status config_from_root(lctw_unet_config *cfg, const lctw_json *root) {
    if (root->type != LCTW_JSON_OBJECT)
        return LCTW_FAIL(LCTW_EFORMAT, "unet config JSON: expected an object, got a %s",
                         lctw_json_type_name(root->type));
    const lctw_json *a = lctw_json_get(root, "arch");
    if (a && (a->type != LCTW_JSON_STRING || strcmp(a->str, "DhariwalUNet")))
        return LCTW_FAIL(LCTW_EFORMAT,
                         "unet config JSON: arch is %s%s%s, expected \"DhariwalUNet\"",
                         a->type == LCTW_JSON_STRING ? "\"" : "a ",
                         a->type == LCTW_JSON_STRING ? a->str : lctw_json_type_name(a->type),
                         a->type == LCTW_JSON_STRING ? "\"" : "");
    lctw_unet_config_paper(cfg);
    int res = 0, out_ch = -1;
    LCTW_TRY(json_int(root, "img_resolution", 1, &res));
    cfg->height = cfg->width = res;
    LCTW_TRY(json_int(root, "in_channels", 1, &cfg->in_ch));
    LCTW_TRY(json_int(root, "out_channels", 0, &out_ch));
    if (out_ch != -1 && out_ch != cfg->in_ch)
        return LCTW_FAIL(LCTW_EINVAL,
                         "unet config JSON: out_channels %d differs from in_channels %d (a "
                         "consistency model outputs what it takes in)",
                         out_ch, cfg->in_ch);
    LCTW_TRY(json_int(root, "model_channels", 0, &cfg->model_channels));
    LCTW_TRY(json_int_list(root, "channel_mult", 0, cfg->channel_mult, &cfg->n_levels));
    LCTW_TRY(json_int(root, "channel_mult_emb", 0, &cfg->channel_mult_emb));
    LCTW_TRY(json_int(root, "num_blocks", 0, &cfg->num_blocks));
    LCTW_TRY(json_int_list(root, "attn_resolutions", 0, cfg->attn_res, &cfg->n_attn));
    LCTW_TRY(json_int(root, "channels_per_head", 0, &cfg->channels_per_head));
    LCTW_TRY(json_norm(root, "norm", &cfg->norm));
    cfg->last_norm = cfg->norm;
    const lctw_json *ln = lctw_json_get(root, "last_norm");
    if (ln && ln->type != LCTW_JSON_NULL) LCTW_TRY(json_norm(root, "last_norm", &cfg->last_norm));
    const lctw_json *dr = lctw_json_get(root, "dropout");
    if (dr && (dr->type != LCTW_JSON_NUMBER || dr->num != 0.0))
        return LCTW_FAIL(LCTW_EINVAL, "unet config JSON: dropout must be 0 (not implemented)");
    return lctw_unet_config_check(cfg);
}

lctw_status lctw_unet_config_from_json(lctw_unet_config *cfg, const char *text, size_t len) {
    lctw_json_doc *doc;
    LCTW_TRY(lctw_json_parse(&doc, text, len, NULL));
    lctw_status s = config_from_root(cfg, lctw_json_root(doc));
    lctw_json_free(doc);
    return s;
}
