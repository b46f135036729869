#!/usr/bin/env bash
# Builds Docker Compose v2 from the Go module proxy into .cache/tools/docker-compose, so the
# tests can check docker-compose.yml with the real Compose parser (`config --quiet` needs no
# Docker daemon). Debian 12 only packages Compose v1. Idempotent: skips when already built.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION=v2.40.3
OUT="$ROOT/.cache/tools/docker-compose"
STAMP="$OUT.stamp"
export PATH="$PATH:/usr/local/go/bin"
if [[ -x "$OUT" && "$(cat "$STAMP" 2>/dev/null)" == "$VERSION" ]]; then
  echo "build-compose: docker-compose $VERSION present"
  exit 0
fi
echo "build-compose: building docker compose $VERSION from the Go module proxy (a few minutes the first time)"
mkdir -p "$(dirname "$OUT")"
# `go install` refuses this module (its go.mod has exclude directives): build the downloaded module in place.
dir="$(cd / && GOTOOLCHAIN=local go mod download -json "github.com/docker/compose/v2@$VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
(cd "$dir" && GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -modcacherw" CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$VERSION" -o "$OUT" ./cmd)
echo "$VERSION" > "$STAMP"
echo "build-compose: built $OUT"
