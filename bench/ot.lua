-- bench/ot.lua — OT coupling speed (ALGORITHM.md §4.3 item 2): the squared-L2 cost matrix (one
-- sgemm + norms in double) and the exact assignment, timed separately, for latent-sized samples
-- (d = 4×32×32 = 4096; x with std 0.5 like normalised latents, unit noise).
-- Target: the 256×256 assignment under 10 ms on a 2-core CPU. The solver is single-threaded, so
-- its thread CPU time ("cpu") is its cost; wall times include preemption on a busy machine.
--   bin/lctw bench/ot.lua            (make bench runs every bench/*.lua)
if not (lctw.ct and lctw.ct.ot_assign) then
  print("ot: lctw.ct.ot_assign is not registered (l_ct_open must call l_ot_register); skipped")
  return
end

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or 0.5 * (t[n // 2] + t[n // 2 + 1])
end
local function max(t)
  local m = -math.huge
  for _, v in ipairs(t) do m = math.max(m, v) end
  return m
end

local d, reps = 4096, 15
print(string.format("%-5s %-5s %10s | %10s %10s | %10s %10s | %11s", "b", "d", "cost ms",
  "solve ms", "max", "cpu ms", "cpu max", "cost/b"))
local result
for _, b in ipairs{64, 128, 256, 512} do
  local cost_t, solve_t, cpu_t, last = {}, {}, {}, 0
  for r = 1, reps + 2 do
    local x = lctw.tensor.randn({b, 4, 32, 32}, {seed = 1000 * b + r}) * 0.5
    local z = lctw.tensor.randn({b, 4, 32, 32}, {seed = 7000 * b + r})
    local _, cost, times = lctw.ct.ot_assign(x, z)
    if r > 2 then -- the first two are warm-up (page faults, BLAS threads)
      cost_t[#cost_t + 1] = 1e3 * times.cost_s
      solve_t[#solve_t + 1] = 1e3 * times.solve_s
      cpu_t[#cpu_t + 1] = 1e3 * times.solve_cpu_s
      last = cost / b
    end
    x:free(); z:free()
  end
  local row = {median(cost_t), median(solve_t), max(solve_t), median(cpu_t), max(cpu_t)}
  print(string.format("%-5d %-5d %10.2f | %10.2f %10.2f | %10.2f %10.2f | %11.1f", b, d,
    row[1], row[2], row[3], row[4], row[5], last))
  if b == 256 then result = row end
end
print(string.format("256×256 assignment, %d instances: median %.2f ms wall, %.2f ms cpu (max "
  .. "%.2f ms cpu) — %s (target < 10 ms); cost matrix GEMM median %.2f ms", reps, result[2],
  result[4], result[5], result[5] < 10 and "OK" or "SLOW", result[1]))
