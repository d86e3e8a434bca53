/* loss.h — the consistency-training loss and its gradient w.r.t. the student output
 * (ALGORITHM.md §4.3 items 7-9, §4.6).
 *
 * For a batch of b samples of d elements, δ_j = D_s,j − D_t,j and m_j = mean_e δ_j,e²:
 *
 *   per-sample robust functions ρ_c(m) (applied to m; [P] --loss-norm):
 *     l2             m
 *     pseudo_huber   √(m + c²) − c                        ("huber")
 *     cauchy         ln(1 + m/(2c²))                      (the paper's choice)
 *     geman_mcclure  2m/(m + 4c²)                         ("gm")
 *   per-element variants ρ applied to each δ_e² then averaged over the d elements:
 *     l1                   mean_e |δ_e|
 *     pseudo_huber_elem    mean_e √(δ_e² + c²) − c        ("huber_new")
 *     cauchy_elem          mean_e ln(1 + δ_e²/(2c²))      ("cauchy_new")
 *     geman_mcclure_elem   mean_e 2δ_e²/(δ_e² + 4c²)      ("gm_new")
 *   weighting w_j = 1/(σ_j − σ'_j) ("ict", σ' the next, smaller grid value) or 1 ("uniform").
 *
 *   L_CT   = mean_b w_j·ℓ_j
 *   L_diff = mean_{j∈S} λ(σ_j)·mean_e (D_s,j − x_j)²,  λ(σ) = 1/σ² + 1/σ_d²,
 *            S = {j : i_j ≥ ⌊rate·N⌋} (rate 0.75: the lowest-σ quarter of the grid)
 *   L      = L_CT + λ_diff·L_diff          (λ_diff = 5)
 *
 * An empty S gives L_diff = 0 (as the release [R]; the paper code [P] gets NaN and skips the
 * step) and lctw_loss_result.diff_count = 0 says so.
 *
 * Gradient (§4.6), written into a caller buffer of b·d floats:
 *   ∂L/∂D_s,j,e = (w_j/b)·ρ'(m_j)·2δ_e/d + λ_diff·[j∈S]·λ(σ_j)·2(D_s,j,e − x_j,e)/(d·|S|)
 * (per-element kinds: (w_j/b)·ρ'(δ_e²)·2δ_e/d; l1: (w_j/b)·sign(δ_e)/d, 0 at δ_e = 0).
 *
 * Storage is float32; every sum and every per-sample quantity is computed in double, so Cauchy
 * with c = 2.5·10⁻⁴ (ρ' up to 1/(2c²) = 8·10⁶) times weights up to 1.27·10⁴ stays accurate. A
 * NaN/Inf anywhere in the loss or the gradient clears lctw_loss_result.finite (the trainer then
 * skips the update, as [P] does) — evaluation itself still returns LCTW_OK.
 */
#ifndef LCTW_CT_LOSS_H
#define LCTW_CT_LOSS_H

#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LCTW_LOSS_L2 = 0,
    LCTW_LOSS_PSEUDO_HUBER,
    LCTW_LOSS_CAUCHY,
    LCTW_LOSS_GEMAN_MCCLURE,
    LCTW_LOSS_L1,
    LCTW_LOSS_PSEUDO_HUBER_ELEM,
    LCTW_LOSS_CAUCHY_ELEM,
    LCTW_LOSS_GEMAN_MCCLURE_ELEM,
    LCTW_LOSS_COUNT
} lctw_loss_kind;

typedef enum {
    LCTW_WEIGHT_ICT = 0, /* 1/(σ − σ') */
    LCTW_WEIGHT_UNIFORM, /* 1 */
} lctw_weighting;

typedef struct lctw_loss_cfg {
    lctw_loss_kind kind;      /* paper: cauchy */
    lctw_weighting weighting; /* paper: ict */
    double diff_lambda;       /* λ_diff, paper 5 (0 disables the diffusion term) */
    double diff_rate;         /* S = {i ≥ ⌊rate·N⌋}, paper 0.75 */
    double sigma_data;        /* σ_d in λ(σ), 0.5 */
} lctw_loss_cfg;

/* The paper's configuration: cauchy, ict, 5, 0.75, 0.5. */
lctw_loss_cfg lctw_loss_cfg_default(void);
lctw_status lctw_loss_cfg_check(const lctw_loss_cfg *cfg);

/* Canonical names: "l2", "pseudo_huber", "cauchy", "geman_mcclure", "l1", "pseudo_huber_elem",
 * "cauchy_elem", "geman_mcclure_elem". Parsing also accepts '-' for '_' and the [P] spellings
 * "huber", "gm", "huber_new", "cauchy_new", "gm_new", "l2_elem" (= l2), "l1_elem" (= l1). */
