/* TEMPORARY stub — replaced by the lctw.optim bindings. */
#include "lctw_lua.h"
void l_optim_open(lua_State *L) {}
