/* test_ops_conv.c — the convolution-family ops (src/core/ops/ops_conv.h): forward against direct
 * double-precision loops written here (no im2col), backward against central finite differences
 * (gradcheck.h) on odd sizes, strides, paddings and kernel sizes; the im2col blocking is
 * exercised both with the default scratch budget (several samples per GEMM) and a tiny one
 * (a few output rows per GEMM). Also: shape errors, arena steady state, and a GFLOP/s figure
 * for a 3×3 conv forward+backward on (8, 64, 32, 32). */
#include <time.h>

#include "test.h"

#include "core/ops/ops.h"
#include "gradcheck.h"

#define D(t) lctw_tensor_data(t)

static gc_opts conv_opts(void) {
    gc_opts o = {.eps = 1e-2, .atol = 2e-3, .rtol = 2e-2, .max_elems = 0};
    return o;
}

/* Runs y = fn(in) on a fresh context and compares every element with ref (double), the shape
 * with shape[4]; *worst receives the largest |y − ref|. */
static void check_forward(gc_fn fn, void *ud, lctw_tensor **in, const int64_t *shape,
                          const double *ref, double tol, double *worst) {
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_tensor *y = NULL;
    CHECK_OK(fn(&c, in, ud, &y));
    if (!case_failed) {
        char s1[96], s2[96];
        CHECK(y->ndim == 4 && !memcmp(y->shape, shape, 4 * sizeof(int64_t)),
              "shape %s, expected %s", lctw_tensor_shape_str(s1, sizeof s1, y),
              lctw_shape_str(s2, sizeof s2, 4, shape));
    }
    if (!case_failed) {
        const float *yp = D(y);
        for (int64_t i = 0; i < lctw_shape_numel(4, shape); i++) {
            double e = fabs(yp[i] - ref[i]);
            if (e > *worst) *worst = e;
            if (!(e <= tol + tol * fabs(ref[i]))) {
                CHECK(0, "element %lld: %.9g, expected %.9g", (long long)i, yp[i], ref[i]);
                break;
            }
        }
    }
    lctw_ctx_release(&c);
}

/* ---- conv2d ---- */
typedef struct {
    int64_t N, Cin, Cout, H, W, kh, kw, s, p;
    int bias;
} conv_cfg;

static int64_t out_size(int64_t n, int64_t k, int64_t s, int64_t p) {
    return (n + 2 * p - k) / s + 1;
}

static lctw_status f_conv(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    conv_cfg *g = ud;
    return lctw_op_conv2d(c, in[0], in[1], in[2], (int)g->s, (int)g->p, y);
}

/* y[n][o][i][j] = b[o] + Σ_{c,u,v} x[n][c][i·s − p + u][j·s − p + v] · w[o][c][u][v] */
static double *ref_conv(const conv_cfg *g, const float *x, const float *w, const float *b,
                        int64_t *shape) {
    int64_t Ho = out_size(g->H, g->kh, g->s, g->p), Wo = out_size(g->W, g->kw, g->s, g->p);
    shape[0] = g->N, shape[1] = g->Cout, shape[2] = Ho, shape[3] = Wo;
    double *y = calloc((size_t)(g->N * g->Cout * Ho * Wo), sizeof(double));
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t o = 0; o < g->Cout; o++)
            for (int64_t i = 0; i < Ho; i++)
                for (int64_t j = 0; j < Wo; j++) {
                    double acc = b ? b[o] : 0.0;
                    for (int64_t ci = 0; ci < g->Cin; ci++)
                        for (int64_t u = 0; u < g->kh; u++)
                            for (int64_t v = 0; v < g->kw; v++) {
                                int64_t iy = i * g->s - g->p + u, ix = j * g->s - g->p + v;
                                if (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W) continue;
                                acc += (double)x[((n * g->Cin + ci) * g->H + iy) * g->W + ix] *
                                       w[((o * g->Cin + ci) * g->kh + u) * g->kw + v];
                            }
                    y[((n * g->Cout + o) * Ho + i) * Wo + j] = acc;
                }
    return y;
}

