/* l_ct.c — lctw.ct: the consistency-training pieces from Lua (src/ct/schedule.h, src/ct/loss.h).
 *
 *   lctw.ct.karras_sigmas(N [, opts])     the σ grid (table, or tensor with {tensor=true})
 *   lctw.ct.curriculum{s0=, s1=, total=}  lctw.Curriculum: :N(k) :stage(k) :stages()
 *   lctw.ct.index_sampler{p_mean=, ...}   lctw.IndexSampler: :probs(N) :sample(N, n, rng)
 *   lctw.ct.c_schedule(kind or fn, opts)  lctw.CSchedule: :value(step [, N])
 *   lctw.ct.loss(name, opts)              lctw.Loss: :value(ds, dt, sigma, sigma_next [, opts])
 *   lctw.ct.weights(sigmas [, opts])      w = 1/(σ_i − σ_{i+1})
 *
 * Objects are userdata holding the plain-data C config; their fields read and write by name
 * (cur.total = 1000), a write is validated and undone when invalid. Lua indices are 1-based:
 * grid index i (1..N) is σ_{i−1} of the C side, sampled indices are 1..N−1 (σ = sigmas[i],
 * σ' = sigmas[i+1]), stages are 1..num_stages. Steps k are counts from 0, as in the trainer.
 *
 * A c schedule made from a Lua function evaluates it through the C callback: the function is the
 * userdata's user value, found again through a weak registry table keyed by the C struct, and
 * is called with lua_pcall so an error in it comes back as a status (never a longjmp through
 * core code).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct/loss.h"
#include "ct/schedule.h"
#include "lctw_lua.h"

#define CURRICULUM_MT "lctw.Curriculum"
#define SAMPLER_MT "lctw.IndexSampler"
#define CSCHED_MT "lctw.CSchedule"
#define LOSS_MT "lctw.Loss"

/* ---- generic fields of a plain-data struct ---- */

typedef enum { F_INT, F_NUM } l_ftype;

typedef struct l_field {
    const char *name;
    l_ftype type;
    size_t off;
} l_field;

static const l_field *find_field(const l_field *fs, const char *k) {
    for (; fs->name; fs++)
        if (!strcmp(fs->name, k)) return fs;
    return NULL;
}

static void push_field(lua_State *L, const l_field *f, const void *base) {
    const char *p = (const char *)base + f->off;
    if (f->type == F_INT)
        lua_pushinteger(L, (lua_Integer) * (const int64_t *)p);
    else
        lua_pushnumber(L, *(const double *)p);
}

/* Sets field f from the value at vidx, runs check(base); on failure restores the old value and
 * raises the check's message. */
static void set_field(lua_State *L, const l_field *f, void *base, int vidx, const char *tname,
                      lctw_status (*check)(void *base)) {
    char *p = (char *)base + f->off, old[8];
    memcpy(old, p, 8);
    if (f->type == F_INT) {
        int ok;
        lua_Integer v = lua_tointegerx(L, vidx, &ok);
        if (!ok)
            luaL_error(L, "%s.%s: expected an integer, got %s", tname, f->name,
                       luaL_typename(L, vidx));
        *(int64_t *)p = (int64_t)v;
    } else {
        int ok;
        lua_Number v = lua_tonumberx(L, vidx, &ok);
        if (!ok)
            luaL_error(L, "%s.%s: expected a number, got %s", tname, f->name,
                       luaL_typename(L, vidx));
        *(double *)p = (double)v;
    }
    lctw_status s = check ? check(base) : LCTW_OK;
    if (s != LCTW_OK) {
        memcpy(p, old, 8);
        l_fail(L, s);
    }
}

/* Reads option fields of the table at idx into base (absent fields keep their value). */
static void read_options(lua_State *L, int idx, const l_field *fs, void *base) {
    for (const l_field *f = fs; f->name; f++) {
        char *p = (char *)base + f->off;
        if (f->type == F_INT)
            *(int64_t *)p = (int64_t)l_optfield_int(L, idx, f->name, *(int64_t *)p);
        else
            *(double *)p = (double)l_optfield_num(L, idx, f->name, *(double *)p);
    }
}

/* __index with the methods table as upvalue 1: methods first, then `getter`. */
static int index_with(lua_State *L, int (*getter)(lua_State *L, const char *k)) {
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    return getter(L, lua_tostring(L, 2));
}

/* Creates metatable tname with __index (closure over the methods), __newindex, __tostring,
 * __gc (optional), __methods and the type help. */
static void new_type(lua_State *L, const char *tname, const l_reg *methods, lua_CFunction index,
                     lua_CFunction newindex, lua_CFunction tostring, lua_CFunction gc,
                     const char *help) {
    luaL_newmetatable(L, tname);
    int mt = lua_gettop(L);
    lua_newtable(L);
    l_register(L, -1, methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, mt, "__methods");
    lua_pushcclosure(L, index, 1);
    lua_setfield(L, mt, "__index");
    lua_pushcfunction(L, newindex);
    lua_setfield(L, mt, "__newindex");
    lua_pushcfunction(L, tostring);
    lua_setfield(L, mt, "__tostring");
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, mt, "__gc");
    }
    lua_settop(L, mt - 1);
    l_settypehelp(L, tname, help);
}

static int64_t check_N(lua_State *L, int idx) {
    lua_Integer N = luaL_checkinteger(L, idx);
    if (N < 2) luaL_error(L, "N (grid points) must be at least 2, got %d", (int)N);
    if (N > (1 << 26)) luaL_error(L, "N (grid points) = %I is too large", N);
    return (int64_t)N;
}

/* Pushes a 1-based table of n doubles. */
static void push_doubles(lua_State *L, const double *v, int64_t n) {
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
}

/* Scratch memory owned by the Lua GC (a userdata left on the stack), so a Lua error on any
 * path frees it. */
static void *scratch(lua_State *L, size_t n) { return lua_newuserdatauv(L, n ? n : 1, 0); }

/* Reads n numbers from the value at idx (a table, a tensor with n elements, or a number
 * repeated n times) into out; `what` names the argument in errors. */
