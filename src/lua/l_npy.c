/* TEMPORARY stub — replaced by the npy bindings. */
#include "lctw_lua.h"
void l_npy_open(lua_State *L) {}
