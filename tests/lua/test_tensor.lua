-- test_tensor.lua — the Lua tensor bindings (src/lua/l_tensor.c): creation, properties, views,
-- indexing, arithmetic, reductions, statistics, printing, memory and errors. Expected values
-- are computed here in plain Lua doubles from the same inputs (inputs are chosen exactly
-- representable in float32, so the only differences are the float32 results' rounding).
local T = dofile("tests/lua/harness.lua")
local tensor = lctw.tensor
local has_cuda = lctw.cuda.available()

-- ---- helpers ----

-- Deterministic pseudo-random integers (an LCG), so inputs are reproducible and exact.
local function lcg(seed)
  local s = seed
  return function(lo, hi)
    s = (s * 1103515245 + 12345) % 2147483648
    return lo + s % (hi - lo + 1)
  end
end

-- A rows×cols Lua matrix of multiples of 1/8 in [-8, 8] (exact in float32).
local function lua_matrix(rows, cols, seed)
  local r, m = lcg(seed), {}
  for i = 1, rows do
    m[i] = {}
    for j = 1, cols do m[i][j] = r(-64, 64) / 8 end
  end
  return m
end

local function flatten(x, out)
  out = out or {}
  if type(x) == "number" then
    out[#out + 1] = x
  else
    for _, v in ipairs(x) do flatten(v, out) end
  end
  return out
end

-- Compares nested tables/numbers: |a-b| <= atol + rtol*|b| for every entry.
local function near_all(got, exp, atol, rtol, what)
  local g, e = flatten(got), flatten(exp)
  T.eq(#g, #e, (what or "values") .. ": element count")
  local worst = 0
  for i = 1, #e do
    local err = math.abs(g[i] - e[i])
    if not (err <= atol + (rtol or 0) * math.abs(e[i])) then
      error(string.format("%s: element %d is %.9g, expected %.9g", what or "values", i, g[i], e[i]), 2)
    end
    if err > worst then worst = err end
  end
  return worst
end

local function shape_eq(t, exp, what)
  local s = t:shape()
  T.eq(#s, #exp, (what or "shape") .. " rank")
  for i = 1, #exp do T.eq(s[i], exp[i], (what or "shape") .. " dim " .. i) end
end

local function lua_sum(v) local s = 0; for _, x in ipairs(v) do s = s + x end; return s end

local function lua_moments(v)
  local n = #v
  local mean = lua_sum(v) / n
  local m2, m3, m4 = 0, 0, 0
  local mn, mx = math.huge, -math.huge
  for _, x in ipairs(v) do
    local d = x - mean
    m2, m3, m4 = m2 + d * d, m3 + d * d * d, m4 + d * d * d * d
    mn, mx = math.min(mn, x), math.max(mx, x)
  end
  m2, m3, m4 = m2 / n, m3 / n, m4 / n
  return {n = n, mean = mean, var = m2, var_unbiased = m2 * n / (n - 1), skew = m3 / m2 ^ 1.5,
          kurtosis = m4 / (m2 * m2) - 3, min = mn, max = mx}
end

-- ---- Philox4x32-10 reference (rng.h describes the construction; written here independently)
local M32 = 0xffffffff
local function philox(c0, c1, c2, c3, k0, k1)
  for r = 0, 9 do
    if r > 0 then k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32 end
    local p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2 -- wraps mod 2^64: the bits are right
    local hi0, lo0 = (p0 >> 32) & M32, p0 & M32
    local hi1, lo1 = (p1 >> 32) & M32, p1 & M32
    c0, c1, c2, c3 = hi1 ~ c1 ~ k0, lo1, hi0 ~ c3 ~ k1, lo0
  end
  return {c0, c1, c2, c3}
end
local function block(seed, stream, b)
  return philox(b & M32, (b >> 32) & M32, stream, 0, seed & M32, (seed >> 32) & M32)
end
local function u01(x) return ((x >> 9) + 0.5) / 8388608 end -- exact in float32
local function ref_uniform(seed, stream, offset, j)
  return u01(block(seed, stream, offset + j // 4)[j % 4 + 1])
end
local function ref_normal(seed, stream, offset, j)
  local o = block(seed, stream, offset + j // 4)
  local lane = j % 4
  local pair = lane & 2
  local u0, u1 = u01(o[pair + 1]), u01(o[pair + 2])
  local r, a = math.sqrt(-2 * math.log(u0)), 2 * math.pi * u1
  return lane % 2 == 1 and r * math.sin(a) or r * math.cos(a)
end

-- ---- creation ----

T.case("zeros/ones/full: shapes as a table or integers, values", function()
  local z = tensor.zeros({2, 3})
  shape_eq(z, {2, 3})
  near_all(z:totable(), {{0, 0, 0}, {0, 0, 0}}, 0)
  local o = tensor.ones(4)
  shape_eq(o, {4})
  near_all(o:totable(), {1, 1, 1, 1}, 0)
  local f = tensor.full({2, 2}, 7.5)
  near_all(f:totable(), {{7.5, 7.5}, {7.5, 7.5}}, 0)
  local g = tensor.full(2, 3, -2)
  shape_eq(g, {2, 3})
  near_all(g:totable(), {{-2, -2, -2}, {-2, -2, -2}}, 0)
  shape_eq(tensor.zeros(2, 3, 4, 5), {2, 3, 4, 5})
  local s = tensor.zeros({})
  T.eq(s:dim(), 0, "0-d dim")
  T.eq(s:numel(), 1, "0-d numel")
  T.eq(tensor.zeros(0, 3):numel(), 0, "empty numel")
  T.eq(z:device(), "cpu", "device")
  T.eq(tensor.empty(3, {device = "cpu"}):numel(), 3, "empty()")
end)

T.case("from: nested tables of 1 to 4 levels round-trip through totable", function()
  local cases = {
    {1.5, -2, 3},
    {{1, 2, 3}, {4, 5, 6}},
    {{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}, {{9, 10}, {11, 12}}},
    {{{{1}, {2}}, {{3}, {4}}}, {{{5}, {6}}, {{7}, {8}}}},
  }
  local shapes = {{3}, {2, 3}, {3, 2, 2}, {2, 2, 2, 1}}
  for k, c in ipairs(cases) do
    local t = tensor.from(c)
    shape_eq(t, shapes[k], "case " .. k)
    near_all(t:totable(), c, 0, 0, "case " .. k)
  end
  local s = tensor.from(2.25)
  T.eq(s:dim(), 0, "scalar dim")
  T.eq(s:totable(), 2.25, "scalar totable")
  T.eq(s:item(), 2.25, "item")
  local copy = tensor.from(tensor.from{1, 2})
  near_all(copy:totable(), {1, 2}, 0)
  shape_eq(tensor.from{}, {0})
end)

T.case("from: ragged and non-number entries are named", function()
  T.errors(function() tensor.from{{1, 2, 3}, {4, 5}} end,
    "ragged table: entry [2] has 2 elements, expected 3")
  T.errors(function() tensor.from{{1, 2}, {3, "x"}} end, "entry [2][2] is string, expected a number")
  T.errors(function() tensor.from{{1, 2}, 3} end, "entry [2] is number, expected a table of 2 elements")
  T.errors(function() tensor.from{{{1, 2}, {3, 4}}, {{5, 6}, {7, {8}}}} end,
    "entry [2][2][2] is table, expected a number")
  T.errors(function() tensor.from{{{{{1}}}}} end, "more than 4 levels")
  T.errors(function() tensor.from("abc") end, "expected a (nested) table of numbers")
  T.errors(function() tensor.from(nil) end, "got nil")
  T.errors(function() tensor.from({1, 2}, {devce = "cpu"}) end, "unknown option 'devce'")
end)

T.case("arange and linspace match Lua loops", function()
  near_all(tensor.arange(5):totable(), {0, 1, 2, 3, 4}, 0)
  near_all(tensor.arange(2, 5):totable(), {2, 3, 4}, 0)
  near_all(tensor.arange(1, 2, 0.25):totable(), {1, 1.25, 1.5, 1.75}, 0)
  near_all(tensor.arange(5, 0, -2):totable(), {5, 3, 1}, 0)
  T.eq(tensor.arange(3, 1):numel(), 0, "empty range")
  local exp = {}
  for i = 0, 10 do exp[#exp + 1] = -1 + 0.2 * i end
  near_all(tensor.linspace(-1, 1, 11):totable(), exp, 1e-6)
  T.errors(function() tensor.arange(0, 1, 0) end, "step non-zero")
end)

-- ---- random numbers ----

T.case("rand/randn with a seed match a Lua Philox4x32-10 reference", function()
  local n = 37
  local u = tensor.rand(n, {seed = 42}):totable()
  local z = tensor.randn(n, {seed = 42, stream = 3}):totable()
  local worst = 0
  for j = 0, n - 1 do
    T.eq(u[j + 1], ref_uniform(42, 0, 0, j), "uniform " .. j)
    T.ok(u[j + 1] > 0 and u[j + 1] < 1, "uniform %d outside (0, 1): %.9g", j, u[j + 1])
    local e = ref_normal(42, 3, 0, j)
    T.near(z[j + 1], e, 1e-6, 1e-6, "normal " .. j)
    worst = math.max(worst, math.abs(z[j + 1] - e))
  end
  -- a 64-bit seed uses both key words
  local big = tensor.rand(4, {seed = 0x123456789})
  T.eq(big:get(3), ref_uniform(0x123456789, 0, 0, 2), "64-bit seed")
  T.detail("max normal err %.2g", worst)
end)

T.case("seeded draws are reproducible; seeds and streams differ", function()
  local a = tensor.randn(2, 50, {seed = 9}):totable()
  local b = tensor.randn({2, 50}, {seed = 9}):totable()
  near_all(a, b, 0)
  local c = tensor.randn(100, {seed = 10}):totable()
  local d = tensor.randn(100, {seed = 9, stream = 1}):totable()
  local fa = flatten(a)
  local same_c, same_d = 0, 0
  for i = 1, 100 do
    if fa[i] == c[i] then same_c = same_c + 1 end
    if fa[i] == d[i] then same_d = same_d + 1 end
  end
  T.ok(same_c < 5 and same_d < 5, "different seed/stream gave equal numbers (%d, %d)", same_c, same_d)
end)

T.case("global generator: manual_seed, advancing offset, rng state", function()
  tensor.manual_seed(7)
  local a = tensor.randn(5):totable()  -- blocks 0, 1
  local b = tensor.randn(3):totable()  -- starts at block 2
  for j = 0, 4 do T.near(a[j + 1], ref_normal(7, 0, 0, j), 1e-6, 1e-6, "a") end
  for j = 0, 2 do T.near(b[j + 1], ref_normal(7, 0, 2, j), 1e-6, 1e-6, "b") end
  T.eq(tensor.get_rng_state().offset, 3, "offset after 2+1 blocks")
  tensor.manual_seed(7)
  local c = tensor.randn(5):totable()
  near_all(c, a, 0, 0, "same seed again")
  local st = tensor.get_rng_state()
  local d1 = tensor.rand(6):totable()
  tensor.set_rng_state(st)
  near_all(tensor.rand(6):totable(), d1, 0, 0, "restored state")
  -- a seeded draw does not move the global generator
  local before = tensor.get_rng_state().offset
  tensor.rand(100, {seed = 1})
  T.eq(tensor.get_rng_state().offset, before, "seeded draw left the offset")
  tensor.manual_seed(0)
end)

T.case("uniform and normal draws have the right moments", function()
  local n = 200000
  local u = tensor.rand(n, {seed = 5})
  local z = tensor.randn(n, {seed = 6})
  -- standard errors: mean of U(0,1) 0.29/sqrt(n) = 6.5e-4; var of N(0,1) sqrt(2/n) = 3.2e-3
  T.near(u:mean(), 0.5, 4e-3, 0, "uniform mean")
  T.near(u:var(), 1 / 12, 2e-3, 0, "uniform var")
  T.ok(u:min() > 0 and u:max() < 1, "uniform outside (0,1)")
  T.near(z:mean(), 0, 1e-2, 0, "normal mean")
  T.near(z:var(), 1, 2e-2, 0, "normal var")
  T.near(z:kurtosis(), 0, 0.1, 0, "normal excess kurtosis")
end)

-- ---- properties ----

T.case("properties: shape, size, dim, numel, #, stride, contiguity", function()
  local t = tensor.zeros(2, 3, 4)
  T.eq(t:dim(), 3, "dim")
  T.eq(t:numel(), 24, "numel")
  T.eq(#t, 2, "#t")
  T.eq(t:size(2), 3, "size(2)")
  T.eq(t:size(-1), 4, "size(-1)")
  shape_eq(t, {2, 3, 4})
  local st = t:stride()
  T.eq(st[1], 12, "stride 1"); T.eq(st[2], 4, "stride 2"); T.eq(st[3], 1, "stride 3")
  T.eq(t:stride(1), 12, "stride(1)")
  T.eq(t:is_contiguous(), true, "contiguous")
  local tr = t:transpose(1, 3)
  shape_eq(tr, {4, 3, 2})
  T.eq(tr:is_contiguous(), false, "transposed is not contiguous")
  T.errors(function() return t:size(4) end, "dimension 4 out of range for a 3-dimensional tensor")
  T.errors(function() return t:size(-4) end, "dimension -4 out of range")
  T.errors(function() return #tensor.zeros({}) end, "0-dimensional")
  T.eq(tensor.is_tensor(t), true, "is_tensor"); T.eq(tensor.is_tensor({}), false, "is_tensor table")
end)

-- ---- views and copies ----

T.case("view/reshape: -1, shared storage, non-contiguous", function()
  local t = tensor.arange(12)
  local v = t:view(3, -1)
  shape_eq(v, {3, 4})
  shape_eq(t:view({2, 2, 3}), {2, 2, 3})
  v:set(100, 2, 1) -- shares storage with t
  T.eq(t[5], 100, "view writes through")
  local tr = v:t()
  T.errors(function() tr:view(12) end, "view needs a contiguous tensor")
  local r = tr:reshape(12)
  local exp = {}
  for j = 1, 4 do for i = 1, 3 do exp[#exp + 1] = v:get(i, j) end end
  near_all(r:totable(), exp, 0)
  T.errors(function() t:view(5, -1) end, "cannot view a 12 tensor (12 elements) as 5×-1")
  T.errors(function() t:view(-1, -1) end, "only one dimension can be -1")
  T.errors(function() t:view() end, "shape expected")
end)

T.case("narrow, select, transpose, t() against Lua indexing", function()
  local m = lua_matrix(4, 5, 1)
  local t = tensor.from(m)
  local n = t:narrow(2, 2, 3)
  shape_eq(n, {4, 3})
  local exp = {}
  for i = 1, 4 do exp[i] = {m[i][2], m[i][3], m[i][4]} end
  near_all(n:totable(), exp, 0)
  near_all(t:narrow(1, -1, 1):totable(), {m[4]}, 0, 0, "negative start")
  local s = t:select(2, -1)
  near_all(s:totable(), {m[1][5], m[2][5], m[3][5], m[4][5]}, 0)
  local tt = t:t()
  shape_eq(tt, {5, 4})
  for i = 1, 4 do for j = 1, 5 do T.eq(tt:get(j, i), m[i][j], "t()") end end
  local tr = tensor.zeros(2, 3, 4):transpose(-1, 1)
  shape_eq(tr, {4, 3, 2})
  T.errors(function() t:narrow(2, 4, 3) end, "narrow(2, 4, 3) out of range: dimension 2 has size 5")
  T.errors(function() t:select(1, 5) end, "index 5 out of range: dimension 1 has size 4")
  T.errors(function() tensor.zeros(2, 2, 2):t() end, "at most 2 dimensions")
end)

T.case("contiguous, clone, copy, cpu, to", function()
  local t = tensor.from{{1, 2}, {3, 4}}
  local c = t:clone()
  c:set(9, 1, 1)
  T.eq(t:get(1, 1), 1, "clone is independent")
  local tc = t:t():contiguous()
  T.eq(tc:is_contiguous(), true, "contiguous()")
  near_all(tc:totable(), {{1, 3}, {2, 4}}, 0)
  local d = tensor.zeros(4)
  T.eq(d:copy(t), d, "copy returns self")
  near_all(d:totable(), {1, 2, 3, 4}, 0)
  T.errors(function() d:copy(tensor.zeros(3)) end, "copy: 3 source into a 4 destination")
  T.eq(t:cpu():device(), "cpu", "cpu()")
  T.eq(t:to("cpu"):device(), "cpu", "to")
  T.errors(function() t:to("gpu") end, "unknown device 'gpu'")
end)

-- ---- indexing ----

T.case("indexing: t[i], negative, views, methods through __index", function()
  local t = tensor.from{10, 20, 30}
  T.eq(t[1], 10, "t[1]"); T.eq(t[3], 30, "t[3]"); T.eq(t[-1], 30, "t[-1]"); T.eq(t[-3], 10, "t[-3]")
  T.errors(function() return t[5] end, "index 5 out of range: dimension 1 has size 3")
  T.errors(function() return t[0] end, "index 0 out of range: dimension 1 has size 3")
  T.errors(function() return t[-4] end, "index -4 out of range: dimension 1 has size 3")
  T.errors(function() return t[1.5] end, "index must be an integer")
  T.errors(function() return t[true] end, "tensor index must be an integer or a method name")
  local m = tensor.from{{1, 2, 3}, {4, 5, 6}}
  local row = m[2]
  near_all(row:totable(), {4, 5, 6}, 0)
  T.eq(m[2][3], 6, "m[2][3]")
  T.eq(m[-1][-1], 6, "m[-1][-1]")
  T.eq(type(m.sum), "function", "method lookup")
  T.eq(m.no_such_method, nil, "unknown key is nil")
  T.eq(m:numel(), 6, "methods still work")
end)

T.case("assignment: t[i] = number or tensor, get/set", function()
  local m = tensor.zeros(2, 3)
  m[1] = 5
  m[-1] = tensor.from{1, 2, 3}
  near_all(m:totable(), {{5, 5, 5}, {1, 2, 3}}, 0)
  local v = tensor.zeros(3)
  v[2] = 4; v[-1] = -1
  near_all(v:totable(), {0, 4, -1}, 0)
  m[2][2] = 7
  T.eq(m:get(2, 2), 7, "nested assignment")
  T.eq(m:set(8, -1, 1), m, "set returns self")
  T.eq(m:get(2, 1), 8, "set")
  T.errors(function() m[1] = tensor.zeros(2) end, "t[1] = tensor: shape 3 expected, got 2")
  T.errors(function() m[3] = 1 end, "index 3 out of range: dimension 1 has size 2")
  T.errors(function() m[1] = "x" end, "expected a number or a tensor, got string")
  T.errors(function() m.foo = 1 end, "cannot set field foo")
  T.errors(function() m:get(1) end, "get: expected 2 indices for a 2-dimensional tensor, got 1")
  T.errors(function() m:get(1, 4) end, "index 4 out of range: dimension 2 has size 3")
  T.errors(function() m:set(1, 1, "a") end, "index must be an integer, got string")
  -- a transposed view: assignment goes through its strides
  local t = tensor.zeros(2, 3)
  t:t()[3] = tensor.from{1, 2}
  near_all(t:totable(), {{0, 0, 1}, {0, 0, 2}}, 0)
end)

-- ---- arithmetic ----

local function elementwise(a, b, f)
  local r = {}
  for i = 1, #a do
    r[i] = {}
    for j = 1, #a[i] do
      local y = type(b) == "table" and b[i][j] or b
      r[i][j] = f(a[i][j], y)
    end
  end
  return r
end

T.case("operators + - * / ^ and unary minus, tensor-tensor and both scalar orders", function()
  local A, B = lua_matrix(3, 4, 2), lua_matrix(3, 4, 3)
  for i = 1, 3 do for j = 1, 4 do if B[i][j] == 0 then B[i][j] = 0.5 end end end
  local a, b = tensor.from(A), tensor.from(B)
  local tol = 1e-6
  near_all((a + b):totable(), elementwise(A, B, function(x, y) return x + y end), tol)
  near_all((a - b):totable(), elementwise(A, B, function(x, y) return x - y end), tol)
  near_all((a * b):totable(), elementwise(A, B, function(x, y) return x * y end), tol)
  near_all((a / b):totable(), elementwise(A, B, function(x, y) return x / y end), 0, 1e-6)
  near_all((a + 1.5):totable(), elementwise(A, 1.5, function(x, y) return x + y end), tol)
  near_all((2 - a):totable(), elementwise(A, 2, function(x, y) return y - x end), tol)
  near_all((a - 2):totable(), elementwise(A, 2, function(x, y) return x - y end), tol)
  near_all((3 * a):totable(), elementwise(A, 3, function(x, y) return x * y end), tol)
  near_all((1 / b):totable(), elementwise(B, 1, function(x, y) return y / x end), 0, 1e-6)
  near_all((b / 4):totable(), elementwise(B, 4, function(x, y) return x / y end), 0, 1e-6)
  near_all((a ^ 2):totable(), elementwise(A, 2, function(x, y) return x ^ y end), 0, 1e-6)
  near_all((2 ^ a):totable(), elementwise(A, 2, function(x, y) return y ^ x end), 0, 1e-6)
  near_all((-a):totable(), elementwise(A, 0, function(x) return -x end), 0)
  near_all(a:add(b):totable(), elementwise(A, B, function(x, y) return x + y end), tol)
  near_all(a:mul(2):totable(), elementwise(A, 2, function(x, y) return x * y end), tol)
  local p = tensor.from{{1, 2}, {3, 4}}
  near_all(p:pow(tensor.from{{2, 0.5}, {1, 3}}):totable(), {{1, math.sqrt(2)}, {3, 64}}, 0, 1e-6)
end)

T.case("arithmetic errors: shapes, types", function()
  local a, b = tensor.zeros(2, 3), tensor.zeros(3, 2)
  T.errors(function() return a + b end, "add: shapes 2×3 and 3×2 differ")
  T.errors(function() return a * b end, "mul: shapes 2×3 and 3×2 differ")
  T.errors(function() return a + "1" end, "add: expected tensors or numbers, got a tensor and string")
  T.errors(function() return {} - a end, "sub: expected tensors or numbers")
  T.errors(function() return a:add(nil) end, "got a tensor and nil")
  T.errors(function() return a:div_(b) end, "div: shapes 2×3 and 3×2 differ")
end)

T.case("in-place ops modify and return self (also on non-contiguous views)", function()
  local A = lua_matrix(3, 3, 4)
  local t = tensor.from(A)
  T.eq(t:add_(1), t, "add_ returns self")
  T.eq(t:mul_(2), t, "mul_ returns self")
  local exp = elementwise(A, 0, function(x) return (x + 1) * 2 end)
  near_all(t:totable(), exp, 1e-6)
  t:sub_(t) -- exact alias
  near_all(t:totable(), elementwise(A, 0, function() return 0 end), 0)
  -- partial alias: t += t^T must read the old values
  local u = tensor.from(A)
  u:add_(u:t())
  local sym = {}
  for i = 1, 3 do sym[i] = {} for j = 1, 3 do sym[i][j] = A[i][j] + A[j][i] end end
  near_all(u:totable(), sym, 1e-6, 0, "t += t^T")
  -- in place on a transposed (non-contiguous) view writes through to the parent
  local w = tensor.from(A)
  local wt = w:t()
  T.eq(wt:exp_(), wt, "exp_ returns self")
  near_all(w:totable(), elementwise(A, 0, function(x) return math.exp(x) end), 0, 1e-6)
  local f = tensor.zeros(2, 2)
  T.eq(f:fill_(3), f, "fill_")
  near_all(f:totable(), {{3, 3}, {3, 3}}, 0)
  f:t()[1] = 1
  f:zero_()
  near_all(f:totable(), {{0, 0}, {0, 0}}, 0)
  local c = tensor.from{-2, 0.5, 3}
  c:clamp_(-1, 1)
  near_all(c:totable(), {-1, 0.5, 1}, 0)
end)

T.case("unary functions and clamp match math.*", function()
  local v = {-3.5, -1, -0.25, 0, 0.25, 0.5, 1, 2, 3.5, 7}
  local t = tensor.from(v)
  local function tanh(x) local e = math.exp(2 * x); return (e - 1) / (e + 1) end
  local fns = {exp = math.exp, log = math.log, sqrt = math.sqrt, abs = math.abs, tanh = tanh,
               neg = function(x) return -x end}
  local pos = t:abs():add(0.125) -- log and sqrt on positive inputs
  for name, f in pairs(fns) do
    local src = (name == "log" or name == "sqrt") and pos or t
    local got = src[name](src):totable()
    local exp = {}
    for i, x in ipairs(src:totable()) do exp[i] = f(x) end
    near_all(got, exp, 1e-7, 2e-6, name)
  end
  local l = tensor.from{-1}:log()[1]
  T.ok(l ~= l, "log(-1) is nan, got %s", tostring(l))
  local c = t:clamp(-1, 2):totable()
  for i, x in ipairs(v) do T.eq(c[i], math.min(math.max(x, -1), 2), "clamp " .. i) end
  local lo = t:clamp(0):totable()
  for i, x in ipairs(v) do T.eq(lo[i], math.max(x, 0), "clamp(lo) " .. i) end
  local hi = t:clamp(nil, 0):totable()
  for i, x in ipairs(v) do T.eq(hi[i], math.min(x, 0), "clamp(nil, hi) " .. i) end
  T.errors(function() t:clamp(2, 1) end, "clamp: min 2 is greater than max 1")
end)

-- ---- matmul ----

local function lua_matmul(A, B)
  local C = {}
  for i = 1, #A do
    C[i] = {}
    for j = 1, #B[1] do
      local s = 0
      for k = 1, #B do s = s + A[i][k] * B[k][j] end
      C[i][j] = s
    end
  end
  return C
end

T.case("matmul 2-D, transposed inputs and batched 3-D match Lua loops", function()
  local A, B = lua_matrix(5, 7, 11), lua_matrix(7, 3, 12)
  local C = lua_matmul(A, B)
  local a, b = tensor.from(A), tensor.from(B)
  local c = tensor.matmul(a, b)
  shape_eq(c, {5, 3})
  local err = near_all(c:totable(), C, 1e-4)
  near_all(a:matmul(b):totable(), C, 1e-4, 0, "method")
  -- (B^T A^T)^T = A B with non-contiguous operands
  near_all(tensor.matmul(b:t(), a:t()):t():totable(), C, 1e-4, 0, "transposed")
  local A2 = lua_matrix(5, 7, 13)
  local C2 = lua_matmul(A2, B)
  local ab = tensor.from{A, A2}
  local bb = tensor.from{B, B}
  local cb = tensor.matmul(ab, bb)
  shape_eq(cb, {2, 5, 3})
  near_all(cb:totable(), {C, C2}, 1e-4, 0, "batched")
  T.detail("max err %.2g", err)
end)

T.case("matmul errors", function()
  local a, b = tensor.zeros(2, 3), tensor.zeros(2, 3)
  T.errors(function() tensor.matmul(a, b) end, "matmul: inner sizes differ: 2×3 times 2×3")
  T.errors(function() tensor.matmul(tensor.zeros(3), b) end, "matmul: needs two 2-D")
  T.errors(function() tensor.matmul(a, 3) end, "lctw.Tensor expected, got number")
end)

-- ---- reductions ----

T.case("sum/mean/var/std/min/max of all elements", function()
  local M = lua_matrix(6, 7, 21)
  local t = tensor.from(M)
  local v = flatten(M)
  local m = lua_moments(v)
  T.near(t:sum(), lua_sum(v), 1e-9, 1e-12, "sum")
  T.near(t:mean(), m.mean, 1e-9, 1e-12, "mean")
  T.near(t:var(), m.var_unbiased, 1e-9, 1e-9, "var")
  T.near(t:var{unbiased = false}, m.var, 1e-9, 1e-9, "var biased")
  T.near(t:std(), math.sqrt(m.var_unbiased), 1e-9, 1e-9, "std")
  T.near(t:std{unbiased = false}, math.sqrt(m.var), 1e-9, 1e-9, "std biased")
  T.eq(t:min(), m.min, "min")
  T.eq(t:max(), m.max, "max")
  -- on a non-contiguous view
  T.near(t:t():narrow(1, 2, 3):sum(), (function()
    local s = 0
    for i = 1, 6 do for j = 2, 4 do s = s + M[i][j] end end
    return s
  end)(), 1e-9, 1e-12, "sum of a view")
  T.eq(tensor.zeros(0):sum(), 0, "empty sum")
  T.errors(function() tensor.zeros(0):mean() end, "mean of an empty tensor")
  T.errors(function() tensor.zeros(1):var() end, "needs unbiased=false")
end)

T.case("reductions over a dimension: shapes, keepdim, values, 1-based indices", function()
  local M = lua_matrix(4, 5, 31)
  local t = tensor.from(M)
  local rows, cols = {}, {}
  for i = 1, 4 do rows[i] = lua_sum(M[i]) end
  for j = 1, 5 do
    local s = 0
    for i = 1, 4 do s = s + M[i][j] end
    cols[j] = s
  end
  local s2 = t:sum(2)
  shape_eq(s2, {4})
  near_all(s2:totable(), rows, 1e-5)
  shape_eq(t:sum(2, {keepdim = true}), {4, 1})
  near_all(t:sum(-2):totable(), cols, 1e-5, 0, "sum(-2)")
  near_all(t:mean(1):totable(), (function()
    local r = {}
    for j = 1, 5 do r[j] = cols[j] / 4 end
    return r
  end)(), 1e-5)
  local var1, var0 = {}, {}
  for i = 1, 4 do
    local mm = lua_moments(M[i])
    var1[i], var0[i] = mm.var_unbiased, mm.var
  end
  near_all(t:var(2):totable(), var1, 1e-5, 1e-5, "var(2)")
  near_all(t:var(2, {unbiased = false}):totable(), var0, 1e-5, 1e-5, "var(2) biased")
  near_all(t:std(2):totable(), (function()
    local r = {}
    for i = 1, 4 do r[i] = math.sqrt(var1[i]) end
    return r
  end)(), 1e-5, 1e-5, "std(2)")
  local vals, idx = t:max(2)
  local vmin, imin = t:min(1, {keepdim = true})
  shape_eq(vals, {4}); shape_eq(idx, {4}); shape_eq(vmin, {1, 5}); shape_eq(imin, {1, 5})
  for i = 1, 4 do
    local best, at = -math.huge, 0
    for j = 1, 5 do if M[i][j] > best then best, at = M[i][j], j end end
    T.eq(vals[i], best, "max value row " .. i)
    T.eq(idx[i], at, "max index row " .. i)
  end
  for j = 1, 5 do
    local best, at = math.huge, 0
    for i = 1, 4 do if M[i][j] < best then best, at = M[i][j], i end end
    T.eq(vmin:get(1, j), best, "min value col " .. j)
    T.eq(imin:get(1, j), at, "min index col " .. j)
  end
  shape_eq(tensor.from{1, 2, 3}:sum(1), {})
  T.errors(function() t:sum(3) end, "dimension 3 out of range for a 2-dimensional tensor")
  T.errors(function() t:sum("x") end, "expected a dimension (integer) or an options table")
  T.errors(function() t:sum(1, {keepdims = true}) end, "unknown option 'keepdims'")
  T.errors(function() t:mean{unbiased = false} end, "unknown option 'unbiased'")
end)

-- ---- statistics ----

-- Heavy-tailed exact data: cubes of multiples of 1/4.
local function heavy_values(n, seed)
  local r, v = lcg(seed), {}
  for i = 1, n do v[i] = (r(-40, 40) / 4) ^ 3 / 64 end
  return v
end

T.case("skew, kurtosis, moments, tail_fraction match Lua", function()
  local v = heavy_values(3000, 41)
  local t = tensor.from(v):view(30, 100)
  local m = lua_moments(v)
  T.near(t:skew(), m.skew, 1e-9, 1e-7, "skew")
  T.near(t:kurtosis(), m.kurtosis, 1e-9, 1e-7, "kurtosis")
  local mo = t:moments()
  T.eq(mo.n, 3000, "n")
  T.near(mo.mean, m.mean, 1e-9, 1e-9, "mean")
  T.near(mo.var, m.var, 1e-9, 1e-9, "var (population)")
  T.near(mo.std, math.sqrt(m.var), 1e-9, 1e-9, "std")
  T.near(mo.skew, m.skew, 1e-9, 1e-7, "moments.skew")
  T.near(mo.kurtosis, m.kurtosis, 1e-9, 1e-7, "moments.kurtosis")
  T.eq(mo.min, m.min, "min"); T.eq(mo.max, m.max, "max")
  local sd = math.sqrt(m.var)
  for _, k in ipairs({0, 1, 2, 3}) do
    local c = 0
    for _, x in ipairs(v) do if math.abs(x - m.mean) > k * sd then c = c + 1 end end
    T.near(t:tail_fraction(k), c / #v, 1e-12, 0, "tail_fraction(" .. k .. ")")
  end
  T.errors(function() t:tail_fraction(-1) end, "k must be >= 0")
  T.errors(function() tensor.zeros(0):kurtosis() end, "statistics of an empty tensor")
  T.detail("kurtosis %.3f", m.kurtosis)
end)

T.case("histogram: counts, edges, below/above, default range", function()
  local v = heavy_values(2000, 51)
  local t = tensor.from(v)
  local lo, hi, bins = -2, 3, 10
  local counts, below, above = {}, 0, 0
  for b = 1, bins do counts[b] = 0 end
  for _, x in ipairs(v) do
    if x < lo then below = below + 1
    elseif x > hi then above = above + 1
    else
      local b = math.floor((x - lo) / (hi - lo) * bins) + 1
      if b > bins then b = bins end
      counts[b] = counts[b] + 1
    end
  end
  local h = t:histogram{bins = bins, range = {lo, hi}}
  T.eq(h.bins, bins, "bins")
  T.eq(#h.counts, bins, "#counts")
  T.eq(#h.edges, bins + 1, "#edges")
  for b = 1, bins do T.eq(h.counts[b], counts[b], "count " .. b) end
  T.eq(h.below, below, "below"); T.eq(h.above, above, "above")
  for b = 0, bins do T.near(h.edges[b + 1], lo + (hi - lo) * b / bins, 1e-12, 0, "edge") end
  T.eq(h.range[1], lo); T.eq(h.range[2], hi)
  local d = t:histogram()
  T.eq(d.bins, 50, "default bins")
  local m = lua_moments(v)
  T.eq(d.range[1], m.min, "default range lo"); T.eq(d.range[2], m.max, "default range hi")
  local total = d.below + d.above
  for _, c in ipairs(d.counts) do total = total + c end
  T.eq(total, #v, "every element counted")
  T.eq(d.below + d.above, 0, "nothing outside min..max")
  T.eq(t:histogram(7).bins, 7, "histogram(bins)")
  local const = tensor.full({5}, 2):histogram{bins = 4}
  T.eq(const.counts[1] + const.counts[2] + const.counts[3] + const.counts[4], 5, "constant data")
  T.errors(function() t:histogram{bins = 0} end, "bins must be in 1..1048576")
  T.errors(function() t:histogram{range = {1}} end, "option 'range' must be {min, max}")
  T.errors(function() t:histogram{range = {1, 1}} end, "range must have max > min")
  T.errors(function() t:histogram{bin = 3} end, "unknown option 'bin'")
  T.errors(function() t:histogram{range = {-math.huge, 1}} end, "range must be finite")
  T.errors(function() tensor.from{1, 1 / 0}:histogram() end, "give a finite range")
end)

-- ---- printing ----

T.case("printing small tensors: aligned rows, slices, footer", function()
  local s = tostring(tensor.from{{1, -2.5, 3}, {40, 5, 6}})
  local lines = {}
  for l in s:gmatch("[^\n]+") do lines[#lines + 1] = l end
  T.eq(#lines, 3, "2 rows + footer")
  T.eq(lines[1], "   1  -2.5     3", "row 1 aligned")
  T.eq(lines[2], "  40     5     6", "row 2 aligned")
  T.eq(lines[3], "[lctw.Tensor 2×3 cpu]", "footer")
  local s3 = tostring(tensor.zeros(2, 2, 3))
  T.ok(s3:find("[1,:,:] =", 1, true) and s3:find("[2,:,:] =", 1, true), "3-D headers: %s", s3)
  T.ok(s3:find("[lctw.Tensor 2×2×3 cpu]", 1, true), "3-D footer")
  local s4 = tostring(tensor.ones(2, 3, 1, 2))
  T.ok(s4:find("[2,3,:,:] =", 1, true), "4-D headers: %s", s4)
  T.eq(select(2, s4:gsub("%[%d,%d,:,:%] =", "")), 6, "one header per slice")
  T.eq(tostring(tensor.from{1, 2, 3}), "1  2  3\n[lctw.Tensor 3 cpu]", "1-D")
  T.eq(tostring(tensor.from(0.125)), "0.125\n[lctw.Tensor scalar cpu]", "0-D")
  T.eq(tostring(tensor.zeros(0, 3)), "[lctw.Tensor 0×3 cpu, empty]", "empty")
  T.ok(tostring(tensor.from{1 / 3}):find("0.3333", 1, true), "%.4g formatting")
  local nan = tostring(tensor.from{0, 1} / 0)
  T.ok(nan:find("nan", 1, true) and nan:find("inf", 1, true), "nan/inf: %s", nan)
end)

T.case("printing large tensors: one-line summary with stats, head and tail", function()
  local n = 3 * 4 * 8 * 8
  local t = tensor.arange(n):view(3, 4, 8, 8)
  local s = tostring(t)
  T.eq(s, string.format("<lctw.Tensor 3×4×8×8 cpu  min 0 mean %.4g max %d  [0, 1, 2, … , %d, %d]>",
    (n - 1) / 2, n - 1, n - 2, n - 1), "summary")
  local r = tostring(tensor.randn(3000, 4, 32, 32, {seed = 1}))
  T.ok(r:match("^<lctw%.Tensor 3000×4×32×32 cpu  min %-[%d.]+ mean [-%d.e]+ max [%d.]+  %[.+, … , .+%]>$"),
    "randn summary: %s", r)
  T.detail("%s", r)
end)

T.case("print_all prints every value", function()
  local out = {}
  local old = print
  print = function(s) out[#out + 1] = s end
  local ok, err = pcall(function() tensor.arange(100):view(10, 10):print_all() end)
  print = old
  T.ok(ok, tostring(err))
  local lines = select(2, out[1]:gsub("\n", "")) + 1
  T.eq(lines, 11, "10 rows + footer")
  T.ok(out[1]:find("99", 1, true), "last value printed")
end)

-- ---- memory ----

T.case("<close> and free release memory at once; closed tensors raise", function()
  collectgarbage()
  local before = lctw.memory().cpu_in_use
  do
    local t <close> = tensor.zeros(1000, 1000)
    T.eq(lctw.memory().cpu_in_use - before, 4000000, "allocated")
  end
  T.eq(lctw.memory().cpu_in_use, before, "freed by <close>")
  local u = tensor.ones(500)
  T.eq(lctw.memory().cpu_in_use - before, 2000, "allocated")
  u:free()
  T.eq(lctw.memory().cpu_in_use, before, "freed by free()")
  u:free() -- twice is fine
  T.errors(function() return u:sum() end, "tensor has been closed")
  T.errors(function() return u + 1 end, "tensor has been closed")
  T.errors(function() return u[1] end, "tensor has been closed")
  T.errors(function() return tensor.zeros(2) + u end, "tensor has been closed")
  T.eq(tostring(u), "<lctw.Tensor (closed)>", "tostring of a closed tensor")
  -- a view keeps the storage alive after its parent is freed
  local p = tensor.full({256}, 3)
  local v = p:narrow(1, 1, 2)
  p:free()
  T.eq(v:sum(), 6, "view outlives parent")
  v = nil
  collectgarbage(); collectgarbage()
  T.eq(lctw.memory().cpu_in_use, before, "collected by GC")
end)

T.case("out of memory: a clear error, and a GC + retry when garbage holds the memory", function()
  T.errors(function() tensor.zeros(1e6, 1e6, 1e6) end, "out of memory: requested")
  T.errors(function() tensor.randn(1e6, 1e6, 1e6) end, "out of memory: requested")
  collectgarbage()
  local limit = lctw.memory().cpu_limit
  local base = lctw.memory().cpu_in_use
  local ok, err = pcall(function()
    lctw.set_memory_limit(base + 24 * 2 ^ 20)
    local hold = {tensor.zeros(2 * 2 ^ 20), tensor.zeros(2 * 2 ^ 20)} -- 16 MiB
    T.errors(function() tensor.ones(4 * 2 ^ 20) end, "out of memory", "limit not tight")
    hold = nil -- garbage now, but not collected yet
    local t = tensor.ones(4 * 2 ^ 20) -- 16 MiB: fits only after a collection
    T.eq(t:numel(), 4 * 2 ^ 20, "allocated after retry")
  end)
  lctw.set_memory_limit(limit)
  T.ok(ok, tostring(err))
end)

-- ---- argument errors never crash ----

T.case("bad arguments give Lua errors", function()
  T.errors(function() tensor.zeros(-2) end, "negative")
  T.errors(function() tensor.zeros({2, -1}) end, "size of dimension 2 is negative (-1)")
  T.errors(function() tensor.zeros(1, 2, 3, 4, 5) end, "at most 4 dimensions")
  T.errors(function() tensor.zeros({1, 2, 3, 4, 5}) end, "at most 4 dimensions")
  T.errors(function() tensor.zeros("a") end, "shape expected")
  T.errors(function() tensor.zeros() end, "shape expected")
  T.errors(function() tensor.zeros(nil) end, "shape expected")
  T.errors(function() tensor.zeros(2.5) end, "not an integer")
  T.errors(function() tensor.zeros({2, "x"}) end, "dimension 2 is not an integer")
  T.errors(function() tensor.zeros({2}, {device = "tpu"}) end, "unknown device 'tpu'")
  T.errors(function() tensor.zeros({2}, {devcie = "cpu"}) end, "zeros: unknown option 'devcie'")
  T.errors(function() tensor.zeros({2}, "cpu") end, "table expected")
  T.errors(function() tensor.full({2}) end, "number expected")
  T.errors(function() tensor.full(3) end, "full: expected (shape, value")
  T.errors(function() tensor.rand(2, {stream = -1}) end, "option 'stream' must be in 0..4294967295")
  T.errors(function() tensor.rand(2, {seed = "x"}) end, "option 'seed': expected an integer")
  T.errors(function() tensor.randn(2, {sed = 1}) end, "unknown option 'sed'")
  T.errors(function() tensor.zeros(2):narrow("x", 1, 1) end, "number expected")
  T.errors(function() tensor.zeros(2):select(1) end, "number expected")
  T.errors(function() tensor.zeros(2):item() end, "item: needs a tensor of one element, got 2")
  T.errors(function() tensor.zeros(2).sum(5) end, "lctw.Tensor expected")
  T.errors(function() tensor.zeros(2):copy("x") end, "lctw.Tensor expected")
  T.errors(function() tensor.zeros(2):fill_() end, "number expected")
  T.errors(function() tensor.zeros(2):tail_fraction() end, "number expected")
  T.errors(function() tensor.zeros(2):histogram("x") end, "table expected")
  T.errors(function() tensor.zeros(2):transpose(1, 2) end, "dimension 2 out of range")
  T.errors(function() tensor.linspace(0, 1, -1) end, "number of points must be >= 0")
end)

-- ---- devices ----

T.case("lctw.device: default device of creation functions", function()
  T.eq(lctw.device(), "cpu", "default")
  T.eq(lctw.device("cpu"), "cpu", "set cpu")
  T.eq(lctw.tensor.default_device(), "cpu", "same function")
  T.errors(function() lctw.device("tpu") end, "unknown device 'tpu'")
  if not has_cuda then
    T.errors(function() lctw.device("cuda") end, "no CUDA device")
    T.errors(function() tensor.zeros(2, {device = "cuda"}) end, "no CUDA device")
    T.errors(function() tensor.zeros(2):cuda() end, "CUDA")
    T.eq(lctw.device(), "cpu", "unchanged after the error")
  end
end)

if has_cuda then
  T.case("cuda: transfers, printing, arithmetic and reductions agree with the cpu", function()
    local M = lua_matrix(5, 6, 61)
    local c = tensor.from(M)
    local g = c:cuda()
    T.eq(g:device(), "cuda", "device")
    near_all(g:cpu():totable(), M, 0, 0, "round trip")
    near_all(g:totable(), M, 0, 0, "totable from cuda")
    T.ok(tostring(g):find("[lctw.Tensor 5×6 cuda]", 1, true), "print")
    near_all(((g * 2 - 1):exp()):cpu():totable(), ((c * 2 - 1):exp()):totable(), 0, 1e-5, "ops")
    T.near(g:sum(), c:sum(), 1e-6, 1e-6, "sum")
    T.near(g:var(), c:var(), 1e-6, 1e-5, "var")
    near_all(g:sum(2):cpu():totable(), c:sum(2):totable(), 1e-5, 1e-6, "sum(2)")
    near_all(tensor.matmul(g, g:t()):cpu():totable(), tensor.matmul(c, c:t()):totable(), 1e-3, 1e-5,
      "matmul")
    T.eq(g[2][3], M[2][3], "index")
    g[1] = 0
    T.eq(g:get(1, 1), 0, "assign")
    T.errors(function() return g + c end, "different devices")
    local big = tensor.randn(1000, {device = "cuda", seed = 3})
    T.ok(tostring(big):find("cuda  min", 1, true), "cuda summary")
  end)
  T.case("cuda: the same seed gives the same numbers as the cpu", function()
    for _, f in ipairs({"rand", "randn"}) do
      local a = tensor[f](1001, {seed = 77, stream = 2}):totable()
      local b = tensor[f](1001, {seed = 77, stream = 2, device = "cuda"}):cpu():totable()
      near_all(b, a, 1e-6, 1e-6, f)
    end
    lctw.device("cuda")
    T.eq(tensor.zeros(2):device(), "cuda", "default device cuda")
    T.eq(tensor.from{1, 2}:device(), "cuda", "from on the default device")
    lctw.device("cpu")
  end)
else
  T.skip("cuda: transfers, printing, arithmetic and reductions agree with the cpu", "no CUDA device")
  T.skip("cuda: the same seed gives the same numbers as the cpu", "no CUDA device")
end

-- ---- help ----

T.case("every function and method has a help text", function()
  local missing = {}
  for k, v in pairs(tensor) do
    if type(v) == "function" and k:sub(1, 1) ~= "_" and not lctw._help_of(v) then
      missing[#missing + 1] = "lctw.tensor." .. k
    end
  end
  local t = tensor.zeros(1)
  for k, v in pairs(getmetatable(t).__methods) do
    local h = lctw._help_of(v)
    if not h then missing[#missing + 1] = "t:" .. k
    elseif not h:find(k, 1, true) then missing[#missing + 1] = "t:" .. k .. " (signature)" end
  end
  T.ok(#missing == 0, "no help: %s", table.concat(missing, ", "))
  T.ok(lctw._help_of(t):find("lctw.Tensor", 1, true), "type help")
  T.ok(lctw._help_of(lctw.device):find("lctw.device", 1, true), "lctw.device help")
end)

T.done()
