/* optim.c — RAdam / Adam / AdamW as in PyTorch 1.13, EMA with several decays, gradient-norm
 * clipping and a NaN/Inf scan over flat float32 buffers (see optim.h for the formulas; ALGORITHM.md
 * §4.5, §4.6).
 *
 * Each update is one pass over the trainable ranges with every step-dependent factor (bias
 * corrections, rectification, lr) folded into a few float scalars computed in double; the loops
 * are plain float arithmetic on restrict pointers so the compiler can vectorise them.
 */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/tmath.h"
#include "lctw_cuda_ct.h"
#include "lctw_cuda_ops.h"

static const char *dev_name(lctw_device d) { return d == LCTW_DEV_CUDA ? "cuda" : "cpu"; }

#ifdef __SSE2__
#include <emmintrin.h>
#endif

static const char *const KIND_NAMES[LCTW_OPTIM_COUNT] = {"radam", "adam", "adamw"};

const char *lctw_optim_kind_name(lctw_optim_kind k) {
    return (unsigned)k < LCTW_OPTIM_COUNT ? KIND_NAMES[k] : "?";
}

int lctw_optim_kind_from_name(const char *name, lctw_optim_kind *out) {
    for (int k = 0; k < LCTW_OPTIM_COUNT; k++)
        if (!strcmp(name, KIND_NAMES[k])) {
            *out = (lctw_optim_kind)k;
            return 1;
        }
    return 0;
}

void lctw_optim_config_default(lctw_optim_config *c, lctw_optim_kind kind) {
    c->kind = kind;
    c->lr = 1e-3;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->weight_decay = kind == LCTW_OPTIM_ADAMW ? 1e-2 : 0.0;
}

lctw_status lctw_optim_config_check(const lctw_optim_config *c) {
    if ((unsigned)c->kind >= LCTW_OPTIM_COUNT)
        return LCTW_FAIL(LCTW_EINVAL, "optim: unknown optimizer kind %d", (int)c->kind);
    const char *k = KIND_NAMES[c->kind];
    if (!(c->lr >= 0.0) || !isfinite(c->lr))
        return LCTW_FAIL(LCTW_EINVAL, "%s: invalid learning rate %g (must be finite and >= 0)", k,
                         c->lr);
    if (!(c->eps >= 0.0) || !isfinite(c->eps))
        return LCTW_FAIL(LCTW_EINVAL, "%s: invalid eps %g (must be finite and >= 0)", k, c->eps);
    if (!(c->beta1 >= 0.0 && c->beta1 < 1.0))
        return LCTW_FAIL(LCTW_EINVAL, "%s: invalid beta1 %g (must be in [0, 1))", k, c->beta1);
    if (!(c->beta2 >= 0.0 && c->beta2 < 1.0))
        return LCTW_FAIL(LCTW_EINVAL, "%s: invalid beta2 %g (must be in [0, 1))", k, c->beta2);
    if (!(c->weight_decay >= 0.0) || !isfinite(c->weight_decay))
        return LCTW_FAIL(LCTW_EINVAL, "%s: invalid weight_decay %g (must be finite and >= 0)", k,
                         c->weight_decay);
    return LCTW_OK;
}

/* ---- construction ---------------------------------------------------------------------------- */

void lctw_optim_free(lctw_optim *o) {
    if (!o) return;
    lctw_tensor_release(o->m);
    lctw_tensor_release(o->v);
    free(o->ranges);
    free(o);
}

