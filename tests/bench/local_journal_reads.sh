#!/usr/bin/env bash
# The daemon's memory under journal reads (issue 27, item 14): a journal of ENTRIES entries
# (default 100,000), PARALLEL (default 24) `history` reads at once, ROUNDS (default 3) times;
# prints the daemon's resident memory before, its peak (VmHWM) and after. Needs no tasks.
#   tests/bench/local_journal_reads.sh            # release build
#   BENCH_PROFILE=debug BENCH_NO_BUILD=1 tests/bench/local_journal_reads.sh
set -euo pipefail
source "$(dirname "$0")/local_lib.sh"
ENTRIES="${ENTRIES:-100000}"
PARALLEL="${PARALLEL:-24}"
ROUNDS="${ROUNDS:-3}"
build_release
WORK="$(mktemp -d /tmp/bg-bench.XXXXXX)"
STATE="$WORK/state"
trap cleanup EXIT
bg local up --port 0 --test-port 0 >&2
bg --as bench lock take --reason "a real entry to copy" >/dev/null
bg --as bench lock release >/dev/null
python3 - "$STATE/journal.jsonl" "$ENTRIES" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
lines = [l for l in open(path) if l.strip()]
e = json.loads(lines[-1])
with open(path, "a") as f:
    for i in range(n):
        e["id"] = "%013d-%08x" % (1_700_000_000_000 + i, i)
        e["at"] = 1_700_000_000_000 + i
        e["detail"] = "entry %d of the bench, padded to a realistic length %s" % (i, "x" * 200)
        f.write(json.dumps(e, separators=(",", ":")) + "\n")
PY
PID="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$STATE/daemon.json")"
rss() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$PID/status"; }
echo "journal: $(wc -l < "$STATE/journal.jsonl") lines, $(du -h "$STATE/journal.jsonl" | cut -f1)"
echo "daemon RSS before: $(rss VmRSS) kB"
for r in $(seq 1 "$ROUNDS"); do
  start=$(date +%s.%N)
  for i in $(seq 1 "$PARALLEL"); do
    bg history --limit 50 >/dev/null &
  done
  wait
  echo "round $r: $PARALLEL parallel history reads in $(echo "$(date +%s.%N) - $start" | bc) s; RSS $(rss VmRSS) kB, peak $(rss VmHWM) kB"
done
echo "daemon RSS after: $(rss VmRSS) kB, peak $(rss VmHWM) kB"
