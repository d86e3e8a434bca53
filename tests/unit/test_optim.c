/* test_optim.c — optimizers, EMA and gradient utilities (src/ct/optim.h):
 *  - RAdam / Adam / AdamW trajectories of 30 steps against PyTorch 1.13
 *    (tests/fixtures/optim_radam.safetensors, scripts/make_optim_fixture.py), through a
 *    lctw_params set with a frozen parameter in the middle, incl. lr changes between steps;
 *  - 300-step runs against a double-precision implementation written here;
 *  - EMA with several decays against a double loop; clipping; the NaN/Inf scan. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "core/tensor.h"
#include "ct/optim.h"
#include "io/safetensors.h"
#include "nn/params.h"
#include "lctw_cuda.h"
#include "test.h"

#define FIXTURE "tests/fixtures/optim_radam.safetensors"

static uint64_t rng_state = 0x1234567887654321ull;
static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double next_unif(void) { return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
static double next_gauss(void) {
    double u1 = next_unif(), u2 = next_unif();
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static lctw_tensor *flat(int64_t n) {
    lctw_tensor *t = NULL;
    int64_t s[1] = {n};
    if (lctw_tensor_zeros(&t, 1, s, LCTW_DEV_CPU) != LCTW_OK) return NULL;
    return t;
}

/* ---- PyTorch fixture ------------------------------------------------------------------------ */

typedef struct fx_cfg {
    const char *name;
    lctw_optim_kind kind;
    double lr, beta1, beta2, eps, wd;
    int lr_change_step;
    double lr_after;
} fx_cfg;

/* Must match CONFIGS in scripts/make_optim_fixture.py (checked against <name>.hyper). */
static const fx_cfg FX[] = {
    {"radam_wd", LCTW_OPTIM_RADAM, 1e-2, 0.9, 0.999, 1e-8, 0.1, 20, 5e-3},
    {"radam_eps", LCTW_OPTIM_RADAM, 1e-2, 0.9, 0.999, 1e-4, 1e-4, 0, 0.0},
    {"radam_betas", LCTW_OPTIM_RADAM, 2e-2, 0.8, 0.99, 1e-8, 0.0, 0, 0.0},
    {"adam", LCTW_OPTIM_ADAM, 1e-2, 0.9, 0.999, 1e-3, 0.05, 10, 2e-2},
    {"adamw", LCTW_OPTIM_ADAMW, 1e-2, 0.9, 0.999, 1e-8, 0.1, 0, 0.0},
};

static lctw_tensor *fx_load(lctw_st_file *f, const char *name) {
    lctw_tensor *t = NULL;
    lctw_status s = lctw_st_load_tensor(&t, f, name);
    CHECK(s == LCTW_OK, "loading %s: %s", name, lctw_error_message());
    return s == LCTW_OK ? t : NULL;
}

