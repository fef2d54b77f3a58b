#!/usr/bin/env bash
# What a daemon restart costs under load, with the release binaries:
#  1. a planned restart (`bluegreen local restart`) while wrk (-t2 -c16) runs for DURATION
#     seconds: the requests that failed (target 0);
#  2. a crash (SIGKILL of the daemon) and `bluegreen local up`: how long until the proxy
#     serves again, counted from the start of `local up` (target ≤ 1 s), and whether the
#     tasks were adopted (the same pids) rather than replaced.
# Loopback only; stops everything it started.
#
#   bash tests/bench/local_restart.sh            # DURATION=10 TASKS=2
set -euo pipefail
source "$(dirname "$0")/local_lib.sh"
need wrk "apt-get install wrk"
need python3 "Python 3"
DURATION="${DURATION:-10}"
TASKS="${TASKS:-2}"

build_release
start_platform "$TASKS"
LIVE="$(stable_color)"
daemon_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$STATE/daemon.json" "$1"; }
task_pids() { pgrep -f "$STATE/registry/blobs/" | sort | tr '\n' ' '; }
PROD="$(daemon_field production)"
PORT="${PROD##*:}"

echo "==> planned restart under wrk -t2 -c16 for ${DURATION}s ($TASKS $LIVE tasks)" >&2
before_pids="$(task_pids)"
old_pid="$(daemon_field pid)"
wrk -t2 -c16 -d"${DURATION}s" --latency "http://$PROD/health" >"$WORK/wrk-restart.txt" 2>&1 &
WRK=$!
sleep "$((DURATION / 3 > 0 ? DURATION / 3 : 1))"
restart_started="$(date +%s%N)"
bg local restart >&2
restart_ms="$(( ($(date +%s%N) - restart_started) / 1000000 ))"
wait "$WRK"
new_pid="$(daemon_field pid)"
python3 - "$WORK/wrk-restart.txt" "$restart_ms" "$old_pid" "$new_pid" "$before_pids" "$(task_pids)" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
total = int(re.search(r"(\d+) requests in", text).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
non2xx = int(non2xx.group(1)) if non2xx else 0
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errors = [int(x) for x in errors.groups()] if errors else [0, 0, 0, 0]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
failed = non2xx + sum(errors)
print(f"planned restart: {total} requests ({rps:.0f} req/s), {failed} failed "
      f"(non-2xx {non2xx}; socket errors connect/read/write/timeout {'/'.join(map(str, errors))}); "
      f"target 0; `local restart` took {sys.argv[2]} ms; daemon {sys.argv[3]} -> {sys.argv[4]}; "
      f"tasks {'kept' if sys.argv[5] == sys.argv[6] else 'CHANGED'}")
PY

echo "==> crash (SIGKILL of the daemon) and local up" >&2
before_pids="$(task_pids)"
kill -9 "$(daemon_field pid)"
while bg local status >/dev/null 2>&1; do sleep 0.05; done
python3 - "$BG" "$STATE" "$WORK" "$PORT" <<'PY'
import subprocess, sys, time, urllib.request
bg, state, work, port = sys.argv[1:5]
url = f"http://127.0.0.1:{port}/health"
try:
    urllib.request.urlopen(url, timeout=1)
    print("crash: the proxy still answered after the daemon was killed", file=sys.stderr)
except Exception:
    pass
t0 = time.monotonic()
subprocess.run([bg, "--state-dir", state, "local", "up", "--port", port], cwd=work, check=True,
               stdout=subprocess.DEVNULL)
t_up = time.monotonic()
deadline = t0 + 30
while True:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                break
    except Exception:
        pass
    if time.monotonic() > deadline:
        sys.exit("crash: not serving 30 s after local up")
    time.sleep(0.005)
t_serve = time.monotonic()
print(f"crash -> local up: `local up` returned after {(t_up - t0) * 1000:.0f} ms; "
      f"serving again {(t_serve - t0) * 1000:.0f} ms after it started; target <= 1000 ms")
PY
after_pids="$(task_pids)"
if [ "$before_pids" = "$after_pids" ]; then
  echo "crash: the $(echo "$after_pids" | wc -w) task process(es) were adopted, none replaced"
else
  echo "crash: task processes changed: [$before_pids] -> [$after_pids]"
fi
