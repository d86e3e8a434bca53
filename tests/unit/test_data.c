/* test_data.c — latent data sets (src/ct/data.c).
 *
 * Files are written here byte by byte (.npy header + raw values); expected values come from
 * double-precision formulas evaluated in the test: two-pass mean and unbiased std per element,
 * x = (z − μ)/s·0.5, moments and tail fractions by direct loops. The shuffling is checked for
 * permutation/drop_last structure, resumability and uniformity (χ²), flips against the mirrored
 * raw data with mirror-symmetric statistics, the synthetic generator against its definition
 * (Gaussian without outliers, kurtosis growing with the outlier rate and tail weight, channel
 * correlation = L·Lᵀ), and the real UTKFace latents against the statistics file written by an
 * independent NumPy program (SKIP when absent).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "ct/data.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "lctw_cuda.h"
#include "test.h"

#define REAL_NPY "../shared/data/utkface_sd1_latents_4x32x32.npy"
#define REAL_JSON "../shared/data/utkface_latents_stats.json"

static char tmpdir[256];

static const char *tpath(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

/* ---- test data ---- */

static uint64_t rng_state = 88172645463325252ull;
static double urand(void) { /* xorshift64*, independent of the code under test */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static double nrand(void) {
    double u = urand(), v = urand();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

/* Writes a .npy (version 1.0) with dtype descr ("<f4" or "<f2") and the given shape. */
static int write_npy(const char *path, const char *descr, int ndim, const int64_t *shape,
                     const void *data, size_t nbytes) {
    char dict[256], sh[128] = "";
    size_t k = 0;
    for (int i = 0; i < ndim; i++)
        k += (size_t)snprintf(sh + k, sizeof sh - k, "%lld%s", (long long)shape[i],
                              ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr,
             sh);
    size_t hl = strlen(dict) + 1, pad = (64 - (10 + hl) % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    pre[8] = (unsigned char)((hl + pad) & 0xff);
    pre[9] = (unsigned char)((hl + pad) >> 8);
    fwrite(pre, 1, 10, f);
    fwrite(dict, 1, strlen(dict), f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(data, 1, nbytes, f);
    return fclose(f);
}

/* binary16 bits of a value that is exactly representable as a normal half (or 0). */
static uint16_t half_bits(float v) {
    if (v == 0) return 0;
    uint16_t s = v < 0 ? 0x8000 : 0;
    double a = fabs(v);
    int e = (int)floor(log2(a));
    double m = a / ldexp(1.0, e) - 1.0;
    return (uint16_t)(s | ((e + 15) << 10) | (int)llround(m * 1024));
}

/* z (n·e floats) with per-element means/scales and a few spikes. */
static float *make_latents(int64_t n, int64_t e) {
    float *z = malloc((size_t)(n * e) * sizeof *z);
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < e; k++) {
            double v = 0.3 * (double)(k % 7) - 1.0 + (0.5 + 0.1 * (double)(k % 5)) * nrand();
            if (urand() < 0.01) v += 8.0 * (urand() < 0.5 ? -1 : 1);
            z[i * e + k] = (float)v;
        }
    return z;
}

/* Per-element mean and unbiased std over rows (two passes, double). */
static void ref_stats(const float *z, const int64_t *rows, int64_t nr, int64_t e, double *mu,
                      double *sd) {
    for (int64_t k = 0; k < e; k++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < nr; i++)
            s += z[rows[i] * e + k];
        double m = s / (double)nr;
        for (int64_t i = 0; i < nr; i++) {
            double d = z[rows[i] * e + k] - m;
            s2 += d * d;
        }
        mu[k] = m;
        sd[k] = sqrt(s2 / (double)(nr - 1));
    }
}

static lctw_tensor *tensor_of(const float *z, int64_t n, int64_t c, int64_t h, int64_t w) {
    int64_t shape[4] = {n, c, h, w};
    lctw_tensor *t = NULL;
    if (lctw_tensor_empty(&t, 4, shape, LCTW_DEV_CPU) != LCTW_OK) return NULL;
    memcpy(lctw_tensor_data(t), z, (size_t)(n * c * h * w) * sizeof *z);
    return t;
}

static int msg_has(const char *needle) { return strstr(lctw_error_message(), needle) != NULL; }

/* ---- cases ---- */

static void t_latent_stats_vs_loops(void) {
    const int64_t N = 40, C = 3, H = 5, W = 6, hw = H * W;
    float *z = make_latents(N, C * hw);
    lctw_tensor *t = tensor_of(z, N, C, H, W);
    lctw_latent_stats st;
    CHECK_OK(lctw_latent_stats_compute(t, &st));
    if (case_failed) return;
    double worst = 0, pk = 0;
    for (int c = 0; c < C; c++) {
        double n = (double)(N * hw), s = 0, m2 = 0, m3 = 0, m4 = 0, lo = 1e300, hi = -1e300;
        for (int64_t i = 0; i < N; i++)
            for (int64_t q = 0; q < hw; q++)
                s += z[(i * C + c) * hw + q];
        double mean = s / n;
        for (int64_t i = 0; i < N; i++)
            for (int64_t q = 0; q < hw; q++) {
                double x = z[(i * C + c) * hw + q], d = x - mean;
                m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
                lo = fmin(lo, x), hi = fmax(hi, x);
            }
        m2 /= n, m3 /= n, m4 /= n;
        double sd = sqrt(m2), kurt = m4 / (m2 * m2) - 3;
        const lctw_chan_stats *cs = &st.ch[c];
        CHECK_CLOSE(cs->mean, mean, 1e-9, 1e-9);
        CHECK_CLOSE(cs->std, sd, 1e-9, 1e-9);
        CHECK_CLOSE(cs->skew, m3 / (m2 * sd), 1e-8, 1e-8);
        CHECK_CLOSE(cs->kurtosis, kurt, 1e-8, 1e-8);
        CHECK(cs->min == lo && cs->max == hi, "channel %d min/max %g/%g vs %g/%g", c, cs->min,
              cs->max, lo, hi);
        CHECK_CLOSE(cs->max_abs, fmax(fabs(lo), fabs(hi)), 0, 1e-12);
        CHECK_CLOSE(cs->max_abs_std, fmax(hi - mean, mean - lo) / sd, 1e-9, 1e-9);
        for (int k = 0; k < LCTW_TAIL_NK; k++) {
            int64_t cnt = 0;
            for (int64_t i = 0; i < N; i++)
                for (int64_t q = 0; q < hw; q++)
                    cnt += fabs(z[(i * C + c) * hw + q] - mean) > (LCTW_TAIL_K0 + k) * sd;
            CHECK_CLOSE(cs->tail[k], (double)cnt / n, 0, 1e-12);
        }
        worst = fmax(worst, fabs(cs->kurtosis - kurt));
        pk += kurt / C;
    }
    CHECK_CLOSE(st.pooled.kurtosis, pk, 1e-8, 1e-8);
    CHECK(st.n == N && st.c == C, "n %lld c %d", (long long)st.n, st.c);
    /* pooled kurtosis = kurtosis of all channel-standardised values */
    double s4 = 0;
    for (int64_t i = 0; i < N; i++)
        for (int c = 0; c < C; c++)
            for (int64_t q = 0; q < hw; q++) {
                double v = (z[(i * C + c) * hw + q] - st.ch[c].mean) / st.ch[c].std;
                s4 += v * v * v * v;
            }
    CHECK_CLOSE(st.pooled.kurtosis, s4 / (double)(N * C * hw) - 3, 1e-8, 1e-8);
    CHECK_CLOSE(lctw_gaussian_tail(3), 0.0026997960632601913, 1e-15, 1e-12);
    test_detail("(kurtosis error %.1e; pooled %.3f)", worst, st.pooled.kurtosis);
    lctw_latent_stats_release(&st);
    lctw_tensor_release(t);
    free(z);
}

static void t_npy_f32_normalisation(void) {
    const int64_t N = 37, C = 2, H = 3, W = 4, e = C * H * W;
    float *z = make_latents(N, e);
    int64_t shape[4] = {N, C, H, W};
    const char *p = tpath("f32.npy");
    CHECK(write_npy(p, "<f4", 4, shape, z, (size_t)(N * e) * 4) == 0, "write %s", p);
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_npy(&d, p, NULL));
    if (case_failed) return;
    CHECK(!strcmp(d->dtype, "float32"), "dtype %s", d->dtype);
    CHECK(d->n == N && d->c == C && d->h == H && d->w == W && d->n_train == N, "shape");
    int64_t rows[37];
    for (int64_t i = 0; i < N; i++)
        rows[i] = i;
    double mu[24], sd[24], worst = 0;
    ref_stats(z, rows, N, e, mu, sd);
    for (int64_t k = 0; k < e; k++) {
        CHECK_CLOSE(lctw_tensor_data(d->mean)[k], mu[k], 1e-6, 1e-6);
        CHECK_CLOSE(lctw_tensor_data(d->std)[k], sd[k], 1e-6, 1e-6);
    }
    int64_t bshape[4] = {5, C, H, W};
    lctw_tensor *x = NULL;
    CHECK_OK(lctw_tensor_empty(&x, 4, bshape, LCTW_DEV_CPU));
    int64_t br[5];
    for (int b = 0; b < 4 && !case_failed; b++) {
        CHECK_OK(lctw_data_batch_rows(d, 5, x, br, NULL));
        for (int i = 0; i < 5; i++)
            for (int64_t k = 0; k < e; k++) {
                double want = (z[br[i] * e + k] - mu[k]) / sd[k] * 0.5;
                double got = lctw_tensor_data(x)[i * e + k];
                CHECK_CLOSE(got, want, 1e-5, 1e-5);
                worst = fmax(worst, fabs(got - want));
            }
    }
    test_detail("(max |x − (z−μ)/s·0.5| = %.1e)", worst);
    lctw_tensor_release(x);
    lctw_data_free(d);
    free(z);
}

static void t_npy_f16(void) {
    const int64_t N = 6, C = 1, H = 2, W = 2, e = 4;
    uint16_t h[24];
    float v[24];
    for (int i = 0; i < 24; i++) {
        v[i] = (float)((i * 37 % 23) - 11) / 8.0f; /* exact in binary16 */
        h[i] = half_bits(v[i]);
    }
    int64_t shape[4] = {N, C, H, W};
    const char *p = tpath("f16.npy");
    CHECK(write_npy(p, "<f2", 4, shape, h, sizeof h) == 0, "write");
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_npy(&d, p, NULL));
    if (case_failed) return;
    CHECK(!strcmp(d->dtype, "float16"), "dtype %s", d->dtype);
    for (int i = 0; i < 24; i++)
        CHECK(lctw_tensor_data(d->z)[i] == v[i], "value %d: %g vs %g", i, lctw_tensor_data(d->z)[i],
              v[i]);
    int64_t rows[6] = {0, 1, 2, 3, 4, 5};
    double mu[4], sd[4];
    ref_stats(v, rows, N, e, mu, sd);
    for (int k = 0; k < 4; k++)
        CHECK_CLOSE(lctw_tensor_data(d->std)[k], sd[k], 1e-6, 1e-6);
    lctw_data_free(d);
}

