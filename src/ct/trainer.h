/* trainer.h — one step of improved latent consistency training (ALGORITHM.md §4.3), the run
 * loop, metrics logs and exact checkpoints.
 *
 *   x ← data batch (normalised, σ_data = 0.5);  n ~ N(0, I)  (noise stream)
 *   OT: pair x_j with n_perm[j] (exact assignment on ‖x_j − n_k‖²)       [cfg.ot]
 *   N = N(k) (curriculum);  c = c(k, N);  i_j ~ lognormal index sampler   (index stream)
 *   D_t = f_θ⁻(x + σ'n, σ') without gradients;  D_s = f_θ(x + σn, σ) on the tape
 *   L = mean_b w·ρ_c(m_j) + λ_diff·L_diff;  backward from ∂L/∂D_s
 *   non-finite L or gradient → the step is skipped and counted (lr halves after 100 skips, [P])
 *   clip (optional) → optimizer → EMA(s);  θ⁻ ← θ
 *
 * The teacher θ⁻ is the exact, stop-gradient copy of θ refreshed after every step (§9 item 11),
 * so at the time of the teacher forward θ⁻ = θ: it is computed with the student's own
 * parameters, gradients off — identical to a copy, without the copy.
 *
 * Exactness: every random draw comes from a Philox stream (noise, index, data) whose offsets
 * are part of the state, so a run resumed from a checkpoint reproduces the uninterrupted run
 * bit for bit on the CPU. A failed or interrupted step (Ctrl-C) restores the streams and the
 * data cursor, so the state stays at the last completed step.
 *
 * Device: the step runs where the model's parameters are. On CUDA the batch, noise, x_s, x_t,
 * the forwards and backward, the loss passes, the OT cost GEMM, the gradient scan, the optimizer
 * and the EMAs run on the device (kernels/ct_step.cu, the op twins); the host keeps the draws of
 * indices and σ (the same Philox numbers as the CPU step), the OT assignment on the copied-back
 * b×b cost, and the per-sample loss values (5 doubles a sample, copied back to decide the skip
 * and to fill the metrics). The batch statistics are queued without a synchronisation and read
 * after that copy. The same seed gives the CPU step's draws; results agree up to the GEMMs'
 * summation order (tests/ops/test_step_cuda.c).
 */
#ifndef LCTW_TRAINER_H
#define LCTW_TRAINER_H

#include <stdio.h>

#include "ct/data.h"
#include "ct/loss.h"
#include "ct/optim.h"
#include "ct/schedule.h"
#include "nn/model.h"

typedef struct lctw_trainer_config {
    int64_t batch;       /* samples per step */
    int64_t total_steps; /* K of the curriculum (and the default length of a run) */
    int64_t s0, s1;      /* curriculum 10 → 640 */
    double p_mean, p_std;
    lctw_c_schedule c;
    lctw_loss_cfg loss;
    int ot;              /* optimal-transport coupling of noise and data */
    lctw_optim_config optim;
    int n_ema;
    double ema[LCTW_EMA_MAX];
    double max_grad_norm; /* ≤ 0: no clipping (the paper) */
    int64_t nan_halve_after; /* halve lr after this many skipped steps (100; 0 = never) */
    uint64_t seed;
} lctw_trainer_config;

/* The paper's recipe (§10): Cauchy, adaptive c, ict weighting, diffusion 0.75 × 5, OT, RAdam
 * 1e-4 wd 1e-4 eps 1e-8, EMA {0.999, 0.9999, 0.99993}, no clipping, s0 10 → s1 640. */
void lctw_trainer_config_paper(lctw_trainer_config *c, int64_t batch, int64_t total_steps);
/* The iCT baseline: pseudo-Huber, iCT c, no diffusion loss, no OT (GroupNorm is the model's). */
void lctw_trainer_config_ict(lctw_trainer_config *c, int64_t batch, int64_t total_steps);
lctw_status lctw_trainer_config_check(const lctw_trainer_config *c);

/* A histogram of one step's values: LCTW_STEP_HIST_BINS equal bins over [lo, hi] (the finite
 * min and max; a value v falls in bin ⌊(v − lo)/(hi − lo)·bins⌋, the max in the last bin, all in
 * bin 0 when lo = hi). No finite value: lo = hi = NaN, every count 0. */
#define LCTW_STEP_HIST_BINS 64
typedef struct lctw_step_hist {
    double lo, hi;
    int64_t count[LCTW_STEP_HIST_BINS];
} lctw_step_hist;

