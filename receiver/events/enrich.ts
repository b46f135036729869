/**
 * RawDelete (runtime addresses, bytes) → DeleteEvent (names, lines, formatted key). All the
 * Go knowledge comes from GoBinary; this module only decides which frame is "the caller" and
 * how values are shown.
 */
import type { GoBinary, GoTypeInfo, SourceFrame } from '../golang/binary';
import { ArgKindCode, Flag, SpanState, type RawDelete } from './decode';
import { functionName } from '../attach/functions';
import { hashHex } from './keyhash';
import type { DeleteEvent, SourceLocation, StackFrame } from './types';

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

const UNKNOWN_FRAME: SourceLocation = { function: '?', file: '?', line: 0 };

// Go kinds (internal/abi): integers are shown in decimal, strings as text, the rest as hex.
const SIGNED_KINDS = new Set([2, 3, 4, 5, 6]); // int, int8..int64
const UNSIGNED_KINDS = new Set([7, 8, 9, 10, 11, 12]); // uint, uint8..uint64, uintptr
const KIND_STRING = 24;

/** Frames of the runtime's and reflect's own machinery, skipped to find a reflective caller. */
function isMachinery(fn: string): boolean {
  return (
    fn.startsWith('runtime.') ||
    fn.startsWith('reflect.') ||
    fn.startsWith('internal/runtime/') ||
    fn.startsWith('internal/reflectlite.')
  );
}

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

export class Enricher {
  /** Symbolized return addresses, per binary: the same call sites repeat endlessly. */
  private readonly frameCache = new WeakMap<GoBinary, Map<number, SourceFrame[]>>();

  constructor(private readonly clockOffsetNs: bigint) {}

  private framesFor(view: ProcessView, retAddr: number): SourceFrame[] {
    let cache = this.frameCache.get(view.binary);
    if (!cache) this.frameCache.set(view.binary, (cache = new Map()));
    const link = retAddr - view.bias;
    let frames = cache.get(link);
    if (!frames) {
      try {
        frames = view.binary.symbolizeReturn(link);
      } catch {
        frames = [];
      }
      if (cache.size > 200_000) cache.clear();
      cache.set(link, frames);
    }
    return frames;
  }

  enrich(raw: RawDelete, view: ProcessView): DeleteEvent {
    const op = raw.argKind === ArgKindCode.Clear ? 'clear' : 'delete';
    const fn = functionName(raw.funcId);

    const stack: StackFrame[] = [];
    for (const ret of raw.stack) {
      const frames = this.framesFor(view, ret);
      const pc = hex(ret);
      if (frames.length === 0) stack.push({ ...UNKNOWN_FRAME, pc });
      for (const f of frames) stack.push({ function: f.function, file: f.file, line: f.line, pc });
    }

    // The delete statement is the first frame; through reflect it is the first frame past
    // runtime/reflect machinery.
    let caller: SourceLocation = stack[0] ?? UNKNOWN_FRAME;
    if (fn.startsWith('reflect.') || (stack[0] && stack[0].function.startsWith('reflect.'))) {
      caller = stack.find((f) => !isMachinery(f.function)) ?? caller;
    }

    const mapType = raw.mapType ? view.binary.mapType(raw.mapType - view.bias) : undefined;
    const typeName = mapType?.name ?? (raw.mapType ? `unknown type at ${hex(raw.mapType)}` : '?');

    let len: number | null = null;
    if (op === 'clear' || raw.mapLenBefore === 0 || raw.flags & Flag.NilMap) len = 0;

    let key: DeleteEvent['key'] = null;
    if (op === 'delete') {
      key = {
        type: mapType?.key.name ?? (raw.flags & Flag.KeyString ? 'string' : '?'),
        hash: hashHex(raw.keyHash),
      };
      if (raw.key) key.value = formatKeyValue(raw.key, mapType?.key, (raw.flags & Flag.KeyString) !== 0);
    }

    return {
      timeNs: raw.tsNs + this.clockOffsetNs,
      pid: raw.pid,
      tid: raw.tid,
      goid: raw.goid.toString(),
      op,
      function: fn,
      map: { addr: hex(raw.mapAddr), type: typeName, len, lenBefore: raw.flags & Flag.NilMap ? 0 : raw.mapLenBefore < 0 ? null : raw.mapLenBefore },
      key,
      caller: { function: caller.function, file: caller.file, line: caller.line },
      stack,
      process: { executable: view.executable, goVersion: view.binary.goVersion, serviceName: view.serviceName },
      span:
        raw.spanState === SpanState.None
          ? null
          : { traceId: raw.traceId, spanId: raw.spanId, sampled: (raw.spanFlags & 1) === 1, inherited: raw.spanState === SpanState.Inherited },
      notes: {
        stackTruncated: (raw.flags & Flag.StackTruncated) !== 0,
        keyTruncated: (raw.flags & Flag.KeyTruncated) !== 0,
        goidUnknown: (raw.flags & Flag.GoidUnreadable) !== 0,
      },
    };
  }
}