/* Rows of the next `nb` batches of size b. */
static void draw_rows(lctw_data *d, int64_t b, int nb, int64_t *rows) {
    int64_t shape[4] = {b, d->c, d->h, d->w};
    lctw_tensor *x = NULL;
    lctw_tensor_empty(&x, 4, shape, LCTW_DEV_CPU);
    for (int i = 0; i < nb; i++)
        CHECK_OK(lctw_data_batch_rows(d, b, x, rows + i * b, NULL));
    lctw_tensor_release(x);
}

static void t_epochs_drop_last(void) {
    const int64_t N = 10;
    float *z = make_latents(N, 4);
    lctw_tensor *t = tensor_of(z, N, 1, 2, 2);
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_from_tensor(&d, t, NULL, "t", NULL));
    if (case_failed) return;
    CHECK(lctw_data_batches(d, 3) == 3 && lctw_data_batches(d, 10) == 1 &&
              lctw_data_batches(d, 11) == 0,
          "batches per epoch %lld %lld", (long long)lctw_data_batches(d, 3),
          (long long)lctw_data_batches(d, 10));
    int64_t rows[12];
    lctw_data_cursor c;
    draw_rows(d, 3, 3, rows); /* epoch 0: 9 distinct rows, the 10th is dropped */
    lctw_data_get_cursor(d, &c);
    CHECK(c.epoch == 0 && c.pos == 9, "cursor after 3 batches: %lld %lld", (long long)c.epoch,
          (long long)c.pos);
    int seen[10] = {0};
    for (int i = 0; i < 9; i++)
        seen[rows[i]]++;
    for (int i = 0; i < 10; i++)
        CHECK(seen[i] <= 1, "row %d drawn %d times in one epoch", i, seen[i]);
    draw_rows(d, 3, 1, rows + 9);
    lctw_data_get_cursor(d, &c);
    CHECK(c.epoch == 1 && c.pos == 3, "4th batch starts epoch 2: cursor %lld %lld",
          (long long)c.epoch, (long long)c.pos);
    /* batches of 5 cover every row exactly once per epoch */
    lctw_data_cursor c0 = {4, 0};
    CHECK_OK(lctw_data_set_cursor(d, &c0));
    draw_rows(d, 5, 2, rows);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 10; i++)
        seen[rows[i]]++;
    for (int i = 0; i < 10; i++)
        CHECK(seen[i] == 1, "row %d drawn %d times", i, seen[i]);
    /* two epochs have different orders */
    int64_t r2[10];
    draw_rows(d, 5, 2, r2);
    CHECK(memcmp(rows, r2, sizeof r2) != 0, "epochs 5 and 6 have the same order");
    lctw_data_free(d);
    lctw_tensor_release(t);
    free(z);
}

