#!/usr/bin/env bash
# test_cli.sh — the lctw command line (src/main.c) and the REPL read from a pipe (src/repl/repl.c,
# lua/lctw/repl.lua): options, the arg table, exit statuses, tracebacks, stdin as a script, the
# pretty printer and completion (called directly, so they are checked without a terminal).
# One line per case: PASS/FAIL test_cli.sh: name [why]. Binary: $LCTW (default bin/lctw).
set -u
LCTW=${LCTW:-$PWD/bin/lctw}
T=test_cli.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# hermetic: no user rc file or history
export HOME=$tmp LCTW_RC= LCTW_HISTORY=
fails=0

pass() { echo "PASS $T: $1"; }
fail() {
    echo "FAIL $T: $1: $2" | head -c 600 | tr '\n' ' '
    echo
    fails=$((fails + 1))
}
# run [stdin-file] -- args...: runs $LCTW; sets out, err, rc
run() {
    local in=/dev/null
    if [ "$1" != -- ]; then in=$1; shift; fi
    shift
    timeout 10 "$LCTW" "$@" <"$in" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}
# check name condition-command... : PASS if the command succeeds, else FAIL with the outputs
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name" "rc=$rc stdout=[$out] stderr=[$err]"; fi
}
has() { printf '%s' "$1" | grep -q -- "$2"; }
hasF() { printf '%s' "$1" | grep -qF -- "$2"; }

if [ ! -x "$LCTW" ]; then
    fail "binary" "$LCTW is not an executable"
    exit 1
fi

# ---- options ----------------------------------------------------------------------------------
version=$(sed -n 's/.*LCTW_VERSION "\(.*\)".*/\1/p' src/version.h 2>/dev/null)
run -- -v
check "-v prints the version line" eval '[ $rc -eq 0 ] && [ -n "$version" ] &&
    has "$out" "^lctw $version — Lua 5\.4\.[0-9]* — cpu ([0-9]* threads\?, [A-Za-z ]*) — cuda: [a-z]" &&
    [ $(printf "%s\n" "$out" | wc -l) -eq 1 ]'

opts_listed() {
    for o in -e -i -l -v -h --help -- '  -  '; do hasF "$out" "$o" || return 1; done
}
run -- -h
check "-h lists every option on stdout" eval '[ $rc -eq 0 ] && hasF "$out" "usage: lctw" &&
    opts_listed && [ -z "$err" ]'
run -- --help
check "--help is -h" eval '[ $rc -eq 0 ] && hasF "$out" "usage: lctw" && opts_listed'

run -- -x
check "unknown option: usage on stderr, status 1" eval '[ $rc -eq 1 ] && [ -z "$out" ] &&
    hasF "$err" "unrecognized option '"'"'-x'"'"'" && hasF "$err" "usage: lctw"'
run -- --bogus
check "unknown long option: status 1" eval '[ $rc -eq 1 ] && hasF "$err" "--bogus"'
run -- -e
check "-e without its argument: status 1" eval '[ $rc -eq 1 ] && hasF "$err" "needs an argument"'

# ---- -e ---------------------------------------------------------------------------------------
run -- -e 'print(1+1)'
check "-e chunk" eval '[ $rc -eq 0 ] && [ "$out" = 2 ]'
run -- -e 'x = 20' -e 'print(x + 22)'
check "-e twice, in order" eval '[ $rc -eq 0 ] && [ "$out" = 42 ]'
cat >"$tmp/efile.lua" <<'EOF'
print("efile ran", arg[0]:match("[^/]+$"), arg[-1])
EOF
run -- -e "$tmp/efile.lua"
check "-e file runs the file (arg[0] = file)" eval '[ $rc -eq 0 ] &&
    [ "$out" = "efile ran	efile.lua	-e" ]'
run -- -e "$tmp/missing.lua"
check "-e missing .lua file: cannot open, status 1" eval '[ $rc -eq 1 ] &&
    hasF "$err" "cannot open" && hasF "$err" missing.lua'