lctw_status lctw_optim_new(lctw_optim **out, const lctw_optim_config *cfg, int64_t n,
                           lctw_device dev) {
    *out = NULL;
    LCTW_TRY(lctw_optim_config_check(cfg));
    if (n < 0)
        return LCTW_FAIL(LCTW_EINVAL, "%s: number of elements must be >= 0, got %lld",
                         KIND_NAMES[cfg->kind], (long long)n);
    lctw_optim *o = calloc(1, sizeof *o);
    if (!o) return LCTW_FAIL(LCTW_ENOMEM, "optim: out of memory");
    o->cfg = *cfg;
    o->n = n;
    int64_t shape[1] = {n};
    lctw_status s = lctw_tensor_zeros(&o->m, 1, shape, dev);
    if (s == LCTW_OK) s = lctw_tensor_zeros(&o->v, 1, shape, dev);
    if (s == LCTW_OK) {
        lctw_range all = {0, n};
        s = lctw_optim_set_ranges(o, 1, &all);
    }
    if (s != LCTW_OK) {
        lctw_optim_free(o);
        return s;
    }
    *out = o;
    return LCTW_OK;
}

lctw_status lctw_optim_new_params(lctw_optim **out, const lctw_optim_config *cfg,
                                  const lctw_params *ps) {
    *out = NULL;
    if (!ps->data || !ps->grad)
        return LCTW_FAIL(LCTW_EINVAL,
                         "optim: the parameter set is not finalized (no flat buffers)");
    lctw_range *r = malloc((size_t)(ps->n > 0 ? ps->n : 1) * sizeof *r);
    if (!r) return LCTW_FAIL(LCTW_ENOMEM, "optim: out of memory for %d ranges", ps->n);
    int nr = 0;
    for (int i = 0; i < ps->n; i++)
        if (ps->p[i].trainable) r[nr++] = (lctw_range){ps->p[i].offset, ps->p[i].numel};
    lctw_status s = lctw_optim_new(out, cfg, ps->total, ps->dev);
    if (s == LCTW_OK) s = lctw_optim_set_ranges(*out, nr, r);
    free(r);
    if (s != LCTW_OK) {
        lctw_optim_free(*out);
        *out = NULL;
    }
    return s;
}

static int range_cmp(const void *a, const void *b) {
    const lctw_range *x = a, *y = b;
    return x->start < y->start ? -1 : (x->start > y->start ? 1 : 0);
}

lctw_status lctw_optim_set_ranges(lctw_optim *o, int nranges, const lctw_range *ranges) {
    if (nranges < 0)
        return LCTW_FAIL(LCTW_EINVAL, "optim: number of ranges must be >= 0, got %d", nranges);
    for (int i = 0; i < nranges; i++) {
        const lctw_range *r = &ranges[i];
        if (r->start < 0 || r->len < 0 || r->start > o->n || r->len > o->n - r->start)
            return LCTW_FAIL(LCTW_EINDEX,
                             "optim: trainable range %d [%lld, %lld) is outside the "
                             "buffer of %lld elements",
                             i + 1, (long long)r->start, (long long)(r->start + r->len),
                             (long long)o->n);
    }
    lctw_range *rs = malloc((size_t)(nranges > 0 ? nranges : 1) * sizeof *rs);
    if (!rs) return LCTW_FAIL(LCTW_ENOMEM, "optim: out of memory for %d ranges", nranges);
    int k = 0;
    for (int i = 0; i < nranges; i++)
        if (ranges[i].len > 0) rs[k++] = ranges[i];
    qsort(rs, (size_t)k, sizeof *rs, range_cmp);
    int m = 0;
    for (int i = 0; i < k; i++) {
        if (m > 0 && rs[i].start <= rs[m - 1].start + rs[m - 1].len) {
            int64_t end = rs[i].start + rs[i].len, pend = rs[m - 1].start + rs[m - 1].len;
            if (end > pend) rs[m - 1].len = end - rs[m - 1].start;
        } else {
            rs[m++] = rs[i];
        }
    }
    free(o->ranges);
    o->ranges = rs;
    o->nranges = m;
    o->trainable = 0;
    for (int i = 0; i < m; i++)
        o->trainable += rs[i].len;
    return LCTW_OK;
}

lctw_status lctw_optim_reset(lctw_optim *o) {
    o->step = 0;
    LCTW_TRY(lctw_fill(o->m, 0.0f));
    return lctw_fill(o->v, 0.0f);
}

/* ---- the update ------------------------------------------------------------------------------ */

