/* test_schedule.c — Karras grid, curriculum, lognormal index sampler and c schedules
 * (src/ct/schedule.h) against ALGORITHM.md §4.1, §4.2, §4.3 (diffusion subset), §4.4.
 *
 * References are computed here in double with independently written formulas; the printed
 * tables of ALGORITHM.md are compared to the digits they print (a value "0.0136353" is
 * reproduced when the code's value rounds to it: |v − table| ≤ half a unit of its last digit).
 * Sampling checks use 10^6 draws from fixed streams with 5-sigma bands (deterministic). */
#include <stdint.h>
#include <stdlib.h>

#include "ct/schedule.h"
#include "test.h"

/* Half a unit in the last printed digit of a decimal string ("0.0831" -> 5e-5). */
static double half_ulp(const char *s) {
    const char *dot = strchr(s, '.');
    int dec = dot ? (int)strlen(dot + 1) : 0;
    return 0.5 * pow(10.0, -dec);
}

/* The table value as printed matches v (plus a 1e-12 relative slack for the decimal parse). */
#define CHECK_PRINTED(v, str, what, i)                                                             \
    do {                                                                                           \
        double t_ = atof(str), v_ = (v);                                                           \
        CHECK(fabs(v_ - t_) <= half_ulp(str) + 1e-12 * fabs(t_),                                   \
              "%s[%d] = %.9g does not round to the table's %s", what, (int)(i), v_, str);          \
    } while (0)

/* Independent Karras grid: σ_i = exp(ρ·ln(lerp of the ρ-th roots)). */
static double ref_sigma(int64_t i, int64_t N, double smin, double smax, double rho) {
    double t = (double)i / (double)(N - 1);
    double r = (1.0 - t) * exp(log(smax) / rho) + t * exp(log(smin) / rho);
    return exp(rho * log(r));
}

static void t_karras_n11(void) {
    static const char *table[11] = {"80",     "45.31",  "24.41",   "12.38",   "5.839", "2.515",
                                    "0.9654", "0.3183", "0.08509", "0.01672", "0.002"};
    double s[11];
    CHECK_OK(lctw_karras_sigmas(11, 0.002, 80, 7, s));
    double maxrel = 0;
    for (int i = 0; i < 11; i++) {
        double r = ref_sigma(i, 11, 0.002, 80, 7);
        maxrel = fmax(maxrel, fabs(s[i] - r) / r);
        CHECK_CLOSE(s[i], r, 0, 1e-12);
        CHECK_PRINTED(s[i], table[i], "sigma", i);
    }
    test_detail("§4.1 table reproduced, max rel err vs double ref %.2g", maxrel);
}

static void t_karras_endpoints(void) {
    static const int64_t Ns[] = {2, 3, 11, 21, 641, 1281};
    double *s = malloc(1281 * sizeof *s);
    for (unsigned k = 0; k < sizeof Ns / sizeof *Ns; k++) {
        int64_t N = Ns[k];
        CHECK_OK(lctw_karras_sigmas(N, 0.002, 80, 7, s));
        CHECK(s[0] == 80.0 && s[N - 1] == 0.002, "N=%lld: endpoints %.17g %.17g", (long long)N,
              s[0], s[N - 1]);
        for (int64_t i = 1; i < N; i++) {
            CHECK(s[i] < s[i - 1], "N=%lld: not descending at %lld", (long long)N, (long long)i);
            CHECK_CLOSE(s[i], ref_sigma(i, N, 0.002, 80, 7), 0, 1e-12);
        }
    }
    /* another configuration */
    CHECK_OK(lctw_karras_sigmas(5, 0.01, 10, 3, s));
    for (int i = 0; i < 5; i++)
        CHECK_CLOSE(s[i], ref_sigma(i, 5, 0.01, 10, 3), 0, 1e-12);
    free(s);
}