/* forward and gradients of one configuration, with the default and with a tiny scratch budget */
static void conv_case(conv_cfg g) {
    int64_t xs[4] = {g.N, g.Cin, g.H, g.W}, ws[4] = {g.Cout, g.Cin, g.kh, g.kw}, bs[1] = {g.Cout};
    lctw_tensor *in[3] = {gc_input(4, xs, 21, 1, 0), gc_input(4, ws, 22, 0.5f, 0),
                          g.bias ? gc_input(1, bs, 23, 1, 0) : NULL};
    int64_t shape[4];
    double *ref = ref_conv(&g, D(in[0]), D(in[1]), in[2] ? D(in[2]) : NULL, shape);
    double worst = 0, gerr = 0;
    const int64_t budgets[2] = {0, 1};
    for (int k = 0; k < 2 && !case_failed; k++) {
        lctw_conv_scratch_floats = budgets[k];
        check_forward(f_conv, &g, in, shape, ref, 1e-5, &worst);
        if (case_failed) break;
        check_grad(LCTW_OP_conv2d, f_conv, &g, 3, in, conv_opts());
        if (case_detail[0]) sscanf(case_detail, "max err %lf", &gerr);
    }
    lctw_conv_scratch_floats = 0;
    test_detail("fwd max |err| %.2g, grad max err %.3f of tolerance", worst, gerr);
    free(ref);
    for (int i = 0; i < 3; i++)
        lctw_tensor_release(in[i]);
}

static void t_conv2d_1x1(void) { conv_case((conv_cfg){2, 3, 4, 5, 7, 1, 1, 1, 0, 1}); }
static void t_conv2d_1x1_stride2(void) { conv_case((conv_cfg){2, 3, 4, 5, 7, 1, 1, 2, 0, 1}); }
static void t_conv2d_2x2_stride2(void) { conv_case((conv_cfg){2, 3, 4, 6, 8, 2, 2, 2, 0, 1}); }
static void t_conv2d_2x2_stride2_odd(void) { conv_case((conv_cfg){3, 3, 4, 5, 7, 2, 2, 2, 0, 1}); }
static void t_conv2d_3x3_pad1(void) { conv_case((conv_cfg){2, 3, 4, 5, 7, 3, 3, 1, 1, 1}); }
static void t_conv2d_3x3_pad0(void) { conv_case((conv_cfg){2, 3, 4, 5, 7, 3, 3, 1, 0, 1}); }
static void t_conv2d_3x3_stride2_pad1(void) { conv_case((conv_cfg){3, 3, 4, 5, 7, 3, 3, 2, 1, 1}); }
static void t_conv2d_3x3_no_bias(void) { conv_case((conv_cfg){2, 3, 4, 5, 7, 3, 3, 1, 1, 0}); }
static void t_conv2d_1x3_pad2(void) { conv_case((conv_cfg){2, 2, 3, 4, 5, 1, 3, 1, 2, 1}); }

/* only the weight requires grad (e.g. the first conv on data), and only the input */
static void t_conv2d_partial_grad(void) {
    conv_cfg g = {2, 3, 4, 5, 7, 3, 3, 1, 1, 1};
    int64_t xs[4] = {2, 3, 5, 7}, ws[4] = {4, 3, 3, 3}, bs[1] = {4};
    lctw_tensor *in[3] = {gc_input(4, xs, 31, 1, 0), gc_input(4, ws, 32, 0.5f, 0),
                          gc_input(1, bs, 33, 1, 0)};
    char why[256];
    for (int k = 0; k < 3 && !case_failed; k++) {
        for (int i = 0; i < 3; i++)
            in[i]->requires_grad = i == k;
        gc_opts o = conv_opts();
        CHECK(!gradcheck(f_conv, &g, 3, in, &o, why, sizeof why), "only input %d: %s", k + 1, why);
    }
    for (int i = 0; i < 3; i++)
        lctw_tensor_release(in[i]);
}

/* ---- conv_transpose2d ---- */
static lctw_status f_convt(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    conv_cfg *g = ud;
    return lctw_op_conv_transpose2d(c, in[0], in[1], in[2], (int)g->s, (int)g->p, y);
}

/* The definition by scatter: each x[n][c][i][j] adds x·w[c][o][u][v] to y[n][o][i·s − p + u][j·s −
 * p + v]. */
