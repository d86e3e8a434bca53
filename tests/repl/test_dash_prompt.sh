#!/usr/bin/env bash
# The REPL prompt inside the dashboard, in real terminals (tmux): lines typed while training runs
# execute between two steps (tr.lr changes the status line), print and errors go to the output
# pane and training goes on, multi-line chunks, history (Up) and Tab completion, Ctrl-C stops only
# a typed command, lines run while paused, and afterwards the plain REPL works with the same
# history and the terminal is restored. Each wait is bounded (≤ 10 s).
name=test_dash_prompt.sh
sock="lctw-dprompt-$$"
source "$(dirname "$0")/tmux_lib.sh"

# a small, slow-enough run: each step sleeps a little so keys arrive while it trains
cat > "$tmp/t.lua" <<'LUA'
local m = lctw.model.unet{channels=8, channel_mult={1}, num_blocks=1, attn_resolutions={},
                          channels_per_head=8, in_shape={4,4,4}, seed=1}
local d = lctw.data.synthetic{n=16, shape={4,4,4}, seed=2}
local tr = lctw.trainer{model=m, data=d, batch=4, total_steps=100000, seed=5, s0=2, s1=8}
local last, why = tr:run{on_step = function() os.execute("sleep 0.03") end}
print(string.format("AFTER RUN %s lr=%g", tostring(why), tr.lr))
LUA

# wait_steps session: 0 when training moves on (the step number grows within 10 s)
wait_steps() {
  local s0 s1 i
  s0=$(step_of "$1")
  for i in $(seq 1 100); do
    sleep 0.1
    s1=$(step_of "$1")
    [ -n "$s0" ] && [ -n "$s1" ] && [ "$s1" -gt "$s0" ] && return 0
  done
  return 1
}
# type session text: the text, then Enter
type_line() { T send-keys -t "$1" -l "$2"; T send-keys -t "$1" Enter; }
prompt_row() { cap "$1" | grep -E '^(lctw|>)> ' | tail -1; }
show() { cap "$1" | grep -v '^$' | tail -${2:-4} | tr '\n' '|'; }

export LCTW_HISTORY="$tmp/history" LCTW_RC=
status='step [0-9]+/100000'

# 1. the plain REPL first, then a dashboard run from it, then the plain REPL again
T new-session -d -s a -x 100 -y 40 \
  "cd '$PWD'; s0=\$(stty -g); LANG=C.UTF-8 TERM=xterm-256color LCTW_HISTORY='$LCTW_HISTORY' \
   LCTW_RC= '$LCTW' --dash; echo EXIT=\$?; [ \"\$(stty -g)\" = \"\$s0\" ] && echo TTY-RESTORED; \
   sleep 60"
if ! wait_for a '^>( |$)'; then
  fail "the REPL did not start: $(show a)"
  exit 1
fi
type_line a "dofile('$tmp/t.lua')"
if ! wait_for a "$status" || ! wait_for a '^lctw>( |$)' 3; then
  fail "no dashboard with a prompt within 10 s: $(show a)"
  exit 1
fi

type_line a "tr.lr = 0.000123"
if wait_for a 'lr (0\.00012|1\.2e-0?4)( |$)' && wait_steps a; then
  pass "a line typed while training runs takes effect at the next step (status: lr 0.00012) and training goes on"
else
  fail "tr.lr: $(cap a | head -1)"
fi

type_line a 'hits = (hits or 0) + 1; print("hello-" .. hits)'
wait_for a '^hello-1$' && pass "print output shows in the output pane" ||
  fail "print: $(show a 6)"

type_line a 'm.step > 0, tr.steps >= m.step'
wait_for a '^true	+true$|^true +true$' && pass "typed code sees m (last metrics) and tr; results pretty-printed" ||
  fail "m/tr results: $(show a 6)"

type_line a 'error("boom-typed")'
if wait_for a 'boom-typed' && wait_steps a && cap a | grep -qE '^lctw>( |$)'; then
  pass "an error in a typed line shows its message; training continues"
else
  fail "error line: $(show a 6)"
fi

type_line a 'for i = 1, 2 do'
if wait_for a '^>>( |$)' 5; then
  type_line a 'print("loop" .. i) end'
  wait_for a '^loop2$' && cap a | grep -q '^loop1$' &&
    pass "an incomplete chunk continues on a >> prompt" || fail "multi-line: $(show a 6)"
else
  fail "no >> prompt after an incomplete line: $(show a 6)"
fi

# Up recalls the history: the print line is 4 entries back (m.step, error, for-chunk are newer)
T send-keys -t a Up Up Up Up
if wait_for a '^lctw> hits = \(hits or 0\) \+ 1; print\("hello-" \.\. hits\)$' 5; then
  T send-keys -t a Enter
  wait_for a '^hello-2$' 5 && pass "Up recalls an earlier line, Enter runs it again" ||
    fail "Up + Enter did not run the line again: $(show a 6)"
