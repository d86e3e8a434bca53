/* TEMPORARY stub — to be replaced by the real CPU implementation. */
#include "tmath_cpu.h"
#define TODO LCTW_FAIL(LCTW_EINVAL, "not implemented yet")
lctw_status lctw_cpu_unary(lctw_tensor *out, const lctw_tensor *a, lctw_unary_op op) { return TODO; }
lctw_status lctw_cpu_binary(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b, lctw_binary_op op) { return TODO; }
lctw_status lctw_cpu_binary_scalar(lctw_tensor *out, const lctw_tensor *a, float s, lctw_binary_op op, int f) { return TODO; }
lctw_status lctw_cpu_clamp(lctw_tensor *out, const lctw_tensor *a, float lo, float hi) { return TODO; }
lctw_status lctw_cpu_fill(lctw_tensor *t, float v) { int64_t n = lctw_tensor_numel(t); for (int64_t i = 0; i < n; i++) lctw_tensor_data(t)[lctw_tensor_flat_offset(t, i)] = v; return LCTW_OK; }
lctw_status lctw_cpu_fill_uniform(lctw_tensor *t, const lctw_rng *r) { return TODO; }
lctw_status lctw_cpu_fill_normal(lctw_tensor *t, const lctw_rng *r) { return TODO; }
lctw_status lctw_cpu_matmul(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b) { return TODO; }
lctw_status lctw_cpu_reduce_all(const lctw_tensor *t, lctw_reduce_op op, int u, double *res) { return TODO; }
lctw_status lctw_cpu_reduce_dim(lctw_tensor *out, lctw_tensor *idx, const lctw_tensor *t, int dim, lctw_reduce_op op, int u) { return TODO; }
lctw_status lctw_cpu_moments_all(const lctw_tensor *t, lctw_moments *m) { return TODO; }
lctw_status lctw_cpu_tail_fraction(const lctw_tensor *t, double k, double *frac) { return TODO; }
lctw_status lctw_cpu_histogram(const lctw_tensor *t, int bins, double lo, double hi, int64_t *c, int64_t *b, int64_t *a) { return TODO; }
