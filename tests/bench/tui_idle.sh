#!/usr/bin/env bash
# The console (`bluegreen` with no subcommand, release build) in a tmux pane against a local
# platform with one release live:
#  1. idle CPU over SECONDS with nothing changing (target ≤ 0.5% of one core);
#  2. a log flood: wrk hits the blog for FLOOD seconds (every request writes a log line),
#     while keys are timed from send-keys to the screen showing the answer
#     (target: answered within 50 ms), then the console's RSS (target ≤ 60 MB, bounded by
#     the ring buffer).
#
# Usage: tests/bench/tui_idle.sh [SECONDS] [FLOOD]   (defaults 60 and 40)
# Needs tmux and wrk. Bounded by its durations; stops the daemon, the tmux server (own
# socket) and removes its files on exit.
set -euo pipefail
source "$(dirname "$0")/local_lib.sh"
need tmux "apt-get install tmux"
need python3 "for JSON parsing"
need wrk "apt-get install wrk"
SECONDS_IDLE="${1:-60}"
FLOOD="${2:-40}"

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

screen() { tmux -S "$SOCK" capture-pane -p -t console; }
now_ms() { date +%s%3N; }
# key_ms KEY TEXT: milliseconds from sending KEY until the screen shows TEXT (5 s cap).
key_ms() {
  local t0 t1
  t0="$(now_ms)"
  tmux -S "$SOCK" send-keys -t console "$1"
  for _ in $(seq 1 1000); do
    if screen | grep -qF "$2"; then t1="$(now_ms)"; echo $((t1 - t0)); return 0; fi
    sleep 0.005
  done
  echo 5000
}

# close_help: Escape, then wait until the help overlay is gone (not timed).
close_help() {
  tmux -S "$SOCK" send-keys -t console Escape
  for _ in $(seq 1 1000); do
    if ! screen | grep -qF 'Help · any key'; then return 0; fi
    sleep 0.005
  done
}

# The same keys with nothing else going on: what capture-pane polling itself costs.
BASE=()
for _ in $(seq 1 5); do
  BASE+=("$(key_ms '?' 'Help · any key')")
  close_help
done
echo "tui_keys: key → screen at rest: ${BASE[*]} ms" 

# A path every request logs (passing /health probes log at debug level): a 404 is the
# cheapest such request, so the flood is mostly log lines, not page rendering.
FLOOD_URL="http://$PROD/bench-log-flood"
echo "==> log flood: wrk for ${FLOOD}s against $FLOOD_URL" >&2
wrk -t1 -c"${WRK_CONNECTIONS:-8}" -d"${FLOOD}s" "$FLOOD_URL" >"$WORK/wrk.txt" 2>&1 &
WRK_PID=$!
sleep 3
LAT=()
while kill -0 "$WRK_PID" 2>/dev/null; do
  LAT+=("$(key_ms '?' 'Help · any key')")
  close_help
  sleep 1
done
wait "$WRK_PID" || true
sleep 3
REQS="$(grep -oE '^ *[0-9]+ requests in' "$WORK/wrk.txt" | grep -oE '[0-9]+' | head -n 1)"
TITLE="$(screen | grep -oE 'Logs · [^─]*' | head -n 1)"
rss="$(rss_kb)"
python3 - "$REQS" "$rss" "$FLOOD" "$TITLE" "${LAT[@]}" <<'PY'
import sys
reqs, rss, flood, title = int(sys.argv[1] or 0), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
lat = sorted(int(x) for x in sys.argv[5:])
print(f"tui_flood: {reqs} requests (log lines) in {flood:.0f} s = {reqs / flood:.0f} lines/s offered")
print(f"tui_flood: logs panel: {title.strip()}")
if lat:
    p50 = lat[len(lat) // 2]
    print(f"tui_flood: key → screen under the flood: {len(lat)} keys, median {p50} ms, "
          f"worst {lat[-1]} ms (target ≤ 50 ms incl. tmux capture: {lat[-1] / 50:.2f}× the budget)")
print(f"tui_flood: key latencies (ms): {lat}")
print(f"tui_flood: RSS after the flood {rss / 1024:.1f} MB (target ≤ 60 MB: {rss / 1024 / 60:.2f}× the budget)")
PY
