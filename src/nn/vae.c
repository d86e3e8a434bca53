/* vae.c — VAElight and TAESD decoders/encoders (see vae.h and ../shared/data/README.md for the
 * architectures). Weights are loaded by their upstream state-dict names; the kind is detected
 * from the names and every shape is validated up front so a forward never meets a bad weight.
 * Forwards run the differentiable ops with grad off on a private context, a chunk of samples at
 * a time (the arena keeps every activation of a forward alive, so chunks bound its size).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/ops/ops.h"
#include "io/safetensors.h"
#include "nn/vae.h"

#define SD1_SCALE 0.18215f
#define LEAKY 0.01f
/* Largest activation of a chunk, in floats (64 channels at the output resolution). */
#define CHUNK_FLOATS ((int64_t)1 << 22)

const char *lctw_vae_kind_name(lctw_vae_kind k) {
    switch (k) {
    case LCTW_VAE_VAELIGHT_DECODER: return "vaelight_decoder";
    case LCTW_VAE_VAELIGHT_ENCODER: return "vaelight_encoder";
    case LCTW_VAE_TAESD_DECODER: return "taesd_decoder";
    case LCTW_VAE_TAESD_ENCODER: return "taesd_encoder";
    }
    return "?";
}

int lctw_vae_is_decoder(const lctw_vae *v) {
    return v->kind == LCTW_VAE_VAELIGHT_DECODER || v->kind == LCTW_VAE_TAESD_DECODER;
}

void lctw_vae_free(lctw_vae *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) {
        free(v->names[i]);
        lctw_tensor_release(v->w[i]);
    }
    free(v->names);
    free(v->w);
    free(v->path);
    free(v);
}

lctw_status lctw_vae_to(lctw_vae *v, lctw_device dev) {
    if (v->dev == dev) return LCTW_OK;
    lctw_tensor **moved = calloc((size_t)v->n, sizeof *moved);
    if (!moved && v->n) return LCTW_FAIL(LCTW_ENOMEM, "%s: out of memory", v->path);
    lctw_status s = LCTW_OK;
    for (int i = 0; s == LCTW_OK && i < v->n; i++) s = lctw_tensor_to(&moved[i], v->w[i], dev);
    for (int i = 0; i < v->n; i++) { /* keep one side whole, release the other */
        if (s != LCTW_OK) {
            lctw_tensor_release(moved[i]);
            continue;
        }
        lctw_tensor_release(v->w[i]);
        v->w[i] = moved[i];
    }
    free(moved);
    if (s == LCTW_OK) v->dev = dev;
    return s;
}

static lctw_tensor *get(const lctw_vae *v, const char *name) {
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->names[i], name)) return v->w[i];
    return NULL;
}

static lctw_tensor *getf(const lctw_vae *v, const char *fmt, const char *prefix, int i,
                         const char *suffix) {
    char name[96];
    snprintf(name, sizeof name, fmt, prefix, i, suffix);
    return get(v, name);
}

/* Checks that tensor `name` exists with shape (a, b, c, d) (ndim entries used). */
static lctw_status need(const lctw_vae *v, const char *name, int ndim, int64_t a, int64_t b,
                        int64_t c, int64_t d) {
    int64_t want[4] = {a, b, c, d};
    char ws[96], gs[96];
    lctw_tensor *t = get(v, name);
    if (!t)
        return LCTW_FAIL(LCTW_EFORMAT, "%s: %s: tensor %s is missing (expected shape %s)", v->path,
                         lctw_vae_kind_name(v->kind), name,
                         lctw_shape_str(ws, sizeof ws, ndim, want));
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == want[i];
    if (!ok)
        return LCTW_FAIL(LCTW_EFORMAT, "%s: %s: tensor %s has shape %s, expected %s", v->path,
                         lctw_vae_kind_name(v->kind), name, lctw_tensor_shape_str(gs, sizeof gs, t),
                         lctw_shape_str(ws, sizeof ws, ndim, want));
    return LCTW_OK;
}

