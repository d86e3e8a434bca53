/* l_data.c — lctw.data: latent data sets from .npy files, tensors or the synthetic generator,
 * as userdata "lctw.Data" (core in src/ct/data.c; definitions there and in data.h).
 *
 * Lua conventions: epochs in cursors are 1-based (the C cursor is 0-based), positions count the
 * samples already drawn in the epoch; channels are 1-based. Every result tensor is pushed before
 * the core call that fills it, so an error never leaks it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ct/data.h"
#include "lctw_lua.h"

#define DATA_MT LCTW_DATA_MT

typedef struct {
    lctw_data *d;
} l_data_box;

lctw_data *l_checkdata(lua_State *L, int idx) {
    l_data_box *b = luaL_checkudata(L, idx, DATA_MT);
    if (!b->d) luaL_argerror(L, idx, "data set has been freed");
    return b->d;
}

#define check_data l_checkdata


/* A new uninitialised CPU tensor pushed onto the stack. */
static lctw_tensor *push_new(lua_State *L, int ndim, const int64_t *shape) {
    lctw_tensor *t = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_tensor_empty(&t, ndim, shape, LCTW_DEV_CPU));
    if (s != LCTW_OK) l_fail(L, s);
    l_pushtensor(L, t);
    return t;
}

static lctw_tensor *push_like(lua_State *L, const lctw_tensor *x) {
    lctw_tensor *t = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_tensor_empty(&t, x->ndim, x->shape, lctw_tensor_device(x)));
    if (s != LCTW_OK) l_fail(L, s);
    l_pushtensor(L, t);
    return t;
}

static void push_data(lua_State *L, lctw_data *d) {
    l_data_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->d = d;
    luaL_setmetatable(L, DATA_MT);
}

static uint64_t opt_seed(lua_State *L, int idx, const char *k, uint64_t dflt) {
    lua_Integer v = l_optfield_int(L, idx, k, (lua_Integer)dflt);
    if (v < 0) luaL_error(L, "option '%s' must be >= 0, got %I", k, v);
    return (uint64_t)v;
}

static uint32_t opt_stream(lua_State *L, int idx, const char *k, uint32_t dflt) {
    lua_Integer v = l_optfield_int(L, idx, k, (lua_Integer)dflt);
    if (v < 0 || v > 0xFFFFFFFFLL)
        luaL_error(L, "option '%s' must be in 0..4294967295, got %I", k, v);
    return (uint32_t)v;
}

/* Data-set options shared by npy, from and synthetic (the table at idx may be absent). */
static void read_data_opts(lua_State *L, int idx, lctw_data_opts *o) {
    lctw_data_opts_init(o);
    o->normalize = l_optfield_bool(L, idx, "normalize", 1);
    o->flip = l_optfield_bool(L, idx, "flip", 0);
    o->stats_path = l_optfield_str(L, idx, "stats", NULL);
    lua_Integer h = l_optfield_int(L, idx, "holdout", 0);
    if (h < 0) luaL_error(L, "option 'holdout' must be >= 0, got %I", h);
    o->holdout = (int64_t)h;
    o->seed = opt_seed(L, idx, "seed", 0);
    o->stream = opt_stream(L, idx, "stream", LCTW_STREAM_DATA);
    o->sigma_data = l_optfield_num(L, idx, "sigma_data", 0.5);
    o->std_floor = l_optfield_num(L, idx, "std_floor", 1e-6);
}

#define DATA_OPTS                                                                                  \
    "normalize", "flip", "stats", "holdout", "seed", "stream", "sigma_data", "std_floor"

static int l_data_npy(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    static const char *const known[] = {DATA_OPTS, NULL};
    l_checkoptions(L, 2, "lctw.data.npy", known);
    lctw_data_opts o;
    read_data_opts(L, 2, &o);
    lctw_data *d = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_data_npy(&d, path, &o));
    if (s != LCTW_OK) return l_fail(L, s);
    push_data(L, d);
    return 1;
}

static int l_data_from(lua_State *L) {
    lctw_tensor *z = l_checktensor(L, 1);
    static const char *const known[] = {DATA_OPTS, "name", NULL};
    l_checkoptions(L, 2, "lctw.data.from", known);
    lctw_data_opts o;
    read_data_opts(L, 2, &o);
    const char *name = l_optfield_str(L, 2, "name", "tensor");
    lctw_data *d = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_data_from_tensor(&d, z, "float32", name, &o));
    if (s != LCTW_OK) return l_fail(L, s);
    push_data(L, d);
    return 1;
}

