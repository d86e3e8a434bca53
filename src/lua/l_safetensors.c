/* l_safetensors.c — lctw.safetensors: load, save and inspect .safetensors files from Lua
 * (the format and its checks are in src/io/safetensors.c).
 *
 * An open file is held in a small userdata with a __gc metamethod while tables are filled, so a
 * Lua error half way (a bad tensor, out of memory) still unmaps it.
 */
#include <string.h>

#include "io/safetensors.h"
#include "lctw_lua.h"

#define FILE_BOX_MT "lctw.safetensors.file"

static int box_gc(lua_State *L) {
    lctw_st_file **box = luaL_checkudata(L, 1, FILE_BOX_MT);
    lctw_st_close(*box);
    *box = NULL;
    return 0;
}

/* Opens path into a box pushed on the stack; raises on error. */
static lctw_st_file *open_boxed(lua_State *L, const char *path) {
    lctw_st_file **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, FILE_BOX_MT)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    L_TRY(L, lctw_st_open(box, path));
    return *box;
}

static void close_boxed(lua_State *L, int idx) {
    lctw_st_file **box = luaL_checkudata(L, idx, FILE_BOX_MT);
    lctw_st_close(*box);
    *box = NULL;
}

static void push_metadata(lua_State *L, const lctw_st_file *f) {
    int n = lctw_st_metadata_count(f);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, lctw_st_metadata_value(f, i));
        lua_setfield(L, -2, lctw_st_metadata_key(f, i));
    }
}

static int l_st_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lctw_st_file *f = open_boxed(L, path);
    int box = lua_gettop(L);
    int n = lctw_st_count(f);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        const lctw_st_entry *e = lctw_st_entry_at(f, i);
        lctw_tensor *t;
        lctw_status s = lctw_st_load_tensor(&t, f, e->name);
        if (s != LCTW_OK && l_gc_on_nomem(L, s)) s = lctw_st_load_tensor(&t, f, e->name);
        if (s != LCTW_OK) return l_fail(L, s);
        l_pushtensor(L, t);
        lua_setfield(L, -2, e->name);
    }
    push_metadata(L, f);
    close_boxed(L, box);
    return 2;
}

static int l_st_info(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lctw_st_file *f = open_boxed(L, path);
    int box = lua_gettop(L);
    int n = lctw_st_count(f);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        const lctw_st_entry *e = lctw_st_entry_at(f, i);
        lua_createtable(L, 0, 4);
        lua_createtable(L, e->ndim, 0);
        for (int d = 0; d < e->ndim; d++) {
            lua_pushinteger(L, (lua_Integer)e->shape[d]);
            lua_rawseti(L, -2, d + 1);
        }
        lua_setfield(L, -2, "shape");
        lua_pushstring(L, lctw_st_dtype_name(e->dtype));
        lua_setfield(L, -2, "dtype");
        lua_createtable(L, 2, 0);
        lua_pushinteger(L, (lua_Integer)e->begin);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, (lua_Integer)e->end);
        lua_rawseti(L, -2, 2);
        lua_setfield(L, -2, "offsets");
        lua_pushinteger(L, (lua_Integer)e->numel);
        lua_setfield(L, -2, "numel");
        lua_setfield(L, -2, e->name);
    }
    push_metadata(L, f);
    close_boxed(L, box);
    return 2;
}

/* Number of string -> * entries of the table at idx; raises on a non-string key. */
static int count_string_keys(lua_State *L, int idx, const char *what) {
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "safetensors.save: %s has a %s key (%s); keys must be strings",
                              what, luaL_typename(L, -1), luaL_tolstring(L, -1, NULL));
        n++;
    }
    return n;
}

static int l_st_save(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int has_meta = !lua_isnoneornil(L, 3);
    if (has_meta) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    int n = count_string_keys(L, 2, "the tensor table");
    int nm = has_meta ? count_string_keys(L, 3, "the metadata table") : 0;
    /* GC-owned scratch arrays (freed even if an error is raised below); the strings stay valid
     * while the tables at 2 and 3 hold them */
    size_t words = (size_t)(2 * n + 2 * nm + 1);
    void **scratch = lua_newuserdatauv(L, words * sizeof(void *), 0);
    const char **names = (const char **)scratch;
    lctw_tensor **tensors = (lctw_tensor **)(scratch + n);
    const char **mkeys = (const char **)(scratch + 2 * n);
    const char **mvals = (const char **)(scratch + 2 * n + nm);
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        const char *name = lua_tostring(L, -2);
        lctw_tensor *t = l_totensor(L, -1);
        if (!t) {
            if (luaL_testudata(L, -1, LCTW_TENSOR_MT))
                return luaL_error(L, "safetensors.save: tensor '%s' has been closed", name);
            return luaL_error(L, "safetensors.save: value for '%s' is a %s, expected lctw.Tensor",
                              name, luaL_typename(L, -1));
        }
        names[k] = name;
        tensors[k] = t;
        k++;
        lua_pop(L, 1);
    }
    k = 0;
    if (has_meta) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            const char *key = lua_tostring(L, -2);
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L,
                                  "safetensors.save: metadata value for '%s' is a %s, "
                                  "expected a string",
                                  key, luaL_typename(L, -1));
            mkeys[k] = key;
            mvals[k] = lua_tostring(L, -1);
            k++;
            lua_pop(L, 1);
        }
    }
    L_TRY(L, lctw_st_save(path, n, names, (lctw_tensor *const *)tensors, nm, mkeys, mvals));
    return 0;
}

static const l_reg st_funcs[] = {
    {"load", l_st_load,
     "lctw.safetensors.load(path) -> tensors, metadata\n\n"
     "Reads a .safetensors file: `tensors` maps each name to a float32 CPU Tensor (F32, F16, "
     "BF16 and F64 are converted; other dtypes raise an error naming the tensor), `metadata` is "
     "the file's \"__metadata__\" table of strings ({} if none). The whole header is validated "
     "first; a malformed file raises an error that starts with the path."},
    {"save", l_st_save,
     "lctw.safetensors.save(path, tensors [, metadata])\n\n"
     "Writes `tensors` (a table name -> Tensor, any device or strides) as float32 to path, with "
     "the optional `metadata` table of string -> string. Tensors are stored sorted by name. The "
     "file is replaced atomically: if anything fails, an existing file is left as it was. Loads "
     "in PyTorch with safetensors.torch.load_file."},
    {"info", l_st_info,
     "lctw.safetensors.info(path) -> entries, metadata\n\n"
     "The header of a .safetensors file without loading data: entries maps each name to "
     "{shape={...}, dtype=\"F32\", offsets={begin, end}, numel=} (offsets are bytes of the data "
     "section, as in the file); metadata as in load."},
    {NULL, NULL, NULL},
};

void l_safetensors_open(lua_State *L) {
    l_register(L, -1, st_funcs);
    l_sethelp(L, -1,
              "lctw.safetensors — .safetensors weights and checkpoints (the format PyTorch and "
              "Hugging Face use): load(path), save(path, tensors, metadata), info(path).");
}
