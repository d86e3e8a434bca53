/* trainer.c — see trainer.h. */
#include "trainer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/interrupt.h"
#include "core/tmath.h"
#include "lctw_cuda_ct.h"
#include "ct/ot.h"
#include "io/json.h"
#include "io/safetensors.h"

#define STREAM_NOISE 0x4e4f4953u /* "NOIS" */
#define STREAM_INDEX 0x494e4458u /* "INDX" */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- configuration ---- */

void lctw_trainer_config_paper(lctw_trainer_config *c, int64_t batch, int64_t total_steps) {
    memset(c, 0, sizeof *c);
    c->batch = batch;
    c->total_steps = total_steps;
    c->s0 = 10;
    c->s1 = 640;
    c->p_mean = -1.1;
    c->p_std = 2.0;
    c->c = lctw_c_schedule_default(LCTW_C_ADAPTIVE);
    c->loss = lctw_loss_cfg_default();
    c->ot = 1;
    lctw_optim_config_default(&c->optim, LCTW_OPTIM_RADAM);
    c->optim.lr = 1e-4;
    c->optim.weight_decay = 1e-4;
    c->optim.eps = 1e-8;
    c->n_ema = 3;
    c->ema[0] = 0.999;
    c->ema[1] = 0.9999;
    c->ema[2] = 0.99993;
    c->max_grad_norm = 0.0;
    c->nan_halve_after = 100;
    c->seed = 0;
}

void lctw_trainer_config_ict(lctw_trainer_config *c, int64_t batch, int64_t total_steps) {
    lctw_trainer_config_paper(c, batch, total_steps);
    c->c = lctw_c_schedule_default(LCTW_C_ICT);
    c->loss.kind = LCTW_LOSS_PSEUDO_HUBER;
    c->loss.diff_lambda = 0.0;
    c->ot = 0;
}

lctw_status lctw_trainer_config_check(const lctw_trainer_config *c) {
    if (c->batch < 1) return LCTW_FAIL(LCTW_EINVAL, "trainer: batch must be >= 1, got %lld", (long long)c->batch);
    if (c->total_steps < 1)
        return LCTW_FAIL(LCTW_EINVAL, "trainer: total_steps must be >= 1, got %lld",
                         (long long)c->total_steps);
    if (c->n_ema < 0 || c->n_ema > LCTW_EMA_MAX)
        return LCTW_FAIL(LCTW_EINVAL, "trainer: between 0 and %d EMA decays", LCTW_EMA_MAX);
    lctw_curriculum cur = {c->s0, c->s1, c->total_steps};
    LCTW_TRY(lctw_curriculum_check(&cur));
    LCTW_TRY(lctw_c_schedule_check(&c->c));
    LCTW_TRY(lctw_loss_cfg_check(&c->loss));
    LCTW_TRY(lctw_optim_config_check(&c->optim));
    if (!(c->p_std > 0)) return LCTW_FAIL(LCTW_EINVAL, "trainer: p_std must be > 0");
    return LCTW_OK;
}

/* ---- life cycle ---- */

static lctw_status mkdir_p(const char *path) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST)
            return LCTW_FAIL(LCTW_EIO, "cannot create directory %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return LCTW_FAIL(LCTW_EIO, "cannot create directory %s: %s", buf, strerror(errno));
    return LCTW_OK;
}

static const char *CSV_HEADER =
    "step,N,stage,loss,loss_ct,loss_diff,c,lr,grad_norm,frac_over_c,frac_elem_over_c,diff_count,"
    "ot_gain,skipped,nan_skips,step_s,samples_per_s,resid_rms_p50,resid_rms_max,latent_mean,"
    "latent_std,latent_kurtosis,latent_tail3,latent_tail5\n";

static int csv_count_cols(const char *line) {
    int n = 1;
    for (; *line && *line != '\n'; line++) n += *line == ',';
    return n;
}

/* An existing metrics.csv keeps its columns: a header that is a prefix of ours (an older lctw)
 * gets rows cut to its columns; any other header is an error. */
static lctw_status csv_existing_cols(const char *path, int *cols) {
    char line[1024] = "";
    FILE *f = fopen(path, "r");
    if (!f) return LCTW_FAIL(LCTW_EIO, "cannot read %s: %s", path, strerror(errno));
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    size_t n = strcspn(line, "\n");
    line[n] = 0;
    if (n > 0 && !strncmp(CSV_HEADER, line, n) && (CSV_HEADER[n] == ',' || CSV_HEADER[n] == '\n')) {
        *cols = csv_count_cols(line);
        return LCTW_OK;
    }
    return LCTW_FAIL(LCTW_EFORMAT,
                     "%s has another header ('%.60s'), not lctw's metrics columns; move it away or "
                     "use another run_dir", path, line);
}

static lctw_status write_run_json(lctw_trainer *t);

static lctw_status open_logs(lctw_trainer *t, const char *dir) {
    snprintf(t->run_dir, sizeof t->run_dir, "%s", dir);
    LCTW_TRY(mkdir_p(dir));
    char p[600];
    snprintf(p, sizeof p, "%s/metrics.csv", dir);
    struct stat sb;
    int fresh = stat(p, &sb) != 0 || sb.st_size == 0;
    t->csv_cols = csv_count_cols(CSV_HEADER);
    if (!fresh) LCTW_TRY(csv_existing_cols(p, &t->csv_cols));
    t->csv = fopen(p, "a");
    if (!t->csv) return LCTW_FAIL(LCTW_EIO, "cannot open %s: %s", p, strerror(errno));
    if (fresh) fputs(CSV_HEADER, t->csv);
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    t->jsonl = fopen(p, "a");
    if (!t->jsonl) return LCTW_FAIL(LCTW_EIO, "cannot open %s: %s", p, strerror(errno));
    fflush(t->csv);
    return write_run_json(t);
}

