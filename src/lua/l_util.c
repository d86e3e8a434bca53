/* l_util.c — shared helpers of the Lua bindings (see lctw_lua.h). */
#include <string.h>

#include "lctw_lua.h"

static const char HELP_KEY = 'h'; /* registry key of the help table (address is the key) */

static void push_help_table(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &HELP_KEY) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_newtable(L);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &HELP_KEY);
}

void l_sethelp(lua_State *L, int idx, const char *help) {
    idx = lua_absindex(L, idx);
    push_help_table(L);
    lua_pushvalue(L, idx);
    lua_pushstring(L, help);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

int l_gethelp(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    push_help_table(L);
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TSTRING) {
        lua_remove(L, -2);
        return 1;
    }
    lua_pop(L, 2);
    return 0;
}

void l_settypehelp(lua_State *L, const char *tname, const char *help) {
    lua_pushstring(L, tname);
    l_sethelp(L, -1, help);
    lua_pop(L, 1);
}

void l_register(lua_State *L, int idx, const l_reg *regs) {
    idx = lua_absindex(L, idx);
    for (; regs->name; regs++) {
        lua_pushcfunction(L, regs->fn);
        if (regs->help) l_sethelp(L, -1, regs->help);
        lua_setfield(L, idx, regs->name);
    }
}

int l_fail(lua_State *L, lctw_status s) {
    (void)s;
    return luaL_error(L, "%s", lctw_error_message());
}

/* ---- tensors ---- */

lctw_tensor *l_totensor(lua_State *L, int idx) {
    lctw_tensor **p = luaL_testudata(L, idx, LCTW_TENSOR_MT);
    return p ? *p : NULL;
}

lctw_tensor *l_checktensor(lua_State *L, int idx) {
    lctw_tensor **p = luaL_testudata(L, idx, LCTW_TENSOR_MT);
    if (!p) luaL_typeerror(L, idx, "lctw.Tensor");
    if (!*p) luaL_argerror(L, idx, "tensor has been closed");
    return *p;
}

void l_pushtensor(lua_State *L, lctw_tensor *t) {
    /* Allocate the userdata before anything can fail so t is never leaked. */
    lctw_tensor **p = lua_newuserdatauv(L, sizeof *p, 0);
    *p = t;
    luaL_setmetatable(L, LCTW_TENSOR_MT);
    /* Tell the collector about memory it cannot see (views own no new storage). */
    if (t->st->refcount == 1 && t->st->kind != LCTW_MEM_EXTERNAL) {
        size_t kb = t->st->nbytes >> 10;
        if (kb > 64) lua_gc(L, LUA_GCSTEP, (int)(kb > (1 << 30) ? (1 << 30) : kb));
    }
}

int l_gc_on_nomem(lua_State *L, lctw_status s) {
    if (s != LCTW_ENOMEM) return 0;
    lua_gc(L, LUA_GCCOLLECT);
    return 1;
}

/* ---- shapes ---- */

/* Size of dimension i from the value at the top of the stack (integer >= 0, or -1 for views). */
static int64_t dim_size(lua_State *L, int i) {
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok || lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "shape: dimension %d is not an integer (%s)", i + 1, luaL_typename(L, -1));
    if (v < -1) luaL_error(L, "shape: dimension %d is negative (%d)", i + 1, (int)v);
    return (int64_t)v;
}

int l_checkshape(lua_State *L, int idx, int64_t *shape, int *next) {
    idx = lua_absindex(L, idx);
    int n = 0;
    if (lua_istable(L, idx) && !l_totensor(L, idx)) {
        lua_Integer len = luaL_len(L, idx);
        if (len > LCTW_MAX_DIMS)
            luaL_error(L, "shape: at most %d dimensions, got %d", LCTW_MAX_DIMS, (int)len);
        for (n = 0; n < (int)len; n++) {
            lua_geti(L, idx, n + 1);
            shape[n] = dim_size(L, n);
            lua_pop(L, 1);
        }
        if (next) *next = idx + 1;
        return n;
    }
    int top = lua_gettop(L);
    for (int i = idx; i <= top && lua_type(L, i) == LUA_TNUMBER; i++) {
        if (n == LCTW_MAX_DIMS) luaL_error(L, "shape: at most %d dimensions", LCTW_MAX_DIMS);
        lua_pushvalue(L, i);
        shape[n] = dim_size(L, n);
        lua_pop(L, 1);
        n++;
    }
    if (n == 0) luaL_argerror(L, idx, "shape expected (a table {d1, d2, ...} or integers)");
    if (next) *next = idx + n;
    return n;
}

