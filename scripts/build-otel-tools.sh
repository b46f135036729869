#!/usr/bin/env bash
# Build the real OpenTelemetry Collector and Jaeger v2 that the end-to-end tests run as plain
# processes on loopback (no Docker), from the Go module proxy:
#
#   .cache/tools/otelcol-mdt   collector distribution from config/otelcol-builder.yaml, made by
#                              the collector builder (go.opentelemetry.io/collector/cmd/builder)
#   .cache/tools/jaeger        Jaeger v2 (github.com/jaegertracing/jaeger/cmd/jaeger)
#
#   bash scripts/build-otel-tools.sh [--force] [--check] [--only otelcol|jaeger]
#
#   --force   rebuild even when up to date
#   --check   build nothing: exit 0 when both tools are up to date, 1 otherwise
#   --only T  just this tool
#
# A tool is rebuilt only when its stamp (pinned versions, builder manifest, build flags)
# changed or its binary is missing. Progress goes to stderr; on success the two paths are
# printed on stdout, one a line. Needs Go >= 1.26 (the machine's /usr/local/go/bin/go is used
# when `go` is not on PATH) and the Go module proxy; GOPROXY/GOMODCACHE/GOCACHE are honoured.
#
# Why not `go install github.com/jaegertracing/jaeger/cmd/jaeger@v1.76.0`: Jaeger's go.mod
# has a replace directive, which `go install pkg@version` refuses. So the module is downloaded
# (checked against the checksum database like any module) and built as the main module, with
# its own go.sum. The module carries no Jaeger UI assets: its UI is a placeholder page unless
# JAEGER_UI_ASSETS_PATH points config/jaeger.yaml at built UI assets. The query API works.
set -euo pipefail

# ---- pins ------------------------------------------------------------------------------------
# Collector: builder and components on one release (config/otelcol-builder.yaml lists the
# components; keep its versions equal to OCB_VERSION / its stable twin v1.68.0). v0.162.0 is
# the newest release whose whole module graph the Go module proxy serves here (v0.163+ need
# go.opentelemetry.io/collector/internal/statusutil, which it does not have).
OCB_VERSION=v0.162.0
# Jaeger v2.13.0 is tagged v1.76.0 in the Go module (path without /v2). v1.76.0 is the newest
# tag the Go module proxy serves here.
JAEGER_MODULE=github.com/jaegertracing/jaeger
JAEGER_MODULE_VERSION=v1.76.0
JAEGER_VERSION=v2.13.0
BUILD_REV=1 # bump when the build commands below change

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.cache/tools"
MANIFEST="$ROOT/config/otelcol-builder.yaml"
OTELCOL_BIN="$OUT/otelcol-mdt"
JAEGER_BIN="$OUT/jaeger"

log() { printf 'build-otel-tools: %s\n' "$*" >&2; }
die() { printf 'build-otel-tools: ERROR: %s\n' "$*" >&2; exit 1; }

FORCE=""
CHECK=""
ONLY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) FORCE=1 ;;
    --check) CHECK=1 ;;
    --only)
      [[ $# -ge 2 ]] || die "--only needs otelcol or jaeger"
      ONLY="$2"
      shift
      ;;
    -h | --help)
      sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done
case "$ONLY" in "" | otelcol | jaeger) ;; *) die "--only takes otelcol or jaeger, not '$ONLY'" ;; esac

[[ -f "$MANIFEST" ]] || die "missing builder manifest $MANIFEST"

# ---- stamps ----------------------------------------------------------------------------------
otelcol_stamp() {
  printf 'rev=%s ocb=%s manifest=%s\n' "$BUILD_REV" "$OCB_VERSION" "$(sha256sum "$MANIFEST" | cut -c1-16)"
}
jaeger_stamp() {
  printf 'rev=%s module=%s@%s version=%s\n' "$BUILD_REV" "$JAEGER_MODULE" "$JAEGER_MODULE_VERSION" "$JAEGER_VERSION"
}
# up_to_date BIN STAMP
up_to_date() {
  [[ -z "$FORCE" && -x "$1" && -f "$1.stamp" && "$(cat "$1.stamp")" == "$2" ]]
}
want() { [[ -z "$ONLY" || "$ONLY" == "$1" ]]; }

