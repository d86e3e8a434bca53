/* norm.c — normalisation layers with backward (CPU reference): per-sample C·H·W normalisation
 * (NsLN and nn.LayerNorm([C,H,W])), LayerNorm over the last dim, GroupNorm (ALGORITHM.md §2).
 *
 * All three normalise a contiguous block of L elements with its mean μ and biased variance:
 *   x̂ = (x − μ)·r,  r = 1/√(var + eps),  y = x̂·γ + β
 * layer_norm/norm_chw: one block per row, γ, β indexed by the position in the row;
 * group_norm: one block per (sample, group), γ, β indexed by channel.
 * Backward, with g = dy·γ:  dx = r·(g − mean(g) − x̂·mean(g·x̂)),  dγ += Σ dy·x̂,  dβ += Σ dy.
 * The per-block (μ, r) are saved; x̂ is recomputed from x. Sums are cascaded fp32 → double
 * (vec.h). On a CUDA context the same blocks, stats and formulas run in kernels/ops_norm.cu
 * (one thread block per normalised block, sums in double).
 */
#include <math.h>

#include "ops.h"
#include "vec.h"

#define D(t) ((t) ? lctw_tensor_data(t) : NULL)

/* Two-pass mean and biased variance of a block, then (μ, r). */
static void block_stats(const float *x, int64_t L, float eps, float *st) {
    float mu = L ? (float)(vec_sum(x, L) / (double)L) : 0.0f;
    double v = L ? vec_sumsq_centered(x, mu, L) / (double)L : 0.0;
    st[0] = mu;
    st[1] = (float)(1.0 / sqrt(v + (double)eps));
}

/* ---- rows: layer_norm (L = D) and norm_chw (L = C·H·W) ---- */

/* x, y (M, L); gamma, beta (L) or NULL; stats (M, 2) = (μ, r) */
static void rows_fwd(const float *x, const float *gamma, const float *beta, float *y, float *stats,
                     int64_t M, int64_t L, float eps) {
    for (int64_t m = 0; m < M; m++) {
        const float *xr = x + m * L;
        float *yr = y + m * L, *st = stats + 2 * m;
        block_stats(xr, L, eps, st);
        float mu = st[0], r = st[1];
        if (gamma && beta)
            for (int64_t j = 0; j < L; j++)
                yr[j] = (xr[j] - mu) * r * gamma[j] + beta[j];
        else if (gamma)
            for (int64_t j = 0; j < L; j++)
                yr[j] = (xr[j] - mu) * r * gamma[j];
        else if (beta)
            for (int64_t j = 0; j < L; j++)
                yr[j] = (xr[j] - mu) * r + beta[j];
        else
            for (int64_t j = 0; j < L; j++)
                yr[j] = (xr[j] - mu) * r;
    }
}

/* Accumulates into dx (M, L), dgamma, dbeta (L); each may be NULL. */
static void rows_bwd(const float *x, const float *gamma, const float *stats, const float *dy,
                     float *dx, float *dgamma, float *dbeta, int64_t M, int64_t L) {
    for (int64_t m = 0; m < M; m++) {
        const float *xr = x + m * L, *gr = dy + m * L;
        float mu = stats[2 * m], r = stats[2 * m + 1];
        if (dbeta)
            for (int64_t j = 0; j < L; j++)
                dbeta[j] += gr[j];
        if (dgamma)
            for (int64_t j = 0; j < L; j++)
                dgamma[j] += gr[j] * ((xr[j] - mu) * r);
        if (!dx) continue;
        double s1, s2; /* Σ g, Σ g·(x − μ) */
        if (gamma)
            vec_wsum_and_centered_dot(gr, gamma, xr, mu, L, &s1, &s2);
        else
            vec_sum_and_centered_dot(gr, xr, mu, L, &s1, &s2);
        float m1 = (float)(s1 / (double)L), m2 = (float)(s2 * r / (double)L);
        float *dxr = dx + m * L;
        if (gamma)
            for (int64_t j = 0; j < L; j++)
                dxr[j] += r * (gr[j] * gamma[j] - m1 - (xr[j] - mu) * r * m2);
        else
            for (int64_t j = 0; j < L; j++)
                dxr[j] += r * (gr[j] - m1 - (xr[j] - mu) * r * m2);
    }
}

static lctw_status rows_backward(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *gamma = nd->in[1], *beta = nd->in[2], *g;
    int64_t L = nd->ip[0], M = L ? lctw_tensor_numel(x) / L : 0;
    float *dx = NULL, *dg = NULL, *db = NULL;
    if (x->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, x, &g));
        dx = D(g);
    }
    if (gamma && gamma->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, gamma, &g));
        dg = D(g);
    }
    if (beta && beta->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, beta, &g));
        db = D(g);
    }
    if (lctw_op_cuda(c))
        return lctw_cuda_op_norm_bwd(D(x), D(gamma), D(nd->saved[0]), D(nd->out->grad), dx, dg, db,
                                     M, L, 0, 1);
    rows_bwd(D(x), D(gamma), D(nd->saved[0]), D(nd->out->grad), dx, dg, db, M, L);
    return LCTW_OK;
}

