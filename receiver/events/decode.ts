/**
 * The one TypeScript reader of `struct mdt_event` (bpf/mdt_event.h). Offsets here must match
 * that header; test/unit/layout.test.ts compiles the header with the C compiler and checks them.
 */

import { i64Number, u64Decimal, u64Hex16, u64Number } from './u64';

export const KEY_MAX = 128;
export const STACK_MAX = 32;
export const RECORD_SIZE = 496;

export const OFF = {
  tsNs: 0,
  pid: 8,
  tid: 12,
  goid: 16,
  mapAddr: 24,
  mapType: 32,
  keyHash: 40,
  mapLen: 48,
  probeIp: 56,
  keyLen: 64,
  flags: 68,
  funcId: 70,
  argKind: 71,
  stackLen: 72,
  keyBytes: 74,
  planId: 76,
  traceId: 80,
  spanId: 96,
  spanState: 104,
  spanFlags: 105,
  stack: 112,
  key: 368,
} as const;

export enum ArgKindCode {
  KeyPtr = 1,
  Key32 = 2,
  Key64 = 3,
  KeyStr = 4,
  Clear = 5,
}

export const Flag = {
  NilMap: 1 << 0,
  LenUnknown: 1 << 1,
  KeyString: 1 << 2,
  KeyTruncated: 1 << 3,
  KeyUnreadable: 1 << 4,
  StackTruncated: 1 << 5,
  GoidUnreadable: 1 << 6,
  KeyCaptured: 1 << 7,
} as const;

export enum Stat {
  Hits = 0,
  Emitted = 1,
  Lost = 2,
  Filtered = 3,
  Unsampled = 4,
  SpanStarts = 5,
  SpanEnds = 6,
  Inherits = 7,
  Correlated = 8,
  SpanOverflow = 9,
  CounterFull = 10,
}
export const STAT_COUNT = 11;

/**
 * The counter tables of bpf/counters.h (layouts in bpf/mdt_event.h; layout.test.ts checks them).
 * Keys and values as the kernel stores them.
 */
export const COUNT_KEY_SIZE = 24;
export const MAP_KEY_SIZE = 16;
export const MAP_ACTIVITY_SIZE = 56;
export const KEY_KEY_SIZE = 16;
export const KEY_ACTIVITY_SIZE = 16;
export const DURATION_BUCKETS = 40;

export enum MapOpCode {
  Delete = 0,
  Clear = 1,
}

export interface CountKey {
  pid: number;
  planId: number;
  op: MapOpCode;
  funcId: number;
  /** Link-time addresses (0: unknown). */
  mapType: number;
  caller: number;
}

export function decodeCountKey(b: Buffer): CountKey {
  return { pid: b.readUInt32LE(0), planId: b.readUInt16LE(4), op: b.readUInt8(6), funcId: b.readUInt8(7), mapType: u64Number(b, 8), caller: u64Number(b, 16) };
}

export interface MapActivity {
  deletes: bigint;
  clears: bigint;
  /** Link-time address of the type descriptor (0: unknown). */
  mapType: number;
  lastLen: number;
  maxClearLen: number;
  lastSeen: bigint;
  planId: number;
}

export function decodeMapActivity(b: Buffer): MapActivity {
  return {
    deletes: b.readBigUInt64LE(0),
    clears: b.readBigUInt64LE(8),
    mapType: u64Number(b, 16),
    lastLen: Number(b.readBigInt64LE(24)),
    maxClearLen: Number(b.readBigInt64LE(32)),
    lastSeen: b.readBigUInt64LE(40),
    planId: b.readUInt32LE(48),
  };
}

export function decodeMapKey(b: Buffer): { pid: number; mapAddr: number } {
  return { pid: b.readUInt32LE(0), mapAddr: u64Number(b, 8) };
}

export function decodeKeyKey(b: Buffer): { pid: number; planId: number; keyHash: bigint } {
  return { pid: b.readUInt32LE(0), planId: b.readUInt32LE(4), keyHash: b.readBigUInt64LE(8) };
}

export function decodeKeyActivity(b: Buffer): { deletes: bigint; mapType: number } {
  return { deletes: b.readBigUInt64LE(0), mapType: u64Number(b, 8) };
}

/** enum mdt_span_state */
export enum SpanState {
  None = 0,
  Own = 1,
  Inherited = 2,
}

/** enum mdt_newg_reg: where a goroutine-created probe finds the new g. */
export enum NewgReg {
  Rbx = 1,
  Rax = 2,
}
export const FUNC_SLOTS = 16;
export const MAX_PLANS = 256;
export enum KeepKind {
  MapType = 1,
  Caller = 2,
}

