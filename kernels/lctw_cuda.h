/* lctw_cuda.h — the C interface of the CUDA backend (implemented in kernels/NAME.cu when lctw is
 * built with CUDA=1, and by src/core/cuda_stub.c otherwise, where every call fails with
 * LCTW_EDEVICE "lctw was built without CUDA").
 *
 * The core never includes cuda_runtime.h: it calls these functions. Pointers are device
 * pointers. Every function returns a status and records a message on failure (CUDA errors are
 * checked after every call and kernel launch).
 */
#ifndef LCTW_CUDA_H
#define LCTW_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "../src/core/status.h"
#include "../src/core/tmath.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this binary contains the CUDA backend. */
int lctw_cuda_built(void);
/* Number of usable devices (0 without a driver or device; never fails). */
int lctw_cuda_device_count(void);
/* Short description of device 0 ("NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90") or why none. */
const char *lctw_cuda_describe(void);
lctw_status lctw_cuda_mem_info(size_t *free_bytes, size_t *total_bytes);

lctw_status lctw_cuda_malloc(void **p, size_t nbytes); /* ENOMEM names size and free memory */
void lctw_cuda_free(void *p);
lctw_status lctw_cuda_memset0(void *p, size_t nbytes);
lctw_status lctw_cuda_h2d(void *dst, const void *src, size_t nbytes);
lctw_status lctw_cuda_d2h(void *dst, const void *src, size_t nbytes);
lctw_status lctw_cuda_d2d(void *dst, const void *src, size_t nbytes);
lctw_status lctw_cuda_sync(void);
/* TF32 tensor-core GEMMs in lctw_cuda_matmul: off by default (strict fp32); a global switch. */
void lctw_cuda_set_tf32(int on);
int lctw_cuda_tf32(void);

/* Twins of tmath.h (same contracts; all tensors on the device). */
lctw_status lctw_cuda_copy_strided(lctw_tensor *dst, const lctw_tensor *src); /* same numel */
lctw_status lctw_cuda_unary(lctw_tensor *out, const lctw_tensor *a, lctw_unary_op op);
lctw_status lctw_cuda_binary(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b,
                             lctw_binary_op op);
lctw_status lctw_cuda_binary_scalar(lctw_tensor *out, const lctw_tensor *a, float s,
                                    lctw_binary_op op, int scalar_first);
lctw_status lctw_cuda_clamp(lctw_tensor *out, const lctw_tensor *a, float lo, float hi);
lctw_status lctw_cuda_fill(lctw_tensor *t, float v);
lctw_status lctw_cuda_fill_uniform(lctw_tensor *t, const lctw_rng *r);
lctw_status lctw_cuda_fill_normal(lctw_tensor *t, const lctw_rng *r);
lctw_status lctw_cuda_matmul(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b);
lctw_status lctw_cuda_reduce_all(const lctw_tensor *t, lctw_reduce_op op, int unbiased,
                                 double *res);
lctw_status lctw_cuda_reduce_dim(lctw_tensor *out, lctw_tensor *idx, const lctw_tensor *t,
                                 int dim, lctw_reduce_op op, int unbiased);
lctw_status lctw_cuda_moments_all(const lctw_tensor *t, lctw_moments *m);
lctw_status lctw_cuda_tail_fraction(const lctw_tensor *t, double k, double *frac);
lctw_status lctw_cuda_histogram(const lctw_tensor *t, int bins, double lo, double hi,
                                int64_t *counts, int64_t *below, int64_t *above);

#ifdef __cplusplus
}
#endif

#endif
