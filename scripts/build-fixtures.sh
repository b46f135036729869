#!/usr/bin/env bash
# Build the end-to-end test fixture (test/fixtures/deleter) for the whole matrix:
# every toolchain of scripts/go-toolchains.sh x modes plain, stripped, pie, cgo,
# plus go1.24 with GOEXPERIMENT=noswissmap (all four modes). Also builds
# examples/sessions with the machine's Go.
#
#   bash scripts/build-fixtures.sh [--go go1.22.12]... [--verify] [--force]
#
#   --go V      only toolchain V (repeatable); the manifest then lists only those
#   --verify    run the fixture's self-check (test/fixtures/deleter/main_test.go,
#               TestBinary) against every build: op lines vs source, and vs the
#               call sites `go tool objdump` finds (not for stripped builds)
#   --force     rebuild everything
#
# Output:  .cache/fixtures/<goversion>[-noswissmap]/<mode>/deleter
#          .cache/fixtures/manifest.json   [{"go","variant","experiment","mode","path","source"}]
#          .cache/examples/sessions/sessions
# A build is redone only when its stamp (source hash, toolchain, flags) changed.
# At most two builds run at once. No -trimpath: tests compare absolute file paths.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/scripts/build-fixtures.sh"
SRC="$ROOT/test/fixtures/deleter"
OUT="$ROOT/.cache/fixtures"
EXAMPLE_SRC="$ROOT/examples/sessions"
EXAMPLE_OUT="$ROOT/.cache/examples/sessions"
MODES=(plain stripped pie cgo)
BUILD_REV=1 # bump when the build commands below change

log() { printf 'build-fixtures: %s\n' "$*" >&2; }
die() { printf 'build-fixtures: ERROR: %s\n' "$*" >&2; exit 1; }

# Hash of a Go source tree (no tests), stable across checkouts.
src_hash() {
  (cd "$1" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) ! -name '*_test.go' -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

# ---- one build (run by xargs, two at a time) ---------------------------------
# args: version gobin experiment mode srchash
build_one() {
  local v="$1" gobin="$2" exp="$3" mode="$4" hash="$5"
  [[ "$exp" == "-" ]] && exp=""
  local variant="$v${exp:+-$exp}" dir bin stamp want
  dir="$OUT/$variant/$mode"
  bin="$dir/deleter"
  stamp="rev=$BUILD_REV src=$hash dir=$SRC go=$v experiment=$exp mode=$mode"
  if [[ -z "${FORCE:-}" && -x "$bin" && -f "$dir/stamp" && "$(cat "$dir/stamp")" == "$stamp" ]]; then
    return 0
  fi
  mkdir -p "$dir"
  rm -f "$dir/stamp"
  local cgo=0 flags=()
  case "$mode" in
    plain) ;;
    stripped) flags=(-ldflags=-s\ -w) ;;
    pie) flags=(-buildmode=pie) ;;
    cgo) cgo=1 ;;
    *) echo "unknown mode $mode" >&2; return 1 ;;
  esac
  local t0=$SECONDS tmp="$bin.tmp.$$" logf="$dir/build.log"
  if ! (cd "$SRC" && env GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOEXPERIMENT="$exp" CGO_ENABLED="$cgo" \
        "$gobin" build "${flags[@]}" -o "$tmp" .) >"$logf" 2>&1; then
    rm -f "$tmp"
    printf 'build-fixtures: FAILED %s/%s:\n' "$variant" "$mode" >&2
    sed 's/^/    /' "$logf" >&2
    return 1
  fi
  # Check that the build settings really are what the mode says.
  local info
  info="$(GOTOOLCHAIN=local "$gobin" version -m "$tmp")" || { rm -f "$tmp"; echo "go version -m failed on $variant/$mode" >&2; return 1; }
  grep -q "CGO_ENABLED=$cgo\$" <<<"$info" || { rm -f "$tmp"; printf 'build-fixtures: FAILED %s/%s: expected CGO_ENABLED=%s in:\n%s\n' "$variant" "$mode" "$cgo" "$info" >&2; return 1; }
  grep -q "^$tmp: $v\$\|^$tmp: $v " <<<"$info" || { rm -f "$tmp"; printf 'build-fixtures: FAILED %s/%s: built by the wrong Go:\n%s\n' "$variant" "$mode" "$info" >&2; return 1; }
  if [[ -n "$exp" ]]; then
    grep -q "GOEXPERIMENT=$exp" <<<"$info" || { rm -f "$tmp"; printf 'build-fixtures: FAILED %s/%s: GOEXPERIMENT missing:\n%s\n' "$variant" "$mode" "$info" >&2; return 1; }
  fi
  mv -f "$tmp" "$bin"
  printf '%s\n' "$stamp" >"$dir/stamp"
  printf 'build-fixtures: built %-22s %-8s (%ds)\n' "$variant" "$mode" "$((SECONDS - t0))" >&2
}

if [[ "${1:-}" == "--build-one" ]]; then
  shift
  build_one "$@"
  exit
fi

# ---- main ---------------------------------------------------------------------
ONLY=() VERIFY="" FORCE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --go) ONLY+=("$2"); shift 2 ;;
    --verify) VERIFY=1; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,20p' "$SELF"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
export FORCE

# One run at a time (tests may call this script while a developer runs it too).
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

command -v gcc >/dev/null 2>&1 || die "gcc is needed for the cgo builds (run scripts/setup.sh or apt-get install gcc)"
T0=$SECONDS

