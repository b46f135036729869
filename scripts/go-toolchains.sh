#!/usr/bin/env bash
# Make the Go toolchains of the test matrix available and list them.
#
#   bash scripts/go-toolchains.sh            # fetch what is missing, print "version<TAB>/path/to/bin/go"
#   bash scripts/go-toolchains.sh --check-latest   # also ask the module proxy whether newer patches exist
#
# The list is also written to .cache/toolchains.tsv. Toolchains come from the Go
# module proxy as module golang.org/toolchain@v0.0.1-<version>.<os>-<arch>
# (what `GOTOOLCHAIN=<version> go version` downloads) and live in GOMODCACHE, so
# reruns are instant. The machine's own Go is used as is when it is in the matrix.
#
# Pinned on 2026-11-23 by asking the proxy (`go list -m -versions golang.org/toolchain`):
# the latest patch of each minor, and the newest release there (go1.27.4). The
# machine's Go (go1.26.8) is part of the matrix too; it costs no download.
set -euo pipefail

MATRIX=(
  go1.21.13
  go1.22.12
  go1.23.12
  go1.24.13
  go1.25.14
  go1.26.8
  go1.27.4
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.cache/toolchains.tsv"

log() { printf 'go-toolchains: %s\n' "$*" >&2; }
die() { printf 'go-toolchains: ERROR: %s\n' "$*" >&2; exit 1; }

# A bootstrap go command (>= go1.21, which can fetch toolchains).
BOOT="${GO:-}"
if [[ -z "$BOOT" ]]; then
  if command -v go >/dev/null 2>&1; then BOOT="$(command -v go)"
  elif [[ -x /usr/local/go/bin/go ]]; then BOOT=/usr/local/go/bin/go
  else die "no Go found (need go >= 1.21 on PATH or at /usr/local/go/bin/go, or set GO=/path/to/go)"
  fi
fi
# Run go commands outside any module, with no toolchain switching of their own.
goenv() { (cd / && GOTOOLCHAIN=local GOFLAGS= "$@"); }
BOOT_VERSION="$(goenv "$BOOT" env GOVERSION)" || die "cannot run $BOOT"
case "$BOOT_VERSION" in
  go1.1[0-9]*|go1.[0-9]|go1.[0-9].*|go1.20*) die "$BOOT is $BOOT_VERSION; go >= 1.21 is needed to fetch toolchains";;
esac
GOOS_ARCH="$(goenv "$BOOT" env GOHOSTOS)-$(goenv "$BOOT" env GOHOSTARCH)"
MODCACHE="$(goenv "$BOOT" env GOMODCACHE)"

if [[ "${1:-}" == "--check-latest" ]]; then
  log "asking the module proxy for golang.org/toolchain versions"
  versions="$(goenv "$BOOT" list -m -versions golang.org/toolchain | tr ' ' '\n' \
    | sed -n "s/^v0\.0\.1-\(go1\.[0-9]*\.[0-9]*\)\.$GOOS_ARCH\$/\1/p" | sort -V)"
  for v in "${MATRIX[@]}"; do
    minor="${v%.*}"
    latest="$(grep -E "^${minor//./\\.}\.[0-9]+$" <<<"$versions" | tail -1)"
    [[ "$latest" == "$v" ]] && log "$v is the latest $minor" || log "$v pinned; the proxy has $latest"
  done
  log "newest release on the proxy: $(tail -1 <<<"$versions")"
fi

mkdir -p "$(dirname "$OUT")"
tmp="$(mktemp "$OUT.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
for v in "${MATRIX[@]}"; do
  if [[ "$v" == "$BOOT_VERSION" ]]; then
    gobin="$(goenv "$BOOT" env GOROOT)/bin/go"
  else
    gobin="$MODCACHE/golang.org/toolchain@v0.0.1-$v.$GOOS_ARCH/bin/go"
    if [[ ! -x "$gobin" ]]; then
      log "fetching $v from the module proxy ..."
      (cd / && GOTOOLCHAIN="$v" GOFLAGS= "$BOOT" version >/dev/null) \
        || die "could not fetch toolchain $v (GOTOOLCHAIN=$v $BOOT version failed; is the Go module proxy reachable?)"
      [[ -x "$gobin" ]] || die "fetched $v but $gobin is missing"
    fi
  fi
  got="$(goenv "$gobin" env GOVERSION)" || die "$gobin does not run"
  [[ "$got" == "$v" ]] || die "$gobin reports $got, expected $v"
  printf '%s\t%s\n' "$v" "$gobin" >>"$tmp"
done
mv "$tmp" "$OUT"
trap - EXIT
cat "$OUT"
