-- lctw.tensor (Lua side) — additions on top of the C bindings in src/lua/l_tensor.c.
-- lctw.device lives here because l_tensor_open only sees the lctw.tensor table: it is the
-- same function as lctw.tensor.default_device (so help(lctw.device) shows its text).
local lctw = lctw

lctw.device = lctw.tensor.default_device

return lctw.tensor
