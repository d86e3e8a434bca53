/* TEMPORARY stub — replaced by the lctw.dash bindings. */
#include "lctw_lua.h"
void l_dash_open(lua_State *L) {}