static void t_cursor_resume(void) {
    const int64_t N = 23;
    float *z = make_latents(N, 8);
    lctw_tensor *t = tensor_of(z, N, 2, 2, 2);
    lctw_data_opts o;
    lctw_data_opts_init(&o);
    o.seed = 42;
    o.flip = 1;
    lctw_data *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(lctw_data_from_tensor(&a, t, NULL, "a", &o));
    CHECK_OK(lctw_data_from_tensor(&b, t, NULL, "b", &o));
    o.seed = 43;
    CHECK_OK(lctw_data_from_tensor(&c, t, NULL, "c", &o));
    if (case_failed) return;
    int64_t shape[4] = {4, 2, 2, 2};
    lctw_tensor *xa = NULL, *xb = NULL;
    lctw_tensor_empty(&xa, 4, shape, LCTW_DEV_CPU);
    lctw_tensor_empty(&xb, 4, shape, LCTW_DEV_CPU);
    lctw_data_cursor saved = {0, 0};
    float seq[20][32];
    for (int i = 0; i < 20; i++) { /* 20 batches of 4 = 4 epochs (5 per epoch, 3 rows dropped) */
        if (i == 7) lctw_data_get_cursor(a, &saved);
        CHECK_OK(lctw_data_batch(a, 4, xa));
        memcpy(seq[i], lctw_tensor_data(xa), sizeof seq[i]);
    }
    CHECK(saved.epoch == 1 && saved.pos == 8, "cursor at batch 7: %lld %lld",
          (long long)saved.epoch, (long long)saved.pos);
    CHECK_OK(lctw_data_set_cursor(b, &saved));
    for (int i = 7; i < 20; i++) {
        CHECK_OK(lctw_data_batch(b, 4, xb));
        CHECK(!memcmp(seq[i], lctw_tensor_data(xb), sizeof seq[i]), "resumed batch %d differs", i);
    }
    int64_t ra[20], rc[20];
    lctw_data_cursor z0 = {0, 0};
    lctw_data_set_cursor(a, &z0);
    draw_rows(a, 4, 5, ra);
    draw_rows(c, 4, 5, rc);
    CHECK(memcmp(ra, rc, sizeof ra) != 0, "seeds 42 and 43 give the same order");
    lctw_data_cursor bad = {0, 24};
    CHECK(lctw_data_set_cursor(a, &bad) == LCTW_EINDEX && msg_has("0..23"), "bad cursor: %s",
          lctw_error_message());
    lctw_tensor_release(xa);
    lctw_tensor_release(xb);
    lctw_data_free(a);
    lctw_data_free(b);
    lctw_data_free(c);
    lctw_tensor_release(t);
    free(z);
}

static void t_shuffle_uniform(void) {
    /* N = 4, one batch of 4 per epoch: each epoch is a permutation; 24 permutations, 4800 epochs:
     * χ² with 23 degrees of freedom (p = 1e-4 at 52.6) */
    float z[16] = {0};
    for (int i = 0; i < 16; i++)
        z[i] = (float)i;
    lctw_tensor *t = tensor_of(z, 4, 1, 2, 2);
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_from_tensor(&d, t, NULL, "t", NULL));
    if (case_failed) return;
    int counts[256] = {0};
    const int E = 4800;
    int64_t r[4];
    for (int e = 0; e < E; e++) {
        draw_rows(d, 4, 1, r);
        counts[r[0] * 64 + r[1] * 16 + r[2] * 4 + r[3]]++;
    }
    double chi = 0, expct = E / 24.0;
    int perms = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++)
                for (int e = 0; e < 4; e++) {
                    int k = a * 64 + b * 16 + c * 4 + e;
                    int distinct = a != b && a != c && a != e && b != c && b != e && c != e;
                    if (!distinct) {
                        CHECK(counts[k] == 0, "non-permutation %d %d %d %d drawn", a, b, c, e);
                        continue;
                    }
                    perms++;
                    chi += (counts[k] - expct) * (counts[k] - expct) / expct;
                }
    CHECK(perms == 24 && chi < 52.6, "χ² = %.1f over %d permutations", chi, perms);
    test_detail("(χ²₂₃ = %.1f over 4800 epochs)", chi);
    lctw_data_free(d);
    lctw_tensor_release(t);
}

static void t_flips(void) {
    const int64_t N = 30, C = 2, H = 3, W = 5, e = C * H * W;
    float *z = make_latents(N, e);
    lctw_tensor *t = tensor_of(z, N, C, H, W);
    lctw_data_opts o;
    lctw_data_opts_init(&o);
    o.flip = 1;
    o.seed = 7;
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_from_tensor(&d, t, NULL, "t", &o));
    if (case_failed) return;
    /* statistics over the set and its mirror images (2N rows) */
    float *zz = malloc((size_t)(2 * N * e) * sizeof *zz);
    int64_t rows[60];
    for (int64_t i = 0; i < N; i++) {
        memcpy(zz + i * e, z + i * e, (size_t)e * sizeof *zz);
        for (int64_t k = 0; k < e; k++) {
            int64_t w = k % W;
            zz[(N + i) * e + k] = z[i * e + k - w + (W - 1 - w)];
        }
        rows[i] = i;
        rows[N + i] = N + i;
    }
    double mu[30], sd[30];
    ref_stats(zz, rows, 2 * N, e, mu, sd);
    for (int64_t k = 0; k < e; k++) {
        CHECK_CLOSE(lctw_tensor_data(d->mean)[k], mu[k], 1e-6, 1e-6);
        CHECK_CLOSE(lctw_tensor_data(d->std)[k], sd[k], 1e-6, 1e-6);
    }
    int64_t shape[4] = {6, C, H, W};
    lctw_tensor *x = NULL;
    lctw_tensor_empty(&x, 4, shape, LCTW_DEV_CPU);
    int64_t br[6];
    unsigned char fl[6];
    int flipped = 0, total = 0;
    for (int b = 0; b < 200 && !case_failed; b++) {
        CHECK_OK(lctw_data_batch_rows(d, 6, x, br, fl));
        for (int i = 0; i < 6; i++) {
            const float *src = zz + (fl[i] ? N + br[i] : br[i]) * e;
            for (int64_t k = 0; k < e; k++)
                CHECK_CLOSE(lctw_tensor_data(x)[i * e + k], (src[k] - mu[k]) / sd[k] * 0.5, 1e-5,
                            1e-5);
            flipped += fl[i];
            total++;
        }
    }
    /* 1200 fair coin flips: |flipped − 600| < 5·√300 */
    CHECK(fabs(flipped - total / 2.0) < 5 * sqrt(total / 4.0), "%d of %d flipped", flipped, total);
    test_detail("(%d of %d samples flipped)", flipped, total);
    free(zz);
    lctw_tensor_release(x);
    lctw_data_free(d);
    lctw_tensor_release(t);
    free(z);
}

