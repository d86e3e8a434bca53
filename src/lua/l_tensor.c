/* l_tensor.c — lctw.tensor and the methods of userdata "lctw.Tensor".
 *
 * A Lua tensor is a full userdata holding one reference (lctw_tensor *); __gc, __close and
 * t:free() release it (the slot is set to NULL, and l_checktensor then reports "tensor has been
 * closed"). Indices and dimensions are 1-based here (negative ones count from the end) and
 * 0-based in the core.
 *
 * Every result tensor is pushed onto the Lua stack (owned by the collector) as soon as it is
 * allocated and before any computation that can fail, so raising an error never leaks a
 * tensor. Allocations that fail with LCTW_ENOMEM run a full GC cycle and are retried once
 * (dead tensors may be holding the memory).
 *
 * Per-state settings (the default device of creation functions and the global Philox
 * generator, seed 0 unless lctw.tensor.manual_seed changes it) live in a registry userdata.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/interrupt.h"
#include "core/tmath.h"
#include "lctw_cuda.h"
#include "lctw_lua.h"

/* Tensors with at most this many elements print every value; larger ones print a summary. */
#define PRINT_FULL_MAX 64
/* Line width used to wrap the values of a 1-D tensor. */
#define PRINT_WIDTH 100

/* ---- per-state settings ---- */

typedef struct l_tensor_state {
    lctw_device dev; /* default device of creation functions */
    lctw_rng rng;    /* global generator used when no seed is given */
} l_tensor_state;

static const char STATE_KEY = 's'; /* registry key (its address) */

static l_tensor_state *get_state(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &STATE_KEY);
    l_tensor_state *st = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return st;
}

/* ---- helpers ---- */


static const char *dev_name(lctw_device d) { return d == LCTW_DEV_CUDA ? "cuda" : "cpu"; }

/* Pushes t (taking its reference) if s is OK, else raises the recorded error. */
static lctw_tensor *push_or_fail(lua_State *L, lctw_status s, lctw_tensor *t) {
    if (s != LCTW_OK) l_fail(L, s);
    l_pushtensor(L, t);
    return t;
}

/* A new uninitialised contiguous tensor, pushed onto the stack. */
static lctw_tensor *push_empty(lua_State *L, int ndim, const int64_t *shape, lctw_device dev) {
    lctw_tensor *t = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_tensor_empty(&t, ndim, shape, dev));
    return push_or_fail(L, s, t);
}

static lctw_tensor *push_empty_like(lua_State *L, const lctw_tensor *t) {
    return push_empty(L, t->ndim, t->shape, lctw_tensor_device(t));
}

/* Releases the tensor held by the userdata at idx now (a temporary no longer needed). */
static void drop_tensor(lua_State *L, int idx) {
    lctw_tensor **p = luaL_testudata(L, idx, LCTW_TENSOR_MT);
    if (p && *p) {
        lctw_tensor_release(*p);
        *p = NULL;
    }
}

/* The tensor at idx, or NULL when the value is not a tensor (a closed tensor raises). */
static lctw_tensor *opt_tensor(lua_State *L, int idx) {
    if (!luaL_testudata(L, idx, LCTW_TENSOR_MT)) return NULL;
    return l_checktensor(L, idx);
}

/* 1-based dimension argument (negative counts from the end) -> 0-based. */
static int dim_value(lua_State *L, const lctw_tensor *t, lua_Integer d) {
    lua_Integer d0 = d < 0 ? d + t->ndim : d - 1;
    if (d0 < 0 || d0 >= t->ndim)
        luaL_error(L, "dimension %I out of range for a %d-dimensional tensor", d, t->ndim);
    return (int)d0;
}

static int dim_arg(lua_State *L, const lctw_tensor *t, int arg) {
    return dim_value(L, t, luaL_checkinteger(L, arg));
}

/* 1-based index i (negative counts from the end) into dimension dim (0-based) -> 0-based. */
static int64_t index_value(lua_State *L, const lctw_tensor *t, int dim, lua_Integer i) {
    int64_t n = t->shape[dim];
    lua_Integer i0 = i < 0 ? i + n : i - 1;
    if (i0 < 0 || i0 >= n)
        luaL_error(L, "index %I out of range: dimension %d has size %I", i, dim + 1,
                   (lua_Integer)n);
    return (int64_t)i0;
}

/* Integer value at idx for an index, with a clear message for other values. */
static lua_Integer index_arg(lua_State *L, int idx, const char *what) {
    int ok = 0;
    lua_Integer i = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &ok) : 0;
    if (!ok) {
        if (lua_type(L, idx) == LUA_TNUMBER)
            luaL_error(L, "%s: index must be an integer, got %s", what, lua_tostring(L, idx));
        luaL_error(L, "%s: index must be an integer, got %s", what, luaL_typename(L, idx));
    }
    return i;
}

static lctw_device opt_device(lua_State *L, int idx) {
    lctw_device dflt = get_state(L)->dev;
    if (lua_isnoneornil(L, idx)) return dflt;
    lua_getfield(L, idx, "device");
    lctw_device d = l_checkdevice(L, -1, dflt);
    lua_pop(L, 1);
    return d;
}

static void fmt_val(char *buf, size_t n, double v) {
    if (isnan(v))
        snprintf(buf, n, "nan");
    else if (isinf(v))
        snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else
        snprintf(buf, n, "%.4g", v);
}

/* ---- creation ---- */

static const char *const CREATE_OPTS[] = {"device", NULL};

/* zeros/ones/empty: shape (table or integers), then an optional options table. */
static int create(lua_State *L, const char *fn, int kind, float value) {
    int64_t shape[LCTW_MAX_DIMS];
    int next;
    int nd = l_checkshape(L, 1, shape, &next);
    l_checkoptions(L, next, fn, CREATE_OPTS);
    lctw_device dev = opt_device(L, next);
    lctw_tensor *t = NULL;
    lctw_status s;
    if (kind == 0)
        L_ALLOC(L, s, lctw_tensor_empty(&t, nd, shape, dev));
    else if (kind == 1)
        L_ALLOC(L, s, lctw_tensor_zeros(&t, nd, shape, dev));
    else
        L_ALLOC(L, s, lctw_tensor_full(&t, nd, shape, dev, value));
    push_or_fail(L, s, t);
    return 1;
}

static int l_zeros(lua_State *L) { return create(L, "zeros", 1, 0.0f); }
static int l_ones(lua_State *L) { return create(L, "ones", 2, 1.0f); }
static int l_empty(lua_State *L) { return create(L, "empty", 0, 0.0f); }

/* full(shape, value[, opts]): with integers for the shape, the last number is the value. */
static int l_full(lua_State *L) {
    int64_t shape[LCTW_MAX_DIMS];
    int nd, vidx;
    if (lua_istable(L, 1)) {
        int next;
        nd = l_checkshape(L, 1, shape, &next);
        vidx = next;
    } else {
        int top = lua_gettop(L), last = 0;
        for (int i = 1; i <= top && lua_type(L, i) == LUA_TNUMBER; i++)
            last = i;
        if (last < 2)
            return luaL_error(L, "full: expected (shape, value[, options]), e.g. full({2, 3}, 7) "
                                 "or full(2, 3, 7)");
        /* parse the shape from copies of the leading numbers so the value is not taken */
        lua_createtable(L, last - 1, 0);
        for (int i = 1; i < last; i++) {
            lua_pushvalue(L, i);
            lua_rawseti(L, -2, i);
        }
        nd = l_checkshape(L, -1, shape, NULL);
        lua_pop(L, 1);
        vidx = last;
    }
    float value = (float)luaL_checknumber(L, vidx);
    l_checkoptions(L, vidx + 1, "full", CREATE_OPTS);
    lctw_device dev = opt_device(L, vidx + 1);
    lctw_tensor *t = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_tensor_full(&t, nd, shape, dev, value));
    push_or_fail(L, s, t);
    return 1;
}

