#!/usr/bin/env bash
# The live dashboard in real terminals (tmux): panels and status line at 80×24 and 200×50, the
# keys (F10 and Esc 0 stop, F5 pause, F3 log-y, F4 / Esc 4 histogram, F2 save, F1 help; plain
# letters go to the prompt), the too-small message, resizing, --dash/--ascii, Ctrl-C, a Lua error
# inside the loop (terminal restored, error re-raised), a viewer without a prompt (plain q quits,
# metrics pushed as decoded metrics.jsonl lines) and the plain progress lines without a terminal.
# Each wait is bounded (≤ 10 s).
name=test_dash.sh
sock="lctw-dash-$$"
source "$(dirname "$0")/tmux_lib.sh"

cat > "$tmp/t.lua" <<'LUA'
local m = lctw.model.unet{channels=16, channel_mult={1,2}, num_blocks=1, attn_resolutions={4},
                          channels_per_head=16, in_shape={4,8,8}, seed=1}
local d = lctw.data.synthetic{n=64, shape={4,8,8}, seed=2}
local tr = lctw.trainer{model=m, data=d, batch=8, total_steps=100000, seed=5, s0=2, s1=8,
                        run_dir=arg[4]}
local mode = arg[1] or "dash"
local o = {steps = tonumber(arg[2] or "100000")}
if mode == "dash" then o.dash = true end
if arg[3] and arg[3] ~= "-" then o.checkpoint, o.checkpoint_every = arg[3], 5 end
if mode == "boom" then
  o.dash = true
  o.on_step = function(m) if m.step == 30 then error("boom at step 30") end end
end
local last, why = tr:run(o)
print(string.format("AFTER RUN %s steps=%d last=%s", tostring(why), tr.steps,
                    tostring(last and last.step)))
LUA