#define SYNTH_OPTS                                                                                 \
    "n", "shape", "outliers", "tail", "spike", "spike_max", "mixing", "waves", "freq", "noise",    \
        "gen_stream"

/* Reads the generator options at idx; per-channel rates go into a userdata left on the stack
 * (always pushed, so the caller's stack layout does not depend on the options). */
static void read_synth_opts(lua_State *L, int idx, lctw_synth_opts *o) {
    lctw_synth_opts_init(o);
    o->n = (int64_t)l_optfield_int(L, idx, "n", o->n);
    o->seed = opt_seed(L, idx, "seed", 0);
    o->stream = opt_stream(L, idx, "gen_stream", LCTW_STREAM_SYNTH);
    if (!lua_isnoneornil(L, idx) && lua_getfield(L, idx, "shape") != LUA_TNIL) {
        int64_t shape[LCTW_MAX_DIMS];
        if (!lua_istable(L, -1)) luaL_error(L, "option 'shape': expected a table {C, H, W}");
        int nd = l_checkshape(L, -1, shape, NULL);
        if (nd != 3) luaL_error(L, "option 'shape': expected {C, H, W}, got %d dimensions", nd);
        for (int i = 0; i < 3; i++)
            if (shape[i] < 1 || shape[i] > (i ? 65536 : 4096))
                luaL_error(L, "option 'shape': C must be in 1..4096 and H, W in 1..65536, got %I",
                           (lua_Integer)shape[i]);
        o->c = (int)shape[0];
        o->h = (int)shape[1];
        o->w = (int)shape[2];
        lua_pop(L, 1);
    } else if (!lua_isnoneornil(L, idx)) {
        lua_pop(L, 1);
    }
    double *rates = lua_newuserdatauv(L, (size_t)o->c * sizeof *rates, 0);
    int top = lua_gettop(L);
    if (!lua_isnoneornil(L, idx) && lua_getfield(L, idx, "outliers") == LUA_TTABLE) {
        lua_Integer len = luaL_len(L, -1);
        if (len != o->c)
            luaL_error(L, "option 'outliers': a table needs one rate per channel (%d), got %I",
                       o->c, len);
        for (int c = 0; c < o->c; c++) {
            lua_geti(L, -1, c + 1);
            if (lua_type(L, -1) != LUA_TNUMBER)
                luaL_error(L, "option 'outliers': entry %d is not a number", c + 1);
            rates[c] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        o->rates = rates;
    }
    lua_settop(L, top);
    if (!o->rates) {
        o->outliers = l_optfield_num(L, idx, "outliers", o->outliers);
    }
    o->tail = l_optfield_num(L, idx, "tail", o->tail);
    o->spike = l_optfield_num(L, idx, "spike", o->spike);
    o->spike_max = l_optfield_num(L, idx, "spike_max", o->spike_max);
    o->mixing = l_optfield_num(L, idx, "mixing", o->mixing);
    lua_Integer wv = l_optfield_int(L, idx, "waves", o->waves);
    if (wv < 1 || wv > 256) luaL_error(L, "option 'waves' must be in 1..256, got %I", wv);
    o->waves = (int)wv;
    o->freq = l_optfield_num(L, idx, "freq", o->freq);
    o->noise = l_optfield_num(L, idx, "noise", o->noise);
}

static int l_data_synthetic(lua_State *L) {
    static const char *const known[] = {SYNTH_OPTS, DATA_OPTS, NULL};
    l_checkoptions(L, 1, "lctw.data.synthetic", known);
    lctw_synth_opts so;
    read_synth_opts(L, 1, &so);
    lctw_data_opts o;
    read_data_opts(L, 1, &o);
    lctw_data *d = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_data_synthetic(&d, &so, &o));
    if (s != LCTW_OK) return l_fail(L, s);
    push_data(L, d);
    return 1;
}

static void push_doubles(lua_State *L, const double *v, int n) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static int l_data_generate(lua_State *L) {
    static const char *const known[] = {SYNTH_OPTS, "seed", NULL};
    l_checkoptions(L, 1, "lctw.data.generate", known);
    lctw_synth_opts so;
    read_synth_opts(L, 1, &so);
    lctw_tensor *t = NULL;
    lctw_synth_info info;
    lctw_status s;
    L_ALLOC(L, s, lctw_synth_generate(&t, &so, &info));
    if (s != LCTW_OK) return l_fail(L, s);
    l_pushtensor(L, t);
    int C = info.c;
    lua_createtable(L, 0, 3);
    lua_createtable(L, C, 0);
    for (int i = 0; i < C; i++) {
        push_doubles(L, info.mixing + (size_t)i * C, C);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "mixing");
    push_doubles(L, info.chan_scale, C);
    lua_setfield(L, -2, "chan_scale");
    lua_pushinteger(L, (lua_Integer)info.spikes);
    lua_setfield(L, -2, "spikes");
    lctw_synth_info_release(&info);
    return 2;
}