void lctw_trainer_free(lctw_trainer *t) {
    if (!t) return;
    lctw_ctx_release(&t->ctx);
    lctw_index_sampler_release(&t->sampler);
    lctw_optim_free(t->opt);
    lctw_ema_free(t->ema);
    lctw_tensor *ts[] = {t->x, t->noise, t->noise_ot, t->x_s, t->x_t, t->grad, t->sig_s, t->sig_t};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) lctw_tensor_release(ts[i]);
    free(t->perm);
    free(t->idx);
    free(t->sigmas);
    free(t->sig_d);
    free(t->sig_next_d);
    free(t->in_diff);
    free(t->per);
    free(t->rms_sorted);
    free(t->sig_pair);
    free(t->ot_cost);
    if (t->csv) fclose(t->csv);
    if (t->jsonl) fclose(t->jsonl);
    free(t->options_meta);
    free(t);
}

lctw_status lctw_trainer_new(lctw_trainer **out, const lctw_trainer_config *cfg, lctw_model *m,
                             lctw_data *data, const char *run_dir) {
    *out = NULL;
    LCTW_TRY(lctw_trainer_config_check(cfg));
    if (data->c != m->in_ch || data->h != m->height || data->w != m->width)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "trainer: data samples are %lld×%lld×%lld but the model takes %d×%d×%d",
                         (long long)data->c, (long long)data->h, (long long)data->w, m->in_ch,
                         m->height, m->width);
    if (cfg->batch > data->n_train)
        return LCTW_FAIL(LCTW_EINVAL, "trainer: batch %lld is larger than the %lld training samples",
                         (long long)cfg->batch, (long long)data->n_train);
    lctw_trainer *t = calloc(1, sizeof *t);
    if (!t) return LCTW_FAIL(LCTW_ENOMEM, "trainer: out of memory");
    t->cfg = *cfg;
    t->model = m;
    t->data = data;
    t->cur = (lctw_curriculum){cfg->s0, cfg->s1, cfg->total_steps};
    t->d = (int64_t)m->in_ch * m->height * m->width;
    t->rng_noise = (lctw_rng){cfg->seed, 0, STREAM_NOISE};
    t->rng_index = (lctw_rng){cfg->seed, 0, STREAM_INDEX};
    lctw_status s = lctw_ctx_init(&t->ctx, m->params.dev, (size_t)64 << 20);
    lctw_index_sampler_init(&t->sampler);
    t->sampler.p_mean = cfg->p_mean;
    t->sampler.p_std = cfg->p_std;
    int64_t B = cfg->batch, shp[4] = {B, m->in_ch, m->height, m->width};
    if (s == LCTW_OK) s = lctw_optim_new_params(&t->opt, &cfg->optim, &m->params);
    if (s == LCTW_OK && cfg->n_ema > 0) s = lctw_ema_new(&t->ema, cfg->n_ema, cfg->ema, m->params.data);
    lctw_tensor **bufs[] = {&t->x, &t->noise, &t->noise_ot, &t->x_s, &t->x_t, &t->grad};
    /* the batch buffers live with the model; σ stays on the host (the model's coefficients are
     * computed there) */
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs && s == LCTW_OK; i++)
        s = lctw_tensor_empty(bufs[i], 4, shp, m->params.dev);
    if (s == LCTW_OK) s = lctw_tensor_empty(&t->sig_s, 1, &B, LCTW_DEV_CPU);
    if (s == LCTW_OK) s = lctw_tensor_empty(&t->sig_t, 1, &B, LCTW_DEV_CPU);
    t->perm = malloc((size_t)B * sizeof *t->perm);
    t->idx = malloc((size_t)B * sizeof *t->idx);
    t->sigmas = malloc((size_t)(cfg->s1 + 1) * sizeof *t->sigmas);
    t->sig_d = malloc((size_t)B * sizeof *t->sig_d);
    t->sig_next_d = malloc((size_t)B * sizeof *t->sig_next_d);
    t->in_diff = malloc((size_t)B);
    t->per = malloc((size_t)B * sizeof *t->per);
    t->rms_sorted = malloc((size_t)B * sizeof *t->rms_sorted);
    if (m->params.dev == LCTW_DEV_CUDA) {
        t->sig_pair = malloc((size_t)(2 * B) * sizeof *t->sig_pair);
        t->ot_cost = cfg->ot ? malloc((size_t)B * (size_t)B * sizeof *t->ot_cost) : NULL;
        if (s == LCTW_OK && (!t->sig_pair || (cfg->ot && !t->ot_cost)))
            s = LCTW_FAIL(LCTW_ENOMEM, "trainer: out of memory");
    }
    if (s == LCTW_OK && (!t->perm || !t->idx || !t->sigmas || !t->sig_d || !t->sig_next_d ||
                         !t->in_diff || !t->per || !t->rms_sorted))
        s = LCTW_FAIL(LCTW_ENOMEM, "trainer: out of memory");
    if (s == LCTW_OK && run_dir && *run_dir) s = open_logs(t, run_dir);
    if (s != LCTW_OK) {
        lctw_trainer_free(t);
        return s;
    }
    *out = t;
    return LCTW_OK;
}

/* ---- one step ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- per-step batch statistics (what the dashboard's outlier panel shows) ---- */

static int hist_bin(double v, double lo, double hi) {
    if (!(hi > lo)) return 0;
    int b = (int)((v - lo) / (hi - lo) * LCTW_STEP_HIST_BINS);
    return b < 0 ? 0 : b >= LCTW_STEP_HIST_BINS ? LCTW_STEP_HIST_BINS - 1 : b;
}