static void read_numbers(lua_State *L, int idx, int64_t n, double *out, const char *what) {
    lctw_tensor *t = l_totensor(L, idx);
    if (t) {
        if (lctw_tensor_numel(t) != n)
            luaL_error(L, "%s: tensor has %I elements, expected %I (one per sample)", what,
                       (lua_Integer)lctw_tensor_numel(t), (lua_Integer)n);
        for (int64_t i = 0; i < n; i++) {
            float v;
            L_TRY(L, lctw_tensor_get_flat(t, i, &v));
            out[i] = v;
        }
        return;
    }
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        for (int64_t i = 0; i < n; i++)
            out[i] = v;
        return;
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: expected a number, a table or a tensor, got %s", what,
                   luaL_typename(L, idx));
    lua_Integer len = luaL_len(L, idx);
    if (len != n)
        luaL_error(L, "%s: table has %I entries, expected %I (one per sample)", what, len,
                   (lua_Integer)n);
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, idx, (lua_Integer)(i + 1));
        int ok;
        out[i] = lua_tonumberx(L, -1, &ok);
        if (!ok)
            luaL_error(L, "%s[%I]: expected a number, got %s", what, (lua_Integer)(i + 1),
                       luaL_typename(L, -1));
        lua_pop(L, 1);
    }
}

/* ================================ karras_sigmas, weights ================================ */

static const char *const SIGMA_OPTS[] = {"sigma_min", "sigma_max", "rho", "tensor", NULL};

static int l_karras_sigmas(lua_State *L) {
    int64_t N = check_N(L, 1);
    l_checkoptions(L, 2, "karras_sigmas", SIGMA_OPTS);
    double smin = l_optfield_num(L, 2, "sigma_min", LCTW_KARRAS_SIGMA_MIN);
    double smax = l_optfield_num(L, 2, "sigma_max", LCTW_KARRAS_SIGMA_MAX);
    double rho = l_optfield_num(L, 2, "rho", LCTW_KARRAS_RHO);
    int as_tensor = l_optfield_bool(L, 2, "tensor", 0);
    double *s = scratch(L, (size_t)N * sizeof *s);
    L_TRY(L, lctw_karras_sigmas(N, smin, smax, rho, s));
    if (!as_tensor) {
        push_doubles(L, s, N);
        return 1;
    }
    lctw_tensor *t = NULL;
    L_TRY(L, lctw_tensor_empty(&t, 1, (int64_t[]){N}, LCTW_DEV_CPU));
    for (int64_t i = 0; i < N; i++)
        lctw_tensor_data(t)[i] = (float)s[i];
    l_pushtensor(L, t);
    return 1;
}

static const char *const WEIGHT_OPTS[] = {"weighting", NULL};

static int l_weights(lua_State *L) {
    l_checkoptions(L, 2, "weights", WEIGHT_OPTS);
    lctw_weighting w;
    L_TRY(L, lctw_weighting_parse(l_optfield_str(L, 2, "weighting", "ict"), &w));
    int64_t n;
    lctw_tensor *t = l_totensor(L, 1);
    if (t)
        n = lctw_tensor_numel(t);
    else if (lua_istable(L, 1))
        n = (int64_t)luaL_len(L, 1);
    else
        return luaL_typeerror(L, 1, "table or lctw.Tensor of sigmas");
    if (n < 2) return luaL_error(L, "weights: need at least 2 sigmas, got %I", (lua_Integer)n);
    double *s = scratch(L, (size_t)n * sizeof *s);
    read_numbers(L, 1, n, s, "weights: sigmas");
    lua_createtable(L, (int)(n - 1), 0);
    for (int64_t i = 0; i + 1 < n; i++) {
        if (w == LCTW_WEIGHT_ICT && !(s[i] > s[i + 1]))
            return luaL_error(L, "weights: sigmas must descend, sigma[%I] = %f <= sigma[%I] = %f",
                              (lua_Integer)(i + 1), s[i], (lua_Integer)(i + 2), s[i + 1]);
        lua_pushnumber(L, lctw_loss_weight(w, s[i], s[i + 1]));
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    return 1;
}

/* ====================================== curriculum ====================================== */

static const l_field CURRICULUM_FIELDS[] = {
    {"s0", F_INT, offsetof(lctw_curriculum, s0)},
    {"s1", F_INT, offsetof(lctw_curriculum, s1)},
    {"total", F_INT, offsetof(lctw_curriculum, total)},
    {NULL, F_INT, 0},
};

static lctw_curriculum *check_curriculum(lua_State *L, int idx) {
    return luaL_checkudata(L, idx, CURRICULUM_MT);
}

static lctw_status curriculum_check_v(void *p) { return lctw_curriculum_check(p); }

static const char *const CURRICULUM_OPTS[] = {"s0", "s1", "total", NULL};

static int l_curriculum(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    l_checkoptions(L, 1, "curriculum", CURRICULUM_OPTS);
    lua_getfield(L, 1, "total");
    if (lua_isnil(L, -1))
        return luaL_error(L, "curriculum: option 'total' (the number of training steps) is "
                             "required");
    lua_pop(L, 1);
    lctw_curriculum c = lctw_curriculum_default(0);
    read_options(L, 1, CURRICULUM_FIELDS, &c);
    L_TRY(L, lctw_curriculum_check(&c));
    lctw_curriculum *u = lua_newuserdatauv(L, sizeof *u, 0);
    *u = c;
    luaL_setmetatable(L, CURRICULUM_MT);
    return 1;
}

static lua_Integer check_step(lua_State *L, int idx) {
    lua_Integer k = luaL_checkinteger(L, idx);
    if (k < 0) luaL_error(L, "step must be >= 0, got %I", k);
    return k;
}

static int l_cur_N(lua_State *L) {
    lctw_curriculum *c = check_curriculum(L, 1);
    lua_pushinteger(L, (lua_Integer)lctw_curriculum_N(c, (int64_t)check_step(L, 2)));
    return 1;
}

static int l_cur_stage(lua_State *L) {
    lctw_curriculum *c = check_curriculum(L, 1);
    lua_pushinteger(L, (lua_Integer)lctw_curriculum_stage(c, (int64_t)check_step(L, 2)) + 1);
    return 1;
}

static int l_cur_stages(lua_State *L) {
    lctw_curriculum *c = check_curriculum(L, 1);
    int n = lctw_curriculum_num_stages(c);
    lua_createtable(L, n, 0);
    for (int s = 0; s < n; s++) {
        int64_t first = lctw_curriculum_stage_start(c, s);
        int64_t end = s + 1 < n ? lctw_curriculum_stage_start(c, s + 1) : c->total;
        if (end > c->total) end = c->total;
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, (lua_Integer)lctw_curriculum_stage_N(c, s));
        lua_setfield(L, -2, "N");
        lua_pushinteger(L, (lua_Integer)first);
        lua_setfield(L, -2, "first");
        lua_pushinteger(L, (lua_Integer)(end > first ? end - first : 0));
        lua_setfield(L, -2, "steps");
        lua_rawseti(L, -2, s + 1);
    }
    return 1;
}

