/* test_metrics.c — Fréchet distance, sliced Wasserstein-2 and tail statistics
 * (src/ct/metrics.c).
 *
 * References computed here, independently of the code under test: matrices with known
 * eigen-decompositions (Householder reflections), closed forms of the FD (diagonal and commuting
 * covariances, a mean shift), the 3×3 case through the roots of the characteristic polynomial
 * of Σa·Σb (trigonometric cubic formula), a PyTorch/LAPACK fixture (tests/fixtures/
 * metrics_fd.safetensors, scripts/make_metrics_fixture.py); 1-D W2 by replicating samples to a
 * common count; SWD of a shift and of a scaling from projections computed here in double; tail
 * fractions by direct loops.
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "ct/metrics.h"
#include "io/safetensors.h"
#include "lctw_cuda.h"
#include "test.h"

#define FIXTURE "tests/fixtures/metrics_fd.safetensors"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static double nrand(void) {
    double u = urand(), v = urand();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static int msg_has(const char *needle) { return strstr(lctw_error_message(), needle) != NULL; }

/* Q = I − 2vvᵀ/vᵀv (orthogonal, symmetric) for a random v. */
static void householder(int n, double *q) {
    double *v = malloc((size_t)n * sizeof *v), vv = 0;
    for (int i = 0; i < n; i++) {
        v[i] = nrand();
        vv += v[i] * v[i];
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            q[i * n + j] = (i == j) - 2 * v[i] * v[j] / vv;
    free(v);
}

/* a = Q diag(d) Qᵀ */
static void compose(int n, const double *q, const double *d, double *a) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++)
                s += q[i * n + k] * d[k] * q[j * n + k];
            a[i * n + j] = s;
        }
}

static int cmp_d(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static lctw_tensor *tensor4(int64_t n, int64_t c, int64_t h, int64_t w) {
    int64_t shape[4] = {n, c, h, w};
    lctw_tensor *t = NULL;
    lctw_tensor_empty(&t, 4, shape, LCTW_DEV_CPU);
    return t;
}

static lctw_tensor *tensor2(int64_t n, int64_t d) {
    int64_t shape[2] = {n, d};
    lctw_tensor *t = NULL;
    lctw_tensor_empty(&t, 2, shape, LCTW_DEV_CPU);
    return t;
}

/* ---- eigen-solver ---- */

static void t_symeig_known_spectrum(void) {
    const int sizes[4] = {1, 2, 7, 40};
    double worst_w = 0, worst_r = 0, worst_o = 0;
    for (int si = 0; si < 4; si++) {
        int n = sizes[si];
        double *q = malloc((size_t)n * n * sizeof *q), *a = malloc((size_t)n * n * sizeof *a);
        double *a0 = malloc((size_t)n * n * sizeof *a0), *v = malloc((size_t)n * n * sizeof *v);
        double *d = malloc((size_t)n * sizeof *d), *w = malloc((size_t)n * sizeof *w);
        for (int i = 0; i < n; i++)
            d[i] = (i % 3 == 0 && i) ? d[i - 1] : 10 * nrand(); /* repeats */
        householder(n, q);
        compose(n, q, d, a);
        memcpy(a0, a, (size_t)n * n * sizeof *a);
        double scale = 0;
        for (int i = 0; i < n; i++)
            scale = fmax(scale, fabs(d[i]));
        int sweeps = 0;
        CHECK_OK(lctw_metrics_symeig(n, a, w, v, &sweeps));
        qsort(d, (size_t)n, sizeof *d, cmp_d);
        for (int i = 0; i < n; i++) {
            CHECK_NEAR(w[i], d[i], 1e-12 * scale);
            worst_w = fmax(worst_w, fabs(w[i] - d[i]) / scale);
            if (i) CHECK(w[i] >= w[i - 1], "eigenvalues not ascending at %d", i);
        }
        /* A v_i = w_i v_i and VᵀV = I */
        for (int i = 0; i < n; i++)
            for (int r = 0; r < n; r++) {
                double s = 0;
                for (int k = 0; k < n; k++)
                    s += a0[r * n + k] * v[k * n + i];
                double res = fabs(s - w[i] * v[r * n + i]) / scale;
                worst_r = fmax(worst_r, res);
                CHECK(res < 1e-11, "n=%d: |A v − w v| = %.2e", n, res);
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++)
                    s += v[k * n + i] * v[k * n + j];
                worst_o = fmax(worst_o, fabs(s - (i == j)));
                CHECK(fabs(s - (i == j)) < 1e-12, "n=%d: VᵀV(%d,%d) = %.15g", n, i, j, s);
            }
        free(q), free(a), free(a0), free(v), free(d), free(w);
    }
    /* zero matrix, and a non-finite input */
    double z[4] = {0}, w2[2];
    CHECK_OK(lctw_metrics_symeig(2, z, w2, NULL, NULL));
    CHECK(w2[0] == 0 && w2[1] == 0, "zero matrix eigenvalues %g %g", w2[0], w2[1]);
    double bad[4] = {1, NAN, NAN, 1};
    CHECK(lctw_metrics_symeig(2, bad, w2, NULL, NULL) == LCTW_EINVAL && msg_has("(0, 1)"),
          "NaN input: %s", lctw_error_message());
    test_detail("(eigenvalues %.1e, residual %.1e, orthogonality %.1e; relative)", worst_w, worst_r,
                worst_o);
}

