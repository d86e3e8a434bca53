/* gemm.h — row-major single-precision GEMM on the CPU: C = alpha·op(A)·op(B) + beta·C, with
 * op(X) = X or Xᵀ. OpenBLAS cblas_sgemm when built with it, else a blocked reference loop.
 * A is M×K after op, B is K×N after op, C is M×N; lda/ldb/ldc are row strides in elements. */
#ifndef LCTW_GEMM_H
#define LCTW_GEMM_H

#include <stdint.h>

void lctw_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc);

#endif
