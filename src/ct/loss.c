/* loss.c — consistency losses, weighting, the low-σ diffusion loss and the combined loss with its
 * analytic gradient w.r.t. the student output (formulas in loss.h, ALGORITHM.md §4.3, §4.6).
 *
 * Two passes per sample over its d elements: the first accumulates m_j (and the per-element
 * robust sum, |δ| statistics, the diffusion MSE) in double; the second writes the gradient,
 * whose per-sample coefficients need m_j. Inputs and the gradient are float32.
 */
#include "loss.h"
#include "loss_rho.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lctw_cuda_ct.h"

static int finite_pos(double v) { return isfinite(v) && v > 0; }

lctw_loss_cfg lctw_loss_cfg_default(void) {
    lctw_loss_cfg c = {LCTW_LOSS_CAUCHY, LCTW_WEIGHT_ICT, 5.0, 0.75, 0.5};
    return c;
}

lctw_status lctw_loss_cfg_check(const lctw_loss_cfg *cfg) {
    if ((unsigned)cfg->kind >= LCTW_LOSS_COUNT)
        return LCTW_FAIL(LCTW_EINVAL, "loss: unknown kind %d", (int)cfg->kind);
    if (cfg->weighting != LCTW_WEIGHT_ICT && cfg->weighting != LCTW_WEIGHT_UNIFORM)
        return LCTW_FAIL(LCTW_EINVAL, "loss: unknown weighting %d", (int)cfg->weighting);
    if (!isfinite(cfg->diff_lambda) || cfg->diff_lambda < 0)
        return LCTW_FAIL(LCTW_EINVAL, "loss: diffusion weight (diff_lambda) must be >= 0, got %g",
                         cfg->diff_lambda);
    if (!isfinite(cfg->diff_rate) || cfg->diff_rate < 0 || cfg->diff_rate > 1)
        return LCTW_FAIL(LCTW_EINVAL, "loss: diff_rate must be in [0, 1], got %g", cfg->diff_rate);
    if (!finite_pos(cfg->sigma_data))
        return LCTW_FAIL(LCTW_EINVAL, "loss: sigma_data must be > 0, got %g", cfg->sigma_data);
    return LCTW_OK;
}

static const char *const KIND_NAMES[LCTW_LOSS_COUNT] = {
    "l2", "pseudo_huber",      "cauchy",      "geman_mcclure",
    "l1", "pseudo_huber_elem", "cauchy_elem", "geman_mcclure_elem",
};

static const struct {
    const char *name;
    lctw_loss_kind kind;
} KIND_ALIASES[] = {
    {"huber", LCTW_LOSS_PSEUDO_HUBER},
    {"gm", LCTW_LOSS_GEMAN_MCCLURE},
    {"huber_new", LCTW_LOSS_PSEUDO_HUBER_ELEM},
    {"cauchy_new", LCTW_LOSS_CAUCHY_ELEM},
    {"gm_new", LCTW_LOSS_GEMAN_MCCLURE_ELEM},
    {"gm_elem", LCTW_LOSS_GEMAN_MCCLURE_ELEM},
    {"huber_elem", LCTW_LOSS_PSEUDO_HUBER_ELEM},
    {"l2_elem", LCTW_LOSS_L2},
    {"l1_elem", LCTW_LOSS_L1},
};

const char *lctw_loss_kind_name(lctw_loss_kind k) {
    return (unsigned)k < LCTW_LOSS_COUNT ? KIND_NAMES[k] : "?";
}

lctw_status lctw_loss_kind_parse(const char *name, lctw_loss_kind *k) {
    char buf[32];
    size_t n = strlen(name);
    if (n < sizeof buf) {
        for (size_t i = 0; i <= n; i++)
            buf[i] = name[i] == '-' ? '_' : name[i];
        for (int i = 0; i < LCTW_LOSS_COUNT; i++)
            if (!strcmp(buf, KIND_NAMES[i])) {
                *k = (lctw_loss_kind)i;
                return LCTW_OK;
            }
        for (size_t i = 0; i < sizeof KIND_ALIASES / sizeof *KIND_ALIASES; i++)
            if (!strcmp(buf, KIND_ALIASES[i].name)) {
                *k = KIND_ALIASES[i].kind;
                return LCTW_OK;
            }
    }
    return LCTW_FAIL(LCTW_EINVAL,
                     "loss: unknown kind '%s' (known: l2, pseudo_huber, cauchy, geman_mcclure, "
                     "l1, pseudo_huber_elem, cauchy_elem, geman_mcclure_elem; aliases huber, gm, "
                     "huber_new, cauchy_new, gm_new)",
                     name);
}