/* Scalars of one step, computed in double as PyTorch does (Python floats), rounded once. */
typedef struct step_coef {
    float wd;    /* coupled decay (RAdam/Adam): g += wd·θ */
    float decay; /* AdamW: θ *= decay (1 − lr·wd) */
    float b1, omb1, b2, omb2;
    float a;      /* θ −= a·m / (√v·s + e)   (rectified RAdam, Adam) */
    float s, e;   /* denominator scale and epsilon */
    int adaptive; /* 0: RAdam's unrectified step θ −= a·m */
} step_coef;

static step_coef step_coefficients(const lctw_optim_config *c, int64_t t) {
    step_coef k;
    double b1 = c->beta1, b2 = c->beta2, tt = (double)t;
    double bc1 = 1.0 - pow(b1, tt), bc2 = 1.0 - pow(b2, tt);
    k.b1 = (float)b1;
    k.omb1 = (float)(1.0 - b1);
    k.b2 = (float)b2;
    k.omb2 = (float)(1.0 - b2);
    k.wd = c->kind == LCTW_OPTIM_ADAMW ? 0.0f : (float)c->weight_decay;
    k.decay = c->kind == LCTW_OPTIM_ADAMW ? (float)(1.0 - c->lr * c->weight_decay) : 1.0f;
    k.adaptive = 1;
    if (c->kind == LCTW_OPTIM_RADAM) {
        double rho_inf = 2.0 / (1.0 - b2) - 1.0;
        double rho_t = rho_inf - 2.0 * tt * pow(b2, tt) / bc2;
        if (rho_t > 5.0) {
            double rect = sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                               ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
            /* lr·m̂·r·√bc2/(√v + eps) */
            k.a = (float)(c->lr * rect * sqrt(bc2) / bc1);
            k.s = 1.0f;
            k.e = (float)c->eps;
        } else {
            k.adaptive = 0;
            k.a = (float)(c->lr / bc1);
            k.s = 1.0f;
            k.e = 0.0f;
        }
    } else {
        /* (lr/bc1)·m / (√v/√bc2 + eps) */
        k.a = (float)(c->lr / bc1);
        k.s = (float)(1.0 / sqrt(bc2));
        k.e = (float)c->eps;
    }
    return k;
}

/* The adaptive step θ −= a·m/(√v·s + e). GCC does not vectorise sqrtf without -fno-math-errno
 * (sqrtf may set errno, so a scalar call stays in the loop: ~3× slower), hence SSE intrinsics on
 * x86-64 (always available there) and the plain loop elsewhere and for the tail. Both do the
 * same float operations in the same order (identical results unless the compiler contracts
 * a·b + c into FMAs, e.g. with NATIVE=1). */
static void update_range(const step_coef *k, int64_t n, float *restrict th, const float *restrict g,
                         float *restrict m, float *restrict v) {
    const float wd = k->wd, decay = k->decay, b1 = k->b1, omb1 = k->omb1, b2 = k->b2,
                omb2 = k->omb2, a = k->a, s = k->s, e = k->e;
    int64_t i = 0;
    if (!k->adaptive) { /* RAdam, ρ_t ≤ 5: v is still updated, the step uses m̂ only */
        for (; i < n; i++) {
            float gi = g[i] + wd * th[i];
            float mi = b1 * m[i] + omb1 * gi;
            m[i] = mi;
            v[i] = b2 * v[i] + omb2 * gi * gi;
            th[i] = th[i] - a * mi;
        }
        return;
    }
#ifdef __SSE2__
    const __m128 vwd = _mm_set1_ps(wd), vdecay = _mm_set1_ps(decay), vb1 = _mm_set1_ps(b1),
                 vomb1 = _mm_set1_ps(omb1), vb2 = _mm_set1_ps(b2), vomb2 = _mm_set1_ps(omb2),
                 va = _mm_set1_ps(a), vs = _mm_set1_ps(s), ve = _mm_set1_ps(e);
    for (; i + 4 <= n; i += 4) {
        __m128 t = _mm_mul_ps(_mm_loadu_ps(th + i), vdecay);
        __m128 gi = _mm_add_ps(_mm_loadu_ps(g + i), _mm_mul_ps(vwd, t));
        __m128 mi = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(vomb1, gi));
        __m128 vi =
            _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(vomb2, gi), gi));
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vi), vs), ve);
        _mm_storeu_ps(th + i, _mm_sub_ps(t, _mm_div_ps(_mm_mul_ps(va, mi), den)));
    }
