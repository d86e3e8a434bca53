/* main.c — placeholder CLI: lctw script.lua [args]. (The full CLI and REPL replace this.) */
#include <stdio.h>

#include "lua/lctw_lua.h"

static int msgh(lua_State *L) {
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

static int pmain(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    lctw_lua_open(L);
    lua_createtable(L, argc, 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    if (argc < 2) return 0;
    lua_pushcfunction(L, msgh);
    if (luaL_loadfile(L, argv[1]) != LUA_OK) return lua_error(L);
    for (int i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
    if (lua_pcall(L, argc - 2, 0, -(argc - 2) - 2) != LUA_OK) return lua_error(L);
    return 0;
}

int main(int argc, char **argv) {
    lua_State *L = luaL_newstate();
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int rc = lua_pcall(L, 2, 0, 0);
    if (rc != LUA_OK) fprintf(stderr, "lctw: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc == LUA_OK ? 0 : 1;
}