const char *lctw_weighting_name(lctw_weighting w) {
    return w == LCTW_WEIGHT_ICT ? "ict" : w == LCTW_WEIGHT_UNIFORM ? "uniform" : "?";
}

lctw_status lctw_weighting_parse(const char *name, lctw_weighting *w) {
    if (!strcmp(name, "ict")) {
        *w = LCTW_WEIGHT_ICT;
        return LCTW_OK;
    }
    if (!strcmp(name, "uniform")) {
        *w = LCTW_WEIGHT_UNIFORM;
        return LCTW_OK;
    }
    return LCTW_FAIL(LCTW_EINVAL, "loss: unknown weighting '%s' (known: ict, uniform)", name);
}

int lctw_loss_kind_is_elem(lctw_loss_kind k) {
    return k == LCTW_LOSS_L1 || k == LCTW_LOSS_PSEUDO_HUBER_ELEM || k == LCTW_LOSS_CAUCHY_ELEM ||
           k == LCTW_LOSS_GEMAN_MCCLURE_ELEM;
}

int lctw_loss_kind_uses_c(lctw_loss_kind k) { return k != LCTW_LOSS_L1 && k != LCTW_LOSS_L2; }

double lctw_loss_rho(lctw_loss_kind k, double u, double c) { return lctw_loss_rho_of((int)k, u, c); }

double lctw_loss_drho(lctw_loss_kind k, double u, double c) {
    return lctw_loss_drho_of((int)k, u, c);
}

double lctw_loss_weight(lctw_weighting w, double sigma, double sigma_next) {
    return w == LCTW_WEIGHT_ICT ? 1.0 / (sigma - sigma_next) : 1.0;
}

double lctw_loss_diff_weight(double sigma, double sigma_data) {
    return 1.0 / (sigma * sigma) + 1.0 / (sigma_data * sigma_data);
}

int64_t lctw_loss_diff_first(int64_t N, double rate) { return (int64_t)floor(rate * (double)N); }

int64_t lctw_loss_diff_mask(const int64_t *idx, int64_t b, int64_t N, double rate,
                            unsigned char *mask) {
    int64_t first = lctw_loss_diff_first(N, rate), n = 0;
    for (int64_t j = 0; j < b; j++) {
        mask[j] = idx[j] >= first;
        n += mask[j];
    }
    return n;
}

/* The per-sample sums both devices accumulate, and the batch result they give. */
typedef struct loss_sums {
    double ct, diff, w;           /* Σ w_j ρ_j; Σ λ_j·mse_j over the diffusion samples; Σ w_j */
    int64_t over_c, elem_over_c; /* samples with √m_j > c; elements with |δ| > c */
} loss_sums;

static void loss_finish(const lctw_loss_cfg *cfg, const loss_sums *S, double c, int64_t b,
                        int64_t d, int64_t n_diff, int have_diff, int bad, lctw_loss_result *res) {
    const double inv_b = 1.0 / (double)b;
    memset(res, 0, sizeof *res);
    res->loss_ct = S->ct * inv_b;
    res->loss_diff = have_diff ? S->diff / (double)n_diff : 0.0;
    const int use_diff = have_diff && cfg->diff_lambda > 0;
    res->loss = res->loss_ct + (use_diff ? cfg->diff_lambda * res->loss_diff : 0.0);
    res->c = c;
    res->diff_count = n_diff;
    res->frac_over_c = (double)S->over_c * inv_b;
    res->frac_elem_over_c = (double)S->elem_over_c / ((double)b * (double)d);
    res->mean_w = S->w * inv_b;
    res->finite = isfinite(res->loss) && !bad;
}

