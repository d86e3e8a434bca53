-- ablation.lua — the paper's ablation at small scale: the iCT baseline, then one improvement at a
-- time (Cauchy loss with adaptive c, diffusion loss, OT coupling, non-scaling LayerNorm).
--
--   lctw examples/ablation.lua [steps] [out_dir] [--s1-scaled] [--rows=1,2,...] [--seed=N]
--
-- Every row uses the same data (SD1-space UTKFace latents, 300 held out, split seed 1), the same
-- small U-Net (channels 32, mult {1,2,2}, 1 block per level, attention at 16; only the norm
-- changes in row 5), the same model/trainer seed, batch, optimizer (the ict preset's) and step
-- budget. Rows:
--   1 ict     preset="ict" + GroupNorm model (pseudo-Huber, iCT c, no diffusion loss, no OT)
--   2 +cauchy row 1 + loss="cauchy", c="adaptive"
--   3 +diff   row 2 + diffusion=true (rate 0.75, weight 5)
--   4 +ot     row 3 + ot=true
--   5 +nsln   row 4 with norm="nsln" = the paper recipe
-- s1 (the final curriculum stage of N(k)) is 640 as in the paper, or with --s1-scaled the budget
-- rule of examples/train_real.lua: max(20, min(640, 10·2^floor(log2(steps/100)))).
-- Because the EMA has no bias correction, a paper decay (0.9999) barely moves in a short run, so
-- samples use a budget-scaled decay: clamp(1 − 10/steps, 0.9, 0.9999) (env LCTW_ABL_EMA overrides).
-- For each row: train, sample 1- and 2-step with that EMA (seed 7, as many samples as held-out
-- latents), lctw.metrics.report against the held-out latents, decoded grids with the VAElight
-- decoder (<out_dir>/<row>_{1,2}step.png), and a row appended to <out_dir>/results.csv and
-- results.md. Environment variables LCTW_ABL_STEPS, LCTW_ABL_OUT, LCTW_ABL_S1_SCALED=1,
-- LCTW_ABL_ROWS, LCTW_ABL_SEED, LCTW_ABL_DATA do the same as the arguments.

local steps = tonumber(os.getenv("LCTW_ABL_STEPS") or "") or 100
local out_dir = os.getenv("LCTW_ABL_OUT") or "runs/ablation"
local s1_scaled = os.getenv("LCTW_ABL_S1_SCALED") == "1"
local rows_sel = os.getenv("LCTW_ABL_ROWS")
local seed = tonumber(os.getenv("LCTW_ABL_SEED") or "") or 1
local path = os.getenv("LCTW_ABL_DATA") or "../shared/data/utkface_sd1_latents_4x32x32.npy"
local positional = {}
for _, a in ipairs(arg or {}) do
  if a == "--s1-scaled" then s1_scaled = true
  elseif a:match("^%-%-rows=") then rows_sel = a:sub(8)
  elseif a:match("^%-%-seed=") then seed = assert(tonumber(a:sub(8)), "ablation: --seed=N needs a number")
  elseif a:match("^%-%-") then error("ablation: unknown option '" .. a .. "' (--s1-scaled, --rows=1,2,..., --seed=N)")
  else positional[#positional + 1] = a end
end
if positional[1] then steps = assert(math.tointeger(tonumber(positional[1])),
  "ablation: steps must be an integer, got '" .. positional[1] .. "'") end
if positional[2] then out_dir = positional[2] end
if steps < 1 then error(string.format("ablation: steps must be >= 1, got %d", steps)) end

local s1 = 640
if s1_scaled then
  s1 = math.max(20, math.min(640, 10 * 2 ^ math.floor(math.log(math.max(steps // 100, 1), 2))))
  s1 = math.tointeger(s1)
end
local ema = tonumber(os.getenv("LCTW_ABL_EMA") or "") or math.max(0.9, math.min(0.9999, 1 - 10 / steps))

local ROWS = {
  {name = "1 ict", tag = "r1_ict", norm = "groupnorm", opt = {}},
  {name = "2 +cauchy,adaptive c", tag = "r2_cauchy", norm = "groupnorm",
   opt = {loss = "cauchy", c = "adaptive"}},
  {name = "3 +diffusion loss", tag = "r3_diff", norm = "groupnorm",
   opt = {loss = "cauchy", c = "adaptive", diffusion = true}},
  {name = "4 +OT", tag = "r4_ot", norm = "groupnorm",
   opt = {loss = "cauchy", c = "adaptive", diffusion = true, ot = true}},
  {name = "5 +NsLN (paper)", tag = "r5_nsln", norm = "nsln",
   opt = {loss = "cauchy", c = "adaptive", diffusion = true, ot = true}},
}
local selected = {}
if rows_sel then
  for i in rows_sel:gmatch("[^,]+") do
    local k = math.tointeger(tonumber(i))
    if not k or not ROWS[k] then error(string.format("ablation: row '%s' is not 1..%d", i, #ROWS)) end
    selected[#selected + 1] = ROWS[k]
  end
else
  selected = ROWS
end

os.execute("mkdir -p '" .. out_dir .. "'")
local info = lctw.npy.info(path)
if #info.shape ~= 4 then
  error(string.format("%s: expected N×C×H×W latents, got %d dimensions", path, #info.shape))
end
local in_shape = {info.shape[2], info.shape[3], info.shape[4]}
local data = lctw.data.npy(path, {holdout = math.min(300, info.shape[1] // 10), seed = 1})
local ref = data:holdout()
local dec_path = "../shared/data/taesd/sd1_vaelight_decoder.safetensors"
local vae
local fh = io.open(dec_path, "rb")
if fh and in_shape[1] == 4 then fh:close(); vae = lctw.vae.load(dec_path) end
local variant = s1_scaled and "s1-scaled" or "s1=640"
print(string.format("ablation: %d steps/row, batch 16, s1 %d (%s), EMA %.4g, seed %d, data %s, out %s",
  steps, s1, variant, ema, seed, tostring(data), out_dir))

local function exists(f)
  local h = io.open(f, "rb")
  if h then h:close() end
  return h ~= nil
end
local csv_path, md_path = out_dir .. "/results.csv", out_dir .. "/results.md"
local new_csv, new_md = not exists(csv_path), not exists(md_path)
local csv = assert(io.open(csv_path, "a"))
local md = assert(io.open(md_path, "a"))
if new_csv then
  csv:write("row,variant,steps,s1,seed,batch,ema,nfe,fd,swd,kurtosis,kurtosis_data,p3,p3_data,",
            "p5,p5_data,train_s,final_loss,grid\n")
end
if new_md then
  md:write("| row | variant | steps | s1 | seed | NFE | FD | SWD | kurtosis (data) | P(>3σ) (data) |",
           " P(>5σ) (data) | train s | grid |\n")
  md:write("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
end

for _, row in ipairs(selected) do
  local model = lctw.model.unet{channels = 32, channel_mult = {1, 2, 2}, num_blocks = 1,
                                attn_resolutions = {16}, in_shape = in_shape, norm = row.norm,
                                seed = seed}
  local o = {model = model, data = data, batch = 16, preset = "ict", total_steps = steps, s1 = s1,
             ema = {ema}, seed = seed, run_dir = string.format("%s/%s_%s_seed%d", out_dir, row.tag,
                                                               s1_scaled and "s1s" or "s1p", seed)}
  for k, v in pairs(row.opt) do o[k] = v end
  local tr = lctw.trainer(o)
  print(string.format("== row %s: %s", row.name, tostring(tr)))
  local t0 = lctw.time()
  local last = tr:run{steps = steps}
  local train_s = lctw.time() - t0
  local final_loss = (last and last.loss) or (tr.last and tr.last.loss) or 0 / 0
  local grid = "-"
  if vae then
    local base = string.format("%s/%s_%s_seed%d", out_dir, row.tag, s1_scaled and "s1s" or "s1p", seed)
    tr:preview{vae = vae, n = 16, seed = 0, ema = ema, path = base}
    grid = base:match("[^/]+$") .. "_{1,2}step.png"
  end
  for _, k in ipairs{1, 2} do
    local x = tr:sample{n = ref:size(1), steps = k, seed = 7, ema = ema}
    local r = lctw.metrics.report(x, ref, {print = false})
    local sm, rf = r.samples, r.ref
    print(string.format("%-22s %d-step  FD %10.4g  SWD %8.4g  kurtosis %7.3f (data %.3f)  P(>5σ) %.2e (data %.2e)",
      row.name, k, r.fd, r.swd, sm.kurtosis, rf.kurtosis, sm.tail[5], rf.tail[5]))
    csv:write(string.format("%s,%s,%d,%d,%d,16,%g,%d,%.6g,%.6g,%.4f,%.4f,%.4e,%.4e,%.4e,%.4e,%.1f,%.5g,%s\n",
      row.tag, variant, steps, s1, seed, ema, k, r.fd, r.swd, sm.kurtosis, rf.kurtosis, sm.tail[3],
      rf.tail[3], sm.tail[5], rf.tail[5], train_s, final_loss, grid))
    md:write(string.format("| %s | %s | %d | %d | %d | %d | %.4g | %.4g | %.3f (%.3f) | %.2e (%.2e) | %.2e (%.2e) | %.0f | %s |\n",
      row.name, variant, steps, s1, seed, k, r.fd, r.swd, sm.kurtosis, rf.kurtosis, sm.tail[3],
      rf.tail[3], sm.tail[5], rf.tail[5], train_s, grid))
    csv:flush(); md:flush()
  end
end
csv:close(); md:close()
print("results: " .. csv_path .. ", " .. md_path)
