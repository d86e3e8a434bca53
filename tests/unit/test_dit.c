/* test_dit.c — the DiT (src/nn/dit.c, ALGORITHM.md §2B) against the PyTorch reference.
 *
 * Fixtures (tests/fixtures/dit_*.safetensors, scripts/make_fixtures.py) hold weights under the
 * reference names, an input, σ, a loss weight R and float64 answers: f, F, dL/dθ and dL/dx for
 * L = Σ f(x, σ)·R. The other cases check the parameter counts of the full-size networks
 * (numbers printed by scripts/count_params.py and a closed formula written here), the
 * initialisation rules, a finite-difference gradient check of a whole tiny model, error
 * messages, and that the activation arena stops allocating after warm-up.
 *
 * `test_dit --bench [batch] [steps] [relu]` times forward+backward of DiT-S/2 on 4×32×32 instead.
 */
#include "test.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/ops/ops.h"
#include "core/rng.h"
#include "core/tmath.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "nn/dit.h"

#define F(t) lctw_tensor_data(t)

/* ---- helpers ---- */

static double max_abs(const float *a, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= m)) m = e; /* NaN propagates as the worst */
    }
    return m;
}

/* max|a − b| / max|b| (floor: a denominator of at least `floor`) */
static double rel_err(const lctw_tensor *a, const lctw_tensor *b, double floor) {
    int64_t n = lctw_tensor_numel(b);
    double den = max_abs(F(b), n);
    if (den < floor) den = floor;
    if (den == 0.0) den = 1.0;
    return max_abs_diff(F(a), F(b), n) / den;
}

static lctw_tensor *param(lctw_model *m, const char *name) {
    int i = lctw_params_find(&m->params, name);
    return i < 0 ? NULL : lctw_params_get(&m->params, i);
}

/* The reference initialisation zeroes the adaLN and final layers (F ≡ 0); tests that need
 * non-trivial gradients move every trainable parameter like lctw_ref.perturb_: s = 1/√fan_in
 * for weights of ≥ 2 dims outside norms, 0.2 otherwise; zeros get 0.5·s·N(0,1), others
 * += 0.1·s·N(0,1). */
static void perturb(lctw_model *m, uint64_t seed) {
    uint64_t off = 0;
    for (int i = 0; i < m->params.n; i++) {
        const lctw_param *p = &m->params.p[i];
        if (!p->trainable) continue;
        float *d = F(p->t);
        double s = (p->ndim >= 2 && !strstr(p->name, "norm"))
                       ? 1.0 / sqrt((double)p->numel / (double)p->shape[0])
                       : 0.2;
        int zero = max_abs(d, p->numel) == 0.0;
        for (int64_t k = 0; k < p->numel; k++) {
            double z = lctw_rng_normal_at(seed, 3, off, (uint64_t)k);
            d[k] = zero ? (float)(0.5 * s * z) : (float)(d[k] + 0.1 * s * z);
        }
        off += lctw_rng_blocks((uint64_t)p->numel);
    }
}

static lctw_tensor *randn(int nd, const int64_t *shape, uint64_t seed, float scale) {
    lctw_tensor *t = NULL;
    if (lctw_tensor_empty(&t, nd, shape, LCTW_DEV_CPU) != LCTW_OK) return NULL;
    for (int64_t k = 0; k < lctw_tensor_numel(t); k++)
        F(t)[k] = scale * lctw_rng_normal_at(seed, 5, 0, (uint64_t)k);
    return t;
}

static lctw_dit_config tiny_config(void) {
    lctw_dit_config cfg = {.in_ch = 4,
                           .height = 8,
                           .width = 8,
                           .patch = 2,
                           .hidden = 32,
                           .depth = 2,
                           .heads = 2,
                           .mlp_ratio = 4.0,
                           .act = LCTW_ACT_GELU,
                           .qk_norm = 1};
    return cfg;
}

/* ---- fixtures ---- */

static int json_int(const lctw_json *o, const char *key, int *out) {
    const lctw_json *v = lctw_json_get(o, key);
    if (!v || v->type != LCTW_JSON_NUMBER || !v->is_int) return 0;
    *out = (int)v->i;
    return 1;
}

/* The fixture's "config" (DiT constructor arguments) as an lctw_dit_config. */
static int config_from_fixture(lctw_st_file *f, lctw_dit_config *cfg) {
    const char *js = lctw_st_metadata_get(f, "config");
    lctw_json_doc *doc;
    if (!js || lctw_json_parse(&doc, js, strlen(js), NULL) != LCTW_OK) return 0;
    const lctw_json *r = lctw_json_root(doc), *arch = lctw_json_get(r, "arch"),
                    *act = lctw_json_get(r, "act"), *qk = lctw_json_get(r, "qk_norm"),
                    *mr = lctw_json_get(r, "mlp_ratio");
    int size = 0;
    memset(cfg, 0, sizeof *cfg);
    int ok = arch && arch->type == LCTW_JSON_STRING && !strcmp(arch->str, "DiT") &&
             json_int(r, "input_size", &size) && json_int(r, "patch_size", &cfg->patch) &&
             json_int(r, "in_channels", &cfg->in_ch) && json_int(r, "hidden_size", &cfg->hidden) &&
             json_int(r, "depth", &cfg->depth) && json_int(r, "num_heads", &cfg->heads) && act &&
             act->type == LCTW_JSON_STRING && qk && qk->type == LCTW_JSON_BOOL && mr &&
             mr->type == LCTW_JSON_NUMBER;
    if (ok) {
        cfg->height = cfg->width = size;
        cfg->mlp_ratio = mr->num;
        cfg->act = !strcmp(act->str, "relu") ? LCTW_ACT_RELU : LCTW_ACT_GELU;
        cfg->qk_norm = qk->boolean;
    }
    lctw_json_free(doc);
    return ok;
}

