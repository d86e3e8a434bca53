/* test_step_cuda.c — the whole training step on CUDA against the same step on the CPU
 * (src/ct/trainer.c with kernels/ct_step.cu and the op twins), plus sampling, checkpoints from a
 * CUDA trainer and the out-of-memory error.
 *
 * Each step case builds the same tiny model twice (same seed: the initialisation is computed on
 * the host, so both start from identical parameters), one trainer per device with the paper's
 * recipe (Cauchy + diffusion loss, OT, RAdam, three EMAs; lr 1e-3 so a step moves θ visibly),
 * the same data and the same seed, runs k steps on each and compares:
 *   - the step's loss, grad norm, ot_gain and batch statistics (relative 1e-4 … 1e-3);
 *   - the parameter change Δθ = θ_k − θ_0: ‖Δθ_cuda − Δθ_cpu‖ / ‖Δθ_cpu‖ ≤ 2e-3 after one
 *     step, 1e-2 after seven (RAdam's normalised updates amplify rounding differences);
 *   - the first EMA the same way, and the optimizer's second moment v.
 * The noise, the index draws and the data are the same numbers on both devices by construction
 * (Philox, rng.h); the GEMMs differ in summation order (TF32 stays off), hence the tolerances.
 * Without a device every case prints SKIP "no CUDA device" (one line per case).
 */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/tmath.h"
#include "ct/data.h"
#include "ct/sample.h"
#include "ct/trainer.h"
#include "lctw_cuda.h"
#include "lua/lctw_lua.h"
#include "nn/dit.h"
#include "nn/unet.h"

#define NEED_DEVICE()                                                                              \
    do {                                                                                           \
        if (lctw_cuda_device_count() <= 0) SKIP("%s", lctw_cuda_describe());                       \
    } while (0)

static void tiny_unet(lctw_unet_config *cfg) {
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
    cfg->norm = cfg->last_norm = LCTW_NORM_NSLN;
}

static lctw_dit_config tiny_dit(void) {
    lctw_dit_config cfg = {.in_ch = 4, .height = 8, .width = 8, .patch = 2, .hidden = 32, .depth = 2,
                           .heads = 2, .mlp_ratio = 4.0, .act = LCTW_ACT_GELU, .qk_norm = 1};
    return cfg;
}

static lctw_status new_model(int dit, lctw_device dev, lctw_model **m) {
    if (dit) {
        lctw_dit_config c = tiny_dit();
        return lctw_dit_new(m, &c, dev, 11);
    }
    lctw_unet_config c;
    tiny_unet(&c);
    return lctw_unet_new(m, &c, dev, 11);
}

/* 48 samples of 4×8×8 from Philox normals with a few heavy-tailed entries. */
static lctw_status new_data(lctw_data **d) {
    int64_t shp[4] = {48, 4, 8, 8};
    lctw_tensor *z = NULL;
    LCTW_TRY(lctw_tensor_empty(&z, 4, shp, LCTW_DEV_CPU));
    lctw_rng r = {5, 0, 77};
    lctw_status s = lctw_fill_normal(z, &r);
    float *p = lctw_tensor_data(z);
    for (int64_t i = 0; i < lctw_tensor_numel(z); i += 97) p[i] *= 6.0f;
    if (s == LCTW_OK) s = lctw_data_from_tensor(d, z, "float32", "test", NULL);
    lctw_tensor_release(z);
    return s;
}

static void config(lctw_trainer_config *c) {
    lctw_trainer_config_paper(c, 8, 100);
    c->optim.lr = 1e-3;
    c->seed = 3;
}

/* ‖a − b‖ / ‖b − base‖ over n host floats (a, b: two results; base: the common start). */
static double rel_change_err(const float *a, const float *b, const float *base, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i], dl = (double)b[i] - (base ? base[i] : 0.0f);
        num += e * e;
        den += dl * dl;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static float *to_host(const lctw_tensor *t) {
    int64_t n = lctw_tensor_numel(t);
    float *h = malloc((size_t)n * sizeof *h);
    lctw_tensor *c = NULL;
    if (!h || lctw_tensor_to(&c, (lctw_tensor *)t, LCTW_DEV_CPU) != LCTW_OK) {
        free(h);
        return NULL;
    }
    memcpy(h, lctw_tensor_data(c), (size_t)n * sizeof *h);
    lctw_tensor_release(c);
    return h;
}

static int close_rel(double a, double b, double rtol) {
    return (isnan(a) && isnan(b)) || fabs(a - b) <= rtol * fabs(b) + 1e-12;
}