/* ---- statistics tables -------------------------------------------------------------------- */

static void push_tails(lua_State *L, const double *tail) {
    lua_createtable(L, 0, LCTW_TAIL_NK);
    for (int k = 0; k < LCTW_TAIL_NK; k++) {
        lua_pushnumber(L, tail[k]);
        lua_rawseti(L, -2, LCTW_TAIL_K0 + k);
    }
}

static void push_chan(lua_State *L, const lctw_chan_stats *c) {
    lua_createtable(L, 0, 10);
    lua_pushnumber(L, c->mean);
    lua_setfield(L, -2, "mean");
    lua_pushnumber(L, c->std);
    lua_setfield(L, -2, "std");
    lua_pushnumber(L, c->skew);
    lua_setfield(L, -2, "skew");
    lua_pushnumber(L, c->kurtosis);
    lua_setfield(L, -2, "kurtosis");
    lua_pushnumber(L, c->min);
    lua_setfield(L, -2, "min");
    lua_pushnumber(L, c->max);
    lua_setfield(L, -2, "max");
    lua_pushnumber(L, c->max_abs);
    lua_setfield(L, -2, "max_abs");
    lua_pushnumber(L, c->max_abs_std);
    lua_setfield(L, -2, "max_abs_std");
    push_tails(L, c->tail);
    lua_setfield(L, -2, "tail");
}

static void push_stats(lua_State *L, const lctw_latent_stats *st) {
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)st->n);
    lua_setfield(L, -2, "n");
    lua_createtable(L, st->c, 0);
    for (int c = 0; c < st->c; c++) {
        push_chan(L, &st->ch[c]);
        lua_rawseti(L, -2, c + 1);
    }
    lua_setfield(L, -2, "per_channel");
    /* overall: pooled channel-standardised shape statistics, raw location/scale */
    lctw_chan_stats o = st->pooled;
    o.mean = st->raw.mean;
    o.std = st->raw.std;
    push_chan(L, &o);
    lua_pushnumber(L, st->raw.kurtosis);
    lua_setfield(L, -2, "raw_kurtosis");
    lua_pushnumber(L, st->raw.skew);
    lua_setfield(L, -2, "raw_skew");
    lua_setfield(L, -2, "overall");
    double g[LCTW_TAIL_NK];
    for (int k = 0; k < LCTW_TAIL_NK; k++)
        g[k] = lctw_gaussian_tail(LCTW_TAIL_K0 + k);
    push_tails(L, g);
    lua_setfield(L, -2, "gaussian_tail");
}

static int l_data_stats_of(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    lctw_latent_stats st;
    L_TRY(L, lctw_latent_stats_compute(t, &st));
    push_stats(L, &st);
    lctw_latent_stats_release(&st);
    return 1;
}

static int l_gaussian_tail(lua_State *L) {
    lua_pushnumber(L, lctw_gaussian_tail(luaL_checknumber(L, 1)));
    return 1;
}

/* ---- methods ------------------------------------------------------------------------------ */

static int l_d_batch(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    if (n < 1 || n > d->n_train)
        return luaL_error(L, "batch: n must be in 1..%I (training rows), got %I",
                          (lua_Integer)d->n_train, n);
    lctw_tensor *out;
    if (!lua_isnoneornil(L, 3)) {
        out = l_checktensor(L, 3);
        lua_settop(L, 3);
    } else {
        int64_t shape[4] = {n, d->c, d->h, d->w};
        out = push_new(L, 4, shape);
    }
    L_TRY(L, lctw_data_batch(d, n, out));
    return 1;
}

static int l_d_batches(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    lua_pushinteger(L, (lua_Integer)lctw_data_batches(d, luaL_checkinteger(L, 2)));
    return 1;
}

static int l_d_stats(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    const lctw_latent_stats *st;
    L_TRY(L, lctw_data_stats(d, &st));
    push_stats(L, st);
    return 1;
}

