/* ops_linear.cu — row-major GEMM on cuBLAS (single and strided-batched) and the CUDA twin of
 * src/core/ops/linear.c (y = x Wᵀ + b with its backward).
 *
 * cuBLAS is column-major: a row-major matrix with row stride ld is, read column-major, its
 * transpose with leading dimension ld. So row-major C = op(A)·op(B) is computed as the
 * column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands (and M with N), keep each one's transpose
 * flag. The math mode (strict fp32 or TF32) is set on the shared handle by lctw_cu_blas from
 * lctw_cuda_set_tf32. Sizes and strides must fit cuBLAS's int; K = 0 is handled here
 * (C = beta·C), since cuBLAS would read no operand but still check leading dimensions.
 */
#include <limits.h>

#include "ops_common.cuh"

/* C (rows × cols, row stride ldc, `batch` copies sc apart) *= beta, for beta ∈ {0, other} */
__global__ void k_scale_mat(float *C, int64_t rows, int64_t cols, int64_t ldc, int64_t sc,
                            int64_t batch, float beta) {
    int64_t n = batch * rows * cols;
    OPS_FOR(e, n) {
        int64_t b = e / (rows * cols), r = (e / cols) % rows, c = e % cols;
        float *p = C + b * sc + r * ldc + c;
        *p = beta == 0.0f ? 0.0f : beta * *p;
    }
}

static int too_big(int64_t v) { return v < 0 || v > INT_MAX; }

extern "C" lctw_status lctw_cuda_sgemm_batched(int ta, int tb, int64_t M, int64_t N, int64_t K,
                                               float alpha, const float *A, int64_t lda, int64_t sa,
                                               const float *B, int64_t ldb, int64_t sb, float beta,
                                               float *C, int64_t ldc, int64_t sc, int64_t batch) {
    if (M <= 0 || N <= 0 || batch <= 0) return LCTW_OK;
    if (K <= 0) {
        if (beta == 1.0f) return LCTW_OK;
        int64_t n = batch * M * N;
        k_scale_mat<<<OPS_GRID(n)>>>(C, M, N, ldc, sc, batch, beta);
        LCTW_CU_LAUNCH("GEMM (K = 0) kernel");
        return LCTW_OK;
    }
    if (too_big(M) || too_big(N) || too_big(K) || too_big(lda) || too_big(ldb) || too_big(ldc) ||
        too_big(batch))
        return LCTW_FAIL(LCTW_ESHAPE,
                         "GEMM: cuBLAS needs sizes below 2^31 (M %lld, N %lld, K %lld, "
                         "lda %lld, ldb %lld, ldc %lld, batch %lld)",
                         (long long)M, (long long)N, (long long)K, (long long)lda, (long long)ldb,
                         (long long)ldc, (long long)batch);
    cublasHandle_t h;
    LCTW_TRY(lctw_cu_blas(&h));
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasStatus_t s;
    if (batch == 1)
        s = cublasSgemm(h, opb, opa, (int)N, (int)M, (int)K, &alpha, B, (int)ldb, A, (int)lda,
                        &beta, C, (int)ldc);
    else
        s = cublasSgemmStridedBatched(h, opb, opa, (int)N, (int)M, (int)K, &alpha, B, (int)ldb,
                                      (long long)sb, A, (int)lda, (long long)sa, &beta, C,
                                      (int)ldc, (long long)sc, (int)batch);
    if (s != CUBLAS_STATUS_SUCCESS) {
        (void)cudaGetLastError();
        return LCTW_FAIL(LCTW_ECUDA,
                         "CUDA error in cublasSgemm%s (%s%s, M %lld, N %lld, K %lld, batch "
                         "%lld): %s",
                         batch == 1 ? "" : "StridedBatched", ta ? "Aᵀ" : "A", tb ? "·Bᵀ" : "·B",
                         (long long)M, (long long)N, (long long)K, (long long)batch,
                         cublasGetStatusString(s));
    }
    LCTW_CU_LAUNCH("cublasSgemm");
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                                       const float *A, int64_t lda, const float *B, int64_t ldb,
                                       float beta, float *C, int64_t ldc) {
    return lctw_cuda_sgemm_batched(ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0,
                                   1);
}

/* ---- linear ---- */

/* y[(o·C + c)·I + i] = b[c]: the bias broadcast of linear (O rows, C = out, I = 1) */
__global__ void k_bias_rows(float *y, const float *b, int64_t rows, int64_t cols) {
    OPS_FOR(e, rows * cols) y[e] = b[e % cols];
}

extern "C" lctw_status lctw_cuda_op_linear_fwd(const float *x, const float *w, const float *b,
                                               float *y, int64_t M, int64_t in, int64_t out) {
    if (M <= 0 || out <= 0) return LCTW_OK;
    if (b) {
        k_bias_rows<<<OPS_GRID(M * out)>>>(y, b, M, out);
        LCTW_CU_LAUNCH("linear bias kernel");
    }
    /* y (M×out) = x (M×in)·Wᵀ (W: out×in) + [b] */
    return lctw_cuda_sgemm(0, 1, M, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
}

extern "C" lctw_status lctw_cuda_op_linear_bwd(const float *x, const float *w, const float *gy,
                                               float *gx, float *gw, float *gb, int64_t M,
                                               int64_t in, int64_t out) {
    if (gx) LCTW_TRY(lctw_cuda_sgemm(0, 0, M, in, out, 1.0f, gy, out, w, in, 1.0f, gx, in));
    if (gw) LCTW_TRY(lctw_cuda_sgemm(1, 0, out, in, M, 1.0f, gy, out, x, in, 1.0f, gw, in));
    /* gb[j] += Σ_i gy[i, j]: (A 1, O M, C out, I 1) */
    if (gb) LCTW_TRY(ops_reduce(ops_f_prod{gy, NULL}, gb, 1, M, out, 1, 1.0, 1, "linear bias reduction"));
    return LCTW_OK;
}