else
  fail "Up did not recall the line: $(prompt_row a)"
fi

T send-keys -t a -l 'lctw.ver'
T send-keys -t a Tab
if wait_for a '^lctw> lctw\.version$' 5; then
  T send-keys -t a Enter
  wait_for a '^"[0-9]+\.[0-9]+' && pass "Tab completes lctw.ver to lctw.version" ||
    fail "lctw.version did not print: $(show a 6)"
else
  fail "Tab: $(prompt_row a)"
fi

T send-keys -t a -l 'tr:st'
T send-keys -t a Tab
wait_for a '^lctw> tr:step\($' 5 && pass "Tab completes the trainer's methods (tr:st -> tr:step()" ||
  fail "Tab on tr:st: $(prompt_row a)"
T send-keys -t a C-u

type_line a 'while true do end'
sleep 1
T send-keys -t a C-c
if wait_for a 'interrupted \(training goes on\)' && wait_steps a; then
  pass "Ctrl-C stops only a long typed command; training goes on"
else
  fail "Ctrl-C in a typed command: $(show a 6)"
fi

T send-keys -t a F5
if wait_for a '\[PAUSED\]' 5; then
  type_line a 'print("while-" .. "paused")'
  wait_for a '^while-paused$' 5 && pass "lines run while paused (F5)" || fail "paused: $(show a 6)"
  T send-keys -t a F5
else
  fail "F5: no [PAUSED]"
fi

# a dashboard started from a REPL line follows the terminal's size (curses gets SIGWINCH)
T resize-window -t a -x 110 -y 40
for i in $(seq 1 50); do
  w=$(cap a | sed -n 2p | LC_ALL=C.UTF-8 awk '{ print length($0) }')
  [ "$w" = 110 ] && break
  sleep 0.1
done
[ "$w" = 110 ] && pass "a dashboard run from the REPL redraws at the new size after a resize" ||
  fail "resize from 100 to 110 columns: the panel row is $w wide"

T send-keys -t a F10
if wait_for a 'AFTER RUN nil lr=0.000123'; then
  pass "F10 stops; the run kept the typed lr ($(cap a | grep -o 'AFTER RUN.*'))"
else
  fail "F10: $(show a 6)"
fi
# the plain REPL again: a line runs, and Up reaches lines typed in the dashboard
type_line a '1 + 41'
if wait_for a '^42$' 5; then
  T send-keys -t a Up Up
  if wait_for a '^> print\("while-" \.\. "paused"\)' 5; then
    T send-keys -t a Enter
    wait_for a '^while-paused$' 5 && [ "$(cap a | grep -c '^while-paused$')" -ge 1 ] &&
      pass "after the run the plain REPL works and shares the history (Up reaches dashboard lines)" ||
      fail "REPL after the run: $(show a 6)"
  else
    fail "REPL after the run: Up did not reach the dashboard's lines: $(show a 3)"
  fi
else
  fail "REPL after the run: 1 + 41 gave $(show a 6)"
fi
T send-keys -t a C-d
if wait_for a 'EXIT=0' 5 && wait_for a 'TTY-RESTORED' 3; then
  pass "terminal modes restored after the dashboard and the REPL"
else
  fail "exit / tty: $(show a 6)"
fi
grep -q '^tr.lr = 0.000123$' "$LCTW_HISTORY" && pass "dashboard lines are saved in the history file" ||
  fail "history file: $(tail -5 "$LCTW_HISTORY" | tr '\n' '|')"
T kill-session -t a 2>/dev/null

# 2. lctw --dash -i -e script: readline starts inside the dashboard; the REPL works afterwards
T new-session -d -s b -x 100 -y 40 \
  "cd '$PWD'; s0=\$(stty -g); LANG=C.UTF-8 TERM=xterm-256color '$LCTW' --dash -i -e '$tmp/t.lua'; \
   echo EXIT=\$?; [ \"\$(stty -g)\" = \"\$s0\" ] && echo TTY-RESTORED; sleep 60"
if wait_for b "$status" && wait_for b '^lctw>( |$)' 3; then
  type_line b 'x_from_dash = 6 * 7'
  sleep 0.5
  T send-keys -t b F10
  if wait_for b 'AFTER RUN' && wait_for b '^>( |$)' 5; then
    type_line b 'x_from_dash + 0'
    wait_for b '^42$' 5 && pass "--dash -i -e: a global set at the dashboard prompt is seen by the REPL afterwards" ||
      fail "--dash -i -e: $(show b 6)"
  else
    fail "--dash -i -e: no REPL after F10: $(show b 6)"
  fi
  T send-keys -t b C-d
  wait_for b 'TTY-RESTORED' 5 && pass "--dash -i -e: terminal restored" || fail "--dash -i -e: tty: $(show b 4)"
else
  fail "--dash -i -e: no dashboard with a prompt: $(show b 4)"
fi
T kill-session -t b 2>/dev/null
exit $((fails > 0))
