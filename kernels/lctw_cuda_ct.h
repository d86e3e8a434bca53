/* lctw_cuda_ct.h — the C interface of the CUDA side of a training step (kernels/ct_step.cu):
 * the consistency losses, the OT cost matrix's GEMM and norms, the optimizer / EMA updates over
 * the flat parameter buffers, gradient norm and NaN/Inf scan, the noisy inputs x + σ·n and
 * Philox noise added on the device. Implemented in kernels/ct_step.cu with CUDA=1 and by
 * src/core/cuda_stub.c otherwise (every call fails with "lctw was built without CUDA").
 *
 * Conventions: pointers named d_* or documented "device" are device pointers to contiguous
 * float32 buffers; arrays named *_host are host memory and are copied by the call (these calls
 * end with a synchronous copy, so the host values are ready on return). Small per-sample arrays
 * travel through one device scratch buffer owned by ct_step.cu (grown when needed, never freed
 * while the process runs): calls here are not reentrant, which lctw (one thread) never needs.
 * Reductions are fixed-order (block trees in double, block partials summed on the host in
 * order): results are deterministic.
 */
#ifndef LCTW_CUDA_CT_H
#define LCTW_CUDA_CT_H

#include <stdint.h>

#include "../src/core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-sample loss statistics (loss.c's first pass) of b samples of d elements. stats_host (b×5
 * doubles) receives per sample: Σ_e δ², Σ_e ρ_c(δ²) (elem kinds, else 0), max_e |δ| (NaN if any
 * δ is NaN), #{e : |δ| > c}, Σ_e (D_s − x)² (0 when x is NULL); δ = D_s − D_t in double. */
lctw_status lctw_cuda_ct_loss_stats(int kind, double c, const float *ds, const float *dt,
                                    const float *x, int64_t b, int64_t d, double *stats_host);
/* ∂L/∂D_s (loss.c's second pass): coef_host (b×2 doubles) holds per sample k_j and cdiff_j.
 * Per-sample kinds: g = k_j·(D_s − D_t) + cdiff_j·(D_s − x); elem kinds: k_j is (w_j/b)/d and
 * g = k_j·2ρ'(δ²)·δ (l1: k_j·sign δ) + cdiff_j·(D_s − x). x may be NULL when every cdiff_j = 0.
 * *bad_host = 1 when some g is NaN/Inf after rounding to float. */
lctw_status lctw_cuda_ct_loss_grad(int kind, double c, const float *ds, const float *dt,
                                   const float *x, const double *coef_host, int64_t b, int64_t d,
                                   float *grad, int *bad_host);

/* OT cost parts: dot_host (b×b floats) = X·Nᵀ (cuBLAS), xx_host / nn_host (b doubles) the
 * squared row norms in double, of X and N (b×d, device). */
lctw_status lctw_cuda_ct_ot_parts(const float *x, const float *n, int64_t b, int64_t d,
                                  float *dot_host, double *xx_host, double *nn_host);
/* out row j = src row perm_host[j] (b rows of d floats; perm already validated). */
lctw_status lctw_cuda_ct_gather_rows(float *out, const float *src, const int64_t *perm_host,
                                     int64_t b, int64_t d);
/* The noisy inputs of one step: xs = (float)(x + a_j·n), xt = (float)(x + b_j·n) in double, with
 * sig_host (2b doubles) = a_0..a_{b−1}, b_0..b_{b−1}. */
lctw_status lctw_cuda_ct_perturb(const float *x, const float *n, const double *sig_host, int64_t b,
                                 int64_t d, float *xs, float *xt);
/* y[j] = (float)(base[j] + amp·z_{j0+j}) (base NULL: 0) for j < n, z the Philox normal draw of
 * (seed, stream, offset) (src/core/rng.h): the CPU sampler's formula, element for element. */
lctw_status lctw_cuda_ct_add_normal(float *y, const float *base, double amp, uint64_t seed,
                                    uint32_t stream, uint64_t offset, uint64_t j0, int64_t n);

/* Gradient scan: *sumsq = Σ g² (double), *count NaN/Inf elements, *first the index of the first
 * one (−1 when none). */
lctw_status lctw_cuda_ct_grad_scan(const float *g, int64_t n, double *sumsq, int64_t *count,
                                   int64_t *first);

/* One optimizer step over n elements (optim.c's update_range, the same float formulas). */
typedef struct lctw_cu_adam {
    float wd, decay, b1, omb1, b2, omb2, a, s, e;
    int adaptive;
} lctw_cu_adam;
lctw_status lctw_cuda_ct_adam(const lctw_cu_adam *k, int64_t n, float *th, const float *g,
                              float *m, float *v);
/* avg += w·(th − avg) over n elements. */
lctw_status lctw_cuda_ct_ema(float *avg, const float *th, float w, int64_t n);

/* Batch statistics of n floats x (device) as trainer.c's latent_stats computes them on the
 * CPU: mean, population std, excess kurtosis m4/m2² − 3 (NaN when m2 = 0), min and max (NaN
 * when any element is NaN), the fractions P(|x − mean| > kσ) for k = 3, 5 (NaN when mean or σ
 * is not finite), and counts of LCTW_CU_STATS_BINS equal bins over [min, max] (all 0 unless
 * mean, σ are finite and max > min). _launch queues the passes and an async copy into pinned
 * host memory (no synchronisation); _read waits for that copy (by then normally done: later
 * synchronous copies of the step already drained the queue) and returns the values. */
#define LCTW_CU_STATS_BINS 64
typedef struct lctw_cu_batch_stats {
    int64_t n;
    double mean, std, kurtosis, min, max, tail3, tail5;
    int64_t hist[LCTW_CU_STATS_BINS];
} lctw_cu_batch_stats;
lctw_status lctw_cuda_ct_stats_launch(const float *x, int64_t n);
lctw_status lctw_cuda_ct_stats_read(lctw_cu_batch_stats *out);

#ifdef __cplusplus
}
#endif

#endif