#endif
    for (; i < n; i++) {
        float t = th[i] * decay;
        float gi = g[i] + wd * t;
        float mi = b1 * m[i] + omb1 * gi;
        float vi = b2 * v[i] + omb2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        th[i] = t - a * mi / (sqrtf(vi) * s + e);
    }
}

static lctw_status check_flat(const char *what, const char *name, const lctw_tensor *t, int64_t n) {
    if (!lctw_tensor_is_contiguous(t))
        return LCTW_FAIL(LCTW_EINVAL, "%s: %s must be contiguous (a flat buffer)", what, name);
    if (lctw_tensor_numel(t) != n)
        return LCTW_FAIL(LCTW_ESHAPE, "%s: %s has %lld elements, expected %lld", what, name,
                         (long long)lctw_tensor_numel(t), (long long)n);
    return LCTW_OK;
}

lctw_status lctw_optim_step(lctw_optim *o, lctw_tensor *params, const lctw_tensor *grad) {
    const char *k = KIND_NAMES[o->cfg.kind];
    LCTW_TRY(lctw_optim_config_check(&o->cfg)); /* lr etc. may have been changed */
    LCTW_TRY(check_flat(k, "params", params, o->n));
    LCTW_TRY(check_flat(k, "grad", grad, o->n));
    if (params->st == grad->st)
        return LCTW_FAIL(LCTW_EINVAL, "%s: params and grad share storage", k);
    lctw_device dev = lctw_tensor_device(o->m);
    if (lctw_tensor_device(params) != dev || lctw_tensor_device(grad) != dev)
        return LCTW_FAIL(LCTW_EDEVICE, "%s: params, grad and the optimizer state must be on one "
                         "device (state on %s, params on %s, grad on %s)", k, dev_name(dev),
                         dev_name(lctw_tensor_device(params)), dev_name(lctw_tensor_device(grad)));
    o->step++;
    step_coef c = step_coefficients(&o->cfg, o->step);
    if (dev == LCTW_DEV_CUDA) {
        lctw_cu_adam ck = {c.wd, c.decay, c.b1, c.omb1, c.b2, c.omb2, c.a, c.s, c.e, c.adaptive};
        float *th = lctw_tensor_data(params), *m = lctw_tensor_data(o->m), *v = lctw_tensor_data(o->v);
        const float *g = lctw_tensor_data(grad);
        for (int r = 0; r < o->nranges; r++) {
            int64_t st = o->ranges[r].start;
            lctw_status s = lctw_cuda_ct_adam(&ck, o->ranges[r].len, th + st, g + st, m + st, v + st);
            if (s != LCTW_OK) {
                o->step--;
                return s;
            }
        }
        return LCTW_OK;
    }
    float *th = lctw_tensor_data(params), *m = lctw_tensor_data(o->m), *v = lctw_tensor_data(o->v);
    const float *g = lctw_tensor_data(grad);
    for (int r = 0; r < o->nranges; r++) {
        int64_t s = o->ranges[r].start;
        update_range(&c, o->ranges[r].len, th + s, g + s, m + s, v + s);
    }
    return LCTW_OK;
}

lctw_status lctw_optim_step_params(lctw_optim *o, lctw_params *ps) {
    if (!ps->data || !ps->grad)
        return LCTW_FAIL(LCTW_EINVAL,
                         "optim: the parameter set is not finalized (no flat buffers)");
    return lctw_optim_step(o, ps->data, ps->grad);
}

/* ---- EMA ------------------------------------------------------------------------------------- */

