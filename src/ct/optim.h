/* optim.h — optimizers, EMA and gradient utilities over a model's flat parameter and gradient
 * buffers (src/nn/params.h; ALGORITHM.md §4.5, §4.6).
 *
 * Optimizers reproduce PyTorch 1.13's single-tensor (default, foreach=None) implementations:
 *   RAdam  (torch.optim.RAdam, coupled L2 decay):
 *     g ← g + wd·θ;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  t ← t+1
 *     ρ∞ = 2/(1−β2) − 1;  ρ_t = ρ∞ − 2t·β2ᵗ/(1−β2ᵗ)
 *     ρ_t > 5:  r = √((ρ_t−4)(ρ_t−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρ_t))
 *               θ ← θ − lr·r/(1−β1ᵗ) · m·√(1−β2ᵗ)/(√v + eps)
 *     else:     θ ← θ − lr/(1−β1ᵗ) · m          (the first steps: t ≤ 5 for β2 = 0.999, ρ_t ≈ t−1)
 *   Adam   (torch.optim.Adam, coupled L2 decay): same g, m, v, then
 *               θ ← θ − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps)      (note: eps outside the √(1−β2ᵗ))
 *   AdamW  (torch.optim.AdamW, decoupled decay): θ ← θ·(1 − lr·wd) first, then Adam with wd = 0.
 * All per-element math is float32 with the step's scalar factors computed in double, in one pass
 * over θ, g, m, v. The relative difference to PyTorch's float32 results is ~1e-7 per step.
 *
 * Frozen parameters (trainable = 0, e.g. NsLN's γ) are never touched: the optimizer keeps a list
 * of trainable element ranges of the flat buffer (built once from lctw_params), and only those
 * ranges are read or written; their m, v stay 0. The state — step count t and the flat m, v
 * (exp_avg, exp_avg_sq) — is exposed for checkpoints. cfg.lr may be changed between steps.
 *
 * EMA (§4.5, [P] :44-52, :415): several decays d, each a flat copy initialised to θ₀ and updated
 * after every optimizer step by θ_ema ← d·θ_ema + (1−d)·θ, computed as θ_ema + (1−d)·(θ − θ_ema)
 * with (1−d) rounded once from double: the same value in exact arithmetic, but a θ that stops
 * changing is a fixed point exactly (with float d and (1−d) rounded separately, d + (1−d) ≠ 1 and
 * the average would drift by ~1e-8 per step — about 1 % over 300k steps at d = 0.99993).
 *
 * Gradient utilities: global-norm clipping (torch.nn.utils.clip_grad_norm_: scale by
 * max_norm/(norm + 1e-6) when that is < 1) and a NaN/Inf scan of the gradient buffer. Norms
 * accumulate in double.
 *
 * Everything here works on contiguous float32 buffers on the CPU or CUDA (kernels/ct_step.cu:
 * the same float formulas, spelled without FMAs, so the same inputs give the same bits; the
 * norm and the NaN scan are fixed-order reductions in double). All buffers of one call live on
 * one device; the EMA copies live on θ₀'s device.
 */
#ifndef LCTW_OPTIM_H
#define LCTW_OPTIM_H

#include <stdint.h>

#include "core/tensor.h"
#include "nn/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LCTW_OPTIM_RADAM = 0,
    LCTW_OPTIM_ADAM,
    LCTW_OPTIM_ADAMW,
    LCTW_OPTIM_COUNT
} lctw_optim_kind;

/* Plain data (Lua reads/writes it field by field; checkpoints store it). */
typedef struct lctw_optim_config {
    lctw_optim_kind kind;
    double lr;           /* may be changed between steps */
    double beta1, beta2; /* 0 ≤ β < 1 */
    double eps;          /* ≥ 0 */
    double weight_decay; /* ≥ 0; RAdam/Adam: coupled L2, AdamW: decoupled */
} lctw_optim_config;

/* A range of elements [start, start + len) of the flat buffers. */
typedef struct lctw_range {
    int64_t start, len;
} lctw_range;

typedef struct lctw_optim {
    lctw_optim_config cfg;
    int64_t n;          /* elements of the flat buffers (params, grads, m, v) */
    int64_t step;       /* completed steps t (PyTorch state['step']); saved/restored by callers */
    lctw_tensor *m, *v; /* flat (n) float32: exp_avg, exp_avg_sq (zero for frozen elements) */
    int nranges;        /* trainable ranges, sorted, disjoint, merged */
    lctw_range *ranges;
    int64_t trainable; /* elements in the ranges */
} lctw_optim;