static void step_hist_fill(const double *v, int64_t n, lctw_step_hist *h) {
    memset(h, 0, sizeof *h);
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
    }
    if (lo > hi) {
        h->lo = h->hi = NAN;
        return;
    }
    h->lo = lo;
    h->hi = hi;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) h->count[hist_bin(v[i], lo, hi)]++;
}

/* The batch's latent statistics through tmath (moments, tail fractions against the population
 * std, histogram over [min, max]), so they run where the batch lives. Non-finite data gives NaN
 * statistics and an empty histogram. */
static lctw_status latent_stats(const lctw_tensor *x, lctw_step_metrics *m) {
    lctw_step_hist *h = &m->latent_hist;
    memset(h, 0, sizeof *h);
    lctw_moments mo;
    LCTW_TRY(lctw_moments_all(x, &mo));
    m->latent_mean = mo.mean;
    m->latent_std = mo.std;
    m->latent_kurtosis = mo.kurtosis;
    h->lo = mo.min;
    h->hi = mo.max;
    if (!isfinite(mo.mean) || !isfinite(mo.std)) {
        m->latent_tail3 = m->latent_tail5 = h->lo = h->hi = NAN;
        return LCTW_OK;
    }
    LCTW_TRY(lctw_tail_fraction(x, 3.0, &m->latent_tail3));
    LCTW_TRY(lctw_tail_fraction(x, 5.0, &m->latent_tail5));
    if (mo.max > mo.min)
        return lctw_histogram(x, LCTW_STEP_HIST_BINS, mo.min, mo.max, h->count, NULL, NULL);
    h->count[0] = mo.n;
    return LCTW_OK;
}

/* latent_stats' results from the device (lctw_cuda_ct_stats_launch queued them), with the
 * same conventions. */
_Static_assert(LCTW_CU_STATS_BINS == LCTW_STEP_HIST_BINS, "histogram bins differ");
static lctw_status latent_stats_cuda_read(lctw_step_metrics *m) {
    lctw_cu_batch_stats b;
    LCTW_TRY(lctw_cuda_ct_stats_read(&b));
    lctw_step_hist *h = &m->latent_hist;
    memset(h, 0, sizeof *h);
    m->latent_mean = b.mean;
    m->latent_std = b.std;
    m->latent_kurtosis = b.kurtosis;
    h->lo = b.min;
    h->hi = b.max;
    if (!isfinite(b.mean) || !isfinite(b.std)) {
        m->latent_tail3 = m->latent_tail5 = h->lo = h->hi = NAN;
        return LCTW_OK;
    }
    m->latent_tail3 = b.tail3;
    m->latent_tail5 = b.tail5;
    if (b.max > b.min)
        memcpy(h->count, b.hist, sizeof h->count);
    else
        h->count[0] = b.n;
    return LCTW_OK;
}

/* The rest of a step once x_s, x_t, σ, σ' and the grid indices are set (CPU or CUDA: the
 * model, the loss, the gradient scan and the optimizer dispatch on the buffers' device). */
static lctw_status train_on_pairs(lctw_trainer *t, lctw_step_metrics *mt, int64_t N, double c) {
    const lctw_trainer_config *cfg = &t->cfg;
    lctw_model *m = t->model;
    int64_t B = cfg->batch;
    int use_diff = cfg->loss.diff_lambda > 0.0;
    if (use_diff) lctw_loss_diff_mask(t->idx, B, N, cfg->loss.diff_rate, t->in_diff);
    /* teacher θ⁻ = θ, no gradients; then the student on the tape */
    lctw_tensor *Dt, *Ds;
    lctw_ctx_set_grad(&t->ctx, 0);
    lctw_status s = lctw_model_forward(m, &t->ctx, t->x_t, t->sig_t, &Dt, NULL);
    lctw_ctx_set_grad(&t->ctx, 1);
    LCTW_TRY(s);
    LCTW_TRY(lctw_check_interrupt());
    LCTW_TRY(lctw_model_forward(m, &t->ctx, t->x_s, t->sig_s, &Ds, NULL));
    LCTW_TRY(lctw_check_interrupt());
    lctw_loss_result r;
    LCTW_TRY(lctw_loss_eval_tensors(&cfg->loss, c, Ds, Dt, t->x, t->sig_d, t->sig_next_d,
                                    use_diff ? t->in_diff : NULL, t->grad, &r, t->per));
    mt->loss = r.loss;
    mt->loss_ct = r.loss_ct;
    mt->loss_diff = r.loss_diff;
    mt->c = c;
    mt->frac_over_c = r.frac_over_c;
    mt->frac_elem_over_c = r.frac_elem_over_c;
    mt->mean_w = r.mean_w;
    mt->diff_count = r.diff_count;
    for (int64_t j = 0; j < B; j++) t->rms_sorted[j] = t->per[j].rms;
    qsort(t->rms_sorted, (size_t)B, sizeof(double), cmp_double);
    mt->resid_rms_p50 = t->rms_sorted[B / 2];
    mt->resid_rms_max = t->rms_sorted[B - 1];
    step_hist_fill(t->rms_sorted, B, &mt->resid_hist);
    mt->grad_norm = NAN;
    mt->skipped = !r.finite;
    if (r.finite) {
        LCTW_TRY(lctw_params_zero_grad(&m->params));
        LCTW_TRY(lctw_backward(&t->ctx, Ds, t->grad));
        int64_t bad = 0, first = 0;
        LCTW_TRY(lctw_grad_nonfinite(m->params.grad, &bad, &first));
        if (bad) {
            mt->skipped = 1;
        } else {
            double gn;
            LCTW_TRY(lctw_grad_clip_norm(m->params.grad, cfg->max_grad_norm, &gn));
            mt->grad_norm = gn;
        }
    }
    /* from here on the step commits: nothing below polls the interrupt flag */
    if (!mt->skipped) {
        LCTW_TRY(lctw_optim_step_params(t->opt, &m->params));
        if (t->ema) LCTW_TRY(lctw_ema_update(t->ema, m->params.data));
    } else {
        t->nan_skips++;
        if (cfg->nan_halve_after > 0 && t->nan_skips % cfg->nan_halve_after == 0)
            t->opt->cfg.lr *= 0.5;
    }
    mt->lr = t->opt->cfg.lr;
    mt->nan_skips = t->nan_skips;
    return LCTW_OK;
}