static lctw_status check_batch(const lctw_loss_cfg *cfg, double c, const lctw_loss_batch *in,
                               int64_t *n_diff) {
    LCTW_TRY(lctw_loss_cfg_check(cfg));
    if (in->b < 1 || in->d < 1)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "loss: need at least one sample of one element, got b = "
                         "%lld, d = %lld",
                         (long long)in->b, (long long)in->d);
    if (!in->ds || !in->dt) return LCTW_FAIL(LCTW_EINVAL, "loss: D_s or D_t missing");
    if (lctw_loss_kind_uses_c(cfg->kind) && !finite_pos(c))
        return LCTW_FAIL(LCTW_EINVAL, "loss '%s': c must be finite and > 0, got %g",
                         lctw_loss_kind_name(cfg->kind), c);
    if (cfg->weighting == LCTW_WEIGHT_ICT && (!in->sigma || !in->sigma_next))
        return LCTW_FAIL(LCTW_EINVAL, "loss: the ict weighting needs sigma and sigma_next");
    *n_diff = 0;
    for (int64_t j = 0; j < in->b; j++) {
        if (cfg->weighting == LCTW_WEIGHT_ICT) {
            double s = in->sigma[j], sn = in->sigma_next[j];
            if (!isfinite(s) || !isfinite(sn) || !(s > sn) || sn < 0)
                return LCTW_FAIL(LCTW_EINVAL,
                                 "loss: sample %lld needs sigma > sigma_next >= 0 for the ict "
                                 "weighting, got sigma %g, sigma_next %g",
                                 (long long)j, s, sn);
        }
        if (in->in_diff && in->in_diff[j]) {
            if (!in->sigma || !finite_pos(in->sigma[j]))
                return LCTW_FAIL(LCTW_EINVAL,
                                 "loss: sample %lld is in the diffusion subset but its sigma "
                                 "is %g (need > 0)",
                                 (long long)j, in->sigma ? in->sigma[j] : NAN);
            (*n_diff)++;
        }
    }
    if (*n_diff > 0 && cfg->diff_lambda > 0 && !in->x)
        return LCTW_FAIL(LCTW_EINVAL, "loss: the diffusion term needs the clean data x");
    return LCTW_OK;
}

lctw_status lctw_loss_eval(const lctw_loss_cfg *cfg, double c, const lctw_loss_batch *in,
                           float *grad, lctw_loss_result *res, lctw_loss_sample *per) {
    int64_t n_diff = 0;
    LCTW_TRY(check_batch(cfg, c, in, &n_diff));
    const lctw_loss_kind kind = cfg->kind;
    const int elem = lctw_loss_kind_is_elem(kind);
    const int64_t b = in->b, d = in->d;
    /* L_diff is measured whenever S is non-empty and x is given (reported even with
     * λ_diff = 0); it enters L and the gradient only with λ_diff > 0. */
    const int have_diff = n_diff > 0 && in->x != NULL;
    const int use_diff = have_diff && cfg->diff_lambda > 0;
    const double inv_d = 1.0 / (double)d, inv_b = 1.0 / (double)b;
    loss_sums S = {0};
    int bad = 0;

    for (int64_t j = 0; j < b; j++) {
        const float *ds = in->ds + j * d, *dt = in->dt + j * d;
        const float *x = have_diff ? in->x + j * d : NULL;
        const int sj = in->in_diff && in->in_diff[j];
        double m = 0, rsum = 0, amax = 0, dmse = 0;
        int64_t eo = 0;
        for (int64_t e = 0; e < d; e++) {
            double de = (double)ds[e] - (double)dt[e], u = de * de, a = fabs(de);
            m += u;
            if (elem) rsum += lctw_loss_rho(kind, u, c);
            if (a > amax || a != a) amax = a;
            eo += a > c;
        }
        m *= inv_d;
        if (sj && have_diff) {
            for (int64_t e = 0; e < d; e++) {
                double r = (double)ds[e] - (double)x[e];
                dmse += r * r;
            }
            dmse *= inv_d;
        }
        double rho = elem ? rsum * inv_d : lctw_loss_rho(kind, m, c);
        double w = lctw_loss_weight(cfg->weighting, in->sigma ? in->sigma[j] : 0,
                                    in->sigma_next ? in->sigma_next[j] : 0);
        double lam = sj ? lctw_loss_diff_weight(in->sigma[j], cfg->sigma_data) : 0;
        S.ct += w * rho;
        S.w += w;
        if (sj && have_diff) S.diff += lam * dmse;
        S.over_c += sqrt(m) > c;
        S.elem_over_c += eo;
        if (per) {
            per[j].m = m;
            per[j].rho = rho;
            per[j].w = w;
            per[j].rms = sqrt(m);
            per[j].absmax = amax;
            per[j].diff_mse = dmse;
            per[j].in_diff = sj;
        }
        if (!grad) continue;

        /* ∂L/∂D_s for this sample (see loss.h) */
        float *g = grad + j * d;
        const double cw = w * inv_b * inv_d; /* (w_j/b)/d */
        const double cdiff =
            (sj && use_diff) ? cfg->diff_lambda * lam * 2.0 * inv_d / (double)n_diff : 0.0;
        if (!elem) {
            const double k = cw * 2.0 * lctw_loss_drho(kind, m, c);
            for (int64_t e = 0; e < d; e++) {
                double v = k * ((double)ds[e] - (double)dt[e]);
                if (cdiff != 0) v += cdiff * ((double)ds[e] - (double)x[e]);
                float f = (float)v;
                g[e] = f;
                bad |= !isfinite(f);
            }
        } else {
            for (int64_t e = 0; e < d; e++) {
                double de = (double)ds[e] - (double)dt[e], v;
                if (kind == LCTW_LOSS_L1)
                    v = cw * (de > 0 ? 1.0 : de < 0 ? -1.0 : (de == de ? 0.0 : de));
                else
                    v = cw * 2.0 * lctw_loss_drho(kind, de * de, c) * de;
                if (cdiff != 0) v += cdiff * ((double)ds[e] - (double)x[e]);
                float f = (float)v;
                g[e] = f;
                bad |= !isfinite(f);
            }
        }
    }

    if (res) loss_finish(cfg, &S, c, b, d, n_diff, have_diff, bad, res);
    return LCTW_OK;
}

