/* schedule.h — the noise schedules of consistency training (ALGORITHM.md §4.1, §4.2, §4.4):
 *
 *   Karras σ grid (index 0 = noisiest), i = 0..N−1:
 *       σ_i = (σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ
 *   discretisation curriculum (iCT, [P] script_util.py improve_scale_fn):
 *       K' = ⌊K / (log2⌊s1/s0⌋ + 1)⌋ (at least 1),  N(k) = min(s0·2^⌊k/K'⌋, s1) + 1
 *   discretised lognormal index distribution over i = 0..N−2 (iCT; [P] karras_diffusion.py
 *   icm_dist):
 *       P(i) ∝ erf((ln σ_i − P_mean)/(√2 P_std)) − erf((ln σ_{i+1} − P_mean)/(√2 P_std))
 *     σ is descending, so the first erf is the larger one and every term is positive.
 *   robust-loss scale c: constant, iCT (0.00054·√d), the paper's adaptive rule
 *       c = 0.00054·√d while N ≤ s0+1, else c(N) = scale·exp(−1.15·ln(N−1) − 0.85)
 *     ([P] train_cm_latent.py: the rule only fires when N > s0+1; scale = 1 in [P], a later
 *     commit multiplies by √2), or a callback (step, N) -> c.
 *
 * Everything here is double precision (weights 1/(σ_i − σ_{i+1}) reach 1.27·10⁴ at N = 641, where
 * neighbouring σ differ by 8·10⁻⁵). Config structs are plain data (Lua and checkpoints read and
 * write them field by field); functions that take one validate it and fail with LCTW_EINVAL
 * naming the field.
 */
#ifndef LCTW_CT_SCHEDULE_H
#define LCTW_CT_SCHEDULE_H

#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"

/* Defaults of ALGORITHM.md §3/§4 (same values as src/nn/model.h). */
#define LCTW_KARRAS_SIGMA_MIN 0.002
#define LCTW_KARRAS_SIGMA_MAX 80.0
#define LCTW_KARRAS_RHO 7.0
#define LCTW_INDEX_P_MEAN (-1.1)
#define LCTW_INDEX_P_STD 2.0
#define LCTW_CT_ICT_C_PER_SQRT_D 0.00054

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Karras grid ---- */

/* out[0..N-1] = σ_0 (= σ_max) .. σ_{N−1} (= σ_min), descending. The endpoints are set exactly.
 * Needs N ≥ 2, 0 < σ_min < σ_max, ρ > 0 (all finite). */
lctw_status lctw_karras_sigmas(int64_t N, double sigma_min, double sigma_max, double rho,
                               double *out);

/* ---- curriculum ---- */

typedef struct lctw_curriculum {
    int64_t s0;    /* initial number of intervals (paper: 10) */
    int64_t s1;    /* final number of intervals (paper: 640; iCT: 1280) */
    int64_t total; /* K, total training steps */
} lctw_curriculum;

/* {10, 640, total}. */
lctw_curriculum lctw_curriculum_default(int64_t total);
/* s0 ≥ 1, s1 ≥ s0, total ≥ 1. */
lctw_status lctw_curriculum_check(const lctw_curriculum *c);
/* K' (steps per stage), at least 1. */
int64_t lctw_curriculum_kprime(const lctw_curriculum *c);
/* N(k) for a global step k ≥ 0 (k < 0 counts as 0): the number of grid points. */
int64_t lctw_curriculum_N(const lctw_curriculum *c, int64_t k);
/* Number of distinct N values: s0·2^j for s0·2^j < s1, then s1 (7 for 10 → 640). */
int lctw_curriculum_num_stages(const lctw_curriculum *c);
/* 0-based stage of step k (the position of N(k) in the list of distinct values). */
int lctw_curriculum_stage(const lctw_curriculum *c, int64_t k);
/* First step of stage s (0-based): s·K'. Stage num_stages−1 runs to the end of training and
 * beyond (the paper's loop runs one extra epoch at the last N). */
int64_t lctw_curriculum_stage_start(const lctw_curriculum *c, int stage);
/* N of stage s. */
int64_t lctw_curriculum_stage_N(const lctw_curriculum *c, int stage);

/* ---- index sampler ---- */

/* Normalised probabilities prob[0..N-2] of the discretised lognormal over the
 * grid sigmas[0..N-1] (descending, all > 0). Pure function (no cache). */