static int cur_get(lua_State *L, const char *k) {
    lctw_curriculum *c = check_curriculum(L, 1);
    const l_field *f = find_field(CURRICULUM_FIELDS, k);
    if (f) {
        push_field(L, f, c);
        return 1;
    }
    if (!strcmp(k, "kprime")) {
        lua_pushinteger(L, (lua_Integer)lctw_curriculum_kprime(c));
        return 1;
    }
    if (!strcmp(k, "num_stages")) {
        lua_pushinteger(L, lctw_curriculum_num_stages(c));
        return 1;
    }
    return 0;
}

static int l_cur_index(lua_State *L) { return index_with(L, cur_get); }

static int l_cur_newindex(lua_State *L) {
    lctw_curriculum *c = check_curriculum(L, 1);
    const char *k = luaL_checkstring(L, 2);
    const l_field *f = find_field(CURRICULUM_FIELDS, k);
    if (!f) return luaL_error(L, "lctw.Curriculum has no writable field '%s' (s0, s1, total)", k);
    set_field(L, f, c, 3, "curriculum", curriculum_check_v);
    return 0;
}

static int l_cur_tostring(lua_State *L) {
    lctw_curriculum *c = check_curriculum(L, 1);
    int n = lctw_curriculum_num_stages(c);
    lua_pushfstring(
        L, "<lctw.Curriculum s0=%I s1=%I total=%I: K'=%I, %d stages, N %I..%I>", (lua_Integer)c->s0,
        (lua_Integer)c->s1, (lua_Integer)c->total, (lua_Integer)lctw_curriculum_kprime(c), n,
        (lua_Integer)lctw_curriculum_stage_N(c, 0), (lua_Integer)lctw_curriculum_stage_N(c, n - 1));
    return 1;
}

static const l_reg curriculum_methods[] = {
    {"N", l_cur_N,
     "cur:N(k) -> N\n\nThe number of grid points at global step k (k counts from 0): "
     "min(s0·2^⌊k/K'⌋, s1) + 1 with K' = ⌊total/(log2⌊s1/s0⌋ + 1)⌋. Steps past total stay at "
     "s1 + 1."},
    {"stage", l_cur_stage,
     "cur:stage(k) -> stage\n\nThe stage (1 .. cur.num_stages) of global step k."},
    {"stages", l_cur_stages,
     "cur:stages() -> {{N=, first=, steps=}, ...}\n\nEvery stage: its N, its first step and "
     "how many of the steps 0 .. total-1 it covers (the last stage also runs past total)."},
    {NULL, NULL, NULL},
};

/* ===================================== index sampler ===================================== */

static const l_field SAMPLER_FIELDS[] = {
    {"p_mean", F_NUM, offsetof(lctw_index_sampler, p_mean)},
    {"p_std", F_NUM, offsetof(lctw_index_sampler, p_std)},
    {"sigma_min", F_NUM, offsetof(lctw_index_sampler, sigma_min)},
    {"sigma_max", F_NUM, offsetof(lctw_index_sampler, sigma_max)},
    {"rho", F_NUM, offsetof(lctw_index_sampler, rho)},
    {NULL, F_NUM, 0},
};

static lctw_index_sampler *check_sampler(lua_State *L, int idx) {
    return luaL_checkudata(L, idx, SAMPLER_MT);
}

static lctw_status sampler_check_v(void *p) { return lctw_index_sampler_check(p); }

static const char *const SAMPLER_OPTS[] = {"p_mean",    "p_std", "sigma_min",
                                           "sigma_max", "rho",   NULL};

static int l_index_sampler(lua_State *L) {
    if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
    l_checkoptions(L, 1, "index_sampler", SAMPLER_OPTS);
    lctw_index_sampler tmp;
    lctw_index_sampler_init(&tmp);
    read_options(L, 1, SAMPLER_FIELDS, &tmp);
    L_TRY(L, lctw_index_sampler_check(&tmp));
    lctw_index_sampler *u = lua_newuserdatauv(L, sizeof *u, 0);
    *u = tmp; /* no cache yet: nothing to leak if setmetatable raised */
    luaL_setmetatable(L, SAMPLER_MT);
    return 1;
}

static int l_sampler_gc(lua_State *L) {
    lctw_index_sampler_release(check_sampler(L, 1));
    return 0;
}

static int l_sampler_probs(lua_State *L) {
    lctw_index_sampler *s = check_sampler(L, 1);
    int64_t N = check_N(L, 2);
    L_TRY(L, lctw_index_sampler_prepare(s, N));
    push_doubles(L, s->prob, N - 1);
    return 1;
}

static const char *const RNG_OPTS[] = {"seed", "stream", "offset", NULL};

static int l_sampler_sample(lua_State *L) {
    lctw_index_sampler *s = check_sampler(L, 1);
    int64_t N = check_N(L, 2);
    lua_Integer n = luaL_checkinteger(L, 3);
    if (n < 0 || n > (1 << 26)) return luaL_error(L, "sample: n must be in 0..2^26, got %I", n);
    l_checkoptions(L, 4, "sample", RNG_OPTS);
    lctw_rng rng;
    rng.seed = (uint64_t)l_optfield_int(L, 4, "seed", 0);
    rng.stream = (uint32_t)l_optfield_int(L, 4, "stream", 0);
    rng.offset = (uint64_t)l_optfield_int(L, 4, "offset", 0);
    int64_t *idx = scratch(L, (size_t)n * sizeof *idx);
    L_TRY(L, lctw_index_sampler_sample(s, N, (int64_t)n, &rng, idx));
    lua_createtable(L, (int)n, 0);
    for (lua_Integer j = 0; j < n; j++) {
        lua_pushinteger(L, (lua_Integer)idx[j] + 1);
        lua_rawseti(L, -2, j + 1);
    }
    lua_pushinteger(L, (lua_Integer)rng.offset);
    return 2;
}

static int l_sampler_fraction(lua_State *L) {
    lctw_index_sampler *s = check_sampler(L, 1);
    int64_t N = check_N(L, 2);
    double rate = luaL_optnumber(L, 3, 0.75), p;
    if (!(rate >= 0 && rate <= 1)) return luaL_error(L, "rate must be in [0, 1], got %f", rate);
    L_TRY(L, lctw_index_sampler_tail(s, N, lctw_loss_diff_first(N, rate), &p));
    lua_pushnumber(L, p);
    return 1;
}

static int sampler_get(lua_State *L, const char *k) {
    lctw_index_sampler *s = check_sampler(L, 1);
    const l_field *f = find_field(SAMPLER_FIELDS, k);
    if (!f) return 0;
    push_field(L, f, s);
    return 1;
}

static int l_sampler_index(lua_State *L) { return index_with(L, sampler_get); }