static int l_d_histogram(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    static const char *const known[] = {"channel", "bins", "range", "standardized", NULL};
    l_checkoptions(L, 2, "histogram", known);
    lua_Integer ch = l_optfield_int(L, 2, "channel", 0);
    if (ch < 0 || ch > d->c)
        return luaL_error(L, "histogram: channel must be in 1..%I (or nil for all), got %I",
                          (lua_Integer)d->c, ch);
    lua_Integer bins = l_optfield_int(L, 2, "bins", 40);
    if (bins < 1 || bins > 1 << 20)
        return luaL_error(L, "histogram: bins must be in 1..1048576, got %I", bins);
    int stdz = l_optfield_bool(L, 2, "standardized", 0);
    const lctw_latent_stats *st;
    L_TRY(L, lctw_data_stats(d, &st));
    double lo, hi;
    if (!lua_isnoneornil(L, 2) && lua_getfield(L, 2, "range") != LUA_TNIL) {
        int ok = lua_istable(L, -1) && lua_rawlen(L, -1) == 2;
        if (ok) {
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            ok = lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TNUMBER;
            lo = lua_tonumber(L, -2);
            hi = lua_tonumber(L, -1);
            lua_pop(L, 2);
        }
        if (!ok) return luaL_error(L, "histogram: option 'range' must be {min, max}");
        lua_pop(L, 1);
        if (!isfinite(lo) || !isfinite(hi) || !(hi > lo))
            return luaL_error(L, "histogram: range must be finite with max > min, got {%f, %f}", lo,
                              hi);
    } else if (stdz) {
        lo = -10;
        hi = 10;
    } else {
        lo = ch ? st->ch[ch - 1].min : st->pooled.min;
        hi = ch ? st->ch[ch - 1].max : st->pooled.max;
        if (lo == hi) {
            lo -= 0.5;
            hi += 0.5;
        }
    }
    int64_t *counts = lua_newuserdatauv(L, 2 * (size_t)bins * sizeof *counts, 0);
    int64_t *part = counts + bins;
    memset(counts, 0, (size_t)bins * sizeof *counts);
    int64_t below = 0, above = 0;
    int c0 = ch ? (int)ch - 1 : 0, c1 = ch ? (int)ch : (int)d->c;
    if (!ch && !stdz) {
        L_TRY(L, lctw_histogram(d->z, (int)bins, lo, hi, counts, &below, &above));
    } else {
        for (int c = c0; c < c1; c++) {
            /* the histogram of (z − μ_c)/σ_c over [lo, hi] is that of z over μ_c + σ_c·[lo, hi] */
            double a = stdz ? st->ch[c].mean + st->ch[c].std * lo : lo;
            double b = stdz ? st->ch[c].mean + st->ch[c].std * hi : hi;
            lctw_tensor *v = NULL;
            int64_t bl = 0, ab = 0;
            L_TRY(L, lctw_tensor_narrow(&v, d->z, 1, c, 1));
            lctw_status s = lctw_histogram(v, (int)bins, a, b, part, &bl, &ab);
            lctw_tensor_release(v);
            if (s != LCTW_OK) return l_fail(L, s);
            for (lua_Integer i = 0; i < bins; i++)
                counts[i] += part[i];
            below += bl;
            above += ab;
        }
    }
    l_pushhistogram(L, counts, bins, lo, hi, below, above);
    lua_pushboolean(L, stdz);
    lua_setfield(L, -2, "standardized");
    if (ch) {
        lua_pushinteger(L, ch);
        lua_setfield(L, -2, "channel");
    }
    return 1;
}

static int l_d_size(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    lua_pushinteger(L, (lua_Integer)d->n_train);
    lua_pushinteger(L, (lua_Integer)d->n_holdout);
    return 2;
}

static int l_d_shape(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    int64_t shape[4] = {d->n, d->c, d->h, d->w};
    l_pushshape(L, 4, shape);
    return 1;
}

static int l_d_cursor(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    lctw_data_cursor c;
    lctw_data_get_cursor(d, &c);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)c.epoch + 1);
    lua_setfield(L, -2, "epoch");
    lua_pushinteger(L, (lua_Integer)c.pos);
    lua_setfield(L, -2, "position");
    lua_pushinteger(L, (lua_Integer)d->seed);
    lua_setfield(L, -2, "seed");
    lua_pushinteger(L, (lua_Integer)d->stream);
    lua_setfield(L, -2, "stream");
    return 1;
}

