#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, builds, builds the Go
# fixture matrix, then runs every test — real uprobes on real Go processes. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$PWD/.cache/go/bin"
bash scripts/setup.sh
bash scripts/build-fixtures.sh
bash scripts/build-compose.sh
bash scripts/build-otel-tools.sh
npx --no-install mocha --config test/.mocharc.json 'dist/test/**/*.test.js' "$@"