static void run_steps(int dit, int steps) {
    NEED_DEVICE();
    lctw_model *mc = NULL, *mg = NULL;
    lctw_data *dc = NULL, *dg = NULL;
    lctw_trainer *tc = NULL, *tg = NULL;
    float *base = NULL, *pc = NULL, *pg = NULL, *ec = NULL, *eg = NULL, *vc = NULL, *vg = NULL;
    lctw_trainer_config cfg;
    config(&cfg);
    CHECK_OK(new_model(dit, LCTW_DEV_CPU, &mc));
    CHECK_OK(new_model(dit, LCTW_DEV_CUDA, &mg));
    CHECK_OK(new_data(&dc));
    CHECK_OK(new_data(&dg));
    if (case_failed) goto done;
    base = to_host(mc->params.data);
    CHECK_OK(lctw_trainer_new(&tc, &cfg, mc, dc, NULL));
    CHECK_OK(lctw_trainer_new(&tg, &cfg, mg, dg, NULL));
    if (case_failed) goto done;
    double worst = 0;
    for (int k = 0; k < steps && !case_failed; k++) {
        lctw_step_metrics a, b;
        CHECK_OK(lctw_trainer_step(tc, &a));
        CHECK_OK(lctw_trainer_step(tg, &b));
        if (case_failed) break;
        CHECK(a.skipped == b.skipped, "step %d: skipped cpu %d cuda %d", k + 1, a.skipped, b.skipped);
        CHECK(close_rel(b.loss, a.loss, 1e-3), "step %d: loss cuda %.9g cpu %.9g", k + 1, b.loss, a.loss);
        CHECK(close_rel(b.loss_diff, a.loss_diff, 1e-3), "step %d: loss_diff cuda %.9g cpu %.9g",
              k + 1, b.loss_diff, a.loss_diff);
        CHECK(close_rel(b.grad_norm, a.grad_norm, 2e-3), "step %d: grad_norm cuda %.9g cpu %.9g",
              k + 1, b.grad_norm, a.grad_norm);
        CHECK(fabs(b.ot_gain - a.ot_gain) <= 1e-4, "step %d: ot_gain cuda %.9g cpu %.9g", k + 1,
              b.ot_gain, a.ot_gain);
        CHECK(close_rel(b.latent_std, a.latent_std, 1e-5), "step %d: latent_std cuda %.9g cpu %.9g",
              k + 1, b.latent_std, a.latent_std);
        CHECK(b.diff_count == a.diff_count, "step %d: diff_count cuda %lld cpu %lld", k + 1,
              (long long)b.diff_count, (long long)a.diff_count);
        double e = fabs(b.loss - a.loss) / (fabs(a.loss) + 1e-30);
        if (e > worst) worst = e;
    }
    if (case_failed) goto done;
    int64_t n = mc->params.total;
    pc = to_host(mc->params.data);
    pg = to_host(mg->params.data);
    ec = to_host(tc->ema->avg[0]);
    eg = to_host(tg->ema->avg[0]);
    vc = to_host(tc->opt->v);
    vg = to_host(tg->opt->v);
    CHECK(base && pc && pg && ec && eg && vc && vg, "out of memory");
    if (case_failed) goto done;
    double dp = rel_change_err(pg, pc, base, n), de = rel_change_err(eg, ec, base, n);
    double dv = rel_change_err(vg, vc, NULL, n);
    /* after RAdam's first steps the update is normalised (m/√v): every element moves by
     * about lr whatever its gradient, so rounding differences weigh more */
    double tol = steps == 1 ? 2e-3 : 1e-2;
    CHECK(dp <= tol, "parameter change differs: relative %.3g (tolerance %g)", dp, tol);
    CHECK(de <= tol, "EMA change differs: relative %.3g (tolerance %g)", de, tol);
    CHECK(dv <= tol, "optimizer v differs: relative %.3g (tolerance %g)", dv, tol);
    CHECK(tg->rng_noise.offset == tc->rng_noise.offset && tg->rng_index.offset == tc->rng_index.offset,
          "RNG offsets differ");
    test_detail("%d steps: loss rel %.2g, dθ rel %.2g, EMA rel %.2g, v rel %.2g", steps, worst, dp,
                de, dv);
done:
    lctw_trainer_free(tc);
    lctw_trainer_free(tg);
    lctw_model_free(mc);
    lctw_model_free(mg);
    lctw_data_free(dc);
    lctw_data_free(dg);
    free(base);
    free(pc);
    free(pg);
    free(ec);
    free(eg);
    free(vc);
    free(vg);
}

static void t_unet_one_step(void) { run_steps(0, 1); }
static void t_unet_steps(void) { run_steps(0, 7); } /* past RAdam's unrectified first steps */
static void t_dit_one_step(void) { run_steps(1, 1); }
static void t_dit_steps(void) { run_steps(1, 7); }