static double *ref_convt(const conv_cfg *g, const float *x, const float *w, const float *b,
                         int64_t *shape) {
    int64_t Ho = (g->H - 1) * g->s - 2 * g->p + g->kh, Wo = (g->W - 1) * g->s - 2 * g->p + g->kw;
    shape[0] = g->N, shape[1] = g->Cout, shape[2] = Ho, shape[3] = Wo;
    double *y = calloc((size_t)(g->N * g->Cout * Ho * Wo), sizeof(double));
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t o = 0; o < g->Cout; o++)
            for (int64_t i = 0; i < Ho * Wo; i++)
                y[(n * g->Cout + o) * Ho * Wo + i] = b ? b[o] : 0.0;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t ci = 0; ci < g->Cin; ci++)
            for (int64_t i = 0; i < g->H; i++)
                for (int64_t j = 0; j < g->W; j++)
                    for (int64_t o = 0; o < g->Cout; o++)
                        for (int64_t u = 0; u < g->kh; u++)
                            for (int64_t v = 0; v < g->kw; v++) {
                                int64_t oy = i * g->s - g->p + u, ox = j * g->s - g->p + v;
                                if (oy < 0 || oy >= Ho || ox < 0 || ox >= Wo) continue;
                                y[((n * g->Cout + o) * Ho + oy) * Wo + ox] +=
                                    (double)x[((n * g->Cin + ci) * g->H + i) * g->W + j] *
                                    w[((ci * g->Cout + o) * g->kh + u) * g->kw + v];
                            }
    return y;
}

static void convt_case(conv_cfg g) {
    int64_t xs[4] = {g.N, g.Cin, g.H, g.W}, ws[4] = {g.Cin, g.Cout, g.kh, g.kw}, bs[1] = {g.Cout};
    lctw_tensor *in[3] = {gc_input(4, xs, 41, 1, 0), gc_input(4, ws, 42, 0.5f, 0),
                          g.bias ? gc_input(1, bs, 43, 1, 0) : NULL};
    int64_t shape[4];
    double *ref = ref_convt(&g, D(in[0]), D(in[1]), in[2] ? D(in[2]) : NULL, shape);
    double worst = 0, gerr = 0;
    const int64_t budgets[2] = {0, 1};
    for (int k = 0; k < 2 && !case_failed; k++) {
        lctw_conv_scratch_floats = budgets[k];
        check_forward(f_convt, &g, in, shape, ref, 1e-5, &worst);
        if (case_failed) break;
        check_grad(LCTW_OP_conv_transpose2d, f_convt, &g, 3, in, conv_opts());
        if (case_detail[0]) sscanf(case_detail, "max err %lf", &gerr);
    }
    lctw_conv_scratch_floats = 0;
    test_detail("fwd max |err| %.2g, grad max err %.3f of tolerance", worst, gerr);
    free(ref);
    for (int i = 0; i < 3; i++)
        lctw_tensor_release(in[i]);
}

static void t_conv_transpose2d_2x2_stride2(void) {
    convt_case((conv_cfg){2, 3, 4, 5, 7, 2, 2, 2, 0, 1});
}
static void t_conv_transpose2d_3x3_stride2_pad1(void) {
    convt_case((conv_cfg){3, 3, 4, 5, 7, 3, 3, 2, 1, 1});
}
static void t_conv_transpose2d_3x3_pad1(void) {
    convt_case((conv_cfg){2, 3, 2, 5, 7, 3, 3, 1, 1, 0});
}
static void t_conv_transpose2d_1x1(void) { convt_case((conv_cfg){3, 2, 3, 4, 6, 1, 1, 1, 0, 1}); }

/* ---- resampling ---- */
typedef struct {
    int op, k;
} rs_ud;

static lctw_status f_resample(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    rs_ud *u = ud;
    switch (u->op) {
    case LCTW_OP_avg_pool2d: return lctw_op_avg_pool2d(c, in[0], u->k, y);
    case LCTW_OP_upsample_nearest2x: return lctw_op_upsample_nearest2x(c, in[0], y);
    default: return lctw_op_upsample_bilinear(c, in[0], u->k, y);
    }
}

/* PyTorch align_corners=False: source coordinate max(0, (d + 0.5)/s − 0.5) */
static void ref_bilinear_src(int64_t d, int64_t s, int64_t n, int64_t *i0, int64_t *i1, double *l) {
    double src = (d + 0.5) / (double)s - 0.5;
    if (src < 0) src = 0;
    *i0 = (int64_t)floor(src);
    if (*i0 > n - 1) *i0 = n - 1;
    *i1 = *i0 + 1 < n ? *i0 + 1 : n - 1;
    *l = src - (double)*i0;
}