/* This step's curriculum N, its stage and c, and the σ pair of every sample (drawn from the
 * index sampler): into t->sig_d/sig_next_d (double), t->sig_s/sig_t (float) and, for the CUDA
 * step, t->sig_pair. Host work on both devices, the same draws in the same order. */
static lctw_status pick_sigmas(lctw_trainer *t, lctw_step_metrics *mt, int64_t *N, double *c) {
    int64_t B = t->cfg.batch;
    *N = lctw_curriculum_N(&t->cur, t->step);
    mt->N = *N;
    mt->stage = lctw_curriculum_stage(&t->cur, t->step);
    LCTW_TRY(lctw_c_schedule_value(&t->cfg.c, t->step, *N, c));
    LCTW_TRY(lctw_karras_sigmas(*N, LCTW_SIGMA_MIN, LCTW_SIGMA_MAX, 7.0, t->sigmas));
    LCTW_TRY(lctw_index_sampler_sample(&t->sampler, *N, B, &t->rng_index, t->idx));
    float *ss = lctw_tensor_data(t->sig_s), *st = lctw_tensor_data(t->sig_t);
    for (int64_t j = 0; j < B; j++) {
        double a = t->sigmas[t->idx[j]], b = t->sigmas[t->idx[j] + 1];
        t->sig_d[j] = a;
        t->sig_next_d[j] = b;
        ss[j] = (float)a;
        st[j] = (float)b;
        if (t->sig_pair) {
            t->sig_pair[j] = a;
            t->sig_pair[B + j] = b;
        }
    }
    return LCTW_OK;
}

/* The CUDA part of a step after the batch and its noise are on the device: the OT cost's GEMM
 * runs there (the assignment on the host), then x_s, x_t by one kernel; σ, the indices and
 * the curriculum stay on the host. Draws and their order are the CPU step's, so the same seed
 * gives the same batch, noise and indices. */
static lctw_status do_step_cuda_tail(lctw_trainer *t, lctw_step_metrics *mt) {
    const lctw_trainer_config *cfg = &t->cfg;
    int64_t B = cfg->batch, d = t->d;
    lctw_tensor *nz = t->noise;
    /* the batch statistics are queued here and read after the step's work: by then the loss
     * values' copy has drained the queue, so reading them costs no synchronisation */
    LCTW_TRY(lctw_cuda_ct_stats_launch(lctw_tensor_data(t->x), B * d));
    mt->ot_gain = 0.0;
    if (cfg->ot) {
        double ot_cost = 0.0, id_cost = 0.0;
        if (!t->ot_cost && !(t->ot_cost = malloc((size_t)B * (size_t)B * sizeof *t->ot_cost)))
            return LCTW_FAIL(LCTW_ENOMEM, "trainer: out of memory for the %lld×%lld OT cost matrix",
                             (long long)B, (long long)B);
        LCTW_TRY(lctw_ot_cost(t->x, t->noise, t->ot_cost));
        LCTW_TRY(lctw_lsa_solve(B, t->ot_cost, t->perm, &ot_cost, NULL, NULL));
        LCTW_TRY(lctw_ot_permute_rows(t->noise_ot, t->noise, t->perm));
        for (int64_t j = 0; j < B; j++) id_cost += t->ot_cost[j * B + j]; /* the identity pairing */
        mt->ot_gain = id_cost > 0 ? 1.0 - ot_cost / id_cost : 0.0;
        nz = t->noise_ot;
    }
    int64_t N;
    double c;
    LCTW_TRY(pick_sigmas(t, mt, &N, &c));
    LCTW_TRY(lctw_cuda_ct_perturb(lctw_tensor_data(t->x), lctw_tensor_data(nz), t->sig_pair, B, d,
                                  lctw_tensor_data(t->x_s), lctw_tensor_data(t->x_t)));
    LCTW_TRY(train_on_pairs(t, mt, N, c));
    return latent_stats_cuda_read(mt);
}

