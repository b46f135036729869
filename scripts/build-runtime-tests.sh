#!/usr/bin/env bash
# Build the Go runtime's own map tests as test binaries (`go test -c`), for
# test/e2e/runtime-map-tests.test.ts, which runs them with and without the tracer.
#
#   bash scripts/build-runtime-tests.sh [--go VARIANT]... [--force]
#
#   --go VARIANT  a toolchain of scripts/go-toolchains.sh, optionally with a GOEXPERIMENT
#                 suffix: go1.27.4, go1.23.12, go1.24.13-noswissmap (repeatable).
#                 Default: the newest toolchain of the matrix (Swiss-table maps) and the
#                 newest one before go1.24 (classic maps).
#   --force       rebuild
#
# Output:  .cache/runtime-tests/<variant>/runtime.test        go test -c runtime
#          .cache/runtime-tests/<variant>/maps.test           go test -c internal/runtime/maps
#                                                            (Swiss-table variants only)
#          .cache/runtime-tests/manifest.json   [{"variant","go","experiment","swiss","gobin",
#             "goroot","tests":[{"pkg","binary","dir"}]}]   ("dir": the package's source
#             directory, where `go test` would run the binary)
# A build is redone only when its stamp (toolchain, GOROOT, GOEXPERIMENT, recipe) changed, so
# reruns take a second. The manifest lists what this run was asked for. One run at a time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.cache/runtime-tests"
BUILD_REV=1 # bump when the build commands below change

log() { printf 'build-runtime-tests: %s\n' "$*" >&2; }
die() { printf 'build-runtime-tests: ERROR: %s\n' "$*" >&2; exit 1; }

ONLY=() FORCE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --go) ONLY+=("$2"); shift 2 ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

TOOLCHAINS="$(bash "$ROOT/scripts/go-toolchains.sh")" || die "scripts/go-toolchains.sh failed"
gobin_of() { awk -F'\t' -v v="$1" '$1 == v { print $2 }' <<<"$TOOLCHAINS"; }

if [[ ${#ONLY[@]} -eq 0 ]]; then
  sorted="$(cut -f1 <<<"$TOOLCHAINS" | sort -V)"
  newest="$(tail -1 <<<"$sorted")"
  classic="$(grep -E '^go1\.(1[0-9]|2[0-3])\.' <<<"$sorted" | tail -1 || true)"
  [[ -n "$newest" && -n "$classic" ]] || die "cannot pick the newest and a classic-map toolchain from: $sorted"
  ONLY=("$newest" "$classic")
fi

json_str() { local s="${1//\\/\\\\}"; printf '"%s"' "${s//\"/\\\"}"; }
ENTRIES=()
for variant in "${ONLY[@]}"; do
  v="${variant%%-*}"
  exp=""
  [[ "$variant" == *-* ]] && exp="${variant#*-}"
  gobin="$(gobin_of "$v")"
  [[ -n "$gobin" ]] || die "$v is not a toolchain of scripts/go-toolchains.sh"
  goroot="$(cd / && GOTOOLCHAIN=local GOFLAGS= "$gobin" env GOROOT)"
  minor="$(sed -E 's/^go1\.([0-9]+).*/\1/' <<<"$v")"
  swiss=false
  if [[ "$minor" -ge 24 && "$exp" != *noswissmap* ]]; then swiss=true; fi
  pkgs=(runtime)
  [[ "$swiss" == true ]] && pkgs+=(internal/runtime/maps)

  dir="$OUT/$variant"
  mkdir -p "$dir"
  tests_json=""
  for pkg in "${pkgs[@]}"; do
    name="$(basename "$pkg").test"
    bin="$dir/$name"
    stamp="rev=$BUILD_REV go=$v goroot=$goroot experiment=$exp pkg=$pkg"
    if [[ -n "$FORCE" || ! -x "$bin" || ! -f "$bin.stamp" || "$(cat "$bin.stamp")" != "$stamp" ]]; then
      rm -f "$bin.stamp"
      t0=$SECONDS
      tmp="$bin.tmp.$$"
      if ! (cd / && env GOTOOLCHAIN=local GOFLAGS= GOEXPERIMENT="$exp" CGO_ENABLED=0 \
            "$gobin" test -c -o "$tmp" "$pkg") >"$bin.log" 2>&1; then
        rm -f "$tmp"
        sed 's/^/    /' "$bin.log" >&2
        die "go test -c $pkg with $variant failed"
      fi
      info="$(GOTOOLCHAIN=local "$gobin" version -m "$tmp")"
      grep -q "^$tmp: $v\$\|^$tmp: $v " <<<"$info" || { rm -f "$tmp"; die "$pkg test binary built by the wrong Go: $info"; }
      if [[ -n "$exp" ]]; then
        grep -q "GOEXPERIMENT=$exp" <<<"$info" || { rm -f "$tmp"; die "$pkg test binary lacks GOEXPERIMENT=$exp: $info"; }
      fi
      mv -f "$tmp" "$bin"
      printf '%s\n' "$stamp" >"$bin.stamp"
      log "built $variant $pkg -> ${bin#"$ROOT"/} ($((SECONDS - t0))s)"
    fi
    tests_json+="${tests_json:+,}{\"pkg\":$(json_str "$pkg"),\"binary\":$(json_str "$bin"),\"dir\":$(json_str "$goroot/src/$pkg")}"
  done
  ENTRIES+=("{\"variant\":$(json_str "$variant"),\"go\":$(json_str "$v"),\"experiment\":$(json_str "$exp"),\"swiss\":$swiss,\"gobin\":$(json_str "$gobin"),\"goroot\":$(json_str "$goroot"),\"tests\":[$tests_json]}")
done

mtmp="$(mktemp "$OUT/manifest.json.XXXXXX")"
{
  printf '['
  sep=""
  for e in "${ENTRIES[@]}"; do printf '%s\n  %s' "$sep" "$e"; sep=","; done
  printf '\n]\n'
} >"$mtmp"
chmod 644 "$mtmp"
mv -f "$mtmp" "$OUT/manifest.json"
log "manifest: ${OUT#"$ROOT"/}/manifest.json (${ONLY[*]})"
