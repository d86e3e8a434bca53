-- train_real.lua — improved latent consistency training on real SD1-space latents.
--
--   lctw examples/train_real.lua [latents.npy] [steps] [run_dir]
--
-- Defaults: ../shared/data/utkface_sd1_latents_4x32x32.npy (3000 UTKFace faces, float16,
-- heavy-tailed), 2000 steps, runs/real. Uses the paper's recipe on a small NsLN U-Net, holds out
-- 300 latents, and reports FD/SWD/tail statistics of 1- and 2-step samples against them before
-- and after training, writing decoded PNG grids every 200 steps when the SD1 decoder is in
-- ../shared/data/taesd. Ctrl-C stops at a step boundary; the checkpoint is resumable with
-- lctw.trainer.load(run_dir .. "/checkpoint.safetensors").
local path = arg[1] or "../shared/data/utkface_sd1_latents_4x32x32.npy"
local steps = tonumber(arg[2]) or 2000
local run_dir = arg[3] or "runs/real"
local ckpt = run_dir .. "/checkpoint.safetensors"

local info = lctw.npy.info(path) -- fails with a clear message if the file is missing or bad
local shape = info.shape
if #shape ~= 4 then error(string.format("%s: expected N×C×H×W latents, got %d dimensions", path, #shape)) end
local data = lctw.data.npy(path, {holdout = math.min(300, shape[1] // 10), seed = 1})
print("data:  " .. tostring(data))

local tr
local f = io.open(ckpt, "rb")
if f then
  f:close()
  tr = lctw.trainer.load(ckpt, {data = data})
  print(string.format("resumed %s at step %d", ckpt, tr.steps))
else
  local model = lctw.model.unet{channels = 64, channel_mult = {1, 2, 2}, num_blocks = 2,
                                attn_resolutions = {16}, in_shape = {shape[2], shape[3], shape[4]},
                                seed = 1}
  local s1 = math.max(20, math.min(640, 10 * 2 ^ math.floor(math.log(math.max(steps // 100, 1), 2))))
  tr = lctw.trainer{model = model, data = data, batch = 32, preset = "paper", total_steps = steps,
                    s1 = s1, ema = {0.999, 0.9999}, seed = 1, run_dir = run_dir}
end
print("model: " .. tostring(tr.model))
print("trainer: " .. tostring(tr))

local ref = data:holdout()
local function report(label)
  for _, k in ipairs{1, 2} do
    local x = tr:sample{n = ref:size(1), steps = k, seed = 7, ema = 0.999}
    local r = lctw.metrics.report(x, ref, {print = false})
    print(string.format("%-10s %d-step  FD %10.4g  SWD %8.4g  kurtosis %7.3f (data %.3f)  P(>5σ) %.2e (data %.2e)",
      label, k, r.fd, r.swd, r.samples.kurtosis, r.ref.kurtosis, r.samples.tail[5], r.ref.tail[5]))
    if label == "final" then lctw.npy.save(string.format("%s/samples_%dstep.npy", run_dir, k), x) end
  end
end
report("start")
-- decoded previews: PNG grids of 1- and 2-step samples every 200 steps (SD1 latents only)
local dec = "../shared/data/taesd/sd1_vaelight_decoder.safetensors"
local preview
local fh = io.open(dec, "rb")
if fh and shape[2] == 4 then
  fh:close()
  preview = {vae = lctw.vae.load(dec), every = 200, n = 16}
  print("previews: " .. run_dir .. "/preview_<step>_{1,2}step.png (VAElight decoder)")
end
tr:run{steps = steps - tr.steps, checkpoint = ckpt, checkpoint_every = 200, preview = preview}
report("final")
print(string.format("samples, checkpoint and metrics in %s", run_dir))