static void t_karras_errors(void) {
    double s[4];
    CHECK(lctw_karras_sigmas(1, 0.002, 80, 7, s) == LCTW_EINVAL, "N=1 accepted");
    CHECK(strstr(lctw_error_message(), "at least 2"), "message: %s", lctw_error_message());
    CHECK(lctw_karras_sigmas(4, 80, 0.002, 7, s) == LCTW_EINVAL, "min>max accepted");
    CHECK(strstr(lctw_error_message(), "sigma_min 80"), "message: %s", lctw_error_message());
    CHECK(lctw_karras_sigmas(4, 0, 80, 7, s) == LCTW_EINVAL, "sigma_min 0 accepted");
    CHECK(lctw_karras_sigmas(4, 0.002, 80, 0, s) == LCTW_EINVAL, "rho 0 accepted");
    CHECK(lctw_karras_sigmas(4, 0.002, NAN, 7, s) == LCTW_EINVAL, "NaN accepted");
}

/* N(k) written directly from [P]: temp = ⌊K/(log2⌊s1/s0⌋+1)⌋, min(s0·2^⌊k/temp⌋, s1) + 1. */
static int64_t ref_N(int64_t s0, int64_t s1, int64_t K, int64_t k) {
    double temp = floor((double)K / (log2(floor((double)s1 / (double)s0)) + 1));
    if (temp < 1) temp = 1;
    double v = (double)s0 * pow(2.0, floor((double)k / temp));
    return (int64_t)fmin(v, (double)s1) + 1;
}

static void t_curriculum_paper(void) {
    lctw_curriculum c = lctw_curriculum_default(294000);
    CHECK_OK(lctw_curriculum_check(&c));
    CHECK(lctw_curriculum_kprime(&c) == 42000, "K' = %lld", (long long)lctw_curriculum_kprime(&c));
    CHECK(lctw_curriculum_num_stages(&c) == 7, "stages = %d", lctw_curriculum_num_stages(&c));
    static const int64_t Ns[7] = {11, 21, 41, 81, 161, 321, 641};
    for (int s = 0; s < 7; s++) {
        int64_t a = (int64_t)s * 42000, z = a + 41999;
        CHECK(lctw_curriculum_stage_start(&c, s) == a, "stage %d starts at %lld", s,
              (long long)lctw_curriculum_stage_start(&c, s));
        CHECK(lctw_curriculum_stage_N(&c, s) == Ns[s], "stage %d N %lld", s,
              (long long)lctw_curriculum_stage_N(&c, s));
        CHECK(lctw_curriculum_N(&c, a) == Ns[s], "N(%lld) = %lld, expected %lld", (long long)a,
              (long long)lctw_curriculum_N(&c, a), (long long)Ns[s]);
        CHECK(lctw_curriculum_N(&c, z) == Ns[s], "N(%lld) = %lld, expected %lld", (long long)z,
              (long long)lctw_curriculum_N(&c, z), (long long)Ns[s]);
        CHECK(lctw_curriculum_stage(&c, a) == s && lctw_curriculum_stage(&c, z) == s,
              "stage of %lld / %lld", (long long)a, (long long)z);
        if (s > 0)
            CHECK(lctw_curriculum_N(&c, a - 1) == Ns[s - 1], "N(%lld) = %lld before boundary",
                  (long long)(a - 1), (long long)lctw_curriculum_N(&c, a - 1));
    }
    /* each stage is exactly K/7 = 42000 steps of [0, K) */
    int64_t count[7] = {0};
    for (int64_t k = 0; k < 294000; k++) {
        int64_t N = lctw_curriculum_N(&c, k);
        for (int s = 0; s < 7; s++)
            count[s] += N == Ns[s];
        if (k % 997 == 0) CHECK(N == ref_N(10, 640, 294000, k), "N(%lld)", (long long)k);
    }
    for (int s = 0; s < 7; s++)
        CHECK(count[s] == 42000, "stage %d has %lld steps", s, (long long)count[s]);
    /* the extra pass (epochs+1: 210 more steps) and far beyond stay at 641 */
    CHECK(lctw_curriculum_N(&c, 294000 + 209) == 641, "extra pass");
    CHECK(lctw_curriculum_N(&c, (int64_t)1 << 50) == 641, "far beyond");
    CHECK(lctw_curriculum_stage(&c, (int64_t)1 << 50) == 6, "stage far beyond");
    CHECK(lctw_curriculum_N(&c, -5) == 11, "negative step");
    test_detail("K=294000: K'=42000, 7 stages × 42000 steps {11..641}, extra pass at 641");
}

