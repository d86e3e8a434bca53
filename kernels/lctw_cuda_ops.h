/* lctw_cuda_ops.h — the C interface of the CUDA twins of the differentiable ops
 * (the op files in src/core/ops call them when the context is a CUDA context). Implemented in
 * kernels/ops_*.cu when lctw is built with CUDA=1, and by src/core/cuda_stub.c otherwise (every
 * call fails with LCTW_EDEVICE "lctw was built without CUDA").
 *
 * Conventions, the same for every function here:
 *  - pointers are device pointers to contiguous float32 buffers laid out exactly as the CPU
 *    reference lays them out (the op's C file documents the layouts);
 *  - arguments arrive validated by the op (shapes, sizes ≥ 0); every function returns a status,
 *    checks every launch (and cuBLAS call) and records "CUDA error in <what>: <reason>";
 *  - `_bwd` functions accumulate (+=) into gradient buffers, as the CPU backward does; a NULL
 *    gradient pointer means "not needed";
 *  - scratch memory is passed in by the caller (from the activation arena): nothing here calls
 *    cudaMalloc, so the steady state of a training step allocates nothing;
 *  - everything runs on the default stream in order; results are deterministic (reductions use
 *    fixed-order block/warp trees in double, no atomics).
 * GEMMs go through cuBLAS and honour lctw_cuda_set_tf32 (the parity tests turn TF32 off).
 */
#ifndef LCTW_CUDA_OPS_H
#define LCTW_CUDA_OPS_H

#include <stdint.h>

#include "../src/core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GEMM (ops_linear.cu) ----
 * Row-major C = alpha·op(A)·op(B) + beta·C, the contract of lctw_sgemm (src/core/gemm.h):
 * A is M×K after op, B is K×N after op, lda/ldb/ldc are row strides in elements. beta = 0
 * overwrites C (also when K = 0). The batched form repeats it `batch` times with element
 * strides sa, sb, sc between consecutive A, B, C (sa or sb may be 0: a shared operand). */
lctw_status lctw_cuda_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                            float *C, int64_t ldc);
lctw_status lctw_cuda_sgemm_batched(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                                    float alpha, const float *A, int64_t lda, int64_t sa,
                                    const float *B, int64_t ldb, int64_t sb, float beta, float *C,
                                    int64_t ldc, int64_t sc, int64_t batch);

/* linear.c: y (M, out) = x (M, in)·Wᵀ + b;  gx += gy·W,  gW += gyᵀ·x,  gb += Σ_rows gy */
lctw_status lctw_cuda_op_linear_fwd(const float *x, const float *w, const float *b, float *y,
                                    int64_t M, int64_t in, int64_t out);
lctw_status lctw_cuda_op_linear_bwd(const float *x, const float *w, const float *gy, float *gx,
                                    float *gw, float *gb, int64_t M, int64_t in, int64_t out);

/* ---- element-wise and reductions (ops_eltwise.cu) ---- */

/* Broadcast reduction, the shape shared by every bias / scale gradient:
 * out[a·C + c] (+)= (Σ_{o<O, i<I} x[e]·(y ? y[e] : 1)) / div,  e = ((a·O + o)·C + c)·I + i.
 * Sums run in double; accumulate = 0 assigns. */
lctw_status lctw_cuda_op_reduce(float *out, const float *x, const float *y, int64_t A, int64_t O,
                                int64_t C, int64_t I, double div, int accumulate);

/* add / sub / mul of same-shape tensors: kind 0, 1, 2 */
enum { LCTW_CU_ADD = 0, LCTW_CU_SUB = 1, LCTW_CU_MUL = 2 };
lctw_status lctw_cuda_op_binary_fwd(int kind, const float *a, const float *b, float *y, int64_t n);
/* g += alpha·s (t NULL) or g += alpha·s⊙t */
lctw_status lctw_cuda_op_acc(float *g, const float *s, const float *t, float alpha, int64_t n);
/* y = a·x + b (scale: b = 0; add_scalar: a = 1) */
lctw_status lctw_cuda_op_affine(const float *x, float *y, float a, float b, int64_t n);
/* y[b, i] = s[b]·x[b, i] over (B, m);  gx += s[b]·gy,  gs[b] += Σ_i gy·x */
lctw_status lctw_cuda_op_scale_rows_fwd(const float *x, const float *s, float *y, int64_t B,
                                        int64_t m);
lctw_status lctw_cuda_op_scale_rows_bwd(const float *x, const float *s, const float *gy, float *gx,
                                        float *gs, int64_t B, int64_t m);