/* ---- FD of Gaussians ---- */

static void t_fd_gauss_closed_forms(void) {
    /* diagonal: FD = |Δμ|² + Σ(√a − √b)² */
    const int d = 6;
    double mu1[6], mu2[6], s1[36] = {0}, s2[36] = {0}, want = 0;
    for (int i = 0; i < d; i++) {
        mu1[i] = nrand();
        mu2[i] = nrand();
        s1[i * d + i] = 0.1 + urand() * 3;
        s2[i * d + i] = 0.1 + urand() * 3;
        want += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
        want += pow(sqrt(s1[i * d + i]) - sqrt(s2[i * d + i]), 2);
    }
    double fd, mt, ct;
    CHECK_OK(lctw_metrics_fd_gauss(d, mu1, s1, mu2, s2, &fd, &mt, &ct));
    CHECK_CLOSE(fd, want, 1e-12, 1e-12);
    CHECK_CLOSE(mt + ct, fd, 1e-12, 0);
    /* commuting covariances Q diag(a) Qᵀ, Q diag(b) Qᵀ (d = 60): Tr √(AB) = Σ √(a_i b_i) */
    const int n = 60;
    double *q = malloc(n * n * sizeof *q), *a = malloc(n * n * sizeof *a),
           *b = malloc(n * n * sizeof *b);
    double da[60], db[60], m0[60] = {0}, m1[60], w2 = 0;
    householder(n, q);
    for (int i = 0; i < n; i++) {
        da[i] = 0.01 + urand() * 4;
        db[i] = i < 5 ? 0.0 : 0.01 + urand() * 4; /* a singular B */
        m1[i] = 0.1 * i;
        w2 += m1[i] * m1[i] + da[i] + db[i] - 2 * sqrt(da[i] * db[i]);
    }
    compose(n, q, da, a);
    compose(n, q, db, b);
    CHECK_OK(lctw_metrics_fd_gauss(n, m0, a, m1, b, &fd, NULL, NULL));
    /* B's five zero eigenvalues come out of √A B √A as ±1e-15 round-off, whose square roots
     * (3e-8 each) bound the attainable accuracy */
    CHECK_CLOSE(fd, w2, 1e-6, 1e-10);
    test_detail("(diagonal %.12g; commuting 60-dim %.12g vs %.12g)", want, fd, w2);
    free(q), free(a), free(b);
}

/* Real roots of λ³ + p2 λ² + p1 λ + p0 (three real roots here), by the trigonometric method:
 * λ = t − p2/3 with t³ + p t + q = 0, t_k = 2√(−p/3) cos(⅓ acos((3q/2p)√(−3/p)) − 2πk/3). */
