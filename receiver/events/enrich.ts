/**
 * RawDelete (runtime addresses, bytes) → DeleteEvent (names, lines, formatted key). All the
 * Go knowledge comes from GoBinary; this module only decides which frame is "the caller" and
 * how values are shown.
 *
 * Runs once per record, so what repeats is made once and shared: an event's stack, caller
 * (events/stacks.ts), process info and notes are frozen objects that many events point to; the
 * per-event parts (times, ids, map, key, span) are fresh.
 */
import type { GoBinary, GoTypeInfo } from '../golang/binary';
import { ArgKindCode, Flag, SpanState, type RawDelete } from './decode';
import { functionName } from '../attach/functions';
import { StackCache } from './stacks';
import type { DeleteEvent } from './types';

/** What enrichment needs to know about the process a record came from. */
export interface ProcessView {
  binary: GoBinary;
  /** runtime address − link-time address (PIE slide; 0 otherwise). */
  bias: number;
  /** The executable as the user knows it. */
  executable: string;
  /** OTEL_SERVICE_NAME from the process's environment. */
  serviceName?: string;
}

// Go kinds (internal/abi): integers are shown in decimal, strings as text, the rest as hex.
const SIGNED_KINDS = new Set([2, 3, 4, 5, 6]); // int, int8..int64
const UNSIGNED_KINDS = new Set([7, 8, 9, 10, 11, 12]); // uint, uint8..uint64, uintptr
const KIND_STRING = 24;

export function formatKeyValue(bytes: Buffer, key: GoTypeInfo | undefined, isString: boolean): string {
  if (isString || key?.kind === KIND_STRING) return bytes.toString('utf8');
  const kind = key ? key.kind & 0x1f : 0;
  if ((SIGNED_KINDS.has(kind) || UNSIGNED_KINDS.has(kind)) && (bytes.length === 8 || bytes.length === 4 || bytes.length === 2 || bytes.length === 1)) {
    const signed = SIGNED_KINDS.has(kind);
    switch (bytes.length) {
      case 8:
        return (signed ? bytes.readBigInt64LE(0) : bytes.readBigUInt64LE(0)).toString();
      case 4:
        return String(signed ? bytes.readInt32LE(0) : bytes.readUInt32LE(0));
      case 2:
        return String(signed ? bytes.readInt16LE(0) : bytes.readUInt16LE(0));
      default:
        return String(signed ? bytes.readInt8(0) : bytes.readUInt8(0));
    }
  }
  return bytes.toString('hex');
}

const hex = (n: number) => '0x' + n.toString(16);

/** Record flags → the event's notes; eight shared, frozen objects instead of one per event. */
const NOTES: readonly DeleteEvent['notes'][] = Array.from({ length: 8 }, (_, i) =>
  Object.freeze({ stackTruncated: (i & 1) !== 0, keyTruncated: (i & 2) !== 0, goidUnknown: (i & 4) !== 0 }),
);

function notesOf(flags: number): DeleteEvent['notes'] {
  return NOTES[(flags & Flag.StackTruncated ? 1 : 0) | (flags & Flag.KeyTruncated ? 2 : 0) | (flags & Flag.GoidUnreadable ? 4 : 0)];
}

export class Enricher {
  /** Symbolized stacks and their callers, shared by every event with the same stack. */
  private readonly stacks = new StackCache();
  /** The last map address formatted, and its text: a process deletes from the same map in runs. */
  private lastMapAddr = -1;
  private lastMapAddrHex = '';
  /** The process info of the last view, shared (frozen) by its events. */
  private lastView?: ProcessView;
  private lastProcess?: DeleteEvent['process'];

  constructor(private readonly clockOffsetNs: bigint) {}

  private processOf(view: ProcessView): DeleteEvent['process'] {
    const p = this.lastProcess;
    if (view === this.lastView && p && p.executable === view.executable && p.goVersion === view.binary.goVersion && p.serviceName === view.serviceName) return p;
    this.lastView = view;
    return (this.lastProcess = Object.freeze({ executable: view.executable, goVersion: view.binary.goVersion, serviceName: view.serviceName }));
  }

  private mapAddrHex(addr: number): string {
    if (addr !== this.lastMapAddr) {
      this.lastMapAddr = addr;
      this.lastMapAddrHex = hex(addr);
    }
    return this.lastMapAddrHex;
  }

  enrich(raw: RawDelete, view: ProcessView): DeleteEvent {
    const op = raw.argKind === ArgKindCode.Clear ? 'clear' : 'delete';
    const fn = functionName(raw.funcId);

    const cached = this.stacks.lookup(view.binary, view.bias, raw.stack);
    const stack = cached.frames;
    // The delete statement is the first frame; through reflect it is the first frame past
    // runtime/reflect machinery.
    const caller = fn.startsWith('reflect.') || (stack.length > 0 && stack[0].function.startsWith('reflect.')) ? cached.reflective : cached.direct;

    const mapType = raw.mapType ? view.binary.mapType(raw.mapType - view.bias) : undefined;
    const typeName = mapType?.name ?? (raw.mapType ? `unknown type at ${hex(raw.mapType)}` : '?');

    let len: number | null = null;
    if (op === 'clear' || raw.mapLenBefore === 0 || raw.flags & Flag.NilMap) len = 0;

    let key: DeleteEvent['key'] = null;
    if (op === 'delete') {
      key = {
        type: mapType?.key.name ?? (raw.flags & Flag.KeyString ? 'string' : '?'),
        hash: raw.keyHash,
      };
      if (raw.key) key.value = formatKeyValue(raw.key, mapType?.key, (raw.flags & Flag.KeyString) !== 0);
    }

    return {
      timeNs: raw.tsNs + this.clockOffsetNs,
      pid: raw.pid,
      tid: raw.tid,
      goid: raw.goid,
      op,
      function: fn,
      map: { addr: this.mapAddrHex(raw.mapAddr), type: typeName, len, lenBefore: raw.flags & Flag.NilMap ? 0 : raw.mapLenBefore < 0 ? null : raw.mapLenBefore },
      key,
      caller,
      stack,
      process: this.processOf(view),
      span:
        raw.spanState === SpanState.None
          ? null
          : { traceId: raw.traceId, spanId: raw.spanId, sampled: (raw.spanFlags & 1) === 1, inherited: raw.spanState === SpanState.Inherited },
      notes: notesOf(raw.flags),
    };
  }
}
