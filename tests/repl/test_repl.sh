#!/usr/bin/env bash
# test_repl.sh — the Readline REPL in a real terminal: lctw runs in a detached tmux session
# (100×30, a private tmux server), keys are sent with send-keys and the screen is read with
# capture-pane. Covers printing, =, ;, continuation prompts, errors, Tab completion (never calling
# __index functions), ?help, Ctrl-C at the prompt and while Lua or C code runs, history across
# sessions, ~/.lctwrc.lua, Ctrl-D. Every wait polls for at most ~5 s.
# One line per case: PASS/FAIL/SKIP test_repl.sh: name [why]. Binary: $LCTW (default bin/lctw).
set -u
LCTW=${LCTW:-$PWD/bin/lctw}
T=test_repl.sh
fails=0
pass() { echo "PASS $T: $1"; }
fail() {
    echo "FAIL $T: $1: $2" | head -c 1500 | tr '\n' '|'
    echo
    fails=$((fails + 1))
}
skip() { echo "SKIP $T: $1: $2"; }

CASES=("expression" "table pretty print" "= form" "; suppresses the result"
    "multi-line function with continuation prompt" "error, then the session goes on"
    "Tab: nested field" "Tab: lctw.tensor.ze -> zeros" "Tab: tensor method (t:su -> sum)"
    "Tab: method through a metatable"
    "Tab: __index function is not called" "?x shows help" "Ctrl-C at the prompt clears the line"
    "Ctrl-C on a continuation line drops the chunk"
    "Ctrl-C stops while true do end, state kept" "Ctrl-C stops a loop of C calls"
    "Ctrl-C twice stops a loop around pcall" "Ctrl-C stops a long C tensor call"
    "history persisted across sessions" "multi-line chunk is one history entry"
    "~/.lctwrc.lua runs at start" "error in the rc file is reported, REPL starts"
    "Ctrl-D exits")
if ! command -v tmux >/dev/null 2>&1; then
    for c in "${CASES[@]}"; do skip "$c" "tmux is not installed"; done
    exit 0
fi
if [ ! -x "$LCTW" ]; then
    fail "binary" "$LCTW is not an executable"
    exit 1
fi

tmp=$(mktemp -d)
sock=$tmp/tmux.sock
tm() { tmux -f /dev/null -S "$sock" "$@"; }
trap 'tm kill-server >/dev/null 2>&1; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home"