/* ---- CUDA ---- */

/* lctw_loss_eval with D_s, D_t, x and the gradient in device memory (contiguous): the two
 * passes over the b·d elements run on the device (kernels/ct_step.cu); the per-sample
 * values (5 doubles a sample) come back, and everything per sample — ρ, weights, the sums, the
 * gradient's coefficients — is computed here exactly as in lctw_loss_eval. */
static lctw_status loss_eval_cuda(const lctw_loss_cfg *cfg, double c, const lctw_loss_batch *in,
                                  float *grad, lctw_loss_result *res, lctw_loss_sample *per) {
    int64_t n_diff = 0;
    LCTW_TRY(check_batch(cfg, c, in, &n_diff));
    const lctw_loss_kind kind = cfg->kind;
    const int elem = lctw_loss_kind_is_elem(kind);
    const int64_t b = in->b, d = in->d;
    const int have_diff = n_diff > 0 && in->x != NULL;
    const int use_diff = have_diff && cfg->diff_lambda > 0;
    const double inv_d = 1.0 / (double)d, inv_b = 1.0 / (double)b;
    double *st = malloc((size_t)b * 7 * sizeof *st), *coef = st ? st + 5 * b : NULL;
    if (!st) return LCTW_FAIL(LCTW_ENOMEM, "loss: out of memory for %lld samples", (long long)b);
    lctw_status s = lctw_cuda_ct_loss_stats((int)kind, c, in->ds, in->dt, have_diff ? in->x : NULL,
                                            b, d, st);
    loss_sums S = {0};
    for (int64_t j = 0; j < b && s == LCTW_OK; j++) {
        const double *q = st + 5 * j;
        const int sj = in->in_diff && in->in_diff[j];
        double m = q[0] * inv_d, dmse = sj && have_diff ? q[4] * inv_d : 0.0;
        double rho = elem ? q[1] * inv_d : lctw_loss_rho(kind, m, c);
        double w = lctw_loss_weight(cfg->weighting, in->sigma ? in->sigma[j] : 0,
                                    in->sigma_next ? in->sigma_next[j] : 0);
        double lam = sj ? lctw_loss_diff_weight(in->sigma[j], cfg->sigma_data) : 0;
        S.ct += w * rho;
        S.w += w;
        if (sj && have_diff) S.diff += lam * dmse;
        S.over_c += sqrt(m) > c;
        S.elem_over_c += (int64_t)q[3];
        if (per) {
            per[j].m = m;
            per[j].rho = rho;
            per[j].w = w;
            per[j].rms = sqrt(m);
            per[j].absmax = q[2];
            per[j].diff_mse = dmse;
            per[j].in_diff = sj;
        }
        const double cw = w * inv_b * inv_d;
        coef[2 * j] = elem ? cw : cw * 2.0 * lctw_loss_drho(kind, m, c);
        coef[2 * j + 1] =
            (sj && use_diff) ? cfg->diff_lambda * lam * 2.0 * inv_d / (double)n_diff : 0.0;
    }
    int bad = 0;
    if (s == LCTW_OK && grad)
        s = lctw_cuda_ct_loss_grad((int)kind, c, in->ds, in->dt, use_diff ? in->x : NULL, coef, b,
                                   d, grad, &bad);
    free(st);
    LCTW_TRY(s);
    if (res) loss_finish(cfg, &S, c, b, d, n_diff, have_diff, bad, res);
    return LCTW_OK;
}

