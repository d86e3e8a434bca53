/* test_ops_norm.c — normalisation, attention, embedding and token-layout ops (ops_norm.h):
 * forward against double-precision loops written here from the PyTorch definitions (EDM
 * DhariwalUNet, timm Attention, DiT, MAE), backward against central finite differences
 * (gradcheck.h; check_grad records op coverage for tests/check/test_op_coverage.sh). */
#include "test.h"

#include "core/ops/ops.h"
#include "gradcheck.h"

static gc_opts default_opts(void) {
    gc_opts o = {.eps = 1e-2, .atol = 2e-3, .rtol = 2e-2, .max_elems = 48};
    return o;
}

#define F(t) lctw_tensor_data(t)

static lctw_tensor *rnd(int nd, const int64_t *s, uint64_t seed, float scale, float shift) {
    return gc_input(nd, s, seed, scale, shift);
}

static void release_all(int n, lctw_tensor **t) {
    for (int i = 0; i < n; i++)
        lctw_tensor_release(t[i]);
}

/* Runs fn once on a fresh context; the caller compares *y and then calls ctx_done. */
static lctw_ctx g_ctx;
static lctw_tensor *fwd(gc_fn fn, void *ud, lctw_tensor **in) {
    lctw_tensor *y = NULL;
    lctw_ctx_init(&g_ctx, LCTW_DEV_CPU, 0);
    lctw_status s = fn(&g_ctx, in, ud, &y);
    if (s != LCTW_OK) {
        test_fail_(__FILE__, __LINE__, "forward failed: %s", lctw_error_message());
        return NULL;
    }
    return y;
}
static void ctx_done(void) { lctw_ctx_release(&g_ctx); }

/* Compares n floats with a double reference; returns the worst |a − r|. */
static double cmp(const float *a, const double *r, int64_t n, double atol, double rtol,
                  const char *what) {
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(a[i] - r[i]);
        if (e > worst) worst = e;
        if (!(e <= atol + rtol * fabs(r[i]))) {
            test_fail_(__FILE__, __LINE__, "%s[%lld] = %.9g, expected %.9g", what, (long long)i,
                       a[i], r[i]);
            break;
        }
    }
    return worst;
}

static void check_shape(const lctw_tensor *y, int nd, const int64_t *s) {
    int ok = y && y->ndim == nd;
    for (int i = 0; ok && i < nd; i++)
        ok = y->shape[i] == s[i];
    char b[96];
    CHECK(ok, "output shape %s", y ? lctw_tensor_shape_str(b, sizeof b, y) : "none");
}

/* ---- reference normalisation: blocks of L elements, affine by index ---- */
static void ref_block_norm(const float *x, int64_t L, double eps, double *xhat) {
    double mu = 0.0, v = 0.0;
    for (int64_t i = 0; i < L; i++)
        mu += x[i];
    mu /= (double)L;
    for (int64_t i = 0; i < L; i++)
        v += (x[i] - mu) * (x[i] - mu);
    v /= (double)L;
    for (int64_t i = 0; i < L; i++)
        xhat[i] = (x[i] - mu) / sqrt(v + eps);
}

/* ---- norm_chw (NsLN and LayerNorm([C,H,W])) ---- */
typedef struct {
    float eps;
    int64_t groups;
} norm_ud;

static lctw_status f_norm_chw(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_norm_chw(c, in[0], in[1], in[2], ((norm_ud *)ud)->eps, y);
}

static void norm_chw_case(int with_gamma) {
    int64_t xs[4] = {2, 6, 3, 3}, ps[3] = {6, 3, 3};
    lctw_tensor *in[3] = {rnd(4, xs, 21, 2.0f, 1.5f),
                          with_gamma ? rnd(3, ps, 22, 0.5f, 1.0f) : NULL,
                          rnd(3, ps, 23, 1.0f, 0.0f)};
    norm_ud ud = {1e-5f, 0};
    lctw_tensor *y = fwd(f_norm_chw, &ud, in);
    if (y) {
        check_shape(y, 4, xs);
        int64_t L = 54;
        double ref[108], xh[54], worst_mean = 0, worst_var = 0;
        for (int n = 0; n < 2; n++) {
            ref_block_norm(F(in[0]) + n * L, L, 1e-5, xh);
            for (int64_t j = 0; j < L; j++)
                ref[n * L + j] = xh[j] * (with_gamma ? F(in[1])[j] : 1.0) + F(in[2])[j];
            if (!with_gamma) { /* the NsLN property: y − β has zero mean and unit variance */
                double m = 0, v = 0;
                for (int64_t j = 0; j < L; j++)
                    m += F(y)[n * L + j] - F(in[2])[j];
                m /= (double)L;
                for (int64_t j = 0; j < L; j++) {
                    double d = F(y)[n * L + j] - F(in[2])[j] - m;
                    v += d * d;
                }
                v /= (double)L;
                if (fabs(m) > worst_mean) worst_mean = fabs(m);
                if (fabs(v - 1) > worst_var) worst_var = fabs(v - 1);
            }
        }
        cmp(F(y), ref, 108, 1e-5, 1e-5, "y");
        CHECK(worst_mean < 1e-6 && worst_var < 1e-4, "per-sample mean %.3g, |var − 1| %.3g",
              worst_mean, worst_var);
    }
    ctx_done();
    check_grad(LCTW_OP_norm_chw, f_norm_chw, &ud, 3, in, default_opts());
    release_all(3, in);
}
static void t_nsln(void) { norm_chw_case(0); }
static void t_norm_chw_affine(void) { norm_chw_case(1); }

