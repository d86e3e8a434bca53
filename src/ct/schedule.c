/* schedule.c — Karras σ grid, discretisation curriculum, discretised lognormal index sampler and
 * the robust-loss scale schedules (formulas and sources in schedule.h, ALGORITHM.md §4.1-4.4).
 */
#include "schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int finite_pos(double v) { return isfinite(v) && v > 0; }

/* ---- Karras grid ---- */

lctw_status lctw_karras_sigmas(int64_t N, double sigma_min, double sigma_max, double rho,
                               double *out) {
    if (N < 2)
        return LCTW_FAIL(LCTW_EINVAL, "karras_sigmas: N must be at least 2, got %lld",
                         (long long)N);
    if (!finite_pos(sigma_min) || !finite_pos(sigma_max) || !(sigma_min < sigma_max))
        return LCTW_FAIL(LCTW_EINVAL,
                         "karras_sigmas: need 0 < sigma_min < sigma_max (finite), got "
                         "sigma_min %g, sigma_max %g",
                         sigma_min, sigma_max);
    if (!finite_pos(rho))
        return LCTW_FAIL(LCTW_EINVAL, "karras_sigmas: rho must be > 0, got %g", rho);
    if (!out) return LCTW_FAIL(LCTW_EINVAL, "karras_sigmas: no output buffer");
    double a = pow(sigma_max, 1.0 / rho), b = pow(sigma_min, 1.0 / rho);
    for (int64_t i = 0; i < N; i++)
        out[i] = pow(a + (double)i / (double)(N - 1) * (b - a), rho);
    out[0] = sigma_max; /* exact endpoints (pow of a pow may be off by an ulp) */
    out[N - 1] = sigma_min;
    return LCTW_OK;
}

/* ---- curriculum ---- */

lctw_curriculum lctw_curriculum_default(int64_t total) {
    lctw_curriculum c = {10, 640, total};
    return c;
}

lctw_status lctw_curriculum_check(const lctw_curriculum *c) {
    if (c->s0 < 1)
        return LCTW_FAIL(LCTW_EINVAL, "curriculum: s0 must be >= 1, got %lld", (long long)c->s0);
    if (c->s1 < c->s0)
        return LCTW_FAIL(LCTW_EINVAL, "curriculum: s1 must be >= s0 (%lld), got %lld",
                         (long long)c->s0, (long long)c->s1);
    if (c->s1 > ((int64_t)1 << 40))
        return LCTW_FAIL(LCTW_EINVAL, "curriculum: s1 = %lld is unreasonably large",
                         (long long)c->s1);
    if (c->total < 1)
        return LCTW_FAIL(LCTW_EINVAL, "curriculum: total (steps) must be >= 1, got %lld",
                         (long long)c->total);
    return LCTW_OK;
}

int64_t lctw_curriculum_kprime(const lctw_curriculum *c) {
    if (c->s0 < 1 || c->s1 < c->s0) return 1;
    /* [P] uses the real log2 of the integer ratio, so a ratio that is not a power of two gives
     * a fractional stage count in the denominator. */
    double ratio = (double)(c->s1 / c->s0);
    double kp = floor((double)c->total / (log2(ratio) + 1.0));
    return kp >= 1.0 ? (int64_t)kp : 1;
}

int lctw_curriculum_num_stages(const lctw_curriculum *c) {
    if (c->s0 < 1 || c->s1 <= c->s0) return 1;
    int n = 1;
    for (int64_t v = c->s0; v < c->s1; v *= 2)
        n++;
    return n;
}

int lctw_curriculum_stage(const lctw_curriculum *c, int64_t k) {
    if (k < 0) k = 0;
    int64_t e = k / lctw_curriculum_kprime(c);
    int last = lctw_curriculum_num_stages(c) - 1;
    return e >= last ? last : (int)e;
}

int64_t lctw_curriculum_stage_N(const lctw_curriculum *c, int stage) {
    int last = lctw_curriculum_num_stages(c) - 1;
    if (stage < 0) stage = 0;
    if (stage >= last) return c->s1 + 1;
    return (c->s0 << stage) + 1; /* < s1 + 1 by the definition of num_stages */
}

int64_t lctw_curriculum_N(const lctw_curriculum *c, int64_t k) {
    return lctw_curriculum_stage_N(c, lctw_curriculum_stage(c, k));
}