void lctw_ema_free(lctw_ema *e) {
    if (!e) return;
    for (int i = 0; i < e->count; i++)
        lctw_tensor_release(e->avg[i]);
    free(e);
}

lctw_status lctw_ema_new(lctw_ema **out, int count, const double *decays,
                         const lctw_tensor *theta0) {
    *out = NULL;
    if (count < 1 || count > LCTW_EMA_MAX)
        return LCTW_FAIL(LCTW_EINVAL, "ema: number of decays must be 1..%d, got %d", LCTW_EMA_MAX,
                         count);
    for (int i = 0; i < count; i++)
        if (!(decays[i] >= 0.0 && decays[i] <= 1.0))
            return LCTW_FAIL(LCTW_EINVAL, "ema: decay %d is %g, expected a value in [0, 1]", i + 1,
                             decays[i]);
    int64_t n = lctw_tensor_numel(theta0);
    LCTW_TRY(check_flat("ema", "theta", theta0, n));
    lctw_ema *e = calloc(1, sizeof *e);
    if (!e) return LCTW_FAIL(LCTW_ENOMEM, "ema: out of memory");
    e->n = n;
    int64_t shape[1] = {n};
    lctw_status s = LCTW_OK;
    for (int i = 0; i < count && s == LCTW_OK; i++) {
        e->decay[i] = decays[i];
        s = lctw_tensor_empty(&e->avg[i], 1, shape, lctw_tensor_device(theta0));
        if (s == LCTW_OK) e->count = i + 1;
    }
    if (s == LCTW_OK) s = lctw_ema_reset(e, theta0);
    if (s != LCTW_OK) {
        lctw_ema_free(e);
        return s;
    }
    *out = e;
    return LCTW_OK;
}

lctw_status lctw_ema_reset(lctw_ema *e, const lctw_tensor *theta) {
    LCTW_TRY(check_flat("ema", "theta", theta, e->n));
    for (int i = 0; i < e->count; i++) LCTW_TRY(lctw_tensor_copy(e->avg[i], theta));
    e->updates = 0;
    return LCTW_OK;
}

lctw_status lctw_ema_update(lctw_ema *e, const lctw_tensor *theta) {
    LCTW_TRY(check_flat("ema", "theta", theta, e->n));
    const float *th = lctw_tensor_data(theta);
    float w[LCTW_EMA_MAX];
    for (int i = 0; i < e->count; i++)
        w[i] = (float)(1.0 - e->decay[i]);
    if (e->count && lctw_tensor_device(e->avg[0]) != lctw_tensor_device(theta))
        return LCTW_FAIL(LCTW_EDEVICE, "ema: theta is on %s but the averages are on %s",
                         dev_name(lctw_tensor_device(theta)), dev_name(lctw_tensor_device(e->avg[0])));
    if (lctw_tensor_device(theta) == LCTW_DEV_CUDA) {
        for (int i = 0; i < e->count; i++)
            LCTW_TRY(lctw_cuda_ct_ema(lctw_tensor_data(e->avg[i]), th, w[i], e->n));
        e->updates++;
        return LCTW_OK;
    }
    enum { CHUNK = 4096 }; /* θ chunk stays in L1 while every copy is updated */
    for (int64_t c0 = 0; c0 < e->n; c0 += CHUNK) {
        int64_t len = e->n - c0 < CHUNK ? e->n - c0 : CHUNK;
        const float *restrict x = th + c0;
        for (int i = 0; i < e->count; i++) {
            float *restrict a = lctw_tensor_data(e->avg[i]) + c0;
            const float wi = w[i];
            for (int64_t j = 0; j < len; j++)
                a[j] += wi * (x[j] - a[j]);
        }
    }
    e->updates++;
    return LCTW_OK;
}

int lctw_ema_find(const lctw_ema *e, double d) {
    for (int i = 0; i < e->count; i++)
        if (fabs(e->decay[i] - d) <= 1e-12) return i;
    return -1;
}

/* ---- gradient utilities ---------------------------------------------------------------------- */