static lctw_status need_conv(const lctw_vae *v, const char *base, int64_t cout, int64_t cin,
                             int64_t k, int bias) {
    char n[96];
    snprintf(n, sizeof n, "%s.weight", base);
    LCTW_TRY(need(v, n, 4, cout, cin, k, k));
    if (!bias) return LCTW_OK;
    snprintf(n, sizeof n, "%s.bias", base);
    return need(v, n, 1, cout, 0, 0, 0);
}

/* ---- VAElight: chains of convs named <prefix><i> ---- */

/* Validates prefix<first..last>: 3×3 convs or 2×2 (transposed if `transposed`, else stride-2)
 * convs with biases, channels chained from cin to cout. *n_down counts the 2×2 layers. */
static lctw_status check_chain(const lctw_vae *v, const char *prefix, int first, int last,
                               int64_t cin, int64_t cout, int transposed, int *n_down) {
    int64_t ch = cin;
    *n_down = 0;
    for (int i = first; i <= last; i++) {
        char base[64];
        snprintf(base, sizeof base, "%s%d", prefix, i);
        lctw_tensor *w = getf(v, "%s%d%s", prefix, i, ".weight");
        if (!w)
            return LCTW_FAIL(LCTW_EFORMAT,
                             "%s: %s: tensor %s.weight is missing (layer %d of %s%d..%s%d)",
                             v->path, lctw_vae_kind_name(v->kind), base, i - first + 1, prefix,
                             first, prefix, last);
        int64_t k = w->ndim == 4 ? w->shape[2] : 3;
        if (k != 2) k = 3;
        int64_t o = w->ndim == 4 ? (k == 2 && transposed ? w->shape[1] : w->shape[0]) : 0;
        if (i == last) o = cout;
        if (k == 2 && transposed) {
            char n[96];
            snprintf(n, sizeof n, "%s.weight", base);
            LCTW_TRY(need(v, n, 4, ch, o, 2, 2));
            snprintf(n, sizeof n, "%s.bias", base);
            LCTW_TRY(need(v, n, 1, o, 0, 0, 0));
        } else {
            LCTW_TRY(need_conv(v, base, o, ch, k, 1));
        }
        if (k == 2) ++*n_down;
        ch = o;
    }
    return LCTW_OK;
}

static const struct {
    const char *prefix;
    int n, n_up; /* layers, transposed (2×) layers */
} vl_branches[4] = {{"cv", 11, 3}, {"c4v", 8, 2}, {"c3v", 5, 1}, {"c2v", 4, 0}};

static lctw_status check_vaelight_decoder(lctw_vae *v) {
    for (int b = 0; b < 4; b++) {
        int nd;
        LCTW_TRY(check_chain(v, vl_branches[b].prefix, 1, vl_branches[b].n, 4, 3, 1, &nd));
        if (nd != vl_branches[b].n_up)
            return LCTW_FAIL(LCTW_EFORMAT,
                             "%s: vaelight_decoder: branch %s has %d 2×2 layers, expected %d",
                             v->path, vl_branches[b].prefix, nd, vl_branches[b].n_up);
    }
    v->latent_channels = 4;
    return LCTW_OK;
}

static lctw_status check_vaelight_encoder(lctw_vae *v) {
    int nd;
    LCTW_TRY(check_chain(v, "cv", 1, 6, 3, 4, 0, &nd));
    if (nd != 3)
        return LCTW_FAIL(LCTW_EFORMAT,
                         "%s: vaelight_encoder: cv1..cv6 have %d stride-2 layers, expected 3",
                         v->path, nd);
    LCTW_TRY(check_chain(v, "cv", 14, 18, 3, 4, 0, &nd));
    if (nd != 0)
        return LCTW_FAIL(LCTW_EFORMAT, "%s: vaelight_encoder: cv14..cv18 must be 3×3 convs",
                         v->path);
    v->latent_channels = 4;
    return LCTW_OK;
}

/* ---- TAESD ---- */