static void run_fixture(const fx_cfg *c) {
    lctw_st_file *f = NULL;
    if (lctw_st_open(&f, FIXTURE) != LCTW_OK) {
        CHECK(0, "cannot open %s: %s", FIXTURE, lctw_error_message());
        return;
    }
    char nm[64];
    lctw_tensor *theta0 = fx_load(f, "theta0"), *grads = fx_load(f, "grads");
    snprintf(nm, sizeof nm, "%s.theta", c->name);
    lctw_tensor *traj = fx_load(f, nm);
    snprintf(nm, sizeof nm, "%s.m", c->name);
    lctw_tensor *mref = fx_load(f, nm);
    snprintf(nm, sizeof nm, "%s.v", c->name);
    lctw_tensor *vref = fx_load(f, nm);
    snprintf(nm, sizeof nm, "%s.hyper", c->name);
    lctw_tensor *hyper = fx_load(f, nm);
    lctw_st_close(f);
    if (!theta0 || !grads || !traj || !mref || !vref || !hyper) goto done;
    const int N = 40, T = 30;
    CHECK(lctw_tensor_numel(theta0) == N && lctw_tensor_numel(grads) == T * N, "fixture shapes");
    const float *h = lctw_tensor_data(hyper);
    double want[8] = {(double)c->kind,           c->lr,      c->beta1, c->beta2, c->eps, c->wd,
                      (double)c->lr_change_step, c->lr_after};
    for (int i = 0; i < 8; i++)
        CHECK_CLOSE(h[i], want[i], 0.0, 1e-6); /* the test's config = the script's config */

    /* the model-like layout: a (16, trainable), b (8, frozen), c (16, trainable) */
    lctw_params ps;
    lctw_params_init(&ps);
    int64_t s16[1] = {16}, s8[1] = {8};
    CHECK_OK(lctw_params_add(&ps, "a", 1, s16, 1, NULL));
    CHECK_OK(lctw_params_add(&ps, "b", 1, s8, 0, NULL));
    CHECK_OK(lctw_params_add(&ps, "c", 1, s16, 1, NULL));
    CHECK_OK(lctw_params_finalize(&ps, LCTW_DEV_CPU));
    lctw_optim_config cfg;
    lctw_optim_config_default(&cfg, c->kind);
    cfg.lr = c->lr;
    cfg.beta1 = c->beta1;
    cfg.beta2 = c->beta2;
    cfg.eps = c->eps;
    cfg.weight_decay = c->wd;
    lctw_optim *o = NULL;
    CHECK_OK(lctw_optim_new_params(&o, &cfg, &ps));
    if (!o) {
        lctw_params_release(&ps);
        goto done;
    }
    CHECK(o->nranges == 2 && o->trainable == 32, "ranges %d, trainable %lld", o->nranges,
          (long long)o->trainable);
    float *th = lctw_tensor_data(ps.data), *g = lctw_tensor_data(ps.grad);
    const float *t0 = lctw_tensor_data(theta0), *G = lctw_tensor_data(grads);
    const float *R = lctw_tensor_data(traj);
    memcpy(th, t0, N * sizeof(float));
    double worst = 0.0;
    int frozen_changed = 0;
    for (int t = 1; t <= T; t++) {
        if (c->lr_change_step && t == c->lr_change_step) o->cfg.lr = c->lr_after;
        memcpy(g, G + (t - 1) * N, N * sizeof(float)); /* frozen entries get gradients too */
        CHECK_OK(lctw_optim_step_params(o, &ps));
        CHECK(o->step == t, "step count %lld after step %d", (long long)o->step, t);
        for (int i = 0; i < N; i++) {
            double ref = R[(t - 1) * N + i];
            CHECK_CLOSE(th[i], ref, 1e-9, 1e-6);
            double err = fabs(th[i] - ref) / fabs(ref);
            if (err > worst) worst = err;
            if (i >= 16 && i < 24 && th[i] != t0[i]) frozen_changed++;
        }
    }
    CHECK(frozen_changed == 0, "%d frozen entries changed", frozen_changed);
    /* final state; tolerance scaled by each element's gradient magnitude */
    const float *m = lctw_tensor_data(o->m), *v = lctw_tensor_data(o->v);
    const float *mr = lctw_tensor_data(mref), *vr = lctw_tensor_data(vref);
    for (int i = 0; i < N; i++) {
        double gs = 0.0;
        for (int t = 0; t < T; t++)
            gs = fmax(gs, fabs(G[t * N + i]) + fabs(c->wd * 2.0));
        CHECK_CLOSE(m[i], mr[i], 1e-6 * gs, 1e-5);
        CHECK_CLOSE(v[i], vr[i], 1e-6 * gs * gs, 1e-5);
        if (i >= 16 && i < 24) CHECK(m[i] == 0.0f && v[i] == 0.0f, "frozen state %d not 0", i);
    }
    test_detail("30 steps, max rel err %.1e", worst);
    lctw_optim_free(o);
    lctw_params_release(&ps);
done:
    lctw_tensor_release(theta0);
    lctw_tensor_release(grads);
    lctw_tensor_release(traj);
    lctw_tensor_release(mref);
    lctw_tensor_release(vref);
    lctw_tensor_release(hyper);
}

static void t_torch_radam_wd_lr_change(void) { run_fixture(&FX[0]); }
static void t_torch_radam_eps_1e4(void) { run_fixture(&FX[1]); }
static void t_torch_radam_betas_08_099(void) { run_fixture(&FX[2]); }
static void t_torch_adam_wd_eps_lr_change(void) { run_fixture(&FX[3]); }
static void t_torch_adamw(void) { run_fixture(&FX[4]); }