/* 2-step sampling of 5 samples in batches of 3 (offsets across batches) on both devices. */
static void t_sample_two_step(void) {
    NEED_DEVICE();
    lctw_model *mc = NULL, *mg = NULL;
    lctw_ctx cc, cg;
    lctw_tensor *oc = NULL, *og = NULL;
    int64_t shp[4] = {5, 4, 8, 8};
    CHECK_OK(new_model(0, LCTW_DEV_CPU, &mc));
    CHECK_OK(new_model(0, LCTW_DEV_CUDA, &mg));
    CHECK_OK(lctw_tensor_empty(&oc, 4, shp, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_empty(&og, 4, shp, LCTW_DEV_CPU));
    if (case_failed) return;
    lctw_ctx_init(&cc, LCTW_DEV_CPU, 0);
    lctw_ctx_init(&cg, LCTW_DEV_CUDA, 0);
    lctw_sample_opts o;
    CHECK_OK(lctw_sample_opts_default(&o, 5, 2, 9));
    o.batch = 3;
    CHECK_OK(lctw_sample(mc, &cc, &o, oc));
    CHECK_OK(lctw_sample(mg, &cg, &o, og));
    if (!case_failed) {
        double worst = 0;
        const float *a = lctw_tensor_data(oc), *b = lctw_tensor_data(og);
        for (int64_t i = 0; i < lctw_tensor_numel(oc); i++) {
            double e = fabs((double)a[i] - b[i]);
            if (!(e <= worst)) worst = e;
        }
        CHECK(worst <= 1e-3, "samples differ by %.3g", worst);
        test_detail("max |cuda − cpu| %.2g", worst);
    }
    lctw_ctx_release(&cc);
    lctw_ctx_release(&cg);
    lctw_tensor_release(oc);
    lctw_tensor_release(og);
    lctw_model_free(mc);
    lctw_model_free(mg);
}

/* A CUDA trainer's checkpoint restores into a CPU trainer bit for bit (and back). */
static void t_checkpoint_roundtrip(void) {
    NEED_DEVICE();
    lctw_model *mc = NULL, *mg = NULL;
    lctw_data *dc = NULL, *dg = NULL;
    lctw_trainer *tc = NULL, *tg = NULL;
    float *a = NULL, *b = NULL;
    lctw_trainer_config cfg;
    config(&cfg);
    char path[64];
    snprintf(path, sizeof path, "/tmp/lctw_step_cuda_%d.safetensors", (int)getpid());
    CHECK_OK(new_model(0, LCTW_DEV_CPU, &mc));
    CHECK_OK(new_model(0, LCTW_DEV_CUDA, &mg));
    CHECK_OK(new_data(&dc));
    CHECK_OK(new_data(&dg));
    if (!case_failed) CHECK_OK(lctw_trainer_new(&tc, &cfg, mc, dc, NULL));
    if (!case_failed) CHECK_OK(lctw_trainer_new(&tg, &cfg, mg, dg, NULL));
    if (!case_failed) CHECK_OK(lctw_trainer_step(tg, NULL));
    if (!case_failed) CHECK_OK(lctw_trainer_step(tg, NULL));
    if (!case_failed) CHECK_OK(lctw_trainer_save(tg, path));
    if (!case_failed) CHECK_OK(lctw_trainer_restore(tc, path));
    if (!case_failed) {
        CHECK(tc->step == 2 && tc->opt->step == 2, "restored step %lld", (long long)tc->step);
        a = to_host(mc->params.data);
        b = to_host(mg->params.data);
        CHECK(a && b && !memcmp(a, b, (size_t)mc->params.total * sizeof(float)),
              "parameters differ after restore");
        free(a);
        free(b);
        a = to_host(tc->ema->avg[2]);
        b = to_host(tg->ema->avg[2]);
        CHECK(a && b && !memcmp(a, b, (size_t)mc->params.total * sizeof(float)),
              "EMA differs after restore");
    }
    /* and back: the CPU trainer's checkpoint into the CUDA trainer */
    if (!case_failed) CHECK_OK(lctw_trainer_save(tc, path));
    if (!case_failed) CHECK_OK(lctw_trainer_restore(tg, path));
    remove(path);
    free(a);
    free(b);
    lctw_trainer_free(tc);
    lctw_trainer_free(tg);
    lctw_model_free(mc);
    lctw_model_free(mg);
    lctw_data_free(dc);
    lctw_data_free(dg);
}

/* An impossible request fails with ENOMEM naming the size and the free memory; the device keeps
 * working afterwards. */
static void t_out_of_memory(void) {
    NEED_DEVICE();
    size_t fr = 0, tot = 0;
    CHECK_OK(lctw_cuda_mem_info(&fr, &tot));
    int64_t n = (int64_t)(tot / sizeof(float)) * 2; /* twice the device */
    lctw_tensor *t = NULL;
    lctw_status s = lctw_tensor_empty(&t, 1, &n, LCTW_DEV_CUDA);
    CHECK(s == LCTW_ENOMEM && !t, "status %d", (int)s);
    const char *msg = lctw_error_message();
    CHECK(strstr(msg, "requested") && strstr(msg, "free"), "message: %s", msg);
    int64_t small = 1024;
    CHECK_OK(lctw_tensor_zeros(&t, 1, &small, LCTW_DEV_CUDA));
    lctw_tensor_release(t);
    test_detail("%s", msg);
}

/* The Lua surface: device= on models and trainers, model:to, lctw.device. Without a device the
 * CUDA requests must fail with a clear message and leave everything usable on the CPU; with one,
 * a trainer made with device="cuda" moves a CPU model there and steps, and model:forward agrees
 * with the CPU. Runs in both cases (the chunk branches on lctw.cuda.available()). */
static const char *LUA_CASE =
    "local m = lctw.model.unet{channels=8, channel_mult={1,2}, num_blocks=1, "
    "  attn_resolutions={4}, emb_mult=4, in_shape={4,8,8}, channels_per_head=8, seed=2}\n"
    "local d = lctw.data.synthetic{n=32, shape={4,8,8}}\n"
    "assert(m:device() == 'cpu')\n"
    "local x = lctw.tensor.randn({2,4,8,8}, {seed=4})\n"
    "local y_cpu = m:forward(x, 1.5)\n"
    "if not lctw.cuda.available() then\n"
    "  local ok, e = pcall(lctw.trainer, {model=m, data=d, batch=4, device='cuda'})\n"
    "  assert(not ok and tostring(e):find('CUDA'), 'trainer error: ' .. tostring(e))\n"
    "  ok, e = pcall(m.to, m, 'cuda')\n"
    "  assert(not ok and tostring(e):find('CUDA'), 'model:to error: ' .. tostring(e))\n"
    "  ok, e = pcall(lctw.model.unet, {device='cuda'})\n"
    "  assert(not ok and tostring(e):find('CUDA'), 'unet error: ' .. tostring(e))\n"
    "  assert(m:device() == 'cpu')\n"
    "  local tr = lctw.trainer{model=m, data=d, batch=4}\n"
    "  assert(tr.device == 'cpu' and tr:step().loss == tr.last.loss)\n"
    "  return 'no device: clear errors, the CPU model still trains'\n"
    "end\n"
    "local ok, e = pcall(m.to, m, 'tpu')\n"
    "assert(not ok and tostring(e):find('tpu'))\n"
    "local tr = lctw.trainer{model=m, data=d, batch=4, device='cuda'}\n"
    "assert(m:device() == 'cuda' and tr.device == 'cuda')\n"
    "local y_cuda = m:forward(x, 1.5):cpu()\n"
    "local diff = (y_cuda - y_cpu):abs():max()\n"
    "assert(diff < 1e-4, 'forward cuda vs cpu: ' .. diff)\n"
    "local r = tr:step()\n"
    "assert(r.loss == r.loss and tr.steps == 1, 'cuda step')\n"
    "local s = tr:sample{n=3, steps=2}\n"
    "assert(s:device() == 'cpu' and s:shape()[1] == 3)\n"
    "m:to('cpu')\n"
    "assert(m:device() == 'cpu' and m:forward(x, 1.5):device() == 'cpu')\n"
    "return string.format('forward |cuda - cpu| %.2g, step loss %.4g', diff, r.loss)\n";

static void t_lua_devices(void) {
    lua_State *L = luaL_newstate();
    CHECK(L != NULL, "luaL_newstate failed");
    if (!L) return;
    lctw_lua_open(L);
    lua_settop(L, 0);
    int rc = luaL_loadstring(L, LUA_CASE);
    if (rc == LUA_OK) rc = lua_pcall(L, 0, 1, 0);
    CHECK(rc == LUA_OK, "%s", lua_tostring(L, -1));
    if (rc == LUA_OK) test_detail("%s", lua_tostring(L, -1));
    lua_close(L);
}

int main(void) {
    RUN(t_unet_one_step);
    RUN(t_unet_steps);
    RUN(t_dit_one_step);
    RUN(t_dit_steps);
    RUN(t_sample_two_step);
    RUN(t_checkpoint_roundtrip);
    RUN(t_out_of_memory);
    RUN(t_lua_devices);
    return test_summary();
}
