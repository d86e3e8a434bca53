/* cuda_core.cu — the device side of lctw: discovery, memory, copies and the cuBLAS handle
 * (kernels/lctw_cuda.h).
 *
 * Discovery never fails: without a driver or device cudaGetDeviceCount returns an error, which
 * becomes "0 devices" and a remembered reason for lctw_cuda_describe(). LCTW_NO_CUDA=1 forces 0
 * devices (tests of the CPU path on a GPU machine). The result is cached: the first call decides.
 *
 * Everything runs on device 0 and the default stream; copies are synchronous. An out-of-memory
 * cudaMalloc becomes LCTW_ENOMEM naming the request and the free memory, and the error state is
 * cleared so the session goes on.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_util.cuh"

static int g_count = -1;      /* -1: not probed yet */
static char g_desc[256];      /* describe() text: the device, or why there is none */
static cublasHandle_t g_blas; /* created on first use */
static int g_tf32;            /* 0: strict fp32 GEMMs (the default for the tensor API) */

static void probe(void) {
    const char *env = getenv("LCTW_NO_CUDA");
    if (env && *env && strcmp(env, "0") != 0) {
        g_count = 0;
        snprintf(g_desc, sizeof g_desc, "no CUDA device (disabled by LCTW_NO_CUDA=%s)", env);
        return;
    }
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        g_count = 0;
        snprintf(g_desc, sizeof g_desc, "no CUDA device (cudaGetDeviceCount: %s)",
                 cudaGetErrorString(e));
        return;
    }
    if (n <= 0) {
        g_count = 0;
        snprintf(g_desc, sizeof g_desc, "no CUDA device (cudaGetDeviceCount found none)");
        return;
    }
    cudaDeviceProp p;
    e = cudaGetDeviceProperties(&p, 0);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        g_count = 0;
        snprintf(g_desc, sizeof g_desc, "no CUDA device (cudaGetDeviceProperties: %s)",
                 cudaGetErrorString(e));
        return;
    }
    g_count = n;
    snprintf(g_desc, sizeof g_desc, "%.200s, %.1f GiB, sm_%d%d", p.name,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.major, p.minor);
}

extern "C" int lctw_cuda_built(void) { return 1; }

extern "C" int lctw_cuda_device_count(void) {
    if (g_count < 0) probe();
    return g_count;
}

extern "C" const char *lctw_cuda_describe(void) {
    if (g_count < 0) probe();
    return g_desc;
}

/* LCTW_EDEVICE with the reason when there is no device (every device call checks first). */
static lctw_status need_device(const char *what) {
    if (lctw_cuda_device_count() > 0) return LCTW_OK;
    return LCTW_FAIL(LCTW_EDEVICE, "%s: %s", what, g_desc);
}

extern "C" lctw_status lctw_cuda_mem_info(size_t *free_bytes, size_t *total_bytes) {
    *free_bytes = *total_bytes = 0;
    LCTW_TRY(need_device("cuda mem_info"));
    LCTW_CU(cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_malloc(void **p, size_t nbytes) {
    *p = NULL;
    LCTW_TRY(need_device("cuda malloc"));
    cudaError_t e = cudaMalloc(p, nbytes ? nbytes : 1);
    if (e == cudaSuccess) return LCTW_OK;
    *p = NULL;
    (void)cudaGetLastError(); /* clear it: an OOM must not poison the next call */
    char a[32], b[32], c[32];
    if (e == cudaErrorMemoryAllocation) {
        size_t fr = 0, tot = 0;
        if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) (void)cudaGetLastError();
        return LCTW_FAIL(LCTW_ENOMEM, "CUDA out of memory: requested %s, %s free of %s",
                         lctw_fmt_bytes(a, sizeof a, (double)nbytes),
                         lctw_fmt_bytes(b, sizeof b, (double)fr),
                         lctw_fmt_bytes(c, sizeof c, (double)tot));
    }
    return LCTW_FAIL(LCTW_ECUDA, "CUDA error in cudaMalloc(%s): %s",
                     lctw_fmt_bytes(a, sizeof a, (double)nbytes), cudaGetErrorString(e));
}

extern "C" void lctw_cuda_free(void *p) {
    if (!p || lctw_cuda_device_count() <= 0) return;
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
}

extern "C" lctw_status lctw_cuda_memset0(void *p, size_t nbytes) {
    if (!nbytes) return LCTW_OK;
    LCTW_TRY(need_device("cuda memset"));
    LCTW_CU(cudaMemset(p, 0, nbytes), "cudaMemset");
    return LCTW_OK;
}

static lctw_status copy(void *dst, const void *src, size_t nbytes, cudaMemcpyKind kind,
                        const char *what) {
    if (!nbytes) return LCTW_OK;
    LCTW_TRY(need_device(what));
    LCTW_CU(cudaMemcpy(dst, src, nbytes, kind), what);
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_h2d(void *dst, const void *src, size_t nbytes) {
    return copy(dst, src, nbytes, cudaMemcpyHostToDevice, "cudaMemcpy host to device");
}

extern "C" lctw_status lctw_cuda_d2h(void *dst, const void *src, size_t nbytes) {
    return copy(dst, src, nbytes, cudaMemcpyDeviceToHost, "cudaMemcpy device to host");
}

extern "C" lctw_status lctw_cuda_d2d(void *dst, const void *src, size_t nbytes) {
    return copy(dst, src, nbytes, cudaMemcpyDeviceToDevice, "cudaMemcpy device to device");
}

extern "C" lctw_status lctw_cuda_sync(void) {
    LCTW_TRY(need_device("cuda synchronize"));
    LCTW_CU(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    return LCTW_OK;
}

/* ---- cuBLAS ---- */

extern "C" void lctw_cuda_set_tf32(int on) { g_tf32 = on != 0; }
extern "C" int lctw_cuda_tf32(void) { return g_tf32; }

lctw_status lctw_cu_blas(cublasHandle_t *h) {
    *h = NULL;
    LCTW_TRY(need_device("cuBLAS"));
    if (!g_blas) {
        cublasStatus_t s = cublasCreate(&g_blas);
        if (s != CUBLAS_STATUS_SUCCESS) {
            g_blas = NULL;
            (void)cudaGetLastError();
            return LCTW_FAIL(LCTW_ECUDA, "CUDA error in cublasCreate: %s",
                             cublasGetStatusString(s));
        }
    }
    cublasStatus_t s =
        cublasSetMathMode(g_blas, g_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    if (s != CUBLAS_STATUS_SUCCESS)
        return LCTW_FAIL(LCTW_ECUDA, "CUDA error in cublasSetMathMode: %s",
                         cublasGetStatusString(s));
    *h = g_blas;
    return LCTW_OK;
}
