#!/usr/bin/env bash
# A newcomer's first command, timed: a fresh clone into a temporary directory, a cold target
# directory, then the README's demo command (`cargo run --profile local --bin bluegreen -- demo`)
# in a tmux pane (a real terminal), until the console's first screen is drawn. Prints the split:
#   console build  (cargo starts → cargo runs the bluegreen binary)
#   blog build     (the demo's step 1: buildspec.local.yaml builds and publishes the blog)
#   start          (daemon, first release healthy, seed posts → the console's first screen)
# and the CPU time the whole run took (user + system, every process under the pane), which a
# busy machine inflates less than the wall time. Measure on a quiet machine for the wall time.
#
# Usage: tests/bench/first_run.sh [REF]   (default HEAD of this repository)
# Needs tmux and git. Crates must already be downloaded (`cargo fetch` once): the figure is
# compile time, not download time. Bounded: gives up after LIMIT seconds (default 3600); quits
# the console, stops the demo's daemon, kills its own tmux server and removes the clone on exit
# (KEEP=1 keeps the clone and prints where it is).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
REF="${1:-HEAD}"
LIMIT="${LIMIT:-3600}"
command -v tmux >/dev/null || { echo "tmux is required (apt-get install tmux)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/bg-first-run.XXXXXX)"
SOCK="$WORK/tmux.sock"
CLONE="$WORK/bluegreen"
finish() {
  tmux -S "$SOCK" send-keys -t first q >/dev/null 2>&1 || true
  sleep 1
  if [ -x "$CLONE/target/local/bluegreen" ]; then
    (cd "$CLONE" && ./target/local/bluegreen local down >/dev/null 2>&1) || true
  fi
  tmux -S "$SOCK" kill-server >/dev/null 2>&1 || true
  if [ -n "${KEEP:-}" ]; then echo "first_run: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap finish EXIT

git clone --quiet --no-hardlinks "$REPO" "$CLONE"
git -C "$CLONE" checkout --quiet --detach "$REF"
echo "first_run: $(git -C "$CLONE" log -1 --format='%h %s' | cut -c1-80)" >&2
# Offline: the crates come from cargo's cache, as they would after a first `cargo fetch`.
(cd "$CLONE" && cargo fetch --quiet) || echo "first_run: cargo fetch failed; building from cargo's cache" >&2

# The README's command, as typed, in an 80×24 terminal; `times` reports the CPU of everything
# it ran once the demo exits.
tmux -S "$SOCK" -f /dev/null new-session -d -s first -x 80 -y 24 -c "$CLONE" \
  env -u CARGO_TARGET_DIR -u BLUEGREEN_CONFIG -u BLUEGREEN_PROFILE -u BLUEGREEN_STATE_DIR \
  TERM=xterm-256color bash -c \
  'cargo run --profile local --bin bluegreen -- demo; times > ../cpu.txt; sleep 600'
tmux -S "$SOCK" pipe-pane -t first -o "cat >> '$WORK/pane.log'"

start="$(date +%s.%N)"
console="" blog="" screen=""
while :; do
  now="$(date +%s.%N)"
  elapsed="$(echo "$now - $start" | bc)"
  if [ "$(echo "$elapsed > $LIMIT" | bc)" = 1 ]; then
    echo "first_run: no console after ${LIMIT} s; the pane shows:" >&2
    tmux -S "$SOCK" capture-pane -p -t first >&2
    exit 1
  fi
  # cargo colours its status words even in a pane: strip the escapes before matching.
  log="$(tr -d '\000' < "$WORK/pane.log" 2>/dev/null | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' || true)"
  if [ -z "$console" ] && grep -q "Running .target/local/bluegreen" <<<"$log"; then console="$elapsed"; fi
  if [ -z "$blog" ] && grep -q "starting the local platform daemon" <<<"$log"; then blog="$elapsed"; fi
  # The console's first screen: its header names the live color.
  if [ -n "$blog" ] && tmux -S "$SOCK" capture-pane -p -t first | grep -q "live "; then
    screen="$elapsed"
    break
  fi
  if grep -qE "^error(\[|:)" <<<"$log"; then
    echo "first_run: the build failed:" >&2
    grep -E "^error" <<<"$log" | head -5 >&2
    exit 1
  fi
  sleep 0.5
done

# Quit the console so the shell reports the CPU it used.
tmux -S "$SOCK" send-keys -t first q
for _ in $(seq 1 60); do [ -s "$WORK/cpu.txt" ] && break; sleep 0.5; done
cpu="$(awk 'NR==2 { split($1, u, "m"); split($2, s, "m"); sub("s", "", u[2]); sub("s", "", s[2]);
  printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$WORK/cpu.txt" 2>/dev/null || echo "?")"

# What the blog's build compiled: ideally the blog and the crates only it uses, nothing the
# console's build had compiled already.
crates="$(sed -n 's/^ *Compiling \([^ ]*\) .*/\1/p' "$CLONE/.bluegreen/builds/1.log" 2>/dev/null | tr '\n' ' ')"
echo "first_run: the blog's build compiled $(wc -w <<<"$crates") crates: $crates"

python3 - "$console" "$blog" "$screen" "$cpu" "$(nproc)" <<'PY'
import sys
console, blog, screen = (float(x) for x in sys.argv[1:4])
cpu, cores = sys.argv[4], sys.argv[5]
def m(s): return f"{int(s // 60)} min {s % 60:04.1f} s"
print(f"first_run: console build  {console:7.1f} s  ({m(console)})")
print(f"first_run: blog build     {blog - console:7.1f} s")
print(f"first_run: start          {screen - blog:7.1f} s")
print(f"first_run: to the console {screen:7.1f} s  ({m(screen)}; goal 600 s: {screen / 600:.2f}× the goal)")
print(f"first_run: CPU            {cpu} s user+system on {cores} cores")
PY
