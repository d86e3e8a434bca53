#!/usr/bin/env bash
# Issue 7 (4, 5): metrics.csv/jsonl are written with and without a terminal (without one, dash=true
# gives way to progress lines); lctw --attach RUN_DIR against runs in other processes: errors
# for a bad directory; pipe mode
# (progress lines: attach before the run starts, a restarted run, a partial last line, a
# malformed line, truncation; RUN_DIR left untouched); and in tmux (80×24 and 200×50): the step
# advancing with every panel, F10 detaching with the terminal restored, re-attaching to the
# backlog, a restarted run resetting the view to exactly what a fresh attach shows, truncation,
# total steps and "stopped"/"idle" from run.json, Ctrl-C and q detaching with status 0.
# The tmux cases print SKIP without tmux. Each wait is bounded (≤ 20 s).
cd "$(dirname "$0")/../.."
LCTW=${LCTW:-bin/lctw}
LCTW=$(cd "$(dirname "$LCTW")" && pwd)/$(basename "$LCTW")
name=test_attach.sh
tmp=$(mktemp -d)
sock="lctw-attach-$$"
bg=() # background processes started here
T() { tmux -L "$sock" -f /dev/null "$@"; }
cleanup() {
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
  command -v tmux >/dev/null 2>&1 && T kill-server 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# train.lua RUN_DIR STEPS NAP [dash]: a small run writing RUN_DIR/metrics.jsonl, slowed by NAP s a
# step; "dash": tr:run{dash=true}
cat > "$tmp/train.lua" <<'LUA'
local dir, steps, nap = arg[1], tonumber(arg[2]), tonumber(arg[3] or "0")
local m = lctw.model.unet{channels=16, channel_mult={1,2}, num_blocks=1, attn_resolutions={4},
                          channels_per_head=16, in_shape={4,8,8}, seed=1}
local d = lctw.data.synthetic{n=64, shape={4,8,8}, seed=2}
local tr = lctw.trainer{model=m, data=d, batch=8, total_steps=1000, seed=5, s0=2, s1=8,
                        run_dir=dir}
tr:run{steps=steps, quiet=arg[4] ~= "dash", dash=arg[4] == "dash", log_every=1,
       on_step=function() if nap > 0 then os.execute("sleep " .. nap) end end}
print("TRAINED " .. tr.steps)
LUA
train() { "$LCTW" "$tmp/train.lua" "$@" >/dev/null 2>&1; }

fails=0
pass() { echo "PASS $name: $*"; }
fail() { echo "FAIL $name: $*"; fails=$((fails + 1)); }
# wait_file file regex [seconds]
wait_file() {
  local i
  for i in $(seq 1 $((${3:-10} * 10))); do
    grep -qE -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
tail3() { grep -v '^$' "$1" | tail -3 | tr '\n' '|'; }

# 1. a missing directory, a file, no argument: one clear line, exit status 1
out=$("$LCTW" --attach "$tmp/nope" 2>&1); rc=$?
if [ $rc = 1 ] && printf '%s' "$out" | grep -q "^lctw: attach: no such run directory: $tmp/nope" &&
   ! printf '%s' "$out" | grep -q traceback; then
  pass "missing RUN_DIR: '$(printf '%s' "$out" | head -1)', exit 1"
else
  fail "missing RUN_DIR: rc=$rc: $out"
fi
out=$("$LCTW" --attach="$tmp/nope" 2>&1); rc=$?
[ $rc = 1 ] && printf '%s' "$out" | grep -q "no such run directory: $tmp/nope" &&
  pass "--attach=DIR form: same error, exit 1" || fail "--attach=DIR: rc=$rc: $out"
touch "$tmp/file"
out=$("$LCTW" --attach "$tmp/file" 2>&1); rc=$?
[ $rc = 1 ] && printf '%s' "$out" | grep -q "is not a directory" && pass "a file as RUN_DIR: exit 1" ||
  fail "a file as RUN_DIR: rc=$rc: $out"
out=$("$LCTW" --attach 2>&1); rc=$?
[ $rc = 1 ] && printf '%s' "$out" | grep -q "'--attach' needs an argument" &&
  pass "--attach without a directory: usage, exit 1" || fail "--attach alone: rc=$rc: $(printf '%s' "$out" | head -1)"

# metrics lines in run_dir: "csv_rows jsonl_lines"
nlines() { echo "$(($(grep -c . "$1/metrics.csv") - 1)) $(grep -c . "$1/metrics.jsonl")"; }

# 2. without a terminal, dash=true gives way to progress lines; both metrics files are written
mkdir "$tmp/nt"
out=$("$LCTW" "$tmp/train.lua" "$tmp/nt" 5 0 dash </dev/null 2>&1)
if [ "$(printf '%s\n' "$out" | grep -c '^step [1-5]/1000  N=')" = 5 ] &&
   printf '%s\n' "$out" | grep -q "TRAINED 5" && ! printf '%s' "$out" | grep -q $'\e' &&
   [ "$(nlines "$tmp/nt")" = "5 5" ]; then
  pass "no terminal: dash=true prints one progress line per step; metrics.csv/jsonl have 5 rows"
else
  fail "no terminal: rows $(nlines "$tmp/nt"): $(printf '%s' "$out" | tail -2 | tr '\n' '|')"
fi

# 3. pipe mode (stdout not a terminal): attach before the run starts, then follow it
run=$tmp/p
mkdir "$run"
timeout 60 "$LCTW" --attach "$run" >"$tmp/p.out" 2>&1 </dev/null &
apid=$!
bg+=("$apid")
if wait_file "$tmp/p.out" "state: waiting for $run/metrics.jsonl" 5; then
  pass "pipe: attached before the run starts: waiting for the file"
else
  fail "pipe: no waiting line: $(tail3 "$tmp/p.out")"
fi
train "$run" 12 0.05
if wait_file "$tmp/p.out" "^step 12/[0-9?]+  N=" 5; then
  steps=$(grep -oE '^step [0-9]+' "$tmp/p.out" | awk '{print $2}' | tr '\n' ' ')
  if [ "$steps" = "1 2 3 4 5 6 7 8 9 10 11 12 " ] && grep -q "^state: running" "$tmp/p.out"; then
    pass "pipe: one progress line per step of the other process (1..12), state running"
  else
    fail "pipe: steps seen: $steps"
  fi
else
  fail "pipe: progress lines missing: $(tail3 "$tmp/p.out")"
fi
# a restarted run appending to the same file
train "$run" 3 0
if wait_file "$tmp/p.out" "went back from step 12 to step 1 .*view reset" 5 &&
   wait_file "$tmp/p.out" "^step 3/" 5; then
  pass "pipe: a restarted run (steps back to 1) is noticed and followed"
else
  fail "pipe: restart: $(tail3 "$tmp/p.out")"
fi
# a partial last line waits for its newline; a malformed line is skipped and counted
printf '{"step":100,"N":3,"lr":1e-4' >>"$run/metrics.jsonl"
sleep 0.8
if grep -q '^step 100/' "$tmp/p.out"; then
  fail "pipe: a partial line was shown before its newline"
else
  printf ',"loss":1.5}\n' >>"$run/metrics.jsonl"
  wait_file "$tmp/p.out" '^step 100/[0-9?]+  N=3  loss 1.5 ' 5 &&
    pass "pipe: a partial last line waits for its newline" ||
    fail "pipe: completed line not shown: $(tail3 "$tmp/p.out")"
fi
printf 'this is not JSON\n{"step":101,"N":3}\n' >>"$run/metrics.jsonl"
if wait_file "$tmp/p.out" "skipped a malformed line at byte [0-9]+: JSON syntax error" 5 &&
   wait_file "$tmp/p.out" '^step 101/.*\[bad lines: 1\]' 5; then
  pass "pipe: a malformed line is skipped and counted"
else
  fail "pipe: malformed line: $(tail3 "$tmp/p.out")"
fi
: >"$run/metrics.jsonl"
wait_file "$tmp/p.out" "metrics.jsonl was truncated; reading it from the start" 5 &&
  pass "pipe: truncation noticed" || fail "pipe: truncation: $(tail3 "$tmp/p.out")"
# a second attach to the backlog: a summary and the last step
train "$run" 4 0
timeout 3 "$LCTW" --attach "$run" >"$tmp/p2.out" 2>&1 </dev/null
if grep -q "metrics.jsonl: 4 steps logged so far" "$tmp/p2.out" && grep -q "^step 4/" "$tmp/p2.out" &&
   ! grep -q $'\e' "$tmp/p2.out"; then
  pass "pipe: attaching to a finished run prints a summary and its last step, no escape codes"
else
  fail "pipe: backlog: $(tail3 "$tmp/p2.out")"
fi
kill "$apid" 2>/dev/null
wait "$apid" 2>/dev/null
if [ "$(ls -A "$run" | tr '\n' ' ')" = "metrics.csv metrics.jsonl " ] ||
   [ "$(ls -A "$run" | grep -v -e '^metrics\.csv$' -e '^metrics\.jsonl$' -e '^run\.json$' | wc -l)" = 0 ]; then
  pass "pipe: read-only: RUN_DIR holds only the run's own files"
else
  fail "pipe: RUN_DIR has extra files: $(ls -A "$run" | tr '\n' ' ')"
fi

# a long backlog (20000 lines, read in pieces), an overlong line, a resume in the middle
# (lctw.dash.attach{lines=true, once=true}: one read, then it returns its summary)
mkdir "$tmp/big"
cat >"$tmp/big.lua" <<'LUA'
local dir = arg[1]
local f = assert(io.open(dir .. "/metrics.jsonl", "w"))
local pad = string.rep("x", 400)
for i = 1, 20000 do f:write(string.format('{"step":%d,"N":3,"loss":%g,"pad":"%s"}\n', i, 1 / i, pad)) end
f:write(string.rep("y", 17 << 20), "\n", '{"step":20001,"N":3}\n')
f:close()
local quiet = {lines = true, once = true, print = function() end}
local r = lctw.dash.attach(dir, quiet)
print(string.format("FIRST steps=%d bad=%d last=%d", r.steps, r.bad, r.last.step))
f = assert(io.open(dir .. "/metrics.jsonl", "a"))
for i = 10000, 10005 do f:write(string.format('{"step":%d,"N":3}\n', i)) end
f:close()
r = lctw.dash.attach(dir, quiet)
print(string.format("RESUMED steps=%d restarts=%d last=%d", r.steps, r.restarts, r.last.step))
LUA
out=$("$LCTW" "$tmp/big.lua" "$tmp/big" 2>&1)
if printf '%s\n' "$out" | grep -q "^FIRST steps=20001 bad=1 last=20001" &&
   printf '%s\n' "$out" | grep -q "^RESUMED steps=10005 restarts=1 last=10005"; then
  pass "20000-line backlog, a 17 MB line skipped, resume at step 10000: view of 10005 steps"
else
  fail "backlog/resume: $(printf '%s' "$out" | tail -3 | tr '\n' '|')"
fi
rm -rf "$tmp/big"
rm -rf "$tmp/big"

# odd numbers in the files (a non-integer N, an ETA beyond int64 seconds) show as "-" / "?"
mkdir "$tmp/odd"
printf '{"total_steps":1000000000000000000}\n' >"$tmp/odd/run.json"
printf '{"step":1,"N":1.5,"loss":0.5}\n{"step":2,"N":1e300,"loss":0.4,"step_s":1e6}\n' \
  >"$tmp/odd/metrics.jsonl"
out=$("$LCTW" -e 'local o = {}
local r = lctw.dash.attach("'"$tmp/odd"'", {lines = true, once = true,
  print = function(s) o[#o + 1] = s end})
print("ODD steps=" .. r.steps .. " " .. o[#o - 1])' 2>&1)
if printf '%s\n' "$out" | grep -q '^ODD steps=2 step 2/1000000000000000000  N=-  loss 0.4 .*ETA ?'; then
  pass "a non-integer N and an enormous ETA: '-' and '?', attach goes on"
else
  fail "odd numbers: $(printf '%s' "$out" | tail -3 | tr '\n' '|')"
fi
rm -rf "$tmp/odd"

# ---- in a terminal (tmux) ----
if ! command -v tmux >/dev/null 2>&1; then
  echo "SKIP $name: tmux cases: tmux is not installed"
  exit $((fails > 0))
fi
T new-session -d -s keep "sleep 300" # keeps the server up between the cases
cap() { T capture-pane -p -t "=$1:" 2>/dev/null; } # "=s:": session s exactly
wait_for() {
  local i
  for i in $(seq 1 $((${3:-10} * 10))); do
    cap "$1" | grep -qE -- "$2" && return 0
    sleep 0.1
  done
  return 1
}
start() { # session cols rows args...
  local s=$1 c=$2 r=$3; shift 3
  T new-session -d -s "$s" -x "$c" -y "$r" \
    "cd '$PWD'; s0=\$(stty -g); LANG=C.UTF-8 TERM=xterm-256color '$LCTW' $*; echo EXIT=\$?; \
     [ \"\$(stty -g)\" = \"\$s0\" ] && echo TTY-RESTORED; sleep 60"
}
panels() { cap "$1" | grep -vE 'samples/s  ETA|no steps yet|waiting for'; } # without the status
step_of() { cap "$1" | grep -oE 'step [0-9]+/' | tail -1 | grep -oE '[0-9]+'; }
panels_missing() { # session: the panel titles not on screen
  local scr miss="" p
  scr=$(cap "$1")
  for p in "loss: (raw|ct) .*EMA" " c .*frac>c" "loss histogram|latents kurt|resid"; do
    printf '%s\n' "$scr" | grep -qE -- "$p" || miss="$miss [$p]"
  done
  printf '%s' "$miss"
}

# 4. the dashboard in a terminal writes both metrics files too
mkdir "$tmp/wt"
start w 80 24 "$tmp/train.lua" "$tmp/wt" 5 0 dash
if wait_for w "TRAINED 5" 20 && [ "$(nlines "$tmp/wt")" = "5 5" ]; then
  pass "with the dashboard: metrics.csv/jsonl have a row per step"
else
  fail "dashboard run: rows $(nlines "$tmp/wt" 2>/dev/null): $(cap w | grep -v '^$' | tail -2 | tr '\n' '|')"
fi

# 5. 80×24, attached before the run starts; the run advances; F10 detaches
run=$tmp/d
mkdir "$run"
start a 80 24 --attach "$run"
if wait_for a "waiting for .*metrics.jsonl"; then
  pass "80x24: attached before the run: waiting for the file"
else
  fail "80x24: no waiting state: $(cap a | grep -v '^$' | tail -2 | tr '\n' '|')"
fi
"$LCTW" "$tmp/train.lua" "$run" 40 0.1 >/dev/null 2>&1 &
tpid=$!
bg+=("$tpid")
if wait_for a "step [0-9]+/[0-9?]+  N=[0-9]+  lr [0-9.e-]+  [0-9]+ samples/s  ETA .* ago  running" 20; then
  s1=$(step_of a)
  sleep 1.5
  s2=$(step_of a)
  miss=$(panels_missing a)
  if [ -n "$s1" ] && [ -n "$s2" ] && [ "$s2" -gt "$s1" ] && [ -z "$miss" ]; then
    pass "80x24: the step advances ($s1 -> $s2) with every panel and the status line"
  else
    fail "80x24: steps $s1 -> $s2, missing$miss"
  fi
  cap a | LC_ALL=C grep -q $'\xe2[\xa0-\xa3]' && pass "80x24: braille chart drawn" ||
    fail "80x24: no braille cells"
else
  fail "80x24: no status line: $(cap a | grep -v '^$' | tail -2 | tr '\n' '|')"
fi
T send-keys -t "=a:" F10
if wait_for a "EXIT=0" && wait_for a "TTY-RESTORED" 3; then
  pass "80x24: F10 detaches (exit 0, terminal restored) while the run goes on"
else
  fail "80x24: F10: $(cap a | grep -v '^$' | tail -3 | tr '\n' '|')"
fi

# 6. re-attach at 200×50 while the run goes on: the backlog at once, then following
s_before=$(grep -c . "$run/metrics.jsonl")
start b 200 50 --attach "$run"
if wait_for b "step [0-9]+/" 5; then
  s3=$(step_of b)
  miss=$(panels_missing b)
  if [ "$s3" -ge "$s_before" ] && [ -z "$miss" ]; then
    pass "200x50: re-attached: the backlog (step $s3 >= $s_before) and every panel"
  else
    fail "200x50: step $s3 < $s_before or missing$miss"
  fi
else
  fail "200x50: nothing shown: $(cap b | grep -v '^$' | tail -2 | tr '\n' '|')"
fi
wait "$tpid"
wait_for b "step 40/" 10 && pass "200x50: followed the run to its end (step 40)" ||
  fail "200x50: end of the run not shown: $(cap b | grep -oE 'step [0-9]+/' | tail -1)"

# 7. the run restarts into the same file (steps 1..8 appended): the followed view resets to what
#    a fresh attach shows, and to what the new run alone shows
cp "$run/metrics.jsonl" "$tmp/run40.jsonl"
train "$run" 8 0
mkdir "$tmp/only8" "$tmp/r" "$tmp/r12"
tail -n 8 "$run/metrics.jsonl" >"$tmp/only8/metrics.jsonl"
[ -f "$run/run.json" ] && cp "$run/run.json" "$tmp/only8/" # the same plan in the c panel
same_panels() { # session session: "" when the screens are equal apart from the status line
  diff <(panels "$1") <(panels "$2") | head -4 | tr '\n' '|'
}
if wait_for b "step 8/" 10; then
  start c 200 50 --attach "$run"
  start g 200 50 --attach "$tmp/only8"
  if wait_for c "step 8/" 10 && wait_for g "step 8/" 10; then
    sleep 0.5
    d1=$(same_panels b c)
    d2=$(same_panels b g)
    if [ -z "$d1" ] && [ -z "$d2" ] && [ -z "$(panels_missing b)" ]; then
      pass "restart: the followed view equals a fresh attach and the new run alone (200x50)"
    else
      fail "restart: views differ: vs fresh attach: $d1 vs new run alone: $d2"
    fi
  else
    fail "restart: fresh attach shows no step 8"
  fi
  T send-keys -t "=c:" q
  T send-keys -t "=g:" q
  wait_for c "EXIT=0" && wait_for c "TTY-RESTORED" 3 && pass "q detaches (exit 0, terminal restored)" ||
    fail "q: $(cap c | grep -v '^$' | tail -2 | tr '\n' '|')"
else
  fail "restart: the followed view did not go back to step 8: $(cap b | grep -oE 'step [0-9]+/' | tail -1)"
fi
# resumed from a checkpoint: steps 1..10, then 6..12 again: the view is steps 1..12 of the run
head -n 10 "$tmp/run40.jsonl" >"$tmp/r/metrics.jsonl"
head -n 12 "$tmp/run40.jsonl" >"$tmp/r12/metrics.jsonl"
start h 200 50 --attach "$tmp/r"
if wait_for h "step 10/" 5; then
  sed -n 6,12p "$tmp/run40.jsonl" >>"$tmp/r/metrics.jsonl"
  start i 200 50 --attach "$tmp/r12"
  if wait_for h "step 12/" 5 && wait_for i "step 12/" 5; then
    sleep 0.5
    d=$(same_panels h i)
    [ -z "$d" ] && pass "resume at step 6 after step 10: the view is steps 1..12 of the run" ||
      fail "resume: views differ: $d"
  else
    fail "resume: no step 12: $(cap h | grep -oE 'step [0-9]+/' | tail -1)"
  fi
else
  fail "resume: no step 10: $(cap h | grep -oE 'step [0-9]+/' | tail -1)"
fi
T send-keys -t "=h:" q
T send-keys -t "=i:" q
# truncated, then a new run
: >"$run/metrics.jsonl"
if wait_for b "no steps yet" 5; then
  train "$run" 4 0
  wait_for b "step 4/" 10 && pass "truncated then a new run: view emptied, then the new run" ||
    fail "truncate: new run not shown: $(cap b | grep -v '^$' | tail -1)"
else
  fail "truncate: view not emptied: $(cap b | grep -v '^$' | tail -1)"
fi
T send-keys -t "=b:" C-c
wait_for b "EXIT=0" && wait_for b "TTY-RESTORED" 3 && pass "Ctrl-C detaches (exit 0, terminal restored)" ||
  fail "Ctrl-C: $(cap b | grep -v '^$' | tail -2 | tr '\n' '|')"

# 8. run.json: the total steps, and the state from its pid and the file's age
run2=$tmp/s
mkdir "$run2"
cp "$run/metrics.jsonl" "$run2/"
sleep 0 &
dead=$!
wait "$dead"
printf '{"total_steps": 1000, "batch": 8, "pid": %d}\n' "$dead" >"$run2/run.json"
start e 80 24 --attach "$run2"
wait_for e "step 4/1000 .*ETA .*  stopped" 5 && pass "run.json: step 4/1000, pid gone: stopped" ||
  fail "run.json stopped: $(cap e | grep -v '^$' | tail -1)"
T send-keys -t "=e:" q
printf '{"total_steps": 1000, "batch": 8, "pid": %d}\n' "$$" >"$run2/run.json"
touch -d '-30 seconds' "$run2/metrics.jsonl"
start f 80 24 --attach "$run2"
wait_for f "step 4/1000 .* ago  idle [0-9]+s" 5 && pass "no new line for > 10 s: idle Ns" ||
  fail "idle: $(cap f | grep -v '^$' | tail -1)"
T send-keys -t "=f:" q
wait_for f "EXIT=0" 5 || fail "q after idle: $(cap f | grep -v '^$' | tail -1)"
exit $((fails > 0))
