-- lctw.dash — the live dashboard's training loop (lctw.dash.run; tr:run{dash=true} calls it).
-- Mirrors tr:run: one protected unit per step, stop (F10/Esc 0, on_step returning false) or Ctrl-C
-- at a step boundary with the state consistent, returns the last metrics (and "interrupted" after
-- Ctrl-C). Curses is closed on every way out before anything is printed or an error re-raised.
-- Drawing happens at most every 0.2 s; keys are polled between steps (about 20 Hz while paused).
-- F2/Esc 2 saves a checkpoint (o.checkpoint, else run_dir/checkpoint.safetensors) between steps.
local lctw = lctw
local D = lctw.dash
local methods = debug.getregistry()["lctw.Trainer"].__methods
local prompt = require "lctw.dash_repl" -- lines typed at the prompt

local function fmt_time(s)
  if s ~= s or s == math.huge then return "?" end
  if s < 60 then return string.format("%.0fs", s) end
  if s < 3600 then return string.format("%dm%02ds", s // 60, math.floor(s % 60)) end
  return string.format("%dh%02dm", s // 3600, math.floor(s % 3600) // 60)
end

-- Joins the non-empty segments {text, priority} with two spaces; when wider than cols (> 0),
-- with one space, then without the lowest-priority segments until it fits.
local function fit(segs, cols)
  local keep = {}
  for i, sg in ipairs(segs) do if sg[1] ~= "" then keep[#keep + 1] = {sg[1], sg[2], i} end end
  local function join(sep)
    local t = {}
    for _, sg in ipairs(keep) do t[#t + 1] = sg[1] end
    return table.concat(t, sep)
  end
  if cols <= 0 or #join("  ") <= cols then return join("  ") end
  while #keep > 1 and #join(" ") > cols do
    local lo = 1
    for i, sg in ipairs(keep) do if sg[2] < keep[lo][2] then lo = i end end
    table.remove(keep, lo)
  end
  return join(" ")
end

return function(tr, o)
  o = o or {}
  if not D._usable() then -- no terminal: the plain loop with progress lines
    local o2 = {}
    for k, v in pairs(o) do o2[k] = v end
    o2.dash = false
    return methods.run(tr, o2)
  end
  local steps = o.steps or (tr.total_steps - tr.steps)
  local ascii = o.ascii
  if ascii == nil then ascii = D.ascii end
  local t0, done, last, stop, paused = lctw.time(), 0, nil, false, false
  -- redraws at most every 0.2 s, and never more often than 200× a redraw's own cost, so the
  -- drawing stays under ~0.5% of the wall time even with very short steps
  local last_draw, draw_every, ckpt = -math.huge, 0.2, "none"
  -- the plan for the c panel, the device and memory for the status line, F2 saves
  local plan = tr:schedule()
  local device = tr.device or "cpu"
  local function mem()
    local mm = lctw.memory()
    local b = device == "cuda" and mm.cuda_in_use or mm.cpu_in_use
    if b >= 2 ^ 30 then return string.format("%.1fG", b / 2 ^ 30) end
    return string.format("%.0fM", b / 2 ^ 20)
  end
  local function save_path()
    if o.checkpoint then return o.checkpoint end
    if tr.run_dir ~= "" then return tr.run_dir .. "/checkpoint.safetensors" end
  end
  local function save_now()
    local path = save_path()
    if not path then ckpt = "F2: no checkpoint= or run_dir"; return end
    local ok, err = pcall(tr.save, tr, path)
    ckpt = ok and string.format("%s@%d", path:match("[^/]*$"), tr.steps)
      or ("save FAILED: " .. tostring(err):gsub("\n.*", ""))
  end

  local function status()
    local m = last
    local el = lctw.time() - t0
    local eta = done > 0 and el / done * (steps - done) or math.huge
    if not m then return string.format("step %d/%d  starting...", tr.steps, tr.total_steps) end
    return fit({ -- {text, priority}: the lowest priorities go first when the line is too wide
      {string.format("step %d/%d", m.step, tr.total_steps), 9},
      {string.format("N=%d (%d/%d)", m.N, m.stage, #plan.stages), 6},
      {string.format("lr %.2g", m.lr), 8},
      {string.format("%.0f samples/s", m.samples_per_s), 3},
      {"ETA " .. fmt_time(eta), 7},
      {"ckpt " .. ckpt, 5},
      {device .. " " .. mem(), 4},
      {m.skipped and "[skipped: non-finite]" or "", 10},
    }, D._cols())
  end
  local function draw()
    local t_draw = lctw.time()
    D._draw(status(), paused)
    local now = lctw.time()
    draw_every = math.max(0.2, 200 * (now - t_draw))
    last_draw = now
  end
  local function key(k, text) -- returns true when the screen should be redrawn now
    if k == "quit" then stop = "key"
    elseif k == "pause" then paused = not paused
    elseif k == "save" then save_now()
    elseif k == "line" then -- a typed line runs here, between two steps
      draw() -- its echo shows while it runs
      prompt.handle(text, { m = last })
    end
    return k ~= nil
  end
  local function keys(wait_ms)
    local k, text = D._poll(wait_ms)
    local redraw = false
    while k do
      redraw = key(k, text) or redraw
      k, text = D._poll(0)
    end
    if redraw or prompt.pump() then draw() end
  end

  local function iteration() -- one step with its drawing, keys and callbacks, as one unit
    local m = methods.step(tr)
    done, last = done + 1, m
    D._push(m)
    methods._after_step(tr, o, done)
    if o.checkpoint and o.checkpoint_every and done % o.checkpoint_every == 0 then
      ckpt = string.format("%s@%d", o.checkpoint:match("[^/]*$"), tr.steps)
    end
    if o.on_step and o.on_step(m, tr) == false then stop = true end
    keys(0)
    if lctw.time() - last_draw >= draw_every then draw() end
    while paused and not stop do keys(50) end
  end

  D._reset()
  D._schedule(plan)
  D._open(ascii)
  prompt.start{ tr = tr }
  local ok, err = pcall(function()
    draw()
    while done < steps and not stop do iteration() end
    if o.checkpoint then
      tr:save(o.checkpoint)
      ckpt = string.format("%s@%d", o.checkpoint:match("[^/]*$"), tr.steps)
    end
    draw()
  end)
  prompt.stop()
  D._close()
  if not ok then
    if tostring(err):find("interrupted", 1, true) then
      print(string.format("stopped at step %d (state consistent; tr:run{...} continues)", tr.steps))
      return last, "interrupted"
    end
    error(err, 0)
  end
  if stop == "key" and done < steps then
    print(string.format("stopped at step %d (F10 or Esc 0; tr:run{...} continues)", tr.steps))
  end
  return last
end