/* 1 if name is listed in the JSON array metadata[key] */
static int listed(lctw_st_file *f, const char *key, const char *name) {
    const char *js = lctw_st_metadata_get(f, key);
    lctw_json_doc *doc;
    if (!js || lctw_json_parse(&doc, js, strlen(js), NULL) != LCTW_OK) return 0;
    const lctw_json *r = lctw_json_root(doc);
    int hit = 0;
    for (size_t i = 0; r->type == LCTW_JSON_ARRAY && i < r->len && !hit; i++)
        hit = r->items[i]->type == LCTW_JSON_STRING && !strcmp(r->items[i]->str, name);
    lctw_json_free(doc);
    return hit;
}

/* The model's parameter names equal the fixture's "params" list, in PyTorch's order. */
static void check_param_order(lctw_st_file *f, lctw_model *m) {
    const char *js = lctw_st_metadata_get(f, "params");
    lctw_json_doc *doc;
    if (!js || lctw_json_parse(&doc, js, strlen(js), NULL) != LCTW_OK) {
        CHECK(0, "fixture has no readable 'params' metadata");
        return;
    }
    const lctw_json *r = lctw_json_root(doc);
    CHECK(r->type == LCTW_JSON_ARRAY && (int)r->len == m->params.n,
          "fixture lists %zu parameters, the model has %d", r->len, m->params.n);
    for (int i = 0; i < m->params.n && i < (int)r->len; i++)
        if (strcmp(r->items[i]->str, m->params.p[i].name)) {
            CHECK(0, "parameter %d is '%s', the reference's is '%s'", i, m->params.p[i].name,
                  r->items[i]->str);
            break;
        }
    lctw_json_free(doc);
}

static void run_fixture(const char *path) {
    lctw_st_file *f = NULL;
    lctw_model *m = NULL;
    lctw_tensor *x = NULL, *sigma = NULL, *R = NULL, *want = NULL, *gx = NULL;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_dit_config cfg;
    if (lctw_st_open(&f, path) != LCTW_OK) {
        CHECK(0, "cannot open %s: %s", path, lctw_error_message());
        goto done;
    }
    CHECK(config_from_fixture(f, &cfg), "%s: unreadable DiT config", path);
    CHECK_OK(lctw_dit_new(&m, &cfg, LCTW_DEV_CPU, 1));
    if (case_failed) goto done;
    check_param_order(f, m);
    CHECK_OK(lctw_model_load(m, path, 0));
    CHECK_OK(lctw_st_load_tensor(&x, f, "_in.x"));
    CHECK_OK(lctw_st_load_tensor(&sigma, f, "_in.sigma"));
    CHECK_OK(lctw_st_load_tensor(&R, f, "_in.R"));
    if (case_failed) goto done;
    x->requires_grad = 1;
    lctw_tensor *y, *Fo;
    CHECK_OK(lctw_params_zero_grad(&m->params));
    CHECK_OK(lctw_model_forward(m, &c, x, sigma, &y, &Fo));
    if (case_failed) goto done;
    CHECK_OK(lctw_backward(&c, y, R));
    if (case_failed) goto done;

    CHECK_OK(lctw_st_load_tensor(&want, f, "_out.y"));
    double ey = want ? rel_err(y, want, 0.0) : 1.0;
    lctw_tensor_release(want);
    want = NULL;
    CHECK_OK(lctw_st_load_tensor(&want, f, "_out.F"));
    double eF = want ? rel_err(Fo, want, 0.0) : 1.0;
    lctw_tensor_release(want);
    want = NULL;
    CHECK(ey < 1e-5, "f: relative error %.3g >= 1e-5", ey);
    CHECK(eF < 1e-5, "F: relative error %.3g >= 1e-5", eF);

    /* the floor for identically-zero gradients: the largest reference gradient entry */
    double gscale = 0.0;
    for (int i = 0; i < m->params.n; i++) {
        char nm[LCTW_PARAM_NAME + 8];
        snprintf(nm, sizeof nm, "_grad.%s", m->params.p[i].name);
        const lctw_st_entry *e = lctw_st_find(f, nm);
        CHECK(!e == !m->params.p[i].trainable,
              "%s: gradient present in the fixture %d, trainable %d", m->params.p[i].name,
              e != NULL, m->params.p[i].trainable);
        if (!e || lctw_st_load_tensor(&want, f, nm) != LCTW_OK) continue;
        double a = max_abs(F(want), lctw_tensor_numel(want));
        if (a > gscale) gscale = a;
        lctw_tensor_release(want);
        want = NULL;
    }
    double eg = 0.0, ez = 0.0;
    const char *worst = "-";
    int ngrad = 0;
    for (int i = 0; i < m->params.n; i++) {
        const lctw_param *p = &m->params.p[i];
        char nm[LCTW_PARAM_NAME + 8];
        snprintf(nm, sizeof nm, "_grad.%s", p->name);
        if (!p->trainable || lctw_st_load_tensor(&want, f, nm) != LCTW_OK) continue;
        int zero = listed(f, "zero_grads", p->name);
        double e = rel_err(p->t->grad, want, zero ? gscale : 0.0);
        ngrad++;
        if (zero) {
            if (e > ez) ez = e;
        } else if (e > eg) {
            eg = e;
            worst = p->name;
        }
        CHECK(e < 1e-4, "gradient of %s: relative error %.3g >= 1e-4%s", p->name, e,
              zero ? " (of the largest gradient: zero_grads entry)" : "");
        lctw_tensor_release(want);
        want = NULL;
    }
    CHECK(ngrad > 0, "no gradients compared");
    CHECK_OK(lctw_st_load_tensor(&want, f, "_grad_in.x"));
    double ex = (want && x->grad) ? rel_err(x->grad, want, 0.0) : 1.0;
    CHECK(ex < 1e-4, "dL/dx: relative error %.3g >= 1e-4", ex);
    test_detail("f %.2g, F %.2g, %d param grads worst %.2g (%s), zero-grad tensors %.2g of max, "
                "dL/dx %.2g",
                ey, eF, ngrad, eg, worst, ez, ex);
done:
    if (x) x->grad = NULL; /* arena gradient: dies with the context */
    lctw_tensor_release(want);
    lctw_tensor_release(x);
    lctw_tensor_release(sigma);
    lctw_tensor_release(R);
    lctw_tensor_release(gx);
    lctw_model_free(m);
    lctw_st_close(f);
    lctw_ctx_release(&c);
}