static lctw_status check_block(const lctw_vae *v, int idx) {
    char base[64];
    for (int j = 0; j <= 4; j += 2) {
        snprintf(base, sizeof base, "%d.conv.%d", idx, j);
        LCTW_TRY(need_conv(v, base, 64, 64, 3, 1));
    }
    char n[64];
    snprintf(n, sizeof n, "%d.pool.0.weight", idx);
    if (!get(v, n)) return LCTW_OK;
    LCTW_TRY(need(v, n, 4, 256, 64, 1, 1));
    snprintf(n, sizeof n, "%d.pool.1.weight", idx);
    LCTW_TRY(need(v, n, 1, 256, 0, 0, 0));
    snprintf(n, sizeof n, "%d.pool.1.bias", idx);
    LCTW_TRY(need(v, n, 1, 256, 0, 0, 0));
    snprintf(n, sizeof n, "%d.pool.3.weight", idx);
    return need(v, n, 4, 64, 256, 1, 1);
}

static const int taesd_dec_blocks[] = {3, 4, 5, 8, 9, 10, 13, 14, 15, 18};
static const int taesd_enc_blocks[] = {1, 3, 4, 5, 7, 8, 9, 11, 12, 13};

static lctw_status check_taesd_decoder(lctw_vae *v) {
    lctw_tensor *w = get(v, "1.weight");
    v->latent_channels = w && w->ndim == 4 ? (int)w->shape[1] : 0;
    if (v->latent_channels < 1)
        return LCTW_FAIL(LCTW_EFORMAT, "%s: taesd_decoder: 1.weight must be 64×C×3×3", v->path);
    LCTW_TRY(need_conv(v, "1", 64, v->latent_channels, 3, 1));
    for (size_t i = 0; i < sizeof taesd_dec_blocks / sizeof *taesd_dec_blocks; i++)
        LCTW_TRY(check_block(v, taesd_dec_blocks[i]));
    LCTW_TRY(need_conv(v, "7", 64, 64, 3, 0));
    LCTW_TRY(need_conv(v, "12", 64, 64, 3, 0));
    LCTW_TRY(need_conv(v, "17", 64, 64, 3, 0));
    return need_conv(v, "19", 3, 64, 3, 1);
}

static lctw_status check_taesd_encoder(lctw_vae *v) {
    lctw_tensor *w = get(v, "14.weight");
    v->latent_channels = w && w->ndim == 4 ? (int)w->shape[0] : 0;
    if (v->latent_channels < 1)
        return LCTW_FAIL(LCTW_EFORMAT, "%s: taesd_encoder: 14.weight must be C×64×3×3", v->path);
    LCTW_TRY(need_conv(v, "0", 64, 3, 3, 1));
    for (size_t i = 0; i < sizeof taesd_enc_blocks / sizeof *taesd_enc_blocks; i++)
        LCTW_TRY(check_block(v, taesd_enc_blocks[i]));
    LCTW_TRY(need_conv(v, "2", 64, 64, 3, 0));
    LCTW_TRY(need_conv(v, "6", 64, 64, 3, 0));
    LCTW_TRY(need_conv(v, "10", 64, 64, 3, 0));
    return need_conv(v, "14", v->latent_channels, 64, 3, 1);
}

/* ---- loading ---- */

static lctw_status detect(lctw_vae *v) {
    if (get(v, "cv1.weight") && get(v, "c4v1.weight")) {
        v->kind = LCTW_VAE_VAELIGHT_DECODER;
        v->range_lo = -1.0f, v->range_hi = 1.0f, v->latent_scale = SD1_SCALE;
        return check_vaelight_decoder(v);
    }
    if (get(v, "cv1.weight") && get(v, "cv14.weight")) {
        v->kind = LCTW_VAE_VAELIGHT_ENCODER;
        v->range_lo = -1.0f, v->range_hi = 1.0f, v->latent_scale = SD1_SCALE;
        return check_vaelight_encoder(v);
    }
    if (get(v, "1.weight") && get(v, "3.conv.0.weight") && get(v, "19.weight")) {
        v->kind = LCTW_VAE_TAESD_DECODER;
        v->range_lo = 0.0f, v->range_hi = 1.0f, v->latent_scale = 1.0f;
        return check_taesd_decoder(v);
    }
    if (get(v, "0.weight") && get(v, "1.conv.0.weight") && get(v, "14.weight")) {
        v->kind = LCTW_VAE_TAESD_ENCODER;
        v->range_lo = 0.0f, v->range_hi = 1.0f, v->latent_scale = 1.0f;
        return check_taesd_encoder(v);
    }
    return LCTW_FAIL(LCTW_EFORMAT,
                     "%s: not a known VAE decoder/encoder: expected VAElight tensors (cv1.weight "
                     "with c4v1.weight or cv14.weight) or TAESD tensors (1.weight, "
                     "3.conv.0.weight, 19.weight / 0.weight, 1.conv.0.weight, 14.weight); the "
                     "file has %d tensors, the first named '%s'",
                     v->path, v->n, v->n ? v->names[0] : "");
}