/* CUDA tensors: contiguous only (the flat gradient buffer always is). */
static lctw_status check_cpu(const char *what, const lctw_tensor *t) {
    if (lctw_tensor_device(t) == LCTW_DEV_CUDA && !lctw_tensor_is_contiguous(t))
        return LCTW_FAIL(LCTW_EINVAL, "%s: a CUDA tensor must be contiguous", what);
    return LCTW_OK;
}

static int is_cuda(const lctw_tensor *t) { return lctw_tensor_device(t) == LCTW_DEV_CUDA; }

/* Σx² in double; four accumulators so the sum is not one long dependency chain. */
static double sumsq_contig(const float *x, int64_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)x[i] * x[i];
        s1 += (double)x[i + 1] * x[i + 1];
        s2 += (double)x[i + 2] * x[i + 2];
        s3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++)
        s0 += (double)x[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

lctw_status lctw_grad_norm(const lctw_tensor *g, double *norm) {
    LCTW_TRY(check_cpu("grad_norm", g));
    int64_t n = lctw_tensor_numel(g);
    if (is_cuda(g)) {
        int64_t cnt, fst;
        double ss;
        LCTW_TRY(lctw_cuda_ct_grad_scan(lctw_tensor_data(g), n, &ss, &cnt, &fst));
        *norm = sqrt(ss);
        return LCTW_OK;
    }
    const float *p = lctw_tensor_data(g);
    double s;
    if (lctw_tensor_is_contiguous(g)) {
        s = sumsq_contig(p, n);
    } else {
        s = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double x = p[lctw_tensor_flat_offset(g, i)];
            s += x * x;
        }
    }
    *norm = sqrt(s);
    return LCTW_OK;
}

lctw_status lctw_grad_clip_norm(lctw_tensor *g, double max_norm, double *norm) {
    LCTW_TRY(check_cpu("clip_grad_norm", g));
    if (!lctw_tensor_is_contiguous(g))
        return LCTW_FAIL(LCTW_EINVAL, "clip_grad_norm: the gradient must be contiguous");
    double nrm;
    LCTW_TRY(lctw_grad_norm(g, &nrm));
    if (norm) *norm = nrm;
    if (!(max_norm > 0.0) || !isfinite(nrm)) return LCTW_OK;
    double coef = max_norm / (nrm + 1e-6);
    if (coef >= 1.0) return LCTW_OK;
    float c = (float)coef, *p = lctw_tensor_data(g);
    int64_t n = lctw_tensor_numel(g);
    if (is_cuda(g)) return lctw_cuda_op_affine(p, p, c, 0.0f, n);
    for (int64_t i = 0; i < n; i++)
        p[i] *= c;
    return LCTW_OK;
}

static inline int bits_nonfinite(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x7f800000u) == 0x7f800000u;
}

lctw_status lctw_grad_nonfinite(const lctw_tensor *g, int64_t *count, int64_t *first) {
    LCTW_TRY(check_cpu("nonfinite", g));
    int64_t n = lctw_tensor_numel(g), cnt = 0, fst = -1;
    const float *p = lctw_tensor_data(g);
    if (is_cuda(g)) {
        double ss;
        LCTW_TRY(lctw_cuda_ct_grad_scan(p, n, &ss, &cnt, &fst));
        if (count) *count = cnt;
        if (first) *first = fst;
        return LCTW_OK;
    }
    if (lctw_tensor_is_contiguous(g)) {
        for (int64_t i = 0; i < n; i++)
            cnt += bits_nonfinite(p[i]);
        if (cnt)
            for (int64_t i = 0; i < n && fst < 0; i++)
                if (bits_nonfinite(p[i])) fst = i;
    } else {
        for (int64_t i = 0; i < n; i++)
            if (bits_nonfinite(p[lctw_tensor_flat_offset(g, i)])) {
                if (fst < 0) fst = i;
                cnt++;
            }
    }
    if (count) *count = cnt;
    if (first) *first = fst;
    return LCTW_OK;
}
