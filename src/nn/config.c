/* config.c — see config.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "io/json.h"
#include "io/safetensors.h"

/* ---- reading ---- */

static lctw_status get_int(const lctw_json *o, const char *k, int *v, int required) {
    const lctw_json *j = lctw_json_get(o, k);
    if (!j) return required ? LCTW_FAIL(LCTW_EFORMAT, "model config: missing '%s'", k) : LCTW_OK;
    if (j->type != LCTW_JSON_NUMBER || !j->is_int || j->i < 0 || j->i > 1 << 24)
        return LCTW_FAIL(LCTW_EFORMAT, "model config: '%s' must be a non-negative integer", k);
    *v = (int)j->i;
    return LCTW_OK;
}

static lctw_status get_ints(const lctw_json *o, const char *k, int *v, int *n, int max) {
    const lctw_json *j = lctw_json_get(o, k);
    if (!j) return LCTW_FAIL(LCTW_EFORMAT, "model config: missing '%s'", k);
    if (j->type != LCTW_JSON_ARRAY || (int)j->len > max)
        return LCTW_FAIL(LCTW_EFORMAT, "model config: '%s' must be an array of at most %d integers", k,
                         max);
    for (size_t i = 0; i < j->len; i++) {
        const lctw_json *e = j->items[i];
        if (e->type != LCTW_JSON_NUMBER || !e->is_int || e->i < 0 || e->i > 1 << 24)
            return LCTW_FAIL(LCTW_EFORMAT, "model config: '%s' must hold integers", k);
        v[i] = (int)e->i;
    }
    *n = (int)j->len;
    return LCTW_OK;
}

static lctw_status get_str(const lctw_json *o, const char *k, const char **v) {
    const lctw_json *j = lctw_json_get(o, k);
    if (!j) return LCTW_OK;
    if (j->type != LCTW_JSON_STRING)
        return LCTW_FAIL(LCTW_EFORMAT, "model config: '%s' must be a string", k);
    *v = j->str;
    return LCTW_OK;
}

static lctw_status parse_doc(lctw_json_doc **doc, const char *json) {
    LCTW_TRY(lctw_json_parse(doc, json, strlen(json), NULL));
    if (lctw_json_root(*doc)->type != LCTW_JSON_OBJECT) {
        lctw_json_free(*doc);
        return LCTW_FAIL(LCTW_EFORMAT, "model config is not a JSON object");
    }
    return LCTW_OK;
}

lctw_status lctw_dit_config_from_json(lctw_dit_config *c, const char *json) {
    lctw_json_doc *doc;
    LCTW_TRY(parse_doc(&doc, json));
    const lctw_json *o = lctw_json_root(doc);
    memset(c, 0, sizeof *c);
    c->mlp_ratio = 4.0;
    c->qk_norm = 1;
    lctw_status s = LCTW_OK;
    const char *act = NULL;
    if (lctw_json_get(o, "arch")) { /* reference fixture format */
        int res = 0;
        s = get_int(o, "input_size", &res, 0);
        if (!s) c->height = c->width = res;
        if (!s) s = get_int(o, "height", &c->height, res == 0);
        if (!s) s = get_int(o, "width", &c->width, res == 0);
        if (!s) s = get_int(o, "in_channels", &c->in_ch, 1);
        if (!s) s = get_int(o, "patch_size", &c->patch, 1);
        if (!s) s = get_int(o, "hidden_size", &c->hidden, 1);
        if (!s) s = get_int(o, "num_heads", &c->heads, 1);
    } else {
        int shape[3], n = 0;
        s = get_ints(o, "in_shape", shape, &n, 3);
        if (!s && n != 3) s = LCTW_FAIL(LCTW_EFORMAT, "model config: in_shape needs C, H, W");
        if (!s) c->in_ch = shape[0], c->height = shape[1], c->width = shape[2];
        if (!s) s = get_int(o, "patch", &c->patch, 1);
        if (!s) s = get_int(o, "hidden", &c->hidden, 1);
        if (!s) s = get_int(o, "heads", &c->heads, 1);
    }
    if (!s) s = get_int(o, "depth", &c->depth, 1);
    const lctw_json *mr = lctw_json_get(o, "mlp_ratio");
    if (!s && mr) {
        if (mr->type != LCTW_JSON_NUMBER || !(mr->num > 0))
            s = LCTW_FAIL(LCTW_EFORMAT, "model config: 'mlp_ratio' must be a positive number");
        else
            c->mlp_ratio = mr->num;
    }
    const lctw_json *qk = lctw_json_get(o, "qk_norm");
    if (!s && qk) {
        if (qk->type != LCTW_JSON_BOOL)
            s = LCTW_FAIL(LCTW_EFORMAT, "model config: 'qk_norm' must be true or false");
        else
            c->qk_norm = qk->boolean;
    }
    if (!s) s = get_str(o, "act", &act);
    if (!s && act) {
        if (!strcmp(act, "gelu"))
            c->act = LCTW_ACT_GELU;
        else if (!strcmp(act, "relu"))
            c->act = LCTW_ACT_RELU;
        else
            s = LCTW_FAIL(LCTW_EINVAL, "unknown activation '%s' (expected gelu or relu)", act);
    }
    lctw_json_free(doc);
    return s ? s : lctw_dit_config_check(c);
}

lctw_status lctw_model_from_config(lctw_model **out, const char *kind, const char *json,
                                   lctw_device dev, uint64_t seed) {
    *out = NULL;
    if (!strcmp(kind, "unet")) {
        lctw_unet_config c;
        LCTW_TRY(lctw_unet_config_from_json(&c, json, strlen(json)));
        return lctw_unet_new(out, &c, dev, seed);
    }
    if (!strcmp(kind, "dit")) {
        lctw_dit_config c;
        LCTW_TRY(lctw_dit_config_from_json(&c, json));
        return lctw_dit_new(out, &c, dev, seed);
    }
    return LCTW_FAIL(LCTW_EINVAL, "unknown model kind '%s' (expected unet or dit)", kind);
}

lctw_status lctw_model_from_file(lctw_model **out, const char *path, lctw_device dev) {
    *out = NULL;
    lctw_st_file *f;
    LCTW_TRY(lctw_st_open(&f, path));
    const char *kind = lctw_st_metadata_get(f, "lctw.kind");
    const char *cfg = lctw_st_metadata_get(f, "lctw.config");
    lctw_status s = LCTW_OK;
    char kbuf[16] = "";
    if (kind) {
        snprintf(kbuf, sizeof kbuf, "%s", kind);
    } else if ((cfg = lctw_st_metadata_get(f, "config"))) { /* a reference fixture */
        snprintf(kbuf, sizeof kbuf, "%s", strstr(cfg, "\"DiT\"") ? "dit" : "unet");
    }
    char *cfg_copy = cfg ? strdup(cfg) : NULL;
    if (!kbuf[0] || !cfg)
        s = LCTW_FAIL(LCTW_EFORMAT,
                      "no model configuration in the metadata (lctw.kind / lctw.config); "
                      "build the model and use model:load(path) instead");
    else if (!cfg_copy)
        s = LCTW_FAIL(LCTW_ENOMEM, "out of memory");
    lctw_st_close(f);
    if (s == LCTW_OK) s = lctw_model_from_config(out, kbuf, cfg_copy, dev, 0);
    free(cfg_copy);
    if (s != LCTW_OK) {
        lctw_error_prefix("%s", path);
        return s;
    }
    s = lctw_model_load(*out, path, 0);
    if (s != LCTW_OK) {
        lctw_model_free(*out);
        *out = NULL;
    }
    return s;
}
