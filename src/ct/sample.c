/* sample.c — see sample.h. */
#include "sample.h"

#include <math.h>
#include <string.h>

#include "core/interrupt.h"
#include "core/rng.h"
#include "lctw_cuda.h"
#include "lctw_cuda_ct.h"

/* σ_i of an N-point Karras grid (index 0 = σ_max), ALGORITHM.md §4.1. */
static double karras(int i, int N) {
    const double rho = 7.0, a = pow(LCTW_SIGMA_MAX, 1.0 / rho), b = pow(LCTW_SIGMA_MIN, 1.0 / rho);
    if (N < 2) return LCTW_SIGMA_MAX;
    return pow(a + (double)i / (double)(N - 1) * (b - a), rho);
}

lctw_status lctw_sample_opts_default(lctw_sample_opts *o, int64_t n, int steps, uint64_t seed) {
    memset(o, 0, sizeof *o);
    if (n < 1) return LCTW_FAIL(LCTW_EINVAL, "sample: n must be >= 1, got %lld", (long long)n);
    if (steps < 1 || steps > LCTW_SAMPLE_MAX_STEPS)
        return LCTW_FAIL(LCTW_EINVAL, "sample: steps must be in 1..%d, got %d", LCTW_SAMPLE_MAX_STEPS,
                         steps);
    o->n = n;
    o->seed = seed;
    o->stream = 0x5a;
    o->grid = 641;
    o->n_ts = steps + 1;
    if (steps == 2) {
        o->ts[0] = 0, o->ts[1] = 420, o->ts[2] = 640;
    } else {
        for (int k = 0; k <= steps; k++) o->ts[k] = (int)((int64_t)k * (o->grid - 1) / steps);
    }
    return LCTW_OK;
}

/* √(σ_b'² − σ_min²) of step k → k+1 (σ_b' = σ of ts[k+1] clipped to [σ_min, σ_max]). */
static double next_amp(const lctw_sample_opts *o, int k) {
    double sb = karras(o->ts[k + 1], o->grid);
    if (sb < LCTW_SIGMA_MIN) sb = LCTW_SIGMA_MIN;
    if (sb > LCTW_SIGMA_MAX) sb = LCTW_SIGMA_MAX;
    return sqrt(sb * sb - LCTW_SIGMA_MIN * LCTW_SIGMA_MIN);
}

/* One batch on a CUDA context: the chain stays on the device (the noise is drawn there: the
 * same Philox numbers and the same double formulas as the CPU loop), only the final x0 is
 * copied into the output rows. σ goes to lctw_model_forward as a small CPU tensor. */
static lctw_status sample_batch_cuda(lctw_model *m, lctw_ctx *ctx, const lctw_sample_opts *o,
                                     lctw_tensor *x, const int64_t *shp, int64_t i0, int64_t b,
                                     int64_t d, uint64_t blocks, float *out_rows) {
    lctw_tensor *sig = NULL, *x0 = NULL;
    LCTW_TRY(lctw_tensor_empty(&sig, 1, &b, LCTW_DEV_CPU));
    lctw_status s = lctw_cuda_ct_add_normal(lctw_tensor_data(x), NULL, karras(o->ts[0], o->grid),
                                            o->seed, o->stream, 0, (uint64_t)(i0 * d), b * d);
    for (int k = 0; k + 1 < o->n_ts && s == LCTW_OK; k++) {
        double sa = karras(o->ts[k], o->grid);
        for (int64_t j = 0; j < b; j++) lctw_tensor_data(sig)[j] = (float)sa;
        s = lctw_model_forward(m, ctx, x, sig, &x0, NULL);
        if (s == LCTW_OK) s = lctw_check_interrupt();
        if (s != LCTW_OK) break;
        double amp = next_amp(o, k);
        if (k + 2 == o->n_ts || amp == 0.0) {
            if (k + 2 == o->n_ts) {
                s = lctw_cuda_d2h(out_rows, lctw_tensor_data(x0), (size_t)(b * d) * sizeof(float));
                break;
            }
            s = lctw_arena_tensor(&ctx->arena, &x, 4, shp);
            if (s == LCTW_OK)
                s = lctw_cuda_d2d(lctw_tensor_data(x), lctw_tensor_data(x0),
                                  (size_t)(b * d) * sizeof(float));
            continue;
        }
        s = lctw_arena_tensor(&ctx->arena, &x, 4, shp);
        if (s == LCTW_OK)
            s = lctw_cuda_ct_add_normal(lctw_tensor_data(x), lctw_tensor_data(x0), amp, o->seed,
                                        o->stream, (uint64_t)(k + 1) * blocks, (uint64_t)(i0 * d),
                                        b * d);
    }
    lctw_tensor_release(sig);
    return s;
}