log "toolchains ..."
TOOLCHAINS="$(bash "$ROOT/scripts/go-toolchains.sh")" || die "scripts/go-toolchains.sh failed"

HASH="$(src_hash "$SRC")"
JOBS="$(mktemp)"
trap 'rm -f "$JOBS"' EXIT
declare -a ENTRIES=() # "version experiment mode"
while IFS=$'\t' read -r v gobin; do
  [[ -n "$v" ]] || continue
  if [[ ${#ONLY[@]} -gt 0 && ! " ${ONLY[*]} " == *" $v "* ]]; then continue; fi
  exps=(-)
  [[ "$v" == go1.24.* ]] && exps+=(noswissmap)
  for exp in "${exps[@]}"; do
    for mode in "${MODES[@]}"; do
      printf '%s\0%s\0%s\0%s\0%s\0' "$v" "$gobin" "$exp" "$mode" "$HASH" >>"$JOBS"
      ENTRIES+=("$v $exp $mode")
    done
  done
done <<<"$TOOLCHAINS"
[[ ${#ENTRIES[@]} -gt 0 ]] || die "no toolchain selected (--go ${ONLY[*]} not in the matrix?)"

log "building ${#ENTRIES[@]} fixtures (source $HASH, 2 at a time) ..."
FAILED=0
xargs -0 -n 5 -P 2 bash "$SELF" --build-one <"$JOBS" || FAILED=1

# examples/sessions, with the machine's Go (the first go on PATH, else the toolchain list's newest).
SYS_GO="$(command -v go || true)"
[[ -n "$SYS_GO" ]] || SYS_GO=/usr/local/go/bin/go
if [[ -d "$EXAMPLE_SRC" ]]; then
  ehash="$(src_hash "$EXAMPLE_SRC")"
  estamp="src=$ehash dir=$EXAMPLE_SRC go=$(cd / && GOTOOLCHAIN=local "$SYS_GO" env GOVERSION)"
  if [[ -n "$FORCE" || ! -x "$EXAMPLE_OUT/sessions" || ! -f "$EXAMPLE_OUT/stamp" || "$(cat "$EXAMPLE_OUT/stamp")" != "$estamp" ]]; then
    mkdir -p "$EXAMPLE_OUT"
    if (cd "$EXAMPLE_SRC" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 "$SYS_GO" build -o "$EXAMPLE_OUT/sessions" .); then
      printf '%s\n' "$estamp" >"$EXAMPLE_OUT/stamp"
      log "built examples/sessions -> ${EXAMPLE_OUT#"$ROOT"/}/sessions"
    else
      log "FAILED examples/sessions"
      FAILED=1
    fi
  fi
fi

# Manifest of the builds that exist and are current.
json_str() { local s="${1//\\/\\\\}"; printf '"%s"' "${s//\"/\\\"}"; }
mtmp="$(mktemp "$OUT/manifest.json.XXXXXX")"
{
  printf '['
  sep=""
  for e in "${ENTRIES[@]}"; do
    read -r v exp mode <<<"$e"
    [[ "$exp" == "-" ]] && exp=""
    variant="$v${exp:+-$exp}"
    dir="$OUT/$variant/$mode"
    [[ -x "$dir/deleter" && -f "$dir/stamp" ]] || continue
    printf '%s\n  {"go":%s,"variant":%s,"experiment":%s,"mode":%s,"path":%s,"source":%s}' "$sep" \
      "$(json_str "$v")" "$(json_str "$variant")" "$(json_str "$exp")" "$(json_str "$mode")" \
      "$(json_str "$dir/deleter")" "$(json_str "$SRC")"
    sep=","
  done
  printf '\n]\n'
} >"$mtmp"
chmod 644 "$mtmp"
mv -f "$mtmp" "$OUT/manifest.json"
log "manifest: ${OUT#"$ROOT"/}/manifest.json ($(grep -c '"path"' "$OUT/manifest.json") builds) in $((SECONDS - T0))s"

if [[ -n "$VERIFY" ]]; then
  log "verifying every build ..."
  testbin="$OUT/.deleter.test"
  (cd "$SRC" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 "$SYS_GO" test -c -o "$testbin" .) || die "cannot build the fixture self-check"
  vfail=0
  for e in "${ENTRIES[@]}"; do
    read -r v exp mode <<<"$e"
    [[ "$exp" == "-" ]] && exp=""
    variant="$v${exp:+-$exp}"
    bin="$OUT/$variant/$mode/deleter"
    [[ -x "$bin" ]] || continue
    gobin="$(awk -F'\t' -v v="$v" '$1 == v { print $2 }' <<<"$TOOLCHAINS")"
    wantgo="$v${exp:+ X:$exp}"
    if out="$(cd "$SRC" && DELETER_BIN="$bin" DELETER_GO="$gobin" DELETER_WANT_GO="$wantgo" "$testbin" -test.run 'TestBinary|TestScenarioLines' -test.v 2>&1)"; then
      note=""; grep -q 'call-site check skipped' <<<"$out" && note=" (no symbols: call-site check skipped)"
      log "ok    $variant/$mode$note"
    else
      log "FAIL  $variant/$mode"; printf '%s\n' "$out" | grep -v '^=== RUN' | sed 's/^/    /' >&2
      vfail=1
    fi
  done
  [[ $vfail == 0 ]] || FAILED=1
fi

[[ $FAILED == 0 ]] || die "some builds failed (see above); the manifest lists only the builds that succeeded"