lctw_status lctw_index_probs(const double *sigmas, int64_t N, double p_mean, double p_std,
                             double *prob);

typedef struct lctw_index_sampler {
    /* config (plain data; change freely: the cache is keyed on all of it) */
    double p_mean, p_std;             /* −1.1, 2.0 */
    double sigma_min, sigma_max, rho; /* the grid the indices refer to */
    /* cache of the last N (recomputed when N or the config changes; O(N) erf calls) */
    int64_t cached_N;
    double cached_cfg[5];
    double *prob; /* N−1 probabilities */
    double *cdf;  /* N−1 cumulative sums, cdf[N−2] = 1 exactly */
    int64_t cap;  /* allocated entries of prob and cdf */
} lctw_index_sampler;

/* The config is usable: finite p_mean, p_std > 0, 0 < sigma_min < sigma_max, rho > 0. */
lctw_status lctw_index_sampler_check(const lctw_index_sampler *s);
/* Defaults (−1.1, 2.0, 0.002, 80, 7), empty cache. */
void lctw_index_sampler_init(lctw_index_sampler *s);
void lctw_index_sampler_release(lctw_index_sampler *s);
/* Makes s->prob / s->cdf describe N (recomputes only when needed). */
lctw_status lctw_index_sampler_prepare(lctw_index_sampler *s, int64_t N);
/* out[j] ∈ 0..N−2, j = 0..n−1, i.i.d.: draw j is the inverse CDF at the uniform
 * lctw_rng_uniform_at(seed, stream, offset, j) (the smallest i with u < cdf[i]); afterwards
 * rng->offset advances by lctw_rng_blocks(n). Deterministic given (seed, stream, offset). */
lctw_status lctw_index_sampler_sample(lctw_index_sampler *s, int64_t N, int64_t n, lctw_rng *rng,
                                      int64_t *out);
/* Probability that an index is ≥ first (e.g. ⌊0.75·N⌋: the diffusion-loss subset). */
lctw_status lctw_index_sampler_tail(lctw_index_sampler *s, int64_t N, int64_t first, double *p);

/* ---- robust-loss scale c ---- */

typedef enum {
    LCTW_C_CONSTANT = 0, /* c */
    LCTW_C_ICT,          /* ict_k·√d */
    LCTW_C_ADAPTIVE,     /* ict_k·√d while N ≤ s0+1, then scale·exp(a·ln(N−1) + b) */
    LCTW_C_CALLBACK,     /* fn(ud, step, N, &c) */
} lctw_c_kind;

/* A callback returns LCTW_OK and c > 0, or records an error (LCTW_FAIL) and returns it. */
typedef lctw_status (*lctw_c_fn)(void *ud, int64_t step, int64_t N, double *c);

typedef struct lctw_c_schedule {
    lctw_c_kind kind;
    double c;     /* constant value */
    int64_t d;    /* elements per sample (4·32·32 = 4096 for the paper's latents) */
    double ict_k; /* 0.00054 */
    int64_t s0;   /* adaptive: first stage has N = s0+1 */
    double a, b;  /* adaptive: −1.15, −0.85 */
    double scale; /* adaptive: 1 */
    lctw_c_fn fn; /* callback */
    void *ud;
} lctw_c_schedule;

/* Paper defaults for each kind: d = 4096, ict_k = 0.00054, s0 = 10, a = −1.15, b = −0.85,
 * scale = 1, c = 0.00054·64 = 0.03456 (constant). */
lctw_c_schedule lctw_c_schedule_default(lctw_c_kind kind);
const char *lctw_c_kind_name(lctw_c_kind k);
/* "constant" | "ict" | "adaptive" | "callback" (also "function"). */
lctw_status lctw_c_kind_parse(const char *name, lctw_c_kind *k);
/* The fields the kind uses are valid (constant: c > 0; ict/adaptive: d ≥ 1, ict_k > 0;
 * adaptive: finite a, b, scale > 0, s0 ≥ 1; callback: fn set). */
lctw_status lctw_c_schedule_check(const lctw_c_schedule *s);
/* c for global step `step` at N grid points. Fails (EINVAL) on a bad config or a callback that
 * errs or returns c ≤ 0 / non-finite. */
lctw_status lctw_c_schedule_value(const lctw_c_schedule *s, int64_t step, int64_t N, double *c);

#ifdef __cplusplus
}
#endif

#endif
