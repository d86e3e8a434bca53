/* TEMPORARY stub — replaced by the lctw.image bindings. */
#include "lctw_lua.h"
void l_image_open(lua_State *L) {}
