#!/usr/bin/env bash
# Ctrl-C (SIGINT) during tr:run stops at a step boundary with the state consistent, and training
# continues afterwards with exactly the losses of an uninterrupted run.
cd "$(dirname "$0")/../.."
LCTW=${LCTW:-bin/lctw}
name=test_train_interrupt.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/t.lua" <<'LUA'
local function mk()
  local m = lctw.model.unet{channels=16, channel_mult={1,2}, num_blocks=1, attn_resolutions={4},
                            channels_per_head=16, in_shape={4,8,8}, seed=1}
  local d = lctw.data.synthetic{n=64, shape={4,8,8}, seed=2}
  return lctw.trainer{model=m, data=d, batch=8, total_steps=100000, seed=5, s0=2, s1=8}
end
local tr = mk()
local _, why = tr:run{steps=100000, log_every=1}
print("RUN RETURNED " .. tostring(why) .. " at " .. tr.steps)
local k = tr.steps
local l1 = tr:step().loss
-- the same run without interruption
local ref = mk()
for _ = 1, k do ref:step() end
local l2 = ref:step().loss
print(string.format("CONTINUED %d %.17g %.17g %s", tr.steps, l1, l2, tostring(l1 == l2)))
LUA
"$LCTW" "$tmp/t.lua" > "$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  grep -q "^step 3/" "$tmp/out" 2>/dev/null && break
  sleep 0.1
done
kill -INT $pid 2>/dev/null
for _ in $(seq 1 600); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -KILL $pid 2>/dev/null
wait $pid; rc=$?
if grep -q "stopped at step" "$tmp/out" && grep -q "RUN RETURNED interrupted" "$tmp/out" &&
   grep -q "^CONTINUED .* true$" "$tmp/out" && [ $rc -eq 0 ]; then
  echo "PASS $name: Ctrl-C during tr:run: $(grep -o 'stopped at step [0-9]*' "$tmp/out"), continued with identical losses"
else
  echo "FAIL $name: Ctrl-C during tr:run (exit $rc): $(tail -4 "$tmp/out" | tr '\n' '|')"
fi
