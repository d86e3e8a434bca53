/* l_optim.c — lctw.optim: RAdam / Adam / AdamW objects, EMA with several decays, gradient-norm
 * clipping and the NaN/Inf scan (src/ct/optim.h; ALGORITHM.md §4.5, §4.6).
 *
 * The Lua objects work on plain flat tensors, so they can be used (and tested) without a model:
 *   opt = lctw.optim.radam{lr=1e-4, betas={0.9, 0.999}, eps=1e-8, weight_decay=1e-4}
 *   opt:step(params, grad)        -- 1-D (or any contiguous) CPU tensors of equal numel
 *   opt.lr = 5e-5                 -- takes effect at the next step
 * An optimizer's state (m, v) is allocated at its first step (or load_state) with the numel of
 * the tensors it sees; every element is trainable here (frozen ranges are a C-level feature used
 * with a model's parameter set, lctw_optim_new_params).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ct/optim.h"
#include "lctw_lua.h"

#define OPTIM_MT "lctw.Optimizer"
#define EMA_MT "lctw.EMA"

/* ---- optimizer ------------------------------------------------------------------------------ */

typedef struct l_optim_ud {
    lctw_optim_config cfg; /* authoritative; copied into o->cfg before each step */
    lctw_optim *o;         /* NULL until the first step / load_state */
} l_optim_ud;

static l_optim_ud *check_optim(lua_State *L, int idx) { return luaL_checkudata(L, idx, OPTIM_MT); }

static const char *const OPTIM_OPTS[] = {"lr", "betas", "eps", "weight_decay", NULL};

static void read_betas(lua_State *L, int idx, double *b1, double *b2) {
    if (!lua_istable(L, idx))
        luaL_error(L, "option 'betas': expected a table {beta1, beta2}, got %s",
                   luaL_typename(L, idx));
    if (luaL_len(L, idx) != 2) luaL_error(L, "option 'betas': expected 2 numbers");
    for (int i = 1; i <= 2; i++) {
        lua_geti(L, idx, i);
        int ok;
        lua_Number x = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "option 'betas': entry %d is not a number", i);
        *(i == 1 ? b1 : b2) = x;
        lua_pop(L, 1);
    }
}

static void check_config(lua_State *L, const lctw_optim_config *c) {
    if (lctw_optim_config_check(c) != LCTW_OK) l_fail(L, LCTW_EINVAL);
}

/* Builds an optimizer of kind from the options table at idx (PyTorch defaults otherwise). */
static int push_optim(lua_State *L, lctw_optim_kind kind, int idx) {
    const char *name = lctw_optim_kind_name(kind);
    l_checkoptions(L, idx, name, OPTIM_OPTS);
    lctw_optim_config c;
    lctw_optim_config_default(&c, kind);
    c.lr = l_optfield_num(L, idx, "lr", c.lr);
    c.eps = l_optfield_num(L, idx, "eps", c.eps);
    c.weight_decay = l_optfield_num(L, idx, "weight_decay", c.weight_decay);
    if (lua_istable(L, idx)) {
        if (lua_getfield(L, idx, "betas") != LUA_TNIL)
            read_betas(L, lua_gettop(L), &c.beta1, &c.beta2);
        lua_pop(L, 1);
    }
    check_config(L, &c);
    l_optim_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->cfg = c;
    u->o = NULL;
    luaL_setmetatable(L, OPTIM_MT);
    return 1;
}

static int l_radam(lua_State *L) { return push_optim(L, LCTW_OPTIM_RADAM, 1); }
static int l_adam(lua_State *L) { return push_optim(L, LCTW_OPTIM_ADAM, 1); }
static int l_adamw(lua_State *L) { return push_optim(L, LCTW_OPTIM_ADAMW, 1); }

static int l_new(lua_State *L) {
    const char *k = luaL_checkstring(L, 1);
    lctw_optim_kind kind;
    if (!lctw_optim_kind_from_name(k, &kind))
        return luaL_error(L, "optim.new: unknown optimizer '%s' (known: radam, adam, adamw)", k);
    return push_optim(L, kind, 2);
}

