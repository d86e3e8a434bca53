/* TEMPORARY stub — replaced by the safetensors bindings. */
#include "lctw_lua.h"
void l_safetensors_open(lua_State *L) {}