static double *ref_resample(const rs_ud *u, const lctw_tensor *xt, int64_t *shape) {
    int64_t N = xt->shape[0], C = xt->shape[1], H = xt->shape[2], W = xt->shape[3], k = u->k;
    int64_t Ho, Wo;
    if (u->op == LCTW_OP_avg_pool2d)
        Ho = H / k, Wo = W / k;
    else if (u->op == LCTW_OP_upsample_nearest2x)
        Ho = 2 * H, Wo = 2 * W;
    else
        Ho = k * H, Wo = k * W;
    shape[0] = N, shape[1] = C, shape[2] = Ho, shape[3] = Wo;
    double *y = calloc((size_t)(N * C * Ho * Wo), sizeof(double));
    const float *x = D(xt);
    for (int64_t pl = 0; pl < N * C; pl++)
        for (int64_t i = 0; i < Ho; i++)
            for (int64_t j = 0; j < Wo; j++) {
                const float *xp = x + pl * H * W;
                double v = 0;
                if (u->op == LCTW_OP_avg_pool2d) {
                    for (int64_t a = 0; a < k; a++)
                        for (int64_t b = 0; b < k; b++)
                            v += xp[(i * k + a) * W + j * k + b];
                    v /= (double)(k * k);
                } else if (u->op == LCTW_OP_upsample_nearest2x) {
                    v = xp[(i / 2) * W + j / 2];
                } else {
                    int64_t y0, y1, x0, x1;
                    double ly, lx;
                    ref_bilinear_src(i, k, H, &y0, &y1, &ly);
                    ref_bilinear_src(j, k, W, &x0, &x1, &lx);
                    v = (1 - ly) * ((1 - lx) * xp[y0 * W + x0] + lx * xp[y0 * W + x1]) +
                        ly * ((1 - lx) * xp[y1 * W + x0] + lx * xp[y1 * W + x1]);
                }
                y[(pl * Ho + i) * Wo + j] = v;
            }
    return y;
}

static void resample_case(int op, int k, int64_t N, int64_t C, int64_t H, int64_t W) {
    int64_t xs[4] = {N, C, H, W}, shape[4];
    lctw_tensor *x = gc_input(4, xs, 51, 1, 0);
    rs_ud u = {op, k};
    double *ref = ref_resample(&u, x, shape), worst = 0;
    check_forward(f_resample, &u, &x, shape, ref, 1e-5, &worst);
    if (!case_failed) check_grad(op, f_resample, &u, 1, &x, conv_opts());
    double gerr = 0;
    if (case_detail[0]) sscanf(case_detail, "max err %lf", &gerr);
    test_detail("fwd max |err| %.2g, grad max err %.3f of tolerance", worst, gerr);
    free(ref);
    lctw_tensor_release(x);
}

static void t_avg_pool2d_2(void) { resample_case(LCTW_OP_avg_pool2d, 2, 2, 3, 6, 8); }
static void t_avg_pool2d_2_odd(void) { resample_case(LCTW_OP_avg_pool2d, 2, 2, 3, 5, 7); }
static void t_avg_pool2d_3(void) { resample_case(LCTW_OP_avg_pool2d, 3, 2, 2, 7, 8); }
static void t_avg_pool2d_8(void) { resample_case(LCTW_OP_avg_pool2d, 8, 1, 2, 16, 19); }
static void t_upsample_nearest2x(void) { resample_case(LCTW_OP_upsample_nearest2x, 2, 2, 3, 5, 7); }
static void t_upsample_bilinear_2(void) { resample_case(LCTW_OP_upsample_bilinear, 2, 2, 3, 5, 7); }
static void t_upsample_bilinear_4(void) { resample_case(LCTW_OP_upsample_bilinear, 4, 2, 2, 3, 4); }
static void t_upsample_bilinear_8(void) { resample_case(LCTW_OP_upsample_bilinear, 8, 1, 2, 2, 3); }

/* Values PyTorch gives for interpolate([[1, 3]], scale_factor=2 / 4, mode="bilinear",
 * align_corners=False): the edge outputs clamp to the edge inputs. */
