-- lctw.dash_repl — lines typed at the dashboard's prompt (src/dash/prompt.c), run between two
-- training steps the way the plain REPL (src/repl/repl.c) runs them: `return <line>` first, then
-- the statement; "=expr"; "?x" for help(x); a chunk whose syntax error is at <eof> continues on a
-- ">> " prompt; a trailing ";" silences the results. What the code prints (print, io.write,
-- io.stderr, C code) and its results, pretty-printed by lctw.repl, go to the output pane; so do
-- errors, and an error never stops training. Ctrl-C while a typed line runs stops only that line.
--
-- Typed code sees the globals and, over them, `tr` (the trainer being run) and `m` (the metrics
-- of the last step); assigning a new global still sets the global. Tab completion sees the same
-- names while the dashboard is up (lctw.repl.scope).
--
--   local P = require "lctw.dash_repl"
--   P.start{tr = tr}                  -- when the dashboard opens
--   P.handle(line, {m = last})        -- a line from lctw.dash._poll ("line", text)
--   if P.pump() then draw() end       -- the prompt or the pane changed: redraw
--   P.stop()                          -- when it closes (also after an error)
local lctw = lctw
local D = lctw.dash
local R = require "lctw.repl"

local setmetatable, rawset, pairs, tostring = setmetatable, rawset, pairs, tostring
local tpack, tunpack, tconcat = table.pack, table.unpack, table.concat
local setupvalue, getupvalue = debug.setupvalue, debug.getupvalue

local M = {}

local scope          -- the names typed code sees: tr, m, then the globals
local pending        -- the start of a chunk that continues
local saved_scope    -- lctw.repl.scope before start

local function new_scope()
  local G = _G
  return setmetatable({}, { __index = G, __newindex = G })
end

local function merge(env)
  if env then
    for k, v in pairs(env) do rawset(scope, k, v) end
  end
end

-- Appends text to the pane, ending it with a newline.
local function say(text)
  if text ~= "" then
    D._print(text)
    if text:sub(-1) ~= "\n" then D._print("\n") end
  end
end

-- The message and the frames of a traceback that tell something: a typed `error("x")` has only
-- "[C]: in function 'error'" and "stdin:1: in main chunk", which the pane has no room for.
local function short_error(msg)
  local head, tb = msg:match("^(.-)\nstack traceback:\n(.*)$")
  if not head then return msg end
  local keep = {}
  for l in tb:gmatch("[^\n]+") do
    if not (l:match("^%s*%[C%]: in function 'error'$") or l:match("^%s*stdin:%d+: in main chunk$")
            or l:match("^%s*%(%.%.%.tail calls%.%.%.%)$")) then
      keep[#keep + 1] = l
    end
  end
  if #keep == 0 then return head end
  return head .. "\nstack traceback:\n" .. tconcat(keep, "\n")
end

local function ends_with_semicolon(chunk) return chunk:match(";%s*$") ~= nil end

-- Pretty-printed results, as wide as the pane (the printer may run __tostring: protected too).
local function show_results(r, first)
  local o = R.options
  local width = o.width
  o.width = D._pane_width()
  local f = tpack(D._call(R.format_results, tunpack(r, first, r.n)))
  o.width = width
  say(f[1])
  say(f[2] and f[3] or short_error(tostring(f[3])))
end

-- Starts a session: env's fields (tr = the trainer) become names typed code sees.
function M.start(env)
  scope = new_scope()
  merge(env)
  pending = nil
  saved_scope = R.scope
  R.scope = scope
  D._prompt()
end

-- Ends the session: completion sees the globals again; a half-typed chunk is dropped.
function M.stop()
  if scope and R.scope == scope then R.scope = saved_scope end
  saved_scope = nil
  pending = nil
  D._prompt()
end

-- Runs one typed line (env: names to update first, e.g. {m = last}). Returns true (the pane
-- changed). Never raises for anything the typed code does.
function M.handle(line, env)
  if not scope then M.start() end
  merge(env)
  local chunk = pending and (pending .. "\n" .. line) or line
  local f, err = R.compile(chunk)
  if f == false then -- incomplete: continue on the next line
    pending = chunk
    D._prompt(">> ")
    return true
  end
  pending = nil
  D._prompt()
  D._history_add(chunk)
  if not f then
    say(err)
    return true
  end
  if getupvalue(f, 1) == "_ENV" then setupvalue(f, 1, scope) end
  local r = tpack(D._call(f))
  say(r[1])
  if r[2] then
    if r.n > 2 and not ends_with_semicolon(chunk) then show_results(r, 3) end
  elseif r[4] then
    say("interrupted (training goes on)")
  else
    say(short_error(tostring(r[3])))
  end
  return true
end

-- True when the prompt line or the output pane changed since the last draw.
function M.pump()
  return D._prompt_dirty()
end

return M
