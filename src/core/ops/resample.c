/* resample.c — pooling and up-sampling of NCHW images, forward and backward.
 *
 *   avg_pool2d(k)        y[oy][ox] = (1/k²) Σ_{i,j<k} x[k·oy + i][k·ox + j]  (stride k, floor)
 *                        — the U-Net's 2×2 down-sampling (ALGORITHM.md §2A), VAElight's 8×8 pool
 *   upsample_nearest2x   y[2i + a][2j + b] = x[i][j] — the U-Net's up-sampling (EDM's transposed
 *                        conv with the box filter ×4 is exactly this)
 *   upsample_bilinear(s) PyTorch bilinear, align_corners=False, integer scale s: the source
 *                        coordinate of output d is max(0, (d + 0.5)/s − 0.5); y interpolates its
 *                        two neighbours (the upper one clamped to the last row/column) — VAElight
 * Every image plane (n, c) is independent, so the kernels loop over planes of H×W floats.
 * On a CUDA context each direction calls its twin in kernels/ops_conv.cu.
 */
#include <string.h>

#include "ops.h"

#define D(t) lctw_tensor_data(t)

static lctw_status check_image(int op, const lctw_tensor *x) {
    if (x->ndim == 4) return LCTW_OK;
    char s[96];
    return LCTW_FAIL(LCTW_ESHAPE, "%s: input %s must be N×C×H×W", lctw_op_name(op),
                     lctw_tensor_shape_str(s, sizeof s, x));
}

/* ---- avg_pool2d ---- */

static void avgpool_fwd(const float *x, float *y, int64_t P, int64_t H, int64_t W, int64_t k) {
    int64_t Ho = H / k, Wo = W / k;
    float inv = 1.0f / (float)(k * k);
    for (int64_t pl = 0; pl < P; pl++) {
        const float *xp = x + pl * H * W;
        float *yp = y + pl * Ho * Wo;
        for (int64_t oy = 0; oy < Ho; oy++) {
            float *yr = yp + oy * Wo;
            const float *r0 = xp + oy * k * W;
            if (k == 2) {
                const float *r1 = r0 + W;
                for (int64_t ox = 0; ox < Wo; ox++)
                    yr[ox] = (r0[2 * ox] + r0[2 * ox + 1] + r1[2 * ox] + r1[2 * ox + 1]) * 0.25f;
                continue;
            }
            for (int64_t ox = 0; ox < Wo; ox++)
                yr[ox] = 0.0f;
            for (int64_t i = 0; i < k; i++) {
                const float *r = r0 + i * W;
                for (int64_t ox = 0; ox < Wo; ox++) {
                    float s = 0.0f;
                    for (int64_t j = 0; j < k; j++)
                        s += r[ox * k + j];
                    yr[ox] += s;
                }
            }
            for (int64_t ox = 0; ox < Wo; ox++)
                yr[ox] *= inv;
        }
    }
}

static void avgpool_bwd_cpu(const float *gy, float *gx, int64_t P, int64_t H, int64_t W,
                            int64_t k) {
    int64_t Ho = H / k, Wo = W / k;
    float inv = 1.0f / (float)(k * k);
    for (int64_t pl = 0; pl < P; pl++) {
        const float *gp = gy + pl * Ho * Wo;
        float *xp = gx + pl * H * W;
        for (int64_t oy = 0; oy < Ho; oy++)
            for (int64_t i = 0; i < k; i++) {
                float *r = xp + (oy * k + i) * W;
                for (int64_t ox = 0; ox < Wo; ox++) {
                    float v = gp[oy * Wo + ox] * inv;
                    for (int64_t j = 0; j < k; j++)
                        r[ox * k + j] += v;
                }
            }
    }
}

static lctw_status avgpool_bwd(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *g;
    LCTW_TRY(lctw_grad_of(c, x, &g));
    if (lctw_op_cuda(c))
        return lctw_cuda_op_avgpool_bwd(D(nd->out->grad), D(g), x->shape[0] * x->shape[1],
                                        x->shape[2], x->shape[3], nd->ip[0]);
    avgpool_bwd_cpu(D(nd->out->grad), D(g), x->shape[0] * x->shape[1], x->shape[2], x->shape[3],
                    nd->ip[0]);
    return LCTW_OK;
}

