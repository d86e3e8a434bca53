/* TEMPORARY stub — replaced by the lctw.vae bindings. */
#include "lctw_lua.h"
void l_vae_open(lua_State *L) {}
