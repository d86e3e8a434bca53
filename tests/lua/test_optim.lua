-- test_optim.lua — lctw.optim from Lua (optimizer objects against the PyTorch 1.13 fixture, lr
-- changes, state save/restore, EMA against a double loop, clipping, NaN scan) and the OT coupling
-- lctw.ct.ot_assign / ot_couple against brute force over all permutations.
local T = dofile("tests/lua/harness.lua")
local optim = lctw.optim
local FIXTURE = "tests/fixtures/optim_radam.safetensors"

local function flat(t) return t:totable() end

-- trainable entries of the fixture's buffer: [1,16] and [25,40] (entries 17..24 are a frozen
-- parameter, which the Lua API, with every element trainable, does update)
local function trainable(i) return i <= 16 or i >= 25 end

local function run_fixture(name, opt, lr_change_step, lr_after)
  local fx = lctw.safetensors.load(FIXTURE)
  local p = fx.theta0:clone()
  local traj = fx[name .. ".theta"]
  local worst = 0
  for t = 1, 30 do
    if lr_change_step and t == lr_change_step then opt.lr = lr_after end
    T.eq(opt:step(p, fx.grads[t]), t, "step count")
    local got, want = flat(p), flat(traj[t])
    for i = 1, 40 do
      if trainable(i) then
        T.near(got[i], want[i], 1e-9, 1e-6, string.format("%s step %d entry %d", name, t, i))
        worst = math.max(worst, math.abs(got[i] - want[i]) / math.abs(want[i]))
      end
    end
  end
  T.detail("30 steps, max rel err %.1e", worst)
  return opt
end

T.case("radam vs torch (wd, lr change at step 20)", function()
  local opt = optim.radam{lr = 1e-2, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0.1}
  run_fixture("radam_wd", opt, 20, 5e-3)
  T.eq(opt.steps, 30, "opt.steps")
  T.near(opt.lr, 5e-3, 0, 1e-15, "opt.lr")
end)

T.case("radam vs torch (eps 1e-4)", function()
  run_fixture("radam_eps", optim.radam{lr = 1e-2, eps = 1e-4, weight_decay = 1e-4})
end)

T.case("adam vs torch (wd, eps 1e-3, lr change)", function()
  run_fixture("adam", optim.adam{lr = 1e-2, eps = 1e-3, weight_decay = 0.05}, 10, 2e-2)
end)

T.case("adamw vs torch via optim.new", function()
  run_fixture("adamw", optim.new("adamw", {lr = 1e-2, weight_decay = 0.1}))
end)

T.case("fields, defaults and errors", function()
  local o = optim.adamw{}
  T.eq(o.kind, "adamw")
  T.near(o.lr, 1e-3, 0, 1e-15, "default lr")
  T.near(o.weight_decay, 1e-2, 0, 1e-15, "adamw default weight_decay")
  T.near(o.betas[2], 0.999, 0, 1e-15, "betas")
  T.eq(o.steps, 0, "steps before the first step")
  o.betas = {0.8, 0.95}
  T.near(o.beta1, 0.8, 0, 1e-15, "beta1 after setting betas")
  T.ok(tostring(o):find("adamw", 1, true), "tostring: %s", tostring(o))
  T.errors(function() o.lr = -1 end, "learning rate")
  T.near(o.lr, 1e-3, 0, 1e-15, "lr unchanged after a rejected value")
  T.errors(function() o.momentum = 0.9 end, "cannot set field 'momentum'")
  T.errors(function() optim.radam{lr = 1e-3, weight_decy = 1e-4} end,
    "unknown option 'weight_decy'")
  T.errors(function() optim.radam{betas = {0.9, 1.0}} end, "beta2")
  T.errors(function() optim.new("sgd", {}) end, "unknown optimizer 'sgd'")
  local p, g = lctw.tensor.zeros({4}), lctw.tensor.zeros({5})
  T.errors(function() o:step(p, g) end, "5 elements, expected 4")
  o:step(p, lctw.tensor.zeros({4}))
  T.errors(function() o:step(lctw.tensor.zeros({6}), lctw.tensor.zeros({6})) end,
    "holds state for 4 elements")
end)

