/* ops_misc.cu — CUDA twins of src/core/ops/tokens.c (chunk, modulate, gate_add, patchify,
 * unpatchify; split_heads / merge_heads are in ops_attn.cu with the attention repack) and
 * src/core/ops/embed.c (timestep_embedding).
 *
 * Layout ops are one thread per element of the side that has one element per pair (a
 * permutation or a slice), so both directions, assigning or adding, are race-free. The
 * per-(sample, feature) gradients of modulate and gate_add are broadcast reductions over
 * x viewed as (B, R, F, I) (ops_common.cuh); timestep_embedding's dt is one too.
 */
#include <math.h>

#include "ops_common.cuh"

/* ---- chunk ---- */

/* y (O, s, I) ↔ part i of x (O, S, I) */
__global__ void k_chunk(float *x, float *y, int64_t O, int64_t S, int64_t I, int64_t s, int64_t i,
                        int to_part) {
    int64_t row = s * I;
    OPS_FOR(e, O * row) {
        int64_t o = e / row, k = e % row;
        float *xp = x + (o * S + i * s) * I + k;
        if (to_part)
            y[e] = *xp;
        else
            *xp += y[e];
    }
}

extern "C" lctw_status lctw_cuda_op_chunk_copy(float *x, float *y, int64_t O, int64_t S, int64_t I,
                                               int64_t s, int64_t i, int to_part) {
    if (O * s * I <= 0) return LCTW_OK;
    k_chunk<<<OPS_GRID(O * s * I)>>>(x, y, O, S, I, s, i, to_part);
    LCTW_CU_LAUNCH("chunk kernel");
    return LCTW_OK;
}

/* ---- modulate / gate_add: x (B, R, F, I) against p (B, F) ---- */

/* index of the (B, F) parameter of element e */
__device__ __forceinline__ int64_t bf_index(int64_t e, int64_t R, int64_t F, int64_t I) {
    return (e / (R * F * I)) * F + (e / I) % F;
}

__global__ void k_modulate_fwd(const float *x, const float *sh, const float *sc, float *y,
                               int64_t n, int64_t R, int64_t F, int64_t I) {
    OPS_FOR(e, n) {
        int64_t q = bf_index(e, R, F, I);
        float a = sc ? 1.0f + sc[q] : 1.0f, s = sh ? sh[q] : 0.0f;
        y[e] = x[e] * a + s;
    }
}

__global__ void k_modulate_bwd_x(const float *sc, const float *gy, float *gx, int64_t n, int64_t R,
                                 int64_t F, int64_t I) {
    OPS_FOR(e, n) gx[e] += sc ? gy[e] * (1.0f + sc[bf_index(e, R, F, I)]) : gy[e];
}

