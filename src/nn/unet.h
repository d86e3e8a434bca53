/* unet.h — the paper's network: EDM "DhariwalUNet" (ADM) with non-scaling LayerNorm
 * (ALGORITHM.md §2A). Parameter names are those of the reference state_dict
 * (scripts/lctw_ref.py, from NVlabs/edm training/networks.py). */
#ifndef LCTW_UNET_H
#define LCTW_UNET_H

#include "model.h"

typedef enum {
    LCTW_NORM_NSLN = 0,  /* non-scaling LayerNorm over C·H·W, element-wise β, frozen γ = 1 */
    LCTW_NORM_GROUPNORM, /* GroupNorm(min(32, C/4) groups), affine */
    LCTW_NORM_LAYERNORM, /* nn.LayerNorm([C, H, W]), affine */
} lctw_norm_kind;

#define LCTW_UNET_MAX_LEVELS 8

typedef struct lctw_unet_config {
    int in_ch, height, width;      /* input C×H×W (H = W = img_resolution) */
    int model_channels;            /* 128 */
    int channel_mult[LCTW_UNET_MAX_LEVELS];
    int n_levels;                  /* entries of channel_mult (paper: 1,2,3,4) */
    int channel_mult_emb;          /* embedding width = model_channels · this (4 → 512) */
    int num_blocks;                /* per level (4) */
    int attn_res[LCTW_UNET_MAX_LEVELS];
    int n_attn;                    /* resolutions with attention (16, 8) */
    int channels_per_head;         /* 64 */
    lctw_norm_kind norm, last_norm;
} lctw_unet_config;

/* The paper configuration on 4×32×32 (158,355,972 trainable parameters). */
void lctw_unet_config_paper(lctw_unet_config *cfg);
/* Validates (channel counts, resolutions divisible by 2^(levels−1), …) with clear messages. */
lctw_status lctw_unet_config_check(const lctw_unet_config *cfg);
/* Builds the network with its reference initialisation from seed, parameters on dev. */
lctw_status lctw_unet_new(lctw_model **out, const lctw_unet_config *cfg, lctw_device dev,
                          uint64_t seed);
const char *lctw_norm_name(lctw_norm_kind k);
/* Reads a configuration from the reference constructor's JSON (a fixture's or checkpoint's
 * "config": img_resolution, in_channels, model_channels, channel_mult, …, norm, last_norm;
 * missing keys take the paper's values), then checks it. */
lctw_status lctw_unet_config_from_json(lctw_unet_config *cfg, const char *text, size_t len);

#endif
