#!/usr/bin/env bash
# The live dashboard in real terminals (tmux): panels and status line at 80×24 and 200×50,
# q stops training and the script goes on, the too-small message, resizing, --dash/--ascii,
# Ctrl-C, a Lua error inside the loop (terminal restored, error re-raised) and the plain progress
# lines without a terminal. Each wait is bounded (≤ 10 s).
cd "$(dirname "$0")/../.."
LCTW=${LCTW:-bin/lctw}
LCTW=$(cd "$(dirname "$LCTW")" && pwd)/$(basename "$LCTW")
name=test_dash.sh
if ! command -v tmux >/dev/null 2>&1; then
  echo "SKIP $name: tmux is not installed"
  exit 0
fi
tmp=$(mktemp -d)
sock="lctw-dash-$$"
T() { tmux -L "$sock" -f /dev/null "$@"; }
trap 'T kill-server 2>/dev/null; rm -rf "$tmp"' EXIT
T new-session -d -s keep "sleep 120" # keeps the server up between the cases

cat > "$tmp/t.lua" <<'LUA'
local m = lctw.model.unet{channels=16, channel_mult={1,2}, num_blocks=1, attn_resolutions={4},
                          channels_per_head=16, in_shape={4,8,8}, seed=1}
local d = lctw.data.synthetic{n=64, shape={4,8,8}, seed=2}
local tr = lctw.trainer{model=m, data=d, batch=8, total_steps=100000, seed=5, s0=2, s1=8}
local mode = arg[1] or "dash"
local o = {steps = tonumber(arg[2] or "100000")}
if mode == "dash" then o.dash = true end
if arg[3] then o.checkpoint, o.checkpoint_every = arg[3], 5 end
if mode == "boom" then
  o.dash = true
  o.on_step = function(m) if m.step == 30 then error("boom at step 30") end end
end
local last, why = tr:run(o)
print(string.format("AFTER RUN %s steps=%d last=%s", tostring(why), tr.steps,
                    tostring(last and last.step)))
LUA

fails=0
pass() { echo "PASS $name: $*"; }
fail() { echo "FAIL $name: $*"; fails=$((fails + 1)); }
cap() { T capture-pane -p -t "$1" 2>/dev/null; }
# wait_for session regex [seconds]: 0 when the pane shows it in time
wait_for() {
  local i
  for i in $(seq 1 $((${3:-10} * 10))); do
    cap "$1" | grep -qE -- "$2" && return 0
    sleep 0.1
  done
  return 1
}
# start session cols rows lctw-args...: the pane records the tty settings before and after
start() {
  local s=$1 c=$2 r=$3; shift 3
  T new-session -d -s "$s" -x "$c" -y "$r" \
    "cd '$PWD'; s0=\$(stty -g); LANG=C.UTF-8 TERM=xterm-256color '$LCTW' $*; echo EXIT=\$?; \
     [ \"\$(stty -g)\" = \"\$s0\" ] && echo TTY-RESTORED; sleep 30"
}
titles='loss: raw .*EMA'
status='step [0-9]+/100000  N=[0-9]+  lr [0-9.e-]+  [0-9]+ samples/s  ETA'

# 1. 80×24: every panel and the status line; q stops, the script continues, the tty is restored
start a 80 24 "$tmp/t.lua" dash 100000 "$tmp/ck.st"
if wait_for a "$status" && wait_for a "loss histogram" 3; then
  scr=$(cap a)
  miss=""
  for p in "$titles" "c \\(.*frac>c" "loss histogram \\(last 200" "q/F10 stop" "$status"; do
    printf '%s\n' "$scr" | grep -qE -- "$p" || miss="$miss [$p]"
  done
  [ -z "$miss" ] && pass "80x24: panels, key hints and status line shown" ||
    fail "80x24: missing$miss: $(printf '%s' "$scr" | head -3 | tr '\n' '|')"
  wait_for a "ckpt ck.st@[0-9]+" 5 && pass "80x24: status line names the last checkpoint" ||
    fail "80x24: no checkpoint in the status line: $(cap a | head -1)"
  # braille dots in the loss chart (UTF-8 locale)
  printf '%s\n' "$scr" | LC_ALL=C grep -q $'\xe2[\xa0-\xa3]' && pass "80x24: braille chart drawn" ||
    fail "80x24: no braille cells in the chart"
else
  fail "80x24: no dashboard within 10 s: $(cap a | head -3 | tr '\n' '|')"