extern "C" lctw_status lctw_cuda_op_modulate_fwd(const float *x, const float *sh, const float *sc,
                                                 float *y, int64_t B, int64_t R, int64_t F,
                                                 int64_t I) {
    int64_t n = B * R * F * I;
    if (n <= 0) return LCTW_OK;
    k_modulate_fwd<<<OPS_GRID(n)>>>(x, sh, sc, y, n, R, F, I);
    LCTW_CU_LAUNCH("modulate kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_op_modulate_bwd(const float *x, const float *sc, const float *gy,
                                                 float *gx, float *gsh, float *gsc, int64_t B,
                                                 int64_t R, int64_t F, int64_t I) {
    int64_t n = B * R * F * I;
    if (n <= 0) return LCTW_OK;
    if (gx) {
        k_modulate_bwd_x<<<OPS_GRID(n)>>>(sc, gy, gx, n, R, F, I);
        LCTW_CU_LAUNCH("modulate backward kernel");
    }
    if (gsh)
        LCTW_TRY(ops_reduce(ops_f_prod{gy, NULL}, gsh, B, R, F, I, 1.0, 1, "modulate shift reduction"));
    if (gsc)
        LCTW_TRY(ops_reduce(ops_f_prod{gy, x}, gsc, B, R, F, I, 1.0, 1, "modulate scale reduction"));
    return LCTW_OK;
}

__global__ void k_gate_fwd(const float *x, const float *gate, const float *y, float *out, int64_t n,
                           int64_t R, int64_t F, int64_t I) {
    OPS_FOR(e, n) out[e] = x[e] + gate[bf_index(e, R, F, I)] * y[e];
}

/* gx += gout; gy += gout·gate */
__global__ void k_gate_bwd(const float *gate, const float *gout, float *gx, float *gy, int64_t n,
                           int64_t R, int64_t F, int64_t I) {
    OPS_FOR(e, n) {
        if (gx) gx[e] += gout[e];
        if (gy) gy[e] += gout[e] * gate[bf_index(e, R, F, I)];
    }
}

extern "C" lctw_status lctw_cuda_op_gate_fwd(const float *x, const float *gate, const float *y,
                                             float *out, int64_t B, int64_t R, int64_t F,
                                             int64_t I) {
    int64_t n = B * R * F * I;
    if (n <= 0) return LCTW_OK;
    k_gate_fwd<<<OPS_GRID(n)>>>(x, gate, y, out, n, R, F, I);
    LCTW_CU_LAUNCH("gate_add kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_op_gate_bwd(const float *gate, const float *y, const float *gout,
                                             float *gx, float *ggate, float *gy, int64_t B,
                                             int64_t R, int64_t F, int64_t I) {
    int64_t n = B * R * F * I;
    if (n <= 0) return LCTW_OK;
    if (gx || gy) {
        k_gate_bwd<<<OPS_GRID(n)>>>(gate, gout, gx, gy, n, R, F, I);
        LCTW_CU_LAUNCH("gate_add backward kernel");
    }
    if (ggate)
        LCTW_TRY(ops_reduce(ops_f_prod{gout, y}, ggate, B, R, F, I, 1.0, 1, "gate_add reduction"));
    return LCTW_OK;
}

/* ---- patchify / unpatchify ---- */

/* One thread per image element (b, c, h'p + i, w'p + j); its token element is (c·p + i)·p + j
 * (cpp) or (i·p + j)·C + c of token (b, h'·gw + w'). */
__global__ void k_patch(float *img, float *tok, int64_t B, int64_t C, int64_t gh, int64_t gw,
                        int64_t p, int cpp, int to_tok, int add) {
    int64_t H = gh * p, W = gw * p, T = gh * gw, P = C * p * p;
    OPS_FOR(e, B * C * H * W) {
        int64_t b = e / (C * H * W), ch = (e / (H * W)) % C, yy = (e / W) % H, xx = e % W;
        int64_t hh = yy / p, i = yy % p, ww = xx / p, j = xx % p;
        float *tp = tok + (b * T + hh * gw + ww) * P + (cpp ? (ch * p + i) * p + j : (i * p + j) * C + ch);
        float *dst = to_tok ? tp : img + e;
        float v = to_tok ? img[e] : *tp;
        *dst = add ? *dst + v : v;
    }
}

extern "C" lctw_status lctw_cuda_op_patch_copy(float *img, float *tok, int64_t B, int64_t C,
                                               int64_t gh, int64_t gw, int64_t p, int cpp,
                                               int to_tok, int add) {
    int64_t n = B * C * gh * p * gw * p;
    if (n <= 0) return LCTW_OK;
    k_patch<<<OPS_GRID(n)>>>(img, tok, B, C, gh, gw, p, cpp, to_tok, add);
    LCTW_CU_LAUNCH("patchify/unpatchify kernel");
    return LCTW_OK;
}

/* ---- timestep_embedding ---- */

/* f_j = max_period^(−j/half) in double, rounded to float (embed.c) */
__device__ __forceinline__ float temb_freq(int64_t j, int64_t half, double max_period) {
    return (float)pow(max_period, -(double)j / (double)half);
}

__global__ void k_temb_fwd(const float *t, float *y, int64_t B, int64_t half, double max_period) {
    OPS_FOR(e, B * half) {
        int64_t b = e / half, j = e % half;
        float a = t[b] * temb_freq(j, half, max_period);
        y[b * 2 * half + j] = cosf(a);
        y[b * 2 * half + half + j] = sinf(a);
    }
}

/* term j of dt[b]: f_j·(−sin(t f_j)·dy[b, j] + cos(t f_j)·dy[b, half + j]) over (B, 1, 1, half) */
struct temb_f {
    const float *t, *gy;
    int64_t half;
    double max_period;
    __device__ double operator()(int64_t e, int64_t b, int64_t, int64_t) const {
        int64_t j = e - b * half;
        float f = temb_freq(j, half, max_period), a = t[b] * f;
        return (double)f * (-sinf(a) * gy[b * 2 * half + j] + cosf(a) * gy[b * 2 * half + half + j]);
    }
};

extern "C" lctw_status lctw_cuda_op_temb_fwd(const float *t, float *y, int64_t B, int64_t half,
                                             double max_period) {
    if (B * half <= 0) return LCTW_OK;
    k_temb_fwd<<<OPS_GRID(B * half)>>>(t, y, B, half, max_period);
    LCTW_CU_LAUNCH("timestep_embedding kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_op_temb_bwd(const float *t, const float *gy, float *gt, int64_t B,
                                             int64_t half, double max_period) {
    return ops_reduce(temb_f{t, gy, half, max_period}, gt, B, 1, 1, half, 1.0, 1,
                      "timestep_embedding reduction");
}