static int on_cuda_contig(const lctw_tensor *t) {
    return lctw_tensor_device(t) == LCTW_DEV_CUDA && lctw_tensor_is_contiguous(t);
}

/* ---- tensors ---- */

/* A contiguous host tensor with the values of t (t itself, retained, when it already is). */
static lctw_status host_contiguous(lctw_tensor *t, lctw_tensor **out) {
    lctw_tensor *h = NULL;
    LCTW_TRY(lctw_tensor_to(&h, t, LCTW_DEV_CPU));
    lctw_status s = lctw_tensor_contiguous(out, h);
    lctw_tensor_release(h);
    return s;
}

static lctw_status same_shape(const char *what, const lctw_tensor *a, const lctw_tensor *ref) {
    if (lctw_tensor_same_shape(a, ref)) return LCTW_OK;
    char sa[64], sr[64];
    return LCTW_FAIL(LCTW_ESHAPE, "loss: %s has shape %s, expected %s (the shape of D_s)", what,
                     lctw_tensor_shape_str(sa, sizeof sa, a),
                     lctw_tensor_shape_str(sr, sizeof sr, ref));
}

lctw_status lctw_loss_eval_tensors(const lctw_loss_cfg *cfg, double c, lctw_tensor *ds,
                                   lctw_tensor *dt, lctw_tensor *x, const double *sigma,
                                   const double *sigma_next, const unsigned char *in_diff,
                                   lctw_tensor *grad, lctw_loss_result *res,
                                   lctw_loss_sample *per) {
    if (ds->ndim < 1 || ds->shape[0] < 1)
        return LCTW_FAIL(LCTW_ESHAPE, "loss: D_s needs a batch dimension with at least one "
                                      "sample");
    LCTW_TRY(same_shape("D_t", dt, ds));
    if (x) LCTW_TRY(same_shape("x", x, ds));
    if (grad) LCTW_TRY(same_shape("the gradient buffer", grad, ds));
    int64_t b = ds->shape[0], d = lctw_tensor_numel(ds) / b;
    if (d < 1) return LCTW_FAIL(LCTW_ESHAPE, "loss: samples have no elements");

    if (on_cuda_contig(ds) && on_cuda_contig(dt) && (!x || on_cuda_contig(x)) &&
        (!grad || on_cuda_contig(grad))) {
        lctw_loss_batch in = {b,     d,          lctw_tensor_data(ds), lctw_tensor_data(dt),
                              x ? lctw_tensor_data(x) : NULL, sigma, sigma_next, in_diff};
        return loss_eval_cuda(cfg, c, &in, grad ? lctw_tensor_data(grad) : NULL, res, per);
    }
    lctw_tensor *hds = NULL, *hdt = NULL, *hx = NULL, *hg = NULL;
    lctw_status s = host_contiguous(ds, &hds);
    if (!s) s = host_contiguous(dt, &hdt);
    if (!s && x) s = host_contiguous(x, &hx);
    int direct =
        grad && lctw_tensor_device(grad) == LCTW_DEV_CPU && lctw_tensor_is_contiguous(grad);
    if (!s && grad) {
        if (direct) {
            hg = grad;
            lctw_tensor_retain(hg);
        } else {
            s = lctw_tensor_empty(&hg, ds->ndim, ds->shape, LCTW_DEV_CPU);
        }
    }
    if (!s) {
        lctw_loss_batch in = {b,
                              d,
                              lctw_tensor_data(hds),
                              lctw_tensor_data(hdt),
                              hx ? lctw_tensor_data(hx) : NULL,
                              sigma,
                              sigma_next,
                              in_diff};
        s = lctw_loss_eval(cfg, c, &in, hg ? lctw_tensor_data(hg) : NULL, res, per);
    }
    if (!s && grad && !direct) s = lctw_tensor_copy(grad, hg);
    if (hds) lctw_tensor_release(hds);
    if (hdt) lctw_tensor_release(hdt);
    if (hx) lctw_tensor_release(hx);
    if (hg) lctw_tensor_release(hg);
    return s;
}