# start NAME [env assignments...]: a session running lctw; waits for the banner
start() {
    local name=$1
    shift
    tm kill-session -t "$name" >/dev/null 2>&1
    tm new-session -d -s "$name" -x 100 -y 30 \
        "env HOME=$tmp/home LCTW_HISTORY=$tmp/hist $* $LCTW; echo EXITED=\$?; sleep 60"
    S=$name
    wait_for "help() for help"
}
screen() { tm capture-pane -p -J -t "$S" -S -2000; }
# wait_for TEXT: 0 once TEXT (fixed string) is on the screen, 1 after ~5 s
wait_for() {
    local i
    for i in $(seq 100); do
        screen | grep -qF -- "$1" && return 0
        sleep 0.05
    done
    return 1
}
# wait_line LINE: a whole screen line equal to LINE (trailing blanks ignored)
wait_line() {
    local i
    for i in $(seq 100); do
        screen | sed 's/[[:space:]]*$//' | grep -qxF -- "$1" && return 0
        sleep 0.05
    done
    return 1
}
# wait_for_re REGEX: a screen line matching the extended regex
wait_for_re() {
    local i
    for i in $(seq 100); do
        screen | sed 's/[[:space:]]*$//' | grep -qE -- "$1" && return 0
        sleep 0.05
    done
    return 1
}
# wait_more TEXT N: more than N screen lines contain TEXT (for text seen before, e.g. errors)
count() { screen | grep -cF -- "$1"; }
wait_more() {
    local i
    for i in $(seq 100); do
        [ "$(count "$1")" -gt "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
# type TEXT: literal keys (a trailing ';' is escaped from tmux's command parser)
type_() {
    local x=$1
    case $x in *\;) x="${x%;}\\;" ;; esac
    tm send-keys -t "$S" -l -- "$x"
}
key() { tm send-keys -t "$S" "$@"; }
line() { # type a line and press Enter
    type_ "$1"
    key Enter
}
tail_screen() { screen | sed 's/[[:space:]]*$//' | grep -v '^$' | tail -n "${1:-8}"; }

# ---- one session for most cases --------------------------------------------------------------
if ! start main; then
    fail "start" "no banner: $(tail_screen)"
    exit 1
fi

line '1234+1111'
if wait_line '2345'; then pass "expression"; else fail "expression" "$(tail_screen)"; fi

line '{zz = 1, aa = {1, 2}, [10] = "x"}'
if wait_line '{[10]="x", aa={1, 2}, zz=1}'; then pass "table pretty print"; else
    fail "table pretty print" "$(tail_screen)"; fi

line '=6*7+1000'
if wait_line '1042'; then pass "= form"; else fail "= form" "$(tail_screen)"; fi

line 'sup_v = 777'
line 'sup_v;'
line '"marker_semi"'
if wait_line '"marker_semi"' && ! screen | grep -qx '777'; then pass "; suppresses the result"; else
    fail "; suppresses the result" "$(tail_screen)"; fi

line 'function add3(a)'
wait_for '>> '
line 'return a + 3'
line 'end'
line 'add3(4000)'
if wait_line '4003' && screen | grep -qxF '>> return a + 3'; then
    pass "multi-line function with continuation prompt"
else
    fail "multi-line function with continuation prompt" "$(tail_screen)"
fi

line 'keep = 31337'
line 'error("kaboom")'
wait_for 'stdin:1: kaboom'
line 'keep'
if wait_line '31337' && screen | grep -qF 'stack traceback:'; then
    pass "error, then the session goes on"
else
    fail "error, then the session goes on" "$(tail_screen)"
fi

type_ 'lctw.cuda.avai'
key Tab
if wait_for '> lctw.cuda.available('; then
    line ')'
    if wait_for_re '^(true|false)$'; then pass "Tab: nested field"; else
        fail "Tab: nested field" "completed but the call printed nothing: $(tail_screen)"; fi
else
    fail "Tab: nested field" "$(tail_screen)"
    key C-u
fi

has_zeros='os.exit(type(lctw.tensor.zeros) == "function" and 0 or 1)'
if "$LCTW" -e "$has_zeros" </dev/null >/dev/null 2>&1; then
    type_ 'lctw.tensor.ze'
    key Tab
    key Tab
    if wait_for 'lctw.tensor.zeros'; then pass "Tab: lctw.tensor.ze -> zeros"; else
        fail "Tab: lctw.tensor.ze -> zeros" "$(tail_screen)"; fi
    key C-u
    line 'tt = lctw.tensor.zeros(2, 2)'
    type_ 'tt:su'
    key Tab
    key Tab
    if wait_for_re '(^| )sum\($' && key C-u && type_ 'tt:sum' && key Tab && wait_for '> tt:sum(' &&
        line ')' && wait_for_re '^0(\.0)?$'; then
        pass "Tab: tensor method (t:su -> sum)"
    else
        fail "Tab: tensor method (t:su -> sum)" "$(tail_screen)"
    fi
    key C-u
else
    skip "Tab: lctw.tensor.ze -> zeros" "lctw.tensor.zeros does not exist yet"
    skip "Tab: tensor method (t:su -> sum)" "lctw.tensor.zeros does not exist yet"
fi

line 'obj = setmetatable({}, {__index = {hello_world = function() return "hw!" end}})'
type_ 'obj:hello_w'
key Tab
if wait_for '> obj:hello_world(' && line ')' && wait_line '"hw!"'; then
    pass "Tab: method through a metatable"
else
    fail "Tab: method through a metatable" "$(tail_screen)"
    key C-u
fi

line 'w = setmetatable({}, {__index = function(t, k) flagged = k end})'
type_ 'w:fo'
key Tab
type_ ' w.ba'
key Tab
key C-u
line 'tostring(flagged) .. "_flag"'
if wait_line '"nil_flag"'; then pass "Tab: __index function is not called"; else
    fail "Tab: __index function is not called" "$(tail_screen)"; fi

line '?lctw.cuda.available'
if wait_for 'lctw.cuda.available() -> boolean'; then pass "?x shows help"; else
    fail "?x shows help" "$(tail_screen)"; fi

type_ 'cancel_me_'
wait_for '> cancel_me_'
key C-c
line '5000+5'
if wait_line '5005' && screen | grep -qx '> 5000+5'; then
    pass "Ctrl-C at the prompt clears the line"
else
    fail "Ctrl-C at the prompt clears the line" "$(tail_screen)"
fi

line 'function unfinished()'
wait_for '>> '
key C-c
line '7000+7'
if wait_line '7007'; then pass "Ctrl-C on a continuation line drops the chunk"; else
    fail "Ctrl-C on a continuation line drops the chunk" "$(tail_screen)"
fi

line 'state_kept = 99'
n=$(count interrupted)
line 'while true do end'
sleep 0.3
key C-c
if wait_more 'interrupted' "$n" && line 'state_kept + 1' && wait_line '100'; then
    pass "Ctrl-C stops while true do end, state kept"
else
    fail "Ctrl-C stops while true do end, state kept" "$(tail_screen)"
fi

n=$(count interrupted)
line 'n_rep = 0 while true do local s = string.rep("x", 100000) n_rep = n_rep + 1 end'
sleep 0.3
key C-c
if wait_more 'interrupted' "$n" && line 'n_rep > 0' && wait_line 'true'; then
    pass "Ctrl-C stops a loop of C calls"
else
    fail "Ctrl-C stops a loop of C calls" "$(tail_screen)"
fi

n=$(count interrupted)
line 'tries = 0 while true do tries = tries + 1 pcall(function() while true do end end) end'
sleep 0.3
key C-c
sleep 0.3
key C-c
if wait_more 'interrupted' "$n" && line '"after_pcall_loop"' && wait_line '"after_pcall_loop"'; then
    pass "Ctrl-C twice stops a loop around pcall"
else
    fail "Ctrl-C twice stops a loop around pcall" "$(tail_screen)"
fi

if "$LCTW" -e 'local ok = pcall(function()
        local a = lctw.tensor.randn(64, 64) local b = lctw.tensor.matmul(a, a) end)
        os.exit(ok and 0 or 1)' </dev/null >/dev/null 2>&1; then
    # each matmul polls lctw_interrupt_flag; the loop would run for minutes
    n=$(count interrupted)
    line 'big = lctw.tensor.randn(1500, 1500) for i = 1, 1e5 do big2 = big:matmul(big) end'
    sleep 0.5
    key C-c
    if wait_more 'interrupted' "$n" && line '"alive_after_c"' && wait_line '"alive_after_c"'; then
        pass "Ctrl-C stops a long C tensor call"
    else
        fail "Ctrl-C stops a long C tensor call" "$(tail_screen)"
    fi
