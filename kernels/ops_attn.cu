/* ops_attn.cu — CUDA twins of src/core/ops/attention.c: softmax over the last dim and scaled
 * dot-product attention in its three layouts (heads, DiT tokens, EDM U-Net), with backward.
 *
 * Softmax: one warp per row (max, Σ exp in double, scale), the CPU's clamp of the shifted
 * argument at −87 included (an all −∞ row is uniform, a NaN makes its row NaN).
 *
 * Attention, per (batch, head) with s = 1/√dh, exactly the algebra of attention.c:
 *   P = softmax_rows(s·Q Kᵀ),  O = P V
 *   dP = dO Vᵀ,  dV += Pᵀ dO,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ += s·dS K,  dK += s·dSᵀ Q
 * Every product is one strided-batched cuBLAS GEMM over the B·H heads, which needs each head's
 * matrices at a constant stride: the heads layout has that; the fused layouts (qkv of the DiT
 * tokens, qkv of the U-Net) are first repacked into contiguous (B·H, T, d) scratch, and the
 * output / gradients are unpacked (added) back. P (B·H, Tq, Tk) is always materialised.
 */
#include <math.h>

#include "ops_common.cuh"

enum { LAY_HEADS = 0, LAY_TOKENS = 1, LAY_UNET = 2 };

/* ---- softmax ---- */

#define WARPS_PER_BLOCK 8

__global__ void k_softmax_fwd(const float *x, float *y, int64_t M, int64_t L) {
    int lane = threadIdx.x & 31;
    int64_t step = (int64_t)gridDim.x * WARPS_PER_BLOCK;
    for (int64_t m = (int64_t)blockIdx.x * WARPS_PER_BLOCK + (threadIdx.x >> 5); m < M; m += step) {
        const float *xr = x + m * L;
        float *yr = y + m * L;
        float mx = -INFINITY;
        for (int64_t j = lane; j < L; j += 32)
            mx = fmaxf(mx, xr[j]);
        mx = ops_warp_max(mx);
        if (mx == -INFINITY) mx = 0.0f; /* avoid (−∞) − (−∞) */
        double s = 0.0;
        for (int64_t j = lane; j < L; j += 32) {
            float d = xr[j] - mx;
            float e = expf(d < -87.0f ? -87.0f : d);
            yr[j] = e;
            s += (double)e;
        }
        s = ops_warp_sum(s);
        float inv = (float)(1.0 / s);
        for (int64_t j = lane; j < L; j += 32)
            yr[j] *= inv;
    }
}

/* gx (+)= y ⊙ (gy − Σ gy·y) per row; in place (gx = gy) when assigning: each lane reads its
 * elements before writing them */
__global__ void k_softmax_bwd(const float *y, const float *gy, float *gx, int64_t M, int64_t L,
                              int assign) {
    int lane = threadIdx.x & 31;
    int64_t step = (int64_t)gridDim.x * WARPS_PER_BLOCK;
    for (int64_t m = (int64_t)blockIdx.x * WARPS_PER_BLOCK + (threadIdx.x >> 5); m < M; m += step) {
        const float *yr = y + m * L, *gr = gy + m * L;
        float *dr = gx + m * L;
        double s = 0.0;
        for (int64_t j = lane; j < L; j += 32)
            s += (double)gr[j] * (double)yr[j];
        float sf = (float)ops_warp_sum(s);
        for (int64_t j = lane; j < L; j += 32) {
            float v = yr[j] * (gr[j] - sf);
            dr[j] = assign ? v : dr[j] + v;
        }
    }
}