if [[ -n "$CHECK" ]]; then
  ok=0
  if want otelcol && ! up_to_date "$OTELCOL_BIN" "$(otelcol_stamp)"; then
    log "otelcol-mdt needs building ($OTELCOL_BIN)"
    ok=1
  fi
  if want jaeger && ! up_to_date "$JAEGER_BIN" "$(jaeger_stamp)"; then
    log "jaeger needs building ($JAEGER_BIN)"
    ok=1
  fi
  exit "$ok"
fi

# ---- Go --------------------------------------------------------------------------------------
GO="$(command -v go || true)"
[[ -n "$GO" ]] || GO=/usr/local/go/bin/go
[[ -x "$GO" ]] || die "no Go toolchain: put go (>= 1.26) on PATH or install it at /usr/local/go"
GOVER="$(GOTOOLCHAIN=local "$GO" env GOVERSION 2>/dev/null)" || die "$GO does not run"
# collector v0.162 modules say `go 1.26.0`; Jaeger v1.76.0 says `go 1.24.6`
if [[ ! "$GOVER" =~ ^go1\.([0-9]+) ]] || ((BASH_REMATCH[1] < 26)); then
  die "$GO is $GOVER; the collector ${OCB_VERSION} modules need Go >= 1.26"
fi
# Build with the machine's toolchain, never download another (GOTOOLCHAIN=local). No VCS stamping (.cache is inside a
# git work tree). GOFLAGS from the caller could break these builds (-mod=vendor...): replace it.
export PATH="$(dirname "$GO"):$PATH"
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false"
export CGO_ENABLED=0

mkdir -p "$OUT"
# One build at a time (two test runs may ask at once).
exec 9>"$OUT/.lock"
if ! flock -n 9; then
  log "another build-otel-tools is running; waiting for it"
  flock 9
fi

