#!/usr/bin/env bash
# What span tracking (docs/correlation.md) costs the traced program, measured side by side in one
# run: examples/otel-http/cmd/spanbench (map deletes inside and outside an OpenTelemetry SDK span,
# span start+end, `go` statements inside and outside a span) without the tracer, under
# `watch --no-spans` (delete probes only), and under `watch` with span tracking (inheritance at
# goroutine creation, and on RET of runtime.newproc1). Each setting runs ROUNDS times,
# interleaved; the table shows the median ns per operation and the difference to no tracer.
#
#   bash bench/span-tracking.sh            # ROUNDS=3 N=200000 by default
#
# Writes bench/results/span-tracking.json (or $SPAN_JSON). A benchmark, not a test: it never fails
# on a number. `npm run bench` (bench/suite.ts) runs it as its part 4.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
N="${N:-200000}"
OUT="$ROOT/.cache/bench"
mkdir -p "$OUT" "$ROOT/bench/results"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
(cd "$ROOT/examples/otel-http" && GOTOOLCHAIN=local GOFLAGS=-mod=mod "$GO" build -o "$OUT/spanbench" ./cmd/spanbench)

SETTINGS=("none" "watch --no-spans" "watch" "watch --inheritance return")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

# run_one SETTING → JSON lines of the program on stdout
run_one() {
  local setting="$1" fifo="$OUT/spanbench.in" res="$OUT/spanbench.out" err="$OUT/tracer.err"
  rm -f "$fifo" "$res" "$err"; mkfifo "$fifo"
  "$OUT/spanbench" -n "$N" <"$fifo" >"$res" & local bpid=$!
  PIDS+=("$bpid")
  exec 7>"$fifo"
  for _ in $(seq 1 100); do grep -q '"ready"' "$res" 2>/dev/null && break; sleep 0.05; done
  local tpid=""
  if [[ "$setting" != none ]]; then
    # shellcheck disable=SC2086
    node "$ROOT/dist/receiver/cli.js" ${setting} --pid "$bpid" --format json >/dev/null 2>"$err" & tpid=$!
    PIDS+=("$tpid")
    for _ in $(seq 1 200); do grep -q 'ready:' "$err" 2>/dev/null && break; sleep 0.05; done
    grep -q 'ready:' "$err" || { cat "$err" >&2; echo "span-tracking: the tracer did not attach" >&2; exit 1; }
  fi
  echo go >&7; exec 7>&-
  wait "$bpid"
  if [[ -n "$tpid" ]]; then wait "$tpid" || true; fi
  grep '"case"' "$res"
}

ALL="$OUT/span-tracking.jsonl"; : >"$ALL"
for r in $(seq 1 "$ROUNDS"); do
  for s in "${SETTINGS[@]}"; do
    echo "span-tracking: round $r/$ROUNDS: $s" >&2
    run_one "$s" | node -e '
      const s = process.argv[1], r = +process.argv[2];
      for (const l of require("fs").readFileSync(0, "utf8").trim().split("\n")) { const o = JSON.parse(l); console.log(JSON.stringify({ setting: s, round: r, case: o.case, ns: o.ns_per_op })); }
    ' "$s" "$r" >>"$ALL"
  done
done

node - "$ALL" "${SPAN_JSON:-$ROOT/bench/results/span-tracking.json}" "$N" "$ROUNDS" <<'JS'
const fs = require('fs');
const [all, out, n, rounds] = process.argv.slice(2);
const rows = fs.readFileSync(all, 'utf8').trim().split('\n').map(JSON.parse);
const settings = [...new Set(rows.map((r) => r.setting))];
const cases = [...new Set(rows.map((r) => r.case))];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const table = {};
for (const c of cases) { table[c] = {}; for (const s of settings) table[c][s] = median(rows.filter((r) => r.case === c && r.setting === s).map((r) => r.ns)); }
const w = 30;
console.log(`ns per operation, median of ${rounds} interleaved rounds of ${n}; (+x) = added over no tracer`);
console.log('case'.padEnd(w) + settings.map((s) => s.padStart(28)).join(''));
for (const c of cases) {
  const base = table[c].none;
  console.log(c.padEnd(w) + settings.map((s) => (s === 'none' ? `${base.toFixed(0)}` : `${table[c][s].toFixed(0)} (+${(table[c][s] - base).toFixed(0)})`).padStart(28)).join(''));
}
const os = require('os');
const summary = { date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, kernel: os.release() }, n: +n, rounds: +rounds, ns_per_op: table };
fs.writeFileSync(out, JSON.stringify(summary, null, 2) + '\n');
console.log(`written to ${out}`);
JS