static void t_stats_files(void) {
    const int64_t N = 12, C = 2, H = 2, W = 3, e = C * H * W;
    float *z = make_latents(N, e);
    lctw_tensor *t = tensor_of(z, N, C, H, W);
    float st[24];
    for (int k = 0; k < 12; k++) {
        st[k] = 0.25f * (float)k - 1.0f;       /* mean */
        st[12 + k] = 0.5f + 0.125f * (float)k; /* std */
    }
    int64_t shape[4] = {2, C, H, W};
    const char *p = tpath("stats.npy");
    CHECK(write_npy(p, "<f4", 4, shape, st, sizeof st) == 0, "write");
    lctw_data_opts o;
    lctw_data_opts_init(&o);
    o.stats_path = p;
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_from_tensor(&d, t, NULL, "t", &o));
    if (case_failed) return;
    for (int k = 0; k < 12; k++) {
        CHECK(lctw_tensor_data(d->mean)[k] == st[k] && lctw_tensor_data(d->std)[k] == st[12 + k],
              "element %d: %g %g", k, lctw_tensor_data(d->mean)[k], lctw_tensor_data(d->std)[k]);
    }
    CHECK(!strcmp(d->stats_from, p), "stats_from %s", d->stats_from);
    int64_t bs[4] = {3, C, H, W}, br[3];
    lctw_tensor *x = NULL;
    lctw_tensor_empty(&x, 4, bs, LCTW_DEV_CPU);
    CHECK_OK(lctw_data_batch_rows(d, 3, x, br, NULL));
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 12; k++)
            CHECK_CLOSE(lctw_tensor_data(x)[i * 12 + k],
                        ((double)z[br[i] * 12 + k] - st[k]) / st[12 + k] * 0.5, 1e-6, 1e-6);
    /* save as safetensors and load back */
    const char *ps = tpath("stats.safetensors");
    CHECK_OK(lctw_data_save_stats(d, ps));
    lctw_data *d2 = NULL;
    o.stats_path = ps;
    CHECK_OK(lctw_data_from_tensor(&d2, t, NULL, "t2", &o));
    if (d2) {
        CHECK(!memcmp(lctw_tensor_data(d2->mean), st, 12 * sizeof(float)) &&
                  !memcmp(lctw_tensor_data(d2->std), st + 12, 12 * sizeof(float)),
              "safetensors round trip changed the statistics");
        lctw_st_file *f = NULL;
        CHECK_OK(lctw_st_open(&f, ps));
        const lctw_st_entry *en = f ? lctw_st_find(f, "mean") : NULL;
        CHECK(en && en->ndim == 3 && en->shape[0] == C && en->shape[1] == H && en->shape[2] == W,
              "saved mean has the wrong shape");
        lctw_st_close(f);
    }
    /* wrong shapes name the file and the expected shape */
    int64_t bad[4] = {3, C, H, W};
    float junk[36] = {0};
    const char *pb = tpath("bad_stats.npy");
    write_npy(pb, "<f4", 4, bad, junk, sizeof junk);
    o.stats_path = pb;
    lctw_data *d3 = NULL;
    lctw_status s = lctw_data_from_tensor(&d3, t, NULL, "t3", &o);
    CHECK(s == LCTW_ESHAPE && msg_has(pb) && msg_has("2×2×2×3") && msg_has("3×2×2×3"),
          "bad stats shape: %s", lctw_error_message());
    lctw_data_free(d3);
    /* negative std is rejected */
    st[12] = -1.0f;
    write_npy(pb, "<f4", 4, shape, st, sizeof st);
    s = lctw_data_from_tensor(&d3, t, NULL, "t3", &o);
    CHECK(s == LCTW_EFORMAT && msg_has("std -1"), "negative std: %s", lctw_error_message());
    lctw_data_free(d3);
    lctw_tensor_release(x);
    lctw_data_free(d);
    lctw_data_free(d2);
    lctw_tensor_release(t);
    free(z);
}

static void t_std_floor(void) {
    const int64_t N = 8, e = 4;
    float *z = make_latents(N, e);
    for (int64_t i = 0; i < N; i++)
        z[i * e + 2] = 3.5f; /* constant element */
    lctw_tensor *t = tensor_of(z, N, 1, 2, 2);
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_from_tensor(&d, t, NULL, "t", NULL));
    if (case_failed) return;
    CHECK(d->std_floored == 1, "std_floored %lld", (long long)d->std_floored);
    CHECK(lctw_tensor_data(d->std)[2] == (float)1e-6, "floored std %g",
          lctw_tensor_data(d->std)[2]);
    int64_t shape[4] = {8, 1, 2, 2};
    lctw_tensor *x = NULL;
    lctw_tensor_empty(&x, 4, shape, LCTW_DEV_CPU);
    CHECK_OK(lctw_data_batch(d, 8, x));
    for (int i = 0; i < 8; i++)
        CHECK(lctw_tensor_data(x)[i * 4 + 2] == 0.0f && isfinite(lctw_tensor_data(x)[i * 4]),
              "constant element normalised to %g", lctw_tensor_data(x)[i * 4 + 2]);
    lctw_tensor_release(x);
    lctw_data_free(d);
    lctw_tensor_release(t);
    free(z);
}

static void t_holdout(void) {
    const int64_t N = 50, e = 6;
    float *z = make_latents(N, e);
    lctw_tensor *t = tensor_of(z, N, 1, 2, 3);
    lctw_data_opts o;
    lctw_data_opts_init(&o);
    o.holdout = 8;
    o.seed = 3;
    lctw_data *d = NULL, *d2 = NULL;
    CHECK_OK(lctw_data_from_tensor(&d, t, NULL, "t", &o));
    CHECK_OK(lctw_data_from_tensor(&d2, t, NULL, "t", &o));
    if (case_failed) return;
    CHECK(d->n_train == 42 && d->n_holdout == 8, "split %lld/%lld", (long long)d->n_train,
          (long long)d->n_holdout);
    int seen[50] = {0};
    for (int64_t i = 0; i < 42; i++)
        seen[d->train_rows[i]] += 1;
    for (int64_t i = 0; i < 8; i++)
        seen[d->holdout_rows[i]] += 2;
    for (int i = 0; i < 50; i++)
        CHECK(seen[i] == 1 || seen[i] == 2, "row %d: %d", i, seen[i]);
    CHECK(!memcmp(d->holdout_rows, d2->holdout_rows, 8 * sizeof(int64_t)),
          "split not reproducible");
    int contiguous_tail = 1;
    for (int i = 0; i < 8; i++)
        contiguous_tail &= d->holdout_rows[i] == 42 + i;
    CHECK(!contiguous_tail, "held-out rows are just the last rows");
    double mu[6], sd[6];
    ref_stats(z, d->train_rows, 42, e, mu, sd);
    for (int k = 0; k < 6; k++) {
        CHECK_CLOSE(lctw_tensor_data(d->mean)[k], mu[k], 1e-6, 1e-6);
        CHECK_CLOSE(lctw_tensor_data(d->std)[k], sd[k], 1e-6, 1e-6);
    }
    lctw_tensor *h = NULL, *hn = NULL;
    CHECK_OK(lctw_data_holdout(d, 0, &h));
    CHECK_OK(lctw_data_holdout(d, 1, &hn));
    if (h && hn) {
        CHECK(h->shape[0] == 8 && h->shape[1] == 1 && h->shape[3] == 3, "holdout shape");
        for (int i = 0; i < 8; i++)
            for (int k = 0; k < 6; k++) {
                float r = z[d->holdout_rows[i] * e + k];
                CHECK(lctw_tensor_data(h)[i * 6 + k] == r, "raw holdout value");
                CHECK_CLOSE(lctw_tensor_data(hn)[i * 6 + k], (r - mu[k]) / sd[k] * 0.5, 1e-5, 1e-5);
            }
    }
    /* batches never contain held-out rows */
    int64_t r[42 * 3];
    draw_rows(d, 42, 3, r);
    for (int i = 0; i < 126; i++)
        CHECK(seen[r[i]] == 1, "batch drew held-out row %lld", (long long)r[i]);
    lctw_data *d3 = NULL;
    o.holdout = 50;
    CHECK(lctw_data_from_tensor(&d3, t, NULL, "t", &o) == LCTW_EINVAL && msg_has("0..49"),
          "holdout = N: %s", lctw_error_message());
    lctw_data *d4 = NULL;
    lctw_tensor_release(h);
    CHECK(lctw_data_holdout(d2, 0, &h) == LCTW_OK, "d2 has a split");
    lctw_tensor_release(h);
    o.holdout = 0;
    CHECK_OK(lctw_data_from_tensor(&d4, t, NULL, "t", &o));
    lctw_tensor *none = NULL;
    CHECK(d4 && lctw_data_holdout(d4, 0, &none) == LCTW_EINVAL && msg_has("no held-out"),
          "no holdout: %s", lctw_error_message());
    lctw_tensor_release(hn);
    lctw_data_free(d);
    lctw_data_free(d2);
    lctw_data_free(d4);
    lctw_tensor_release(t);
    free(z);
}

