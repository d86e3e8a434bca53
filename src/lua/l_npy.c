/* l_npy.c — lctw.npy: load, save and inspect NumPy .npy files from Lua (core in src/io/npy.c).
 *
 * Errors come back as Lua errors carrying the core message, which starts with the file path
 * and names the problem (bad magic, unsupported dtype, data size mismatch, ...).
 */
#include "io/npy.h"
#include "lctw_lua.h"

static int l_npy_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    static const char *const known[] = {"mmap", NULL};
    l_checkoptions(L, 2, "lctw.npy.load", known);
    lctw_npy_opts o = {0};
    if (!lua_isnoneornil(L, 2)) {
        lua_getfield(L, 2, "mmap");
        if (!lua_isnil(L, -1)) {
            if (!lua_isboolean(L, -1))
                return luaL_error(L, "option 'mmap': expected a boolean, got %s",
                                  luaL_typename(L, -1));
            o.mmap = lua_toboolean(L, -1) ? LCTW_NPY_MMAP_ALWAYS : LCTW_NPY_MMAP_NEVER;
        }
        lua_pop(L, 1);
    }
    lctw_tensor *t;
    lctw_status s = lctw_npy_load(&t, path, &o);
    if (s != LCTW_OK && l_gc_on_nomem(L, s)) s = lctw_npy_load(&t, path, &o);
    if (s != LCTW_OK) return l_fail(L, s);
    l_pushtensor(L, t);
    return 1;
}

static int l_npy_save(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lctw_tensor *t = l_checktensor(L, 2);
    lctw_status s = lctw_npy_save(path, t);
    if (s != LCTW_OK && l_gc_on_nomem(L, s)) s = lctw_npy_save(path, t);
    if (s != LCTW_OK) return l_fail(L, s);
    return 0;
}

static int l_npy_info(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lctw_npy_info info;
    L_TRY(L, lctw_npy_read_header(path, &info));
    lua_createtable(L, 0, 8);
    l_pushshape(L, info.ndim, info.shape);
    lua_setfield(L, -2, "shape");
    lua_pushstring(L, lctw_npy_dtype_name(info.dtype));
    lua_setfield(L, -2, "dtype");
    lua_pushstring(L, info.descr);
    lua_setfield(L, -2, "descr");
    lua_pushboolean(L, info.fortran_order);
    lua_setfield(L, -2, "fortran_order");
    lua_pushfstring(L, "%d.%d", info.version_major, info.version_minor);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, (lua_Integer)info.data_offset);
    lua_setfield(L, -2, "data_offset");
    lua_pushinteger(L, (lua_Integer)info.numel);
    lua_setfield(L, -2, "numel");
    lua_pushinteger(L, (lua_Integer)info.file_size);
    lua_setfield(L, -2, "file_size");
    return 1;
}

static const l_reg npy_funcs[] = {
    {"load", l_npy_load,
     "lctw.npy.load(path [, {mmap=true|false}]) -> Tensor\n\nReads a NumPy .npy file (format "
     "1.0/2.0/3.0, dtype float16, float32 or float64, little-endian, C order, 0 to 4 "
     "dimensions) as a float32 CPU tensor. Large float32 files are memory-mapped copy-on-write "
     "(writing to the tensor never changes the file); mmap=true maps whenever possible, "
     "mmap=false always reads into memory."},
    {"save", l_npy_save,
     "lctw.npy.save(path, t)\n\nWrites t as a float32 C-order .npy file (format 1.0, readable by "
     "numpy.load). The file is replaced atomically: on error an existing file is left as it "
     "was."},
    {"info", l_npy_info,
     "lctw.npy.info(path) -> table\n\nReads only the header: {shape=, dtype=\"float16\"|"
     "\"float32\"|\"float64\", descr=\"<f2\", fortran_order=, version=\"1.0\", data_offset= "
     "(bytes), numel=, file_size=}. Fails, like load would, on files lctw cannot read."},
    {NULL, NULL, NULL},
};

void l_npy_open(lua_State *L) { l_register(L, -1, npy_funcs); }
