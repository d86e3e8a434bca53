/* linear.c — y = x Wᵀ + b (nn.Linear), forward and backward with GEMM.
 *   x (M, in) — leading dims flattened —, W (out, in), b (out), y (M, out)
 *   dx = dy W;  dW += dyᵀ x;  db += Σ_rows dy
 * On a CUDA context: the same GEMMs on cuBLAS (kernels/ops_linear.cu).
 */
#include "../gemm.h"
#include "ops.h"

static lctw_status linear_bwd(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *gy = nd->out->grad, *g;
    int64_t out = w->shape[0], in = w->shape[1], M = lctw_tensor_numel(x) / in;
    const float *gyp = lctw_tensor_data(gy);
    if (lctw_op_cuda(c)) {
        float *gx = NULL, *gw = NULL, *gb = NULL;
        if (x->requires_grad) {
            LCTW_TRY(lctw_grad_of(c, x, &g));
            gx = lctw_tensor_data(g);
        }
        if (w->requires_grad) {
            LCTW_TRY(lctw_grad_of(c, w, &g));
            gw = lctw_tensor_data(g);
        }
        if (b && b->requires_grad) {
            LCTW_TRY(lctw_grad_of(c, b, &g));
            gb = lctw_tensor_data(g);
        }
        return lctw_cuda_op_linear_bwd(lctw_tensor_data(x), lctw_tensor_data(w), gyp, gx, gw, gb,
                                       M, in, out);
    }
    if (x->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, x, &g));
        lctw_sgemm(0, 0, M, in, out, 1.0f, gyp, out, lctw_tensor_data(w), in, 1.0f,
                   lctw_tensor_data(g), in);
    }
    if (w->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, w, &g));
        lctw_sgemm(1, 0, out, in, M, 1.0f, gyp, out, lctw_tensor_data(x), in, 1.0f,
                   lctw_tensor_data(g), in);
    }
    if (b && b->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, b, &g));
        float *gb = lctw_tensor_data(g);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < out; j++) gb[j] += gyp[i * out + j];
    }
    return LCTW_OK;
}

lctw_status lctw_op_linear(lctw_ctx *c, lctw_tensor *x, lctw_tensor *w, lctw_tensor *b,
                           lctw_tensor **y) {
    lctw_tensor *in[3] = {x, w, b};
    LCTW_TRY(lctw_op_check(c, LCTW_OP_linear, 3, in));
    char s1[96], s2[96];
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return LCTW_FAIL(LCTW_ESHAPE, "linear: input %s does not match weight %s (out×in)",
                         lctw_tensor_shape_str(s1, sizeof s1, x),
                         lctw_tensor_shape_str(s2, sizeof s2, w));
    int64_t out = w->shape[0], inf = w->shape[1];
    if (b && (b->ndim != 1 || b->shape[0] != out))
        return LCTW_FAIL(LCTW_ESHAPE, "linear: bias %s, expected %lld",
                         lctw_tensor_shape_str(s1, sizeof s1, b), (long long)out);
    int64_t shape[LCTW_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = out;
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, x->ndim, shape));
    int64_t M = lctw_tensor_numel(x) / (inf ? inf : 1);
    float *yp = lctw_tensor_data(*y);
    if (lctw_op_cuda(c)) {
        LCTW_TRY(lctw_cuda_op_linear_fwd(lctw_tensor_data(x), lctw_tensor_data(w),
                                         b ? lctw_tensor_data(b) : NULL, yp, M, inf, out));
    } else {
        if (b) {
            const float *bp = lctw_tensor_data(b);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < out; j++) yp[i * out + j] = bp[j];
        }
        lctw_sgemm(0, 1, M, out, inf, 1.0f, lctw_tensor_data(x), inf, lctw_tensor_data(w), inf,
                   b ? 1.0f : 0.0f, yp, out);
    }
    if (lctw_needs_grad(c, 3, in)) LCTW_TRY(lctw_tape_push(c, LCTW_OP_linear, linear_bwd, 3, in, *y, NULL));
    return LCTW_OK;
}
