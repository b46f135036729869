#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, builds, builds the Go
# fixture matrix and the example service's Go x SDK matrix, then runs every test — real
# uprobes on real Go processes. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$PWD/.cache/go/bin"
SETUP_TEST_TOOLS=1 bash scripts/setup.sh
bash scripts/build-fixtures.sh
# examples/otel-http: the pinned build and every Go x SDK pair of the correlation matrix, plain and
# stripped (a no-op when current; cold: ~40 s a pair, ~5 min in all, two at a time).
bash scripts/build-examples.sh --matrix >/dev/null
bash scripts/build-compose.sh
bash scripts/build-otel-tools.sh
npx --no-install mocha --config test/.mocharc.json 'dist/test/**/*.test.js' "$@"
