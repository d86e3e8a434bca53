-- demo.lua — what `make demo` runs: improved latent consistency training (the paper's full
-- recipe: Cauchy loss, adaptive c, low-noise diffusion loss, OT coupling, NsLN U-Net, RAdam,
-- EMA) of a small U-Net on the built-in synthetic latents (smooth fields + sparse impulsive
-- outliers), for about two minutes on 2 CPU cores. It prints progress, then the quality of 1-
-- and 2-step samples against held-out data next to the untrained model's, and saves the samples.
--
-- The latents are 4×16×16 (a quarter of the SD1 4×32×32 size) so that a two-minute CPU budget
-- covers several hundred steps; examples/train_real.lua trains on real 4×32×32 latents.
--
--   lctw examples/demo.lua [steps] [run_dir]        (defaults: 600 steps, runs/demo)
--   LCTW_DEMO_SECONDS=110 bounds the training time (it stops early when the budget is spent)
local steps = tonumber(arg[1]) or tonumber(os.getenv("LCTW_DEMO_STEPS") or "") or 600
local run_dir = arg[2] or "runs/demo"
local t_start = lctw.time()
-- a fresh demo run: metrics files in run_dir are appended to, so start them anew
os.remove(run_dir .. "/metrics.csv")
os.remove(run_dir .. "/metrics.jsonl")

print(string.format("lctw %s demo — %s", lctw.version, lctw.cuda.available() and "cuda" or "cpu"))
local data = lctw.data.synthetic{n = 2256, shape = {4, 16, 16}, holdout = 256, seed = 1}
print("data:  " .. tostring(data))
local model = lctw.model.unet{channels = 32, channel_mult = {1, 2}, num_blocks = 1,
                              attn_resolutions = {8}, channels_per_head = 32, in_shape = {4, 16, 16},
                              seed = 1}
print("model: " .. tostring(model))

-- The curriculum 10 → 640 compresses into a short budget: scale its last stage down to fit.
local s1 = math.max(20, math.min(640, 10 * 2 ^ math.floor(math.log(math.max(steps // 60, 1), 2))))
local tr = lctw.trainer{model = model, data = data, batch = 16, preset = "paper",
                        total_steps = steps, s1 = s1, lr = 2e-4, ema = {0.99, 0.999},
                        seed = 1, run_dir = run_dir}
print("trainer: " .. tostring(tr))

local ref = data:holdout()
local function evaluate(label)
  local rows, rstats = {}, nil
  for _, k in ipairs{1, 2} do
    local x = tr:sample{n = 256, steps = k, seed = 11, ema = 0.99}
    local r = lctw.metrics.report(x, ref, {print = false})
    rows[k] = {fd = r.fd, swd = r.swd, kurt = r.samples.kurtosis, t4 = r.samples.tail[4], x = x}
    rstats = r.ref
  end
  return {label = label, rows = rows, ref = rstats}
end

print("\nuntrained model: sampling 256 latents with 1 and 2 steps …")
local before = evaluate("untrained")

print(string.format("\ntraining %d steps (batch 16, curriculum s0 10 → s1 %d), Ctrl-C stops early …", steps, s1))
-- stop after the time budget (LCTW_DEMO_SECONDS, default 110 s) even if steps remain
local budget = tonumber(os.getenv("LCTW_DEMO_SECONDS") or "") or 110
local t_train = lctw.time()
tr:run{steps = steps, log_every = math.max(1, steps // 15), checkpoint = run_dir .. "/checkpoint.safetensors",
       on_step = function(m)
         if lctw.time() - t_train > budget then
           print(string.format("time budget of %.0f s reached at step %d", budget, m.step))
           return false
         end
       end}

print("\ntrained model: sampling …")
local after = evaluate("trained")

print(string.format("\nquality against %d held-out latents (FD on %s features; lower is better)",
  ref:size(1), "2×2-average-pooled"))
print(string.format("%-22s %12s %12s %12s %12s", "", "FD", "SWD", "kurtosis", "P(>4σ)"))
for _, res in ipairs{before, after} do
  for _, k in ipairs{1, 2} do
    local r = res.rows[k]
    print(string.format("%-22s %12.4g %12.4g %12.3f %12.3e", res.label .. ", " .. k .. "-step", r.fd, r.swd,
      r.kurt, r.t4))
  end
end
print(string.format("%-22s %12s %12s %12.3f %12.3e", "held-out data", "0", "0", before.ref.kurtosis, before.ref.tail[4]))

lctw.npy.save(run_dir .. "/samples_1step.npy", after.rows[1].x)
lctw.npy.save(run_dir .. "/samples_2step.npy", after.rows[2].x)
print(string.format("\nsaved %s/samples_{1,2}step.npy, checkpoint.safetensors, metrics.csv, metrics.jsonl (%.0f s in all)",
  run_dir, lctw.time() - t_start))
