-- test_image.lua — lctw.image (PNG grids, image loading) and lctw.vae (decoders/encoders) from
-- Lua: pixel values of a written grid recomputed here, decodes compared with the float64
-- PyTorch reference tests/fixtures/vae_ref.safetensors (scripts/make_vae_fixture.py), errors.
local T = dofile("tests/lua/harness.lua")

local DATA = "../shared/data/taesd/"
local function exists(p) local f = io.open(p, "rb"); if f then f:close() end return f ~= nil end
local base = os.tmpname()
os.remove(base)
local made = {}
local function tmp(name) local p = base .. "_" .. name; made[#made + 1] = p; return p end

local function flatten(t, out)
  out = out or {}
  if type(t) == "table" then for _, v in ipairs(t) do flatten(v, out) end
  else out[#out + 1] = t end
  return out
end

local function max_abs_diff(a, b)
  local x, y = flatten(a:totable()), flatten(b:totable())
  assert(#x == #y, string.format("element counts %d vs %d", #x, #y))
  local m = 0
  for i = 1, #x do m = math.max(m, math.abs(x[i] - y[i])) end
  return m
end

T.case("save_grid then load gives the expected pixels", function()
  -- 3 images 3×2×3 with values v(n,c,y,x) spanning beyond {0, 1} (clamped)
  local vals = {}
  local function v(n, c, y, x) return ((n * 7 + c * 5 + y * 3 + x) % 11) / 8 - 0.2 end
  for n = 0, 2 do
    local img = {}
    for c = 0, 2 do
      local ch = {}
      for y = 0, 1 do
        local row = {}
        for x = 0, 2 do row[#row + 1] = v(n, c, y, x) end
        ch[#ch + 1] = row
      end
      img[#img + 1] = ch
    end
    vals[#vals + 1] = img
  end
  local p = tmp("grid.png")
  lctw.image.save_grid(lctw.tensor.from(vals), p, {nrow = 2, range = {0, 1}})
  local g = lctw.image.load(p)
  local sh = g:shape()
  -- 2 rows × 2 columns of 2×3 images, border 2: H = 2·(2+2)+2 = 10, W = 2·(3+2)+2 = 12
  T.eq(sh[1], 3); T.eq(sh[2], 10); T.eq(sh[3], 12)
  local gt = g:totable()
  local bad = 0
  for c = 0, 2 do
    for y = 0, 9 do
      for x = 0, 11 do
        local want = 0
        local ry, rx = y - 2, x - 2
        if ry >= 0 and rx >= 0 and ry % 4 < 2 and rx % 5 < 3 then
          local n = (ry // 4) * 2 + rx // 5
          if n < 3 then
            local s = math.min(1, math.max(0, v(n, c, ry % 4, rx % 5)))
            want = math.floor(s * 255 + 0.5) / 255
          end
        end
        if math.abs(gt[c + 1][y + 1][x + 1] - want) > 1e-6 then bad = bad + 1 end
      end
    end
  end
  T.eq(bad, 0, "pixels differing")
end)

T.case("save_grid and load errors", function()
  local x = lctw.tensor.zeros({2, 3, 4, 4})
  T.errors(function() lctw.image.save_grid(x, tmp("a.png"), {nrows = 2}) end, "nrows")
  T.errors(function() lctw.image.save_grid(x, tmp("a.png"), {range = {1, 0}}) end, "lo < hi")
  T.errors(function() lctw.image.save_grid(x, tmp("a.png"), {range = "x"}) end, "range")
  T.errors(function() lctw.image.save_grid(lctw.tensor.zeros({2, 4, 4, 4}), tmp("a.png")) end,
    "N×3×H×W")
  T.errors(function() lctw.image.save_grid(x, "/nonexistent_dir_lctw/a.png") end,
    "nonexistent_dir_lctw")
  local p = tmp("not_image.png")
  local f = assert(io.open(p, "wb")); f:write("this is text"); f:close()
  T.errors(function() lctw.image.load(p) end, "not a PNG or JPEG")
  T.errors(function() lctw.image.load(tmp("missing.png")) end, "cannot open")
end)

local fixture = "tests/fixtures/vae_ref.safetensors"
for _, m in ipairs{
  {name = "VAElight", file = "sd1_vaelight_decoder.safetensors", z = "vaelight.z",
   img = "vaelight.img", kind = "vaelight_decoder", C = 4, lo = -1, hi = 1},
  {name = "TAEF2", file = "taef2_decoder.safetensors", z = "taef2.z", img = "taef2.img",
   kind = "taesd_decoder", C = 32, lo = 0, hi = 1},
} do
  T.case(m.name .. " decode matches PyTorch", function()
    if not exists(DATA .. m.file) then T.skip_now(DATA .. m.file .. " absent") end
    local vae = lctw.vae.load(DATA .. m.file)
    T.eq(vae.kind, m.kind); T.eq(vae.latent_channels, m.C)
    T.eq(vae.range[1], m.lo); T.eq(vae.range[2], m.hi)
    local ref = lctw.safetensors.load(fixture)
    local img = vae:decode(ref[m.z])
    local e = max_abs_diff(img, ref[m.img])
    T.ok(e < 1e-4, "max abs error %.3g vs PyTorch", e)
    T.detail("max abs error %.2e", e)
    -- the wrong latents for this decoder name both channel counts
    local other = lctw.tensor.zeros({1, m.C == 4 and 32 or 4, 2, 2})
    T.errors(function() vae:decode(other) end, string.format("expects %d-channel latents", m.C))
    T.errors(function() vae:encode(img) end, "no encode")
    -- a grid of the decoded images, in the decoder's range
    local p = tmp(m.kind .. ".png")
    lctw.image.save_grid(img, p, {nrow = 1, range = vae.range})
    local g = lctw.image.load(p)
    local sh, ish = g:shape(), img:shape()
    T.eq(sh[2], 2 * (ish[3] + 2) + 2); T.eq(sh[3], ish[4] + 4)
  end)
end

T.case("VAElight encoder matches PyTorch", function()
  local d = DATA .. "sd1_vaelight_decoder.safetensors"
  local e = DATA .. "sd1_vaelight_encoder.safetensors"
  if not exists(d) or not exists(e) then T.skip_now("VAElight weights absent") end
  local dec, enc = lctw.vae.load(d), lctw.vae.load(e)
  T.eq(enc.kind, "vaelight_encoder")
  local ref = lctw.safetensors.load(fixture)
  local z = enc:encode(ref["vaelight.img"]:clamp(-1, 1))
  local err = max_abs_diff(z, ref["vaelight.enc"])
  T.ok(err < 1e-4, "encoder max abs error %.3g vs PyTorch", err)
  T.errors(function() enc:decode(z) end, "no decode")
  T.errors(function() enc:encode(lctw.tensor.zeros({1, 3, 12, 16})) end, "multiples of 8")
  T.detail("max abs error %.2e", err)
  dec:free()
end)

T.case("vae:to: device field, a failed move leaves the VAE usable on the CPU", function()
  local p = DATA .. "sd1_vaelight_decoder.safetensors"
  if not exists(p) then T.skip_now(p .. " absent") end
  local vae = lctw.vae.load(p)
  T.eq(vae.device, "cpu"); T.eq(vae:to("cpu"), vae); T.eq(vae.device, "cpu")
  T.errors(function() vae:to("tpu") end, "unknown device 'tpu'")
  local z = lctw.tensor.randn({1, 4, 2, 2}, {seed = 3})
  local before = vae:decode(z)
  if not lctw.cuda.available() then
    T.errors(function() vae:to("cuda") end, "CUDA")
    T.errors(function() lctw.vae.load(p, {device = "cuda"}) end, "CUDA")
    T.eq(vae.device, "cpu")
    T.eq(max_abs_diff(vae:decode(z), before), 0)
  end
  vae:free()
end)

T.case("VAE decode and encode on CUDA match the CPU", function()
  if not lctw.cuda.available() then T.skip_now("no CUDA device") end
  local d = DATA .. "sd1_vaelight_decoder.safetensors"
  local e = DATA .. "sd1_vaelight_encoder.safetensors"
  if not exists(d) or not exists(e) then T.skip_now("VAElight weights absent") end
  local ref = lctw.safetensors.load(fixture)
  local dec = lctw.vae.load(d)
  local cpu = dec:decode(ref["vaelight.z"])
  dec:to("cuda"); T.eq(dec.device, "cuda")
  local err = max_abs_diff(dec:decode(ref["vaelight.z"]), cpu)
  T.ok(err < 1e-4, "CUDA decode max abs error %.3g vs CPU", err)
  local enc = lctw.vae.load(e, {device = "cuda"})
  local zc = enc:encode(ref["vaelight.img"]:clamp(-1, 1))
  local err2 = max_abs_diff(zc, ref["vaelight.enc"])
  T.ok(err2 < 1e-4, "CUDA encoder max abs error %.3g vs PyTorch", err2)
  T.detail("decode %.2e vs CPU, encode %.2e vs PyTorch", err, err2)
end)

T.case("load rejects files that are not decoders", function()
  T.errors(function() lctw.vae.load("tests/fixtures/metrics_fd.safetensors") end,
    "not a known VAE")
  T.errors(function() lctw.vae.load(tmp("missing.safetensors")) end, "missing.safetensors")
end)

for _, p in ipairs(made) do os.remove(p) end
T.done()