/* rows longer than the fp32 partial-sum chunk (vec.h), with a mean far from 0 */
static void t_nsln_long_rows(void) {
    int64_t xs[4] = {2, 5, 25, 25}, ps[3] = {5, 25, 25}, L = 3125;
    lctw_tensor *in[3] = {rnd(4, xs, 24, 0.5f, 100.0f), NULL, rnd(3, ps, 25, 1.0f, 0.0f)};
    norm_ud ud = {1e-5f, 0};
    lctw_tensor *y = fwd(f_norm_chw, &ud, in);
    if (y) {
        static double ref[6250], xh[3125];
        for (int n = 0; n < 2; n++) {
            ref_block_norm(F(in[0]) + n * L, L, 1e-5, xh);
            for (int64_t j = 0; j < L; j++)
                ref[n * L + j] = xh[j] + F(in[2])[j];
        }
        cmp(F(y), ref, 2 * L, 2e-4, 1e-5, "y");
    }
    ctx_done();
    /* gradients at mean 0: at mean 100 the fp32 rounding of μ (ulp 7.6e-6) moves every output
     * at once and swamps the finite differences, not the backward */
    for (int64_t j = 0; j < 2 * L; j++)
        F(in[0])[j] -= 100.0f;
    check_grad(LCTW_OP_norm_chw, f_norm_chw, &ud, 3, in, default_opts());
    release_all(3, in);
}

static void t_norm_chw_bad_beta(void) {
    int64_t xs[4] = {2, 6, 3, 3}, ps[3] = {6, 3, 4};
    lctw_tensor *x = rnd(4, xs, 1, 1, 0), *b = rnd(3, ps, 2, 1, 0), *y;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_status s = lctw_op_norm_chw(&c, x, NULL, b, 1e-5f, &y);
    CHECK(s == LCTW_ESHAPE, "status %d", s);
    CHECK(strstr(lctw_error_message(), "6×3×4") && strstr(lctw_error_message(), "6×3×3"),
          "message: %s", lctw_error_message());
    lctw_ctx_release(&c);
    lctw_tensor_release(x);
    lctw_tensor_release(b);
}

/* ---- layer_norm over the last dim ---- */
static lctw_status f_layer_norm(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_layer_norm(c, in[0], in[1], in[2], ((norm_ud *)ud)->eps, y);
}

static void layer_norm_case(int affine, float eps) {
    int64_t xs[3] = {2, 5, 7}, ps[1] = {7};
    lctw_tensor *in[3] = {rnd(3, xs, 31, 1.5f, -0.7f), affine ? rnd(1, ps, 32, 0.5f, 1.0f) : NULL,
                          affine ? rnd(1, ps, 33, 1.0f, 0.0f) : NULL};
    norm_ud ud = {eps, 0};
    lctw_tensor *y = fwd(f_layer_norm, &ud, in);
    if (y) {
        check_shape(y, 3, xs);
        double ref[70], xh[7];
        for (int r = 0; r < 10; r++) {
            ref_block_norm(F(in[0]) + r * 7, 7, eps, xh);
            for (int j = 0; j < 7; j++)
                ref[r * 7 + j] = affine ? xh[j] * F(in[1])[j] + F(in[2])[j] : xh[j];
        }
        cmp(F(y), ref, 70, 1e-5, 1e-5, "y");
    }
    ctx_done();
    check_grad(LCTW_OP_layer_norm, f_layer_norm, &ud, 3, in, default_opts());
    release_all(3, in);
}
static void t_layer_norm_affine(void) { layer_norm_case(1, 1e-5f); }
static void t_layer_norm_plain(void) { layer_norm_case(0, 1e-6f); }

/* ---- group_norm ---- */
static lctw_status f_group_norm(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    norm_ud *u = ud;
    return lctw_op_group_norm(c, in[0], u->groups, in[1], in[2], u->eps, y);
}

static void group_norm_case(int64_t groups, int affine) {
    int64_t xs[4] = {2, 6, 3, 3}, ps[1] = {6};
    lctw_tensor *in[3] = {rnd(4, xs, 41, 2.0f, 0.5f), affine ? rnd(1, ps, 42, 0.5f, 1.0f) : NULL,
                          affine ? rnd(1, ps, 43, 1.0f, 0.0f) : NULL};
    norm_ud ud = {1e-5f, groups};
    lctw_tensor *y = fwd(f_group_norm, &ud, in);
    if (y) {
        double ref[108], xh[54];
        int64_t cg = 6 / groups, L = cg * 9;
        for (int n = 0; n < 2; n++)
            for (int64_t g = 0; g < groups; g++) {
                ref_block_norm(F(in[0]) + (n * 6 + g * cg) * 9, L, 1e-5, xh);
                for (int64_t k = 0; k < L; k++) {
                    int64_t ch = g * cg + k / 9;
                    ref[(n * 6 + g * cg) * 9 + k] =
                        affine ? xh[k] * F(in[1])[ch] + F(in[2])[ch] : xh[k];
                }
            }
        cmp(F(y), ref, 108, 1e-5, 1e-5, "y");
    }
    ctx_done();
    check_grad(LCTW_OP_group_norm, f_group_norm, &ud, 3, in, default_opts());
    release_all(3, in);
}
static void t_group_norm_3(void) { group_norm_case(3, 1); }
static void t_group_norm_1_plain(void) { group_norm_case(1, 0); }