static void t_normalize_roundtrip(void) {
    const int64_t N = 20, C = 2, H = 3, W = 3, e = C * H * W;
    float *z = make_latents(N, e);
    lctw_tensor *t = tensor_of(z, N, C, H, W);
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_from_tensor(&d, t, NULL, "t", NULL));
    if (case_failed) return;
    lctw_tensor *x = NULL, *back = NULL, *out = NULL;
    CHECK_OK(lctw_tensor_empty(&x, 4, t->shape, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_empty(&back, 4, t->shape, LCTW_DEV_CPU));
    CHECK_OK(lctw_data_normalize(d, t, x));
    CHECK_OK(lctw_data_denormalize(d, x, back));
    const float *mu = lctw_tensor_data(d->mean), *sd = lctw_tensor_data(d->std);
    double worst = 0;
    for (int64_t i = 0; i < N * e; i++) {
        int64_t k = i % e;
        CHECK_CLOSE(lctw_tensor_data(x)[i], ((double)z[i] - mu[k]) / sd[k] * 0.5, 1e-5, 1e-5);
        CHECK_CLOSE(lctw_tensor_data(back)[i], z[i], 1e-5, 1e-5);
        worst = fmax(worst, fabs(lctw_tensor_data(back)[i] - z[i]));
    }
    /* a single (C, H, W) latent, in place */
    lctw_tensor *one = NULL;
    CHECK_OK(lctw_tensor_select(&one, x, 0, 4));
    lctw_tensor *oc = NULL;
    CHECK_OK(lctw_tensor_clone(&oc, one));
    CHECK_OK(lctw_data_denormalize(d, oc, oc));
    for (int64_t k = 0; k < e; k++)
        CHECK_CLOSE(lctw_tensor_data(oc)[k], z[4 * e + k], 1e-5, 1e-5);
    /* shape errors */
    int64_t bad[4] = {2, C + 1, H, W};
    CHECK_OK(lctw_tensor_empty(&out, 4, bad, LCTW_DEV_CPU));
    CHECK(lctw_data_denormalize(d, out, out) == LCTW_ESHAPE && msg_has("3×3×3"), "bad shape: %s",
          lctw_error_message());
    test_detail("(round trip |Δz| <= %.1e)", worst);
    lctw_tensor_release(one);
    lctw_tensor_release(oc);
    lctw_tensor_release(out);
    lctw_tensor_release(x);
    lctw_tensor_release(back);
    lctw_data_free(d);
    lctw_tensor_release(t);
    free(z);
}

static void t_sample_and_noncontiguous_out(void) {
    const int64_t N = 16, C = 1, H = 2, W = 3, e = 6;
    float *z = make_latents(N, e);
    lctw_tensor *t = tensor_of(z, N, C, H, W);
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_from_tensor(&d, t, NULL, "t", NULL));
    if (case_failed) return;
    lctw_tensor *s1 = NULL, *s2 = NULL, *s3 = NULL;
    CHECK_OK(lctw_data_sample(d, 10, 5, &s1));
    CHECK_OK(lctw_data_sample(d, 10, 5, &s2));
    CHECK_OK(lctw_data_sample(d, 10, 6, &s3));
    lctw_data_cursor c;
    lctw_data_get_cursor(d, &c);
    CHECK(c.epoch == 0 && c.pos == 0, "sample moved the cursor");
    if (s1 && s2 && s3) {
        CHECK(!memcmp(lctw_tensor_data(s1), lctw_tensor_data(s2), 60 * sizeof(float)),
              "same seed, different samples");
        CHECK(memcmp(lctw_tensor_data(s1), lctw_tensor_data(s3), 60 * sizeof(float)),
              "seeds 5 and 6 give the same samples");
        int used[16] = {0};
        for (int i = 0; i < 10; i++) { /* each sample is a distinct raw row */
            int found = -1;
            for (int r = 0; r < 16; r++)
                if (!memcmp(lctw_tensor_data(s1) + i * e, z + r * e, e * sizeof(float))) found = r;
            CHECK(found >= 0 && !used[found], "sample %d is not a fresh raw row", i);
            if (found >= 0) used[found] = 1;
        }
    }
    /* a non-contiguous output: the transpose of a (n, C, W, H) tensor */
    int64_t ts[4] = {4, C, W, H};
    lctw_tensor *base = NULL, *out = NULL, *ref = NULL;
    CHECK_OK(lctw_tensor_empty(&base, 4, ts, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_transpose(&out, base, 2, 3));
    int64_t rs[4] = {4, C, H, W};
    CHECK_OK(lctw_tensor_empty(&ref, 4, rs, LCTW_DEV_CPU));
    lctw_data_cursor z0 = {3, 0};
    CHECK_OK(lctw_data_set_cursor(d, &z0));
    CHECK_OK(lctw_data_batch(d, 4, out));
    CHECK_OK(lctw_data_set_cursor(d, &z0));
    CHECK_OK(lctw_data_batch(d, 4, ref));
    for (int64_t i = 0; i < 24 && !case_failed; i++) {
        float a, b;
        lctw_tensor_get_flat(out, i, &a);
        lctw_tensor_get_flat(ref, i, &b);
        CHECK(a == b, "element %lld: %g vs %g", (long long)i, a, b);
    }
    lctw_tensor_release(s1);
    CHECK(lctw_data_sample(d, 17, 0, &s1) == LCTW_EINVAL && msg_has("1..16") && !s1,
          "sample 17: %s", lctw_error_message());
    lctw_tensor_release(base);
    lctw_tensor_release(out);
    lctw_tensor_release(ref);
    lctw_tensor_release(s2);
    lctw_tensor_release(s3);
    lctw_data_free(d);
    lctw_tensor_release(t);
    free(z);
}