/* ---- double-precision reference over many steps ------------------------------------------ */

/* One step of the formulas in optim.h in double (PyTorch's own order of operations). */
static void ref_step(const lctw_optim_config *c, int64_t t, int n, double *th, const double *g,
                     double *m, double *v) {
    double b1 = c->beta1, b2 = c->beta2;
    double bc1 = 1 - pow(b1, (double)t), bc2 = 1 - pow(b2, (double)t);
    for (int i = 0; i < n; i++) {
        if (c->kind == LCTW_OPTIM_ADAMW) th[i] *= 1 - c->lr * c->weight_decay;
        double gi = g[i] + (c->kind == LCTW_OPTIM_ADAMW ? 0.0 : c->weight_decay * th[i]);
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        double mhat = m[i] / bc1;
        if (c->kind == LCTW_OPTIM_RADAM) {
            double rinf = 2 / (1 - b2) - 1, rt = rinf - 2 * t * pow(b2, (double)t) / bc2;
            if (rt > 5) {
                double r = sqrt((rt - 4) * (rt - 2) * rinf / ((rinf - 4) * (rinf - 2) * rt));
                th[i] -= mhat * c->lr * (sqrt(bc2) / (sqrt(v[i]) + c->eps)) * r;
            } else {
                th[i] -= mhat * c->lr;
            }
        } else {
            th[i] -= c->lr * m[i] / bc1 / (sqrt(v[i]) / sqrt(bc2) + c->eps);
        }
    }
}

static void t_double_reference_300_steps(void) {
    const int n = 257, T = 300;
    double worst = 0.0;
    for (int kind = 0; kind < LCTW_OPTIM_COUNT; kind++) {
        lctw_optim_config c;
        lctw_optim_config_default(&c, (lctw_optim_kind)kind);
        c.lr = 3e-3;
        c.weight_decay = kind == LCTW_OPTIM_ADAMW ? 0.05 : 1e-3;
        c.eps = kind == LCTW_OPTIM_ADAM ? 1e-6 : 1e-8;
        lctw_optim *o = NULL;
        CHECK_OK(lctw_optim_new(&o, &c, n, LCTW_DEV_CPU));
        if (!o) return;
        lctw_tensor *P = flat(n), *Gt = flat(n);
        float *p = lctw_tensor_data(P), *g = lctw_tensor_data(Gt);
        double th[257], gd[257], m[257] = {0}, v[257] = {0}, bias[257];
        for (int i = 0; i < n; i++) {
            p[i] = (float)((next_unif() < 0.5 ? -1 : 1) * (0.5 + next_unif()));
            th[i] = p[i];
            bias[i] = 0.2 * next_gauss();
        }
        for (int t = 1; t <= T; t++) {
            if (t == 150) {
                c.lr *= 0.5; /* lr is a field that can change between steps */
                o->cfg.lr = c.lr;
            }
            for (int i = 0; i < n; i++) {
                g[i] = (float)((next_gauss() + bias[i]) * (i % 3 == 0 ? 1e-3 : 1.0));
                gd[i] = g[i];
            }
            CHECK_OK(lctw_optim_step(o, P, Gt));
            ref_step(&c, t, n, th, gd, m, v);
        }
        for (int i = 0; i < n; i++) {
            CHECK_CLOSE(p[i], th[i], 1e-7, 1e-5);
            double err = fabs(p[i] - th[i]) / fabs(th[i]);
            if (err > worst) worst = err;
        }
        lctw_optim_free(o);
        lctw_tensor_release(P);
        lctw_tensor_release(Gt);
    }
    test_detail("radam/adam/adamw, 300 steps, max rel err %.1e", worst);
}

/* ---- configuration, ranges, errors ---------------------------------------------------------- */