static void t_curriculum_other(void) {
    struct {
        int64_t s0, s1, K;
        int stages;
        int64_t kprime;
    } cs[] = {
        {10, 1280, 400000, 8, 50000}, /* iCT default: K/8 */
        {10, 1000, 100000, 8, 13082}, /* ⌊100000/(log2 100 + 1)⌋, real log2 */
        {8, 512, 70000, 7, 10000},    /* [R]: 9, 17, ..., 513 */
        {10, 640, 3, 7, 1},           /* K' guard */
        {10, 10, 1000, 1, 1000},      /* no curriculum */
        {1, 2, 10, 2, 5},
    };
    for (unsigned t = 0; t < sizeof cs / sizeof *cs; t++) {
        lctw_curriculum c = {cs[t].s0, cs[t].s1, cs[t].K};
        CHECK_OK(lctw_curriculum_check(&c));
        CHECK(lctw_curriculum_num_stages(&c) == cs[t].stages, "case %u: %d stages", t,
              lctw_curriculum_num_stages(&c));
        CHECK(lctw_curriculum_kprime(&c) == cs[t].kprime, "case %u: K' %lld", t,
              (long long)lctw_curriculum_kprime(&c));
        for (int64_t k = 0; k < 3 * cs[t].K; k += 1 + cs[t].K / 5000) {
            int64_t N = lctw_curriculum_N(&c, k), r = ref_N(c.s0, c.s1, c.total, k);
            CHECK(N == r, "case %u: N(%lld) = %lld, expected %lld", t, (long long)k, (long long)N,
                  (long long)r);
            CHECK(lctw_curriculum_stage_N(&c, lctw_curriculum_stage(&c, k)) == N,
                  "case %u: stage of %lld", t, (long long)k);
        }
    }
    lctw_curriculum r = {8, 512, 70000};
    CHECK(lctw_curriculum_stage_N(&r, 1) == 17 && lctw_curriculum_stage_N(&r, 6) == 513,
          "[R] N values");
}

static void t_curriculum_errors(void) {
    lctw_curriculum c = {0, 640, 10};
    CHECK(lctw_curriculum_check(&c) == LCTW_EINVAL, "s0 0 accepted");
    c = (lctw_curriculum){20, 10, 10};
    CHECK(lctw_curriculum_check(&c) == LCTW_EINVAL, "s1 < s0 accepted");
    CHECK(strstr(lctw_error_message(), "s1 must be >= s0 (20), got 10"), "message: %s",
          lctw_error_message());
    c = (lctw_curriculum){10, 640, 0};
    CHECK(lctw_curriculum_check(&c) == LCTW_EINVAL, "total 0 accepted");
}

/* P(i) from the formula with plain erf (no erfc rewriting), normalised. */
static void ref_probs(int64_t N, double pm, double ps, double *p) {
    double sum = 0;
    for (int64_t i = 0; i < N - 1; i++) {
        double a = ref_sigma(i, N, 0.002, 80, 7), b = ref_sigma(i + 1, N, 0.002, 80, 7);
        if (i == 0) a = 80;
        if (i + 1 == N - 1) b = 0.002;
        p[i] = erf((log(a) - pm) / (sqrt(2) * ps)) - erf((log(b) - pm) / (sqrt(2) * ps));
        sum += p[i];
    }
    for (int64_t i = 0; i < N - 1; i++)
        p[i] /= sum;
}