static void t_errors(void) {
    float v[8] = {0};
    int64_t s3[3] = {2, 2, 2};
    const char *p = tpath("three_d.npy");
    write_npy(p, "<f4", 3, s3, v, sizeof v);
    lctw_data *d = NULL;
    lctw_status s = lctw_data_npy(&d, p, NULL);
    CHECK(s == LCTW_ESHAPE && msg_has(p) && msg_has("N×C×H×W") && msg_has("2×2×2"), "3-D file: %s",
          lctw_error_message());
    const char *missing = tpath("missing.npy");
    s = lctw_data_npy(&d, missing, NULL);
    CHECK(s == LCTW_EIO && msg_has(missing), "missing file: %s", lctw_error_message());
    /* one row cannot give an unbiased std */
    int64_t s4[4] = {1, 1, 2, 2};
    const char *p1 = tpath("one.npy");
    write_npy(p1, "<f4", 4, s4, v, 16);
    s = lctw_data_npy(&d, p1, NULL);
    CHECK(s == LCTW_EINVAL && msg_has("at least 2"), "one row: %s", lctw_error_message());
    lctw_data_opts o;
    lctw_data_opts_init(&o);
    o.normalize = 0;
    CHECK_OK(lctw_data_npy(&d, p1, &o)); /* raw batches of a single row are fine */
    lctw_data_free(d);
    d = NULL;
    /* batch size and output shape */
    int64_t s8[4] = {8, 1, 1, 1};
    const char *p8 = tpath("eight.npy");
    float e8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    write_npy(p8, "<f4", 4, s8, e8, sizeof e8);
    CHECK_OK(lctw_data_npy(&d, p8, NULL));
    if (d) {
        int64_t os[4] = {9, 1, 1, 1}, ow[4] = {3, 1, 1, 2};
        lctw_tensor *x = NULL, *y = NULL;
        lctw_tensor_empty(&x, 4, os, LCTW_DEV_CPU);
        lctw_tensor_empty(&y, 4, ow, LCTW_DEV_CPU);
        s = lctw_data_batch(d, 9, x);
        CHECK(s == LCTW_ESHAPE && msg_has("1..8") && msg_has("9"), "n > N: %s",
              lctw_error_message());
        s = lctw_data_batch(d, 3, y);
        CHECK(s == LCTW_ESHAPE && msg_has("3×1×1×1") && msg_has("3×1×1×2"), "out shape: %s",
              lctw_error_message());
        lctw_data_cursor c;
        lctw_data_get_cursor(d, &c);
        CHECK(c.epoch == 0 && c.pos == 0, "failed batch moved the cursor");
        lctw_tensor_release(x);
        lctw_tensor_release(y);
    }
    lctw_data_free(d);
    /* synthetic option checks */
    lctw_synth_opts so;
    lctw_synth_opts_init(&so);
    so.tail = 0;
    lctw_tensor *t = NULL;
    CHECK(lctw_synth_generate(&t, &so, NULL) == LCTW_EINVAL && msg_has("tail"), "tail 0: %s",
          lctw_error_message());
    lctw_synth_opts_init(&so);
    so.outliers = 1.5;
    CHECK(lctw_synth_generate(&t, &so, NULL) == LCTW_EINVAL && msg_has("[0, 1]"),
          "outliers 1.5: %s", lctw_error_message());
}

/* ---- synthetic data ---- */

static lctw_tensor *synth(int64_t n, double outliers, double tail, double mixing, uint64_t seed,
                          lctw_synth_info *info) {
    lctw_synth_opts o;
    lctw_synth_opts_init(&o);
    o.n = n;
    o.outliers = outliers;
    o.tail = tail;
    o.mixing = mixing;
    o.seed = seed;
    lctw_tensor *t = NULL;
    CHECK_OK(lctw_synth_generate(&t, &o, info));
    return t;
}

static double pooled_kurtosis(lctw_tensor *t) {
    lctw_latent_stats st;
    if (lctw_latent_stats_compute(t, &st) != LCTW_OK) return NAN;
    double k = st.pooled.kurtosis;
    lctw_latent_stats_release(&st);
    return k;
}

static void t_synth_deterministic(void) {
    lctw_tensor *a = synth(10, 1e-3, 3, 0.7, 11, NULL), *b = synth(10, 1e-3, 3, 0.7, 11, NULL);
    lctw_tensor *c = synth(10, 1e-3, 3, 0.7, 12, NULL), *f = synth(5, 1e-3, 3, 0.7, 11, NULL);
    if (case_failed) return;
    size_t n = 10 * 4096 * sizeof(float);
    CHECK(!memcmp(lctw_tensor_data(a), lctw_tensor_data(b), n), "same seed, different data");
    CHECK(memcmp(lctw_tensor_data(a), lctw_tensor_data(c), n), "seeds 11, 12 give the same data");
    CHECK(!memcmp(lctw_tensor_data(a), lctw_tensor_data(f), n / 2), "sample i depends on n");
    CHECK(a->shape[0] == 10 && a->shape[1] == 4 && a->shape[2] == 32 && a->shape[3] == 32,
          "default shape");
    for (int64_t i = 0; i < 10 * 4096; i++)
        if (!isfinite(lctw_tensor_data(a)[i])) {
            CHECK(0, "non-finite value at %lld", (long long)i);
            break;
        }
    lctw_data *d = NULL;
    lctw_synth_opts so;
    lctw_synth_opts_init(&so);
    so.n = 10;
    so.outliers = 1e-3;
    so.tail = 3;
    so.seed = 11;
    lctw_data_opts o;
    lctw_data_opts_init(&o);
    o.normalize = 0;
    CHECK_OK(lctw_data_synthetic(&d, &so, &o));
    if (d) {
        CHECK(!strcmp(d->dtype, "synthetic"), "dtype %s", d->dtype);
        CHECK(!memcmp(lctw_tensor_data(d->z), lctw_tensor_data(a), n), "data set != generator");
    }
    lctw_data_free(d);
    lctw_tensor_release(a);
    lctw_tensor_release(b);
    lctw_tensor_release(c);
    lctw_tensor_release(f);
}

static void t_synth_gaussian_without_outliers(void) {
    lctw_synth_info info;
    lctw_tensor *t = synth(800, 0, 3, 0.7, 1, &info);
    if (case_failed) return;
    lctw_latent_stats st;
    CHECK_OK(lctw_latent_stats_compute(t, &st));
    if (case_failed) return;
    CHECK(info.spikes == 0, "%lld spikes with outliers = 0", (long long)info.spikes);
    CHECK(fabs(st.pooled.kurtosis) < 0.06, "pooled excess kurtosis %.4f", st.pooled.kurtosis);
    CHECK(fabs(st.pooled.skew) < 0.05, "pooled skew %.4f", st.pooled.skew);
    /* per element (across samples) the data are N(m_c, g_c²): check the standardised values'
     * 3σ tail against the Gaussian value and the element-wise mean against m_c */
    const float *z = lctw_tensor_data(t);
    int64_t beyond = 0, n = 800 * 4096;
    double worst_mean = 0;
    for (int64_t k = 0; k < 4096; k++) {
        int c = (int)(k / 1024);
        double s = 0;
        for (int64_t i = 0; i < 800; i++) {
            double v = (z[i * 4096 + k] - info.mean[k]) / info.chan_scale[c];
            s += v;
            beyond += fabs(v) > 3;
        }
        worst_mean = fmax(worst_mean, fabs(s / 800));
    }
    double p3 = (double)beyond / (double)n;
    CHECK(fabs(p3 / lctw_gaussian_tail(3) - 1) < 0.15, "P(|v|>3) = %.3e vs %.3e", p3,
          lctw_gaussian_tail(3));
    CHECK(worst_mean < 0.25, "element mean off by %.3f standard deviations", worst_mean);
    test_detail("(kurtosis %.4f, skew %.4f, P(>3σ) %.2e vs %.2e)", st.pooled.kurtosis,
                st.pooled.skew, p3, lctw_gaussian_tail(3));
    lctw_latent_stats_release(&st);
    lctw_synth_info_release(&info);
    lctw_tensor_release(t);
}