static void ensure_state(lua_State *L, l_optim_ud *u, int64_t n) {
    if (u->o) {
        if (u->o->n != n)
            luaL_error(L, "%s: this optimizer holds state for %I elements, got %I",
                       lctw_optim_kind_name(u->cfg.kind), (lua_Integer)u->o->n, (lua_Integer)n);
        return;
    }
    lctw_status s = lctw_optim_new(&u->o, &u->cfg, n, LCTW_DEV_CPU);
    if (s != LCTW_OK && l_gc_on_nomem(L, s)) s = lctw_optim_new(&u->o, &u->cfg, n, LCTW_DEV_CPU);
    if (s != LCTW_OK) l_fail(L, s);
}

static int l_optim_step(lua_State *L) {
    l_optim_ud *u = check_optim(L, 1);
    lctw_tensor *p = l_checktensor(L, 2), *g = l_checktensor(L, 3);
    ensure_state(L, u, lctw_tensor_numel(p));
    u->o->cfg = u->cfg;
    L_TRY(L, lctw_optim_step(u->o, p, g));
    lua_pushinteger(L, (lua_Integer)u->o->step);
    return 1;
}

static void push_live(lua_State *L, lctw_tensor *t) {
    lctw_tensor_retain(t);
    l_pushtensor(L, t);
}

static int l_optim_state(lua_State *L) {
    l_optim_ud *u = check_optim(L, 1);
    lua_newtable(L);
    lua_pushstring(L, lctw_optim_kind_name(u->cfg.kind));
    lua_setfield(L, -2, "kind");
    lua_pushnumber(L, u->cfg.lr);
    lua_setfield(L, -2, "lr");
    lua_createtable(L, 2, 0);
    lua_pushnumber(L, u->cfg.beta1);
    lua_rawseti(L, -2, 1);
    lua_pushnumber(L, u->cfg.beta2);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -2, "betas");
    lua_pushnumber(L, u->cfg.eps);
    lua_setfield(L, -2, "eps");
    lua_pushnumber(L, u->cfg.weight_decay);
    lua_setfield(L, -2, "weight_decay");
    lua_pushinteger(L, u->o ? (lua_Integer)u->o->step : 0);
    lua_setfield(L, -2, "step");
    if (u->o) {
        push_live(L, u->o->m);
        lua_setfield(L, -2, "m");
        push_live(L, u->o->v);
        lua_setfield(L, -2, "v");
    }
    return 1;
}

static lctw_tensor *state_tensor(lua_State *L, int idx, const char *k) {
    lua_getfield(L, idx, k);
    lctw_tensor *t = l_totensor(L, -1);
    if (!t)
        luaL_error(L, "load_state: field '%s' must be a tensor, got %s", k, luaL_typename(L, -1));
    lua_pop(L, 1); /* still referenced by the table */
    return t;
}