static void cubic_roots(double p2, double p1, double p0, double r[3]) {
    double p = p1 - p2 * p2 / 3, q = 2 * p2 * p2 * p2 / 27 - p2 * p1 / 3 + p0;
    double arg = 3 * q / (2 * p) * sqrt(-3 / p);
    arg = fmax(-1.0, fmin(1.0, arg)); /* round-off */
    double th = acos(arg) / 3, m = 2 * sqrt(-p / 3);
    for (int k = 0; k < 3; k++)
        r[k] = m * cos(th - 2 * M_PI * k / 3) - p2 / 3;
}

static void random_spd3(double *s) {
    double g[9];
    for (int i = 0; i < 9; i++)
        g[i] = nrand();
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double v = 0.2 * (i == j);
            for (int k = 0; k < 3; k++)
                v += g[i * 3 + k] * g[j * 3 + k];
            s[i * 3 + j] = v;
        }
}

static void t_fd_gauss_3x3_cubic(void) {
    double worst = 0;
    for (int rep = 0; rep < 20; rep++) {
        double a[9], b[9], m[9], mu1[3], mu2[3], dm = 0;
        random_spd3(a);
        random_spd3(b);
        for (int i = 0; i < 3; i++) {
            mu1[i] = nrand();
            mu2[i] = nrand();
            dm += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
        }
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                double v = 0;
                for (int k = 0; k < 3; k++)
                    v += a[i * 3 + k] * b[k * 3 + j];
                m[i * 3 + j] = v;
            }
        /* det(λI − M) = λ³ − tr λ² + c1 λ − det */
        double tr = m[0] + m[4] + m[8];
        double c1 =
            m[0] * m[4] - m[1] * m[3] + m[0] * m[8] - m[2] * m[6] + m[4] * m[8] - m[5] * m[7];
        double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                     m[2] * (m[3] * m[7] - m[4] * m[6]);
        double r[3];
        cubic_roots(-tr, c1, -det, r);
        double want = dm + (a[0] + a[4] + a[8]) + (b[0] + b[4] + b[8]);
        for (int k = 0; k < 3; k++)
            want -= 2 * sqrt(fmax(r[k], 0));
        double fd;
        CHECK_OK(lctw_metrics_fd_gauss(3, mu1, a, mu2, b, &fd, NULL, NULL));
        CHECK_CLOSE(fd, want, 1e-9, 1e-9);
        worst = fmax(worst, fabs(fd - want) / fmax(1.0, fabs(want)));
    }
    test_detail("(20 random 3×3 cases, worst relative error %.1e)", worst);
}

/* ---- FD of latent sets ---- */

static void t_fd_pool_choice(void) {
    int p = 0;
    CHECK_OK(lctw_metrics_fd_pool(4, 32, 32, &p));
    CHECK(p == 4, "4×32×32 -> pool %d", p);
    CHECK_OK(lctw_metrics_fd_pool(4, 16, 16, &p));
    CHECK(p == 2, "4×16×16 -> pool %d", p);
    CHECK_OK(lctw_metrics_fd_pool(16, 32, 32, &p));
    CHECK(p == 8, "16×32×32 -> pool %d", p);
    CHECK_OK(lctw_metrics_fd_pool(3, 5, 7, &p));
    CHECK(p == 1, "3×5×7 -> pool %d", p);
    CHECK(lctw_metrics_fd_pool(300, 1, 1, &p) == LCTW_ESHAPE && msg_has("300×1×1") &&
              msg_has("pool="),
          "300 channels: %s", lctw_error_message());
}

static void t_fd_features_pooling(void) {
    lctw_tensor *x = tensor4(3, 2, 4, 6);
    float *v = lctw_tensor_data(x);
    for (int i = 0; i < 144; i++)
        v[i] = (float)nrand();
    double *f = NULL;
    int64_t n = 0;
    int d = 0;
    CHECK_OK(lctw_metrics_features(x, 2, &f, &n, &d));
    if (case_failed) return;
    CHECK(n == 3 && d == 12, "features %lld×%d", (long long)n, d);
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < 2; c++)
            for (int y = 0; y < 2; y++)
                for (int xo = 0; xo < 3; xo++) {
                    double s = 0;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++)
                            s += v[((i * 2 + c) * 4 + 2 * y + dy) * 6 + 2 * xo + dx];
                    CHECK_CLOSE(f[i * 12 + (c * 2 + y) * 3 + xo], s / 4, 1e-12, 0);
                }
    free(f);
    CHECK(lctw_metrics_features(x, 4, &f, &n, &d) == LCTW_ESHAPE && msg_has("W = 6"),
          "pool 4 of width 6: %s", lctw_error_message());
    lctw_tensor_release(x);
}