static lctw_status do_step(lctw_trainer *t, lctw_step_metrics *mt) {
    const lctw_trainer_config *cfg = &t->cfg;
    int64_t B = cfg->batch, d = t->d;
    if (t->model->params.dev != t->ctx.dev) /* model:to or another trainer moved the weights */
        return LCTW_FAIL(LCTW_EDEVICE,
                         "trainer: the model's parameters are on %s but this trainer was made for "
                         "%s (moved by model:to or another lctw.trainer); make a new trainer",
                         t->model->params.dev == LCTW_DEV_CUDA ? "cuda" : "cpu",
                         t->ctx.dev == LCTW_DEV_CUDA ? "cuda" : "cpu");
    LCTW_TRY(lctw_ctx_reset(&t->ctx));
    LCTW_TRY(lctw_data_batch(t->data, B, t->x));
    LCTW_TRY(lctw_fill_normal(t->noise, &t->rng_noise));
    if (lctw_tensor_device(t->x) == LCTW_DEV_CUDA) return do_step_cuda_tail(t, mt);
    LCTW_TRY(latent_stats(t->x, mt));
    const float *x = lctw_tensor_data(t->x), *nz = lctw_tensor_data(t->noise);
    mt->ot_gain = 0.0;
    if (cfg->ot) {
        double ot_cost = 0.0, id_cost = 0.0;
        LCTW_TRY(lctw_ot_assign(t->x, t->noise, t->perm, &ot_cost));
        LCTW_TRY(lctw_ot_permute_rows(t->noise_ot, t->noise, t->perm));
        for (int64_t i = 0; i < B * d; i++) {
            double e = (double)x[i] - nz[i];
            id_cost += e * e;
        }
        mt->ot_gain = id_cost > 0 ? 1.0 - ot_cost / id_cost : 0.0;
        nz = lctw_tensor_data(t->noise_ot);
    }
    int64_t N;
    double c;
    LCTW_TRY(pick_sigmas(t, mt, &N, &c));
    float *xs = lctw_tensor_data(t->x_s), *xt = lctw_tensor_data(t->x_t);
    for (int64_t j = 0; j < B; j++) {
        double a = t->sig_d[j], b = t->sig_next_d[j];
        for (int64_t e = 0; e < d; e++) {
            int64_t k = j * d + e;
            xs[k] = (float)(x[k] + a * nz[k]);
            xt[k] = (float)(x[k] + b * nz[k]);
        }
    }
    return train_on_pairs(t, mt, N, c);
}

lctw_status lctw_trainer_step(lctw_trainer *t, lctw_step_metrics *out) {
    lctw_step_metrics mt;
    memset(&mt, 0, sizeof mt);
    double t0 = now_s();
    /* snapshot of everything a failed step may have advanced */
    lctw_data_cursor cur;
    lctw_data_get_cursor(t->data, &cur);
    lctw_rng rn = t->rng_noise, ri = t->rng_index;
    lctw_status s = do_step(t, &mt);
    if (s != LCTW_OK) {
        lctw_data_set_cursor(t->data, &cur);
        t->rng_noise = rn;
        t->rng_index = ri;
        if (s != LCTW_EINTR) lctw_error_prefix("training step %lld", (long long)t->step + 1);
        return s;
    }
    t->step++;
    mt.step = t->step;
    mt.step_s = now_s() - t0;
    mt.samples_per_s = mt.step_s > 0 ? (double)t->cfg.batch / mt.step_s : 0.0;
    t->last = mt;
    if (out) *out = mt;
    return LCTW_OK;
}

/* ---- logs ---- */

static void json_num_or_null(lctw_json_writer *w, const char *k, double v) {
    lctw_json_writer_key(w, k);
    if (isfinite(v))
        lctw_json_writer_number(w, v);
    else
        lctw_json_writer_null(w);
}

static void json_hist(lctw_json_writer *w, const char *k, const lctw_step_hist *h) {
    lctw_json_writer_key(w, k);
    lctw_json_writer_begin_object(w);
    json_num_or_null(w, "lo", h->lo);
    json_num_or_null(w, "hi", h->hi);
    lctw_json_writer_key(w, "counts");
    lctw_json_writer_begin_array(w);
    for (int i = 0; i < LCTW_STEP_HIST_BINS; i++) lctw_json_writer_int(w, h->count[i]);
    lctw_json_writer_end_array(w);
    lctw_json_writer_end_object(w);
}

lctw_status lctw_trainer_log(lctw_trainer *t) {
    if (!t->csv) return LCTW_OK;
    const lctw_step_metrics *m = &t->last;
    char row[1024];
    snprintf(row, sizeof row,
             "%lld,%lld,%lld,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.6g,%.6g,%lld,%.6g,%d,%lld,%.6g,%.6g,"
             "%.6g,%.6g,%.9g,%.9g,%.6g,%.6g,%.6g",
             (long long)m->step, (long long)m->N, (long long)m->stage, m->loss, m->loss_ct,
             m->loss_diff, m->c, m->lr, m->grad_norm, m->frac_over_c, m->frac_elem_over_c,
             (long long)m->diff_count, m->ot_gain, m->skipped, (long long)m->nan_skips, m->step_s,
             m->samples_per_s, m->resid_rms_p50, m->resid_rms_max, m->latent_mean, m->latent_std,
             m->latent_kurtosis, m->latent_tail3, m->latent_tail5);
    /* an older file's header: only its columns */
    int col = 1;
    for (char *p = row; *p; p++)
        if (*p == ',' && ++col > t->csv_cols) {
            *p = 0;
            break;
        }
    fprintf(t->csv, "%s\n", row);
    lctw_json_writer w;
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_begin_object(&w);
    lctw_json_writer_key(&w, "step");
    lctw_json_writer_int(&w, m->step);
    lctw_json_writer_key(&w, "N");
    lctw_json_writer_int(&w, m->N);
    lctw_json_writer_key(&w, "stage");
    lctw_json_writer_int(&w, m->stage);
    json_num_or_null(&w, "loss", m->loss);
    json_num_or_null(&w, "loss_ct", m->loss_ct);
    json_num_or_null(&w, "loss_diff", m->loss_diff);
    json_num_or_null(&w, "c", m->c);
    json_num_or_null(&w, "lr", m->lr);
    json_num_or_null(&w, "grad_norm", m->grad_norm);
    json_num_or_null(&w, "frac_over_c", m->frac_over_c);
    json_num_or_null(&w, "frac_elem_over_c", m->frac_elem_over_c);
    lctw_json_writer_key(&w, "diff_count");
    lctw_json_writer_int(&w, m->diff_count);
    json_num_or_null(&w, "ot_gain", m->ot_gain);
    lctw_json_writer_key(&w, "skipped");
    lctw_json_writer_bool(&w, m->skipped);
    lctw_json_writer_key(&w, "nan_skips");
    lctw_json_writer_int(&w, m->nan_skips);
    json_num_or_null(&w, "step_s", m->step_s);
    json_num_or_null(&w, "samples_per_s", m->samples_per_s);
    json_num_or_null(&w, "resid_rms_p50", m->resid_rms_p50);
    json_num_or_null(&w, "resid_rms_max", m->resid_rms_max);
    json_num_or_null(&w, "latent_mean", m->latent_mean);
    json_num_or_null(&w, "latent_std", m->latent_std);
    json_num_or_null(&w, "latent_kurtosis", m->latent_kurtosis);
    json_num_or_null(&w, "latent_tail3", m->latent_tail3);
    json_num_or_null(&w, "latent_tail5", m->latent_tail5);
    json_hist(&w, "latent_hist", &m->latent_hist);
    json_hist(&w, "resid_hist", &m->resid_hist);
    lctw_json_writer_end_object(&w);
    char *txt = NULL;
    size_t len;
    LCTW_TRY(lctw_json_writer_finish(&w, &txt, &len));
    fprintf(t->jsonl, "%s\n", txt);
    free(txt);
    if (fflush(t->csv) || fflush(t->jsonl))
        return LCTW_FAIL(LCTW_EIO, "cannot write the metrics logs in %s: %s", t->run_dir,
                         strerror(errno));
    return LCTW_OK;
}

