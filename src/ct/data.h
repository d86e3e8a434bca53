/* data.h — latent data sets: N×C×H×W latents, per-element normalisation, shuffled epochs,
 * held-out split, a seeded synthetic generator, and per-channel latent statistics.
 *
 * Normalisation (ALGORITHM.md §1): per element e = (c, h, w), μ_e and s_e are the mean and the
 * unbiased standard deviation (torch.std, n−1) over the training rows, computed in double in one
 * streaming (Welford) pass, or loaded from a file. A batch holds
 *     x = (z − μ) / s · σ_data,   σ_data = 0.5,
 * so every element has mean 0 and std 0.5 over the set; de-normalising is z = x · s / σ_data + μ.
 * Latents are in the units of the file: the SD1 files are ×0.18215-scaled (the SD/TAESD
 * convention) while the reference code divides by 0.18215 before computing μ and s; with
 * per-element statistics computed on the very tensor that is normalised, the factor cancels in x
 * (§9 item 12), and de-normalised samples come back in the units of the file. s is floored at
 * std_floor (default 1e-6); how many elements were floored is recorded (std_floored).
 *
 * Horizontal flips (opts.flip): a flipped sample is the raw latent mirrored along W, then
 * normalised with the statistics of its output position. When μ, s are computed here with
 * flips on, they are computed over the set together with its mirror images (2·N_train rows, the
 * way the reference's LSUN set stores offline flips), so they are mirror-symmetric and flipping
 * commutes with normalising. Statistics loaded from a file are used as they are.
 *
 * Epochs and the cursor: the training rows are visited in a new random order every epoch. The
 * order of epoch e (0-based) is a Fisher–Yates shuffle driven by raw 32-bit Philox words of
 * generator (seed, stream) starting at block e·⌈N_train/4⌉: position i = N_train−1 … 1 swaps
 * with ⌊x·(i+1)/2³²⌋, x = word N_train−1−i. Sample p of epoch e is flipped when the top bit of
 * word p of (seed, stream+1) from block e·⌈N_train/4⌉ is set. Both depend only on (seed,
 * stream, e, p), so restoring the cursor (epoch, position) reproduces the exact batch sequence
 * of an uninterrupted run. drop_last, as the reference's DataLoader: a batch of n never spans
 * two epochs — when fewer than n rows are left in the epoch, they are skipped and the batch
 * starts the next epoch. An epoch therefore has ⌊N_train/n⌋ batches (lctw_data_batches).
 *
 * Held-out split (opts.holdout = k): k rows drawn by a Fisher–Yates shuffle of all N rows with
 * (seed, stream+2) are held out (the first k of that order, kept in ascending row order); the
 * rest are the training rows (ascending). μ and s use the training rows only.
 *
 * Streams (defaults): shuffle LCTW_STREAM_DATA, flips +1, split +2, lctw_data_sample +3; the
 * synthetic generator LCTW_STREAM_SYNTH (+0 fields, +1 outliers, +2 data-set constants).
 *
 * Statistics (lctw_latent_stats): per channel the population mean, std, skew, excess kurtosis,
 * min/max, max |z| and max |z − μ_c|/σ_c, and tail fractions P(|z − μ_c| > k·σ_c), k = 3…6, on
 * channel views with tmath.h's lctw_moments_all / lctw_tail_fraction; pooled = the channel-
 * standardised values of all channels together (kurtosis, skew and tails are then the means over
 * channels, which have equal counts); raw = all elements as one set.
 */
#ifndef LCTW_DATA_H
#define LCTW_DATA_H

#include <stdint.h>

#include "core/tmath.h"

#define LCTW_STREAM_DATA 0x44415441u  /* "DATA" */
#define LCTW_STREAM_SYNTH 0x53594E54u /* "SYNT" */

#define LCTW_TAIL_K0 3 /* tail fractions for k = LCTW_TAIL_K0 … LCTW_TAIL_K0+LCTW_TAIL_NK−1 */
#define LCTW_TAIL_NK 4

