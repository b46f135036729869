/**
 * Bounds-checked little-endian reads from a Buffer. Every parser in this folder reads through
 * these so that corrupt or truncated input ends in a CorruptDataError, never in a RangeError,
 * a silent garbage value, or a loop that runs off the end of the data.
 */
import { corrupt } from './errors';

function check(buf: Buffer, off: number, len: number, what: string): void {
  // Written so that NaN, negative and fractional offsets all fail too.
  if (!(off >= 0 && off + len <= buf.length && Number.isInteger(off))) {
    corrupt(`${what} at offset ${off} (+${len}) is outside ${buf.length} bytes`);
  }
}

export function u8(buf: Buffer, off: number, what = 'byte'): number {
  check(buf, off, 1, what);
  return buf[off];
}

export function u16(buf: Buffer, off: number, what = 'u16'): number {
  check(buf, off, 2, what);
  return buf.readUInt16LE(off);
}

export function u32(buf: Buffer, off: number, what = 'u32'): number {
  check(buf, off, 4, what);
  return buf.readUInt32LE(off);
}

export function i32(buf: Buffer, off: number, what = 'i32'): number {
  check(buf, off, 4, what);
  return buf.readInt32LE(off);
}

/**
 * A 64-bit field as a JS number. Addresses and sizes we care about are < 2^53; a larger value
 * can only come from garbage, and becomes Infinity-like enough (> MAX_SAFE_INTEGER) that the
 * callers' range checks reject it.
 */
export function u64(buf: Buffer, off: number, what = 'u64'): number {
  check(buf, off, 8, what);
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 0x1_0000_0000;
}

export function bytes(buf: Buffer, off: number, len: number, what = 'bytes'): Buffer {
  check(buf, off, len, what);
  return buf.subarray(off, off + len);
}

/** Unsigned LEB128 / Go uvarint. Returns [value, offset after it]. */
export function uvarint(buf: Buffer, off: number, what = 'varint'): [number, number] {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    check(buf, off, 1, what);
    const b = buf[off++];
    result += (b & 0x7f) * mul;
    if (b < 0x80) return [result, off];
    mul *= 128;
  }
  return corrupt(`${what} longer than 10 bytes at offset ${off - 10}`);
}

/** Signed LEB128 (DWARF sdata). */
export function svarint(buf: Buffer, off: number, what = 'svarint'): [number, number] {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    check(buf, off, 1, what);
    const b = buf[off++];
    result += (b & 0x7f) * mul;
    mul *= 128;
    if (b < 0x80) {
      if (b & 0x40) result -= mul;
      return [result, off];
    }
  }
  return corrupt(`${what} longer than 10 bytes at offset ${off - 10}`);
}

/** NUL-terminated string; at most `max` bytes are searched. */
export function cstring(buf: Buffer, off: number, what = 'string', max = 64 * 1024): string {
  check(buf, off, 0, what);
  const limit = Math.min(buf.length, off + max);
  const rel = buf.subarray(off, limit).indexOf(0);
  if (rel < 0) corrupt(`${what} at offset ${off} is not NUL-terminated`);
  return buf.toString('utf8', off, off + rel);
}
