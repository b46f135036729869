#!/usr/bin/env bash
# Screenshot a page of Jaeger's UI (e.g. a trace: http://127.0.0.1:16686/trace/<trace id>) with
# headless Chromium, for the docs. Installs Debian's `chromium` when it is missing (as root).
#
#   bash scripts/jaeger-screenshot.sh URL OUT.png
#
# Environment:
#   SCREENSHOT_SIZE    window size WxH                        (default 1400,900)
#   SCREENSHOT_WAIT_MS virtual time the page may spend loading (default 8000): the UI is a
#                      single-page app that fetches the trace after it loads
#   SCREENSHOT_ANY_PAGE=1  keep the screenshot even of Jaeger's placeholder page (to test this
#                      script against a Jaeger without UI assets)
#
# The UI must be Jaeger's real UI: a Jaeger built from the Go module without UI assets serves a
# placeholder page ("This is not the Jaeger UI you are looking for!"); run it with
# JAEGER_UI_ASSETS_PATH (config/jaeger.yaml) pointing at built UI assets, or use an official
# Jaeger image. The script refuses to keep a screenshot of that placeholder.
set -euo pipefail

log() { printf 'jaeger-screenshot: %s\n' "$*" >&2; }
die() { printf 'jaeger-screenshot: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 URL OUT.png"
URL="$1"
OUT="$2"
SIZE="${SCREENSHOT_SIZE:-1400,900}"
WAIT_MS="${SCREENSHOT_WAIT_MS:-8000}"
[[ "$URL" =~ ^https?:// ]] || die "URL must start with http:// or https:// (got '$URL')"
[[ "$OUT" == *.png ]] || die "OUT must end in .png (got '$OUT')"

CHROMIUM="$(command -v chromium || true)"
if [[ -z "$CHROMIUM" ]]; then
  [[ "$(id -u)" == 0 ]] || die "chromium is not installed and installing it needs root: apt-get install chromium"
  log "installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
    || die "apt-get install chromium failed"
  CHROMIUM="$(command -v chromium)" || die "chromium is still missing after apt-get install"
fi

# The page must answer before Chromium is started, or the screenshot is an error page.
if command -v curl >/dev/null; then
  page="$(curl -fsS --max-time 10 "$URL")" || die "$URL does not answer (is Jaeger running?)"
  if [[ "${SCREENSHOT_ANY_PAGE:-}" != 1 ]] && grep -q "This is not the Jaeger UI you are looking for" <<<"$page"; then
    die "$URL serves Jaeger's placeholder page, not its UI: this Jaeger has no UI assets (see the comment at the top of $0)"
  fi
fi

mkdir -p "$(dirname "$OUT")"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
tmp="$OUT.tmp.$$.png"
rm -f "$tmp"
log "rendering $URL (${SIZE/,/x}, up to ${WAIT_MS} ms of page time)"
if ! timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$profile" \
  --window-size="$SIZE" --virtual-time-budget="$WAIT_MS" \
  --screenshot="$tmp" "$URL" >"$profile/chromium.log" 2>&1; then
  tail -n 20 "$profile/chromium.log" >&2 || true
  rm -f "$tmp"
  die "chromium failed"
fi
[[ -s "$tmp" ]] || { tail -n 20 "$profile/chromium.log" >&2 || true; die "chromium wrote no screenshot"; }
mv -f "$tmp" "$OUT"
log "wrote $OUT ($(stat -c %s "$OUT") bytes)"
