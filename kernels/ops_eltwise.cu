/* ops_eltwise.cu — CUDA twins of src/core/ops/eltwise.c (add/sub/mul, scale, add_scalar,
 * scale_rows, the activations, sum/mean, view's backward) and the public broadcast reduction
 * (kernels/lctw_cuda_ops.h).
 *
 * One thread per element in grid-stride loops; the activations use the CPU reference's
 * formulas (exp argument clamped to [−87, 88], tanh(u) = 1 − 2/(1 + e^{2u})) with CUDA's expf,
 * so CPU and CUDA agree to a few ulp. sum/mean is one broadcast reduction (double, fixed
 * order).
 */
#include "ops_common.cuh"

/* ---- broadcast reduction ---- */

extern "C" lctw_status lctw_cuda_op_reduce(float *out, const float *x, const float *y, int64_t A,
                                           int64_t O, int64_t C, int64_t I, double div,
                                           int accumulate) {
    return ops_reduce(ops_f_prod{x, y}, out, A, O, C, I, div, accumulate, "reduction kernel");
}

/* ---- binary, scalar, accumulate ---- */

__global__ void k_binary_fwd(int kind, const float *a, const float *b, float *y, int64_t n) {
    OPS_FOR(i, n) {
        float u = a[i], v = b[i];
        y[i] = kind == LCTW_CU_ADD ? u + v : (kind == LCTW_CU_SUB ? u - v : u * v);
    }
}

extern "C" lctw_status lctw_cuda_op_binary_fwd(int kind, const float *a, const float *b, float *y,
                                               int64_t n) {
    if (n <= 0) return LCTW_OK;
    k_binary_fwd<<<OPS_GRID(n)>>>(kind, a, b, y, n);
    LCTW_CU_LAUNCH("add/sub/mul kernel");
    return LCTW_OK;
}

__global__ void k_acc(float *g, const float *s, const float *t, float alpha, int64_t n) {
    if (t) {
        OPS_FOR(i, n) g[i] += alpha * (s[i] * t[i]);
    } else {
        OPS_FOR(i, n) g[i] += alpha * s[i];
    }
}

extern "C" lctw_status lctw_cuda_op_acc(float *g, const float *s, const float *t, float alpha,
                                        int64_t n) {
    if (n <= 0) return LCTW_OK;
    k_acc<<<OPS_GRID(n)>>>(g, s, t, alpha, n);
    LCTW_CU_LAUNCH("gradient accumulation kernel");
    return LCTW_OK;
}

__global__ void k_affine(const float *x, float *y, float a, float b, int64_t n) {
    OPS_FOR(i, n) y[i] = a * x[i] + b;
}

extern "C" lctw_status lctw_cuda_op_affine(const float *x, float *y, float a, float b, int64_t n) {
    if (n <= 0) return LCTW_OK;
    k_affine<<<OPS_GRID(n)>>>(x, y, a, b, n);
    LCTW_CU_LAUNCH("scale/add_scalar kernel");
    return LCTW_OK;
}

/* ---- scale_rows ---- */

/* y[e] = s[e / m]·x[e] (assign), or gx[e] += s[e / m]·gy[e] (add) */
__global__ void k_scale_rows(const float *x, const float *s, float *y, int64_t n, int64_t m,
                             int add) {
    OPS_FOR(i, n) {
        float v = s[i / m] * x[i];
        y[i] = add ? y[i] + v : v;
    }
}

extern "C" lctw_status lctw_cuda_op_scale_rows_fwd(const float *x, const float *s, float *y,
                                                   int64_t B, int64_t m) {
    int64_t n = B * m;
    if (n <= 0) return LCTW_OK;
    k_scale_rows<<<OPS_GRID(n)>>>(x, s, y, n, m, 0);
    LCTW_CU_LAUNCH("scale_rows kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_op_scale_rows_bwd(const float *x, const float *s, const float *gy,
                                                   float *gx, float *gs, int64_t B, int64_t m) {
    if (B * m <= 0) return LCTW_OK;
    if (gx) {
        k_scale_rows<<<OPS_GRID(B * m)>>>(gy, s, gx, B * m, m, 1);
        LCTW_CU_LAUNCH("scale_rows backward kernel");
    }
    /* gs[b] += Σ_i gy[b, i]·x[b, i]: (A B, O 1, C 1, I m) */
    if (gs) LCTW_TRY(ops_reduce(ops_f_prod{gy, x}, gs, B, 1, 1, m, 1.0, 1, "scale_rows reduction"));
    return LCTW_OK;
}

/* ---- activations ---- */

#define GELU_K 0.7978845608028654f /* √(2/π) */

__device__ __forceinline__ float act_exp(float x) {
    return expf(x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x));
}
__device__ __forceinline__ float act_tanh(float u) { return 1.0f - 2.0f / (1.0f + act_exp(2.0f * u)); }