int64_t lctw_curriculum_stage_start(const lctw_curriculum *c, int stage) {
    if (stage <= 0) return 0;
    return (int64_t)stage * lctw_curriculum_kprime(c);
}

/* ---- index sampler ---- */

/* erf(za) − erf(zb) for za ≥ zb, written with erfc on the side of zero both lie on, so the
 * tails (erf ≈ ±1) keep their relative precision. */
static double erf_diff(double za, double zb) {
    if (zb >= 0) return erfc(zb) - erfc(za);
    if (za <= 0) return erfc(-za) - erfc(-zb);
    return erf(za) - erf(zb);
}

lctw_status lctw_index_probs(const double *sigmas, int64_t N, double p_mean, double p_std,
                             double *prob) {
    if (N < 2)
        return LCTW_FAIL(LCTW_EINVAL, "index sampler: N must be at least 2, got %lld",
                         (long long)N);
    if (!isfinite(p_mean) || !finite_pos(p_std))
        return LCTW_FAIL(LCTW_EINVAL,
                         "index sampler: need a finite p_mean and p_std > 0, got %g and %g", p_mean,
                         p_std);
    for (int64_t i = 0; i < N; i++) {
        if (!finite_pos(sigmas[i]))
            return LCTW_FAIL(LCTW_EINVAL, "index sampler: sigma[%lld] = %g is not > 0",
                             (long long)i, sigmas[i]);
        if (i > 0 && !(sigmas[i] < sigmas[i - 1]))
            return LCTW_FAIL(LCTW_EINVAL,
                             "index sampler: sigmas must descend, sigma[%lld] = %g >= "
                             "sigma[%lld] = %g",
                             (long long)i, sigmas[i], (long long)(i - 1), sigmas[i - 1]);
    }
    double k = 1.0 / (sqrt(2.0) * p_std), sum = 0;
    double z_prev = (log(sigmas[0]) - p_mean) * k;
    for (int64_t i = 0; i < N - 1; i++) {
        double z = (log(sigmas[i + 1]) - p_mean) * k;
        prob[i] = erf_diff(z_prev, z);
        if (prob[i] < 0) prob[i] = 0; /* cannot happen for descending σ; guards rounding */
        sum += prob[i];
        z_prev = z;
    }
    if (!(sum > 0) || !isfinite(sum))
        return LCTW_FAIL(LCTW_EINVAL,
                         "index sampler: the lognormal(%g, %g) puts no mass on the grid "
                         "[%g, %g] (N = %lld)",
                         p_mean, p_std, sigmas[N - 1], sigmas[0], (long long)N);
    for (int64_t i = 0; i < N - 1; i++)
        prob[i] /= sum;
    return LCTW_OK;
}

lctw_status lctw_index_sampler_check(const lctw_index_sampler *s) {
    if (!isfinite(s->p_mean) || !finite_pos(s->p_std))
        return LCTW_FAIL(LCTW_EINVAL,
                         "index sampler: need a finite p_mean and p_std > 0, got %g and %g",
                         s->p_mean, s->p_std);
    if (!finite_pos(s->sigma_min) || !finite_pos(s->sigma_max) || !(s->sigma_min < s->sigma_max))
        return LCTW_FAIL(LCTW_EINVAL,
                         "index sampler: need 0 < sigma_min < sigma_max (finite), got "
                         "sigma_min %g, sigma_max %g",
                         s->sigma_min, s->sigma_max);
    if (!finite_pos(s->rho))
        return LCTW_FAIL(LCTW_EINVAL, "index sampler: rho must be > 0, got %g", s->rho);
    return LCTW_OK;
}

void lctw_index_sampler_init(lctw_index_sampler *s) {
    memset(s, 0, sizeof *s);
    s->p_mean = LCTW_INDEX_P_MEAN;
    s->p_std = LCTW_INDEX_P_STD;
    s->sigma_min = LCTW_KARRAS_SIGMA_MIN;
    s->sigma_max = LCTW_KARRAS_SIGMA_MAX;
    s->rho = LCTW_KARRAS_RHO;
}

void lctw_index_sampler_release(lctw_index_sampler *s) {
    free(s->prob);
    free(s->cdf);
    s->prob = s->cdf = NULL;
    s->cap = s->cached_N = 0;
}