lctw_status lctw_op_avg_pool2d(lctw_ctx *c, lctw_tensor *x, int k, lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_avg_pool2d, 1, &x));
    LCTW_TRY(check_image(LCTW_OP_avg_pool2d, x));
    char s[96];
    if (k < 1 || x->shape[2] < k || x->shape[3] < k)
        return LCTW_FAIL(LCTW_ESHAPE, "avg_pool2d: window %d×%d does not fit input %s", k, k,
                         lctw_tensor_shape_str(s, sizeof s, x));
    int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2] / k, x->shape[3] / k};
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 4, shape));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_avgpool_fwd(D(x), D(*y), x->shape[0] * x->shape[1], x->shape[2],
                                          x->shape[3], k));
    else
        avgpool_fwd(D(x), D(*y), x->shape[0] * x->shape[1], x->shape[2], x->shape[3], k);
    if (lctw_needs_grad(c, 1, &x)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_avg_pool2d, avgpool_bwd, 1, &x, *y, &nd));
        nd->ip[0] = k;
    }
    return LCTW_OK;
}

/* ---- upsample_nearest2x ---- */

static void nearest2x_fwd(const float *x, float *y, int64_t P, int64_t H, int64_t W) {
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t i = 0; i < H; i++) {
            const float *xr = x + (pl * H + i) * W;
            float *y0 = y + (pl * 2 * H + 2 * i) * 2 * W;
            for (int64_t j = 0; j < W; j++)
                y0[2 * j] = y0[2 * j + 1] = xr[j];
            memcpy(y0 + 2 * W, y0, (size_t)(2 * W) * sizeof(float));
        }
}

static void nearest2x_bwd_cpu(const float *gy, float *gx, int64_t P, int64_t H, int64_t W) {
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t i = 0; i < H; i++) {
            float *xr = gx + (pl * H + i) * W;
            const float *g0 = gy + (pl * 2 * H + 2 * i) * 2 * W, *g1 = g0 + 2 * W;
            for (int64_t j = 0; j < W; j++)
                xr[j] += (g0[2 * j] + g0[2 * j + 1]) + (g1[2 * j] + g1[2 * j + 1]);
        }
}

static lctw_status nearest2x_bwd(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *g;
    LCTW_TRY(lctw_grad_of(c, x, &g));
    if (lctw_op_cuda(c))
        return lctw_cuda_op_nearest2x_bwd(D(nd->out->grad), D(g), x->shape[0] * x->shape[1],
                                          x->shape[2], x->shape[3]);
    nearest2x_bwd_cpu(D(nd->out->grad), D(g), x->shape[0] * x->shape[1], x->shape[2], x->shape[3]);
    return LCTW_OK;
}

lctw_status lctw_op_upsample_nearest2x(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_upsample_nearest2x, 1, &x));
    LCTW_TRY(check_image(LCTW_OP_upsample_nearest2x, x));
    int64_t shape[4] = {x->shape[0], x->shape[1], 2 * x->shape[2], 2 * x->shape[3]};
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 4, shape));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_nearest2x_fwd(D(x), D(*y), x->shape[0] * x->shape[1], x->shape[2],
                                            x->shape[3]));
    else
        nearest2x_fwd(D(x), D(*y), x->shape[0] * x->shape[1], x->shape[2], x->shape[3]);
    if (lctw_needs_grad(c, 1, &x))
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_upsample_nearest2x, nearest2x_bwd, 1, &x, *y, NULL));
    return LCTW_OK;
}

/* ---- upsample_bilinear ---- */

/* Source neighbours i0 ≤ i1 of output index d and the weight l1 of i1 (input size n). */
static inline void bilinear_src(int64_t d, float inv, int64_t n, int64_t *i0, int64_t *i1,
                                float *l1) {
    float s = ((float)d + 0.5f) * inv - 0.5f;
    if (s < 0.0f) s = 0.0f;
    int64_t i = (int64_t)s;
    if (i > n - 1) i = n - 1;
    *i0 = i;
    *i1 = i < n - 1 ? i + 1 : i;
    *l1 = s - (float)i;
}