static int l_d_set_cursor(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const known[] = {"epoch", "position", "seed", "stream", NULL};
    l_checkoptions(L, 2, "set_cursor", known);
    lua_Integer e = l_optfield_int(L, 2, "epoch", 1), p = l_optfield_int(L, 2, "position", 0);
    lua_Integer seed = l_optfield_int(L, 2, "seed", (lua_Integer)d->seed);
    lua_Integer stream = l_optfield_int(L, 2, "stream", (lua_Integer)d->stream);
    if ((uint64_t)seed != d->seed || (lua_Integer)d->stream != stream)
        return luaL_error(L,
                          "set_cursor: the cursor was saved with seed %I, stream %I but this data "
                          "set shuffles with seed %I, stream %I (open it with the same seed)",
                          seed, stream, (lua_Integer)d->seed, (lua_Integer)d->stream);
    if (e < 1) return luaL_error(L, "set_cursor: epoch must be >= 1, got %I", e);
    lctw_data_cursor c = {(int64_t)e - 1, (int64_t)p};
    L_TRY(L, lctw_data_set_cursor(d, &c));
    return 0;
}

static int map_method(lua_State *L, int inverse) {
    lctw_data *d = check_data(L, 1);
    lctw_tensor *x = l_checktensor(L, 2);
    lctw_tensor *out = push_like(L, x);
    L_TRY(L, inverse ? lctw_data_denormalize(d, x, out) : lctw_data_normalize(d, x, out));
    return 1;
}

static int l_d_denormalize(lua_State *L) { return map_method(L, 1); }
static int l_d_normalize(lua_State *L) { return map_method(L, 0); }

static int l_d_holdout(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    static const char *const known[] = {"normalized", NULL};
    l_checkoptions(L, 2, "holdout", known);
    int norm = l_optfield_bool(L, 2, "normalized", 0);
    lctw_tensor *t = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_data_holdout(d, norm, &t));
    if (s != LCTW_OK) return l_fail(L, s);
    l_pushtensor(L, t);
    return 1;
}

static int l_d_sample(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    static const char *const known[] = {"seed", NULL};
    l_checkoptions(L, 3, "sample", known);
    uint64_t seed = opt_seed(L, 3, "seed", d->seed);
    lctw_tensor *t = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_data_sample(d, (int64_t)n, seed, &t));
    if (s != LCTW_OK) return l_fail(L, s);
    l_pushtensor(L, t);
    return 1;
}

static int l_d_latents(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    lctw_tensor_retain(d->z);
    l_pushtensor(L, d->z);
    return 1;
}

static int l_d_reference(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    if (d->n_holdout > 0) return l_d_holdout(L);
    return l_d_latents(L);
}

static int l_d_norm_stats(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    lctw_tensor *m = push_like(L, d->mean);
    L_TRY(L, lctw_tensor_copy(m, d->mean));
    lctw_tensor *s = push_like(L, d->std);
    L_TRY(L, lctw_tensor_copy(s, d->std));
    return 2;
}

static int l_d_save_stats(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    L_TRY(L, lctw_data_save_stats(d, luaL_checkstring(L, 2)));
    return 0;
}

static int l_d_info(lua_State *L) {
    lctw_data *d = check_data(L, 1);
    lua_createtable(L, 0, 12);
    lua_pushstring(L, d->source);
    lua_setfield(L, -2, "source");
    lua_pushstring(L, d->dtype);
    lua_setfield(L, -2, "dtype");
    lua_pushinteger(L, (lua_Integer)d->n);
    lua_setfield(L, -2, "n");
    lua_pushinteger(L, (lua_Integer)d->n_train);
    lua_setfield(L, -2, "n_train");
    lua_pushinteger(L, (lua_Integer)d->n_holdout);
    lua_setfield(L, -2, "n_holdout");
    lua_pushboolean(L, d->normalize);
    lua_setfield(L, -2, "normalize");
    lua_pushboolean(L, d->flip);
    lua_setfield(L, -2, "flip");
    lua_pushnumber(L, d->sigma_data);
    lua_setfield(L, -2, "sigma_data");
    lua_pushstring(L, d->stats_from);
    lua_setfield(L, -2, "stats_from");
    lua_pushinteger(L, (lua_Integer)d->std_floored);
    lua_setfield(L, -2, "std_floored");
    lua_pushinteger(L, (lua_Integer)d->seed);
    lua_setfield(L, -2, "seed");
    lua_pushinteger(L, (lua_Integer)d->stream);
    lua_setfield(L, -2, "stream");
    return 1;
}

