-- lctw.attach — `lctw --attach RUN_DIR` and lctw.dash.attach(run_dir): the live dashboard of a run
-- in another process, built by following its run_dir/metrics.jsonl like `tail -F`. Read-only:
-- files are only opened for reading, so detaching and re-attaching are always safe.
--
-- Following. About 5 times a second the file is stat'ed; new complete lines are decoded and
-- pushed (a partial last line waits for its newline). A different inode, a shorter file, changed
-- first line (it carries the first step's timing, so a new run differs) or a vanished file start
-- over from byte 0. A line whose step is <= the last one
-- shown means the run was resumed from a checkpoint or restarted into the same (appended) file:
-- the view then keeps the earlier lines with smaller steps and goes on from the new line. Those
-- rules depend only on the file's contents, so the view always equals a fresh attach.
--
-- The view is kept as segments of the file (byte ranges whose lines are shown, steps increasing)
-- rather than as the metrics themselves: a restart rebuilds the series by replaying the kept
-- segments (lctw.dash._reset, then _push), and memory does not grow with the run's length.
--
-- Without a terminal (a pipe, CI) it prints one line per new step instead, plus a line whenever
-- the state changes (waiting, running, idle, stopped, restarted). q, F10 or Ctrl-C detach.
local lctw = lctw
local json = lctw.json
local D = lctw.dash

local M = {}

local IDLE_S = 10           -- no new line for longer than this: "idle"
local POLL_S = 0.2          -- file polls (and at most one redraw) per 0.2 s
local CHUNK = 4 << 20       -- bytes read at a time (a long backlog is read in pieces)
local HEAD = 4096           -- the first line (at most this long) identifies the file's contents
local MAX_LINE = 16 << 20   -- a longer "line" is dropped as malformed (memory stays bounded)

local function fmt_time(s)
  if not s or s ~= s or s >= 1e15 or s < 0 then return "?" end -- ("%d" needs 64-bit integers)
  if s < 60 then return string.format("%.0fs", s) end
  if s < 3600 then return string.format("%dm%02ds", s // 60, math.floor(s % 60)) end
  return string.format("%dh%02dm", s // 3600, math.floor(s % 3600) // 60)
end

local function num(fmt, v)
  if fmt == "%d" then v = math.type(v) and math.tointeger(v) end -- 1.5 or 1e300: not for "%d"
  return type(v) == "number" and string.format(fmt, v) or "-"
end

-- pcall that never swallows Ctrl-C
local function try(f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] and tostring(r[2]):find("interrupted", 1, true) then error(r[2], 0) end
  return table.unpack(r, 1, r.n)
end

-- ---- the follower: file state and the view, independent of how it is shown ----

local Follower = {}
Follower.__index = Follower

local function new_follower(dir, sink)
  local f = setmetatable({dir = dir, path = dir .. "/metrics.jsonl", run_path = dir .. "/run.json",
                          sink = sink, restarts = 0, rate_pts = {}}, Follower)
  f:clear(true)
  return f
end

-- Forget the file: the next poll reads it from byte 0 (a fresh attach).
function Follower:clear(quiet)
  if self.fh then self.fh:close() end
  self.fh, self.ino, self.dev, self.head = nil, nil, nil, nil
  self.pos, self.partial, self.partial_off, self.skip_line = 0, "", 0, false
  self.view, self.last, self.last_step, self.n, self.bad, self.bad_msg = {}, nil, nil, 0, 0, nil
  self.rate_pts = {}
  if not quiet then self.sink.reset() end
end

-- One decoded line at bytes [off, off2): nil and a message when it is not a metrics object.
local function decode_line(line)
  local ok, m = try(json.decode, line)
  if not ok then return nil, (tostring(m):gsub("^lctw%.json%.decode: ", "")) end
  if type(m) ~= "table" or math.type(m.step) ~= "integer" then
    return nil, "not a metrics object (no integer \"step\")"
  end
  return m
end

-- Calls fn(line, off, off2) for each complete line of text (text starts at file offset base);
-- returns the byte index of the unfinished rest.
local function each_line(text, base, fn)
  local i = 1
  while true do
    local j = text:find("\n", i, true)
    if not j then return i end
    fn(text:sub(i, j - 1), base + i - 1, base + j)
    i = j + 1
  end
end

function Follower:read_range(from, to)
  self.fh:seek("set", from)
  return self.fh:read(to - from) or ""
end

-- Calls fn(line, off, off2) for the complete lines in bytes [from, to), reading in pieces.
function Follower:scan(from, to, fn)
  local rest, rest_off, pos = "", from, from
  while pos < to do
    local data = self:read_range(pos, math.min(to, pos + CHUNK))
    if #data == 0 then break end
    pos = pos + #data
    local text = rest .. data
    local r = each_line(text, rest_off, fn)
    rest_off, rest = rest_off + r - 1, text:sub(r)
  end
end

-- The first line of the file (or as much of it as there is, up to HEAD bytes).
function Follower:read_head(size)
  local h = self:read_range(0, math.min(HEAD, size))
  local nl = h:find("\n", 1, true)
  return nl and h:sub(1, nl) or h
end

-- The run went back to step s: keep the lines with smaller steps and rebuild the series.
function Follower:cut(s)
  local keep = {}
  for _, seg in ipairs(self.view) do
    if seg.lo < s then keep[#keep + 1] = seg end
  end
  self.sink.reset()
  self.view, self.last, self.n = keep, nil, 0
  for _, seg in ipairs(keep) do
    seg.open = false
    local stop
    self:scan(seg.from, seg.to, function(line, off)
      if stop then return end
      local m = decode_line(line)
      if not m then return end
      if m.step >= s then stop = off return end
      self.last, self.n, seg.hi = m, self.n + 1, m.step
      self.sink.push(m, false)
    end)
    if stop then seg.to = stop end
  end
  self.rate_pts = {}
end

function Follower:line(line, off, off2, live)
  if line:find("^%s*$") then return end
  local m, why = decode_line(line)
  if not m then
    self.bad, self.bad_msg = self.bad + 1, string.format("byte %d: %s", off, why)
    self.sink.bad(self.bad_msg)
    return
  end
  if self.last_step and m.step <= self.last_step then
    local was = self.last_step
    self:cut(m.step)
    self.restarts = self.restarts + 1
    self.sink.note(string.format("the run went back from step %d to step %d (resumed from a " ..
      "checkpoint or restarted): view reset", was, m.step))
  end
  local seg = self.view[#self.view]
  if seg and seg.open then
    seg.to, seg.hi = off2, m.step
  else
    self.view[#self.view + 1] = {from = off, to = off2, lo = m.step, hi = m.step, open = true}
  end
  self.last, self.last_step, self.n = m, m.step, self.n + 1
  self.sink.push(m, live)
end

-- run.json (written by the trainer): total_steps, batch, pid, schedule. Re-read when it changes.
function Follower:poll_run()
  local st = lctw.stat(self.run_path)
  if not st then return end
  local id = string.format("%d:%d:%d:%.6f", st.dev, st.ino, st.size, st.mtime)
  if id == self.run_id then return end
  local fh = io.open(self.run_path, "rb")
  if not fh then return end
  local text = fh:read("a") or ""
  fh:close()
  local ok, r = try(json.decode, text)
  if not ok or type(r) ~= "table" then return end -- half-written: try again next poll
  self.run_id, self.run = id, r
  self.total = math.type(r.total_steps) == "integer" and r.total_steps or nil
  self.pid = math.type(r.pid) == "integer" and r.pid or nil
  -- the curriculum's plan for the c panel; a malformed one is left out, never fatal
  if type(r.schedule) == "table" then try(self.sink.schedule, r) end
end

-- Reads what is new; live: the lines are arriving now (false for the backlog read at attach).
-- Returns true when the view changed.
function Follower:poll(live)
  self:poll_run()
  local st = lctw.stat(self.path)
  if not st or st.kind ~= "file" then
    if self.fh then
      self.sink.note(self.path .. " disappeared; waiting for it")
      self:clear()
    end
    self.exists, self.age = false, nil
    return false
  end
  self.exists, self.age = true, st.age
  local changed = false
  if self.fh and (st.ino ~= self.ino or st.dev ~= self.dev or st.size < self.pos) then
    self.sink.note(self.path .. (st.ino ~= self.ino and " was replaced" or " was truncated") ..
      "; reading it from the start")
    self:clear()
    changed = true
  end
  if not self.fh then
    self.fh = io.open(self.path, "rb")
    if not self.fh then return changed end
    self.ino, self.dev = st.ino, st.dev
  end
  if st.size <= self.pos then return changed end
  if self.head and self.head ~= self:read_range(0, #self.head) then -- rewritten in place
    self.sink.note(self.path .. " was rewritten; reading it from the start")
    self:clear()
    return self:poll(live)
  end
  if not self.head or (#self.head < HEAD and self.head:sub(-1) ~= "\n") then
    self.head = self:read_head(st.size)
  end
  local start = self.pos
  while self.pos < st.size do -- everything there is now (the backlog too) in this poll
    local data = self:read_range(self.pos, math.min(st.size, self.pos + CHUNK))
    if #data == 0 then break end
    self.pos = self.pos + #data
    local text = self.partial .. data
    local rest = each_line(text, self.partial_off, function(line, off, off2)
      if self.skip_line then self.skip_line = false return end -- the end of an overlong line
      self:line(line, off, off2, live)
    end)
    self.partial_off = self.partial_off + rest - 1
    self.partial = text:sub(rest)
    if #self.partial > MAX_LINE then
      self.bad = self.bad + 1
      self.bad_msg = string.format("byte %d: a line longer than %d bytes", self.partial_off, MAX_LINE)
      self.sink.bad(self.bad_msg)
      self.partial_off, self.partial = self.partial_off + #self.partial, ""
      self.skip_line = true
    end
  end
  if live and self.last then -- (time, step) of the newest line seen arriving: the ETA's rate
    local pts, now = self.rate_pts, lctw.time()
    if #pts == 0 or pts[#pts][2] ~= self.last.step then pts[#pts + 1] = {now, self.last.step} end
    while #pts > 2 and now - pts[1][1] > 60 do table.remove(pts, 1) end
  end
  return changed or self.pos > start
end

-- "running" | "idle Ns" | "stopped" | "waiting for ..."
function Follower:state()
  if not self.exists then return "waiting for " .. self.path end
  if self.pid and not lctw.pid_alive(self.pid) then return "stopped" end
  if self.age and self.age > IDLE_S then return string.format("idle %ds", math.floor(self.age)) end
  return "running"
end

-- Steps per second: from lines seen arriving (>= 1 s apart), else the trainer's step time.
function Follower:rate()
  local pts = self.rate_pts
  if #pts >= 2 then
    local a, b = pts[1], pts[#pts]
    if b[1] - a[1] >= 1 and b[2] > a[2] then return (b[2] - a[2]) / (b[1] - a[1]) end
  end
  local m = self.last
  if m and type(m.step_s) == "number" and m.step_s > 0 then return 1 / m.step_s end
  return nil
end

function Follower:eta()
  local r, m = self:rate(), self.last
  if not (r and m and self.total) then return "?" end
  return fmt_time((self.total - m.step) / r)
end

function Follower:status()
  local m, total = self.last, self.total and tostring(self.total) or "?"
  local s
  if m then
    s = string.format("step %d/%s  N=%s  lr %s  %s samples/s  ETA %s  upd %s ago", m.step, total,
      num("%d", m.N), num("%.2g", m.lr), num("%.0f", m.samples_per_s), self:eta(),
      fmt_time(self.age)) .. "  "
  elseif not self.exists then
    s = ""
  else
    s = string.format("%s: no steps yet  ", self.dir)
  end
  s = s .. self:state()
  if self.bad > 0 then s = s .. string.format("  bad lines %d", self.bad) end
  return s
end

-- ---- the two front ends ----

local function progress_line(f, m)
  return string.format("step %d/%s  N=%s  loss %s  c %s  lr %s  %s samples/s  ETA %s%s%s",
    m.step, f.total and tostring(f.total) or "?", num("%d", m.N), num("%.4g", m.loss),
    num("%.3g", m.c), num("%.2g", m.lr), num("%.1f", m.samples_per_s), f:eta(),
    m.skipped == true and "  [skipped: non-finite]" or "",
    f.bad > 0 and string.format("  [bad lines: %d]", f.bad) or "")
end

-- Pipe mode: progress lines on stdout; returns when opts.once (after the first read).
local function attach_lines(dir, opts)
  local f
  local live = false
  local CLOSED = {} -- raised when stdout is gone (`lctw --attach DIR | head`, SIGPIPE ignored)
  local out = opts.print or function(s)
    if not (io.stdout:write(s, "\n") and io.stdout:flush()) then error(CLOSED, 0) end
  end
  local sink = {
    reset = function() end,
    schedule = function() end,
    push = function(m, is_live) if is_live then out(progress_line(f, m)) end end,
    bad = function(msg) if live then out("skipped a malformed line at " .. msg) end end,
    note = function(msg) out(msg) end,
  }
  f = new_follower(dir, sink)
  out(string.format("attached to %s (read-only; Ctrl-C detaches)", dir))
  local state
  local ok, err = pcall(function()
    while true do
      f:poll(live)
      if not live then -- the backlog: one summary line and the last step
        live = true
        if f.n > 0 then
          out(string.format("%s: %d steps logged so far%s", f.path, f.n,
            f.bad > 0 and string.format(" (%d malformed lines skipped)", f.bad) or ""))
          out(progress_line(f, f.last))
        end
      end
      local s = f:state():gsub(" %d+s$", "") -- "idle 12s" -> "idle": print changes of kind only
      if s ~= state then
        state = s
        out("state: " .. f:state())
      end
      if opts.once then break end
      lctw.sleep(POLL_S)
    end
  end)
  if f.fh then f.fh:close() end
  if not ok and err ~= CLOSED then
    if tostring(err):find("interrupted", 1, true) then
      pcall(out, "detached from " .. dir)
    else
      error(err, 0)
    end
  end
  return {steps = f.n, last = f.last, restarts = f.restarts, bad = f.bad, state = f:state()}
end

-- Dashboard mode: curses until q/F10/Ctrl-C.
local function attach_dash(dir, opts)
  local ascii = opts.ascii
  if ascii == nil then ascii = D.ascii end
  local f
  local sink = {
    push = function(m) D._push(m) end,
    reset = function()
      if D._reset then D._reset()
      elseif D._close then D._close() D._open(ascii, {prompt = false}) end -- clears the series
    end,
    schedule = function(s) if D._schedule then D._schedule(s) end end,
    bad = function() end,
    note = function() end,
  }
  if D._reset then D._reset() end -- a dashboard shown before in this process leaves its series
  D._open(ascii, {prompt = false})
  local paused, last_draw, last_status = false, -math.huge, nil
  local ok, err = pcall(function()
    f = new_follower(dir, sink)
    while true do
      local t0 = lctw.time()
      local changed = false
      if not paused then
        changed = f:poll(f.polled)
        f.polled = true
      end
      local status = f:status()
      if changed or status ~= last_status or t0 - last_draw >= 1 then
        D._draw(status, paused)
        last_draw, last_status = lctw.time(), status
      end
      local wait = math.max(0, math.floor(1000 * (POLL_S - (lctw.time() - t0))))
      local k, redraw = D._poll(wait), false
      while k do
        if k == "quit" then return end
        if k == "pause" then paused = not paused end
        redraw = redraw or k ~= "other"
        k = D._poll(0)
      end
      if redraw then
        D._draw(f:status(), paused)
        last_draw = lctw.time()
      end
      if opts.once then return end
    end
  end)
  D._close()
  if f and f.fh then f.fh:close() end
  if not ok and not tostring(err):find("interrupted", 1, true) then error(err, 0) end
  return {steps = f and f.n or 0, last = f and f.last, restarts = f and f.restarts or 0,
          bad = f and f.bad or 0, state = f and f:state() or "?"}
end

-- lctw.dash.attach(run_dir [, {ascii=, lines=, once=}]) -> summary | nil, message
function M.attach(dir, opts)
  opts = opts or {}
  if type(dir) ~= "string" or dir == "" then
    return nil, "attach: expected a run directory (a string), got " .. type(dir)
  end
  dir = dir:gsub("(.)/+$", "%1")
  local st, why = lctw.stat(dir)
  if not st then return nil, "attach: no such run directory: " .. why end
  if st.kind ~= "dir" then return nil, "attach: " .. dir .. " is not a directory" end
  local lines = opts.lines
  if lines == nil then lines = not D._usable() end
  if lines then return attach_lines(dir, opts) end
  return attach_dash(dir, opts)
end

-- `lctw --attach DIR [--ascii]` (src/main.c): true, or nil and the message for "lctw: ..."
function M.main(dir, ascii)
  local r, err = M.attach(dir, {ascii = ascii or nil})
  if not r then return nil, err end
  return true
end

D.attach = function(dir, opts)
  local r, err = M.attach(dir, opts)
  if not r then error(err, 2) end
  return r
end
lctw._set_help(D.attach, [[lctw.dash.attach(run_dir [, {ascii=, lines=, once=}]) -> summary
Shows the live dashboard of a run in another process (lctw --attach RUN_DIR does the same) by
following run_dir/metrics.jsonl like tail -F, read-only. The status line shows step/total (total
from run_dir/run.json, "?" without it), N, lr, samples/s, ETA, the age of the last update and the
state: running, idle Ns (no new line for > 10 s), stopped (run.json's pid is gone) or waiting for
the file. A restarted or resumed run (the file replaced or truncated, or a step <= the last one)
resets the view to what a fresh attach shows. q, F10 or Ctrl-C detach. Without a terminal (or with
lines=true) it prints one line per new step instead; once=true returns after the first read.
Returns {steps=, last=, restarts=, bad=, state=}.]])

return M