__device__ __forceinline__ float act_fwd(int act, float x, float slope) {
    switch (act) {
    case LCTW_CU_ACT_SILU: return x / (1.0f + act_exp(-x));
    case LCTW_CU_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case LCTW_CU_ACT_LEAKY_RELU: return x > 0.0f ? x : slope * x;
    case LCTW_CU_ACT_GELU_TANH: {
        float u = GELU_K * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.0f + act_tanh(u));
    }
    default: return act_tanh(x);
    }
}

__device__ __forceinline__ float act_grad(int act, float x, float y, float slope) {
    switch (act) {
    case LCTW_CU_ACT_SILU: {
        float s = 1.0f / (1.0f + act_exp(-x));
        return s * (1.0f + x * (1.0f - s));
    }
    case LCTW_CU_ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case LCTW_CU_ACT_LEAKY_RELU: return x > 0.0f ? 1.0f : slope;
    case LCTW_CU_ACT_GELU_TANH: {
        float x2 = x * x;
        float t = act_tanh(GELU_K * (x + 0.044715f * x2 * x));
        return 0.5f * (1.0f + t) +
               0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * 0.044715f * x2);
    }
    default: return 1.0f - y * y;
    }
}

__global__ void k_act_fwd(int act, const float *x, float *y, int64_t n, float slope) {
    OPS_FOR(i, n) y[i] = act_fwd(act, x[i], slope);
}

__global__ void k_act_bwd(int act, const float *x, const float *y, const float *gy, float *gx,
                          int64_t n, float slope) {
    OPS_FOR(i, n) gx[i] += gy[i] * act_grad(act, x[i], y[i], slope);
}

static lctw_status check_act(int act) {
    if (act < LCTW_CU_ACT_SILU || act > LCTW_CU_ACT_TANH)
        return LCTW_FAIL(LCTW_EINVAL, "activation kernel: unknown activation %d", act);
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_op_act_fwd(int act, const float *x, float *y, int64_t n,
                                            float slope) {
    LCTW_TRY(check_act(act));
    if (n <= 0) return LCTW_OK;
    k_act_fwd<<<OPS_GRID(n)>>>(act, x, y, n, slope);
    LCTW_CU_LAUNCH("activation kernel");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_op_act_bwd(int act, const float *x, const float *y,
                                            const float *gy, float *gx, int64_t n, float slope) {
    LCTW_TRY(check_act(act));
    if (n <= 0) return LCTW_OK;
    k_act_bwd<<<OPS_GRID(n)>>>(act, x, y, gy, gx, n, slope);
    LCTW_CU_LAUNCH("activation backward kernel");
    return LCTW_OK;
}

/* ---- sum / mean ---- */

extern "C" lctw_status lctw_cuda_op_sum_fwd(const float *x, float *y, int64_t n, int mean) {
    if (n <= 0) return lctw_cuda_memset0(y, sizeof(float)); /* Σ of nothing, and mean 0 */
    return ops_reduce(ops_f_prod{x, NULL}, y, 1, 1, 1, n, mean ? (double)n : 1.0, 0,
                      "sum/mean kernel");
}

/* gx[i] += gy[0] / div (the CPU divides in float once: gy /= n) */
__global__ void k_sum_bwd(const float *gy, float *gx, int64_t n, float div) {
    float g = gy[0] / div;
    OPS_FOR(i, n) gx[i] += g;
}

extern "C" lctw_status lctw_cuda_op_sum_bwd(const float *gy, float *gx, int64_t n, int mean) {
    if (n <= 0) return LCTW_OK;
    k_sum_bwd<<<OPS_GRID(n)>>>(gy, gx, n, mean ? (float)n : 1.0f);
    LCTW_CU_LAUNCH("sum/mean backward kernel");
    return LCTW_OK;
}
