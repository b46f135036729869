/**
 * Byte surgery on a serialized ExportTraceServiceRequest: find its spans (ids, end time, where
 * their bytes are), and append encoded fields to chosen spans, leaving every other byte as it
 * was — unknown fields, field order and non-canonical encodings included. Decoding and
 * re-encoding with protobufjs would drop unknown (newer) fields and re-canonicalize; appending
 * does neither.
 *
 * Appending is valid protobuf: a repeated field (Span.events) may occur anywhere in a message, and
 * a decoder appends its occurrences in order, so events added at the end of a span come after its
 * own. Only the length prefixes of the changed span and of its ScopeSpans and ResourceSpans are
 * rewritten (in minimal form); siblings are copied as they are.
 *
 * The request must be well-formed (the receiver's wire check, wire.ts): malformed bytes throw.
 */

import { ProtoCursor, WT_I64, WT_LEN } from './protoscan';

/** ExportTraceServiceRequest.resource_spans, ResourceSpans.scope_spans, ScopeSpans.spans. */
const PATH = [1, 2, 2] as const;
const SPAN_TRACE_ID = 1;
const SPAN_SPAN_ID = 2;
const SPAN_END_TIME = 8;
/** Span.events: field 11, length-delimited. */
export const SPAN_EVENTS_TAG = (11 << 3) | 2;


export class SpliceError extends Error {}

/** One span of a request, and where its message is. */
export interface SpanRef {
  /** Position among the request's spans, in order. */
  index: number;
  /** 32 lowercase hex digits ('' when absent). */
  traceId: string;
  /** 16 lowercase hex digits ('' when absent). */
  spanId: string;
  /** end_time_unix_nano (0n when absent). */
  endNs: bigint;
}

/** A length-delimited field on the path to the spans. */
interface Node {
  /** First byte of its tag. */
  fieldStart: number;
  /** First byte of its length prefix. */
  lenStart: number;
  contentStart: number;
  end: number;
  children: Node[];
  span?: SpanRef;
}

export interface SpanIndex {
  spans: SpanRef[];
  /** Children of the request: its resource_spans fields. */
  readonly top: Node[];
  readonly bytes: Uint8Array;
}

class Reader extends ProtoCursor {
  constructor(buf: Uint8Array, pos: number, end: number) {
    super(buf, pos, end, (m) => new SpliceError(m));
  }
}

function hex(buf: Uint8Array, start: number, end: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('hex');
}

/** The length-delimited fields numbered `fieldNo` in buf[start, end). */
function children(buf: Uint8Array, start: number, end: number, fieldNo: number): Node[] {
  const out: Node[] = [];
  const r = new Reader(buf, start, end);
  while (r.pos < end) {
    const fieldStart = r.pos;
    const tag = r.varint();
    const no = Math.floor(tag / 8);
    const wt = tag & 7;
    if (no !== fieldNo) {
      r.skipValue(wt, no);
      continue;
    }
    if (wt !== WT_LEN) r.fail(`field ${no} has wire type ${wt}, expected 2`);
    const lenStart = r.pos;
    const len = r.varint();
    const contentStart = r.pos;
    r.skip(len);
    out.push({ fieldStart, lenStart, contentStart, end: r.pos, children: [] });
  }
  return out;
}

/** Reads a Span's ids and end time (the last occurrence of each wins, as in any decoder). */
function readSpan(buf: Uint8Array, node: Node, index: number): SpanRef {
  const ref: SpanRef = { index, traceId: '', spanId: '', endNs: 0n };
  const r = new Reader(buf, node.contentStart, node.end);
  while (r.pos < node.end) {
    const tag = r.varint();
    const no = Math.floor(tag / 8);
    const wt = tag & 7;
    if ((no === SPAN_TRACE_ID || no === SPAN_SPAN_ID) && wt === WT_LEN) {
      const len = r.varint();
      const s = r.pos;
      r.skip(len);
      if (no === SPAN_TRACE_ID) ref.traceId = hex(buf, s, r.pos);
      else ref.spanId = hex(buf, s, r.pos);
    } else if (no === SPAN_END_TIME && wt === WT_I64) {
      const s = r.pos;
      r.skip(8);
      ref.endNs = Buffer.from(buf.buffer, buf.byteOffset + s, 8).readBigUInt64LE(0);
    } else {
      r.skipValue(wt, no);
    }
  }
  return ref;
}

/** Finds every span of a serialized ExportTraceServiceRequest; throws SpliceError when malformed. */
export function indexSpans(bytes: Uint8Array): SpanIndex {
  const spans: SpanRef[] = [];
  const walk = (nodes: Node[], depth: number): void => {
    for (const n of nodes) {
      if (depth === PATH.length - 1) {
        n.span = readSpan(bytes, n, spans.length);
        spans.push(n.span);
      } else {
        n.children = children(bytes, n.contentStart, n.end, PATH[depth + 1]);
        walk(n.children, depth + 1);
      }
    }
  };
  const top = children(bytes, 0, bytes.length, PATH[0]);
  walk(top, 0);
  return { spans, top, bytes };
}

function varintBytes(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}

/** One Span.events field (tag, length, the encoded Span.Event), ready to append. */
export function eventField(encodedEvent: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([SPAN_EVENTS_TAG]), varintBytes(encodedEvent.length), encodedEvent]);
}

/**
 * The request with `additions` (span index → bytes of whole fields, e.g. eventField()s) appended
 * to those spans. Everything else is copied byte for byte. With no additions, the same bytes.
 */
export function appendToSpans(index: SpanIndex, additions: ReadonlyMap<number, Uint8Array>): Buffer {
  const buf = index.bytes;
  const whole = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (!additions.size) return whole;
  for (const i of additions.keys()) if (!index.spans[i]) throw new SpliceError(`no span ${i} in the request`);
  const parts: Uint8Array[] = [];
  /** Appends the new content of `n` to parts; returns its length. */
  const content = (n: Node): number => {
    if (n.span) {
      const add = additions.get(n.span.index);
      parts.push(whole.subarray(n.contentStart, n.end));
      if (add) parts.push(add);
      return n.end - n.contentStart + (add?.length ?? 0);
    }
    return region(n.contentStart, n.end, n.children);
  };
  const dirty = (n: Node): boolean => (n.span ? additions.has(n.span.index) : n.children.some(dirty));
  /** buf[start, end) with the dirty ones among `kids` rewritten. */
  const region = (start: number, end: number, kids: Node[]): number => {
    let at = start;
    let len = 0;
    for (const k of kids) {
      if (!dirty(k)) continue;
      parts.push(whole.subarray(at, k.lenStart)); // everything before, and k's own tag
      len += k.lenStart - at;
      const lenSlot = parts.length;
      parts.push(Buffer.alloc(0));
      const n = content(k);
      const prefix = varintBytes(n);
      parts[lenSlot] = prefix;
      len += prefix.length + n;
      at = k.end;
    }
    parts.push(whole.subarray(at, end));
    return len + (end - at);
  };
  const total = region(0, buf.length, index.top);
  return Buffer.concat(parts, total);
}