static int random_tensor(lua_State *L, const char *fn, int normal) {
    static const char *const known[] = {"seed", "stream", "device", NULL};
    int64_t shape[LCTW_MAX_DIMS];
    int next;
    int nd = l_checkshape(L, 1, shape, &next);
    l_checkoptions(L, next, fn, known);
    lctw_device dev = opt_device(L, next);
    lua_Integer stream = l_optfield_int(L, next, "stream", 0);
    if (stream < 0 || stream > 0xFFFFFFFFLL)
        return luaL_error(L, "%s: option 'stream' must be in 0..4294967295, got %I", fn, stream);
    l_tensor_state *st = get_state(L);
    int has_seed = 0;
    if (!lua_isnoneornil(L, next)) {
        has_seed = lua_getfield(L, next, "seed") != LUA_TNIL;
        lua_pop(L, 1);
    }
    lctw_rng local = {0, 0, (uint32_t)stream};
    if (has_seed) {
        local.seed = (uint64_t)l_optfield_int(L, next, "seed", 0);
    } else {
        local.seed = st->rng.seed;
        local.offset = st->rng.offset;
    }
    lctw_tensor *t = push_empty(L, nd, shape, dev);
    lctw_status s = normal ? lctw_fill_normal(t, &local) : lctw_fill_uniform(t, &local);
    if (s != LCTW_OK) return l_fail(L, s);
    if (!has_seed) st->rng.offset = local.offset; /* the global generator moves on */
    return 1;
}

static int l_rand(lua_State *L) { return random_tensor(L, "rand", 0); }
static int l_randn(lua_State *L) { return random_tensor(L, "randn", 1); }

static int l_manual_seed(lua_State *L) {
    l_tensor_state *st = get_state(L);
    st->rng.seed = (uint64_t)luaL_checkinteger(L, 1);
    st->rng.offset = 0;
    st->rng.stream = 0;
    return 0;
}

static int l_get_rng_state(lua_State *L) {
    l_tensor_state *st = get_state(L);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)st->rng.seed);
    lua_setfield(L, -2, "seed");
    lua_pushinteger(L, (lua_Integer)st->rng.offset);
    lua_setfield(L, -2, "offset");
    return 1;
}

static int l_set_rng_state(lua_State *L) {
    static const char *const known[] = {"seed", "offset", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    l_checkoptions(L, 1, "set_rng_state", known);
    l_tensor_state *st = get_state(L);
    lua_Integer seed = l_optfield_int(L, 1, "seed", (lua_Integer)st->rng.seed);
    lua_Integer off = l_optfield_int(L, 1, "offset", 0);
    if (off < 0) return luaL_error(L, "set_rng_state: offset must be >= 0, got %I", off);
    st->rng.seed = (uint64_t)seed;
    st->rng.offset = (uint64_t)off;
    return 0;
}

static int l_default_device(lua_State *L) {
    l_tensor_state *st = get_state(L);
    if (!lua_isnoneornil(L, 1)) {
        lctw_device d = l_checkdevice(L, 1, st->dev);
        if (d == LCTW_DEV_CUDA && lctw_cuda_device_count() == 0)
            return luaL_error(L, "device \"cuda\": no CUDA device (%s)", lctw_cuda_describe());
        st->dev = d;
    }
    lua_pushstring(L, dev_name(st->dev));
    return 1;
}

static int l_is_tensor(lua_State *L) {
    lua_pushboolean(L, luaL_testudata(L, 1, LCTW_TENSOR_MT) != NULL);
    return 1;
}

/* ---- from(table) / totable() ---- */

static void path_str(char *buf, size_t n, const int64_t *path, int depth) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < depth && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "[%lld]", (long long)path[i] + 1);
}

static const char *value_kind(lua_State *L, int idx) {
    return luaL_testudata(L, idx, LCTW_TENSOR_MT) ? "a tensor" : luaL_typename(L, idx);
}

/* Copies the nested table at the top of the stack (level d) into dst[*pos...]. */
static void from_fill(lua_State *L, int d, int nd, const int64_t *shape, int64_t *path, float *dst,
                      int64_t *pos) {
    char where[96];
    for (int64_t i = 0; i < shape[d]; i++) {
        path[d] = i;
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        if (d == nd - 1) {
            if (lua_type(L, -1) != LUA_TNUMBER) {
                path_str(where, sizeof where, path, d + 1);
                luaL_error(L, "from: entry %s is %s, expected a number", where, value_kind(L, -1));
            }
            dst[(*pos)++] = (float)lua_tonumber(L, -1);
        } else {
            if (!lua_istable(L, -1)) {
                path_str(where, sizeof where, path, d + 1);
                luaL_error(L, "from: entry %s is %s, expected a table of %I elements", where,
                           value_kind(L, -1), (lua_Integer)shape[d + 1]);
            }
            int64_t len = (int64_t)lua_rawlen(L, -1);
            if (len != shape[d + 1]) {
                path_str(where, sizeof where, path, d + 1);
                luaL_error(L, "from: ragged table: entry %s has %I elements, expected %I", where,
                           (lua_Integer)len, (lua_Integer)shape[d + 1]);
            }
            from_fill(L, d + 1, nd, shape, path, dst, pos);
        }
        lua_pop(L, 1);
    }
}

static int l_from(lua_State *L) {
    l_checkoptions(L, 2, "from", CREATE_OPTS);
    lctw_device dev = opt_device(L, 2);
    lctw_tensor *src = opt_tensor(L, 1);
    if (src) { /* a copy of a tensor, on the requested device */
        lctw_tensor *t = push_empty(L, src->ndim, src->shape, dev);
        L_TRY(L, lctw_tensor_copy(t, src));
        return 1;
    }
    int64_t shape[LCTW_MAX_DIMS];
    int nd = 0;
    if (lua_type(L, 1) == LUA_TNUMBER) {
        nd = 0;
    } else if (lua_istable(L, 1)) {
        lua_pushvalue(L, 1);
        while (lua_istable(L, -1)) {
            if (nd == LCTW_MAX_DIMS) {
                lua_pop(L, 1);
                return luaL_error(L,
                                  "from: more than %d levels of nested tables (tensors have "
                                  "at most %d dimensions)",
                                  LCTW_MAX_DIMS, LCTW_MAX_DIMS);
            }
            int64_t len = (int64_t)lua_rawlen(L, -1);
            shape[nd++] = len;
            if (len == 0) break;
            lua_rawgeti(L, -1, 1);
            lua_remove(L, -2);
        }
        lua_pop(L, 1);
    } else {
        return luaL_error(L, "from: expected a (nested) table of numbers or a number, got %s",
                          value_kind(L, 1));
    }
    lctw_tensor *t = push_empty(L, nd, shape, LCTW_DEV_CPU);
    int tidx = lua_gettop(L);
    if (nd == 0) {
        lctw_tensor_data(t)[0] = (float)lua_tonumber(L, 1);
    } else {
        int64_t path[LCTW_MAX_DIMS] = {0}, pos = 0;
        lua_pushvalue(L, 1);
        from_fill(L, 0, nd, shape, path, lctw_tensor_data(t), &pos);
        lua_pop(L, 1);
    }
    if (dev != LCTW_DEV_CPU) {
        lctw_tensor *d = NULL;
        lctw_status s;
        L_ALLOC(L, s, lctw_tensor_to(&d, t, dev));
        push_or_fail(L, s, d);
        drop_tensor(L, tidx);
    }
    return 1;
}

/* A CPU tensor with t's values in row-major order, pushed onto the stack (t itself when it is a
 * contiguous CPU tensor). */