static int l_optim_load_state(lua_State *L) {
    l_optim_ud *u = check_optim(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer step = l_optfield_int(L, 2, "step", -1);
    if (step < 0) return luaL_error(L, "load_state: field 'step' must be an integer >= 0");
    lctw_tensor *m = state_tensor(L, 2, "m"), *v = state_tensor(L, 2, "v");
    int64_t n = lctw_tensor_numel(m);
    if (lctw_tensor_numel(v) != n)
        return luaL_error(L, "load_state: m has %I elements but v has %I", (lua_Integer)n,
                          (lua_Integer)lctw_tensor_numel(v));
    ensure_state(L, u, n);
    L_TRY(L, lctw_tensor_copy(u->o->m, m));
    L_TRY(L, lctw_tensor_copy(u->o->v, v));
    u->o->step = (int64_t)step;
    lua_settop(L, 1);
    return 1;
}

static int l_optim_reset(lua_State *L) {
    l_optim_ud *u = check_optim(L, 1);
    if (u->o) L_TRY(L, lctw_optim_reset(u->o));
    lua_settop(L, 1);
    return 1;
}

static int l_optim_gc(lua_State *L) {
    l_optim_ud *u = check_optim(L, 1);
    lctw_optim_free(u->o);
    u->o = NULL;
    return 0;
}

static int l_optim_tostring(lua_State *L) {
    l_optim_ud *u = check_optim(L, 1);
    char buf[256];
    snprintf(buf, sizeof buf,
             "<lctw.Optimizer %s lr=%g betas=(%g, %g) eps=%g weight_decay=%g "
             "step=%lld n=%lld>",
             lctw_optim_kind_name(u->cfg.kind), u->cfg.lr, u->cfg.beta1, u->cfg.beta2, u->cfg.eps,
             u->cfg.weight_decay, (long long)(u->o ? u->o->step : 0),
             (long long)(u->o ? u->o->n : 0));
    lua_pushstring(L, buf);
    return 1;
}

static int l_optim_index(lua_State *L) {
    l_optim_ud *u = check_optim(L, 1);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1; /* a method */
    lua_pop(L, 1);
    const char *k = lua_tostring(L, 2);
    if (!k) return 0;
    if (!strcmp(k, "lr"))
        lua_pushnumber(L, u->cfg.lr);
    else if (!strcmp(k, "eps"))
        lua_pushnumber(L, u->cfg.eps);
    else if (!strcmp(k, "weight_decay"))
        lua_pushnumber(L, u->cfg.weight_decay);
    else if (!strcmp(k, "beta1"))
        lua_pushnumber(L, u->cfg.beta1);
    else if (!strcmp(k, "beta2"))
        lua_pushnumber(L, u->cfg.beta2);
    else if (!strcmp(k, "kind"))
        lua_pushstring(L, lctw_optim_kind_name(u->cfg.kind));
    else if (!strcmp(k, "steps"))
        lua_pushinteger(L, u->o ? (lua_Integer)u->o->step : 0);
    else if (!strcmp(k, "n"))
        lua_pushinteger(L, u->o ? (lua_Integer)u->o->n : 0);
    else if (!strcmp(k, "betas")) {
        lua_createtable(L, 2, 0);
        lua_pushnumber(L, u->cfg.beta1);
        lua_rawseti(L, -2, 1);
        lua_pushnumber(L, u->cfg.beta2);
        lua_rawseti(L, -2, 2);
    } else
        return 0;
    return 1;
}

static int l_optim_newindex(lua_State *L) {
    l_optim_ud *u = check_optim(L, 1);
    const char *k = luaL_checkstring(L, 2);
    lctw_optim_config c = u->cfg;
    if (!strcmp(k, "betas")) {
        read_betas(L, 3, &c.beta1, &c.beta2);
    } else {
        double *f = !strcmp(k, "lr")             ? &c.lr
                    : !strcmp(k, "eps")          ? &c.eps
                    : !strcmp(k, "weight_decay") ? &c.weight_decay
                    : !strcmp(k, "beta1")        ? &c.beta1
                    : !strcmp(k, "beta2")        ? &c.beta2
                                                 : NULL;
        if (!f)
            return luaL_error(L,
                              "lctw.Optimizer: cannot set field '%s' (settable: lr, betas, "
                              "beta1, beta2, eps, weight_decay)",
                              k);
        int ok;
        lua_Number x = lua_tonumberx(L, 3, &ok);
        if (!ok)
            return luaL_error(L, "lctw.Optimizer: '%s' must be a number, got %s", k,
                              luaL_typename(L, 3));
        *f = x;
    }
    check_config(L, &c);
    u->cfg = c;
    return 0;
}

/* ---- EMA ------------------------------------------------------------------------------------ */

typedef struct l_ema_ud {
    int count;
    double decay[LCTW_EMA_MAX];
    lctw_ema *e; /* NULL until params= or reset */
} l_ema_ud;

static l_ema_ud *check_ema(lua_State *L, int idx) { return luaL_checkudata(L, idx, EMA_MT); }

static const char *const EMA_OPTS[] = {"decays", "params", NULL};

static void ema_init(lua_State *L, l_ema_ud *u, lctw_tensor *theta) {
    if (u->e) {
        L_TRY(L, lctw_ema_reset(u->e, theta));
        return;
    }
    lctw_status s = lctw_ema_new(&u->e, u->count, u->decay, theta);
    if (s != LCTW_OK && l_gc_on_nomem(L, s)) s = lctw_ema_new(&u->e, u->count, u->decay, theta);
    if (s != LCTW_OK) l_fail(L, s);
}

static int l_ema(lua_State *L) {
    l_checkoptions(L, 1, "ema", EMA_OPTS);
    luaL_checktype(L, 1, LUA_TTABLE);
    l_ema_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, EMA_MT);
    int ud = lua_gettop(L);
    if (lua_getfield(L, 1, "decays") != LUA_TTABLE)
        return luaL_error(L, "ema: option 'decays' must be a table of numbers, e.g. {0.999, "
                             "0.9999, 0.99993}");
    lua_Integer n = luaL_len(L, -1);
    if (n < 1 || n > LCTW_EMA_MAX)
        return luaL_error(L, "ema: 1..%d decays expected, got %d", LCTW_EMA_MAX, (int)n);
    for (int i = 1; i <= (int)n; i++) {
        lua_geti(L, -1, i);
        int ok;
        lua_Number d = lua_tonumberx(L, -1, &ok);
        if (!ok || !(d >= 0.0 && d <= 1.0))
            return luaL_error(L, "ema: decay %d must be a number in [0, 1], got %s", i,
                              ok ? lua_tostring(L, -1) : luaL_typename(L, -1));
        u->decay[i - 1] = d;
        lua_pop(L, 1);
    }
    u->count = (int)n;
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "params") != LUA_TNIL) {
        lctw_tensor *t = l_totensor(L, -1);
        if (!t) return luaL_error(L, "ema: option 'params' must be a tensor (θ₀)");
        ema_init(L, u, t);
    }
    lua_settop(L, ud);
    return 1;
}

