/** RFC 3339 with nanoseconds, UTC: 2026-11-23T04:19:06.123456789Z. */
export function rfc3339Nano(unixNs: bigint): string {
  const ms = Number(unixNs / 1_000_000n);
  const ns = unixNs % 1_000_000_000n;
  const iso = new Date(ms).toISOString(); // 2026-11-23T04:19:06.123Z
  return iso.slice(0, 19) + '.' + ns.toString().padStart(9, '0') + 'Z';
}
