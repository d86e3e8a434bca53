/* embed.c — sinusoidal embeddings (ALGORITHM.md §2A, §2B).
 *
 * timestep_embedding: the noise-level embedding of both networks, of c_noise = 250·ln σ:
 *   f_j = max_period^(−j/half), half = dim/2;  e = [cos(t·f_0..half−1), sin(t·f_0..half−1)]
 * EDM PositionalEmbedding(128, endpoint=False) computes f_j = (1/10000)^(j/64) and DiT's
 * TimestepEmbedder(256) exp(−ln(10000)·j/128): the same numbers (up to fp32 rounding of f_j,
 * here computed in double then rounded). The argument t·f_j is formed in fp32, as both do.
 * Backward: dt = Σ_j f_j·(−sin(t f_j)·de_j + cos(t f_j)·de_{half+j}).
 * On a CUDA context: kernels/ops_misc.cu, with the same formulas.
 *
 * sincos_pos_embed_2d: the MAE / DiT fixed 2-D positional embedding (see ops_norm.h).
 */
#include <math.h>

#include "ops.h"

static void temb_fwd(const float *t, float *y, int64_t B, int64_t half, double max_period) {
    for (int64_t j = 0; j < half; j++) {
        float f = (float)pow(max_period, -(double)j / (double)half);
        for (int64_t b = 0; b < B; b++) {
            float a = t[b] * f;
            y[b * 2 * half + j] = cosf(a);
            y[b * 2 * half + half + j] = sinf(a);
        }
    }
}

static void temb_bwd(const float *t, const float *dy, float *dt, int64_t B, int64_t half,
                     double max_period) {
    for (int64_t b = 0; b < B; b++) {
        double s = 0.0;
        for (int64_t j = 0; j < half; j++) {
            float f = (float)pow(max_period, -(double)j / (double)half);
            float a = t[b] * f;
            s += (double)f *
                 (-sinf(a) * dy[b * 2 * half + j] + cosf(a) * dy[b * 2 * half + half + j]);
        }
        dt[b] += (float)s;
    }
}

static lctw_status temb_backward(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *t = nd->in[0], *g;
    LCTW_TRY(lctw_grad_of(c, t, &g));
    if (lctw_op_cuda(c))
        return lctw_cuda_op_temb_bwd(lctw_tensor_data(t), lctw_tensor_data(nd->out->grad),
                                     lctw_tensor_data(g), lctw_tensor_numel(t), nd->ip[0],
                                     nd->p[0]);
    temb_bwd(lctw_tensor_data(t), lctw_tensor_data(nd->out->grad), lctw_tensor_data(g),
             lctw_tensor_numel(t), nd->ip[0], nd->p[0]);
    return LCTW_OK;
}

lctw_status lctw_op_timestep_embedding(lctw_ctx *c, lctw_tensor *t, int64_t dim, double max_period,
                                       lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_timestep_embedding, 1, &t));
    char s1[96];
    if (t->ndim != 1)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "timestep_embedding: input %s, expected one value per sample (B)",
                         lctw_tensor_shape_str(s1, sizeof s1, t));
    if (dim <= 0 || dim % 2)
        return LCTW_FAIL(LCTW_EINVAL, "timestep_embedding: dim must be even and > 0, got %lld",
                         (long long)dim);
    if (!(max_period > 0.0))
        return LCTW_FAIL(LCTW_EINVAL, "timestep_embedding: max_period must be > 0, got %g",
                         max_period);
    int64_t B = t->shape[0], ys[2] = {B, dim};
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 2, ys));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_temb_fwd(lctw_tensor_data(t), lctw_tensor_data(*y), B, dim / 2,
                                       max_period));
    else
        temb_fwd(lctw_tensor_data(t), lctw_tensor_data(*y), B, dim / 2, max_period);
    if (lctw_needs_grad(c, 1, &t)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_timestep_embedding, temb_backward, 1, &t, *y, &nd));
        nd->ip[0] = dim / 2;
        nd->p[0] = max_period;
    }
    return LCTW_OK;
}

lctw_status lctw_sincos_pos_embed_2d(lctw_tensor **out, int64_t D, int64_t gh, int64_t gw) {
    *out = NULL;
    if (D <= 0 || D % 4)
        return LCTW_FAIL(LCTW_EINVAL,
                         "sincos_pos_embed_2d: width %lld is not a positive multiple of 4",
                         (long long)D);
    if (gh <= 0 || gw <= 0)
        return LCTW_FAIL(LCTW_EINVAL, "sincos_pos_embed_2d: grid %lld×%lld is empty", (long long)gh,
                         (long long)gw);
    int64_t shape[2] = {gh * gw, D}, q = D / 4;
    LCTW_TRY(lctw_tensor_empty(out, 2, shape, LCTW_DEV_CPU));
    float *e = lctw_tensor_data(*out);
    for (int64_t r = 0; r < gh; r++)
        for (int64_t col = 0; col < gw; col++) {
            float *row = e + (r * gw + col) * D;
            for (int64_t k = 0; k < q; k++) {
                double w = 1.0 / pow(10000.0, (double)k / (double)q);
                double aw = (double)col * w, ah = (double)r * w;
                row[k] = (float)sin(aw); /* first half: the w (column) coordinate */
                row[q + k] = (float)cos(aw);
                row[2 * q + k] = (float)sin(ah); /* second half: the h (row) coordinate */
                row[3 * q + k] = (float)cos(ah);
            }
        }
    return LCTW_OK;
}