static void t_fd_identical_and_shift(void) {
    lctw_synth_opts so;
    lctw_synth_opts_init(&so);
    so.n = 600;
    lctw_tensor *a = NULL, *b = NULL;
    CHECK_OK(lctw_synth_generate(&a, &so, NULL));
    if (case_failed) return;
    CHECK_OK(lctw_tensor_clone(&b, a));
    const float t = 0.375f; /* exact shift */
    for (int64_t i = 0; i < 600 * 4096; i++)
        lctw_tensor_data(b)[i] += t;
    lctw_fd_result r0, r1;
    CHECK_OK(lctw_metrics_fd(a, a, 0, &r0));
    CHECK_OK(lctw_metrics_fd(a, b, 0, &r1));
    if (case_failed) return;
    CHECK(r0.pool == 4 && r0.dims == 256 && r0.na == 600, "pool %d dims %d", r0.pool, r0.dims);
    CHECK(fabs(r0.fd) < 1e-8 * fmax(1.0, r1.cov_term + 1), "FD(a, a) = %.3e", r0.fd);
    /* b = a + t: identical covariances (up to float rounding of a + t), |Δμ|² = 256·t² */
    CHECK_CLOSE(r1.mean_term, 256.0 * t * t, 1e-9, 1e-6);
    CHECK_CLOSE(r1.fd, 256.0 * t * t, 1e-4, 1e-6);
    test_detail("(FD(a,a) = %.1e; shift 0.375: %.9g vs %.9g)", r0.fd, r1.fd, 256.0 * t * t);
    lctw_tensor_release(a);
    lctw_tensor_release(b);
}

static void t_fd_2d_features_vs_cubic(void) {
    /* (n, 3) feature sets: means and covariances computed here, FD through the cubic roots */
    const int n = 500;
    lctw_tensor *a = tensor2(n, 3), *b = tensor2(n, 3);
    float *va = lctw_tensor_data(a), *vb = lctw_tensor_data(b);
    for (int i = 0; i < n; i++) {
        double g0 = nrand(), g1 = nrand(), g2 = nrand();
        va[i * 3] = (float)g0, va[i * 3 + 1] = (float)(0.5 * g0 + g1), va[i * 3 + 2] = (float)g2;
        double h0 = nrand(), h1 = nrand(), h2 = nrand();
        vb[i * 3] = (float)(1 + 2 * h0), vb[i * 3 + 1] = (float)(h1 - h2),
               vb[i * 3 + 2] = (float)(0.3 * h0 + h2);
    }
    double mu[2][3] = {{0}}, s[2][9] = {{0}};
    for (int t = 0; t < 2; t++) {
        float *v = t ? vb : va;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 3; k++)
                mu[t][k] += v[i * 3 + k] / (double)n;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 3; k++)
                    s[t][j * 3 + k] +=
                        (v[i * 3 + j] - mu[t][j]) * (v[i * 3 + k] - mu[t][k]) / (n - 1);
    }
    double m[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double x = 0;
            for (int k = 0; k < 3; k++)
                x += s[0][i * 3 + k] * s[1][k * 3 + j];
            m[i * 3 + j] = x;
        }
    double tr = m[0] + m[4] + m[8];
    double c1 = m[0] * m[4] - m[1] * m[3] + m[0] * m[8] - m[2] * m[6] + m[4] * m[8] - m[5] * m[7];
    double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                 m[2] * (m[3] * m[7] - m[4] * m[6]);
    double r[3], want = 0;
    cubic_roots(-tr, c1, -det, r);
    for (int k = 0; k < 3; k++)
        want += (mu[0][k] - mu[1][k]) * (mu[0][k] - mu[1][k]) + s[0][k * 4] + s[1][k * 4] -
                2 * sqrt(r[k]);
    lctw_fd_result res;
    CHECK_OK(lctw_metrics_fd(a, b, 0, &res));
    CHECK(res.pool == 0 && res.dims == 3, "pool %d dims %d", res.pool, res.dims);
    CHECK_CLOSE(res.fd, want, 1e-9, 1e-9);
    test_detail("(FD %.9g vs %.9g)", res.fd, want);
    lctw_tensor_release(a);
    lctw_tensor_release(b);
}

