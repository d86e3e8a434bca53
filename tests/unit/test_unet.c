/* test_unet.c — the paper U-Net (src/nn/unet.c, ALGORITHM.md §2A) against the PyTorch reference
 * fixtures (tests/fixtures/unet_tiny_*.safetensors: outputs and gradients computed in float64 by
 * scripts/lctw_ref.py), parameter counts of the full-size networks, the EDM initialisation rules,
 * a finite-difference check of whole models, error messages and the arena's steady state.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* gradcheck.h before test.h: its op-coverage helper (defined after test.h) is for op tests */
#include "gradcheck.h"
#include "test.h"

#include "core/autograd.h"
#include "core/ops/ops.h"
#include "core/rng.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "nn/unet.h"

#define FIX_NSLN "tests/fixtures/unet_tiny_nsln.safetensors"
#define FIX_GN "tests/fixtures/unet_tiny_groupnorm.safetensors"

static int has(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

/* max|a − b| and max|b| over two same-size CPU tensors (double). */
static void max_diff(const lctw_tensor *a, const lctw_tensor *b, double *diff, double *bmax) {
    const float *pa = lctw_tensor_data(a), *pb = lctw_tensor_data(b);
    double d = 0.0, m = 0.0;
    for (int64_t i = 0; i < lctw_tensor_numel(b); i++) {
        double e = fabs((double)pa[i] - (double)pb[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
        if (fabs((double)pb[i]) > m) m = fabs((double)pb[i]);
    }
    *diff = d;
    *bmax = m;
}

/* The tiny configuration of the fixtures, built by hand (not from their metadata). */
static void tiny_config(lctw_unet_config *cfg, lctw_norm_kind norm) {
    memset(cfg, 0, sizeof *cfg);
    cfg->in_ch = 4;
    cfg->height = cfg->width = 8;
    cfg->model_channels = 8;
    cfg->n_levels = 2;
    cfg->channel_mult[0] = 1;
    cfg->channel_mult[1] = 2;
    cfg->channel_mult_emb = 4;
    cfg->num_blocks = 1;
    cfg->n_attn = 1;
    cfg->attn_res[0] = 4;
    cfg->channels_per_head = 8;
    cfg->norm = cfg->last_norm = norm;
}

/* A JSON list of strings from the fixture metadata, as a parsed document. */
static const lctw_json *meta_list(const lctw_st_file *f, const char *key, lctw_json_doc **doc) {
    const char *v = lctw_st_metadata_get(f, key);
    *doc = NULL;
    if (!v || lctw_json_parse(doc, v, strlen(v), NULL) != LCTW_OK) return NULL;
    const lctw_json *r = lctw_json_root(*doc);
    return r->type == LCTW_JSON_ARRAY ? r : NULL;
}

static int in_list(const lctw_json *l, const char *name) {
    for (size_t i = 0; l && i < l->len; i++)
        if (l->items[i]->type == LCTW_JSON_STRING && !strcmp(l->items[i]->str, name)) return 1;
    return 0;
}

/* (1) a fixture: config from its metadata, weights by name, f and every gradient. */
static void check_fixture(const char *path, lctw_norm_kind expect_norm) {
    lctw_st_file *f = NULL;
    lctw_model *m = NULL;
    lctw_json_doc *dp = NULL, *dfz = NULL, *dz = NULL;
    lctw_tensor *x = NULL, *sigma = NULL, *R = NULL, *ref = NULL;
    lctw_ctx c;
    int ctx_ok = 0;
    CHECK_OK(lctw_st_open(&f, path));
    if (case_failed) return;
    const char *cj = lctw_st_metadata_get(f, "config");
    lctw_unet_config cfg, tiny;
    CHECK(cj != NULL, "%s: no config metadata", path);
    if (case_failed) goto done;
    CHECK_OK(lctw_unet_config_from_json(&cfg, cj, strlen(cj)));
    if (case_failed) goto done;
    tiny_config(&tiny, expect_norm);
    CHECK(!memcmp(&cfg, &tiny, sizeof cfg), "config from the fixture differs from the tiny config");
    CHECK_OK(lctw_unet_new(&m, &cfg, LCTW_DEV_CPU, 5));
    if (case_failed) goto done;

    /* the parameter list is PyTorch's named_parameters(), in order; frozen = our non-trainable */
    const lctw_json *pl = meta_list(f, "params", &dp), *fz = meta_list(f, "frozen", &dfz);
    const lctw_json *zg = meta_list(f, "zero_grads", &dz);
    CHECK(pl && fz && zg, "%s: params/frozen/zero_grads metadata missing", path);
    if (case_failed) goto done;
    CHECK((size_t)m->params.n == pl->len, "%d parameters, the reference has %zu", m->params.n,
          pl->len);
    for (int i = 0; i < m->params.n && (size_t)i < pl->len && !case_failed; i++) {
        const lctw_param *p = &m->params.p[i];
        CHECK(!strcmp(p->name, pl->items[i]->str), "parameter %d is '%s', the reference has '%s'",
              i + 1, p->name, pl->items[i]->str);
        CHECK(p->trainable == !in_list(fz, p->name), "'%s': trainable %d, reference frozen list %s",
              p->name, p->trainable, in_list(fz, p->name) ? "has it" : "lacks it");
    }
    CHECK_OK(lctw_model_load(m, path, 0));
    CHECK_OK(lctw_st_load_tensor(&x, f, "_in.x"));
    CHECK_OK(lctw_st_load_tensor(&sigma, f, "_in.sigma"));
    CHECK_OK(lctw_st_load_tensor(&R, f, "_in.R"));
    if (case_failed) goto done;
    x->requires_grad = 1;

    CHECK_OK(lctw_ctx_init(&c, LCTW_DEV_CPU, 1 << 20));
    ctx_ok = !case_failed;
    CHECK_OK(lctw_params_zero_grad(&m->params));
    lctw_tensor *y = NULL, *F = NULL;
    CHECK_OK(lctw_model_forward(m, &c, x, sigma, &y, &F));
    if (case_failed) goto done;
    CHECK_OK(lctw_backward(&c, y, R));
    if (case_failed) goto done;

    double d, bm, ey, eF, ex, eg = 0.0, ez = 0.0;
    const char *worst = "";
    CHECK_OK(lctw_st_load_tensor(&ref, f, "_out.y"));
    max_diff(y, ref, &d, &bm);
    ey = d / bm;
    lctw_tensor_release(ref);
    ref = NULL;
    CHECK_OK(lctw_st_load_tensor(&ref, f, "_out.F"));
    max_diff(F, ref, &d, &bm);
    eF = d / bm;
    lctw_tensor_release(ref);
    ref = NULL;
    CHECK(ey < 1e-5, "f(x, σ): relative error %.3g (bound 1e-5)", ey);
    CHECK(eF < 1e-5, "F: relative error %.3g (bound 1e-5)", eF);
    CHECK_OK(lctw_st_load_tensor(&ref, f, "_grad_in.x"));
    CHECK(x->grad != NULL, "no gradient reached the input");
    if (case_failed) goto done;
    max_diff(x->grad, ref, &d, &bm);
    ex = d / bm;
    lctw_tensor_release(ref);
    ref = NULL;
    CHECK(ex < 1e-4, "dL/dx: relative error %.3g (bound 1e-4)", ex);
    int n_grads = 0;
    for (int i = 0; i < m->params.n && !case_failed; i++) {
        const lctw_param *p = &m->params.p[i];
        char gname[LCTW_PARAM_NAME + 8];
        snprintf(gname, sizeof gname, "_grad.%s", p->name);
        if (!p->trainable) {
            CHECK(lctw_st_find(f, gname) == NULL, "frozen '%s' has a reference gradient", p->name);
            continue;
        }
        CHECK_OK(lctw_st_load_tensor(&ref, f, gname));
        if (case_failed) break;
        max_diff(p->t->grad, ref, &d, &bm);
        if (in_list(zg, p->name)) { /* identically zero: absolute floor */
            CHECK(d < 1e-6, "'%s' should have zero gradient, max |g| = %.3g", p->name, d);
            if (d > ez) ez = d;
        } else {
            double e = bm > 0.0 ? d / bm : d;
            CHECK(e < 1e-4, "gradient of '%s': relative error %.3g (bound 1e-4, max |ref| %.3g)",
                  p->name, e, bm);
            if (!(e <= eg)) {
                eg = e;
                worst = p->name;
            }
        }
        n_grads++;
        lctw_tensor_release(ref);
        ref = NULL;
    }
    test_detail("y %.2e, F %.2e, dx %.2e, %d grads worst %.2e (%s)%s", ey, eF, ex, n_grads, eg,
                worst, zg->len ? ", zero grads ok" : "");
done:
    lctw_tensor_release(ref);
    if (x) x->grad = NULL; /* an arena tensor: dies with the context */
    if (ctx_ok) lctw_ctx_release(&c);
    lctw_tensor_release(x);
    lctw_tensor_release(sigma);
    lctw_tensor_release(R);
    lctw_json_free(dp);
    lctw_json_free(dfz);
    lctw_json_free(dz);
    lctw_model_free(m);
    lctw_st_close(f);
}

static void t_fixture_nsln(void) { check_fixture(FIX_NSLN, LCTW_NORM_NSLN); }
static void t_fixture_groupnorm(void) { check_fixture(FIX_GN, LCTW_NORM_GROUPNORM); }

/* (2) parameter counts of the full-size networks (ALGORITHM.md §2A). */
static void t_param_count_paper(void) {
    lctw_unet_config cfg;
    lctw_unet_config_paper(&cfg);
    lctw_model *m = NULL;
    CHECK_OK(lctw_unet_new(&m, &cfg, LCTW_DEV_CPU, 1));
    if (case_failed) return;
    int64_t tr = m->params.trainable, fr = m->params.total - m->params.trainable;
    CHECK(tr == 158355972, "trainable %lld, expected 158,355,972", (long long)tr);
    CHECK(fr == 7112704, "frozen %lld, expected 7,112,704", (long long)fr);
    CHECK(m->params.n > 0 && !strcmp(m->params.p[0].name, "map_layer0.weight"), "first is '%s'",
          m->params.n ? m->params.p[0].name : "");
    CHECK(lctw_params_find(&m->params, "enc.32x32_block3.conv1.weight") >= 0 &&
              lctw_params_find(&m->params, "enc.16x16_down.norm0.bias") >= 0 &&
              lctw_params_find(&m->params, "dec.4x4_in0.qkv.weight") >= 0 &&
              lctw_params_find(&m->params, "dec.8x8_up.conv0.weight") >= 0 &&
              lctw_params_find(&m->params, "dec.32x32_block4.skip.weight") >= 0 &&
              lctw_params_find(&m->params, "dec.16x16_block4.proj.bias") >= 0 &&
              lctw_params_find(&m->params, "dec.4x4_in1.qkv.weight") < 0 &&
              lctw_params_find(&m->params, "enc.4x4_block0.qkv.weight") < 0,
          "reference module names missing or unexpected attention");
    /* the 16×16 down block's norm0 sees the 32×32 input */
    int i = lctw_params_find(&m->params, "enc.16x16_down.norm0.bias");
    if (i >= 0)
        CHECK(m->params.p[i].shape[1] == 32 && m->params.p[i].shape[0] == 128,
              "enc.16x16_down.norm0.bias is %lld×%lld×%lld", (long long)m->params.p[i].shape[0],
              (long long)m->params.p[i].shape[1], (long long)m->params.p[i].shape[2]);
    char desc[512];
    m->vt->describe(m, desc, sizeof desc);
    CHECK(has(desc, "158,355,972 trainable + 7,112,704 frozen"), "describe: %s", desc);
    lctw_model_free(m);
    test_detail("158,355,972 trainable + 7,112,704 frozen");
}

static void t_param_count_paper_groupnorm(void) {
    lctw_unet_config cfg;
    lctw_unet_config_paper(&cfg);
    cfg.norm = cfg.last_norm = LCTW_NORM_GROUPNORM;
    lctw_model *m = NULL;
    CHECK_OK(lctw_unet_new(&m, &cfg, LCTW_DEV_CPU, 1));
    if (case_failed) return;
    int64_t tr = m->params.trainable, fr = m->params.total - m->params.trainable;
    CHECK(tr == 151325956, "trainable %lld, expected 151,325,956", (long long)tr);
    CHECK(fr == 0, "frozen %lld, expected 0", (long long)fr);
    lctw_model_free(m);
    test_detail("151,325,956 trainable");
}

/* layernorm = nsln with a trainable γ: same total, everything trainable */
static void t_param_count_layernorm(void) {
    lctw_unet_config cfg;
    tiny_config(&cfg, LCTW_NORM_NSLN);
    lctw_model *a = NULL, *b = NULL;
    CHECK_OK(lctw_unet_new(&a, &cfg, LCTW_DEV_CPU, 1));
    cfg.norm = cfg.last_norm = LCTW_NORM_LAYERNORM;
    CHECK_OK(lctw_unet_new(&b, &cfg, LCTW_DEV_CPU, 1));
    if (!case_failed) {
        CHECK(b->params.trainable == a->params.total && b->params.total == a->params.total,
              "layernorm %lld/%lld trainable/total, nsln total %lld",
              (long long)b->params.trainable, (long long)b->params.total,
              (long long)a->params.total);
        test_detail("%lld = %lld + %lld", (long long)b->params.trainable,
                    (long long)a->params.trainable,
                    (long long)(a->params.total - a->params.trainable));
    }
    lctw_model_free(a);
    lctw_model_free(b);
}

/* The module a parameter belongs to ("enc.8x8_block0.conv0" of "enc.8x8_block0.conv0.weight"). */
static void module_of(const char *name, char *mod, size_t n) {
    snprintf(mod, n, "%s", name);
    char *d = strrchr(mod, '.');
    if (d) *d = 0;
}

/* (3) initialisation: U(±1/√fan_in) for weights and biases, zero layers, norms, determinism. */
static void t_init_statistics(void) {
    lctw_unet_config cfg;
    lctw_unet_config_paper(&cfg);
    cfg.height = cfg.width = 16;
    cfg.model_channels = 32;
    cfg.n_levels = 2;
    cfg.channel_mult[2] = cfg.channel_mult[3] = cfg.attn_res[1] = 0;
    cfg.channel_mult[0] = 1;
    cfg.channel_mult[1] = 2;
    cfg.num_blocks = 2;
    cfg.n_attn = 1;
    cfg.attn_res[0] = 8;
    cfg.channels_per_head = 16;
    lctw_model *m = NULL, *m2 = NULL, *m3 = NULL;
    CHECK_OK(lctw_unet_new(&m, &cfg, LCTW_DEV_CPU, 42));
    CHECK_OK(lctw_unet_new(&m2, &cfg, LCTW_DEV_CPU, 42));
    CHECK_OK(lctw_unet_new(&m3, &cfg, LCTW_DEV_CPU, 43));
    if (case_failed) goto done;
    int n_uniform = 0, n_zero = 0, n_norm = 0, n_big = 0;
    double worst_std = 0.0, worst_mean = 0.0;
    /* pooled w/bound over all uniform tensors: moments and a 10-bin histogram */
    double s1 = 0.0, s2 = 0.0;
    int64_t pooled = 0, hist[10] = {0};
    double fan_w = 0.0; /* fan_in of the last weight, for its bias */
    char wmod[LCTW_PARAM_NAME] = "";
    for (int i = 0; i < m->params.n && !case_failed; i++) {
        const lctw_param *p = &m->params.p[i];
        const float *w = lctw_tensor_data(p->t);
        char mod[LCTW_PARAM_NAME];
        module_of(p->name, mod, sizeof mod);
        int is_w = ends_with(p->name, ".weight");
        int zero_layer =
            ends_with(mod, ".conv1") || ends_with(mod, ".proj") || !strcmp(mod, "out_conv");
        int norm = has(mod, "norm");
        if (norm) {
            n_norm++;
            for (int64_t k = 0; k < p->numel; k++)
                if (w[k] != (is_w ? 1.0f : 0.0f)) {
                    CHECK(0, "'%s'[%lld] = %g, expected %g", p->name, (long long)k, w[k],
                          is_w ? 1.0 : 0.0);
                    break;
                }
            CHECK(p->trainable == !is_w, "NsLN '%s' trainable = %d", p->name, p->trainable);
            continue;
        }
        if (zero_layer) {
            n_zero++;
            for (int64_t k = 0; k < p->numel; k++)
                if (w[k] != 0.0f) {
                    CHECK(0, "zero-init '%s'[%lld] = %g", p->name, (long long)k, w[k]);
                    break;
                }
            continue;
        }
        /* fan_in from the shape: weight (out, in[, k, k]); a bias uses its weight's */
        if (is_w) {
            fan_w = (double)(p->numel / p->shape[0]);
            snprintf(wmod, sizeof wmod, "%s", mod);
        } else {
            CHECK(!strcmp(wmod, mod), "bias '%s' does not follow its weight", p->name);
        }
        double bound = 1.0 / sqrt(fan_w), mean = 0.0, var = 0.0, mx = 0.0;
        for (int64_t k = 0; k < p->numel; k++) {
            double v = w[k];
            mean += v;
            var += v * v;
            if (fabs(v) > mx) mx = fabs(v);
            double u = v / bound;
            s1 += u;
            s2 += u * u;
            int bin = (int)floor((u + 1.0) * 5.0);
            hist[bin < 0 ? 0 : bin > 9 ? 9 : bin]++;
            pooled++;
        }
        n_uniform++;
        CHECK(mx <= bound, "'%s': max |w| = %.9g exceeds 1/√fan_in = %.9g", p->name, mx, bound);
        mean /= (double)p->numel;
        double sd = sqrt(var / (double)p->numel - mean * mean), sd_ref = bound / sqrt(3.0);
        CHECK(mx > 0.0, "'%s' is all zero (FiLM affine and qkv must not be zero-init)", p->name);
        if (p->numel >= 1000) { /* statistical checks where they are sharp */
            n_big++;
            double n = (double)p->numel, tol_sd = fmax(0.03, 5.0 * 0.447 / sqrt(n));
            double z = fabs(mean) / (sd_ref / sqrt(n));
            CHECK(z < 5.0, "'%s': mean %.3g is %.1f standard errors from 0", p->name, mean, z);
            CHECK(fabs(sd / sd_ref - 1.0) < tol_sd, "'%s': std %.4g, expected %.4g (±%.1f%%)",
                  p->name, sd, sd_ref, 100 * tol_sd);
            CHECK(mx > 0.99 * bound, "'%s': max |w| %.4g, expected close to %.4g", p->name, mx,
                  bound);
            if (fabs(sd / sd_ref - 1.0) > worst_std) worst_std = fabs(sd / sd_ref - 1.0);
            if (z > worst_mean) worst_mean = z;
        }
    }
    double pm = s1 / (double)pooled, pv = s2 / (double)pooled;
    CHECK(fabs(pm) < 5.0 * sqrt(1.0 / 3.0 / (double)pooled), "pooled mean of w/bound %.3g", pm);
    CHECK(fabs(pv - 1.0 / 3.0) < 5.0 * sqrt(0.0889 / (double)pooled), "pooled E[(w/bound)²] %.5f",
          pv);
    double chi2 = 0.0, e = (double)pooled / 10.0;
    for (int k = 0; k < 10; k++)
        chi2 += ((double)hist[k] - e) * ((double)hist[k] - e) / e;
    CHECK(chi2 < 30.0, "histogram of w/bound is not uniform: χ² = %.1f (9 dof)", chi2);
    CHECK(n_zero > 0 && n_norm > 0 && n_big > 5, "%d zero, %d norm, %d large tensors", n_zero,
          n_norm, n_big);
    /* determinism and seed dependence */
    size_t bytes = (size_t)m->params.total * sizeof(float);
    CHECK(!memcmp(lctw_tensor_data(m->params.data), lctw_tensor_data(m2->params.data), bytes),
          "the same seed gave different parameters");
    int64_t same = 0, nonzero = 0;
    const float *a = lctw_tensor_data(m->params.data), *b = lctw_tensor_data(m3->params.data);
    for (int64_t k = 0; k < m->params.total; k++)
        if (a[k] != 0.0f && a[k] != 1.0f) {
            nonzero++;
            same += a[k] == b[k];
        }
    CHECK(same < nonzero / 1000, "seeds 42 and 43 share %lld of %lld random values",
          (long long)same, (long long)nonzero);
    test_detail(
        "%d uniform tensors (%lld values, χ²=%.1f), %d zero, %d norm; worst std dev %.2f%%, "
        "worst mean %.1f SE",
        n_uniform, (long long)pooled, chi2, n_zero, n_norm, 100 * worst_std, worst_mean);
done:
    lctw_model_free(m);
    lctw_model_free(m2);
    lctw_model_free(m3);
}

/* ---- (4) finite differences through the whole model ---- */

typedef struct {
    lctw_model *m;
    lctw_tensor *sigma;
} fd_ud;

static lctw_status fd_fn(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    fd_ud *u = ud;
    return lctw_model_forward(u->m, c, in[0], u->sigma, y, NULL);
}

/* Perturbs every trainable parameter like the fixtures do (so zero-init layers are live):
 * w += 0.5·s·N(0,1), s = 1/√(numel/shape[0]) for ≥2-D weights outside norms, else 0.2. */
static void perturb(lctw_model *m, uint64_t seed) {
    for (int i = 0; i < m->params.n; i++) {
        lctw_param *p = &m->params.p[i];
        if (!p->trainable) continue;
        double s = (p->ndim >= 2 && !has(p->name, "norm"))
                       ? 1.0 / sqrt((double)(p->numel / p->shape[0]))
                       : 0.2;
        float *w = lctw_tensor_data(p->t);
        for (int64_t k = 0; k < p->numel; k++)
            w[k] += (float)(0.5 * s * lctw_rng_normal_at(seed, (uint32_t)i, 0, (uint64_t)k));
    }
}

static void gradcheck_model(lctw_model *m, lctw_tensor *x, lctw_tensor *sigma, const char **names,
                            int n_names, gc_opts o) {
    lctw_tensor *in[8] = {x}, *saved[8] = {0};
    int n = 1;
    for (int i = 0; i < n_names && n < 8; i++) {
        int k = lctw_params_find(&m->params, names[i]);
        CHECK(k >= 0, "no parameter '%s'", names[i]);
        if (k < 0) return;
        in[n] = m->params.p[k].t;
        saved[n] = in[n]->grad; /* gradcheck clears .grad; the views belong to the params */
        n++;
    }
    CHECK_OK(lctw_params_zero_grad(&m->params));
    fd_ud ud = {m, sigma};
    char why[512] = "";
    int bad = gradcheck(fd_fn, &ud, n, in, &o, why, sizeof why);
    for (int i = 1; i < n; i++)
        in[i]->grad = saved[i];
    if (bad) {
        /* name the input that failed */
        int k = 0;
        if (sscanf(why, "input %d", &k) == 1 && k >= 1 && k <= n)
            CHECK(0, "%s (%s)", why, k == 1 ? "x" : names[k - 2]);
        else
            CHECK(0, "%s", why);
    }
    test_detail("%d inputs, max err %.3f of tolerance (eps %g, atol %g, rtol %g)", n, o.max_err,
                o.eps, o.atol, o.rtol);
}

static void t_gradcheck_nsln(void) {
    lctw_st_file *f = NULL;
    lctw_model *m = NULL;
    lctw_tensor *x = NULL, *sigma = NULL;
    lctw_unet_config cfg;
    tiny_config(&cfg, LCTW_NORM_NSLN);
    CHECK_OK(lctw_unet_new(&m, &cfg, LCTW_DEV_CPU, 3));
    CHECK_OK(lctw_model_load(m, FIX_NSLN, 0)); /* the fixture's perturbed weights */
    CHECK_OK(lctw_st_open(&f, FIX_NSLN));
    if (!case_failed) {
        CHECK_OK(lctw_st_load_tensor(&x, f, "_in.x"));
        CHECK_OK(lctw_st_load_tensor(&sigma, f, "_in.sigma"));
    }
    if (!case_failed) {
        x->requires_grad = 1;
        const char *names[] = {"map_layer0.weight",
                               "enc.8x8_conv.weight",
                               "enc.4x4_down.norm0.bias",
                               "enc.4x4_block0.affine.weight",
                               "enc.4x4_block0.qkv.weight",
                               "dec.8x8_block1.conv1.weight",
                               "out_conv.bias"};
        gc_opts o = {.eps = 1e-2, .atol = 1e-3, .rtol = 2e-2, .max_elems = 6};
        gradcheck_model(m, x, sigma, names, 7, o);
    }
    lctw_tensor_release(x);
    lctw_tensor_release(sigma);
    lctw_model_free(m);
    lctw_st_close(f);
}

/* layernorm (trainable γ) and groupnorm from our own init, perturbed */
static void gradcheck_norm(lctw_norm_kind kind, const char *gamma_name) {
    lctw_model *m = NULL;
    lctw_tensor *x = NULL, *sigma = NULL;
    lctw_unet_config cfg;
    tiny_config(&cfg, kind);
    CHECK_OK(lctw_unet_new(&m, &cfg, LCTW_DEV_CPU, 11));
    if (case_failed) return;
    perturb(m, 99);
    int64_t xs[4] = {2, 4, 8, 8}, ss[1] = {2};
    x = gc_input(4, xs, 17, 0.8f, 0.0f);
    CHECK_OK(lctw_tensor_empty(&sigma, 1, ss, LCTW_DEV_CPU));
    if (!case_failed && x) {
        lctw_tensor_data(sigma)[0] = 0.3f;
        lctw_tensor_data(sigma)[1] = 2.0f;
        const char *names[] = {gamma_name,
                               "enc.8x8_block0.norm1.bias",
                               "dec.4x4_in0.proj.weight",
                               "enc.4x4_block0.skip.weight",
                               "map_layer1.bias",
                               "dec.8x8_up.conv0.weight"};
        gc_opts o = {.eps = 1e-2, .atol = 1e-3, .rtol = 2e-2, .max_elems = 6};
        gradcheck_model(m, x, sigma, names, 6, o);
    }
    lctw_tensor_release(x);
    lctw_tensor_release(sigma);
    lctw_model_free(m);
}

static void t_gradcheck_layernorm(void) {
    gradcheck_norm(LCTW_NORM_LAYERNORM, "dec.4x4_block0.norm0.weight");
}
static void t_gradcheck_groupnorm(void) {
    gradcheck_norm(LCTW_NORM_GROUPNORM, "dec.4x4_block0.norm0.weight");
}

/* ---- (5) errors ---- */

static void expect_cfg_error(const lctw_unet_config *cfg, const char *sub, const char *what) {
    lctw_model *m = (lctw_model *)1;
    lctw_status s = lctw_unet_new(&m, cfg, LCTW_DEV_CPU, 1);
    CHECK(s == LCTW_EINVAL && m == NULL, "%s: status %s, expected EINVAL", what,
          lctw_status_name(s));
    CHECK(has(lctw_error_message(), sub), "%s: message '%s' lacks '%s'", what, lctw_error_message(),
          sub);
    if (s == LCTW_OK && m != (lctw_model *)1) lctw_model_free(m);
}

static void t_config_errors(void) {
    lctw_unet_config base, c;
    tiny_config(&base, LCTW_NORM_NSLN);
    CHECK_OK(lctw_unet_config_check(&base));
#define BAD(stmt, sub)                                                                             \
    do {                                                                                           \
        c = base;                                                                                  \
        stmt;                                                                                      \
        expect_cfg_error(&c, sub, #stmt);                                                          \
    } while (0)
    BAD(c.model_channels = 0, "model_channels = 0");
    BAD(c.model_channels = 7, "model_channels = 7 must be even");
    BAD(c.n_levels = 0, "0 entries in channel_mult");
    BAD(c.n_levels = 9, "9 entries in channel_mult");
    BAD(c.channel_mult[1] = 0, "channel_mult[2] = 0");
    BAD(c.channel_mult_emb = 0, "channel_mult_emb = 0");
    BAD(c.num_blocks = -1, "num_blocks = -1");
    BAD(c.in_ch = 0, "in_ch = 0");
    BAD(c.width = 16, "input 8×16 is not square");
    BAD((c.height = c.width = 6, c.n_levels = 3, c.channel_mult[2] = 2),
        "resolution 6 is not divisible by 2^(levels − 1) = 4");
    BAD(c.attn_res[0] = 5, "attention resolution 5 is not one of the U-Net's resolutions (8, 4)");
    BAD(c.channels_per_head = 64, "enc.4x4_block0 has attention on 16 channels, fewer than "
                                  "channels_per_head = 64");
    BAD(c.channels_per_head = 5, "16 channels do not split into 3 heads");
    BAD(c.channels_per_head = 0, "channels_per_head = 0");
    BAD(c.norm = (lctw_norm_kind)7, "norm kind 7 unknown");
    BAD(c.last_norm = (lctw_norm_kind)-1, "last_norm kind -1 unknown");
    BAD((c.norm = LCTW_NORM_GROUPNORM, c.model_channels = 18),
        "enc.8x8_block0.norm0 has 18 channels, which do not split into min(32, C/4) = 4 groups");
    BAD((c.last_norm = LCTW_NORM_GROUPNORM, c.model_channels = 2, c.channels_per_head = 2),
        "out_norm has 2 channels, which do not split into min(32, C/4) = 0 groups");
#undef BAD
}

static void expect_json_error(const char *json, const char *sub) {
    lctw_unet_config cfg;
    lctw_status s = lctw_unet_config_from_json(&cfg, json, strlen(json));
    CHECK(s != LCTW_OK, "accepted %s", json);
    CHECK(has(lctw_error_message(), sub), "%s: message '%s' lacks '%s'", json, lctw_error_message(),
          sub);
}

static void t_config_json(void) {
    lctw_unet_config cfg, back;
    tiny_config(&cfg, LCTW_NORM_GROUPNORM);
    cfg.last_norm = LCTW_NORM_NSLN;
    lctw_model *m = NULL;
    CHECK_OK(lctw_unet_new(&m, &cfg, LCTW_DEV_CPU, 1));
    if (case_failed) return;
    CHECK_OK(lctw_unet_config_from_json(&back, m->config_json, strlen(m->config_json)));
    CHECK(!memcmp(&cfg, &back, sizeof cfg), "config JSON did not round-trip: %s", m->config_json);
    CHECK(has(m->config_json, "\"last_norm\":\"nsln\"") &&
              has(m->config_json, "\"norm\":\"groupnorm\""),
          "%s", m->config_json);
    lctw_model_free(m);
    /* missing keys take the paper's values */
    const char *minimal = "{\"img_resolution\": 32, \"in_channels\": 4}";
    lctw_unet_config paper;
    lctw_unet_config_paper(&paper);
    CHECK_OK(lctw_unet_config_from_json(&back, minimal, strlen(minimal)));
    CHECK(!memcmp(&paper, &back, sizeof back), "minimal JSON is not the paper config");
    expect_json_error("{\"in_channels\": 4}", "'img_resolution' is missing");
    expect_json_error("{\"img_resolution\": 32, \"in_channels\": 4, \"norm\": \"batchnorm\"}",
                      "'norm' must be \"nsln\", \"groupnorm\" or \"layernorm\", got \"batchnorm\"");
    expect_json_error("{\"img_resolution\": 32, \"in_channels\": 4, \"dropout\": 0.1}",
                      "dropout must be 0");
    expect_json_error("{\"img_resolution\": 32, \"in_channels\": 4, \"out_channels\": 3}",
                      "out_channels 3 differs from in_channels 4");
    expect_json_error("{\"arch\": \"DiT\", \"img_resolution\": 32, \"in_channels\": 4}",
                      "arch is \"DiT\", expected \"DhariwalUNet\"");
    expect_json_error("{\"img_resolution\": 32, \"in_channels\": 4, \"channel_mult\": [1, 2.5]}",
                      "'channel_mult'[2] must be an integer");
    expect_json_error("{\"img_resolution\": 30, \"in_channels\": 4}",
                      "resolution 30 is not divisible by 2^(levels − 1) = 8");
    expect_json_error("[1]", "expected an object, got a array");
}

static void t_input_errors(void) {
    lctw_model *m = NULL;
    lctw_unet_config cfg;
    tiny_config(&cfg, LCTW_NORM_NSLN);
    CHECK_OK(lctw_unet_new(&m, &cfg, LCTW_DEV_CPU, 1));
    if (case_failed) return;
    lctw_ctx c;
    CHECK_OK(lctw_ctx_init(&c, LCTW_DEV_CPU, 1 << 16));
    lctw_tensor *x = NULL, *x3 = NULL, *s = NULL, *cn = NULL, *y;
    int64_t xs[4] = {2, 4, 8, 8}, x3s[4] = {2, 3, 8, 8}, ss[1] = {2}, cns[1] = {3};
    CHECK_OK(lctw_tensor_zeros(&x, 4, xs, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_zeros(&x3, 4, x3s, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_full(&s, 1, ss, LCTW_DEV_CPU, 1.0f));
    CHECK_OK(lctw_tensor_zeros(&cn, 1, cns, LCTW_DEV_CPU));
    if (!case_failed) {
        lctw_status st = lctw_model_forward(m, &c, x3, s, &y, NULL);
        CHECK(st == LCTW_ESHAPE && has(lctw_error_message(), "2×3×8×8") &&
                  has(lctw_error_message(), "expected 2×4×8×8"),
              "model forward with 3 channels: %s", lctw_error_message());
        /* the network itself checks too (it can be called without the wrapper) */
        st = m->vt->net_forward(m, &c, x3, s, &y);
        CHECK(st == LCTW_ESHAPE && has(lctw_error_message(), "unet: input is 2×3×8×8, expected "
                                                             "2×4×8×8"),
              "net forward with 3 channels: %s", lctw_error_message());
        st = m->vt->net_forward(m, &c, x, cn, &y);
        CHECK(st == LCTW_ESHAPE &&
                  has(lctw_error_message(), "c_noise is 3, expected one value per sample (2)"),
              "net forward with 3 noise levels: %s", lctw_error_message());
        /* a checkpoint of another norm does not load, and names the tensor */
        st = lctw_model_load(m, FIX_GN, 0);
        CHECK(st == LCTW_EFORMAT && has(lctw_error_message(), "enc.8x8_block0.norm0.weight") &&
                  has(lctw_error_message(), "8×8×8"),
              "loading the groupnorm fixture into an nsln model: %s", lctw_error_message());
    }
    lctw_tensor_release(x);
    lctw_tensor_release(x3);
    lctw_tensor_release(s);
    lctw_tensor_release(cn);
    lctw_ctx_release(&c);
    lctw_model_free(m);
}

/* ---- (6) the arena and the heap are stable over repeated training steps ---- */

static void t_arena_steady_state(void) {
    lctw_model *m = NULL;
    lctw_unet_config cfg;
    tiny_config(&cfg, LCTW_NORM_NSLN);
    CHECK_OK(lctw_unet_new(&m, &cfg, LCTW_DEV_CPU, 2));
    if (case_failed) return;
    perturb(m, 5);
    lctw_ctx c;
    CHECK_OK(lctw_ctx_init(&c, LCTW_DEV_CPU, 4096)); /* small: the arena must grow, then settle */
    int64_t xs[4] = {2, 4, 8, 8}, ss[1] = {2};
    lctw_tensor *x = gc_input(4, xs, 3, 1.0f, 0.0f), *s = NULL, *R = gc_input(4, xs, 4, 1.0f, 0.0f);
    CHECK_OK(lctw_tensor_full(&s, 1, ss, LCTW_DEV_CPU, 0.7f));
    x->requires_grad = 0;
    int64_t allocs[6] = {0};
    size_t heap[6] = {0};
    int nodes[6] = {0};
    for (int step = 0; step < 6 && !case_failed; step++) {
        lctw_tensor *y;
        CHECK_OK(lctw_ctx_reset(&c));
        CHECK_OK(lctw_params_zero_grad(&m->params));
        CHECK_OK(lctw_model_forward(m, &c, x, s, &y, NULL));
        if (case_failed) break;
        CHECK_OK(lctw_backward(&c, y, R));
        allocs[step] = c.arena.n_allocs;
        heap[step] = lctw_mem_in_use(LCTW_DEV_CPU);
        nodes[step] = c.n_nodes;
    }
    for (int step = 2; step < 6 && !case_failed; step++) {
        CHECK(allocs[step] == allocs[1], "step %d: %lld arena chunk allocations, step 2 had %lld",
              step + 1, (long long)allocs[step], (long long)allocs[1]);
        CHECK(heap[step] == heap[1], "step %d: %zu bytes of heap in use, step 2 had %zu", step + 1,
              heap[step], heap[1]);
        CHECK(nodes[step] == nodes[0], "step %d recorded %d nodes, step 1 %d", step + 1,
              nodes[step], nodes[0]);
    }
    test_detail("%lld chunk allocations after step 1, %lld after step 6; %d tape nodes; peak %zu "
                "bytes",
                (long long)allocs[0], (long long)allocs[5], nodes[0], c.arena.peak);
    lctw_tensor_release(x);
    lctw_tensor_release(s);
    lctw_tensor_release(R);
    lctw_ctx_release(&c);
    lctw_model_free(m);
}

/* Without grad nothing is recorded, and the output matches the recorded forward exactly. */
static void t_no_grad_forward(void) {
    lctw_model *m = NULL;
    lctw_unet_config cfg;
    tiny_config(&cfg, LCTW_NORM_NSLN);
    CHECK_OK(lctw_unet_new(&m, &cfg, LCTW_DEV_CPU, 2));
    if (case_failed) return;
    perturb(m, 6);
    lctw_ctx c;
    CHECK_OK(lctw_ctx_init(&c, LCTW_DEV_CPU, 1 << 20));
    int64_t xs[4] = {3, 4, 8, 8}, ss[1] = {3};
    lctw_tensor *x = gc_input(4, xs, 8, 1.0f, 0.0f), *s = NULL, *keep = NULL, *y;
    x->requires_grad = 0;
    CHECK_OK(lctw_tensor_full(&s, 1, ss, LCTW_DEV_CPU, 1.5f));
    lctw_tensor_data(s)[1] = 0.01f;
    lctw_tensor_data(s)[2] = 80.0f;
    CHECK_OK(lctw_model_forward(m, &c, x, s, &y, NULL));
    if (!case_failed) {
        CHECK_OK(lctw_tensor_clone(&keep, y));
        CHECK_OK(lctw_ctx_reset(&c));
        lctw_ctx_set_grad(&c, 0);
        CHECK_OK(lctw_model_forward(m, &c, x, s, &y, NULL));
        CHECK(c.n_nodes == 0, "%d nodes recorded with grad off", c.n_nodes);
        double d, bm;
        if (!case_failed) {
            max_diff(y, keep, &d, &bm);
            CHECK(d == 0.0, "grad-off forward differs by %.3g", d);
        }
        /* batch independence: sample 2 alone gives the same output */
        lctw_tensor *x1 = NULL, *s1 = NULL, *y1;
        int64_t x1s[4] = {1, 4, 8, 8}, s1s[1] = {1};
        CHECK_OK(lctw_tensor_empty(&x1, 4, x1s, LCTW_DEV_CPU));
        CHECK_OK(lctw_tensor_full(&s1, 1, s1s, LCTW_DEV_CPU, 0.01f));
        if (!case_failed) {
            memcpy(lctw_tensor_data(x1), lctw_tensor_data(x) + 256, 256 * sizeof(float));
            CHECK_OK(lctw_model_forward(m, &c, x1, s1, &y1, NULL));
            double e = 0.0;
            for (int k = 0; k < 256 && !case_failed; k++)
                e = fmax(e, fabs(lctw_tensor_data(y1)[k] - lctw_tensor_data(keep)[256 + k]));
            CHECK(e < 1e-5, "sample 2 alone differs by %.3g", e);
            test_detail("batch-of-one difference %.2g", e);
        }
        lctw_tensor_release(x1);
        lctw_tensor_release(s1);
    }
    lctw_tensor_release(keep);
    lctw_tensor_release(x);
    lctw_tensor_release(s);
    lctw_ctx_release(&c);
    lctw_model_free(m);
}

int main(void) {
    RUN(t_fixture_nsln);
    RUN(t_fixture_groupnorm);
    RUN(t_param_count_paper);
    RUN(t_param_count_paper_groupnorm);
    RUN(t_param_count_layernorm);
    RUN(t_init_statistics);
    RUN(t_gradcheck_nsln);
    RUN(t_gradcheck_layernorm);
    RUN(t_gradcheck_groupnorm);
    RUN(t_config_errors);
    RUN(t_config_json);
    RUN(t_input_errors);
    RUN(t_arena_steady_state);
    RUN(t_no_grad_forward);
    return test_summary();
}
