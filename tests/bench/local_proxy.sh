#!/usr/bin/env bash
# Proxy throughput and latency on the same blog targets: direct to one target, through the
# local platform's proxy, and through nginx with the same weighted upstreams (blue 80 /
# green 20 over 2 + 2 tasks). wrk -t2 -c16 for DURATION seconds each (default 10), after a
# short warm-up. Loopback only; stops everything it started.
#
#   bash tests/bench/local_proxy.sh            # PATH_UNDER_TEST=/health DURATION=10
set -euo pipefail
source "$(dirname "$0")/local_lib.sh"
need wrk "apt-get install wrk"
need python3 "Python 3"
NGINX="${NGINX:-/usr/sbin/nginx}"
[ -x "$NGINX" ] || { echo "nginx not found at $NGINX (apt-get install nginx, or set NGINX)" >&2; exit 1; }
DURATION="${DURATION:-10}"
URL_PATH="${PATH_UNDER_TEST:-/health}"

start_two_colors 2
bg shift --green 20 >&2
read -r -a BLUE_T <<<"$(targets blue)"
read -r -a GREEN_T <<<"$(targets green)"

# nginx: the same four targets, weighted 80:20 per color (40+40 : 10+10), kept-alive
# upstream connections as our proxy keeps them.
NGINX_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
NGINX_PID_FILE="$WORK/nginx.pid"
mkdir -p "$WORK/nginx/logs"
{
  [ "$(id -u)" = 0 ] && echo "user root;"
  cat <<CONF
worker_processes 2;
pid $NGINX_PID_FILE;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  upstream blog {
    server ${BLUE_T[0]} weight=40;
    server ${BLUE_T[1]} weight=40;
    server ${GREEN_T[0]} weight=10;
    server ${GREEN_T[1]} weight=10;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://blog;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto http;
    }
  }
}
CONF
} >"$WORK/nginx/nginx.conf"
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"

echo "==> warm-up" >&2
for url in "http://${BLUE_T[0]}$URL_PATH" "http://$PROD$URL_PATH" "http://127.0.0.1:$NGINX_PORT$URL_PATH"; do
  wrk -t2 -c16 -d2 "$url" >/dev/null
done
echo "==> wrk -t2 -c16 -d${DURATION}s $URL_PATH" >&2
direct="$(wrk_run direct "http://${BLUE_T[0]}$URL_PATH" "${DURATION}s")"
ours="$(wrk_run bluegreen "http://$PROD$URL_PATH" "${DURATION}s")"
nginx="$(wrk_run nginx "http://127.0.0.1:$NGINX_PORT$URL_PATH" "${DURATION}s")"

# The same with one connection: the latency each hop adds when the CPU is not saturated.
echo "==> wrk -t1 -c1 -d5s $URL_PATH" >&2
direct1="$(wrk_run direct "http://${BLUE_T[0]}$URL_PATH" 5s 1)"
ours1="$(wrk_run bluegreen "http://$PROD$URL_PATH" 5s 1)"
nginx1="$(wrk_run nginx "http://127.0.0.1:$NGINX_PORT$URL_PATH" 5s 1)"

python3 - "$direct1" "$ours1" "$nginx1" <<'PY'
import sys
rows = [r.split() for r in sys.argv[1:]]
d, o, n = ({"p50": float(r[2]), "p99": float(r[3])} for r in rows)
print(f"one connection: p50 direct {d['p50']:.3f} ms, ours {o['p50']:.3f} ms, nginx {n['p50']:.3f} ms; "
      f"p99 direct {d['p99']:.3f} ms, ours {o['p99']:.3f} ms, nginx {n['p99']:.3f} ms")
print(f"  added by ours: p50 {o['p50'] - d['p50']:+.3f} ms, p99 {o['p99'] - d['p99']:+.3f} ms; "
      f"by nginx: p50 {n['p50'] - d['p50']:+.3f} ms, p99 {n['p99'] - d['p99']:+.3f} ms")
print()
PY

python3 - "$direct" "$ours" "$nginx" <<'PY'
import sys
rows = [r.split() for r in sys.argv[1:]]
print(f"{'target':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7} {'requests':>9}")
for name, rps, p50, p99, bad, err, total in rows:
    print(f"{name:<12} {rps:>9} {p50:>8} {p99:>8} {bad:>8} {err:>7} {total:>9}")
d, o, n = ({"rps": float(r[1]), "p99": float(r[3])} for r in rows)
print()
print(f"ours / nginx req/s:  {o['rps'] / n['rps']:.2f}x   (target >= 0.8x, aim >= 1.0x)")
print(f"ours / direct req/s: {o['rps'] / d['rps']:.2f}x")
print(f"added p99 vs direct: ours {o['p99'] - d['p99']:+.3f} ms, nginx {n['p99'] - d['p99']:+.3f} ms   (target <= 1 ms)")
PY
