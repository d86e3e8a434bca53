/* gemm.c — see gemm.h. */
#include "gemm.h"

#include <string.h>

#ifdef LCTW_OPENBLAS
#include <cblas.h>
#endif

void lctw_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc) {
    if (M == 0 || N == 0) return;
#ifdef LCTW_OPENBLAS
    if (K > 0) {
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, alpha,
                    A, (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
        return;
    }
#endif
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
        for (int64_t k = 0; k < K; k++) {
            float a = alpha * (trans_a ? A[k * lda + i] : A[i * lda + k]);
            if (a == 0.0f) continue;
            if (!trans_b) {
                const float *b = B + k * ldb;
                for (int64_t j = 0; j < N; j++) c[j] += a * b[j];
            } else {
                for (int64_t j = 0; j < N; j++) c[j] += a * B[j * ldb + k];
            }
        }
    }
}