static void t_fixture_gelu_qknorm(void) { run_fixture("tests/fixtures/dit_tiny.safetensors"); }
static void t_fixture_relu_no_qknorm(void) {
    run_fixture("tests/fixtures/dit_tiny_relu_noqk.safetensors");
}

/* ---- parameter counts ---- */

/* (trainable, frozen) from the layer list of §2B, independent of dit.c */
static void count_formula(int64_t depth, int64_t d, int64_t heads, int64_t patch, int qk,
                          int64_t *trainable, int64_t *frozen) {
    int64_t hd = d / heads, p2c = patch * patch * 4;
    int64_t block = 3 * d * d + 3 * d + (qk ? 4 * hd : 0) + d * d + d + 4 * d * d + 4 * d +
                    4 * d * d + d + 6 * d * d + 6 * d;
    *trainable = depth * block + p2c * d + d + 256 * d + d + d * d + d + d + 2 * d * d + 2 * d +
                 d * p2c + p2c;
    *frozen = (32 / patch) * (32 / patch) * d;
}

static void t_param_counts(void) {
    /* scripts/count_params.py on 4×32×32 (trainable, frozen = pos_embed) */
    static const struct {
        const char *size;
        int patch;
        int64_t trainable, frozen;
        int build; /* also allocate it (data + grad) and compare; L/XL take ~10–30 s to fill */
    } want[] = {
        {"S", 2, 32477968, 98304, 1},   {"S", 4, 32514880, 24576, 0},
        {"S", 8, 32662528, 6144, 1},    {"B", 2, 129538576, 196608, 1},
        {"B", 4, 129612352, 49152, 0},  {"B", 8, 129907456, 12288, 0},
        {"L", 2, 456806416, 262144, 0}, {"L", 4, 456904768, 65536, 0},
        {"L", 8, 457298176, 16384, 0},  {"XL", 2, 673672336, 294912, 0},
        {"XL", 4, 673782976, 73728, 0}, {"XL", 8, 674225536, 18432, 0},
    };
    int built = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0] && !case_failed; i++) {
        lctw_dit_config cfg;
        CHECK_OK(lctw_dit_config_size(&cfg, want[i].size, want[i].patch, 4, 32, 32));
        int64_t ft, ff, t = -1, fz = -1;
        count_formula(cfg.depth, cfg.hidden, cfg.heads, cfg.patch, 1, &ft, &ff);
        CHECK(ft == want[i].trainable && ff == want[i].frozen,
              "DiT-%s/%d: test formula %lld + %lld vs reference %lld + %lld", want[i].size,
              want[i].patch, (long long)ft, (long long)ff, (long long)want[i].trainable,
              (long long)want[i].frozen);
        CHECK_OK(lctw_dit_count_params(&cfg, &t, &fz));
        CHECK(t == want[i].trainable && fz == want[i].frozen,
              "DiT-%s/%d: counted %lld trainable + %lld frozen, reference %lld + %lld",
              want[i].size, want[i].patch, (long long)t, (long long)fz,
              (long long)want[i].trainable, (long long)want[i].frozen);
        if (!want[i].build) continue;
        lctw_model *m = NULL;
        CHECK_OK(lctw_dit_new(&m, &cfg, LCTW_DEV_CPU, 7));
        if (!m) break;
        t = m->params.trainable;
        fz = m->params.total - m->params.trainable;
        CHECK(t == want[i].trainable && fz == want[i].frozen,
              "DiT-%s/%d built: %lld trainable + %lld frozen, reference %lld + %lld", want[i].size,
              want[i].patch, (long long)t, (long long)fz, (long long)want[i].trainable,
              (long long)want[i].frozen);
        CHECK(m->params.grad && lctw_tensor_numel(m->params.grad) == m->params.total,
              "gradient buffer missing or of the wrong size");
        built++;
        lctw_model_free(m);
    }
    test_detail("12 sizes × patches counted (S/2 %lld, B/2 %lld, L/2 %lld, XL/2 %lld trainable "
                "+ frozen pos_embed), %d built",
                (long long)want[0].trainable, (long long)want[3].trainable,
                (long long)want[6].trainable, (long long)want[9].trainable, built);
}

/* ---- initialisation ---- */

typedef struct {
    double mean, std, maxabs;
    int64_t n;
} stats;

static stats tstats(const lctw_tensor *t) {
    stats s = {0, 0, 0, lctw_tensor_numel(t)};
    const float *p = F(t);
    for (int64_t i = 0; i < s.n; i++)
        s.mean += p[i];
    s.mean /= (double)s.n;
    for (int64_t i = 0; i < s.n; i++)
        s.std += (p[i] - s.mean) * (p[i] - s.mean);
    s.std = sqrt(s.std / (double)s.n);
    s.maxabs = max_abs(p, s.n);
    return s;
}

