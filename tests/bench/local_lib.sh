# Shared by the local-platform benchmarks: release binaries, a daemon on free loopback ports
# in a temporary state directory (stopped and removed on exit), and wrk output parsing.
# Source it; it defines functions only.

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$BENCH_ROOT/$TARGET_DIR" ;; esac

need() { command -v "$1" >/dev/null 2>&1 || { echo "$1 is required ($2)" >&2; exit 1; }; }

# Builds the binaries (BENCH_NO_BUILD=1 uses the ones already built) and runs copies, so a
# rebuild during the run cannot swap them out. BENCH_PROFILE=debug uses the dev profile: a
# quicker build on a busy machine, for figures that measure waits rather than CPU (say so
# when quoting them). BENCH_PROFILE=local uses the profile the demo runs (the README's first
# command): the AWS SDK crates unoptimized, see Cargo.toml's [profile.local].
build_release() {
  local profile="${BENCH_PROFILE:-release}" dir flag
  case "$profile" in
    release) dir=release flag=--release ;;
    debug) dir=debug flag= ;;
    local) dir=local flag="--profile local" ;;
    *) echo "BENCH_PROFILE must be release, local or debug, not '$profile'" >&2; exit 1 ;;
  esac
  if [ -z "${BENCH_NO_BUILD:-}" ]; then
    echo "==> building bluegreen and blog ($profile)" >&2
    (cd "$BENCH_ROOT" && cargo build $flag -p bluegreen -p blog >&2)
  fi
  BIN_DIR="$(mktemp -d /tmp/bg-bench-bin.XXXXXX)"
  cp "$TARGET_DIR/$dir/bluegreen" "$TARGET_DIR/$dir/blog" "$BIN_DIR/"
  BG="$BIN_DIR/bluegreen"
  BLOG="$BIN_DIR/blog"
}

# bg ARGS… — the CLI against the bench's state directory, from a directory with no
# bluegreen.toml.
bg() { (cd "$WORK" && "$BG" --state-dir "$STATE" "$@"); }

cleanup() {
  if [ -n "${NGINX_PID_FILE:-}" ] && [ -f "$NGINX_PID_FILE" ]; then
    kill "$(cat "$NGINX_PID_FILE")" 2>/dev/null || true
  fi
  if [ -n "${WORK:-}" ]; then
    bg local down >/dev/null 2>&1 || true
    rm -rf "$WORK"
  fi
  [ -n "${BIN_DIR:-}" ] && rm -rf "$BIN_DIR"
  return 0
}

# start_platform TASKS: v1 live on one color, TASKS tasks per color.
start_platform() {
  local tasks="$1"
  WORK="$(mktemp -d /tmp/bg-bench.XXXXXX)"
  STATE="$WORK/state"
  trap cleanup EXIT
  bg local publish --tag v1 --tag v2 --tag v3 "$BLOG" >/dev/null 2>&1
  bg local up --port 0 --test-port 0 --health-interval-ms 500 --deregistration-delay-ms 2000 >&2
  PROD="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["production"])' "$STATE/daemon.json")"
  # The first release goes to the idle color and becomes stable with all traffic.
  bg deploy --tag v1 --wait --timeout 120 >&2
  local live
  live="$(stable_color)"
  bg scale --color "$live" --count "$tasks" >&2
  wait_healthy "$live" "$tasks"
}

# stable_color — the listener's stable color. Right after the first deploy returns, the
# status can still show none for a moment: asked again until it names one.
stable_color() {
  local i c
  for i in $(seq 1 50); do
    c="$(bg --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot"]["listener"]["stable"])')"
    case "$c" in blue | green) echo "$c"; return 0 ;; esac
    sleep 0.2
  done
  echo "no stable color after the first deploy" >&2
  exit 1
}

# wait_healthy COLOR N
wait_healthy() {
  local i
  for i in $(seq 1 600); do
    if [ "$(targets "$1" | wc -w)" -ge "$2" ]; then return 0; fi
    sleep 0.2
  done
  echo "$1 did not reach $2 healthy targets" >&2
  exit 1
}

# targets COLOR — the healthy targets' host:port, space separated.
targets() {
  bg --json status --verbose | python3 -c '
import json, sys
snap = json.load(sys.stdin)["snapshot"]
print(" ".join(t["id"] for t in snap["colors"][sys.argv[1]]["targets"] if t["health"] == "healthy"))
' "$1"
}

# wrk_run NAME URL DURATION [CONNECTIONS] — prints "NAME req/s p50_ms p99_ms non2xx errors
# requests" on one line (wrk -t2 -c16 unless CONNECTIONS is given; one thread per connection
# below 2).
wrk_run() {
  local name="$1" url="$2" duration="$3" conns="${4:-16}" out
  out="$(wrk -t"$((conns < 2 ? 1 : 2))" -c"$conns" -d"$duration" --latency "$url")"
  printf '%s\n' "$out" | python3 -c '
import re, sys
name = sys.argv[1]
text = sys.stdin.read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    n, u = float(m.group(1)), m.group(2)
    return n / 1000 if u == "us" else n * 1000 if u == "s" else n
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)", text, re.M))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
err = sum(int(x) for x in errors.groups()) if errors else 0
total = re.search(r"(\d+) requests in", text).group(1)
p50, p99 = ms(pct["50"]), ms(pct["99"])
bad = non2xx.group(1) if non2xx else 0
print(f"{name} {rps:.0f} {p50:.3f} {p99:.3f} {bad} {err} {total}")
' "$name"
}

# start_two_colors TASKS: v1 stable on one color, v2 healthy on the other (TASKS each);
# sets LIVE and IDLE.
start_two_colors() {
  build_release
  start_platform "$1"
  LIVE="$(stable_color)"
  IDLE="$([ "$LIVE" = blue ] && echo green || echo blue)"
  bg deploy --tag v2 --wait --timeout 120 >&2
  wait_healthy "$IDLE" "$1"
}
