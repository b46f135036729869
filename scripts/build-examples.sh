#!/usr/bin/env bash
# Build examples/otel-http (the OpenTelemetry-instrumented example service of issue 4) and
# its load tool, plain and stripped.
#
#   bash scripts/build-examples.sh                      # the SDK version pinned in its go.mod
#   bash scripts/build-examples.sh --sdk v1.45.0 ...    # instead: against these SDK versions
#   bash scripts/build-examples.sh --go go1.21.13 --sdk v1.29.0 [--experiment noswissmap]
#                                                       # with that toolchain of the core matrix
#   bash scripts/build-examples.sh --matrix             # pinned + every Go x SDK pair of PAIRS
#   bash scripts/build-examples.sh --list               # print the pairs (TSV), build nothing
#   options: --force (rebuild), -h
#
# Output (one JSON manifest per build, its path printed on stdout; progress on stderr):
#   .cache/examples/otel-http/plain/otel-http-example         pinned SDK, go build
#   .cache/examples/otel-http/stripped/otel-http-example        ... -ldflags='-s -w'
#   .cache/examples/otel-http/load                            the load tool (cmd/load)
#   .cache/examples/otel-http/build.json    {"sdk","go","experiment","source","plain","stripped","load","modules"}
#   .cache/examples/otel-http-sdk-vX.Y.Z/                     --sdk with the machine's Go
#   .cache/examples/otel-http-goA.B.C[-EXP]-sdk-vX.Y.Z/       --go (and --experiment) --sdk
#       {plain,stripped}/otel-http-example, build.json, mod/go.mod, mod/go.sum (the module
#       file it was built with)
#   .cache/examples/otel-http-matrix.json                     --matrix: [build.json of each pair]
#
# --sdk builds resolve the program's dependencies afresh, as a program that pinned that SDK
# release would (a go.mod with only the module line, `go get` of go.opentelemetry.io/otel,
# .../otel/trace, .../otel/sdk and .../otlptracegrpc at vX.Y.Z, `go mod tidy`, all with the
# build's own Go, so a pair whose dependencies need a newer Go fails here); the go.mod lands in
# the output's mod/ and is used with `go build -modfile`, in the source directory itself, so the
# binaries' file paths are the repository's (the ground truth and the tracer report them). The
# first build of a version needs the Go module proxy; later ones do not.
#
# Go: with --go, that toolchain from scripts/go-toolchains.sh (the core matrix, fetched from the
# module proxy when missing); else $GO, else the first `go` on PATH, else /usr/local/go/bin/go.
# Never a toolchain switch (GOTOOLCHAIN=local). Builds are CGO_ENABLED=0, no -trimpath. A build
# is redone only when its stamp (source hash, Go version, GOEXPERIMENT, SDK version, build
# recipe) changed. --matrix builds two at a time. One run at a time.
set -euo pipefail

