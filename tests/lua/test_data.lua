-- test_data.lua — lctw.data from Lua: data sets from the generator, tensors and .npy files;
-- batches, cursors, statistics, histograms, splits, options and errors.
-- Expected values are recomputed here with plain Lua loops or tensor reductions (not with the
-- data-set code): per-element mean/std of batches, channel moments, histogram totals.
local T = dofile("tests/lua/harness.lua")

local base = os.tmpname()
local made = {base}
local function tmp(suffix)
  local p = base .. suffix
  made[#made + 1] = p
  return p
end

local function maxabs(t) return t:abs():max() end

T.case("synthetic data set: shape, size, tostring", function()
  local d = lctw.data.synthetic{n = 64, shape = {2, 8, 8}, seed = 3}
  local s = d:shape()
  T.eq(#s, 4, "ndim")
  T.eq(s[1] .. "x" .. s[2] .. "x" .. s[3] .. "x" .. s[4], "64x2x8x8", "shape")
  local ntrain, nhold = d:size()
  T.eq(ntrain, 64, "training rows")
  T.eq(nhold, 0, "held-out rows")
  local str = tostring(d)
  local pat = "^<lctw%.Data 64×2×8×8 synthetic  normalised per element to std 0%.5  "
    .. "kurtosis %-?%d+%.%d%d  P%(|z|>5σ%) [%d.e%-]+>$"
  T.ok(str:find(pat), "tostring: %s", str)
  local info = d:info()
  T.eq(info.dtype, "synthetic", "dtype")
  T.eq(info.n, 64, "info.n")
  T.eq(info.normalize, true, "normalize")
  T.detail("%s", str)
end)

T.case("batches are normalised per element to mean 0, std 0.5 over the set", function()
  local d = lctw.data.synthetic{n = 40, shape = {2, 4, 4}, seed = 1}
  local x = d:batch(40) -- the whole epoch
  T.eq(x:size(1), 40, "batch size")
  local m = x:mean(1)
  local sd = x:std(1) -- unbiased, as torch.std
  T.ok(maxabs(m) < 1e-5, "per-element mean off by %g", maxabs(m))
  T.ok(maxabs(sd - 0.5) < 1e-5, "per-element std off by %g", maxabs(sd - 0.5))
  -- the batch is a permutation of normalize(all latents): column sums agree
  local all = d:normalize(d:latents())
  T.ok(maxabs(all:sum(1) - x:sum(1)) < 1e-4, "batch is not a permutation of the set")
  -- round trip
  local back = d:denormalize(x)
  T.ok(maxabs(back:sum(1) - d:latents():sum(1)) < 1e-3, "denormalize(batch) sums differ")
  local z = d:latents()
  T.ok(maxabs(d:denormalize(d:normalize(z)) - z) < 1e-5, "round trip error")
  -- x = (z − μ)/s·0.5 with μ, s from d:norm_stats(), checked on the first latent
  local mu, s = d:norm_stats()
  local z1 = z[1]
  local want = (z1 - mu) / s * 0.5
  T.ok(maxabs(d:normalize(z1) - want) < 1e-5, "normalize formula")
  -- μ, s against reductions over the latents (unbiased std)
  T.ok(maxabs(mu - z:mean(1)) < 1e-5, "mean")
  T.ok(maxabs(s - z:std(1)) < 1e-5, "std")
end)

T.case("epochs: drop_last, cursor save and restore", function()
  local d = lctw.data.synthetic{n = 64, shape = {1, 4, 4}, seed = 2}
  T.eq(d:batches(10), 6, "batches per epoch")
  for _ = 1, 6 do d:batch(10) end
  local c = d:cursor()
  T.eq(c.epoch, 1, "epoch after 6 batches")
  T.eq(c.position, 60, "position")
  d:batch(10) -- 4 rows left: skipped
  c = d:cursor()
  T.eq(c.epoch, 2, "7th batch starts epoch 2")
  T.eq(c.position, 10, "position in epoch 2")
  local saved = d:cursor()
  local seq = {}
  for i = 1, 8 do seq[i] = d:batch(10) end
  local d2 = lctw.data.synthetic{n = 64, shape = {1, 4, 4}, seed = 2}
  d2:set_cursor(saved)
  for i = 1, 8 do T.eq(maxabs(d2:batch(10) - seq[i]), 0, "resumed batch " .. i) end
  d:set_cursor(saved)
  T.eq(maxabs(d:batch(10) - seq[1]), 0, "set_cursor on the same data set")
  T.errors(function() d:set_cursor{epoch = 1, position = 65} end, "0..64")
  T.errors(function() d:set_cursor{epoch = 0, position = 0} end, "epoch must be >= 1")
  T.errors(function() d:set_cursor{epoch = 1, position = 0, seed = 9} end, "seed 9")
  T.errors(function() d:batch(65) end, "1..64")
end)

T.case("statistics table against reductions", function()
  local d = lctw.data.synthetic{n = 50, shape = {3, 8, 8}, seed = 4, outliers = 0.01}
  local st = d:stats()
  T.eq(st.n, 50, "n")
  T.eq(#st.per_channel, 3, "channels")
  local z = d:latents()
  local k = 0
  for c = 1, 3 do
    local ch = z:narrow(2, c, 1)
    local pc = st.per_channel[c]
    T.near(pc.mean, ch:mean(), 1e-6, 1e-6, "mean " .. c)
    T.near(pc.std, ch:std({unbiased = false}), 1e-6, 1e-6, "std " .. c)
    T.near(pc.kurtosis, ch:kurtosis(), 1e-6, 1e-6, "kurtosis " .. c)
    T.near(pc.skew, ch:skew(), 1e-6, 1e-6, "skew " .. c)
    T.near(pc.tail[3], ch:tail_fraction(3), 1e-12, 0, "tail 3 of " .. c)
    T.near(pc.max_abs, math.max(-ch:min(), ch:max()), 1e-6, 0, "max_abs " .. c)
    T.ok(pc.tail[4] <= pc.tail[3] and pc.tail[6] <= pc.tail[5], "tails not decreasing")
    k = k + pc.kurtosis / 3
  end
  T.near(st.overall.kurtosis, k, 1e-9, 1e-9, "pooled kurtosis = mean over channels")
  T.near(st.overall.mean, z:mean(), 1e-6, 1e-6, "overall mean")
  T.near(st.overall.raw_kurtosis, z:kurtosis(), 1e-6, 1e-6, "raw kurtosis")
  T.near(st.gaussian_tail[3], 0.0026997960632601913, 1e-15, 1e-12, "gaussian tail")
  T.near(lctw.data.gaussian_tail(5), 5.733031437583892e-07, 1e-20, 1e-9, "gaussian_tail(5)")
  local st2 = lctw.data.stats(z)
  T.eq(st2.per_channel[2].kurtosis, st.per_channel[2].kurtosis, "lctw.data.stats(t)")
  T.errors(function() lctw.data.stats(lctw.tensor.zeros(3, 4)) end, "(N, C, H, W)")
end)

T.case("histograms: totals and standardised ranges", function()
  local d = lctw.data.synthetic{n = 20, shape = {2, 4, 4}, seed = 5}
  local h = d:histogram{channel = 2, bins = 10}
  local total = h.below + h.above
  for _, c in ipairs(h.counts) do total = total + c end
  T.eq(total, 20 * 16, "channel histogram total")
  T.eq(#h.edges, 11, "edges")
  T.eq(h.below + h.above, 0, "default range covers the channel")
  local hs = d:histogram{standardized = true, bins = 40}
  total = hs.below + hs.above
  for _, c in ipairs(hs.counts) do total = total + c end
  T.eq(total, 20 * 2 * 16, "standardised total")
  T.eq(hs.edges[1], -10, "standardised range")
  -- standardised channel histogram = raw histogram over mean + std·[lo, hi]
  local st = d:stats().per_channel[1]
  local a = d:histogram{channel = 1, bins = 8, range = {-2, 2}, standardized = true}
  local ch = d:latents():narrow(2, 1, 1)
  local b = ch:histogram{bins = 8, range = {st.mean - 2 * st.std, st.mean + 2 * st.std}}
  for i = 1, 8 do T.eq(a.counts[i], b.counts[i], "bin " .. i) end
  T.errors(function() d:histogram{channel = 3} end, "1..2")
  T.errors(function() d:histogram{range = {1, 1}} end, "max > min")
end)

T.case("held-out split, reference, sample", function()
  local d = lctw.data.synthetic{n = 50, shape = {1, 4, 4}, seed = 6, holdout = 10}
  local nt, nh = d:size()
  T.eq(nt, 40, "training rows")
  T.eq(nh, 10, "held-out rows")
  local h = d:holdout()
  T.eq(h:size(1), 10, "holdout rows")
  local hn = d:holdout{normalized = true}
  T.ok(maxabs(d:normalize(h) - hn) < 1e-5, "normalized holdout")
  T.eq(maxabs(d:reference() - h), 0, "reference = holdout")
  T.ok(tostring(d):find("holdout 10", 1, true), "tostring mentions the holdout")
  -- μ, s come from the 40 training rows: over all 50 rows they differ
  local mu = d:norm_stats()
  T.ok(maxabs(mu - d:latents():mean(1)) > 1e-4, "statistics include held-out rows")
  local s1, s2, s3 = d:sample(5), d:sample(5), d:sample(5, {seed = 1})
  T.eq(maxabs(s1 - s2), 0, "sample is reproducible")
  T.ok(maxabs(s1 - s3) > 0, "sample seed ignored")
  T.eq(d:cursor().position, 0, "sample moved the cursor")
  T.errors(function() d:sample(41) end, "1..40")
  local d0 = lctw.data.synthetic{n = 8, shape = {1, 2, 2}}
  T.errors(function() d0:holdout() end, "no held-out")
  T.eq(d0:reference():size(1), 8, "reference without holdout = all rows")
  T.errors(function() lctw.data.synthetic{n = 8, shape = {1, 2, 2}, holdout = 8} end, "0..7")
end)

T.case("npy files, saved statistics, flips, raw batches", function()
  local z = lctw.tensor.randn({30, 2, 3, 4}, {seed = 11}) * 2 + 1
  local p = tmp(".lat.npy")
  lctw.npy.save(p, z)
  local d = lctw.data.npy(p, {seed = 1})
  T.eq(d:info().dtype, "float32", "dtype")
  T.eq(d:info().source, p, "source")
  T.ok(maxabs(d:latents() - z) == 0, "latents")
  local sp = tmp(".stats.safetensors")
  d:save_stats(sp)
  local d2 = lctw.data.npy(p, {stats = sp})
  local m1, s1 = d:norm_stats()
  local m2, s2 = d2:norm_stats()
  T.eq(maxabs(m1 - m2) + maxabs(s1 - s2), 0, "statistics round trip")
  T.eq(d2:info().stats_from, sp, "stats_from")
  -- a (2, C, H, W) .npy of [mean; std]
  local st = lctw.tensor.zeros(2, 2, 3, 4)
  st:narrow(1, 1, 1):fill_(1)
  st:narrow(1, 2, 1):fill_(4)
  local stp = tmp(".stats.npy")
  lctw.npy.save(stp, st)
  local d3 = lctw.data.npy(p, {stats = stp})
  local x = d3:batch(30)
  T.ok(maxabs(x:sum(1) - ((z - 1) / 4 * 0.5):sum(1)) < 1e-4, "batch with loaded statistics")
  local bad = tmp(".bad.npy")
  lctw.npy.save(bad, lctw.tensor.zeros(3, 2, 3, 4))
  T.errors(function() lctw.data.npy(p, {stats = bad}) end, "2×2×3×4")
  -- raw batches
  local r = lctw.data.npy(p, {normalize = false})
  T.ok(maxabs(r:batch(30):sum(1) - z:sum(1)) < 1e-4, "raw batch")
  T.ok(tostring(r):find("not normalised", 1, true), "tostring of a raw data set")
  -- flips
  local f = lctw.data.npy(p, {flip = true})
  T.eq(f:info().flip, true, "flip")
  T.ok(tostring(f):find("h-flips", 1, true), "tostring mentions flips")
  local fm, fs = f:norm_stats()
  -- statistics over the set and its mirror images are mirror-symmetric along W (W = 4)
  for w = 1, 2 do
    local dm = fm:select(3, w) - fm:select(3, 5 - w)
    local ds = fs:select(3, w) - fs:select(3, 5 - w)
    T.ok(maxabs(dm) + maxabs(ds) < 1e-6, "flipped statistics not mirror-symmetric at w=%d", w)
  end
  T.ok(maxabs(m1:select(3, 1) - m1:select(3, 4)) > 1e-3, "unflipped statistics are symmetric too")
  local ok = pcall(function() return lctw.data.npy(tmp(".missing.npy")) end)
  T.eq(ok, false, "missing file")
  T.errors(function() lctw.data.npy(tmp(".missing.npy")) end, ".missing.npy")
  lctw.npy.save(tmp(".3d.npy"), lctw.tensor.zeros(2, 3, 4))
  T.errors(function() lctw.data.npy(base .. ".3d.npy") end, "N×C×H×W")
end)

T.case("lctw.data.from and generate", function()
  local z = lctw.tensor.randn({12, 1, 2, 2}, {seed = 3})
  local d = lctw.data.from(z, {name = "mine", seed = 4})
  T.eq(d:info().source, "mine", "name")
  local zc = z:clone()
  zc:narrow(4, 2, 1):fill_(3) -- elements (1, h, 2) constant over the set
  local dc = lctw.data.from(zc)
  T.eq(dc:info().std_floored, 2, "std_floored")
  T.ok(tostring(dc):find("2 std floored", 1, true), "tostring reports floored stds: %s", tostring(dc))
  T.ok(tostring(d):find("12×1×2×2 float32", 1, true), "tostring")
  local t, info = lctw.data.generate{n = 4, shape = {3, 4, 4}, seed = 1, outliers = 0.05}
  T.eq(t:size(2), 3, "channels")
  T.eq(#info.mixing, 3, "mixing rows")
  for i = 1, 3 do
    local s = 0
    for k = 1, 3 do s = s + info.mixing[i][k] ^ 2 end
    T.near(s, 1, 1e-12, 0, "unit mixing row")
  end
  T.ok(info.spikes > 0, "spikes at rate 0.05")
  local t2 = lctw.data.generate{n = 4, shape = {3, 4, 4}, seed = 1, outliers = 0.05}
  T.eq(maxabs(t - t2), 0, "deterministic")
  local d2 = lctw.data.synthetic{n = 4, shape = {3, 4, 4}, seed = 1, outliers = 0.05,
                                 normalize = false}
  T.eq(maxabs(d2:latents() - t), 0, "synthetic = generate")
  local t3 = lctw.data.generate{n = 4, shape = {3, 4, 4}, outliers = {0, 0, 0.5}}
  local _, i3 = lctw.data.generate{n = 4, shape = {3, 4, 4}, outliers = {0, 0, 0.5}}
  T.ok(i3.spikes > 0 and t3:size(1) == 4, "per-channel rates")
end)

T.case("option errors name the problem", function()
  T.errors(function() lctw.data.synthetic{nn = 3} end, "unknown option 'nn'")
  T.errors(function() lctw.data.synthetic{shape = {4, 32}} end, "{C, H, W}")
  T.errors(function() lctw.data.synthetic{outliers = {0.1, 0.2}} end, "one rate per channel (4)")
  T.errors(function() lctw.data.synthetic{outliers = 2} end, "[0, 1]")
  T.errors(function() lctw.data.synthetic{tail = -1} end, "tail must be > 0")
  T.errors(function() lctw.data.synthetic{n = 0} end, "n must be >= 1")
  T.errors(function() lctw.data.synthetic{seed = -1} end, "'seed' must be >= 0")
  T.errors(function() lctw.data.npy("x.npy", {flip = 1}) end, "option 'flip': expected a boolean")
end)

T.case("help texts and freeing", function()
  for _, f in ipairs{"npy", "synthetic", "from", "generate", "stats", "gaussian_tail"} do
    T.ok(lctw._help_of(lctw.data[f]), "no help for lctw.data.%s", f)
  end
  T.ok(lctw._help_of(lctw.data.npy):find("0.18215", 1, true), "npy help explains the units")
  local d = lctw.data.synthetic{n = 4, shape = {1, 2, 2}}
  T.ok(lctw._help_of(d):find("lctw.Data", 1, true), "type help")
  T.ok(lctw._help_of(d.batch):find("drop_last", 1, true), "method help")
  d:free()
  T.eq(tostring(d), "<lctw.Data (freed)>", "tostring after free")
  T.errors(function() d:batch(1) end, "freed")
  do local d2 <close> = lctw.data.synthetic{n = 4, shape = {1, 2, 2}} end
end)

local REAL = "../shared/data/utkface_sd1_latents_4x32x32.npy"
local f = io.open(REAL, "rb")
if f then
  f:close()
  T.case("real SD1 latents: the API session", function()
    local d = lctw.data.npy(REAL)
    T.eq(tostring(d), "<lctw.Data 3000×4×32×32 float16  normalised per element to std 0.5  "
      .. "kurtosis 1.88  P(|z|>5σ) 3.9e-4>", "tostring")
    T.near(d:stats().per_channel[3].kurtosis, 5.61, 0.005, 0, "channel 3 kurtosis")
    local x = d:batch(32)
    T.eq(x:size(1), 32, "batch")
    T.detail("%s", tostring(d))
  end)
else
  T.skip("real SD1 latents: the API session", REAL .. " not found (run from the project root)")
end

for _, p in ipairs(made) do os.remove(p) end
T.done()
