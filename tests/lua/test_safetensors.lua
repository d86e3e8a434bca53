-- test_safetensors.lua — lctw.safetensors from Lua: save/load round trips (values compared with
-- the tensors' own totable), info, the shared taesd files, and errors raised as Lua errors.
local T = dofile("tests/lua/harness.lua")
local st = lctw.safetensors

local base = os.tmpname()
local function tmp(name) return base .. "_" .. name end
local made = {}
local function track(p) made[#made + 1] = p; return p end

local has_tensors = lctw.tensor and lctw.tensor.from and lctw.tensor.randn
  and getmetatable(lctw.tensor.from({1})) ~= nil

local function flatten(t, out)
  out = out or {}
  if type(t) == "table" then
    for _, v in ipairs(t) do flatten(v, out) end
  else
    out[#out + 1] = t
  end
  return out
end

local function same_values(a, b, what)
  local x, y = flatten(a:totable()), flatten(b:totable())
  T.eq(#x, #y, what .. ": element count")
  for i = 1, #x do
    if x[i] ~= y[i] and not (x[i] ~= x[i] and y[i] ~= y[i]) then
      error(string.format("%s: element %d is %.9g, expected %.9g", what, i, x[i], y[i]), 2)
    end
  end
end

local function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end

local function read_all(p)
  local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s
end
local function write_all(p, s)
  local f = assert(io.open(p, "wb")); f:write(s); f:close()
end

T.case("round trip with metadata", function()
  if not has_tensors then T.skip_now("lctw.tensor bindings not available yet") end
  local a = lctw.tensor.from({{1, 2, 3}, {4, 5, 6}})
  local b = lctw.tensor.randn({2, 3, 4}, {seed = 7})
  local c = lctw.tensor.from({-0.5, 1e-30, 3.25e20})
  local p = track(tmp("rt.safetensors"))
  st.save(p, {["layer.a"] = a, ["layer.b"] = b, c = c}, {format = "pt", note = "é ok"})
  local got, meta = st.load(p)
  T.eq(count(got), 3, "tensor count")
  same_values(got["layer.a"], a, "layer.a")
  same_values(got["layer.b"], b, "layer.b")
  same_values(got.c, c, "c")
  T.eq(flatten(got["layer.a"]:totable())[6], 6, "a[2][3] against the literal")
  T.eq(table.concat(got["layer.b"]:shape(), "x"), "2x3x4", "shape of b")
  T.eq(meta.format, "pt", "metadata format")
  T.eq(meta.note, "é ok", "metadata note")
  local info, meta2 = st.info(p)
  T.eq(info["layer.b"].dtype, "F32", "dtype")
  T.eq(table.concat(info["layer.b"].shape, "x"), "2x3x4", "info shape")
  T.eq(info["layer.b"].numel, 24, "numel")
  -- sorted by name in the data section: c, layer.a, layer.b
  T.eq(info.c.offsets[1], 0, "c begins at 0")
  T.eq(info["layer.a"].offsets[1], 12, "layer.a after c")
  T.eq(info["layer.b"].offsets[2], 12 + 24 + 96, "layer.b ends the data")
  T.eq(meta2.format, "pt", "info metadata")
  -- header length is a multiple of 8 and the file size adds up
  local s = read_all(p)
  local n = string.unpack("<I8", s)
  T.eq(n % 8, 0, "header padded to 8")
  T.eq(#s, 8 + n + 132, "file size")
end)

T.case("non-contiguous tensors save their logical values", function()
  if not has_tensors then T.skip_now("lctw.tensor bindings not available yet") end
  local x = lctw.tensor.randn({3, 5}, {seed = 3})
  local xt = x:transpose(1, 2)
  local p = track(tmp("strided.safetensors"))
  st.save(p, {xt = xt})
  local got = st.load(p)
  T.eq(table.concat(got.xt:shape(), "x"), "5x3", "shape")
  same_values(got.xt, xt:contiguous(), "xt")
end)

T.case("empty table and no metadata", function()
  local p = track(tmp("empty.safetensors"))
  st.save(p, {})
  local got, meta = st.load(p)
  T.eq(count(got), 0, "no tensors")
  T.eq(type(meta), "table", "metadata is a table")
  T.eq(count(meta), 0, "no metadata")
  T.eq(#read_all(p), 16, "8 + '{}' padded to 8")
end)

T.case("taesd decoder loads", function()
  local p = "../shared/data/taesd/sd1_vaelight_decoder.safetensors"
  local f = io.open(p, "rb")
  if not f then T.skip_now(p .. " not found") end
  f:close()
  local info, meta = st.info(p)
  T.eq(count(info), 56, "tensor count")
  T.eq(meta.license, "Apache-2.0", "license")
  T.eq(table.concat(info["cv9.weight"].shape, "x"), "64x64x2x2", "cv9.weight shape")
  T.eq(info["cv9.weight"].offsets[1], 1001584, "cv9.weight begin")
  local ts = st.load(p)
  T.eq(count(ts), 56, "loaded count")
  T.ok(getmetatable(ts["c2v1.weight"]) == getmetatable(ts["cv9.weight"]), "tensors")
  if has_tensors then
    T.eq(table.concat(ts["c2v1.weight"]:shape(), "x"), "8x4x3x3", "c2v1.weight shape")
    -- the first value against the raw little-endian float32 in the file
    local raw = read_all(p)
    local n = string.unpack("<I8", raw)
    local begin = info["c2v1.weight"].offsets[1]
    local want = string.unpack("<f", raw, 8 + n + begin + 1)
    T.eq(flatten(ts["c2v1.weight"]:totable())[1], want, "first value")
  end
end)

T.case("errors are Lua errors with the C message", function()
  T.errors(function() st.load(tmp("missing.safetensors")) end, "missing.safetensors: cannot open")
  T.errors(function() st.info(tmp("missing.safetensors")) end, "cannot open")
  local bad = track(tmp("bad.safetensors"))
  write_all(bad, string.pack("<I8", 1000) .. "{}")
  T.errors(function() st.load(bad) end, "header length 1000 exceeds the file")
  local hdr = '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}'
  write_all(bad, string.pack("<I8", #hdr) .. hdr .. string.rep("\0", 8))
  T.errors(function() st.info(bad) end, "dtype F32 with shape 3 needs 12")
  hdr = '{"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}'
  write_all(bad, string.pack("<I8", #hdr) .. hdr .. string.rep("\0", 8))
  T.eq(st.info(bad).i.dtype, "I64", "info lists integer tensors")
  T.errors(function() st.load(bad) end, "tensor 'i' has dtype I64")
  T.errors(function() st.save(tmp("no_dir/x.safetensors"), {}) end, "no_dir/x.safetensors")
  T.errors(function() st.save(tmp("x.safetensors"), {a = 1}) end,
    "value for 'a' is a number, expected lctw.Tensor")
  T.errors(function() st.save(tmp("x.safetensors"), {[1] = 1}) end, "keys must be strings")
  T.errors(function() st.save(tmp("x.safetensors"), {}, {k = 1}) end,
    "metadata value for 'k' is a number")
  T.errors(function() st.save(tmp("x.safetensors"), "nope") end, "table expected")
  T.errors(function() st.load() end, "string expected")
end)

T.case("a failed save leaves the existing file alone", function()
  if not has_tensors then T.skip_now("lctw.tensor bindings not available yet") end
  local p = track(tmp("keep.safetensors"))
  local a = lctw.tensor.from({1, 2, 3})
  st.save(p, {a = a}, {v = "1"})
  local before = read_all(p)
  T.errors(function() st.save(p, {a = a, b = "x"}) end, "expected lctw.Tensor")
  T.errors(function() st.save(p, {["__metadata__"] = a}) end, "reserved")
  T.eq(read_all(p), before, "file unchanged")
  local _, meta = st.load(p)
  T.eq(meta.v, "1", "old metadata still there")
end)

T.case("help texts", function()
  for _, k in ipairs({"load", "save", "info"}) do
    local h = lctw._help_of(st[k])
    T.ok(type(h) == "string" and h:find("lctw.safetensors." .. k, 1, true), "help for %s", k)
  end
end)

for _, p in ipairs(made) do os.remove(p) end
os.remove(base)
T.done()
