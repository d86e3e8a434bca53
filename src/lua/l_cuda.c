/* l_cuda.c — lctw.cuda: is a device there, what is it, how much memory; lctw.device. */
#include "lctw_cuda.h"
#include "lctw_lua.h"

static int l_cuda_available(lua_State *L) {
    lua_pushboolean(L, lctw_cuda_device_count() > 0);
    return 1;
}

static int l_cuda_built(lua_State *L) {
    lua_pushboolean(L, lctw_cuda_built());
    return 1;
}

static int l_cuda_device_count(lua_State *L) {
    lua_pushinteger(L, lctw_cuda_device_count());
    return 1;
}

static int l_cuda_describe(lua_State *L) {
    lua_pushstring(L, lctw_cuda_describe());
    return 1;
}

static int l_cuda_mem_info(lua_State *L) {
    size_t f, t;
    L_TRY(L, lctw_cuda_mem_info(&f, &t));
    lua_pushinteger(L, (lua_Integer)f);
    lua_pushinteger(L, (lua_Integer)t);
    return 2;
}

static int l_cuda_synchronize(lua_State *L) {
    if (lctw_cuda_device_count() > 0) L_TRY(L, lctw_cuda_sync());
    return 0;
}

static const l_reg cuda_funcs[] = {
    {"available", l_cuda_available,
     "lctw.cuda.available() -> boolean\n\ntrue when this binary has the CUDA backend and a CUDA "
     "device is usable."},
    {"built", l_cuda_built,
     "lctw.cuda.built() -> boolean\n\ntrue when this binary was compiled with the CUDA backend "
     "(even if no device is present)."},
    {"device_count", l_cuda_device_count, "lctw.cuda.device_count() -> integer"},
    {"describe", l_cuda_describe,
     "lctw.cuda.describe() -> string\n\nName, memory and compute capability of device 0, or why "
     "there is none."},
    {"mem_info", l_cuda_mem_info,
     "lctw.cuda.mem_info() -> free_bytes, total_bytes\n\nDevice memory as the driver reports it."},
    {"synchronize", l_cuda_synchronize,
     "lctw.cuda.synchronize()\n\nWaits for all queued device work (no-op without a device)."},
    {NULL, NULL, NULL},
};

void l_cuda_open(lua_State *L) { l_register(L, -1, cuda_funcs); }
