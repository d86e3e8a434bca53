/* test_loss.c — consistency losses, weighting, the diffusion loss and the combined loss with its
 * gradient (src/ct/loss.h) against ALGORITHM.md §4.3 and the §4.6 gradient.
 *
 * The reference is written here in double from the [P] forms (cauchy as ln(0.5·m + c²) − 2 ln c,
 * pseudo-Huber as √(m + c²) − c, ...), independent of loss.c's rewritten forms. Gradients are
 * checked against the analytic §4.6 expressions and against central finite differences of the
 * reference (in double) on small random batches with outliers (|δ| = 10³), tiny c (2.5·10⁻⁴)
 * and weights up to 1.27·10⁴ (N = 641). */
#include <stdint.h>
#include <stdlib.h>

#include "ct/loss.h"
#include "ct/schedule.h"
#include "test.h"

enum { B = 6, D = 37 };

/* ---- inputs ---- */

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static double urand(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return ((double)(rs >> 11) + 0.5) * 0x1p-53;
}
static double nrand(void) { return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand()); }

typedef struct {
    float ds[B * D], dt[B * D], x[B * D];
    double sigma[B], sigma_next[B];
    int64_t idx[B];
    unsigned char mask[B];
    int64_t N;
} batch;

/* Residual scales per sample from tiny to large; sample 2 and 5 carry ±10³ outliers. Grid
 * N = 641 with indices {0, 100, 479, 480, 600, 639} (w from 0.03 to 1.27·10⁴; the last three are
 * in the diffusion subset i ≥ 480). */
static void make_batch(batch *bt, int outliers) {
    static const double scale[B] = {1e-4, 1e-3, 0.03, 0.3, 1.0, 3.0};
    static const int64_t idx[B] = {0, 100, 479, 480, 600, 639};
    double s[641];
    lctw_karras_sigmas(641, 0.002, 80, 7, s);
    bt->N = 641;
    for (int j = 0; j < B; j++) {
        for (int e = 0; e < D; e++) {
            float t = (float)(0.5 * nrand());
            bt->dt[j * D + e] = t;
            bt->ds[j * D + e] = (float)(t + scale[j] * nrand());
            bt->x[j * D + e] = (float)(bt->ds[j * D + e] + 0.1 * nrand());
        }
        bt->idx[j] = idx[j];
        bt->sigma[j] = s[idx[j]];
        bt->sigma_next[j] = s[idx[j] + 1];
    }
    if (outliers) {
        bt->ds[2 * D + 3] = 1000.0f;
        bt->ds[5 * D + 7] = -1000.0f;
        bt->ds[5 * D + 8] = 999.5f;
    }
    lctw_loss_diff_mask(bt->idx, B, bt->N, 0.75, bt->mask);
}

/* ---- reference (double) ---- */

typedef struct {
    lctw_loss_kind kind;
    lctw_weighting weighting;
    double c, lam, sd;
    int use_diff; /* x and mask given */
} refcfg;

static double ref_rho_sample(lctw_loss_kind k, const double *dd, double c) {
    double m = 0, acc = 0;
    for (int e = 0; e < D; e++)
        m += dd[e] * dd[e];
    m /= D;
    for (int e = 0; e < D; e++) {
        double u = dd[e] * dd[e];
        switch (k) {
        case LCTW_LOSS_L1: acc += fabs(dd[e]); break;
        case LCTW_LOSS_PSEUDO_HUBER_ELEM: acc += sqrt(u + c * c) - c; break;
        case LCTW_LOSS_CAUCHY_ELEM: acc += log(0.5 * u + c * c) - 2 * log(c); break;
        case LCTW_LOSS_GEMAN_MCCLURE_ELEM: acc += 2 * u / (u + 4 * c * c); break;
        default: break;
        }
    }
    switch (k) {
    case LCTW_LOSS_L2: return m;
    case LCTW_LOSS_PSEUDO_HUBER: return sqrt(m + c * c) - c;
    case LCTW_LOSS_CAUCHY: return log(0.5 * m + c * c) - 2 * log(c);
    case LCTW_LOSS_GEMAN_MCCLURE: return 2 * m / (m + 4 * c * c);
    default: return acc / D;
    }
}

static int count_mask(const refcfg *rc, const batch *bt) {
    int n = 0;
    for (int j = 0; j < B; j++)
        n += rc->use_diff && bt->mask[j];
    return n;
}