/* xavier U(±b): |w| ≤ b and close to b, mean ≈ 0 and std ≈ b/√3 within 5 standard errors */
static double check_uniform(lctw_model *m, const char *name, int64_t fan_in, int64_t fan_out) {
    lctw_tensor *t = param(m, name);
    if (!t) {
        CHECK(0, "no parameter %s", name);
        return 1.0;
    }
    stats s = tstats(t);
    double b = sqrt(6.0 / (double)(fan_in + fan_out)), sd = b / sqrt(3.0);
    double rel = s.std / sd - 1.0, tol = 5.0 * 0.45 / sqrt((double)s.n);
    CHECK(s.maxabs <= b && s.maxabs > b * (1.0 - 20.0 / (double)s.n),
          "%s: max |w| %.6g, bound %.6g", name, s.maxabs, b);
    CHECK(fabs(s.mean) < 5.0 * sd / sqrt((double)s.n), "%s: mean %.3g (std %.3g, n %lld)", name,
          s.mean, sd, (long long)s.n);
    CHECK(fabs(rel) < tol, "%s: std %.6g, expected %.6g (%.2f%%, tolerance %.2f%%)", name, s.std,
          sd, 100 * rel, 100 * tol);
    return fabs(rel);
}

static double check_normal(lctw_model *m, const char *name, double std) {
    lctw_tensor *t = param(m, name);
    if (!t) {
        CHECK(0, "no parameter %s", name);
        return 1.0;
    }
    stats s = tstats(t);
    double rel = s.std / std - 1.0, tol = 5.0 / sqrt(2.0 * (double)s.n);
    CHECK(fabs(s.mean) < 5.0 * std / sqrt((double)s.n), "%s: mean %.3g", name, s.mean);
    CHECK(fabs(rel) < tol, "%s: std %.6g, expected %.6g (tolerance %.1f%%)", name, s.std, std,
          100 * tol);
    CHECK(s.maxabs < 7.0 * std, "%s: max |w| %.3g for std %.3g", name, s.maxabs, std);
    return fabs(rel);
}

static void check_const(lctw_model *m, const char *name, float v) {
    lctw_tensor *t = param(m, name);
    if (!t) {
        CHECK(0, "no parameter %s", name);
        return;
    }
    for (int64_t i = 0; i < lctw_tensor_numel(t); i++)
        if (F(t)[i] != v) {
            CHECK(0, "%s[%lld] = %g, expected exactly %g", name, (long long)i, F(t)[i], v);
            return;
        }
}

static void t_init_rules(void) {
    /* DiT-S width on 4×32×32, two blocks: the full S/2 has the same per-layer shapes */
    lctw_dit_config cfg;
    lctw_model *m = NULL;
    CHECK_OK(lctw_dit_config_size(&cfg, "S", 2, 4, 32, 32));
    cfg.depth = 2;
    CHECK_OK(lctw_dit_new(&m, &cfg, LCTW_DEV_CPU, 1234));
    if (!m) return;
    int64_t D = cfg.hidden;
    double worst_u = 0.0, worst_n = 0.0, e;
    char nm[96];
    e = check_uniform(m, "x_embedder.proj.weight", 4 * 2 * 2, D);
    worst_u = fmax(worst_u, e);
    check_const(m, "x_embedder.proj.bias", 0.0f);
    worst_n = fmax(worst_n, check_normal(m, "t_embedder.mlp.0.weight", 0.02));
    worst_n = fmax(worst_n, check_normal(m, "t_embedder.mlp.2.weight", 0.02));
    worst_n = fmax(worst_n, check_normal(m, "y_embedder.embedding_table.weight", 0.02));
    check_const(m, "t_embedder.mlp.0.bias", 0.0f);
    check_const(m, "t_embedder.mlp.2.bias", 0.0f);
    for (int b = 0; b < cfg.depth; b++) {
        static const struct {
            const char *n;
            int fi, fo; /* in multiples of D */
        } lin[] = {{"attn.qkv", 1, 3}, {"attn.proj", 1, 1}, {"mlp.fc1", 1, 4}, {"mlp.fc2", 4, 1}};
        for (int k = 0; k < 4; k++) {
            snprintf(nm, sizeof nm, "blocks.%d.%s.weight", b, lin[k].n);
            worst_u = fmax(worst_u, check_uniform(m, nm, lin[k].fi * D, lin[k].fo * D));
            snprintf(nm, sizeof nm, "blocks.%d.%s.bias", b, lin[k].n);
            check_const(m, nm, 0.0f);
        }
        snprintf(nm, sizeof nm, "blocks.%d.attn.q_norm.weight", b);
        check_const(m, nm, 1.0f);
        snprintf(nm, sizeof nm, "blocks.%d.attn.k_norm.weight", b);
        check_const(m, nm, 1.0f);
        snprintf(nm, sizeof nm, "blocks.%d.attn.q_norm.bias", b);
        check_const(m, nm, 0.0f);
        snprintf(nm, sizeof nm, "blocks.%d.attn.k_norm.bias", b);
        check_const(m, nm, 0.0f);
        snprintf(nm, sizeof nm, "blocks.%d.adaLN_modulation.1.weight", b);
        check_const(m, nm, 0.0f);
        snprintf(nm, sizeof nm, "blocks.%d.adaLN_modulation.1.bias", b);
        check_const(m, nm, 0.0f);
    }
    check_const(m, "final_layer.adaLN_modulation.1.weight", 0.0f);
    check_const(m, "final_layer.adaLN_modulation.1.bias", 0.0f);
    check_const(m, "final_layer.linear.weight", 0.0f);
    check_const(m, "final_layer.linear.bias", 0.0f);

    /* pos_embed: the MAE table, computed here in double (token t = i·16 + j: first half the
     * column j, second half the row i, each [sin, cos]) */
    lctw_tensor *pe = param(m, "pos_embed");
    int64_t g = 16, q = D / 4;
    double pe_err = 0.0;
    for (int64_t i = 0; pe && i < g; i++)
        for (int64_t j = 0; j < g; j++)
            for (int64_t k = 0; k < q; k++) {
                double w = pow(10000.0, -(double)k / (double)q);
                const float *row = F(pe) + (i * g + j) * D;
                double ref[4] = {sin(j * w), cos(j * w), sin(i * w), cos(i * w)};
                for (int s = 0; s < 4; s++)
                    pe_err = fmax(pe_err, fabs(row[s * q + k] - ref[s]));
            }
    CHECK(pe && !pe->requires_grad, "pos_embed must exist and be frozen");
    CHECK(pe_err < 1e-6, "pos_embed differs from the MAE sin-cos table by %.3g", pe_err);

    /* deterministic from the seed; another seed gives other weights */
    lctw_model *m2 = NULL, *m3 = NULL;
    CHECK_OK(lctw_dit_new(&m2, &cfg, LCTW_DEV_CPU, 1234));
    CHECK_OK(lctw_dit_new(&m3, &cfg, LCTW_DEV_CPU, 1235));
    if (m2 && m3) {
        size_t nb = (size_t)m->params.total * sizeof(float);
        CHECK(!memcmp(F(m->params.data), F(m2->params.data), nb), "same seed, different weights");
        CHECK(memcmp(F(m->params.data), F(m3->params.data), nb), "seeds 1234 and 1235 agree");
    }
    /* re-initialising restores the rules after training moved the weights */
    if (m2) {
        perturb(m2, 5);
        CHECK_OK(m2->vt->init(m2, 1234));
        CHECK(
            !memcmp(F(m->params.data), F(m2->params.data), (size_t)m->params.total * sizeof(float)),
            "init(seed) after a perturbation differs from a fresh model");
    }
    lctw_model_free(m2);
    lctw_model_free(m3);
    test_detail("xavier std worst %.2f%% off, N(0, 0.02) std worst %.2f%% off, pos_embed %.1g",
                100 * worst_u, 100 * worst_n, pe_err);
    lctw_model_free(m);
}

