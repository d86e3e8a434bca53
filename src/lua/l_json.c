/* l_json.c — lctw.json: JSON text <-> Lua values, on the strict reader and writer of
 * src/io/json.c (RFC 8259; the reader's limits make hostile input safe to decode).
 *
 * Mapping. Objects are tables with string keys; arrays are sequences 1..n carrying the marker
 * metatable lctw.json.array (so [] and {} survive a round trip); null is the sentinel
 * lctw.json.null in arrays and at the top level, and an absent key in objects (opts.keep_null
 * keeps the sentinel there too). Numbers written without fraction or exponent that fit in 64
 * bits become Lua integers, all others floats (a too-large integer becomes the nearest double).
 * encode writes object keys sorted (byte order) so the output is deterministic, uses raw access
 * only (no __index/__pairs code runs), and names where a value cannot be written ($.a[2].b).
 *
 * Also here, private to lua/lctw/attach.lua (which follows another process's metrics.jsonl like
 * `tail -F`): lctw.stat, lctw.pid_alive and lctw.sleep (src/lua/l_lctw.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/interrupt.h"
#include "io/json.h"
#include "lctw_lua.h"

static const char NULL_KEY = 'n';  /* registry: the lctw.json.null sentinel (address is the key) */
static const char ARRAY_KEY = 'a'; /* registry: the array marker metatable */
static const char ENC_KEY = 'e';   /* registry: metatable of the encoder userdata (__gc) */

/* ---- decode ---- */

static void push_value(lua_State *L, const lctw_json *v, int keep_null) {
    luaL_checkstack(L, 4, "JSON nesting too deep for the Lua stack");
    switch (v->type) {
    case LCTW_JSON_NULL: lua_rawgetp(L, LUA_REGISTRYINDEX, &NULL_KEY); break;
    case LCTW_JSON_BOOL: lua_pushboolean(L, v->boolean); break;
    case LCTW_JSON_NUMBER:
        if (v->is_int && !(v->i == 0 && signbit(v->num))) /* "-0" stays the float -0.0 */
            lua_pushinteger(L, (lua_Integer)v->i);
        else
            lua_pushnumber(L, (lua_Number)v->num);
        break;
    case LCTW_JSON_STRING: lua_pushlstring(L, v->str, v->len); break;
    case LCTW_JSON_ARRAY:
        lua_createtable(L, v->len > INT32_MAX ? 0 : (int)v->len, 0);
        for (size_t k = 0; k < v->len; k++) {
            push_value(L, v->items[k], keep_null);
            lua_rawseti(L, -2, (lua_Integer)k + 1);
        }
        lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_KEY);
        lua_setmetatable(L, -2);
        break;
    case LCTW_JSON_OBJECT:
        lua_createtable(L, 0, v->len > INT32_MAX ? 0 : (int)v->len);
        for (size_t k = 0; k < v->len; k++) {
            const lctw_json *m = v->items[k];
            if (m->type == LCTW_JSON_NULL && !keep_null) continue;
            lua_pushlstring(L, m->key, m->key_len);
            push_value(L, m, keep_null);
            lua_rawset(L, -3);
        }
        break;
    }
}

/* "byte N" of the reader's message, with the line and column it is on (1-based). */
static void push_decode_error(lua_State *L, const char *text, size_t len) {
    const char *msg = lctw_error_message();
    static const char pre[] = "JSON syntax error at byte ";
    size_t at;
    int used = 0;
    if (!strncmp(msg, pre, sizeof pre - 1) &&
        sscanf(msg + sizeof pre - 1, "%zu%n", &at, &used) == 1 && at <= len) {
        size_t line = 1, col = 1;
        for (size_t k = 0; k < at; k++) {
            if (text[k] == '\n')
                line++, col = 1;
            else
                col++;
        }
        lua_pushfstring(L, "lctw.json.decode: JSON syntax error at byte %I (line %I, column %I)%s",
                        (lua_Integer)at, (lua_Integer)line, (lua_Integer)col,
                        msg + sizeof pre - 1 + used);
    } else {
        lua_pushfstring(L, "lctw.json.decode: %s", msg);
    }
}

static int convert(lua_State *L) {
    const lctw_json_doc *doc = lua_touserdata(L, 1);
    int keep_null = lua_toboolean(L, 2);
    luaL_checkstack(L, 4 * (int)lua_tointeger(L, 3) + 8, "JSON nesting too deep for the Lua stack");
    push_value(L, lctw_json_root(doc), keep_null);
    return 1;
}

