/* tmath.c — argument checks and device dispatch for tmath.h. The arithmetic is in
 * tmath_cpu.c (CPU) and kernels/tmath.cu (CUDA). */
#include "tmath.h"

#include "../../kernels/lctw_cuda.h"
#include "tmath_cpu.h"

#define IS_CUDA(t) (lctw_tensor_device(t) == LCTW_DEV_CUDA)

static lctw_status same_device(const char *what, const lctw_tensor *a, const lctw_tensor *b) {
    if (lctw_tensor_device(a) != lctw_tensor_device(b))
        return LCTW_FAIL(LCTW_EDEVICE, "%s: tensors are on different devices (%s and %s)", what,
                         IS_CUDA(a) ? "cuda" : "cpu", IS_CUDA(b) ? "cuda" : "cpu");
    return LCTW_OK;
}

static lctw_status check_out(const char *what, const lctw_tensor *out, const lctw_tensor *a) {
    LCTW_TRY(same_device(what, out, a));
    if (!lctw_tensor_is_contiguous(out))
        return LCTW_FAIL(LCTW_EINVAL, "%s: output must be contiguous", what);
    if (!lctw_tensor_same_shape(out, a)) {
        char x[96], y[96];
        return LCTW_FAIL(LCTW_ESHAPE, "%s: output shape %s, expected %s", what,
                         lctw_tensor_shape_str(x, sizeof x, out),
                         lctw_tensor_shape_str(y, sizeof y, a));
    }
    return LCTW_OK;
}

lctw_status lctw_unary(lctw_tensor *out, const lctw_tensor *a, lctw_unary_op op) {
    LCTW_TRY(check_out("unary op", out, a));
    return IS_CUDA(a) ? lctw_cuda_unary(out, a, op) : lctw_cpu_unary(out, a, op);
}

lctw_status lctw_binary(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b,
                        lctw_binary_op op) {
    static const char *names[] = {"add", "sub", "mul", "div", "pow"};
    const char *nm = (unsigned)op < LCTW_BIN_COUNT ? names[op] : "binary op";
    LCTW_TRY(same_device(nm, a, b));
    if (!lctw_tensor_same_shape(a, b)) {
        char x[96], y[96];
        return LCTW_FAIL(LCTW_ESHAPE, "%s: shapes %s and %s differ", nm,
                         lctw_tensor_shape_str(x, sizeof x, a),
                         lctw_tensor_shape_str(y, sizeof y, b));
    }
    LCTW_TRY(check_out(nm, out, a));
    return IS_CUDA(a) ? lctw_cuda_binary(out, a, b, op) : lctw_cpu_binary(out, a, b, op);
}

lctw_status lctw_binary_scalar(lctw_tensor *out, const lctw_tensor *a, float s, lctw_binary_op op,
                               int scalar_first) {
    LCTW_TRY(check_out("scalar op", out, a));
    return IS_CUDA(a) ? lctw_cuda_binary_scalar(out, a, s, op, scalar_first)
                      : lctw_cpu_binary_scalar(out, a, s, op, scalar_first);
}

lctw_status lctw_clamp(lctw_tensor *out, const lctw_tensor *a, float lo, float hi) {
    if (lo > hi) return LCTW_FAIL(LCTW_EINVAL, "clamp: min %g is greater than max %g", lo, hi);
    LCTW_TRY(check_out("clamp", out, a));
    return IS_CUDA(a) ? lctw_cuda_clamp(out, a, lo, hi) : lctw_cpu_clamp(out, a, lo, hi);
}

lctw_status lctw_fill(lctw_tensor *t, float v) {
    return IS_CUDA(t) ? lctw_cuda_fill(t, v) : lctw_cpu_fill(t, v);
}

static lctw_status rng_fill(lctw_tensor *t, lctw_rng *r, int normal) {
    if (!lctw_tensor_is_contiguous(t))
        return LCTW_FAIL(LCTW_EINVAL, "random fill needs a contiguous tensor");
    lctw_status s;
    if (IS_CUDA(t))
        s = normal ? lctw_cuda_fill_normal(t, r) : lctw_cuda_fill_uniform(t, r);
    else
        s = normal ? lctw_cpu_fill_normal(t, r) : lctw_cpu_fill_uniform(t, r);
    if (s == LCTW_OK) r->offset += lctw_rng_blocks((uint64_t)lctw_tensor_numel(t));
    return s;
}

lctw_status lctw_fill_uniform(lctw_tensor *t, lctw_rng *r) { return rng_fill(t, r, 0); }
lctw_status lctw_fill_normal(lctw_tensor *t, lctw_rng *r) { return rng_fill(t, r, 1); }

