/* ops_common.cuh — helpers shared by the op twins (kernels/ops_*.cu only): grid-stride loops,
 * warp and block sums in double, and one generic "broadcast reduction" kernel that every bias /
 * scale / γ gradient is an instance of.
 *
 * The broadcast reduction: out[a·C + c] (+)= (Σ_{o<O, i<I} f(e, a, o, c)) / div with
 * e = ((a·O + o)·C + c)·I + i, i.e. a tensor (A, O, C, I) summed over O and I. One block per
 * output (grid-stride over outputs), the block's threads stride over the O·I terms, partials
 * combined by a fixed tree: deterministic, no atomics. Examples: linear db (A 1, O rows, C out,
 * I 1), conv bias (1, N, Cout, H·W), FiLM scale (B, 1, C, H·W), adaLN shift (B, T, D, 1).
 */
#ifndef LCTW_OPS_COMMON_CUH
#define LCTW_OPS_COMMON_CUH

#include "cuda_util.cuh"
#include "lctw_cuda_ops.h"

#define OPS_GRID_CAP 65536 /* blocks of an element-wise grid-stride loop / a reduction */

#define OPS_FOR(i, n)                                                                              \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                      \
         i += (int64_t)gridDim.x * blockDim.x)

/* Launch configuration of an element-wise kernel over n > 0 items. */
#define OPS_GRID(n) lctw_cu_blocks((n), OPS_GRID_CAP), LCTW_CU_THREADS

__device__ __forceinline__ double ops_warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v; /* every lane holds the sum */
}

__device__ __forceinline__ float ops_warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum of v over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
 * sh: 32 doubles of shared memory; the call ends with a barrier, so sh can be reused. */
__device__ __forceinline__ double ops_block_sum(double v, double *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (int)(blockDim.x >> 5);
    v = ops_warp_sum(v);
    if (lane == 0) sh[w] = v;
    __syncthreads();
    if (w == 0) {
        double t = lane < nw ? sh[lane] : 0.0;
        t = ops_warp_sum(t);
        if (lane == 0) sh[0] = t;
    }
    __syncthreads();
    double r = sh[0];
    __syncthreads();
    return r;
}

/* Threads per block of a reduction over `terms` items: a power of two in [32, 256]. */
static inline unsigned ops_reduce_threads(int64_t terms) {
    unsigned t = 32;
    while (t < 256 && (int64_t)t < terms)
        t <<= 1;
    return t;
}

template <class F>
__global__ void ops_k_reduce(F f, float *out, int64_t A, int64_t O, int64_t C, int64_t I, double div,
                             int accumulate) {
    __shared__ double sh[32];
    int64_t nout = A * C, terms = O * I;
    for (int64_t q = blockIdx.x; q < nout; q += gridDim.x) {
        int64_t a = q / C, c = q % C;
        double s = 0.0;
        for (int64_t k = threadIdx.x; k < terms; k += blockDim.x) {
            int64_t o = k / I, i = k % I;
            s += (double)f(((a * O + o) * C + c) * I + i, a, o, c);
        }
        s = ops_block_sum(s, sh);
        if (threadIdx.x == 0) {
            float v = (float)(s / div);
            out[q] = accumulate ? out[q] + v : v;
        }
    }
}

/* Runs ops_k_reduce; `what` names the kernel in error messages. */
template <class F>
static lctw_status ops_reduce(F f, float *out, int64_t A, int64_t O, int64_t C, int64_t I,
                              double div, int accumulate, const char *what) {
    int64_t nout = A * C;
    if (nout <= 0) return LCTW_OK;
    unsigned blocks = (unsigned)(nout < OPS_GRID_CAP ? nout : OPS_GRID_CAP);
    ops_k_reduce<F><<<blocks, ops_reduce_threads(O * I)>>>(f, out, A, O, C, I, div, accumulate);
    LCTW_CU_LAUNCH(what);
    return LCTW_OK;
}

/* f = x[e] or x[e]·y[e] */
struct ops_f_prod {
    const float *x, *y;
    __device__ double operator()(int64_t e, int64_t, int64_t, int64_t) const {
        return y ? (double)x[e] * (double)y[e] : (double)x[e];
    }
};

#endif