/* Sample j's share of L (its CT term and its diffusion term); L = Σ_j share_j. */
static double ref_share(const refcfg *rc, const batch *bt, int j, const double *ds_j) {
    double dd[D],
        w = rc->weighting == LCTW_WEIGHT_ICT ? 1 / (bt->sigma[j] - bt->sigma_next[j]) : 1.0;
    for (int e = 0; e < D; e++)
        dd[e] = ds_j[e] - (double)bt->dt[j * D + e];
    double v = w * ref_rho_sample(rc->kind, dd, rc->c) / B;
    int nS = count_mask(rc, bt);
    if (rc->use_diff && bt->mask[j] && rc->lam > 0) {
        double mse = 0, s = bt->sigma[j];
        for (int e = 0; e < D; e++) {
            double r = ds_j[e] - (double)bt->x[j * D + e];
            mse += r * r;
        }
        v += rc->lam * (1 / (s * s) + 1 / (rc->sd * rc->sd)) * (mse / D) / nS;
    }
    return v;
}

static double ref_loss(const refcfg *rc, const batch *bt) {
    double L = 0, ds_j[D];
    for (int j = 0; j < B; j++) {
        for (int e = 0; e < D; e++)
            ds_j[e] = bt->ds[j * D + e];
        L += ref_share(rc, bt, j, ds_j);
    }
    return L;
}

/* The §4.6 gradient, written out per kind. */
static void ref_grad(const refcfg *rc, const batch *bt, double *g) {
    int nS = count_mask(rc, bt);
    double c = rc->c, c2 = c * c;
    for (int j = 0; j < B; j++) {
        double m = 0;
        for (int e = 0; e < D; e++) {
            double de = (double)bt->ds[j * D + e] - bt->dt[j * D + e];
            m += de * de / D;
        }
        double w = rc->weighting == LCTW_WEIGHT_ICT ? 1 / (bt->sigma[j] - bt->sigma_next[j]) : 1;
        double a = w / B;
        for (int e = 0; e < D; e++) {
            double de = (double)bt->ds[j * D + e] - bt->dt[j * D + e], u = de * de, v;
            switch (rc->kind) {
            case LCTW_LOSS_L2: v = a * 2 * de / D; break;
            case LCTW_LOSS_PSEUDO_HUBER: v = a * de / (D * sqrt(m + c2)); break;
            case LCTW_LOSS_CAUCHY: v = a * 2 * de / (D * (m + 2 * c2)); break;
            case LCTW_LOSS_GEMAN_MCCLURE:
                v = a * 16 * c2 * de / (D * (m + 4 * c2) * (m + 4 * c2));
                break;
            case LCTW_LOSS_L1: v = a * (de > 0 ? 1 : de < 0 ? -1 : 0) / D; break;
            case LCTW_LOSS_PSEUDO_HUBER_ELEM: v = a * de / (D * sqrt(u + c2)); break;
            case LCTW_LOSS_CAUCHY_ELEM: v = a * 2 * de / (D * (u + 2 * c2)); break;
            case LCTW_LOSS_GEMAN_MCCLURE_ELEM:
                v = a * 16 * c2 * de / (D * (u + 4 * c2) * (u + 4 * c2));
                break;
            default: v = NAN;
            }
            if (rc->use_diff && bt->mask[j] && rc->lam > 0) {
                double s = bt->sigma[j];
                v += rc->lam * (1 / (s * s) + 1 / (rc->sd * rc->sd)) * 2 *
                     ((double)bt->ds[j * D + e] - bt->x[j * D + e]) / (D * nS);
            }
            g[j * D + e] = v;
        }
    }
}

static lctw_status run_code(const refcfg *rc, const batch *bt, float *grad, lctw_loss_result *res,
                            lctw_loss_sample *per) {
    lctw_loss_cfg cfg = lctw_loss_cfg_default();
    cfg.kind = rc->kind;
    cfg.weighting = rc->weighting;
    cfg.diff_lambda = rc->lam;
    cfg.sigma_data = rc->sd;
    lctw_loss_batch in = {B,
                          D,
                          bt->ds,
                          bt->dt,
                          rc->use_diff ? bt->x : NULL,
                          bt->sigma,
                          bt->sigma_next,
                          rc->use_diff ? bt->mask : NULL};
    return lctw_loss_eval(&cfg, rc->c, &in, grad, res, per);
}