typedef struct lctw_step_metrics {
    int64_t step; /* completed steps after this one */
    int64_t N, stage;
    double loss, loss_ct, loss_diff, c, lr, grad_norm;
    double frac_over_c, frac_elem_over_c, mean_w;
    int64_t diff_count;
    double ot_gain;   /* 1 − cost(OT pairs)/cost(random pairs): how much OT shortened the pairs */
    int skipped;      /* 1: non-finite loss or gradient, no update */
    int64_t nan_skips;
    double step_s, samples_per_s;
    double resid_rms_p50, resid_rms_max; /* per-sample √m_j */
    /* the batch x (normalised latents, all B·d finite values): mean, population std, excess
     * kurtosis m4/m2² − 3 and the tails P(|x − mean| > k·std), k = 3, 5 */
    double latent_mean, latent_std, latent_kurtosis, latent_tail3, latent_tail5;
    lctw_step_hist latent_hist; /* of the values of x over [min, max] */
    lctw_step_hist resid_hist;  /* of the per-sample √m_j (as frac_over_c compares with c) */
} lctw_step_metrics;

typedef struct lctw_trainer {
    lctw_trainer_config cfg;
    lctw_model *model; /* borrowed (the caller keeps it alive) */
    lctw_data *data;   /* borrowed */
    lctw_ctx ctx;
    lctw_curriculum cur;
    lctw_index_sampler sampler;
    lctw_optim *opt;
    lctw_ema *ema;
    int64_t step;
    lctw_rng rng_noise, rng_index;
    int64_t nan_skips;
    int64_t d; /* elements per sample */
    /* batch buffers (on the model's device) and host scratch, allocated once */
    lctw_tensor *x, *noise, *noise_ot, *x_s, *x_t, *grad, *sig_s, *sig_t;
    int64_t *perm, *idx;
    double *sigmas, *sig_d, *sig_next_d;
    unsigned char *in_diff;
    lctw_loss_sample *per;
    double *rms_sorted;
    /* CUDA trainers (the model's parameters on the device: x, noise, x_s, x_t and grad live
     * there too; σ and the indices stay here): (σ_j, σ'_j) for the noisy-input kernel, and the
     * b×b OT cost copied back for the host assignment */
    double *sig_pair, *ot_cost;
    lctw_step_metrics last;
    /* metrics logs */
    char run_dir[512];
    FILE *csv, *jsonl;
    char last_checkpoint[512];
    int csv_cols; /* columns written per metrics.csv row (fewer for a file with an older header) */
    char *options_meta; /* owned; stored as checkpoint metadata "lctw.options" when set (the Lua
                           layer keeps how model, data and trainer were made, to rebuild them) */
} lctw_trainer;

/* run_dir may be NULL or "" (no logs). */
lctw_status lctw_trainer_new(lctw_trainer **out, const lctw_trainer_config *cfg, lctw_model *m,
                             lctw_data *data, const char *run_dir);
void lctw_trainer_free(lctw_trainer *t);
/* One step; metrics in *m (may be NULL) and t->last. A skipped step still counts as a step. */
lctw_status lctw_trainer_step(lctw_trainer *t, lctw_step_metrics *m);
/* Appends t->last to metrics.csv and metrics.jsonl (no-op without a run_dir). The trainer's
 * constructor also writes run_dir/run.json once (atomically): {"total_steps", "batch", "device",
 * "pid", "started" (unix time), "schedule": [{"stage" (1-based), "N", "start_step", "c"}, …]}. */
lctw_status lctw_trainer_log(lctw_trainer *t);

/* One curriculum stage of the run's plan: 1-based stage, N, the global step k where it starts
 * (0-based: steps completed before its first step) and the c its steps use (NaN when a c
 * callback fails). Stages that start at or after total_steps are left out (stage 1 never). */
#define LCTW_TRAINER_MAX_STAGES 64
typedef struct lctw_stage_plan {
    int stage;
    int64_t N, start_step;
    double c;
} lctw_stage_plan;
/* The plan of stages for the trainer's current configuration into out[0..*n) (at most
 * LCTW_TRAINER_MAX_STAGES). c is c(start_step, N) of the c schedule (adaptive, iCT, constant or
 * the callback). */
void lctw_trainer_schedule(lctw_trainer *t, lctw_stage_plan *out, int *n);

/* Checkpoint: one safetensors file with the model (reference names), "ema.<i>", "optim.m",
 * "optim.v", and metadata (step, RNG offsets, data cursor, optimizer step, NaN count, configs
 * as JSON). Written atomically. */
lctw_status lctw_trainer_save(lctw_trainer *t, const char *path);
/* Restores a checkpoint into a trainer built with the same model and data configuration. */
lctw_status lctw_trainer_restore(lctw_trainer *t, const char *path);

/* Config <-> JSON (the Lua option names). */
lctw_status lctw_trainer_config_to_json(const lctw_trainer_config *c, char **out);

#endif
