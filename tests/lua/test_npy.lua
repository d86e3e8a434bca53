-- test_npy.lua — lctw.npy from Lua: info/load/save, options, errors surfacing as Lua errors.
-- Files are written here byte by byte with string.pack from the format description; values are
-- checked by reading the saved files back (so the test does not depend on Tensor methods).
local T = dofile("tests/lua/harness.lua")

local base = os.tmpname()
local made = {base}
local function tmp(suffix)
  local p = base .. suffix
  made[#made + 1] = p
  return p
end

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- A .npy file: magic, version, little-endian header length, dict padded to 64 with '\n'.
local function npy(major, dict, data)
  local pre = major == 1 and 10 or 12
  local pad = (64 - (pre + #dict + 1) % 64) % 64
  local hdr = dict .. string.rep(" ", pad) .. "\n"
  local len = major == 1 and string.pack("<I2", #hdr) or string.pack("<I4", #hdr)
  return "\x93NUMPY" .. string.char(major, 0) .. len .. hdr .. data
end

local function dict(descr, shape)
  return string.format("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
end

-- binary16 decoding in double precision, independent of the C code
local function half(h)
  local s, e, m = h >> 15, (h >> 10) & 31, h & 1023
  local sign = s == 1 and -1 or 1
  if e == 31 then return m == 0 and sign * math.huge or 0 / 0 end
  if e == 0 then return sign * 2.0 ^ -14 * (m / 1024) end
  return sign * 2.0 ^ (e - 15) * (1 + m / 1024)
end

-- data values of a saved float32 file (header length from bytes 9..10)
local function saved_values(path)
  local s = read(path)
  T.eq(s:sub(1, 8), "\x93NUMPY\x01\x00", "magic/version")
  local hl = string.unpack("<I2", s, 9)
  T.eq((10 + hl) % 64, 0, "header alignment")
  local vals = {}
  for i = 11 + hl, #s, 4 do vals[#vals + 1] = string.unpack("<f", s, i) end
  return vals, s:sub(11, 10 + hl)
end

local halves = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x8000, 0x3555, 0x7c00}
local f16 = tmp(".f16.npy")
do
  local data = {}
  for i, h in ipairs(halves) do data[i] = string.pack("<I2", h) end
  write(f16, npy(2, dict("<f2", "(2, 4)"), table.concat(data)))
end

local f32vals = {1.5, -0.25, 3.0, 1e30, -7.0, 0.0, 2.0 ^ -130, 1e-3}
local f32 = tmp(".f32.npy")
do
  local data = {}
  for i, v in ipairs(f32vals) do data[i] = string.pack("<f", v) end
  write(f32, npy(1, dict("<f4", "(8,)"), table.concat(data)))
end

T.case("info reads the header", function()
  local i = lctw.npy.info(f16)
  T.eq(i.dtype, "float16", "dtype")
  T.eq(i.descr, "<f2", "descr")
  T.eq(i.version, "2.0", "version")
  T.eq(#i.shape, 2, "ndim")
  T.eq(i.shape[1], 2, "shape[1]")
  T.eq(i.shape[2], 4, "shape[2]")
  T.eq(i.fortran_order, false, "fortran_order")
  local bytes = read(f16)
  T.eq(i.file_size, #bytes, "file_size")
  T.eq(i.data_offset, #bytes - 16, "data_offset")
  T.eq(i.data_offset % 64, 0, "data_offset alignment")
  T.eq(i.numel, 8, "numel")
  local j = lctw.npy.info(f32)
  T.eq(j.dtype, "float32", "dtype")
  T.eq(j.version, "1.0", "version")
  T.eq(#j.shape, 1, "1-d")
end)

T.case("float16 load, save round trip (values exact)", function()
  local t = lctw.npy.load(f16)
  T.eq(type(t), "userdata", "type")
  local out = tmp(".out16.npy")
  lctw.npy.save(out, t)
  local vals, hdr = saved_values(out)
  T.ok(hdr:find("'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", 1, true),
    "header %q", hdr)
  T.eq(#vals, #halves, "count")
  for i, h in ipairs(halves) do T.eq(vals[i], half(h), "element " .. i) end
  T.detail("(%d values incl. subnormals, max half, inf)", #vals)
end)

T.case("float32 load with mmap=true/false/default, save bit-exact", function()
  for _, opt in ipairs({{mmap = true}, {mmap = false}, {}, false}) do
    local t = opt and lctw.npy.load(f32, opt) or lctw.npy.load(f32)
    local out = tmp(".out32.npy")
    lctw.npy.save(out, t)
    local a, b = read(f32), read(out)
    T.eq(#a, #b, "file size")
    T.eq(a:sub(65), b:sub(65), "data bytes")
  end
end)

T.case("tensor methods on a loaded tensor (if the bindings provide them)", function()
  local t = lctw.npy.load(f16)
  local ok, shape = pcall(function() return t:shape() end)
  if not ok then T.skip_now("Tensor:shape() not available yet") end
  T.eq(#shape, 2, "ndim")
  T.eq(shape[1] * shape[2], 8, "numel")
  local ok2, tbl = pcall(function() return t:totable() end)
  if ok2 and type(tbl) == "table" then
    T.eq(tbl[1][3], half(halves[3]), "t:totable()[1][3]")
  end
end)

T.case("tensors from Lua: save/load, transposed views, mapped copy-on-write", function()
  if not (lctw.tensor and lctw.tensor.from) then T.skip_now("lctw.tensor.from not available") end
  local rows = {{1, 2, 3}, {4.5, -5, 6}}
  local t = lctw.tensor.from(rows)
  local p = tmp(".lua.npy")
  lctw.npy.save(p, t)
  local vals = saved_values(p)
  T.eq(table.concat(vals, ","), "1.0,2.0,3.0,4.5,-5.0,6.0", "saved data")
  local back = lctw.npy.load(p):totable()
  for i = 1, 2 do for j = 1, 3 do T.eq(back[i][j], rows[i][j], "back") end end
  lctw.npy.save(p, t:t()) -- a non-contiguous view: saved in logical (3x2) order
  T.eq(table.concat(saved_values(p), ","), "1.0,4.5,2.0,-5.0,3.0,6.0", "transposed data")
  T.eq(table.concat(lctw.npy.info(p).shape, "x"), "3x2", "transposed shape")
  local before = read(p)
  local m = lctw.npy.load(p, {mmap = true})
  m:fill_(7)
  T.eq(m:get(3, 2), 7, "write to the mapped tensor")
  T.eq(read(p), before, "file unchanged after writing to the mapped tensor")
  T.eq(lctw.npy.load(p):get(3, 2), 6, "fresh load sees the file values")
end)

T.case("errors surface as Lua errors with the file path", function()
  local missing = tmp(".missing.npy")
  local e = T.errors(function() lctw.npy.load(missing) end, "cannot open")
  T.ok(e:find(missing, 1, true), "path not in %q", e)
  local bad = tmp(".bad.npy")
  write(bad, "PK\3\4 not numpy at all")
  T.errors(function() lctw.npy.load(bad) end, "not a .npy file")
  T.errors(function() lctw.npy.info(bad) end, "bad magic")
  local be = tmp(".be.npy")
  write(be, npy(1, dict(">f4", "(2,)"), string.pack(">f>f", 1, 2)))
  T.errors(function() lctw.npy.load(be) end,
    "unsupported dtype '>f4' (lctw reads little-endian float16/32/64)")
  local short = tmp(".short.npy")
  write(short, npy(1, dict("<f4", "(4, 64, 64)"), string.rep("\0", 1000)))
  T.errors(function() lctw.npy.load(short) end,
    "expected 65536 bytes of data for shape (4, 64, 64) float32, file has 1000")
  local fo = tmp(".fortran.npy")
  write(fo, npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
    string.rep("\0", 24)))
  T.errors(function() lctw.npy.load(fo) end, "np.ascontiguousarray")
end)

T.case("argument and option errors", function()
  T.errors(function() lctw.npy.load(f32, {mmap = "yes"}) end, "option 'mmap'")
  T.errors(function() lctw.npy.load(f32, {mmpa = true}) end, "unknown option 'mmpa'")
  T.errors(function() lctw.npy.save(tmp(".x.npy"), 42) end, "lctw.Tensor")
  T.errors(function() lctw.npy.load() end, "string expected")
  local t = lctw.npy.load(f32)
  T.errors(function() lctw.npy.save(base .. ".nodir/sub/x.npy", t) end, "temporary file")
end)

T.case("the session survives errors", function()
  for _ = 1, 20 do pcall(lctw.npy.load, base .. ".nope") end
  local t = lctw.npy.load(f16)
  local out = tmp(".after.npy")
  lctw.npy.save(out, t)
  T.eq(#saved_values(out), 8, "values after errors")
end)

T.case("help texts", function()
  for _, k in ipairs({"load", "save", "info"}) do
    local h = lctw._help_of(lctw.npy[k])
    T.ok(type(h) == "string" and h:find("lctw.npy." .. k, 1, true), "no help for %s", k)
  end
end)

T.case("real latents (if present)", function()
  local p = "../shared/data/utkface_sd1_latents_4x32x32.npy"
  local f = io.open(p, "rb")
  if not f then T.skip_now(p .. " not found") end
  f:close()
  local i = lctw.npy.info(p)
  T.eq(i.dtype, "float16", "dtype")
  T.eq(table.concat(i.shape, "x"), "3000x4x32x32", "shape")
  local t = lctw.npy.load(p)
  T.eq(type(t), "userdata", "load")
  t = nil
  collectgarbage()
end)

for _, p in ipairs(made) do os.remove(p) end
T.done()
