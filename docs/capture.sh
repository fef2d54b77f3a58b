#!/usr/bin/env bash
# Rewrites the console captures in docs/demo.md: the real binary in tmux (100×30) against a
# local platform in a temporary directory, walking the demo's release. Needs tmux and cargo;
# loopback only; about a minute. Review the diff afterwards (`git diff docs/demo.md`).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "tmux is required (apt-get install tmux)" >&2; exit 1; }
cargo build --workspace --bins
BLUEGREEN_UPDATE_CAPTURES=1 cargo test -p bluegreen-tests --test e2e -- --exact \
  demo_captures::the_walkthrough_in_docs_matches_the_console
git diff --stat -- docs/demo.md || true
