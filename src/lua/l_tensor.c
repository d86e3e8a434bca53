/* TEMPORARY stub — replaced by the tensor bindings. */
#include "lctw_lua.h"
void l_tensor_open(lua_State *L) {
    luaL_newmetatable(L, LCTW_TENSOR_MT);
    lua_pop(L, 1);
}
