#!/usr/bin/env bash
# Promote under load: wrk (-t2 -c16) runs against the production listener for the whole
# release cycle — deploy v2 to the idle color, shift 10/50/90, promote (bake 3 s), the bake
# ends and the old color drains and scales to zero, deploy v3 to it, shift 50, roll back —
# and reports the requests served and the failures (non-2xx/3xx and socket errors).
# Target: 0 failures.
set -euo pipefail
source "$(dirname "$0")/local_lib.sh"
need wrk "apt-get install wrk"
need python3 "Python 3"
DURATION="${DURATION:-25}"

build_release
start_platform 2
stable="$(stable_color)"
canary="$([ "$stable" = blue ] && echo green || echo blue)"

wrk -t2 -c16 -d"${DURATION}s" --latency "http://$PROD/" >"$WORK/wrk.out" &
WRK_PID=$!
sleep 2
started=$SECONDS
bg deploy --tag v2 --wait --timeout 120 >&2
for share in 10 50 90; do
  bg shift "--$canary" "$share" >&2
  sleep 2
done
bg promote --bake 3 >&2
for i in $(seq 1 100); do
  [ "$(bg --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot"]["listener"]["bake"])')" = None ] && break
  sleep 0.2
done
echo "bake finished: $stable scaled to zero" >&2
sleep 2
bg deploy --tag v3 --wait --timeout 120 >&2
bg shift "--$stable" 50 >&2
sleep 2
bg rollback >&2
echo "cycle took $((SECONDS - started)) s; waiting for wrk (${DURATION} s in all)" >&2
if ! wait "$WRK_PID"; then echo "wrk failed" >&2; cat "$WORK/wrk.out" >&2; exit 1; fi
[ $((SECONDS - started)) -lt "$DURATION" ] || echo "warning: the cycle outlasted wrk; raise DURATION" >&2
python3 - "$WORK/wrk.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
total = int(re.search(r"(\d+) requests in", text).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
bad = int(non2xx.group(1)) if non2xx else 0
err = sum(map(int, errors.groups())) if errors else 0
rps = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
print(f"promote under load: {total} requests served ({rps} req/s), {bad} non-2xx/3xx, {err} socket errors")
print(f"failures: {bad + err} (target 0)")
sys.exit(1 if bad + err else 0)
PY
