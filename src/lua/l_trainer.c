/* l_trainer.c — lctw.trainer: the training loop's C core from Lua (options, one step, metrics,
 * checkpoints, sampling with the EMA weights). The run loop, presets and progress printing are
 * in lua/lctw/trainer.lua. Userdata "lctw.Trainer" keeps its model and data alive (user values). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/interrupt.h"
#include "ct/sample.h"
#include "ct/trainer.h"
#include "lctw_cuda.h"
#include "lctw_lua.h"

#define TRAINER_MT "lctw.Trainer"

typedef struct {
    lctw_trainer *t;
    lua_State *L;  /* for a Lua c schedule */
    int c_fn_ref;  /* registry ref of the Lua c function, or LUA_NOREF */
    int c_err;
} l_trainer;

static l_trainer *check_trainer(lua_State *L, int idx) {
    l_trainer *u = luaL_checkudata(L, idx, TRAINER_MT);
    if (!u->t) luaL_argerror(L, idx, "trainer has been freed");
    return u;
}

/* c schedule given as a Lua function of (step, N) */
static lctw_status lua_c_fn(void *ud, int64_t step, int64_t N, double *c) {
    l_trainer *u = ud;
    lua_State *L = u->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->c_fn_ref);
    lua_pushinteger(L, (lua_Integer)step);
    lua_pushinteger(L, (lua_Integer)N);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        lctw_status s = LCTW_FAIL(LCTW_EINVAL, "c function: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return s;
    }
    int ok;
    *c = lua_tonumberx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok) return LCTW_FAIL(LCTW_EINVAL, "c function returned a non-number");
    return LCTW_OK;
}

/* ---- options ---- */

static void opt_loss(lua_State *L, int opts, lctw_trainer_config *cfg) {
    int t = lua_getfield(L, opts, "loss");
    if (t == LUA_TSTRING) {
        L_TRY(L, lctw_loss_kind_parse(lua_tostring(L, -1), &cfg->loss.kind));
    } else if (t == LUA_TTABLE) {
        const char *k = l_optfield_str(L, -1, "kind", NULL);
        if (k) L_TRY(L, lctw_loss_kind_parse(k, &cfg->loss.kind));
        const char *w = l_optfield_str(L, -1, "weighting", NULL);
        if (w) L_TRY(L, lctw_weighting_parse(w, &cfg->loss.weighting));
    } else if (t != LUA_TNIL) {
        luaL_error(L, "option 'loss': expected a name (\"cauchy\", \"pseudo_huber\", …) or a table");
    }
    lua_pop(L, 1);
}

static void opt_c(lua_State *L, int opts, lctw_trainer_config *cfg, l_trainer *u, int64_t d) {
    int t = lua_getfield(L, opts, "c");
    if (t == LUA_TSTRING) {
        lctw_c_kind k;
        L_TRY(L, lctw_c_kind_parse(lua_tostring(L, -1), &k));
        cfg->c = lctw_c_schedule_default(k);
    } else if (t == LUA_TNUMBER) {
        cfg->c = lctw_c_schedule_default(LCTW_C_CONSTANT);
        cfg->c.c = lua_tonumber(L, -1);
    } else if (t == LUA_TFUNCTION) {
        cfg->c = lctw_c_schedule_default(LCTW_C_CALLBACK);
        lua_pushvalue(L, -1);
        u->c_fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        cfg->c.fn = lua_c_fn;
        cfg->c.ud = u;
    } else if (t == LUA_TTABLE) {
        const char *k = l_optfield_str(L, -1, "kind", "adaptive");
        lctw_c_kind kind;
        L_TRY(L, lctw_c_kind_parse(k, &kind));
        cfg->c = lctw_c_schedule_default(kind);
        cfg->c.c = l_optfield_num(L, -1, "c", cfg->c.c);
        cfg->c.ict_k = l_optfield_num(L, -1, "ict_k", cfg->c.ict_k);
        cfg->c.a = l_optfield_num(L, -1, "a", cfg->c.a);
        cfg->c.b = l_optfield_num(L, -1, "b", cfg->c.b);
        cfg->c.scale = l_optfield_num(L, -1, "scale", cfg->c.scale);
    } else if (t != LUA_TNIL) {
        luaL_error(L, "option 'c': expected \"adaptive\", \"ict\", \"constant\", a number, a function "
                      "of (step, N) or a table");
    }
    lua_pop(L, 1);
    cfg->c.d = d;
    cfg->c.s0 = cfg->s0;
}

