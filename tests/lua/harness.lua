-- harness.lua — a tiny test harness for Lua test files run by bin/lctw from the project root.
--   local T = dofile("tests/lua/harness.lua")
--   T.case("name", function() T.near(a, b, 1e-6); T.errors(function() ... end, "pattern") end)
--   T.skip("name", "why")
--   T.done()   -- prints the summary and exits non-zero on failure
-- Each case prints one line: PASS/FAIL/SKIP <file>: <name> [detail].
local T = {}
local file = (arg and arg[0] or "?"):match("[^/]+$")
local passed, failed, skipped = 0, 0, 0
local detail

-- Optional note printed after PASS (e.g. the measured error).
function T.detail(fmt, ...) detail = string.format(fmt, ...) end

function T.case(name, fn)
  detail = nil
  local ok, err = xpcall(fn, function(e)
    if type(e) == "table" and e.skip then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if ok then
    passed = passed + 1
    print(string.format("PASS %s: %s%s", file, name, detail and (" " .. detail) or ""))
  elseif type(err) == "table" and err.skip then
    skipped = skipped + 1
    print(string.format("SKIP %s: %s: %s", file, name, err.why))
  else
    failed = failed + 1
    -- first line of the message, then the traceback indented
    print(string.format("FAIL %s: %s: %s", file, name, (tostring(err):gsub("\n", "\n    "))))
  end
  io.stdout:flush()
end

function T.skip(name, why)
  skipped = skipped + 1
  print(string.format("SKIP %s: %s: %s", file, name, why))
end

-- Inside a case: end it as skipped.
function T.skip_now(why) error({skip = true, why = why}, 0) end

function T.ok(cond, msg, ...)
  if not cond then error(string.format(msg or "check failed", ...), 2) end
end

function T.eq(a, b, msg)
  if a ~= b then
    error(string.format("%s: got %s, expected %s", msg or "eq", tostring(a), tostring(b)), 2)
  end
end

-- |a-b| <= atol + rtol*|b|
function T.near(a, b, atol, rtol, msg)
  rtol = rtol or 0
  if type(a) ~= "number" or type(b) ~= "number" or not (math.abs(a - b) <= atol + rtol * math.abs(b)) then
    error(string.format("%s: got %.9g, expected %.9g (atol %g, rtol %g)", msg or "near",
      tonumber(a) or 0/0, tonumber(b) or 0/0, atol, rtol), 2)
  end
end

-- fn() must raise an error whose message contains `pattern` (plain text match).
function T.errors(fn, pattern, msg)
  local ok, err = pcall(fn)
  if ok then error((msg or "expected an error") .. " (none raised)", 2) end
  err = tostring(err)
  if pattern and not err:find(pattern, 1, true) then
    error(string.format("%s: error %q does not contain %q", msg or "errors", err, pattern), 2)
  end
  return err
end

function T.done()
  print(string.format("%d passed, %d failed, %d skipped", passed, failed, skipped))
  os.exit(failed == 0 and 0 or 1)
end

return T
