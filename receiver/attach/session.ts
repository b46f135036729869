/**
 * The BPF object's lifecycle for one tracer run: load with settings, attach probes, stream
 * records, read counters, detach. Knows the addon and the record framing; nothing about Go.
 */
import { loadNative, type BpfObject, type Native } from '../native';
import { bpfObjectPath } from '../util/paths';
import { UserError, errnoCode } from '../util/errors';
import { missingCapabilities, privilegeHint } from './capabilities';
import {
  DURATION_BUCKETS,
  FUNC_SLOTS,
  KeepKind,
  MAX_PLANS,
  MapOpCode,
  Stat,
  STACK_MAX,
  decodeCountKey,
  decodeKeyActivity,
  decodeKeyKey,
  decodeMapActivity,
  decodeMapKey,
  sumPerCpu,
  type CountKey,
  type MapActivity,
} from '../events/decode';
import type { OtelPlanOffsets } from './correlation';

export interface SessionSettings {
  captureKeys: boolean;
  /** In-kernel key filter: only deletes whose key hash is in this set are recorded. */
  keyHashes?: bigint[];
  stackDepth: number;
  ringBufferBytes: number;
  /** Wake the reader once this many bytes are queued (the rest is picked up on the poll timer). */
  wakeupBytes: number;
  /** Fraction of deletes recorded, decided in the kernel; 1 (or undefined) records all. */
  sampleRate?: number;
  /** false: counters only, nothing enters the ring buffer (default true). */
  events?: boolean;
  /** Exact counters for metrics and alert rules (bpf/counters.h). */
  counting?: {
    /** Per key hash too (key-grouped alert rules). */
    keys: boolean;
    /** Delete durations, with probes on RET instructions (~17 µs per delete). */
    timing: boolean;
    /** Sampling never leaves out a clear. */
    keepClears: boolean;
  };
}

export interface KernelCounters {
  hits: bigint;
  emitted: bigint;
  lost: bigint;
  filtered: bigint;
  unsampled: bigint;
  /** Span tracking: span starts and ends seen, goroutines that inherited spans. */
  spanStarts: bigint;
  spanEnds: bigint;
  inherits: bigint;
  /** Records that carry an active span. */
  correlated: bigint;
  /** Spans pushed onto a full per-goroutine stack (the outermost was dropped). */
  spanOverflow: bigint;
  /** Deletes not counted by label because the counts table was full. */
  counterFull: bigint;
}

export interface ProbeRequest {
  /** Path the kernel resolves to the binary's inode (e.g. /proc/PID/exe). */
  path: string;
  fileOffset: number;
  /** -1: every process running this binary, now and later. */
  pid: number;
  cookie: bigint;
  /** The BPF program: the delete probe unless said otherwise. */
  program?: 'mdt_delete' | 'mdt_delete_ret' | 'mdt_span_start' | 'mdt_span_end' | 'mdt_goroutine_created';
}

const u8 = (v: number) => Buffer.from([v & 0xff]);
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const u64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};

/** struct mdt_otel_plan (bpf/mdt_event.h; test/unit/layout.test.ts checks the offsets). */
export const OTEL_PLAN_SIZE = 16;
export function encodeOtelPlan(o: OtelPlanOffsets): Buffer {
  const b = Buffer.alloc(OTEL_PLAN_SIZE);
  const fields = [o.traceIdOff, o.spanIdOff, o.flagsOff, o.endTimeOff, o.goidOff, o.parentGoidOff];
  fields.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new Error(`span-tracking offset ${v} does not fit 16 bits`);
    b.writeUInt16LE(v, 2 * i);
  });
  b.writeUInt32LE(1, 12); // enabled
  return b;
}

function roundToPowerOfTwo(n: number): number {
  let p = 4096;
  while (p < n) p *= 2;
  return p;
}

export class BpfSession {
  private constructor(
    readonly native: Native,
    private readonly obj: BpfObject,
  ) {}

