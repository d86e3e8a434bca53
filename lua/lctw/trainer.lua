-- lctw.trainer — the Lua side of training: the constructor with presets, tr:run with progress
-- lines, Ctrl-C to a consistent state, checkpoints that rebuild themselves (lctw.trainer.load),
-- and model:sample. The step itself is C (src/ct/trainer.c via src/lua/l_trainer.c).
local lctw = lctw
local C = lctw.trainer -- the C functions (_new, _options_meta)
local reg = debug.getregistry()

-- How each model and data set was made, so a checkpoint can rebuild them (weak keys).
local made = setmetatable({}, {__mode = "k"})
local function remember(mod, name, kind)
  local f = mod[name]
  mod[name] = function(...)
    local obj = f(...)
    made[obj] = {kind = kind, args = table.pack(...)}
    return obj
  end
  lctw._set_help(mod[name], lctw._help_of(f) or "")
end
remember(lctw.data, "npy", "data.npy")
remember(lctw.data, "synthetic", "data.synthetic")

-- A Lua-literal serializer for plain option tables (functions and userdata are left out).
local function ser(v, skipped, path)
  local t = type(v)
  if t == "number" then
    return string.format("%.17g", v)
  elseif t == "string" then
    return string.format("%q", v)
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local out = {}
    for _, k in ipairs(keys) do
      local s = ser(v[k], skipped, path .. "." .. tostring(k))
      if s then
        local key = type(k) == "number" and ("[" .. k .. "]") or ("[" .. string.format("%q", k) .. "]")
        out[#out + 1] = key .. "=" .. s
      end
    end
    return "{" .. table.concat(out, ",") .. "}"
  end
  skipped[#skipped + 1] = path
  return nil
end

local presets = {
  paper = {preset = "paper"}, -- Cauchy, adaptive c, diffusion 0.75×5, OT, RAdam 1e-4, EMA {0.999, 0.9999, 0.99993}
  ict = {preset = "ict"},     -- pseudo-Huber, iCT c, no diffusion loss, no OT (use a GroupNorm model)
}
lctw.presets = {
  paper = {trainer = presets.paper, model = {norm = "nsln"}},
  ict = {trainer = presets.ict, model = {norm = "groupnorm"}},
  paper_unet = {channels = 128, channel_mult = {1, 2, 3, 4}, num_blocks = 4,
                attn_resolutions = {16, 8}, in_shape = {4, 32, 32}, norm = "nsln"},
}
lctw._set_help(lctw.presets, [[lctw.presets — named configurations.
  lctw.presets.paper.trainer   the paper's recipe (pass preset="paper" to lctw.trainer)
  lctw.presets.ict.trainer     the iCT baseline: pseudo-Huber, iCT c, no diffusion loss, no OT
  lctw.presets.ict.model       {norm="groupnorm"} for lctw.model.unet
  lctw.presets.paper_unet      the paper's U-Net (158,355,972 parameters)]])

local function fmt_time(s)
  if s ~= s or s == math.huge then return "?" end
  if s < 60 then return string.format("%.0fs", s) end
  if s < 3600 then return string.format("%dm%02ds", s // 60, math.floor(s % 60)) end
  return string.format("%dh%02dm", s // 3600, math.floor(s % 3600) // 60)
end

local function progress_line(tr, m, t0, steps_done, steps_total)
  local el = lctw.time() - t0
  local eta = steps_done > 0 and el / steps_done * (steps_total - steps_done) or math.huge
  return string.format(
    "step %d/%d  N=%d  loss %.4g (ct %.4g, diff %.4g)  c %.3g  >c %.0f%%  |g| %.3g  lr %.2g  %.1f samples/s  ETA %s%s",
    m.step, tr.total_steps, m.N, m.loss, m.loss_ct, m.loss_diff, m.c, 100 * m.frac_over_c,
    m.grad_norm, m.lr, m.samples_per_s, fmt_time(eta), m.skipped and "  [skipped: non-finite]" or "")
end

local methods = reg["lctw.Trainer"].__methods

-- tr:preview{vae=, n=16, seed=0, ema=, path=} writes PNG grids of decoded 1- and 2-step samples
-- (the same seeds every time, so grids from different steps are comparable).
function methods.preview(tr, p)
  assert(type(p) == "table" and p.vae, "preview: needs {vae=lctw.vae.load(decoder path), ...}")
  local decays = tr.ema_decays
  local ema = p.ema
  if ema == nil and #decays > 0 then ema = decays[#decays] end
  local base = p.path or string.format("%s/preview_%07d", tr.run_dir ~= "" and tr.run_dir or ".", tr.steps)
  local files = {}
  for _, k in ipairs{1, 2} do
    local x = tr:sample{n = p.n or 16, steps = k, seed = p.seed or 0, ema = ema}
    local img = p.vae:decode(x)
    local f = string.format("%s_%dstep.png", base, k)
    lctw.image.save_grid(img, f, {nrow = p.nrow, range = p.vae.range})
    files[#files + 1] = f
  end
  return files
end
lctw._set_help(methods.preview, [[tr:preview{vae=, n=16, seed=0, ema=<largest decay>, nrow=, path=}
Decodes 1- and 2-step samples from fixed seeds with a VAE decoder (lctw.vae.load) and writes
PNG grids <run_dir>/preview_<step>_1step.png and _2step.png. tr:run{preview={vae=, every=K}}
does this every K steps.]])

-- called by the run loops after each step
function methods._after_step(tr, o, done)
  if o.checkpoint and o.checkpoint_every and done % o.checkpoint_every == 0 then
    tr:save(o.checkpoint)
  end
  local p = o.preview
  if p and p.every and done % p.every == 0 then methods.preview(tr, p) end
end

-- tr:run{steps=, log_every=, on_step=fn(metrics, tr) (return false to stop), checkpoint=path,
--        checkpoint_every=, preview={vae=, every=, n=, seed=}, dash=, quiet=}
function methods.run(tr, o)
  o = o or {}
  local steps = o.steps or (tr.total_steps - tr.steps)
  local log_every = o.log_every or math.max(1, math.min(100, steps // 20))
  local dash = o.dash
  if dash == nil and lctw.dash then dash = lctw.dash.default end -- lctw --dash
  if dash then
    if lctw.dash and lctw.dash.run then return lctw.dash.run(tr, o) end
    io.stderr:write("lctw: the live dashboard is not built yet; showing progress lines\n")
  end
  local t0, done, last, stop = lctw.time(), 0, nil, false
  local function iteration() -- one step with its printing and callbacks, as one protected unit
    local m = methods.step(tr)
    done, last = done + 1, m
    if not o.quiet and (done % log_every == 0 or done == steps) then
      print(progress_line(tr, m, t0, done, steps))
      io.stdout:flush()
    end
    methods._after_step(tr, o, done)
    if o.on_step and o.on_step(m, tr) == false then stop = true end
  end
  while done < steps and not stop do
    local ok, err = pcall(iteration)
    if not ok then
      if tostring(err):find("interrupted", 1, true) then
        print(string.format("stopped at step %d (state consistent; tr:run{...} continues)", tr.steps))
        return last, "interrupted"
      end
      error(err, 0)
    end
  end
  if o.checkpoint then tr:save(o.checkpoint) end
  return last
end
lctw._set_help(methods.run, [[tr:run{steps=, log_every=, on_step=fn(metrics, tr), checkpoint=path, checkpoint_every=,
       preview={vae=, every=K, n=16}, dash=, quiet=}
Runs steps (default: up to total_steps) printing a progress line every log_every steps. Ctrl-C
stops at a step boundary with model, optimizer, EMA and data cursor consistent; calling tr:run
again continues. on_step may return false to stop. checkpoint= saves every checkpoint_every
steps and at the end; preview= writes PNG grids of decoded samples every K steps (tr:preview).
dash=true shows the live dashboard. Returns the last step's metrics.]])

local trainers = setmetatable({}, {__mode = "k"}) -- model -> trainer (for model:sample)

local function new_trainer(opts)
  if type(opts) ~= "table" then error("lctw.trainer{model=, data=, ...}: expected an options table", 2) end
  local tr = C._new(opts)
  -- remember how to rebuild: options (without model/data/functions) and how data was made
  local o2, skipped = {}, {}
  for k, v in pairs(opts) do if k ~= "model" and k ~= "data" then o2[k] = v end end
  local spec = {options = o2, data = made[opts.data]}
  local txt = ser(spec, skipped, "opts")
  if txt then tr:_set_options_meta(txt) end
  trainers[opts.model] = tr
  return tr
end

local function load_trainer(path, over)
  over = over or {}
  local meta = C._options_meta(path)
  local spec = meta and load("return " .. meta, "=checkpoint", "t", {})
  spec = spec and spec() or {}
  local model = over.model or lctw.model.load(path)
  local data = over.data
  if not data then
    local d = spec.data
    if not d then
      error(path .. ": the checkpoint does not say how its data set was made; pass {data=...}", 2)
    end
    local f = d.kind == "data.npy" and lctw.data.npy or lctw.data.synthetic
    data = f(table.unpack(d.args, 1, d.args.n))
  end
  local opts = {}
  for k, v in pairs(spec.options or {}) do opts[k] = v end
  for k, v in pairs(over) do opts[k] = v end
  opts.model, opts.data = model, data
  local tr = new_trainer(opts)
  tr:restore(path)
  return tr
end

setmetatable(C, {__call = function(_, opts) return new_trainer(opts) end})
C.load = load_trainer
lctw._set_help(C, [[lctw.trainer{model=, data=, batch=32, preset="paper"|"ict", loss=, c=, diffusion=, ot=,
             optim=, lr=, ema=, seed=0, run_dir=, total_steps=10000, s0=10, s1=640,
             p_mean=-1.1, p_std=2.0, max_grad_norm=0, device=} -> Trainer

Improved latent consistency training (ALGORITHM.md §4). preset "paper": Cauchy loss, adaptive c,
diffusion loss (rate 0.75, weight 5), OT coupling, RAdam lr 1e-4 wd 1e-4, EMA {0.999, 0.9999,
0.99993}; "ict": pseudo-Huber, iCT c, no diffusion loss, no OT. Options override the preset:
  loss       "cauchy" | "pseudo_huber" | "geman_mcclure" | "l2" | "l1" | "<name>_elem" | {kind=, weighting=}
  c          "adaptive" | "ict" | "constant" | a number | function(step, N) | {kind=, c=, a=, b=, scale=}
  diffusion  true | false | {rate=0.75, weight=5}
  optim      "radam" | "adam" | "adamw" | {kind=, lr=, eps=, weight_decay=, betas={b1,b2}}
  ema        a decay | {decays...} | false
  device     "cpu" | "cuda": where the whole step runs (the model's parameters move there); default:
             "cuda" after lctw.device("cuda"), else the model's device
Methods: tr:step(), tr:run{...}, tr:save(path), tr:restore(path), tr:sample{...}.
Fields: tr.steps (completed), tr.lr (settable), tr.c (settable: number, name or function), tr.N, tr.last,
tr.model, tr.data, tr.config. Every step appends to run_dir/metrics.csv and metrics.jsonl.
lctw.trainer.load(path [, {data=, model=, ...}]) rebuilds a trainer from a checkpoint.]])
lctw._set_help(C.load, [[lctw.trainer.load(path [, overrides]) -> Trainer
Rebuilds model, data set and trainer from a checkpoint written by tr:save and restores the exact
state (continuing gives the same losses as an uninterrupted run). overrides may give data=,
model= or trainer options (a c function is not stored in the checkpoint: pass it again).]])

-- model:sample{...}: through the trainer that trains this model (EMA weights, data statistics)
local model_methods = reg["lctw.Model"].__index
function model_methods.sample(model, o)
  local tr = trainers[model]
  if not tr then
    error("model:sample needs the trainer of this model (for the EMA weights and the data " ..
          "statistics): create one with lctw.trainer{model=..., data=...} or use tr:sample{...}", 2)
  end
  return tr:sample(o)
end
lctw._set_help(model_methods.sample, lctw._help_of(methods.sample))

return C