/* activations, with the CPU reference's formulas (eltwise.c) */
enum {
    LCTW_CU_ACT_SILU = 0,
    LCTW_CU_ACT_RELU,
    LCTW_CU_ACT_LEAKY_RELU,
    LCTW_CU_ACT_GELU_TANH,
    LCTW_CU_ACT_TANH
};
lctw_status lctw_cuda_op_act_fwd(int act, const float *x, float *y, int64_t n, float slope);
/* gx += gy·f'(x) (tanh uses y) */
lctw_status lctw_cuda_op_act_bwd(int act, const float *x, const float *y, const float *gy, float *gx,
                                 int64_t n, float slope);

/* y[0] = Σ x (mean: / n, 0 for n = 0);  gx += gy[0] (mean: gy[0]/n) */
lctw_status lctw_cuda_op_sum_fwd(const float *x, float *y, int64_t n, int mean);
lctw_status lctw_cuda_op_sum_bwd(const float *gy, float *gx, int64_t n, int mean);

/* ---- convolution family (ops_conv.cu) ---- */

/* The geometry of conv2d.c: an image (C, H, W), a kernel kh×kw with stride s and zero padding p,
 * and the grid (Ho, Wo) of kernel positions. K = C·kh·kw rows of cols, L = Ho·Wo. */
typedef struct {
    int64_t C, H, W, kh, kw, s, p, Ho, Wo;
} lctw_cu_conv;

/* Scratch of conv2d / conv_transpose2d forward and backward: samples go in blocks of gn
 * (1 ≤ gn ≤ N); cols holds K·gn·L floats, tmp Cg·gn·L (Cg = the grid tensor's channels: Cout for
 * conv2d, Cin for conv_transpose2d). */
lctw_status lctw_cuda_op_conv2d_fwd(const lctw_cu_conv *g, const float *x, const float *w,
                                    const float *b, float *y, int64_t N, int64_t Cout, int64_t gn,
                                    float *cols, float *tmp);
lctw_status lctw_cuda_op_conv2d_bwd(const lctw_cu_conv *g, const float *x, const float *w,
                                    const float *gy, float *gx, float *gw, float *gb, int64_t N,
                                    int64_t Cout, int64_t gn, float *cols, float *tmp);
/* conv_transpose2d: the image is y (g->C = Cout), the grid is x (Cin, Ho, Wo), W (Cin, K). */
lctw_status lctw_cuda_op_convt_fwd(const lctw_cu_conv *g, const float *x, const float *w,
                                   const float *b, float *y, int64_t N, int64_t Cin, int64_t gn,
                                   float *cols, float *tmp);
lctw_status lctw_cuda_op_convt_bwd(const lctw_cu_conv *g, const float *x, const float *w,
                                   const float *gy, float *gx, float *gw, float *gb, int64_t N,
                                   int64_t Cin, int64_t gn, float *cols, float *tmp);

/* resample.c: P planes of H×W */
lctw_status lctw_cuda_op_avgpool_fwd(const float *x, float *y, int64_t P, int64_t H, int64_t W,
                                     int64_t k);
lctw_status lctw_cuda_op_avgpool_bwd(const float *gy, float *gx, int64_t P, int64_t H, int64_t W,
                                     int64_t k);
lctw_status lctw_cuda_op_nearest2x_fwd(const float *x, float *y, int64_t P, int64_t H, int64_t W);
lctw_status lctw_cuda_op_nearest2x_bwd(const float *gy, float *gx, int64_t P, int64_t H, int64_t W);
lctw_status lctw_cuda_op_bilinear_fwd(const float *x, float *y, int64_t P, int64_t H, int64_t W,
                                      int64_t s);
lctw_status lctw_cuda_op_bilinear_bwd(const float *gy, float *gx, int64_t P, int64_t H, int64_t W,
                                      int64_t s);

/* concat.c: y[n] = [a[n] (na floats), b[n] (nb floats)];  ga/gb += the matching slices of gy */
lctw_status lctw_cuda_op_concat_fwd(const float *a, const float *b, float *y, int64_t N, int64_t na,
                                    int64_t nb);
lctw_status lctw_cuda_op_concat_bwd(const float *gy, float *ga, float *gb, int64_t N, int64_t na,
                                    int64_t nb);

/* ---- normalisation (ops_norm.cu) ----
 * M blocks of L contiguous elements, each normalised with its mean and biased variance;
 * stats (M, 2) = (μ, 1/√(var + eps)). G = 0: rows (layer_norm, norm_chw), γ/β indexed by the
 * position in the row. G > 0: group_norm, M = N·G blocks of L = Cg·S (Cg channels of S
 * elements), γ/β indexed by channel (m mod G)·Cg + j/S. */
lctw_status lctw_cuda_op_norm_fwd(const float *x, const float *gamma, const float *beta, float *y,
                                  float *stats, int64_t M, int64_t L, int64_t G, int64_t S,
                                  float eps);