static int l_ema_update(lua_State *L) {
    l_ema_ud *u = check_ema(L, 1);
    lctw_tensor *t = l_checktensor(L, 2);
    if (!u->e)
        return luaL_error(L, "ema: not initialised: pass params=θ₀ to lctw.optim.ema or call "
                             "ema:reset(θ₀) before the first update");
    L_TRY(L, lctw_ema_update(u->e, t));
    lua_settop(L, 1);
    return 1;
}

static int l_ema_reset(lua_State *L) {
    l_ema_ud *u = check_ema(L, 1);
    ema_init(L, u, l_checktensor(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int l_ema_get(lua_State *L) {
    l_ema_ud *u = check_ema(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > u->count)
        return luaL_error(L, "ema:get: index %d out of range (%d decays)", (int)i, u->count);
    if (!u->e) return luaL_error(L, "ema: not initialised (pass params=θ₀ or call ema:reset(θ₀))");
    push_live(L, u->e->avg[i - 1]);
    return 1;
}

static int l_ema_find(lua_State *L) {
    l_ema_ud *u = check_ema(L, 1);
    double d = luaL_checknumber(L, 2);
    for (int i = 0; i < u->count; i++)
        if (fabs(u->decay[i] - d) <= 1e-12) {
            lua_pushinteger(L, i + 1);
            return 1;
        }
    lua_pushnil(L);
    return 1;
}

static int l_ema_decays(lua_State *L) {
    l_ema_ud *u = check_ema(L, 1);
    lua_createtable(L, u->count, 0);
    for (int i = 0; i < u->count; i++) {
        lua_pushnumber(L, u->decay[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_ema_gc(lua_State *L) {
    l_ema_ud *u = check_ema(L, 1);
    lctw_ema_free(u->e);
    u->e = NULL;
    return 0;
}

static int l_ema_tostring(lua_State *L) {
    l_ema_ud *u = check_ema(L, 1);
    char buf[512];
    int k = snprintf(buf, sizeof buf, "<lctw.EMA decays={");
    for (int i = 0; i < u->count && k < (int)sizeof buf - 40; i++)
        k += snprintf(buf + k, sizeof buf - (size_t)k, "%s%g", i ? ", " : "", u->decay[i]);
    if (u->e)
        snprintf(buf + k, sizeof buf - (size_t)k, "} n=%lld updates=%lld>", (long long)u->e->n,
                 (long long)u->e->updates);
    else
        snprintf(buf + k, sizeof buf - (size_t)k, "} (not initialised)>");
    lua_pushstring(L, buf);
    return 1;
}

static int l_ema_index(lua_State *L) {
    l_ema_ud *u = check_ema(L, 1);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    const char *k = lua_tostring(L, 2);
    if (!k) return 0;
    if (!strcmp(k, "updates"))
        lua_pushinteger(L, u->e ? (lua_Integer)u->e->updates : 0);
    else if (!strcmp(k, "n"))
        lua_pushinteger(L, u->e ? (lua_Integer)u->e->n : 0);
    else if (!strcmp(k, "count"))
        lua_pushinteger(L, u->count);
    else
        return 0;
    return 1;
}

/* ---- gradient utilities --------------------------------------------------------------------- */

static int l_clip_grad_norm(lua_State *L) {
    lctw_tensor *g = l_checktensor(L, 1);
    double max_norm = luaL_checknumber(L, 2), norm = 0.0;
    L_TRY(L, lctw_grad_clip_norm(g, max_norm, &norm));
    lua_pushnumber(L, norm);
    return 1;
}

static int l_grad_norm(lua_State *L) {
    lctw_tensor *g = l_checktensor(L, 1);
    double norm = 0.0;
    L_TRY(L, lctw_grad_norm(g, &norm));
    lua_pushnumber(L, norm);
    return 1;
}

static int l_has_nonfinite(lua_State *L) {
    lctw_tensor *g = l_checktensor(L, 1);
    int64_t count = 0, first = -1;
    L_TRY(L, lctw_grad_nonfinite(g, &count, &first));
    lua_pushboolean(L, count > 0);
    lua_pushinteger(L, (lua_Integer)count);
    if (first >= 0)
        lua_pushinteger(L, (lua_Integer)first + 1);
    else
        lua_pushnil(L);
    return 3;
}

/* ---- registration --------------------------------------------------------------------------- */

#define OPT_ARGS "{lr=, betas={b1, b2}, eps=, weight_decay=}"

static const l_reg optim_funcs[] = {
    {"radam", l_radam,
     "lctw.optim.radam" OPT_ARGS " -> optimizer\n\n"
     "RAdam exactly as torch.optim.RAdam (PyTorch 1.13): coupled L2 weight decay (g += wd·θ), "
     "variance rectification when ρ_t > 5, plain momentum steps θ -= lr·m̂ before that (t ≤ 5 "
     "for β2 = 0.999). Defaults as PyTorch: lr 1e-3, betas {0.9, 0.999}, eps 1e-8, "
     "weight_decay 0. The paper: lr=1e-4, weight_decay=1e-4 (eps 1e-4 in the release). "
     "help(opt) for the methods."},
    {"adam", l_adam,
     "lctw.optim.adam" OPT_ARGS " -> optimizer\n\n"
     "Adam as torch.optim.Adam (coupled L2 weight decay; eps added after dividing √v by "
     "√(1−β2ᵗ)). Defaults: lr 1e-3, betas {0.9, 0.999}, eps 1e-8, weight_decay 0."},
    {"adamw", l_adamw,
     "lctw.optim.adamw" OPT_ARGS " -> optimizer\n\n"
     "AdamW as torch.optim.AdamW (decoupled decay θ *= 1 − lr·wd before the Adam step). "
     "Defaults: lr 1e-3, betas {0.9, 0.999}, eps 1e-8, weight_decay 1e-2."},
    {"new", l_new,
     "lctw.optim.new(kind, " OPT_ARGS ") -> optimizer\n\n"
     "An optimizer by name: \"radam\", \"adam\" or \"adamw\"."},
    {"ema", l_ema,
     "lctw.optim.ema{decays={d1, d2, ...}, params=θ₀} -> ema\n\n"
     "Exponential moving averages of a flat parameter tensor, one copy per decay (up to 16), "
     "each initialised to θ₀ (params=, or later with ema:reset(θ₀)). ema:update(θ) after every "
     "optimizer step does θ_ema ← d·θ_ema + (1−d)·θ. The paper tracks {0.999, 0.9999, 0.99993, "
     "...} and reports 0.99993. help(ema) for the methods."},
    {"clip_grad_norm", l_clip_grad_norm,
     "lctw.optim.clip_grad_norm(grad, max_norm) -> norm\n\n"
     "Global-norm clipping in place (torch.nn.utils.clip_grad_norm_): returns the norm before "
     "clipping; if it exceeds max_norm, grad is scaled by max_norm/(norm + 1e-6). max_norm <= 0 "
     "only measures. A NaN/Inf norm leaves grad unchanged."},
    {"grad_norm", l_grad_norm, "lctw.optim.grad_norm(t) -> number\n\n√Σt², accumulated in double."},
    {"has_nonfinite", l_has_nonfinite,
     "lctw.optim.has_nonfinite(t) -> boolean, count, first\n\n"
     "Whether t has NaN or ±Inf elements, how many, and the 1-based flat index of the first "
     "(nil if none). Check the gradient before a step and skip it when true."},
    {NULL, NULL, NULL},
};

static const l_reg optim_methods[] = {
    {"step", l_optim_step,
     "opt:step(params, grad) -> t\n\n"
     "One update of params (in place) from grad: contiguous CPU tensors with the same numel "
     "(the state is sized at the first step). Returns the step count t."},
    {"state", l_optim_state,
     "opt:state() -> {kind=, lr=, betas=, eps=, weight_decay=, step=, m=, v=}\n\n"
     "The configuration and state. m and v (exp_avg, exp_avg_sq) are the live buffers, not "
     "copies (absent before the first step): save them, or clone them for a snapshot."},
    {"load_state", l_optim_load_state,
     "opt:load_state{step=, m=, v=} -> opt\n\nRestores step count and moments (copied)."},
    {"reset", l_optim_reset, "opt:reset() -> opt\n\nZeroes m, v and the step count."},
    {NULL, NULL, NULL},
};

static const l_reg ema_methods[] = {
    {"update", l_ema_update,
     "ema:update(params) -> ema\n\nEvery copy ← d·copy + (1−d)·params (call after each "
     "optimizer step)."},
    {"reset", l_ema_reset, "ema:reset(params) -> ema\n\nEvery copy ← params; updates = 0."},
    {"get", l_ema_get,
     "ema:get(i) -> tensor\n\nThe average for decay i (1-based, the order of decays=); the live "
     "buffer, not a copy."},
    {"find", l_ema_find, "ema:find(decay) -> i or nil\n\nIndex of a decay value."},
    {"decays", l_ema_decays, "ema:decays() -> {d1, d2, ...}"},
    {NULL, NULL, NULL},
};

static const char OPTIM_HELP[] =
    "lctw.Optimizer — RAdam / Adam / AdamW over a flat parameter tensor (PyTorch 1.13 "
    "semantics)\n\n"
    "  opt:step(params, grad)   one update in place; returns the step count\n"
    "  opt.lr = x               lr (also betas, eps, weight_decay) may change between steps\n"
    "  opt.kind opt.steps opt.n opt.lr opt.betas opt.eps opt.weight_decay\n"
    "  opt:state()  opt:load_state{step=, m=, v=}  opt:reset()";

static const char EMA_HELP[] =
    "lctw.EMA — moving averages of a flat parameter tensor, one per decay\n\n"
    "  ema:update(params)  ema:reset(params)  ema:get(i)  ema:find(decay)  ema:decays()\n"
    "  ema.updates ema.n ema.count";

static void new_type(lua_State *L, const char *mt, const l_reg *methods, lua_CFunction index,
                     lua_CFunction newindex, lua_CFunction gc, lua_CFunction tostr,
                     const char *help) {
    luaL_newmetatable(L, mt);
    int m = lua_gettop(L);
    lua_newtable(L);
    l_register(L, -1, methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, m, "__methods"); /* for completion (rawget only) */
    lua_pushcclosure(L, index, 1);
    lua_setfield(L, m, "__index");
    if (newindex) {
        lua_pushcfunction(L, newindex);
        lua_setfield(L, m, "__newindex");
    }
    lua_pushcfunction(L, gc);
    lua_setfield(L, m, "__gc");
    lua_pushcfunction(L, tostr);
    lua_setfield(L, m, "__tostring");
    lua_pop(L, 1);
    l_settypehelp(L, mt, help);
}

void l_optim_open(lua_State *L) {
    int mod = lua_gettop(L);
    l_register(L, mod, optim_funcs);
    l_sethelp(L, mod,
              "lctw.optim — optimizers (radam, adam, adamw), EMA, gradient clipping and checks.\n"
              "help(lctw.optim.radam), help(opt) on an optimizer, help(ema) on an EMA.");
    new_type(L, OPTIM_MT, optim_methods, l_optim_index, l_optim_newindex, l_optim_gc,
             l_optim_tostring, OPTIM_HELP);
    new_type(L, EMA_MT, ema_methods, l_ema_index, NULL, l_ema_gc, l_ema_tostring, EMA_HELP);
    lua_settop(L, mod);
}