static double meta_num(const lctw_st_file *f, const char *k) {
    const char *v = lctw_st_metadata_get(f, k);
    return v ? strtod(v, NULL) : NAN;
}

static void t_fd_vs_pytorch_fixture(void) {
    if (access(FIXTURE, R_OK) != 0) SKIP("%s not found (run from the project root)", FIXTURE);
    lctw_st_file *f = NULL;
    CHECK_OK(lctw_st_open(&f, FIXTURE));
    if (case_failed) return;
    lctw_tensor *a = NULL, *b = NULL;
    CHECK_OK(lctw_st_load_tensor(&a, f, "a"));
    CHECK_OK(lctw_st_load_tensor(&b, f, "b"));
    double w1 = meta_num(f, "fd_pool1"), w2 = meta_num(f, "fd_pool2");
    lctw_st_close(f);
    if (case_failed) return;
    lctw_fd_result r1, r2, r0;
    CHECK_OK(lctw_metrics_fd(a, b, 1, &r1));
    CHECK_OK(lctw_metrics_fd(a, b, 2, &r2));
    CHECK_OK(lctw_metrics_fd(a, b, 0, &r0)); /* default: 2×4×4 = 32 <= 256 -> pool 1 */
    CHECK(r1.dims == 32 && r2.dims == 8 && r0.pool == 1, "dims %d %d pool %d", r1.dims, r2.dims,
          r0.pool);
    CHECK_CLOSE(r1.fd, w1, 1e-9, 1e-9);
    CHECK_CLOSE(r2.fd, w2, 1e-9, 1e-9);
    test_detail("(pool 1: %.12g vs %.12g; pool 2: %.12g vs %.12g)", r1.fd, w1, r2.fd, w2);
    lctw_tensor_release(a);
    lctw_tensor_release(b);
}

/* ---- sliced Wasserstein ---- */

static void t_w2_1d(void) {
    double a[2] = {0, 1}, b[3] = {0, 0.5, 1};
    CHECK_CLOSE(lctw_metrics_w2_1d(a, 2, b, 3), 1.0 / 12, 1e-15, 0);
    /* random unequal counts vs replication to lcm(na, nb) samples each */
    double worst = 0;
    for (int rep = 0; rep < 20; rep++) {
        int na = 1 + (int)(urand() * 12), nb = 1 + (int)(urand() * 12);
        double x[12], y[12];
        for (int i = 0; i < na; i++)
            x[i] = nrand();
        for (int i = 0; i < nb; i++)
            y[i] = 2 * nrand() + 1;
        qsort(x, (size_t)na, sizeof *x, cmp_d);
        qsort(y, (size_t)nb, sizeof *y, cmp_d);
        int l = na;
        while (l % nb)
            l += na;
        double s = 0;
        for (int k = 0; k < l; k++) {
            double d = x[k / (l / na)] - y[k / (l / nb)];
            s += d * d;
        }
        double got = lctw_metrics_w2_1d(x, na, y, nb);
        CHECK_CLOSE(got, s / l, 1e-13, 1e-12);
        worst = fmax(worst, fabs(got - s / l));
    }
    test_detail("(1/12 case exact; 20 random unequal-count cases within %.1e)", worst);
}