static void t_synth_kurtosis_grows(void) {
    const double rates[4] = {0, 1e-4, 5e-4, 2e-3};
    double k[4], kt[3];
    int64_t spikes[4];
    for (int i = 0; i < 4; i++) {
        lctw_synth_info info;
        lctw_tensor *t = synth(300, rates[i], 4, 0.7, 5, &info);
        if (!t) return;
        k[i] = pooled_kurtosis(t);
        spikes[i] = info.spikes;
        lctw_synth_info_release(&info);
        lctw_tensor_release(t);
    }
    for (int i = 1; i < 4; i++) {
        CHECK(k[i] > k[i - 1] + 0.05, "kurtosis %.3f at rate %g, %.3f at rate %g", k[i - 1],
              rates[i - 1], k[i], rates[i]);
        /* spike count ~ Binomial(300·4096, p): within 5 standard deviations */
        double mean = 300 * 4096 * rates[i], sd = sqrt(mean * (1 - rates[i]));
        CHECK(fabs((double)spikes[i] - mean) < 5 * sd, "%lld spikes at rate %g, expected %.0f",
              (long long)spikes[i], rates[i], mean);
    }
    const double tails[3] = {8, 4, 2}; /* heavier tails (smaller index) -> larger kurtosis */
    for (int i = 0; i < 3; i++) {
        lctw_tensor *t = synth(300, 5e-4, tails[i], 0.7, 5, NULL);
        if (!t) return;
        kt[i] = pooled_kurtosis(t);
        lctw_tensor_release(t);
        if (i)
            CHECK(kt[i] > kt[i - 1] + 0.05, "kurtosis %.3f at tail %g, %.3f at tail %g", kt[i - 1],
                  tails[i - 1], kt[i], tails[i]);
    }
    test_detail("(rates 0/1e-4/5e-4/2e-3: %.2f %.2f %.2f %.2f; tail 8/4/2: %.2f %.2f %.2f)", k[0],
                k[1], k[2], k[3], kt[0], kt[1], kt[2]);
}

/* Correlation matrix of channels after removing the fixed mean and scale. */
static void channel_corr(lctw_tensor *t, const lctw_synth_info *info, double corr[4][4]) {
    const int64_t n = t->shape[0];
    const float *z = lctw_tensor_data(t);
    double s[4][4] = {{0}};
    for (int64_t i = 0; i < n; i++)
        for (int64_t q = 0; q < 1024; q++) {
            double v[4];
            for (int c = 0; c < 4; c++)
                v[c] =
                    (z[i * 4096 + c * 1024 + q] - info->mean[c * 1024 + q]) / info->chan_scale[c];
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++)
                    s[a][b] += v[a] * v[b];
        }
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            corr[a][b] = s[a][b] / sqrt(s[a][a] * s[b][b]);
}

static void t_synth_channel_correlation(void) {
    lctw_synth_info info, info0;
    lctw_tensor *t = synth(1000, 0, 3, 0.7, 2, &info);
    lctw_tensor *t0 = synth(1000, 0, 3, 0.0, 2, &info0);
    if (case_failed) return;
    double corr[4][4], corr0[4][4], worst = 0, strongest = 0;
    channel_corr(t, &info, corr);
    channel_corr(t0, &info0, corr0);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            double llt = 0, nrm = 0;
            for (int k = 0; k < 4; k++) {
                llt += info.mixing[a * 4 + k] * info.mixing[b * 4 + k];
                nrm += info.mixing[a * 4 + k] * info.mixing[a * 4 + k];
            }
            CHECK_NEAR(nrm, 1.0, 1e-12);
            CHECK(fabs(corr[a][b] - llt) < 0.06, "corr(%d,%d) = %.3f, L·Lᵀ = %.3f", a, b,
                  corr[a][b], llt);
            if (a != b) {
                CHECK(fabs(corr0[a][b]) < 0.06, "mixing 0: corr(%d,%d) = %.3f", a, b, corr0[a][b]);
                strongest = fmax(strongest, fabs(llt));
            }
            worst = fmax(worst, fabs(corr[a][b] - llt));
        }
    CHECK(strongest > 0.3, "the strongest channel correlation is only %.3f", strongest);
    test_detail("(|corr − L·Lᵀ| <= %.3f; strongest |corr| %.2f)", worst, strongest);
    lctw_synth_info_release(&info);
    lctw_synth_info_release(&info0);
    lctw_tensor_release(t);
    lctw_tensor_release(t0);
}

static void t_synth_defaults_like_real(void) {
    lctw_synth_opts so;
    lctw_synth_opts_init(&so);
    so.n = 1000;
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_synthetic(&d, &so, NULL));
    if (case_failed) return;
    const lctw_latent_stats *st;
    CHECK_OK(lctw_data_stats(d, &st));
    if (case_failed) return;
    /* the documented resemblance to the SD1 UTKFace latents: kurtosis ≈ 2, P(>5σ) ≈ 4e-4 */
    CHECK(st->pooled.kurtosis > 1.0 && st->pooled.kurtosis < 3.5, "kurtosis %.3f",
          st->pooled.kurtosis);
    CHECK(st->pooled.tail[2] > 1.5e-4 && st->pooled.tail[2] < 8e-4, "P(>5σ) %.2e",
          st->pooled.tail[2]);
    /* normalised batches: mean 0, std 0.5 per element over the whole set */
    int64_t shape[4] = {1000, 4, 32, 32};
    lctw_tensor *x = NULL;
    CHECK_OK(lctw_tensor_empty(&x, 4, shape, LCTW_DEV_CPU));
    CHECK_OK(lctw_data_batch(d, 1000, x));
    double worst_m = 0, worst_s = 0;
    for (int64_t k = 0; k < 4096 && !case_failed; k++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < 1000; i++)
            s += lctw_tensor_data(x)[i * 4096 + k];
        double m = s / 1000;
        for (int64_t i = 0; i < 1000; i++) {
            double v = lctw_tensor_data(x)[i * 4096 + k] - m;
            s2 += v * v;
        }
        worst_m = fmax(worst_m, fabs(m));
        worst_s = fmax(worst_s, fabs(sqrt(s2 / 999) - 0.5));
    }
    CHECK(worst_m < 1e-5 && worst_s < 1e-5, "per-element mean %.2e, std − 0.5 %.2e", worst_m,
          worst_s);
    test_detail("(kurtosis %.2f, P(>5σ) %.1e, max %.1fσ; batch mean/std errors %.0e/%.0e)",
                st->pooled.kurtosis, st->pooled.tail[2], st->pooled.max_abs_std, worst_m, worst_s);
    lctw_tensor_release(x);
    lctw_data_free(d);
}

/* Batches into a CUDA tensor equal batches into a CPU tensor from the same cursor; statistics of
 * a CUDA copy equal those of the CPU tensor. */
