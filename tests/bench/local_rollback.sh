#!/usr/bin/env bash
# Rollback latency: from starting `bluegreen rollback` to the first response served by the
# rolled-back color, seen by a client polling the production listener over one kept-alive
# connection. Each round first moves all traffic to the canary (`shift --green/--blue 100
# --force`), so every response before the rollback comes from the other color. ROUNDS
# rounds (default 10); prints each and the median and maximum. Target: <= 50 ms.
set -euo pipefail
source "$(dirname "$0")/local_lib.sh"
need python3 "Python 3"
ROUNDS="${ROUNDS:-10}"

start_two_colors 2
stable="$LIVE"
canary="$IDLE"

python3 - "$BG" "$STATE" "$WORK" "$PROD" "$stable" "$canary" "$ROUNDS" <<'PY'
import http.client, statistics, subprocess, sys, threading, time
bg, state, work, prod, stable, canary, rounds = sys.argv[1:8]
host, port = prod.rsplit(":", 1)

def cli(*args):
    subprocess.run([bg, "--state-dir", state, *args], cwd=work, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

def poll(stop, seen, started):
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    while not stop.is_set():
        conn.request("GET", "/health")
        r = conn.getresponse()
        r.read()
        if r.getheader("X-Blog-Color") == stable and started[0] is not None and seen[0] is None:
            seen[0] = time.perf_counter()
    conn.close()

results = []
for i in range(int(rounds)):
    cli("shift", f"--{canary}", "100", "--force")
    stop, seen, started = threading.Event(), [None], [None]
    t = threading.Thread(target=poll, args=(stop, seen, started))
    t.start()
    time.sleep(0.3)
    started[0] = time.perf_counter()
    cli("rollback")
    cli_done = time.perf_counter()
    deadline = time.time() + 5
    while seen[0] is None and time.time() < deadline:
        time.sleep(0.001)
    stop.set()
    t.join()
    if seen[0] is None:
        sys.exit(f"round {i + 1}: no response from {stable} within 5 s of the rollback")
    ms = (seen[0] - started[0]) * 1000
    results.append(ms)
    print(f"round {i + 1:>2}: first {stable} response {ms:7.1f} ms after the command started "
          f"(command took {(cli_done - started[0]) * 1000:.1f} ms)")
print(f"rollback latency: median {statistics.median(results):.1f} ms, max {max(results):.1f} ms "
      f"over {len(results)} rounds (target <= 50 ms)")
PY