static void bilinear_fwd(const float *x, float *y, int64_t P, int64_t H, int64_t W, int64_t s) {
    int64_t Ho = H * s, Wo = W * s;
    float inv = 1.0f / (float)s;
    for (int64_t pl = 0; pl < P; pl++) {
        const float *xp = x + pl * H * W;
        float *yp = y + pl * Ho * Wo;
        for (int64_t oy = 0; oy < Ho; oy++) {
            int64_t y0, y1;
            float ly;
            bilinear_src(oy, inv, H, &y0, &y1, &ly);
            const float *r0 = xp + y0 * W, *r1 = xp + y1 * W;
            float *yr = yp + oy * Wo;
            for (int64_t ox = 0; ox < Wo; ox++) {
                int64_t x0, x1;
                float lx;
                bilinear_src(ox, inv, W, &x0, &x1, &lx);
                float top = r0[x0] + lx * (r0[x1] - r0[x0]);
                float bot = r1[x0] + lx * (r1[x1] - r1[x0]);
                yr[ox] = top + ly * (bot - top);
            }
        }
    }
}

static void bilinear_bwd_cpu(const float *gy, float *gx, int64_t P, int64_t H, int64_t W,
                             int64_t s) {
    int64_t Ho = H * s, Wo = W * s;
    float inv = 1.0f / (float)s;
    for (int64_t pl = 0; pl < P; pl++) {
        const float *gp = gy + pl * Ho * Wo;
        float *xp = gx + pl * H * W;
        for (int64_t oy = 0; oy < Ho; oy++) {
            int64_t y0, y1;
            float ly;
            bilinear_src(oy, inv, H, &y0, &y1, &ly);
            float *r0 = xp + y0 * W, *r1 = xp + y1 * W;
            const float *gr = gp + oy * Wo;
            for (int64_t ox = 0; ox < Wo; ox++) {
                int64_t x0, x1;
                float lx;
                bilinear_src(ox, inv, W, &x0, &x1, &lx);
                float g0 = gr[ox] * (1.0f - ly), g1 = gr[ox] * ly;
                r0[x0] += g0 * (1.0f - lx);
                r0[x1] += g0 * lx;
                r1[x0] += g1 * (1.0f - lx);
                r1[x1] += g1 * lx;
            }
        }
    }
}

static lctw_status bilinear_bwd(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *g;
    LCTW_TRY(lctw_grad_of(c, x, &g));
    if (lctw_op_cuda(c))
        return lctw_cuda_op_bilinear_bwd(D(nd->out->grad), D(g), x->shape[0] * x->shape[1],
                                         x->shape[2], x->shape[3], nd->ip[0]);
    bilinear_bwd_cpu(D(nd->out->grad), D(g), x->shape[0] * x->shape[1], x->shape[2], x->shape[3],
                     nd->ip[0]);
    return LCTW_OK;
}

lctw_status lctw_op_upsample_bilinear(lctw_ctx *c, lctw_tensor *x, int scale, lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_upsample_bilinear, 1, &x));
    LCTW_TRY(check_image(LCTW_OP_upsample_bilinear, x));
    if (scale < 1)
        return LCTW_FAIL(LCTW_EINVAL, "upsample_bilinear: scale %d must be a positive integer",
                         scale);
    int64_t shape[4] = {x->shape[0], x->shape[1], scale * x->shape[2], scale * x->shape[3]};
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 4, shape));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_bilinear_fwd(D(x), D(*y), x->shape[0] * x->shape[1], x->shape[2],
                                           x->shape[3], scale));
    else
        bilinear_fwd(D(x), D(*y), x->shape[0] * x->shape[1], x->shape[2], x->shape[3], scale);
    if (lctw_needs_grad(c, 1, &x)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_upsample_bilinear, bilinear_bwd, 1, &x, *y, &nd));
        nd->ip[0] = scale;
    }
    return LCTW_OK;
}