static void t_cuda_batches_and_stats(void) {
    if (lctw_cuda_device_count() <= 0) SKIP("no CUDA device: %s", lctw_cuda_describe());
    lctw_synth_opts so;
    lctw_synth_opts_init(&so);
    so.n = 64;
    lctw_data_opts o;
    lctw_data_opts_init(&o);
    o.flip = 1;
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_synthetic(&d, &so, &o));
    if (case_failed) return;
    int64_t shape[4] = {16, 4, 32, 32};
    lctw_tensor *x = NULL, *g = NULL, *back = NULL, *gz = NULL;
    CHECK_OK(lctw_tensor_empty(&x, 4, shape, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_empty(&g, 4, shape, LCTW_DEV_CUDA));
    lctw_data_cursor c0 = {2, 16};
    CHECK_OK(lctw_data_set_cursor(d, &c0));
    CHECK_OK(lctw_data_batch(d, 16, x));
    CHECK_OK(lctw_data_set_cursor(d, &c0));
    CHECK_OK(lctw_data_batch(d, 16, g));
    CHECK_OK(lctw_tensor_to(&back, g, LCTW_DEV_CPU));
    if (!case_failed)
        CHECK(!memcmp(lctw_tensor_data(x), lctw_tensor_data(back), 16 * 4096 * sizeof(float)),
              "CUDA batch differs from the CPU batch");
    lctw_latent_stats sc, sg;
    CHECK_OK(lctw_tensor_to(&gz, d->z, LCTW_DEV_CUDA));
    CHECK_OK(lctw_latent_stats_compute(d->z, &sc));
    CHECK_OK(lctw_latent_stats_compute(gz, &sg));
    if (!case_failed) {
        CHECK_CLOSE(sg.pooled.kurtosis, sc.pooled.kurtosis, 1e-6, 1e-5);
        for (int k = 0; k < LCTW_TAIL_NK; k++)
            CHECK_CLOSE(sg.pooled.tail[k], sc.pooled.tail[k], 1e-6, 1e-3);
        lctw_latent_stats_release(&sc);
        lctw_latent_stats_release(&sg);
    }
    lctw_tensor_release(x);
    lctw_tensor_release(g);
    lctw_tensor_release(back);
    lctw_tensor_release(gz);
    lctw_data_free(d);
}

/* ---- the real latents ---- */

static const lctw_json *jget(const lctw_json *v, const char *k) {
    return v ? lctw_json_get(v, k) : NULL;
}
static double jnum(const lctw_json *v, const char *k) {
    const lctw_json *x = jget(v, k);
    return x && x->type == LCTW_JSON_NUMBER ? x->num : NAN;
}

static void t_real_latents_vs_json(void) {
    if (access(REAL_NPY, R_OK) != 0) SKIP("%s not found (run from the project root)", REAL_NPY);
    FILE *f = fopen(REAL_JSON, "rb");
    if (!f) SKIP("%s not found", REAL_JSON);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    lctw_json_doc *doc = NULL;
    CHECK_OK(lctw_json_parse(&doc, buf, n, NULL));
    if (case_failed) return;
    const lctw_json *sd1 = jget(lctw_json_root(doc), "sd1"), *pc = jget(sd1, "per_channel");
    CHECK(pc && pc->type == LCTW_JSON_ARRAY && pc->len == 4, "sd1.per_channel missing");
    lctw_data *d = NULL;
    CHECK_OK(lctw_data_npy(&d, REAL_NPY, NULL));
    const lctw_latent_stats *st = NULL;
    if (d) CHECK_OK(lctw_data_stats(d, &st));
    if (case_failed) {
        lctw_data_free(d);
        lctw_json_free(doc);
        return;
    }
    /* The json was computed on float32 latents; the file holds them rounded to float16
     * (relative 5e-4), which moves moments by ~1e-5 and tail fractions by ~1e-5. */
    double worst = 0;
#define CMP(got, want, atol, rtol)                                                                 \
    do {                                                                                           \
        CHECK_CLOSE(got, want, atol, rtol);                                                        \
        worst = fmax(worst, fabs((got) - (want)) / ((atol) + (rtol)*fabs(want)));                  \
    } while (0)
    for (int c = 0; c < 4; c++) {
        const lctw_json *j = pc->items[c];
        const lctw_chan_stats *cs = &st->ch[c];
        CMP(cs->mean, jnum(j, "mean"), 1e-4, 0);
        CMP(cs->std, jnum(j, "std"), 1e-4, 0);
        CMP(cs->skew, jnum(j, "skew"), 1e-4, 0);
        CMP(cs->kurtosis, jnum(j, "excess_kurtosis"), 1e-3, 0);
        CMP(cs->tail[0], jnum(j, "frac_gt3sd"), 2e-5, 0);
        CMP(cs->tail[1], jnum(j, "frac_gt4sd"), 2e-5, 0);
        CMP(cs->tail[2], jnum(j, "frac_gt5sd"), 2e-5, 0);
        CMP(cs->max_abs, jnum(j, "max_abs_z"), 0.01, 0);
        CMP(cs->max_abs_std, jnum(j, "max_abs_standardized"), 0.01, 0);
    }
    CMP(st->pooled.kurtosis, jnum(sd1, "pooled_excess_kurtosis_of_channel_standardized"), 1e-3, 0);
    CMP(st->raw.kurtosis, jnum(sd1, "raw_excess_kurtosis"), 1e-3, 0);
    CMP(st->raw.mean, jnum(sd1, "mean"), 1e-4, 0);
    CMP(st->raw.std, jnum(sd1, "std"), 1e-4, 0);
    for (int k = 0; k < 4; k++) {
        char key[32];
        snprintf(key, sizeof key, "frac_gt%dsd", k + 3);
        CMP(st->pooled.tail[k], jnum(sd1, key), 2e-5, 0);
    }
#undef CMP
    CHECK(d->std_floored == 0, "%lld std values floored", (long long)d->std_floored);
    test_detail("(3000×4×32×32 float16: 32 statistics within %.2f of their tolerances; "
                "kurtosis %.3f, P(>5σ) %.2e)",
                worst, st->pooled.kurtosis, st->pooled.tail[2]);
    lctw_data_free(d);
    lctw_json_free(doc);
}

static void cleanup_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[800];
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

int main(void) {
    const char *td = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lctw_test_data_XXXXXX", td && *td ? td : "/tmp");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL test_data.c: setup: cannot create a temporary directory: %s\n",
               strerror(errno));
        return 1;
    }
    RUN(t_latent_stats_vs_loops);
    RUN(t_npy_f32_normalisation);
    RUN(t_npy_f16);
    RUN(t_epochs_drop_last);
    RUN(t_cursor_resume);
    RUN(t_shuffle_uniform);
    RUN(t_flips);
    RUN(t_stats_files);
    RUN(t_std_floor);
    RUN(t_holdout);
    RUN(t_normalize_roundtrip);
    RUN(t_sample_and_noncontiguous_out);
    RUN(t_errors);
    RUN(t_synth_deterministic);
    RUN(t_synth_gaussian_without_outliers);
    RUN(t_synth_kurtosis_grows);
    RUN(t_synth_channel_correlation);
    RUN(t_synth_defaults_like_real);
    RUN(t_cuda_batches_and_stats);
    RUN(t_real_latents_vs_json);
    cleanup_tmpdir();
    return test_summary();
}
