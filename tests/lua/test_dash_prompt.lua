-- test_dash_prompt.lua — the dashboard prompt's Lua side without a terminal: compiling typed
-- chunks as the REPL does (lctw.repl.compile), running them with output captured
-- (lctw.dash._call: results, errors with their own traceback, stdout/stderr restored), the
-- output pane's scrollback (_print: tabs, escape codes, \r, long lines, the 1000-line ring), and
-- lctw.dash_repl.handle (tr and m in scope, globals, multi-line chunks, ";", errors) with Tab
-- completion seeing the same names. The terminal side is tests/repl/test_dash_prompt.sh.
local T = dofile("tests/lua/harness.lua")
local D = lctw.dash
local R = require "lctw.repl"
local P = require "lctw.dash_repl"

local function pane(n) return D._pane_text(n) end
local function last_lines(n)
  local t = {}
  for l in (pane(n) .. ""):gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

T.case("repl.compile: return-first, statements, =expr, ?x, incomplete, syntax errors", function()
  local f = R.compile("1 + 2")
  T.eq(type(f), "function")
  T.eq(f(), 3)
  T.eq(type(R.compile("x_cp = 5")), "function")
  T.eq(R.compile("=2 * 21")(), 42)
  T.eq(type(R.compile("?print")), "function")
  T.eq(R.compile("for i = 1, 2 do"), false, "incomplete")
  T.eq(R.compile("x = "), false, "incomplete expression")
  local g, err = R.compile("x y z")
  T.eq(g, nil)
  T.ok(err:find("syntax error", 1, true) or err:find("near", 1, true), err)
end)

