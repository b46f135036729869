/**
 * Durations as the OpenTelemetry Collector writes them: Go's time.ParseDuration syntax, a
 * sequence of decimal numbers each with a unit — `500ms`, `1s`, `1.5s`, `1m30s`, `2h` — with
 * units ns, us (or µs), ms, s, m, h. A lone `0` needs no unit. Values are returned in
 * milliseconds (fractions kept: `1500us` is 1.5).
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Milliseconds, or undefined when `text` is not a Go duration. Negative durations are refused. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0' || s === '+0') return 0;
  let i = s.startsWith('+') ? 1 : 0;
  if (i >= s.length) return undefined;
  let total = 0;
  while (i < s.length) {
    PART.lastIndex = i;
    const m = PART.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
    i = PART.lastIndex;
  }
  return total;
}

/** How a duration in milliseconds is written back in messages and docs: `1500` → `1.5s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}
