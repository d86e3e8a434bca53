/* cuda_stub.c — the CUDA interface (kernels/lctw_cuda.h) for builds without nvcc: no devices,
 * and every device call fails with a clear message. Compiled only when CUDA=0. */
#include "lctw_cuda.h"

#define NO_CUDA LCTW_FAIL(LCTW_EDEVICE, "lctw was built without CUDA (rebuild with CUDA=1)")

int lctw_cuda_built(void) { return 0; }
int lctw_cuda_device_count(void) { return 0; }
const char *lctw_cuda_describe(void) { return "lctw was built without CUDA"; }
lctw_status lctw_cuda_mem_info(size_t *f, size_t *t) { *f = *t = 0; return NO_CUDA; }
lctw_status lctw_cuda_malloc(void **p, size_t n) { *p = NULL; return NO_CUDA; }
void lctw_cuda_free(void *p) {}
lctw_status lctw_cuda_memset0(void *p, size_t n) { return NO_CUDA; }
lctw_status lctw_cuda_h2d(void *d, const void *s, size_t n) { return NO_CUDA; }
lctw_status lctw_cuda_d2h(void *d, const void *s, size_t n) { return NO_CUDA; }
lctw_status lctw_cuda_d2d(void *d, const void *s, size_t n) { return NO_CUDA; }
lctw_status lctw_cuda_sync(void) { return NO_CUDA; }
void lctw_cuda_set_tf32(int on) {}
int lctw_cuda_tf32(void) { return 0; }
lctw_status lctw_cuda_copy_strided(lctw_tensor *d, const lctw_tensor *s) { return NO_CUDA; }
lctw_status lctw_cuda_unary(lctw_tensor *o, const lctw_tensor *a, lctw_unary_op op) { return NO_CUDA; }
lctw_status lctw_cuda_binary(lctw_tensor *o, const lctw_tensor *a, const lctw_tensor *b,
                             lctw_binary_op op) { return NO_CUDA; }
lctw_status lctw_cuda_binary_scalar(lctw_tensor *o, const lctw_tensor *a, float s,
                                    lctw_binary_op op, int f) { return NO_CUDA; }
lctw_status lctw_cuda_clamp(lctw_tensor *o, const lctw_tensor *a, float lo, float hi) { return NO_CUDA; }
lctw_status lctw_cuda_fill(lctw_tensor *t, float v) { return NO_CUDA; }
lctw_status lctw_cuda_fill_uniform(lctw_tensor *t, const lctw_rng *r) { return NO_CUDA; }
lctw_status lctw_cuda_fill_normal(lctw_tensor *t, const lctw_rng *r) { return NO_CUDA; }
lctw_status lctw_cuda_matmul(lctw_tensor *o, const lctw_tensor *a, const lctw_tensor *b) { return NO_CUDA; }
lctw_status lctw_cuda_reduce_all(const lctw_tensor *t, lctw_reduce_op op, int u, double *r) { return NO_CUDA; }
lctw_status lctw_cuda_reduce_dim(lctw_tensor *o, lctw_tensor *i, const lctw_tensor *t, int d,
                                 lctw_reduce_op op, int u) { return NO_CUDA; }
lctw_status lctw_cuda_moments_all(const lctw_tensor *t, lctw_moments *m) { return NO_CUDA; }
lctw_status lctw_cuda_tail_fraction(const lctw_tensor *t, double k, double *f) { return NO_CUDA; }
lctw_status lctw_cuda_histogram(const lctw_tensor *t, int b, double lo, double hi, int64_t *c,
                                int64_t *below, int64_t *above) { return NO_CUDA; }
