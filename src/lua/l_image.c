/* l_image.c — Lua bindings of image files (src/io/png.h): lctw.image.save_grid(images, path,
 * {nrow=, range={lo, hi}, pad=}) and lctw.image.load(path) (PNG or JPEG -> 3×H×W in [0, 1]).
 */
#include "io/png.h"
#include "lctw_lua.h"

static int l_image_save_grid(lua_State *L) {
    lctw_tensor *t = l_checktensor(L, 1);
    const char *path = luaL_checkstring(L, 2);
    int nrow = 0, pad = 2;
    float lo = -1.0f, hi = 1.0f;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        static const char *const known[] = {"nrow", "range", "pad", NULL};
        l_checkoptions(L, 3, "save_grid", known);
        nrow = (int)l_optfield_int(L, 3, "nrow", 0);
        pad = (int)l_optfield_int(L, 3, "pad", 2);
        int ty = lua_getfield(L, 3, "range");
        if (ty != LUA_TNIL) {
            int ok = ty == LUA_TTABLE && lua_rawgeti(L, -1, 1) == LUA_TNUMBER &&
                     lua_rawgeti(L, -2, 2) == LUA_TNUMBER;
            if (!ok) return luaL_error(L, "save_grid: option 'range': expected {lo, hi} numbers");
            lo = (float)lua_tonumber(L, -2);
            hi = (float)lua_tonumber(L, -1);
        }
        if (nrow < 0) return luaL_error(L, "save_grid: option 'nrow': expected >= 1, got %d", nrow);
    }
    L_TRY(L, lctw_image_save_grid(t, path, nrow, lo, hi, pad));
    return 0;
}

static int l_image_load(lua_State *L) {
    lctw_tensor *t = NULL;
    L_TRY(L, lctw_image_load(&t, luaL_checkstring(L, 1)));
    l_pushtensor(L, t);
    return 1;
}

static const l_reg image_funcs[] = {
    {"save_grid", l_image_save_grid,
     "lctw.image.save_grid(images, path, {nrow=, range={lo, hi}, pad=2})\n\nWrites N×3×H×W (or "
     "3×H×W) images as one 8-bit RGB PNG grid: nrow images per row (default ceil(sqrt(N))), a "
     "black border of pad pixels (default 2), values clamped to range (default {-1, 1}, the "
     "VAElight range; use vae.range) and mapped to 0..255. The file is replaced atomically."},
    {"load", l_image_load,
     "lctw.image.load(path) -> image\n\nReads a PNG or JPEG (by content) as a 3×H×W float "
     "tensor in [0, 1] (alpha dropped, grayscale expanded to RGB)."},
    {NULL, NULL, NULL},
};

void l_image_open(lua_State *L) {
    int mod = lua_gettop(L);
    l_register(L, mod, image_funcs);
    l_sethelp(L, mod, "lctw.image — PNG/JPEG files: save_grid(images, path, {...}), load(path).");
}
