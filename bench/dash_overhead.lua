-- bench/dash_overhead.lua — what the live dashboard costs a training run (issue 7.6; aim: below
-- 1% of the training time). The same small training runs without the dashboard
-- (tr:run{quiet=true}) and with it (lctw.dash.run: push every step, keys polled every step, a
-- redraw at most every 0.2 s), alternating, ROUNDS times each, at two terminal sizes (80×24 and
-- 200×50). The model: "small" (default; a 16-channel U-Net on 4×8×8, batch 8: short steps, the
-- hard case, since redraws are rate-limited in time, not in steps) or "demo" (the demo's U-Net
-- on 4×16×16, batch 16, steps 5-10× longer).
--
-- Measured in each run: the time inside tr:step (wrapped), the time inside the dashboard's C
-- calls (_push, _draw, _poll; wrapped), and the wall time. The headline, "overhead %", is the time
-- in the dashboard calls over the time in tr:step of the same run: it does not depend on the
-- run-to-run noise of a busy machine. "loop ms/step" is everything outside tr:step (the
-- dashboard calls plus the Lua loop around them) and the end-to-end wall ratio dashboard/plain
-- is shown too (noisy when other work shares the cores).
--
-- The dashboard needs a terminal: when stdout is not one (make bench pipes it), each size runs in
-- a child `lctw bench/dash_overhead.lua --inner OUT.json` under util-linux `script` (a pty, with
-- LINES/COLUMNS set), whose screen output is discarded; the child writes its numbers as JSON.
--   bin/lctw bench/dash_overhead.lua        (make bench runs every bench/*.lua)
-- "draw cpu" is the process CPU time per draw (os.clock): unlike the wall times it is not
-- inflated when other jobs preempt the draw; "cpu ovh" is the dashboard calls' CPU time over
-- tr:step's (all threads: with 2 BLAS threads it can be up to 2x below the wall-time figure on
-- an idle machine). The loop redraws at most every max(0.2 s, 200 × the last draw's time), so
-- "draw bound" — the mean draw time over that interval — is what drawing can cost when steps are
-- shorter than the interval (at most 0.5% by construction).
-- Knobs (environment): BENCH_DASH_STEPS (40 timed steps per run), BENCH_DASH_ROUNDS (2),
-- BENCH_DASH_MODEL (small | demo).
local STEPS = tonumber(os.getenv("BENCH_DASH_STEPS") or "") or 40
local ROUNDS = tonumber(os.getenv("BENCH_DASH_ROUNDS") or "") or 2
local MODEL = os.getenv("BENCH_DASH_MODEL") or "small"
local MODELS = {
  small = {label = "U-Net 16 ch on 4x8x8, batch 8", shape = {4, 8, 8}, batch = 8,
           unet = {channels = 16, channel_mult = {1, 2}, num_blocks = 1, attn_resolutions = {4},
                   channels_per_head = 16}},
  demo = {label = "demo U-Net 32 ch on 4x16x16, batch 16", shape = {4, 16, 16}, batch = 16,
          unet = {channels = 32, channel_mult = {1, 2}, num_blocks = 1, attn_resolutions = {8},
                  channels_per_head = 32}},
}
local M = MODELS[MODEL] or error("BENCH_DASH_MODEL: small or demo, got " .. MODEL)
local WARMUP = 3
local D = lctw.dash
local methods = debug.getregistry()["lctw.Trainer"].__methods

local function make_trainer()
  local data = lctw.data.synthetic{n = 512, shape = M.shape, seed = 1}
  local o = {in_shape = M.shape, seed = 1}
  for k, v in pairs(M.unet) do o[k] = v end
  local model = lctw.model.unet(o)
  local tr = lctw.trainer{model = model, data = data, batch = M.batch, preset = "paper",
                          total_steps = 100000, s1 = 40, lr = 2e-4, ema = {0.99, 0.999}, seed = 1}
  for _ = 1, WARMUP do tr:step() end -- first steps allocate
  return tr
end

-- Replaces t[name] with a timed wrapper adding to acc[name] = {n=, s=, max=, cpu=}; returns the
-- undo. cpu: process CPU time (os.clock), which preemption by other work does not inflate.
local function timed(t, name, acc)
  local f = t[name]
  local a = {n = 0, s = 0, max = 0, cpu = 0}
  acc[name] = a
  local now, clock = lctw.time, os.clock
  t[name] = function(...)
    local t0, c0 = now(), clock()
    local r = table.pack(f(...))
    local dt = now() - t0
    a.n, a.s, a.cpu = a.n + 1, a.s + dt, a.cpu + (clock() - c0)
    if dt > a.max then a.max = dt end
    return table.unpack(r, 1, r.n)
  end
  return function() t[name] = f end
end

-- One run; dash: with the dashboard. Returns {wall=, step=, push=, draw=, poll=} (seconds / counts).
local function one_run(dash)
  local tr = make_trainer()
  collectgarbage()
  local acc, undo = {}, {}
  undo[#undo + 1] = timed(methods, "step", acc)
  for _, k in ipairs{"_push", "_draw", "_poll"} do undo[#undo + 1] = timed(D, k, acc) end
  local t0 = lctw.time()
  local ok, err = pcall(function()
    if dash then D.run(tr, {steps = STEPS}) else tr:run{steps = STEPS, quiet = true} end
  end)
  local wall = lctw.time() - t0
  for _, u in ipairs(undo) do u() end
  if not ok then error(err, 0) end
  if dash and acc._push.n ~= STEPS then -- e.g. a loop that keeps its own copies of the functions
    error(string.format("lctw.dash.run called lctw.dash._push %d times for %d steps: the " ..
      "dashboard calls cannot be timed", acc._push.n, STEPS), 0)
  end
  return {wall = wall, step = acc.step, push = acc._push, draw = acc._draw, poll = acc._poll}
end

-- --inner OUT: in a terminal, ROUNDS × (plain, dashboard); results as JSON.
if arg[1] == "--inner" then
  local res = {rounds = {}, lines = tonumber(os.getenv("LINES")), cols = tonumber(os.getenv("COLUMNS"))}
  local ok, err = pcall(function()
    if not D._usable() then error("no terminal in the child (stdout/stdin are not a tty)") end
    for r = 1, ROUNDS do
      res.rounds[r] = {plain = one_run(false), dash = one_run(true)}
    end
  end)
  if not ok then res.error = tostring(err) end
  local f = assert(io.open(arg[2], "w"))
  f:write(lctw.json.encode(res))
  f:close()
  return
end

-- ---- the report ----

local function exe() -- this interpreter: the lowest index of arg
  local i = -1
  while arg[i - 1] do i = i - 1 end
  return arg[i]
end

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function median(t)
  table.sort(t)
  local n = #t
  if n == 0 then return 0 / 0 end
  return n % 2 == 1 and t[(n + 1) // 2] or 0.5 * (t[n // 2] + t[n // 2 + 1])
end

-- Runs the inner benchmark at cols×lines; returns its decoded results or nil, why.
local function measure(cols, lines)
  local out = os.tmpname()
  local cmd = string.format("%s %s --inner %s", sh_quote(exe()), sh_quote(arg[0]), sh_quote(out))
  local env = string.format("LINES=%d COLUMNS=%d BENCH_DASH_STEPS=%d BENCH_DASH_ROUNDS=%d " ..
                            "BENCH_DASH_MODEL=%s", lines, cols, STEPS, ROUNDS, MODEL)
  if D._usable() then -- already in a terminal: a child on this one
    os.execute(env .. " " .. cmd)
  else
    local term = os.getenv("TERM")
    if not term or term == "" or term == "dumb" then env = env .. " TERM=xterm-256color" end
    local ok = os.execute("command -v script >/dev/null 2>&1")
    if not ok then
      os.remove(out)
      return nil, "needs a terminal: install util-linux (script) or run it in a terminal"
    end
    os.execute(string.format("%s script -qec %s /dev/null </dev/null >/dev/null 2>&1", env,
                             sh_quote(cmd)))
  end
  local f = io.open(out)
  local text = f and f:read("a") or ""
  if f then f:close() end
  os.remove(out)
  local ok, r = pcall(lctw.json.decode, text)
  if not ok or type(r) ~= "table" then return nil, "the child wrote no results" end
  if r.error then return nil, r.error end
  return r
end

print(string.format("dashboard overhead: %s, %d timed steps per run (after %d warm-up), %d " ..
  "round(s) of plain/dashboard per size", M.label, STEPS, WARMUP, ROUNDS))
print(string.format("%-9s %-9s %9s %13s %12s %6s %8s %9s %9s %9s %8s", "size", "run", "step ms",
  "loop ms/step", "dash ms/step", "draws", "draw ms", "draw max", "draw cpu", "overhead", "cpu ovh"))
local worst, worst_bound, failed = 0, 0, false
for _, sz in ipairs{{80, 24}, {200, 50}} do
  local r, why = measure(sz[1], sz[2])
  local label = string.format("%dx%d", sz[1], sz[2])
  if not r then
    print(string.format("%-9s %s: %s", label, why:find("^needs a terminal") and "skipped" or
      "FAILED", why))
    failed = failed or not why:find("^needs a terminal")
  else
    local agg = {plain = {}, dash = {}}
    for _, rd in ipairs(r.rounds) do
      for _, k in ipairs{"plain", "dash"} do
        local x = rd[k]
        local a = agg[k]
        local steps = x.step.n
        a.step = a.step or {}; a.loop = a.loop or {}; a.dash = a.dash or {}; a.wall = a.wall or {}
        a.pct = a.pct or {}; a.draws = a.draws or {}; a.draw_ms = a.draw_ms or {}
        a.draw_max = a.draw_max or {}; a.draw_cpu = a.draw_cpu or {}; a.cpu_pct = a.cpu_pct or {}
        local dash_s = x.push.s + x.draw.s + x.poll.s
        a.step[#a.step + 1] = 1e3 * x.step.s / steps
        a.loop[#a.loop + 1] = 1e3 * (x.wall - x.step.s) / steps
        a.dash[#a.dash + 1] = 1e3 * dash_s / steps
        a.wall[#a.wall + 1] = x.wall
        a.pct[#a.pct + 1] = 100 * dash_s / x.step.s
        a.draws[#a.draws + 1] = x.draw.n
        a.draw_ms[#a.draw_ms + 1] = x.draw.n > 0 and 1e3 * x.draw.s / x.draw.n or 0
        a.draw_max[#a.draw_max + 1] = 1e3 * x.draw.max
        a.draw_cpu[#a.draw_cpu + 1] = x.draw.n > 0 and 1e3 * x.draw.cpu / x.draw.n or 0
        a.cpu_pct[#a.cpu_pct + 1] = 100 * (x.push.cpu + x.draw.cpu + x.poll.cpu) / x.step.cpu
      end
    end
    for _, k in ipairs{"plain", "dash"} do
      local a = agg[k]
      if k == "plain" then
        print(string.format("%-9s %-9s %9.1f %13.3f %12s %6s %8s %9s %9s %9s %8s", label, "plain",
          median(a.step), median(a.loop), "-", "-", "-", "-", "-", "-", "-"))
      else
        local pct = median(a.pct)
        worst = math.max(worst, pct)
        print(string.format("%-9s %-9s %9.1f %13.3f %12.3f %6.0f %8.2f %9.2f %9.2f %8.3f%% %7.3f%%",
          label, "dashboard", median(a.step), median(a.loop), median(a.dash), median(a.draws),
          median(a.draw_ms), math.max(table.unpack(a.draw_max)), median(a.draw_cpu), pct,
          median(a.cpu_pct)))
      end
    end
    local function bound_of(ms) return 100 * ms / math.max(200, 200 * median(agg.dash.draw_ms)) end
    local bound = bound_of(median(agg.dash.draw_ms)) -- % of the redraw interval
    local bound_cpu = bound_of(median(agg.dash.draw_cpu))
    worst_bound = math.max(worst_bound, bound)
    print(string.format("%-9s end-to-end wall, dashboard / plain: %.3f (median of %d rounds; " ..
      "noisy on a busy machine); draw bound %.2f%% (by CPU time %.2f%%)", label,
      median(agg.dash.wall) / median(agg.plain.wall), #r.rounds, bound, bound_cpu))
  end
end
print(string.format("overhead = time in lctw.dash._push/_draw/_poll / time in tr:step (median " ..
  "over rounds); worst %.3f%% — %s (aim < 1%%)", worst, worst < 1 and "OK" or "ABOVE"))
print(string.format("draw bound = mean draw ms / max(200 ms, 200 x draw ms): the most drawing costs with " ..
  "short steps; worst %.2f%% — %s", worst_bound, worst_bound < 1 and "OK" or "ABOVE"))
if failed then os.exit(1) end
