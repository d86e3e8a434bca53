/* model.c — the consistency wrapper and what every network shares (see model.h). */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/ops/ops.h"
#include "lctw_cuda.h"
#include "io/safetensors.h"

#define LCTW_UNET_MAX_RESAMPLE 64 /* up/down blocks whose filter buffers a checkpoint carries */

void lctw_cm_coeffs(double sigma, double *c_skip, double *c_out, double *c_in, double *c_noise) {
    const double smin = LCTW_SIGMA_MIN, sd = LCTW_SIGMA_DATA;
    double d = sigma - smin;
    *c_skip = sd * sd / (d * d + sd * sd);
    *c_out = d * sd / sqrt(sigma * sigma + sd * sd);
    *c_in = 1.0 / sqrt(sigma * sigma + sd * sd);
    *c_noise = 250.0 * log(sigma + 1e-44);
}

lctw_status lctw_model_forward(lctw_model *m, lctw_ctx *c, lctw_tensor *x, lctw_tensor *sigma,
                               lctw_tensor **y, lctw_tensor **raw) {
    char a[96], b[96];
    if (x->ndim != 4 || x->shape[1] != m->in_ch || x->shape[2] != m->height ||
        x->shape[3] != m->width) {
        int64_t want[4] = {x->ndim ? x->shape[0] : 0, m->in_ch, m->height, m->width};
        return LCTW_FAIL(LCTW_ESHAPE, "model input is %s, expected %s (B×C×H×W)",
                         lctw_tensor_shape_str(a, sizeof a, x), lctw_shape_str(b, sizeof b, 4, want));
    }
    int64_t B = x->shape[0];
    if (sigma->ndim != 1 || sigma->shape[0] != B)
        return LCTW_FAIL(LCTW_ESHAPE, "sigma is %s, expected one value per sample (%lld)",
                         lctw_tensor_shape_str(a, sizeof a, sigma), (long long)B);
    if (lctw_tensor_device(sigma) != LCTW_DEV_CPU || lctw_tensor_device(x) != c->dev)
        return LCTW_FAIL(LCTW_EDEVICE, "model forward: x must be on the model's device, sigma on the cpu");
    /* per-sample coefficients (small: 4·B values), computed on the host; on a CUDA context
     * they travel in one copy into a (4, B) arena tensor whose rows are the four vectors */
    const float *sp = lctw_tensor_data(sigma);
    int64_t n4 = 4 * B, one = 1;
    float stack_buf[4 * 256], *h = n4 <= 4 * 256 ? stack_buf : malloc((size_t)n4 * sizeof *h);
    if (!h) return LCTW_FAIL(LCTW_ENOMEM, "model forward: out of memory for %lld coefficients",
                             (long long)n4);
    lctw_status s = LCTW_OK;
    for (int64_t i = 0; i < B && s == LCTW_OK; i++) {
        if (!(sp[i] > 0.0f)) {
            s = LCTW_FAIL(LCTW_EINVAL, "sigma[%lld] = %g: noise levels must be > 0", (long long)i + 1,
                          (double)sp[i]);
            break;
        }
        double s_, o_, i_, n_;
        lctw_cm_coeffs(sp[i], &s_, &o_, &i_, &n_);
        h[i] = (float)s_;
        h[B + i] = (float)o_;
        h[2 * B + i] = (float)i_;
        h[3 * B + i] = (float)n_;
    }
    lctw_tensor *all = NULL, *cs = NULL, *co = NULL, *ci = NULL, *cn = NULL;
    if (s == LCTW_OK) s = lctw_arena_tensor(&c->arena, &all, 1, &n4);
    if (s == LCTW_OK) {
        if (c->dev == LCTW_DEV_CUDA)
            s = lctw_cuda_h2d(lctw_tensor_data(all), h, (size_t)n4 * sizeof *h);
        else
            memcpy(lctw_tensor_data(all), h, (size_t)n4 * sizeof *h);
    }
    if (h != stack_buf) free(h);
    lctw_tensor **rows[4] = {&cs, &co, &ci, &cn};
    for (int r = 0; r < 4 && s == LCTW_OK; r++)
        s = lctw_arena_strided(&c->arena, rows[r], all, 1, &B, &one, all->offset + r * B);
    LCTW_TRY(s);
    lctw_tensor *xin, *F, *skip, *out;
    LCTW_TRY(lctw_op_scale_rows(c, x, ci, &xin));
    LCTW_TRY(m->vt->net_forward(m, c, xin, cn, &F));
    LCTW_TRY(lctw_op_scale_rows(c, F, co, &out));
    LCTW_TRY(lctw_op_scale_rows(c, x, cs, &skip));
    LCTW_TRY(lctw_op_add(c, skip, out, y));
    if (raw) *raw = F;
    return LCTW_OK;
}

void lctw_model_free(lctw_model *m) {
    if (!m) return;
    if (m->vt && m->vt->free_impl) m->vt->free_impl(m);
    lctw_params_release(&m->params);
    free(m->config_json);
    free(m);
}

static int ignorable(const char *name) {
    size_t n = strlen(name);
    const char *suf = ".resample_filter";
    size_t k = strlen(suf);
    return name[0] == '_' || (n >= k && !strcmp(name + n - k, suf));
}

