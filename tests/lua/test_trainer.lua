-- test_trainer.lua — the training loop end to end on a tiny U-Net and synthetic 4×8×8 latents:
-- exact resume, failed steps leave the state consistent, logs, checkpoints, sampling, errors.
local T = dofile("tests/lua/harness.lua")
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp)

local function tiny_model(norm)
  return lctw.model.unet{channels = 16, channel_mult = {1, 2}, num_blocks = 1,
                         attn_resolutions = {4}, channels_per_head = 16, in_shape = {4, 8, 8},
                         norm = norm or "nsln", seed = 1}
end
local function tiny_data()
  return lctw.data.synthetic{n = 64, shape = {4, 8, 8}, seed = 2}
end
local function new(opts)
  opts = opts or {}
  local o = {model = opts.model or tiny_model(), data = opts.data or tiny_data(), batch = 8,
             total_steps = 40, seed = 5, s0 = 2, s1 = 8}
  for k, v in pairs(opts) do o[k] = v end
  return lctw.trainer(o)
end

T.case("one step returns the documented metrics", function()
  local tr = new()
  local m = tr:step()
  for _, k in ipairs{"step", "N", "stage", "loss", "loss_ct", "loss_diff", "c", "lr", "grad_norm",
                     "frac_over_c", "diff_count", "ot_gain", "nan_skips", "samples_per_s"} do
    T.ok(m[k] ~= nil, "metric %s missing", k)
  end
  T.eq(m.step, 1, "step")
  T.eq(m.N, 3, "N at the first stage (s0 2 + 1)")
  T.near(m.c, 0.00054 * math.sqrt(4 * 8 * 8), 1e-12, 0, "c₀ = 0.00054·√d")
  T.ok(m.loss > 0 and m.loss == m.loss, "finite positive loss")
  T.ok(m.ot_gain > 0, "OT shortens the pairs (gain %g)", m.ot_gain)
  T.eq(tr.steps, 1, "tr.steps")
end)

T.case("resume from a checkpoint gives exactly the same losses", function()
  local path = tmp .. "/ck.safetensors"
  local a = new{run_dir = tmp .. "/a"}
  for _ = 1, 3 do a:step() end
  a:save(path)
  local ref = {}
  for i = 1, 4 do ref[i] = a:step().loss end
  local b = lctw.trainer.load(path)
  T.eq(b.steps, 3, "restored step")
  for i = 1, 4 do
    local l = b:step().loss
    T.ok(l == ref[i], "step %d: resumed loss %.17g, uninterrupted %.17g", i + 3, l, ref[i])
  end
  T.detail("4 steps bit-identical after resume")
end)

T.case("a failing step leaves model, optimizer, streams and data cursor at the last step", function()
  local ref = new()
  local r = {}
  for i = 1, 4 do r[i] = ref:step().loss end
  local boom = true
  local tr = new{c = function(step, N)
    if step == 2 and boom then error("boom") end
    return 0.00054 * math.sqrt(256)
  end}
  tr:step()
  tr:step()
  T.errors(function() tr:step() end, "boom")
  T.eq(tr.steps, 2, "steps after the failed step")
  boom = false
  local l3, l4 = tr:step().loss, tr:step().loss
  T.ok(l3 == r[3] and l4 == r[4], "after the failure: %.17g %.17g vs %.17g %.17g", l3, l4, r[3], r[4])
end)