static void opt_diffusion(lua_State *L, int opts, lctw_trainer_config *cfg) {
    int t = lua_getfield(L, opts, "diffusion");
    if (t == LUA_TBOOLEAN) {
        if (!lua_toboolean(L, -1)) cfg->loss.diff_lambda = 0.0;
        else if (cfg->loss.diff_lambda == 0.0) cfg->loss.diff_lambda = 5.0;
    } else if (t == LUA_TTABLE) {
        cfg->loss.diff_lambda = l_optfield_num(L, -1, "weight", 5.0);
        cfg->loss.diff_rate = l_optfield_num(L, -1, "rate", cfg->loss.diff_rate);
    } else if (t != LUA_TNIL) {
        luaL_error(L, "option 'diffusion': expected true/false or {rate=0.75, weight=5}");
    }
    lua_pop(L, 1);
}

static void opt_optim(lua_State *L, int opts, lctw_trainer_config *cfg) {
    int t = lua_getfield(L, opts, "optim");
    if (t == LUA_TSTRING || t == LUA_TTABLE) {
        const char *k = t == LUA_TSTRING ? lua_tostring(L, -1) : l_optfield_str(L, -1, "kind", "radam");
        lctw_optim_kind kind;
        if (!lctw_optim_kind_from_name(k, &kind))
            luaL_error(L, "option 'optim': unknown optimizer '%s' (radam, adam, adamw)", k);
        double lr = cfg->optim.lr, wd = cfg->optim.weight_decay, eps = cfg->optim.eps;
        lctw_optim_config_default(&cfg->optim, kind);
        cfg->optim.lr = lr, cfg->optim.weight_decay = wd, cfg->optim.eps = eps;
        if (t == LUA_TTABLE) {
            cfg->optim.lr = l_optfield_num(L, -1, "lr", cfg->optim.lr);
            cfg->optim.eps = l_optfield_num(L, -1, "eps", cfg->optim.eps);
            cfg->optim.weight_decay = l_optfield_num(L, -1, "weight_decay", cfg->optim.weight_decay);
            if (lua_getfield(L, -1, "betas") == LUA_TTABLE) {
                lua_geti(L, -1, 1);
                lua_geti(L, -2, 2);
                cfg->optim.beta1 = luaL_optnumber(L, -2, cfg->optim.beta1);
                cfg->optim.beta2 = luaL_optnumber(L, -1, cfg->optim.beta2);
                lua_pop(L, 2);
            }
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        luaL_error(L, "option 'optim': expected a name or {kind=, lr=, eps=, weight_decay=, betas=}");
    }
    lua_pop(L, 1);
    cfg->optim.lr = l_optfield_num(L, opts, "lr", cfg->optim.lr);
}

static void opt_ema(lua_State *L, int opts, lctw_trainer_config *cfg) {
    int t = lua_getfield(L, opts, "ema");
    if (t == LUA_TNUMBER) {
        cfg->n_ema = 1;
        cfg->ema[0] = lua_tonumber(L, -1);
    } else if (t == LUA_TTABLE) {
        int n = (int)luaL_len(L, -1);
        if (n > LCTW_EMA_MAX) luaL_error(L, "option 'ema': at most %d decays", LCTW_EMA_MAX);
        cfg->n_ema = n;
        for (int i = 0; i < n; i++) {
            lua_geti(L, -1, i + 1);
            cfg->ema[i] = luaL_checknumber(L, -1);
            lua_pop(L, 1);
        }
    } else if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        cfg->n_ema = 0;
    } else if (t != LUA_TNIL) {
        luaL_error(L, "option 'ema': expected a decay, a table of decays or false");
    }
    lua_pop(L, 1);
}

/* 1 when the default device (lctw.device(), kept by lctw.tensor.default_device) is "cuda". */
static int default_is_cuda(lua_State *L) {
    int top = lua_gettop(L), cuda = 0;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "lctw") == LUA_TTABLE && lua_getfield(L, -1, "tensor") == LUA_TTABLE &&
        lua_getfield(L, -1, "default_device") == LUA_TFUNCTION && lua_pcall(L, 0, 1, 0) == LUA_OK)
        cuda = lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "cuda");
    lua_settop(L, top);
    return cuda;
}