static int l_json_decode(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    static const char *const known[] = {"max_depth", "keep_null", NULL};
    l_checkoptions(L, 2, "lctw.json.decode", known);
    lua_Integer depth = l_optfield_int(L, 2, "max_depth", LCTW_JSON_DEFAULT_DEPTH);
    int keep_null = l_optfield_bool(L, 2, "keep_null", 0);
    if (depth < 1 || depth > 1000)
        return luaL_error(L, "lctw.json.decode: option 'max_depth' must be 1..1000, got %I", depth);
    lctw_json_opts o = {.max_depth = (int)depth, .max_memory = 0};
    lctw_json_doc *doc;
    lctw_status s = lctw_json_parse(&doc, text, len, &o);
    if (s != LCTW_OK) {
        push_decode_error(L, text, len);
        return lua_error(L);
    }
    /* converting may raise (memory): do it in a protected call so the tree is always freed */
    lua_pushcfunction(L, convert);
    lua_pushlightuserdata(L, doc);
    lua_pushboolean(L, keep_null);
    lua_pushinteger(L, depth);
    int st = lua_pcall(L, 3, 1, 0);
    lctw_json_free(doc);
    if (st != LUA_OK) return lua_error(L);
    return 1;
}

/* ---- encode ---- */

#define ENC_MAX_DEPTH LCTW_JSON_WRITER_MAX_DEPTH

typedef struct {
    lua_State *L;
    lctw_json_writer w;
    int depth;
    struct {
        const void *table; /* the container being written (cycle check) */
        int is_index;      /* the next component is [idx] (array) or .key (object) */
        lua_Integer idx;
        const char *key;
        size_t key_len;
    } path[ENC_MAX_DEPTH + 1];
} encoder;

/* Pushes "$.a[2].b" for the current path (components up to enc->depth). */
static void push_path(encoder *e) {
    luaL_Buffer b;
    luaL_buffinit(e->L, &b);
    luaL_addchar(&b, '$');
    for (int d = 0; d < e->depth; d++) {
        char tmp[32];
        if (e->path[d].is_index) {
            snprintf(tmp, sizeof tmp, "[%" PRId64 "]", (int64_t)e->path[d].idx);
            luaL_addstring(&b, tmp);
        } else {
            luaL_addchar(&b, '.');
            luaL_addlstring(&b, e->path[d].key, e->path[d].key_len > 60 ? 60 : e->path[d].key_len);
        }
    }
    luaL_pushresult(&b);
}

/* Raises "lctw.json.encode: <what> at <path>" (the userdata's __gc frees the writer's buffer). */
static int enc_error(encoder *e, const char *what) {
    push_path(e);
    return luaL_error(e->L, "lctw.json.encode: %s at %s", what, lua_tostring(e->L, -1));
}

static int is_null(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
    int r = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    return r;
}

static int has_array_mt(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_KEY);
    int r = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return r;
}

typedef struct {
    const char *s;
    size_t n;
} enc_key;

static int cmp_keys(const void *a, const void *b) {
    const enc_key *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static void enc_value(encoder *e, int idx);

static void enc_string(encoder *e, const char *s, size_t n, const char *what) {
    size_t bad;
    if (!lctw_utf8_valid(s, n, &bad)) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s is not valid UTF-8 (byte %zu)", what, bad);
        enc_error(e, msg);
    }
}

