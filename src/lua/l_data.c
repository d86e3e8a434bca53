/* TEMPORARY stub — replaced by the lctw.data bindings. */
#include "lctw_lua.h"
void l_data_open(lua_State *L) {}
