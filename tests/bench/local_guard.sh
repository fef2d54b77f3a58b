#!/usr/bin/env bash
# The guard (issue 28) on the local platform: failure → rolled-back weights in force, with no
# release running, seen by clients. The profile beside the state directory sets the guard's
# interval to 1 s (`[profiles.bench.guard] interval = 1`) and turns the probe off (the four
# clients are the traffic). Two kinds of rounds, alternating:
#   shift: `shift --green 20` by hand, then a 100% 503 fault on the canary (`local fault`);
#   bake:  `promote --bake 600`, a few seconds of good traffic, then the fault on the new
#          stable color; the guard undoes the promote.
# Four clients poll the production listener over kept-alive connections and log every
# answer. Per round: effect → in force, from the first 503 a client saw to the last answer
# from the failing color (a 503 or its X-Blog-Color), i.e. until every answer comes from the
# color the guard gave everything to. ROUNDS rounds of each kind (default 3).
# Target: ≤ one guard interval + 100 ms = 1,100 ms.
set -euo pipefail
source "$(dirname "$0")/local_lib.sh"
need python3 "Python 3"
ROUNDS="${ROUNDS:-3}"

start_two_colors 1
cat >"$WORK/bluegreen.toml" <<'TOML'
[profiles.bench]
platform = "local"
[profiles.bench.guard]
interval = 1
[profiles.bench.probe]
rate = 0
TOML

python3 - "$BG" "$STATE" "$WORK" "$PROD" "$LIVE" "$IDLE" "$ROUNDS" <<'PY'
import http.client, json, statistics, subprocess, sys, threading, time
bg, state, work, prod, live, idle, rounds = sys.argv[1:8]
host, port = prod.rsplit(":", 1)
INTERVAL_MS = 1000

def cli(*args):
    r = subprocess.run([bg, "--state-dir", state, *args], cwd=work, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"bluegreen {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout

def listener():
    return json.loads(cli("--json", "status"))["snapshot"]["listener"]

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

def round_(kind, stable):
    canary = "green" if stable == "blue" else "blue"
    stop, logs = threading.Event(), [[] for _ in range(4)]
    threads = [threading.Thread(target=client, args=(stop, log)) for log in logs]
    for t in threads:
        t.start()
    time.sleep(3)
    if kind == "shift":
        cli("shift", f"--{canary}", "20")
        failing, target = canary, stable
    else:
        cli("promote", "--bake", "600")
        failing, target = canary, stable
    time.sleep(4)
    t_cmd = time.perf_counter()
    cli("local", "fault", "--color", failing, "--error-rate", "100")
    deadline = time.time() + 30
    while True:
        l = listener()
        if l["stable"] == target and l.get("bake") is None and l["weights"][target] == 100:
            break
        if time.time() > deadline:
            sys.exit(f"{kind}: not rolled back within 30 s: {json.dumps(l.get('guard'), indent=1)}")
        time.sleep(0.05)
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join()
    cli("local", "fault", "--clear")
    answers = sorted(a for log in logs for a in log)
    from_failing = [t for t, status, color in answers
                    if t >= t_cmd and (status == 503 or color == failing)]
    faults = [t for t, status, _ in answers if t >= t_cmd and status == 503]
    after = [a for a in answers if a[0] > from_failing[-1]]
    if not faults or not after or any(c != target for _, _, c in after):
        sys.exit(f"{kind}: {target} does not serve everything after the rollback")
    action = (l.get("guard") or {}).get("last_action") or {}
    gate = (action.get("failed") or [{}])[0]
    e = (from_failing[-1] - faults[0]) * 1000
    print(f"{kind:5}: first 503 → weights in force {e:6.0f} ms "
          f"({len(faults)} 503s of {len(answers)} answers; gate {gate.get('gate')} {gate.get('measured')})")
    return e

shift, bake = [], []
stable = live
for i in range(int(rounds)):
    shift.append(round_("shift", stable))
    bake.append(round_("bake", stable))

def summary(name, xs):
    med = statistics.median(xs)
    return (f"{name}: min {min(xs):.0f} ms, median {med:.0f} ms, max {max(xs):.0f} ms "
            f"over {len(xs)} rounds (target ≤ {INTERVAL_MS + 100} ms: max is "
            f"{max(xs) / (INTERVAL_MS + 100):.2f}× the target)")
print(summary("guard, hand shift: first 503 → rolled-back weights in force", shift))
print(summary("guard, bake: first 503 → promote undone, weights in force", bake))
PY