static int l_sampler_newindex(lua_State *L) {
    lctw_index_sampler *s = check_sampler(L, 1);
    const char *k = luaL_checkstring(L, 2);
    const l_field *f = find_field(SAMPLER_FIELDS, k);
    if (!f)
        return luaL_error(L,
                          "lctw.IndexSampler has no writable field '%s' (p_mean, p_std, "
                          "sigma_min, sigma_max, rho)",
                          k);
    set_field(L, f, s, 3, "index_sampler", sampler_check_v);
    return 0;
}

static int l_sampler_tostring(lua_State *L) {
    lctw_index_sampler *s = check_sampler(L, 1);
    char buf[200];
    snprintf(buf, sizeof buf,
             "<lctw.IndexSampler lognormal(p_mean=%g, p_std=%g) over the Karras grid "
             "(sigma %g..%g, rho %g)>",
             s->p_mean, s->p_std, s->sigma_min, s->sigma_max, s->rho);
    lua_pushstring(L, buf);
    return 1;
}

static const l_reg sampler_methods[] = {
    {"probs", l_sampler_probs,
     "s:probs(N) -> {P(1), ..., P(N-1)}\n\nThe categorical probabilities of the grid indices "
     "1..N-1 (index i pairs sigmas[i] with sigmas[i+1]): P(i) ∝ erf((ln σ_i − p_mean)/(√2 "
     "p_std)) − erf((ln σ_{i+1} − p_mean)/(√2 p_std)). Cached per N."},
    {"sample", l_sampler_sample,
     "s:sample(N, n [, {seed=, stream=, offset=}]) -> indices, next_offset\n\nn i.i.d. grid "
     "indices in 1..N-1 by the inverse CDF of uniforms from the Philox stream (seed, stream, "
     "offset) (defaults 0, 0, 0): the same arguments give the same indices. next_offset is the "
     "offset after the draw (offset + ⌈n/4⌉), for the next call."},
    {"diffusion_fraction", l_sampler_fraction,
     "s:diffusion_fraction(N [, rate=0.75]) -> p\n\nThe probability that a sampled index falls in "
     "the diffusion-loss subset (C index ≥ ⌊rate·N⌋, the lowest-σ part of the grid): ≈0.244 at "
     "N=11, ≈0.366 for N ≥ 21 with the paper's lognormal."},
    {NULL, NULL, NULL},
};

/* ====================================== c schedule ====================================== */

typedef struct l_csched {
    lctw_c_schedule s;
    lua_State *L; /* the state running the current call (set on every entry) */
} l_csched;

static const char CSCHED_BOXES = 'c'; /* registry: weak table lightuserdata(box) -> userdata */

static const l_field CSCHED_FIELDS[] = {
    {"c", F_NUM, offsetof(lctw_c_schedule, c)},
    {"d", F_INT, offsetof(lctw_c_schedule, d)},
    {"ict_k", F_NUM, offsetof(lctw_c_schedule, ict_k)},
    {"s0", F_INT, offsetof(lctw_c_schedule, s0)},
    {"a", F_NUM, offsetof(lctw_c_schedule, a)},
    {"b", F_NUM, offsetof(lctw_c_schedule, b)},
    {"scale", F_NUM, offsetof(lctw_c_schedule, scale)},
    {NULL, F_NUM, 0},
};

static l_csched *check_csched(lua_State *L, int idx) {
    l_csched *b = luaL_checkudata(L, idx, CSCHED_MT);
    b->L = L;
    return b;
}

static lctw_status csched_check_v(void *p) { return lctw_c_schedule_check(p); }

/* The callback of a schedule made from a Lua function: fn(step, N) -> c. */
static lctw_status csched_call(void *ud, int64_t step, int64_t N, double *c) {
    l_csched *box = ud;
    lua_State *L = box->L;
    if (!lua_checkstack(L, 6))
        return LCTW_FAIL(LCTW_ENOMEM, "c_schedule function: Lua stack overflow");
    int top = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &CSCHED_BOXES);
    if (lua_rawgetp(L, -1, box) != LUA_TUSERDATA || lua_getiuservalue(L, -1, 1) != LUA_TFUNCTION) {
        lua_settop(L, top);
        return LCTW_FAIL(LCTW_EINVAL, "c_schedule function: the function is gone");
    }
    lua_pushinteger(L, (lua_Integer)step);
    lua_pushinteger(L, (lua_Integer)N);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        lctw_status s = LCTW_FAIL(LCTW_EINVAL, "c_schedule function(step %lld, N %lld): %s",
                                  (long long)step, (long long)N, msg ? msg : "(error object)");
        lua_settop(L, top);
        return s;
    }
    int ok;
    double v = lua_tonumberx(L, -1, &ok);
    const char *tn = luaL_typename(L, -1);
    lua_settop(L, top);
    if (!ok)
        return LCTW_FAIL(LCTW_EINVAL,
                         "c_schedule function(step %lld, N %lld) returned %s, expected a number",
                         (long long)step, (long long)N, tn);
    *c = v;
    return LCTW_OK;
}

static const char *const CSCHED_OPTS[] = {"c", "d",     "ict_k",      "s0", "a",
                                          "b", "scale", "curriculum", NULL};

static int l_c_schedule(lua_State *L) {
    lctw_c_kind kind;
    if (lua_isfunction(L, 1))
        kind = LCTW_C_CALLBACK;
    else if (lua_type(L, 1) == LUA_TSTRING)
        L_TRY(L, lctw_c_kind_parse(lua_tostring(L, 1), &kind));
    else
        return luaL_typeerror(L, 1, "\"constant\", \"ict\", \"adaptive\" or a function");
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    l_checkoptions(L, 2, "c_schedule", CSCHED_OPTS);
    lctw_c_schedule s = lctw_c_schedule_default(kind);
    read_options(L, 2, CSCHED_FIELDS, &s);
    int has_cur = 0;
    if (!lua_isnoneornil(L, 2)) {
        lua_getfield(L, 2, "curriculum");
        if (!lua_isnil(L, -1)) {
            lctw_curriculum *cur = luaL_testudata(L, -1, CURRICULUM_MT);
            if (!cur)
                return luaL_error(L,
                                  "c_schedule: option 'curriculum': expected an "
                                  "lctw.Curriculum, got %s",
                                  luaL_typename(L, -1));
            /* the adaptive rule's first stage is the curriculum's, unless s0 is given */
            lua_getfield(L, 2, "s0");
            if (lua_isnil(L, -1)) s.s0 = cur->s0;
            lua_pop(L, 1);
            has_cur = 1;
        }
        lua_pop(L, 1);
    }
    int cur_idx = lua_gettop(L) + 1;
    if (has_cur) lua_getfield(L, 2, "curriculum");
    l_csched *box = lua_newuserdatauv(L, sizeof *box, 2);
    memset(box, 0, sizeof *box);
    box->s = s;
    box->L = L;
    luaL_setmetatable(L, CSCHED_MT);
    if (kind == LCTW_C_CALLBACK) {
        box->s.fn = csched_call;
        box->s.ud = box;
        lua_pushvalue(L, 1);
        lua_setiuservalue(L, -2, 1);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &CSCHED_BOXES);
        lua_pushvalue(L, -2);
        lua_rawsetp(L, -2, box);
        lua_pop(L, 1);
    }
    if (has_cur) {
        lua_pushvalue(L, cur_idx);
        lua_setiuservalue(L, -2, 2);
    }
    L_TRY(L, lctw_c_schedule_check(&box->s));
    return 1;
}

