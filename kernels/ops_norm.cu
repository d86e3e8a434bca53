/* ops_norm.cu — CUDA twins of src/core/ops/norm.c: per-sample C·H·W normalisation (NsLN,
 * LayerNorm([C,H,W])), LayerNorm over the last dim and GroupNorm, forward and backward.
 *
 * All three normalise contiguous blocks of L elements (norm.c):
 *   x̂ = (x − μ)·r,  r = 1/√(var + eps),  y = x̂·γ + β
 *   dx = r·(g − mean(g) − x̂·mean(g·x̂)),  g = dy·γ;  dγ += Σ dy·x̂;  dβ += Σ dy
 * One thread block per normalised block (grid-stride over blocks): two-pass statistics with
 * block sums in double (mean, then the centred sum of squares), then the element-wise pass.
 * dγ and dβ sum over blocks, so they are broadcast reductions (ops_common.cuh) with the saved
 * (μ, r) looked up per term.
 */
#include <math.h>

#include "ops_common.cuh"

#define NORM_THREADS 256

/* Index of γ/β for element j of block m: rows (G = 0) by position, groups by channel. */
__device__ __forceinline__ int64_t norm_pidx(int64_t m, int64_t j, int64_t G, int64_t Cg,
                                             int64_t S) {
    return G ? (m % G) * Cg + j / S : j;
}

__global__ void k_norm_fwd(const float *x, const float *gamma, const float *beta, float *y,
                           float *stats, int64_t M, int64_t L, int64_t G, int64_t Cg, int64_t S,
                           float eps) {
    __shared__ double sh[32];
    for (int64_t m = blockIdx.x; m < M; m += gridDim.x) {
        const float *xr = x + m * L;
        float *yr = y + m * L;
        double s = 0.0;
        for (int64_t j = threadIdx.x; j < L; j += blockDim.x)
            s += (double)xr[j];
        s = ops_block_sum(s, sh);
        float mu = (float)(s / (double)L);
        double v = 0.0;
        for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
            float d = xr[j] - mu;
            v += (double)(d * d);
        }
        v = ops_block_sum(v, sh);
        float r = (float)(1.0 / sqrt(v / (double)L + (double)eps));
        if (threadIdx.x == 0) {
            stats[2 * m] = mu;
            stats[2 * m + 1] = r;
        }
        for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
            int64_t p = norm_pidx(m, j, G, Cg, S);
            float h = (xr[j] - mu) * r;
            if (gamma) h *= gamma[p];
            yr[j] = beta ? h + beta[p] : h;
        }
    }
}

/* dx for each block: s1 = Σ g, s2 = Σ g·(x − μ) with g = dy·γ; m1 = s1/L, m2 = s2·r/L;
 * dx += r·(g − m1 − (x − μ)·r·m2) */
__global__ void k_norm_bwd_x(const float *x, const float *gamma, const float *stats,
                             const float *gy, float *gx, int64_t M, int64_t L, int64_t G,
                             int64_t Cg, int64_t S) {
    __shared__ double sh[32];
    for (int64_t m = blockIdx.x; m < M; m += gridDim.x) {
        const float *xr = x + m * L, *gr = gy + m * L;
        float mu = stats[2 * m], r = stats[2 * m + 1];
        double s1 = 0.0, s2 = 0.0;
        for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
            float g = gamma ? gr[j] * gamma[norm_pidx(m, j, G, Cg, S)] : gr[j];
            s1 += (double)g;
            s2 += (double)g * (double)(xr[j] - mu);
        }
        s1 = ops_block_sum(s1, sh);
        s2 = ops_block_sum(s2, sh);
        float m1 = (float)(s1 / (double)L), m2 = (float)(s2 * r / (double)L);
        float *dr = gx + m * L;
        for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
            float g = gamma ? gr[j] * gamma[norm_pidx(m, j, G, Cg, S)] : gr[j];
            dr[j] += r * (g - m1 - (xr[j] - mu) * r * m2);
        }
    }
}

/* Terms of dγ (with_x: dy·x̂) and dβ (dy) as a broadcast reduction over (1, O, C, I):
 * rows (G = 0): O = M blocks, C = L, I = 1, block o;  groups: O = N, C channels, I = S,
 * block o·G + c/Cg. */
struct norm_f_param {
    const float *gy, *x, *stats;
    int64_t G, Cg;
    int with_x;
    __device__ double operator()(int64_t e, int64_t, int64_t o, int64_t c) const {
        if (!with_x) return (double)gy[e];
        int64_t blk = G ? o * G + c / Cg : o;
        float mu = stats[2 * blk], r = stats[2 * blk + 1];
        return (double)gy[e] * (double)((x[e] - mu) * r);
    }
};

static lctw_status check_norm(int64_t M, int64_t L, int64_t G, int64_t S) {
    if (M < 0 || L < 0 || G < 0 || (G > 0 && (S <= 0 || L % S)))
        return LCTW_FAIL(LCTW_EINVAL,
                         "norm kernels: bad geometry (%lld blocks of %lld, %lld groups, %lld "
                         "per channel)",
                         (long long)M, (long long)L, (long long)G, (long long)S);
    return LCTW_OK;
}

static unsigned norm_blocks(int64_t M) { return (unsigned)(M < OPS_GRID_CAP ? M : OPS_GRID_CAP); }

extern "C" lctw_status lctw_cuda_op_norm_fwd(const float *x, const float *gamma, const float *beta,
                                             float *y, float *stats, int64_t M, int64_t L,
                                             int64_t G, int64_t S, float eps) {
    if (M <= 0 || L <= 0) return LCTW_OK; /* empty blocks: nothing to normalise */
    LCTW_TRY(check_norm(M, L, G, S));
    k_norm_fwd<<<norm_blocks(M), NORM_THREADS>>>(x, gamma, beta, y, stats, M, L, G,
                                                 G ? L / S : 0, G ? S : 1, eps);
    LCTW_CU_LAUNCH("normalisation kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_op_norm_bwd(const float *x, const float *gamma,
                                             const float *stats, const float *gy, float *gx,
                                             float *ggamma, float *gbeta, int64_t M, int64_t L,
                                             int64_t G, int64_t S) {
    if (M <= 0 || L <= 0) return LCTW_OK; /* empty blocks: nothing to normalise */
    LCTW_TRY(check_norm(M, L, G, S));
    int64_t Cg = G ? L / S : 0, Sx = G ? S : 1;
    /* reduction geometry of dγ/dβ: rows (1, M, L, 1); groups (1, N, G·Cg, S) */
    int64_t O = G ? M / G : M, C = G ? G * Cg : L, I = G ? S : 1;
    if (gbeta)
        LCTW_TRY(ops_reduce(norm_f_param{gy, x, stats, G, Cg, 0}, gbeta, 1, O, C, I, 1.0, 1,
                            "normalisation dβ reduction"));
    if (ggamma)
        LCTW_TRY(ops_reduce(norm_f_param{gy, x, stats, G, Cg, 1}, ggamma, 1, O, C, I, 1.0, 1,
                            "normalisation dγ reduction"));
    if (gx) {
        k_norm_bwd_x<<<norm_blocks(M), NORM_THREADS>>>(x, gamma, stats, gy, gx, M, L, G, Cg, Sx);
        LCTW_CU_LAUNCH("normalisation backward kernel");
    }
    return LCTW_OK;
}
