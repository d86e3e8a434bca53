/* ops.h — differentiable ops: forward on a context (arena outputs, tape recording), backward
 * registered on the tape. Each op has a CPU reference (src/core/ops/<op>.c) and a CUDA twin
 * (kernels/ops_*.cu, declared in kernels/lctw_cuda_ops.h): the op function checks its inputs,
 * allocates its outputs from the context's arena (device memory on a CUDA context) and runs one
 * or the other; forward and backward record and save the same tensors on both devices, and the
 * backward picks the twin by the context's device too.
 *
 * The list below is the one registry of ops: ids, names, and the test coverage check
 * (tests/unit/test_ops.c fails for an op of this list without a gradient test).
 *
 * Inputs must be contiguous and on the context's device; outputs are new arena tensors.
 */
#ifndef LCTW_OPS_H
#define LCTW_OPS_H

#include "../autograd.h"
#include "../../../kernels/lctw_cuda_ops.h"

#include "ops_conv.h"
#include "ops_norm.h"

/* The registry: the element-wise ops below, plus the lists of ops_conv.h and ops_norm.h. */
#define LCTW_OP_LIST(X)                                                                            \
    LCTW_OP_LIST_CONV(X)                                                                           \
    LCTW_OP_LIST_NORM(X)                                                                           \
    X(add)                                                                                         \
    X(sub)                                                                                         \
    X(mul)                                                                                         \
    X(scale)                                                                                       \
    X(scale_rows)                                                                                  \
    X(add_scalar)                                                                                  \
    X(silu)                                                                                        \
    X(relu)                                                                                        \
    X(leaky_relu)                                                                                  \
    X(gelu_tanh)                                                                                   \
    X(tanh)                                                                                        \
    X(sum)                                                                                         \
    X(mean)                                                                                        \
    X(view)                                                                                        \
    X(linear)

typedef enum {
#define X(name) LCTW_OP_##name,
    LCTW_OP_LIST(X)
#undef X
        LCTW_OP_COUNT
} lctw_op_id;

const char *lctw_op_name(int op);

/* element-wise, same shapes: y = a + b, a − b, a ⊙ b */
lctw_status lctw_op_add(lctw_ctx *c, lctw_tensor *a, lctw_tensor *b, lctw_tensor **y);
lctw_status lctw_op_sub(lctw_ctx *c, lctw_tensor *a, lctw_tensor *b, lctw_tensor **y);
lctw_status lctw_op_mul(lctw_ctx *c, lctw_tensor *a, lctw_tensor *b, lctw_tensor **y);
/* y = s·x ;  y = x + s */
lctw_status lctw_op_scale(lctw_ctx *c, lctw_tensor *x, float s, lctw_tensor **y);
lctw_status lctw_op_add_scalar(lctw_ctx *c, lctw_tensor *x, float s, lctw_tensor **y);
/* y[b, …] = s[b]·x[b, …]: per-sample scaling (x (B, …), s (B)); backward to both. */
lctw_status lctw_op_scale_rows(lctw_ctx *c, lctw_tensor *x, lctw_tensor *s, lctw_tensor **y);

/* activations: silu x·σ(x); relu; leaky relu (slope for x < 0); GELU with the tanh
 * approximation 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))); tanh */
lctw_status lctw_op_silu(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y);
lctw_status lctw_op_relu(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y);
lctw_status lctw_op_leaky_relu(lctw_ctx *c, lctw_tensor *x, float slope, lctw_tensor **y);
lctw_status lctw_op_gelu_tanh(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y);
lctw_status lctw_op_tanh(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y);

/* y (shape {1}) = Σ x or mean x */
lctw_status lctw_op_sum(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y);
lctw_status lctw_op_mean(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y);
/* y = x with another contiguous shape (same numel), sharing data */
lctw_status lctw_op_view(lctw_ctx *c, lctw_tensor *x, int ndim, const int64_t *shape,
                         lctw_tensor **y);

/* y = x Wᵀ + b: x (N, in) [or any leading dims flattened: (…, in)], W (out, in), b (out) or
 * NULL; y (…, out). */
lctw_status lctw_op_linear(lctw_ctx *c, lctw_tensor *x, lctw_tensor *w, lctw_tensor *b,
                           lctw_tensor **y);

/* helpers for op implementations */
/* Inputs on the context's device and contiguous (NULL entries skipped). */
lctw_status lctw_op_check(lctw_ctx *c, int op, int n, lctw_tensor *const *in);
/* 1 when the op runs its CUDA twin */
static inline int lctw_op_cuda(const lctw_ctx *c) { return c->dev == LCTW_DEV_CUDA; }
lctw_status lctw_op_same_shape(int op, const lctw_tensor *a, const lctw_tensor *b);

#endif