static void t_swd_identical_shift_scale(void) {
    const int64_t n = 200, D = 48;
    const int P = 64;
    lctw_tensor *a = tensor4(n, 3, 4, 4), *b = tensor4(n, 3, 4, 4), *c = tensor4(n, 3, 4, 4);
    const float t = 0.75f;
    for (int64_t i = 0; i < n * D; i++) {
        float v = (float)(nrand() * (1 + (i % 3)));
        lctw_tensor_data(a)[i] = v;
        lctw_tensor_data(b)[i] = v + t;
        lctw_tensor_data(c)[i] = 2 * v;
    }
    double s0, s1, s2;
    CHECK_OK(lctw_metrics_swd(a, a, P, 1, &s0));
    CHECK_OK(lctw_metrics_swd(a, b, P, 1, &s1));
    CHECK_OK(lctw_metrics_swd(a, c, P, 1, &s2));
    lctw_tensor *dirs = NULL;
    CHECK_OK(lctw_metrics_swd_directions(D, P, 1, &dirs));
    if (case_failed) return;
    const float *th = lctw_tensor_data(dirs);
    /* shift: W2² per direction = (t·Σθ)²; scaling by 2: W2² = mean_i (θ·a_i)² (order kept) */
    double shift = 0, scale = 0, worst_norm = 0;
    for (int p = 0; p < P; p++) {
        double sum = 0, nrm = 0;
        for (int64_t k = 0; k < D; k++) {
            sum += th[k * P + p];
            nrm += (double)th[k * P + p] * th[k * P + p];
        }
        worst_norm = fmax(worst_norm, fabs(nrm - 1));
        shift += t * t * sum * sum / P;
        double m2 = 0;
        for (int64_t i = 0; i < n; i++) {
            double proj = 0;
            for (int64_t k = 0; k < D; k++)
                proj += (double)lctw_tensor_data(a)[i * D + k] * th[k * P + p];
            m2 += proj * proj / (double)n;
        }
        scale += m2 / P;
    }
    CHECK(worst_norm < 1e-6, "directions not unit length (%.1e)", worst_norm);
    CHECK(s0 == 0, "SWD(a, a) = %g", s0);
    CHECK_CLOSE(s1, sqrt(shift), 1e-6, 1e-5);
    CHECK_CLOSE(s2, sqrt(scale), 1e-6, 1e-5);
    CHECK(fabs(s1 / t - 1) < 0.35, "SWD of a shift by %g = %g (expected ≈ |t|)", t, s1);
    /* the same empirical distribution with twice the samples: distance 0 */
    lctw_tensor *aa = tensor4(2 * n, 3, 4, 4);
    memcpy(lctw_tensor_data(aa), lctw_tensor_data(a), (size_t)(n * D) * sizeof(float));
    memcpy(lctw_tensor_data(aa) + n * D, lctw_tensor_data(a), (size_t)(n * D) * sizeof(float));
    double s3, s4;
    CHECK_OK(lctw_metrics_swd(a, aa, P, 1, &s3));
    CHECK(s3 < 1e-6, "SWD(a, a∪a) = %g", s3);
    CHECK_OK(lctw_metrics_swd(b, a, P, 1, &s4));
    CHECK_CLOSE(s4, s1, 1e-12, 1e-9); /* symmetric */
    test_detail("(shift: %.6g vs %.6g, ≈ t = %g; scale ×2: %.6g vs %.6g)", s1, sqrt(shift), t, s2,
                sqrt(scale));
    lctw_tensor_release(dirs);
    lctw_tensor_release(a);
    lctw_tensor_release(b);
    lctw_tensor_release(c);
    lctw_tensor_release(aa);
}

/* ---- tails ---- */