static void t_upsample_bilinear_known_values(void) {
    int64_t xs[4] = {1, 1, 1, 2};
    lctw_tensor *x = gc_input(4, xs, 1, 0, 0), *y;
    D(x)[0] = 1.0f, D(x)[1] = 3.0f;
    const double want2[4] = {1, 1.5, 2.5, 3};
    const double want4[8] = {1, 1, 1.25, 1.75, 2.25, 2.75, 3, 3};
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    CHECK_OK(lctw_op_upsample_bilinear(&c, x, 2, &y));
    if (!case_failed)
        for (int i = 0; i < 4; i++)
            CHECK_NEAR(D(y)[i], want2[i], 1e-6);
    CHECK_OK(lctw_op_upsample_bilinear(&c, x, 4, &y));
    if (!case_failed)
        for (int i = 0; i < 8; i++)
            CHECK_NEAR(D(y)[i], want4[i], 1e-6);
    lctw_ctx_release(&c);
    lctw_tensor_release(x);
}

/* ---- concat_channels ---- */
static lctw_status f_concat(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_concat_channels(c, in[0], in[1], y);
}

static void t_concat_channels(void) {
    int64_t as[4] = {2, 3, 5, 7}, bs[4] = {2, 2, 5, 7}, shape[4] = {2, 5, 5, 7};
    lctw_tensor *in[2] = {gc_input(4, as, 61, 1, 0), gc_input(4, bs, 62, 1, 0)};
    double *ref = calloc(2 * 5 * 35, sizeof(double)), worst = 0;
    for (int64_t n = 0; n < 2; n++)
        for (int64_t ch = 0; ch < 5; ch++)
            for (int64_t i = 0; i < 35; i++)
                ref[(n * 5 + ch) * 35 + i] =
                    ch < 3 ? D(in[0])[(n * 3 + ch) * 35 + i] : D(in[1])[(n * 2 + ch - 3) * 35 + i];
    check_forward(f_concat, NULL, in, shape, ref, 0, &worst);
    if (!case_failed) check_grad(LCTW_OP_concat_channels, f_concat, NULL, 2, in, conv_opts());
    free(ref);
    lctw_tensor_release(in[0]);
    lctw_tensor_release(in[1]);
}

/* ---- errors ---- */
static int msg_has(const char *a, const char *b) {
    const char *m = lctw_error_message();
    return strstr(m, a) && (!b || strstr(m, b));
}

static void t_shape_errors(void) {
    int64_t xs[4] = {2, 3, 5, 7}, w_bad[4] = {4, 2, 3, 3}, w_ok[4] = {4, 3, 3, 3}, b_bad[1] = {3},
            w_big[4] = {4, 3, 9, 3}, wt_bad[4] = {2, 4, 2, 2}, cs[4] = {2, 2, 4, 7},
            x3[3] = {3, 5, 7};
    lctw_tensor *x = gc_input(4, xs, 1, 1, 0), *wb = gc_input(4, w_bad, 2, 1, 0),
                *wo = gc_input(4, w_ok, 3, 1, 0), *bb = gc_input(1, b_bad, 4, 1, 0),
                *wg = gc_input(4, w_big, 5, 1, 0), *wt = gc_input(4, wt_bad, 6, 1, 0),
                *cb = gc_input(4, cs, 7, 1, 0), *x3d = gc_input(3, x3, 8, 1, 0), *y;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_status s = lctw_op_conv2d(&c, x, wb, NULL, 1, 1, &y);
    CHECK(s == LCTW_ESHAPE && msg_has("2×3×5×7", "4×2×3×3"), "conv2d channels: %d %s", s,
          lctw_error_message());
    s = lctw_op_conv2d(&c, x, wo, bb, 1, 1, &y);
    CHECK(s == LCTW_ESHAPE && msg_has("bias 3", "4×3×3×3"), "conv2d bias: %d %s", s,
          lctw_error_message());
    s = lctw_op_conv2d(&c, x, wo, NULL, 0, 1, &y);
    CHECK(s == LCTW_EINVAL && msg_has("stride 0", NULL), "conv2d stride: %d %s", s,
          lctw_error_message());
    s = lctw_op_conv2d(&c, x, wg, NULL, 1, 1, &y);
    CHECK(s == LCTW_ESHAPE && msg_has("4×3×9×3", "2×3×5×7"), "conv2d kernel too big: %d %s", s,
          lctw_error_message());
    s = lctw_op_conv2d(&c, x3d, wo, NULL, 1, 1, &y);
    CHECK(s == LCTW_ESHAPE && msg_has("3×5×7", NULL), "conv2d 3-d input: %d %s", s,
          lctw_error_message());
    s = lctw_op_conv_transpose2d(&c, x, wt, NULL, 2, 0, &y);
    CHECK(s == LCTW_ESHAPE && msg_has("2×3×5×7", "2×4×2×2"), "conv_transpose2d channels: %d %s", s,
          lctw_error_message());
    s = lctw_op_concat_channels(&c, x, cb, &y);
    CHECK(s == LCTW_ESHAPE && msg_has("2×3×5×7", "2×2×4×7"), "concat: %d %s", s,
          lctw_error_message());
    s = lctw_op_avg_pool2d(&c, x, 6, &y);
    CHECK(s == LCTW_ESHAPE && msg_has("6×6", "2×3×5×7"), "avg_pool2d: %d %s", s,
          lctw_error_message());
    s = lctw_op_upsample_bilinear(&c, x, 0, &y);
    CHECK(s == LCTW_EINVAL && msg_has("scale 0", NULL), "bilinear: %d %s", s, lctw_error_message());
    s = lctw_op_upsample_nearest2x(&c, x3d, &y);
    CHECK(s == LCTW_ESHAPE && msg_has("3×5×7", NULL), "nearest: %d %s", s, lctw_error_message());
    lctw_ctx_release(&c);
    lctw_tensor *all[] = {x, wb, wo, bb, wg, wt, cb, x3d};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        lctw_tensor_release(all[i]);
}

