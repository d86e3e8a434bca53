/* eltwise.c — element-wise ops and full reductions with their backward (CPU reference).
 *
 * add/sub/mul of same-shape tensors, scale and add of a scalar, the activations of the networks
 * (ALGORITHM.md §2: SiLU in the U-Net, GELU-tanh or ReLU in the DiT MLP, leaky ReLU in the
 * VAElight decoder, tanh in TAESD), sum and mean to a one-element tensor, and view.
 * On a CUDA context each forward and backward calls its twin in kernels/ops_eltwise.cu.
 */
#include <math.h>
#include <string.h>

#include "ops.h"
#include "vec.h"

#define D(t) lctw_tensor_data(t)
#define N(t) lctw_tensor_numel(t)

/* g += alpha·s (contiguous, same numel) */
static lctw_status acc(lctw_ctx *c, lctw_tensor *g, const lctw_tensor *s, float alpha) {
    if (lctw_op_cuda(c)) return lctw_cuda_op_acc(D(g), D(s), NULL, alpha, N(g));
    float *gp = D(g);
    const float *sp = D(s);
    int64_t n = N(g);
    for (int64_t i = 0; i < n; i++) gp[i] += alpha * sp[i];
    return LCTW_OK;
}

/* ---- binary ---- */

static lctw_status bin_bwd(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *a = nd->in[0], *b = nd->in[1], *gy = nd->out->grad, *g;
    int op = nd->op;
    if (op == LCTW_OP_mul && lctw_op_cuda(c)) {
        if (a->requires_grad) {
            LCTW_TRY(lctw_grad_of(c, a, &g));
            LCTW_TRY(lctw_cuda_op_acc(D(g), D(gy), D(b), 1.0f, N(gy)));
        }
        if (b->requires_grad) {
            LCTW_TRY(lctw_grad_of(c, b, &g));
            LCTW_TRY(lctw_cuda_op_acc(D(g), D(gy), D(a), 1.0f, N(gy)));
        }
        return LCTW_OK;
    }
    if (op == LCTW_OP_mul) {
        const float *ap = D(a), *bp = D(b), *gyp = D(gy);
        int64_t n = N(gy);
        if (a->requires_grad) {
            LCTW_TRY(lctw_grad_of(c, a, &g));
            float *gp = D(g);
            for (int64_t i = 0; i < n; i++) gp[i] += gyp[i] * bp[i];
        }
        if (b->requires_grad) {
            LCTW_TRY(lctw_grad_of(c, b, &g));
            float *gp = D(g);
            for (int64_t i = 0; i < n; i++) gp[i] += gyp[i] * ap[i];
        }
        return LCTW_OK;
    }
    if (a->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, a, &g));
        LCTW_TRY(acc(c, g, gy, 1.0f));
    }
    if (b->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, b, &g));
        LCTW_TRY(acc(c, g, gy, op == LCTW_OP_sub ? -1.0f : 1.0f));
    }
    return LCTW_OK;
}

static lctw_status binary(lctw_ctx *c, int op, lctw_tensor *a, lctw_tensor *b, lctw_tensor **y) {
    lctw_tensor *in[2] = {a, b};
    LCTW_TRY(lctw_op_check(c, op, 2, in));
    LCTW_TRY(lctw_op_same_shape(op, a, b));
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, a->ndim, a->shape));
    const float *ap = D(a), *bp = D(b);
    float *yp = D(*y);
    int64_t n = N(a);
    if (lctw_op_cuda(c)) {
        int kind = op == LCTW_OP_add ? LCTW_CU_ADD : op == LCTW_OP_sub ? LCTW_CU_SUB : LCTW_CU_MUL;
        LCTW_TRY(lctw_cuda_op_binary_fwd(kind, ap, bp, yp, n));
    } else {
        switch (op) {
        case LCTW_OP_add: for (int64_t i = 0; i < n; i++) yp[i] = ap[i] + bp[i]; break;
        case LCTW_OP_sub: for (int64_t i = 0; i < n; i++) yp[i] = ap[i] - bp[i]; break;
        default: for (int64_t i = 0; i < n; i++) yp[i] = ap[i] * bp[i]; break;
        }
    }
    if (lctw_needs_grad(c, 2, in)) LCTW_TRY(lctw_tape_push(c, op, bin_bwd, 2, in, *y, NULL));
    return LCTW_OK;
}