lctw_status lctw_model_load(lctw_model *m, const char *path, int allow_extra) {
    lctw_st_file *f;
    LCTW_TRY(lctw_st_open(&f, path));
    lctw_status s = LCTW_OK;
    /* every parameter present with the right shape, checked before anything is written so a bad
     * file never leaves a half-loaded model */
    for (int i = 0; i < m->params.n && s == LCTW_OK; i++) {
        const lctw_param *p = &m->params.p[i];
        const lctw_st_entry *e = lctw_st_find(f, p->name);
        char a[96], b[96];
        if (!e) {
            s = LCTW_FAIL(LCTW_EFORMAT, "%s: parameter '%s' is missing", path, p->name);
            break;
        }
        if (!lctw_st_dtype_loadable(e->dtype)) {
            s = LCTW_FAIL(LCTW_EFORMAT, "%s: tensor '%s' has dtype %s; parameters must be float",
                          path, p->name, lctw_st_dtype_name(e->dtype));
            break;
        }
        int same = e->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = e->shape[d] == p->shape[d];
        if (!same)
            s = LCTW_FAIL(LCTW_EFORMAT, "%s: tensor '%s': shape %s in file, model expects %s", path,
                          p->name, e->ndim <= 4 ? lctw_shape_str(a, sizeof a, e->ndim, e->shape) : "(>4-D)",
                          lctw_shape_str(b, sizeof b, p->ndim, p->shape));
    }
    for (int i = 0; i < lctw_st_count(f) && s == LCTW_OK && !allow_extra; i++) {
        const char *nm = lctw_st_entry_at(f, i)->name;
        if (!ignorable(nm) && lctw_params_find(&m->params, nm) < 0)
            s = LCTW_FAIL(LCTW_EFORMAT, "%s: tensor '%s' is not a parameter of this %s model",
                          path, nm, m->vt->kind);
    }
    for (int i = 0; i < m->params.n && s == LCTW_OK; i++)
        s = lctw_st_load_into(f, m->params.p[i].name, m->params.p[i].t);
    lctw_st_close(f);
    return s;
}

/* EDM's up/down UNetBlocks hold a constant buffer "resample_filter" (1×1×2×2, all 1/4) in conv0
 * and skip; it is in the reference state_dict, so a checkpoint must carry it for PyTorch's
 * load_state_dict(strict=True). Returns the number of such names written into names. */
static int resample_buffers(const lctw_model *m, char (*names)[LCTW_PARAM_NAME], int max) {
    int k = 0;
    if (strcmp(m->vt->kind, "unet")) return 0;
    for (int i = 0; i < m->params.n; i++) {
        const char *nm = m->params.p[i].name;
        const char *suf = ".conv0.weight";
        size_t n = strlen(nm), ls = strlen(suf);
        if (n <= ls || strcmp(nm + n - ls, suf)) continue;
        size_t pl = n - ls; /* block prefix, e.g. "enc.16x16_down" */
        if (!((pl > 5 && !strncmp(nm + pl - 5, "_down", 5)) || (pl > 3 && !strncmp(nm + pl - 3, "_up", 3))))
            continue;
        if (k + 2 > max) break;
        snprintf(names[k++], LCTW_PARAM_NAME, "%.*s.conv0.resample_filter", (int)pl, nm);
        snprintf(names[k++], LCTW_PARAM_NAME, "%.*s.skip.resample_filter", (int)pl, nm);
    }
    return k;
}

lctw_status lctw_model_save(const lctw_model *m, const char *path) {
    int n = m->params.n, maxb = 2 * LCTW_UNET_MAX_RESAMPLE;
    const char **names = malloc((size_t)(n + maxb) * sizeof *names);
    lctw_tensor **ts = malloc((size_t)(n + maxb) * sizeof *ts);
    char(*bnames)[LCTW_PARAM_NAME] = malloc((size_t)maxb * sizeof *bnames);
    lctw_tensor *filt = NULL;
    int64_t fs[4] = {1, 1, 2, 2};
    lctw_status s = (!names || !ts || !bnames) ? LCTW_FAIL(LCTW_ENOMEM, "model save: out of memory")
                                               : LCTW_OK;
    int nb = 0;
    if (s == LCTW_OK) {
        for (int i = 0; i < n; i++) {
            names[i] = m->params.p[i].name;
            ts[i] = m->params.p[i].t;
        }
        nb = resample_buffers(m, bnames, maxb);
        if (nb) s = lctw_tensor_full(&filt, 4, fs, LCTW_DEV_CPU, 0.25f);
        for (int i = 0; i < nb && s == LCTW_OK; i++) {
            names[n + i] = bnames[i];
            ts[n + i] = filt;
        }
    }
    const char *mk[2] = {"lctw.kind", "lctw.config"};
    const char *mv[2] = {m->vt->kind, m->config_json ? m->config_json : "{}"};
    if (s == LCTW_OK) s = lctw_st_save(path, n + nb, names, ts, 2, mk, mv);
    lctw_tensor_release(filt);
    free(names);
    free(ts);
    free(bnames);
    return s;
}
