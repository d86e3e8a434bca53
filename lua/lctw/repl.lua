-- lctw.repl — the Lua side of the REPL (src/repl/repl.c): the pretty printer for results, the
-- version line and the banner. The C side adds `complete` (Tab completion, usable from tests).
--
-- The printer must never take the session down: it walks tables with next/rawget only (no
-- __index, no __pairs), calls __tostring under pcall, stops at cycles, limits depth, entries per
-- table, entries in all and string length, and marks every cut with "…". It captures the library
-- functions it uses at load time, so a user who redefines `string` or `print` cannot break it.
local lctw = lctw

local type, tostring, next, rawget, pcall, select = type, tostring, next, rawget, pcall, select
local getmetatable = debug.getmetatable -- raw: ignores a __metatable field
local sformat, srep, sgsub, ssub, sbyte, sfind, smatch =
  string.format, string.rep, string.gsub, string.sub, string.byte, string.find, string.match
local tconcat, tsort = table.concat, table.sort
local mtype = math.type
local ulen = utf8.len

-- Columns a line takes (UTF-8 characters; bytes if it is not valid UTF-8).
local function width(s) return ulen(s) or #s end

local M = {}

-- Limits of the printer; change them live, e.g. require("lctw.repl").options.max_items = 500.
M.options = {
  width = 100,        -- a table fits on one line up to this many columns
  max_depth = 6,      -- nested tables deeper than this print as {…}
  max_items = 100,    -- entries shown per table
  max_total = 2000,   -- entries shown in all, per printed value
  max_string = 10000, -- bytes of a string shown
}

local KEYWORDS = {}
for w in ("and break do else elseif end false for function goto if in local nil not or repeat "
  .. "return then true until while"):gmatch("%a+") do
  KEYWORDS[w] = true
end

local ESC = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\",
  ["\a"] = "\\a", ["\b"] = "\\b", ["\f"] = "\\f", ["\v"] = "\\v" }
local function esc(c) return ESC[c] or sformat("\\%03d", sbyte(c)) end

-- A string as a Lua literal, cut after max bytes (at a UTF-8 character boundary).
local function quote(s, max)
  local n = #s
  local tail = ""
  if n > max then
    local cut = max
    while cut > 0 and (sbyte(s, cut + 1) or 0) >= 0x80 and (sbyte(s, cut + 1) or 0) < 0xC0 do
      cut = cut - 1
    end
    s = ssub(s, 1, cut)
    tail = sformat("… (%d bytes)", n)
  end
  return '"' .. sgsub(s, '[%c"\\]', esc) .. '"' .. tail
end
M.quote = function(s, max) return quote(s, max or M.options.max_string) end

-- Raises "interrupted" if Ctrl-C was pressed: a pcall below must not swallow an interrupt.
local function reraise_interrupt()
  if lctw and lctw.check_interrupt then lctw.check_interrupt() end
end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return s end
  reraise_interrupt()
  local why = type(s) == "string" and s or ("a " .. type(s) .. " value")
  return sformat("<%s: __tostring failed: %s>", type(v), why)
end

-- tostring of a table or userdata without its __tostring/__name: "table: 0x...".
local function address(v)
  local mt = getmetatable(v)
  if type(mt) == "table" and (rawget(mt, "__tostring") ~= nil or rawget(mt, "__name") ~= nil) then
    local s = sformat("%p", v)
    return type(v) .. ": " .. s
  end
  return tostring(v)
end

local function scalar(v, st)
  local tv = type(v)
  if tv == "string" then return quote(v, st.o.max_string) end
  if tv == "number" then
    if mtype(v) == "integer" then return sformat("%d", v) end
    if v ~= v then return "nan" end
    if v == 1 / 0 then return "inf" end
    if v == -1 / 0 then return "-inf" end
    local s = sformat("%.14g", v)
    if not sfind(s, "[%.eEn]") then s = s .. ".0" end
    return s
  end
  if tv == "nil" or tv == "boolean" then return tostring(v) end
  return nil