T.case("_call captures print, io.write and stderr, returns results, restores stdout", function()
  local out, ok, a, b = D._call(function(x)
    print("hi", 1)
    io.write("w")
    io.stderr:write("e\n")
    return x + 1, "two"
  end, 41)
  T.eq(ok, true)
  T.eq(a, 42)
  T.eq(b, "two")
  -- stdout and stderr have their own buffers: both texts arrive, not necessarily interleaved
  T.ok(out:find("hi\t1\n", 1, true) and out:find("w", 1, true) and out:find("e\n", 1, true), out)
  T.eq(#out, #"hi\t1\nwe\n")
  local t = {}
  for i = 1, 300 do t[i] = i end
  local r = table.pack(D._call(table.unpack, t))
  T.eq(r.n, 302, "300 results")
  T.eq(r[302], 300)
  T.eq(select(3, D._call(select, "#", table.unpack(t))), 300, "300 arguments")
  local out2, ok2 = D._call(function() end)
  T.eq(out2, "", "nothing leaks from the previous call")
  T.eq(ok2, true)
  -- stdout is ours again: a pipe or file, written by the harness line after this case
end)

T.case("_call: an error gives its message and a traceback of its own frames only", function()
  local function inner() error("boom-inner") end
  local out, ok, msg, interrupted = D._call(function() print("before"); inner() end)
  T.eq(out, "before\n")
  T.eq(ok, false)
  T.eq(interrupted, false)
  T.ok(msg:find("boom-inner", 1, true), msg)
  T.ok(msg:find("in upvalue 'inner'", 1, true) or msg:find("inner", 1, true), msg)
  T.ok(not msg:find("harness.lua", 1, true), "frames under _call are not shown: " .. msg)
  local _, ok2, msg2 = D._call(function() error(setmetatable({}, {__tostring = function() return "obj!" end})) end)
  T.eq(ok2, false)
  T.ok(msg2:find("obj!", 1, true), msg2)
  local _, _, msg3 = D._call(function() error() end)
  T.ok(msg3:find("error object is a nil value", 1, true), msg3)
  local _, ok4, msg4 = D._call(function() coroutine.yield(1) end)
  T.eq(ok4, false)
  T.ok(msg4:find("yield", 1, true), msg4)
  local _, ok5, msg5 = D._call(42)
  T.eq(ok5, false)
  T.ok(msg5:find("call a number", 1, true), msg5)
end)

T.case("output pane: lines, tabs expanded, escape codes and \\r handled", function()
  D._print("plain line\n")
  T.eq(last_lines(1)[1], "plain line")
  D._print("a\tb\n")
  T.eq(last_lines(1)[1], "a       b")
  D._print("\27[1;31mred\27[0m text\n")
  T.eq(last_lines(1)[1], "red text")
  D._print("progress 10%\rprogress 100%\n")
  T.eq(last_lines(1)[1], "progress 100%")
  D._print("part one, ")
  D._print("part two\n")
  T.eq(last_lines(1)[1], "part one, part two")
  D._print("unfinished")
  T.eq(pane(1), "unfinished", "the unfinished line is the newest")
  D._print("\n")
end)

T.case("_print with many arguments keeps the Lua stack within bounds", function()
  -- each argument's string used to stay pushed: past the 20 free slots it wrote beyond the stack
  local t = {}
  for n = 20, 600, 7 do
    for i = 1, n do t[i] = i end
    D._print(table.unpack(t, 1, n))
    D._print("\n")
    collectgarbage() -- a corrupted stack or heap shows here
  end
  T.eq(last_lines(1)[1], table.concat(t, "", 1, 594))
end)

T.case("output pane: a long line is cut at a character boundary; 1000 lines are kept", function()
  D._print(string.rep("é", 3000) .. "\n") -- 6000 bytes
  local l = last_lines(1)[1]
  T.ok(#l <= 4096 + 3, "cut: " .. #l)
  T.ok(utf8.len(l) ~= nil, "still valid UTF-8")
  T.eq(l:sub(-3), "…")
  for i = 1, 1100 do D._print("ring " .. i .. "\n") end
  local all = last_lines(0)
  T.eq(#all, 1000)
  T.eq(all[1], "ring 101")
  T.eq(all[1000], "ring 1100")
end)

T.case("dash_repl.handle: tr and m in scope, globals, results, ';', multi-line, errors", function()
  local tr = {lr = 1e-4, name = "fake-trainer"}
  P.start{tr = tr}
  P.handle("tr.lr = 0.000123", {m = {step = 7}})
  T.eq(tr.lr, 0.000123, "an assignment through tr reaches the trainer")
  P.handle("=m.step * 6")
  T.eq(last_lines(1)[1], "42")
  P.handle("x_from_prompt = 5")
  T.eq(rawget(_G, "x_from_prompt"), 5, "a new global is a global")
  P.handle("tr.name, 1 + 1")
  T.eq(last_lines(1)[1], '"fake-trainer"  2')
  local before = pane(0)
  P.handle("1 + 1;")
  T.eq(pane(0), before, "a trailing ; prints nothing")
  P.handle("for i = 1, 2 do")
  T.eq(pane(0), before, "incomplete: nothing runs yet")
  P.handle("print('it' .. i) end")
  local l = last_lines(2)
  T.eq(l[1], "it1")
  T.eq(l[2], "it2")
  P.handle("error('typed-boom')")
  T.eq(last_lines(1)[1], "stdin:1: typed-boom", "a plain error shows its message only")
  P.handle("local function f() local t = nil; return t.x end f()")
  local e = pane(3)
  T.ok(e:find("attempt to index a nil value", 1, true), e)
  T.ok(e:find("stack traceback", 1, true) and e:find("in local 'f'", 1, true), e)
  P.handle("x y")
  T.ok(last_lines(1)[1]:find("syntax error", 1, true) or last_lines(1)[1]:find("near", 1, true))
  P.handle("print(#tostring(tr))")
  T.ok(tonumber(last_lines(1)[1]) ~= nil)
  P.stop()
  T.eq(rawget(_G, "tr"), nil, "tr was never a global")
  x_from_prompt = nil
end)

T.case("Tab completion sees tr while a session runs, the globals after it", function()
  local tr = setmetatable({}, {__index = {step = function() end, save = function() end}})
  P.start{tr = tr}
  local c = R.complete("tr:st")
  T.eq(#c, 1)
  T.eq(c[1], "tr:step(")
  T.eq(R.complete("lctw.ver")[1], "lctw.version")
  P.stop()
  T.eq(#R.complete("tr:st"), 0)
end)

T.done()