lctw_status lctw_index_sampler_prepare(lctw_index_sampler *s, int64_t N) {
    double cfg[5] = {s->p_mean, s->p_std, s->sigma_min, s->sigma_max, s->rho};
    if (s->cached_N == N && N >= 2 && !memcmp(cfg, s->cached_cfg, sizeof cfg)) return LCTW_OK;
    if (N < 2)
        return LCTW_FAIL(LCTW_EINVAL, "index sampler: N must be at least 2, got %lld",
                         (long long)N);
    if (N > ((int64_t)1 << 26))
        return LCTW_FAIL(LCTW_EINVAL, "index sampler: N = %lld is too large", (long long)N);
    s->cached_N = 0;
    if (s->cap < N) {
        double *p = realloc(s->prob, (size_t)N * sizeof *p);
        if (p) s->prob = p;
        double *q = p ? realloc(s->cdf, (size_t)N * sizeof *q) : NULL;
        if (q) s->cdf = q;
        if (!p || !q)
            return LCTW_FAIL(LCTW_ENOMEM, "index sampler: no memory for %lld probabilities",
                             (long long)N);
        s->cap = N;
    }
    /* The grid goes in cdf temporarily (N entries), then the probabilities are computed. */
    LCTW_TRY(lctw_karras_sigmas(N, s->sigma_min, s->sigma_max, s->rho, s->cdf));
    LCTW_TRY(lctw_index_probs(s->cdf, N, s->p_mean, s->p_std, s->prob));
    double acc = 0;
    for (int64_t i = 0; i < N - 1; i++) {
        acc += s->prob[i];
        s->cdf[i] = acc;
    }
    s->cdf[N - 2] = 1.0;
    s->cached_N = N;
    memcpy(s->cached_cfg, cfg, sizeof cfg);
    return LCTW_OK;
}

lctw_status lctw_index_sampler_sample(lctw_index_sampler *s, int64_t N, int64_t n, lctw_rng *rng,
                                      int64_t *out) {
    if (n < 0)
        return LCTW_FAIL(LCTW_EINVAL, "index sampler: n must be >= 0, got %lld", (long long)n);
    LCTW_TRY(lctw_index_sampler_prepare(s, N));
    const double *cdf = s->cdf;
    for (int64_t j = 0; j < n; j++) {
        double u = (double)lctw_rng_uniform_at(rng->seed, rng->stream, rng->offset, (uint64_t)j);
        int64_t lo = 0, hi = N - 2; /* smallest i with u < cdf[i]; cdf[N−2] = 1 > u */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (u < cdf[mid])
                hi = mid;
            else
                lo = mid + 1;
        }
        out[j] = lo;
    }
    rng->offset += lctw_rng_blocks((uint64_t)n);
    return LCTW_OK;
}

lctw_status lctw_index_sampler_tail(lctw_index_sampler *s, int64_t N, int64_t first, double *p) {
    LCTW_TRY(lctw_index_sampler_prepare(s, N));
    double acc = 0;
    for (int64_t i = first < 0 ? 0 : first; i < N - 1; i++)
        acc += s->prob[i];
    *p = acc;
    return LCTW_OK;
}

/* ---- robust-loss scale c ---- */

lctw_c_schedule lctw_c_schedule_default(lctw_c_kind kind) {
    lctw_c_schedule s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.d = 4096;
    s.ict_k = LCTW_CT_ICT_C_PER_SQRT_D;
    s.c = LCTW_CT_ICT_C_PER_SQRT_D * 64.0;
    s.s0 = 10;
    s.a = -1.15;
    s.b = -0.85;
    s.scale = 1.0;
    return s;
}

static const char *const C_KIND_NAMES[] = {"constant", "ict", "adaptive", "callback"};

const char *lctw_c_kind_name(lctw_c_kind k) {
    return (unsigned)k < sizeof C_KIND_NAMES / sizeof *C_KIND_NAMES ? C_KIND_NAMES[k] : "?";
}