static void enc_table(encoder *e, int idx) {
    lua_State *L = e->L;
    const void *p = lua_topointer(L, idx);
    for (int d = 0; d < e->depth; d++)
        if (e->path[d].table == p) enc_error(e, "a table that contains itself (reference cycle)");
    if (e->depth >= ENC_MAX_DEPTH) {
        char msg[64];
        snprintf(msg, sizeof msg, "tables nested deeper than %d levels", ENC_MAX_DEPTH);
        enc_error(e, msg);
    }
    luaL_checkstack(L, 6, "JSON nesting too deep for the Lua stack");
    /* classify: count keys; sequence 1..n -> array, all strings -> object */
    lua_Integer n = 0, max_int = 0;
    size_t nstr = 0;
    int other = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        n++;
        if (lua_type(L, -1) == LUA_TSTRING)
            nstr++;
        else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1)
            max_int = lua_tointeger(L, -1) > max_int ? lua_tointeger(L, -1) : max_int;
        else if (!other)
            other = 1;
    }
    int marked = has_array_mt(L, idx);
    int is_array = marked || (n > 0 && nstr == 0 && !other && max_int == n);
    e->path[e->depth].table = p;
    if (is_array) {
        if (nstr || other || max_int != n)
            enc_error(e, "a table marked as a JSON array (lctw.json.array) has keys other than "
                         "1..n");
        lctw_json_writer_begin_array(&e->w);
        e->path[e->depth].is_index = 1;
        e->depth++;
        for (lua_Integer k = 1; k <= n; k++) {
            e->path[e->depth - 1].idx = k;
            lua_rawgeti(L, idx, k);
            enc_value(e, lua_gettop(L));
            lua_pop(L, 1);
        }
        e->depth--;
        lctw_json_writer_end_array(&e->w);
        return;
    }
    if (nstr != (size_t)n) { /* find a non-string key to name it */
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING) {
                char msg[160];
                const char *kt = luaL_typename(L, -1);
                if (lua_type(L, -1) == LUA_TNUMBER)
                    snprintf(msg, sizeof msg,
                             "key %s (a number) in a table with other keys: object keys must be "
                             "strings, arrays must be sequences 1..n",
                             lua_tostring(L, -1));
                else
                    snprintf(msg, sizeof msg, "key of type %s: object keys must be strings", kt);
                enc_error(e, msg);
            }
        }
    }
    /* object: keys sorted by their bytes */
    enc_key *keys = lua_newuserdatauv(L, nstr ? nstr * sizeof *keys : 1, 0); /* freed by the GC */
    int keys_idx = lua_gettop(L);
    lua_createtable(L, (int)(nstr > INT32_MAX ? 0 : nstr), 0); /* anchors the key strings */
    int anchor = lua_gettop(L);
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        keys[k].s = lua_tolstring(L, -1, &keys[k].n);
        lua_pushvalue(L, -1);
        lua_rawseti(L, anchor, (lua_Integer)k + 1);
        k++;
    }
    qsort(keys, nstr, sizeof *keys, cmp_keys);
    lctw_json_writer_begin_object(&e->w);
    e->path[e->depth].is_index = 0;
    e->depth++;
    for (k = 0; k < nstr; k++) {
        e->path[e->depth - 1].key = keys[k].s;
        e->path[e->depth - 1].key_len = keys[k].n;
        enc_string(e, keys[k].s, keys[k].n, "the key");
        lctw_json_writer_keyn(&e->w, keys[k].s, keys[k].n);
        lua_pushlstring(L, keys[k].s, keys[k].n);
        lua_rawget(L, idx);
        enc_value(e, lua_gettop(L));
        lua_pop(L, 1);
    }
    e->depth--;
    lctw_json_writer_end_object(&e->w);
    lua_settop(L, keys_idx - 1);
}

static void enc_value(encoder *e, int idx) {
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: lctw_json_writer_null(&e->w); break;
    case LUA_TBOOLEAN: lctw_json_writer_bool(&e->w, lua_toboolean(L, idx)); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            lctw_json_writer_int(&e->w, (int64_t)lua_tointeger(L, idx));
        } else {
            lua_Number v = lua_tonumber(L, idx);
            if (!isfinite(v))
                enc_error(e, isnan(v) ? "NaN (JSON has no NaN; use nil or lctw.json.null)"
                                      : "an infinity (JSON has no infinities)");
            lctw_json_writer_number(&e->w, (double)v);
        }
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        enc_string(e, s, n, "the string");
        lctw_json_writer_stringn(&e->w, s, n);
        break;
    }
    case LUA_TTABLE:
        if (is_null(L, idx))
            lctw_json_writer_null(&e->w);
        else
            enc_table(e, idx);
        break;
    default: {
        char msg[64];
        snprintf(msg, sizeof msg, "a %s cannot be written as JSON", luaL_typename(L, idx));
        enc_error(e, msg);
    }
    }
    if (e->w.err != LCTW_OK) enc_error(e, lctw_error_message());
}

