/* sample.h — one- and multi-step consistency sampling (ALGORITHM.md §5).
 *
 *   1 step:  x_T = σ_max·z,  x₀ = f(x_T, σ_max)
 *   k steps: indices ts = (t₀ < t₁ < … < t_k) on a `grid`-point Karras grid (t₀ = 0 is σ_max,
 *            t = grid−1 is σ_min): for consecutive (a, b): x₀ = f(x, σ_a);
 *            σ_b' = clip(σ_b, σ_min, σ_max); x = x₀ + √(σ_b'² − σ_min²)·z_new.
 *            The paper's 2-step sampler is grid = 641, ts = (0, 420, 640) (σ_mid = 0.52856).
 * Noise comes from Philox stream `stream` of `seed` (one draw per step, in order), so the same
 * (seed, n) gives the same samples on any device. Output: normalised latents (the data space of
 * training); the caller de-normalises. Runs without gradients, in batches of at most `batch`.
 */
#ifndef LCTW_SAMPLE_H
#define LCTW_SAMPLE_H

#include "nn/model.h"

#define LCTW_SAMPLE_MAX_STEPS 64

typedef struct lctw_sample_opts {
    int64_t n;      /* samples */
    int grid;       /* Karras grid points for ts (641 in the paper) */
    int n_ts;       /* entries of ts (2 for one step: {0, grid−1}) */
    int ts[LCTW_SAMPLE_MAX_STEPS + 1];
    uint64_t seed;
    uint32_t stream;
    int64_t batch;  /* forward batch (0: 64) */
} lctw_sample_opts;

/* Fills opts for `steps` = 1 (ts 0, grid−1) or 2 (ts 0, 420, 640 on 641): the paper's samplers;
 * for steps > 2, ts are spread evenly over the grid. */
lctw_status lctw_sample_opts_default(lctw_sample_opts *o, int64_t n, int steps, uint64_t seed);

/* out: (n, C, H, W) CPU tensor, allocated by the caller. ctx: a context on the model's device
 * (its arena is reset between batches). On a CUDA context the chain runs on the device and
 * gives the CPU samples up to the forward's rounding. */
lctw_status lctw_sample(lctw_model *m, lctw_ctx *ctx, const lctw_sample_opts *o,
                        lctw_tensor *out);

#endif
