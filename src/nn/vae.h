/* vae.h — small latent decoders/encoders for previews and round trips (../shared/data/taesd):
 *
 *   VAElight decoder  SD1 latent → RGB in [-1, 1] at 8×: four conv branches (1×, 2×, 4×, 8×; keys
 *                     c2v*, c3v*, c4v*, cv*) of 3×3 convs and 2×2/s2 transposed convs with
 *                     leaky-ReLU(0.01), each bilinearly up-sampled to 8× and summed.
 *   VAElight encoder  RGB in [-1, 1] → SD1 latent: path A (cv1..cv6, 2×2/s2 convs) + path B
 *                     (8×8 average pool, cv14..cv18).
 *   TAESD decoder     latent (any channel count C; TAEF2 has 32) → RGB ≈ [0, 1]: 3·tanh(z/3),
 *                     conv, ReLU, Blocks and three nearest-2× stages (keys are the upstream
 *                     nn.Sequential indices "1.weight", "3.conv.0.weight", …); Blocks carrying
 *                     "N.pool.0/1/3" add the TAEF2 GroupNorm branch.
 *   TAESD encoder     RGB in [0, 1] → latent (C channels).
 *
 * The kind is detected from the tensor names and every weight's shape is validated at load time.
 * Latents are in the space of the data files: SD1 latents are ×0.18215 (the VAElight models apply
 * 1/0.18215 on decode and ×0.18215 on encode); TAESD latents are used as they are. Images are
 * N×3×H×W in the model's range (range_lo, range_hi). Compute runs on the CPU in float32, in
 * chunks of samples so the activations stay small; results are new CPU tensors.
 */
#ifndef LCTW_VAE_H
#define LCTW_VAE_H

#include "core/tensor.h"

typedef enum {
    LCTW_VAE_VAELIGHT_DECODER = 0,
    LCTW_VAE_VAELIGHT_ENCODER,
    LCTW_VAE_TAESD_DECODER,
    LCTW_VAE_TAESD_ENCODER,
} lctw_vae_kind;

typedef struct lctw_vae {
    lctw_vae_kind kind;
    int latent_channels;
    float range_lo, range_hi; /* image range: decode output, encode input */
    float latent_scale;       /* data-space latent = latent_scale · the network's latent */
    char *path;
    lctw_device dev; /* where the weights live and decode/encode run (CPU after load) */
    int n;           /* weights, by name */
    char **names;
    lctw_tensor **w;
} lctw_vae;

/* Loads and validates path (safetensors); errors name the file and what is wrong. */
lctw_status lctw_vae_load(lctw_vae **out, const char *path);
void lctw_vae_free(lctw_vae *v);
const char *lctw_vae_kind_name(lctw_vae_kind k); /* "vaelight_decoder", "taesd_encoder", … */
int lctw_vae_is_decoder(const lctw_vae *v);

/* Moves the weights to dev (all or none: on failure v is unchanged); decode/encode then run there. */
lctw_status lctw_vae_to(lctw_vae *v, lctw_device dev);

/* z (N, C, h, w) [or (C, h, w)], any device/strides → images (N, 3, 8h, 8w) on the CPU. */
lctw_status lctw_vae_decode(lctw_vae *v, lctw_tensor *z, lctw_tensor **img);
/* images (N, 3, H, W) [or (3, H, W)], H and W multiples of 8 → latents (N, C, H/8, W/8). */
lctw_status lctw_vae_encode(lctw_vae *v, lctw_tensor *img, lctw_tensor **z);

#endif