/* Every kind × c ∈ {0.03456, 2.5e-4} × weighting × diffusion on/off, with outliers: L against
 * the reference, the float gradient against the analytic gradient, and both against central
 * differences of the reference. */
static void check_all(int outliers, double *worst_val, double *worst_grad, double *worst_fd) {
    static const double cs[2] = {0.03456, 2.5e-4};
    batch bt;
    make_batch(&bt, outliers);
    float g[B * D];
    double gr[B * D];
    *worst_val = *worst_grad = *worst_fd = 0;
    for (int k = 0; k < LCTW_LOSS_COUNT; k++)
        for (int ci = 0; ci < 2; ci++)
            for (int wt = 0; wt < 2; wt++)
                for (int ud = 0; ud < 2; ud++) {
                    refcfg rc = {(lctw_loss_kind)k,
                                 wt ? LCTW_WEIGHT_UNIFORM : LCTW_WEIGHT_ICT,
                                 cs[ci],
                                 5.0,
                                 0.5,
                                 ud};
                    lctw_loss_result res;
                    if (run_code(&rc, &bt, g, &res, NULL) != LCTW_OK) {
                        CHECK(0, "%s: %s", lctw_loss_kind_name(rc.kind), lctw_error_message());
                        continue;
                    }
                    const char *nm = lctw_loss_kind_name(rc.kind);
                    double L = ref_loss(&rc, &bt);
                    CHECK(res.finite, "%s c=%g: not finite", nm, rc.c);
                    CHECK(fabs(res.loss - L) <= 1e-9 * fabs(L) + 1e-300,
                          "%s c=%g w=%d diff=%d: L %.12g, reference %.12g", nm, rc.c, wt, ud,
                          res.loss, L);
                    *worst_val = fmax(*worst_val, fabs(res.loss - L) / fabs(L));
                    ref_grad(&rc, &bt, gr);
                    for (int j = 0; j < B; j++) {
                        double gmax = 0, ds_j[D];
                        for (int e = 0; e < D; e++)
                            gmax = fmax(gmax, fabs(gr[j * D + e]));
                        for (int e = 0; e < D; e++) {
                            double r = gr[j * D + e], v = g[j * D + e];
                            CHECK(isfinite(v), "%s: grad not finite", nm);
                            CHECK(fabs(v - r) <= 2e-7 * fabs(r) + 1e-12 * gmax,
                                  "%s c=%g w=%d diff=%d: grad[%d,%d] %.9g, analytic %.9g", nm, rc.c,
                                  wt, ud, j, e, v, r);
                            if (gmax > 0)
                                *worst_grad =
                                    fmax(*worst_grad, fabs(v - r) / (fabs(r) + gmax * 1e-5));
                        }
                        /* central differences of sample j's share (the only part of L that
                         * depends on D_s,j) */
                        for (int e = 0; e < D; e++)
                            ds_j[e] = bt.ds[j * D + e];
                        double rms = 0;
                        for (int e = 0; e < D; e++) {
                            double de = ds_j[e] - bt.dt[j * D + e];
                            rms += de * de / D;
                        }
                        rms = sqrt(rms);
                        for (int e = 0; e < D; e++) {
                            double de = fabs(ds_j[e] - bt.dt[j * D + e]);
                            double scl = fmax(de, rc.c);
                            if (!lctw_loss_kind_is_elem(rc.kind)) scl = fmax(scl, rms);
                            /* per-sample kinds curve on the scale of √(d·(m + c²)) in δ_e:
                             * a larger step keeps the [P]-form reference's cancellation
                             * (ln(0.5m + c²) − 2 ln c for m ≪ c²) out of the difference */
                            double h = (lctw_loss_kind_is_elem(rc.kind) ? 1e-5 : 1e-4) * scl;
                            if (rc.kind == LCTW_LOSS_L1 && de < 10 * h) continue; /* kink */
                            double keep = ds_j[e];
                            ds_j[e] = keep + h;
                            double lp = ref_share(&rc, &bt, j, ds_j);
                            ds_j[e] = keep - h;
                            double lm = ref_share(&rc, &bt, j, ds_j);
                            ds_j[e] = keep;
                            double fd = (lp - lm) / (2 * h), r = gr[j * D + e];
                            /* truncation + the rounding of the difference (a few ulps of the
                             * share over 2h; matters where ρ is flat, e.g. gm with m ≫ c²) */
                            double tol =
                                1e-5 * fabs(r) + 1e-7 * gmax + 4e-16 * (fabs(lp) + fabs(lm)) / h;
                            CHECK(fabs(fd - r) <= tol,
                                  "%s c=%g w=%d diff=%d: FD grad[%d,%d] %.9g, analytic %.9g", nm,
                                  rc.c, wt, ud, j, e, fd, r);
                            CHECK(fabs(fd - g[j * D + e]) <= tol, "%s: FD %.9g vs code %.9g", nm,
                                  fd, (double)g[j * D + e]);
                            if (gmax > 0) *worst_fd = fmax(*worst_fd, fabs(fd - r) / tol);
                        }
                    }
                }
}