lctw_status lctw_vae_load(lctw_vae **out, const char *path) {
    *out = NULL;
    lctw_st_file *f = NULL;
    LCTW_TRY(lctw_st_open(&f, path));
    lctw_vae *v = calloc(1, sizeof *v);
    int n = lctw_st_count(f);
    lctw_status s = LCTW_OK;
    if (v) {
        v->path = strdup(path);
        v->names = calloc((size_t)(n ? n : 1), sizeof *v->names);
        v->w = calloc((size_t)(n ? n : 1), sizeof *v->w);
    }
    if (!v || !v->path || !v->names || !v->w)
        s = LCTW_FAIL(LCTW_ENOMEM, "%s: out of memory loading %d tensors", path, n);
    for (int i = 0; s == LCTW_OK && i < n; i++) {
        const lctw_st_entry *e = lctw_st_entry_at(f, i);
        if (e->ndim > 4) continue; /* not a weight of these models; detection reports it */
        s = lctw_st_load_tensor(&v->w[v->n], f, e->name);
        if (s != LCTW_OK) break;
        v->names[v->n] = strdup(e->name);
        if (!v->names[v->n]) {
            lctw_tensor_release(v->w[v->n]);
            s = LCTW_FAIL(LCTW_ENOMEM, "%s: out of memory", path);
            break;
        }
        v->n++;
    }
    lctw_st_close(f);
    if (s == LCTW_OK) s = detect(v);
    if (s != LCTW_OK) {
        lctw_vae_free(v);
        return s;
    }
    *out = v;
    return LCTW_OK;
}

/* ---- forwards ---- */

static lctw_status conv(lctw_ctx *c, const lctw_vae *v, lctw_tensor *x, const char *base,
                        int stride, int pad, lctw_tensor **y) {
    char n[96];
    snprintf(n, sizeof n, "%s.weight", base);
    lctw_tensor *w = get(v, n);
    snprintf(n, sizeof n, "%s.bias", base);
    return lctw_op_conv2d(c, x, w, get(v, n), stride, pad, y);
}

/* prefix<first..last> with leaky-ReLU after all but the last; 2×2 layers are transposed
 * (decoder) or stride-2 (encoder) convs. */
static lctw_status run_chain(lctw_ctx *c, const lctw_vae *v, lctw_tensor *x, const char *prefix,
                             int first, int last, int transposed, lctw_tensor **y) {
    lctw_tensor *h = x;
    for (int i = first; i <= last; i++) {
        char base[64];
        snprintf(base, sizeof base, "%s%d", prefix, i);
        lctw_tensor *w = getf(v, "%s%d%s", prefix, i, ".weight");
        if (w->shape[2] == 2 && transposed)
            LCTW_TRY(
                lctw_op_conv_transpose2d(c, h, w, getf(v, "%s%d%s", prefix, i, ".bias"), 2, 0, &h));
        else if (w->shape[2] == 2)
            LCTW_TRY(conv(c, v, h, base, 2, 0, &h));
        else
            LCTW_TRY(conv(c, v, h, base, 1, 1, &h));
        if (i < last) LCTW_TRY(lctw_op_leaky_relu(c, h, LEAKY, &h));
    }
    *y = h;
    return LCTW_OK;
}