lctw_status lctw_op_add(lctw_ctx *c, lctw_tensor *a, lctw_tensor *b, lctw_tensor **y) {
    return binary(c, LCTW_OP_add, a, b, y);
}
lctw_status lctw_op_sub(lctw_ctx *c, lctw_tensor *a, lctw_tensor *b, lctw_tensor **y) {
    return binary(c, LCTW_OP_sub, a, b, y);
}
lctw_status lctw_op_mul(lctw_ctx *c, lctw_tensor *a, lctw_tensor *b, lctw_tensor **y) {
    return binary(c, LCTW_OP_mul, a, b, y);
}

/* ---- scalar ---- */

static lctw_status scalar_bwd(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *g;
    LCTW_TRY(lctw_grad_of(c, nd->in[0], &g));
    return acc(c, g, nd->out->grad, nd->op == LCTW_OP_scale ? (float)nd->p[0] : 1.0f);
}

static lctw_status scalar_op(lctw_ctx *c, int op, lctw_tensor *x, float s, lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, op, 1, &x));
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, x->ndim, x->shape));
    const float *xp = D(x);
    float *yp = D(*y);
    int64_t n = N(x);
    if (lctw_op_cuda(c))
        LCTW_TRY(op == LCTW_OP_scale ? lctw_cuda_op_affine(xp, yp, s, 0.0f, n)
                                     : lctw_cuda_op_affine(xp, yp, 1.0f, s, n));
    else if (op == LCTW_OP_scale)
        for (int64_t i = 0; i < n; i++) yp[i] = s * xp[i];
    else
        for (int64_t i = 0; i < n; i++) yp[i] = xp[i] + s;
    if (lctw_needs_grad(c, 1, &x)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, op, scalar_bwd, 1, &x, *y, &nd));
        nd->p[0] = s;
    }
    return LCTW_OK;
}

lctw_status lctw_op_scale(lctw_ctx *c, lctw_tensor *x, float s, lctw_tensor **y) {
    return scalar_op(c, LCTW_OP_scale, x, s, y);
}
lctw_status lctw_op_add_scalar(lctw_ctx *c, lctw_tensor *x, float s, lctw_tensor **y) {
    return scalar_op(c, LCTW_OP_add_scalar, x, s, y);
}

/* ---- per-sample scaling ---- */

static lctw_status scale_rows_bwd(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *s = nd->in[1], *g;
    int64_t B = x->shape[0], m = B ? N(x) / B : 0;
    const float *gy = D(nd->out->grad), *xp = D(x), *sp = D(s);
    if (lctw_op_cuda(c)) {
        float *gx = NULL, *gs = NULL;
        if (x->requires_grad) {
            LCTW_TRY(lctw_grad_of(c, x, &g));
            gx = D(g);
        }
        if (s->requires_grad) {
            LCTW_TRY(lctw_grad_of(c, s, &g));
            gs = D(g);
        }
        return lctw_cuda_op_scale_rows_bwd(xp, sp, gy, gx, gs, B, m);
    }
    if (x->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, x, &g));
        float *gp = D(g);
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < m; i++) gp[b * m + i] += sp[b] * gy[b * m + i];
    }
    if (s->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, s, &g));
        float *gp = D(g);
        for (int64_t b = 0; b < B; b++) {
            double acc_ = 0.0;
            for (int64_t i = 0; i < m; i++) acc_ += (double)gy[b * m + i] * xp[b * m + i];
            gp[b] += (float)acc_;
        }
    }
    return LCTW_OK;
}