/* "3.9e-4": %.1e without the exponent's leading zeros */
static void fmt_sci(char *buf, size_t n, double v) {
    if (v == 0) {
        snprintf(buf, n, "0");
        return;
    }
    char t[24];
    snprintf(t, sizeof t, "%.1e", v);
    char *e = strchr(t, 'e');
    if (!e) {
        snprintf(buf, n, "%s", t);
        return;
    }
    char sign = e[1];
    const char *dig = e + 2;
    while (*dig == '0' && dig[1])
        dig++;
    *e = 0;
    snprintf(buf, n, "%se%s%s", t, sign == '-' ? "-" : "", dig);
}

static int l_d_tostring(lua_State *L) {
    l_data_box *b = luaL_checkudata(L, 1, DATA_MT);
    if (!b->d) {
        lua_pushliteral(L, "<lctw.Data (freed)>");
        return 1;
    }
    lctw_data *d = b->d;
    char shape[64], norm[80], extra[96] = "", tail[160] = "";
    int64_t s4[4] = {d->n, d->c, d->h, d->w};
    lctw_shape_str(shape, sizeof shape, 4, s4);
    if (d->normalize)
        snprintf(norm, sizeof norm, "normalised per element to std %g", d->sigma_data);
    else
        snprintf(norm, sizeof norm, "not normalised (raw values)");
    if (d->n_holdout) snprintf(extra, sizeof extra, "  holdout %lld", (long long)d->n_holdout);
    if (d->flip) strncat(extra, "  h-flips", sizeof extra - strlen(extra) - 1);
    if (d->std_floored) {
        char fl[48];
        snprintf(fl, sizeof fl, "  %lld std floored", (long long)d->std_floored);
        strncat(extra, fl, sizeof extra - strlen(extra) - 1);
    }
    const lctw_latent_stats *st;
    if (lctw_data_stats(d, &st) == LCTW_OK) {
        char p5[48];
        fmt_sci(p5, sizeof p5, st->pooled.tail[5 - LCTW_TAIL_K0]);
        snprintf(tail, sizeof tail, "  kurtosis %.2f  P(|z|>5σ) %s", st->pooled.kurtosis, p5);
    } else {
        lctw_error_clear();
    }
    lua_pushfstring(L, "<lctw.Data %s %s  %s%s%s>", shape, d->dtype, norm, tail, extra);
    return 1;
}

static int l_d_free(lua_State *L) {
    l_data_box *b = luaL_checkudata(L, 1, DATA_MT);
    lctw_data_free(b->d);
    b->d = NULL;
    return 0;
}

static int l_d_index(lua_State *L) {
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_settop(L, 2);
        lua_rawget(L, lua_upvalueindex(1));
        return 1;
    }
    return luaL_error(L, "lctw.Data has methods only (d:batch(n), d:stats(), ...); got index %s",
                      luaL_typename(L, 2));
}

/* ---- registration ------------------------------------------------------------------------- */

static const char DATA_TYPE_HELP[] =
    "lctw.Data — a latent data set (N×C×H×W) with per-element normalisation and shuffled "
    "epochs\n\n"
    "Create with lctw.data.npy(path, {...}), lctw.data.synthetic{...} or lctw.data.from(t, "
    "{...}).\n"
    "  batches     d:batch(n [, out]) d:batches(n) d:cursor() d:set_cursor(c)\n"
    "  data        d:sample(n [, {seed=}]) d:holdout([{normalized=}]) d:latents() d:reference()\n"
    "  transform   d:normalize(z) d:denormalize(x) d:norm_stats() d:save_stats(path)\n"
    "  statistics  d:stats() d:histogram{channel=, bins=, range=, standardized=}\n"
    "  properties  d:size() d:shape() d:info()   memory: d:free() or `local d <close> = ...`\n\n"
    "Batches hold x = (z − μ)/s·0.5 with μ, s the per-element mean and unbiased std over the "
    "training rows (ALGORITHM.md §1). Latents stay in the units of the file (SD1 files are "
    "×0.18215-scaled; with per-element statistics the factor cancels in x), and "
    "d:denormalize(x) returns them in those units.";