static lctw_tensor *push_cpu_contiguous(lua_State *L, lctw_tensor *t) {
    lctw_tensor *c = NULL, *h = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_tensor_to(&h, t, LCTW_DEV_CPU));
    push_or_fail(L, s, h);
    L_ALLOC(L, s, lctw_tensor_contiguous(&c, h));
    push_or_fail(L, s, c);
    lua_remove(L, -2);
    return c;
}

static void totable_rec(lua_State *L, const lctw_tensor *t, int d, const float **p) {
    if (d < 0 || d >= LCTW_MAX_DIMS) return; /* cannot happen; bounds the recursion for the compiler */
    lua_createtable(L, (int)(t->shape[d] < 1 << 30 ? t->shape[d] : 0), 0);
    for (int64_t i = 0; i < t->shape[d]; i++) {
        if (d == t->ndim - 1) {
            float v = *(*p)++;
            lua_pushnumber(L, (lua_Number)v);
        } else {
            totable_rec(L, t, d + 1, p);
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static int l_t_totable(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    lctw_tensor *c = push_cpu_contiguous(L, t);
    const float *p = lctw_tensor_data(c);
    if (t->ndim == 0)
        lua_pushnumber(L, (lua_Number)p[0]);
    else
        totable_rec(L, c, 0, &p);
    return 1;
}

/* ---- arange / linspace ---- */

static int make_range(lua_State *L, const char *fn, double start, double step, double count,
                      int optidx) {
    l_checkoptions(L, optidx, fn, CREATE_OPTS);
    lctw_device dev = opt_device(L, optidx);
    if (!(count <= 1e15)) return luaL_error(L, "%s: too many elements (%f)", fn, count);
    int64_t n = count > 0 ? (int64_t)count : 0;
    lctw_tensor *t = push_empty(L, 1, &n, LCTW_DEV_CPU);
    int tidx = lua_gettop(L);
    float *d = lctw_tensor_data(t);
    for (int64_t i = 0; i < n; i++)
        d[i] = (float)(start + step * (double)i);
    if (dev != LCTW_DEV_CPU) {
        lctw_tensor *g = NULL;
        lctw_status s;
        L_ALLOC(L, s, lctw_tensor_to(&g, t, dev));
        push_or_fail(L, s, g);
        drop_tensor(L, tidx);
    }
    return 1;
}

static int l_arange(lua_State *L) {
    int nnum = 0;
    while (nnum < 3 && lua_type(L, nnum + 1) == LUA_TNUMBER)
        nnum++;
    double start = 0, stop, step = 1;
    if (nnum == 0) return luaL_error(L, "arange: expected (n) or (start, stop[, step])");
    if (nnum == 1) {
        stop = lua_tonumber(L, 1);
    } else {
        start = lua_tonumber(L, 1);
        stop = lua_tonumber(L, 2);
        if (nnum == 3) step = lua_tonumber(L, 3);
    }
    if (step == 0 || !isfinite(step) || !isfinite(start) || !isfinite(stop))
        return luaL_error(L, "arange: start, stop and step must be finite and step non-zero");
    return make_range(L, "arange", start, step, ceil((stop - start) / step), nnum + 1);
}

static int l_linspace(lua_State *L) {
    double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
    lua_Integer n = luaL_checkinteger(L, 3);
    if (n < 0) return luaL_error(L, "linspace: number of points must be >= 0, got %I", n);
    double step = n > 1 ? (b - a) / (double)(n - 1) : 0.0;
    return make_range(L, "linspace", a, step, (double)n, 4);
}

/* ---- properties ---- */

static int l_t_shape(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    l_pushshape(L, t->ndim, t->shape);
    return 1;
}

static int l_t_size(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) return l_t_shape(L);
    lua_pushinteger(L, (lua_Integer)t->shape[dim_arg(L, t, 2)]);
    return 1;
}

static int l_t_stride(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        l_pushshape(L, t->ndim, t->stride);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)t->stride[dim_arg(L, t, 2)]);
    return 1;
}

static int l_t_dim(lua_State *L) {
    lua_pushinteger(L, l_checktensor(L, 1)->ndim);
    return 1;
}

static int l_t_numel(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lctw_tensor_numel(l_checktensor(L, 1)));
    return 1;
}

static int l_t_len(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    if (t->ndim == 0) return luaL_error(L, "# of a 0-dimensional tensor (use t:item())");
    lua_pushinteger(L, (lua_Integer)t->shape[0]);
    return 1;
}

static int l_t_device(lua_State *L) {
    lua_pushstring(L, dev_name(lctw_tensor_device(l_checktensor(L, 1))));
    return 1;
}

static int l_t_is_contiguous(lua_State *L) {
    lua_pushboolean(L, lctw_tensor_is_contiguous(l_checktensor(L, 1)));
    return 1;
}

static int l_t_item(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    if (lctw_tensor_numel(t) != 1) {
        char sh[96];
        return luaL_error(L, "item: needs a tensor of one element, got %s (%I elements)",
                          lctw_tensor_shape_str(sh, sizeof sh, t),
                          (lua_Integer)lctw_tensor_numel(t));
    }
    float v;
    L_TRY(L, lctw_tensor_get_flat(t, 0, &v));
    lua_pushnumber(L, (lua_Number)v);
    return 1;
}

/* ---- views and copies ---- */

static int l_t_view(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    int64_t shape[LCTW_MAX_DIMS];
    int nd = l_checkshape(L, 2, shape, NULL);
    lctw_tensor *v = NULL;
    lctw_status s = lctw_tensor_view(&v, t, nd, shape);
    push_or_fail(L, s, v);
    return 1;
}

static int l_t_reshape(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    int64_t shape[LCTW_MAX_DIMS];
    int nd = l_checkshape(L, 2, shape, NULL);
    lctw_tensor *v = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_tensor_reshape(&v, t, nd, shape));
    push_or_fail(L, s, v);
    return 1;
}

static int l_t_narrow(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    int d = dim_arg(L, t, 2);
    lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
    int64_t n = t->shape[d];
    lua_Integer s0 = start < 0 ? start + n : start - 1;
    if (s0 < 0 || len < 0 || s0 > n || len > n - s0)
        return luaL_error(L, "narrow(%d, %I, %I) out of range: dimension %d has size %I", d + 1,
                          start, len, d + 1, (lua_Integer)n);
    lctw_tensor *v = NULL;
    lctw_status s = lctw_tensor_narrow(&v, t, d, (int64_t)s0, (int64_t)len);
    push_or_fail(L, s, v);
    return 1;
}

static int l_t_select(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    int d = dim_arg(L, t, 2);
    int64_t i = index_value(L, t, d, luaL_checkinteger(L, 3));
    lctw_tensor *v = NULL;
    lctw_status s = lctw_tensor_select(&v, t, d, i);
    push_or_fail(L, s, v);
    return 1;
}

static int l_t_transpose(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    int d0 = dim_arg(L, t, 2), d1 = dim_arg(L, t, 3);
    lctw_tensor *v = NULL;
    lctw_status s = lctw_tensor_transpose(&v, t, d0, d1);
    push_or_fail(L, s, v);
    return 1;
}

static int l_t_t(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    if (t->ndim > 2) {
        char sh[96];
        return luaL_error(L,
                          "t(): expects a tensor of at most 2 dimensions, got %d (%s); use "
                          "transpose(d0, d1)",
                          t->ndim, lctw_tensor_shape_str(sh, sizeof sh, t));
    }
    lctw_tensor *v = NULL;
    if (t->ndim < 2) {
        lctw_tensor_retain(t);
        l_pushtensor(L, t);
        return 1;
    }
    lctw_status s = lctw_tensor_transpose(&v, t, 0, 1);
    push_or_fail(L, s, v);
    return 1;
}