# Go x SDK pairs for the correlation matrix (test/e2e/correlation-matrix.test.ts): every Go of
# the core matrix (scripts/go-toolchains.sh, plus go1.24 with GOEXPERIMENT=noswissmap) with the
# newest SDK release it can build, and the newest three SDK minor releases (v1.45, v1.46,
# v1.47) with every Go that can build them... within reason: v1.45.0 and v1.46.0 with go1.25
# and go1.26, v1.47.0 with go1.26 and go1.27. Each is built plain and stripped.
# The newest SDK a Go can build is bounded by the `go` line of go.opentelemetry.io/otel/sdk's
# go.mod (`go list -m -json go.opentelemetry.io/otel/sdk@vX.Y.Z`, asked on 2026-11-23):
#   v1.28-v1.29: 1.21   v1.30-v1.35: 1.22   v1.36-v1.38: 1.23   v1.39-v1.41: 1.24
#   v1.42-v1.46: 1.25   v1.47: 1.26         (no patch releases of any of these)
# and the whole dependency graph (otlptracegrpc, gRPC, x/net) builds with that Go too: each pair
# is resolved with its own toolchain and GOTOOLCHAIN=local, which refuses anything newer.
# Format: go experiment(- for none) sdk
PAIRS=(
  "go1.21.13 - v1.29.0"
  "go1.22.12 - v1.35.0"
  "go1.23.12 - v1.38.0"
  "go1.24.13 - v1.41.0"
  "go1.24.13 noswissmap v1.41.0"
  "go1.25.14 - v1.45.0"
  "go1.25.14 - v1.46.0"
  "go1.26.8 - v1.45.0"
  "go1.26.8 - v1.46.0"
  "go1.26.8 - v1.47.0"
  "go1.27.4 - v1.47.0"
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/scripts/build-examples.sh"
SRC="$ROOT/examples/otel-http"
OUTBASE="$ROOT/.cache/examples"
BIN=otel-http-example
BUILD_REV=2 # bump when the build recipe below changes
OTEL_MODULES=(
  go.opentelemetry.io/otel
  go.opentelemetry.io/otel/trace
  go.opentelemetry.io/otel/sdk
  go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc
)

log() { printf 'build-examples: %s\n' "$*" >&2; }
die() { printf 'build-examples: ERROR: %s\n' "$*" >&2; exit 1; }

pair_dir() { # go experiment(-|"") sdk
  local exp="$2"; [[ "$exp" == "-" ]] && exp=""
  printf '%s' "$OUTBASE/otel-http-$1${exp:+-$exp}-sdk-$3"
}

SDKS=() MATRIX="" FORCE="" ONE_GO="" EXPERIMENT="" BUILD_ONE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sdk)
      [[ $# -ge 2 ]] || die "--sdk needs a version (e.g. --sdk v1.45.0)"
      [[ "$2" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || die "--sdk $2: expected a version like v1.45.0"
      SDKS+=("$2"); shift 2 ;;
    --go)
      [[ $# -ge 2 && "$2" =~ ^go1\.[0-9]+(\.[0-9]+)?$ ]] || die "--go needs a toolchain version (e.g. --go go1.21.13)"
      ONE_GO="$2"; shift 2 ;;
    --experiment)
      [[ $# -ge 2 && "$2" =~ ^[a-z0-9,]+$ ]] || die "--experiment needs a GOEXPERIMENT value (e.g. --experiment noswissmap)"
      EXPERIMENT="$2"; shift 2 ;;
    --matrix) MATRIX=1; shift ;;
    --list)
      for p in "${PAIRS[@]}"; do
        read -r g e s <<<"$p"
        printf '%s\t%s\t%s\t%s\n' "$g" "${e/#-/}" "$s" "$(pair_dir "$g" "$e" "$s")"
      done
      exit 0 ;;
    --force) FORCE=1; shift ;;
    --build-one) BUILD_ONE=1; shift ;; # internal: --matrix runs one pair per child, under its lock
    -h|--help) sed -n '2,36p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ -z "$ONE_GO" || ${#SDKS[@]} -gt 0 ]] || die "--go needs --sdk (the pinned go.mod needs the newest Go; a pair resolves its SDK afresh)"
[[ -z "$EXPERIMENT" || -n "$ONE_GO" ]] || die "--experiment needs --go"
[[ -z "$MATRIX" || -z "$ONE_GO" ]] || die "--matrix and --go do not mix"

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOWORK=off CGO_ENABLED=0
unset GOEXPERIMENT GOARCH GOOS

default_go() {
  local g="${GO:-}"
  if [[ -z "$g" ]]; then
    if command -v go >/dev/null 2>&1; then g="$(command -v go)"
    elif [[ -x /usr/local/go/bin/go ]]; then g=/usr/local/go/bin/go
    else die "no Go found (put go on PATH, or set GO=/path/to/bin/go)"
    fi
  fi
  printf '%s' "$g"
}

# The go command of toolchain $1 ("go1.21.13"): from .cache/toolchains.tsv when it is listed
# there and runs, else from scripts/go-toolchains.sh (which fetches what is missing).
TOOLCHAINS_TSV="$ROOT/.cache/toolchains.tsv"
toolchain_go() {
  local v="$1" g
  if [[ -f "$TOOLCHAINS_TSV" ]]; then
    g="$(awk -F'\t' -v v="$v" '$1 == v { print $2 }' "$TOOLCHAINS_TSV")"
    [[ -n "$g" && -x "$g" ]] && { printf '%s' "$g"; return 0; }
  fi
  local dg; dg="$(default_go)"
  if [[ "$(cd / && "$dg" env GOVERSION 2>/dev/null)" == "$v" ]]; then printf '%s' "$dg"; return 0; fi
  log "toolchains (scripts/go-toolchains.sh) ..."
  bash "$ROOT/scripts/go-toolchains.sh" >/dev/null || die "scripts/go-toolchains.sh failed"
  g="$(awk -F'\t' -v v="$v" '$1 == v { print $2 }' "$TOOLCHAINS_TSV")"
  [[ -n "$g" && -x "$g" ]] || die "toolchain $v is not in the core matrix of scripts/go-toolchains.sh"
  printf '%s' "$g"
}

[[ -f "$SRC/go.mod" ]] || die "$SRC/go.mod is missing"
mkdir -p "$OUTBASE"
if [[ -z "$BUILD_ONE" ]]; then
  exec 9>"$OUTBASE/.otel-http.lock"
  flock 9
fi

# Hash of the program's sources and module files.
SRCHASH="$(cd "$SRC" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) ! -name '*_test.go' -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"

json_str() { local s="${1//\\/\\\\}"; printf '"%s"' "${s//\"/\\\"}"; }

# The versions of OTEL_MODULES a built binary holds, as a JSON object; checks that the SDK is $2.
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

# The Go version and GOEXPERIMENT a binary says it was built with must be the build's.
check_built_with() {
  local bin="$1" info
  info="$("$GOBIN" version -m "$bin")" || return 1
  local first; first="$(head -1 <<<"$info")"
  [[ "$first" == "$bin: $GOVERSION" || "$first" == "$bin: $GOVERSION X:"* ]] || { log "$bin: not built by $GOVERSION: $first"; return 1; }
  if [[ -n "$EXP" ]]; then
    grep -q "GOEXPERIMENT=$EXP\$" <<<"$info" || { log "$bin: GOEXPERIMENT=$EXP missing from its build info"; return 1; }
  fi
}

# build VARIANT_DIR SDK(""=pinned); uses GOBIN, GOVERSION, EXP
build() {
  local out="$1" sdk="$2" stamp modargs=() t0=$SECONDS label
  label="${out#"$ROOT"/}"
  stamp="rev=$BUILD_REV src=$SRCHASH dir=$SRC go=$GOVERSION experiment=$EXP sdk=${sdk:-pinned}"
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
    # A go.mod resolved afresh for this SDK release, by this build's Go.
    mkdir -p "$out/mod"
    local mod="$out/mod/go.mod" gets=() m
    rm -f "$mod" "$out/mod/go.sum"
    printf 'module mdt-example/otel-http\n\ngo 1.21\n' >"$mod"
    for m in "${OTEL_MODULES[@]}"; do gets+=("$m@$sdk"); done
    if ! (cd "$SRC" && "$GOBIN" get -modfile="$mod" "${gets[@]}" && "$GOBIN" mod tidy -modfile="$mod") >>"$logf" 2>&1; then
      log "FAILED resolving SDK $sdk with $GOVERSION (log: ${logf#"$ROOT"/}):"; sed 's/^/    /' "$logf" >&2; return 1
    fi
    modargs=(-modfile="$mod")
  fi

  local t1=$SECONDS
  if ! (cd "$SRC" && GOEXPERIMENT="$EXP" "$GOBIN" build "${modargs[@]}" -o "$out/plain/$BIN.tmp" . \
        && GOEXPERIMENT="$EXP" "$GOBIN" build "${modargs[@]}" -ldflags='-s -w' -o "$out/stripped/$BIN.tmp" .) >>"$logf" 2>&1; then
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
  check_built_with "$out/plain/$BIN.tmp" || return 1
  check_built_with "$out/stripped/$BIN.tmp" || return 1
  mv -f "$out/plain/$BIN.tmp" "$out/plain/$BIN"
  mv -f "$out/stripped/$BIN.tmp" "$out/stripped/$BIN"
  local sdkv
  sdkv="$(awk '$1 == "dep" && $2 == "go.opentelemetry.io/otel/sdk" { print $3 }' <<<"$("$GOBIN" version -m "$out/plain/$BIN")")"
  printf '{"sdk":%s,"go":%s,"experiment":%s,"source":%s,"plain":%s,"stripped":%s,"load":%s,"modules":%s}\n' \
    "$(json_str "$sdkv")" "$(json_str "$GOVERSION")" "$(json_str "$EXP")" "$(json_str "$SRC")" \
    "$(json_str "$out/plain/$BIN")" "$(json_str "$out/stripped/$BIN")" "$loadjson" "$mods" >"$out/build.json"
  printf '%s\n' "$stamp" >"$out/stamp"
  log "built $label (SDK $sdkv, $GOVERSION${EXP:+ GOEXPERIMENT=$EXP}): $((SECONDS - t0))s (of which compiling $((SECONDS - t1))s)"
  printf '%s\n' "$out/build.json"
}

# One Go: the machine's, or --go's.
use_go() { # version("" = machine's) experiment
  if [[ -n "$1" ]]; then GOBIN="$(toolchain_go "$1")"; else GOBIN="$(default_go)"; fi
  GOVERSION="$(cd / && "$GOBIN" env GOVERSION)" || die "cannot run $GOBIN"
  [[ -z "$1" || "$GOVERSION" == "$1" ]] || die "$GOBIN reports $GOVERSION, not $1"
  EXP="$2"
}

if [[ -n "$BUILD_ONE" ]]; then
  # --build-one --go V [--experiment E] --sdk S: one pair, called by --matrix (which holds the lock).
  use_go "$ONE_GO" "$EXPERIMENT"
  build "$(pair_dir "$ONE_GO" "${EXPERIMENT:--}" "${SDKS[0]}")" "${SDKS[0]}"
  exit
fi

FAILED=0
if [[ -n "$ONE_GO" ]]; then
  use_go "$ONE_GO" "$EXPERIMENT"
  declare -A SEEN=()
  for s in "${SDKS[@]}"; do
    [[ -n "${SEEN[$s]:-}" ]] && continue
    SEEN[$s]=1
    build "$(pair_dir "$ONE_GO" "${EXPERIMENT:--}" "$s")" "$s" || FAILED=1
  done
  [[ $FAILED == 0 ]] || die "some builds failed (see above)"
  exit 0
fi

use_go "" ""
TARGETS=() # "dir<TAB>sdk"
if [[ ${#SDKS[@]} -eq 0 || -n "$MATRIX" ]]; then TARGETS+=("$OUTBASE/otel-http"$'\t'); fi
declare -A SEEN=()
for s in ${SDKS[@]+"${SDKS[@]}"}; do
  [[ -n "${SEEN[$s]:-}" ]] && continue
  SEEN[$s]=1
  TARGETS+=("$OUTBASE/otel-http-sdk-$s"$'\t'"$s")
done
for t in "${TARGETS[@]}"; do
  IFS=$'\t' read -r dir sdk <<<"$t"
  build "$dir" "${sdk:-}" || FAILED=1
done

if [[ -n "$MATRIX" ]]; then
  T0=$SECONDS
  # Toolchains first (one fetch at a time), then the pairs two at a time.
  for p in "${PAIRS[@]}"; do read -r g _ _ <<<"$p"; toolchain_go "$g" >/dev/null; done
  JOBS=()
  for p in "${PAIRS[@]}"; do
    read -r g e s <<<"$p"
    args=(--build-one --go "$g" --sdk "$s")
    [[ "$e" != "-" ]] && args+=(--experiment "$e")
    [[ -n "$FORCE" ]] && args+=(--force)
    JOBS+=("${args[*]}")
  done
  log "building ${#PAIRS[@]} Go x SDK pairs, 2 at a time ..."
  printf '%s\n' "${JOBS[@]}" | xargs -P 2 -L 1 bash "$SELF" || FAILED=1
  # Manifest of the pairs that are built and current.
  mtmp="$(mktemp "$OUTBASE/otel-http-matrix.json.XXXXXX")"
  {
    printf '['; sep=""
    for p in "${PAIRS[@]}"; do
      read -r g e s <<<"$p"
      d="$(pair_dir "$g" "$e" "$s")"
      [[ -f "$d/build.json" && -f "$d/stamp" ]] || continue
      printf '%s\n  %s' "$sep" "$(cat "$d/build.json")"; sep=","
    done
    printf '\n]\n'
  } >"$mtmp"
  chmod 644 "$mtmp"
  mv -f "$mtmp" "$OUTBASE/otel-http-matrix.json"
  log "matrix: ${OUTBASE#"$ROOT"/}/otel-http-matrix.json ($(grep -c '"plain"' "$OUTBASE/otel-http-matrix.json") of ${#PAIRS[@]} pairs) in $((SECONDS - T0))s"
fi
[[ $FAILED == 0 ]] || die "some builds failed (see above)"
