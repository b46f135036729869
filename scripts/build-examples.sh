#!/usr/bin/env bash
# Build examples/otel-http (the OpenTelemetry-instrumented example service of issue 4) and
# its load tool, plain and stripped.
#
#   bash scripts/build-examples.sh                      # the SDK version pinned in its go.mod
#   bash scripts/build-examples.sh --sdk v1.45.0 ...    # instead: against these SDK versions
#   bash scripts/build-examples.sh --matrix             # pinned + every version of SDK_MATRIX
#   options: --force (rebuild), -h
#
# Output (one JSON manifest per build, its path printed on stdout; progress on stderr):
#   .cache/examples/otel-http/plain/otel-http-example         pinned SDK, go build
#   .cache/examples/otel-http/stripped/otel-http-example        ... -ldflags='-s -w'
#   .cache/examples/otel-http/load                            the load tool (cmd/load)
#   .cache/examples/otel-http/build.json                      {"sdk","go","source","plain","stripped","load","modules"}
#   .cache/examples/otel-http-sdk-vX.Y.Z/{plain,stripped}/otel-http-example, build.json,
#                                        mod/go.mod, mod/go.sum (the module file it was built with)
#
# --sdk builds resolve the program's dependencies afresh, as a program that pinned that SDK
# release would (a go.mod with only the module line, `go get` of go.opentelemetry.io/otel,
# .../otel/trace, .../otel/sdk and .../otlptracegrpc at vX.Y.Z, `go mod tidy`); the go.mod
# lands in the output's mod/ and is used with `go build -modfile`, in the source directory
# itself, so the binaries' file paths are the repository's (the ground truth and the tracer
# report them). The first build of a version needs the Go module proxy; later ones do not.
#
# Go: $GO, else the first `go` on PATH, else /usr/local/go/bin/go; never a toolchain switch
# (GOTOOLCHAIN=local). Builds are CGO_ENABLED=0, no -trimpath. A build is redone only when its
# stamp (source hash, Go version, SDK version, build recipe) changed. One run at a time.
set -euo pipefail

# The newest three minor releases of the SDK on the Go module proxy (asked on 2026-11-23 with
# `go list -m -versions go.opentelemetry.io/otel/sdk`; v1.47.0 is also the pinned version).
# v1.47.0 needs Go >= 1.26.0, v1.45.0 and v1.46.0 need Go >= 1.25.0.
SDK_MATRIX=(v1.47.0 v1.46.0 v1.45.0)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/examples/otel-http"
OUTBASE="$ROOT/.cache/examples"
BIN=otel-http-example
BUILD_REV=1 # bump when the build recipe below changes
OTEL_MODULES=(
  go.opentelemetry.io/otel
  go.opentelemetry.io/otel/trace
  go.opentelemetry.io/otel/sdk
  go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc
)

log() { printf 'build-examples: %s\n' "$*" >&2; }
die() { printf 'build-examples: ERROR: %s\n' "$*" >&2; exit 1; }