/* With the reference initialisation (zero final layer) F ≡ 0, so f(x, σ) = c_skip·x. */
static void t_init_output_is_skip(void) {
    lctw_dit_config cfg = tiny_config();
    lctw_model *m = NULL;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    int64_t xs[4] = {3, 4, 8, 8}, ss[1] = {3};
    lctw_tensor *x = randn(4, xs, 11, 1.0f), *sigma = NULL;
    CHECK_OK(lctw_tensor_empty(&sigma, 1, ss, LCTW_DEV_CPU));
    CHECK_OK(lctw_dit_new(&m, &cfg, LCTW_DEV_CPU, 3));
    if (!m || !sigma || !x) goto done;
    float sg[3] = {0.002f, 0.7f, 80.0f};
    memcpy(F(sigma), sg, sizeof sg);
    lctw_tensor *y, *Fo;
    CHECK_OK(lctw_model_forward(m, &c, x, sigma, &y, &Fo));
    if (case_failed) goto done;
    CHECK(max_abs(F(Fo), lctw_tensor_numel(Fo)) == 0.0, "F is not exactly 0 at initialisation");
    double worst = 0.0;
    for (int b = 0; b < 3; b++) {
        double cs = 0.25 / ((sg[b] - 0.002) * (sg[b] - 0.002) + 0.25);
        for (int64_t k = 0; k < 256; k++)
            worst = fmax(worst, fabs(F(y)[b * 256 + k] - cs * F(x)[b * 256 + k]));
    }
    CHECK(worst < 1e-6, "f differs from c_skip·x by %.3g", worst);
    test_detail("max |f − c_skip·x| %.2g", worst);
done:
    lctw_tensor_release(x);
    lctw_tensor_release(sigma);
    lctw_model_free(m);
    lctw_ctx_release(&c);
}

/* ---- finite differences through the whole model ---- */

static double loss_of(lctw_model *m, lctw_ctx *c, lctw_tensor *x, lctw_tensor *sigma,
                      const lctw_tensor *R, lctw_status *st) {
    lctw_tensor *y;
    *st = lctw_ctx_reset(c);
    if (*st == LCTW_OK) *st = lctw_model_forward(m, c, x, sigma, &y, NULL);
    if (*st != LCTW_OK) return 0.0;
    double L = 0.0;
    for (int64_t i = 0; i < lctw_tensor_numel(y); i++)
        L += (double)F(y)[i] * F(R)[i];
    return L;
}

/* Compares ∂L/∂v[k] from the tape with (L(v + ε) − L(v − ε)) / 2ε for element k of v (a
 * parameter's data or the input); returns the error in units of the tolerance. */
static double fd_one(lctw_model *m, lctw_ctx *c, lctw_tensor *x, lctw_tensor *sigma,
                     const lctw_tensor *R, float *v, float analytic, double eps, const char *what,
                     int64_t k) {
    float v0 = *v;
    lctw_status st;
    *v = (float)(v0 + eps);
    double lp = loss_of(m, c, x, sigma, R, &st);
    double h = (double)*v;
    *v = (float)(v0 - eps);
    double lm = loss_of(m, c, x, sigma, R, &st);
    h -= (double)*v;
    *v = v0;
    if (st != LCTW_OK) {
        CHECK(0, "forward failed: %s", lctw_error_message());
        return 1e9;
    }
    double num = (lp - lm) / h, err = fabs(analytic - num) / (2e-3 + 2e-2 * fabs(num));
    if (err > 1.0)
        CHECK(0, "%s[%lld]: backward %.6g, finite difference %.6g", what, (long long)k, analytic,
              num);
    return err;
}

