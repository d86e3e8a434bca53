/* cuda_util.cuh — shared helpers of the CUDA backend (the .cu files of kernels/ only):
 * error-check macros, launch sizes, and a by-value view of a strided tensor that kernels index
 * through.
 *
 * Every CUDA runtime call is wrapped in LCTW_CU (records "CUDA error in <what>: <reason>" as
 * LCTW_ECUDA and returns it) and every kernel launch is followed by LCTW_CU_LAUNCH, which checks
 * cudaGetLastError. Launch errors are not sticky, so the session goes on after one.
 */
#ifndef LCTW_CUDA_UTIL_CUH
#define LCTW_CUDA_UTIL_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "lctw_cuda.h"

#define LCTW_CU(call, what)                                                                        \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            (void)cudaGetLastError();                                                              \
            return LCTW_FAIL(LCTW_ECUDA, "CUDA error in %s: %s", (what), cudaGetErrorString(e_));  \
        }                                                                                          \
    } while (0)

#define LCTW_CU_LAUNCH(what) LCTW_CU(cudaGetLastError(), (what))

/* The shared cuBLAS handle (cuda_core.cu), created on first use, math mode set per the TF32
 * switch. Fails with LCTW_EDEVICE without a device. */
lctw_status lctw_cu_blas(cublasHandle_t *h);

/* Threads per block of the elementwise and reduction kernels (a power of two). */
#ifndef LCTW_CU_THREADS
#define LCTW_CU_THREADS 256
#endif

/* Blocks for a grid-stride loop over n items (n > 0), capped so the grid stays modest. */
static inline unsigned lctw_cu_blocks(int64_t n, int64_t cap) {
    int64_t b = (n + LCTW_CU_THREADS - 1) / LCTW_CU_THREADS;
    if (b > cap) b = cap;
    return (unsigned)(b < 1 ? 1 : b);
}

/* A tensor as kernels see it: data points at element 0 of the view (storage + offset). */
struct lctw_cu_view {
    float *data;
    int ndim;
    int contig; /* 1: element i lives at data[i] */
    int64_t shape[LCTW_MAX_DIMS];
    int64_t stride[LCTW_MAX_DIMS];
};

static inline lctw_cu_view lctw_cu_view_of(const lctw_tensor *t) {
    lctw_cu_view v;
    v.data = lctw_tensor_data(t);
    v.ndim = t->ndim;
    v.contig = lctw_tensor_is_contiguous(t);
    for (int d = 0; d < LCTW_MAX_DIMS; d++) {
        v.shape[d] = d < t->ndim ? t->shape[d] : 1;
        v.stride[d] = d < t->ndim ? t->stride[d] : 0;
    }
    return v;
}

/* Element offset of flat row-major index i (same as lctw_tensor_flat_offset on the host). */
__device__ __forceinline__ int64_t lctw_cu_offset(const lctw_cu_view &v, int64_t i) {
    if (v.contig) return i;
    int64_t off = 0;
    /* unrolled with constant indices, so the view stays in parameter space / registers */
#pragma unroll
    for (int d = LCTW_MAX_DIMS - 1; d >= 0; d--) {
        if (d < v.ndim) {
            int64_t n = v.shape[d];
            off += (i % n) * v.stride[d];
            i /= n;
        }
    }
    return off;
}

__device__ __forceinline__ float lctw_cu_load(const lctw_cu_view &v, int64_t i) {
    return v.data[lctw_cu_offset(v, i)];
}

#endif