  static open(settings: SessionSettings): BpfSession {
    let native: Native;
    try {
      native = loadNative();
    } catch (err) {
      throw new UserError((err as Error).message);
    }
    const missing = missingCapabilities();
    if (missing.length) throw new UserError(privilegeHint(missing), 77);
    let obj: BpfObject;
    try {
      obj = native.open(bpfObjectPath());
    } catch (err) {
      throw new UserError(`cannot open the BPF object ${bpfObjectPath()}: ${(err as Error).message} (run \`npm run build\`)`);
    }
    try {
      obj.setConst('capture_keys', u8(settings.captureKeys ? 1 : 0));
      obj.setConst('key_filter_on', u8(settings.keyHashes ? 1 : 0));
      obj.setConst('stack_depth', u32(Math.max(1, Math.min(STACK_MAX, settings.stackDepth))));
      obj.setConst('wakeup_bytes', u64(BigInt(settings.wakeupBytes)));
      const rate = settings.sampleRate ?? 1;
      if (rate < 1) {
        obj.setConst('sampling_on', u8(1));
        obj.setConst('sample_threshold', u32(Math.max(1, Math.floor(rate * 2 ** 32))));
      }
      if (settings.counting) {
        obj.setConst('counting_on', u8(1));
        obj.setConst('key_counting_on', u8(settings.counting.keys ? 1 : 0));
        obj.setConst('timing_on', u8(settings.counting.timing ? 1 : 0));
        obj.setConst('keep_clears', u8(settings.counting.keepClears ? 1 : 0));
      }
      if (settings.events === false) obj.setConst('events_on', u8(0));
      obj.setMapMaxEntries('events', roundToPowerOfTwo(settings.ringBufferBytes));
      obj.load();
    } catch (err) {
      obj.close();
      if (errnoCode(err) === 'EPERM') throw new UserError(privilegeHint([]), 77);
      throw err;
    }
    const session = new BpfSession(native, obj);
    for (const h of settings.keyHashes ?? []) obj.mapUpdate('key_filter', u64(h), u8(1));
    return session;
  }

  /** Attaches one probe; returns its link id. Errors keep the addon's errno `code`. */
  attach(req: ProbeRequest): number {
    return this.obj.attachUprobe(req.program ?? 'mdt_delete', req.path, req.fileOffset, req.pid, req.cookie);
  }

  /** Enables span tracking for a plan: where its span probes find ids, endTime and goids. */
  setOtelPlan(planId: number, o: OtelPlanOffsets): void {
    this.obj.mapUpdate('otel_plans', u32(planId), encodeOtelPlan(o));
  }

  /** Where a plan's probe for a function sits (link-time): lets the kernel compute load biases. */
  setProbeVaddr(planId: number, funcId: number, vaddr: number): void {
    if (planId >= MAX_PLANS || funcId >= FUNC_SLOTS) return; // keep-filters by address then do not apply
    this.obj.mapUpdate('probe_vaddrs', u32(planId * FUNC_SLOTS + funcId), u64(BigInt(vaddr)));
  }

  /** Deletes of this key hash are recorded even when sampling leaves them out. */
  keepKeyHash(hash: bigint): void {
    this.obj.mapUpdate('keep_keys', u64(hash), u8(1));
  }

  /** Deletes on this map type / from this call site (link-time address) are always recorded. */
  keepAddress(planId: number, kind: KeepKind, linkAddr: number): void {
    const key = Buffer.alloc(16);
    key.writeUInt32LE(planId, 0);
    key.writeUInt32LE(kind, 4);
    key.writeBigUInt64LE(BigInt(linkAddr), 8);
    this.obj.mapUpdate('keep_addrs', key, u8(1));
  }

  detach(linkId: number): void {
    this.obj.detach(linkId);
  }

  linkCount(): number {
    return this.obj.linkCount();
  }

  start(onBatch: (batch: Buffer, records: number) => void): void {
    this.obj.startRingBuffer('events', onBatch, { pollTimeoutMs: 50, maxBatchBytes: 1 << 20 });
  }