T.case("metrics.csv and metrics.jsonl are written every step", function()
  local dir = tmp .. "/logs"
  local tr = new{run_dir = dir}
  tr:run{steps = 3, quiet = true}
  local f = assert(io.open(dir .. "/metrics.csv"))
  local lines = {}
  for l in f:lines() do lines[#lines + 1] = l end
  f:close()
  T.eq(#lines, 4, "header + 3 rows")
  T.ok(lines[1]:find("^step,N,stage,loss,"), "header: %s", lines[1])
  local j = assert(io.open(dir .. "/metrics.jsonl")):read("a")
  local n = select(2, j:gsub("\n", ""))
  T.eq(n, 3, "jsonl lines")
  T.ok(j:find('"loss_diff"', 1, true), "jsonl has loss_diff")
end)

T.case("presets: ict is pseudo-huber without OT and diffusion", function()
  local tr = new{preset = "ict", model = tiny_model("groupnorm")}
  local m = tr:step()
  T.eq(m.ot_gain, 0, "no OT")
  T.eq(m.loss_diff, 0, "no diffusion loss")
  T.ok(tr.config:find('"loss":"pseudo_huber"', 1, true), "config: %s", tr.config)
end)

T.case("lr and c can be changed between steps", function()
  local tr = new()
  tr.lr = 3e-4
  T.eq(tr:step().lr, 3e-4, "lr")
  tr.c = 0.5
  T.eq(tr:step().c, 0.5, "constant c")
  tr.c = function(step, N) return 0.01 * N end
  local m = tr:step()
  T.near(m.c, 0.01 * m.N, 1e-12, 0, "c function")
end)

T.case("sampling: 1 and 2 steps, deterministic, de-normalised", function()
  local tr = new()
  tr:step()
  local a = tr:sample{n = 3, steps = 1, seed = 4}
  local b = tr:sample{n = 3, steps = 1, seed = 4}
  T.eq(table.concat(a:shape(), "x"), "3x4x8x8", "shape")
  T.eq((a - b):abs():max(), 0, "same seed, same samples")
  local c = tr:sample{n = 3, steps = 2, seed = 4, ema = 0.9999}
  T.ok((a - c):abs():max() > 0, "2-step differs from 1-step")
  local n = tr:sample{n = 3, steps = 1, seed = 4, normalized = true}
  local dn = tr.data:denormalize(n)
  T.near((dn - a):abs():max(), 0, 1e-4, 0, "de-normalisation")
  T.errors(function() tr:sample{n = 2, ema = 0.5} end, "no EMA with decay")
  T.errors(function() tr:sample{n = 2, ts = {1, 1}} end, "ts must increase")
  local m = tr.model
  T.eq(table.concat(m:sample{n = 2}:shape(), "x"), "2x4x8x8", "model:sample via its trainer")
end)

T.case("bad checkpoints give clear errors and do not change the trainer", function()
  local path = tmp .. "/ck2.safetensors"
  local tr = new()
  tr:step()
  tr:save(path)
  -- truncated copy
  local raw = assert(io.open(path, "rb")):read("a")
  local bad = tmp .. "/trunc.safetensors"
  local f = assert(io.open(bad, "wb"))
  f:write(raw:sub(1, #raw // 2))
  f:close()
  local before = tr:step().loss
  T.errors(function() tr:restore(bad) end, "trunc.safetensors")
  -- another model configuration
  local other = new{model = lctw.model.unet{channels = 8, channel_mult = {1}, num_blocks = 1,
                    attn_resolutions = {}, channels_per_head = 8, in_shape = {4, 8, 8}}}
  T.errors(function() other:restore(path) end, "parameters")
  T.errors(function() tr:restore(tmp .. "/missing.safetensors") end, "missing.safetensors")
  T.eq(tr.steps, 2, "steps unchanged")
  T.ok(before == before, "loss finite")
end)

T.case("a failed save leaves the previous checkpoint intact", function()
  local path = tmp .. "/keep.safetensors"
  local tr = new()
  tr:step()
  tr:save(path)
  local before = assert(io.open(path, "rb")):read("a")
  T.errors(function() tr:save(tmp .. "/no/such/dir/x.safetensors") end, "no/such/dir")
  local after = assert(io.open(path, "rb")):read("a")
  T.ok(before == after, "checkpoint changed")
end)

T.case("a non-finite loss skips the update, is counted, and halves lr after nan_halve_after skips", function()
  local m = tiny_model()
  local tr = new{model = m, optim = {kind = "adam"}, ema = false, nan_halve_after = 2}
  tr.lr = 1e30 -- one step with this lr makes the next losses overflow
  T.eq(tr:step().skipped, false, "first step")
  local w = m:param("out_conv.weight"):clone()
  local a, b = tr:step(), tr:step()
  T.ok(a.skipped and b.skipped, "non-finite steps skipped")
  T.ok(a.loss ~= a.loss or math.abs(a.loss) == math.huge, "loss reported as non-finite: %s", tostring(a.loss))
  T.eq(b.nan_skips, 2, "nan_skips")
  T.eq(b.lr, 5e29, "lr halved after 2 skips")
  T.eq((m:param("out_conv.weight") - w):abs():max(), 0, "parameters unchanged by skipped steps")
  T.eq(tr.steps, 3, "skipped steps still count as steps")
end)

T.case("preview grids: decoded 1- and 2-step samples as PNG every K steps", function()
  local dec = "../shared/data/taesd/sd1_vaelight_decoder.safetensors"
  local f = io.open(dec, "rb")
  if not f then T.skip_now("no " .. dec) end
  f:close()
  local dir = tmp .. "/prev"
  local tr = new{run_dir = dir}
  tr:run{steps = 2, quiet = true, preview = {vae = lctw.vae.load(dec), every = 2, n = 4, nrow = 2}}
  for _, k in ipairs{1, 2} do
    local img = lctw.image.load(string.format("%s/preview_%07d_%dstep.png", dir, 2, k))
    -- 2×2 grid of 64×64 images with a 2-pixel border
    T.eq(table.concat(img:shape(), "x"), "3x134x134", "grid shape")
  end
end)

T.case("option errors name the problem", function()
  T.errors(function() new{bacth = 4} end, "unknown option 'bacth'")
  T.errors(function() new{preset = "fast"} end, "unknown preset 'fast'")
  T.errors(function() new{loss = "hubber"} end, "hubber")
  T.errors(function() new{batch = 1000} end, "larger than the")
  T.errors(function() lctw.trainer{model = tiny_model()} end, "'data' is required")
  T.errors(function() new{data = lctw.data.synthetic{n = 16, shape = {4, 16, 16}}} end, "model takes")
end)

-- per-step batch statistics, run.json and tr:schedule() ---------------------------------

local function flatten(t, out)
  out = out or {}
  for _, e in ipairs(t) do
    if type(e) == "table" then flatten(e, out) else out[#out + 1] = e end
  end
  return out
end

T.case("batch statistics: latent moments, tails and histogram match the batch itself", function()
  local d = tiny_data()
  local tr = new{data = d}
  tr:step()
  local cur = d:cursor() -- the next batch, drawn here and again by the step
  local v = flatten(d:batch(8):totable())
  d:set_cursor(cur)
  local m = tr:step()
  T.eq(#v, 8 * 4 * 8 * 8, "batch values")
  local n, sum, lo, hi = #v, 0, math.huge, -math.huge
  for _, x in ipairs(v) do sum, lo, hi = sum + x, math.min(lo, x), math.max(hi, x) end
  local mean, m2, m4 = sum / n, 0, 0
  for _, x in ipairs(v) do m2, m4 = m2 + (x - mean) ^ 2, m4 + (x - mean) ^ 4 end
  m2, m4 = m2 / n, m4 / n
  local sd = math.sqrt(m2)
  local t3, t5, counts = 0, 0, {}
  for b = 1, 64 do counts[b] = 0 end
  for _, x in ipairs(v) do
    if math.abs(x - mean) > 3 * sd then t3 = t3 + 1 end
    if math.abs(x - mean) > 5 * sd then t5 = t5 + 1 end
    local b = math.min(63, math.floor((x - lo) / (hi - lo) * 64))
    counts[b + 1] = counts[b + 1] + 1
  end
  T.near(m.latent_mean, mean, 1e-12, 1e-9, "mean")
  T.near(m.latent_std, sd, 0, 1e-9, "std")
  T.near(m.latent_kurtosis, m4 / (m2 * m2) - 3, 1e-9, 1e-9, "excess kurtosis")
  T.eq(m.latent_tail3, t3 / n, "tail3")
  T.eq(m.latent_tail5, t5 / n, "tail5")
  T.ok(t3 > 0, "the synthetic batch has values beyond 3 sigma (%d)", t3)
  T.eq(m.latent_hist.lo, lo, "latent_hist.lo")
  T.eq(m.latent_hist.hi, hi, "latent_hist.hi")
  T.eq(#m.latent_hist.counts, 64, "latent bins")
  for b = 1, 64 do T.eq(m.latent_hist.counts[b], counts[b], "latent bin " .. b) end
  T.detail("kurtosis %.4f, tail3 %.4f, %d values", m.latent_kurtosis, m.latent_tail3, n)
end)

T.case("batch statistics: the residual histogram agrees with frac_over_c and the residual maximum", function()
  local tr = new{c = 0.3}
  for _ = 1, 3 do
    local m = tr:step()
    local h = m.resid_hist
    local total, above_lo, above_hi = 0, 0, 0 -- samples in bins wholly / partly above c
    local w = (h.hi - h.lo) / 64
    for b = 1, 64 do
      total = total + h.counts[b]
      if h.lo + (b - 1) * w > m.c then above_lo = above_lo + h.counts[b] end
      if h.lo + b * w > m.c then above_hi = above_hi + h.counts[b] end
    end
    T.eq(total, 8, "one count per sample")
    T.eq(h.hi, m.resid_rms_max, "hi is the largest residual")
    T.ok(h.lo <= m.resid_rms_p50 and m.resid_rms_p50 <= h.hi, "p50 inside [lo, hi]")
    local over = math.floor(m.frac_over_c * 8 + 0.5)
    T.ok(above_lo <= over and over <= above_hi, "step %d: %d over c, histogram says %d..%d",
      m.step, over, above_lo, above_hi)
  end
end)

T.case("metrics.jsonl and metrics.csv carry the batch statistics with tr:step()'s keys", function()
  local dir = tmp .. "/stats_logs"
  local tr = new{run_dir = dir}
  local m = tr:step()
  local line = assert(io.open(dir .. "/metrics.jsonl")):read("l")
  for _, k in ipairs{"latent_mean", "latent_std", "latent_kurtosis", "latent_tail3", "latent_tail5"} do
    local val = tonumber(line:match('"' .. k .. '":([-0-9.eE+]+)'))
    T.ok(val, "jsonl has %s: %s", k, line:sub(1, 200))
    T.near(val, m[k], 1e-15, 1e-14, k)
  end
  for _, k in ipairs{"latent_hist", "resid_hist"} do
    local lo, hi, counts = line:match('"' .. k .. '":{"lo":([^,]+),"hi":([^,]+),"counts":%[([^%]]*)%]}')
    T.ok(lo, "jsonl has %s = {lo, hi, counts}", k)
    T.near(tonumber(lo), m[k].lo, 0, 1e-15, k .. ".lo")
    T.near(tonumber(hi), m[k].hi, 0, 1e-15, k .. ".hi")
    local i = 0
    for c in counts:gmatch("[0-9]+") do
      i = i + 1
      T.eq(tonumber(c), m[k].counts[i], k .. " count " .. i)
    end
    T.eq(i, 64, k .. " bins in jsonl")
  end
  local f = assert(io.open(dir .. "/metrics.csv"))
  local header, row = f:read("l"), f:read("l")
  f:close()
  T.ok(header:find(",resid_rms_max,latent_mean,latent_std,latent_kurtosis,latent_tail3,latent_tail5$"),
    "csv header: %s", header)
  local fields = {}
  for x in (row .. ","):gmatch("([^,]*),") do fields[#fields + 1] = x end
  T.eq(#fields, 24, "csv fields")
  T.near(tonumber(fields[20]), m.latent_mean, 1e-9, 1e-8, "csv latent_mean")
  T.near(tonumber(fields[22]), m.latent_kurtosis, 1e-5, 1e-5, "csv latent_kurtosis")
end)

T.case("a metrics.csv with an older header keeps its columns; a foreign one is an error", function()
  local dir = tmp .. "/oldcsv"
  os.execute("mkdir -p " .. dir)
  local old = "step,N,stage,loss,loss_ct,loss_diff,c,lr,grad_norm,frac_over_c,frac_elem_over_c," ..
    "diff_count,ot_gain,skipped,nan_skips,step_s,samples_per_s,resid_rms_p50,resid_rms_max"
  local f = assert(io.open(dir .. "/metrics.csv", "w"))
  f:write(old, "\n")
  f:close()
  local tr = new{run_dir = dir}
  tr:step()
  tr:free()
  f = assert(io.open(dir .. "/metrics.csv"))
  local header, row = f:read("l"), f:read("l")
  f:close()
  T.eq(header, old, "header unchanged")
  T.eq(select(2, row:gsub(",", "")) + 1, 19, "row fields")
  local bad = tmp .. "/foreigncsv"
  os.execute("mkdir -p " .. bad)
  f = assert(io.open(bad .. "/metrics.csv", "w"))
  f:write("time,value\n1,2\n")
  f:close()
  T.errors(function() new{run_dir = bad} end, "foreigncsv/metrics.csv has another header")
end)

T.case("run.json and tr:schedule(): the curriculum stages with the c each one uses", function()
  local dir = tmp .. "/runjson"
  local tr = new{run_dir = dir} -- K = 40, s0 2 → s1 8: K' = ⌊40/3⌋ = 13, N = 3, 5, 9
  local s = tr:schedule()
  T.eq(s.total_steps, 40, "total_steps")
  T.eq(#s.stages, 3, "stages")
  local d = 4 * 8 * 8
  local want_c = {0.00054 * math.sqrt(d), math.exp(-1.15 * math.log(4) - 0.85),
                  math.exp(-1.15 * math.log(8) - 0.85)} -- adaptive: iCT c at N = s0+1, then c(N)
  for i, st in ipairs(s.stages) do
    T.eq(st.stage, i, "stage")
    T.eq(st.start_step, 13 * (i - 1), "start_step")
    T.eq(st.N, ({3, 5, 9})[i], "N")
    T.near(st.c, want_c[i], 0, 1e-12, "c of stage " .. i)
  end
  -- the trainer's steps use these values
  for _ = 1, 14 do tr:step() end
  T.eq(tr:step().N, 5, "step 15 is in stage 2")
  T.near(tr.last.c, s.stages[2].c, 0, 1e-15, "stage 2 c in a step")
  local j = assert(io.open(dir .. "/run.json")):read("a")
  T.ok(j:find('^{"total_steps":40,"batch":8,"device":"cpu","pid":%d+,"started":%d+,"schedule":%['),
    "run.json: %s", j)
  local k = 0
  for st, N, start, c in j:gmatch('{"stage":(%d+),"N":(%d+),"start_step":(%d+),"c":([^}]+)}') do
    k = k + 1
    T.eq(tonumber(st), k, "run.json stage")
    T.eq(tonumber(N), s.stages[k].N, "run.json N")
    T.eq(tonumber(start), s.stages[k].start_step, "run.json start_step")
    T.near(tonumber(c), s.stages[k].c, 0, 1e-15, "run.json c")
  end
  T.eq(k, 3, "run.json stages")
  T.ok(not io.open(dir .. "/run.json.tmp"), "no temporary file left")
  tr.c = 0.25
  for _, st in ipairs(tr:schedule().stages) do T.eq(st.c, 0.25, "constant c after tr.c = 0.25") end
  tr.c = function(step, N) if N == 9 then error("no c here") end return 0.001 * N end
  local f = tr:schedule().stages
  T.near(f[2].c, 0.005, 0, 1e-15, "c function at stage 2")
  T.eq(f[3].c, nil, "a failing c function gives no c")
end)

os.execute("rm -rf " .. tmp)
T.done()
