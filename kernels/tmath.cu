/* tmath.cu — CUDA twins of the tensor math in src/core/tmath.h (declared in kernels/lctw_cuda.h).
 *
 * Arguments arrive validated by tmath.c (devices, shapes, contiguous outputs). Inputs may have
 * any strides: kernels read them through a by-value lctw_cu_view (shape and strides of up to 4
 * dims) and write contiguous outputs, element i of out from flat index i of the inputs, so an
 * output that aliases an input exactly is safe. Kernels are plain grid-stride loops.
 *
 *  - random fills: one thread per 128-bit Philox block, the same u01 / double Box–Muller math as
 *    lctw_rng_normal_at (src/core/rng.h), so element j equals the CPU draw;
 *  - matmul: cuBLAS sgemm on row-major data via C^T = B^T·A^T (strided-batched for 3-D),
 *    non-contiguous inputs copied first; strict fp32 unless lctw_cuda_set_tf32(1);
 *  - reductions accumulate in double: per-block partials (tree reduction in shared memory)
 *    are copied to the host and combined there in block order (deterministic); variance and
 *    higher moments are two-pass (mean first, then central sums);
 *  - min/max propagate NaN (a NaN anywhere gives NaN, its index the first NaN); otherwise the
 *    index is that of the first occurrence of the extreme value. clamp keeps NaN.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "cuda_util.cuh"

#define GRID_CAP 65536   /* blocks of an elementwise grid-stride loop */
#define PART_BLOCKS 1024 /* blocks (partials) of a full reduction */
#define PART_VALUES 3    /* accumulators per partial */

#define GRID_STRIDE(i, n)                                                                          \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                      \
         i += (int64_t)gridDim.x * blockDim.x)

/* ---- elementwise ---- */

__device__ __forceinline__ float unary_f(float x, int op) {
    switch (op) {
    case LCTW_UN_NEG: return -x;
    case LCTW_UN_EXP: return expf(x);
    case LCTW_UN_LOG: return logf(x);
    case LCTW_UN_SQRT: return sqrtf(x);
    case LCTW_UN_ABS: return fabsf(x);
    default: return tanhf(x); /* LCTW_UN_TANH */
    }
}

__device__ __forceinline__ float binary_f(float x, float y, int op) {
    switch (op) {
    case LCTW_BIN_ADD: return x + y;
    case LCTW_BIN_SUB: return x - y;
    case LCTW_BIN_MUL: return x * y;
    case LCTW_BIN_DIV: return x / y;
    default: return powf(x, y); /* LCTW_BIN_POW */
    }
}

__global__ void k_unary(float *out, lctw_cu_view a, int64_t n, int op) {
    GRID_STRIDE(i, n) out[i] = unary_f(lctw_cu_load(a, i), op);
}

__global__ void k_binary(float *out, lctw_cu_view a, lctw_cu_view b, int64_t n, int op) {
    GRID_STRIDE(i, n) out[i] = binary_f(lctw_cu_load(a, i), lctw_cu_load(b, i), op);
}

__global__ void k_binary_scalar(float *out, lctw_cu_view a, float s, int64_t n, int op,
                                int scalar_first) {
    GRID_STRIDE(i, n) {
        float x = lctw_cu_load(a, i);
        out[i] = scalar_first ? binary_f(s, x, op) : binary_f(x, s, op);
    }
}

__global__ void k_clamp(float *out, lctw_cu_view a, float lo, float hi, int64_t n) {
    GRID_STRIDE(i, n) {
        float x = lctw_cu_load(a, i);
        out[i] = x < lo ? lo : (x > hi ? hi : x); /* NaN compares false: stays NaN */
    }
}

__global__ void k_fill(lctw_cu_view t, float v, int64_t n) {
    GRID_STRIDE(i, n) t.data[lctw_cu_offset(t, i)] = v;
}

__global__ void k_copy(lctw_cu_view dst, lctw_cu_view src, int64_t n) {
    GRID_STRIDE(i, n) dst.data[lctw_cu_offset(dst, i)] = lctw_cu_load(src, i);
}