lctw_status lctw_c_kind_parse(const char *name, lctw_c_kind *k) {
    for (unsigned i = 0; i < sizeof C_KIND_NAMES / sizeof *C_KIND_NAMES; i++)
        if (!strcmp(name, C_KIND_NAMES[i])) {
            *k = (lctw_c_kind)i;
            return LCTW_OK;
        }
    if (!strcmp(name, "function")) {
        *k = LCTW_C_CALLBACK;
        return LCTW_OK;
    }
    return LCTW_FAIL(LCTW_EINVAL,
                     "c schedule: unknown kind '%s' (known: constant, ict, adaptive, callback)",
                     name);
}

static lctw_status ict_value(const lctw_c_schedule *s, double *c) {
    if (s->d < 1)
        return LCTW_FAIL(LCTW_EINVAL,
                         "c schedule '%s': d (elements per sample) must be >= 1, "
                         "got %lld",
                         lctw_c_kind_name(s->kind), (long long)s->d);
    if (!finite_pos(s->ict_k))
        return LCTW_FAIL(LCTW_EINVAL, "c schedule '%s': ict_k must be > 0, got %g",
                         lctw_c_kind_name(s->kind), s->ict_k);
    *c = s->ict_k * sqrt((double)s->d);
    return LCTW_OK;
}

lctw_status lctw_c_schedule_check(const lctw_c_schedule *s) {
    double c;
    switch (s->kind) {
    case LCTW_C_CONSTANT:
        if (!finite_pos(s->c))
            return LCTW_FAIL(LCTW_EINVAL, "c schedule 'constant': c must be finite and > 0, got %g",
                             s->c);
        return LCTW_OK;
    case LCTW_C_ICT: return ict_value(s, &c);
    case LCTW_C_ADAPTIVE:
        LCTW_TRY(ict_value(s, &c));
        if (s->s0 < 1)
            return LCTW_FAIL(LCTW_EINVAL, "c schedule 'adaptive': s0 must be >= 1, got %lld",
                             (long long)s->s0);
        if (!isfinite(s->a) || !isfinite(s->b) || !finite_pos(s->scale))
            return LCTW_FAIL(LCTW_EINVAL,
                             "c schedule 'adaptive': need finite a, b and scale > 0, got a %g, "
                             "b %g, scale %g",
                             s->a, s->b, s->scale);
        return LCTW_OK;
    case LCTW_C_CALLBACK:
        if (!s->fn) return LCTW_FAIL(LCTW_EINVAL, "c schedule 'callback': no function set");
        return LCTW_OK;
    }
    return LCTW_FAIL(LCTW_EINVAL, "c schedule: unknown kind %d", (int)s->kind);
}

lctw_status lctw_c_schedule_value(const lctw_c_schedule *s, int64_t step, int64_t N, double *c) {
    double v = NAN;
    switch (s->kind) {
    case LCTW_C_CONSTANT: v = s->c; break;
    case LCTW_C_ICT: LCTW_TRY(ict_value(s, &v)); break;
    case LCTW_C_ADAPTIVE:
        if (N < 2)
            return LCTW_FAIL(LCTW_EINVAL, "c schedule 'adaptive': N must be >= 2, got %lld",
                             (long long)N);
        if (N <= s->s0 + 1) {
            LCTW_TRY(ict_value(s, &v));
        } else {
            if (!isfinite(s->a) || !isfinite(s->b) || !finite_pos(s->scale))
                return LCTW_FAIL(LCTW_EINVAL,
                                 "c schedule 'adaptive': need finite a, b and scale > 0, got "
                                 "a %g, b %g, scale %g",
                                 s->a, s->b, s->scale);
            v = s->scale * exp(s->a * log((double)(N - 1)) + s->b);
        }
        break;
    case LCTW_C_CALLBACK:
        if (!s->fn) return LCTW_FAIL(LCTW_EINVAL, "c schedule 'callback': no function set");
        LCTW_TRY(s->fn(s->ud, step, N, &v));
        break;
    default: return LCTW_FAIL(LCTW_EINVAL, "c schedule: unknown kind %d", (int)s->kind);
    }
    if (!finite_pos(v))
        return LCTW_FAIL(LCTW_EINVAL,
                         "c schedule '%s': c must be finite and > 0, got %g "
                         "(step %lld, N %lld)",
                         lctw_c_kind_name(s->kind), v, (long long)step, (long long)N);
    *c = v;
    return LCTW_OK;
}