  /** Delivers every record still queued, then stops reading. */
  async drain(): Promise<void> {
    await this.obj.stopRingBuffer();
  }

  counters(): KernelCounters {
    const read = (i: Stat) => {
      const v = this.obj.mapLookup('stats', u32(i));
      return v ? sumPerCpu(v) : 0n;
    };
    return {
      hits: read(Stat.Hits),
      emitted: read(Stat.Emitted),
      lost: read(Stat.Lost),
      filtered: read(Stat.Filtered),
      unsampled: read(Stat.Unsampled),
      spanStarts: read(Stat.SpanStarts),
      spanEnds: read(Stat.SpanEnds),
      inherits: read(Stat.Inherits),
      correlated: read(Stat.Correlated),
      spanOverflow: read(Stat.SpanOverflow),
      counterFull: read(Stat.CounterFull),
    };
  }

  /** Every row of the exact counts table (bpf/counters.h), summed over CPUs. */
  readCounts(): { key: CountKey; raw: Buffer; count: bigint }[] {
    const out: { key: CountKey; raw: Buffer; count: bigint }[] = [];
    for (const k of this.obj.mapKeys('counts')) {
      const v = this.obj.mapLookup('counts', k);
      if (v) out.push({ key: decodeCountKey(k), raw: k, count: sumPerCpu(v) });
    }
    return out;
  }

  /** Forgets rows (of processes that exited, once their final values are kept in user space). */
  deleteCounts(raw: Buffer[]): void {
    for (const k of raw) this.obj.mapDelete('counts', k);
  }

  readMapActivity(): { pid: number; mapAddr: number; raw: Buffer; a: MapActivity }[] {
    const out: { pid: number; mapAddr: number; raw: Buffer; a: MapActivity }[] = [];
    for (const k of this.obj.mapKeys('map_activity')) {
      const v = this.obj.mapLookup('map_activity', k);
      if (v) out.push({ ...decodeMapKey(k), raw: k, a: decodeMapActivity(v) });
    }
    return out;
  }

  readKeyActivity(): { pid: number; planId: number; keyHash: bigint; raw: Buffer; deletes: bigint; mapType: number }[] {
    const out: { pid: number; planId: number; keyHash: bigint; raw: Buffer; deletes: bigint; mapType: number }[] = [];
    for (const k of this.obj.mapKeys('key_activity')) {
      const v = this.obj.mapLookup('key_activity', k);
      if (v) out.push({ ...decodeKeyKey(k), raw: k, ...decodeKeyActivity(v) });
    }
    return out;
  }

  deleteActivity(map: 'map_activity' | 'key_activity', raw: Buffer[]): void {
    for (const k of raw) this.obj.mapDelete(map, k);
  }

  /** Timing mode: per op, counts per log2(ns) bucket and the sum of ns. */
  readDurations(): { op: MapOpCode; buckets: bigint[]; sumNs: bigint }[] {
    const read = (i: number) => {
      const v = this.obj.mapLookup('durations', u32(i));
      return v ? sumPerCpu(v) : 0n;
    };
    return [MapOpCode.Delete, MapOpCode.Clear].map((op) => ({
      op,
      buckets: Array.from({ length: DURATION_BUCKETS }, (_, b) => read(op * DURATION_BUCKETS + b)),
      sumNs: read(2 * DURATION_BUCKETS + op),
    }));
  }

  /** Bytes waiting in the ring buffer when the latest record was queued (counting mode only). */
  ringBufferLevel(): number {
    const v = this.obj.mapLookup('rb_level', u32(0));
    return v ? Number(v.readBigUInt64LE(0)) : 0;
  }

  ringBufferBytes(): number {
    return this.obj.mapInfo('events').maxEntries;
  }

  /** Removes every probe (the maps stay readable until close()): nothing new enters the ring buffer. */
  detachProbes(): void {
    this.obj.detachAll();
  }

  close(): void {
    this.obj.close();
  }
}