static void t_loss_values_grads(void) {
    double a, b, c;
    check_all(0, &a, &b, &c);
    test_detail("8 kinds × 2 c × 2 weightings × diff on/off: L rel %.1e, grad rel %.1e, FD "
                "%.2f of tol",
                a, b, c);
}

static void t_loss_outliers_tiny_c(void) {
    double a, b, c;
    check_all(1, &a, &b, &c);
    /* the paper's worst case: cauchy, c = 2.5e-4, w = 1.27e4 and 10³ outliers stays finite */
    batch bt;
    make_batch(&bt, 1);
    refcfg rc = {LCTW_LOSS_CAUCHY, LCTW_WEIGHT_ICT, 2.5e-4, 5.0, 0.5, 1};
    float g[B * D];
    lctw_loss_result res;
    lctw_loss_sample per[B];
    CHECK_OK(run_code(&rc, &bt, g, &res, per));
    CHECK(res.finite && isfinite(res.loss), "not finite");
    CHECK(per[5].w > 12686 && per[5].w < 12687, "max weight %g", per[5].w);
    double gmax = 0;
    for (int i = 0; i < B * D; i++)
        gmax = fmax(gmax, fabs(g[i]));
    test_detail("|δ|=1e3, c=2.5e-4, w≤%.0f: L %.4g, max|grad| %.3g; L rel %.1e, grad rel %.1e, "
                "FD %.2f of tol",
                per[5].w, res.loss, gmax, a, b, c);
}

/* Per-sample outputs and the batch statistics. */
static void t_per_sample(void) {
    batch bt;
    make_batch(&bt, 1);
    double c = 0.03456;
    refcfg rc = {LCTW_LOSS_CAUCHY, LCTW_WEIGHT_ICT, c, 5.0, 0.5, 1};
    lctw_loss_result res;
    lctw_loss_sample per[B];
    CHECK_OK(run_code(&rc, &bt, NULL, &res, per));
    int over = 0, eover = 0, nS = 0;
    double sumw = 0, ldiff = 0, lct = 0;
    for (int j = 0; j < B; j++) {
        double m = 0, amax = 0, mse = 0, dd[D];
        for (int e = 0; e < D; e++) {
            dd[e] = (double)bt.ds[j * D + e] - bt.dt[j * D + e];
            m += dd[e] * dd[e] / D;
            amax = fmax(amax, fabs(dd[e]));
            eover += fabs(dd[e]) > c;
            double r = (double)bt.ds[j * D + e] - bt.x[j * D + e];
            mse += r * r / D;
        }
        double w = 1 / (bt.sigma[j] - bt.sigma_next[j]), rho = ref_rho_sample(rc.kind, dd, c);
        int in = bt.idx[j] >= 480;
        CHECK_CLOSE(per[j].m, m, 0, 1e-12);
        CHECK_CLOSE(per[j].rms, sqrt(m), 0, 1e-12);
        CHECK_CLOSE(per[j].rho, rho, 1e-15, 1e-10);
        CHECK_CLOSE(per[j].w, w, 0, 1e-12);
        CHECK(per[j].absmax == amax, "absmax %g vs %g", per[j].absmax, amax);
        CHECK(per[j].in_diff == in, "sample %d in S: %d", j, per[j].in_diff);
        CHECK_CLOSE(per[j].diff_mse, in ? mse : 0.0, 0, 1e-12);
        over += sqrt(m) > c;
        sumw += w;
        lct += w * rho / B;
        if (in) {
            nS++;
            ldiff += (1 / (bt.sigma[j] * bt.sigma[j]) + 4) * mse;
        }
    }
    ldiff /= nS;
    CHECK(res.diff_count == 3 && nS == 3, "|S| = %lld", (long long)res.diff_count);
    CHECK_CLOSE(res.frac_over_c, (double)over / B, 0, 1e-15);
    CHECK_CLOSE(res.frac_elem_over_c, (double)eover / (B * D), 0, 1e-15);
    CHECK_CLOSE(res.mean_w, sumw / B, 0, 1e-12);
    CHECK_CLOSE(res.loss_ct, lct, 0, 1e-10);
    CHECK_CLOSE(res.loss_diff, ldiff, 0, 1e-12);
    CHECK_CLOSE(res.loss, lct + 5 * ldiff, 0, 1e-10);
    CHECK(res.c == c, "c %g", res.c);
    test_detail("samples over c: %d/%d, elements over c: %d/%d, |S| = %d", over, B, eover, B * D,
                nS);
}

