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

os.execute("rm -rf " .. tmp)
T.done()
