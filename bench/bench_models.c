/* bench_models.c — CPU time per sample of the two networks, forward and forward+backward, for the
 * side-by-side comparison with PyTorch (bench/torch_models.py, same models via
 * scripts/lctw_ref.py; bench/run.sh prints the table, bench/RESULTS.md records it).
 *
 * Models (4×32×32 input, the consistency wrapper f(x, σ) = c_skip·x + c_out·F(c_in·x, c_noise)
 * around each, through lctw_model_forward):
 *   unet  DhariwalUNet, 64 channels, mult {1,2,2}, 2 blocks per level, attention at 16×16,
 *         64 channels per head, NsLN everywhere
 *   dit   DiT-S/2 (depth 12, hidden 384, 6 heads, GELU-tanh MLP ×4, qk-norm)
 *
 * One timed step, as a training step would run it:
 *   fwd    ctx reset, grad off, forward                                  (teacher / sampling)
 *   train  ctx reset, zero_grad, forward with grad on (tape), backward seeded with a fixed
 *          random gradient of f (the gradient a mean loss would give, scaled 1/numel)
 * After `-w` warm-up steps (default 2: the first grows the arena chunk by chunk, the reset after
 * it merges them into one chunk whose pages the second step touches first; OpenBLAS's threads
 * are started) `-n` steps are timed; the median and the minimum per sample are printed as one
 * machine-readable line
 *
 *   RESULT impl=lctw model=unet batch=8 params=… fwd_ms=… train_ms=… train_fwd_ms=… …
 *
 * (fields key=value, ms per sample; the PyTorch script prints the same keys; *_cpu_ms is process
 * CPU time, arena_allocs_timed and faults_per_step check that the timed steps allocate nothing
 * and touch no fresh pages). `-p` adds a
 * breakdown of the backward time by op: the tape is walked here node by node with a timer
 * around each node's backward, exactly as lctw_backward walks it.
 *
 * Threads: lctw's only threads are OpenBLAS's (the pthread build); -t sets their number
 * (default: OPENBLAS_NUM_THREADS, else OpenBLAS's own default). There is no OpenMP in lctw.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/autograd.h"
#include "core/gemm.h"
#include "core/ops/ops.h"
#include "core/tmath.h"
#include "nn/dit.h"
#include "nn/model.h"
#include "nn/unet.h"

#ifdef LCTW_OPENBLAS
#include <cblas.h>
#endif

#define MAX_ITERS 1000

typedef struct {
    int batch, warmup, iters, threads, profile, gemm, fwd_only;
    const char *models;
} options;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process (all threads): with one thread a measure of the work that other
 * load on the machine hardly changes; with several it includes OpenBLAS's spin-waiting. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static long minor_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* ---- the two benchmark networks ---- */

static lctw_status build_unet(lctw_model **m) {
    lctw_unet_config cfg;
    lctw_unet_config_paper(&cfg); /* then the small variant: */
    cfg.model_channels = 64;
    cfg.n_levels = 3;
    cfg.channel_mult[0] = 1;
    cfg.channel_mult[1] = 2;
    cfg.channel_mult[2] = 2;
    cfg.channel_mult[3] = 0;
    cfg.num_blocks = 2;
    cfg.n_attn = 1;
    cfg.attn_res[0] = 16;
    cfg.attn_res[1] = 0;
    cfg.channels_per_head = 64;
    cfg.norm = cfg.last_norm = LCTW_NORM_NSLN;
    LCTW_TRY(lctw_unet_config_check(&cfg));
    return lctw_unet_new(m, &cfg, LCTW_DEV_CPU, 1);
}

static lctw_status build_dit(lctw_model **m) {
    lctw_dit_config cfg;
    LCTW_TRY(lctw_dit_config_size(&cfg, "S", 2, 4, 32, 32));
    return lctw_dit_new(m, &cfg, LCTW_DEV_CPU, 1);
}

/* ---- per-op backward profile ---- */

typedef struct {
    double sec[LCTW_OP_COUNT];
    long calls[LCTW_OP_COUNT];
    double total;
} op_profile;

/* lctw_backward's walk with a timer around every node (same order, same skip rule). */
static lctw_status backward_profiled(lctw_ctx *c, lctw_tensor *y, const lctw_tensor *seed,
                                     op_profile *prof) {
    lctw_tensor *g;
    LCTW_TRY(lctw_grad_of(c, y, &g));
    LCTW_TRY(lctw_tensor_copy(g, seed));
    int grad = lctw_ctx_set_grad(c, 0);
    lctw_status s = LCTW_OK;
    for (int i = c->n_nodes - 1; i >= 0 && s == LCTW_OK; i--) {
        lctw_node *n = &c->nodes[i];
        if (!n->out->grad) continue;
        double t0 = now_s();
        s = n->backward(c, n);
        double dt = now_s() - t0;
        if (n->op >= 0 && n->op < LCTW_OP_COUNT) {
            prof->sec[n->op] += dt;
            prof->calls[n->op]++;
        }
        prof->total += dt;
    }
    lctw_ctx_set_grad(c, grad);
    return s;
}

