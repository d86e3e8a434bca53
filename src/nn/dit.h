/* dit.h — unconditional DiT (ALGORITHM.md §2B): patch embedding, adaLN-Zero blocks with
 * optional qk-norm, GELU-tanh or ReLU MLP. Parameter names follow facebookresearch/DiT and timm
 * (scripts/lctw_ref.py). */
#ifndef LCTW_DIT_H
#define LCTW_DIT_H

#include "model.h"

typedef enum { LCTW_ACT_GELU = 0, LCTW_ACT_RELU } lctw_act_kind;

typedef struct lctw_dit_config {
    int in_ch, height, width; /* input C×H×W */
    int patch;                /* 2, 4 or 8 */
    int hidden;               /* D */
    int depth;
    int heads;
    double mlp_ratio; /* 4 */
    lctw_act_kind act;
    int qk_norm;
} lctw_dit_config;

/* Sizes S/B/L/XL (§2B) with the given patch on in_ch×height×width; EINVAL for other names. */
lctw_status lctw_dit_config_size(lctw_dit_config *cfg, const char *size, int patch, int in_ch,
                                 int height, int width);
lctw_status lctw_dit_config_check(const lctw_dit_config *cfg);
lctw_status lctw_dit_new(lctw_model **out, const lctw_dit_config *cfg, lctw_device dev,
                         uint64_t seed);
/* Parameter counts of a configuration without allocating it: trainable elements, and frozen ones
 * (the fixed pos_embed). Either pointer may be NULL. */
lctw_status lctw_dit_count_params(const lctw_dit_config *cfg, int64_t *trainable, int64_t *frozen);

#endif
