#!/usr/bin/env bash
# Idle CPU and RSS of the console (`bluegreen` with no subcommand, release build) in a tmux
# pane against a local platform with one release live and nothing changing.
# Target (issue 5): ≤ 0.5% of one core over 60 s.
#
# Usage: tests/bench/tui_idle.sh [SECONDS]   (default 60)
# Needs tmux. Stops the daemon, the tmux server (own socket) and removes its files on exit.
set -euo pipefail
source "$(dirname "$0")/local_lib.sh"
need tmux "apt-get install tmux"
need python3 "for JSON parsing"
SECONDS_IDLE="${1:-60}"

build_release
start_platform 2

SOCK="$WORK/tmux.sock"
stop_tmux() { tmux -S "$SOCK" kill-server >/dev/null 2>&1 || true; cleanup; }
trap stop_tmux EXIT
tmux -S "$SOCK" -f /dev/null new-session -d -s console -x 160 -y 48 -c "$WORK" \
  env -u BLUEGREEN_CONFIG -u BLUEGREEN_PROFILE TERM=xterm-256color "$BG" --state-dir "$STATE"
PID="$(tmux -S "$SOCK" display-message -p -t console '#{pane_pid}')"

# Let the first loads land and the screen settle.
for _ in $(seq 1 100); do
  if tmux -S "$SOCK" capture-pane -p -t console | grep -q "live "; then break; fi
  sleep 0.1
done
sleep 3

ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
HZ="$(getconf CLK_TCK)"
t0="$(ticks)"; s0="$(date +%s.%N)"
sleep "$SECONDS_IDLE"
t1="$(ticks)"; s1="$(date +%s.%N)"
rss="$(rss_kb)"

python3 - "$t0" "$t1" "$s0" "$s1" "$HZ" "$rss" <<'PY'
import sys
t0, t1, s0, s1, hz, rss = (float(x) for x in sys.argv[1:])
wall = s1 - s0
cpu = (t1 - t0) / hz
pct = 100.0 * cpu / wall
print(f"tui_idle: {cpu:.2f} s CPU over {wall:.1f} s wall = {pct:.2f}% of one core "
      f"(target ≤ 0.5%: {pct / 0.5:.2f}× the budget)")
print(f"tui_idle: RSS {rss / 1024:.1f} MB while idle")
PY