static void t_index_probs(void) {
    static const int64_t Ns[] = {2, 11, 21, 41, 81, 161, 321, 641, 1281};
    static const double pars[][2] = {{-1.1, 2.0}, {-0.4, 2.0}, {-0.8, 1.5}};
    double *p = malloc(1281 * sizeof *p), *r = malloc(1281 * sizeof *r);
    double *s = malloc(1281 * sizeof *s), maxrel = 0;
    for (unsigned a = 0; a < 3; a++)
        for (unsigned k = 0; k < sizeof Ns / sizeof *Ns; k++) {
            int64_t N = Ns[k];
            CHECK_OK(lctw_karras_sigmas(N, 0.002, 80, 7, s));
            CHECK_OK(lctw_index_probs(s, N, pars[a][0], pars[a][1], p));
            ref_probs(N, pars[a][0], pars[a][1], r);
            double sum = 0;
            for (int64_t i = 0; i < N - 1; i++) {
                sum += p[i];
                CHECK(p[i] > 0, "N=%lld: P(%lld) = %g", (long long)N, (long long)i, p[i]);
                CHECK_CLOSE(p[i], r[i], 1e-15, 1e-9);
                maxrel = fmax(maxrel, fabs(p[i] - r[i]) / r[i]);
            }
            CHECK_NEAR(sum, 1.0, 1e-12);
        }
    /* the sampler's cache gives the same numbers */
    lctw_index_sampler smp;
    lctw_index_sampler_init(&smp);
    CHECK_OK(lctw_index_sampler_prepare(&smp, 641));
    ref_probs(641, -1.1, 2.0, r);
    for (int i = 0; i < 640; i++)
        CHECK_CLOSE(smp.prob[i], r[i], 1e-15, 1e-9);
    CHECK(smp.cdf[639] == 1.0, "cdf end %.17g", smp.cdf[639]);
    /* N = 11 probabilities, printed for the record */
    CHECK_OK(lctw_index_sampler_prepare(&smp, 11));
    test_detail("max rel err %.2g; N=11: %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f", maxrel,
                smp.prob[0], smp.prob[1], smp.prob[2], smp.prob[3], smp.prob[4], smp.prob[5],
                smp.prob[6], smp.prob[7], smp.prob[8], smp.prob[9]);
    lctw_index_sampler_release(&smp);
    /* errors */
    CHECK(lctw_index_probs(s, 1, -1.1, 2, p) == LCTW_EINVAL, "N=1 accepted");
    CHECK(lctw_index_probs(s, 4, -1.1, 0, p) == LCTW_EINVAL, "p_std 0 accepted");
    double asc[3] = {0.1, 1, 10};
    CHECK(lctw_index_probs(asc, 3, -1.1, 2, p) == LCTW_EINVAL, "ascending accepted");
    CHECK(strstr(lctw_error_message(), "descend"), "message: %s", lctw_error_message());
    free(p);
    free(r);
    free(s);
}

/* Empirical frequencies of 10^6 draws against the probabilities: each bin within 5 sigma, and
 * the chi-square statistic within dof + 6·√(2·dof). */
static void t_index_sampler_freq(void) {
    static const int64_t Ns[] = {11, 81, 641};
    const int64_t n = 1000000;
    int64_t *idx = malloc((size_t)n * sizeof *idx), cnt[640];
    double r[640], worst = 0, chi_rep = 0;
    lctw_index_sampler smp;
    lctw_index_sampler_init(&smp);
    for (unsigned k = 0; k < 3; k++) {
        int64_t N = Ns[k];
        lctw_rng rng = {.seed = 1234 + k, .stream = 0, .offset = 7};
        CHECK_OK(lctw_index_sampler_sample(&smp, N, n, &rng, idx));
        CHECK(rng.offset == 7 + (uint64_t)n / 4, "offset advanced to %llu",
              (unsigned long long)rng.offset);
        memset(cnt, 0, sizeof cnt);
        for (int64_t j = 0; j < n; j++) {
            CHECK(idx[j] >= 0 && idx[j] <= N - 2, "index %lld out of 0..%lld", (long long)idx[j],
                  (long long)(N - 2));
            if (idx[j] >= 0 && idx[j] <= N - 2) cnt[idx[j]]++;
        }
        ref_probs(N, -1.1, 2.0, r);
        double chi = 0;
        for (int64_t i = 0; i < N - 1; i++) {
            double f = (double)cnt[i] / (double)n, sd = sqrt(r[i] * (1 - r[i]) / (double)n);
            double z = fabs(f - r[i]) / sd;
            worst = fmax(worst, z);
            CHECK(z <= 5, "N=%lld bin %lld: freq %.6f vs P %.6f (%.1f sigma)", (long long)N,
                  (long long)i, f, r[i], z);
            double e = r[i] * (double)n;
            chi += (cnt[i] - e) * (cnt[i] - e) / e;
        }
        double dof = (double)(N - 2);
        CHECK(chi <= dof + 6 * sqrt(2 * dof), "N=%lld: chi2 %.1f for %g dof", (long long)N, chi,
              dof);
        if (N == 641) chi_rep = chi;
    }
    lctw_index_sampler_release(&smp);
    free(idx);
    test_detail("1e6 draws each at N=11/81/641: worst bin %.2f sigma, chi2(639 dof) %.0f", worst,
                chi_rep);
}