/* groups of 2 channels × 32×32: longer than the fp32 partial-sum chunk */
static void t_group_norm_large(void) {
    int64_t xs[4] = {2, 4, 32, 32}, ps[1] = {4}, S = 1024;
    lctw_tensor *in[3] = {rnd(4, xs, 44, 1.5f, 3.0f), rnd(1, ps, 45, 0.5f, 1.0f),
                          rnd(1, ps, 46, 1.0f, 0.0f)};
    norm_ud ud = {1e-5f, 2};
    lctw_tensor *y = fwd(f_group_norm, &ud, in);
    if (y) {
        static double ref[8192], xh[2048];
        for (int n = 0; n < 2; n++)
            for (int g = 0; g < 2; g++) {
                ref_block_norm(F(in[0]) + (n * 4 + g * 2) * S, 2 * S, 1e-5, xh);
                for (int64_t k = 0; k < 2 * S; k++) {
                    int64_t ch = g * 2 + k / S;
                    ref[(n * 4 + g * 2) * S + k] = xh[k] * F(in[1])[ch] + F(in[2])[ch];
                }
            }
        cmp(F(y), ref, 8192, 1e-5, 1e-5, "y");
    }
    ctx_done();
    check_grad(LCTW_OP_group_norm, f_group_norm, &ud, 3, in, default_opts());
    release_all(3, in);
}

static void t_group_norm_bad_groups(void) {
    int64_t xs[4] = {2, 6, 3, 3};
    lctw_tensor *x = rnd(4, xs, 1, 1, 0), *y;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_status s = lctw_op_group_norm(&c, x, 4, NULL, NULL, 1e-5f, &y);
    CHECK(s == LCTW_ESHAPE && strstr(lctw_error_message(), "6 channels") &&
              strstr(lctw_error_message(), "4 groups"),
          "status %d, message: %s", s, lctw_error_message());
    lctw_ctx_release(&c);
    lctw_tensor_release(x);
}

/* ---- softmax ---- */
static lctw_status f_softmax(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_softmax(c, in[0], y);
}

static void t_softmax(void) {
    int64_t xs[2] = {3, 7};
    lctw_tensor *x = rnd(2, xs, 51, 2.0f, 0.0f);
    F(x)[3] += 90.0f; /* large logits: exp would overflow without the max shift */
    lctw_tensor *y = fwd(f_softmax, NULL, &x);
    if (y) {
        double ref[21];
        for (int r = 0; r < 3; r++) {
            double mx = -1e300, s = 0;
            for (int j = 0; j < 7; j++)
                mx = fmax(mx, F(x)[r * 7 + j]);
            for (int j = 0; j < 7; j++)
                s += exp(F(x)[r * 7 + j] - mx);
            for (int j = 0; j < 7; j++)
                ref[r * 7 + j] = exp(F(x)[r * 7 + j] - mx) / s;
        }
        cmp(F(y), ref, 21, 1e-7, 1e-5, "y");
    }
    ctx_done();
    F(x)[3] -= 90.0f;
    check_grad(LCTW_OP_softmax, f_softmax, NULL, 1, &x, default_opts());
    lctw_tensor_release(x);
}

/* The exponential over its whole useful range: logits 0 … −86 below the row max, so the
 * smallest probabilities are ~1e-38; relative agreement with exp in double. A NaN logit makes
 * its row NaN; an all −∞ row does not crash (gives a finite row). */
static void t_softmax_range(void) {
    int64_t s2[2] = {3, 67};
    lctw_tensor *x = rnd(2, s2, 52, 0.1f, 0.0f);
    for (int j = 0; j < 67; j++)
        F(x)[j] = 3.0f - 1.3f * (float)((j * 37) % 67); /* down to −82.8 */
    F(x)[67 + 5] = NAN;
    for (int j = 0; j < 67; j++)
        F(x)[134 + j] = -INFINITY;
    lctw_tensor *y = fwd(f_softmax, NULL, &x);
    if (y) {
        double ref[67], mx = 3.0, s = 0, worst = 0, pmin = 1;
        for (int j = 0; j < 67; j++)
            s += exp(F(x)[j] - mx);
        for (int j = 0; j < 67; j++)
            ref[j] = exp(F(x)[j] - mx) / s;
        for (int j = 0; j < 67; j++) {
            worst = fmax(worst, fabs(F(y)[j] - ref[j]) / ref[j]);
            pmin = fmin(pmin, ref[j]);
        }
        cmp(F(y), ref, 67, 0, 2e-6, "y");
        int nan_row = 1, finite_row = 1;
        for (int j = 0; j < 67; j++)
            nan_row &= isnan(F(y)[67 + j]);
        for (int j = 0; j < 67; j++)
            finite_row &= isfinite(F(y)[134 + j]);
        CHECK(nan_row, "a NaN logit did not make its row NaN");
        CHECK(finite_row, "an all −inf row gave non-finite values");
        test_detail("worst relative error %.2g down to p = %.2g", worst, pmin);
    }
    ctx_done();
    lctw_tensor_release(x);
}

/* ---- attention ---- */

/* Naive attention of one head: q (Tq×dh), k (Tk×dh), v (Tk×dv) given by element accessors
 * through strides; o (Tq×dv) in double. */
typedef struct {
    const float *p;
    int64_t si, sj; /* element (i, j) at p[i·si + j·sj] */
} acc2;

static double at(acc2 a, int64_t i, int64_t j) { return a.p[i * a.si + j * a.sj]; }