/* Empty S: L_diff = 0 (not NaN), diff_count = 0, L and ∂L/∂D_s equal the CT-only ones.
 * λ_diff = 0: L_diff is still measured but does not enter L or the gradient. */
static void t_diffusion_empty_and_off(void) {
    batch bt;
    make_batch(&bt, 0);
    refcfg rc = {LCTW_LOSS_CAUCHY, LCTW_WEIGHT_ICT, 0.01, 5.0, 0.5, 0};
    float g0[B * D], g1[B * D];
    lctw_loss_result r0, r1;
    CHECK_OK(run_code(&rc, &bt, g0, &r0, NULL));
    memset(bt.mask, 0, sizeof bt.mask);
    rc.use_diff = 1;
    CHECK_OK(run_code(&rc, &bt, g1, &r1, NULL));
    CHECK(r1.diff_count == 0 && r1.loss_diff == 0 && r1.finite, "empty S: count %lld, L_diff %g",
          (long long)r1.diff_count, r1.loss_diff);
    CHECK(r1.loss == r0.loss && !memcmp(g0, g1, sizeof g0), "empty S changes L or grad");
    lctw_loss_diff_mask(bt.idx, B, bt.N, 0.75, bt.mask);
    rc.lam = 0;
    CHECK_OK(run_code(&rc, &bt, g1, &r1, NULL));
    CHECK(r1.diff_count == 3 && r1.loss_diff > 0, "lambda 0: L_diff %g", r1.loss_diff);
    CHECK(r1.loss == r0.loss && !memcmp(g0, g1, sizeof g0), "lambda 0 changes L or grad");
    /* missing x with a non-empty S */
    lctw_loss_cfg cfg = lctw_loss_cfg_default();
    lctw_loss_batch in = {B, D, bt.ds, bt.dt, NULL, bt.sigma, bt.sigma_next, bt.mask};
    CHECK(lctw_loss_eval(&cfg, 0.01, &in, g1, &r1, NULL) == LCTW_EINVAL, "no x accepted");
    CHECK(strstr(lctw_error_message(), "clean data x"), "message: %s", lctw_error_message());
}

/* Subset masks, λ(σ) and the subset at N = 11. */
static void t_diffusion_subset(void) {
    int64_t idx[10];
    unsigned char m[10];
    for (int i = 0; i < 10; i++)
        idx[i] = i;
    CHECK(lctw_loss_diff_mask(idx, 10, 11, 0.75, m) == 2 && m[8] && m[9] && !m[7], "N=11 mask");
    CHECK(lctw_loss_diff_first(11, 0.75) == 8 && lctw_loss_diff_first(641, 0.75) == 480 &&
              lctw_loss_diff_first(21, 0.75) == 15 && lctw_loss_diff_first(100, 0.7) == 70,
          "first index");
    double s[21];
    CHECK_OK(lctw_karras_sigmas(21, 0.002, 80, 7, s));
    double lam = lctw_loss_diff_weight(s[15], 0.5);
    CHECK(fabs(lam - 38.7) <= 0.05, "lambda(0.16975) = %g, table 38.7", lam);
    CHECK_CLOSE(lctw_loss_diff_weight(0.5, 0.5), 8.0, 0, 1e-15);
    test_detail("λ(σ=%.5f) = %.4f", s[15], lam);
}