static int l_t_contiguous(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1), *c = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_tensor_contiguous(&c, t));
    push_or_fail(L, s, c);
    return 1;
}

static int l_t_clone(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1), *c = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_tensor_clone(&c, t));
    push_or_fail(L, s, c);
    return 1;
}

static int l_t_copy(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1), *src = l_checktensor(L, 2);
    L_TRY(L, lctw_tensor_copy(t, src));
    lua_settop(L, 1);
    return 1;
}

static int to_device(lua_State *L, lctw_device dev) {
    lctw_tensor *t = l_checktensor(L, 1), *o = NULL;
    lctw_status s;
    L_ALLOC(L, s, lctw_tensor_to(&o, t, dev));
    push_or_fail(L, s, o);
    return 1;
}

static int l_t_cuda(lua_State *L) { return to_device(L, LCTW_DEV_CUDA); }
static int l_t_cpu(lua_State *L) { return to_device(L, LCTW_DEV_CPU); }

static int l_t_to(lua_State *L) {
    l_checktensor(L, 1);
    luaL_checkstring(L, 2);
    return to_device(L, l_checkdevice(L, 2, LCTW_DEV_CPU));
}

/* ---- element access and indexing ---- */

/* Row-major flat position of the indices at stack positions first.. (one per dimension). */
static int64_t flat_index(lua_State *L, const lctw_tensor *t, int first, const char *fn) {
    int n = lua_gettop(L) - first + 1;
    if (n != t->ndim)
        luaL_error(L, "%s: expected %d indices for a %d-dimensional tensor, got %d", fn, t->ndim,
                   t->ndim, n < 0 ? 0 : n);
    int64_t flat = 0;
    for (int d = 0; d < t->ndim; d++)
        flat = flat * t->shape[d] + index_value(L, t, d, index_arg(L, first + d, fn));
    return flat;
}

static int l_t_get(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    int64_t i = flat_index(L, t, 2, "get");
    float v;
    L_TRY(L, lctw_tensor_get_flat(t, i, &v));
    lua_pushnumber(L, (lua_Number)v);
    return 1;
}

static int l_t_set(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    float v = (float)luaL_checknumber(L, 2);
    int64_t i = flat_index(L, t, 3, "set");
    L_TRY(L, lctw_tensor_set_flat(t, i, v));
    lua_settop(L, 1);
    return 1;
}

static int l_t_index(lua_State *L) {
    if (lua_type(L, 2) == LUA_TSTRING) { /* methods first */
        lua_settop(L, 2);
        lua_rawget(L, lua_upvalueindex(1));
        return 1;
    }
    lctw_tensor *t = l_checktensor(L, 1);
    if (lua_type(L, 2) != LUA_TNUMBER)
        return luaL_error(L, "tensor index must be an integer or a method name, got %s",
                          luaL_typename(L, 2));
    lua_Integer i = index_arg(L, 2, "t[i]");
    if (t->ndim == 0) return luaL_error(L, "cannot index a 0-dimensional tensor (use t:item())");
    int64_t i0 = index_value(L, t, 0, i);
    if (t->ndim == 1) {
        float v;
        L_TRY(L, lctw_tensor_get_flat(t, i0, &v));
        lua_pushnumber(L, (lua_Number)v);
        return 1;
    }
    lctw_tensor *v = NULL;
    lctw_status s = lctw_tensor_select(&v, t, 0, i0);
    push_or_fail(L, s, v);
    return 1;
}

static int l_t_newindex(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    if (lua_type(L, 2) != LUA_TNUMBER)
        return luaL_error(L, "cannot set field %s of a tensor (only t[i] = value)",
                          lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : luaL_typename(L, 2));
    lua_Integer i = index_arg(L, 2, "t[i] = value");
    if (t->ndim == 0) return luaL_error(L, "cannot index a 0-dimensional tensor");
    int64_t i0 = index_value(L, t, 0, i);
    lctw_tensor *src = opt_tensor(L, 3);
    if (!src && lua_type(L, 3) != LUA_TNUMBER)
        return luaL_error(L, "t[%I] = value: expected a number or a tensor, got %s", i,
                          luaL_typename(L, 3));
    lctw_tensor *v = NULL;
    lctw_status s = lctw_tensor_select(&v, t, 0, i0);
    push_or_fail(L, s, v);
    if (!src) {
        L_TRY(L, lctw_fill(v, (float)lua_tonumber(L, 3)));
    } else {
        if (!lctw_tensor_same_shape(v, src)) {
            char a[96], b[96];
            return luaL_error(L, "t[%I] = tensor: shape %s expected, got %s", i,
                              lctw_tensor_shape_str(a, sizeof a, v),
                              lctw_tensor_shape_str(b, sizeof b, src));
        }
        L_TRY(L, lctw_tensor_copy(v, src));
    }
    drop_tensor(L, -1);
    return 0;
}

/* ---- arithmetic ---- */

static const char *const BIN_NAMES[] = {"add", "sub", "mul", "div", "pow"};

/* Whether out may be computed in place over t: out must be contiguous and every other input
 * sharing t's storage must be exactly t's view (tmath allows only exact aliasing). */
static int exact_alias_ok(const lctw_tensor *t, const lctw_tensor *b) {
    if (!b || b->st != t->st) return 1;
    if (b->offset != t->offset || !lctw_tensor_same_shape(t, b)) return 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->stride[i] != b->stride[i] && t->shape[i] != 1) return 0;
    return 1;
}

/* Output tensor for an op whose result has t's shape: t itself when computing in place and that
 * is allowed, else a new tensor (pushed). *copy_back says that the result must then be copied
 * into t. */
static lctw_tensor *op_output(lua_State *L, lctw_tensor *t, const lctw_tensor *other, int inplace,
                              int *copy_back) {
    *copy_back = 0;
    if (inplace && lctw_tensor_is_contiguous(t) && exact_alias_ok(t, other)) return t;
    if (inplace) *copy_back = 1;
    return push_empty_like(L, t);
}

/* Finishes an op: raise on failure; for in-place ops copy back if needed and return self. */
static int op_finish(lua_State *L, lctw_status s, lctw_tensor *t, lctw_tensor *out, int inplace,
                     int copy_back) {
    if (s != LCTW_OK) return l_fail(L, s);
    if (copy_back) {
        L_TRY(L, lctw_tensor_copy(t, out));
        drop_tensor(L, -1);
    }
    if (inplace) lua_pushvalue(L, 1);
    return 1;
}

/* a op b where a, b are tensors or numbers (at least one a tensor); in place into arg 1. */
static int binop(lua_State *L, lctw_binary_op op, int inplace) {
    const char *nm = BIN_NAMES[op];
    lctw_tensor *a = opt_tensor(L, 1), *b = opt_tensor(L, 2);
    int na = lua_type(L, 1) == LUA_TNUMBER, nb = lua_type(L, 2) == LUA_TNUMBER;
    if (inplace && !a) return luaL_error(L, "%s_: expected a tensor to modify", nm);
    if (!((a && (b || nb)) || (na && b)))
        return luaL_error(L, "%s: expected tensors or numbers, got %s and %s", nm, value_kind(L, 1),
                          value_kind(L, 2));
    lctw_tensor *t = a ? a : b;
    int copy_back;
    lctw_tensor *out = op_output(L, t, a && b ? b : NULL, inplace, &copy_back);
    lctw_status s;
    if (a && b)
        s = lctw_binary(out, a, b, op);
    else if (a)
        s = lctw_binary_scalar(out, a, (float)lua_tonumber(L, 2), op, 0);
    else
        s = lctw_binary_scalar(out, b, (float)lua_tonumber(L, 1), op, 1);
    return op_finish(L, s, t, out, inplace, copy_back);
}