now() { date +%s; }
took() { local s=$(($(now) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# ---- otelcol-mdt -----------------------------------------------------------------------------
build_otelcol() {
  local stamp t0 work
  stamp="$(otelcol_stamp)"
  if up_to_date "$OTELCOL_BIN" "$stamp"; then
    log "otelcol-mdt is up to date ($OTELCOL_BIN)"
    return 0
  fi
  t0=$(now)
  log "building otelcol-mdt with the collector builder $OCB_VERSION from ${MANIFEST#"$ROOT"/} ($GOVER; a cold build downloads ~300 modules and compiles for several minutes)"
  rm -f "$OTELCOL_BIN.stamp"
  mkdir -p "$OUT/ocb"
  if [[ ! -x "$OUT/ocb/builder-$OCB_VERSION" ]]; then
    log "  installing go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
    if ! GOBIN="$OUT/ocb" "$GO" install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION" >"$OUT/ocb/install.log" 2>&1; then
      grep -v '^go: downloading' "$OUT/ocb/install.log" | tail -n 15 >&2 || true
      die "cannot install the collector builder $OCB_VERSION (Go module proxy reachable? GOPROXY=$("$GO" env GOPROXY))"
    fi
    mv "$OUT/ocb/builder" "$OUT/ocb/builder-$OCB_VERSION"
  fi
  work="$OUT/otelcol-mdt.build"
  rm -rf "$work"
  mkdir -p "$work"
  log "  generating sources, resolving modules, compiling (log: ${work#"$ROOT"/}/builder.log)"
  # The manifest names no output folder: a copy of it that does (the builder's --output-path
  # flag is deprecated). The builder compiles with -trimpath -ldflags='-s -w', CGO_ENABLED=0.
  sed "s|^dist:[[:space:]]*$|dist:\n  output_path: $work|" "$MANIFEST" >"$work.yaml"
  grep -q "^  output_path: $work\$" "$work.yaml" || die "cannot find the dist: section in $MANIFEST"
  if ! "$OUT/ocb/builder-$OCB_VERSION" --config "$work.yaml" >"$work.log" 2>&1; then
    mv "$work.log" "$work/builder.log" 2>/dev/null || true
    mv "$work.yaml" "$work/builder-manifest.yaml" 2>/dev/null || true
    grep -v '^go: downloading' "$work/builder.log" | tail -n 25 >&2 || true
    die "the collector builder failed (full log: $work/builder.log)"
  fi
  mv "$work.log" "$work/builder.log"
  mv "$work.yaml" "$work/builder-manifest.yaml"
  [[ -x "$work/otelcol-mdt" ]] || die "the collector builder finished but left no $work/otelcol-mdt"
  "$work/otelcol-mdt" --version >/dev/null 2>&1 || die "$work/otelcol-mdt does not run"
  mv -f "$work/otelcol-mdt" "$OTELCOL_BIN"
  printf '%s\n' "$stamp" >"$OTELCOL_BIN.stamp"
  log "built otelcol-mdt in $(took "$t0"): $("$OTELCOL_BIN" --version 2>&1 | head -n1)"
}

# ---- jaeger ----------------------------------------------------------------------------------
build_jaeger() {
  local stamp t0 info dir date tmp
  stamp="$(jaeger_stamp)"
  if up_to_date "$JAEGER_BIN" "$stamp"; then
    log "jaeger is up to date ($JAEGER_BIN)"
    return 0
  fi
  t0=$(now)
  log "building Jaeger $JAEGER_VERSION ($JAEGER_MODULE@$JAEGER_MODULE_VERSION, $GOVER; a cold build downloads ~400 modules and compiles for several minutes)"
  rm -f "$JAEGER_BIN.stamp"
  log "  downloading $JAEGER_MODULE@$JAEGER_MODULE_VERSION"
  if ! info="$(cd / && "$GO" mod download -json "$JAEGER_MODULE@$JAEGER_MODULE_VERSION" 2>&1)"; then
    printf '%s\n' "$info" | grep -E '"Error"|^go: ' | tail -n 5 >&2 || true
    die "cannot download $JAEGER_MODULE@$JAEGER_MODULE_VERSION (Go module proxy reachable? GOPROXY=$("$GO" env GOPROXY))"
  fi
  dir="$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -n "$dir" && -f "$dir/go.mod" ]] || die "go mod download gave no source directory for $JAEGER_MODULE@$JAEGER_MODULE_VERSION"
  # release date for `jaeger version` (the proxy's .info; the proxy gives no commit)
  date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$("$GO" env GOMODCACHE)/cache/download/$JAEGER_MODULE/@v/$JAEGER_MODULE_VERSION.info" 2>/dev/null || true)"
  log "  compiling ./cmd/jaeger (go build output: ${OUT#"$ROOT"/}/jaeger.build.log)"
  tmp="$JAEGER_BIN.tmp.$$"
  local pkg=github.com/jaegertracing/jaeger/internal/version
  if ! (cd "$dir" && "$GO" build -trimpath -o "$tmp" \
    -ldflags="-s -w -X $pkg.latestVersion=$JAEGER_VERSION -X $pkg.date=${date:-unknown}" \
    ./cmd/jaeger) >"$OUT/jaeger.build.log" 2>&1; then
    rm -f "$tmp"
    grep -v '^go: downloading' "$OUT/jaeger.build.log" | tail -n 25 >&2 || true
    die "building Jaeger failed (full log: $OUT/jaeger.build.log)"
  fi
  "$tmp" version >/dev/null 2>&1 || { rm -f "$tmp"; die "the Jaeger binary built but does not run"; }
  mv -f "$tmp" "$JAEGER_BIN"
  printf '%s\n' "$stamp" >"$JAEGER_BIN.stamp"
  log "built jaeger in $(took "$t0"): $("$JAEGER_BIN" version 2>/dev/null | tr -d '\n' | cut -c1-160)"
}

T0=$(now)
want otelcol && build_otelcol
want jaeger && build_jaeger
log "done in $(took "$T0")"
want otelcol && printf '%s\n' "$OTELCOL_BIN"
want jaeger && printf '%s\n' "$JAEGER_BIN"
exit 0