/* Shared by layer_norm and norm_chw: x viewed as (M, L), L = numel of the trailing `nd_norm`
 * dims; gamma/beta must have exactly those trailing dims. */
static lctw_status rows_op(lctw_ctx *c, int op, lctw_tensor *x, int nd_norm, lctw_tensor *gamma,
                           lctw_tensor *beta, float eps, lctw_tensor **y) {
    lctw_tensor *in[3] = {x, gamma, beta};
    LCTW_TRY(lctw_op_check(c, op, 3, in));
    char s1[96], s2[96], s3[96];
    if (x->ndim < nd_norm + (op == LCTW_OP_norm_chw))
        return LCTW_FAIL(LCTW_ESHAPE, "%s: input %s needs at least %d dims", lctw_op_name(op),
                         lctw_tensor_shape_str(s1, sizeof s1, x), nd_norm + 1);
    const int64_t *ns = x->shape + x->ndim - nd_norm;
    int64_t L = lctw_shape_numel(nd_norm, ns);
    for (int k = 1; k < 3; k++) {
        const lctw_tensor *p = in[k];
        if (!p) continue;
        int ok = p->ndim == nd_norm;
        for (int d = 0; ok && d < nd_norm; d++)
            ok = p->shape[d] == ns[d];
        if (!ok)
            return LCTW_FAIL(LCTW_ESHAPE, "%s: %s has shape %s, expected %s for input %s",
                             lctw_op_name(op), k == 1 ? "gamma" : "beta",
                             lctw_tensor_shape_str(s1, sizeof s1, p),
                             lctw_shape_str(s2, sizeof s2, nd_norm, ns),
                             lctw_tensor_shape_str(s3, sizeof s3, x));
    }
    if (!(eps >= 0.0f))
        return LCTW_FAIL(LCTW_EINVAL, "%s: eps must be >= 0, got %g", lctw_op_name(op), eps);
    int64_t M = L ? lctw_tensor_numel(x) / L : 0, sshape[2] = {M, 2};
    lctw_tensor *stats;
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, x->ndim, x->shape));
    LCTW_TRY(lctw_arena_tensor(&c->arena, &stats, 2, sshape));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_norm_fwd(D(x), D(gamma), D(beta), D(*y), D(stats), M, L, 0, 1, eps));
    else
        rows_fwd(D(x), D(gamma), D(beta), D(*y), D(stats), M, L, eps);
    if (lctw_needs_grad(c, 3, in)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, op, rows_backward, 3, in, *y, &nd));
        nd->saved[0] = stats;
        nd->ip[0] = L;
    }
    return LCTW_OK;
}

lctw_status lctw_op_norm_chw(lctw_ctx *c, lctw_tensor *x, lctw_tensor *gamma, lctw_tensor *beta,
                             float eps, lctw_tensor **y) {
    return rows_op(c, LCTW_OP_norm_chw, x, x->ndim > 1 ? x->ndim - 1 : 1, gamma, beta, eps, y);
}

lctw_status lctw_op_layer_norm(lctw_ctx *c, lctw_tensor *x, lctw_tensor *gamma, lctw_tensor *beta,
                               float eps, lctw_tensor **y) {
    return rows_op(c, LCTW_OP_layer_norm, x, 1, gamma, beta, eps, y);
}

/* ---- group norm ---- */

/* x, y (N, C, S); gamma, beta (C) or NULL; stats (N·G, 2) */
static void gn_fwd(const float *x, const float *gamma, const float *beta, float *y, float *stats,
                   int64_t N, int64_t C, int64_t S, int64_t G, float eps) {
    int64_t Cg = C / G;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            float *st = stats + 2 * (n * G + g);
            const float *xb = x + (n * C + g * Cg) * S;
            block_stats(xb, Cg * S, eps, st);
            float mu = st[0], r = st[1];
            for (int64_t ci = 0; ci < Cg; ci++) {
                int64_t ch = g * Cg + ci;
                float a = r * (gamma ? gamma[ch] : 1.0f), b = beta ? beta[ch] : 0.0f;
                const float *xc = xb + ci * S;
                float *yc = y + (n * C + ch) * S;
                for (int64_t i = 0; i < S; i++)
                    yc[i] = (xc[i] - mu) * a + b;
            }
        }
}

