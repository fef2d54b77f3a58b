#!/usr/bin/env bash
# Failing gate → rolled-back weights in force, on the local platform, seen by clients.
# Each round releases a tag with one 50% step (`--hold 10m --interval 1`, detached: the daemon
# drives it), waits until the step holds, then injects a 100% 503 fault into the canary
# (`bluegreen local fault`). Four clients poll the production listener over kept-alive
# connections and log every answer. Two figures per round:
#   effect → in force: from the first 503 a client saw to the last answer from the canary
#                      (a 503 or its X-Blog-Color), i.e. until every answer comes from stable;
#   command → in force: the same end, from the start of the `local fault` command.
# Then the fault is cleared, the release's outcome checked (rolled back by the errors gate)
# and the next round starts. ROUNDS rounds (default 5); prints each and min/median/max.
# Target (issue 11): ≤ one gate interval + 100 ms = 1,100 ms here.
set -euo pipefail
source "$(dirname "$0")/local_lib.sh"
need python3 "Python 3"
ROUNDS="${ROUNDS:-5}"

build_release
start_platform 2
STABLE="$(stable_color)"

python3 - "$BG" "$STATE" "$WORK" "$PROD" "$STABLE" "$ROUNDS" <<'PY'
import http.client, json, statistics, subprocess, sys, threading, time
bg, state, work, prod, stable, rounds = sys.argv[1:7]
host, port = prod.rsplit(":", 1)
canary = "green" if stable == "blue" else "blue"
INTERVAL_MS = 1000

def cli(*args, capture=False):
    r = subprocess.run([bg, "--state-dir", state, *args], cwd=work, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"bluegreen {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout

def release():
    doc = json.loads(cli("--json", "status"))
    return (doc.get("release") or {}).get("release")

def client(stop, log):
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    while not stop.is_set():
        try:
            conn.request("GET", "/health")
            r = conn.getresponse()
            r.read()
            log.append((time.perf_counter(), r.status, r.getheader("X-Blog-Color")))
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=5)

effect, command = [], []
for i in range(int(rounds)):
    tag = "v2" if i % 2 == 0 else "v3"
    cli("release", "--tag", tag, "--steps", "50", "--hold", "10m", "--interval", "1", "--detach")
    deadline = time.time() + 120
    while True:
        r = release()
        stage = (r or {}).get("stage") or {}
        if isinstance(stage, dict) and stage.get("stage") == "step":
            break
        if r and r.get("outcome"):
            sys.exit(f"round {i + 1}: the release ended before its step: {r['outcome']}")
        if time.time() > deadline:
            sys.exit(f"round {i + 1}: the release never reached its step: {stage}")
        time.sleep(0.2)
    stop, logs = threading.Event(), [[] for _ in range(4)]
    threads = [threading.Thread(target=client, args=(stop, log)) for log in logs]
    for t in threads:
        t.start()
    time.sleep(2)
    t_cmd = time.perf_counter()
    cli("local", "fault", "--color", canary, "--error-rate", "100")
    deadline = time.time() + 30
    while (release() or {}).get("outcome") is None:
        if time.time() > deadline:
            sys.exit(f"round {i + 1}: no rollback within 30 s of the fault")
        time.sleep(0.05)
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join()
    cli("local", "fault", "--clear")
    answers = sorted(a for log in logs for a in log)
    from_canary = [t for t, status, color in answers
                   if t >= t_cmd and (status == 503 or color == canary)]
    faults = [t for t, status, _ in answers if t >= t_cmd and status == 503]
    outcome = release()["outcome"]
    if outcome.get("outcome") != "rolled_back":
        sys.exit(f"round {i + 1}: outcome {outcome}")
    after = [a for a in answers if a[0] > from_canary[-1]]
    if not faults or not after or any(c != stable for _, _, c in after):
        sys.exit(f"round {i + 1}: stable does not serve everything after the rollback")
    e = (from_canary[-1] - faults[0]) * 1000
    c = (from_canary[-1] - t_cmd) * 1000
    effect.append(e)
    command.append(c)
    gate = outcome["failed"][0]
    print(f"round {i + 1}: effect → in force {e:6.0f} ms, command → in force {c:6.0f} ms "
          f"({len(faults)} 503s of {len(answers)} answers; gate {gate['gate']} {gate['measured']})")

def summary(name, xs):
    med = statistics.median(xs)
    return (f"{name}: min {min(xs):.0f} ms, median {med:.0f} ms, max {max(xs):.0f} ms "
            f"over {len(xs)} rounds (target ≤ {INTERVAL_MS + 100} ms: max is "
            f"{max(xs) / (INTERVAL_MS + 100):.2f}× the target)")
print(summary("failing gate, first 503 → rolled-back weights in force", effect))
print(summary("failing gate, fault command → rolled-back weights in force", command))
PY