lctw_status lctw_cuda_op_norm_bwd(const float *x, const float *gamma, const float *stats,
                                  const float *gy, float *gx, float *ggamma, float *gbeta,
                                  int64_t M, int64_t L, int64_t G, int64_t S);

/* ---- softmax and attention (ops_attn.cu) ---- */

/* y (M, L) = softmax of each row of x (y may be x); gx (+)= y ⊙ (gy − rowsum(gy ⊙ y)),
 * assigning when `assign` (then gx may be gy) */
lctw_status lctw_cuda_op_softmax_fwd(const float *x, float *y, int64_t M, int64_t L);
lctw_status lctw_cuda_op_softmax_bwd(const float *y, const float *gy, float *gx, int64_t M,
                                     int64_t L, int assign);

/* Attention geometry (attention.c): layout 0 = heads (q, k, v separate (B, H, T, d)),
 * 1 = tokens (qkv (B, T, 3, H, dh), out (B, T, H·dh)), 2 = unet (qkv (B, H, dh, 3, S),
 * out (B, H, dh, S)). */
typedef struct {
    int layout;
    int64_t B, H, Tq, Tk, dh, dv;
} lctw_cu_attn;

/* Floats of scratch the forward / backward need (the fused layouts repack into heads). */
int64_t lctw_cuda_op_attention_scratch(const lctw_cu_attn *g, int backward);
/* q, k, v: the three inputs (fused layouts: all three the qkv data); P (B·H, Tq, Tk) receives
 * the probabilities. */
lctw_status lctw_cuda_op_attention_fwd(const lctw_cu_attn *g, const float *q, const float *k,
                                       const float *v, float *out, float *P, float *scratch);
/* gq, gk, gv: gradient buffers (NULL: not needed; fused layouts: all three the qkv gradient) */
lctw_status lctw_cuda_op_attention_bwd(const lctw_cu_attn *g, const float *q, const float *k,
                                       const float *v, const float *P, const float *gout,
                                       float *gq, float *gk, float *gv, float *scratch);

/* tokens.c heads_copy (split_heads / merge_heads; the attention repack does the same):
 * tok (B, T, n, H, dh) part `part` ↔ hd (B, H, T, dh); to_heads picks the direction, add
 * accumulates into the destination */
lctw_status lctw_cuda_op_heads_copy(float *tok, float *hd, int64_t B, int64_t T, int64_t n,
                                    int64_t part, int64_t H, int64_t dh, int to_heads, int add);

/* ---- token layout, broadcasts, embeddings (ops_misc.cu) ---- */

/* tokens.c chunk_copy: x (O, S, I) part i of size s along S ↔ y (O, s, I); to_part assigns y,
 * else adds y into x */
lctw_status lctw_cuda_op_chunk_copy(float *x, float *y, int64_t O, int64_t S, int64_t I, int64_t s,
                                    int64_t i, int to_part);
/* x (B, R, F, I) against (B, F) parameters: y = x·(1 + sc) + sh (either may be NULL) */
lctw_status lctw_cuda_op_modulate_fwd(const float *x, const float *sh, const float *sc, float *y,
                                      int64_t B, int64_t R, int64_t F, int64_t I);
lctw_status lctw_cuda_op_modulate_bwd(const float *x, const float *sc, const float *gy, float *gx,
                                      float *gsh, float *gsc, int64_t B, int64_t R, int64_t F,
                                      int64_t I);
/* out = x + gate ⊙ y */
lctw_status lctw_cuda_op_gate_fwd(const float *x, const float *gate, const float *y, float *out,
                                  int64_t B, int64_t R, int64_t F, int64_t I);
lctw_status lctw_cuda_op_gate_bwd(const float *gate, const float *y, const float *gout, float *gx,
                                  float *ggate, float *gy, int64_t B, int64_t R, int64_t F,
                                  int64_t I);
/* tokens.c patch_copy: img (B, C, gh·p, gw·p) ↔ tok (B, gh·gw, C·p·p) */
lctw_status lctw_cuda_op_patch_copy(float *img, float *tok, int64_t B, int64_t C, int64_t gh,
                                    int64_t gw, int64_t p, int cpp, int to_tok, int add);
/* embed.c: y (B, 2·half) = [cos(t·f), sin(t·f)], f_j = max_period^(−j/half) */
lctw_status lctw_cuda_op_temb_fwd(const float *t, float *y, int64_t B, int64_t half,
                                  double max_period);
lctw_status lctw_cuda_op_temb_bwd(const float *t, const float *gy, float *gt, int64_t B,
                                  int64_t half, double max_period);

#ifdef __cplusplus
}
#endif

#endif