static int l_cs_value(lua_State *L) {
    l_csched *box = check_csched(L, 1);
    int64_t step = (int64_t)check_step(L, 2), N;
    if (lua_isnoneornil(L, 3)) {
        if (lua_getiuservalue(L, 1, 2) != LUA_TUSERDATA)
            return luaL_error(L, "c_schedule:value(step, N): N is needed (this schedule has no "
                                 "curriculum)");
        N = lctw_curriculum_N(lua_touserdata(L, -1), step);
        lua_pop(L, 1);
    } else {
        N = check_N(L, 3);
    }
    double c;
    L_TRY(L, lctw_c_schedule_value(&box->s, step, N, &c));
    lua_pushnumber(L, c);
    return 1;
}

static int cs_get(lua_State *L, const char *k) {
    l_csched *box = check_csched(L, 1);
    const l_field *f = find_field(CSCHED_FIELDS, k);
    if (f) {
        push_field(L, f, &box->s);
        return 1;
    }
    if (!strcmp(k, "kind")) {
        lua_pushstring(L, lctw_c_kind_name(box->s.kind));
        return 1;
    }
    if (!strcmp(k, "curriculum") || !strcmp(k, "fn")) {
        lua_getiuservalue(L, 1, !strcmp(k, "fn") ? 1 : 2);
        return 1;
    }
    return 0;
}

static int l_cs_index(lua_State *L) { return index_with(L, cs_get); }

static int l_cs_newindex(lua_State *L) {
    l_csched *box = check_csched(L, 1);
    const char *k = luaL_checkstring(L, 2);
    const l_field *f = find_field(CSCHED_FIELDS, k);
    if (f) {
        set_field(L, f, &box->s, 3, "c_schedule", csched_check_v);
        return 0;
    }
    if (!strcmp(k, "curriculum")) {
        if (!lua_isnil(L, 3)) luaL_checkudata(L, 3, CURRICULUM_MT);
        lua_settop(L, 3);
        lua_setiuservalue(L, 1, 2);
        return 0;
    }
    return luaL_error(L,
                      "lctw.CSchedule has no writable field '%s' (c, d, ict_k, s0, a, b, "
                      "scale, curriculum)",
                      k);
}

static int l_cs_tostring(lua_State *L) {
    l_csched *box = check_csched(L, 1);
    const lctw_c_schedule *s = &box->s;
    char buf[256];
    switch (s->kind) {
    case LCTW_C_CONSTANT: snprintf(buf, sizeof buf, "<lctw.CSchedule constant c=%g>", s->c); break;
    case LCTW_C_ICT:
        snprintf(buf, sizeof buf, "<lctw.CSchedule ict c=%g·√%lld = %g>", s->ict_k, (long long)s->d,
                 s->ict_k * sqrt((double)s->d));
        break;
    case LCTW_C_ADAPTIVE:
        snprintf(buf, sizeof buf,
                 "<lctw.CSchedule adaptive: %g while N <= %lld, then %g·exp(%g·ln(N-1) %+g)>",
                 s->ict_k * sqrt((double)s->d), (long long)(s->s0 + 1), s->scale, s->a, s->b);
        break;
    default: snprintf(buf, sizeof buf, "<lctw.CSchedule function of (step, N)>"); break;
    }
    lua_pushstring(L, buf);
    return 1;
}

static const l_reg csched_methods[] = {
    {"value", l_cs_value,
     "cs:value(step [, N]) -> c\n\nThe robust-loss scale c at global step `step` with N grid "
     "points; N may be left out when the schedule has a curriculum (then N = cur:N(step))."},
    {NULL, NULL, NULL},
};

/* ========================================= loss ========================================= */

typedef struct l_loss {
    lctw_loss_cfg cfg;
    double c;
} l_loss;

static const l_field LOSS_FIELDS[] = {
    {"c", F_NUM, offsetof(l_loss, c)},
    {"diffusion", F_NUM, offsetof(l_loss, cfg.diff_lambda)},
    {"diff_rate", F_NUM, offsetof(l_loss, cfg.diff_rate)},
    {"sigma_data", F_NUM, offsetof(l_loss, cfg.sigma_data)},
    {NULL, F_NUM, 0},
};

static l_loss *check_loss(lua_State *L, int idx) { return luaL_checkudata(L, idx, LOSS_MT); }

static lctw_status loss_check_v(void *p) {
    l_loss *l = p;
    LCTW_TRY(lctw_loss_cfg_check(&l->cfg));
    if (lctw_loss_kind_uses_c(l->cfg.kind) && !(isfinite(l->c) && l->c > 0))
        return LCTW_FAIL(LCTW_EINVAL, "loss '%s': c must be finite and > 0, got %g",
                         lctw_loss_kind_name(l->cfg.kind), l->c);
    return LCTW_OK;
}

static const char *const LOSS_OPTS[] = {"name",      "c",          "weighting", "diffusion",
                                        "diff_rate", "sigma_data", NULL};

/* lctw.ct.loss([name] [, opts]) or lctw.ct.loss{name=, ...} */
static int l_loss_new(lua_State *L) {
    int o = 2;
    const char *name;
    if (lua_istable(L, 1)) {
        o = 1;
        name = l_optfield_str(L, 1, "name", "cauchy");
    } else {
        name = luaL_optstring(L, 1, "cauchy");
        if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    }
    l_checkoptions(L, o, "loss", LOSS_OPTS);
    l_loss tmp;
    tmp.cfg = lctw_loss_cfg_default();
    tmp.c = LCTW_CT_ICT_C_PER_SQRT_D * 64.0;
    L_TRY(L, lctw_loss_kind_parse(name, &tmp.cfg.kind));
    L_TRY(L, lctw_weighting_parse(l_optfield_str(L, o, "weighting", "ict"), &tmp.cfg.weighting));
    tmp.c = l_optfield_num(L, o, "c", tmp.c);
    tmp.cfg.diff_rate = l_optfield_num(L, o, "diff_rate", tmp.cfg.diff_rate);
    tmp.cfg.sigma_data = l_optfield_num(L, o, "sigma_data", tmp.cfg.sigma_data);
    /* diffusion: a weight, or false/true (off / the paper's 5) */
    if (!lua_isnoneornil(L, o) && lua_getfield(L, o, "diffusion") == LUA_TBOOLEAN) {
        tmp.cfg.diff_lambda = lua_toboolean(L, -1) ? 5.0 : 0.0;
        lua_pop(L, 1);
    } else {
        if (!lua_isnoneornil(L, o)) lua_pop(L, 1);
        tmp.cfg.diff_lambda = l_optfield_num(L, o, "diffusion", tmp.cfg.diff_lambda);
    }
    L_TRY(L, loss_check_v(&tmp));
    l_loss *u = lua_newuserdatauv(L, sizeof *u, 0);
    *u = tmp;
    luaL_setmetatable(L, LOSS_MT);
    return 1;
}