static void gn_bwd(const float *x, const float *gamma, const float *stats, const float *dy,
                   float *dx, float *dgamma, float *dbeta, int64_t N, int64_t C, int64_t S,
                   int64_t G) {
    int64_t Cg = C / G;
    double L = (double)(Cg * S);
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            const float *st = stats + 2 * (n * G + g);
            float mu = st[0], r = st[1];
            double s1 = 0.0, s2 = 0.0; /* Σ dy·γ, Σ dy·γ·x̂ over the group */
            for (int64_t ci = 0; ci < Cg; ci++) {
                int64_t ch = g * Cg + ci, o = (n * C + ch) * S;
                double sd, sdx;
                vec_sum_and_centered_dot(dy + o, x + o, mu, S, &sd, &sdx);
                sdx *= r;
                if (dbeta) dbeta[ch] += (float)sd;
                if (dgamma) dgamma[ch] += (float)sdx;
                double gm = gamma ? gamma[ch] : 1.0;
                s1 += gm * sd;
                s2 += gm * sdx;
            }
            if (!dx) continue;
            float m1 = (float)(s1 / L), m2 = (float)(s2 / L);
            for (int64_t ci = 0; ci < Cg; ci++) {
                int64_t ch = g * Cg + ci, o = (n * C + ch) * S;
                float gm = gamma ? gamma[ch] : 1.0f;
                for (int64_t i = 0; i < S; i++)
                    dx[o + i] += r * (dy[o + i] * gm - m1 - (x[o + i] - mu) * r * m2);
            }
        }
}

static lctw_status gn_backward(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *gamma = nd->in[1], *beta = nd->in[2], *g;
    float *dx = NULL, *dg = NULL, *db = NULL;
    if (x->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, x, &g));
        dx = D(g);
    }
    if (gamma && gamma->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, gamma, &g));
        dg = D(g);
    }
    if (beta && beta->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, beta, &g));
        db = D(g);
    }
    int64_t N = x->shape[0], C = x->shape[1], S = lctw_tensor_numel(x) / (N * C);
    if (lctw_op_cuda(c)) {
        int64_t G = nd->ip[0];
        return lctw_cuda_op_norm_bwd(D(x), D(gamma), D(nd->saved[0]), D(nd->out->grad), dx, dg, db,
                                     N * G, C / G * S, G, S);
    }
    gn_bwd(D(x), D(gamma), D(nd->saved[0]), D(nd->out->grad), dx, dg, db, N, C, S, nd->ip[0]);
    return LCTW_OK;
}

lctw_status lctw_op_group_norm(lctw_ctx *c, lctw_tensor *x, int64_t groups, lctw_tensor *gamma,
                               lctw_tensor *beta, float eps, lctw_tensor **y) {
    lctw_tensor *in[3] = {x, gamma, beta};
    LCTW_TRY(lctw_op_check(c, LCTW_OP_group_norm, 3, in));
    char s1[96];
    if (x->ndim < 2)
        return LCTW_FAIL(LCTW_ESHAPE, "group_norm: input %s, expected (N, C, …)",
                         lctw_tensor_shape_str(s1, sizeof s1, x));
    int64_t N = x->shape[0], C = x->shape[1];
    if (groups <= 0 || C % groups)
        return LCTW_FAIL(LCTW_ESHAPE, "group_norm: %lld channels do not split into %lld groups",
                         (long long)C, (long long)groups);
    for (int k = 1; k < 3; k++)
        if (in[k] && (in[k]->ndim != 1 || in[k]->shape[0] != C))
            return LCTW_FAIL(LCTW_ESHAPE, "group_norm: %s has shape %s, expected %lld",
                             k == 1 ? "gamma" : "beta", lctw_tensor_shape_str(s1, sizeof s1, in[k]),
                             (long long)C);
    if (!(eps >= 0.0f)) return LCTW_FAIL(LCTW_EINVAL, "group_norm: eps must be >= 0, got %g", eps);
    int64_t S = N * C != 0 ? lctw_tensor_numel(x) / (N * C) : 0, sshape[2] = {N * groups, 2};
    lctw_tensor *stats;
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, x->ndim, x->shape));
    LCTW_TRY(lctw_arena_tensor(&c->arena, &stats, 2, sshape));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_norm_fwd(D(x), D(gamma), D(beta), D(*y), D(stats), N * groups,
                                       C / groups * S, groups, S, eps));
    else
        gn_fwd(D(x), D(gamma), D(beta), D(*y), D(stats), N, C, S, groups, eps);
    if (lctw_needs_grad(c, 3, in)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_group_norm, gn_backward, 3, in, *y, &nd));
        nd->saved[0] = stats;
        nd->ip[0] = groups;
    }
    return LCTW_OK;
}