static unsigned softmax_blocks(int64_t M) {
    int64_t b = (M + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK;
    return (unsigned)(b < OPS_GRID_CAP ? b : OPS_GRID_CAP);
}

extern "C" lctw_status lctw_cuda_op_softmax_fwd(const float *x, float *y, int64_t M, int64_t L) {
    if (M <= 0 || L <= 0) return LCTW_OK;
    k_softmax_fwd<<<softmax_blocks(M), 32 * WARPS_PER_BLOCK>>>(x, y, M, L);
    LCTW_CU_LAUNCH("softmax kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_op_softmax_bwd(const float *y, const float *gy, float *gx,
                                                int64_t M, int64_t L, int assign) {
    if (M <= 0 || L <= 0) return LCTW_OK;
    k_softmax_bwd<<<softmax_blocks(M), 32 * WARPS_PER_BLOCK>>>(y, gy, gx, M, L, assign);
    LCTW_CU_LAUNCH("softmax backward kernel");
    return LCTW_OK;
}

/* ---- repacking the fused layouts ---- */

/* Element (bh, t, d) of a heads tensor (BH, T, dh) ↔ part `part` of np in a fused tensor:
 *   tokens: (B, T, np, H, dh) — element ((b·T + t)·np + part)·H·dh + h·dh + d
 *   unet:   (B·H, dh, np, T)  — element ((bh·dh + d)·np + part)·T + t
 * (np = 1, part = 0: the output layouts (B, T, H·dh) and (B, H, dh, T)). Each heads element
 * has its own fused element, so every direction is race-free. */
__device__ __forceinline__ int64_t fused_offset(int lay, int64_t bh, int64_t t, int64_t d,
                                                int64_t H, int64_t T, int64_t dh, int64_t np,
                                                int64_t part) {
    if (lay == LAY_TOKENS) {
        int64_t b = bh / H, h = bh % H;
        return ((b * T + t) * np + part) * H * dh + h * dh + d;
    }
    return ((bh * dh + d) * np + part) * T + t;
}

/* to_heads: hd (+)= fused; else fused (+)= hd */
__global__ void k_repack(float *hd, float *fused, int lay, int64_t BH, int64_t H, int64_t T,
                         int64_t dh, int64_t np, int64_t part, int to_heads, int add) {
    OPS_FOR(e, BH * T * dh) {
        int64_t bh = e / (T * dh), t = (e / dh) % T, d = e % dh;
        float *f = fused + fused_offset(lay, bh, t, d, H, T, dh, np, part);
        float *dst = to_heads ? hd + e : f;
        float v = to_heads ? *f : hd[e];
        *dst = add ? *dst + v : v;
    }
}

static lctw_status repack(float *hd, const float *fused, int lay, int64_t BH, int64_t H, int64_t T,
                          int64_t dh, int64_t np, int64_t part, int to_heads, int add) {
    int64_t n = BH * T * dh;
    if (n <= 0) return LCTW_OK;
    k_repack<<<OPS_GRID(n)>>>(hd, (float *)fused, lay, BH, H, T, dh, np, part, to_heads, add);
    LCTW_CU_LAUNCH("attention repack kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_op_heads_copy(float *tok, float *hd, int64_t B, int64_t T,
                                               int64_t n, int64_t part, int64_t H, int64_t dh,
                                               int to_heads, int add) {
    return repack(hd, tok, LAY_TOKENS, B * H, H, T, dh, n, part, to_heads, add);
}

/* ---- attention ---- */

static lctw_status check_attn(const lctw_cu_attn *g) {
    if (g->layout < LAY_HEADS || g->layout > LAY_UNET || g->B < 0 || g->H < 0 || g->Tq < 0 ||
        g->Tk < 0 || g->dh < 0 || g->dv < 0 ||
        (g->layout != LAY_HEADS && (g->Tq != g->Tk || g->dh != g->dv)))
        return LCTW_FAIL(LCTW_EINVAL,
                         "attention kernels: bad geometry (layout %d, B %lld, H %lld, Tq %lld, "
                         "Tk %lld, dh %lld, dv %lld)",
                         g->layout, (long long)g->B, (long long)g->H, (long long)g->Tq,
                         (long long)g->Tk, (long long)g->dh, (long long)g->dv);
    return LCTW_OK;
}

extern "C" int64_t lctw_cuda_op_attention_scratch(const lctw_cu_attn *g, int backward) {
    int64_t BH = g->B * g->H, T = g->Tq, d = g->dh;
    int64_t packed = g->layout == LAY_HEADS ? 0 : 4 * BH * T * d; /* Q, K, V, O (or dO) */
    if (!backward) return packed;
    /* dP, and for the fused layouts dQ, dK, dV as well */
    return BH * g->Tq * g->Tk + (packed ? packed + 3 * BH * T * d : 0);
}

/* The heads-layout core on contiguous (BH, T, d) matrices. */
static lctw_status attn_fwd_heads(const lctw_cu_attn *g, const float *Q, const float *K,
                                  const float *V, float *O, float *P) {
    int64_t BH = g->B * g->H, Tq = g->Tq, Tk = g->Tk, dh = g->dh, dv = g->dv;
    float s = 1.0f / sqrtf((float)dh);
    LCTW_TRY(lctw_cuda_sgemm_batched(0, 1, Tq, Tk, dh, s, Q, dh, Tq * dh, K, dh, Tk * dh, 0.0f, P,
                                     Tk, Tq * Tk, BH));
    LCTW_TRY(lctw_cuda_op_softmax_fwd(P, P, BH * Tq, Tk));
    return lctw_cuda_sgemm_batched(0, 0, Tq, dv, Tk, 1.0f, P, Tk, Tq * Tk, V, dv, Tk * dv, 0.0f, O,
                                   dv, Tq * dv, BH);
}

/* dQ, dK, dV (NULL: not needed) accumulate with beta (1: into gradients, 0: into scratch). */
static lctw_status attn_bwd_heads(const lctw_cu_attn *g, const float *Q, const float *K,
                                  const float *V, const float *P, const float *dO, float *dQ,
                                  float *dK, float *dV, float *dP, float beta) {
    int64_t BH = g->B * g->H, Tq = g->Tq, Tk = g->Tk, dh = g->dh, dv = g->dv;
    float s = 1.0f / sqrtf((float)dh);
    LCTW_TRY(lctw_cuda_sgemm_batched(0, 1, Tq, Tk, dv, 1.0f, dO, dv, Tq * dv, V, dv, Tk * dv, 0.0f,
                                     dP, Tk, Tq * Tk, BH));
    if (dV)
        LCTW_TRY(lctw_cuda_sgemm_batched(1, 0, Tk, dv, Tq, 1.0f, P, Tk, Tq * Tk, dO, dv, Tq * dv,
                                         beta, dV, dv, Tk * dv, BH));
    if (!dQ && !dK) return LCTW_OK;
    LCTW_TRY(lctw_cuda_op_softmax_bwd(P, dP, dP, BH * Tq, Tk, 1)); /* dP becomes dS */
    if (dQ)
        LCTW_TRY(lctw_cuda_sgemm_batched(0, 0, Tq, dh, Tk, s, dP, Tk, Tq * Tk, K, dh, Tk * dh, beta,
                                         dQ, dh, Tq * dh, BH));
    if (dK)
        LCTW_TRY(lctw_cuda_sgemm_batched(1, 0, Tk, dh, Tq, s, dP, Tk, Tq * Tk, Q, dh, Tq * dh, beta,
                                         dK, dh, Tk * dh, BH));
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_op_attention_fwd(const lctw_cu_attn *g, const float *q,
                                                  const float *k, const float *v, float *out,
                                                  float *P, float *scratch) {
    LCTW_TRY(check_attn(g));
    int64_t BH = g->B * g->H, T = g->Tq, d = g->dh;
    if (BH <= 0 || g->Tq <= 0) return LCTW_OK;
    if (g->layout == LAY_HEADS) return attn_fwd_heads(g, q, k, v, out, P);
    float *Q = scratch, *K = Q + BH * T * d, *V = K + BH * T * d, *O = V + BH * T * d;
    for (int part = 0; part < 3; part++)
        LCTW_TRY(repack(part == 0 ? Q : part == 1 ? K : V, q, g->layout, BH, g->H, T, d, 3, part, 1,
                        0));
    LCTW_TRY(attn_fwd_heads(g, Q, K, V, O, P));
    return repack(O, out, g->layout, BH, g->H, T, d, 1, 0, 0, 0);
}

extern "C" lctw_status lctw_cuda_op_attention_bwd(const lctw_cu_attn *g, const float *q,
                                                  const float *k, const float *v, const float *P,
                                                  const float *gout, float *gq, float *gk,
                                                  float *gv, float *scratch) {
    LCTW_TRY(check_attn(g));
    int64_t BH = g->B * g->H, T = g->Tq, d = g->dh;
    if (BH <= 0 || g->Tq <= 0 || g->Tk <= 0) return LCTW_OK;
    float *dP = scratch;
    if (g->layout == LAY_HEADS) return attn_bwd_heads(g, q, k, v, P, gout, gq, gk, gv, dP, 1.0f);
    int64_t hs = BH * T * d;
    float *Q = dP + BH * g->Tq * g->Tk, *K = Q + hs, *V = K + hs, *dO = V + hs;
    float *dQ = dO + hs, *dK = dQ + hs, *dV = dK + hs;
    for (int part = 0; part < 3; part++)
        LCTW_TRY(repack(part == 0 ? Q : part == 1 ? K : V, q, g->layout, BH, g->H, T, d, 3, part, 1,
                        0));
    LCTW_TRY(repack(dO, gout, g->layout, BH, g->H, T, d, 1, 0, 1, 0));
    LCTW_TRY(attn_bwd_heads(g, Q, K, V, P, dO, gq ? dQ : NULL, gk ? dK : NULL, gv ? dV : NULL, dP,
                            0.0f));
    if (gq) LCTW_TRY(repack(dQ, gq, g->layout, BH, g->H, T, d, 3, 0, 0, 1));
    if (gk) LCTW_TRY(repack(dK, gk, g->layout, BH, g->H, T, d, 3, 1, 0, 1));
    if (gv) LCTW_TRY(repack(dV, gv, g->layout, BH, g->H, T, d, 3, 2, 0, 1));
    return LCTW_OK;
}
