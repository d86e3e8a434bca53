/* tmath_cpu.h — CPU implementations behind tmath.h (internal: call the tmath.h functions, which
 * check arguments and dispatch by device). Same contracts as tmath.h; arguments are already
 * validated (shapes, devices, out contiguous). */
#ifndef LCTW_TMATH_CPU_H
#define LCTW_TMATH_CPU_H

#include "tmath.h"

lctw_status lctw_cpu_unary(lctw_tensor *out, const lctw_tensor *a, lctw_unary_op op);
lctw_status lctw_cpu_binary(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b,
                            lctw_binary_op op);
lctw_status lctw_cpu_binary_scalar(lctw_tensor *out, const lctw_tensor *a, float s,
                                   lctw_binary_op op, int scalar_first);
lctw_status lctw_cpu_clamp(lctw_tensor *out, const lctw_tensor *a, float lo, float hi);
lctw_status lctw_cpu_fill(lctw_tensor *t, float v);
lctw_status lctw_cpu_fill_uniform(lctw_tensor *t, const lctw_rng *r);
lctw_status lctw_cpu_fill_normal(lctw_tensor *t, const lctw_rng *r);
lctw_status lctw_cpu_matmul(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b);
lctw_status lctw_cpu_reduce_all(const lctw_tensor *t, lctw_reduce_op op, int unbiased,
                                double *res);
lctw_status lctw_cpu_reduce_dim(lctw_tensor *out, lctw_tensor *idx, const lctw_tensor *t, int dim,
                                lctw_reduce_op op, int unbiased);
lctw_status lctw_cpu_moments_all(const lctw_tensor *t, lctw_moments *m);
lctw_status lctw_cpu_tail_fraction(const lctw_tensor *t, double k, double *frac);
lctw_status lctw_cpu_histogram(const lctw_tensor *t, int bins, double lo, double hi,
                               int64_t *counts, int64_t *below, int64_t *above);

#endif