static lctw_status vaelight_decode(lctw_ctx *c, const lctw_vae *v, lctw_tensor *z,
                                   lctw_tensor **y) {
    lctw_tensor *x, *acc = NULL;
    LCTW_TRY(lctw_op_scale(c, z, 1.0f / SD1_SCALE, &x));
    for (int b = 3; b >= 0; b--) { /* up8(1×) + up4(2×) + up2(4×) + 8× */
        lctw_tensor *h;
        LCTW_TRY(run_chain(c, v, x, vl_branches[b].prefix, 1, vl_branches[b].n, 1, &h));
        int f = 8 >> vl_branches[b].n_up;
        if (f > 1) LCTW_TRY(lctw_op_upsample_bilinear(c, h, f, &h));
        if (acc)
            LCTW_TRY(lctw_op_add(c, acc, h, &acc));
        else
            acc = h;
    }
    *y = acc;
    return LCTW_OK;
}

static lctw_status vaelight_encode(lctw_ctx *c, const lctw_vae *v, lctw_tensor *x,
                                   lctw_tensor **y) {
    lctw_tensor *a, *p, *b;
    LCTW_TRY(run_chain(c, v, x, "cv", 1, 6, 0, &a));
    LCTW_TRY(lctw_op_avg_pool2d(c, x, 8, &p));
    LCTW_TRY(run_chain(c, v, p, "cv", 14, 18, 0, &b));
    LCTW_TRY(lctw_op_add(c, a, b, &a));
    return lctw_op_scale(c, a, SD1_SCALE, y);
}

/* Block: [x ← x + W2·relu(GN4(W1·x))]; relu(conv(relu(conv(relu(conv(x))))) + x). */
static lctw_status taesd_block(lctw_ctx *c, const lctw_vae *v, int idx, lctw_tensor *x,
                               lctw_tensor **y) {
    char n[64], m[64];
    snprintf(n, sizeof n, "%d.pool.0.weight", idx);
    lctw_tensor *w1 = get(v, n);
    if (w1) {
        lctw_tensor *p;
        LCTW_TRY(lctw_op_conv2d(c, x, w1, NULL, 1, 0, &p));
        snprintf(n, sizeof n, "%d.pool.1.weight", idx);
        snprintf(m, sizeof m, "%d.pool.1.bias", idx);
        LCTW_TRY(lctw_op_group_norm(c, p, 4, get(v, n), get(v, m), 1e-5f, &p));
        LCTW_TRY(lctw_op_relu(c, p, &p));
        snprintf(n, sizeof n, "%d.pool.3.weight", idx);
        LCTW_TRY(lctw_op_conv2d(c, p, get(v, n), NULL, 1, 0, &p));
        LCTW_TRY(lctw_op_add(c, x, p, &x));
    }
    lctw_tensor *h = x;
    for (int j = 0; j <= 4; j += 2) {
        snprintf(n, sizeof n, "%d.conv.%d", idx, j);
        LCTW_TRY(conv(c, v, h, n, 1, 1, &h));
        if (j < 4) LCTW_TRY(lctw_op_relu(c, h, &h));
    }
    LCTW_TRY(lctw_op_add(c, h, x, &h));
    return lctw_op_relu(c, h, y);
}

static lctw_status taesd_decode(lctw_ctx *c, const lctw_vae *v, lctw_tensor *z, lctw_tensor **y) {
    lctw_tensor *h;
    LCTW_TRY(lctw_op_scale(c, z, 1.0f / 3.0f, &h));
    LCTW_TRY(lctw_op_tanh(c, h, &h));
    LCTW_TRY(lctw_op_scale(c, h, 3.0f, &h));
    LCTW_TRY(conv(c, v, h, "1", 1, 1, &h));
    LCTW_TRY(lctw_op_relu(c, h, &h));
    /* sequence after the first ReLU: blocks, and -1 = nearest 2× then the conv that follows */
    static const int seq[] = {3, 4, 5, -1, 7, 8, 9, 10, -1, 12, 13, 14, 15, -1, 17, 18};
    for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) {
        if (seq[i] < 0) {
            char base[16];
            LCTW_TRY(lctw_op_upsample_nearest2x(c, h, &h));
            snprintf(base, sizeof base, "%d", seq[++i]);
            LCTW_TRY(conv(c, v, h, base, 1, 1, &h));
        } else {
            LCTW_TRY(taesd_block(c, v, seq[i], h, &h));
        }
    }
    return conv(c, v, h, "19", 1, 1, y);
}