lctw_status lctw_matmul(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b) {
    LCTW_TRY(same_device("matmul", a, b));
    LCTW_TRY(same_device("matmul", out, a));
    char x[96], y[96];
    int nd = a->ndim;
    if ((nd != 2 && nd != 3) || b->ndim != nd)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "matmul: needs two 2-D (m×k, k×n) or two 3-D (B×m×k, B×k×n) tensors, got %s "
                         "and %s",
                         lctw_tensor_shape_str(x, sizeof x, a),
                         lctw_tensor_shape_str(y, sizeof y, b));
    int64_t m = a->shape[nd - 2], k = a->shape[nd - 1], n = b->shape[nd - 1];
    if (b->shape[nd - 2] != k || (nd == 3 && a->shape[0] != b->shape[0]))
        return LCTW_FAIL(LCTW_ESHAPE, "matmul: inner sizes differ: %s times %s",
                         lctw_tensor_shape_str(x, sizeof x, a),
                         lctw_tensor_shape_str(y, sizeof y, b));
    int64_t want[3] = {a->shape[0], m, n};
    int64_t *w = nd == 3 ? want : want + 1;
    int ok = out->ndim == nd && lctw_tensor_is_contiguous(out);
    for (int i = 0; ok && i < nd; i++) ok = out->shape[i] == w[i];
    if (!ok)
        return LCTW_FAIL(LCTW_ESHAPE, "matmul: output must be a contiguous %s tensor",
                         lctw_shape_str(x, sizeof x, nd, w));
    if (out->st == a->st || out->st == b->st)
        return LCTW_FAIL(LCTW_EINVAL, "matmul: output may not share storage with an input");
    return IS_CUDA(a) ? lctw_cuda_matmul(out, a, b) : lctw_cpu_matmul(out, a, b);
}

lctw_status lctw_reduce_all(const lctw_tensor *t, lctw_reduce_op op, int unbiased, double *res) {
    static const char *names[] = {"sum", "mean", "var", "std", "min", "max"};
    int64_t n = lctw_tensor_numel(t);
    if (n == 0 && op != LCTW_RED_SUM)
        return LCTW_FAIL(LCTW_EINVAL, "%s of an empty tensor", names[op]);
    if ((op == LCTW_RED_VAR || op == LCTW_RED_STD) && unbiased && n < 2)
        return LCTW_FAIL(LCTW_EINVAL, "%s of a single element needs unbiased=false", names[op]);
    return IS_CUDA(t) ? lctw_cuda_reduce_all(t, op, unbiased, res)
                      : lctw_cpu_reduce_all(t, op, unbiased, res);
}

lctw_status lctw_reduce_dim(lctw_tensor *out, lctw_tensor *idx, const lctw_tensor *t, int dim,
                            lctw_reduce_op op, int unbiased) {
    if (dim < 0 || dim >= t->ndim)
        return LCTW_FAIL(LCTW_EINDEX, "dimension %d out of range for a %d-dimensional tensor",
                         dim + 1, t->ndim);
    if (t->shape[dim] == 0 && op != LCTW_RED_SUM)
        return LCTW_FAIL(LCTW_EINVAL, "reduction over an empty dimension %d", dim + 1);
    if ((op == LCTW_RED_VAR || op == LCTW_RED_STD) && unbiased && t->shape[dim] < 2)
        return LCTW_FAIL(LCTW_EINVAL, "unbiased variance over dimension %d of size 1", dim + 1);
    int64_t want[LCTW_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) want[i] = i == dim ? 1 : t->shape[i];
    lctw_tensor *outs[2] = {out, idx};
    for (int j = 0; j < 2; j++) {
        lctw_tensor *o = outs[j];
        if (!o) continue;
        LCTW_TRY(same_device("reduction", o, t));
        if (!lctw_tensor_is_contiguous(o) || lctw_tensor_numel(o) != lctw_shape_numel(t->ndim, want))
            return LCTW_FAIL(LCTW_ESHAPE, "reduction: output has the wrong size");
    }
    return IS_CUDA(t) ? lctw_cuda_reduce_dim(out, idx, t, dim, op, unbiased)
                      : lctw_cpu_reduce_dim(out, idx, t, dim, op, unbiased);
}

lctw_status lctw_moments_all(const lctw_tensor *t, lctw_moments *m) {
    if (lctw_tensor_numel(t) == 0) return LCTW_FAIL(LCTW_EINVAL, "statistics of an empty tensor");
    return IS_CUDA(t) ? lctw_cuda_moments_all(t, m) : lctw_cpu_moments_all(t, m);
}

lctw_status lctw_tail_fraction(const lctw_tensor *t, double k, double *frac) {
    if (lctw_tensor_numel(t) == 0) return LCTW_FAIL(LCTW_EINVAL, "tail_fraction of an empty tensor");
    if (!(k >= 0)) return LCTW_FAIL(LCTW_EINVAL, "tail_fraction: k must be >= 0, got %g", k);
    return IS_CUDA(t) ? lctw_cuda_tail_fraction(t, k, frac) : lctw_cpu_tail_fraction(t, k, frac);
}

lctw_status lctw_histogram(const lctw_tensor *t, int bins, double lo, double hi, int64_t *counts,
                           int64_t *below, int64_t *above) {
    if (bins < 1 || bins > 1 << 20)
        return LCTW_FAIL(LCTW_EINVAL, "histogram: bins must be in 1..1048576, got %d", bins);
    if (!(hi > lo))
        return LCTW_FAIL(LCTW_EINVAL, "histogram: range must have max > min, got [%g, %g]", lo, hi);
    return IS_CUDA(t) ? lctw_cuda_histogram(t, bins, lo, hi, counts, below, above)
                      : lctw_cpu_histogram(t, bins, lo, hi, counts, below, above);
}