static void gradcheck_model(int act, int qk) {
    lctw_dit_config cfg = {.in_ch = 4,
                           .height = 4,
                           .width = 8,
                           .patch = 2,
                           .hidden = 16,
                           .depth = 2,
                           .heads = 2,
                           .mlp_ratio = 2.0,
                           .act = act,
                           .qk_norm = qk};
    lctw_model *m = NULL;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    int64_t xs[4] = {2, 4, 4, 8}, ss[1] = {2};
    lctw_tensor *x = randn(4, xs, 21, 1.0f), *R = randn(4, xs, 22, 1.0f), *sigma = NULL, *gx = NULL;
    CHECK_OK(lctw_tensor_empty(&sigma, 1, ss, LCTW_DEV_CPU));
    CHECK_OK(lctw_dit_new(&m, &cfg, LCTW_DEV_CPU, 9));
    if (!m || !x || !R || !sigma) goto done;
    F(sigma)[0] = 0.3f;
    F(sigma)[1] = 4.0f;
    perturb(m, 17);
    /* analytic gradients */
    lctw_tensor *y;
    x->requires_grad = 1;
    CHECK_OK(lctw_params_zero_grad(&m->params));
    CHECK_OK(lctw_model_forward(m, &c, x, sigma, &y, NULL));
    if (case_failed) goto done;
    CHECK_OK(lctw_backward(&c, y, R));
    if (case_failed || !x->grad) goto done;
    CHECK_OK(lctw_tensor_clone(&gx, x->grad));
    x->grad = NULL;
    x->requires_grad = 0;
    lctw_ctx_set_grad(&c, 0);
    /* 3 elements of every trainable tensor and 8 of the input; ReLU's kinks need a smaller step
     * (a step across a kink breaks the difference quotient) */
    double worst = 0.0, e0 = act == LCTW_ACT_RELU ? 1e-3 : 1e-2;
    int n = 0;
    for (int i = 0; i < m->params.n && !case_failed; i++) {
        const lctw_param *p = &m->params.p[i];
        if (!p->trainable) continue;
        for (int s = 0; s < 3 && !case_failed; s++) {
            int64_t k = (int64_t)((s * 2 + 1) * p->numel / 6);
            double eps = e0 * fmax(1.0, fabs(F(p->t)[k]));
            worst = fmax(
                worst, fd_one(m, &c, x, sigma, R, F(p->t) + k, F(p->t->grad)[k], eps, p->name, k));
            n++;
        }
    }
    for (int s = 0; s < 8 && !case_failed && gx; s++) {
        int64_t k = (int64_t)(s * 37 + 5) % lctw_tensor_numel(x);
        worst = fmax(worst, fd_one(m, &c, x, sigma, R, F(x) + k, F(gx)[k], e0, "x", k));
        n++;
    }
    test_detail("%d elements (3 per trainable tensor + 8 of x), eps %g, worst %.3f of tolerance", n,
                e0, worst);
done:
    if (x) x->grad = NULL;
    lctw_tensor_release(x);
    lctw_tensor_release(R);
    lctw_tensor_release(sigma);
    lctw_tensor_release(gx);
    lctw_model_free(m);
    lctw_ctx_release(&c);
}

static void t_finite_differences_gelu_qknorm(void) { gradcheck_model(LCTW_ACT_GELU, 1); }
static void t_finite_differences_relu_no_qknorm(void) { gradcheck_model(LCTW_ACT_RELU, 0); }

/* ---- errors ---- */

static void expect_fail(lctw_status got, lctw_status want, const char *needle, const char *what) {
    const char *msg = lctw_error_message();
    CHECK(got == want, "%s: status %s, expected %s", what, lctw_status_name(got),
          lctw_status_name(want));
    CHECK(got == LCTW_OK || strstr(msg, needle), "%s: message '%s' lacks '%s'", what, msg, needle);
}