/* ---- a U-Net-like chain: arena steady state, every op on the tape ---- */
static void t_arena_steady_state(void) {
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 4096);
    int64_t xs[4] = {2, 4, 16, 16}, w1s[4] = {8, 4, 3, 3}, w2s[4] = {8, 16, 3, 3},
            wts[4] = {8, 4, 2, 2};
    lctw_tensor *x = gc_input(4, xs, 1, 1, 0), *w1 = gc_input(4, w1s, 2, 0.2f, 0),
                *w2 = gc_input(4, w2s, 3, 0.2f, 0), *wt = gc_input(4, wts, 4, 0.2f, 0);
    int64_t after_warmup = 0;
    for (int step = 0; step < 6 && !case_failed; step++) {
        CHECK_OK(lctw_ctx_reset(&c));
        lctw_tensor *h, *d, *u, *k, *h2, *t, *bl, *l;
        CHECK_OK(lctw_op_conv2d(&c, x, w1, NULL, 1, 1, &h));            /* 2×8×16×16 */
        CHECK_OK(lctw_op_avg_pool2d(&c, h, 2, &d));                     /* 2×8×8×8 */
        CHECK_OK(lctw_op_upsample_nearest2x(&c, d, &u));                /* 2×8×16×16 */
        CHECK_OK(lctw_op_concat_channels(&c, u, h, &k));                /* 2×16×16×16 */
        CHECK_OK(lctw_op_conv2d(&c, k, w2, NULL, 2, 1, &h2));           /* 2×8×8×8 */
        CHECK_OK(lctw_op_conv_transpose2d(&c, h2, wt, NULL, 2, 0, &t)); /* 2×4×16×16 */
        CHECK_OK(lctw_op_upsample_bilinear(&c, t, 2, &bl));             /* 2×4×32×32 */
        CHECK_OK(lctw_op_mean(&c, bl, &l));
        if (case_failed) break;
        CHECK_OK(lctw_backward(&c, l, NULL));
        CHECK(x->grad && w1->grad && w2->grad && wt->grad, "a gradient is missing");
        x->grad = w1->grad = w2->grad = wt->grad = NULL;
        if (step == 2) after_warmup = c.arena.n_allocs;
    }
    CHECK(c.arena.n_allocs == after_warmup, "arena allocated %lld chunks after warm-up",
          (long long)(c.arena.n_allocs - after_warmup));
    test_detail("%lld chunk allocations in total", (long long)c.arena.n_allocs);
    lctw_ctx_release(&c);
    lctw_tensor *all[] = {x, w1, w2, wt};
    for (int i = 0; i < 4; i++)
        lctw_tensor_release(all[i]);
}