else
    skip "Ctrl-C stops a long C tensor call" "lctw.tensor.randn/matmul are not available yet"
fi
tm kill-session -t main >/dev/null 2>&1

# ---- history across sessions --------------------------------------------------------------
rm -f "$tmp/hist"
if start h1; then
    line 'function hm()'
    line '  return 77'
    line 'end'
    line 'hist_marker = 4321'
    line '"h1_done"'
    wait_line '"h1_done"'
    key C-d
    wait_for 'EXITED=0'
fi
tm kill-session -t h1 >/dev/null 2>&1
if start h2; then
    key Up
    key Up
    if wait_for '> hist_marker = 4321' && grep -qxF 'hist_marker = 4321' "$tmp/hist" &&
        key Enter && line 'hist_marker' && wait_line '4321'; then
        pass "history persisted across sessions"
    else
        fail "history persisted across sessions" \
            "file: $(tr '\n' '|' <"$tmp/hist" 2>/dev/null) screen: $(tail_screen)"
    fi
    key C-r
    type_ 'function hm'
    if wait_for 'function hm()' && key Enter && line 'hm() + 1' && wait_line '78'; then
        pass "multi-line chunk is one history entry"
    else
        fail "multi-line chunk is one history entry" "$(tail_screen)"
    fi
else
    fail "history persisted across sessions" "second session did not start"
fi
tm kill-session -t h2 >/dev/null 2>&1

# ---- rc file, Ctrl-D ----------------------------------------------------------------------
echo 'rc_loaded = "yes_rc"' >"$tmp/home/.lctwrc.lua"
if start rc && line 'rc_loaded' &&
    wait_line '"yes_rc"'; then pass "~/.lctwrc.lua runs at start"; else
    fail "~/.lctwrc.lua runs at start" "$(tail_screen)"; fi
tm kill-session -t rc >/dev/null 2>&1
rm -f "$tmp/home/.lctwrc.lua"

printf 'x = 1\nerror("rc exploded")\n' >"$tmp/badrc.lua"
if start rcbad "LCTW_RC=$tmp/badrc.lua" && screen | grep -qF 'badrc.lua:2: rc exploded' &&
    line '40+2' && wait_line '42'; then
    pass "error in the rc file is reported, REPL starts"
else
    fail "error in the rc file is reported, REPL starts" "$(tail_screen)"
fi
tm kill-session -t rcbad >/dev/null 2>&1

if start eof; then
    type_ 'x = 1'
    key Enter
    key C-d
    if wait_for 'EXITED=0'; then pass "Ctrl-D exits"; else fail "Ctrl-D exits" "$(tail_screen)"; fi
else
    fail "Ctrl-D exits" "did not start"
fi

[ $fails -eq 0 ]