# ---- scripts and arg ----------------------------------------------------------------------------
cat >"$tmp/args.lua" <<'EOF'
local n = select("#", ...)
print(arg[0]:match("[^/]+$"), #arg, arg[1], arg[2], arg[3], n, (...), (select(3, ...)))
print(arg[-1]:match("[^/]+$"))
EOF
run -- "$tmp/args.lua" a "b c" 3
check "script with args: arg table and ..." eval '[ $rc -eq 0 ] &&
    [ "$out" = "args.lua	3	a	b c	3	3	a	3
lctw" ]'
run -- -e 'y=1' "$tmp/args.lua" z
check "options at negative indices" eval '[ $rc -eq 0 ] &&
    [ "$(printf "%s" "$out" | head -1)" = "args.lua	1	z	nil	nil	1	z	nil" ]'
run -- -- "$tmp/args.lua" -v
check "-- ends options (-v is an argument)" eval '[ $rc -eq 0 ] && has "$out" "^args.lua	1	-v"'

printf 'print("from stdin", ...)\n' >"$tmp/stdin.lua"
run "$tmp/stdin.lua" -- - p q
check "lctw - < file runs stdin with args" eval '[ $rc -eq 0 ] && [ "$out" = "from stdin	p	q" ]'

printf 'x = 2\nprint(x * 21)\nlocal t = {}\nprint(#t)\n' >"$tmp/plain.lua"
run "$tmp/plain.lua" --
check "stdin not a terminal: run as a script, no prompts" eval '[ $rc -eq 0 ] && [ "$out" = "42
0" ] && [ -z "$err" ]'
printf 'print("before")\nerror("from stdin")\nprint("after")\n' >"$tmp/plainerr.lua"
run "$tmp/plainerr.lua" --
check "stdin script error: traceback, status 1" eval '[ $rc -eq 1 ] && [ "$out" = before ] &&
    hasF "$err" "lctw: stdin:2: from stdin" && hasF "$err" "stack traceback:"'

# ---- errors and exit statuses ---------------------------------------------------------------
cat >"$tmp/err.lua" <<'EOF'
local function inner() error("boom") end
function outer() inner() end
outer()
EOF
run -- "$tmp/err.lua"
check "uncaught error: lctw: msg + traceback on stderr, status 1" eval '[ $rc -eq 1 ] &&
    [ -z "$out" ] &&
    has "$err" "^lctw: .*err.lua:1: boom" && hasF "$err" "stack traceback:" &&
    hasF "$err" "err.lua:2: in function" && hasF "$err" "err.lua:3: in main chunk" &&
    ! hasF "$err" "[C]: in ?"'
printf 'x = = 1\n' >"$tmp/syntax.lua"
run -- "$tmp/syntax.lua"
check "syntax error message" eval '[ $rc -eq 1 ] &&
    has "$err" "^lctw: .*syntax.lua:1: unexpected symbol near '"'"'='"'"'"'
run -- "$tmp/nonexistent_script.lua"
check "missing script: cannot open, status 1" eval '[ $rc -eq 1 ] &&
    hasF "$err" "cannot open" && hasF "$err" nonexistent_script.lua'
run -- -e 'os.exit(3)'
check "os.exit(3) gives status 3" eval '[ $rc -eq 3 ]'
run -- -e 'os.exit(true)'
check "os.exit(true) gives status 0" eval '[ $rc -eq 0 ]'
run -- -e 'error({})'
check "table error object" eval '[ $rc -eq 1 ] && hasF "$err" "(error object is a table value)"'
run -- -e 'error()'
check "nil error object" eval '[ $rc -eq 1 ] && hasF "$err" "(error object is a nil value)"'
run -- -e 'error(setmetatable({}, {__tostring = function() error("x") end}))'
check "error object whose __tostring fails" eval '[ $rc -eq 1 ] && hasF "$err" "__tostring failed"'
run -- -e 'error(setmetatable({}, {__tostring = function() return "custom obj" end}))'
check "error object with __tostring" eval '[ $rc -eq 1 ] && hasF "$err" "lctw: custom obj"'

# Ctrl-C in a script: "interrupted", status 130 (the script says when its loop has started)
interrupt_case() { # name, lua code that prints "go" and then loops
    local name=$1 code=$2
    "$LCTW" -e "$code" >"$tmp/int.out" 2>"$tmp/int.err" &
    local pid=$! i
    for i in $(seq 400); do grep -q go "$tmp/int.out" 2>/dev/null && break; sleep 0.05; done
    kill -INT $pid 2>/dev/null
    sleep 0.2
    kill -INT $pid 2>/dev/null # a second Ctrl-C must not kill it either
    for i in $(seq 300); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
    if kill -0 $pid 2>/dev/null; then
        kill -9 $pid
        wait $pid 2>/dev/null
        fail "$name" "still running 15 s after SIGINT"
        return
    fi
    wait $pid
    rc=$?
    out=$(cat "$tmp/int.out")
    err=$(cat "$tmp/int.err")
    check "$name" eval '[ $rc -eq 130 ] && hasF "$err" interrupted'
}
interrupt_case "SIGINT stops a Lua loop: status 130" 'print("go") io.stdout:flush() while true do end'
interrupt_case "SIGINT stops a loop around pcall" \
    'print("go") io.stdout:flush() while true do pcall(function() while true do end end) end'

# ---- -l ---------------------------------------------------------------------------------------
mkdir -p "$tmp/mods"
printf 'return {answer = 42}\n' >"$tmp/mods/mymod.lua"
run -- -e "package.path = '$tmp/mods/?.lua;' .. package.path" -l mymod -e 'print(mymod.answer)'
check "-l mod: require into global mod" eval '[ $rc -eq 0 ] && [ "$out" = 42 ]'
run -- -e "package.path = '$tmp/mods/?.lua;' .. package.path" -l m2=mymod -e 'print(m2.answer, mymod)'
check "-l g=mod: into global g" eval '[ $rc -eq 0 ] && [ "$out" = "42	nil" ]'
run -- -l no_such_module_xyz
check "-l missing module: status 1" eval '[ $rc -eq 1 ] && hasF "$err" no_such_module_xyz'

# ---- the REPL on a pipe (-i) --------------------------------------------------------------
printf 'sv = 7\n' >"$tmp/pre.lua"
cat >"$tmp/repl_in.txt" <<'EOF'
sv * 6
=sv + 1
{b = 2, a = 1, 10, 20}
1, "two", nil
sv;
function twice(x)
  return 2 * x
end
twice(21)
error("oops")
sv
local_ok = pcall(error)
?lctw.cuda.available
?print
?
EOF
run "$tmp/repl_in.txt" -- -i "$tmp/pre.lua"
expected='42
8
{10, 20, a=1, b=2}
1	"two"	nil
42
7'
check "-i after script via piped stdin (results, =, ;, continuation, state kept)" eval '[ $rc -eq 0 ] &&
    [ "$(printf "%s\n" "$out" | head -6)" = "$expected" ] && ! has "$out" "^>"'
check "-i: an error prints a traceback and the session goes on" eval 'hasF "$err" "stdin:1: oops" &&
    hasF "$err" "stack traceback:" && ! hasF "$err" "[C]: in ?"'
check "-i: ?x shows help" eval 'hasF "$out" "lctw.cuda.available() -> boolean"'
check "-i: ? alone is help()" eval 'hasF "$out" "latent consistency training workbench"'
check "-i: ?print points to the Lua manual" eval 'hasF "$out" "manual.html#pdf-print"'
printf 'for i = 1, 3 do\n' >"$tmp/incomplete.txt"
run "$tmp/incomplete.txt" -- -i
check "-i: input ends inside a chunk: says why" eval '[ $rc -eq 0 ] && hasF "$err" "<eof>"'
printf 'x = {}\nx.self = x\nx\n' >"$tmp/cycle.txt"
run "$tmp/cycle.txt" -- -i
check "-i: a cyclic table prints" eval '[ $rc -eq 0 ] && hasF "$out" "self=<cycle: table: 0x"'

# ---- pretty printer (lua/lctw/repl.lua) ---------------------------------------------------
pp_case() { # name, lua code printing something, expected stdout
    expect=$3
    run -- -e "P = require('lctw.repl').pretty; $2"
    check "$1" eval '[ $rc -eq 0 ] && [ "$out" = "$expect" ]'
}
pp_case "pretty: scalars and quoting" 'print(P(1), P(2.5), P(1e100), P(3.0), P(true), P(nil), P("a\"b\n\0"))' \
    '1	2.5	1e+100	3.0	true	nil	"a\"b\n\000"'
pp_case "pretty: keys sorted (numbers, strings, booleans), odd keys bracketed" \
    'print(P({zeta=1, alpha=2, [3]=3, [-1]=4, ["a b"]=5, [true]=6, ["end"]=7}))' \
    '{[-1]=4, [3]=3, ["a b"]=5, alpha=2, ["end"]=7, zeta=1, [true]=6}'
pp_case "pretty: nested tables indent when too wide" \
    'print(P({name = string.rep("n", 30), inner = {list = {1, 2, 3}, text = string.rep("t", 60)}}, {width = 60}))' \
    "{
  inner = {
    list = {1, 2, 3},
    text = \"$(printf 't%.0s' $(seq 60))\",
  },
  name = \"$(printf 'n%.0s' $(seq 30))\",
}"
pp_case "pretty: long tables cut with …" 'local t = {} for i = 1, 250 do t[i] = i end
    local s = P(t, {max_items = 5}) print(s)' '{1, 2, 3, 4, 5, … (245 more)}'
pp_case "pretty: depth limit" 'print(P({{{{1}}}}, {max_depth = 2}))' '{{{…}}}'
pp_case "pretty: long strings cut" 'print(P(string.rep("é", 10), {max_string = 5}))' '"éé"… (20 bytes)'
pp_case "pretty: __tostring used, errors contained" \
    'local o = setmetatable({}, {__tostring = function() return "<obj>" end})
     local b = setmetatable({}, {__tostring = function() error("bad") end})
     print(P({o}), (P(b):gsub("0x%x+", "")))' \
    '{<obj>}	<table: __tostring failed: (command line):2: bad>'
pp_case "pretty: __index and __pairs are not used" \
    'local t = setmetatable({x = 1}, {__index = function() error("no") end, __pairs = function() error("no") end})
     print(P(t))' '{x=1}'
pp_case "pretty: total output is bounded" \
    'local t = {} for i = 1, 50 do local r = {} for j = 1, 50 do r[j] = j end t[i] = r end
     local s = P(t, {max_total = 300}) local n = 0 for _ in s:gmatch("%d+") do n = n + 1 end
     print(n <= 300 + 60, s:find("more") ~= nil)' 'true	true'
pp_case "pretty: a multi-line __tostring under a key starts on its own line" \
    'local o = setmetatable({}, {__tostring = function() return "row 1\nrow 2" end})
     print(P({k = o, j = 1}))' '{
  j = 1,
  k =
    row 1
    row 2,
}'
if "$LCTW" -e 'os.exit(lctw.tensor.zeros and 0 or 1)' </dev/null >/dev/null 2>&1; then
    pp_case "pretty: a tensor prints as tostring" \
        'local t = lctw.tensor.zeros(2, 3) print(P(t) == tostring(t), P({t}) == "{" .. tostring(t) .. "}" or P({t}):find("\n") ~= nil)' \
        'true	true'
else
    echo "SKIP $T: pretty: a tensor prints as tostring: lctw.tensor.zeros does not exist yet"
fi
pp_case "pretty: results separated by tabs" \
    'print(require("lctw.repl").format_results(1, nil, "x"))' '1	nil	"x"'

# ---- completion (the C function behind Tab) --------------------------------------------------
comp_case() { # name, setup code, word, expected candidates (one per line)
    expect=$4
    run -- -e "$2; for _, c in ipairs(require('lctw.repl').complete('$3')) do print(c) end"
    check "$1" eval '[ $rc -eq 0 ] && [ "$out" = "$expect" ]'
}
comp_case "complete: global and keyword" 'whilst_var = 1' 'whil' 'while
whilst_var'
comp_case "complete: nested fields" '' 'lctw.cuda.avai' 'lctw.cuda.available('
comp_case "complete: tables end in ." 'my_mod = {sub = {}}' 'my_mod.s' 'my_mod.sub.'
comp_case "complete: methods through __index tables" \
    'obj = setmetatable({own = 1}, {__index = setmetatable({hello_world = print}, {__index = {hello_deep = print}})})' \
    'obj:hello' 'obj:hello_deep(
obj:hello_world('
comp_case "complete: string methods" 's = "abc"' 's:upp' 's:upper('
comp_case "complete: hidden _names only when asked" 'zz = {_p = 1, q = 2}' 'zz.' 'zz.q'
comp_case "complete: __methods table when __index is a function" \
    'm = setmetatable({}, {__index = function() error("no") end, __methods = {summit = print}})' \
    'm:sum' 'm:summit('
if "$LCTW" -e 'os.exit(lctw.tensor.zeros and 0 or 1)' </dev/null >/dev/null 2>&1; then
    comp_case "complete: tensor methods (t:su -> sum)" 't = lctw.tensor.zeros(2)' 't:su' 't:sub(
t:sub_(
t:sum('
else
    echo "SKIP $T: complete: tensor methods (t:su -> sum): lctw.tensor.zeros does not exist yet"
fi
run -- -e 'w = setmetatable({}, {__index = function() called = true end})
    local c = require("lctw.repl").complete
    local n = #c("w:x") + #c("w.x") + #c("w.a.b")
    print(n, called)'
check "complete: an __index function is never called" eval '[ $rc -eq 0 ] && [ "$out" = "0	nil" ]'

[ $fails -eq 0 ]
