/* l_lctw.c — the global `lctw` table: version, build info, modules, embedded Lua library. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/interrupt.h"
#include "lctw_cuda.h"
#include "lctw_lua.h"
#include "version.h"

extern const struct {
    const char *name;
    const char *src;
} lctw_embedded_lua[];

static int l_build_info(lua_State *L) {
    lua_newtable(L);
    lua_pushstring(L, LCTW_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushboolean(L, lctw_cuda_built());
    lua_setfield(L, -2, "cuda");
#ifdef LCTW_OPENBLAS
    lua_pushstring(L, "openblas");
#else
    lua_pushstring(L, "none");
#endif
    lua_setfield(L, -2, "blas");
#ifdef __SANITIZE_ADDRESS__
    lua_pushboolean(L, 1);
#else
    lua_pushboolean(L, 0);
#endif
    lua_setfield(L, -2, "sanitizers");
    lua_pushstring(L, LUA_RELEASE);
    lua_setfield(L, -2, "lua");
    return 1;
}

static int l_memory(lua_State *L) {
    lua_newtable(L);
    lua_pushinteger(L, (lua_Integer)lctw_mem_in_use(LCTW_DEV_CPU));
    lua_setfield(L, -2, "cpu_in_use");
    lua_pushinteger(L, (lua_Integer)lctw_mem_peak(LCTW_DEV_CPU));
    lua_setfield(L, -2, "cpu_peak");
    lua_pushinteger(L, (lua_Integer)lctw_mem_limit());
    lua_setfield(L, -2, "cpu_limit");
    lua_pushinteger(L, (lua_Integer)lctw_mem_in_use(LCTW_DEV_CUDA));
    lua_setfield(L, -2, "cuda_in_use");
    lua_pushinteger(L, (lua_Integer)lctw_mem_peak(LCTW_DEV_CUDA));
    lua_setfield(L, -2, "cuda_peak");
    return 1;
}

static int l_set_memory_limit(lua_State *L) {
    lua_Number n = luaL_checknumber(L, 1);
    if (n < 1 << 20) return luaL_error(L, "memory limit must be at least 1 MiB, got %f bytes", n);
    lctw_mem_set_limit((size_t)n);
    return 0;
}

/* Raises "interrupted" if Ctrl-C was pressed: lets Lua loops that call no lctw function be
 * stopped too (the front end also installs a hook for that). */
static int l_check_interrupt(lua_State *L) {
    if (lctw_interrupted()) {
        lctw_interrupt_clear();
        return luaL_error(L, "interrupted");
    }
    return 0;
}

/* lctw._help_of(v) -> text or nil: the help recorded for v, or for the type of v (metatable
 * __name), used by help() in lua/lctw/init.lua. */
static int l_help_of(lua_State *L) {
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    if (l_gethelp(L, 1)) return 1;
    if (lua_getmetatable(L, 1)) {
        if (lua_getfield(L, -1, "__name") == LUA_TSTRING && l_gethelp(L, -1)) return 1;
    }
    lua_pushnil(L);
    return 1;
}

static int l_set_help(lua_State *L) {
    luaL_checkany(L, 1);
    l_sethelp(L, 1, luaL_checkstring(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int l_time(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + 1e-9 * (lua_Number)ts.tv_nsec);
    return 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* lctw.list_dir(path) -> sorted table of entry names (no "." and "..") */
static int l_list_dir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    DIR *d = opendir(path);
    if (!d) return luaL_error(L, "cannot list %s: %s", path, strerror(errno));
    size_t n = 0, cap = 64;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    while (names && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (n == cap) {
            char **nn = realloc(names, 2 * cap * sizeof *names);
            if (!nn) break;
            names = nn;
            cap *= 2;
        }
        if (!(names[n] = strdup(e->d_name))) break;
        n++;
    }
    closedir(d);
    if (!names) return luaL_error(L, "out of memory listing %s", path);
    qsort(names, n, sizeof *names, cmp_str);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
        free(names[i]);
    }
    free(names);
    return 1;
}

/* lctw.stat(path) -> {size=, ino=, dev=, mtime=, age= (seconds since the last change), kind=
 * "file"|"dir"|"other"} or nil, message */
static int l_stat(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double mtime = (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)st.st_ino);
    lua_setfield(L, -2, "ino");
    lua_pushinteger(L, (lua_Integer)st.st_dev);
    lua_setfield(L, -2, "dev");
    lua_pushnumber(L, mtime);
    lua_setfield(L, -2, "mtime");
    lua_pushnumber(L, (double)now.tv_sec + 1e-9 * (double)now.tv_nsec - mtime);
    lua_setfield(L, -2, "age");
    lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : "other");
    lua_setfield(L, -2, "kind");
    return 1;
}

