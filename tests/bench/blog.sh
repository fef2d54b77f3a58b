#!/usr/bin/env bash
# Benchmarks the blog the way the seed's Flask app was measured on this machine (wrk -t2 -c16,
# SQLite, 50 posts) and prints the figures next to the issue's targets:
#   - req/s and latency (p50/p99) for GET / and GET /posts/<id>
#   - RSS under load (peak VmRSS sampled while wrk runs)
#   - time from process start to the first 200 on /health (median of 7 starts)
#   - GET / with 100 posts vs 10,000 posts (keyset paging: the ratio should stay near 1),
#     measured with the page cache off so every request pays for the query
# The headline GET / figure is the default configuration (rendered pages kept until any
# process writes); the same page rendered on every request is printed beside it.
# Everything runs on loopback and stops by itself; each wrk run is bounded by DURATION.
#
# Usage: bash tests/bench/blog.sh            (builds the release binary first)
#        DURATION=5 bash tests/bench/blog.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION="${DURATION:-10}"
for tool in wrk python3 curl; do
  command -v "$tool" >/dev/null || { echo "blog.sh needs $tool on PATH" >&2; exit 1; }
done

echo "==> building the release binary" >&2
cargo build --release -p blog >&2
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BLOG="$TARGET_DIR/release/blog"
[ -x "$BLOG" ] || { echo "no release binary at $BLOG" >&2; exit 1; }

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Fills a fresh database with N posts (realistic sizes, distinct timestamps). The blog makes
# the schema; the rows go straight into SQLite so 10,000 posts take a second, not minutes.
make_db() {
  local db="$1" n="$2"
  "$BLOG" migrate --store "sqlite:$db" >/dev/null
  python3 - "$db" "$n" <<'PY'
import sqlite3, sys, uuid, datetime
db, n = sys.argv[1], int(sys.argv[2])
words = ("blue green release canary rollback traffic listener weight health target service "
         "deploy build image task cluster promote bake shift steady").split()
con = sqlite3.connect(db)
start = datetime.datetime(2025, 1, 1)
rows = []
for i in range(n):
    title = " ".join(words[(i + k) % len(words)] for k in range(6)).capitalize()
    body = "\n\n".join(" ".join(words[(i * 7 + p * 3 + k) % len(words)] for k in range(60)) for p in range(4))
    ts = (start + datetime.timedelta(minutes=i, microseconds=i % 997)).isoformat()
    rows.append((str(uuid.uuid4()), f"Author {i % 17}", f"{title} {i}", body, ts))
con.executemany("INSERT INTO posts (post_id, author, title, content, timestamp) VALUES (?,?,?,?,?)", rows)
con.commit()
print(rows[n // 2][0])
PY
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts the blog on DB (extra arguments go to the blog); sets ADDR and PID.
start_blog() {
  local db="$1" log="$WORK/blog-$RANDOM.log"
  shift
  BLOG_COLOR=blue BLOG_VERSION=bench "$BLOG" --bind 127.0.0.1 --port 0 --store "sqlite:$db" "$@" >"$log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 200); do
    if [ -s "$log" ]; then break; fi
    sleep 0.01
  done
  ADDR="$(head -n1 "$log" | sed -n 's|^listening on http://||p')"
  [ -n "$ADDR" ] || { echo "blog did not start: $(cat "$log")" >&2; exit 1; }
}

stop_blog() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; }

# Runs wrk against URL; prints "rps p50_ms p99_ms peak_rss_kb".
measure() {
  local url="$1" out="$WORK/wrk.txt" peak=0 rss
  wrk -t2 -c16 -d"${DURATION}s" --latency "$url" >"$out" &
  local wrk_pid=$!
  while kill -0 "$wrk_pid" 2>/dev/null; do
    rss="$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0)"
    [ "${rss:-0}" -gt "$peak" ] && peak="$rss"
    sleep 0.2
  done
  wait "$wrk_pid"
  if grep -q "Non-2xx" "$out"; then echo "wrk saw errors on $url:" >&2; cat "$out" >&2; exit 1; fi
  python3 - "$out" "$peak" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(token):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", token).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {sys.argv[2]}")
PY
}

# Median wall time from spawn to the first 200 on /health, in ms.
start_to_healthy() {
  local db="$1"
  python3 - "$BLOG" "$db" <<'PY'
import http.client, os, socket, statistics, subprocess, sys, time
blog, db = sys.argv[1], sys.argv[2]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
times = []
for _ in range(7):
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([blog, "--bind", "127.0.0.1", "--port", str(port), "--store", f"sqlite:{db}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() - t0 > 10:
                sys.exit("blog did not become healthy within 10 s")
            time.sleep(0.0005)
        times.append((time.perf_counter() - t0) * 1000)
    finally:
        proc.terminate(); proc.wait()
print(f"{statistics.median(times):.1f}")
PY
}

echo "==> preparing databases (50, 100 and 10,000 posts)" >&2
ID50="$(make_db "$WORK/50.db" 50)"
make_db "$WORK/100.db" 100 >/dev/null
make_db "$WORK/10k.db" 10000 >/dev/null

echo "==> GET / and GET /posts/<id> with 50 posts, ${DURATION}s each" >&2
start_blog "$WORK/50.db"
curl -fsS "http://$ADDR/" >/dev/null
read -r INDEX_RPS INDEX_P50 INDEX_P99 INDEX_RSS <<<"$(measure "http://$ADDR/")"
read -r POST_RPS POST_P50 POST_P99 POST_RSS <<<"$(measure "http://$ADDR/posts/$ID50")"
stop_blog
# The same page rendered from the store on every request (no page cache).
start_blog "$WORK/50.db" --page-cache false
read -r RENDER_RPS RENDER_P50 RENDER_P99 RENDER_RSS <<<"$(measure "http://$ADDR/")"
stop_blog

echo "==> start to healthy" >&2
HEALTHY_MS="$(start_to_healthy "$WORK/50.db")"

# Paging cost with the page cache off, so every request queries the store.
echo "==> GET / with 100 vs 10,000 posts (page cache off)" >&2
start_blog "$WORK/100.db" --page-cache false
read -r R100 P50_100 P99_100 _ <<<"$(measure "http://$ADDR/")"
stop_blog
start_blog "$WORK/10k.db" --page-cache false
read -r R10K P50_10K P99_10K _ <<<"$(measure "http://$ADDR/")"
# A deep page too: keyset paging should cost the same as the first.
OLDER="$(curl -fsS "http://$ADDR/" | sed -n 's|.*class="older" href="\([^"]*\)".*|\1|p' | head -n1)"
read -r RDEEP _ _ _ <<<"$(measure "http://$ADDR$OLDER")"
stop_blog

PEAK_RSS_KB=$(( INDEX_RSS > POST_RSS ? INDEX_RSS : POST_RSS ))
PEAK_RSS_KB=$(( RENDER_RSS > PEAK_RSS_KB ? RENDER_RSS : PEAK_RSS_KB ))
python3 - "$INDEX_RPS" "$INDEX_P50" "$INDEX_P99" "$POST_RPS" "$POST_P50" "$POST_P99" "$PEAK_RSS_KB" \
  "$HEALTHY_MS" "$R100" "$R10K" "$RDEEP" "$P50_100" "$P50_10K" "$RENDER_RPS" "$RENDER_P50" "$RENDER_P99" <<'PY'
import sys
(index_rps, index_p50, index_p99, post_rps, post_p50, post_p99, rss_kb, healthy_ms,
 r100, r10k, rdeep, p50_100, p50_10k, render_rps, render_p50, render_p99) = map(float, sys.argv[1:])
ratio = r100 / r10k
rss_mb = rss_kb / 1024
def row(name, value, target, ok):
    print(f"  {name:<38} {value:>16}   {target:<12} {'ok' if ok else 'MISSED'}")
print("blog benchmark (wrk -t2 -c16, SQLite, loopback, this machine)")
print(f"  {'measure':<38} {'value':>16}   {'target':<12}")
row("GET /  (50 posts) req/s", f"{index_rps:,.0f}", ">= 20,000", index_rps >= 20000)
row("GET /  p50 / p99 latency", f"{index_p50:.2f} / {index_p99:.2f} ms", "p99 <= 5 ms", index_p99 <= 5)
row("GET /  rendered every time req/s", f"{render_rps:,.0f}", "", True)
row("GET /  rendered every time p50 / p99", f"{render_p50:.2f} / {render_p99:.2f} ms", "", True)
row("GET /posts/<id> req/s", f"{post_rps:,.0f}", "", True)
row("GET /posts/<id> p50 / p99 latency", f"{post_p50:.2f} / {post_p99:.2f} ms", "p99 <= 5 ms", post_p99 <= 5)
row("RSS under load (peak)", f"{rss_mb:.1f} MB", "<= 25 MB", rss_mb <= 25)
row("start to first 200 on /health", f"{healthy_ms:.1f} ms", "<= 50 ms", healthy_ms <= 50)
row("GET /  100 posts req/s (no cache)", f"{r100:,.0f}", "", True)
row("GET /  10,000 posts req/s (no cache)", f"{r10k:,.0f}", "", True)
row("GET /?older=… 10,000 posts (no cache)", f"{rdeep:,.0f}", "", True)
row("100 vs 10,000 posts (req/s ratio)", f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5)
print(f"  seed (Flask, same machine): ~700 req/s GET /, ~1,870 req/s one post, ~136 MB, ~960 ms to healthy")
print(f"  vs seed: GET / {index_rps / 700:.0f}x, one post {post_rps / 1870:.0f}x, RSS {136 / rss_mb:.0f}x smaller, start {960 / healthy_ms:.0f}x faster")
PY