static void t_bad_configs(void) {
    lctw_dit_config cfg;
    lctw_model *m = (lctw_model *)1;
    expect_fail(lctw_dit_config_size(&cfg, "M", 2, 4, 32, 32), LCTW_EINVAL, "'M' is unknown",
                "size M");
    expect_fail(lctw_dit_config_size(&cfg, "S", 3, 4, 32, 32), LCTW_EINVAL,
                "32×32 is not divisible into 3×3 patches", "patch 3");
    CHECK_OK(lctw_dit_config_size(&cfg, "xl", 8, 4, 32, 32));
    CHECK(cfg.depth == 28 && cfg.hidden == 1152 && cfg.heads == 16, "XL is %d/%d/%d", cfg.depth,
          cfg.hidden, cfg.heads);
    static const struct {
        const char *field;
        int value;
        const char *needle;
    } bad[] = {
        {"in_ch", 0, "in_ch must be in 1..4096, got 0"},
        {"height", 0, "input size 0×8"},
        {"patch", 0, "patch must be in 1..64"},
        {"hidden", 30, "multiple of 4"},
        {"heads", 3, "hidden 32 does not split into 3 heads"},
        {"depth", 0, "depth must be in 1..1024, got 0"},
        {"act", 7, "act must be gelu (0) or relu (1), got 7"},
        {"qk_norm", 2, "qk_norm must be 0 or 1, got 2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg = tiny_config();
        if (!strcmp(bad[i].field, "in_ch")) cfg.in_ch = bad[i].value;
        if (!strcmp(bad[i].field, "height")) cfg.height = bad[i].value;
        if (!strcmp(bad[i].field, "patch")) cfg.patch = bad[i].value;
        if (!strcmp(bad[i].field, "hidden")) cfg.hidden = bad[i].value;
        if (!strcmp(bad[i].field, "heads")) cfg.heads = bad[i].value;
        if (!strcmp(bad[i].field, "depth")) cfg.depth = bad[i].value;
        if (!strcmp(bad[i].field, "act")) cfg.act = (lctw_act_kind)bad[i].value;
        if (!strcmp(bad[i].field, "qk_norm")) cfg.qk_norm = bad[i].value;
        m = (lctw_model *)1;
        expect_fail(lctw_dit_new(&m, &cfg, LCTW_DEV_CPU, 1), LCTW_EINVAL, bad[i].needle,
                    bad[i].field);
        CHECK(m == NULL, "%s: *out not cleared on failure", bad[i].field);
    }
    cfg = tiny_config();
    cfg.mlp_ratio = 0.0;
    expect_fail(lctw_dit_config_check(&cfg), LCTW_EINVAL, "mlp_ratio 0", "mlp_ratio 0");
    cfg.mlp_ratio = NAN;
    expect_fail(lctw_dit_config_check(&cfg), LCTW_EINVAL, "mlp_ratio", "mlp_ratio NaN");
}

static void t_bad_inputs(void) {
    lctw_dit_config cfg = tiny_config();
    lctw_model *m = NULL;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    int64_t xs[4] = {2, 3, 8, 8}, xs2[4] = {2, 4, 8, 6}, ss[1] = {3}, ok_s[1] = {2};
    lctw_tensor *x3 = randn(4, xs, 1, 1.0f), *x6 = randn(4, xs2, 1, 1.0f), *s3 = NULL, *s2 = NULL;
    lctw_tensor *y, *cn;
    CHECK_OK(lctw_tensor_full(&s3, 1, ss, LCTW_DEV_CPU, 1.0f));
    CHECK_OK(lctw_tensor_full(&s2, 1, ok_s, LCTW_DEV_CPU, 1.0f));
    CHECK_OK(lctw_dit_new(&m, &cfg, LCTW_DEV_CPU, 1));
    if (!m || !x3 || !x6 || !s3 || !s2) goto done;
    expect_fail(lctw_model_forward(m, &c, x3, s2, &y, NULL), LCTW_ESHAPE,
                "model input is 2×3×8×8, expected 2×4×8×8", "3 channels");
    expect_fail(lctw_model_forward(m, &c, x6, s2, &y, NULL), LCTW_ESHAPE, "expected 2×4×8×8",
                "width 6");
    int64_t xs4[4] = {2, 4, 8, 8};
    lctw_tensor *x = randn(4, xs4, 2, 1.0f);
    expect_fail(lctw_model_forward(m, &c, x, s3, &y, NULL), LCTW_ESHAPE, "one value per sample (2)",
                "3 sigmas for 2 samples");
    /* the network itself checks too (callers may bypass the wrapper) */
    expect_fail(m->vt->net_forward(m, &c, x3, s2, &y), LCTW_ESHAPE,
                "DiT input is 2×3×8×8, expected 2×4×8×8", "net_forward x");
    expect_fail(m->vt->net_forward(m, &c, x, s3, &y), LCTW_ESHAPE,
                "DiT c_noise is 3, expected one value per sample (2)", "net_forward c_noise");
    (void)cn;
    /* a checkpoint of another configuration names the mismatching tensor */
    lctw_model *big = NULL;
    cfg.hidden = 64;
    CHECK_OK(lctw_dit_new(&big, &cfg, LCTW_DEV_CPU, 1));
    if (big)
        expect_fail(lctw_model_load(big, "tests/fixtures/dit_tiny.safetensors", 0), LCTW_EFORMAT,
                    "'pos_embed': shape 1×16×32 in file, model expects 1×16×64", "wrong width");
    lctw_model_free(big);
    /* and one without qk-norm misses those names */
    cfg = tiny_config();
    CHECK_OK(lctw_dit_new(&big, &cfg, LCTW_DEV_CPU, 1));
    if (big)
        expect_fail(lctw_model_load(big, "tests/fixtures/dit_tiny_relu_noqk.safetensors", 0),
                    LCTW_EFORMAT, "'blocks.0.attn.q_norm.weight' is missing", "no qk-norm file");
    lctw_model_free(big);
    lctw_tensor_release(x);
done:
    lctw_tensor_release(x3);
    lctw_tensor_release(x6);
    lctw_tensor_release(s3);
    lctw_tensor_release(s2);
    lctw_model_free(m);
    lctw_ctx_release(&c);
}

/* ---- checkpoint config and round trip ---- */

static void t_checkpoint_round_trip(void) {
    lctw_dit_config cfg = tiny_config();
    cfg.act = LCTW_ACT_RELU;
    lctw_model *a = NULL, *b = NULL;
    char path[64];
    snprintf(path, sizeof path, "/tmp/lctw_test_dit_%d.safetensors", (int)getpid());
    CHECK_OK(lctw_dit_new(&a, &cfg, LCTW_DEV_CPU, 1));
    CHECK_OK(lctw_dit_new(&b, &cfg, LCTW_DEV_CPU, 2));
    if (!a || !b) goto done;
    perturb(a, 4);
    CHECK(a->config_json && strstr(a->config_json, "\"arch\":\"DiT\"") &&
              strstr(a->config_json, "\"act\":\"relu\"") &&
              strstr(a->config_json, "\"hidden_size\":32") &&
              strstr(a->config_json, "\"qk_norm\":true"),
          "config_json %s", a->config_json ? a->config_json : "(null)");
    CHECK_OK(lctw_model_save(a, path));
    CHECK_OK(lctw_model_load(b, path, 0));
    CHECK(!memcmp(F(a->params.data), F(b->params.data), (size_t)a->params.total * sizeof(float)),
          "weights differ after save and load");
    char desc[512];
    a->vt->describe(a, desc, sizeof desc);
    CHECK(strstr(desc, "16 tokens") && strstr(desc, "ReLU"), "describe: %s", desc);
    test_detail("%s", a->config_json);
done:
    remove(path);
    lctw_model_free(a);
    lctw_model_free(b);
}

/* ---- steady state ---- */

static lctw_status train_step(lctw_model *m, lctw_ctx *c, lctw_tensor *x, lctw_tensor *sigma,
                              lctw_tensor *R) {
    lctw_tensor *y;
    LCTW_TRY(lctw_ctx_reset(c));
    LCTW_TRY(lctw_params_zero_grad(&m->params));
    LCTW_TRY(lctw_model_forward(m, c, x, sigma, &y, NULL));
    return lctw_backward(c, y, R);
}

static void t_arena_steady_state(void) {
    lctw_dit_config cfg = {.in_ch = 4,
                           .height = 16,
                           .width = 16,
                           .patch = 2,
                           .hidden = 64,
                           .depth = 3,
                           .heads = 4,
                           .mlp_ratio = 4.0,
                           .act = LCTW_ACT_GELU,
                           .qk_norm = 1};
    lctw_model *m = NULL;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 1 << 16); /* small first chunk: warm-up must grow it */
    int64_t xs[4] = {4, 4, 16, 16}, ss[1] = {4};
    lctw_tensor *x = randn(4, xs, 1, 1.0f), *R = randn(4, xs, 2, 1.0f), *sigma = NULL;
    CHECK_OK(lctw_tensor_full(&sigma, 1, ss, LCTW_DEV_CPU, 2.0f));
    CHECK_OK(lctw_dit_new(&m, &cfg, LCTW_DEV_CPU, 1));
    if (!m || !x || !R || !sigma) goto done;
    perturb(m, 3);
    int64_t allocs[6];
    size_t used[6];
    int nodes[6];
    for (int s = 0; s < 6 && !case_failed; s++) {
        CHECK_OK(train_step(m, &c, x, sigma, R));
        allocs[s] = c.arena.n_allocs;
        used[s] = c.arena.used;
        nodes[s] = c.n_nodes;
    }
    if (case_failed) goto done;
    CHECK(allocs[1] > 0, "the arena never allocated");
    CHECK(allocs[5] == allocs[2],
          "arena chunk allocations still growing: %lld after step 3, %lld "
          "after step 6",
          (long long)allocs[2], (long long)allocs[5]);
    CHECK(used[5] == used[1] && nodes[5] == nodes[1], "steps differ: %zu/%zu bytes, %d/%d nodes",
          used[1], used[5], nodes[1], nodes[5]);
    test_detail("%lld chunk allocations during warm-up, none after; %.1f MiB and %d tape nodes "
                "per step",
                (long long)allocs[5], used[5] / 1048576.0, nodes[5]);
done:
    lctw_tensor_release(x);
    lctw_tensor_release(R);
    lctw_tensor_release(sigma);
    lctw_model_free(m);
    lctw_ctx_release(&c);
}

