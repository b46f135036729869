/**
 * Readers of the record's 64-bit fields without BigInt, and without Buffer's read methods.
 *
 * Buffer's readBigUInt64LE builds a BigInt from two halves, and printing a BigInt is slower
 * still; even readUInt32LE, called per stack frame, measured several times slower than indexing
 * the bytes. At hundreds of thousands of records a second both showed up in profiles. These
 * index the bytes (after one bounds check) and produce exactly what the Buffer/BigInt route did.
 */

const TWO_32 = 0x1_0000_0000;
/** Above this high half a u64 no longer fits a Number exactly (2^53). */
const EXACT_HI = 0x20_0000;

function check(buf: Uint8Array, off: number): void {
  if (!(off >= 0 && off + 8 <= buf.length)) throw new RangeError(`u64 at ${off} is outside a ${buf.length}-byte buffer`);
}

function u32(buf: Uint8Array, o: number): number {
  return (buf[o] | (buf[o + 1] << 8) | (buf[o + 2] << 16)) + buf[o + 3] * 0x100_0000;
}

/** Unsigned: user-space addresses fit in 53 bits on x86-64; numbers keep symbolization cheap. */
export function u64Number(buf: Uint8Array, off: number): number {
  check(buf, off);
  return u32(buf, off) + u32(buf, off + 4) * TWO_32;
}

/** Signed, as Number(buf.readBigInt64LE(off)) gives it (the one rounding step is the same). */
export function i64Number(buf: Uint8Array, off: number): number {
  check(buf, off);
  return (u32(buf, off + 4) | 0) * TWO_32 + u32(buf, off);
}

/** Unsigned, in decimal: buf.readBigUInt64LE(off).toString(). */
export function u64Decimal(buf: Buffer, off: number): string {
  check(buf, off);
  const hi = u32(buf, off + 4);
  if (hi < EXACT_HI) return String(hi * TWO_32 + u32(buf, off));
  return buf.readBigUInt64LE(off).toString();
}

const BYTE_HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Unsigned, as 16 lowercase hex digits: buf.readBigUInt64LE(off).toString(16).padStart(16, '0'). */
export function u64Hex16(buf: Uint8Array, off: number): string {
  check(buf, off);
  return (
    BYTE_HEX[buf[off + 7]] +
    BYTE_HEX[buf[off + 6]] +
    BYTE_HEX[buf[off + 5]] +
    BYTE_HEX[buf[off + 4]] +
    BYTE_HEX[buf[off + 3]] +
    BYTE_HEX[buf[off + 2]] +
    BYTE_HEX[buf[off + 1]] +
    BYTE_HEX[buf[off]]
  );
}