T.case("state save and restore continue identically", function()
  local fx = lctw.safetensors.load(FIXTURE)
  local a = optim.radam{lr = 1e-2, weight_decay = 1e-3}
  local pa = fx.theta0:clone()
  for t = 1, 10 do a:step(pa, fx.grads[t]) end
  local s = a:state()
  T.eq(s.step, 10, "state.step")
  T.eq(s.kind, "radam", "state.kind")
  local b = optim.radam{lr = 1e-2, weight_decay = 1e-3}
  b:load_state{step = s.step, m = s.m:clone(), v = s.v:clone()}
  local pb = pa:clone()
  for t = 11, 30 do
    a:step(pa, fx.grads[t])
    b:step(pb, fx.grads[t])
  end
  local x, y = flat(pa), flat(pb)
  for i = 1, 40 do T.eq(x[i], y[i], "entry " .. i) end
  a:reset()
  T.eq(a.steps, 0, "reset")
  T.eq(a:state().m:sum(), 0, "reset m")
end)

T.case("ema vs double loop", function()
  local n, decays = 50, {0.9, 0.99, 0.99993}
  local p = lctw.tensor.randn({n}, {seed = 3})
  local ema = optim.ema{decays = decays, params = p}
  local ref = {}
  for k = 1, #decays do ref[k] = flat(p) end
  local g = lctw.tensor.randn({n}, {seed = 4})
  for _ = 1, 200 do
    p:add_(g * 0.01)
    ema:update(p)
    local x = flat(p)
    for k, d in ipairs(decays) do
      for i = 1, n do ref[k][i] = d * ref[k][i] + (1 - d) * x[i] end
    end
  end
  T.eq(ema.updates, 200, "updates")
  T.eq(ema:find(0.99), 2, "find")
  T.eq(ema:find(0.5), nil, "find missing")
  local worst = 0
  for k = 1, #decays do
    local a = flat(ema:get(k))
    for i = 1, n do
      T.near(a[i], ref[k][i], 1e-5, 0, string.format("decay %g entry %d", decays[k], i))
      worst = math.max(worst, math.abs(a[i] - ref[k][i]))
    end
  end
  T.detail("max abs err %.1e", worst)
  T.errors(function() ema:get(4) end, "out of range")
  local e2 = optim.ema{decays = {0.999}}
  T.errors(function() e2:update(p) end, "not initialised")
  e2:reset(p)
  e2:update(p)
  T.eq(e2.updates, 1)
  T.errors(function() optim.ema{decays = {1.5}} end, "decay 1 must be a number in [0, 1]")
  T.errors(function() optim.ema{decays = {0.9}, param = p} end, "unknown option 'param'")
end)

T.case("clip_grad_norm and grad_norm", function()
  local g = lctw.tensor.randn({1000}, {seed = 5}) * 3
  local ss = 0
  for _, v in ipairs(flat(g)) do ss = ss + v * v end
  local want = math.sqrt(ss)
  T.near(optim.grad_norm(g), want, 0, 1e-12, "grad_norm")
  T.near(optim.clip_grad_norm(g, 0), want, 0, 1e-12, "max_norm 0 measures")
  T.near(optim.clip_grad_norm(g, 1e9), want, 0, 1e-12, "no clip above the norm")
  T.near(optim.clip_grad_norm(g, 2.0), want, 0, 1e-12, "returns the pre-clip norm")
  T.near(optim.grad_norm(g), 2.0, 0, 1e-5, "norm after clipping")
end)