const char *lctw_loss_kind_name(lctw_loss_kind k);
lctw_status lctw_loss_kind_parse(const char *name, lctw_loss_kind *k);
const char *lctw_weighting_name(lctw_weighting w);
lctw_status lctw_weighting_parse(const char *name, lctw_weighting *w);
/* 1 for the per-element kinds (l1 and *_elem). */
int lctw_loss_kind_is_elem(lctw_loss_kind k);
/* 1 if the kind uses c (all but l1 and l2). */
int lctw_loss_kind_uses_c(lctw_loss_kind k);

/* ρ_c(u) and dρ/du for u ≥ 0 (u = m for per-sample kinds, u = δ² for per-element kinds; the
 * per-element kinds share the formula of their per-sample counterpart; l1 is ρ(u) = √u). */
double lctw_loss_rho(lctw_loss_kind k, double u, double c);
double lctw_loss_drho(lctw_loss_kind k, double u, double c);

/* w(σ, σ') of the weighting (ict needs σ > σ'). */
double lctw_loss_weight(lctw_weighting w, double sigma, double sigma_next);
/* λ(σ) = 1/σ² + 1/σ_d². */
double lctw_loss_diff_weight(double sigma, double sigma_data);
/* mask[j] = idx[j] ≥ ⌊rate·N⌋ (idx 0-based grid indices); returns |S|. */
int64_t lctw_loss_diff_mask(const int64_t *idx, int64_t b, int64_t N, double rate,
                            unsigned char *mask);
/* ⌊rate·N⌋, the first index of the diffusion subset. */
int64_t lctw_loss_diff_first(int64_t N, double rate);

/* One batch. Arrays are row-major b×d (contiguous float32 on the CPU). */
typedef struct lctw_loss_batch {
    int64_t b, d;
    const float *ds;              /* student output D_s */
    const float *dt;              /* teacher output D_t */
    const float *x;               /* clean data; needed when S is non-empty and λ_diff > 0 */
    const double *sigma;          /* σ_j (b) */
    const double *sigma_next;     /* σ'_j (b), < σ_j for the ict weighting */
    const unsigned char *in_diff; /* j ∈ S (b), or NULL: no diffusion term */
} lctw_loss_batch;

typedef struct lctw_loss_result {
    double loss;        /* L */
    double loss_ct;     /* L_CT */
    double loss_diff;   /* L_diff (before λ_diff); 0 when S is empty or x not given */
    double c;           /* the c used */
    int64_t diff_count; /* |S| (0: no diffusion term this step) */
    double frac_over_c; /* fraction of samples whose RMS residual √m_j exceeds c (⇔ m_j > c²) */
    double frac_elem_over_c; /* fraction of all b·d elements with |δ_e| > c */
    double mean_w;           /* mean_b w_j */
    int finite;              /* 0: NaN/Inf in the loss or the gradient (skip the update) */
} lctw_loss_result;

typedef struct lctw_loss_sample {
    double m;        /* mean_e δ² */
    double rho;      /* ℓ_j (the robust value before weighting) */
    double w;        /* w_j */
    double rms;      /* √m_j, the residual norm per element */
    double absmax;   /* max_e |δ_e| */
    double diff_mse; /* mean_e (D_s − x)² when j ∈ S, else 0 */
    int in_diff;     /* j ∈ S */
} lctw_loss_sample;

/* Evaluates L for one batch with scale c. grad (b·d floats) receives ∂L/∂D_s when not NULL;
 * per (b entries) receives per-sample values when not NULL. Fails (EINVAL) on bad shapes,
 * c ≤ 0 for a kind that uses c, σ ≤ σ' with the ict weighting, σ ≤ 0 in S, or missing x. */
lctw_status lctw_loss_eval(const lctw_loss_cfg *cfg, double c, const lctw_loss_batch *in,
                           float *grad, lctw_loss_result *res, lctw_loss_sample *per);

/* The same on tensors: ds, dt (and x, grad when given) of one shape whose first dimension is
 * the batch. When D_s, D_t (and x, grad when given) are contiguous CUDA tensors, both passes
 * run on the device (kernels/ct_step.cu) and only the per-sample values are copied back;
 * otherwise the tensors are copied to the host and grad copied back. sigma, sigma_next,
 * in_diff as in lctw_loss_batch (host arrays). */
lctw_status lctw_loss_eval_tensors(const lctw_loss_cfg *cfg, double c, lctw_tensor *ds,
                                   lctw_tensor *dt, lctw_tensor *x, const double *sigma,
                                   const double *sigma_next, const unsigned char *in_diff,
                                   lctw_tensor *grad, lctw_loss_result *res, lctw_loss_sample *per);

#ifdef __cplusplus
}
#endif

#endif