/* §4.3 weights at N = 11 (to the printed digits), max/min weight per N. */
static void t_weight_table(void) {
    static const char *w11[10] = {"0.0288", "0.0478", "0.0831", "0.153", "0.301",
                                  "0.645",  "1.545",  "4.288",  "14.63", "67.93"};
    static const struct {
        int64_t N;
        double maxw, tol;
    } mx[] = {{11, 67.93, 0.005}, {21, 234, 0.5},   {41, 616, 0.5},   {81, 1410, 0.5},
              {161, 3017, 0.5},   {321, 6238, 0.5}, {641, 12690, 5.0}};
    double s[641];
    CHECK_OK(lctw_karras_sigmas(11, 0.002, 80, 7, s));
    for (int i = 0; i < 10; i++) {
        double w = lctw_loss_weight(LCTW_WEIGHT_ICT, s[i], s[i + 1]);
        const char *dot = strchr(w11[i], '.');
        double tol = 0.5 * pow(10.0, -(double)strlen(dot + 1));
        CHECK(fabs(w - atof(w11[i])) <= tol, "w[%d] = %.6g, table %s", i, w, w11[i]);
        CHECK_CLOSE(w, 1 / (s[i] - s[i + 1]), 0, 1e-15);
    }
    double minw641 = 0;
    for (unsigned k = 0; k < sizeof mx / sizeof *mx; k++) {
        int64_t N = mx[k].N;
        CHECK_OK(lctw_karras_sigmas(N, 0.002, 80, 7, s));
        double hi = 0, lo = INFINITY;
        for (int64_t i = 0; i + 1 < N; i++) {
            double w = lctw_loss_weight(LCTW_WEIGHT_ICT, s[i], s[i + 1]);
            hi = fmax(hi, w);
            lo = fmin(lo, w);
        }
        CHECK(fabs(hi - mx[k].maxw) <= mx[k].tol, "N=%lld: max w %.6g, table %g", (long long)N, hi,
              mx[k].maxw);
        if (N == 11) CHECK(fabs(lo - 0.0288) <= 5e-5, "min w at 11: %g", lo);
        if (N == 641) {
            CHECK(fabs(lo - 1.47) <= 5e-3, "min w at 641: %g", lo);
            minw641 = lo;
        }
    }
    CHECK(lctw_loss_weight(LCTW_WEIGHT_UNIFORM, 3, 2) == 1.0, "uniform");
    test_detail("N=11 table reproduced; max w at 641 = %.1f, min %.4f", 1 / (s[639] - s[640]),
                minw641);
}

/* NaN/Inf detection: OK status, finite = 0 — also when only the float gradient overflows. */
static void t_nonfinite(void) {
    batch bt;
    make_batch(&bt, 0);
    refcfg rc = {LCTW_LOSS_CAUCHY, LCTW_WEIGHT_ICT, 0.01, 5.0, 0.5, 1};
    float g[B * D];
    lctw_loss_result res;
    bt.ds[3 * D + 1] = NAN;
    CHECK_OK(run_code(&rc, &bt, g, &res, NULL));
    CHECK(!res.finite && isnan(res.loss), "NaN not flagged (L %g)", res.loss);
    make_batch(&bt, 0);
    bt.dt[0] = INFINITY;
    CHECK_OK(run_code(&rc, &bt, g, &res, NULL));
    CHECK(!res.finite, "Inf not flagged (L %g)", res.loss);
    make_batch(&bt, 0);
    rc.kind = LCTW_LOSS_L2;
    rc.use_diff = 0;
    bt.ds[5 * D] = 3e38f; /* L is finite in double; (w/b)·2δ/d overflows float */
    CHECK_OK(run_code(&rc, &bt, g, &res, NULL));
    CHECK(isfinite(res.loss) && !res.finite, "float overflow of the gradient not flagged");
    CHECK_OK(run_code(&rc, &bt, NULL, &res, NULL));
    CHECK(res.finite, "finite without a gradient buffer");
}