#define BINARY_FNS(name, OP)                                                                       \
    static int l_t_##name(lua_State *L) { return binop(L, OP, 0); }                                \
    static int l_t_##name##_(lua_State *L) { return binop(L, OP, 1); }
BINARY_FNS(add, LCTW_BIN_ADD)
BINARY_FNS(sub, LCTW_BIN_SUB)
BINARY_FNS(mul, LCTW_BIN_MUL)
BINARY_FNS(div, LCTW_BIN_DIV)
BINARY_FNS(pow, LCTW_BIN_POW)

static int unop(lua_State *L, lctw_unary_op op, int inplace) {
    lctw_tensor *t = l_checktensor(L, 1);
    int copy_back;
    lctw_tensor *out = op_output(L, t, NULL, inplace, &copy_back);
    return op_finish(L, lctw_unary(out, t, op), t, out, inplace, copy_back);
}

#define UNARY_FNS(name, OP)                                                                        \
    static int l_t_##name(lua_State *L) { return unop(L, OP, 0); }                                 \
    static int l_t_##name##_(lua_State *L) { return unop(L, OP, 1); }
UNARY_FNS(neg, LCTW_UN_NEG)
UNARY_FNS(exp, LCTW_UN_EXP)
UNARY_FNS(log, LCTW_UN_LOG)
UNARY_FNS(sqrt, LCTW_UN_SQRT)
UNARY_FNS(abs, LCTW_UN_ABS)
UNARY_FNS(tanh, LCTW_UN_TANH)

static int clamp(lua_State *L, int inplace) {
    lctw_tensor *t = l_checktensor(L, 1);
    float lo = lua_isnoneornil(L, 2) ? -INFINITY : (float)luaL_checknumber(L, 2);
    float hi = lua_isnoneornil(L, 3) ? INFINITY : (float)luaL_checknumber(L, 3);
    int copy_back;
    lctw_tensor *out = op_output(L, t, NULL, inplace, &copy_back);
    return op_finish(L, lctw_clamp(out, t, lo, hi), t, out, inplace, copy_back);
}

static int l_t_clamp(lua_State *L) { return clamp(L, 0); }
static int l_t_clamp_(lua_State *L) { return clamp(L, 1); }

static int l_t_unm(lua_State *L) {
    lua_settop(L, 1);
    return unop(L, LCTW_UN_NEG, 0);
}

static int l_t_fill_(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    L_TRY(L, lctw_fill(t, (float)luaL_checknumber(L, 2)));
    lua_settop(L, 1);
    return 1;
}

static int l_t_zero_(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    L_TRY(L, lctw_fill(t, 0.0f));
    lua_settop(L, 1);
    return 1;
}

static int l_matmul(lua_State *L) {
    lctw_tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2);
    int nd = a->ndim;
    int64_t shape[3] = {0, 0, 0};
    int ond = 0; /* invalid ranks: a scalar output, the core names the problem */
    if ((nd == 2 || nd == 3) && b->ndim == nd) {
        ond = nd;
        if (nd == 3) shape[0] = a->shape[0];
        shape[nd - 2] = a->shape[nd - 2];
        shape[nd - 1] = b->shape[nd - 1];
    }
    lctw_tensor *out = push_empty(L, ond, shape, lctw_tensor_device(a));
    L_TRY(L, lctw_matmul(out, a, b));
    return 1;
}

/* ---- reductions ---- */

static const char *const RED_NAMES[] = {"sum", "mean", "var", "std", "min", "max"};

/* Replaces the keepdim result at stack position idx by a view without dimension dim. */
static void squeeze_at(lua_State *L, int idx, int dim) {
    lctw_tensor *t = l_checktensor(L, idx), *v = NULL;
    int64_t shape[LCTW_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < t->ndim; i++)
        if (i != dim) shape[k++] = t->shape[i];
    lctw_status s = lctw_tensor_view(&v, t, k, shape);
    push_or_fail(L, s, v);
    lua_replace(L, idx);
}

/* t:op() -> number;  t:op(dim[, {keepdim=, unbiased=}]) -> tensor (min/max: values, indices). */
static int reduce(lua_State *L, lctw_reduce_op op) {
    static const char *const keep_only[] = {"keepdim", NULL};
    static const char *const keep_unb[] = {"keepdim", "unbiased", NULL};
    const char *nm = RED_NAMES[op];
    lctw_tensor *t = l_checktensor(L, 1);
    int has_dim = lua_type(L, 2) == LUA_TNUMBER;
    int optidx = has_dim ? 3 : 2;
    if (!has_dim && !lua_isnoneornil(L, 2) && !lua_istable(L, 2))
        return luaL_error(L, "%s: expected a dimension (integer) or an options table, got %s", nm,
                          luaL_typename(L, 2));
    int with_unbiased = op == LCTW_RED_VAR || op == LCTW_RED_STD;
    l_checkoptions(L, optidx, nm, with_unbiased ? keep_unb : keep_only);
    int unbiased = l_optfield_bool(L, optidx, "unbiased", 1);
    int keepdim = l_optfield_bool(L, optidx, "keepdim", 0);
    if (!has_dim) {
        double r;
        L_TRY(L, lctw_reduce_all(t, op, unbiased, &r));
        lua_pushnumber(L, (lua_Number)r);
        return 1;
    }
    int dim = dim_arg(L, t, 2);
    int64_t shape[LCTW_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++)
        shape[i] = i == dim ? 1 : t->shape[i];
    lctw_device dev = lctw_tensor_device(t);
    lua_settop(L, optidx);
    lctw_tensor *out = push_empty(L, t->ndim, shape, dev);
    int with_idx = op == LCTW_RED_MIN || op == LCTW_RED_MAX;
    lctw_tensor *idx = with_idx ? push_empty(L, t->ndim, shape, dev) : NULL;
    L_TRY(L, lctw_reduce_dim(out, idx, t, dim, op, unbiased));
    if (idx) L_TRY(L, lctw_binary_scalar(idx, idx, 1.0f, LCTW_BIN_ADD, 0)); /* 1-based */
    if (!keepdim) {
        squeeze_at(L, optidx + 1, dim);
        if (idx) squeeze_at(L, optidx + 2, dim);
    }
    return with_idx ? 2 : 1;
}

#define REDUCE_FN(name, OP)                                                                        \
    static int l_t_##name(lua_State *L) { return reduce(L, OP); }
REDUCE_FN(sum, LCTW_RED_SUM)
REDUCE_FN(mean, LCTW_RED_MEAN)
REDUCE_FN(var, LCTW_RED_VAR)
REDUCE_FN(std, LCTW_RED_STD)
REDUCE_FN(min, LCTW_RED_MIN)
REDUCE_FN(max, LCTW_RED_MAX)

static lctw_moments moments_of(lua_State *L, const lctw_tensor *t) {
    lctw_moments m;
    L_TRY(L, lctw_moments_all(t, &m));
    return m;
}

static int l_t_skew(lua_State *L) {
    lua_pushnumber(L, moments_of(L, l_checktensor(L, 1)).skew);
    return 1;
}

static int l_t_kurtosis(lua_State *L) {
    lua_pushnumber(L, moments_of(L, l_checktensor(L, 1)).kurtosis);
    return 1;
}

static void setnum(lua_State *L, const char *k, double v) {
    lua_pushnumber(L, (lua_Number)v);
    lua_setfield(L, -2, k);
}

static int l_t_moments(lua_State *L) {
    lctw_moments m = moments_of(L, l_checktensor(L, 1));
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, (lua_Integer)m.n);
    lua_setfield(L, -2, "n");
    setnum(L, "mean", m.mean);
    setnum(L, "var", m.var);
    setnum(L, "std", m.std);
    setnum(L, "skew", m.skew);
    setnum(L, "kurtosis", m.kurtosis);
    setnum(L, "min", m.min);
    setnum(L, "max", m.max);
    return 1;
}

