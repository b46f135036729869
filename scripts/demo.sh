#!/usr/bin/env bash
# The README's first command: install what is missing, build, start the example HTTP service
# (examples/otel-http, instrumented with the OpenTelemetry Go SDK), trace its map deletes live
# while its load tool sends it requests. A delete made in a request handler ends with
# `trace=… span=…`: the request's trace and the handler's span, as the service's SDK made them.
# Run as root. DEMO_SECONDS: how long to trace (default 30; 0 = until Ctrl-C). Exit code: the
# tracer's (0, also after Ctrl-C or SIGTERM). Logs: .cache/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$PWD/.cache/go/bin"
secs=${DEMO_SECONDS:-30}
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "demo: DEMO_SECONDS must be a whole number of seconds, not '$secs'" >&2; exit 2; }
bash scripts/setup.sh
# The service and its load tool, with the SDK version pinned in examples/otel-http/go.mod
# (a no-op when current): .cache/examples/otel-http/{plain/otel-http-example,load}.
bash scripts/build-examples.sh >/dev/null
ex=.cache/examples/otel-http
demo=.cache/demo
mkdir -p "$demo"
rm -f "$demo/watch.log"

# Everything started here is stopped by its PID. The service and the tracer run in sessions of
# their own (setsid), so a Ctrl-C in the terminal reaches only this script, which stops them in
# order: the load tool first, then the tracer (one SIGINT: it prints what it holds and its
# summary, and exits 0), then the service.
svc="" watch="" load="" stopping=""
stop_load() {
  if [[ -n "$load" ]]; then kill -TERM "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; load=""; fi
}
stop_tracing() {
  [[ -n "$stopping" ]] && return
  stopping=1
  stop_load
  kill -INT "$watch" 2>/dev/null || true
}
cleanup() {
  local p
  stop_load
  for p in $watch $svc; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $watch $svc; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
on_signal() { if [[ -n "$watch" ]]; then stop_tracing; else exit 130; fi; }
trap on_signal INT TERM HUP

# The service on a free loopback port. Its spans get real trace and span ids but are not exported
# (OTEL_TRACES_EXPORTER=none: no collector in this demo; docker-compose.yml has one, and Jaeger).
# A small cache and a short session lifetime make evictions and janitor expiries show up soon.
OTEL_TRACES_EXPORTER=none setsid "$ex/plain/otel-http-example" -addr 127.0.0.1:0 -cache-size 4 -session-ttl 3s \
  >"$demo/otel-http.out" 2>"$demo/otel-http.log" &
svc=$!
addr=""
for _ in $(seq 100); do
  addr="$(sed -n 's/^{"event":"listening","addr":"\([^"]*\)".*/\1/p' "$demo/otel-http.out")"
  [[ -n "$addr" ]] && break
  kill -0 "$svc" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$addr" ]] || { echo "demo: the example service did not start; see $demo/otel-http.log" >&2; exit 1; }

echo "demo: example service (examples/otel-http) is PID $svc on $addr; tracing its map deletes (keys shown: demo data)" >&2
echo "demo: a delete in a request handler ends with trace=… span=…, the request's trace and the handler's span" \
  "(\"(inherited)\": on the order's worker goroutine); net/http's own deletes and the session janitor's are outside any span" >&2
# stderr is also copied to watch.log, to see when the probes are attached (tee -i: Ctrl-C leaves it be).
setsid node dist/receiver/cli.js watch --pid "$svc" --capture-keys 2> >(tee -i "$demo/watch.log" >&2) &
watch=$!
until grep -q '^map-delete-tracer: ready:' "$demo/watch.log" 2>/dev/null; do
  kill -0 "$watch" 2>/dev/null || break
  sleep 0.1
done

# Requests, once the probes are in place: 5 a second, printed on stderr with their trace ids.
if [[ -z "$stopping" ]] && kill -0 "$watch" 2>/dev/null; then
  "$ex/load" -addr "$addr" -n 1000000 -rate 5 -concurrency 2 -max-duration 24h \
    -mix login=2,logout=1,item=2,order=1 -items 12 \
    > >(sed -u -n 's/^{"event":"request",.*"method":"\([A-Z]*\)","path":"\([^"]*\)","status":\([0-9]*\),"trace_id":"\([0-9a-f]*\)".*/demo: request \1 \2 -> \3 trace=\4/p' >&2) \
    2>"$demo/load.log" &
  load=$!
  # DEMO_SECONDS of tracing (or until a signal, or the tracer ends by itself), then stop.
  if [[ "$secs" != 0 ]]; then
    end=$((${EPOCHREALTIME//[!0-9]/} + secs * 1000000))
    while [[ -z "$stopping" ]] && ((${EPOCHREALTIME//[!0-9]/} < end)) && kill -0 "$watch" 2>/dev/null; do sleep 0.1; done
    if [[ -z "$stopping" ]] && kill -0 "$watch" 2>/dev/null; then echo "demo: ${secs} s passed (DEMO_SECONDS): stopping" >&2; fi
    stop_tracing
  fi
fi

rc=0
wait "$watch" || rc=$?
# wait returns early when a trapped signal arrives: wait again for the tracer's own exit code.
while kill -0 "$watch" 2>/dev/null; do rc=0; wait "$watch" || rc=$?; done
watch=""
exit "$rc"