static const l_reg data_funcs[] = {
    {"npy", l_data_npy,
     "lctw.data.npy(path [, {normalize=true, flip=false, stats=nil, holdout=0, seed=0, stream=, "
     "sigma_data=0.5, std_floor=1e-6}]) -> Data\n\n"
     "Opens an N×C×H×W .npy file of latents (float16, float32 — memory-mapped — or float64). "
     "Batches are x = (z − μ)/s·sigma_data with μ, s the per-element (C×H×W) mean and unbiased "
     "std (torch.std) over the training rows, computed in double; s below std_floor is raised "
     "to it (d:info().std_floored counts them). stats=path loads μ, s instead: a .npy of shape "
     "(2, C, H, W) = [mean; std] or a .safetensors with tensors \"mean\" and \"std\" (as written "
     "by d:save_stats). The reference code's pickled {\"mean\", \"std\"} .npy cannot be read "
     "(no pickles); convert it in Python: np.save(p, np.stack([d[\"mean\"], d[\"std\"]])).\n"
     "flip=true mirrors each sample along W with probability 1/2 (then μ, s are computed over "
     "the set and its mirror images). holdout=k keeps k random rows out of training (d:holdout()). "
     "Shuffling: a new Fisher–Yates order per epoch from Philox (seed, stream), drop_last "
     "(⌊N/n⌋ batches per epoch); the cursor restores the exact sequence.\n"
     "Units: latents stay in the units of the file. The SD1 files are ×0.18215-scaled; the "
     "reference divides by 0.18215 before computing μ, s, which cancels in x (§9 item 12)."},
    {"from", l_data_from,
     "lctw.data.from(t [, {name=, normalize=, flip=, stats=, holdout=, seed=, stream=, "
     "sigma_data=, std_floor=}]) -> Data\n\nA data set over an N×C×H×W tensor (copied to a "
     "contiguous CPU tensor if needed, else shared). Options as for lctw.data.npy."},
    {"synthetic", l_data_synthetic,
     "lctw.data.synthetic{n=1024, shape={4,32,32}, seed=0, outliers=5e-4, tail=4, spike=5, "
     "spike_max=25, mixing=0.7, waves=4, freq=2, noise=0.2, gen_stream=, ...data options} -> "
     "Data\n\n"
     "Seeded latent-like data: per sample, C smooth Gaussian fields (sums of `waves` random "
     "sinusoids up to `freq` cycles per image, plus a `noise` share of white noise; exactly "
     "N(0,1) per element), mixed across channels by a fixed random matrix (rows of I + "
     "mixing·G, normalised: mixing=0 gives independent channels), scaled per channel (std "
     "0.6–1) and shifted by a fixed position-dependent mean. Sparse impulsive outliers: each "
     "element with probability `outliers` (a number, or a table with one rate per channel) gets "
     "a spike ±spike·V^(−1/tail) channel stds, V ~ U(0,1), capped at spike_max — a Pareto tail "
     "of index `tail` (smaller = heavier). outliers=0 gives Gaussian data (excess kurtosis 0); "
     "the defaults give a pooled kurtosis ≈ 2, P(|z|>5σ) ≈ 4e-4 and max ≈ 25σ, like the SD1 "
     "UTKFace latents (1.88, 3.9e-4, 25). Same seed, same data; sample i does not depend on n. The "
     "data options of "
     "lctw.data.npy apply too (seed also seeds the shuffling)."},
    {"generate", l_data_generate,
     "lctw.data.generate{...synthetic options} -> tensor, info\n\nThe raw N×C×H×W tensor of "
     "lctw.data.synthetic, and info = {mixing = C×C rows (channel correlation = mixing·mixingᵀ), "
     "chan_scale = {g_c}, spikes = outlier elements}."},
    {"stats", l_data_stats_of,
     "lctw.data.stats(t) -> table\n\nStatistics of an N×C×H×W tensor, as d:stats()."},
    {"gaussian_tail", l_gaussian_tail,
     "lctw.data.gaussian_tail(k) -> P(|Z| > k) for a standard normal Z (erfc(k/√2))."},
    {NULL, NULL, NULL},
};

