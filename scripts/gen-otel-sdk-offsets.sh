#!/usr/bin/env bash
# Regenerate receiver/golang/otel-sdk-offsets.json: the struct member offsets of the OpenTelemetry
# Go SDK that the span-tracking probes read (docs/design/correlation.md), for binaries built
# without DWARF (-ldflags=-w).
#
#   bash scripts/gen-otel-sdk-offsets.sh
#
# For the latest patch of each of the newest OTEL_SDK_MINORS minor releases of
# go.opentelemetry.io/otel/sdk on the Go module proxy (or of every minor release from
# OTEL_SDK_FROM on, or the OTEL_SDK_VERSIONS given), builds a
# small program against that release with the machine's Go (and every toolchain in
# OTEL_OFFSETS_TOOLCHAINS that the release's go.mod allows), runs it (it measures the offsets on a
# live span with reflect and checks them against the span's memory), reads the same structs from
# the binary's DWARF with receiver/golang/dwarf.ts, and writes the table only if DWARF and reflect
# agree for every member of every struct, and every toolchain gave the same layout.
#
# Knobs (environment):
#   OTEL_SDK_MINORS=8                        how many minor releases, newest first
#   OTEL_SDK_FROM=v1.29.0                    instead: every minor release from this one on
#   OTEL_SDK_VERSIONS="v1.46.0 v1.47.0"      exactly these instead
#   OTEL_OFFSETS_TOOLCHAINS="go1.27.4"       more toolchains to cross-check with (module proxy)
#   OUT=path                                 where to write (default receiver/golang/otel-sdk-offsets.json)
#   GO=/path/to/go                           the bootstrap go command
#
# A release is built with every toolchain whose version its resolved go.mod allows (the `go`
# line: v1.29 needs 1.21, v1.30-v1.35 1.22, v1.36-v1.38 1.23, v1.39-v1.41 1.24, v1.42-v1.46
# 1.25, v1.47 1.26), so old releases are measured with the old Go versions they support.
#
# The committed table was generated on 2026-11-23 with Go 1.26.8 and
#   OTEL_SDK_FROM=v1.29.0 OTEL_OFFSETS_TOOLCHAINS="go1.21.13 go1.22.12 go1.23.12 go1.24.13 go1.25.14 go1.27.4"
# (the core matrix of scripts/go-toolchains.sh): v1.29.0 to v1.47.0, 87 builds, each release
# with every toolchain it allows. The offsets are the same throughout (spanContext 192, endTime
# 136, name 96; SpanContext traceID 0, spanID 16, traceFlags 24); only the size of
# recordingSpan grows: 416 bytes up to v1.30, 464 in v1.31-v1.38, 480 from v1.39 on.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/receiver/golang/otel-sdk-offsets.json}"
MINORS="${OTEL_SDK_MINORS:-8}"
SDK=go.opentelemetry.io/otel/sdk

