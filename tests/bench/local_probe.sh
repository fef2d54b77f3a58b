#!/usr/bin/env bash
# The probe's cost (issue 28) on the local platform, with no other traffic: a canary at 10%
# by hand (`shift --green 10`), the guard watching it, for WINDOW seconds (default 60) with
# the probe at its default rate, then as long with the probe off (`rate = 0`). Prints, for
# each: the daemon's CPU time over the window (from /proc/PID/stat), the probe's requests,
# and how long after the shift the guard's gates first judged (every gate conclusive) — the
# requests a judged step costs at the default rate.
set -euo pipefail
source "$(dirname "$0")/local_lib.sh"
need python3 "Python 3"
WINDOW="${WINDOW:-60}"

start_two_colors 1
PID="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$STATE/daemon.json")"

python3 - "$BG" "$STATE" "$WORK" "$PID" "$WINDOW" "$LIVE" <<'PY'
import json, os, subprocess, sys, time
bg, state, work, pid, window, live = sys.argv[1:7]
window = int(window)
canary = "green" if live == "blue" else "blue"
tick = os.sysconf("SC_CLK_TCK")

def cli(*args):
    r = subprocess.run([bg, "--state-dir", state, *args], cwd=work, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"bluegreen {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout

def cpu_s():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick

def guard():
    return json.loads(cli("--json", "status"))["guard"]["record"] or {}

def profile(rate):
    with open(os.path.join(work, "bluegreen.toml"), "w") as f:
        f.write(f'[profiles.bench]\nplatform = "local"\n[profiles.bench.probe]\nrate = {rate}\n')

def run(rate):
    profile(rate)
    cli("shift", f"--{canary}", "10")
    started, cpu0 = time.time(), cpu_s()
    sent0 = guard().get("probe_sent", 0)
    judged = None
    while time.time() - started < window:
        g = guard()
        if judged is None and g.get("verdict") in ("pass", "fail"):
            judged = (time.time() - started, g.get("probe_sent", 0) - sent0)
        time.sleep(1)
    cpu = cpu_s() - cpu0
    sent = guard().get("probe_sent", 0) - sent0
    cli("rollback")
    label = f"probe rate {rate}/s" if rate else "probe off"
    when = (f"gates judged {judged[0]:.0f} s after the shift, after {judged[1]} probe requests"
            if judged else f"gates never judged in {window} s")
    print(f"{label}: daemon CPU {cpu:.2f} s over {window} s ({cpu / window * 100:.2f}% of a core), "
          f"{sent} probe requests; {when}")

run(3)
run(0)
PY
