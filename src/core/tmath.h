/* tmath.h — tensor math for interactive use and data analysis (no autodiff; the differentiable
 * ops of the networks live in src/core/ops/).
 *
 * Conventions for every function here:
 *  - inputs may have any strides; `out` is a contiguous tensor of the documented shape, already
 *    allocated by the caller, on the same device as the inputs (else LCTW_EDEVICE);
 *  - `out` may alias an input exactly (in-place), never partially;
 *  - dims are 0-based;
 *  - long loops poll lctw_interrupted() between chunks and return LCTW_EINTR;
 *  - CPU and CUDA versions are dispatched here (tmath.c); CUDA twins are in kernels/tmath.cu
 *    (declared in kernels/lctw_cuda.h).
 * Reductions accumulate in double on the CPU (and in double or Kahan-compensated float on CUDA).
 */
#ifndef LCTW_TMATH_H
#define LCTW_TMATH_H

#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LCTW_UN_NEG = 0,
    LCTW_UN_EXP,
    LCTW_UN_LOG,
    LCTW_UN_SQRT,
    LCTW_UN_ABS,
    LCTW_UN_TANH,
    LCTW_UN_COUNT
} lctw_unary_op;

typedef enum {
    LCTW_BIN_ADD = 0,
    LCTW_BIN_SUB,
    LCTW_BIN_MUL,
    LCTW_BIN_DIV,
    LCTW_BIN_POW,
    LCTW_BIN_COUNT
} lctw_binary_op;

typedef enum {
    LCTW_RED_SUM = 0,
    LCTW_RED_MEAN,
    LCTW_RED_VAR, /* unbiased (n−1) unless the caller asks for biased */
    LCTW_RED_STD,
    LCTW_RED_MIN,
    LCTW_RED_MAX,
    LCTW_RED_COUNT
} lctw_reduce_op;

/* out = op(a) */
lctw_status lctw_unary(lctw_tensor *out, const lctw_tensor *a, lctw_unary_op op);
/* out = a op b, a and b of the same shape as out */
lctw_status lctw_binary(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b,
                        lctw_binary_op op);
/* out = a op s, or s op a when scalar_first */
lctw_status lctw_binary_scalar(lctw_tensor *out, const lctw_tensor *a, float s, lctw_binary_op op,
                               int scalar_first);
/* out = min(max(a, lo), hi) */
lctw_status lctw_clamp(lctw_tensor *out, const lctw_tensor *a, float lo, float hi);
/* every element of t (any strides) = v */
lctw_status lctw_fill(lctw_tensor *t, float v);
/* t (contiguous) = uniform (0,1) or standard normal draws; advances r->offset */
lctw_status lctw_fill_uniform(lctw_tensor *t, lctw_rng *r);
lctw_status lctw_fill_normal(lctw_tensor *t, lctw_rng *r);

/* out = a·b. 2-D: a (m,k), b (k,n), out (m,n). 3-D batched: a (B,m,k), b (B,k,n), out (B,m,n).
 * CPU: OpenBLAS sgemm in row blocks (interruptible); CUDA: cuBLAS. */
lctw_status lctw_matmul(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b);

/* Reduction of all elements into *res (double). Empty tensors: sum 0, others EINVAL. */
lctw_status lctw_reduce_all(const lctw_tensor *t, lctw_reduce_op op, int unbiased, double *res);
/* Reduction over dimension dim: out has t's shape with shape[dim] = 1 (keepdim layout; the
 * caller may view it without that dim). For MIN/MAX, idx (may be NULL) receives the 0-based
 * position as float, same shape as out. */
lctw_status lctw_reduce_dim(lctw_tensor *out, lctw_tensor *idx, const lctw_tensor *t, int dim,
                            lctw_reduce_op op, int unbiased);

/* Moments of all elements, for latent analysis. var is biased (population) here; skew and
 * kurtosis are the population (Fisher) moment ratios m3/m2^1.5 and m4/m2^2 − 3. */
typedef struct lctw_moments {
    int64_t n;
    double mean, var, std, skew, kurtosis, min, max;
} lctw_moments;
lctw_status lctw_moments_all(const lctw_tensor *t, lctw_moments *m);
/* Fraction of elements with |x − mean| > k·std (population std). */
lctw_status lctw_tail_fraction(const lctw_tensor *t, double k, double *frac);
/* counts[bins] of elements in [lo, hi): bin = floor((x−lo)/(hi−lo)·bins), x == hi goes in the
 * last bin; below/above (may be NULL) count the elements outside [lo, hi]; NaNs are ignored. */
lctw_status lctw_histogram(const lctw_tensor *t, int bins, double lo, double hi, int64_t *counts,
                           int64_t *below, int64_t *above);

#ifdef __cplusplus
}
#endif

#endif
