/* metrics.h — sample-quality metrics on latents: Fréchet distance on a fixed pooled feature map,
 * sliced Wasserstein-2 distance, and tail statistics side by side with a reference set.
 *
 * Fréchet distance (FD). Features: each latent (C, H, W) is average-pooled over p×p blocks to
 * (C, H/p, W/p) and flattened (channel-major) — p is the smallest divisor of both H and W with
 * C·(H/p)·(W/p) ≤ 256 (4×32×32 → p = 4 → 4×8×8 = 256 features), or the caller's p. Inputs of
 * shape (n, D) are used as features as they are. With the means μ and unbiased (n−1)
 * covariances Σ of the two feature sets, in double:
 *     FD = ‖μa − μb‖² + Tr(Σa) + Tr(Σb) − 2 Tr((Σa Σb)^{1/2}),
 * Tr((Σa Σb)^{1/2}) = Σ_i √λ_i(√Σa Σb √Σa): √Σa = V diag(√λ) Vᵀ from the eigen-decomposition of
 * Σa, then the eigenvalues of the symmetric PSD √Σa Σb √Σa, both by a cyclic Jacobi eigen-solver
 * (double). In both, eigenvalues below d·ε·max|λ| count as 0 (round-off of a singular covariance,
 * e.g. with fewer samples than features; without this FD(a, a) would be ~1e-5, not ~1e-12).
 * This is the FID formula of pytorch-fid on latent features instead of Inception features:
 * values compare only between runs using the same feature map and similar sample counts (FD is
 * biased upward for small n).
 *
 * Sliced Wasserstein-2 (SWD). P directions θ_p uniform on the unit sphere of the flattened
 * space R^D (D = C·H·W; normalised Gaussian vectors from Philox (seed, LCTW_STREAM_SWD), element
 * (i, p) of the D×P matrix is normal number i·P + p), projections by one GEMM, then per
 * direction the exact 1-D W2² between the two empirical distributions: ∫₀¹ (F_a⁻¹(t) −
 * F_b⁻¹(t))² dt over the merged quantile breakpoints (equal counts: mean of squared differences of
 * the sorted projections). SWD = √(mean_p W2²_p), in the units of the data. A shift of every
 * element by t gives exactly |t|·√(mean_p (Σ_i θ_pi)²), ≈ |t| for many directions.
 *
 * Tails. Per channel c of the reference, μ_c and σ_c (population). For a set x:
 * tail[k] = P(|x − μ_c| > k·σ_c) pooled over channels (the mean over channels; k = 3…6),
 * max_abs_std = max |x − μ_c|/σ_c, and kurtosis = x's own pooled channel-standardised excess
 * kurtosis (the mean over channels of each channel's kurtosis, as data.h's pooled statistics).
 * So the tails of generated samples are measured on the reference's scale: too-wide samples show
 * up as heavier tails. Without a reference, x is its own reference. Inputs (N, C, H, W) have C
 * channels; other shapes are one channel.
 */
#ifndef LCTW_METRICS_H
#define LCTW_METRICS_H

#include <stdint.h>

#include "ct/data.h"

#define LCTW_STREAM_SWD 0x53574400u /* "SWD\0" */
#define LCTW_FD_MAX_DIMS 256

#ifdef __cplusplus
extern "C" {
#endif

/* Symmetric eigen-decomposition by cyclic Jacobi rotations (double). a: n×n row-major symmetric
 * (overwritten); w: n eigenvalues, ascending; v (may be NULL): n×n row-major, column i is the
 * unit eigenvector of w[i]. sweeps (may be NULL) receives the sweeps used. Fails with LCTW_EINVAL
 * on non-finite input, and if 100 sweeps do not converge. */
lctw_status lctw_metrics_symeig(int n, double *a, double *w, double *v, int *sweeps);

/* FD between Gaussians N(mu1, s1), N(mu2, s2) in d dimensions (s1, s2: d×d row-major, symmetric
 * PSD). mean_term / cov_term (may be NULL) receive ‖Δμ‖² and the trace part. */
lctw_status lctw_metrics_fd_gauss(int d, const double *mu1, const double *s1, const double *mu2,
                                  const double *s2, double *fd, double *mean_term,
                                  double *cov_term);

/* The default pooling p for latents (C, H, W) (see above); fails with LCTW_ESHAPE if none fits. */
lctw_status lctw_metrics_fd_pool(int64_t c, int64_t h, int64_t w, int *pool);
/* Features of x ((n, C, H, W) with pool p >= 1, or (n, D)): *feat = malloc'ed n×d doubles. */
lctw_status lctw_metrics_features(const lctw_tensor *x, int pool, double **feat, int64_t *n,
                                  int *d);

typedef struct lctw_fd_result {
    double fd, mean_term, cov_term;
    int pool, dims; /* pool 0 for (n, D) inputs */
    int64_t na, nb;
} lctw_fd_result;

/* FD of two latent sets (same feature map: same C, H, W or D); pool 0 = the default. */
lctw_status lctw_metrics_fd(const lctw_tensor *a, const lctw_tensor *b, int pool,
                            lctw_fd_result *res);

/* Exact W2² between the empirical distributions of sorted a (na) and sorted b (nb). */
double lctw_metrics_w2_1d(const double *a, int64_t na, const double *b, int64_t nb);
/* The D×P matrix of unit directions (a new CPU tensor). */
lctw_status lctw_metrics_swd_directions(int64_t D, int n_proj, uint64_t seed, lctw_tensor **out);
/* SWD of a (na, ...) and b (nb, ...) with the same numel per sample; n_proj >= 1. */
lctw_status lctw_metrics_swd(const lctw_tensor *a, const lctw_tensor *b, int n_proj, uint64_t seed,
                             double *swd);

typedef struct lctw_tail_stats {
    int64_t n;                 /* elements */
    double mean, std;          /* of all elements (population) */
    double kurtosis;           /* own pooled channel-standardised excess kurtosis */
    double tail[LCTW_TAIL_NK]; /* P(|x − μ_ref,c| > k·σ_ref,c), k = 3…6 */
    double max_abs_std;        /* max |x − μ_ref,c| / σ_ref,c */
} lctw_tail_stats;

/* Tail statistics of a and of ref on ref's per-channel scale (ref may be NULL: a is its own
 * reference; tr may be NULL). a and ref must have the same channel count. */
lctw_status lctw_metrics_tails(const lctw_tensor *a, const lctw_tensor *ref, lctw_tail_stats *ta,
                               lctw_tail_stats *tr);

#ifdef __cplusplus
}
#endif

#endif