lctw_status lctw_op_scale_rows(lctw_ctx *c, lctw_tensor *x, lctw_tensor *s, lctw_tensor **y) {
    lctw_tensor *in[2] = {x, s};
    LCTW_TRY(lctw_op_check(c, LCTW_OP_scale_rows, 2, in));
    if (x->ndim < 1 || s->ndim != 1 || s->shape[0] != x->shape[0]) {
        char a[96], b[96];
        return LCTW_FAIL(LCTW_ESHAPE, "scale_rows: scales %s do not match a batch of %s",
                         lctw_tensor_shape_str(a, sizeof a, s), lctw_tensor_shape_str(b, sizeof b, x));
    }
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, x->ndim, x->shape));
    int64_t B = x->shape[0], m = B ? N(x) / B : 0;
    const float *xp = D(x), *sp = D(s);
    float *yp = D(*y);
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_scale_rows_fwd(xp, sp, yp, B, m));
    else
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < m; i++) yp[b * m + i] = sp[b] * xp[b * m + i];
    if (lctw_needs_grad(c, 2, in))
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_scale_rows, scale_rows_bwd, 2, in, *y, NULL));
    return LCTW_OK;
}

/* ---- activations ---- */

#define GELU_K 0.7978845608028654f /* √(2/π) */

/* exp with its argument clamped to the range of vec_exp (vectorisable, ~1e-7 relative) */
static inline float act_exp(float x) { return vec_exp(x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x)); }
/* tanh(u) = 1 − 2/(1 + e^{2u}) */
static inline float act_tanh(float u) { return 1.0f - 2.0f / (1.0f + act_exp(2.0f * u)); }

static inline float act_fwd(int op, float x, float slope) {
    switch (op) {
    case LCTW_OP_silu: return x / (1.0f + act_exp(-x));
    case LCTW_OP_relu: return x > 0.0f ? x : 0.0f;
    case LCTW_OP_leaky_relu: return x > 0.0f ? x : slope * x;
    case LCTW_OP_gelu_tanh: {
        float u = GELU_K * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.0f + act_tanh(u));
    }
    default: return act_tanh(x);
    }
}

/* dy/dx at x (y = f(x) given for tanh) */
static inline float act_grad(int op, float x, float y, float slope) {
    switch (op) {
    case LCTW_OP_silu: {
        float s = 1.0f / (1.0f + act_exp(-x));
        return s * (1.0f + x * (1.0f - s));
    }
    case LCTW_OP_relu: return x > 0.0f ? 1.0f : 0.0f;
    case LCTW_OP_leaky_relu: return x > 0.0f ? 1.0f : slope;
    case LCTW_OP_gelu_tanh: {
        float x2 = x * x;
        float t = act_tanh(GELU_K * (x + 0.044715f * x2 * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * 0.044715f * x2);
    }
    default: return 1.0f - y * y;
    }
}

/* the twin's activation id (kernels/lctw_cuda_ops.h) */
static int cu_act(int op) {
    switch (op) {
    case LCTW_OP_silu: return LCTW_CU_ACT_SILU;
    case LCTW_OP_relu: return LCTW_CU_ACT_RELU;
    case LCTW_OP_leaky_relu: return LCTW_CU_ACT_LEAKY_RELU;
    case LCTW_OP_gelu_tanh: return LCTW_CU_ACT_GELU_TANH;
    default: return LCTW_CU_ACT_TANH;
    }
}

static lctw_status act_bwd(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *g;
    LCTW_TRY(lctw_grad_of(c, x, &g));
    const float *xp = D(x), *yp = D(nd->out), *gy = D(nd->out->grad);
    float *gp = D(g), slope = (float)nd->p[0];
    int64_t n = N(x);
    if (lctw_op_cuda(c)) return lctw_cuda_op_act_bwd(cu_act(nd->op), xp, yp, gy, gp, n, slope);
    for (int64_t i = 0; i < n; i++) gp[i] += gy[i] * act_grad(nd->op, xp[i], yp[i], slope);
    return LCTW_OK;
}

static lctw_status activation(lctw_ctx *c, int op, lctw_tensor *x, float slope, lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, op, 1, &x));
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, x->ndim, x->shape));
    const float *xp = D(x);
    float *yp = D(*y);
    int64_t n = N(x);
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_act_fwd(cu_act(op), xp, yp, n, slope));
    else
        for (int64_t i = 0; i < n; i++) yp[i] = act_fwd(op, xp[i], slope);
    if (lctw_needs_grad(c, 1, &x)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, op, act_bwd, 1, &x, *y, &nd));
        nd->p[0] = slope;
    }
    return LCTW_OK;
}

