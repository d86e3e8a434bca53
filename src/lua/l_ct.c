/* TEMPORARY stub — replaced by the lctw.ct bindings. */
#include "lctw_lua.h"
void l_ct_open(lua_State *L) {}