/* lctw.trainer._new(opts) — options documented in lua/lctw/trainer.lua */
static int l_trainer_new(lua_State *L) {
    static const char *const known[] = {
        "model", "data", "batch", "preset", "loss", "c", "diffusion", "ot", "optim", "lr",
        "ema", "seed", "run_dir", "total_steps", "device", "s0", "s1", "p_mean", "p_std",
        "max_grad_norm", "nan_halve_after", "weighting", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    l_checkoptions(L, 1, "lctw.trainer", known);
    lua_getfield(L, 1, "model");
    lctw_model *m = l_checkmodel(L, -1);
    lua_getfield(L, 1, "data");
    if (lua_isnil(L, -1)) luaL_error(L, "lctw.trainer: option 'data' is required (lctw.data.npy or lctw.data.synthetic)");
    lctw_data *d = l_checkdata(L, -1);
    int64_t batch = l_optfield_int(L, 1, "batch", 32);
    int64_t total = l_optfield_int(L, 1, "total_steps", 10000);
    const char *preset = l_optfield_str(L, 1, "preset", "paper");
    /* device: the option, else "cuda" when lctw.device("cuda") chose it, else the model's; the
     * model's parameters move there (before anything else is allocated) */
    const char *dev = l_optfield_str(L, 1, "device", NULL);
    if (!dev) dev = default_is_cuda(L) || m->params.dev == LCTW_DEV_CUDA ? "cuda" : "cpu";
    if (strcmp(dev, "cpu") && strcmp(dev, "cuda"))
        luaL_error(L, "lctw.trainer: unknown device '%s' (\"cpu\" or \"cuda\")", dev);
    if (!strcmp(dev, "cuda") && !lctw_cuda_built())
        luaL_error(L, "lctw.trainer: device \"cuda\": lctw was built without CUDA (rebuild with "
                      "make CUDA=1)");
    if (!strcmp(dev, "cuda") && lctw_cuda_device_count() <= 0)
        luaL_error(L, "lctw.trainer: device \"cuda\": %s", lctw_cuda_describe());
    L_TRY(L, lctw_params_to(&m->params, strcmp(dev, "cuda") ? LCTW_DEV_CPU : LCTW_DEV_CUDA));
    lctw_trainer_config cfg;
    if (!strcmp(preset, "paper"))
        lctw_trainer_config_paper(&cfg, batch, total);
    else if (!strcmp(preset, "ict"))
        lctw_trainer_config_ict(&cfg, batch, total);
    else
        luaL_error(L, "lctw.trainer: unknown preset '%s' (\"paper\" or \"ict\")", preset);
    l_trainer *u = lua_newuserdatauv(L, sizeof *u, 2);
    memset(u, 0, sizeof *u);
    u->L = L;
    u->c_fn_ref = LUA_NOREF;
    luaL_setmetatable(L, TRAINER_MT);
    int ud = lua_gettop(L);
    cfg.s0 = l_optfield_int(L, 1, "s0", cfg.s0);
    cfg.s1 = l_optfield_int(L, 1, "s1", cfg.s1);
    cfg.p_mean = l_optfield_num(L, 1, "p_mean", cfg.p_mean);
    cfg.p_std = l_optfield_num(L, 1, "p_std", cfg.p_std);
    opt_loss(L, 1, &cfg);
    const char *w = l_optfield_str(L, 1, "weighting", NULL);
    if (w) L_TRY(L, lctw_weighting_parse(w, &cfg.loss.weighting));
    opt_c(L, 1, &cfg, u, (int64_t)m->in_ch * m->height * m->width);
    opt_diffusion(L, 1, &cfg);
    cfg.ot = l_optfield_bool(L, 1, "ot", cfg.ot);
    opt_optim(L, 1, &cfg);
    opt_ema(L, 1, &cfg);
    cfg.seed = (uint64_t)l_optfield_int(L, 1, "seed", 0);
    cfg.max_grad_norm = l_optfield_num(L, 1, "max_grad_norm", cfg.max_grad_norm);
    cfg.nan_halve_after = l_optfield_int(L, 1, "nan_halve_after", cfg.nan_halve_after);
    const char *run_dir = l_optfield_str(L, 1, "run_dir", NULL);
    L_TRY(L, lctw_trainer_new(&u->t, &cfg, m, d, run_dir));
    /* keep model and data alive as long as the trainer */
    lua_getfield(L, 1, "model");
    lua_setiuservalue(L, ud, 1);
    lua_getfield(L, 1, "data");
    lua_setiuservalue(L, ud, 2);
    lua_settop(L, ud);
    return 1;
}

static void set_num(lua_State *L, const char *k, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}
static void set_int(lua_State *L, const char *k, int64_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

/* {lo=, hi=, counts={...}} (lo, hi NaN when the step had no finite value) */
static void push_hist(lua_State *L, const char *k, const lctw_step_hist *h) {
    lua_createtable(L, 0, 3);
    set_num(L, "lo", h->lo);
    set_num(L, "hi", h->hi);
    lua_createtable(L, LCTW_STEP_HIST_BINS, 0);
    for (int i = 0; i < LCTW_STEP_HIST_BINS; i++) {
        lua_pushinteger(L, (lua_Integer)h->count[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "counts");
    lua_setfield(L, -2, k);
}

static void push_metrics(lua_State *L, const lctw_step_metrics *m) {
    lua_createtable(L, 0, 27);
    set_int(L, "step", m->step);
    set_int(L, "N", m->N);
    set_int(L, "stage", m->stage + 1);
    set_num(L, "loss", m->loss);
    set_num(L, "loss_ct", m->loss_ct);
    set_num(L, "loss_diff", m->loss_diff);
    set_num(L, "c", m->c);
    set_num(L, "lr", m->lr);
    set_num(L, "grad_norm", m->grad_norm);
    set_num(L, "frac_over_c", m->frac_over_c);
    set_num(L, "frac_elem_over_c", m->frac_elem_over_c);
    set_int(L, "diff_count", m->diff_count);
    set_num(L, "ot_gain", m->ot_gain);
    lua_pushboolean(L, m->skipped);
    lua_setfield(L, -2, "skipped");
    set_int(L, "nan_skips", m->nan_skips);
    set_num(L, "step_s", m->step_s);
    set_num(L, "samples_per_s", m->samples_per_s);
    set_num(L, "resid_rms_p50", m->resid_rms_p50);
    set_num(L, "resid_rms_max", m->resid_rms_max);
    set_num(L, "latent_mean", m->latent_mean);
    set_num(L, "latent_std", m->latent_std);
    set_num(L, "latent_kurtosis", m->latent_kurtosis);
    set_num(L, "latent_tail3", m->latent_tail3);
    set_num(L, "latent_tail5", m->latent_tail5);
    push_hist(L, "latent_hist", &m->latent_hist);
    push_hist(L, "resid_hist", &m->resid_hist);
}

/* tr:schedule() -> {total_steps=, stages={{stage=, N=, start_step=, c=}, ...}} */
static int t_schedule(lua_State *L) {
    l_trainer *u = check_trainer(L, 1);
    lctw_stage_plan plan[LCTW_TRAINER_MAX_STAGES];
    int n;
    u->L = L;
    lctw_trainer_schedule(u->t, plan, &n);
    lua_createtable(L, 0, 2);
    set_int(L, "total_steps", u->t->cfg.total_steps);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 4);
        set_int(L, "stage", plan[i].stage);
        set_int(L, "N", plan[i].N);
        set_int(L, "start_step", plan[i].start_step);
        if (isfinite(plan[i].c)) set_num(L, "c", plan[i].c);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "stages");
    return 1;
}

static int t_step(lua_State *L) {
    l_trainer *u = check_trainer(L, 1);
    lctw_step_metrics m;
    u->L = L;
    lctw_status s = lctw_trainer_step(u->t, &m);
    if (s == LCTW_OK) s = lctw_trainer_log(u->t);
    if (s != LCTW_OK) {
        if (s == LCTW_EINTR) {
            /* this error reports the Ctrl-C: consume it, and the front end's pending hook too,
             * so the caller's handler is not hit by a second "interrupted" */
            lctw_interrupt_clear();
            lua_sethook(L, NULL, 0, 0);
        }
        return l_fail(L, s);
    }
    push_metrics(L, &m);
    return 1;
}

static int t_save(lua_State *L) {
    l_trainer *u = check_trainer(L, 1);
    L_TRY(L, lctw_trainer_save(u->t, luaL_checkstring(L, 2)));
    return 0;
}

static int t_restore(lua_State *L) {
    l_trainer *u = check_trainer(L, 1);
    L_TRY(L, lctw_trainer_restore(u->t, luaL_checkstring(L, 2)));
    lua_settop(L, 1);
    return 1;
}

/* Swaps the model's parameter data with EMA copy i (same size): a swap, not a copy. */
static void swap_ema(lctw_trainer *t, int i) {
    lctw_storage *a = t->model->params.data->st, *b = t->ema->avg[i]->st;
    float *p = a->data;
    a->data = b->data;
    b->data = p;
}

/* tr:sample{n=, steps=1|2|k, ts=, grid=, seed=, ema=, normalized=false, batch=} */
static int t_sample(lua_State *L) {
    static const char *const known[] = {"n", "steps", "ts", "grid", "seed", "ema", "normalized",
                                        "batch", NULL};
    l_trainer *u = check_trainer(L, 1);
    lctw_trainer *t = u->t;
    lua_settop(L, 2);
    l_checkoptions(L, 2, "sample", known);
    int64_t n = l_optfield_int(L, 2, "n", 16);
    int steps = (int)l_optfield_int(L, 2, "steps", 1);
    lctw_sample_opts o;
    L_TRY(L, lctw_sample_opts_default(&o, n, steps, (uint64_t)l_optfield_int(L, 2, "seed", 0)));
    o.grid = (int)l_optfield_int(L, 2, "grid", o.grid);
    o.batch = l_optfield_int(L, 2, "batch", 64);
    if (!lua_isnil(L, 2) && lua_getfield(L, 2, "ts") == LUA_TTABLE) {
        int k = (int)luaL_len(L, -1);
        if (k < 2 || k > LCTW_SAMPLE_MAX_STEPS + 1)
            luaL_error(L, "sample: ts needs 2..%d grid indices", LCTW_SAMPLE_MAX_STEPS + 1);
        o.n_ts = k;
        for (int i = 0; i < k; i++) {
            lua_geti(L, -1, i + 1);
            o.ts[i] = (int)luaL_checkinteger(L, -1) - 1; /* 1-based in Lua */
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, 2) && !lua_isnil(L, -1)) {
        luaL_error(L, "sample: ts must be a table of 1-based grid indices");
    }
    lua_settop(L, 2);
    int ema_i = -1;
    if (!lua_isnil(L, 2) && lua_getfield(L, 2, "ema") != LUA_TNIL) {
        double dcy = luaL_checknumber(L, -1);
        if (!t->ema || (ema_i = lctw_ema_find(t->ema, dcy)) < 0)
            luaL_error(L, "sample: no EMA with decay %f in this trainer", dcy);
    }
    lua_settop(L, 2);
    int normalized = l_optfield_bool(L, 2, "normalized", 0);
    lctw_model *m = t->model;
    int64_t shp[4] = {n, m->in_ch, m->height, m->width};
    lctw_tensor *out;
    L_TRY(L, lctw_tensor_empty(&out, 4, shp, LCTW_DEV_CPU));
    l_pushtensor(L, out);
    if (ema_i >= 0) swap_ema(t, ema_i);
    lctw_status s = lctw_sample(m, &t->ctx, &o, out);
    if (ema_i >= 0) swap_ema(t, ema_i);
    if (s == LCTW_OK && !normalized) s = lctw_data_denormalize(t->data, out, out);
    if (s != LCTW_OK) {
        if (s == LCTW_EINTR) {
            lctw_interrupt_clear();
            lua_sethook(L, NULL, 0, 0);
        }
        return l_fail(L, s);
    }
    return 1;
}

static int t_index(lua_State *L) {
    l_trainer *u = check_trainer(L, 1);
    const char *k = luaL_checkstring(L, 2);
    lctw_trainer *t = u->t;
    /* methods first, then fields */
    luaL_getmetatable(L, TRAINER_MT);
    lua_getfield(L, -1, "__methods");
    if (lua_getfield(L, -1, k) != LUA_TNIL) return 1;
    lua_pop(L, 3);
    if (!strcmp(k, "steps")) lua_pushinteger(L, (lua_Integer)t->step);
    else if (!strcmp(k, "lr")) lua_pushnumber(L, t->opt->cfg.lr);
    else if (!strcmp(k, "batch")) lua_pushinteger(L, (lua_Integer)t->cfg.batch);
    else if (!strcmp(k, "total_steps")) lua_pushinteger(L, (lua_Integer)t->cfg.total_steps);
    else if (!strcmp(k, "nan_skips")) lua_pushinteger(L, (lua_Integer)t->nan_skips);
    else if (!strcmp(k, "run_dir")) lua_pushstring(L, t->run_dir);
    else if (!strcmp(k, "device"))
        lua_pushstring(L, t->model->params.dev == LCTW_DEV_CUDA ? "cuda" : "cpu");
    else if (!strcmp(k, "last_checkpoint")) lua_pushstring(L, t->last_checkpoint);
    else if (!strcmp(k, "N")) lua_pushinteger(L, (lua_Integer)lctw_curriculum_N(&t->cur, t->step));
    else if (!strcmp(k, "c")) {
        double c;
        L_TRY(L, lctw_c_schedule_value(&t->cfg.c, t->step, lctw_curriculum_N(&t->cur, t->step), &c));
        lua_pushnumber(L, c);
    } else if (!strcmp(k, "ema_decays")) {
        lua_createtable(L, t->cfg.n_ema, 0);
        for (int i = 0; i < t->cfg.n_ema; i++) {
            lua_pushnumber(L, t->cfg.ema[i]);
            lua_rawseti(L, -2, i + 1);
        }
    } else if (!strcmp(k, "config")) {
        char *j = NULL;
        L_TRY(L, lctw_trainer_config_to_json(&t->cfg, &j));
        lua_pushstring(L, j);
        free(j);
    } else if (!strcmp(k, "last")) {
        push_metrics(L, &t->last);
    } else if (!strcmp(k, "model")) {
        lua_getiuservalue(L, 1, 1);
    } else if (!strcmp(k, "data")) {
        lua_getiuservalue(L, 1, 2);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

static int t_newindex(lua_State *L) {
    l_trainer *u = check_trainer(L, 1);
    const char *k = luaL_checkstring(L, 2);
    lctw_trainer *t = u->t;
    if (!strcmp(k, "lr")) {
        double v = luaL_checknumber(L, 3);
        if (!(v >= 0) || !isfinite(v)) return luaL_error(L, "lr must be a finite number >= 0");
        t->opt->cfg.lr = v;
    } else if (!strcmp(k, "c")) {
        if (lua_type(L, 3) == LUA_TNUMBER) {
            double v = lua_tonumber(L, 3);
            if (!(v > 0)) return luaL_error(L, "c must be > 0");
            if (u->c_fn_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, u->c_fn_ref);
            u->c_fn_ref = LUA_NOREF;
            t->cfg.c = lctw_c_schedule_default(LCTW_C_CONSTANT);
            t->cfg.c.c = v;
            t->cfg.c.d = t->d;
        } else if (lua_isfunction(L, 3)) {
            if (u->c_fn_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, u->c_fn_ref);
            lua_pushvalue(L, 3);
            u->c_fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
            t->cfg.c = lctw_c_schedule_default(LCTW_C_CALLBACK);
            t->cfg.c.fn = lua_c_fn;
            t->cfg.c.ud = u;
        } else if (lua_type(L, 3) == LUA_TSTRING) {
            lctw_c_kind kind;
            L_TRY(L, lctw_c_kind_parse(lua_tostring(L, 3), &kind));
            if (kind == LCTW_C_CALLBACK) return luaL_error(L, "assign a function to use a callback");
            t->cfg.c = lctw_c_schedule_default(kind);
            t->cfg.c.d = t->d;
            t->cfg.c.s0 = t->cfg.s0;
        } else {
            return luaL_error(L, "c must be a number, a schedule name or a function of (step, N)");
        }
    } else {
        return luaL_error(L, "trainer field '%s' cannot be set (settable: lr, c)", k);
    }
    return 0;
}

/* tr:_set_options_meta(text): how to rebuild this run (stored in checkpoints) */
static int t_set_options_meta(lua_State *L) {
    l_trainer *u = check_trainer(L, 1);
    const char *txt = luaL_checkstring(L, 2);
    char *c = strdup(txt);
    if (!c) return luaL_error(L, "out of memory");
    free(u->t->options_meta);
    u->t->options_meta = c;
    return 0;
}

/* lctw.trainer._options_meta(path) -> text or nil */
static int l_options_meta(lua_State *L);

static int t_gc(lua_State *L) {
    l_trainer *u = luaL_checkudata(L, 1, TRAINER_MT);
    if (u->c_fn_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, u->c_fn_ref);
    u->c_fn_ref = LUA_NOREF;
    lctw_trainer_free(u->t);
    u->t = NULL;
    return 0;
}

static int t_tostring(lua_State *L) {
    l_trainer *u = luaL_checkudata(L, 1, TRAINER_MT);
    if (!u->t) {
        lua_pushliteral(L, "<lctw.Trainer (freed)>");
        return 1;
    }
    lctw_trainer *t = u->t;
    lua_pushfstring(L, "<lctw.Trainer step %d/%d  N=%d  batch %d  loss %s  ot %s  %s>",
                    (int)t->step, (int)t->cfg.total_steps,
                    (int)lctw_curriculum_N(&t->cur, t->step), (int)t->cfg.batch,
                    lctw_loss_kind_name(t->cfg.loss.kind), t->cfg.ot ? "on" : "off",
                    t->run_dir[0] ? t->run_dir : "(no run_dir)");
    return 1;
}

static const l_reg trainer_methods[] = {
    {"step", t_step,
     "tr:step() -> metrics\n\nOne training step (ALGORITHM.md §4.3). Returns {step, N, stage, "
     "loss, loss_ct, loss_diff, c, lr, grad_norm, frac_over_c, frac_elem_over_c, diff_count, "
     "ot_gain, skipped, nan_skips, step_s, samples_per_s, resid_rms_p50, resid_rms_max, "
     "latent_mean, latent_std, latent_kurtosis, latent_tail3, latent_tail5, latent_hist, "
     "resid_hist} and appends it to metrics.csv/.jsonl in run_dir. latent_*: the batch of "
     "normalised latents (excess kurtosis; tailk = P(|x − mean| > k·std)); latent_hist and "
     "resid_hist = {lo=, hi=, counts={64 bins}} of the batch values and of the per-sample "
     "residuals √m_j (the ones frac_over_c compares with c), over [min, max]. Ctrl-C or an "
     "error leaves the trainer at the last completed step."},
    {"schedule", t_schedule,
     "tr:schedule() -> {total_steps=, stages={{stage=, N=, start_step=, c=}, ...}}\n\nThe run's "
     "plan: each curriculum stage (1-based), its N, the step where it starts (steps done before "
     "it) and the c its steps use with the current c schedule (nil when a c function fails). "
     "run_dir/run.json holds the same list as \"schedule\"."},
    {"save", t_save,
     "tr:save(path)\n\nWrites a checkpoint (model, EMAs, optimizer moments, step, RNG state, data "
     "cursor, configuration) as one safetensors file, atomically."},
    {"restore", t_restore,
     "tr:restore(path) -> tr\n\nLoads a checkpoint into this trainer (same model and data "
     "configuration); continuing gives exactly the losses of an uninterrupted run."},
    {"sample", t_sample,
     "tr:sample{n=16, steps=1|2|k, ts=, grid=641, seed=0, ema=, normalized=false} -> Tensor\n\n"
     "Consistency sampling (ALGORITHM.md §5): 1 step at σ_max, 2 steps through σ_mid = 0.52856 "
     "(ts 1,421,641 on the 641-point grid), or any 1-based index list ts. ema= picks an EMA "
     "decay of this trainer. Returns de-normalised latents (normalized=true: the training "
     "space)."},
    {"free", t_gc, "tr:free()\n\nReleases the trainer now."},
    {"_set_options_meta", t_set_options_meta, NULL},
    {NULL, NULL, NULL},
};

#include "io/safetensors.h"

static int l_options_meta(lua_State *L) {
    lctw_st_file *f;
    L_TRY(L, lctw_st_open(&f, luaL_checkstring(L, 1)));
    const char *v = lctw_st_metadata_get(f, "lctw.options");
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    lctw_st_close(f);
    return 1;
}

static const l_reg trainer_funcs[] = {
    {"_new", l_trainer_new, NULL},
    {"_options_meta", l_options_meta, NULL},
    {NULL, NULL, NULL},
};

void l_trainer_open(lua_State *L) {
    l_register(L, -1, trainer_funcs);
    if (luaL_newmetatable(L, TRAINER_MT)) {
        lua_newtable(L);
        l_register(L, -1, trainer_methods);
        lua_setfield(L, -2, "__methods");
        lua_pushcfunction(L, t_index);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, t_newindex);
        lua_setfield(L, -2, "__newindex");
        lua_pushcfunction(L, t_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushcfunction(L, t_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, t_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
}