static int l_json_encode(lua_State *L) {
    luaL_checkany(L, 1);
    static const char *const known[] = {"indent", NULL};
    l_checkoptions(L, 2, "lctw.json.encode", known);
    lua_Integer indent = l_optfield_int(L, 2, "indent", 0);
    if (indent < 0 || indent > 16)
        return luaL_error(L, "lctw.json.encode: option 'indent' must be 0..16, got %I", indent);
    lua_settop(L, 1);
    /* the encoder lives in a userdata whose __gc frees the output buffer: an error (which
     * longjmps out of here) cannot leak it */
    encoder *e = lua_newuserdatauv(L, sizeof *e, 0);
    e->L = L;
    e->depth = 0;
    lctw_json_writer_init(&e->w, (int)indent);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ENC_KEY);
    lua_setmetatable(L, -2);
    enc_value(e, 1);
    char *out;
    size_t len;
    if (lctw_json_writer_finish(&e->w, &out, &len) != LCTW_OK)
        return luaL_error(L, "lctw.json.encode: %s", lctw_error_message());
    lua_pushlstring(L, out, len);
    free(out);
    return 1;
}

static int enc_gc(lua_State *L) {
    encoder *e = lua_touserdata(L, 1);
    lctw_json_writer_release(&e->w);
    return 0;
}

static int l_json_array(lua_State *L) {
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    else
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_KEY);
    lua_setmetatable(L, 1);
    return 1;
}

static int l_json_is_array(lua_State *L) {
    lua_pushboolean(L, lua_type(L, 1) == LUA_TTABLE && has_array_mt(L, 1));
    return 1;
}

static const l_reg json_funcs[] = {
    {"decode", l_json_decode,
     "lctw.json.decode(text [, {max_depth=64, keep_null=false}]) -> value\n\nParses strict JSON "
     "(RFC 8259). Objects become tables, arrays sequences marked with lctw.json.array, null "
     "lctw.json.null (an absent key inside objects unless keep_null=true); numbers without "
     "fraction or exponent that fit in 64 bits become integers, others floats. Errors name the "
     "byte, line and column: \"JSON syntax error at byte 7 (line 1, column 8): ...\"."},
    {"encode", l_json_encode,
     "lctw.json.encode(value [, {indent=0}]) -> text\n\nWrites JSON: tables that are sequences "
     "1..n (or marked with lctw.json.array) as arrays, tables with string keys as objects (keys "
     "sorted), an empty unmarked table as {}, nil and lctw.json.null as null. Floats are written "
     "in the shortest form that reads back exactly (2.0 as 2). NaN, infinities, functions, "
     "mixed keys, invalid UTF-8 and cycles are errors that name the place ($.a[2].b)."},
    {"array", l_json_array,
     "lctw.json.array([t]) -> t\n\nMarks t (or a new table) as a JSON array, so an empty one "
     "is written as [] rather than {}."},
    {"is_array", l_json_is_array,
     "lctw.json.is_array(v) -> bool\n\nWhether v is a table marked as a JSON array (every array "
     "lctw.json.decode returns is)."},
    {NULL, NULL, NULL},
};

static int null_tostring(lua_State *L) {
    lua_pushliteral(L, "null");
    return 1;
}

static int null_newindex(lua_State *L) {
    return luaL_error(L, "lctw.json.null is a constant (it stands for JSON null)");
}

void l_json_open(lua_State *L) {
    int mod = lua_gettop(L);
    l_register(L, mod, json_funcs);
    l_sethelp(L, mod,
              "lctw.json — JSON text to Lua values and back (strict RFC 8259): decode, encode, "
              "array, null.");
    /* null: an empty table whose metatable prints "null" and refuses fields */
    lua_newtable(L);
    lua_createtable(L, 0, 4);
    lua_pushcfunction(L, null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, null_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "lctw.json.null");
    lua_setfield(L, -2, "__name");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
    l_sethelp(L, -1,
              "lctw.json.null — stands for JSON null where nil cannot (inside arrays); "
              "lctw.json.encode writes it as null.");
    lua_setfield(L, mod, "null");
    /* the array marker metatable */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "lctw.json.array");
    lua_setfield(L, -2, "__name");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ARRAY_KEY);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, enc_gc);
    lua_setfield(L, -2, "__gc");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ENC_KEY);
    l_settypehelp(L, "lctw.json.array",
                  "a JSON array (lctw.json.array / lctw.json.decode): a plain sequence 1..n "
                  "whose metatable only marks it, so that [] stays [] through a round trip.");
    lua_settop(L, mod);
}