fi
T send-keys -t a q
if wait_for a "AFTER RUN nil steps=[0-9]+" && wait_for a "TTY-RESTORED" 3; then
  out=$(cap a)
  if printf '%s\n' "$out" | grep -q "stopped at step" && printf '%s\n' "$out" | grep -q "EXIT=0"; then
    pass "q stops at a step boundary; the script continues; terminal restored ($(printf '%s\n' "$out" | grep -o 'AFTER RUN.*'))"
  else
    fail "q: $(printf '%s' "$out" | grep -v '^$' | tail -3 | tr '\n' '|')"
  fi
else
  fail "q did not stop training or left the tty changed: $(cap a | grep -v '^$' | tail -3 | tr '\n' '|')"
fi
T kill-session -t a 2>/dev/null

# 2. 200×50, then resized to 40×10 (the size message) and back to 120×30; pause with p
start b 200 50 "$tmp/t.lua" dash
if wait_for b "$status"; then
  cap b | grep -q "loss histogram" && pass "200x50: panels shown" || fail "200x50: no histogram panel"
  T resize-window -t b -x 40 -y 10
  wait_for b "terminal too small: 40x10" && wait_for b "need at least 80x24" 2 &&
    pass "resize to 40x10: size message" ||
    fail "resize to 40x10: $(cap b | grep -v '^$' | head -3 | tr '\n' '|')"
  T resize-window -t b -x 120 -y 30
  if wait_for b "loss histogram" && ! cap b | grep -q "too small"; then
    pass "resize back to 120x30: panels again"
  else
    fail "resize back: $(cap b | grep -v '^$' | head -3 | tr '\n' '|')"
  fi
  T send-keys -t b p
  if wait_for b "\[PAUSED\]" 5; then
    s1=$(cap b | grep -oE 'step [0-9]+/' | head -1); sleep 0.6
    s2=$(cap b | grep -oE 'step [0-9]+/' | head -1)
    T send-keys -t b p; sleep 0.6
    s3=$(cap b | grep -oE 'step [0-9]+/' | head -1)
    if [ "$s1" = "$s2" ] && [ "$s3" != "$s2" ]; then
      pass "p pauses ($s1 stays) and resumes ($s3)"
    else
      fail "pause: $s1 / $s2 / $s3"
    fi
  else
    fail "p: no [PAUSED] marker"
  fi
  T send-keys -t b '?'
  wait_for b "stop training at the next step" 5 && pass "? shows the help overlay" ||
    fail "no help overlay"
  T send-keys -t b x q
  wait_for b "AFTER RUN" && pass "200x50: q after the help closes" || fail "200x50: q"
else
  fail "200x50: no dashboard within 10 s: $(cap b | head -3 | tr '\n' '|')"
fi
T kill-session -t b 2>/dev/null

# 3. a too-small terminal from the start: the message names the size needed; q still stops
start c 40 10 "$tmp/t.lua" dash
if wait_for c "terminal too small: 40x10" && wait_for c "need at least 80x24" 2; then
  T send-keys -t c q
  wait_for c "AFTER RUN" && pass "40x10: size message, q stops" || fail "40x10: q did not stop"
else
  fail "40x10: $(cap c | grep -v '^$' | head -3 | tr '\n' '|')"
fi
T kill-session -t c 2>/dev/null

# 4. --dash --ascii: tr:run without dash= shows the dashboard, in ASCII only; Ctrl-C stops
start d 80 24 --dash --ascii "$tmp/t.lua" plain
if wait_for d "$status" && wait_for d "loss histogram" 3; then
  scr=$(cap d)
  if printf '%s\n' "$scr" | grep -q '^+- loss' && ! printf '%s\n' "$scr" | grep -qP '[^\x00-\x7f]'; then
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

# 6. no terminal: dash=true prints the plain progress lines
out=$(timeout 20 "$LCTW" "$tmp/t.lua" dash 12 </dev/null 2>&1)
if printf '%s\n' "$out" | grep -q "^step 12/100000" && printf '%s\n' "$out" | grep -q "AFTER RUN nil steps=12 last=12" &&
   ! printf '%s\n' "$out" | grep -q $'\e'; then
  pass "stdout not a terminal: progress lines, no escape codes"
else
  fail "no terminal: $(printf '%s' "$out" | tail -3 | tr '\n' '|')"
fi
exit $((fails > 0))