static void ref_head(acc2 q, acc2 k, acc2 v, int64_t Tq, int64_t Tk, int64_t dh, int64_t dv,
                     double *o /* Tq×dv */) {
    for (int64_t i = 0; i < Tq; i++) {
        double w[64], mx = -1e300, s = 0;
        for (int64_t j = 0; j < Tk; j++) {
            double d = 0;
            for (int64_t e = 0; e < dh; e++)
                d += at(q, i, e) * at(k, j, e);
            w[j] = d / sqrt((double)dh);
            mx = fmax(mx, w[j]);
        }
        for (int64_t j = 0; j < Tk; j++)
            s += (w[j] = exp(w[j] - mx));
        for (int64_t e = 0; e < dv; e++) {
            double a = 0;
            for (int64_t j = 0; j < Tk; j++)
                a += w[j] / s * at(v, j, e);
            o[i * dv + e] = a;
        }
    }
}

static lctw_status f_attention(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_attention(c, in[0], in[1], in[2], y);
}

static void attention_case(int64_t Tk, int64_t dv) {
    int64_t B = 2, H = 2, Tq = 5, dh = 3;
    int64_t qs[4] = {B, H, Tq, dh}, ks[4] = {B, H, Tk, dh}, vs[4] = {B, H, Tk, dv};
    lctw_tensor *in[3] = {rnd(4, qs, 61, 1.0f, 0), rnd(4, ks, 62, 1.0f, 0),
                          rnd(4, vs, 63, 1.0f, 0)};
    lctw_tensor *y = fwd(f_attention, NULL, in);
    if (y) {
        int64_t os[4] = {B, H, Tq, dv};
        check_shape(y, 4, os);
        double ref[2 * 2 * 5 * 4];
        for (int64_t bh = 0; bh < B * H; bh++) {
            acc2 q = {F(in[0]) + bh * Tq * dh, dh, 1}, k = {F(in[1]) + bh * Tk * dh, dh, 1},
                 v = {F(in[2]) + bh * Tk * dv, dv, 1};
            ref_head(q, k, v, Tq, Tk, dh, dv, ref + bh * Tq * dv);
        }
        double e = cmp(F(y), ref, B * H * Tq * dv, 1e-5, 1e-5, "out");
        test_detail("forward max err %.2g", e);
    }
    ctx_done();
    check_grad(LCTW_OP_attention, f_attention, NULL, 3, in, default_opts());
    release_all(3, in);
}
static void t_attention(void) { attention_case(5, 3); }
static void t_attention_cross(void) { attention_case(4, 2); }

typedef struct {
    int64_t heads;
} heads_ud;

static lctw_status f_attention_tokens(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_attention_tokens(c, in[0], ((heads_ud *)ud)->heads, y);
}

/* timm: qkv.reshape(B, T, 3, heads, dh).permute(2, 0, 3, 1, 4); out.transpose(1, 2).reshape */
static void t_attention_tokens(void) {
    int64_t B = 2, T = 5, heads = 2, dh = 3, Dm = heads * dh, xs[3] = {B, T, 3 * Dm};
    lctw_tensor *x = rnd(3, xs, 71, 1.0f, 0);
    heads_ud ud = {heads};
    lctw_tensor *y = fwd(f_attention_tokens, &ud, &x);
    if (y) {
        int64_t os[3] = {B, T, Dm};
        check_shape(y, 3, os);
        double ref[2 * 5 * 6], o[5 * 3];
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < heads; h++) {
                const float *base = F(x) + b * T * 3 * Dm + h * dh;
                acc2 q = {base, 3 * Dm, 1}, k = {base + Dm, 3 * Dm, 1},
                     v = {base + 2 * Dm, 3 * Dm, 1};
                ref_head(q, k, v, T, T, dh, dh, o);
                for (int64_t t = 0; t < T; t++)
                    for (int64_t d = 0; d < dh; d++)
                        ref[(b * T + t) * Dm + h * dh + d] = o[t * dh + d];
            }
        cmp(F(y), ref, B * T * Dm, 1e-5, 1e-5, "out");
        /* the unfused path gives the same: split ×3, attention, merge */
        lctw_tensor *q, *k, *v, *a, *m;
        CHECK_OK(lctw_op_split_heads(&g_ctx, x, 3, 0, heads, &q));
        CHECK_OK(lctw_op_split_heads(&g_ctx, x, 3, 1, heads, &k));
        CHECK_OK(lctw_op_split_heads(&g_ctx, x, 3, 2, heads, &v));
        CHECK_OK(lctw_op_attention(&g_ctx, q, k, v, &a));
        CHECK_OK(lctw_op_merge_heads(&g_ctx, a, &m));
        if (!case_failed) cmp(F(m), ref, B * T * Dm, 1e-5, 1e-5, "unfused out");
    }
    ctx_done();
    check_grad(LCTW_OP_attention_tokens, f_attention_tokens, &ud, 1, &x, default_opts());
    lctw_tensor_release(x);
}

static lctw_status f_attention_unet(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_attention_unet(c, in[0], ((heads_ud *)ud)->heads, y);
}

/* EDM: q, k, v = qkv.reshape(B·heads, C/heads, 3, HW).unbind(2);
 * w = softmax_k(einsum('ncq,nck->nqk', q, k/√dc)); a = einsum('nqk,nck->ncq', w, v);
 * a.reshape(B, C, H, W) */