static const char *const VALUE_OPTS[] = {"x", "index", "N",          "in_diff",
                                         "c", "grad",  "per_sample", NULL};

static void set_num(lua_State *L, const char *k, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_array(lua_State *L, const char *k, const lctw_loss_sample *per, int64_t b,
                      size_t off) {
    lua_createtable(L, (int)b, 0);
    for (int64_t j = 0; j < b; j++) {
        lua_pushnumber(L, *(const double *)((const char *)&per[j] + off));
        lua_rawseti(L, -2, (lua_Integer)(j + 1));
    }
    lua_setfield(L, -2, k);
}

/* loss:value(ds, dt, sigma, sigma_next [, opts]) -> L, info [, grad] */
static int l_loss_value(lua_State *L) {
    l_loss *l = check_loss(L, 1);
    lctw_tensor *ds = l_checktensor(L, 2), *dt = l_checktensor(L, 3);
    const int o = 6;
    lua_settop(L, o); /* fixed argument slots: scratch values pushed below sit above them */
    if (!lua_isnoneornil(L, o)) luaL_checktype(L, o, LUA_TTABLE);
    l_checkoptions(L, o, "loss:value", VALUE_OPTS);
    if (ds->ndim < 1 || ds->shape[0] < 1)
        return luaL_error(L, "loss:value: D_s needs a batch dimension with at least one sample");
    int64_t b = ds->shape[0];
    double c = l_optfield_num(L, o, "c", l->c);
    int per_sample = l_optfield_bool(L, o, "per_sample", 1);

    /* scratch: sigma, sigma_next, mask, per-sample values */
    char *mem = scratch(L, (size_t)b * (2 * sizeof(double) + 1 + sizeof(lctw_loss_sample)) + 16);
    double *sigma = (double *)mem, *sigma_next = sigma + b;
    lctw_loss_sample *per = (lctw_loss_sample *)(sigma_next + b);
    unsigned char *mask = (unsigned char *)(per + b);

    /* grid indices (1-based) and N: the diffusion subset, and σ when sigma is nil */
    int have_index = 0, have_mask = 0;
    int64_t N = l_optfield_int(L, o, "N", 0);
    if (!lua_isnoneornil(L, o) && lua_getfield(L, o, "index") != LUA_TNIL) {
        int ti = lua_gettop(L);
        if (N < 2) return luaL_error(L, "loss:value: option 'index' needs option N (>= 2)");
        double *fi = scratch(L, (size_t)b * sizeof *fi);
        read_numbers(L, ti, b, fi, "loss:value: index");
        double *grid = lua_isnil(L, 4) ? scratch(L, (size_t)N * sizeof *grid) : NULL;
        if (grid)
            L_TRY(L, lctw_karras_sigmas(N, LCTW_KARRAS_SIGMA_MIN, LCTW_KARRAS_SIGMA_MAX,
                                        LCTW_KARRAS_RHO, grid));
        int64_t first = lctw_loss_diff_first(N, l->cfg.diff_rate);
        for (int64_t j = 0; j < b; j++) {
            double v = fi[j];
            if (!(v == floor(v) && v >= 1 && v <= (double)(N - 1))) {
                char num[32];
                snprintf(num, sizeof num, "%.17g", v);
                return luaL_error(L,
                                  "loss:value: index[%I] = %s is not an integer in 1..%I "
                                  "(N = %I)",
                                  (lua_Integer)(j + 1), num, (lua_Integer)(N - 1), (lua_Integer)N);
            }
            int64_t i0 = (int64_t)v - 1;
            mask[j] = i0 >= first;
            if (grid) {
                sigma[j] = grid[i0];
                sigma_next[j] = grid[i0 + 1];
            }
        }
        have_index = have_mask = 1;
        lua_settop(L, ti - 1);
    } else if (!lua_isnoneornil(L, o)) {
        lua_pop(L, 1);
    }
    if (!lua_isnoneornil(L, o) && lua_getfield(L, o, "in_diff") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            return luaL_error(L, "loss:value: option 'in_diff': expected a table of booleans");
        if (luaL_len(L, -1) != b)
            return luaL_error(L, "loss:value: option 'in_diff' has %I entries, expected %I",
                              luaL_len(L, -1), (lua_Integer)b);
        for (int64_t j = 0; j < b; j++) {
            lua_geti(L, -1, (lua_Integer)(j + 1));
            mask[j] = (unsigned char)lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
        have_mask = 1;
        lua_pop(L, 1);
    } else if (!lua_isnoneornil(L, o)) {
        lua_pop(L, 1);
    }
    if (lua_isnil(L, 4) || lua_isnone(L, 4)) {
        if (!have_index)
            return luaL_error(L, "loss:value: sigma is nil (give sigma and sigma_next, or "
                                 "options index= and N=)");
    } else {
        read_numbers(L, 4, b, sigma, "loss:value: sigma");
        if (lua_isnoneornil(L, 5)) {
            if (l->cfg.weighting == LCTW_WEIGHT_ICT)
                return luaL_error(L, "loss:value: sigma_next is needed for the ict weighting");
            memcpy(sigma_next, sigma, (size_t)b * sizeof *sigma);
        } else {
            read_numbers(L, 5, b, sigma_next, "loss:value: sigma_next");
        }
    }

    lctw_tensor *x = NULL;
    if (!lua_isnoneornil(L, o)) {
        if (lua_getfield(L, o, "x") != LUA_TNIL) x = l_checktensor(L, lua_gettop(L));
        lua_pop(L, 1); /* the options table keeps x alive */
    }
    if (have_mask && !x && l->cfg.diff_lambda > 0) {
        int any = 0;
        for (int64_t j = 0; j < b; j++)
            any |= mask[j];
        if (any)
            return luaL_error(L, "loss:value: samples are in the diffusion subset but option x "
                                 "(the clean data) is missing (or set loss.diffusion = 0)");
    }

    /* gradient: grad=true allocates, grad=<tensor> writes into it */
    lctw_tensor *grad = NULL;
    int push_grad = 0;
    if (!lua_isnoneornil(L, o)) {
        int t = lua_getfield(L, o, "grad");
        if (t == LUA_TBOOLEAN) {
            if (lua_toboolean(L, -1)) {
                lua_pop(L, 1);
                L_TRY(L, lctw_tensor_zeros(&grad, ds->ndim, ds->shape, lctw_tensor_device(ds)));
                l_pushtensor(L, grad); /* owned by Lua from here on */
                push_grad = 1;
            } else {
                lua_pop(L, 1);
            }
        } else if (t != LUA_TNIL) {
            grad = l_checktensor(L, lua_gettop(L));
            push_grad = 1; /* stays on the stack */
        } else {
            lua_pop(L, 1);
        }
    }
    int grad_idx = lua_gettop(L);

    lctw_loss_result res;
    L_TRY(L, lctw_loss_eval_tensors(&l->cfg, c, ds, dt, x, sigma, sigma_next,
                                    have_mask ? mask : NULL, grad, &res, per));

    lua_pushnumber(L, res.loss);
    lua_createtable(L, 0, 16);
    set_num(L, "loss", res.loss);
    set_num(L, "loss_ct", res.loss_ct);
    set_num(L, "loss_diff", res.loss_diff);
    set_num(L, "c", res.c);
    lua_pushinteger(L, (lua_Integer)res.diff_count);
    lua_setfield(L, -2, "diff_count");
    set_num(L, "frac_over_c", res.frac_over_c);
    set_num(L, "frac_elem_over_c", res.frac_elem_over_c);
    set_num(L, "mean_w", res.mean_w);
    lua_pushboolean(L, res.finite);
    lua_setfield(L, -2, "finite");
    if (per_sample) {
        set_array(L, "m", per, b, offsetof(lctw_loss_sample, m));
        set_array(L, "rho", per, b, offsetof(lctw_loss_sample, rho));
        set_array(L, "w", per, b, offsetof(lctw_loss_sample, w));
        set_array(L, "rms", per, b, offsetof(lctw_loss_sample, rms));
        set_array(L, "absmax", per, b, offsetof(lctw_loss_sample, absmax));
        set_array(L, "diff_mse", per, b, offsetof(lctw_loss_sample, diff_mse));
        lua_createtable(L, (int)b, 0);
        for (int64_t j = 0; j < b; j++) {
            lua_pushboolean(L, per[j].in_diff);
            lua_rawseti(L, -2, (lua_Integer)(j + 1));
        }
        lua_setfield(L, -2, "in_diff");
    }
    if (!push_grad) return 2;
    lua_pushvalue(L, grad_idx);
    return 3;
}

static int l_loss_rho(lua_State *L) {
    l_loss *l = check_loss(L, 1);
    double u = luaL_checknumber(L, 2), c = luaL_optnumber(L, 3, l->c);
    if (u < 0) return luaL_error(L, "loss:rho(m): m must be >= 0, got %f", u);
    lua_pushnumber(L, lctw_loss_rho(l->cfg.kind, u, c));
    lua_pushnumber(L, lctw_loss_drho(l->cfg.kind, u, c));
    return 2;
}

static int loss_get(lua_State *L, const char *k) {
    l_loss *l = check_loss(L, 1);
    const l_field *f = find_field(LOSS_FIELDS, k);
    if (f) {
        push_field(L, f, l);
        return 1;
    }
    if (!strcmp(k, "name") || !strcmp(k, "kind")) {
        lua_pushstring(L, lctw_loss_kind_name(l->cfg.kind));
        return 1;
    }
    if (!strcmp(k, "weighting")) {
        lua_pushstring(L, lctw_weighting_name(l->cfg.weighting));
        return 1;
    }
    if (!strcmp(k, "elementwise")) {
        lua_pushboolean(L, lctw_loss_kind_is_elem(l->cfg.kind));
        return 1;
    }
    return 0;
}

static int l_loss_index(lua_State *L) { return index_with(L, loss_get); }

static int l_loss_newindex(lua_State *L) {
    l_loss *l = check_loss(L, 1);
    const char *k = luaL_checkstring(L, 2);
    const l_field *f = find_field(LOSS_FIELDS, k);
    if (f) {
        set_field(L, f, l, 3, "loss", loss_check_v);
        return 0;
    }
    if (!strcmp(k, "name") || !strcmp(k, "kind")) {
        lctw_loss_kind kind;
        L_TRY(L, lctw_loss_kind_parse(luaL_checkstring(L, 3), &kind));
        lctw_loss_kind old = l->cfg.kind;
        l->cfg.kind = kind;
        lctw_status s = loss_check_v(l);
        if (s != LCTW_OK) {
            l->cfg.kind = old;
            l_fail(L, s);
        }
        return 0;
    }
    if (!strcmp(k, "weighting")) {
        L_TRY(L, lctw_weighting_parse(luaL_checkstring(L, 3), &l->cfg.weighting));
        return 0;
    }
    return luaL_error(L,
                      "lctw.Loss has no writable field '%s' (name, c, weighting, diffusion, "
                      "diff_rate, sigma_data)",
                      k);
}

static int l_loss_tostring(lua_State *L) {
    l_loss *l = check_loss(L, 1);
    char buf[200];
    snprintf(buf, sizeof buf, "<lctw.Loss %s c=%g weighting=%s diffusion=%g (rate %g)>",
             lctw_loss_kind_name(l->cfg.kind), l->c, lctw_weighting_name(l->cfg.weighting),
             l->cfg.diff_lambda, l->cfg.diff_rate);
    lua_pushstring(L, buf);
    return 1;
}

static const l_reg loss_methods[] = {
    {"value", l_loss_value,
     "loss:value(ds, dt, sigma, sigma_next [, opts]) -> L, info [, grad]\n\n"
     "The loss of a batch: ds (student output D_s), dt (teacher output D_t) are tensors whose "
     "first dimension is the batch; sigma and sigma_next (σ_j > σ'_j) are numbers, tables or "
     "tensors with one value per sample. L = mean_b w_j·ρ_c(m_j) + diffusion·L_diff.\n"
     "opts: x = clean data (tensor like ds) for the diffusion term; index = grid indices "
     "(1-based, 1..N-1) with N = grid points: the subset index-1 ≥ ⌊diff_rate·N⌋, and sigma "
     "and sigma_next may then be nil (taken from the default Karras grid); in_diff = table of "
     "booleans instead of index; c = scale for this call; grad = true (or a tensor to fill) "
     "returns ∂L/∂D_s as a third result; per_sample = false skips the per-sample tables.\n"
     "info: loss, loss_ct, loss_diff (0 when the subset is empty), c, diff_count, frac_over_c "
     "(fraction of samples with RMS residual √m_j > c), frac_elem_over_c, mean_w, finite "
     "(false on NaN/Inf), and per sample: m, rho, w, rms, absmax, diff_mse, in_diff."},
    {"rho", l_loss_rho,
     "loss:rho(m [, c]) -> rho, drho_dm\n\nThe robust function ρ_c and its derivative at m "
     "(a per-sample mean square, or one squared element for the *_elem kinds)."},
    {NULL, NULL, NULL},
};

/* ======================================== module ======================================== */

static const l_reg ct_funcs[] = {
    {"karras_sigmas", l_karras_sigmas,
     "lctw.ct.karras_sigmas(N [, {sigma_min=0.002, sigma_max=80, rho=7, tensor=false}]) -> "
     "sigmas\n\nThe Karras grid, noisiest first: sigmas[i] = (σ_max^{1/ρ} + (i-1)/(N-1)·"
     "(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, i = 1..N (sigmas[1] = σ_max, sigmas[N] = σ_min). A table "
     "of numbers, or a float32 tensor with tensor=true."},
    {"curriculum", l_curriculum,
     "lctw.ct.curriculum{s0=10, s1=640, total=} -> cur\n\nThe discretisation curriculum: N(k) = "
     "min(s0·2^⌊k/K'⌋, s1) + 1, K' = ⌊total/(log2⌊s1/s0⌋ + 1)⌋ (paper: s0 10, s1 640 → 7 "
     "stages N = 11..641). Fields s0, s1, total (writable), kprime, num_stages; methods "
     ":N(k), :stage(k), :stages()."},
    {"index_sampler", l_index_sampler,
     "lctw.ct.index_sampler{p_mean=-1.1, p_std=2.0, sigma_min=0.002, sigma_max=80, rho=7} -> "
     "s\n\nThe discretised lognormal over grid indices (iCT): methods :probs(N), "
     ":sample(N, n, {seed=, stream=, offset=}), :diffusion_fraction(N [, rate]). Fields are "
     "writable."},
    {"c_schedule", l_c_schedule,
     "lctw.ct.c_schedule(kind [, opts]) -> cs\n\nThe robust-loss scale c per step: kind "
     "\"constant\" (opts.c), \"ict\" (ict_k·√d = 0.00054·√4096 = 0.03456), \"adaptive\" (the "
     "paper: ict value while N ≤ s0+1, then scale·exp(a·ln(N−1) + b), a = −1.15, b = −0.85, "
     "scale = 1), or a Lua function(step, N) -> c. opts: c, d, ict_k, s0, a, b, scale, "
     "curriculum (then cs:value(step) finds N itself and s0 defaults to the curriculum's)."},
    {"loss", l_loss_new,
     "lctw.ct.loss([name] [, {c=0.03456, weighting=\"ict\", diffusion=5, diff_rate=0.75, "
     "sigma_data=0.5}]) -> loss\n\nThe consistency loss. name: \"cauchy\" (default, ln(1 + "
     "m/(2c²))), \"pseudo_huber\" (√(m+c²) − c), \"geman_mcclure\" (2m/(m+4c²)), \"l2\" (m), "
     "\"l1\" (mean|δ|), or per element \"cauchy_elem\", \"pseudo_huber_elem\", "
     "\"geman_mcclure_elem\" ([P] names huber, gm, cauchy_new, huber_new, gm_new work too); m = "
     "mean_e (D_s − D_t)². weighting \"ict\" = 1/(σ − σ'), or \"uniform\". diffusion = λ of the "
     "low-σ diffusion loss (0 or false: off). Methods :value(...), :rho(m)."},
    {"weights", l_weights,
     "lctw.ct.weights(sigmas [, {weighting=\"ict\"}]) -> w\n\nw[i] = 1/(sigmas[i] − "
     "sigmas[i+1]), i = 1..#sigmas-1 (sigmas a table or tensor, descending)."},
    {NULL, NULL, NULL},
};

static const char CURRICULUM_HELP[] =
    "lctw.Curriculum — the discretisation curriculum N(k) (lctw.ct.curriculum{...})\n\n"
    "  fields   s0, s1, total (writable, validated), kprime, num_stages\n"
    "  methods  cur:N(k)  cur:stage(k)  cur:stages()";
static const char SAMPLER_HELP[] =
    "lctw.IndexSampler — discretised lognormal over grid indices (lctw.ct.index_sampler{...})\n\n"
    "  fields   p_mean, p_std, sigma_min, sigma_max, rho (writable)\n"
    "  methods  s:probs(N)  s:sample(N, n, {seed=, stream=, offset=})  "
    "s:diffusion_fraction(N [, rate])";
static const char CSCHED_HELP[] =
    "lctw.CSchedule — the robust-loss scale c per step (lctw.ct.c_schedule(...))\n\n"
    "  fields   kind, c, d, ict_k, s0, a, b, scale (writable), curriculum, fn\n"
    "  methods  cs:value(step [, N])";
static const char LOSS_HELP[] =
    "lctw.Loss — a consistency loss with weighting and diffusion term (lctw.ct.loss(...))\n\n"
    "  fields   name, c, weighting, diffusion, diff_rate, sigma_data (writable), elementwise\n"
    "  methods  loss:value(ds, dt, sigma, sigma_next [, opts])  loss:rho(m [, c])";

void l_ct_open(lua_State *L) {
    int mod = lua_gettop(L);
    l_register(L, mod, ct_funcs);
    l_sethelp(L, mod,
              "lctw.ct — consistency-training pieces: the Karras grid, curriculum, index sampler, "
              "c schedules and losses (ALGORITHM.md §4).");
    new_type(L, CURRICULUM_MT, curriculum_methods, l_cur_index, l_cur_newindex, l_cur_tostring,
             NULL, CURRICULUM_HELP);
    new_type(L, SAMPLER_MT, sampler_methods, l_sampler_index, l_sampler_newindex,
             l_sampler_tostring, l_sampler_gc, SAMPLER_HELP);
    new_type(L, CSCHED_MT, csched_methods, l_cs_index, l_cs_newindex, l_cs_tostring, NULL,
             CSCHED_HELP);
    new_type(L, LOSS_MT, loss_methods, l_loss_index, l_loss_newindex, l_loss_tostring, NULL,
             LOSS_HELP);
    /* weak table of callback schedules: C struct -> userdata */
    lua_newtable(L);
    lua_newtable(L);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &CSCHED_BOXES);
    lua_settop(L, mod);
    l_ot_register(L); /* ot_assign, ot_couple (l_ot.c) */
}
