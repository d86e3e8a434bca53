/* model.h — a network F plus the consistency parameterisation (ALGORITHM.md §3):
 *
 *   f(x, σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x, c_noise(σ))
 *   c_skip = σ_d² / ((σ − σ_min)² + σ_d²),  c_out = (σ − σ_min)·σ_d / √(σ² + σ_d²),
 *   c_in = 1 / √(σ² + σ_d²),  c_noise = 250·ln(σ + 1e-44)
 *
 * with σ_min = 0.002, σ_d = 0.5. Each network kind (U-Net, DiT) fills an lctw_model_vt; the
 * rest (parameter buffers, the wrapper, load/save by name, summaries) is shared.
 */
#ifndef LCTW_MODEL_H
#define LCTW_MODEL_H

#include "core/autograd.h"
#include "params.h"

#define LCTW_SIGMA_MIN 0.002
#define LCTW_SIGMA_MAX 80.0
#define LCTW_SIGMA_DATA 0.5

typedef struct lctw_model lctw_model;

typedef struct lctw_model_vt {
    const char *kind; /* "unet", "dit" */
    /* y = F(x, c_noise): x (B, C, H, W) already scaled by c_in, c_noise (B); y (B, C, H, W). */
    lctw_status (*net_forward)(lctw_model *m, lctw_ctx *c, lctw_tensor *x, lctw_tensor *c_noise,
                               lctw_tensor **y);
    /* The reference initialisation (§2A / §2B) from a seed. */
    lctw_status (*init)(lctw_model *m, uint64_t seed);
    /* A one-paragraph summary of the configuration (no trailing newline). */
    void (*describe)(const lctw_model *m, char *buf, size_t n);
    void (*free_impl)(lctw_model *m);
} lctw_model_vt;

struct lctw_model {
    const lctw_model_vt *vt;
    lctw_params params;
    int in_ch, height, width; /* input shape C×H×W */
    char *config_json;        /* the configuration, stored in checkpoints (owned) */
    void *impl;               /* the network's own struct */
};

/* c_skip, c_out, c_in, c_noise of σ (double precision; callers round to float). */
void lctw_cm_coeffs(double sigma, double *c_skip, double *c_out, double *c_in, double *c_noise);

/* f(x, σ): x (B, C, H, W) on the context's device, sigma (B). Records on the tape when grad is
 * on; the result is an arena tensor. F is returned in *raw too when raw is not NULL. */
lctw_status lctw_model_forward(lctw_model *m, lctw_ctx *c, lctw_tensor *x, lctw_tensor *sigma,
                               lctw_tensor **y, lctw_tensor **raw);

void lctw_model_free(lctw_model *m);

/* Checkpoint I/O by reference names (safetensors). load: every model parameter must be in the
 * file with the same shape (extra entries starting with "_" and EDM's "*.resample_filter"
 * buffers are ignored; other unknown names are an error naming them unless allow_extra). */
lctw_status lctw_model_load(lctw_model *m, const char *path, int allow_extra);
lctw_status lctw_model_save(const lctw_model *m, const char *path);

#endif