static void t_config_and_names(void) {
    lctw_optim_kind k;
    for (int i = 0; i < LCTW_OPTIM_COUNT; i++) {
        CHECK(lctw_optim_kind_from_name(lctw_optim_kind_name((lctw_optim_kind)i), &k) &&
                  (int)k == i,
              "name round trip %d", i);
    }
    CHECK(!lctw_optim_kind_from_name("sgd", &k), "unknown name accepted");
    lctw_optim_config c;
    lctw_optim_config_default(&c, LCTW_OPTIM_ADAMW);
    CHECK(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-8 &&
              c.weight_decay == 1e-2,
          "adamw defaults");
    lctw_optim_config_default(&c, LCTW_OPTIM_RADAM);
    CHECK(c.weight_decay == 0.0, "radam default wd %g", c.weight_decay);
    CHECK_OK(lctw_optim_config_check(&c));
    struct {
        double *field;
        double bad;
        const char *word;
    } cases[] = {
        {&c.lr, -1e-3, "learning rate"},
        {&c.eps, -1.0, "eps"},
        {&c.beta1, 1.0, "beta1"},
        {&c.beta2, -0.1, "beta2"},
        {&c.weight_decay, NAN, "weight_decay"},
        {&c.lr, INFINITY, "learning rate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lctw_optim_config_default(&c, LCTW_OPTIM_RADAM);
        *cases[i].field = cases[i].bad;
        lctw_status s = lctw_optim_config_check(&c);
        CHECK(s == LCTW_EINVAL, "case %zu accepted", i);
        CHECK(strstr(lctw_error_message(), cases[i].word), "message: %s", lctw_error_message());
    }
}

static void t_ranges_and_frozen(void) {
    lctw_optim_config c;
    lctw_optim_config_default(&c, LCTW_OPTIM_ADAM);
    lctw_optim *o = NULL;
    CHECK_OK(lctw_optim_new(&o, &c, 100, LCTW_DEV_CPU));
    if (!o) return;
    CHECK(o->nranges == 1 && o->trainable == 100, "default: all trainable");
    lctw_range r[] = {{50, 10}, {10, 5}, {12, 8}, {60, 0}, {20, 3}, {90, 10}};
    CHECK_OK(lctw_optim_set_ranges(o, 6, r));
    /* merged: [10,23) [50,60) [90,100) */
    CHECK(o->nranges == 3, "merged into %d ranges", o->nranges);
    if (o->nranges == 3)
        CHECK(o->ranges[0].start == 10 && o->ranges[0].len == 13 && o->ranges[1].start == 50 &&
                  o->ranges[1].len == 10 && o->ranges[2].start == 90 && o->ranges[2].len == 10,
              "ranges");
    CHECK(o->trainable == 33, "trainable %lld", (long long)o->trainable);
    lctw_tensor *P = flat(100), *G = flat(100);
    float *p = lctw_tensor_data(P), *g = lctw_tensor_data(G);
    for (int i = 0; i < 100; i++) {
        p[i] = (float)i;
        g[i] = 1.0f;
    }
    for (int t = 0; t < 3; t++)
        CHECK_OK(lctw_optim_step(o, P, G));
    int bad = 0;
    for (int i = 0; i < 100; i++) {
        int tr = (i >= 10 && i < 23) || (i >= 50 && i < 60) || i >= 90;
        if (tr != (p[i] != (float)i)) bad++;
    }
    CHECK(bad == 0, "%d elements updated/frozen wrongly", bad);
    lctw_range out[] = {{95, 10}};
    lctw_status s = lctw_optim_set_ranges(o, 1, out);
    CHECK(s == LCTW_EINDEX && strstr(lctw_error_message(), "[95, 105)"), "out of range: %s",
          lctw_error_message());
    CHECK_OK(lctw_optim_reset(o));
    CHECK(o->step == 0 && ((float *)lctw_tensor_data(o->m))[15] == 0.0f, "reset");
    lctw_optim_free(o);
    lctw_tensor_release(P);
    lctw_tensor_release(G);
}

static void t_step_errors(void) {
    lctw_optim_config c;
    lctw_optim_config_default(&c, LCTW_OPTIM_RADAM);
    lctw_optim *o = NULL;
    CHECK_OK(lctw_optim_new(&o, &c, 10, LCTW_DEV_CPU));
    if (!o) return;
    lctw_tensor *P = flat(10), *G = flat(11), *M = NULL, *T = NULL;
    lctw_status s = lctw_optim_step(o, P, G);
    CHECK(s == LCTW_ESHAPE && strstr(lctw_error_message(), "11 elements, expected 10"), "%s",
          lctw_error_message());
    s = lctw_optim_step(o, P, P);
    CHECK(s == LCTW_EINVAL && strstr(lctw_error_message(), "share storage"), "%s",
          lctw_error_message());
    int64_t s2[2] = {2, 5};
    CHECK_OK(lctw_tensor_zeros(&M, 2, s2, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_transpose(&T, M, 0, 1));
    s = lctw_optim_step(o, T, P);
    CHECK(s == LCTW_EINVAL && strstr(lctw_error_message(), "contiguous"), "%s",
          lctw_error_message());
    CHECK(o->step == 0, "failed steps counted: %lld", (long long)o->step);
    o->cfg.lr = -1.0;
    s = lctw_optim_step(o, P, M);
    CHECK(s == LCTW_EINVAL && strstr(lctw_error_message(), "learning rate"), "%s",
          lctw_error_message());
    lctw_optim *oc = NULL;
    s = lctw_optim_new(&oc, &c, 10, LCTW_DEV_CUDA);
    if (lctw_cuda_device_count() == 0) {
        CHECK(s == LCTW_EDEVICE && !oc, "CUDA optimizer without a device: status %d", (int)s);
    } else { /* with a device the optimizer lives there (tests/ops/test_step_cuda.c) */
        CHECK(s == LCTW_OK && oc, "CUDA optimizer: status %d", (int)s);
        lctw_optim_free(oc);
        oc = NULL;
    }
    lctw_params ps;
    lctw_params_init(&ps);
    s = lctw_optim_new_params(&oc, &c, &ps);
    CHECK(s == LCTW_EINVAL && strstr(lctw_error_message(), "not finalized"), "%s",
          lctw_error_message());
    lctw_optim_free(o);
    lctw_tensor_release(P);
    lctw_tensor_release(G);
    lctw_tensor_release(M);
    lctw_tensor_release(T);
}

static void t_step_speed(void) {
    const int64_t n = 1 << 22;
    lctw_optim_config c;
    lctw_optim_config_default(&c, LCTW_OPTIM_RADAM);
    c.weight_decay = 1e-4;
    lctw_optim *o = NULL;
    CHECK_OK(lctw_optim_new(&o, &c, n, LCTW_DEV_CPU));
    lctw_tensor *P = flat(n), *G = flat(n);
    if (!o || !P || !G) return;
    float *g = lctw_tensor_data(G);
    for (int64_t i = 0; i < n; i++)
        g[i] = (float)(i % 7) - 3.0f;
    struct timespec a, b;
    for (int t = 0; t < 6; t++)
        CHECK_OK(lctw_optim_step(o, P, G)); /* past the unrectified steps */
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int t = 0; t < 4; t++)
        CHECK_OK(lctw_optim_step(o, P, G));
    clock_gettime(CLOCK_MONOTONIC, &b);
    double dt = ((double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec)) / 4;
    test_detail("RAdam step %.2f ns/element (4M elements)", 1e9 * dt / (double)n);
    lctw_optim_free(o);
    lctw_tensor_release(P);
    lctw_tensor_release(G);
}

/* ---- EMA --------------------------------------------------------------------------------------
 */

static void t_ema_vs_double(void) {
    const int n = 1000, T = 2000;
    double decays[5] = {0.999, 0.9999, 0.99993, 0.0, 1.0};
    lctw_tensor *th = flat(n);
    float *p = lctw_tensor_data(th);
    double *ref = malloc(5 * (size_t)n * sizeof *ref), *x = malloc((size_t)n * sizeof *x);
    for (int i = 0; i < n; i++) {
        p[i] = (float)next_gauss();
        x[i] = p[i];
        for (int k = 0; k < 5; k++)
            ref[k * n + i] = p[i];
    }
    lctw_ema *e = NULL;
    CHECK_OK(lctw_ema_new(&e, 5, decays, th));
    if (!e) goto out;
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < n; i++) { /* a random walk with drift, like training weights */
            p[i] = (float)(p[i] + 0.01 * next_gauss() + 1e-3);
            x[i] = p[i];
        }
        CHECK_OK(lctw_ema_update(e, th));
        for (int k = 0; k < 5; k++)
            for (int i = 0; i < n; i++)
                ref[k * n + i] = decays[k] * ref[k * n + i] + (1 - decays[k]) * x[i];
    }
    CHECK(e->updates == T, "updates %lld", (long long)e->updates);
    double worst = 0.0;
    for (int k = 0; k < 5; k++) {
        const float *a = lctw_tensor_data(e->avg[k]);
        for (int i = 0; i < n; i++) {
            CHECK_CLOSE(a[i], ref[k * n + i], 2e-5, 0.0);
            worst = fmax(worst, fabs(a[i] - ref[k * n + i]));
        }
    }
    /* decay 0 = the current θ exactly; decay 1 = θ₀ forever */
    const float *a0 = lctw_tensor_data(e->avg[3]);
    for (int i = 0; i < n; i++)
        CHECK(a0[i] == p[i], "decay 0 differs at %d", i);
    CHECK(lctw_ema_find(e, 0.99993) == 2 && lctw_ema_find(e, 0.5) == -1, "find");
    test_detail("decays {0.999, 0.9999, 0.99993, 0, 1}, %d updates, max abs err %.1e", T, worst);