static void t_errors(void) {
    batch bt;
    make_batch(&bt, 0);
    float g[B * D];
    lctw_loss_result res;
    refcfg rc = {LCTW_LOSS_CAUCHY, LCTW_WEIGHT_ICT, 0, 5.0, 0.5, 0};
    CHECK(run_code(&rc, &bt, g, &res, NULL) == LCTW_EINVAL, "c = 0 accepted");
    CHECK(strstr(lctw_error_message(), "'cauchy': c must be finite and > 0, got 0"), "message: %s",
          lctw_error_message());
    rc.c = NAN;
    CHECK(run_code(&rc, &bt, g, &res, NULL) == LCTW_EINVAL, "c NaN accepted");
    rc.kind = LCTW_LOSS_L2; /* l2 ignores c */
    CHECK_OK(run_code(&rc, &bt, g, &res, NULL));
    rc.c = 0.01;
    bt.sigma_next[4] = bt.sigma[4];
    CHECK(run_code(&rc, &bt, g, &res, NULL) == LCTW_EINVAL, "sigma == sigma_next accepted");
    CHECK(strstr(lctw_error_message(), "sample 4 needs sigma > sigma_next"), "message: %s",
          lctw_error_message());
    rc.weighting = LCTW_WEIGHT_UNIFORM; /* no σ needed */
    CHECK_OK(run_code(&rc, &bt, g, &res, NULL));
    lctw_loss_cfg cfg = lctw_loss_cfg_default();
    cfg.diff_rate = 1.5;
    CHECK(lctw_loss_cfg_check(&cfg) == LCTW_EINVAL, "rate 1.5 accepted");
    lctw_loss_batch in = {0, D, bt.ds, bt.dt, NULL, bt.sigma, bt.sigma_next, NULL};
    cfg = lctw_loss_cfg_default();
    CHECK(lctw_loss_eval(&cfg, 0.01, &in, g, &res, NULL) == LCTW_ESHAPE, "b = 0 accepted");
    /* names */
    lctw_loss_kind k;
    static const struct {
        const char *s;
        lctw_loss_kind k;
    } names[] = {{"cauchy", LCTW_LOSS_CAUCHY},
                 {"cauchy_new", LCTW_LOSS_CAUCHY_ELEM},
                 {"cauchy-elem", LCTW_LOSS_CAUCHY_ELEM},
                 {"pseudo-huber", LCTW_LOSS_PSEUDO_HUBER},
                 {"huber", LCTW_LOSS_PSEUDO_HUBER},
                 {"huber_new", LCTW_LOSS_PSEUDO_HUBER_ELEM},
                 {"gm", LCTW_LOSS_GEMAN_MCCLURE},
                 {"gm_new", LCTW_LOSS_GEMAN_MCCLURE_ELEM},
                 {"geman_mcclure_elem", LCTW_LOSS_GEMAN_MCCLURE_ELEM},
                 {"l1", LCTW_LOSS_L1},
                 {"l2", LCTW_LOSS_L2}};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        CHECK(lctw_loss_kind_parse(names[i].s, &k) == LCTW_OK && k == names[i].k, "parse %s",
              names[i].s);
    for (int i = 0; i < LCTW_LOSS_COUNT; i++)
        CHECK(lctw_loss_kind_parse(lctw_loss_kind_name((lctw_loss_kind)i), &k) == LCTW_OK &&
                  k == (lctw_loss_kind)i,
              "round trip %d", i);
    CHECK(lctw_loss_kind_parse("cauchyy", &k) == LCTW_EINVAL, "bad name accepted");
    CHECK(strstr(lctw_error_message(), "unknown kind 'cauchyy'"), "message: %s",
          lctw_error_message());
    lctw_weighting w;
    CHECK(lctw_weighting_parse("karras", &w) == LCTW_EINVAL, "bad weighting accepted");
}