static void t_attention_unet(void) {
    int64_t B = 2, C = 6, heads = 2, dc = 3, Hh = 3, Ww = 3, S = 9, xs[4] = {B, 3 * C, Hh, Ww};
    lctw_tensor *x = rnd(4, xs, 81, 1.0f, 0);
    heads_ud ud = {heads};
    lctw_tensor *y = fwd(f_attention_unet, &ud, &x);
    if (y) {
        int64_t os[4] = {B, C, Hh, Ww};
        check_shape(y, 4, os);
        double ref[2 * 6 * 9];
        const float *p = F(x);
        for (int64_t n = 0; n < B * heads; n++) {
            /* element [n][c][s][pos] of the (B·heads, dc, 3, S) view */
#define QKV(c_, s_, pos_) ((double)p[((n * dc + (c_)) * 3 + (s_)) * S + (pos_)])
            for (int64_t qi = 0; qi < S; qi++) {
                double w[9], mx = -1e300, sum = 0;
                for (int64_t ki = 0; ki < S; ki++) {
                    double d = 0;
                    for (int64_t c = 0; c < dc; c++)
                        d += QKV(c, 0, qi) * (QKV(c, 1, ki) / sqrt(3.0));
                    w[ki] = d;
                    mx = fmax(mx, d);
                }
                for (int64_t ki = 0; ki < S; ki++)
                    sum += (w[ki] = exp(w[ki] - mx));
                for (int64_t c = 0; c < dc; c++) {
                    double a = 0;
                    for (int64_t ki = 0; ki < S; ki++)
                        a += w[ki] / sum * QKV(c, 2, ki);
                    ref[(n * dc + c) * S + qi] = a;
                }
            }
#undef QKV
        }
        double e = cmp(F(y), ref, B * C * S, 1e-5, 1e-5, "out");
        test_detail("forward max err %.2g", e);
    }
    ctx_done();
    check_grad(LCTW_OP_attention_unet, f_attention_unet, &ud, 1, &x, default_opts());
    lctw_tensor_release(x);
}

static void t_attention_unet_bad_heads(void) {
    int64_t xs[4] = {2, 18, 3, 3};
    lctw_tensor *x = rnd(4, xs, 1, 1, 0), *y;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_status s = lctw_op_attention_unet(&c, x, 4, &y);
    CHECK(s == LCTW_ESHAPE && strstr(lctw_error_message(), "6 channels") &&
              strstr(lctw_error_message(), "4 heads"),
          "status %d, message: %s", s, lctw_error_message());
    lctw_ctx_release(&c);
    lctw_tensor_release(x);
}

/* grad off: no node, P kept for one head only, same numbers */
static void t_attention_grad_off(void) {
    int64_t xs[3] = {2, 5, 18};
    lctw_tensor *x = rnd(3, xs, 91, 1.0f, 0), *y1, *y2;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    CHECK_OK(lctw_op_attention_tokens(&c, x, 3, &y1));
    lctw_ctx_set_grad(&c, 0);
    int n0 = c.n_nodes;
    CHECK_OK(lctw_op_attention_tokens(&c, x, 3, &y2));
    CHECK(c.n_nodes == n0, "%d nodes recorded with grad off", c.n_nodes - n0);
    for (int i = 0; i < 2 * 5 * 6 && !case_failed; i++)
        CHECK(F(y1)[i] == F(y2)[i], "element %d: %g with grad, %g without", i, F(y1)[i], F(y2)[i]);
    lctw_ctx_release(&c);
    lctw_tensor_release(x);
}

/* ---- split_heads / merge_heads / chunk ---- */
typedef struct {
    int64_t a, b, c;
} ints_ud;

static lctw_status f_split_heads(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    ints_ud *u = ud;
    return lctw_op_split_heads(c, in[0], u->a, u->b, u->c, y);
}

static void t_split_heads(void) {
    int64_t B = 2, T = 5, n = 3, H = 2, dh = 3, xs[3] = {B, T, n * H * dh};
    lctw_tensor *x = rnd(3, xs, 101, 1, 0);
    ints_ud ud = {n, 1, H};
    lctw_tensor *y = fwd(f_split_heads, &ud, &x);
    if (y) {
        int64_t ys[4] = {B, H, T, dh};
        check_shape(y, 4, ys);
        double ref[60];
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t t = 0; t < T; t++)
                    for (int64_t d = 0; d < dh; d++) /* x.reshape(B, T, n, H, dh)[b, t, 1, h, d] */
                        ref[((b * H + h) * T + t) * dh + d] =
                            F(x)[(((b * T + t) * n + 1) * H + h) * dh + d];
        cmp(F(y), ref, 60, 0, 0, "y");
    }
    ctx_done();
    check_grad(LCTW_OP_split_heads, f_split_heads, &ud, 1, &x, default_opts());
    lctw_tensor_release(x);
}

static lctw_status f_merge_heads(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_merge_heads(c, in[0], y);
}

static void t_merge_heads(void) {
    int64_t B = 2, H = 2, T = 5, dh = 3, xs[4] = {B, H, T, dh};
    lctw_tensor *x = rnd(4, xs, 111, 1, 0);
    lctw_tensor *y = fwd(f_merge_heads, NULL, &x);
    if (y) {
        int64_t ys[3] = {B, T, H * dh};
        check_shape(y, 3, ys);
        double ref[60];
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t h = 0; h < H; h++)
                    for (int64_t d = 0; d < dh; d++)
                        ref[(b * T + t) * H * dh + h * dh + d] =
                            F(x)[((b * H + h) * T + t) * dh + d];
        cmp(F(y), ref, 60, 0, 0, "y");
    }
    ctx_done();
    check_grad(LCTW_OP_merge_heads, f_merge_heads, NULL, 1, &x, default_opts());
    lctw_tensor_release(x);
}

static lctw_status f_chunk(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    ints_ud *u = ud;
    return lctw_op_chunk(c, in[0], (int)u->a, u->b, u->c, y);
}