void l_pushshape(lua_State *L, int ndim, const int64_t *shape) {
    lua_createtable(L, ndim, 0);
    for (int i = 0; i < ndim; i++) {
        lua_pushinteger(L, (lua_Integer)shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* ---- option tables ---- */

static int getfield(lua_State *L, int idx, const char *k) {
    if (lua_isnoneornil(L, idx)) return LUA_TNIL;
    luaL_checktype(L, idx, LUA_TTABLE);
    int t = lua_getfield(L, idx, k);
    if (t == LUA_TNIL) lua_pop(L, 1);
    return t;
}

lua_Integer l_optfield_int(lua_State *L, int idx, const char *k, lua_Integer dflt) {
    idx = lua_absindex(L, idx);
    if (getfield(L, idx, k) == LUA_TNIL) return dflt;
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok) luaL_error(L, "option '%s': expected an integer, got %s", k, luaL_typename(L, -1));
    lua_pop(L, 1);
    return v;
}

lua_Number l_optfield_num(lua_State *L, int idx, const char *k, lua_Number dflt) {
    idx = lua_absindex(L, idx);
    if (getfield(L, idx, k) == LUA_TNIL) return dflt;
    int ok;
    lua_Number v = lua_tonumberx(L, -1, &ok);
    if (!ok) luaL_error(L, "option '%s': expected a number, got %s", k, luaL_typename(L, -1));
    lua_pop(L, 1);
    return v;
}

int l_optfield_bool(lua_State *L, int idx, const char *k, int dflt) {
    idx = lua_absindex(L, idx);
    if (getfield(L, idx, k) == LUA_TNIL) return dflt;
    if (!lua_isboolean(L, -1))
        luaL_error(L, "option '%s': expected a boolean, got %s", k, luaL_typename(L, -1));
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

const char *l_optfield_str(lua_State *L, int idx, const char *k, const char *dflt) {
    idx = lua_absindex(L, idx);
    if (getfield(L, idx, k) == LUA_TNIL) return dflt;
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "option '%s': expected a string, got %s", k, luaL_typename(L, -1));
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1); /* the string stays alive: it is still referenced by the options table */
    return s;
}

void l_checkoptions(lua_State *L, int idx, const char *fn, const char *const *known) {
    if (lua_isnoneornil(L, idx)) return;
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) continue; /* positional entries are the caller's */
        const char *k = lua_tostring(L, -1);
        int ok = 0;
        for (const char *const *p = known; *p; p++)
            if (!strcmp(*p, k)) ok = 1;
        if (!ok) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (const char *const *p = known; *p; p++) {
                if (p != known) luaL_addstring(&b, ", ");
                luaL_addstring(&b, *p);
            }
            luaL_pushresult(&b);
            luaL_error(L, "%s: unknown option '%s' (known: %s)", fn, k, lua_tostring(L, -1));
        }
    }
}

lctw_device l_checkdevice(lua_State *L, int idx, lctw_device dflt) {
    if (lua_isnoneornil(L, idx)) return dflt;
    const char *s = luaL_checkstring(L, idx);
    if (!strcmp(s, "cpu")) return LCTW_DEV_CPU;
    if (!strcmp(s, "cuda")) return LCTW_DEV_CUDA;
    luaL_error(L, "unknown device '%s' (expected \"cpu\" or \"cuda\")", s);
    return dflt;
}

void l_pushhistogram(lua_State *L, const int64_t *counts, int64_t bins, double lo, double hi,
                     int64_t below, int64_t above) {
    lua_createtable(L, 0, 8);
    lua_createtable(L, (int)bins, 0);
    for (int64_t i = 0; i < bins; i++) {
        lua_pushinteger(L, (lua_Integer)counts[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "counts");
    lua_createtable(L, (int)bins + 1, 0);
    for (int64_t i = 0; i <= bins; i++) {
        lua_pushnumber(L, i == bins ? hi : lo + (hi - lo) * (double)i / (double)bins);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "edges");
    lua_pushinteger(L, (lua_Integer)below);
    lua_setfield(L, -2, "below");
    lua_pushinteger(L, (lua_Integer)above);
    lua_setfield(L, -2, "above");
}
