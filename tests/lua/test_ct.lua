-- test_ct.lua — lctw.ct from Lua (src/lua/l_ct.c): Karras grid, weights, curriculum, index
-- sampler, c schedules and losses, with references written here in plain Lua doubles
-- (ALGORITHM.md §4.1-4.4, §4.6), field access, errors and help texts.
local T = dofile("tests/lua/harness.lua")
local ct = lctw.ct

-- ---- references ----

local function ref_sigmas(N, smin, smax, rho)
  smin, smax, rho = smin or 0.002, smax or 80, rho or 7
  local a, b, s = smax ^ (1 / rho), smin ^ (1 / rho), {}
  for i = 0, N - 1 do s[i + 1] = (a + i / (N - 1) * (b - a)) ^ rho end
  return s
end

-- erf by its Maclaurin series (|z| < 3 here, ~1e-14 absolute).
local function erf(z)
  local sum, term, n = z, z, 0
  repeat
    n = n + 1
    term = -term * z * z / n
    local add = term / (2 * n + 1)
    sum = sum + add
  until math.abs(add) < 1e-17 * math.max(1, math.abs(sum))
  return 2 / math.sqrt(math.pi) * sum
end

local function ref_probs(N, pm, ps)
  pm, ps = pm or -1.1, ps or 2.0
  local s, p, tot = ref_sigmas(N), {}, 0
  for i = 1, N - 1 do
    p[i] = erf((math.log(s[i]) - pm) / (math.sqrt(2) * ps)) -
           erf((math.log(s[i + 1]) - pm) / (math.sqrt(2) * ps))
    tot = tot + p[i]
  end
  for i = 1, N - 1 do p[i] = p[i] / tot end
  return p
end