lctw_status lctw_sample(lctw_model *m, lctw_ctx *ctx, const lctw_sample_opts *o,
                        lctw_tensor *out) {
    int64_t n = o->n, d = (int64_t)m->in_ch * m->height * m->width;
    if (o->n_ts < 2) return LCTW_FAIL(LCTW_EINVAL, "sample: ts needs at least two indices");
    if (o->grid < 2) return LCTW_FAIL(LCTW_EINVAL, "sample: the grid needs at least 2 points");
    for (int k = 0; k < o->n_ts; k++) {
        if (o->ts[k] < 0 || o->ts[k] >= o->grid || (k && o->ts[k] <= o->ts[k - 1]))
            return LCTW_FAIL(LCTW_EINVAL,
                             "sample: ts must increase within 0..%d (entry %d is %d)", o->grid - 1,
                             k + 1, o->ts[k]);
    }
    if (out->ndim != 4 || out->shape[0] != n || out->shape[1] != m->in_ch ||
        out->shape[2] != m->height || out->shape[3] != m->width ||
        !lctw_tensor_is_contiguous(out) || lctw_tensor_device(out) != LCTW_DEV_CPU)
        return LCTW_FAIL(LCTW_ESHAPE, "sample: output must be a contiguous CPU tensor of n×C×H×W");
    int64_t bs = o->batch > 0 ? o->batch : 64;
    uint64_t blocks = lctw_rng_blocks((uint64_t)(n * d)); /* per noise draw */
    int grad = lctw_ctx_set_grad(ctx, 0);
    lctw_status s = LCTW_OK;
    for (int64_t i0 = 0; i0 < n && s == LCTW_OK; i0 += bs) {
        int64_t b = n - i0 < bs ? n - i0 : bs;
        int64_t shp[4] = {b, m->in_ch, m->height, m->width};
        lctw_tensor *x, *sig, *x0 = NULL;
        if ((s = lctw_ctx_reset(ctx)) != LCTW_OK) break;
        if ((s = lctw_arena_tensor(&ctx->arena, &x, 4, shp)) != LCTW_OK) break;
        if (lctw_tensor_device(x) == LCTW_DEV_CUDA) {
            s = sample_batch_cuda(m, ctx, o, x, shp, i0, b, d, blocks, lctw_tensor_data(out) + i0 * d);
            continue;
        }
        if ((s = lctw_arena_tensor(&ctx->arena, &sig, 1, &b)) != LCTW_OK) break;
        /* CPU: the chain runs in the output rows themselves */
        float *xh = lctw_tensor_data(out) + i0 * d;
        double s0 = karras(o->ts[0], o->grid);
        for (int64_t j = 0; j < b * d; j++)
            xh[j] = (float)(s0 * lctw_rng_normal_at(o->seed, o->stream, 0, (uint64_t)(i0 * d + j)));
        for (int k = 0; k + 1 < o->n_ts && s == LCTW_OK; k++) {
            double sa = karras(o->ts[k], o->grid);
            for (int64_t j = 0; j < b; j++) lctw_tensor_data(sig)[j] = (float)sa;
            memcpy(lctw_tensor_data(x), xh, (size_t)(b * d) * sizeof(float));
            s = lctw_model_forward(m, ctx, x, sig, &x0, NULL);
            if (s == LCTW_OK) s = lctw_check_interrupt();
            if (s != LCTW_OK) break;
            const float *x0p = lctw_tensor_data(x0);
            int last = k + 2 == o->n_ts;
            double amp = next_amp(o, k);
            if (last || amp == 0.0) {
                memcpy(xh, x0p, (size_t)(b * d) * sizeof(float));
            } else {
                uint64_t off = (uint64_t)(k + 1) * blocks;
                for (int64_t j = 0; j < b * d; j++)
                    xh[j] = (float)(x0p[j] + amp * lctw_rng_normal_at(o->seed, o->stream, off,
                                                                      (uint64_t)(i0 * d + j)));
            }
            /* the arena keeps growing within a batch: x0 and the forward's activations are
             * released at the next batch's reset (a few steps only) */
            if (s == LCTW_OK && !last) {
                if ((s = lctw_arena_tensor(&ctx->arena, &x, 4, shp)) != LCTW_OK) break;
                if ((s = lctw_arena_tensor(&ctx->arena, &sig, 1, &b)) != LCTW_OK) break;
            }
        }
    }
    lctw_ctx_set_grad(ctx, grad);
    return s;
}
