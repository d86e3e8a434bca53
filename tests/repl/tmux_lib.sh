# tmux_lib.sh — shared set-up of the dashboard's tmux tests (sourced by test_dash.sh and
# test_dash_prompt.sh after they set `name` and `sock`): the absolute lctw path in $LCTW, a temp
# dir $tmp, a private tmux server T (killed on exit), and the helpers pass, fail, cap, wait_for,
# step_of. Exits with a SKIP line when tmux is missing.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
LCTW=${LCTW:-bin/lctw}
LCTW=$(cd "$(dirname "$LCTW")" && pwd)/$(basename "$LCTW")
if ! command -v tmux >/dev/null 2>&1; then
  echo "SKIP $name: tmux is not installed"
  exit 0
fi
tmp=$(mktemp -d)
T() { tmux -L "$sock" -f /dev/null "$@"; }
trap 'T kill-server 2>/dev/null; rm -rf "$tmp"' EXIT
T new-session -d -s keep "sleep 300" # keeps the server up between the cases

fails=0
pass() { echo "PASS $name: $*"; }
fail() { echo "FAIL $name: $*"; fails=$((fails + 1)); }
cap() { T capture-pane -p -t "$1" 2>/dev/null; }
# wait_for session regex [seconds=10]: until the screen matches
wait_for() {
  local i
  for i in $(seq 1 $((${3:-10} * 10))); do
    cap "$1" | grep -qE -- "$2" && return 0
    sleep 0.1
  done
  return 1
}
# the step number on the status line
step_of() { cap "$1" | grep -oE 'step [0-9]+/' | head -1 | grep -oE '[0-9]+'; }