out:
    lctw_ema_free(e);
    lctw_tensor_release(th);
    free(ref);
    free(x);
}

static void t_ema_fixed_point_and_errors(void) {
    /* θ that stops changing is an exact fixed point (no drift from d + (1−d) ≠ 1 in float) */
    const int n = 64;
    lctw_tensor *th = flat(n), *th2 = flat(n), *bad = flat(n + 1);
    float *p = lctw_tensor_data(th), *q = lctw_tensor_data(th2);
    for (int i = 0; i < n; i++) {
        p[i] = (float)(10.0 * next_gauss());
        q[i] = p[i];
    }
    double d[1] = {0.99993};
    lctw_ema *e = NULL;
    CHECK_OK(lctw_ema_new(&e, 1, d, th));
    if (!e) return;
    for (int t = 0; t < 20000; t++)
        CHECK_OK(lctw_ema_update(e, th));
    const float *a = lctw_tensor_data(e->avg[0]);
    int moved = 0;
    for (int i = 0; i < n; i++)
        moved += a[i] != q[i];
    CHECK(moved == 0, "%d of %d entries drifted from a constant θ", moved, n);
    lctw_status s = lctw_ema_update(e, bad);
    CHECK(s == LCTW_ESHAPE && strstr(lctw_error_message(), "65 elements, expected 64"), "%s",
          lctw_error_message());
    lctw_ema *e2 = NULL;
    double dbad[2] = {0.9, 1.5};
    s = lctw_ema_new(&e2, 2, dbad, th);
    CHECK(s == LCTW_EINVAL && strstr(lctw_error_message(), "decay 2 is 1.5"), "%s",
          lctw_error_message());
    s = lctw_ema_new(&e2, 0, dbad, th);
    CHECK(s == LCTW_EINVAL && !e2, "zero decays accepted");
    lctw_ema_free(e);
    lctw_tensor_release(th);
    lctw_tensor_release(th2);
    lctw_tensor_release(bad);
}