/* lctw.pid_alive(pid) -> bool: a process with that id exists (it may belong to another user) */
static int l_pid_alive(lua_State *L) {
    lua_Integer pid = luaL_checkinteger(L, 1);
    if (pid <= 0 || pid > INT32_MAX) return lua_pushboolean(L, 0), 1;
    lua_pushboolean(L, kill((pid_t)pid, 0) == 0 || errno == EPERM);
    return 1;
}

/* lctw.sleep(seconds): returns early when Ctrl-C is pressed (the interrupt hook then raises) */
static int l_sleep(lua_State *L) {
    lua_Number s = luaL_checknumber(L, 1);
    if (!(s > 0)) return 0;
    if (s > 3600) s = 3600;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)}, rem;
    while (nanosleep(&ts, &rem) != 0 && errno == EINTR && !lctw_interrupted())
        ts = rem;
    return 0;
}

static const l_reg lctw_funcs[] = {
    {"list_dir", l_list_dir,
     "lctw.list_dir(path) -> {names}\n\nThe entries of a directory, sorted (without . and ..)."},
    {"stat", l_stat,
     "lctw.stat(path) -> {size=, ino=, dev=, mtime=, age=, kind=} | nil, message\n\nstat(2) of a "
     "file; age: seconds since it last changed; kind: \"file\", \"dir\" or \"other\"."},
    {"pid_alive", l_pid_alive, "lctw.pid_alive(pid) -> bool\n\nWhether a process with that id exists."},
    {"sleep", l_sleep, "lctw.sleep(seconds)\n\nWaits (at most an hour); Ctrl-C ends the wait."},
    {"time", l_time,
     "lctw.time() -> seconds\n\nA monotonic wall clock (for timing; os.clock() counts CPU time of "
     "all threads)."},
    {"_help_of", l_help_of, NULL},
    {"_set_help", l_set_help,
     "lctw._set_help(value, text) -> value\n\nRecords the help text that help(value) shows."},
    {"build_info", l_build_info,
     "lctw.build_info() -> table\n\nHow this binary was built: {version=, cuda=, blas=, lua=, "
     "sanitizers=}."},
    {"memory", l_memory,
     "lctw.memory() -> table\n\nBytes of tensor memory: {cpu_in_use=, cpu_peak=, cpu_limit=, "
     "cuda_in_use=, cuda_peak=}."},
    {"set_memory_limit", l_set_memory_limit,
     "lctw.set_memory_limit(bytes)\n\nHost tensor allocations beyond this limit fail with a clear "
     "error instead of exhausting the machine. Default: physical memory minus 1 GiB, or "
     "LCTW_MEMORY_LIMIT (e.g. 8G)."},
    {"check_interrupt", l_check_interrupt,
     "lctw.check_interrupt()\n\nRaises \"interrupted\" if Ctrl-C was pressed since the last "
     "check."},
    {NULL, NULL, NULL},
};

static void open_module(lua_State *L, const char *name, void (*open)(lua_State *)) {
    lua_newtable(L);
    open(L);
    lua_setfield(L, -2, name);
}

int lctw_lua_open(lua_State *L) {
    luaL_openlibs(L);
    lua_newtable(L); /* lctw */
    l_register(L, -1, lctw_funcs);
    lua_pushstring(L, LCTW_VERSION);
    lua_setfield(L, -2, "version");
    open_module(L, "tensor", l_tensor_open);
    open_module(L, "npy", l_npy_open);
    open_module(L, "cuda", l_cuda_open);
    open_module(L, "safetensors", l_safetensors_open);
    open_module(L, "ct", l_ct_open);
    open_module(L, "optim", l_optim_open);
    open_module(L, "data", l_data_open);
    open_module(L, "metrics", l_metrics_open);
    open_module(L, "model", l_model_open);
    open_module(L, "trainer", l_trainer_open);
    open_module(L, "vae", l_vae_open);
    open_module(L, "image", l_image_open);
    open_module(L, "dash", l_dash_open);
    open_module(L, "json", l_json_open);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "lctw");
    /* package.loaded["lctw"] = lctw, so require "lctw" works too */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "lctw");
    lua_pop(L, 2);

    /* package.preload[name] = loader of the embedded source */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    for (int i = 0; lctw_embedded_lua[i].name; i++) {
        const char *nm = lctw_embedded_lua[i].name, *src = lctw_embedded_lua[i].src;
        char chunk[128];
        snprintf(chunk, sizeof chunk, "=[lctw]/%s.lua", nm + (strncmp(nm, "lctw.", 5) ? 0 : 5));
        if (luaL_loadbuffer(L, src, strlen(src), chunk) != LUA_OK) return lua_error(L);
        lua_setfield(L, -2, nm);
    }
    lua_pop(L, 2);

    /* lctw.init adds the Lua-side library (help, printing, ...) */
    lua_getglobal(L, "require");
    lua_pushstring(L, "lctw.init");
    lua_call(L, 1, 0);
    return 0;
}