static void print_profile(const char *model, const op_profile *p, int steps, int batch) {
    int order[LCTW_OP_COUNT];
    int n = 0;
    for (int i = 0; i < LCTW_OP_COUNT; i++)
        if (p->calls[i]) order[n++] = i;
    for (int i = 1; i < n; i++) /* insertion sort by time, largest first */
        for (int j = i; j > 0 && p->sec[order[j]] > p->sec[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    printf("# %s backward by op (%d steps, ms per sample; share of backward):\n", model, steps);
    for (int k = 0; k < n; k++) {
        int i = order[k];
        printf("#   %-22s %9.3f ms %5.1f%%  %5ld nodes/step\n", lctw_op_name(i),
               1e3 * p->sec[i] / steps / batch, 100.0 * p->sec[i] / (p->total > 0 ? p->total : 1),
               p->calls[i] / steps);
    }
    printf("#   %-22s %9.3f ms\n", "total", 1e3 * p->total / steps / batch);
}

/* ---- one model ---- */

static lctw_status bench_model(const char *name, lctw_model *m, const options *o) {
    int B = o->batch;
    int64_t xs[4] = {B, m->in_ch, m->height, m->width}, bs = B;
    lctw_tensor *x = NULL, *sigma = NULL, *noise = NULL, *seed = NULL;
    lctw_ctx ctx;
    int ctx_ok = 0;
    op_profile prof;
    memset(&prof, 0, sizeof prof);
    double *t_fwd = calloc((size_t)o->iters, sizeof(double));
    double *t_train = calloc((size_t)o->iters, sizeof(double));
    double *t_tfwd = calloc((size_t)o->iters, sizeof(double));
    double *c_fwd = calloc((size_t)o->iters, sizeof(double));
    double *c_train = calloc((size_t)o->iters, sizeof(double));
    lctw_status s = LCTW_OK;
    if (!t_fwd || !t_train || !t_tfwd || !c_fwd || !c_train) {
        s = LCTW_FAIL(LCTW_ENOMEM, "bench: out of memory for %d timings", o->iters);
        goto done;
    }
    /* inputs: x = 0.5·n₁ + σ·n₂ with σ log-spaced over [0.02, 20]; a fixed seed gradient */
    lctw_rng r = {.seed = 2026, .offset = 0, .stream = 7};
    if ((s = lctw_tensor_empty(&x, 4, xs, LCTW_DEV_CPU)) || (s = lctw_tensor_empty(&noise, 4, xs, LCTW_DEV_CPU)) ||
        (s = lctw_tensor_empty(&seed, 4, xs, LCTW_DEV_CPU)) ||
        (s = lctw_tensor_empty(&sigma, 1, &bs, LCTW_DEV_CPU)) || (s = lctw_fill_normal(x, &r)) ||
        (s = lctw_fill_normal(noise, &r)) || (s = lctw_fill_normal(seed, &r)))
        goto done;
    {
        float *sp = lctw_tensor_data(sigma), *xp = lctw_tensor_data(x),
              *np = lctw_tensor_data(noise), *gp = lctw_tensor_data(seed);
        int64_t per = m->in_ch * (int64_t)m->height * m->width, numel = per * B;
        for (int b = 0; b < B; b++) {
            sp[b] = (float)(0.02 * pow(1000.0, B > 1 ? (double)b / (B - 1) : 0.5));
            for (int64_t e = 0; e < per; e++)
                xp[b * per + e] = 0.5f * xp[b * per + e] + sp[b] * np[b * per + e];
        }
        for (int64_t e = 0; e < numel; e++) gp[e] /= (float)numel;
    }
    if ((s = lctw_ctx_init(&ctx, LCTW_DEV_CPU, 0))) goto done;
    ctx_ok = 1;

    int64_t allocs_before = 0;
    long faults_before = 0;
    for (int it = -o->warmup; it < o->iters; it++) {
        lctw_tensor *y;
        /* forward only, grad off */
        double t0 = now_s(), u0 = cpu_s();
        if ((s = lctw_ctx_reset(&ctx))) goto done;
        /* that first reset merged the warm-up's chunks: from here on the arena must not grow */
        if (it == 0) {
            allocs_before = ctx.arena.n_allocs;
            faults_before = minor_faults();
        }
        int prev = lctw_ctx_set_grad(&ctx, 0);
        s = lctw_model_forward(m, &ctx, x, sigma, &y, NULL);
        lctw_ctx_set_grad(&ctx, prev);
        if (s) goto done;
        double t1 = now_s(), u1 = cpu_s();
        if (o->fwd_only) {
            if (it >= 0) {
                c_fwd[it] = (u1 - u0) / B;
                t_fwd[it] = (t1 - t0) / B;
            }
            continue;
        }
        /* training step: forward on the tape, backward */
        if ((s = lctw_ctx_reset(&ctx)) || (s = lctw_params_zero_grad(&m->params))) goto done;
        lctw_ctx_set_grad(&ctx, 1);
        if ((s = lctw_model_forward(m, &ctx, x, sigma, &y, NULL))) goto done;
        double t2 = now_s();
        if (o->profile && it >= 0)
            s = backward_profiled(&ctx, y, seed, &prof);
        else
            s = lctw_backward(&ctx, y, seed);
        if (s) goto done;
        double t3 = now_s(), u3 = cpu_s();
        if (it >= 0) {
            c_fwd[it] = (u1 - u0) / B;
            c_train[it] = (u3 - u1) / B;
            t_fwd[it] = (t1 - t0) / B;
            t_tfwd[it] = (t2 - t1) / B;
            t_train[it] = (t3 - t1) / B;
        }
    }
    {
        if (o->fwd_only) {
            double fmin = 1e30;
            for (int i = 0; i < o->iters; i++)
                if (t_fwd[i] < fmin) fmin = t_fwd[i];
            printf("RESULT impl=lctw model=%s batch=%d params=%lld fwd_ms=%.3f fwd_ms_min=%.3f "
                   "fwd_cpu_ms=%.3f arena_mib=%.1f\n",
                   name, B, (long long)m->params.trainable, 1e3 * median(t_fwd, o->iters),
                   1e3 * fmin, 1e3 * median(c_fwd, o->iters),
                   (double)ctx.arena.peak / (1024.0 * 1024.0));
            fflush(stdout);
            goto done;
        }
        /* a gradient that is all zeros would mean backward did not reach the parameters */
        double gsum = 0;
        const float *gp = lctw_tensor_data(m->params.grad);
        for (int64_t e = 0; e < m->params.total; e++) gsum += fabs((double)gp[e]);
        double fmin = 1e30, tmin = 1e30;
        for (int i = 0; i < o->iters; i++) {
            if (t_fwd[i] < fmin) fmin = t_fwd[i];
            if (t_train[i] < tmin) tmin = t_train[i];
        }
        double fmed = median(t_fwd, o->iters), tmed = median(t_train, o->iters),
               tfmed = median(t_tfwd, o->iters);
        printf("RESULT impl=lctw model=%s batch=%d params=%lld fwd_ms=%.3f fwd_ms_min=%.3f "
               "train_ms=%.3f train_ms_min=%.3f train_fwd_ms=%.3f fwd_cpu_ms=%.3f "
               "train_cpu_ms=%.3f arena_mib=%.1f arena_allocs_timed=%lld faults_per_step=%ld "
               "tape_nodes=%d rss_mib=%.0f grad_abs_sum=%.4g\n",
               name, B, (long long)m->params.trainable, 1e3 * fmed, 1e3 * fmin, 1e3 * tmed,
               1e3 * tmin, 1e3 * tfmed, 1e3 * median(c_fwd, o->iters),
               1e3 * median(c_train, o->iters), (double)ctx.arena.peak / (1024.0 * 1024.0),
               (long long)(ctx.arena.n_allocs - allocs_before),
               (minor_faults() - faults_before) / o->iters, ctx.n_nodes, peak_rss_mib(), gsum);
        if (!(gsum > 0))
            s = LCTW_FAIL(LCTW_EINVAL, "bench %s: the parameter gradient is all zero after backward",
                          name);
        if (o->profile) print_profile(name, &prof, o->iters, B);
        fflush(stdout);
    }
done:
    if (ctx_ok) lctw_ctx_release(&ctx);
    lctw_tensor_release(x);
    lctw_tensor_release(noise);
    lctw_tensor_release(seed);
    lctw_tensor_release(sigma);
    free(t_fwd);
    free(t_train);
    free(t_tfwd);
    free(c_fwd);
    free(c_train);
    return s;
}

/* GFLOP/s of one n×n×n sgemm through lctw_sgemm: tells whether the BLAS in use is a fast one. */
static lctw_status bench_gemm(int n) {
    size_t sz = (size_t)n * (size_t)n;
    float *a = malloc(sz * sizeof(float)), *b = malloc(sz * sizeof(float)),
          *c = malloc(sz * sizeof(float));
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return LCTW_FAIL(LCTW_ENOMEM, "bench: out of memory for a %d×%d gemm", n, n);
    }
    for (size_t i = 0; i < sz; i++) {
        a[i] = (float)((i * 7) % 13) * 0.1f;
        b[i] = (float)((i * 5) % 11) * 0.1f;
    }
    lctw_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        lctw_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    printf("GEMM impl=lctw n=%d gflops=%.1f\n", n, 2.0 * n * (double)n * n / best * 1e-9);
    free(a);
    free(b);
    free(c);
    return LCTW_OK;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_models [-b batch] [-w warmup] [-n iters] [-m unet|dit|all] [-t threads]"
               " [-p] [-f] [-G]\n"
               "  -b  batch size (8)              -w  warm-up steps (2)\n"
               "  -n  timed steps (5)             -m  models: unet, dit or all (all)\n"
               "  -t  OpenBLAS threads (OPENBLAS_NUM_THREADS or OpenBLAS's default)\n"
               "  -p  backward time by op         -G  skip the sgemm GFLOP/s probe\n"
               "  -f  forward (grad off) only, e.g. to profile it with perf\n");
}