/* ---- gradient utilities --------------------------------------------------------------------- */

static void t_clip_grad_norm(void) {
    const int n = 10007;
    lctw_tensor *G = flat(n);
    float *g = lctw_tensor_data(G), *orig = malloc(n * sizeof *orig);
    double ss = 0.0;
    for (int i = 0; i < n; i++) {
        g[i] = (float)(next_gauss() * (i % 2 ? 1.0 : 1e-3));
        orig[i] = g[i];
        ss += (double)g[i] * g[i];
    }
    double want = sqrt(ss), norm = -1, norm2 = -1;
    CHECK_OK(lctw_grad_norm(G, &norm));
    CHECK_CLOSE(norm, want, 0.0, 1e-12);
    /* max_norm above the norm: untouched, bit for bit */
    CHECK_OK(lctw_grad_clip_norm(G, 2 * want, &norm));
    CHECK(!memcmp(g, orig, n * sizeof *g), "clipped below the threshold");
    /* max_norm <= 0: measure only */
    CHECK_OK(lctw_grad_clip_norm(G, 0.0, &norm));
    CHECK(!memcmp(g, orig, n * sizeof *g) && fabs(norm - want) < 1e-9 * want, "max_norm 0");
    CHECK_OK(lctw_grad_clip_norm(G, -1.0, NULL));
    /* clip to 1.0: returns the pre-clip norm, scales by max/(norm + 1e-6) */
    CHECK_OK(lctw_grad_clip_norm(G, 1.0, &norm));
    CHECK_CLOSE(norm, want, 0.0, 1e-12);
    double coef = 1.0 / (want + 1e-6), worst = 0.0;
    for (int i = 0; i < n; i++) {
        CHECK_CLOSE(g[i], orig[i] * coef, 1e-12, 1e-6);
        worst = fmax(worst, fabs(g[i] - orig[i] * coef) / fabs(orig[i] * coef + 1e-30));
    }
    CHECK_OK(lctw_grad_norm(G, &norm2));
    CHECK_CLOSE(norm2, 1.0, 0.0, 1e-5);
    /* a non-finite norm leaves the gradient alone */
    g[5] = NAN;
    memcpy(orig, g, n * sizeof *g);
    CHECK_OK(lctw_grad_clip_norm(G, 1e-3, &norm));
    CHECK(isnan(norm), "norm with a NaN = %g", norm);
    int same = 1;
    for (int i = 0; i < n; i++)
        if (i != 5 && g[i] != orig[i]) same = 0;
    CHECK(same, "a NaN gradient was scaled");
    test_detail("norm %.6g (double ref), after clip %.9g, max rel err %.1e", want, norm2, worst);
    free(orig);
    lctw_tensor_release(G);
}