end

local function key_text(k, st)
  if type(k) == "string" and smatch(k, "^[%a_][%w_]*$") and not KEYWORDS[k] then return k end
  local s = scalar(k, st)
  if s == nil then s = has_tostring(k) and safe_tostring(k) or address(k) end
  return "[" .. s .. "]"
end

-- Order of keys: numbers, then strings, then booleans, then everything else (by address).
local RANK = { number = 1, string = 2, boolean = 3 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  local ra, rb = RANK[ta] or 4, RANK[tb] or 4
  if ra ~= rb then return ra < rb end
  if ra == 1 or ra == 2 then return a < b end
  if ra == 3 then return (not a) and b end
  return address(a) < address(b)
end

local render

-- Text of the table t (no __tostring) at column `indent`; lines after the first carry their
-- own indentation.
local function render_table(t, indent, st, depth)
  if st.path[t] then return "<cycle: " .. address(t) .. ">" end
  if next(t) == nil then return "{}" end
  if depth >= st.o.max_depth then return "{…}" end
  st.path[t] = true
  local o = st.o
  local items, multiline = {}, false -- items[i] = {text, key text or nil}
  local total = 0                     -- entries of t
  local shown = 0
  local function room() return shown < o.max_items and st.total < o.max_total end

  local n = 0 -- the array part 1..n
  while rawget(t, n + 1) ~= nil do
    n = n + 1
    if room() then
      shown, st.total = shown + 1, st.total + 1
      local s = render(rawget(t, n), indent + 2, st, depth + 1)
      if sfind(s, "\n", 1, true) then multiline = true end
      items[#items + 1] = { s }
    end
  end
  total = n
  local keys, cap = {}, 10 * o.max_items
  for k in next, t do
    if not (mtype(k) == "integer" and k >= 1 and k <= n) then
      total = total + 1
      if #keys < cap then keys[#keys + 1] = k end
    end
  end
  tsort(keys, key_less)
  for i = 1, #keys do
    if not room() then break end
    shown, st.total = shown + 1, st.total + 1
    local k = keys[i]
    local v = rawget(t, k)
    local s = render(v, indent + 2, st, depth + 1)
    local block = false
    if sfind(s, "\n", 1, true) then
      multiline = true
      block = type(v) ~= "table" or has_tostring(v) -- e.g. a tensor's rows of values
    end
    items[#items + 1] = { s, key_text(k, st), block }
  end
  st.path[t] = nil
  local more = total - shown
  local more_text = more > 0 and sformat("… (%d more)", more) or nil

  if not multiline then
    local parts = {}
    for i = 1, #items do
      local it = items[i]
      parts[i] = it[2] and (it[2] .. "=" .. it[1]) or it[1]
    end
    if more_text then parts[#parts + 1] = more_text end
    local line = "{" .. tconcat(parts, ", ") .. "}"
    if indent + width(line) <= o.width then return line end
  end
  -- one keyed entry per line; positional scalars packed up to the width
  local pad, out = srep(" ", indent + 2), { "{" }
  local cur
  local function flush()
    if cur then out[#out + 1] = cur; cur = nil end
  end
  for i = 1, #items do
    local it = items[i]
    local text
    if it[3] then -- a multi-line block starts on its own line, under the key
      text = it[2] .. " =\n" .. pad .. "  " .. sgsub(it[1], "\n", "\n  ") .. ","
    else
      text = (it[2] and (it[2] .. " = " .. it[1]) or it[1]) .. ","
    end
    if it[2] or sfind(text, "\n", 1, true) then
      flush()
      out[#out + 1] = pad .. text
    elseif cur and width(cur) + 1 + width(text) <= o.width then
      cur = cur .. " " .. text
    else
      flush()
      cur = pad .. text
    end
  end
  flush()
  if more_text then out[#out + 1] = pad .. more_text end
  out[#out + 1] = srep(" ", indent) .. "}"
  return tconcat(out, "\n")
end

render = function(v, indent, st, depth)
  local s = scalar(v, st)
  if s then return s end
  if has_tostring(v) then
    s = safe_tostring(v)
    if sfind(s, "\n", 1, true) and indent > 0 then s = sgsub(s, "\n", "\n" .. srep(" ", indent)) end
    return s
  end
  if type(v) == "table" then return render_table(v, indent, st, depth) end
  return address(v)
end

-- pretty(v [, options]) -> string: v as the REPL prints it.
function M.pretty(v, opts)
  local o = M.options
  if opts then
    o = {}
    for k, x in next, M.options do o[k] = x end
    for k, x in next, opts do o[k] = x end
  end
  return render(v, 0, { o = o, path = {}, total = 0 }, 0)
end

-- format_results(...) -> string: every value pretty-printed, separated by tabs.
function M.format_results(...)
  local n = select("#", ...)
  local out = {}
  for i = 1, n do out[i] = M.pretty((select(i, ...))) end
  return tconcat(out, "\t")
end

-- version_line([threads]) -> "lctw 0.1.0 — Lua 5.4.4 — cpu (N threads, OpenBLAS) — cuda: ..."
function M.version_line(threads)
  local b = lctw.build_info()
  threads = b.threads or threads or 1
  local blas = b.blas == "openblas" and "OpenBLAS" or "no BLAS"
  local cuda = "no device"
  local ok, avail = pcall(lctw.cuda.available)
  if ok and avail then
    local ok2, d = pcall(lctw.cuda.describe)
    cuda = ok2 and d or "available"
  end
  return sformat("lctw %s — %s — cpu (%d thread%s, %s) — cuda: %s", b.version, b.lua, threads,
    threads == 1 and "" or "s", blas, cuda)
end

function M.banner(threads)
  return M.version_line(threads) .. "\nhelp() for help, Ctrl-D to exit"
end

-- Names of the Lua standard functions, taken when this module loads (before user code runs).
local STD = {}
for _, name in ipairs({ "assert", "collectgarbage", "dofile", "error", "getmetatable", "ipairs",
  "load", "loadfile", "next", "pairs", "pcall", "print", "rawequal", "rawget", "rawlen", "rawset",
  "require", "select", "setmetatable", "tonumber", "tostring", "type", "xpcall", "warn" }) do
  local f = rawget(_G, name)
  if f then STD[f] = name end
end
for _, lib in ipairs({ "string", "table", "math", "io", "os", "coroutine", "utf8", "debug",
  "package" }) do
  local t = rawget(_G, lib)
  if type(t) == "table" then
    for k, f in next, t do
      if type(f) == "function" and type(k) == "string" then STD[f] = lib .. "." .. k end
    end
  end
end

-- describe(x) -> text or nil: what help() says about a value that has no help text.
function M.describe(x)
  if type(x) ~= "function" then return nil end
  local name = STD[x]
  if name then
    return sformat("%s — a function of the Lua 5.4 standard library.\n"
      .. "See https://www.lua.org/manual/5.4/manual.html#pdf-%s", name, name)
  end
  local ok, info = pcall(debug.getinfo, x, "S")
  if ok and info and info.what == "Lua" then
    return sformat("a Lua function defined at %s:%d (no help text; lctw._set_help(f, text) "
      .. "adds one)", info.short_src, info.linedefined)
  end
  return nil
end

if lctw and lctw._set_help then
  lctw._set_help(M.pretty, "repl.pretty(v [, options]) -> string\n\n"
    .. "The text the REPL prints for v: "
    .. "tables nested and indented, keys sorted, cycles marked, long tables cut with \"…\". "
    .. "options (and require(\"lctw.repl\").options): width, max_depth, max_items, max_total, "
    .. "max_string.")
end

return M