log() { printf 'gen-otel-sdk-offsets: %s\n' "$*" >&2; }
die() { printf 'gen-otel-sdk-offsets: ERROR: %s\n' "$*" >&2; exit 1; }

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)"
  elif [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go
  else die "no Go found (need go on PATH or at /usr/local/go/bin/go, or set GO=/path/to/go)"
  fi
fi
command -v node >/dev/null 2>&1 || die "node is needed to read DWARF (receiver/golang/dwarf.ts)"
# go commands outside any module, without toolchain switching or the user's GOFLAGS.
goenv() { (cd / && GOTOOLCHAIN=local GOFLAGS= "$@"); }
LOCAL="$(goenv "$GO" env GOVERSION)" || die "cannot run $GO"
[[ "$(goenv "$GO" env GOARCH)" == amd64 ]] || die "the table is for amd64; run this on an amd64 machine"
TOOLCHAINS=("$LOCAL")
for t in ${OTEL_OFFSETS_TOOLCHAINS:-}; do [[ "$t" == "$LOCAL" ]] || TOOLCHAINS+=("$t"); done
NEWEST="$(printf '%s\n' "${TOOLCHAINS[@]}" | sort -V | tail -1)"

# "1.26.0" <= "1.26.8"?  (version strings without the go/v prefix)
version_le() { [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" == "$1" ]]; }

if [[ -n "${OTEL_SDK_VERSIONS:-}" ]]; then
  read -r -a VERSIONS <<<"$OTEL_SDK_VERSIONS"
elif [[ -n "${OTEL_SDK_FROM:-}" ]]; then
  [[ "$OTEL_SDK_FROM" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "OTEL_SDK_FROM=$OTEL_SDK_FROM: expected a version like v1.29.0"
  log "asking the module proxy for $SDK versions"
  mapfile -t VERSIONS < <(goenv "$GO" list -m -versions "$SDK" | tr ' ' '\n' \
    | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V \
    | awk -F. '{ mm = $1 "." $2; if (!(mm in last)) order[++n] = mm; last[mm] = $0 }
               END { for (i = 1; i <= n; i++) print last[order[i]] }' \
    | awk -v from="${OTEL_SDK_FROM%.*}" 'BEGIN { split(substr(from, 2), f, ".") }
               { split(substr($0, 2), v, "."); if (v[1] > f[1] || (v[1] == f[1] && v[2] >= f[2])) print }')
else
  log "asking the module proxy for $SDK versions"
  mapfile -t VERSIONS < <(goenv "$GO" list -m -versions "$SDK" | tr ' ' '\n' \
    | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V \
    | awk -F. '{ mm = $1 "." $2; if (!(mm in last)) order[++n] = mm; last[mm] = $0 }
               END { for (i = 1; i <= n; i++) print last[order[i]] }' \
    | tail -n "$MINORS")
fi
(( ${#VERSIONS[@]} > 0 )) || die "no $SDK versions to build"
log "SDK versions: ${VERSIONS[*]}; toolchains: ${TOOLCHAINS[*]}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/otel-sdk-offsets.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# The DWARF reader (scripts/gen-otel-sdk-offsets.ts, compiled with the rest of the project).
READER="$ROOT/dist/scripts/gen-otel-sdk-offsets.js"
log "compiling TypeScript (npx tsc -p tsconfig.json)"
if ! (cd "$ROOT" && npx tsc -p tsconfig.json >"$WORK/tsc.log" 2>&1); then
  # tsc still emits on type errors elsewhere in the tree; carry on if our reader compiled.
  grep -q 'scripts/gen-otel-sdk-offsets\.ts\|receiver/golang/otelsdk\.ts' "$WORK/tsc.log" && { cat "$WORK/tsc.log" >&2; die "TypeScript errors in the reader"; }
  log "tsc reported errors elsewhere in the tree (ignored): $(head -1 "$WORK/tsc.log")"
fi
[[ -f "$READER" ]] || die "$READER was not built"

# The program: measures the offsets on a live recording span with reflect, checks that the trace
# id, span id and flags are where it says in the span's memory and that endTime is zero until End.
cat >"$WORK/main.go" <<'EOF'
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"unsafe"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

type layout struct {
	Size    uintptr            `json:"size"`
	Members map[string]uintptr `json:"members"`
}

func describe(t reflect.Type) layout {
	l := layout{Size: t.Size(), Members: map[string]uintptr{}}
	for i := 0; i < t.NumField(); i++ {
		l.Members[t.Field(i).Name] = t.Field(i).Offset
	}
	return l
}

func field(t reflect.Type, name string) reflect.StructField {
	f, ok := t.FieldByName(name)
	if !ok {
		fail("%s has no field %s", t, name)
	}
	return f
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	tp := sdktrace.NewTracerProvider()
	_, span := tp.Tracer("offsets").Start(context.Background(), "probe")
	v := reflect.ValueOf(span)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		fail("the span is a %s, not a pointer to a struct", v.Type())
	}
	rs := v.Elem().Type()
	scf := field(rs, "spanContext")
	end := field(rs, "endTime")
	sc := scf.Type
	p := v.UnsafePointer()
	want := span.SpanContext()
	if got := *(*[16]byte)(unsafe.Add(p, scf.Offset+field(sc, "traceID").Offset)); got != want.TraceID() {
		fail("trace id in memory %x, SpanContext() says %s", got, want.TraceID())
	}
	if got := *(*[8]byte)(unsafe.Add(p, scf.Offset+field(sc, "spanID").Offset)); got != want.SpanID() {
		fail("span id in memory %x, SpanContext() says %s", got, want.SpanID())
	}
	if got := *(*byte)(unsafe.Add(p, scf.Offset+field(sc, "traceFlags").Offset)); got != byte(want.TraceFlags()) {
		fail("trace flags in memory %x, SpanContext() says %s", got, want.TraceFlags())
	}
	endTime := (*[16]byte)(unsafe.Add(p, end.Offset))
	if *endTime != [16]byte{} {
		fail("endTime is not zero before End: %x", *endTime)
	}
	span.End()
	if *endTime == [16]byte{} {
		fail("endTime is still zero after End")
	}
	out := map[string]layout{
		rs.PkgPath() + "." + rs.Name(): describe(rs),
		sc.PkgPath() + "." + sc.Name(): describe(sc),
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"structs": out}); err != nil {
		fail("%v", err)
	}
}
EOF

: >"$WORK/manifest.tsv"
for v in "${VERSIONS[@]}"; do
  dir="$WORK/$v"
  mkdir -p "$dir"
  cp "$WORK/main.go" "$dir/"
  printf 'module mdt.local/otelsdkoffsets\n\ngo 1.21\n' >"$dir/go.mod"
  # The release train publishes sdk, trace and otel at the same version: pin all three. Resolve
  # with the newest toolchain we have, so a release needing a newer Go than the machine's can
  # still be measured with a toolchain from OTEL_OFFSETS_TOOLCHAINS.
  if ! (cd "$dir" && GOTOOLCHAIN="$NEWEST" GOFLAGS=-mod=mod "$GO" get "$SDK@$v" "go.opentelemetry.io/otel/trace@$v" "go.opentelemetry.io/otel@$v" >"$dir/get.log" 2>&1 \
        && GOTOOLCHAIN="$NEWEST" GOFLAGS=-mod=mod "$GO" mod tidy >>"$dir/get.log" 2>&1); then
    cat "$dir/get.log" >&2
    die "cannot resolve $SDK $v with $NEWEST (a version that does not exist, or one that needs a newer Go: add a toolchain to OTEL_OFFSETS_TOOLCHAINS)"
  fi
  need="$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$dir/go.mod")"
  trace_v="$(cd "$dir" && GOTOOLCHAIN="$NEWEST" GOFLAGS=-mod=mod "$GO" list -m -f '{{.Version}}' go.opentelemetry.io/otel/trace)"
  built=0
  for tc in "${TOOLCHAINS[@]}"; do
    if ! version_le "$need" "${tc#go}"; then
      log "  $v needs go >= $need: not building with $tc"
      continue
    fi
    bin="$dir/prog-$tc"
    if ! (cd "$dir" && GOTOOLCHAIN="$tc" GOFLAGS='-mod=mod -buildvcs=false' CGO_ENABLED=0 "$GO" build -o "$bin" . >"$dir/build-$tc.log" 2>&1); then
      cat "$dir/build-$tc.log" >&2
      die "building against $SDK $v with $tc failed"
    fi
    "$bin" >"$bin.json" 2>"$bin.err" || { cat "$bin.err" >&2; die "the $v program built with $tc failed its own checks"; }
    printf '%s\t%s\t%s\t%s\t%s\n' "$v" "$trace_v" "$tc" "$bin" "$bin.json" >>"$WORK/manifest.tsv"
    log "  built $v (trace $trace_v) with $tc"
    built=1
  done
  (( built )) || die "$v needs go >= $need, newer than all of ${TOOLCHAINS[*]}: add one to OTEL_OFFSETS_TOOLCHAINS"
done

node "$READER" "$WORK/manifest.tsv" "$OUT"