const char *lctw_optim_kind_name(lctw_optim_kind k); /* "radam", "adam", "adamw" */
/* 1 and *out set if name is one of the kind names, else 0. */
int lctw_optim_kind_from_name(const char *name, lctw_optim_kind *out);
/* PyTorch 1.13's defaults for kind: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0
 * (AdamW: 1e-2). */
void lctw_optim_config_default(lctw_optim_config *c, lctw_optim_kind kind);
/* Same checks as PyTorch's constructors (lr ≥ 0, eps ≥ 0, 0 ≤ β < 1, wd ≥ 0, all finite);
 * EINVAL naming the field and value. */
lctw_status lctw_optim_config_check(const lctw_optim_config *c);

/* An optimizer over n elements, all trainable, with zero state (m, v on dev). */
lctw_status lctw_optim_new(lctw_optim **out, const lctw_optim_config *cfg, int64_t n,
                           lctw_device dev);
/* An optimizer for a finalized parameter set: n = ps->total, trainable ranges from the
 * parameters' trainable flags. */
lctw_status lctw_optim_new_params(lctw_optim **out, const lctw_optim_config *cfg,
                                  const lctw_params *ps);
void lctw_optim_free(lctw_optim *o);
/* Replaces the trainable ranges (0-based, within [0, n); sorted and merged here; overlaps and
 * empty ranges are allowed). Elements outside every range are frozen. */
lctw_status lctw_optim_set_ranges(lctw_optim *o, int nranges, const lctw_range *ranges);
/* Zero m, v and step (a fresh start with the same configuration and ranges). */
lctw_status lctw_optim_reset(lctw_optim *o);

/* One step: params ← update(params, grad). Both contiguous float32 (n) tensors, on the optimizer's device, of any shape
 * with numel n; grad is read only. Non-finite gradients are not checked here (see
 * lctw_grad_nonfinite) and propagate into the state like in PyTorch. */
lctw_status lctw_optim_step(lctw_optim *o, lctw_tensor *params, const lctw_tensor *grad);
/* lctw_optim_step on ps->data and ps->grad. */
lctw_status lctw_optim_step_params(lctw_optim *o, lctw_params *ps);

/* ---- EMA ---- */

#define LCTW_EMA_MAX 16

typedef struct lctw_ema {
    int count;                      /* number of decays */
    double decay[LCTW_EMA_MAX];     /* 0 ≤ d ≤ 1 */
    lctw_tensor *avg[LCTW_EMA_MAX]; /* flat (n) float32 copies, one per decay */
    int64_t n;
    int64_t updates; /* updates since the copies were set to θ₀ */
} lctw_ema;

/* count decays (1..LCTW_EMA_MAX, each in [0, 1]), each copy initialised to theta0 (a
 * contiguous float32 tensor of any shape, CPU or CUDA; n = its numel). */
lctw_status lctw_ema_new(lctw_ema **out, int count, const double *decays,
                         const lctw_tensor *theta0);
void lctw_ema_free(lctw_ema *e);
/* Every copy ← theta; updates = 0. */
lctw_status lctw_ema_reset(lctw_ema *e, const lctw_tensor *theta);
/* Every copy ← d·copy + (1−d)·theta, in one pass over theta. */
lctw_status lctw_ema_update(lctw_ema *e, const lctw_tensor *theta);
/* Index of the decay equal to d (within 1e-12), or −1. */
int lctw_ema_find(const lctw_ema *e, double d);

/* ---- gradient utilities ---- */

/* √Σg² of a float32 tensor (CPU: any strides; CUDA: contiguous), accumulated in double. */
lctw_status lctw_grad_norm(const lctw_tensor *g, double *norm);
/* Global-norm clipping (torch.nn.utils.clip_grad_norm_): *norm (may be NULL) receives the norm
 * before clipping; if max_norm > 0 and norm > max_norm, g ← g · max_norm/(norm + 1e-6).
 * max_norm ≤ 0: only measures. A non-finite norm leaves g unchanged (check it and skip the
 * step). g must be contiguous. */
lctw_status lctw_grad_clip_norm(lctw_tensor *g, double max_norm, double *norm);
/* Counts the NaN and ±Inf elements of g (any strides); first (may be NULL) receives the flat
 * index of the first one, or −1 when there is none. */
lctw_status lctw_grad_nonfinite(const lctw_tensor *g, int64_t *count, int64_t *first);

#ifdef __cplusplus
}
#endif

#endif