static lctw_status bad_op(const char *what, int op) {
    return LCTW_FAIL(LCTW_EINVAL, "%s: unknown operation %d", what, op);
}

extern "C" lctw_status lctw_cuda_unary(lctw_tensor *out, const lctw_tensor *a, lctw_unary_op op) {
    if ((unsigned)op >= LCTW_UN_COUNT) return bad_op("unary op", op);
    int64_t n = lctw_tensor_numel(a);
    if (!n) return LCTW_OK;
    k_unary<<<lctw_cu_blocks(n, GRID_CAP), LCTW_CU_THREADS>>>(lctw_tensor_data(out),
                                                              lctw_cu_view_of(a), n, (int)op);
    LCTW_CU_LAUNCH("unary op kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_binary(lctw_tensor *out, const lctw_tensor *a,
                                        const lctw_tensor *b, lctw_binary_op op) {
    if ((unsigned)op >= LCTW_BIN_COUNT) return bad_op("binary op", op);
    int64_t n = lctw_tensor_numel(a);
    if (!n) return LCTW_OK;
    k_binary<<<lctw_cu_blocks(n, GRID_CAP), LCTW_CU_THREADS>>>(
        lctw_tensor_data(out), lctw_cu_view_of(a), lctw_cu_view_of(b), n, (int)op);
    LCTW_CU_LAUNCH("binary op kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_binary_scalar(lctw_tensor *out, const lctw_tensor *a, float s,
                                               lctw_binary_op op, int scalar_first) {
    if ((unsigned)op >= LCTW_BIN_COUNT) return bad_op("scalar op", op);
    int64_t n = lctw_tensor_numel(a);
    if (!n) return LCTW_OK;
    k_binary_scalar<<<lctw_cu_blocks(n, GRID_CAP), LCTW_CU_THREADS>>>(
        lctw_tensor_data(out), lctw_cu_view_of(a), s, n, (int)op, scalar_first);
    LCTW_CU_LAUNCH("scalar op kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_clamp(lctw_tensor *out, const lctw_tensor *a, float lo, float hi) {
    int64_t n = lctw_tensor_numel(a);
    if (!n) return LCTW_OK;
    k_clamp<<<lctw_cu_blocks(n, GRID_CAP), LCTW_CU_THREADS>>>(lctw_tensor_data(out),
                                                              lctw_cu_view_of(a), lo, hi, n);
    LCTW_CU_LAUNCH("clamp kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_fill(lctw_tensor *t, float v) {
    int64_t n = lctw_tensor_numel(t);
    if (!n) return LCTW_OK;
    k_fill<<<lctw_cu_blocks(n, GRID_CAP), LCTW_CU_THREADS>>>(lctw_cu_view_of(t), v, n);
    LCTW_CU_LAUNCH("fill kernel");
    return LCTW_OK;
}

static int same_view(const lctw_tensor *a, const lctw_tensor *b) {
    if (lctw_tensor_data(a) != lctw_tensor_data(b) || a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d] || (a->shape[d] > 1 && a->stride[d] != b->stride[d]))
            return 0;
    return 1;
}

extern "C" lctw_status lctw_cuda_copy_strided(lctw_tensor *dst, const lctw_tensor *src) {
    int64_t n = lctw_tensor_numel(src);
    if (n != lctw_tensor_numel(dst)) {
        char a[96], b[96];
        return LCTW_FAIL(
            LCTW_ESHAPE, "copy: %s source into a %s destination (element counts differ)",
            lctw_tensor_shape_str(a, sizeof a, src), lctw_tensor_shape_str(b, sizeof b, dst));
    }
    if (!n || same_view(dst, src)) return LCTW_OK;
    unsigned g = lctw_cu_blocks(n, GRID_CAP);
    if (dst->st != src->st) {
        k_copy<<<g, LCTW_CU_THREADS>>>(lctw_cu_view_of(dst), lctw_cu_view_of(src), n);
        LCTW_CU_LAUNCH("copy kernel");
        return LCTW_OK;
    }
    /* Same storage: the views may overlap, so go through a contiguous temporary. */
    lctw_tensor *tmp;
    LCTW_TRY(lctw_tensor_empty(&tmp, src->ndim, src->shape, LCTW_DEV_CUDA));
    k_copy<<<g, LCTW_CU_THREADS>>>(lctw_cu_view_of(tmp), lctw_cu_view_of(src), n);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) {
        k_copy<<<g, LCTW_CU_THREADS>>>(lctw_cu_view_of(dst), lctw_cu_view_of(tmp), n);
        e = cudaGetLastError();
    }
    /* cudaFree (via release) waits for the kernels that read tmp. */
    lctw_tensor_release(tmp);
    LCTW_CU(e, "copy kernel");
    return LCTW_OK;
}

/* ---- random fills ---- */

/* Block q of the draw gives elements 4q..4q+3 (rng.h): one thread per block. */
__global__ void k_rng(float *out, int64_t n, uint64_t seed, uint32_t stream, uint64_t offset,
                      int normal) {
    int64_t nblk = (n + 3) / 4;
    GRID_STRIDE(q, nblk) {
        uint32_t o[4];
        lctw_rng_block(seed, stream, offset + (uint64_t)q, o);
        int64_t j0 = 4 * q;
        float v[4];
        if (normal) {
#pragma unroll
            for (int p = 0; p < 4; p += 2) {
                /* the exact expressions of lctw_rng_normal_at, in double */
                double u0 = (double)lctw_rng_u01(o[p]), u1 = (double)lctw_rng_u01(o[p + 1]);
                double r = sqrt(-2.0 * log(u0));
                double a = 6.283185307179586476925 * u1;
                v[p] = (float)(r * cos(a));
                v[p + 1] = (float)(r * sin(a));
            }
        } else {
#pragma unroll
            for (int l = 0; l < 4; l++)
                v[l] = lctw_rng_u01(o[l]);
        }
#pragma unroll
        for (int l = 0; l < 4; l++)
            if (j0 + l < n) out[j0 + l] = v[l];
    }
}

static lctw_status rng_fill(lctw_tensor *t, const lctw_rng *r, int normal) {
    if (!lctw_tensor_is_contiguous(t))
        return LCTW_FAIL(LCTW_EINVAL, "random fill needs a contiguous tensor");
    int64_t n = lctw_tensor_numel(t);
    if (!n) return LCTW_OK;
    k_rng<<<lctw_cu_blocks((n + 3) / 4, GRID_CAP), LCTW_CU_THREADS>>>(
        lctw_tensor_data(t), n, r->seed, r->stream, r->offset, normal);
    LCTW_CU_LAUNCH(normal ? "normal fill kernel" : "uniform fill kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_fill_uniform(lctw_tensor *t, const lctw_rng *r) {
    return rng_fill(t, r, 0);
}

extern "C" lctw_status lctw_cuda_fill_normal(lctw_tensor *t, const lctw_rng *r) {
    return rng_fill(t, r, 1);
}

/* ---- matmul ---- */

extern "C" lctw_status lctw_cuda_matmul(lctw_tensor *out, const lctw_tensor *a,
                                        const lctw_tensor *b) {
    int nd = a->ndim;
    int64_t nb = nd == 3 ? a->shape[0] : 1;
    int64_t m = a->shape[nd - 2], k = a->shape[nd - 1], n = b->shape[nd - 1];
    if (!nb || !m || !n) return LCTW_OK;
    if (!k) return lctw_cuda_memset0(lctw_tensor_data(out), (size_t)(nb * m * n) * sizeof(float));
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX || nb > INT_MAX)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "matmul: cuBLAS needs sizes below 2^31 "
                         "(batch %lld, m %lld, k %lld, n %lld)",
                         (long long)nb, (long long)m, (long long)k, (long long)n);
    cublasHandle_t h;
    LCTW_TRY(lctw_cu_blas(&h));
    lctw_tensor *ac = NULL, *bc = NULL;
    LCTW_TRY(lctw_tensor_contiguous(&ac, (lctw_tensor *)a));
    lctw_status s = lctw_tensor_contiguous(&bc, (lctw_tensor *)b);
    if (s != LCTW_OK) {
        lctw_tensor_release(ac);
        return s;
    }
    /* Row-major C (m×n) is column-major C^T (n×m) = B^T (n×k) · A^T (k×m). */
    const float one = 1.0f, zero = 0.0f;
    const float *A = lctw_tensor_data(ac), *B = lctw_tensor_data(bc);
    float *C = lctw_tensor_data(out);
    cublasStatus_t bs;
    if (nb == 1)
        bs = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)m, (int)k, &one, B, (int)n, A,
                         (int)k, &zero, C, (int)n);
    else
        bs = cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)m, (int)k, &one, B,
                                       (int)n, (long long)k * n, A, (int)k, (long long)m * k, &zero,
                                       C, (int)n, (long long)m * n, (int)nb);
    cudaError_t e = cudaGetLastError();
    /* Releasing the copies frees device memory, which waits for the GEMM that reads them. */
    lctw_tensor_release(ac);
    lctw_tensor_release(bc);
    if (bs != CUBLAS_STATUS_SUCCESS)
        return LCTW_FAIL(LCTW_ECUDA, "CUDA error in cublasSgemm%s (%lld×%lld times %lld×%lld): %s",
                         nb == 1 ? "" : "StridedBatched", (long long)m, (long long)k, (long long)k,
                         (long long)n, cublasGetStatusString(bs));
    LCTW_CU(e, "cublasSgemm");
    return LCTW_OK;
}

