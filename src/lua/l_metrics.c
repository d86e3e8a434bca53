/* TEMPORARY stub — replaced by the lctw.metrics bindings. */
#include "lctw_lua.h"
void l_metrics_open(lua_State *L) {}