static void t_chunk(void) {
    /* adaLN: (B, 6D) → part 4 of 6 */
    int64_t xs[2] = {2, 18};
    lctw_tensor *x = rnd(2, xs, 121, 1, 0);
    ints_ud ud = {1, 6, 4};
    lctw_tensor *y = fwd(f_chunk, &ud, &x);
    if (y) {
        int64_t ys[2] = {2, 3};
        check_shape(y, 2, ys);
        double ref[6];
        for (int b = 0; b < 2; b++)
            for (int d = 0; d < 3; d++)
                ref[b * 3 + d] = F(x)[b * 18 + 4 * 3 + d];
        cmp(F(y), ref, 6, 0, 0, "y");
    }
    ctx_done();
    check_grad(LCTW_OP_chunk, f_chunk, &ud, 1, &x, default_opts());
    lctw_tensor_release(x);
    /* images: (N, 3C, H, W) → middle third along channels */
    int64_t is[4] = {2, 6, 2, 3};
    x = rnd(4, is, 122, 1, 0);
    ints_ud u2 = {1, 3, 1};
    y = fwd(f_chunk, &u2, &x);
    if (y) {
        double ref[24];
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 12; k++)
                ref[n * 12 + k] = F(x)[n * 36 + 12 + k];
        cmp(F(y), ref, 24, 0, 0, "y (images)");
    }
    ctx_done();
    gc_opts o = default_opts();
    char why[256];
    CHECK(!gradcheck(f_chunk, &u2, 1, &x, &o, why, sizeof why), "images: %s", why);
    lctw_tensor_release(x);
}

/* ---- embeddings ---- */
typedef struct {
    int64_t dim;
    double max_period;
} temb_ud;

static lctw_status f_temb(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    temb_ud *u = ud;
    return lctw_op_timestep_embedding(c, in[0], u->dim, u->max_period, y);
}

/* EDM PositionalEmbedding(128): freqs = (1/10000)^(j/64), cat([cos, sin]);
 * DiT timestep_embedding(256): freqs = exp(−ln(10000)·j/128), cat([cos, sin]). */
static void temb_case(int64_t dim, int edm_formula) {
    int64_t ts[1] = {4};
    lctw_tensor *t = rnd(1, ts, 131, 1, 0);
    const double sig[4] = {0.002, 0.5, 80.0, 1.0};
    for (int b = 0; b < 4; b++)
        F(t)[b] = (float)(250.0 * log(sig[b])); /* c_noise */
    temb_ud ud = {dim, 10000.0};
    lctw_tensor *y = fwd(f_temb, &ud, &t);
    if (y) {
        int64_t ys[2] = {4, dim};
        check_shape(y, 2, ys);
        double ref[4 * 256];
        int64_t half = dim / 2;
        for (int b = 0; b < 4; b++)
            for (int64_t j = 0; j < half; j++) {
                double f = edm_formula ? pow(1.0 / 10000.0, (double)j / (double)half)
                                       : exp(-log(10000.0) * (double)j / (double)half);
                double a = (double)F(t)[b] * f;
                ref[b * dim + j] = cos(a);
                ref[b * dim + half + j] = sin(a);
            }
        /* |c_noise| up to 1554: the fp32 argument carries ~1e-4 absolute rounding */
        double e = cmp(F(y), ref, 4 * dim, 3e-4, 0, "e");
        test_detail("forward max err %.2g at |c_noise| <= 1554", e);
    }
    ctx_done();
    /* gradient at moderate arguments (finite differences in fp32) */
    for (int b = 0; b < 4; b++)
        F(t)[b] = 0.7f * (float)b - 1.3f;
    temb_ud small = {8, 100.0};
    check_grad(LCTW_OP_timestep_embedding, f_temb, &small, 1, &t, default_opts());
    lctw_tensor_release(t);
}
static void t_timestep_embedding_edm(void) { temb_case(128, 1); }
static void t_timestep_embedding_dit(void) { temb_case(256, 0); }

/* MAE get_2d_sincos_pos_embed: grid = meshgrid(w, h) so grid[0] holds the column coordinate;
 * emb = cat([1d(D/2, grid[0]), 1d(D/2, grid[1])]); 1d(E, pos) = cat([sin(pos·ω), cos(pos·ω)]),
 * ω_k = 1/10000^(k/(E/2)). */
static void t_sincos_pos_embed_2d(void) {
    int64_t Dm = 8, gh = 3, gw = 4;
    lctw_tensor *e;
    CHECK_OK(lctw_sincos_pos_embed_2d(&e, Dm, gh, gw));
    if (case_failed) return;
    int64_t es[2] = {gh * gw, Dm};
    check_shape(e, 2, es);
    double ref[12 * 8];
    int64_t E = Dm / 2;
    for (int64_t i = 0; i < gh; i++)
        for (int64_t j = 0; j < gw; j++) {
            double grid[2] = {(double)j, (double)i}; /* grid[0][i][j] = w_j, grid[1][i][j] = h_i */
            for (int half = 0; half < 2; half++)
                for (int64_t k = 0; k < E / 2; k++) {
                    double om = 1.0 / pow(10000.0, (double)k / (E / 2.0));
                    ref[(i * gw + j) * Dm + half * E + k] = sin(grid[half] * om);
                    ref[(i * gw + j) * Dm + half * E + E / 2 + k] = cos(grid[half] * om);
                }
        }
    cmp(F(e), ref, 12 * 8, 1e-7, 0, "pos");
    /* spot check: token (row 0, col 1), dim 0 = sin(1); dim D/2 = sin(0) = 0 */
    CHECK_NEAR(F(e)[1 * Dm + 0], sin(1.0), 1e-7);
    CHECK_NEAR(F(e)[1 * Dm + Dm / 2], 0.0, 1e-7);
    lctw_tensor_release(e);
    CHECK(lctw_sincos_pos_embed_2d(&e, 6, 2, 2) == LCTW_EINVAL, "D = 6 accepted");
}