static int l_t_tail_fraction(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    double k = luaL_checknumber(L, 2), f;
    L_TRY(L, lctw_tail_fraction(t, k, &f));
    lua_pushnumber(L, (lua_Number)f);
    return 1;
}

static int l_t_histogram(lua_State *L) {
    static const char *const known[] = {"bins", "range", NULL};
    lctw_tensor *t = l_checktensor(L, 1);
    lua_Integer bins = 50;
    int optidx = 2;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        bins = luaL_checkinteger(L, 2);
        optidx = 3;
    }
    l_checkoptions(L, optidx, "histogram", known);
    bins = l_optfield_int(L, optidx, "bins", bins);
    if (bins < 1 || bins > 1 << 20)
        return luaL_error(L, "histogram: bins must be in 1..1048576, got %I", bins);
    double lo, hi;
    if (!lua_isnoneornil(L, optidx) && lua_getfield(L, optidx, "range") != LUA_TNIL) {
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
        if (!isfinite(lo) || !isfinite(hi))
            return luaL_error(L, "histogram: range must be finite, got {%f, %f}", lo, hi);
    } else {
        if (!lua_isnoneornil(L, optidx)) lua_pop(L, 1);
        lctw_moments m = moments_of(L, t);
        lo = m.min;
        hi = m.max;
        if (!isfinite(lo) || !isfinite(hi))
            return luaL_error(L,
                              "histogram: the values span {%f, %f}; give a finite "
                              "range={min, max}",
                              lo, hi);
        if (lo == hi) { /* constant data: a unit-wide range centred on the value */
            lo -= 0.5;
            hi += 0.5;
        }
    }
    int64_t *counts = lua_newuserdatauv(L, (size_t)bins * sizeof *counts, 0);
    int64_t below = 0, above = 0;
    L_TRY(L, lctw_histogram(t, (int)bins, lo, hi, counts, &below, &above));
    l_pushhistogram(L, counts, bins, lo, hi, below, above);
    lua_pushinteger(L, bins);
    lua_setfield(L, -2, "bins");
    lua_createtable(L, 2, 0);
    lua_pushnumber(L, lo);
    lua_rawseti(L, -2, 1);
    lua_pushnumber(L, hi);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -2, "range");
    return 1;
}

/* ---- printing ---- */

static void add_padded(luaL_Buffer *b, const char *s, int width) {
    for (int k = (int)strlen(s); k < width; k++)
        luaL_addchar(b, ' ');
    luaL_addstring(b, s);
}

