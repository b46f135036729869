/**
 * The key hash the kernel computes (bpf/map_delete.bpf.c, fnv1a): FNV-1a 64 over the key's
 * bytes — a string's UTF-8 bytes, an integer's little-endian bytes, anything else the bytes
 * of the key as they sit in memory. Keys longer than KEY_MAX bytes hash their first KEY_MAX
 * bytes followed by their full length as 8 little-endian bytes. Stable across runs, processes
 * and versions of this tool, so a hash found in one place can be searched for in another.
 */
import { KEY_MAX } from './decode';

const OFFSET = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

export function fnv1a64(bytes: Uint8Array): bigint {
  let h = OFFSET;
  const n = Math.min(bytes.length, KEY_MAX);
  for (let i = 0; i < n; i++) {
    h ^= BigInt(bytes[i]);
    h = (h * PRIME) & MASK;
  }
  if (bytes.length > KEY_MAX) {
    let len = BigInt(bytes.length);
    for (let i = 0; i < 8; i++) {
      h ^= len & 0xffn;
      h = (h * PRIME) & MASK;
      len >>= 8n;
    }
  }
  return h;
}

export function hashHex(h: bigint): string {
  return h.toString(16).padStart(16, '0');
}

export type KeyKind = 'string' | 'int64' | 'uint64' | 'int32' | 'uint32' | 'hex';
export const KEY_KINDS: readonly KeyKind[] = ['string', 'int64', 'uint64', 'int32', 'uint32', 'hex'];

export class KeyValueError extends Error {}

/** The bytes a key of the given kind has in memory, as the kernel hashes them. */
export function keyBytes(kind: KeyKind, value: string): Buffer {
  const intBytes = (size: 4 | 8, signed: boolean): Buffer => {
    if (!/^[-+]?\d+$/.test(value.trim())) {
      throw new KeyValueError(`"${value}" is not an integer; pass a decimal number for --type ${kind}`);
    }
    const v = BigInt(value.trim());
    const bits = BigInt(size * 8);
    const min = signed ? -(1n << (bits - 1n)) : 0n;
    const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
    if (v < min || v > max) throw new KeyValueError(`${value} does not fit in ${kind}`);
    const b = Buffer.alloc(size);
    if (size === 8) signed ? b.writeBigInt64LE(v) : b.writeBigUInt64LE(v);
    else signed ? b.writeInt32LE(Number(v)) : b.writeUInt32LE(Number(v));
    return b;
  };
  switch (kind) {
    case 'string':
      return Buffer.from(value, 'utf8');
    case 'int64':
      return intBytes(8, true);
    case 'uint64':
      return intBytes(8, false);
    case 'int32':
      return intBytes(4, true);
    case 'uint32':
      return intBytes(4, false);
    case 'hex': {
      const clean = value.replace(/^0x/i, '');
      if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
        throw new KeyValueError(`"${value}" is not hex bytes; pass an even number of hex digits`);
      }
      return Buffer.from(clean, 'hex');
    }
  }
}

export function hashKey(kind: KeyKind, value: string): bigint {
  return fnv1a64(keyBytes(kind, value));
}

/**
 * Every hash a `--key VALUE` could mean: the value as a string, and, when it is an integer,
 * as each integer width that holds it. The kernel keeps a delete when its hash is in this set.
 */
export function hashesForKeyFilter(value: string): bigint[] {
  const out = new Set<bigint>([hashKey('string', value)]);
  for (const kind of ['int64', 'uint64', 'int32', 'uint32'] as const) {
    try {
      out.add(hashKey(kind, value));
    } catch {
      // not representable in this width
    }
  }
  return [...out];
}