/* ---- benchmark (not part of the test run) ---- */

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

static int bench(int batch, int steps, int relu) {
    lctw_dit_config cfg;
    lctw_model *m = NULL;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    int64_t xs[4] = {batch, 4, 32, 32}, ss[1] = {batch};
    lctw_tensor *x = randn(4, xs, 1, 1.0f), *R = randn(4, xs, 2, 1.0f), *sigma = NULL;
    lctw_status st = lctw_dit_config_size(&cfg, "S", 2, 4, 32, 32);
    cfg.act = relu ? LCTW_ACT_RELU : LCTW_ACT_GELU;
    if (st == LCTW_OK) st = lctw_dit_new(&m, &cfg, LCTW_DEV_CPU, 1);
    if (st == LCTW_OK) st = lctw_tensor_full(&sigma, 1, ss, LCTW_DEV_CPU, 1.0f);
    if (st != LCTW_OK) {
        fprintf(stderr, "bench: %s\n", lctw_error_message());
        return 1;
    }
    char desc[512]; /* the reference init leaves zeros, but GEMM costs do not depend on values */
    m->vt->describe(m, desc, sizeof desc);
    printf("%s\nbatch %d, %d timed steps after 1 warm-up\n", desc, batch, steps);
    double tf = 0, tb = 0, cpu = 0;
    for (int s = 0; s <= steps; s++) {
        double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        lctw_tensor *y;
        double t0 = now_s();
        lctw_ctx_reset(&c);
        lctw_params_zero_grad(&m->params);
        if (lctw_model_forward(m, &c, x, sigma, &y, NULL) != LCTW_OK) break;
        double t1 = now_s();
        if (lctw_backward(&c, y, R) != LCTW_OK) break;
        double t2 = now_s();
        if (s) {
            tf += t1 - t0;
            tb += t2 - t1;
            cpu += clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        }
        printf("step %d: forward %.3f s, backward %.3f s\n", s, t1 - t0, t2 - t1);
    }
    printf("per sample: forward %.1f ms, backward %.1f ms, total %.1f ms (%.2f samples/s)\n",
           1e3 * tf / steps / batch, 1e3 * tb / steps / batch, 1e3 * (tf + tb) / steps / batch,
           steps * batch / (tf + tb));
    printf("CPU time (all threads) per sample %.1f ms; wall/CPU %.2f\n", 1e3 * cpu / steps / batch,
           (tf + tb) / cpu);
    printf("arena %.1f MiB, %d tape nodes\n", c.arena.used / 1048576.0, c.n_nodes);
    lctw_tensor_release(x);
    lctw_tensor_release(R);
    lctw_tensor_release(sigma);
    lctw_model_free(m);
    lctw_ctx_release(&c);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--bench"))
        return bench(argc > 2 ? atoi(argv[2]) : 8, argc > 3 ? atoi(argv[3]) : 3,
                     argc > 4 && !strcmp(argv[4], "relu"));
    RUN(t_fixture_gelu_qknorm);
    RUN(t_fixture_relu_no_qknorm);
    RUN(t_finite_differences_gelu_qknorm);
    RUN(t_finite_differences_relu_no_qknorm);
    RUN(t_init_rules);
    RUN(t_init_output_is_skip);
    RUN(t_param_counts);
    RUN(t_bad_configs);
    RUN(t_bad_inputs);
    RUN(t_checkpoint_round_trip);
    RUN(t_arena_steady_state);
    return test_summary();
}