static void t_nonfinite(void) {
    const int n = 4099;
    lctw_tensor *G = flat(n), *V = NULL, *M = NULL;
    float *g = lctw_tensor_data(G);
    for (int i = 0; i < n; i++)
        g[i] = (float)next_gauss();
    g[10] = FLT_MAX;
    g[11] = -FLT_MAX;
    g[12] = FLT_MIN / 4; /* denormal: finite */
    int64_t cnt = -1, first = -2;
    CHECK_OK(lctw_grad_nonfinite(G, &cnt, &first));
    CHECK(cnt == 0 && first == -1, "clean buffer: count %lld first %lld", (long long)cnt,
          (long long)first);
    g[777] = NAN;
    g[4098] = INFINITY;
    g[300] = -INFINITY;
    g[1000] = -NAN;
    CHECK_OK(lctw_grad_nonfinite(G, &cnt, &first));
    CHECK(cnt == 4 && first == 300, "count %lld first %lld", (long long)cnt, (long long)first);
    /* strided: a 2-D transpose view, flat index in the view's logical order */
    int64_t s2[2] = {3, 5};
    CHECK_OK(lctw_tensor_zeros(&M, 2, s2, LCTW_DEV_CPU));
    ((float *)lctw_tensor_data(M))[1 * 5 + 2] = NAN; /* M[1][2] = view[2][1] = flat 2*3+1 */
    CHECK_OK(lctw_tensor_transpose(&V, M, 0, 1));
    CHECK_OK(lctw_grad_nonfinite(V, &cnt, &first));
    CHECK(cnt == 1 && first == 7, "strided: count %lld first %lld", (long long)cnt,
          (long long)first);
    lctw_tensor_release(G);
    lctw_tensor_release(V);
    lctw_tensor_release(M);
}

int main(void) {
    RUN(t_torch_radam_wd_lr_change);
    RUN(t_torch_radam_eps_1e4);
    RUN(t_torch_radam_betas_08_099);
    RUN(t_torch_adam_wd_eps_lr_change);
    RUN(t_torch_adamw);
    RUN(t_double_reference_300_steps);
    RUN(t_config_and_names);
    RUN(t_ranges_and_frozen);
    RUN(t_step_errors);
    RUN(t_step_speed);
    RUN(t_ema_vs_double);
    RUN(t_ema_fixed_point_and_errors);
    RUN(t_clip_grad_norm);
    RUN(t_nonfinite);
    return test_summary();
}
