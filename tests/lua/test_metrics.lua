-- test_metrics.lua — lctw.metrics from Lua: fd, swd, tails, report; options and errors.
-- Expected values: closed forms (a mean shift gives FD = dims·t², SWD ≈ |t|; identical sets give
-- 0) and tail fractions counted here with Lua loops over t:totable().
local T = dofile("tests/lua/harness.lua")

local function synth(n, seed, extra)
  local o = {n = n, shape = {2, 8, 8}, seed = seed}
  for k, v in pairs(extra or {}) do o[k] = v end
  return (lctw.data.generate(o))
end

T.case("fd: identical sets, a mean shift, info table", function()
  local a = synth(120, 1)
  local fd0, info0 = lctw.metrics.fd(a, a)
  T.eq(info0.pool, 1, "2×8×8 = 128 features -> pool 1")
  T.eq(info0.dims, 128, "dims")
  T.eq(info0.n_a, 120, "n_a")
  T.ok(math.abs(fd0) < 1e-8, "FD(a, a) = %g", fd0)
  local t = 0.25
  local fd1, info1 = lctw.metrics.fd(a, a + t)
  T.near(info1.mean_term, 128 * t * t, 1e-9, 1e-6, "mean term")
  T.near(fd1, 128 * t * t, 1e-4, 1e-6, "FD of a shift")
  local fd4, info4 = lctw.metrics.fd(a, a + t, {pool = 2}) -- 2×4×4 = 32 features
  T.eq(info4.dims, 32, "pool 2 dims")
  T.near(fd4, 32 * t * t, 1e-4, 1e-6, "FD of a shift, pool 2")
  local b = synth(120, 2)
  local fab = lctw.metrics.fd(a, b)
  local fba = lctw.metrics.fd(b, a)
  T.ok(fab > 0.1, "FD of different data sets = %g", fab)
  T.near(fab, fba, 1e-9, 1e-9, "symmetric")
  T.detail("(FD(a,a) = %.1e, shift %.6g vs %.6g, FD(a,b) = %.4g)", fd0, fd1, 128 * t * t, fab)
end)

T.case("fd: (n, D) features", function()
  local a = lctw.tensor.randn({300, 3}, {seed = 1})
  local b = lctw.tensor.randn({300, 3}, {seed = 2}) * 2
  local fd, info = lctw.metrics.fd(a, b)
  T.eq(info.pool, 0, "no pooling for features")
  T.eq(info.dims, 3, "dims")
  -- N(0, I) vs N(0, 4I): FD ≈ 3·(1 − 2)² = 3 (sampling error ~ 10%)
  T.ok(math.abs(fd - 3) < 0.6, "FD %g, expected ≈ 3", fd)
end)

T.case("swd: identical, shift, symmetry, options", function()
  local a = synth(100, 3)
  T.eq(lctw.metrics.swd(a, a), 0, "SWD(a, a)")
  local t = 0.5
  local s = lctw.metrics.swd(a, a + t, {projections = 256, seed = 4})
  T.ok(math.abs(s / t - 1) < 0.3, "SWD of a shift by %g = %g", t, s)
  local s2 = lctw.metrics.swd(a + t, a, {projections = 256, seed = 4})
  T.near(s2, s, 1e-12, 1e-9, "symmetric")
  local s3 = lctw.metrics.swd(a, a + t, {projections = 256, seed = 5})
  T.ok(s3 ~= s, "seed ignored")
  -- unequal sample counts: a and a twice over have the same empirical distribution
  local aa = lctw.tensor.zeros(200, 2, 8, 8)
  aa:narrow(1, 1, 100):copy(a)
  aa:narrow(1, 101, 100):copy(a)
  T.ok(lctw.metrics.swd(a, aa) < 1e-6, "SWD(a, a∪a)")
  T.errors(function() lctw.metrics.swd(a, a, {projection = 3}) end, "unknown option 'projection'")
  T.errors(function() lctw.metrics.swd(a, a, {projections = 0}) end, "1..1048576")
  T.errors(function() lctw.metrics.swd(a, lctw.tensor.zeros(3, 5)) end, "same number of elements")
  T.detail("(shift 0.5 -> %.4f)", s)
end)

-- tail fractions counted in Lua: values of a (N, C, H, W) tensor by channel
local function by_channel(t)
  local v = t:totable()
  local out = {}
  for c = 1, #v[1] do
    local xs = {}
    for n = 1, #v do
      for h = 1, #v[n][c] do
        for w = 1, #v[n][c][h] do xs[#xs + 1] = v[n][c][h][w] end
      end
    end
    out[c] = xs
  end
  return out