/* ρ and dρ/du against direct formulas and central differences (double). */
static void t_rho_scalar(void) {
    static const double us[] = {1e-9, 1e-4, 0.3, 5, 1e6};
    static const double cs[] = {2.5e-4, 0.03456, 1};
    double worst = 0;
    for (int k = 0; k < LCTW_LOSS_COUNT; k++)
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 3; b++) {
                double u = us[a], c = cs[b], h = 1e-5 * u;
                lctw_loss_kind kd = (lctw_loss_kind)k;
                double fd = (lctw_loss_rho(kd, u + h, c) - lctw_loss_rho(kd, u - h, c)) / (2 * h);
                double dr = lctw_loss_drho(kd, u, c);
                /* rounding of the difference: a few ulps of ρ over 2h */
                double tol = 1e-7 * fabs(dr) + 4e-16 * fabs(lctw_loss_rho(kd, u, c)) / h;
                CHECK(fabs(fd - dr) <= tol, "%s u=%g c=%g: drho %.12g, FD %.12g",
                      lctw_loss_kind_name(kd), u, c, dr, fd);
                worst = fmax(worst, fabs(fd - dr) / tol);
            }
    /* pseudo-Huber keeps its precision for u ≪ c² (series u/(2c) − u²/(8c³)) */
    double u = 1e-20;
    CHECK_CLOSE(lctw_loss_rho(LCTW_LOSS_PSEUDO_HUBER, u, 1), u / 2 - u * u / 8, 0, 1e-14);
    CHECK_CLOSE(lctw_loss_rho(LCTW_LOSS_CAUCHY, u, 1), u / 2, 0, 1e-14);
    test_detail("max FD err %.2f of tolerance", worst);
}

/* The tensor entry point equals the array one; a non-contiguous gradient is written through. */
static void t_tensors(void) {
    batch bt;
    make_batch(&bt, 1);
    lctw_tensor *ds = NULL, *dt = NULL, *x = NULL, *gt = NULL, *gv = NULL, *bad = NULL;
    int64_t sh[2] = {B, D}, tsh[2] = {D, B}, bsh[2] = {B, D - 1};
    CHECK_OK(lctw_tensor_empty(&ds, 2, sh, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_empty(&dt, 2, sh, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_empty(&x, 2, sh, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_zeros(&gt, 2, tsh, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_transpose(&gv, gt, 0, 1)); /* (B, D) view, not contiguous */
    CHECK_OK(lctw_tensor_empty(&bad, 2, bsh, LCTW_DEV_CPU));
    if (!ds || !dt || !x || !gv || !bad) return;
    memcpy(lctw_tensor_data(ds), bt.ds, sizeof bt.ds);
    memcpy(lctw_tensor_data(dt), bt.dt, sizeof bt.dt);
    memcpy(lctw_tensor_data(x), bt.x, sizeof bt.x);
    lctw_loss_cfg cfg = lctw_loss_cfg_default();
    lctw_loss_result r0, r1;
    float g0[B * D];
    lctw_loss_batch in = {B, D, bt.ds, bt.dt, bt.x, bt.sigma, bt.sigma_next, bt.mask};
    CHECK_OK(lctw_loss_eval(&cfg, 2.5e-4, &in, g0, &r0, NULL));
    CHECK_OK(lctw_loss_eval_tensors(&cfg, 2.5e-4, ds, dt, x, bt.sigma, bt.sigma_next, bt.mask, gv,
                                    &r1, NULL));
    CHECK(r0.loss == r1.loss && r0.diff_count == r1.diff_count, "L %g vs %g", r0.loss, r1.loss);
    CHECK(!lctw_tensor_is_contiguous(gv), "view is contiguous");
    for (int j = 0; j < B; j++)
        for (int e = 0; e < D; e++) {
            float v = lctw_tensor_data(gt)[e * B + j];
            CHECK(v == g0[j * D + e], "grad[%d,%d] %g vs %g", j, e, v, g0[j * D + e]);
        }
    CHECK(lctw_loss_eval_tensors(&cfg, 0.01, ds, bad, x, bt.sigma, bt.sigma_next, bt.mask, NULL,
                                 &r1, NULL) == LCTW_ESHAPE,
          "shape mismatch accepted");
    CHECK(strstr(lctw_error_message(), "D_t has shape 6×36, expected 6×37"), "message: %s",
          lctw_error_message());
    lctw_tensor_release(ds);
    lctw_tensor_release(dt);
    lctw_tensor_release(x);
    lctw_tensor_release(gv);
    lctw_tensor_release(gt);
    lctw_tensor_release(bad);
}

int main(void) {
    RUN(t_loss_values_grads);
    RUN(t_loss_outliers_tiny_c);
    RUN(t_per_sample);
    RUN(t_diffusion_empty_and_off);
    RUN(t_diffusion_subset);
    RUN(t_weight_table);
    RUN(t_nonfinite);
    RUN(t_errors);
    RUN(t_rho_scalar);
    RUN(t_tensors);
    return test_summary();
}