lctw_status lctw_op_silu(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y) {
    return activation(c, LCTW_OP_silu, x, 0.0f, y);
}
lctw_status lctw_op_relu(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y) {
    return activation(c, LCTW_OP_relu, x, 0.0f, y);
}
lctw_status lctw_op_leaky_relu(lctw_ctx *c, lctw_tensor *x, float slope, lctw_tensor **y) {
    return activation(c, LCTW_OP_leaky_relu, x, slope, y);
}
lctw_status lctw_op_gelu_tanh(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y) {
    return activation(c, LCTW_OP_gelu_tanh, x, 0.0f, y);
}
lctw_status lctw_op_tanh(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y) {
    return activation(c, LCTW_OP_tanh, x, 0.0f, y);
}

/* ---- reductions ---- */

static lctw_status red_bwd(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *g;
    LCTW_TRY(lctw_grad_of(c, x, &g));
    if (lctw_op_cuda(c))
        return lctw_cuda_op_sum_bwd(D(nd->out->grad), D(g), N(x), nd->op == LCTW_OP_mean);
    float gy = D(nd->out->grad)[0];
    if (nd->op == LCTW_OP_mean && N(x) > 0) gy /= (float)N(x);
    float *gp = D(g);
    int64_t n = N(x);
    for (int64_t i = 0; i < n; i++) gp[i] += gy;
    return LCTW_OK;
}

static lctw_status reduce(lctw_ctx *c, int op, lctw_tensor *x, lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, op, 1, &x));
    int64_t one = 1;
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 1, &one));
    const float *xp = D(x);
    int64_t n = N(x);
    if (lctw_op_cuda(c)) {
        LCTW_TRY(lctw_cuda_op_sum_fwd(xp, D(*y), n, op == LCTW_OP_mean));
    } else {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) s += xp[i];
        if (op == LCTW_OP_mean) s = n ? s / (double)n : 0.0;
        D(*y)[0] = (float)s;
    }
    if (lctw_needs_grad(c, 1, &x)) LCTW_TRY(lctw_tape_push(c, op, red_bwd, 1, &x, *y, NULL));
    return LCTW_OK;
}

lctw_status lctw_op_sum(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y) {
    return reduce(c, LCTW_OP_sum, x, y);
}
lctw_status lctw_op_mean(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y) {
    return reduce(c, LCTW_OP_mean, x, y);
}

/* ---- view ---- */

static lctw_status view_bwd(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *g;
    LCTW_TRY(lctw_grad_of(c, nd->in[0], &g));
    return acc(c, g, nd->out->grad, 1.0f);
}

lctw_status lctw_op_view(lctw_ctx *c, lctw_tensor *x, int ndim, const int64_t *shape,
                         lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_view, 1, &x));
    LCTW_TRY(lctw_arena_view(&c->arena, y, x, ndim, shape));
    if (lctw_needs_grad(c, 1, &x)) LCTW_TRY(lctw_tape_push(c, LCTW_OP_view, view_bwd, 1, &x, *y, NULL));
    return LCTW_OK;
}
