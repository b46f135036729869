#!/usr/bin/env bash
# The README's first command: install what is missing, build, start the bundled example Go
# service and show its map deletes live. Run as root. DEMO_SECONDS (default 30; 0 = until Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$PWD/.cache/go/bin"
bash scripts/setup.sh
mkdir -p .cache/demo
(cd examples/sessions && go build -o ../../.cache/demo/sessions .)
.cache/demo/sessions >/dev/null 2>.cache/demo/sessions.log &
svc=$!
trap 'kill "$svc" 2>/dev/null || true; wait "$svc" 2>/dev/null || true' EXIT
echo "example service running as PID $svc; tracing its map deletes (keys shown: demo data)" >&2
secs=${DEMO_SECONDS:-30}
args=(watch --pid "$svc" --capture-keys)
[ "$secs" != 0 ] && args+=(--duration "$secs")
node dist/receiver/cli.js "${args[@]}"
