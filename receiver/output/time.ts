/**
 * Event times (ns since the Unix epoch, BigInt) as text and as seconds + nanoseconds.
 *
 * Both run once per event. Events arrive in time order, so nearly every call falls in the same
 * second as the one before: the second is worked out (BigInt division, Date) once per second, and
 * per call only the nanoseconds past it, as a Number (below 10^9, exact).
 */
const NS_PER_S = 1_000_000_000n;

/** Splits times into whole seconds and nanoseconds, remembering the last second seen. */
export class SecondSplitter {
  private start = 0n;
  private end = 0n;
  /** The whole second of the last split() (seconds since the epoch). */
  sec = 0;

  /** unixNs ≥ 0 → its nanoseconds past the whole second, which is left in `sec`. */
  split(unixNs: bigint): number {
    if (!(unixNs >= this.start && unixNs < this.end)) {
      const s = unixNs / NS_PER_S;
      this.start = s * NS_PER_S;
      this.end = this.start + NS_PER_S;
      this.sec = Number(s);
    }
    return Number(unixNs - this.start);
  }
}

const rfcSeconds = new SecondSplitter();
/** The "YYYY-MM-DDTHH:MM:SS." of rfcPrefixSec. */
let rfcPrefix = '';
let rfcPrefixSec = -1;

/** RFC 3339 with nanoseconds, UTC: 2026-11-23T04:19:06.123456789Z. */
export function rfc3339Nano(unixNs: bigint): string {
  if (unixNs < 0n) return slowRfc3339Nano(unixNs); // before 1970: not worth a cache
  const ns = rfcSeconds.split(unixNs);
  if (rfcSeconds.sec !== rfcPrefixSec) {
    rfcPrefix = new Date(rfcSeconds.sec * 1000).toISOString().slice(0, 19) + '.'; // throws past year 275760, as before
    rfcPrefixSec = rfcSeconds.sec;
  }
  return rfcPrefix + String(ns).padStart(9, '0') + 'Z';
}

/** The same text, the plain way (also the reference the cached one is tested against). */
export function slowRfc3339Nano(unixNs: bigint): string {
  const ms = Number(unixNs / 1_000_000n);
  const ns = unixNs % NS_PER_S;
  const iso = new Date(ms).toISOString();
  return iso.slice(0, 19) + '.' + ns.toString().padStart(9, '0') + 'Z';
}