static void t_tails_vs_loops(void) {
    const int64_t na = 30, nr = 50, C = 3, hw = 16;
    lctw_tensor *a = tensor4(na, C, 4, 4), *r = tensor4(nr, C, 4, 4);
    for (int64_t i = 0; i < nr * C * hw; i++) {
        double v = nrand() * (1 + 0.5 * (double)((i / hw) % C));
        if (urand() < 0.01) v *= 8;
        lctw_tensor_data(r)[i] = (float)v;
    }
    for (int64_t i = 0; i < na * C * hw; i++)
        lctw_tensor_data(a)[i] = (float)(2.5 * nrand());
    lctw_tail_stats ta, tr;
    CHECK_OK(lctw_metrics_tails(a, r, &ta, &tr));
    if (case_failed) return;
    double mu[3], sd[3];
    for (int c = 0; c < C; c++) {
        double s = 0, s2 = 0, n = (double)(nr * hw);
        for (int64_t i = 0; i < nr; i++)
            for (int64_t q = 0; q < hw; q++)
                s += lctw_tensor_data(r)[(i * C + c) * hw + q];
        mu[c] = s / n;
        for (int64_t i = 0; i < nr; i++)
            for (int64_t q = 0; q < hw; q++) {
                double d = lctw_tensor_data(r)[(i * C + c) * hw + q] - mu[c];
                s2 += d * d;
            }
        sd[c] = sqrt(s2 / n);
    }
    for (int which = 0; which < 2; which++) {
        lctw_tensor *x = which ? r : a;
        const lctw_tail_stats *ts = which ? &tr : &ta;
        int64_t n = x->shape[0];
        double tail[4] = {0}, mx = 0, kurt = 0;
        for (int c = 0; c < C; c++) {
            double m = 0, m2 = 0, m4 = 0, cnt = (double)(n * hw);
            for (int64_t i = 0; i < n; i++)
                for (int64_t q = 0; q < hw; q++)
                    m += lctw_tensor_data(x)[(i * C + c) * hw + q] / cnt;
            for (int64_t i = 0; i < n; i++)
                for (int64_t q = 0; q < hw; q++) {
                    double v = lctw_tensor_data(x)[(i * C + c) * hw + q];
                    double d = v - m, z = fabs(v - mu[c]) / sd[c];
                    m2 += d * d / cnt, m4 += d * d * d * d / cnt;
                    for (int k = 0; k < 4; k++)
                        tail[k] += (z > 3 + k) / cnt / C;
                    mx = fmax(mx, z);
                }
            kurt += (m4 / (m2 * m2) - 3) / C;
        }
        for (int k = 0; k < 4; k++)
            CHECK_CLOSE(ts->tail[k], tail[k], 1e-12, 0);
        CHECK_CLOSE(ts->max_abs_std, mx, 1e-9, 1e-9);
        CHECK_CLOSE(ts->kurtosis, kurt, 1e-9, 1e-9);
        CHECK(ts->n == n * C * hw, "n %lld", (long long)ts->n);
    }
    CHECK(ta.tail[0] > tr.tail[0],
          "wide samples should have a heavier 3σ tail on the "
          "reference's scale (%g vs %g)",
          ta.tail[0], tr.tail[0]);
    /* without a reference: a on its own scale equals data.h's pooled tail fractions */
    lctw_tail_stats self;
    lctw_latent_stats st;
    CHECK_OK(lctw_metrics_tails(r, NULL, &self, NULL));
    CHECK_OK(lctw_latent_stats_compute(r, &st));
    if (!case_failed) {
        for (int k = 0; k < 4; k++)
            CHECK_CLOSE(self.tail[k], st.pooled.tail[k], 1e-12, 0);
        CHECK_CLOSE(self.kurtosis, st.pooled.kurtosis, 1e-12, 1e-12);
        lctw_latent_stats_release(&st);
    }
    test_detail("(P(>3σ) samples %.3f vs reference %.4f)", ta.tail[0], tr.tail[0]);
    lctw_tensor_release(a);
    lctw_tensor_release(r);
}

static void t_errors(void) {
    lctw_tensor *a = tensor4(5, 2, 4, 4), *b = tensor4(5, 3, 4, 4), *one = tensor4(1, 2, 4, 4);
    lctw_tensor *z = tensor4(5, 2, 4, 4);
    for (int i = 0; i < 160; i++)
        lctw_tensor_data(a)[i] = (float)nrand();
    for (int i = 0; i < 240; i++)
        lctw_tensor_data(b)[i] = (float)nrand();
    for (int i = 0; i < 32; i++)
        lctw_tensor_data(one)[i] = 1;
    memset(lctw_tensor_data(z), 0, 160 * sizeof(float));
    lctw_fd_result r;
    double v;
    CHECK(lctw_metrics_fd(a, b, 0, &r) == LCTW_ESHAPE && msg_has("5×2×4×4") && msg_has("5×3×4×4"),
          "fd shapes: %s", lctw_error_message());
    CHECK(lctw_metrics_fd(a, one, 0, &r) == LCTW_ESHAPE && msg_has("at least 2"), "fd n=1: %s",
          lctw_error_message());
    CHECK(lctw_metrics_swd(a, b, 8, 0, &v) == LCTW_ESHAPE && msg_has("same number"),
          "swd shapes: %s", lctw_error_message());
    CHECK(lctw_metrics_swd(a, a, 0, 0, &v) == LCTW_EINVAL && msg_has("projections"),
          "swd 0 projections: %s", lctw_error_message());
    lctw_tail_stats t;
    CHECK(lctw_metrics_tails(a, b, &t, NULL) == LCTW_ESHAPE && msg_has("channel counts"),
          "tails channels: %s", lctw_error_message());
    CHECK(lctw_metrics_tails(a, z, &t, NULL) == LCTW_EINVAL && msg_has("channel 1 has std 0"),
          "tails zero std: %s", lctw_error_message());
    lctw_tensor_release(a);
    lctw_tensor_release(b);
    lctw_tensor_release(one);
    lctw_tensor_release(z);
}