/** A record as the kernel wrote it; addresses are runtime addresses in the target process. */
export interface RawDelete {
  tsNs: bigint;
  pid: number;
  tid: number;
  /** In decimal, as shown (exact for every u64). */
  goid: string;
  mapAddr: number;
  mapType: number;
  /** FNV-1a 64 of the key, as shown: 16 lowercase hex digits (keyhash.ts hashHex). */
  keyHash: string;
  /** Element count when the probe fired, before the operation; -1 when unreadable. */
  mapLenBefore: number;
  /** Runtime address where the probe fired (the probed instruction, or one past it). */
  probeIp: number;
  /** Index of the attach plan (binary) whose probe fired. */
  planId: number;
  keyLen: number;
  flags: number;
  funcId: number;
  argKind: ArgKindCode;
  /** Return addresses, innermost first; stack[0] is the direct caller. */
  stack: number[];
  /** Captured key bytes (a copy), or undefined when capture is off. */
  key?: Buffer;
  spanState: SpanState;
  /** Hex ids of the active span; "" when spanState is None. */
  traceId: string;
  spanId: string;
  /** The span's W3C trace flags. */
  spanFlags: number;
}

/** Decodes one record starting at `off` in `buf`. */
export function decodeRecord(buf: Buffer, off = 0): RawDelete {
  if (buf.length - off < RECORD_SIZE) {
    throw new Error(`truncated record: ${buf.length - off} bytes, expected ${RECORD_SIZE}`);
  }
  const flags = buf.readUInt16LE(off + OFF.flags);
  const stackLen = Math.min(buf.readUInt16LE(off + OFF.stackLen), STACK_MAX);
  const stack = new Array<number>(stackLen);
  for (let i = 0; i < stackLen; i++) stack[i] = u64Number(buf, off + OFF.stack + 8 * i);
  const keyBytes = Math.min(buf.readUInt16LE(off + OFF.keyBytes), KEY_MAX);
  const spanState = buf.readUInt8(off + OFF.spanState) as SpanState;
  const hasSpan = spanState === SpanState.Own || spanState === SpanState.Inherited;
  return {
    tsNs: buf.readBigUInt64LE(off + OFF.tsNs),
    pid: buf.readUInt32LE(off + OFF.pid),
    tid: buf.readUInt32LE(off + OFF.tid),
    goid: u64Decimal(buf, off + OFF.goid),
    mapAddr: u64Number(buf, off + OFF.mapAddr),
    mapType: u64Number(buf, off + OFF.mapType),
    keyHash: u64Hex16(buf, off + OFF.keyHash),
    mapLenBefore: i64Number(buf, off + OFF.mapLen),
    probeIp: u64Number(buf, off + OFF.probeIp),
    planId: buf.readUInt32LE(off + OFF.planId),
    keyLen: buf.readUInt32LE(off + OFF.keyLen),
    flags,
    funcId: buf.readUInt8(off + OFF.funcId),
    argKind: buf.readUInt8(off + OFF.argKind) as ArgKindCode,
    stack,
    key:
      flags & Flag.KeyCaptured
        ? Buffer.from(buf.subarray(off + OFF.key, off + OFF.key + keyBytes))
        : undefined,
    spanState: hasSpan ? spanState : SpanState.None,
    traceId: hasSpan ? buf.toString('hex', off + OFF.traceId, off + OFF.traceId + 16) : '',
    spanId: hasSpan ? buf.toString('hex', off + OFF.spanId, off + OFF.spanId + 8) : '',
    spanFlags: hasSpan ? buf.readUInt8(off + OFF.spanFlags) : 0,
  };
}

/**
 * Walks a batch from the addon: records framed as [u32 LE length][record][zero padding to a
 * multiple of 8]. Calls `fn` with the batch and each record's offset: no copies. A malformed
 * batch is an addon bug and throws.
 */
export function forEachRecord(batch: Buffer, fn: (buf: Buffer, off: number) => void): number {
  let off = 0;
  let n = 0;
  while (off < batch.length) {
    if (off + 4 > batch.length) throw new Error(`ring-buffer batch truncated at byte ${off}`);
    const len = batch.readUInt32LE(off);
    const start = off + 4;
    if (start + len > batch.length) throw new Error(`ring-buffer batch: record ${n} (${len} bytes) runs past the end`);
    if (len >= RECORD_SIZE) fn(batch, start);
    n++;
    off = (start + len + 7) & ~7;
  }
  return n;
}

/** Sums a per-CPU u64 value buffer (numCpus × 8 bytes) as the kernel hands it back. */
export function sumPerCpu(buf: Buffer): bigint {
  let total = 0n;
  for (let off = 0; off + 8 <= buf.length; off += 8) total += buf.readBigUInt64LE(off);
  return total;
}