/* ---- reductions ---- */

enum { ACC_SUM = 0, ACC_MIN, ACC_MAX };

/* min/max that propagate NaN (x + y is NaN when either is) */
__device__ __forceinline__ double min_nan(double x, double y) {
    return (isnan(x) || isnan(y)) ? x + y : fmin(x, y);
}
__device__ __forceinline__ double max_nan(double x, double y) {
    return (isnan(x) || isnan(y)) ? x + y : fmax(x, y);
}

/* Tree reduction over the block (blockDim.x == LCTW_CU_THREADS, a power of two); every thread
 * gets the result. sh holds LCTW_CU_THREADS doubles. */
__device__ double block_reduce(double v, double *sh, int how) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) {
            double x = sh[threadIdx.x], y = sh[threadIdx.x + s];
            sh[threadIdx.x] = how == ACC_SUM   ? x + y
                              : how == ACC_MIN ? min_nan(x, y)
                                               : max_nan(x, y);
        }
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

/* Per-block partials of a full reduction, PART_VALUES doubles per block:
 *   mode 0: sum, min, max      mode 1: Σd², Σd³, Σd⁴ with d = x − mean
 *   mode 2: count of |x − mean| > thr, 0, 0 */
__global__ void k_stats(lctw_cu_view v, int64_t n, int mode, double mean, double thr,
                        double *part) {
    __shared__ double sh[LCTW_CU_THREADS];
    double a0 = 0.0, a1 = mode == 0 ? INFINITY : 0.0, a2 = mode == 0 ? -INFINITY : 0.0;
    GRID_STRIDE(i, n) {
        double x = (double)lctw_cu_load(v, i);
        if (mode == 0) {
            a0 += x;
            a1 = min_nan(a1, x);
            a2 = max_nan(a2, x);
        } else if (mode == 1) {
            double d = x - mean, d2 = d * d;
            a0 += d2;
            a1 += d2 * d;
            a2 += d2 * d2;
        } else {
            a0 += fabs(x - mean) > thr ? 1.0 : 0.0;
        }
    }
    a0 = block_reduce(a0, sh, ACC_SUM);
    a1 = block_reduce(a1, sh, mode == 0 ? ACC_MIN : ACC_SUM);
    a2 = block_reduce(a2, sh, mode == 0 ? ACC_MAX : ACC_SUM);
    if (threadIdx.x == 0) {
        double *p = part + (size_t)blockIdx.x * PART_VALUES;
        p[0] = a0;
        p[1] = a1;
        p[2] = a2;
    }
}