SDKS=() MATRIX="" FORCE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sdk)
      [[ $# -ge 2 ]] || die "--sdk needs a version (e.g. --sdk v1.45.0)"
      [[ "$2" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || die "--sdk $2: expected a version like v1.45.0"
      SDKS+=("$2"); shift 2 ;;
    --matrix) MATRIX=1; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

GOBIN="${GO:-}"
if [[ -z "$GOBIN" ]]; then
  if command -v go >/dev/null 2>&1; then GOBIN="$(command -v go)"
  elif [[ -x /usr/local/go/bin/go ]]; then GOBIN=/usr/local/go/bin/go
  else die "no Go found (put go on PATH, or set GO=/path/to/bin/go)"
  fi
fi
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOWORK=off CGO_ENABLED=0
GOVERSION="$(cd / && "$GOBIN" env GOVERSION)" || die "cannot run $GOBIN"
[[ -f "$SRC/go.mod" ]] || die "$SRC/go.mod is missing"

mkdir -p "$OUTBASE"
exec 9>"$OUTBASE/.otel-http.lock"
flock 9

# Hash of the program's sources and module files.
SRCHASH="$(cd "$SRC" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) ! -name '*_test.go' -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"

json_str() { local s="${1//\\/\\\\}"; printf '"%s"' "${s//\"/\\\"}"; }

# The versions of OTEL_MODULES a built binary holds, as a JSON object; checks that the SDK is $1.
modules_json() {
  local bin="$1" want="$2" info out="{" sep="" m v
  info="$("$GOBIN" version -m "$bin")" || return 1
  for m in "${OTEL_MODULES[@]}"; do
    v="$(awk -v m="$m" '$1 == "dep" && $2 == m { print $3 }' <<<"$info")"
    [[ -n "$v" ]] || { log "$bin: no $m in its build info"; return 1; }
    out+="$sep$(json_str "$m"):$(json_str "$v")"; sep=","
  done
  v="$(awk '$1 == "dep" && $2 == "go.opentelemetry.io/otel/sdk" { print $3 }' <<<"$info")"
  if [[ -n "$want" && "$v" != "$want" ]]; then log "$bin: built with SDK $v, not $want"; return 1; fi
  printf '%s}' "$out"
}

# build VARIANT_DIR SDK(""=pinned)
build() {
  local out="$1" sdk="$2" stamp modargs=() t0=$SECONDS label
  label="${out#"$ROOT"/}"
  stamp="rev=$BUILD_REV src=$SRCHASH dir=$SRC go=$GOVERSION sdk=${sdk:-pinned}"
  if [[ -z "$FORCE" && -f "$out/stamp" && "$(cat "$out/stamp")" == "$stamp" && -f "$out/build.json" \
        && -x "$out/plain/$BIN" && -x "$out/stripped/$BIN" ]]; then
    log "up to date: $label"
    printf '%s\n' "$out/build.json"
    return 0
  fi
  rm -f "$out/stamp" "$out/build.json"
  mkdir -p "$out/plain" "$out/stripped"
  local logf="$out/build.log"
  : >"$logf"

  if [[ -n "$sdk" ]]; then
    # A go.mod resolved afresh for this SDK release.
    mkdir -p "$out/mod"
    local mod="$out/mod/go.mod" gets=() m
    rm -f "$mod" "$out/mod/go.sum"
    printf 'module mdt-example/otel-http\n\ngo 1.21\n' >"$mod"
    for m in "${OTEL_MODULES[@]}"; do gets+=("$m@$sdk"); done
    if ! (cd "$SRC" && "$GOBIN" get -modfile="$mod" "${gets[@]}" && "$GOBIN" mod tidy -modfile="$mod") >>"$logf" 2>&1; then
      log "FAILED resolving SDK $sdk (log: ${logf#"$ROOT"/}):"; sed 's/^/    /' "$logf" >&2; return 1
    fi
    modargs=(-modfile="$mod")
  fi

  local t1=$SECONDS
  if ! (cd "$SRC" && "$GOBIN" build "${modargs[@]}" -o "$out/plain/$BIN.tmp" . \
        && "$GOBIN" build "${modargs[@]}" -ldflags='-s -w' -o "$out/stripped/$BIN.tmp" .) >>"$logf" 2>&1; then
    rm -f "$out/plain/$BIN.tmp" "$out/stripped/$BIN.tmp"
    log "FAILED building $label (log: ${logf#"$ROOT"/}):"; sed 's/^/    /' "$logf" >&2; return 1
  fi
  local loadjson="null"
  if [[ -z "$sdk" ]]; then
    if ! (cd "$SRC" && "$GOBIN" build -o "$out/load.tmp" ./cmd/load) >>"$logf" 2>&1; then
      rm -f "$out/load.tmp"; log "FAILED building the load tool:"; sed 's/^/    /' "$logf" >&2; return 1
    fi
    mv -f "$out/load.tmp" "$out/load"
    loadjson="$(json_str "$out/load")"
  fi
  local mods
  mods="$(modules_json "$out/plain/$BIN.tmp" "$sdk")" || return 1
  modules_json "$out/stripped/$BIN.tmp" "$sdk" >/dev/null || return 1
  mv -f "$out/plain/$BIN.tmp" "$out/plain/$BIN"
  mv -f "$out/stripped/$BIN.tmp" "$out/stripped/$BIN"
  local sdkv
  sdkv="$(awk '$1 == "dep" && $2 == "go.opentelemetry.io/otel/sdk" { print $3 }' <<<"$("$GOBIN" version -m "$out/plain/$BIN")")"
  printf '{"sdk":%s,"go":%s,"source":%s,"plain":%s,"stripped":%s,"load":%s,"modules":%s}\n' \
    "$(json_str "$sdkv")" "$(json_str "$GOVERSION")" "$(json_str "$SRC")" \
    "$(json_str "$out/plain/$BIN")" "$(json_str "$out/stripped/$BIN")" "$loadjson" "$mods" >"$out/build.json"
  printf '%s\n' "$stamp" >"$out/stamp"
  log "built $label (SDK $sdkv, $GOVERSION): $((SECONDS - t0))s (of which compiling $((SECONDS - t1))s)"
  printf '%s\n' "$out/build.json"
}

TARGETS=() # "dir<TAB>sdk"
if [[ ${#SDKS[@]} -eq 0 || -n "$MATRIX" ]]; then TARGETS+=("$OUTBASE/otel-http"$'\t'); fi
[[ -n "$MATRIX" ]] && SDKS+=("${SDK_MATRIX[@]}")
declare -A SEEN=()
for s in ${SDKS[@]+"${SDKS[@]}"}; do
  [[ -n "${SEEN[$s]:-}" ]] && continue
  SEEN[$s]=1
  TARGETS+=("$OUTBASE/otel-http-sdk-$s"$'\t'"$s")
done

FAILED=0
for t in "${TARGETS[@]}"; do
  IFS=$'\t' read -r dir sdk <<<"$t"
  build "$dir" "${sdk:-}" || FAILED=1
done
[[ $FAILED == 0 ]] || die "some builds failed (see above)"