end

local function moments(xs)
  local s = 0
  for _, x in ipairs(xs) do s = s + x end
  local m = s / #xs
  local m2, m4 = 0, 0
  for _, x in ipairs(xs) do
    m2 = m2 + (x - m) ^ 2
    m4 = m4 + (x - m) ^ 4
  end
  m2, m4 = m2 / #xs, m4 / #xs
  return m, math.sqrt(m2), m4 / (m2 * m2) - 3
end

T.case("tails against Lua loops", function()
  local ref = synth(30, 5, {outliers = 0.01})
  local a = synth(20, 6) * 1.5
  local r = lctw.metrics.tails(a, ref)
  local rc, ac = by_channel(ref), by_channel(a)
  local C = #rc
  local want_a, want_r, kurt_a = {0, 0, 0, 0}, {0, 0, 0, 0}, 0
  for c = 1, C do
    local mu, sd = moments(rc[c])
    local _, _, ka = moments(ac[c])
    kurt_a = kurt_a + ka / C
    for k = 3, 6 do
      local na, nr = 0, 0
      for _, x in ipairs(ac[c]) do if math.abs(x - mu) > k * sd then na = na + 1 end end
      for _, x in ipairs(rc[c]) do if math.abs(x - mu) > k * sd then nr = nr + 1 end end
      want_a[k - 2] = want_a[k - 2] + na / #ac[c] / C
      want_r[k - 2] = want_r[k - 2] + nr / #rc[c] / C
    end
  end
  for k = 3, 6 do
    T.near(r.samples.tail[k], want_a[k - 2], 1e-12, 0, "samples tail " .. k)
    T.near(r.ref.tail[k], want_r[k - 2], 1e-12, 0, "ref tail " .. k)
  end
  T.near(r.samples.kurtosis, kurt_a, 1e-6, 1e-6, "samples kurtosis")
  T.near(r.gaussian[3], lctw.data.gaussian_tail(3), 0, 0, "gaussian")
  T.ok(r.samples.tail[3] > r.ref.tail[3], "1.5× wider samples have heavier tails on the ref scale")
  local own = lctw.metrics.tails(ref)
  T.eq(own.ref, nil, "no ref entry without a reference")
  T.near(own.samples.tail[5], r.ref.tail[5], 1e-15, 0, "a set on its own scale")
  T.errors(function() lctw.metrics.tails(a, synth(4, 1, {shape = {3, 4, 4}})) end, "channel counts")
end)

T.case("report: table, printing, a data set as reference", function()
  local d = lctw.data.synthetic{n = 160, shape = {2, 8, 8}, seed = 7, holdout = 60}
  local samples = d:sample(60)
  local r = lctw.metrics.report(samples, d, {print = false, projections = 32})
  T.eq(r.fd_dims, 128, "fd dims")
  T.ok(r.fd > 0 and r.swd > 0, "fd %g swd %g", r.fd, r.swd)
  T.near(r.fd, lctw.metrics.fd(samples, d:holdout()), 1e-12, 0, "report fd = fd(samples, holdout)")
  T.near(r.ref.kurtosis, lctw.metrics.tails(d:holdout()).samples.kurtosis, 1e-12, 0, "ref kurtosis")
  local r2 = lctw.metrics.report(samples, d:holdout(), {print = false, fd = false, swd = false})
  T.eq(r2.fd, nil, "fd=false")
  T.eq(r2.swd, nil, "swd=false")
  -- printing goes through print(): capture it
  local printed = {}
  local old = print
  print = function(s) printed[#printed + 1] = s end
  local ok, err = pcall(lctw.metrics.report, samples, d, {projections = 8})
  print = old
  T.ok(ok, "report failed: %s", tostring(err))
  local text = printed[1] or ""
  T.ok(text:find("FD (pool 1, 128 dims)", 1, true), "no FD row in:\n%s", text)
  T.ok(text:find("P(|z−μ| > 5σ)", 1, true), "no 5σ row")
  T.ok(text:find("kurtosis (excess)", 1, true), "no kurtosis row")
  T.errors(function() lctw.metrics.report(samples, d, {pritn = false}) end, "unknown option")
end)

T.case("help texts", function()
  for _, f in ipairs{"fd", "swd", "tails", "report"} do
    T.ok(lctw._help_of(lctw.metrics[f]), "no help for lctw.metrics.%s", f)
  end
  T.ok(lctw._help_of(lctw.metrics.fd):find("256", 1, true), "fd help documents the feature map")
end)

T.done()