static int parse_int(const char *s, int lo, int hi, const char *what, int *v) {
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < lo || x > hi) {
        fprintf(stderr, "bench_models: %s must be an integer in %d..%d, got '%s'\n", what, lo, hi, s);
        return 0;
    }
    *v = (int)x;
    return 1;
}

int main(int argc, char **argv) {
    options o = {.batch = 8, .warmup = 2, .iters = 5, .models = "all", .gemm = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int ok = 1;
        if (!strcmp(a, "-p")) {
            o.profile = 1;
        } else if (!strcmp(a, "-f")) {
            o.fwd_only = 1;
        } else if (!strcmp(a, "-G")) {
            o.gemm = 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (i + 1 < argc && !strcmp(a, "-b")) {
            ok = parse_int(argv[++i], 1, 4096, "-b (batch)", &o.batch);
        } else if (i + 1 < argc && !strcmp(a, "-w")) {
            ok = parse_int(argv[++i], 0, MAX_ITERS, "-w (warm-up steps)", &o.warmup);
        } else if (i + 1 < argc && !strcmp(a, "-n")) {
            ok = parse_int(argv[++i], 1, MAX_ITERS, "-n (timed steps)", &o.iters);
        } else if (i + 1 < argc && !strcmp(a, "-t")) {
            ok = parse_int(argv[++i], 1, 1024, "-t (threads)", &o.threads);
        } else if (i + 1 < argc && !strcmp(a, "-m")) {
            o.models = argv[++i];
            if (strcmp(o.models, "unet") && strcmp(o.models, "dit") && strcmp(o.models, "all")) {
                fprintf(stderr, "bench_models: -m must be unet, dit or all, got '%s'\n", o.models);
                ok = 0;
            }
        } else {
            fprintf(stderr, "bench_models: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            ok = 0;
        }
        if (!ok) return 2;
    }
#ifdef LCTW_OPENBLAS
    if (o.threads) openblas_set_num_threads(o.threads);
    static const char *par[] = {"sequential", "pthread", "openmp"};
    int p = openblas_get_parallel();
    printf("# lctw: OpenBLAS %s, %d thread(s), %s; no OpenMP in lctw\n",
           p >= 0 && p <= 2 ? par[p] : "?", openblas_get_num_threads(), openblas_get_config());
#else
    printf("# lctw: no BLAS (reference GEMM loops, single thread)\n");
#endif
    printf("# batch %d, warm-up %d, timed steps %d; ms per sample, median (and minimum) of the "
           "timed steps\n",
           o.batch, o.warmup, o.iters);
    fflush(stdout);
    if (o.gemm && bench_gemm(1024)) goto fail;
    static const struct {
        const char *name;
        lctw_status (*build)(lctw_model **);
    } models[] = {{"unet", build_unet}, {"dit", build_dit}};
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        if (strcmp(o.models, "all") && strcmp(o.models, models[k].name)) continue;
        lctw_model *m = NULL;
        if (models[k].build(&m)) goto fail;
        char desc[1024];
        m->vt->describe(m, desc, sizeof desc);
        printf("# %s: %s\n", models[k].name, desc);
        lctw_status s = bench_model(models[k].name, m, &o);
        lctw_model_free(m);
        if (s) goto fail;
    }
    return 0;
fail:
    fprintf(stderr, "bench_models: %s\n", lctw_error_message());
    return 1;
}