/* The metrics of CUDA tensors equal those of their CPU copies (FD features are gathered on the
 * CPU; SWD projects with cuBLAS; tails use the CUDA reductions and histogram). */
static void t_cuda_parity(void) {
    if (lctw_cuda_device_count() <= 0) SKIP("no CUDA device: %s", lctw_cuda_describe());
    lctw_synth_opts so;
    lctw_synth_opts_init(&so);
    so.n = 200, so.c = 2, so.h = 8, so.w = 8, so.outliers = 0.01;
    lctw_tensor *a = NULL, *b = NULL, *ga = NULL, *gb = NULL;
    CHECK_OK(lctw_synth_generate(&a, &so, NULL));
    so.seed = 1;
    CHECK_OK(lctw_synth_generate(&b, &so, NULL));
    CHECK_OK(lctw_tensor_to(&ga, a, LCTW_DEV_CUDA));
    CHECK_OK(lctw_tensor_to(&gb, b, LCTW_DEV_CUDA));
    if (case_failed) return;
    lctw_fd_result rc, rg;
    double sc, sg;
    lctw_tail_stats tc, tg, rtc, rtg;
    CHECK_OK(lctw_metrics_fd(a, b, 0, &rc));
    CHECK_OK(lctw_metrics_fd(ga, gb, 0, &rg));
    CHECK_OK(lctw_metrics_swd(a, b, 64, 3, &sc));
    CHECK_OK(lctw_metrics_swd(ga, gb, 64, 3, &sg));
    CHECK_OK(lctw_metrics_tails(a, b, &tc, &rtc));
    CHECK_OK(lctw_metrics_tails(ga, gb, &tg, &rtg));
    if (case_failed) return;
    CHECK(rc.fd == rg.fd, "FD %.17g (cpu) vs %.17g (cuda)", rc.fd, rg.fd);
    CHECK_CLOSE(sg, sc, 1e-6, 1e-5);
    CHECK_CLOSE(tg.kurtosis, tc.kurtosis, 1e-6, 1e-5);
    CHECK_CLOSE(rtg.kurtosis, rtc.kurtosis, 1e-6, 1e-5);
    for (int k = 0; k < LCTW_TAIL_NK; k++) {
        CHECK_CLOSE(tg.tail[k], tc.tail[k], 1e-6, 1e-3);
        CHECK_CLOSE(rtg.tail[k], rtc.tail[k], 1e-6, 1e-3);
    }
    test_detail("(SWD %.9g vs %.9g)", sg, sc);
    lctw_tensor_release(a);
    lctw_tensor_release(b);
    lctw_tensor_release(ga);
    lctw_tensor_release(gb);
}

int main(void) {
    RUN(t_symeig_known_spectrum);
    RUN(t_fd_gauss_closed_forms);
    RUN(t_fd_gauss_3x3_cubic);
    RUN(t_fd_pool_choice);
    RUN(t_fd_features_pooling);
    RUN(t_fd_identical_and_shift);
    RUN(t_fd_2d_features_vs_cubic);
    RUN(t_fd_vs_pytorch_fixture);
    RUN(t_w2_1d);
    RUN(t_swd_identical_shift_scale);
    RUN(t_tails_vs_loops);
    RUN(t_errors);
    RUN(t_cuda_parity);
    return test_summary();
}