/* Pushes every value of t, row by row with aligned columns, and a footer line. */
static void push_full(lua_State *L, lctw_tensor *t) {
    char sh[96], v[48], hdr[96];
    lctw_tensor_shape_str(sh, sizeof sh, t);
    const char *dev = dev_name(lctw_tensor_device(t));
    int64_t n = lctw_tensor_numel(t);
    if (n == 0) {
        lua_pushfstring(L, "[lctw.Tensor %s %s, empty]", sh, dev);
        return;
    }
    lctw_tensor *c = push_cpu_contiguous(L, t);
    const float *d = lctw_tensor_data(c);
    int w = 1;
    for (int64_t i = 0; i < n; i++) {
        fmt_val(v, sizeof v, d[i]);
        int k = (int)strlen(v);
        if (k > w) w = k;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (t->ndim <= 1) {
        int per_line = (PRINT_WIDTH + 2) / (w + 2);
        if (per_line < 1) per_line = 1;
        for (int64_t i = 0; i < n; i++) {
            if (i && i % per_line == 0)
                luaL_addchar(&b, '\n');
            else if (i)
                luaL_addstring(&b, "  ");
            fmt_val(v, sizeof v, d[i]);
            add_padded(&b, v, w);
        }
        luaL_addchar(&b, '\n');
    } else {
        int64_t rows = t->shape[t->ndim - 2], cols = t->shape[t->ndim - 1];
        int64_t slices = n / (rows * cols);
        for (int64_t sl = 0; sl < slices; sl++) {
            if (t->ndim == 3) {
                snprintf(hdr, sizeof hdr, "%s[%lld,:,:] =\n", sl ? "\n" : "", (long long)sl + 1);
                luaL_addstring(&b, hdr);
            } else if (t->ndim == 4) {
                snprintf(hdr, sizeof hdr, "%s[%lld,%lld,:,:] =\n", sl ? "\n" : "",
                         (long long)(sl / t->shape[1]) + 1, (long long)(sl % t->shape[1]) + 1);
                luaL_addstring(&b, hdr);
            }
            for (int64_t r = 0; r < rows; r++) {
                if (lctw_interrupted()) L_TRY(L, lctw_check_interrupt());
                const float *row = d + (sl * rows + r) * cols;
                for (int64_t j = 0; j < cols; j++) {
                    if (j) luaL_addstring(&b, "  ");
                    fmt_val(v, sizeof v, row[j]);
                    add_padded(&b, v, w);
                }
                luaL_addchar(&b, '\n');
            }
        }
    }
    luaL_addstring(&b, "[lctw.Tensor ");
    luaL_addstring(&b, sh);
    luaL_addchar(&b, ' ');
    luaL_addstring(&b, dev);
    luaL_addchar(&b, ']');
    luaL_pushresult(&b);
    lua_remove(L, -2); /* the CPU copy */
}

/* Pushes a one-line summary: shape, device, min/mean/max and the first and last values. */
static void push_summary(lua_State *L, lctw_tensor *t) {
    char sh[96], a[48], b[48], c[48];
    int64_t n = lctw_tensor_numel(t);
    luaL_Buffer buf;
    lctw_moments m;
    int have_m = lctw_moments_all(t, &m) == LCTW_OK;
    lctw_error_clear();
    luaL_buffinit(L, &buf);
    luaL_addstring(&buf, "<lctw.Tensor ");
    luaL_addstring(&buf, lctw_tensor_shape_str(sh, sizeof sh, t));
    luaL_addchar(&buf, ' ');
    luaL_addstring(&buf, dev_name(lctw_tensor_device(t)));
    if (have_m) {
        char line[200];
        fmt_val(a, sizeof a, m.min);
        fmt_val(b, sizeof b, m.mean);
        fmt_val(c, sizeof c, m.max);
        snprintf(line, sizeof line, "  min %s mean %s max %s", a, b, c);
        luaL_addstring(&buf, line);
    }
    luaL_addstring(&buf, "  [");
    int64_t idx[5] = {0, 1, 2, n - 2, n - 1};
    for (int k = 0; k < 5; k++) {
        float v;
        if (lctw_tensor_get_flat(t, idx[k], &v) != LCTW_OK) {
            lctw_error_clear();
            luaL_addstring(&buf, "?");
        } else {
            fmt_val(a, sizeof a, v);
            luaL_addstring(&buf, a);
        }
        luaL_addstring(&buf, k == 4 ? "]>" : k == 2 ? ", … , " : ", ");
    }
    luaL_pushresult(&buf);
}

static int l_t_tostring(lua_State *L) {
    lctw_tensor **p = luaL_checkudata(L, 1, LCTW_TENSOR_MT);
    if (!*p) {
        lua_pushliteral(L, "<lctw.Tensor (closed)>");
        return 1;
    }
    if (lctw_tensor_numel(*p) <= PRINT_FULL_MAX)
        push_full(L, *p);
    else
        push_summary(L, *p);
    return 1;
}

static int l_t_print_all(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    lua_getglobal(L, "print");
    push_full(L, t);
    lua_call(L, 1, 0);
    return 0;
}

/* ---- memory ---- */

static int l_t_free(lua_State *L) {
    lctw_tensor **p = luaL_checkudata(L, 1, LCTW_TENSOR_MT);
    if (*p) {
        lctw_tensor_release(*p);
        *p = NULL;
    }
    return 0;
}

/* ---- registration ---- */

/* One function serves lctw.tensor.matmul and t:matmul, so they share one help text. */
static const char MATMUL_HELP[] =
    "lctw.tensor.matmul(a, b) | a:matmul(b) -> tensor\n\nMatrix product: a (m×k) · b (k×n) -> "
    "m×n, or batched a (B×m×k) · b (B×k×n) -> B×m×n. (* is element-wise.)";

static const l_reg tensor_funcs[] = {
    {"zeros", l_zeros,
     "lctw.tensor.zeros(shape[, {device=}]) -> tensor\n\nA tensor of zeros. shape is a table "
     "{d1, d2, ...} or integers: zeros({2, 3}) or zeros(2, 3). At most 4 dimensions. device: "
     "\"cpu\" or \"cuda\" (default: lctw.device())."},
    {"ones", l_ones, "lctw.tensor.ones(shape[, {device=}]) -> tensor\n\nA tensor of ones."},
    {"empty", l_empty,
     "lctw.tensor.empty(shape[, {device=}]) -> tensor\n\nAn uninitialised tensor (its values are "
     "whatever the memory held)."},
    {"full", l_full,
     "lctw.tensor.full(shape, value[, {device=}]) -> tensor\n\nA tensor filled with value: "
     "full({2, 3}, 7) or full(2, 3, 7)."},
    {"rand", l_rand,
     "lctw.tensor.rand(shape[, {seed=, stream=, device=}]) -> tensor\n\nUniform draws in (0, 1) "
     "from the Philox4x32-10 generator. With seed, the numbers depend only on (seed, stream); "
     "without, they come from the global generator (lctw.tensor.manual_seed), which moves on "
     "after each draw. The same seed gives the same numbers on cpu and cuda."},
    {"randn", l_randn,
     "lctw.tensor.randn(shape[, {seed=, stream=, device=}]) -> tensor\n\nStandard normal draws "
     "(Box-Muller on Philox4x32-10); seeds and streams as for lctw.tensor.rand."},
    {"manual_seed", l_manual_seed,
     "lctw.tensor.manual_seed(seed)\n\nRestarts the global generator (used by rand/randn without "
     "a seed) at seed, offset 0. The default seed is 0."},
    {"get_rng_state", l_get_rng_state,
     "lctw.tensor.get_rng_state() -> {seed=, offset=}\n\nThe global generator's position "
     "(offset in 128-bit Philox blocks)."},
    {"set_rng_state", l_set_rng_state,
     "lctw.tensor.set_rng_state{seed=, offset=}\n\nRestores a position saved by get_rng_state."},
    {"from", l_from,
     "lctw.tensor.from(table[, {device=}]) -> tensor\n\nA tensor from nested tables of numbers "
     "(up to 4 levels; every row must have the same length): from{{1, 2, 3}, {4, 5, 6}} is "
     "2×3. A number gives a 0-dimensional tensor; a tensor gives a copy."},
    {"arange", l_arange,
     "lctw.tensor.arange(n) | arange(start, stop[, step]) [, {device=}] -> tensor\n\nLike "
     "NumPy/PyTorch: start, start+step, ... while < stop (step 1 by default); arange(n) is "
     "0, 1, ..., n-1."},
    {"linspace", l_linspace,
     "lctw.tensor.linspace(a, b, n[, {device=}]) -> tensor\n\nn evenly spaced values from a to b "
     "inclusive."},
    {"matmul", l_matmul, MATMUL_HELP},
    {"default_device", l_default_device,
     "lctw.device([name]) -> name\n\nSets (\"cpu\" or \"cuda\") and returns the default device of "
     "tensor creation functions. Same as lctw.tensor.default_device."},
    {"is_tensor", l_is_tensor, "lctw.tensor.is_tensor(x) -> boolean"},
    {NULL, NULL, NULL},
};

static const l_reg tensor_methods[] = {
    /* properties */
    {"shape", l_t_shape, "t:shape() -> table\n\nThe sizes of the dimensions, e.g. {2, 3}."},
    {"size", l_t_size,
     "t:size([dim]) -> integer | table\n\nSize of dimension dim (1-based, negative counts from "
     "the end); without dim the shape table."},
    {"dim", l_t_dim, "t:dim() -> integer\n\nNumber of dimensions (0..4)."},
    {"numel", l_t_numel, "t:numel() -> integer\n\nNumber of elements."},
    {"device", l_t_device, "t:device() -> \"cpu\" | \"cuda\""},
    {"is_contiguous", l_t_is_contiguous,
     "t:is_contiguous() -> boolean\n\nWhether the elements are dense in row-major order."},
    {"stride", l_t_stride,
     "t:stride([dim]) -> table | integer\n\nElement strides of the dimensions."},
    {"item", l_t_item, "t:item() -> number\n\nThe value of a one-element tensor."},
    /* views and copies */
    {"view", l_t_view,
     "t:view(shape) -> tensor\n\nThe same elements with another shape (a table or integers; one "
     "size may be -1). Shares storage; needs a contiguous tensor (else use reshape)."},
    {"reshape", l_t_reshape,
     "t:reshape(shape) -> tensor\n\nLike view, but copies when t is not contiguous."},
    {"narrow", l_t_narrow,
     "t:narrow(dim, start, len) -> tensor\n\nElements start..start+len-1 (1-based) of dimension "
     "dim. Shares storage."},
    {"select", l_t_select,
     "t:select(dim, i) -> tensor\n\nSlice i (1-based; negative from the end) of dimension dim, "
     "which is removed. Shares storage."},
    {"transpose", l_t_transpose,
     "t:transpose(d0, d1) -> tensor\n\nSwaps two dimensions (a view, not contiguous)."},
    {"t", l_t_t, "t:t() -> tensor\n\nTranspose of a 2-D tensor (a view)."},
    {"contiguous", l_t_contiguous,
     "t:contiguous() -> tensor\n\nt itself if contiguous, else a contiguous copy."},
    {"clone", l_t_clone, "t:clone() -> tensor\n\nA contiguous copy on the same device."},
    {"copy", l_t_copy,
     "t:copy(src) -> t\n\nCopies src's values into t (same number of elements, any devices)."},
    {"cuda", l_t_cuda, "t:cuda() -> tensor\n\nt on the CUDA device (t itself if already there)."},
    {"cpu", l_t_cpu, "t:cpu() -> tensor\n\nt on the CPU (t itself if already there)."},
    {"to", l_t_to, "t:to(device) -> tensor\n\nt on \"cpu\" or \"cuda\"."},
    {"get", l_t_get,
     "t:get(i, j, ...) -> number\n\nOne element (one 1-based index per dimension; negative "
     "counts from the end)."},
    {"set", l_t_set, "t:set(value, i, j, ...) -> t\n\nSets one element."},
    {"totable", l_t_totable,
     "t:totable() -> table\n\nThe values as nested tables (a number for a 0-D tensor)."},
    /* arithmetic */
    {"add", l_t_add, "t:add(x) -> tensor\n\nt + x, x a tensor of the same shape or a number."},
    {"sub", l_t_sub, "t:sub(x) -> tensor\n\nt - x."},
    {"mul", l_t_mul, "t:mul(x) -> tensor\n\nt * x (element-wise)."},
    {"div", l_t_div, "t:div(x) -> tensor\n\nt / x."},
    {"pow", l_t_pow, "t:pow(p) -> tensor\n\nt ^ p, p a number or a tensor."},
    {"add_", l_t_add_, "t:add_(x) -> t\n\nIn place: t = t + x."},
    {"sub_", l_t_sub_, "t:sub_(x) -> t\n\nIn place: t = t - x."},
    {"mul_", l_t_mul_, "t:mul_(x) -> t\n\nIn place: t = t * x."},
    {"div_", l_t_div_, "t:div_(x) -> t\n\nIn place: t = t / x."},
    {"pow_", l_t_pow_, "t:pow_(p) -> t\n\nIn place: t = t ^ p."},
    {"neg", l_t_neg, "t:neg() -> tensor\n\n-t."},
    {"exp", l_t_exp, "t:exp() -> tensor\n\nElement-wise e^x."},
    {"log", l_t_log, "t:log() -> tensor\n\nElement-wise natural logarithm."},
    {"sqrt", l_t_sqrt, "t:sqrt() -> tensor\n\nElement-wise square root."},
    {"abs", l_t_abs, "t:abs() -> tensor\n\nElement-wise |x|."},
    {"tanh", l_t_tanh, "t:tanh() -> tensor\n\nElement-wise tanh."},
    {"neg_", l_t_neg_, "t:neg_() -> t\n\nIn place."},
    {"exp_", l_t_exp_, "t:exp_() -> t\n\nIn place."},
    {"log_", l_t_log_, "t:log_() -> t\n\nIn place."},
    {"sqrt_", l_t_sqrt_, "t:sqrt_() -> t\n\nIn place."},
    {"abs_", l_t_abs_, "t:abs_() -> t\n\nIn place."},
    {"tanh_", l_t_tanh_, "t:tanh_() -> t\n\nIn place."},
    {"clamp", l_t_clamp,
     "t:clamp(lo, hi) -> tensor\n\nmin(max(x, lo), hi); lo or hi may be nil (no bound)."},
    {"clamp_", l_t_clamp_, "t:clamp_(lo, hi) -> t\n\nIn place."},
    {"fill_", l_t_fill_, "t:fill_(v) -> t\n\nSets every element to v."},
    {"zero_", l_t_zero_, "t:zero_() -> t\n\nSets every element to 0."},
    {"matmul", l_matmul, MATMUL_HELP},
    /* reductions and statistics */
    {"sum", l_t_sum,
     "t:sum([dim][, {keepdim=false}]) -> number | tensor\n\nSum of all elements, or over "
     "dimension dim (removed unless keepdim)."},
    {"mean", l_t_mean, "t:mean([dim][, {keepdim=false}]) -> number | tensor"},
    {"var", l_t_var,
     "t:var([dim][, {unbiased=true, keepdim=false}]) -> number | tensor\n\nVariance, unbiased "
     "(n-1) unless unbiased=false."},
    {"std", l_t_std,
     "t:std([dim][, {unbiased=true, keepdim=false}]) -> number | tensor\n\nStandard deviation."},
    {"min", l_t_min,
     "t:min([dim][, {keepdim=false}]) -> number | values, indices\n\nSmallest element; with dim "
     "the values and their 1-based positions along dim."},
    {"max", l_t_max,
     "t:max([dim][, {keepdim=false}]) -> number | values, indices\n\nLargest element; with dim "
     "the values and their 1-based positions along dim."},
    {"skew", l_t_skew, "t:skew() -> number\n\nSkewness m3/m2^1.5 (population moments)."},
    {"kurtosis", l_t_kurtosis,
     "t:kurtosis() -> number\n\nExcess kurtosis m4/m2^2 - 3 (population moments; 0 for a "
     "normal distribution)."},
    {"moments", l_t_moments,
     "t:moments() -> {n=, mean=, var=, std=, skew=, kurtosis=, min=, max=}\n\nAll in one pass; "
     "var and std are the population (biased) ones here."},
    {"tail_fraction", l_t_tail_fraction,
     "t:tail_fraction(k) -> number\n\nFraction of elements with |x - mean| > k·std (population "
     "std)."},
    {"histogram", l_t_histogram,
     "t:histogram{bins=50, range={lo, hi}} -> {counts=, edges=, below=, above=, bins=, range=}\n\n"
     "Counts in bins equal-width bins over range (default: min..max); edges has bins+1 "
     "entries; below/above count the elements outside the range."},
    /* printing and memory */
    {"print_all", l_t_print_all, "t:print_all()\n\nPrints every value, however many."},
    {"free", l_t_free,
     "t:free()\n\nReleases the tensor's memory now (also what `local t <close> = ...` does at "
     "the end of the block). Using t afterwards is an error."},
    {NULL, NULL, NULL},
};

static const char TENSOR_TYPE_HELP[] =
    "lctw.Tensor — a float32 tensor of up to 4 dimensions on the CPU or a CUDA device\n\n"
    "Create with lctw.tensor.zeros/ones/full/rand/randn/from/arange. Indices are 1-based "
    "(negative ones count from the end).\n"
    "  properties  t:shape() t:size(d) t:dim() t:numel() #t t:device() t:stride()\n"
    "  views       t:view(...) t:reshape(...) t:narrow(d, start, len) t:select(d, i) t[i]\n"
    "              t:transpose(d0, d1) t:t()   (views share storage; t[i] = v assigns)\n"
    "  copies      t:clone() t:contiguous() t:copy(src) t:cuda() t:cpu() t:to(dev) t:totable()\n"
    "  elements    t:get(i, j, ...) t:set(v, i, j, ...) t:item()\n"
    "  arithmetic  + - * / ^ (tensor or number), t:add(x) t:mul_(x) ... t:exp() t:log() "
    "t:sqrt()\n"
    "              t:abs() t:tanh() t:neg() t:clamp(lo, hi) t:pow(p) t:fill_(v) t:matmul(b)\n"
    "  reductions  t:sum() t:mean() t:var() t:std() t:min() t:max()  (optional dim, keepdim)\n"
    "  statistics  t:skew() t:kurtosis() t:moments() t:tail_fraction(k) t:histogram{bins=}\n"
    "  memory      t:free(), or `local t <close> = ...`";

static const l_reg tensor_meta[] = {
    {"__add", l_t_add, NULL},    {"__sub", l_t_sub, NULL},           {"__mul", l_t_mul, NULL},
    {"__div", l_t_div, NULL},    {"__pow", l_t_pow, NULL},           {"__unm", l_t_unm, NULL},
    {"__len", l_t_len, NULL},    {"__tostring", l_t_tostring, NULL}, {"__gc", l_t_free, NULL},
    {"__close", l_t_free, NULL}, {"__newindex", l_t_newindex, NULL}, {NULL, NULL, NULL},
};

void l_tensor_open(lua_State *L) {
    int mod = lua_gettop(L);
    l_tensor_state *st = lua_newuserdatauv(L, sizeof *st, 0);
    memset(st, 0, sizeof *st);
    st->dev = LCTW_DEV_CPU;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &STATE_KEY);

    l_register(L, mod, tensor_funcs);
    l_sethelp(L, mod,
              "lctw.tensor — float32 tensors of up to 4 dimensions on the CPU or CUDA.\n"
              "help(t) on a tensor t shows its methods.");

    luaL_newmetatable(L, LCTW_TENSOR_MT);
    int mt = lua_gettop(L);
    l_register(L, mt, tensor_meta);
    lua_newtable(L); /* methods */
    l_register(L, -1, tensor_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, mt, "__methods"); /* for completion and Lua-side additions (rawget only) */
    lua_pushvalue(L, -1);
    lua_setfield(L, mod, "_methods");
    lua_pushcclosure(L, l_t_index, 1);
    lua_setfield(L, mt, "__index");
    lua_settop(L, mod);
    l_settypehelp(L, LCTW_TENSOR_MT, TENSOR_TYPE_HELP);
}