#ifdef __cplusplus
extern "C" {
#endif

/* ---- statistics of latents ---------------------------------------------------------------- */

typedef struct lctw_chan_stats {
    double mean, std;          /* population (n) */
    double skew, kurtosis;     /* population moment ratios; kurtosis is excess (Gaussian 0) */
    double min, max, max_abs;  /* raw values */
    double max_abs_std;        /* max |z − mean| / std */
    double tail[LCTW_TAIL_NK]; /* P(|z − mean| > k·std), k = 3, 4, 5, 6 */
} lctw_chan_stats;

typedef struct lctw_latent_stats {
    int64_t n;              /* samples */
    int c;                  /* channels */
    lctw_chan_stats *ch;    /* c entries (owned) */
    lctw_chan_stats pooled; /* channel-standardised values pooled: mean 0, std 1, skew/kurtosis/
                               tails = means over channels, max_abs_std = max over channels,
                               min/max/max_abs of the raw values */
    lctw_moments raw;       /* all elements as one set (population moments) */
} lctw_latent_stats;

/* Statistics of z (N, C, H, W), any strides, CPU or CUDA; free with lctw_latent_stats_release. */
lctw_status lctw_latent_stats_compute(lctw_tensor *z, lctw_latent_stats *out);
void lctw_latent_stats_release(lctw_latent_stats *s);
/* Two-sided Gaussian tail P(|Z| > k) = erfc(k/√2). */
double lctw_gaussian_tail(double k);

/* ---- data sets ---------------------------------------------------------------------------- */

typedef struct lctw_data_opts {
    int normalize;          /* 1 (default): batches are x = (z − μ)/s·σ_data; 0: raw z */
    int flip;               /* random horizontal flips, p = 1/2 per sample (default 0) */
    const char *stats_path; /* μ, s from a file instead of computing them (NULL: compute):
                               .npy of shape (2, C, H, W) = [μ; s], or .safetensors with
                               tensors "mean" and "std" of C·H·W elements */
    int64_t holdout;        /* rows held out for evaluation (default 0) */
    uint64_t seed;          /* default 0 */
    uint32_t stream;        /* default LCTW_STREAM_DATA */
    double sigma_data;      /* default 0.5 */
    double std_floor;       /* default 1e-6 */
} lctw_data_opts;

void lctw_data_opts_init(lctw_data_opts *o);

typedef struct lctw_data_cursor {
    int64_t epoch; /* 0-based */
    int64_t pos;   /* samples already drawn in this epoch, 0 … N_train */
} lctw_data_cursor;

/* Fields are read-only for users; create with lctw_data_npy / _from_tensor / _synthetic. */
typedef struct lctw_data {
    lctw_tensor *z;     /* raw latents (N, C, H, W), float32 CPU, contiguous */
    int64_t n, c, h, w; /* N: every row of the source */
    char dtype[16];     /* of the source: "float16", "float32", "float64", "synthetic" */
    char source[256];   /* path, or "synthetic", or "tensor" */
    int64_t n_train, n_holdout;
    int64_t *train_rows, *holdout_rows; /* source rows, ascending */
    int normalize, flip;
    double sigma_data, std_floor;
    lctw_tensor *mean, *std;  /* μ, s (C, H, W); with normalize = 0 still computed/loaded */
    float *scale, *inv_scale; /* σ_data/s and s/σ_data per element: x = (z − μ)·scale */
    int64_t std_floored;      /* elements whose s was raised to std_floor */
    char stats_from[300];     /* "computed over 2700 rows" or the path */
    uint64_t seed;
    uint32_t stream;
    lctw_data_cursor cur;
    int64_t *perm, perm_epoch; /* order of epoch perm_epoch (indices into train_rows) */
    lctw_latent_stats *stats;  /* of all N rows, computed on first use */
} lctw_data;

/* Opens an .npy file (N, C, H, W) float16/32/64 (float32 memory-mapped; see io/npy.h). o may
 * be NULL (defaults). */
lctw_status lctw_data_npy(lctw_data **out, const char *path, const lctw_data_opts *o);
/* A data set over z (N, C, H, W), any device/strides (copied to a contiguous CPU tensor if
 * needed, else retained). dtype and source label it (may be NULL). */
lctw_status lctw_data_from_tensor(lctw_data **out, lctw_tensor *z, const char *dtype,
                                  const char *source, const lctw_data_opts *o);
void lctw_data_free(lctw_data *d);

/* Batches of n per epoch (⌊N_train/n⌋; 0 if n > N_train). */
int64_t lctw_data_batches(const lctw_data *d, int64_t n);
/* Fills out (n, C, H, W; any device, contiguous or not) with the next n samples and advances
 * the cursor (only on success). rows / flips (may be NULL) receive the source row and the flip
 * of each sample. Fails with LCTW_ESHAPE if out has another shape or n > N_train. */
lctw_status lctw_data_batch(lctw_data *d, int64_t n, lctw_tensor *out);
lctw_status lctw_data_batch_rows(lctw_data *d, int64_t n, lctw_tensor *out, int64_t *rows,
                                 unsigned char *flips);

void lctw_data_get_cursor(const lctw_data *d, lctw_data_cursor *c);
/* Fails with LCTW_EINDEX unless epoch >= 0 and 0 <= pos <= N_train. */
lctw_status lctw_data_set_cursor(lctw_data *d, const lctw_data_cursor *c);

/* out = x·s/σ_data + μ (denormalize) or (z − μ)/s·σ_data (normalize) for x of shape
 * (n, C, H, W) or (C, H, W), any device; out has x's shape and may be x itself. With
 * normalize = 0 both copy. */
lctw_status lctw_data_denormalize(const lctw_data *d, const lctw_tensor *x, lctw_tensor *out);
lctw_status lctw_data_normalize(const lctw_data *d, const lctw_tensor *z, lctw_tensor *out);

/* Raw latents of the held-out rows, a new (n_holdout, C, H, W) CPU tensor (normalised instead
 * when normalized = 1). Fails with LCTW_EINVAL when there is no held-out split. */
lctw_status lctw_data_holdout(const lctw_data *d, int normalized, lctw_tensor **out);
/* n raw training latents without replacement, order from a Fisher–Yates shuffle with
 * (seed, d->stream+3); does not touch the cursor. out: a new (n, C, H, W) CPU tensor. */
lctw_status lctw_data_sample(const lctw_data *d, int64_t n, uint64_t seed, lctw_tensor **out);

/* Statistics of all N raw rows (cached in d; the pointer stays valid while d lives). */
lctw_status lctw_data_stats(lctw_data *d, const lctw_latent_stats **out);
/* Writes μ and s to path as safetensors {"mean", "std"} (C, H, W), loadable via stats_path. */
lctw_status lctw_data_save_stats(const lctw_data *d, const char *path);

/* ---- synthetic latent-like data ------------------------------------------------------------
 * Per sample and source channel k = 1…C, a smooth Gaussian field
 *     f_k(h, w) = √(1−η²) · Σ_{j=1..J} (a_j cos θ_j + b_j sin θ_j)/√J + η · ε(h, w),
 *     θ_j = 2π (u_j h/H + v_j w/W),  a_j, b_j, ε ~ N(0, 1),  u_j, v_j ~ U(−freq, freq),
 * which is exactly N(0, 1) at every element (a cos θ + b sin θ ~ N(0, 1) for any θ). Channels
 * are mixed by a fixed matrix L (rows of I + κ·G normalised to unit length, G ~ N(0, 1) from the
 * data-set seed), so corr(channel c, channel c') = (L Lᵀ)_cc'; then
 *     z_c = m_c(h, w) + g_c · Σ_k L_ck f_k + outliers,
 * with a fixed position-dependent mean m_c (a channel offset ~ N(0, 0.5²) plus a smooth pattern
 * of std 0.3·g_c) and a channel scale g_c ~ U(0.6, 1). Outliers: each element independently with
 * probability `outliers` (per channel if rates is given) gets a spike ±g_c·M, M = spike·V^(−1/tail)
 * capped at spike_max, V ~ U(0, 1), sign ±1 with probability 1/2: a Pareto tail of index `tail`
 * (smaller = heavier). Without outliers the data are Gaussian (excess kurtosis 0).
 * Sample i uses Philox blocks from i·(blocks per sample) of each stream, so the data depend only
 * on (seed, stream, options) and sample i is the same whatever n is. The defaults (outliers 5e-4,
 * tail 4, spike 5, spike_max 25) give a pooled excess kurtosis ≈ 2, P(|z−μ|>5σ) ≈ 4e-4 and
 * max ≈ 25σ, close to the SD1 UTKFace latents (1.88, 3.9e-4, 25). */
typedef struct lctw_synth_opts {
    int64_t n;           /* samples (default 1024) */
    int c, h, w;         /* shape (default 4×32×32) */
    uint64_t seed;       /* default 0 */
    uint32_t stream;     /* default LCTW_STREAM_SYNTH */
    double outliers;     /* spike probability per element (default 5e-4) */
    const double *rates; /* per-channel probabilities (c entries) instead, or NULL */
    double tail;         /* Pareto tail index of spike magnitudes (default 4) */
    double spike;        /* smallest spike, in channel std units (default 5) */
    double spike_max;    /* largest spike (default 25) */
    double mixing;       /* κ: channel correlation strength (default 0.7; 0 = independent) */
    int waves;           /* J per field (default 4) */
    double freq;         /* highest frequency, cycles per image (default 2) */
    double noise;        /* η: white-noise share of the field's std (default 0.2) */
} lctw_synth_opts;

/* Constants of a generated set (owned arrays; release with lctw_synth_info_release). */
typedef struct lctw_synth_info {
    int c;
    double *mixing;     /* L, c×c row-major (unit rows) */
    double *chan_scale; /* g_c */
    double *mean;       /* m_c(h, w), c·h·w */
    int64_t spikes;     /* outlier elements generated */
} lctw_synth_info;

void lctw_synth_opts_init(lctw_synth_opts *o);
/* A new (n, c, h, w) CPU tensor; info may be NULL. */
lctw_status lctw_synth_generate(lctw_tensor **out, const lctw_synth_opts *o, lctw_synth_info *info);
void lctw_synth_info_release(lctw_synth_info *info);
/* lctw_synth_generate + lctw_data_from_tensor (dtype "synthetic"). */
lctw_status lctw_data_synthetic(lctw_data **out, const lctw_synth_opts *so,
                                const lctw_data_opts *o);

#ifdef __cplusplus
}
#endif

#endif