/* ---- modulate / gate_add ---- */
static lctw_status f_modulate(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_modulate(c, in[0], in[1], in[2], y);
}

/* reference of x·(1 + scale) + shift with x (B, R, F, I) */
static void modulate_case(int nd, const int64_t *xs, int use_shift, int use_scale) {
    int64_t B = xs[0], R = nd == 3 ? xs[1] : 1, Fd = nd == 3 ? xs[2] : xs[1],
            I = nd == 4 ? xs[2] * xs[3] : 1, ps[2] = {B, Fd};
    lctw_tensor *in[3] = {rnd(nd, xs, 141, 1, 0), use_shift ? rnd(2, ps, 142, 1, 0) : NULL,
                          use_scale ? rnd(2, ps, 143, 0.5f, 0) : NULL};
    lctw_tensor *y = fwd(f_modulate, NULL, in);
    if (y) {
        double ref[256];
        for (int64_t b = 0; b < B; b++)
            for (int64_t r = 0; r < R; r++)
                for (int64_t f = 0; f < Fd; f++)
                    for (int64_t i = 0; i < I; i++) {
                        int64_t k = ((b * R + r) * Fd + f) * I + i;
                        double sc = use_scale ? F(in[2])[b * Fd + f] : 0.0,
                               sh = use_shift ? F(in[1])[b * Fd + f] : 0.0;
                        ref[k] = F(in[0])[k] * (1.0 + sc) + sh;
                    }
        cmp(F(y), ref, B * R * Fd * I, 1e-6, 1e-6, "y");
    }
    ctx_done();
    check_grad(LCTW_OP_modulate, f_modulate, NULL, 3, in, default_opts());
    release_all(3, in);
}
static void t_modulate_tokens(void) {
    int64_t xs[3] = {2, 5, 4};
    modulate_case(3, xs, 1, 1);
}
static void t_modulate_film(void) {
    int64_t xs[4] = {2, 3, 2, 3};
    modulate_case(4, xs, 1, 1);
}
static void t_modulate_shift_only(void) {
    int64_t xs[4] = {2, 3, 2, 3};
    modulate_case(4, xs, 1, 0);
}
static void t_modulate_scale_only_tokens(void) {
    int64_t xs[3] = {2, 5, 4};
    modulate_case(3, xs, 0, 1);
}

static lctw_status f_gate_add(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_gate_add(c, in[0], in[1], in[2], y);
}

static void gate_case(int nd, const int64_t *xs) {
    int64_t B = xs[0], R = nd == 3 ? xs[1] : 1, Fd = nd == 3 ? xs[2] : xs[1],
            I = nd == 4 ? xs[2] * xs[3] : 1, ps[2] = {B, Fd};
    lctw_tensor *in[3] = {rnd(nd, xs, 151, 1, 0), rnd(2, ps, 152, 1, 0), rnd(nd, xs, 153, 1, 0)};
    lctw_tensor *y = fwd(f_gate_add, NULL, in);
    if (y) {
        double ref[256];
        for (int64_t b = 0; b < B; b++)
            for (int64_t r = 0; r < R; r++)
                for (int64_t f = 0; f < Fd; f++)
                    for (int64_t i = 0; i < I; i++) {
                        int64_t k = ((b * R + r) * Fd + f) * I + i;
                        ref[k] = F(in[0])[k] + (double)F(in[1])[b * Fd + f] * F(in[2])[k];
                    }
        cmp(F(y), ref, B * R * Fd * I, 1e-6, 1e-6, "out");
    }
    ctx_done();
    check_grad(LCTW_OP_gate_add, f_gate_add, NULL, 3, in, default_opts());
    release_all(3, in);
}
static void t_gate_add_tokens(void) {
    int64_t xs[3] = {2, 5, 4};
    gate_case(3, xs);
}
static void t_gate_add_channels(void) {
    int64_t xs[4] = {2, 3, 2, 3};
    gate_case(4, xs);
}

static void t_modulate_bad_shape(void) {
    int64_t xs[3] = {2, 5, 4}, ps[2] = {2, 5};
    lctw_tensor *x = rnd(3, xs, 1, 1, 0), *s = rnd(2, ps, 2, 1, 0), *y;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_status st = lctw_op_modulate(&c, x, s, NULL, &y);
    CHECK(st == LCTW_ESHAPE && strstr(lctw_error_message(), "shift has shape 2×5") &&
              strstr(lctw_error_message(), "expected 2×4"),
          "status %d, message: %s", st, lctw_error_message());
    lctw_ctx_release(&c);
    lctw_tensor_release(x);
    lctw_tensor_release(s);
}

/* ---- patchify / unpatchify ---- */
static lctw_status f_patchify(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_patchify(c, in[0], ((ints_ud *)ud)->a, y);
}

/* linear(patchify(x), W.view(D, C·p·p), b) must equal Conv2d(C, D, p, stride p)(x) flattened to
 * tokens (timm PatchEmbed: conv → flatten(2) → transpose(1, 2)), computed here directly. */