static void t_index_sampler_determinism(void) {
    lctw_index_sampler smp;
    lctw_index_sampler_init(&smp);
    int64_t a[100], b[100], c[100];
    lctw_rng r1 = {.seed = 42, .stream = 3, .offset = 10}, r2 = r1, r3 = r1;
    r3.stream = 4;
    CHECK_OK(lctw_index_sampler_sample(&smp, 641, 100, &r1, a));
    CHECK_OK(lctw_index_sampler_sample(&smp, 641, 100, &r2, b));
    CHECK(!memcmp(a, b, sizeof a), "same (seed, stream, offset) differ");
    CHECK(r1.offset == 35 && r2.offset == 35, "offset %llu", (unsigned long long)r1.offset);
    CHECK_OK(lctw_index_sampler_sample(&smp, 641, 100, &r3, c));
    CHECK(memcmp(a, c, sizeof a), "another stream gives the same indices");
    /* two requests of 40 + 60 continue the single request of 100 (40 is a whole number of
     * blocks), also across a cache change of N in between */
    lctw_rng r4 = {.seed = 42, .stream = 3, .offset = 10};
    CHECK_OK(lctw_index_sampler_sample(&smp, 641, 40, &r4, c));
    lctw_rng other = {.seed = 1, .stream = 1, .offset = 1};
    CHECK_OK(lctw_index_sampler_sample(&smp, 11, 3, &other, c + 90));
    CHECK_OK(lctw_index_sampler_sample(&smp, 641, 60, &r4, c + 40));
    CHECK(!memcmp(a, c, sizeof a), "split request differs");
    /* each draw is the inverse CDF of its own uniform */
    for (int j = 0; j < 100; j++) {
        double u = lctw_rng_uniform_at(42, 3, 10, (uint64_t)j), acc = 0;
        int64_t i = 0;
        CHECK_OK(lctw_index_sampler_prepare(&smp, 641));
        while (i < 639 && !(u < (acc += smp.prob[i])))
            i++;
        CHECK(a[j] == i || (a[j] == i + 1 && fabs(acc - u) < 1e-12) ||
                  (a[j] == i - 1 && fabs(acc - smp.prob[i] - u) < 1e-12),
              "draw %d: %lld, inverse CDF gives %lld", j, (long long)a[j], (long long)i);
    }
    CHECK(lctw_index_sampler_sample(&smp, 1, 5, &r1, a) == LCTW_EINVAL, "N=1 accepted");
    lctw_index_sampler_release(&smp);
}

/* The diffusion subset S = {i ≥ ⌊0.75N⌋}: probability (≈24% at N=11, ≈37% for N ≥ 21), checked
 * exactly against the reference probabilities and statistically over 10^6 draws; the σ
 * threshold (σ ≤ 0.0851 at N=11, ≤ 0.16975 for N ≥ 21). */
