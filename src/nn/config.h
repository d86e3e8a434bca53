/* config.h — network configurations as JSON (stored in checkpoints as "lctw.config" with the
 * kind in "lctw.kind", so a checkpoint rebuilds its own model), and building a model from a
 * checkpoint. The networks write their configuration with the reference constructor's keys
 * (as the fixtures of scripts/make_fixtures.py do), so fixtures load the same way. */
#ifndef LCTW_NN_CONFIG_H
#define LCTW_NN_CONFIG_H

#include "dit.h"
#include "unet.h"

/* A DiT configuration from JSON: the reference constructor's keys (what dit.c writes as
 * m->config_json: arch, input_size or height/width, patch_size, in_channels, hidden_size,
 * depth, num_heads, mlp_ratio, act, qk_norm) or the Lua option names (in_shape, patch, hidden,
 * depth, heads, …). The U-Net's is lctw_unet_config_from_json (unet.h). */
lctw_status lctw_dit_config_from_json(lctw_dit_config *cfg, const char *json);

/* Builds a model from kind ("unet" | "dit") and config JSON. */
lctw_status lctw_model_from_config(lctw_model **out, const char *kind, const char *json,
                                   lctw_device dev, uint64_t seed);
/* Reads "lctw.kind"/"lctw.config" (or a fixture's "config") from a safetensors file, builds the
 * model and loads its weights. */
lctw_status lctw_model_from_file(lctw_model **out, const char *path, lctw_device dev);

#endif