static lctw_status taesd_encode(lctw_ctx *c, const lctw_vae *v, lctw_tensor *x, lctw_tensor **y) {
    lctw_tensor *h;
    LCTW_TRY(conv(c, v, x, "0", 1, 1, &h));
    /* blocks, and -1 = the stride-2 conv that follows */
    static const int seq[] = {1, -1, 2, 3, 4, 5, -1, 6, 7, 8, 9, -1, 10, 11, 12, 13};
    for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) {
        if (seq[i] < 0) {
            char base[16];
            snprintf(base, sizeof base, "%d", seq[++i]);
            LCTW_TRY(conv(c, v, h, base, 2, 1, &h));
        } else {
            LCTW_TRY(taesd_block(c, v, seq[i], h, &h));
        }
    }
    return conv(c, v, h, "14", 1, 1, y);
}

typedef lctw_status (*fwd_fn)(lctw_ctx *, const lctw_vae *, lctw_tensor *, lctw_tensor **);

/* Runs fn over chunks of samples of x (N, Cin, H, W; CPU contiguous) into out (N, Cout, Ho, Wo;
 * CPU) on the weights' device (each chunk copied there and its result copied back). */
static lctw_status run_chunks(const lctw_vae *v, fwd_fn fn, lctw_tensor *x, lctw_tensor *out,
                              int64_t per_sample_floats) {
    int64_t N = x->shape[0];
    int64_t chunk = CHUNK_FLOATS / (per_sample_floats > 0 ? per_sample_floats : 1);
    if (chunk < 1) chunk = 1;
    lctw_ctx c;
    LCTW_TRY(lctw_ctx_init(&c, v->dev, (size_t)16 << 20));
    lctw_ctx_set_grad(&c, 0);
    lctw_status s = LCTW_OK;
    for (int64_t i = 0; s == LCTW_OK && i < N; i += chunk) {
        int64_t len = N - i < chunk ? N - i : chunk;
        lctw_tensor *xh = NULL, *xi = NULL, *oi = NULL, *y = NULL;
        s = lctw_ctx_reset(&c);
        if (s == LCTW_OK) s = lctw_tensor_narrow(&xh, x, 0, i, len);
        if (s == LCTW_OK) s = lctw_tensor_to(&xi, xh, v->dev);
        if (s == LCTW_OK) s = lctw_tensor_narrow(&oi, out, 0, i, len);
        if (s == LCTW_OK) s = fn(&c, v, xi, &y);
        if (s == LCTW_OK && !lctw_tensor_same_shape(y, oi)) {
            char a[64], b[64];
            s = LCTW_FAIL(LCTW_ESHAPE, "%s: %s produced %s, expected %s", v->path,
                          lctw_vae_kind_name(v->kind), lctw_tensor_shape_str(a, sizeof a, y),
                          lctw_tensor_shape_str(b, sizeof b, oi));
        }
        if (s == LCTW_OK) s = lctw_tensor_copy(oi, y);
        lctw_tensor_release(xh);
        lctw_tensor_release(xi);
        lctw_tensor_release(oi);
    }
    lctw_ctx_release(&c);
    return s;
}

/* x as a contiguous CPU N×C×H×W tensor (a 3-dim input gets N = 1; *was3 set). */
static lctw_status prepare(lctw_tensor **out, lctw_tensor *x, int *was3) {
    lctw_tensor *a = NULL, *b = NULL;
    *was3 = x->ndim == 3;
    LCTW_TRY(lctw_tensor_to(&a, x, LCTW_DEV_CPU));
    lctw_status s = lctw_tensor_contiguous(&b, a);
    lctw_tensor_release(a);
    if (s != LCTW_OK) return s;
    if (*was3) {
        int64_t sh[4] = {1, b->shape[0], b->shape[1], b->shape[2]};
        s = lctw_tensor_view(&a, b, 4, sh);
        lctw_tensor_release(b);
        b = a;
    }
    if (s == LCTW_OK) *out = b;
    return s;
}