static void t_diffusion_subset(void) {
    static const int64_t Ns[] = {11, 21, 41, 81, 161, 321, 641};
    const int64_t n = 1000000;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    double r[640], s[641], f11 = 0, f21 = 0;
    lctw_index_sampler smp;
    lctw_index_sampler_init(&smp);
    for (unsigned k = 0; k < 7; k++) {
        int64_t N = Ns[k], first = (int64_t)floor(0.75 * (double)N);
        ref_probs(N, -1.1, 2.0, r);
        double pref = 0, p;
        for (int64_t i = first; i < N - 1; i++)
            pref += r[i];
        CHECK_OK(lctw_index_sampler_tail(&smp, N, first, &p));
        CHECK_CLOSE(p, pref, 1e-12, 0);
        CHECK_NEAR(p, N == 11 ? 0.24 : 0.37, 0.006); /* "≈24 %", "≈37 %" */
        lctw_rng rng = {.seed = 99, .stream = 5, .offset = 0};
        CHECK_OK(lctw_index_sampler_sample(&smp, N, n, &rng, idx));
        int64_t in = 0;
        for (int64_t j = 0; j < n; j++)
            in += idx[j] >= first;
        double f = (double)in / (double)n, sd = sqrt(pref * (1 - pref) / (double)n);
        CHECK(fabs(f - pref) <= 5 * sd, "N=%lld: subset fraction %.5f vs %.5f", (long long)N, f,
              pref);
        if (N == 11) f11 = f;
        if (N == 21) f21 = f;
        CHECK_OK(lctw_karras_sigmas(N, 0.002, 80, 7, s));
        if (N == 11)
            CHECK_PRINTED(s[first], "0.0851", "threshold", first);
        else
            CHECK_PRINTED(s[first], "0.16975", "threshold", first);
        CHECK(s[first - 1] > (N == 11 ? 0.0851 : 0.16975), "N=%lld: sigma above the subset %.6g",
              (long long)N, s[first - 1]);
    }
    lctw_index_sampler_release(&smp);
    free(idx);
    test_detail("fraction in S: N=11 %.4f, N=21 %.4f (1e6 draws); sigma <= 0.0851 / 0.16975", f11,
                f21);
}

/* ---- c schedules ---- */

static void t_c_adaptive_table(void) {
    static const int64_t Ns[7] = {11, 21, 41, 81, 161, 321, 641};
    static const char *table[7] = {"0.03456",   "0.0136353",  "0.00614442", "0.00276883",
                                   "0.0012477", "0.00056225", "0.00025336"};
    lctw_c_schedule s = lctw_c_schedule_default(LCTW_C_ADAPTIVE);
    lctw_curriculum cur = lctw_curriculum_default(294000);
    char line[200];
    int k = snprintf(line, sizeof line, "N→c:");
    for (int i = 0; i < 7; i++) {
        double c;
        int64_t step = lctw_curriculum_stage_start(&cur, i) + 5;
        CHECK(lctw_curriculum_N(&cur, step) == Ns[i], "curriculum N");
        CHECK_OK(lctw_c_schedule_value(&s, step, Ns[i], &c));
        double ref = i == 0 ? 0.00054 * sqrt(4096.0) : exp(-1.15 * log((double)(Ns[i] - 1)) - 0.85);
        CHECK_CLOSE(c, ref, 0, 1e-12);
        CHECK_PRINTED(c, table[i], "c", i);
        k += snprintf(line + k, sizeof line - (size_t)k, " %lld:%.6g", (long long)Ns[i], c);
    }
    /* the fitted formula at N=11 (not used by the rule) */
    CHECK_PRINTED(exp(-1.15 * log(10.0) - 0.85), "0.0302587", "formula at 11", 0);
    /* [R]'s 8→512 table: 9 → c0, then 0.0176243, 0.00794195, ... */
    static const char *rtab[6] = {"0.0176243",  "0.00794195", "0.00357884",
                                  "0.00161272", "0.00072673", "0.00032748"};
    s.s0 = 8;
    double c;
    CHECK_OK(lctw_c_schedule_value(&s, 0, 9, &c));
    CHECK_NEAR(c, 0.03456, 1e-15);
    for (int i = 0; i < 6; i++) {
        CHECK_OK(lctw_c_schedule_value(&s, 0, (8 << (i + 1)) + 1, &c));
        CHECK_PRINTED(c, rtab[i], "[R] c", i);
    }
    /* scale (a later commit multiplies by √2) */
    s.s0 = 10;
    s.scale = sqrt(2.0);
    CHECK_OK(lctw_c_schedule_value(&s, 0, 21, &c));
    CHECK_CLOSE(c, sqrt(2.0) * exp(-1.15 * log(20.0) - 0.85), 0, 1e-12);
    test_detail("%s", line);
}

