-- demo.lua — what `make demo` runs. Until the trainer lands, it shows the foundation at work:
-- heavy-tailed latents (real SD1 latents when ../shared/data is there, else a synthetic set with
-- impulsive outliers), their per-channel statistics next to a Gaussian's, a text histogram with
-- log counts, and the throughput of the tensor core.
local T = lctw.tensor

local path = arg[1] or "../shared/data/utkface_sd1_latents_4x32x32.npy"
local z, source
local f = io.open(path, "rb")
if f then
  f:close()
  z = lctw.npy.load(path)
  source = path
else
  -- synthetic: Gaussian field plus sparse impulses (1 in 2000 elements, 8-16 sigma)
  z = T.randn({1000, 4, 32, 32}, {seed = 1})
  local u = T.rand({1000, 4, 32, 32}, {seed = 2})
  local mag = T.rand({1000, 4, 32, 32}, {seed = 3}) * 8 + 8
  local spikes = u:clamp(0.9995, 1):add(-0.9995):mul(1 / 0.0005):clamp(0, 1):mul(mag)
  z = z + spikes
  source = "synthetic (randn + sparse impulses)"
end

print(string.format("latents: %s  from %s", table.concat(z:shape(), "×"), source))
print(string.format("\n%-8s %9s %9s %9s %9s %11s %11s %9s", "channel", "mean", "std", "skew",
  "kurtosis", "P(>4σ)", "P(>5σ)", "max|z|"))
local gauss4, gauss5 = 6.334e-5, 5.733e-7
for c = 1, z:size(2) do
  local zc = z:select(2, c)
  local m = zc:moments()
  print(string.format("%-8d %9.4f %9.4f %9.4f %9.3f %11.3e %11.3e %9.2f", c, m.mean, m.std, m.skew,
    m.kurtosis, zc:tail_fraction(4), zc:tail_fraction(5),
    math.max(math.abs(m.min), math.abs(m.max))))
end
print(string.format("%-8s %9.4f %9.4f %9.4f %9.3f %11.3e %11.3e", "gaussian", 0, 1, 0, 0, gauss4, gauss5))

-- histogram of channel with the largest kurtosis, standardised, log10 counts as bars
local best, bk = 1, -math.huge
for c = 1, z:size(2) do
  local k = z:select(2, c):kurtosis()
  if k > bk then best, bk = c, k end
end
local zc = z:select(2, best)
local m = zc:moments()
local zs = (zc - m.mean) / m.std
local h = zs:histogram{bins = 24, range = {-12, 12}}
local n = zs:numel()
print(string.format("\nchannel %d, standardised, log10(count) — '#' data, '.' Gaussian of the same mean/std", best))
print(string.format("(%d values below -12σ, %d above 12σ)", h.below, h.above))
for i = 1, h.bins do
  local lo, hi = h.edges[i], h.edges[i + 1]
  local cnt = h.counts[i]
  -- Gaussian expectation for this bin
  local function Phi(x) -- standard normal CDF (Abramowitz & Stegun 7.1.26 erf, error < 1.5e-7)
    local z = math.abs(x) / math.sqrt(2)
    local t = 1 / (1 + 0.3275911 * z)
    local y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
      + 0.254829592) * t * math.exp(-z * z)
    return 0.5 * (1 + (x >= 0 and y or -y))
  end
  local g = n * (Phi(hi) - Phi(lo))
  local bar = cnt > 0 and math.floor(math.log(cnt, 10) * 8 + 0.5) or 0
  local gb = g >= 1 and math.floor(math.log(g, 10) * 8 + 0.5) or 0
  local line = {}
  for j = 1, math.max(bar, gb) do
    line[j] = j <= bar and "#" or "."
  end
  print(string.format("[%5.1f,%5.1f) %8d  %s", lo, hi, cnt, table.concat(line)))
end

-- tensor core throughput
local a, b = T.randn({512, 512}, {seed = 4}), T.randn({512, 512}, {seed = 5})
local t0 = lctw.time()
local reps = 20
for _ = 1, reps do local _ = a:matmul(b) end
local dt = lctw.time() - t0
print(string.format("\nmatmul 512×512×512: %.1f GFLOP/s (%s)", reps * 2 * 512 ^ 3 / dt / 1e9,
  lctw.build_info().blas))
print(string.format("cuda: %s", lctw.cuda.available() and lctw.cuda.describe() or "no device"))
