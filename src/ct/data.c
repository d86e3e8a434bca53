/* data.c — latent data sets (see data.h): loading, the held-out split, per-element
 * normalisation statistics (Welford in double), shuffled epochs with drop_last, flips, the
 * cursor, per-channel latent statistics, and the synthetic latent-like generator.
 */
#include "ct/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/interrupt.h"
#include "io/npy.h"
#include "io/safetensors.h"

/* ---- small helpers ------------------------------------------------------------------------ */

static char *shape4(char *buf, size_t n, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t s[4] = {a, b, c, d};
    return lctw_shape_str(buf, n, 4, s);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Fills p[0..n) with a uniformly random permutation of 0..n−1: Fisher–Yates, position
 * i = n−1 … 1 swaps with ⌊x·(i+1)/2³²⌋ where x is raw word (n−1−i) of (seed, stream) counted
 * from block `off` (lane j%4 of block off + j/4). */
static void fisher_yates(int64_t *p, int64_t n, uint64_t seed, uint32_t stream, uint64_t off) {
    for (int64_t i = 0; i < n; i++)
        p[i] = i;
    uint32_t wd[4];
    uint64_t have = UINT64_MAX;
    for (int64_t i = n - 1, j = 0; i >= 1; i--, j++) {
        uint64_t b = off + (uint64_t)j / 4;
        if (b != have) {
            lctw_rng_block(seed, stream, b, wd);
            have = b;
        }
        uint64_t x = wd[j % 4];
        int64_t r = (int64_t)((x * (uint64_t)(i + 1)) >> 32);
        int64_t t = p[i];
        p[i] = p[r];
        p[r] = t;
    }
}

/* Standard normals j = 0..n−1 of a draw starting at block off, identical to
 * lctw_rng_normal_at(seed, stream, off, j) but one Philox block per four numbers. */
static void normals(double *dst, int64_t n, uint64_t seed, uint32_t stream, uint64_t off) {
    for (int64_t j = 0; j < n; j += 4) {
        uint32_t o[4];
        lctw_rng_block(seed, stream, off + (uint64_t)j / 4, o);
        for (int pair = 0; pair < 4; pair += 2) {
            double u0 = (double)lctw_rng_u01(o[pair]), u1 = (double)lctw_rng_u01(o[pair + 1]);
            double r = sqrt(-2.0 * log(u0)), a = 6.283185307179586476925 * u1;
            if (j + pair < n) dst[j + pair] = (double)(float)(r * cos(a));
            if (j + pair + 1 < n) dst[j + pair + 1] = (double)(float)(r * sin(a));
        }
    }
}

static void uniforms(double *dst, int64_t n, uint64_t seed, uint32_t stream, uint64_t off) {
    for (int64_t j = 0; j < n; j++)
        dst[j] = (double)lctw_rng_uniform_at(seed, stream, off, (uint64_t)j);
}

/* ---- latent statistics -------------------------------------------------------------------- */

double lctw_gaussian_tail(double k) { return erfc(k / sqrt(2.0)); }

void lctw_latent_stats_release(lctw_latent_stats *s) {
    if (!s) return;
    free(s->ch);
    s->ch = NULL;
}

static lctw_status chan_stats(lctw_tensor *v, lctw_chan_stats *cs) {
    lctw_moments m;
    LCTW_TRY(lctw_moments_all(v, &m));
    cs->mean = m.mean;
    cs->std = m.std;
    cs->skew = m.skew;
    cs->kurtosis = m.kurtosis;
    cs->min = m.min;
    cs->max = m.max;
    cs->max_abs = fmax(fabs(m.min), fabs(m.max));
    cs->max_abs_std = m.std > 0 ? fmax(fabs(m.min - m.mean), fabs(m.max - m.mean)) / m.std : NAN;
    for (int k = 0; k < LCTW_TAIL_NK; k++)
        LCTW_TRY(lctw_tail_fraction(v, (double)(LCTW_TAIL_K0 + k), &cs->tail[k]));
    return LCTW_OK;
}

lctw_status lctw_latent_stats_compute(lctw_tensor *z, lctw_latent_stats *out) {
    memset(out, 0, sizeof *out);
    char sb[64];
    if (z->ndim != 4)
        return LCTW_FAIL(LCTW_ESHAPE, "latent statistics need an (N, C, H, W) tensor, got %s",
                         lctw_tensor_shape_str(sb, sizeof sb, z));
    if (lctw_tensor_numel(z) == 0)
        return LCTW_FAIL(LCTW_ESHAPE, "latent statistics of an empty tensor (%s)",
                         lctw_tensor_shape_str(sb, sizeof sb, z));
    int c = (int)z->shape[1];
    lctw_chan_stats *ch = calloc((size_t)c, sizeof *ch);
    if (!ch) return LCTW_FAIL(LCTW_ENOMEM, "latent statistics: out of memory for %d channels", c);
    lctw_status s = LCTW_OK;
    for (int i = 0; i < c && s == LCTW_OK; i++) {
        lctw_tensor *v = NULL;
        s = lctw_tensor_narrow(&v, z, 1, i, 1);
        if (s == LCTW_OK) s = chan_stats(v, &ch[i]);
        lctw_tensor_release(v);
    }
    if (s == LCTW_OK) s = lctw_moments_all(z, &out->raw);
    if (s != LCTW_OK) {
        free(ch);
        return s;
    }
    lctw_chan_stats *p = &out->pooled;
    p->mean = 0.0;
    p->std = 1.0;
    p->min = INFINITY;
    p->max = -INFINITY;
    for (int i = 0; i < c; i++) {
        p->skew += ch[i].skew / c;
        p->kurtosis += ch[i].kurtosis / c;
        for (int k = 0; k < LCTW_TAIL_NK; k++)
            p->tail[k] += ch[i].tail[k] / c;
        p->min = fmin(p->min, ch[i].min);
        p->max = fmax(p->max, ch[i].max);
        p->max_abs = fmax(p->max_abs, ch[i].max_abs);
        p->max_abs_std = i ? fmax(p->max_abs_std, ch[i].max_abs_std) : ch[i].max_abs_std;
    }
    out->n = z->shape[0];
    out->c = c;
    out->ch = ch;
    return LCTW_OK;
}

/* ---- options ------------------------------------------------------------------------------ */

void lctw_data_opts_init(lctw_data_opts *o) {
    memset(o, 0, sizeof *o);
    o->normalize = 1;
    o->stream = LCTW_STREAM_DATA;
    o->sigma_data = 0.5;
    o->std_floor = 1e-6;
}

void lctw_data_free(lctw_data *d) {
    if (!d) return;
    lctw_tensor_release(d->z);
    lctw_tensor_release(d->mean);
    lctw_tensor_release(d->std);
    free(d->train_rows);
    free(d->holdout_rows);
    free(d->scale);
    free(d->inv_scale);
    free(d->perm);
    if (d->stats) {
        lctw_latent_stats_release(d->stats);
        free(d->stats);
    }
    free(d);
}

/* ---- normalisation statistics ------------------------------------------------------------- */

/* μ, s over the training rows (and their mirror images when d->flip), Welford in double. */
static lctw_status compute_norm_stats(lctw_data *d, float *mu, float *sd) {
    const int64_t e = d->c * d->h * d->w, nt = d->n_train;
    if (nt < 2 && !d->normalize) { /* raw batches: μ = 0, s = 1 stand in */
        for (int64_t k = 0; k < e; k++) {
            mu[k] = 0.0f;
            sd[k] = 1.0f;
        }
        snprintf(d->stats_from, sizeof d->stats_from, "none (one row, not normalised)");
        return LCTW_OK;
    }
    if (nt < 2)
        return LCTW_FAIL(LCTW_EINVAL,
                         "%s: need at least 2 training rows to compute normalisation statistics, "
                         "got %lld (N = %lld, holdout = %lld)",
                         d->source, (long long)nt, (long long)d->n, (long long)d->n_holdout);
    double *mean = calloc((size_t)e, sizeof *mean), *m2 = calloc((size_t)e, sizeof *m2);
    if (!mean || !m2) {
        free(mean);
        free(m2);
        return LCTW_FAIL(LCTW_ENOMEM, "normalisation statistics: out of memory");
    }
    const float *z = lctw_tensor_data(d->z);
    for (int64_t i = 0; i < nt; i++) {
        if ((i & 255) == 255 && lctw_interrupted()) {
            free(mean);
            free(m2);
            return lctw_check_interrupt();
        }
        const float *row = z + d->train_rows[i] * e;
        double inv = 1.0 / (double)(i + 1);
        for (int64_t k = 0; k < e; k++) {
            double x = row[k], delta = x - mean[k];
            mean[k] += delta * inv;
            m2[k] += delta * (x - mean[k]);
        }
    }
    double denom = (double)(nt - 1);
    if (d->flip) {
        /* union with the mirror images: two halves of nt rows each, combined exactly
         * (Chan et al.): M2 = M2_a + M2_b + δ²·nt/2 */
        denom = (double)(2 * nt - 1);
        double *fm = malloc((size_t)e * sizeof *fm), *fm2 = malloc((size_t)e * sizeof *fm2);
        if (!fm || !fm2) {
            free(fm);
            free(fm2);
            free(mean);
            free(m2);
            return LCTW_FAIL(LCTW_ENOMEM, "normalisation statistics: out of memory");
        }
        const int64_t W = d->w;
        for (int64_t k = 0; k < e; k++) {
            int64_t w = k % W, m = k - w + (W - 1 - w);
            double delta = mean[k] - mean[m];
            fm[k] = 0.5 * (mean[k] + mean[m]);
            fm2[k] = m2[k] + m2[m] + delta * delta * (double)nt * 0.5;
        }
        memcpy(mean, fm, (size_t)e * sizeof *mean);
        memcpy(m2, fm2, (size_t)e * sizeof *m2);
        free(fm);
        free(fm2);
    }
    for (int64_t k = 0; k < e; k++) {
        mu[k] = (float)mean[k];
        sd[k] = (float)sqrt(m2[k] / denom);
    }
    free(mean);
    free(m2);
    snprintf(d->stats_from, sizeof d->stats_from, "computed over %lld rows%s", (long long)nt,
             d->flip ? " and their mirror images" : "");
    return LCTW_OK;
}

/* Copies a float32 CPU tensor of e elements into dst. */
static void copy_floats(float *dst, lctw_tensor *t, int64_t e) {
    for (int64_t k = 0; k < e; k++)
        dst[k] = lctw_tensor_data(t)[lctw_tensor_flat_offset(t, k)];
}

static lctw_status load_norm_stats(lctw_data *d, const char *path, float *mu, float *sd) {
    const int64_t e = d->c * d->h * d->w;
    char want[64], got[64];
    shape4(want, sizeof want, 2, d->c, d->h, d->w);
    lctw_status s = LCTW_OK;
    if (ends_with(path, ".safetensors")) {
        lctw_st_file *f = NULL;
        LCTW_TRY(lctw_st_open(&f, path));
        const char *names[2] = {"mean", "std"};
        float *dst[2] = {mu, sd};
        for (int i = 0; i < 2 && s == LCTW_OK; i++) {
            const lctw_st_entry *en = lctw_st_find(f, names[i]);
            if (!en) {
                s = LCTW_FAIL(LCTW_EFORMAT,
                              "%s: normalisation statistics need tensors \"mean\" and \"std\"; "
                              "\"%s\" is missing",
                              path, names[i]);
                break;
            }
            if (en->numel != e) {
                s = LCTW_FAIL(LCTW_ESHAPE,
                              "%s: tensor \"%s\" has %lld elements, expected %lld (C×H×W of "
                              "the data, %s)",
                              path, names[i], (long long)en->numel, (long long)e, want + 4);
                break;
            }
            lctw_tensor *t = NULL;
            s = lctw_st_load_tensor(&t, f, names[i]);
            if (s == LCTW_OK) copy_floats(dst[i], t, e);
            lctw_tensor_release(t);
        }
        lctw_st_close(f);
        if (s != LCTW_OK) return s;
    } else {
        lctw_tensor *t = NULL;
        LCTW_TRY(lctw_npy_load(&t, path, NULL));
        if (t->ndim < 2 || t->shape[0] != 2 || lctw_tensor_numel(t) != 2 * e) {
            s = LCTW_FAIL(LCTW_ESHAPE,
                          "%s: normalisation statistics must have shape %s ([mean; std]), got %s",
                          path, want, lctw_tensor_shape_str(got, sizeof got, t));
            lctw_tensor_release(t);
            return s;
        }
        lctw_tensor *a = NULL, *b = NULL;
        s = lctw_tensor_select(&a, t, 0, 0);
        if (s == LCTW_OK) s = lctw_tensor_select(&b, t, 0, 1);
        if (s == LCTW_OK) {
            copy_floats(mu, a, e);
            copy_floats(sd, b, e);
        }
        lctw_tensor_release(a);
        lctw_tensor_release(b);
        lctw_tensor_release(t);
        if (s != LCTW_OK) return s;
    }
    for (int64_t k = 0; k < e; k++) {
        if (!isfinite(mu[k]) || !(sd[k] >= 0) || !isfinite(sd[k]))
            return LCTW_FAIL(LCTW_EFORMAT,
                             "%s: normalisation statistics at element %lld: mean %g, std %g "
                             "(need finite values and std >= 0)",
                             path, (long long)k, mu[k], sd[k]);
    }
    snprintf(d->stats_from, sizeof d->stats_from, "%s", path);
    return LCTW_OK;
}

/* ---- construction ------------------------------------------------------------------------- */

static lctw_status check_opts(const lctw_data_opts *o, int64_t n, const char *src) {
    if (!(o->sigma_data > 0) || !isfinite(o->sigma_data))
        return LCTW_FAIL(LCTW_EINVAL, "%s: sigma_data must be a positive number, got %g", src,
                         o->sigma_data);
    if (!(o->std_floor >= 0) || !isfinite(o->std_floor))
        return LCTW_FAIL(LCTW_EINVAL, "%s: std_floor must be >= 0, got %g", src, o->std_floor);
    if (o->holdout < 0 || o->holdout >= n)
        return LCTW_FAIL(LCTW_EINVAL,
                         "%s: holdout must be in 0..%lld (N = %lld rows, at least one must be "
                         "left for training), got %lld",
                         src, (long long)(n - 1), (long long)n, (long long)o->holdout);
    return LCTW_OK;
}

static lctw_status split_rows(lctw_data *d, int64_t k) {
    const int64_t n = d->n;
    d->n_holdout = k;
    d->n_train = n - k;
    d->train_rows = malloc((size_t)d->n_train * sizeof *d->train_rows);
    d->holdout_rows = malloc((size_t)(k ? k : 1) * sizeof *d->holdout_rows);
    unsigned char *held = calloc((size_t)n, 1);
    int64_t *p = k ? malloc((size_t)n * sizeof *p) : NULL;
    if (!d->train_rows || !d->holdout_rows || !held || (k && !p)) {
        free(held);
        free(p);
        return LCTW_FAIL(LCTW_ENOMEM, "%s: out of memory for the row lists of %lld rows", d->source,
                         (long long)n);
    }
    if (k) {
        fisher_yates(p, n, d->seed, d->stream + 2, 0);
        for (int64_t i = 0; i < k; i++)
            held[p[i]] = 1;
    }
    for (int64_t r = 0, a = 0, b = 0; r < n; r++) {
        if (held[r])
            d->holdout_rows[b++] = r;
        else
            d->train_rows[a++] = r;
    }
    free(held);
    free(p);
    return LCTW_OK;
}

lctw_status lctw_data_from_tensor(lctw_data **out, lctw_tensor *z, const char *dtype,
                                  const char *source, const lctw_data_opts *o) {
    *out = NULL;
    lctw_data_opts dflt;
    if (!o) {
        lctw_data_opts_init(&dflt);
        o = &dflt;
    }
    if (!source) source = "tensor";
    char sb[64];
    if (z->ndim != 4)
        return LCTW_FAIL(LCTW_ESHAPE, "%s: latents must be N×C×H×W (4 dimensions), got %s", source,
                         lctw_tensor_shape_str(sb, sizeof sb, z));
    for (int i = 0; i < 4; i++)
        if (z->shape[i] < 1)
            return LCTW_FAIL(LCTW_ESHAPE, "%s: latents must not be empty, got %s", source,
                             lctw_tensor_shape_str(sb, sizeof sb, z));
    LCTW_TRY(check_opts(o, z->shape[0], source));

    lctw_data *d = calloc(1, sizeof *d);
    if (!d) return LCTW_FAIL(LCTW_ENOMEM, "%s: out of memory", source);
    lctw_status s;
    lctw_tensor *cpu = NULL;
    s = lctw_tensor_to(&cpu, z, LCTW_DEV_CPU);
    if (s == LCTW_OK) {
        s = lctw_tensor_contiguous(&d->z, cpu);
        lctw_tensor_release(cpu);
    }
    if (s != LCTW_OK) {
        free(d);
        return s;
    }
    d->n = z->shape[0];
    d->c = z->shape[1];
    d->h = z->shape[2];
    d->w = z->shape[3];
    snprintf(d->dtype, sizeof d->dtype, "%s", dtype ? dtype : "float32");
    snprintf(d->source, sizeof d->source, "%s", source);
    d->normalize = o->normalize != 0;
    d->flip = o->flip != 0;
    d->sigma_data = o->sigma_data;
    d->std_floor = o->std_floor;
    d->seed = o->seed;
    d->stream = o->stream;
    d->perm_epoch = -1;

    const int64_t e = d->c * d->h * d->w;
    int64_t cshape[3] = {d->c, d->h, d->w};
    s = split_rows(d, o->holdout);
    if (s == LCTW_OK) s = lctw_tensor_empty(&d->mean, 3, cshape, LCTW_DEV_CPU);
    if (s == LCTW_OK) s = lctw_tensor_empty(&d->std, 3, cshape, LCTW_DEV_CPU);
    if (s == LCTW_OK) {
        d->scale = malloc((size_t)e * sizeof *d->scale);
        d->inv_scale = malloc((size_t)e * sizeof *d->inv_scale);
        if (!d->scale || !d->inv_scale) s = LCTW_FAIL(LCTW_ENOMEM, "%s: out of memory", source);
    }
    float *mu = s == LCTW_OK ? lctw_tensor_data(d->mean) : NULL;
    float *sd = s == LCTW_OK ? lctw_tensor_data(d->std) : NULL;
    if (s == LCTW_OK)
        s = o->stats_path ? load_norm_stats(d, o->stats_path, mu, sd)
                          : compute_norm_stats(d, mu, sd);
    if (s != LCTW_OK) {
        lctw_data_free(d);
        return s;
    }
    for (int64_t k = 0; k < e; k++) {
        if (!(sd[k] >= d->std_floor) || sd[k] == 0) { /* also catches NaN */
            sd[k] = (float)(d->std_floor > 0 ? d->std_floor : 1e-30);
            d->std_floored++;
        }
        d->scale[k] = (float)(d->sigma_data / sd[k]);
        d->inv_scale[k] = (float)(sd[k] / d->sigma_data);
    }
    *out = d;
    return LCTW_OK;
}

lctw_status lctw_data_npy(lctw_data **out, const char *path, const lctw_data_opts *o) {
    *out = NULL;
    lctw_npy_info info;
    LCTW_TRY(lctw_npy_read_header(path, &info));
    char sb[64];
    if (info.ndim != 4)
        return LCTW_FAIL(LCTW_ESHAPE, "%s: latents must be N×C×H×W (4 dimensions), got %s", path,
                         lctw_shape_str(sb, sizeof sb, info.ndim, info.shape));
    lctw_tensor *z = NULL;
    LCTW_TRY(lctw_npy_load(&z, path, NULL));
    lctw_status s = lctw_data_from_tensor(out, z, lctw_npy_dtype_name(info.dtype), path, o);
    lctw_tensor_release(z);
    return s;
}

/* ---- epochs and batches ------------------------------------------------------------------- */

int64_t lctw_data_batches(const lctw_data *d, int64_t n) { return n >= 1 ? d->n_train / n : 0; }

static uint64_t epoch_offset(const lctw_data *d, int64_t epoch) {
    return (uint64_t)epoch * lctw_rng_blocks((uint64_t)d->n_train);
}

static lctw_status ensure_perm(lctw_data *d, int64_t epoch) {
    if (d->perm && d->perm_epoch == epoch) return LCTW_OK;
    if (!d->perm) {
        d->perm = malloc((size_t)d->n_train * sizeof *d->perm);
        if (!d->perm)
            return LCTW_FAIL(LCTW_ENOMEM, "%s: out of memory for the order of %lld rows", d->source,
                             (long long)d->n_train);
    }
    fisher_yates(d->perm, d->n_train, d->seed, d->stream, epoch_offset(d, epoch));
    d->perm_epoch = epoch;
    return LCTW_OK;
}

static int flip_bit(const lctw_data *d, int64_t epoch, int64_t pos) {
    uint32_t o[4];
    lctw_rng_block(d->seed, d->stream + 1, epoch_offset(d, epoch) + (uint64_t)pos / 4, o);
    return (int)(o[pos % 4] >> 31);
}

/* dst (C·H·W) = normalised (or raw) row r, mirrored along W when flip. */
static void fill_row(const lctw_data *d, float *dst, int64_t r, int flip) {
    const int64_t e = d->c * d->h * d->w, W = d->w;
    const float *src = lctw_tensor_data(d->z) + r * e;
    const float *mu = lctw_tensor_data(d->mean);
    for (int64_t k0 = 0; k0 < e; k0 += W) {
        for (int64_t w = 0; w < W; w++) {
            int64_t k = k0 + w;
            float z = src[flip ? k0 + (W - 1 - w) : k];
            dst[k] = d->normalize ? (z - mu[k]) * d->scale[k] : z;
        }
    }
}

/* out is written directly when it is a contiguous CPU tensor, else through a CPU temporary. */
static lctw_status staging(lctw_tensor *out, lctw_tensor **tmp, float **dst) {
    if (lctw_tensor_device(out) == LCTW_DEV_CPU && lctw_tensor_is_contiguous(out)) {
        *tmp = NULL;
        *dst = lctw_tensor_data(out);
        return LCTW_OK;
    }
    LCTW_TRY(lctw_tensor_empty(tmp, out->ndim, out->shape, LCTW_DEV_CPU));
    *dst = lctw_tensor_data(*tmp);
    return LCTW_OK;
}

static lctw_status unstage(lctw_tensor *out, lctw_tensor *tmp) {
    if (!tmp) return LCTW_OK;
    lctw_status s = lctw_tensor_copy(out, tmp);
    lctw_tensor_release(tmp);
    return s;
}

static lctw_status check_batch_out(const lctw_data *d, int64_t n, const lctw_tensor *out) {
    char want[64], got[64];
    if (out->ndim != 4 || out->shape[0] != n || out->shape[1] != d->c || out->shape[2] != d->h ||
        out->shape[3] != d->w)
        return LCTW_FAIL(LCTW_ESHAPE, "%s: batch output must be %s, got %s", d->source,
                         shape4(want, sizeof want, n, d->c, d->h, d->w),
                         lctw_tensor_shape_str(got, sizeof got, out));
    return LCTW_OK;
}

lctw_status lctw_data_batch_rows(lctw_data *d, int64_t n, lctw_tensor *out, int64_t *rows,
                                 unsigned char *flips) {
    if (n < 1 || n > d->n_train)
        return LCTW_FAIL(LCTW_ESHAPE, "%s: batch size must be in 1..%lld (training rows), got %lld",
                         d->source, (long long)d->n_train, (long long)n);
    LCTW_TRY(check_batch_out(d, n, out));
    lctw_data_cursor c = d->cur;
    if (c.pos + n > d->n_train) { /* drop_last: the rest of this epoch is skipped */
        c.epoch++;
        c.pos = 0;
    }
    LCTW_TRY(ensure_perm(d, c.epoch));
    lctw_tensor *tmp;
    float *dst;
    LCTW_TRY(staging(out, &tmp, &dst));
    const int64_t e = d->c * d->h * d->w;
    for (int64_t i = 0; i < n; i++) {
        int64_t p = c.pos + i, r = d->train_rows[d->perm[p]];
        int f = d->flip ? flip_bit(d, c.epoch, p) : 0;
        fill_row(d, dst + i * e, r, f);
        if (rows) rows[i] = r;
        if (flips) flips[i] = (unsigned char)f;
    }
    LCTW_TRY(unstage(out, tmp));
    d->cur.epoch = c.epoch;
    d->cur.pos = c.pos + n;
    return LCTW_OK;
}

lctw_status lctw_data_batch(lctw_data *d, int64_t n, lctw_tensor *out) {
    return lctw_data_batch_rows(d, n, out, NULL, NULL);
}

void lctw_data_get_cursor(const lctw_data *d, lctw_data_cursor *c) { *c = d->cur; }

lctw_status lctw_data_set_cursor(lctw_data *d, const lctw_data_cursor *c) {
    if (c->epoch < 0 || c->pos < 0 || c->pos > d->n_train)
        return LCTW_FAIL(LCTW_EINDEX,
                         "%s: cursor (epoch %lld, position %lld) out of range: epoch >= 0 and "
                         "position in 0..%lld (training rows)",
                         d->source, (long long)c->epoch, (long long)c->pos, (long long)d->n_train);
    d->cur = *c;
    return LCTW_OK;
}

/* ---- element-wise maps -------------------------------------------------------------------- */

static lctw_status map_latents(const lctw_data *d, const lctw_tensor *x, lctw_tensor *out,
                               int inverse, const char *what) {
    const int64_t e = d->c * d->h * d->w;
    char want[64], got[64];
    int ok = (x->ndim == 4 && x->shape[1] == d->c && x->shape[2] == d->h && x->shape[3] == d->w) ||
             (x->ndim == 3 && x->shape[0] == d->c && x->shape[1] == d->h && x->shape[2] == d->w);
    if (!ok)
        return LCTW_FAIL(LCTW_ESHAPE, "%s: %s needs (n, %s) or (%s), got %s", d->source, what,
                         shape4(want, sizeof want, 1, d->c, d->h, d->w) + 4, want + 4,
                         lctw_tensor_shape_str(got, sizeof got, x));
    if (!lctw_tensor_same_shape(x, out))
        return LCTW_FAIL(LCTW_ESHAPE, "%s: %s output must be %s like the input, got %s", d->source,
                         what, lctw_tensor_shape_str(want, sizeof want, x),
                         lctw_tensor_shape_str(got, sizeof got, out));
    /* a contiguous CPU copy of x, mapped in place, then copied to out */
    lctw_tensor *t = NULL;
    LCTW_TRY(lctw_tensor_empty(&t, x->ndim, x->shape, LCTW_DEV_CPU));
    lctw_status s = lctw_tensor_copy(t, x);
    if (s == LCTW_OK && d->normalize) {
        float *p = lctw_tensor_data(t);
        const float *mu = lctw_tensor_data(d->mean);
        int64_t rows = lctw_tensor_numel(t) / e;
        for (int64_t r = 0; r < rows; r++, p += e) {
            if (inverse)
                for (int64_t k = 0; k < e; k++)
                    p[k] = p[k] * d->inv_scale[k] + mu[k];
            else
                for (int64_t k = 0; k < e; k++)
                    p[k] = (p[k] - mu[k]) * d->scale[k];
        }
    }
    if (s == LCTW_OK) s = lctw_tensor_copy(out, t);
    lctw_tensor_release(t);
    return s;
}

lctw_status lctw_data_denormalize(const lctw_data *d, const lctw_tensor *x, lctw_tensor *out) {
    return map_latents(d, x, out, 1, "denormalize");
}

lctw_status lctw_data_normalize(const lctw_data *d, const lctw_tensor *z, lctw_tensor *out) {
    return map_latents(d, z, out, 0, "normalize");
}

/* ---- held-out rows, samples, statistics --------------------------------------------------- */

static lctw_status gather(const lctw_data *d, const int64_t *rows, int64_t n, int normalized,
                          lctw_tensor **out) {
    int64_t shape[4] = {n, d->c, d->h, d->w};
    LCTW_TRY(lctw_tensor_empty(out, 4, shape, LCTW_DEV_CPU));
    const int64_t e = d->c * d->h * d->w;
    float *dst = lctw_tensor_data(*out);
    const float *z = lctw_tensor_data(d->z);
    for (int64_t i = 0; i < n; i++) {
        if (normalized)
            fill_row(d, dst + i * e, rows[i], 0);
        else
            memcpy(dst + i * e, z + rows[i] * e, (size_t)e * sizeof *dst);
    }
    return LCTW_OK;
}

lctw_status lctw_data_holdout(const lctw_data *d, int normalized, lctw_tensor **out) {
    *out = NULL;
    if (d->n_holdout == 0)
        return LCTW_FAIL(LCTW_EINVAL, "%s: no held-out rows (open the data with holdout = k > 0)",
                         d->source);
    return gather(d, d->holdout_rows, d->n_holdout, normalized, out);
}

lctw_status lctw_data_sample(const lctw_data *d, int64_t n, uint64_t seed, lctw_tensor **out) {
    *out = NULL;
    if (n < 1 || n > d->n_train)
        return LCTW_FAIL(LCTW_EINVAL,
                         "%s: sample size must be in 1..%lld (training rows), got %lld", d->source,
                         (long long)d->n_train, (long long)n);
    int64_t *p = malloc((size_t)d->n_train * sizeof *p);
    if (!p) return LCTW_FAIL(LCTW_ENOMEM, "%s: out of memory", d->source);
    fisher_yates(p, d->n_train, seed, d->stream + 3, 0);
    for (int64_t i = 0; i < n; i++)
        p[i] = d->train_rows[p[i]];
    lctw_status s = gather(d, p, n, 0, out);
    free(p);
    return s;
}

lctw_status lctw_data_stats(lctw_data *d, const lctw_latent_stats **out) {
    if (!d->stats) {
        lctw_latent_stats *st = calloc(1, sizeof *st);
        if (!st) return LCTW_FAIL(LCTW_ENOMEM, "%s: out of memory", d->source);
        lctw_status s = lctw_latent_stats_compute(d->z, st);
        if (s != LCTW_OK) {
            free(st);
            return s;
        }
        d->stats = st;
    }
    *out = d->stats;
    return LCTW_OK;
}

lctw_status lctw_data_save_stats(const lctw_data *d, const char *path) {
    const char *names[2] = {"mean", "std"};
    lctw_tensor *ts[2] = {d->mean, d->std};
    char n[32], sdata[32];
    snprintf(n, sizeof n, "%lld", (long long)d->n_train);
    snprintf(sdata, sizeof sdata, "%.9g", d->sigma_data);
    const char *keys[4] = {"format", "source", "rows", "sigma_data"};
    const char *vals[4] = {"lctw normalisation statistics (per-element mean, unbiased std)",
                           d->source, n, sdata};
    return lctw_st_save(path, 2, names, ts, 4, keys, vals);
}

/* ---- synthetic data ----------------------------------------------------------------------- */

void lctw_synth_opts_init(lctw_synth_opts *o) {
    memset(o, 0, sizeof *o);
    o->n = 1024;
    o->c = 4;
    o->h = 32;
    o->w = 32;
    o->stream = LCTW_STREAM_SYNTH;
    o->outliers = 5e-4;
    o->tail = 4.0;
    o->spike = 5.0;
    o->spike_max = 25.0;
    o->mixing = 0.7;
    o->waves = 4;
    o->freq = 2.0;
    o->noise = 0.2;
}

void lctw_synth_info_release(lctw_synth_info *info) {
    if (!info) return;
    free(info->mixing);
    free(info->chan_scale);
    free(info->mean);
    memset(info, 0, sizeof *info);
}

static lctw_status check_synth(const lctw_synth_opts *o) {
#define BAD(...) return LCTW_FAIL(LCTW_EINVAL, "synthetic data: " __VA_ARGS__)
    if (o->n < 1) BAD("n must be >= 1, got %lld", (long long)o->n);
    if (o->c < 1 || o->h < 1 || o->w < 1 || o->c > 4096 || o->h > 65536 || o->w > 65536)
        BAD("shape must be C×H×W with C in 1..4096 and H, W in 1..65536, got %d×%d×%d", o->c, o->h,
            o->w);
    int64_t shape[4] = {o->n, o->c, o->h, o->w};
    LCTW_TRY(lctw_shape_check(4, shape));
    if (!(o->outliers >= 0 && o->outliers <= 1))
        BAD("outliers must be in [0, 1], got %g", o->outliers);
    if (o->rates)
        for (int c = 0; c < o->c; c++)
            if (!(o->rates[c] >= 0 && o->rates[c] <= 1))
                BAD("outlier rate of channel %d must be in [0, 1], got %g", c + 1, o->rates[c]);
    if (!(o->tail > 0) || !isfinite(o->tail)) BAD("tail must be > 0, got %g", o->tail);
    if (!(o->spike > 0) || !isfinite(o->spike)) BAD("spike must be > 0, got %g", o->spike);
    if (!(o->spike_max >= o->spike) || !isfinite(o->spike_max))
        BAD("spike_max must be >= spike (%g), got %g", o->spike, o->spike_max);
    if (!(o->mixing >= 0) || !isfinite(o->mixing)) BAD("mixing must be >= 0, got %g", o->mixing);
    if (o->waves < 1 || o->waves > 256) BAD("waves must be in 1..256, got %d", o->waves);
    if (!(o->freq >= 0) || !isfinite(o->freq)) BAD("freq must be >= 0, got %g", o->freq);
    if (!(o->noise >= 0 && o->noise <= 1)) BAD("noise must be in [0, 1], got %g", o->noise);
#undef BAD
    return LCTW_OK;
}

/* One smooth field Σ_j (a_j cos θ_j + b_j sin θ_j)/√J into f (h·w), θ = 2π(u h/H + v w/W),
 * separably: with θ = α + β, a cos θ + b sin θ = cos α (a cos β + b sin β) + sin α (b cos β −
 * a sin β). ab: 2J normals, uv: 2J uniforms in (0, 1). ws: 2h + 2w doubles. */
static void smooth_field(double *f, int h, int w, int J, const double *ab, const double *uv,
                         double freq, double *ws) {
    const double tau = 6.283185307179586476925;
    double *ca = ws, *sa = ws + h, *p = ws + 2 * h, *q = ws + 2 * h + w;
    memset(f, 0, (size_t)h * (size_t)w * sizeof *f);
    const double norm = 1.0 / sqrt((double)J);
    for (int j = 0; j < J; j++) {
        double a = ab[2 * j] * norm, b = ab[2 * j + 1] * norm;
        double u = (2.0 * uv[2 * j] - 1.0) * freq, v = (2.0 * uv[2 * j + 1] - 1.0) * freq;
        for (int y = 0; y < h; y++) {
            ca[y] = cos(tau * u * y / h);
            sa[y] = sin(tau * u * y / h);
        }
        for (int x = 0; x < w; x++) {
            double cb = cos(tau * v * x / w), sb = sin(tau * v * x / w);
            p[x] = a * cb + b * sb;
            q[x] = b * cb - a * sb;
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                f[y * w + x] += ca[y] * p[x] + sa[y] * q[x];
    }
}

lctw_status lctw_synth_generate(lctw_tensor **out, const lctw_synth_opts *o,
                                lctw_synth_info *info) {
    *out = NULL;
    if (info) memset(info, 0, sizeof *info);
    LCTW_TRY(check_synth(o));
    const int C = o->c, H = o->h, W = o->w, J = o->waves;
    const int64_t hw = (int64_t)H * W, e = (int64_t)C * hw;
    int64_t shape[4] = {o->n, C, H, W};
    lctw_tensor *t = NULL;
    LCTW_TRY(lctw_tensor_empty(&t, 4, shape, LCTW_DEV_CPU));

    double *L = calloc((size_t)C * C, sizeof *L), *g = calloc((size_t)C, sizeof *g);
    double *mean = calloc((size_t)e, sizeof *mean), *fields = calloc((size_t)e, sizeof *fields);
    double *noise = calloc((size_t)hw, sizeof *noise);
    double *ab = calloc((size_t)(2 * J * C), sizeof *ab),
           *uv = calloc((size_t)(2 * J * C), sizeof *uv);
    double *ws = calloc((size_t)(2 * H + 2 * W), sizeof *ws);
    double *tmp = calloc((size_t)(C * C > C ? C * C : C) + 2, sizeof *tmp);
    lctw_status s = LCTW_OK;
    if (!L || !g || !mean || !fields || !noise || !ab || !uv || !ws || !tmp) {
        s = LCTW_FAIL(LCTW_ENOMEM, "synthetic data: out of memory");
        goto done;
    }

    /* data-set constants from (seed, stream+2): G, g_c, channel offsets, mean patterns */
    {
        const uint32_t cs = o->stream + 2;
        uint64_t off = 0;
        normals(tmp, (int64_t)C * C, o->seed, cs, off);
        off += lctw_rng_blocks((uint64_t)C * C);
        for (int i = 0; i < C; i++) {
            double nrm = 0;
            for (int k = 0; k < C; k++) {
                double v = (i == k ? 1.0 : 0.0) + o->mixing * tmp[i * C + k];
                L[i * C + k] = v;
                nrm += v * v;
            }
            nrm = sqrt(nrm);
            for (int k = 0; k < C; k++)
                L[i * C + k] = nrm > 0 ? L[i * C + k] / nrm : (i == k);
        }
        uniforms(g, C, o->seed, cs, off);
        off += lctw_rng_blocks((uint64_t)C);
        for (int i = 0; i < C; i++)
            g[i] = 0.6 + 0.4 * g[i];
        normals(tmp, C, o->seed, cs, off);
        off += lctw_rng_blocks((uint64_t)C);
        for (int i = 0; i < C; i++) {
            normals(ab, 2 * J, o->seed, cs, off);
            off += lctw_rng_blocks((uint64_t)(2 * J));
            uniforms(uv, 2 * J, o->seed, cs, off);
            off += lctw_rng_blocks((uint64_t)(2 * J));
            smooth_field(mean + i * hw, H, W, J, ab, uv, o->freq, ws);
            for (int64_t k = 0; k < hw; k++)
                mean[i * hw + k] = 0.5 * tmp[i] + 0.3 * g[i] * mean[i * hw + k];
        }
    }

    /* per sample: fields from (seed, stream), outliers from (seed, stream+1) */
    const uint64_t b_ab = lctw_rng_blocks((uint64_t)(2 * J * C));
    const uint64_t b_sample = 2 * b_ab + (uint64_t)C * lctw_rng_blocks((uint64_t)hw);
    const uint64_t b_out = lctw_rng_blocks((uint64_t)(2 * e));
    const double keep = sqrt(1.0 - o->noise * o->noise);
    float *z = lctw_tensor_data(t);
    int64_t spikes = 0;
    for (int64_t i = 0; i < o->n; i++) {
        if ((i & 63) == 63 && lctw_interrupted()) {
            s = lctw_check_interrupt();
            goto done;
        }
        uint64_t off = (uint64_t)i * b_sample;
        normals(ab, 2 * J * C, o->seed, o->stream, off);
        uniforms(uv, 2 * J * C, o->seed, o->stream, off + b_ab);
        off += 2 * b_ab;
        for (int k = 0; k < C; k++) {
            double *f = fields + k * hw;
            smooth_field(f, H, W, J, ab + 2 * J * k, uv + 2 * J * k, o->freq, ws);
            if (o->noise > 0) {
                normals(noise, hw, o->seed, o->stream,
                        off + (uint64_t)k * lctw_rng_blocks((uint64_t)hw));
                for (int64_t q = 0; q < hw; q++)
                    f[q] = keep * f[q] + o->noise * noise[q];
            }
        }
        float *zi = z + i * e;
        for (int c = 0; c < C; c++) {
            for (int64_t q = 0; q < hw; q++) {
                double acc = 0;
                for (int k = 0; k < C; k++)
                    acc += L[c * C + k] * fields[k * hw + q];
                zi[c * hw + q] = (float)(mean[c * hw + q] + g[c] * acc);
            }
        }
        /* outliers: element k uses words 2k (Bernoulli) and 2k+1 (magnitude, sign) */
        const uint64_t oo = (uint64_t)i * b_out;
        for (int c = 0; c < C; c++) {
            double p = o->rates ? o->rates[c] : o->outliers;
            if (p <= 0) continue;
            for (int64_t q = 0; q < hw; q++) {
                int64_t k = c * hw + q;
                uint32_t wd[4];
                lctw_rng_block(o->seed, o->stream + 1, oo + (uint64_t)k / 2, wd);
                int lane = (int)(k % 2) * 2;
                if ((double)lctw_rng_u01(wd[lane]) >= p) continue;
                uint32_t x = wd[lane + 1];
                double v = (double)lctw_rng_u01(x);
                double m = o->spike * pow(v, -1.0 / o->tail);
                if (m > o->spike_max) m = o->spike_max;
                zi[k] += (float)((x & 1u) ? -m * g[c] : m * g[c]);
                spikes++;
            }
        }
    }
    if (info) {
        info->c = C;
        info->mixing = L;
        info->chan_scale = g;
        info->mean = mean;
        info->spikes = spikes;
        L = g = mean = NULL;
    }
done:
    free(L);
    free(g);
    free(mean);
    free(fields);
    free(noise);
    free(ab);
    free(uv);
    free(ws);
    free(tmp);
    if (s != LCTW_OK) {
        lctw_tensor_release(t);
        return s;
    }
    *out = t;
    return LCTW_OK;
}

lctw_status lctw_data_synthetic(lctw_data **out, const lctw_synth_opts *so,
                                const lctw_data_opts *o) {
    *out = NULL;
    lctw_tensor *z = NULL;
    LCTW_TRY(lctw_synth_generate(&z, so, NULL));
    lctw_status s = lctw_data_from_tensor(out, z, "synthetic", "synthetic", o);
    lctw_tensor_release(z);
    return s;
}