-- value as printed in a table of ALGORITHM.md: |v - table| <= half a unit of the last digit
local function printed(v, str, what)
  local dec = str:match("%.(%d+)$")
  local tol = 0.5 * 10 ^ -(dec and #dec or 0) + 1e-12 * math.abs(tonumber(str))
  if not (math.abs(v - tonumber(str)) <= tol) then
    error(string.format("%s = %.9g does not round to the table's %s", what, v, str), 2)
  end
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

-- deterministic pseudo-random numbers (an LCG, exact in doubles)
local function lcg(seed)
  local s = seed
  return function()
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  end
end

-- ---- grid and weights ----

T.case("karras_sigmas: N=11 table, endpoints, tensor form", function()
  local s, r = ct.karras_sigmas(11), ref_sigmas(11)
  local tab = {"80", "45.31", "24.41", "12.38", "5.839", "2.515", "0.9654", "0.3183", "0.08509",
               "0.01672", "0.002"}
  T.eq(#s, 11, "length")
  for i = 1, 11 do
    T.near(s[i], r[i], 0, 1e-12, "sigma " .. i)
    printed(s[i], tab[i], "sigma[" .. i .. "]")
  end
  for _, N in ipairs({2, 21, 641}) do
    local g = ct.karras_sigmas(N)
    T.eq(g[1], 80, "first"); T.eq(g[N], 0.002, "last")
    local rr = ref_sigmas(N)
    for i = 2, N do T.ok(g[i] < g[i - 1], "descending"); T.near(g[i], rr[i], 0, 1e-12) end
  end
  local o = ct.karras_sigmas(5, {sigma_min = 0.01, sigma_max = 10, rho = 3})
  local ro = ref_sigmas(5, 0.01, 10, 3)
  for i = 1, 5 do T.near(o[i], ro[i], 0, 1e-12) end
  local t = ct.karras_sigmas(11, {tensor = true})
  T.eq(t:numel(), 11, "tensor numel")
  local tt = t:totable()
  for i = 1, 11 do T.near(tt[i], r[i], 0, 6e-8, "tensor " .. i) end
end)

T.case("karras_sigmas: errors", function()
  T.errors(function() ct.karras_sigmas(1) end, "N (grid points) must be at least 2, got 1")
  T.errors(function() ct.karras_sigmas(11, {sigma_min = 100}) end, "sigma_min 100, sigma_max 80")
  T.errors(function() ct.karras_sigmas(11, {rh = 7}) end, "unknown option 'rh'")
end)

T.case("weights: 1/(σ_i − σ_{i+1}), §4.3 table at N=11", function()
  local tab = {"0.0288", "0.0478", "0.0831", "0.153", "0.301", "0.645", "1.545", "4.288", "14.63",
               "67.93"}
  local s = ct.karras_sigmas(11)
  local w = ct.weights(s)
  T.eq(#w, 10, "length")
  for i = 1, 10 do
    T.near(w[i], 1 / (s[i] - s[i + 1]), 0, 1e-14)
    printed(w[i], tab[i], "w[" .. i .. "]")
  end
  local w641 = ct.weights(ct.karras_sigmas(641))
  T.near(w641[640], 12690, 5, 0, "max weight at 641")
  T.near(w641[1], 1.47, 0.005, 0, "min weight at 641")
  local u = ct.weights({3, 2, 1}, {weighting = "uniform"})
  T.eq(u[1] + u[2], 2, "uniform")
  local wt = ct.weights(ct.karras_sigmas(11, {tensor = true}))
  T.near(wt[10], 67.93, 0.01, 0, "from a tensor")
  T.errors(function() ct.weights({1, 2}) end, "sigmas must descend")
  T.errors(function() ct.weights({1, 0.5}, {weighting = "snr"}) end, "unknown weighting 'snr'")
  T.detail("w[10] at N=11 %.4f, at N=641 %.1f", w[10], w641[640])
end)

-- ---- curriculum ----

local function ref_N(s0, s1, K, k)
  local kp = math.floor(K / (math.log(math.floor(s1 / s0), 2) + 1))
  if kp < 1 then kp = 1 end
  return math.floor(math.min(s0 * 2 ^ math.floor(k / kp), s1)) + 1
end

T.case("curriculum: paper (K=294000): 7 stages of 42000, extra pass at 641", function()
  local cur = ct.curriculum{s0 = 10, s1 = 640, total = 294000}
  T.eq(cur.kprime, 42000, "K'"); T.eq(cur.num_stages, 7, "stages")
  local Ns = {11, 21, 41, 81, 161, 321, 641}
  local st = cur:stages()
  T.eq(#st, 7, "stages()")
  for i = 1, 7 do
    T.eq(st[i].N, Ns[i], "stage N"); T.eq(st[i].first, (i - 1) * 42000, "first")
    T.eq(st[i].steps, 42000, "steps")
    local a = (i - 1) * 42000
    T.eq(cur:N(a), Ns[i], "N at start"); T.eq(cur:N(a + 41999), Ns[i], "N at end")
    T.eq(cur:stage(a), i, "stage at start"); T.eq(cur:stage(a + 41999), i, "stage at end")
    if i > 1 then T.eq(cur:N(a - 1), Ns[i - 1], "N before boundary") end
  end
  T.eq(cur:N(294000 + 209), 641, "extra pass")
  for k = 0, 600000, 1237 do T.eq(cur:N(k), ref_N(10, 640, 294000, k), "N(" .. k .. ")") end
  T.ok(tostring(cur):find("K'=42000, 7 stages, N 11..641", 1, true), tostring(cur))
end)

T.case("curriculum: fields, other configurations, errors", function()
  local cur = ct.curriculum{total = 1000}
  T.eq(cur.s0, 10); T.eq(cur.s1, 640)
  cur.s1 = 1280; cur.total = 400000
  T.eq(cur.kprime, 50000, "iCT K'"); T.eq(cur.num_stages, 8)
  for k = 0, 900000, 3331 do T.eq(cur:N(k), ref_N(10, 1280, 400000, k)) end
  cur.s1 = 1000; cur.total = 100000
  T.eq(cur.kprime, 13082, "real log2")
  for k = 0, 300000, 577 do T.eq(cur:N(k), ref_N(10, 1000, 100000, k)) end
  T.errors(function() cur.s1 = 5 end, "s1 must be >= s0 (10), got 5")
  T.eq(cur.s1, 1000, "invalid write undone")
  T.errors(function() cur.bogus = 1 end, "no writable field 'bogus'")
  T.errors(function() ct.curriculum{s0 = 10} end, "'total'")
  T.errors(function() ct.curriculum{total = 10, S0 = 3} end, "unknown option 'S0'")
  T.errors(function() cur:N(-1) end, "step must be >= 0")
end)

-- ---- index sampler ----

T.case("index_sampler: probabilities against an independent erf", function()
  local s = ct.index_sampler()
  local worst = 0
  for _, N in ipairs({11, 21, 81, 641}) do
    local p, r, tot = s:probs(N), ref_probs(N), 0
    T.eq(#p, N - 1, "length")
    for i = 1, N - 1 do
      T.ok(p[i] > 0, "positive")
      T.near(p[i], r[i], 1e-13, 1e-9, "P(" .. i .. ")")
      worst = math.max(worst, math.abs(p[i] - r[i]) / r[i])
      tot = tot + p[i]
    end
    T.near(tot, 1, 1e-12, 0, "sum")
  end
  local s2 = ct.index_sampler{p_mean = -0.8, p_std = 1.5}
  local p, r = s2:probs(41), ref_probs(41, -0.8, 1.5)
  for i = 1, 40 do T.near(p[i], r[i], 1e-13, 1e-9) end
  s2.p_mean = -1.1; s2.p_std = 2.0 -- fields change the cached distribution
  r = ref_probs(41)
  p = s2:probs(41)
  for i = 1, 40 do T.near(p[i], r[i], 1e-13, 1e-9) end
  T.near(s:diffusion_fraction(11), 0.2444, 0.0001)
  T.near(s:diffusion_fraction(641), 0.3660, 0.0001)
  T.detail("max rel err %.1e; subset fraction N=11 %.4f, N>=21 %.4f", worst,
           s:diffusion_fraction(11), s:diffusion_fraction(21))
end)

T.case("index_sampler: sampling is deterministic, 1-based and matches the probabilities", function()
  local s = ct.index_sampler()
  local a, off = s:sample(641, 10, {seed = 3, stream = 2, offset = 5})
  local b = s:sample(641, 10, {seed = 3, stream = 2, offset = 5})
  T.eq(off, 5 + 3, "next offset = offset + ceil(n/4)")
  for i = 1, 10 do T.eq(a[i], b[i], "same draw") end
  -- 8 + 4 continue one request of 12
  local all = s:sample(21, 12, {seed = 9})
  local p1, o1 = s:sample(21, 8, {seed = 9})
  local p2 = s:sample(21, 4, {seed = 9, offset = o1})
  for i = 1, 8 do T.eq(p1[i], all[i]) end
  for i = 1, 4 do T.eq(p2[i], all[8 + i]) end
  local c = s:sample(641, 10, {seed = 4, stream = 2, offset = 5})
  local same = 0
  for i = 1, 10 do same = same + (a[i] == c[i] and 1 or 0) end
  T.ok(same < 10, "another seed gives other indices")
  -- frequencies of 2e5 draws within 5 sigma per bin
  local n, N = 200000, 11
  local idx = s:sample(N, n, {seed = 77})
  local cnt = {}
  for i = 1, N - 1 do cnt[i] = 0 end
  for j = 1, n do
    local i = idx[j]
    T.ok(math.type(i) == "integer" and i >= 1 and i <= N - 1, "index in 1..N-1")
    cnt[i] = cnt[i] + 1
  end
  local r, worst = ref_probs(N), 0
  for i = 1, N - 1 do
    local z = math.abs(cnt[i] / n - r[i]) / math.sqrt(r[i] * (1 - r[i]) / n)
    worst = math.max(worst, z)
    T.ok(z <= 5, "bin %d: %.5f vs %.5f (%.1f sigma)", i, cnt[i] / n, r[i], z)
  end
  T.errors(function() s.p_std = 0 end, "p_std > 0")
  T.eq(s.p_std, 2.0, "invalid write undone")
  T.errors(function() s:sample(1, 3) end, "at least 2")
  T.errors(function() s:sample(11, 3, {sed = 1}) end, "unknown option 'sed'")
  T.detail("2e5 draws at N=11: worst bin %.2f sigma", worst)
end)

-- ---- c schedules ----

T.case("c_schedule: adaptive reproduces the §4.4 table through the curriculum", function()
  local cur = ct.curriculum{total = 294000}
  local cs = ct.c_schedule("adaptive", {curriculum = cur})
  local Ns = {11, 21, 41, 81, 161, 321, 641}
  local tab = {"0.03456", "0.0136353", "0.00614442", "0.00276883", "0.0012477", "0.00056225",
               "0.00025336"}
  local out = {}
  for i = 1, 7 do
    local step = (i - 1) * 42000 + 17
    local c = cs:value(step)
    T.near(cs:value(step, Ns[i]), c, 0, 0, "explicit N")
    local ref = i == 1 and 0.00054 * 64 or math.exp(-1.15 * math.log(Ns[i] - 1) - 0.85)
    T.near(c, ref, 0, 1e-12, "c at N=" .. Ns[i])
    printed(c, tab[i], "c(" .. Ns[i] .. ")")
    out[#out + 1] = string.format("%d:%.6g", Ns[i], c)
  end
  T.eq(cs.kind, "adaptive"); T.eq(cs.s0, 10); T.ok(cs.curriculum == cur, "curriculum field")
  cs.scale = math.sqrt(2)
  T.near(cs:value(0, 21), math.sqrt(2) * math.exp(-1.15 * math.log(20) - 0.85), 0, 1e-12)
  T.detail("%s", table.concat(out, " "))
end)

T.case("c_schedule: constant, ict, function, errors", function()
  T.eq(ct.c_schedule("constant", {c = 0.01}):value(5, 641), 0.01)
  T.near(ct.c_schedule("ict"):value(0, 11), 0.03456, 0, 1e-14)
  T.near(ct.c_schedule("ict", {d = 3 * 64 * 64}):value(0, 11), 0.00054 * math.sqrt(12288), 0, 1e-14)
  local calls = {}
  local f = ct.c_schedule(function(step, N)
    calls[#calls + 1] = {step, N}
    return 1 / (N + step)
  end)
  T.eq(f:value(9, 41), 1 / 50); T.eq(calls[1][1], 9); T.eq(calls[1][2], 41)
  T.eq(f.kind, "callback"); T.eq(type(f.fn), "function")
  local cur = ct.curriculum{total = 70}
  local g = ct.c_schedule(function(step, N) return N end, {curriculum = cur})
  T.eq(g:value(15), 21, "function gets N from the curriculum")
  T.errors(function() ct.c_schedule(function() error("boom") end):value(1, 11) end,
           "c_schedule function(step 1, N 11):")
  T.errors(function() ct.c_schedule(function() return "x" end):value(1, 11) end, "returned string")
  T.errors(function() ct.c_schedule(function() return -1 end):value(1, 11) end,
           "c must be finite and > 0, got -1")
  T.errors(function() ct.c_schedule("adaptive"):value(1) end, "N is needed")
  T.errors(function() ct.c_schedule("adaptiv") end, "unknown kind 'adaptiv'")
  T.errors(function() ct.c_schedule("constant", {c = 0}) end, "c must be finite and > 0, got 0")
  T.errors(function() ct.c_schedule("ict", {curriculum = 3}) end, "expected an lctw.Curriculum")
  local k = ct.c_schedule("constant", {c = 0.5})
  T.errors(function() k.c = -1 end, "got -1")
  T.eq(k.c, 0.5, "invalid write undone")
  -- a schedule made from a function survives a garbage collection
  local h = ct.c_schedule(function(_, N) return 1 / N end)
  collectgarbage(); collectgarbage()
  T.eq(h:value(0, 4), 0.25)
end)

-- ---- losses ----

local B, C, H, W = 4, 2, 3, 3
local D = C * H * W

local function rand_batch(seed, scale, outlier)
  local r, t = lcg(seed), {}
  for j = 1, B do
    t[j] = {}
    for c = 1, C do
      t[j][c] = {}
      for h = 1, H do
        t[j][c][h] = {}
        for w = 1, W do t[j][c][h][w] = (r() - 0.5) * 2 * scale end
      end
    end
  end
  if outlier then t[2][1][2][2] = 1000 end
  return lctw.tensor.from(t)
end

-- reference loss and gradient over flat tables (the float values read back)
local function ref_loss(kind, c, ds, dt, x, sig, sign, S, lam, weighting)
  local nS = 0
  for j = 1, B do if S[j] then nS = nS + 1 end end
  local L, g, per = 0, {}, {m = {}, rho = {}, w = {}}
  for j = 1, B do
    local m, acc = 0, 0
    for e = 1, D do
      local k = (j - 1) * D + e
      local d = ds[k] - dt[k]
      m = m + d * d / D
      local u = d * d
      if kind == "l1" then acc = acc + math.abs(d)
      elseif kind == "cauchy_elem" then acc = acc + math.log(0.5 * u + c * c) - 2 * math.log(c)
      elseif kind == "pseudo_huber_elem" then acc = acc + math.sqrt(u + c * c) - c
      elseif kind == "geman_mcclure_elem" then acc = acc + 2 * u / (u + 4 * c * c) end
    end
    local rho
    if kind == "l2" then rho = m
    elseif kind == "cauchy" then rho = math.log(0.5 * m + c * c) - 2 * math.log(c)
    elseif kind == "pseudo_huber" then rho = math.sqrt(m + c * c) - c
    elseif kind == "geman_mcclure" then rho = 2 * m / (m + 4 * c * c)
    else rho = acc / D end
    local w = weighting == "uniform" and 1 or 1 / (sig[j] - sign[j])
    per.m[j], per.rho[j], per.w[j] = m, rho, w
    L = L + w * rho / B
    local lj = 1 / (sig[j] * sig[j]) + 4
    local mse = 0
    for e = 1, D do
      local k = (j - 1) * D + e
      local d, u = ds[k] - dt[k], (ds[k] - dt[k]) ^ 2
      local a = w / B
      local v
      if kind == "l2" then v = a * 2 * d / D
      elseif kind == "cauchy" then v = a * 2 * d / (D * (m + 2 * c * c))
      elseif kind == "pseudo_huber" then v = a * d / (D * math.sqrt(m + c * c))
      elseif kind == "geman_mcclure" then v = a * 16 * c * c * d / (D * (m + 4 * c * c) ^ 2)
      elseif kind == "l1" then v = a * (d > 0 and 1 or d < 0 and -1 or 0) / D
      elseif kind == "cauchy_elem" then v = a * 2 * d / (D * (u + 2 * c * c))
      elseif kind == "pseudo_huber_elem" then v = a * d / (D * math.sqrt(u + c * c))
      else v = a * 16 * c * c * d / (D * (u + 4 * c * c) ^ 2) end
      if S[j] and lam > 0 then
        v = v + lam * lj * 2 * (ds[k] - x[k]) / (D * nS)
        mse = mse + (ds[k] - x[k]) ^ 2 / D
      end
      g[k] = v
    end
    if S[j] and lam > 0 then L = L + lam * lj * mse / nS end
  end
  return L, g, per
end

local KINDS = {"l2", "pseudo_huber", "cauchy", "geman_mcclure", "l1", "pseudo_huber_elem",
               "cauchy_elem", "geman_mcclure_elem"}

T.case("loss: every kind, value and gradient against the reference (index/N subset)", function()
  local ds, dt, x = rand_batch(1, 0.5), rand_batch(2, 0.5, true), rand_batch(3, 0.5)
  local fds, fdt, fx = flatten(ds:totable()), flatten(dt:totable()), flatten(x:totable())
  -- C indices 0, 299, 479, 639: w from 0.03 to 1.27e4; only the last is in S (C index >= 480)
  local N, index = 641, {1, 300, 480, 640}
  local grid = ct.karras_sigmas(N)
  local sig, sign, S = {}, {}, {}
  for j = 1, B do
    sig[j], sign[j] = grid[index[j]], grid[index[j] + 1]
    S[j] = index[j] - 1 >= math.floor(0.75 * N)
  end
  local worst_l, worst_g = 0, 0
  for _, kind in ipairs(KINDS) do
    for _, c in ipairs({0.03456, 2.5e-4}) do
      local loss = ct.loss(kind, {c = c})
      local L, info, g = loss:value(ds, dt, nil, nil, {index = index, N = N, x = x, grad = true})
      local rL, rg, per = ref_loss(kind, c, fds, fdt, fx, sig, sign, S, 5, "ict")
      T.near(L, rL, 0, 1e-9, kind .. " L")
      worst_l = math.max(worst_l, math.abs(L - rL) / math.abs(rL))
      T.ok(info.finite, "finite")
      T.eq(info.diff_count, 1, "one sample in S")
      local gf = flatten(g:totable())
      local gmax = 0
      for k = 1, #rg do gmax = math.max(gmax, math.abs(rg[k])) end
      for k = 1, #rg do
        T.near(gf[k], rg[k], 1e-12 * gmax, 2e-7, kind .. " grad " .. k)
        worst_g = math.max(worst_g, math.abs(gf[k] - rg[k]) / (math.abs(rg[k]) + 1e-6 * gmax))
      end
      for j = 1, B do
        T.near(info.m[j], per.m[j], 0, 1e-12); T.near(info.w[j], per.w[j], 0, 1e-12)
        T.near(info.rho[j], per.rho[j], 1e-15, 1e-9); T.eq(info.in_diff[j], S[j])
      end
      -- the same with explicit sigma tables and in_diff
      local L2 = loss:value(ds, dt, sig, sign, {in_diff = S, x = x})
      T.near(L2, L, 0, 1e-15, "explicit sigmas")
    end
  end
  T.detail("8 kinds × 2 c: L rel %.1e, grad rel %.1e (c down to 2.5e-4, w up to 1.27e4, "
           .. "outlier 1e3)", worst_l, worst_g)
end)

T.case("loss: central differences of the reference match the gradient (cauchy)", function()
  local ds, dt, x = rand_batch(4, 0.3), rand_batch(5, 0.3), rand_batch(6, 0.3)
  local fds, fdt, fx = flatten(ds:totable()), flatten(dt:totable()), flatten(x:totable())
  local sig, sign, S = {2.0, 0.5, 0.1, 0.01}, {1.5, 0.4, 0.09, 0.008}, {false, false, true, true}
  local loss = ct.loss("cauchy", {c = 0.01})
  local _, _, g = loss:value(ds, dt, sig, sign, {in_diff = S, x = x, grad = true})
  local gf, worst = flatten(g:totable()), 0
  for k = 1, #fds, 5 do
    local keep, h = fds[k], 1e-6
    fds[k] = keep + h
    local lp = ref_loss("cauchy", 0.01, fds, fdt, fx, sig, sign, S, 5)
    fds[k] = keep - h
    local lm = ref_loss("cauchy", 0.01, fds, fdt, fx, sig, sign, S, 5)
    fds[k] = keep
    local fd = (lp - lm) / (2 * h)
    T.near(gf[k], fd, 1e-6 * math.abs(fd) + 1e-9, 1e-5, "FD " .. k)
    worst = math.max(worst, math.abs(gf[k] - fd) / math.abs(fd))
  end
  T.detail("max rel err %.1e", worst)
end)

T.case("loss: empty subset, grad into a tensor, NaN flag, rho, fields", function()
  local ds, dt, x = rand_batch(7, 0.5), rand_batch(8, 0.5), rand_batch(9, 0.5)
  local loss = ct.loss() -- cauchy, c = 0.03456, ict, diffusion 5
  T.eq(loss.name, "cauchy"); T.eq(loss.weighting, "ict"); T.eq(loss.diffusion, 5)
  T.near(loss.c, 0.03456, 0, 1e-15)
  local L0, i0 = loss:value(ds, dt, 1.0, 0.5)
  local L1, i1 = loss:value(ds, dt, nil, nil, {index = {1, 2, 3, 4}, N = 11, x = x})
  T.eq(i1.diff_count, 0); T.eq(i1.loss_diff, 0); T.ok(L1 == L1, "not NaN")
  local g = lctw.tensor.zeros({B, C, H, W})
  local _, _, g2 = loss:value(ds, dt, 1.0, 0.5, {grad = g})
  T.ok(g2 == g, "the given tensor is returned")
  T.ok(g:abs():sum() > 0, "written")
  T.ok(i0.frac_over_c >= 0 and i0.frac_over_c <= 1)
  local bad = lctw.tensor.from({{0 / 0, 1}, {1, 1}})
  local _, ib = loss:value(bad, lctw.tensor.zeros({2, 2}), 1.0, 0.5)
  T.eq(ib.finite, false, "NaN flagged")
  local r, dr = loss:rho(0.5)
  T.near(r, math.log(1 + 0.5 / (2 * 0.03456 ^ 2)), 0, 1e-14)
  T.near(dr, 1 / (0.5 + 2 * 0.03456 ^ 2), 0, 1e-14)
  loss.name = "gm"; T.eq(loss.name, "geman_mcclure")
  loss.diffusion = 0; loss.weighting = "uniform"
  local _, iu = loss:value(ds, dt, 1.0, nil, {per_sample = false})
  T.eq(iu.m, nil, "per_sample = false"); T.eq(iu.mean_w, 1)
  T.ok(tostring(loss):find("geman_mcclure c=0.03456 weighting=uniform diffusion=0", 1, true))
  local off = ct.loss("l2", {diffusion = false}); T.eq(off.diffusion, 0)
  local tl = ct.loss{name = "huber_new", c = 0.1}; T.eq(tl.name, "pseudo_huber_elem")
end)

T.case("loss: errors", function()
  local ds, dt = rand_batch(1, 1), rand_batch(2, 1)
  T.errors(function() ct.loss("cauchyy") end, "unknown kind 'cauchyy'")
  T.errors(function() ct.loss("cauchy", {c = 0}) end, "c must be finite and > 0, got 0")
  T.errors(function() ct.loss("cauchy", {weighting = "snr"}) end, "unknown weighting 'snr'")
  T.errors(function() ct.loss("cauchy", {cc = 1}) end, "unknown option 'cc'")
  local loss = ct.loss()
  T.errors(function() loss:value(ds, dt, 0.5, 1.0) end, "sample 0 needs sigma > sigma_next")
  T.errors(function() loss:value(ds, dt, {1, 2}, 0.5) end, "table has 2 entries, expected 4")
  T.errors(function() loss:value(ds, dt) end, "sigma is nil")
  T.errors(function() loss:value(ds, dt, nil, nil, {index = {1, 2, 3, 11}, N = 11}) end,
           "index[4] = 11 is not an integer in 1..10")
  T.errors(function() loss:value(ds, dt, nil, nil, {index = {9, 9, 9, 9}, N = 11}) end,
           "option x (the clean data) is missing")
  T.errors(function() loss:value(ds, lctw.tensor.zeros({4, 2, 3, 2}), 1, 0.5) end,
           "D_t has shape 4×2×3×2, expected 4×2×3×3")
  T.errors(function() loss.c = -1 end, "c must be finite and > 0")
  T.errors(function() loss.name = "nope" end, "unknown kind 'nope'")
  T.errors(function() loss.foo = 1 end, "no writable field 'foo'")
end)

T.case("help texts on every function and method", function()
  local n = 0
  for name, fn in pairs(ct) do
    if type(fn) == "function" then
      T.ok(lctw._help_of(fn), "no help for lctw.ct.%s", name); n = n + 1
    end
  end
  local objs = {ct.curriculum{total = 10}, ct.index_sampler(), ct.c_schedule("ict"), ct.loss()}
  for _, o in ipairs(objs) do
    T.ok(lctw._help_of(o), "no type help for %s", tostring(o))
    for name, fn in pairs(getmetatable(o).__methods) do
      T.ok(lctw._help_of(fn), "no help for method %s", name); n = n + 1
    end
  end
  T.ok(lctw._help_of(ct), "module help")
  T.detail("%d functions and methods", n)
end)

T.done()