static void t_patchify(void) {
    int64_t B = 2, C = 3, Hh = 4, Ww = 6, p = 2, Dm = 5, xs[4] = {B, C, Hh, Ww};
    int64_t ws[2] = {Dm, C * p * p}, bs[1] = {Dm};
    lctw_tensor *x = rnd(4, xs, 161, 1, 0), *w = rnd(2, ws, 162, 1, 0),
                *bias = rnd(1, bs, 163, 1, 0);
    ints_ud ud = {p, 0, 0};
    lctw_tensor *y = fwd(f_patchify, &ud, &x);
    if (y) {
        int64_t gh = Hh / p, gw = Ww / p, T = gh * gw, ys[3] = {B, T, C * p * p};
        check_shape(y, 3, ys);
        lctw_tensor *tok;
        CHECK_OK(lctw_op_linear(&g_ctx, y, w, bias, &tok));
        if (!case_failed) {
            double ref[2 * 6 * 5];
            for (int64_t b = 0; b < B; b++)
                for (int64_t o = 0; o < Dm; o++)
                    for (int64_t hh = 0; hh < gh; hh++)
                        for (int64_t ww = 0; ww < gw; ww++) {
                            double s = F(bias)[o];
                            for (int64_t ci = 0; ci < C; ci++)
                                for (int64_t i = 0; i < p; i++)
                                    for (int64_t j = 0; j < p; j++) /* w[o, ci, i, j] */
                                        s += (double)F(w)[((o * C + ci) * p + i) * p + j] *
                                             F(x)[((b * C + ci) * Hh + hh * p + i) * Ww + ww * p +
                                                  j];
                            ref[(b * T + hh * gw + ww) * Dm + o] = s;
                        }
            cmp(F(tok), ref, B * T * Dm, 1e-5, 1e-5, "patch embedding");
        }
    }
    ctx_done();
    check_grad(LCTW_OP_patchify, f_patchify, &ud, 1, &x, default_opts());
    lctw_tensor_release(x);
    lctw_tensor_release(w);
    lctw_tensor_release(bias);
}

static lctw_status f_unpatchify(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    ints_ud *u = ud;
    return lctw_op_unpatchify(c, in[0], u->a, u->b, y);
}

/* DiT: x.reshape(N, h, w, p, p, C); einsum('nhwpqc->nchpwq'); reshape(N, C, h·p, w·p) */
static void unpatchify_case(int64_t gh_arg, int64_t gh, int64_t gw) {
    int64_t B = 2, C = 3, p = 2, T = gh * gw, xs[3] = {B, T, p * p * C};
    lctw_tensor *x = rnd(3, xs, 171, 1, 0);
    ints_ud ud = {p, gh_arg, 0};
    lctw_tensor *y = fwd(f_unpatchify, &ud, &x);
    if (y) {
        int64_t Hh = gh * p, Ww = gw * p, ys[4] = {B, C, Hh, Ww};
        check_shape(y, 4, ys);
        double ref[2 * 3 * 8 * 8];
        for (int64_t n = 0; n < B; n++)
            for (int64_t h = 0; h < gh; h++)
                for (int64_t w = 0; w < gw; w++)
                    for (int64_t pi = 0; pi < p; pi++)
                        for (int64_t q = 0; q < p; q++)
                            for (int64_t c = 0; c < C; c++)
                                ref[((n * C + c) * Hh + h * p + pi) * Ww + w * p + q] =
                                    F(x)[((((n * gh + h) * gw + w) * p + pi) * p + q) * C + c];
        cmp(F(y), ref, B * C * Hh * Ww, 0, 0, "y");
    }
    ctx_done();
    check_grad(LCTW_OP_unpatchify, f_unpatchify, &ud, 1, &x, default_opts());
    lctw_tensor_release(x);
}
static void t_unpatchify_square(void) { unpatchify_case(0, 3, 3); }
static void t_unpatchify_2x3(void) { unpatchify_case(2, 2, 3); }

/* with one channel the two token orders agree, so unpatchify ∘ patchify is the identity */
static void t_patch_roundtrip(void) {
    int64_t xs[4] = {2, 1, 4, 6};
    lctw_tensor *x = rnd(4, xs, 181, 1, 0), *t, *y;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    CHECK_OK(lctw_op_patchify(&c, x, 2, &t));
    CHECK_OK(lctw_op_unpatchify(&c, t, 2, 2, &y));
    if (!case_failed) {
        check_shape(y, 4, xs);
        for (int i = 0; i < 48 && !case_failed; i++)
            CHECK(F(y)[i] == F(x)[i], "element %d: %g vs %g", i, F(y)[i], F(x)[i]);
    }
    lctw_ctx_release(&c);
    lctw_tensor_release(x);
}

int main(void) {
    RUN(t_nsln);
    RUN(t_norm_chw_affine);
    RUN(t_nsln_long_rows);
    RUN(t_norm_chw_bad_beta);
    RUN(t_layer_norm_affine);
    RUN(t_layer_norm_plain);
    RUN(t_group_norm_3);
    RUN(t_group_norm_1_plain);
    RUN(t_group_norm_large);
    RUN(t_group_norm_bad_groups);
    RUN(t_softmax);
    RUN(t_softmax_range);
    RUN(t_attention);
    RUN(t_attention_cross);
    RUN(t_attention_tokens);
    RUN(t_attention_unet);
    RUN(t_attention_unet_bad_heads);
    RUN(t_attention_grad_off);
    RUN(t_split_heads);
    RUN(t_merge_heads);
    RUN(t_chunk);
    RUN(t_timestep_embedding_edm);
    RUN(t_timestep_embedding_dit);
    RUN(t_sincos_pos_embed_2d);
    RUN(t_modulate_tokens);
    RUN(t_modulate_film);
    RUN(t_modulate_shift_only);
    RUN(t_modulate_scale_only_tokens);
    RUN(t_modulate_bad_shape);
    RUN(t_gate_add_tokens);
    RUN(t_gate_add_channels);
    RUN(t_patchify);
    RUN(t_unpatchify_square);
    RUN(t_unpatchify_2x3);
    RUN(t_patch_roundtrip);
    return test_summary();
}