static lctw_status finish(lctw_tensor **out, lctw_tensor *y, int was3) {
    if (!was3) {
        *out = y;
        return LCTW_OK;
    }
    lctw_status s = lctw_tensor_view(out, y, 3, y->shape + 1);
    lctw_tensor_release(y);
    return s;
}

lctw_status lctw_vae_decode(lctw_vae *v, lctw_tensor *z, lctw_tensor **img) {
    *img = NULL;
    char a[96];
    if (!lctw_vae_is_decoder(v))
        return LCTW_FAIL(LCTW_EINVAL, "%s is a %s: it has no decode (load the decoder weights)",
                         v->path, lctw_vae_kind_name(v->kind));
    if ((z->ndim != 4 && z->ndim != 3) || z->shape[z->ndim - 3] != v->latent_channels ||
        z->shape[z->ndim - 1] < 1 || z->shape[z->ndim - 2] < 1)
        return LCTW_FAIL(
            LCTW_ESHAPE, "decode: %s (%s) expects %d-channel latents N×%d×h×w or %d×h×w, got %s",
            lctw_vae_kind_name(v->kind), v->path, v->latent_channels, v->latent_channels,
            v->latent_channels, lctw_tensor_shape_str(a, sizeof a, z));
    int was3;
    lctw_tensor *x = NULL, *y = NULL;
    LCTW_TRY(prepare(&x, z, &was3));
    int64_t H = x->shape[2] * 8, W = x->shape[3] * 8;
    int64_t sh[4] = {x->shape[0], 3, H, W};
    lctw_status s = lctw_tensor_empty(&y, 4, sh, LCTW_DEV_CPU);
    if (s == LCTW_OK)
        s = run_chunks(v, v->kind == LCTW_VAE_TAESD_DECODER ? taesd_decode : vaelight_decode, x, y,
                       64 * H * W);
    lctw_tensor_release(x);
    if (s != LCTW_OK) {
        lctw_tensor_release(y);
        return s;
    }
    return finish(img, y, was3);
}

lctw_status lctw_vae_encode(lctw_vae *v, lctw_tensor *img, lctw_tensor **z) {
    *z = NULL;
    char a[96];
    if (lctw_vae_is_decoder(v))
        return LCTW_FAIL(LCTW_EINVAL, "%s is a %s: it has no encode (load the encoder weights)",
                         v->path, lctw_vae_kind_name(v->kind));
    int nd = img->ndim;
    if ((nd != 4 && nd != 3) || img->shape[nd - 3] != 3 || img->shape[nd - 1] < 8 ||
        img->shape[nd - 2] < 8 || img->shape[nd - 1] % 8 || img->shape[nd - 2] % 8)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "encode: %s (%s) expects RGB images N×3×H×W or 3×H×W with H and W "
                         "multiples of 8, got %s",
                         lctw_vae_kind_name(v->kind), v->path,
                         lctw_tensor_shape_str(a, sizeof a, img));
    int was3;
    lctw_tensor *x = NULL, *y = NULL;
    LCTW_TRY(prepare(&x, img, &was3));
    int64_t sh[4] = {x->shape[0], v->latent_channels, x->shape[2] / 8, x->shape[3] / 8};
    lctw_status s = lctw_tensor_empty(&y, 4, sh, LCTW_DEV_CPU);
    if (s == LCTW_OK)
        s = run_chunks(v, v->kind == LCTW_VAE_TAESD_ENCODER ? taesd_encode : vaelight_encode, x, y,
                       64 * x->shape[2] * x->shape[3]);
    lctw_tensor_release(x);
    if (s != LCTW_OK) {
        lctw_tensor_release(y);
        return s;
    }
    return finish(z, y, was3);
}