static const l_reg data_methods[] = {
    {"batch", l_d_batch,
     "d:batch(n [, out]) -> tensor\n\nThe next n samples (n×C×H×W; into `out` when given, any "
     "device): normalised (unless normalize=false), mirrored where the flip draw says so, in "
     "the epoch's shuffled order. When fewer than n rows are left in the epoch they are skipped "
     "and the next epoch starts (drop_last)."},
    {"batches", l_d_batches, "d:batches(n) -> number of batches of n per epoch (⌊N_train/n⌋)."},
    {"stats", l_d_stats,
     "d:stats() -> {n=, per_channel={{mean=, std=, skew=, kurtosis=, min=, max=, max_abs=, "
     "max_abs_std=, tail={[3]=, [4]=, [5]=, [6]=}}, ...}, overall={...}, gaussian_tail={...}}\n\n"
     "Statistics of all N raw latents (file units). Per channel: population mean and std, skew, "
     "excess kurtosis, tail[k] = P(|z − mean| > k·std), max |z|, max |z − mean|/std. overall: "
     "the channel-standardised values pooled (kurtosis, skew, tails = means over channels, "
     "max_abs_std = max), mean/std/min/max/max_abs of the raw values, raw_kurtosis of the raw "
     "values as one set. gaussian_tail[k] = P(|Z| > k) for comparison."},
    {"histogram", l_d_histogram,
     "d:histogram{channel=nil, bins=40, range=, standardized=false} -> {counts=, edges=, "
     "below=, above=}\n\nHistogram of the raw latents of one channel (1-based) or of all; "
     "standardized=true bins (z − mean_c)/std_c (range default {-10, 10}, channels pooled)."},
    {"size", l_d_size, "d:size() -> training rows, held-out rows"},
    {"shape", l_d_shape, "d:shape() -> {N, C, H, W} of the whole source"},
    {"cursor", l_d_cursor,
     "d:cursor() -> {epoch=, position=, seed=, stream=}\n\nWhere the next batch starts: epoch "
     "(1-based) and samples already drawn in it. Save it with a checkpoint; d:set_cursor(c) "
     "restores the exact batch sequence."},
    {"set_cursor", l_d_set_cursor,
     "d:set_cursor{epoch=, position= [, seed=, stream=]}\n\nRestores a cursor from d:cursor(); "
     "seed/stream, when present, must match the data set's."},
    {"denormalize", l_d_denormalize,
     "d:denormalize(x) -> tensor\n\nz = x·s/sigma_data + μ for x of shape (n, C, H, W) or "
     "(C, H, W): generated samples back in the units of the file."},
    {"normalize", l_d_normalize,
     "d:normalize(z) -> tensor\n\nx = (z − μ)/s·sigma_data, the map applied to batches."},
    {"holdout", l_d_holdout,
     "d:holdout([{normalized=false}]) -> tensor\n\nThe held-out rows as raw latents (file "
     "units, comparable to d:denormalize(samples)), or normalised with normalized=true."},
    {"sample", l_d_sample,
     "d:sample(n [, {seed=}]) -> tensor\n\nn raw training latents drawn without replacement "
     "(reproducible for a seed; does not move the cursor)."},
    {"latents", l_d_latents,
     "d:latents() -> tensor\n\nAll N raw latents (shares memory with the data set: do not "
     "modify)."},
    {"reference", l_d_reference,
     "d:reference() -> tensor\n\nThe reference set for metrics: the held-out raw latents if "
     "there are any, else all raw latents."},
    {"norm_stats", l_d_norm_stats, "d:norm_stats() -> mean, std\n\nCopies of μ and s (C×H×W)."},
    {"save_stats", l_d_save_stats,
     "d:save_stats(path)\n\nWrites μ and s as safetensors {\"mean\", \"std\"}; reload with "
     "lctw.data.npy(p, {stats=path})."},
    {"info", l_d_info,
     "d:info() -> {source=, dtype=, n=, n_train=, n_holdout=, normalize=, flip=, sigma_data=, "
     "stats_from=, std_floored=, seed=, stream=}"},
    {"free", l_d_free, "d:free()\n\nReleases the data set's memory now."},
    {NULL, NULL, NULL},
};

static const l_reg data_meta[] = {
    {"__tostring", l_d_tostring, NULL},
    {"__gc", l_d_free, NULL},
    {"__close", l_d_free, NULL},
    {NULL, NULL, NULL},
};

void l_data_open(lua_State *L) {
    int mod = lua_gettop(L);
    l_register(L, mod, data_funcs);
    l_sethelp(L, mod,
              "lctw.data — latent data sets: npy(path, {...}), synthetic{...}, from(t, {...}), "
              "generate{...}, stats(t).\nhelp(d) on a data set shows its methods.");
    luaL_newmetatable(L, DATA_MT);
    int mt = lua_gettop(L);
    l_register(L, mt, data_meta);
    lua_newtable(L);
    l_register(L, -1, data_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, mt, "__methods");
    lua_pushcclosure(L, l_d_index, 1);
    lua_setfield(L, mt, "__index");
    lua_settop(L, mod);
    l_settypehelp(L, DATA_MT, DATA_TYPE_HELP);
}