static void t_c_constant_ict(void) {
    double c;
    lctw_c_schedule s = lctw_c_schedule_default(LCTW_C_CONSTANT);
    s.c = 0.01;
    CHECK_OK(lctw_c_schedule_value(&s, 5, 641, &c));
    CHECK(c == 0.01, "constant %g", c);
    s.c = 0;
    CHECK(lctw_c_schedule_value(&s, 5, 641, &c) == LCTW_EINVAL, "c = 0 accepted");
    CHECK(strstr(lctw_error_message(), "c must be finite and > 0, got 0"), "message: %s",
          lctw_error_message());
    s = lctw_c_schedule_default(LCTW_C_ICT);
    CHECK_OK(lctw_c_schedule_value(&s, 0, 11, &c));
    CHECK_CLOSE(c, 0.03456, 0, 1e-14);
    s.d = 3 * 64 * 64;
    CHECK_OK(lctw_c_schedule_value(&s, 1000, 1281, &c));
    CHECK_CLOSE(c, 0.00054 * sqrt(12288.0), 0, 1e-14);
    s.d = 0;
    CHECK(lctw_c_schedule_value(&s, 0, 11, &c) == LCTW_EINVAL, "d = 0 accepted");
    lctw_c_kind k;
    CHECK(lctw_c_kind_parse("adaptive", &k) == LCTW_OK && k == LCTW_C_ADAPTIVE, "parse");
    CHECK(lctw_c_kind_parse("function", &k) == LCTW_OK && k == LCTW_C_CALLBACK, "parse fn");
    CHECK(lctw_c_kind_parse("adaptiv", &k) == LCTW_EINVAL, "bad name accepted");
    CHECK(strstr(lctw_error_message(), "'adaptiv'"), "message: %s", lctw_error_message());
}

typedef struct {
    int calls;
    int64_t last_step, last_N;
} cb_state;

static lctw_status cb_fn(void *ud, int64_t step, int64_t N, double *c) {
    cb_state *st = ud;
    st->calls++;
    st->last_step = step;
    st->last_N = N;
    if (step < 0) return LCTW_FAIL(LCTW_EINVAL, "callback refuses step %lld", (long long)step);
    *c = step == 777 ? -1.0 : 1.0 / (double)(N + step);
    return LCTW_OK;
}

static void t_c_callback(void) {
    cb_state st = {0, 0, 0};
    lctw_c_schedule s = lctw_c_schedule_default(LCTW_C_CALLBACK);
    double c;
    CHECK(lctw_c_schedule_value(&s, 0, 11, &c) == LCTW_EINVAL, "no function accepted");
    s.fn = cb_fn;
    s.ud = &st;
    CHECK_OK(lctw_c_schedule_value(&s, 9, 41, &c));
    CHECK(c == 1.0 / 50 && st.calls == 1 && st.last_step == 9 && st.last_N == 41,
          "callback c %g calls %d", c, st.calls);
    CHECK(lctw_c_schedule_value(&s, -1, 41, &c) == LCTW_EINVAL, "callback error lost");
    CHECK(strstr(lctw_error_message(), "refuses step -1"), "message: %s", lctw_error_message());
    CHECK(lctw_c_schedule_value(&s, 777, 41, &c) == LCTW_EINVAL, "negative c accepted");
    CHECK(strstr(lctw_error_message(), "got -1 (step 777, N 41)"), "message: %s",
          lctw_error_message());
}

int main(void) {
    RUN(t_karras_n11);
    RUN(t_karras_endpoints);
    RUN(t_karras_errors);
    RUN(t_curriculum_paper);
    RUN(t_curriculum_other);
    RUN(t_curriculum_errors);
    RUN(t_index_probs);
    RUN(t_index_sampler_freq);
    RUN(t_index_sampler_determinism);
    RUN(t_diffusion_subset);
    RUN(t_c_adaptive_table);
    RUN(t_c_constant_ict);
    RUN(t_c_callback);
    return test_summary();
}