/* ---- performance sanity: 3×3 conv 64→64 on (8, 64, 32, 32), forward + backward ---- */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void t_conv2d_perf(void) {
    int64_t xs[4] = {8, 64, 32, 32}, ws[4] = {64, 64, 3, 3}, bs[1] = {64};
    lctw_tensor *x = gc_input(4, xs, 71, 1, 0), *w = gc_input(4, ws, 72, 0.05f, 0),
                *b = gc_input(1, bs, 73, 1, 0), *seed = NULL, *y = NULL;
    lctw_tensor_full(&seed, 4, xs, LCTW_DEV_CPU, 1.0f);
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    double fwd = 0, total = 0;
    int reps = 0;
    for (int it = 0; it < 8 && !case_failed; it++) {
        CHECK_OK(lctw_ctx_reset(&c));
        double t0 = now_s();
        CHECK_OK(lctw_op_conv2d(&c, x, w, b, 1, 1, &y));
        double t1 = now_s();
        if (case_failed) break;
        CHECK_OK(lctw_backward(&c, y, seed));
        double t2 = now_s();
        lctw_tensor *db = b->grad;
        x->grad = w->grad = b->grad = NULL; /* arena tensors: they die at the next reset */
        if (it == 0) {
            /* spot-check the forward and the bias gradient (dy = 1: db = N·H·W) */
            const float *xp = D(x), *wp = D(w);
            for (int s = 0; s < 16; s++) {
                int64_t n = (s * 5) % 8, o = (s * 13) % 64, i = (s * 7) % 32,
                        j = (s * 11 + 31 * (s & 1)) % 32;
                double r = D(b)[o];
                for (int64_t ci = 0; ci < 64; ci++)
                    for (int u = 0; u < 3; u++)
                        for (int v = 0; v < 3; v++) {
                            int64_t iy = i - 1 + u, ix = j - 1 + v;
                            if (iy < 0 || iy >= 32 || ix < 0 || ix >= 32) continue;
                            r += (double)xp[((n * 64 + ci) * 32 + iy) * 32 + ix] *
                                 wp[((o * 64 + ci) * 3 + u) * 3 + v];
                        }
                CHECK_CLOSE(D(y)[((n * 64 + o) * 32 + i) * 32 + j], r, 1e-4, 1e-4);
            }
            CHECK_CLOSE(D(db)[5], 8.0 * 32 * 32, 1e-2, 1e-5);
        } else {
            fwd += t1 - t0;
            total += t2 - t0;
            reps++;
            if (total > 1.0) break;
        }
    }
    if (reps) {
        double flop = 2.0 * 8 * 64 * 32 * 32 * 64 * 9; /* one pass; backward = 2 passes */
        test_detail("3×3 conv 64→64 on 8×64×32×32: fwd %.1f ms (%.1f GFLOP/s), fwd+bwd %.1f ms "
                    "(%.1f GFLOP/s)",
                    1e3 * fwd / reps, flop * reps / fwd * 1e-9, 1e3 * total / reps,
                    3 * flop * reps / total * 1e-9);
    }
    lctw_ctx_release(&c);
    lctw_tensor *all[] = {x, w, b, seed};
    for (int i = 0; i < 4; i++)
        lctw_tensor_release(all[i]);
}

int main(void) {
    RUN(t_conv2d_1x1);
    RUN(t_conv2d_1x1_stride2);
    RUN(t_conv2d_2x2_stride2);
    RUN(t_conv2d_2x2_stride2_odd);
    RUN(t_conv2d_3x3_pad1);
    RUN(t_conv2d_3x3_pad0);
    RUN(t_conv2d_3x3_stride2_pad1);
    RUN(t_conv2d_3x3_no_bias);
    RUN(t_conv2d_1x3_pad2);
    RUN(t_conv2d_partial_grad);
    RUN(t_conv_transpose2d_2x2_stride2);
    RUN(t_conv_transpose2d_3x3_stride2_pad1);
    RUN(t_conv_transpose2d_3x3_pad1);
    RUN(t_conv_transpose2d_1x1);
    RUN(t_avg_pool2d_2);
    RUN(t_avg_pool2d_2_odd);
    RUN(t_avg_pool2d_3);
    RUN(t_avg_pool2d_8);
    RUN(t_upsample_nearest2x);
    RUN(t_upsample_bilinear_2);
    RUN(t_upsample_bilinear_4);
    RUN(t_upsample_bilinear_8);
    RUN(t_upsample_bilinear_known_values);
    RUN(t_concat_channels);
    RUN(t_shape_errors);
    RUN(t_arena_steady_state);
    RUN(t_conv2d_perf);
    return test_summary();
}