T.case("has_nonfinite", function()
  local g = lctw.tensor.randn({100}, {seed = 6})
  local bad, count, first = optim.has_nonfinite(g)
  T.eq(bad, false)
  T.eq(count, 0)
  T.eq(first, nil)
  g[37] = 0 / 0
  g[90] = math.huge
  bad, count, first = optim.has_nonfinite(g)
  T.eq(bad, true)
  T.eq(count, 2)
  T.eq(first, 37)
end)

T.case("help texts", function()
  for _, f in ipairs{"radam", "adam", "adamw", "new", "ema", "clip_grad_norm", "grad_norm",
                     "has_nonfinite"} do
    T.ok(lctw._help_of(optim[f]), "no help for lctw.optim.%s", f)
  end
  T.ok(lctw._help_of(optim.radam{}):find("Optimizer", 1, true), "type help of an optimizer")
  T.ok(lctw._help_of(optim.ema{decays = {0.9}}):find("EMA", 1, true), "type help of an EMA")
end)

-- ---- OT (lctw.ct.ot_assign is added to lctw.ct by l_ot_register) ----------------------------

local function permutations(n)
  local res, a = {}, {}
  for i = 1, n do a[i] = i end
  local function gen(k)
    if k == 0 then res[#res + 1] = {table.unpack(a)} return end
    for i = 1, k do
      a[i], a[k] = a[k], a[i]
      gen(k - 1)
      a[i], a[k] = a[k], a[i]
    end
  end
  gen(n)
  return res
end

if not (lctw.ct and lctw.ct.ot_assign) then
  T.skip("ot_assign vs brute force",
    "lctw.ct.ot_assign not registered (l_ct_open must call l_ot_register)")
else
  T.case("ot_assign vs brute force", function()
    local b, d = 6, 20
    local perms = permutations(b)
    for rep = 1, 10 do
      local x = lctw.tensor.randn({b, d}, {seed = 100 + rep}) * 0.5
      local z = lctw.tensor.randn({b, d}, {seed = 200 + rep})
      local perm, cost = lctw.ct.ot_assign(x, z)
      local X, Z = x:totable(), z:totable()
      local C = {}
      for j = 1, b do
        C[j] = {}
        for k = 1, b do
          local s = 0
          for e = 1, d do s = s + (X[j][e] - Z[k][e]) ^ 2 end
          C[j][k] = s
        end
      end
      local best = math.huge
      for _, p in ipairs(perms) do
        local s = 0
        for j = 1, b do s = s + C[j][p[j]] end
        if s < best then best = s end
      end
      local seen, got = {}, 0
      for j = 1, b do
        T.ok(perm[j] >= 1 and perm[j] <= b and not seen[perm[j]], "perm is not a permutation")
        seen[perm[j]] = true
        got = got + C[j][perm[j]]
      end
      T.near(got, best, 0, 1e-6, "cost of the returned matching")
      T.near(cost, best, 0, 1e-5, "returned cost")
    end
    T.errors(function() lctw.ct.ot_assign(lctw.tensor.zeros({4, 3}), lctw.tensor.zeros({5, 3})) end,
      "expected the same shape")
  end)

  T.case("ot_couple pairs noise rows", function()
    local x = lctw.tensor.randn({8, 2, 3}, {seed = 11})
    local z = lctw.tensor.randn({8, 2, 3}, {seed = 12})
    local zp, perm, cost = lctw.ct.ot_couple(x, z)
    local _, cost2 = lctw.ct.ot_assign(x, z)
    T.near(cost, cost2, 0, 1e-12, "same cost")
    local Z, P = z:totable(), zp:totable()
    for j = 1, 8 do
      for a = 1, 2 do
        for c = 1, 3 do T.eq(P[j][a][c], Z[perm[j]][a][c], "paired row " .. j) end
      end
    end
    local direct = 0
    local X = x:totable()
    for j = 1, 8 do
      for a = 1, 2 do for c = 1, 3 do direct = direct + (X[j][a][c] - P[j][a][c]) ^ 2 end end
    end
    T.near(direct, cost, 0, 1e-5, "cost of the paired batch")
  end)
end

T.done()