# start session cols rows lctw-args...: the pane records the tty settings before and after
start() {
  local s=$1 c=$2 r=$3; shift 3
  T new-session -d -s "$s" -x "$c" -y "$r" \
    "cd '$PWD'; s0=\$(stty -g); LANG=C.UTF-8 TERM=xterm-256color '$LCTW' $*; echo EXIT=\$?; \
     [ \"\$(stty -g)\" = \"\$s0\" ] && echo TTY-RESTORED; sleep 30"
}
titles='loss: ct .*EMA'
status='step [0-9]+/100000 +N=[0-9]+ \([0-9]+/[0-9]+\) +lr [0-9.e-]+ +[0-9]+ samples/s +ETA'
# wait_gone session regex [seconds]: 0 when the pane stops showing it in time
wait_gone() {
  local i
  for i in $(seq 1 $((${3:-10} * 10))); do
    cap "$1" | grep -qE -- "$2" || return 0
    sleep 0.1
  done
  return 1
}
# wait_step_change session step [seconds]: 0 when the status line shows another step in time
wait_step_change() {
  local i
  for i in $(seq 1 $((${3:-10} * 10))); do
    [ "$(step_of "$1")" != "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# 1. 80×24: every panel, the prompt and the status line; plain q goes to the prompt (training
#    goes on); F10 stops, the script continues, the tty is restored
start a 80 24 "$tmp/t.lua" dash 100000 "$tmp/ck.st"
if wait_for a "$status" && wait_for a "latents kurt" 3; then
  scr=$(cap a)
  miss=""
  for p in "$titles" " c [0-9.e-]+ .*frac>c" "latents kurt .*>3.* >5" "F1 help  F2 save  F3 log-y" \
           "$status" "^lctw>" "ckpt [^ ]+ +cpu [0-9]"; do
    printf '%s\n' "$scr" | grep -qE -- "$p" || miss="$miss [$p]"
  done
  [ -z "$miss" ] && pass "80x24: panels, prompt, key hints and status line (device, memory) shown" ||
    fail "80x24: missing$miss: $(printf '%s' "$scr" | head -3 | tr '\n' '|')"
  wait_for a "ckpt ck.st@[0-9]+" 5 && pass "80x24: status line names the last checkpoint" ||
    fail "80x24: no checkpoint in the status line: $(cap a | head -1)"
  # braille dots in the loss chart (UTF-8 locale)
  printf '%s\n' "$scr" | LC_ALL=C grep -q $'\xe2[\xa0-\xa3]' && pass "80x24: braille chart drawn" ||
    fail "80x24: no braille cells in the chart"
  T send-keys -t a q
  s1=$(step_of a)
  if wait_for a "^lctw> q" 5; then
    wait_step_change a "$s1" 5
    s2=$(step_of a)
    if [ -n "$s1" ] && [ -n "$s2" ] && [ "$s2" -gt "$s1" ] && ! cap a | grep -q "AFTER RUN"; then
      pass "plain q goes to the prompt; training goes on (step $s1 -> $s2)"
    else
      fail "q: training stopped or stalled ($s1 -> $s2)"
    fi
  else
    fail "q did not reach the prompt line: $(cap a | tail -3 | tr '\n' '|')"
  fi
else
  fail "80x24: no dashboard within 10 s: $(cap a | head -3 | tr '\n' '|')"
fi
T send-keys -t a F10
if wait_for a "AFTER RUN nil steps=[0-9]+" && wait_for a "TTY-RESTORED" 3; then
  out=$(cap a)
  if printf '%s\n' "$out" | grep -q "stopped at step" && printf '%s\n' "$out" | grep -q "EXIT=0"; then
    pass "F10 stops at a step boundary; the script continues; terminal restored ($(printf '%s\n' "$out" | grep -o 'AFTER RUN.*'))"
  else
    fail "F10: $(printf '%s' "$out" | grep -v '^$' | tail -3 | tr '\n' '|')"
  fi
else
  fail "F10 did not stop training or left the tty changed: $(cap a | grep -v '^$' | tail -3 | tr '\n' '|')"
fi
T kill-session -t a 2>/dev/null

# 2. 200×50 with a run_dir: F2 saves there; F3 log-y; F4 / Esc 4 cycle the histogram; resized to
#    40×10 (the size message) and back to 120×30; F5 pauses and resumes; F1 help; Esc 0 stops
start b 200 50 "$tmp/t.lua" dash 100000 - "$tmp/runb"
if wait_for b "$status"; then
  cap b | grep -q "latents kurt" && cap b | grep -qE "ckpt none  cpu [0-9.]+[MG]" &&
    pass "200x50: panels shown, device and memory in full" ||
    fail "200x50: no histogram panel or memory: $(cap b | head -1)"
  T send-keys -t b F2
  if wait_for b "ckpt checkpoint.safetensors@[0-9]+" 5 && [ -s "$tmp/runb/checkpoint.safetensors" ]; then
    pass "F2 saves run_dir/checkpoint.safetensors and the status line says so"
  else
    fail "F2: $(cap b | head -1)"
  fi
  T send-keys -t b F3
  wait_for b "\[log-y\]" 3 && pass "F3: log-y on the loss charts" || fail "F3: no [log-y]"
  T send-keys -t b F4
  if wait_for b "residuals .*c [0-9.e-]+ .*>c" 3 && ! cap b | grep -q "latents kurt"; then
    T send-keys -t b Escape 4
    wait_for b "latents kurt" 3 && pass "F4 shows the residual histogram, Esc 4 the latents again" ||
      fail "Esc 4: $(cap b | grep -E 'residuals|latents' | head -1)"
  else
    fail "F4: no residual histogram"
  fi
  T resize-window -t b -x 40 -y 10
  wait_for b "terminal too small: 40x10" && wait_for b "need at least 80x24" 2 &&
    pass "resize to 40x10: size message" ||
    fail "resize to 40x10: $(cap b | grep -v '^$' | head -3 | tr '\n' '|')"
  T resize-window -t b -x 120 -y 30
  if wait_for b "latents kurt" && ! cap b | grep -q "too small"; then
    pass "resize back to 120x30: panels again"
  else
    fail "resize back: $(cap b | grep -v '^$' | head -3 | tr '\n' '|')"
  fi
  T send-keys -t b F5
  if wait_for b "\[PAUSED\]" 5; then
    sleep 0.3; s1=$(step_of b); sleep 1
    s2=$(step_of b)
    T send-keys -t b F5
    wait_step_change b "$s2" 5
    s3=$(step_of b)
    if [ "$s1" = "$s2" ] && [ "$s3" != "$s2" ]; then
      pass "F5 pauses (step $s1 stays) and resumes ($s3)"
    else
      fail "pause: $s1 / $s2 / $s3"
    fi
  else
    fail "F5: no [PAUSED] marker"
  fi
  T send-keys -t b F1
  wait_for b "stop at the next step boundary" 5 && wait_for b "Esc 4 .*histogram" 1 &&
    pass "F1 shows the help overlay with every key" || fail "no help overlay"
  T send-keys -t b x
  if wait_gone b "stop at the next step boundary" 5; then
    T send-keys -t b Escape 0
    wait_for b "AFTER RUN" && pass "any key closes the help; Esc 0 stops" || fail "200x50: Esc 0"
  else
    fail "the help overlay did not close"
  fi
else
  fail "200x50: no dashboard within 10 s: $(cap b | head -3 | tr '\n' '|')"
fi
T kill-session -t b 2>/dev/null

# 3. a too-small terminal from the start: the message names the size needed; F10 still stops
start c 40 10 "$tmp/t.lua" dash
if wait_for c "terminal too small: 40x10" && wait_for c "need at least 80x24" 2; then
  T send-keys -t c F10
  wait_for c "AFTER RUN" && pass "40x10: size message, F10 stops" || fail "40x10: F10 did not stop"
else
  fail "40x10: $(cap c | grep -v '^$' | head -3 | tr '\n' '|')"
fi
T kill-session -t c 2>/dev/null

# 4. --dash --ascii: tr:run without dash= shows the dashboard, in ASCII only; Ctrl-C stops
start d 80 24 --dash --ascii "$tmp/t.lua" plain
if wait_for d "$status" && wait_for d "latents kurt" 3; then
  scr=$(cap d)
  if printf '%s\n' "$scr" | grep -q '^+- loss: ct' && ! printf '%s\n' "$scr" | grep -qP '[^\x00-\x7f]'; then
    pass "--dash --ascii: dashboard from tr:run{} with ASCII glyphs only"
  else
    fail "--ascii: non-ASCII output or no ASCII frame: $(printf '%s' "$scr" | head -2 | tr '\n' '|')"
  fi
  T send-keys -t d C-c
  if wait_for d "AFTER RUN interrupted" && wait_for d "TTY-RESTORED" 3; then
    pass "Ctrl-C: $(cap d | grep -o 'stopped at step [0-9]*'), returns \"interrupted\", tty restored"
  else
    fail "Ctrl-C: $(cap d | grep -v '^$' | tail -3 | tr '\n' '|')"
  fi
else
  fail "--dash: no dashboard: $(cap d | head -3 | tr '\n' '|')"
fi
T kill-session -t d 2>/dev/null

# 5. a Lua error inside the loop: curses ends, the error is re-raised, the tty is restored
start e 80 24 "$tmp/t.lua" boom
if wait_for e "EXIT=" && wait_for e "TTY-RESTORED" 3; then
  out=$(cap e)
  if printf '%s\n' "$out" | grep -q "boom at step 30" && printf '%s\n' "$out" | grep -q "EXIT=1" &&
     ! printf '%s\n' "$out" | grep -q "AFTER RUN"; then
    pass "error in on_step: terminal restored, error re-raised (exit 1)"
  else
    fail "error in on_step: $(printf '%s' "$out" | grep -v '^$' | tail -4 | tr '\n' '|')"
  fi
else
  fail "error in on_step: $(cap e | grep -v '^$' | tail -4 | tr '\n' '|')"
fi
T kill-session -t e 2>/dev/null

# 6. a viewer (prompt=false, as lctw --attach): decoded metrics.jsonl lines pushed, a plan from
#    run.json's object, no prompt row; plain q quits
cat > "$tmp/v.lua" <<'LUA'
local D = lctw.dash
D._reset()
D._schedule{total_steps = 100, schedule = {{stage = 1, N = 11, start_step = 0, c = 0.03},
                                           {stage = 2, N = 21, start_step = 50, c = 0.01}}}
local counts = {}
for i = 1, 64 do counts[i] = math.floor(1000 * math.exp(-((i - 32.5) / 8) ^ 2 / 2)) end
for s = 1, 60 do
  D._push{step = s, loss_ct = 1 / s + (s == 40 and 5 or 0), loss_diff = 0.5 / s, diff_count = 3,
          c = s <= 50 and 0.03 or 0.01, frac_over_c = 0.3, skipped = (s == 20),
          latent_mean = 0, latent_std = 1, latent_kurtosis = 0.5, latent_tail3 = 0.004,
          latent_tail5 = 0, latent_hist = {lo = -4, hi = 4, counts = counts},
          resid_hist = {lo = 0.01, hi = 0.09, counts = counts}}
end
D._push{step = 61, loss_ct = "bad", c = {}, latent_hist = 3} -- wrong types are gaps, no error
D._open(false, {prompt = false})
local why
while not why do
  D._draw("viewer step 61/100", false)
  local k = D._poll(100)
  if k == "quit" then why = k end
end
D._close()
print("VIEWER " .. why)
LUA
start f 80 24 "$tmp/v.lua"
if wait_for f "viewer step 61/100" && wait_for f "latents kurt 0.50" 3; then
  scr=$(cap f)
  if printf '%s\n' "$scr" | grep -q "q/F10 quit" && ! printf '%s\n' "$scr" | grep -q "lctw> " &&
     printf '%s\n' "$scr" | grep -qE "spike>|: 1\)"; then
    pass "viewer: pushed jsonl-style metrics drawn, one spike counted, no prompt row"
  else
    fail "viewer screen: $(printf '%s' "$scr" | grep -E 'loss|quit' | head -2 | tr '\n' '|')"
  fi
  T send-keys -t f q
  wait_for f "VIEWER quit" && wait_for f "TTY-RESTORED" 3 && pass "viewer: plain q quits" ||
    fail "viewer: q: $(cap f | grep -v '^$' | tail -2 | tr '\n' '|')"
else
  fail "viewer: $(cap f | grep -v '^$' | head -3 | tr '\n' '|')"
fi
T kill-session -t f 2>/dev/null

# 7. no terminal: dash=true prints the plain progress lines
out=$(timeout 20 "$LCTW" "$tmp/t.lua" dash 12 </dev/null 2>&1)
if printf '%s\n' "$out" | grep -q "^step 12/100000" && printf '%s\n' "$out" | grep -q "AFTER RUN nil steps=12 last=12" &&
   ! printf '%s\n' "$out" | grep -q $'\e'; then
  pass "stdout not a terminal: progress lines, no escape codes"
else
  fail "no terminal: $(printf '%s' "$out" | tail -3 | tr '\n' '|')"
fi
exit $((fails > 0))