/* ---- the run's plan (run.json, tr:schedule()) ---- */

void lctw_trainer_schedule(lctw_trainer *t, lctw_stage_plan *out, int *n) {
    int ns = lctw_curriculum_num_stages(&t->cur);
    *n = 0;
    for (int s = 0; s < ns && *n < LCTW_TRAINER_MAX_STAGES; s++) {
        int64_t start = lctw_curriculum_stage_start(&t->cur, s);
        if (s > 0 && start >= t->cfg.total_steps) break;
        lctw_stage_plan *p = &out[(*n)++];
        p->stage = s + 1;
        p->N = lctw_curriculum_stage_N(&t->cur, s);
        p->start_step = start;
        if (lctw_c_schedule_value(&t->cfg.c, start, p->N, &p->c) != LCTW_OK) {
            p->c = NAN; /* a c callback that fails here fails again, with its message, in a step */
            lctw_error_clear();
        }
    }
}

static lctw_status write_run_json(lctw_trainer *t) {
    lctw_stage_plan plan[LCTW_TRAINER_MAX_STAGES];
    int n;
    lctw_trainer_schedule(t, plan, &n);
    lctw_json_writer w;
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_begin_object(&w);
    lctw_json_writer_key(&w, "total_steps");
    lctw_json_writer_int(&w, t->cfg.total_steps);
    lctw_json_writer_key(&w, "batch");
    lctw_json_writer_int(&w, t->cfg.batch);
    lctw_json_writer_key(&w, "device");
    lctw_json_writer_string(&w, t->model->params.dev == LCTW_DEV_CUDA ? "cuda" : "cpu");
    lctw_json_writer_key(&w, "pid");
    lctw_json_writer_int(&w, (int64_t)getpid());
    lctw_json_writer_key(&w, "started");
    lctw_json_writer_int(&w, (int64_t)time(NULL));
    lctw_json_writer_key(&w, "schedule");
    lctw_json_writer_begin_array(&w);
    for (int i = 0; i < n; i++) {
        lctw_json_writer_begin_object(&w);
        lctw_json_writer_key(&w, "stage");
        lctw_json_writer_int(&w, plan[i].stage);
        lctw_json_writer_key(&w, "N");
        lctw_json_writer_int(&w, plan[i].N);
        lctw_json_writer_key(&w, "start_step");
        lctw_json_writer_int(&w, plan[i].start_step);
        json_num_or_null(&w, "c", plan[i].c);
        lctw_json_writer_end_object(&w);
    }
    lctw_json_writer_end_array(&w);
    lctw_json_writer_end_object(&w);
    char *txt = NULL;
    size_t len;
    LCTW_TRY(lctw_json_writer_finish(&w, &txt, &len));
    char path[600], tmp[620];
    snprintf(path, sizeof path, "%s/run.json", t->run_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int bad = !f || fprintf(f, "%s\n", txt) < 0;
    if (f && fclose(f)) bad = 1;
    free(txt);
    if (bad || rename(tmp, path) != 0) {
        lctw_status s = LCTW_FAIL(LCTW_EIO, "cannot write %s: %s", path, strerror(errno));
        remove(tmp);
        return s;
    }
    return LCTW_OK;
}

/* ---- configuration as JSON ---- */

static void wkey_num(lctw_json_writer *w, const char *k, double v) {
    lctw_json_writer_key(w, k);
    lctw_json_writer_number(w, v);
}
static void wkey_int(lctw_json_writer *w, const char *k, int64_t v) {
    lctw_json_writer_key(w, k);
    lctw_json_writer_int(w, v);
}
static void wkey_str(lctw_json_writer *w, const char *k, const char *v) {
    lctw_json_writer_key(w, k);
    lctw_json_writer_string(w, v);
}

lctw_status lctw_trainer_config_to_json(const lctw_trainer_config *c, char **out) {
    lctw_json_writer w;
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_begin_object(&w);
    wkey_int(&w, "batch", c->batch);
    wkey_int(&w, "total_steps", c->total_steps);
    wkey_int(&w, "s0", c->s0);
    wkey_int(&w, "s1", c->s1);
    wkey_num(&w, "p_mean", c->p_mean);
    wkey_num(&w, "p_std", c->p_std);
    wkey_str(&w, "c", lctw_c_kind_name(c->c.kind));
    wkey_num(&w, "c_value", c->c.c);
    wkey_int(&w, "c_d", c->c.d);
    wkey_num(&w, "c_ict_k", c->c.ict_k);
    wkey_num(&w, "c_a", c->c.a);
    wkey_num(&w, "c_b", c->c.b);
    wkey_num(&w, "c_scale", c->c.scale);
    wkey_str(&w, "loss", lctw_loss_kind_name(c->loss.kind));
    wkey_str(&w, "weighting", lctw_weighting_name(c->loss.weighting));
    wkey_num(&w, "diff_lambda", c->loss.diff_lambda);
    wkey_num(&w, "diff_rate", c->loss.diff_rate);
    lctw_json_writer_key(&w, "ot");
    lctw_json_writer_bool(&w, c->ot);
    wkey_str(&w, "optim", lctw_optim_kind_name(c->optim.kind));
    wkey_num(&w, "lr", c->optim.lr);
    wkey_num(&w, "beta1", c->optim.beta1);
    wkey_num(&w, "beta2", c->optim.beta2);
    wkey_num(&w, "eps", c->optim.eps);
    wkey_num(&w, "weight_decay", c->optim.weight_decay);
    lctw_json_writer_key(&w, "ema");
    lctw_json_writer_begin_array(&w);
    for (int i = 0; i < c->n_ema; i++) lctw_json_writer_number(&w, c->ema[i]);
    lctw_json_writer_end_array(&w);
    wkey_num(&w, "max_grad_norm", c->max_grad_norm);
    wkey_int(&w, "nan_halve_after", c->nan_halve_after);
    wkey_int(&w, "seed", (int64_t)c->seed);
    lctw_json_writer_end_object(&w);
    size_t len;
    return lctw_json_writer_finish(&w, out, &len);
}

/* ---- checkpoints ---- */

static lctw_status state_json(const lctw_trainer *t, char **out) {
    lctw_json_writer w;
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_begin_object(&w);
    lctw_data_cursor cur;
    lctw_data_get_cursor(t->data, &cur);
    wkey_int(&w, "step", t->step);
    wkey_int(&w, "nan_skips", t->nan_skips);
    wkey_int(&w, "noise_offset", (int64_t)t->rng_noise.offset);
    wkey_int(&w, "index_offset", (int64_t)t->rng_index.offset);
    wkey_int(&w, "data_epoch", cur.epoch);
    wkey_int(&w, "data_pos", cur.pos);
    wkey_int(&w, "optim_step", t->opt->step);
    wkey_num(&w, "lr", t->opt->cfg.lr);
    wkey_int(&w, "n_ema", t->ema ? t->ema->count : 0);
    wkey_int(&w, "n_params", t->model->params.total);
    wkey_int(&w, "batch", t->cfg.batch);
    wkey_str(&w, "data_source", t->data->source);
    lctw_json_writer_end_object(&w);
    size_t len;
    return lctw_json_writer_finish(&w, out, &len);
}

lctw_status lctw_trainer_save(lctw_trainer *t, const char *path) {
    const lctw_params *ps = &t->model->params;
    int ne = t->ema ? t->ema->count : 0, n = ps->n + ne + 2;
    const char **names = calloc((size_t)n, sizeof *names);
    lctw_tensor **ts = calloc((size_t)n, sizeof *ts);
    char (*enames)[32] = calloc((size_t)(ne ? ne : 1), sizeof *enames);
    char *cfg_json = NULL, *st_json = NULL;
    lctw_status s = (!names || !ts || !enames) ? LCTW_FAIL(LCTW_ENOMEM, "checkpoint: out of memory")
                                               : LCTW_OK;
    if (s == LCTW_OK) s = lctw_trainer_config_to_json(&t->cfg, &cfg_json);
    if (s == LCTW_OK) s = state_json(t, &st_json);
    if (s == LCTW_OK) {
        int k = 0;
        for (int i = 0; i < ps->n; i++) {
            names[k] = ps->p[i].name;
            ts[k++] = ps->p[i].t;
        }
        for (int i = 0; i < ne; i++) {
            snprintf(enames[i], sizeof enames[i], "_ema.%d", i);
            names[k] = enames[i];
            ts[k++] = t->ema->avg[i];
        }
        names[k] = "_optim.m";
        ts[k++] = t->opt->m;
        names[k] = "_optim.v";
        ts[k++] = t->opt->v;
        const char *mk[5] = {"lctw.kind", "lctw.config", "lctw.trainer", "lctw.state",
                             "lctw.options"};
        const char *mv[5] = {t->model->vt->kind, t->model->config_json ? t->model->config_json : "{}",
                             cfg_json, st_json, t->options_meta};
        s = lctw_st_save(path, k, names, ts, t->options_meta ? 5 : 4, mk, mv);
    }
    if (s == LCTW_OK) snprintf(t->last_checkpoint, sizeof t->last_checkpoint, "%s", path);
    free(names);
    free(ts);
    free(enames);
    free(cfg_json);
    free(st_json);
    return s;
}

static lctw_status get_i64(const lctw_json *o, const char *k, int64_t *v) {
    const lctw_json *j = lctw_json_get(o, k);
    if (!j || j->type != LCTW_JSON_NUMBER || !j->is_int)
        return LCTW_FAIL(LCTW_EFORMAT, "checkpoint state: '%s' missing or not an integer", k);
    *v = j->i;
    return LCTW_OK;
}

lctw_status lctw_trainer_restore(lctw_trainer *t, const char *path) {
    lctw_st_file *f;
    LCTW_TRY(lctw_st_open(&f, path));
    lctw_json_doc *doc = NULL;
    lctw_status s = LCTW_OK;
    const char *st = lctw_st_metadata_get(f, "lctw.state");
    const char *kind = lctw_st_metadata_get(f, "lctw.kind");
    if (!st || !kind) s = LCTW_FAIL(LCTW_EFORMAT, "not an lctw training checkpoint (no lctw.state)");
    if (s == LCTW_OK && strcmp(kind, t->model->vt->kind))
        s = LCTW_FAIL(LCTW_EFORMAT, "checkpoint holds a %s model, the trainer has a %s", kind,
                      t->model->vt->kind);
    if (s == LCTW_OK) s = lctw_json_parse(&doc, st, strlen(st), NULL);
    int64_t step = 0, nan = 0, no = 0, io = 0, ep = 0, pos = 0, ostep = 0, n_ema = 0, np = 0, batch = 0;
    const lctw_json *o = doc ? lctw_json_root(doc) : NULL;
    if (s == LCTW_OK && o->type != LCTW_JSON_OBJECT) s = LCTW_FAIL(LCTW_EFORMAT, "bad lctw.state");
    if (s == LCTW_OK) s = get_i64(o, "step", &step);
    if (s == LCTW_OK) s = get_i64(o, "nan_skips", &nan);
    if (s == LCTW_OK) s = get_i64(o, "noise_offset", &no);
    if (s == LCTW_OK) s = get_i64(o, "index_offset", &io);
    if (s == LCTW_OK) s = get_i64(o, "data_epoch", &ep);
    if (s == LCTW_OK) s = get_i64(o, "data_pos", &pos);
    if (s == LCTW_OK) s = get_i64(o, "optim_step", &ostep);
    if (s == LCTW_OK) s = get_i64(o, "n_ema", &n_ema);
    if (s == LCTW_OK) s = get_i64(o, "n_params", &np);
    if (s == LCTW_OK) s = get_i64(o, "batch", &batch);
    const lctw_json *lr = o ? lctw_json_get(o, "lr") : NULL;
    if (s == LCTW_OK && (!lr || lr->type != LCTW_JSON_NUMBER))
        s = LCTW_FAIL(LCTW_EFORMAT, "checkpoint state: 'lr' missing");
    if (s == LCTW_OK && np != t->model->params.total)
        s = LCTW_FAIL(LCTW_EFORMAT, "checkpoint has %lld parameters, the model %lld",
                      (long long)np, (long long)t->model->params.total);
    if (s == LCTW_OK && n_ema != (t->ema ? t->ema->count : 0))
        s = LCTW_FAIL(LCTW_EFORMAT, "checkpoint has %lld EMA copies, the trainer %d",
                      (long long)n_ema, t->ema ? t->ema->count : 0);
    if (s == LCTW_OK && batch != t->cfg.batch)
        s = LCTW_FAIL(LCTW_EFORMAT, "checkpoint was trained with batch %lld, the trainer uses %lld",
                      (long long)batch, (long long)t->cfg.batch);
    /* every tensor present with the right size before anything changes */
    char nm[32];
    for (int i = 0; i < n_ema && s == LCTW_OK; i++) {
        snprintf(nm, sizeof nm, "_ema.%d", i);
        const lctw_st_entry *e = lctw_st_find(f, nm);
        if (!e || e->numel != np) s = LCTW_FAIL(LCTW_EFORMAT, "checkpoint: %s missing or wrong size", nm);
    }
    const char *ov[2] = {"_optim.m", "_optim.v"};
    for (int i = 0; i < 2 && s == LCTW_OK; i++) {
        const lctw_st_entry *e = lctw_st_find(f, ov[i]);
        if (!e || e->numel != np) s = LCTW_FAIL(LCTW_EFORMAT, "checkpoint: %s missing or wrong size", ov[i]);
    }
    lctw_data_cursor cur = {ep, pos};
    if (s == LCTW_OK && (pos < 0 || pos > t->data->n_train || ep < 0))
        s = LCTW_FAIL(LCTW_EFORMAT, "checkpoint data cursor (epoch %lld, position %lld) does not fit "
                      "this data set (%lld training samples)", (long long)ep, (long long)pos,
                      (long long)t->data->n_train);
    if (s == LCTW_OK) s = lctw_model_load(t->model, path, 1);
    for (int i = 0; i < n_ema && s == LCTW_OK; i++) {
        snprintf(nm, sizeof nm, "_ema.%d", i);
        s = lctw_st_load_into(f, nm, t->ema->avg[i]);
    }
    if (s == LCTW_OK) s = lctw_st_load_into(f, "_optim.m", t->opt->m);
    if (s == LCTW_OK) s = lctw_st_load_into(f, "_optim.v", t->opt->v);
    if (s == LCTW_OK) s = lctw_data_set_cursor(t->data, &cur);
    if (s == LCTW_OK) {
        t->step = step;
        t->nan_skips = nan;
        t->rng_noise.offset = (uint64_t)no;
        t->rng_index.offset = (uint64_t)io;
        t->opt->step = ostep;
        t->opt->cfg.lr = lr->num;
        if (t->ema) t->ema->updates = ostep;
    }
    lctw_json_free(doc);
    lctw_st_close(f);
    if (s != LCTW_OK) lctw_error_prefix("%s", path);
    return s;
}