static double *g_part;      /* device scratch for the partials (allocated once) */
static double *g_part_host; /* host copy */

/* Runs k_stats over t and combines the partials on the host into acc[3]. */
static lctw_status stats_pass(const lctw_tensor *t, int mode, double mean, double thr,
                              double acc[PART_VALUES]) {
    int64_t n = lctw_tensor_numel(t);
    size_t bytes = (size_t)PART_BLOCKS * PART_VALUES * sizeof(double);
    if (!g_part) {
        void *p;
        LCTW_TRY(lctw_cuda_malloc(&p, bytes));
        g_part_host = (double *)malloc(bytes);
        if (!g_part_host) {
            lctw_cuda_free(p);
            return LCTW_FAIL(LCTW_ENOMEM, "out of memory allocating reduction scratch");
        }
        g_part = (double *)p;
    }
    unsigned g = lctw_cu_blocks(n, PART_BLOCKS);
    k_stats<<<g, LCTW_CU_THREADS>>>(lctw_cu_view_of(t), n, mode, mean, thr, g_part);
    LCTW_CU_LAUNCH("reduction kernel");
    LCTW_CU(cudaMemcpy(g_part_host, g_part, (size_t)g * PART_VALUES * sizeof(double),
                       cudaMemcpyDeviceToHost),
            "reduction (copy of partial results)");
    acc[0] = 0.0;
    acc[1] = mode == 0 ? INFINITY : 0.0;
    acc[2] = mode == 0 ? -INFINITY : 0.0;
    for (unsigned b = 0; b < g; b++) {
        const double *p = g_part_host + (size_t)b * PART_VALUES;
        acc[0] += p[0];
        if (mode == 0) {
            acc[1] = (isnan(acc[1]) || isnan(p[1])) ? acc[1] + p[1] : fmin(acc[1], p[1]);
            acc[2] = (isnan(acc[2]) || isnan(p[2])) ? acc[2] + p[2] : fmax(acc[2], p[2]);
        } else {
            acc[1] += p[1];
            acc[2] += p[2];
        }
    }
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_reduce_all(const lctw_tensor *t, lctw_reduce_op op, int unbiased,
                                            double *res) {
    if ((unsigned)op >= LCTW_RED_COUNT) return bad_op("reduction", op);
    int64_t n = lctw_tensor_numel(t);
    *res = 0.0;
    if (!n) return LCTW_OK; /* sum of nothing; tmath.c rejects the other ops */
    double a[PART_VALUES], c[PART_VALUES];
    LCTW_TRY(stats_pass(t, 0, 0.0, 0.0, a));
    double mean = a[0] / (double)n;
    switch (op) {
    case LCTW_RED_SUM: *res = a[0]; break;
    case LCTW_RED_MEAN: *res = mean; break;
    case LCTW_RED_MIN: *res = a[1]; break;
    case LCTW_RED_MAX: *res = a[2]; break;
    default: /* VAR, STD */
        LCTW_TRY(stats_pass(t, 1, mean, 0.0, c));
        double var = c[0] / (double)(n - (unbiased ? 1 : 0));
        *res = op == LCTW_RED_VAR ? var : sqrt(var);
        break;
    }
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_moments_all(const lctw_tensor *t, lctw_moments *m) {
    int64_t n = lctw_tensor_numel(t);
    if (!n) return LCTW_FAIL(LCTW_EINVAL, "statistics of an empty tensor");
    double a[PART_VALUES], c[PART_VALUES];
    LCTW_TRY(stats_pass(t, 0, 0.0, 0.0, a));
    double mean = a[0] / (double)n;
    LCTW_TRY(stats_pass(t, 1, mean, 0.0, c));
    double m2 = c[0] / (double)n, m3 = c[1] / (double)n, m4 = c[2] / (double)n;
    m->n = n;
    m->mean = mean;
    m->var = m2;
    m->std = sqrt(m2);
    m->skew = m2 > 0 ? m3 / (m2 * sqrt(m2)) : NAN; /* undefined for a constant tensor */
    m->kurtosis = m2 > 0 ? m4 / (m2 * m2) - 3.0 : NAN;
    m->min = a[1];
    m->max = a[2];
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_tail_fraction(const lctw_tensor *t, double k, double *frac) {
    int64_t n = lctw_tensor_numel(t);
    if (!n) return LCTW_FAIL(LCTW_EINVAL, "tail_fraction of an empty tensor");
    double a[PART_VALUES], c[PART_VALUES], d[PART_VALUES];
    LCTW_TRY(stats_pass(t, 0, 0.0, 0.0, a));
    double mean = a[0] / (double)n;
    LCTW_TRY(stats_pass(t, 1, mean, 0.0, c));
    double sd = sqrt(c[0] / (double)n);
    LCTW_TRY(stats_pass(t, 2, mean, k * sd, d));
    *frac = d[0] / (double)n;
    return LCTW_OK;
}

/* ---- reduction over one dimension ----
 * rv is t viewed with shape[dim] = 1: its element o is the start of output o's row, whose
 * len elements are sd apart. */

/* Should candidate (w, j) replace the current best (v, i) of a min/max? NaN wins, then the
 * extreme value, then the lower index. i < 0: no candidate yet. */
__device__ __forceinline__ bool arg_better(double v, int64_t i, double w, int64_t j, int is_min) {
    if (j < 0) return false;
    if (i < 0) return true;
    bool vn = isnan(v), wn = isnan(w);
    if (vn || wn) return vn && wn ? j < i : wn;
    if (w == v) return j < i;
    return is_min ? w < v : w > v;
}

__device__ __forceinline__ void rdim_store(float *out, float *idx, int64_t o, int op, double sum,
                                           double m2, int64_t len, int unbiased, double best,
                                           int64_t bi) {
    double r;
    switch (op) {
    case LCTW_RED_SUM: r = sum; break;
    case LCTW_RED_MEAN: r = sum / (double)len; break;
    case LCTW_RED_VAR: r = m2 / (double)(len - unbiased); break;
    case LCTW_RED_STD: r = sqrt(m2 / (double)(len - unbiased)); break;
    default: r = best; break; /* MIN, MAX */
    }
    if (out) out[o] = (float)r;
    if (idx && (op == LCTW_RED_MIN || op == LCTW_RED_MAX)) idx[o] = (float)bi;
}

/* One thread per output (short rows). */
__global__ void k_rdim_thread(float *out, float *idx, lctw_cu_view rv, int64_t nout, int64_t len,
                              int64_t sd, int op, int unbiased) {
    GRID_STRIDE(o, nout) {
        const float *p = rv.data + lctw_cu_offset(rv, o);
        double sum = 0.0, m2 = 0.0, best = 0.0;
        int64_t bi = -1;
        if (op == LCTW_RED_MIN || op == LCTW_RED_MAX) {
            for (int64_t r = 0; r < len; r++) {
                double x = (double)p[r * sd];
                if (arg_better(best, bi, x, r, op == LCTW_RED_MIN)) {
                    best = x;
                    bi = r;
                }
            }
        } else {
            for (int64_t r = 0; r < len; r++)
                sum += (double)p[r * sd];
            if (op == LCTW_RED_VAR || op == LCTW_RED_STD) {
                double mean = sum / (double)len;
                for (int64_t r = 0; r < len; r++) {
                    double d = (double)p[r * sd] - mean;
                    m2 += d * d;
                }
            }
        }
        rdim_store(out, idx, o, op, sum, m2, len, unbiased, best, bi);
    }
}

/* One block per output (long rows); the whole block loops over outputs together, so the
 * barriers inside block_reduce are reached by every thread. */
__global__ void k_rdim_block(float *out, float *idx, lctw_cu_view rv, int64_t nout, int64_t len,
                             int64_t sd, int op, int unbiased) {
    __shared__ double sh[LCTW_CU_THREADS];
    __shared__ int64_t shi[LCTW_CU_THREADS];
    int is_min = op == LCTW_RED_MIN;
    for (int64_t o = blockIdx.x; o < nout; o += gridDim.x) {
        const float *p = rv.data + lctw_cu_offset(rv, o);
        double sum = 0.0, m2 = 0.0, best = 0.0;
        int64_t bi = -1;
        if (op == LCTW_RED_MIN || op == LCTW_RED_MAX) {
            for (int64_t r = threadIdx.x; r < len; r += blockDim.x) {
                double x = (double)p[r * sd];
                if (arg_better(best, bi, x, r, is_min)) {
                    best = x;
                    bi = r;
                }
            }
            sh[threadIdx.x] = best;
            shi[threadIdx.x] = bi;
            __syncthreads();
            for (int s = blockDim.x / 2; s > 0; s >>= 1) {
                if ((int)threadIdx.x < s) {
                    int u = threadIdx.x + s;
                    if (arg_better(sh[threadIdx.x], shi[threadIdx.x], sh[u], shi[u], is_min)) {
                        sh[threadIdx.x] = sh[u];
                        shi[threadIdx.x] = shi[u];
                    }
                }
                __syncthreads();
            }
            best = sh[0];
            bi = shi[0];
            __syncthreads();
        } else {
            for (int64_t r = threadIdx.x; r < len; r += blockDim.x)
                sum += (double)p[r * sd];
            sum = block_reduce(sum, sh, ACC_SUM);
            if (op == LCTW_RED_VAR || op == LCTW_RED_STD) {
                double mean = sum / (double)len;
                for (int64_t r = threadIdx.x; r < len; r += blockDim.x) {
                    double d = (double)p[r * sd] - mean;
                    m2 += d * d;
                }
                m2 = block_reduce(m2, sh, ACC_SUM);
            }
        }
        if (threadIdx.x == 0) rdim_store(out, idx, o, op, sum, m2, len, unbiased, best, bi);
    }
}

extern "C" lctw_status lctw_cuda_reduce_dim(lctw_tensor *out, lctw_tensor *idx,
                                            const lctw_tensor *t, int dim, lctw_reduce_op op,
                                            int unbiased) {
    if ((unsigned)op >= LCTW_RED_COUNT) return bad_op("reduction", op);
    if (dim < 0 || dim >= t->ndim)
        return LCTW_FAIL(LCTW_EINDEX, "dimension %d out of range for a %d-dimensional tensor",
                         dim + 1, t->ndim);
    int64_t len = t->shape[dim], nout = 1;
    for (int d = 0; d < t->ndim; d++)
        if (d != dim) nout *= t->shape[d];
    if (!nout) return LCTW_OK;
    lctw_cu_view rv = lctw_cu_view_of(t);
    rv.shape[dim] = 1;
    rv.contig = 0;
    int64_t sd = t->stride[dim];
    float *po = out ? lctw_tensor_data(out) : NULL;
    float *pi = idx ? lctw_tensor_data(idx) : NULL;
    unbiased = unbiased ? 1 : 0;
    if (len >= 256 && nout < (1 << 16)) {
        unsigned g = (unsigned)(nout < (1 << 20) ? nout : (1 << 20));
        k_rdim_block<<<g, LCTW_CU_THREADS>>>(po, pi, rv, nout, len, sd, (int)op, unbiased);
    } else {
        k_rdim_thread<<<lctw_cu_blocks(nout, GRID_CAP), LCTW_CU_THREADS>>>(po, pi, rv, nout, len,
                                                                           sd, (int)op, unbiased);
    }
    LCTW_CU_LAUNCH("reduction kernel");
    return LCTW_OK;
}

/* ---- histogram ----
 * Slots 0..bins-1 are the bins, slot bins counts x < lo and slot bins+1 counts x > hi. Small
 * histograms are counted per block in shared memory and added to the global counts once. */
#define HIST_SHARED_MAX 8192 /* slots */

__device__ __forceinline__ int hist_slot(double x, double lo, double hi, int bins) {
    if (x < lo) return bins;
    if (x > hi) return bins + 1;
    double f = (x - lo) / (hi - lo) * bins;
    if (!(f < (double)bins)) return bins - 1; /* x == hi */
    if (!(f >= 0.0)) return 0;
    return (int)f; /* f >= 0: truncation is floor */
}

__global__ void k_hist(lctw_cu_view v, int64_t n, double lo, double hi, int bins,
                       unsigned long long *counts, int use_shared) {
    extern __shared__ unsigned int hs[];
    int slots = bins + 2;
    if (use_shared) {
        for (int s = threadIdx.x; s < slots; s += blockDim.x)
            hs[s] = 0;
        __syncthreads();
    }
    GRID_STRIDE(i, n) {
        double x = (double)lctw_cu_load(v, i);
        if (isnan(x)) continue;
        int s = hist_slot(x, lo, hi, bins);
        if (use_shared)
            atomicAdd(&hs[s], 1u);
        else
            atomicAdd(&counts[s], 1ull);
    }
    if (use_shared) {
        __syncthreads();
        for (int s = threadIdx.x; s < slots; s += blockDim.x)
            if (hs[s]) atomicAdd(&counts[s], (unsigned long long)hs[s]);
    }
}

extern "C" lctw_status lctw_cuda_histogram(const lctw_tensor *t, int bins, double lo, double hi,
                                           int64_t *counts, int64_t *below, int64_t *above) {
    if (bins < 1) return LCTW_FAIL(LCTW_EINVAL, "histogram: bins must be >= 1, got %d", bins);
    int64_t n = lctw_tensor_numel(t);
    size_t slots = (size_t)bins + 2;
    int64_t *host = (int64_t *)calloc(slots, sizeof(int64_t));
    if (!host) return LCTW_FAIL(LCTW_ENOMEM, "out of memory allocating %d histogram bins", bins);
    lctw_status s = LCTW_OK;
    if (n) {
        void *dev = NULL;
        s = lctw_cuda_malloc(&dev, slots * sizeof(unsigned long long));
        if (s == LCTW_OK) s = lctw_cuda_memset0(dev, slots * sizeof(unsigned long long));
        if (s == LCTW_OK) {
            unsigned g = lctw_cu_blocks(n, PART_BLOCKS);
            /* shared counters are 32-bit: each block must see fewer than 2^32 elements */
            int use_shared = slots <= HIST_SHARED_MAX && n / g < ((int64_t)1 << 31);
            size_t shmem = use_shared ? slots * sizeof(unsigned int) : 0;
            k_hist<<<g, LCTW_CU_THREADS, shmem>>>(lctw_cu_view_of(t), n, lo, hi, bins,
                                                  (unsigned long long *)dev, use_shared);
            cudaError_t e = cudaGetLastError();
            if (e == cudaSuccess)
                e = cudaMemcpy(host, dev, slots * sizeof(int64_t), cudaMemcpyDeviceToHost);
            if (e != cudaSuccess) {
                (void)cudaGetLastError();
                s = LCTW_FAIL(LCTW_ECUDA, "CUDA error in histogram kernel: %s",
                              cudaGetErrorString(e));
            }
        }
        lctw_cuda_free(dev);
    }
    if (s == LCTW_OK) {
        for (int b = 0; b < bins; b++)
            counts[b] = host[b];
        if (below) *below = host[bins];
        if (above) *above = host[bins + 1];
    }
    free(host);
    return s;
}
