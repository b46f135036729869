/**
 * `watch --format json`: one object per line, in exactly the documented field order and shape.
 *
 * toJsonObject() is that shape. formatJson() writes the same bytes as JSON.stringify of it, but
 * builds the line by hand: at 100 000s of events a second, stringifying a fresh nested object per
 * event was the receiver's largest cost. Every value goes through the escaping JSON.stringify
 * applies (jsonString, jsonNumber), and what repeats is formatted once: a stack or caller that
 * the enricher shares between events (frozen, events/stacks.ts) keeps its JSON text here.
 */
import type { DeleteEvent, KeyInfo, MapInfo, SourceLocation, StackFrame } from '../events/types';
import type { LineBuffer } from './lines';
import { rfc3339Nano } from './time';

export function toJsonObject(e: DeleteEvent): Record<string, unknown> {
  return {
    time: rfc3339Nano(e.timeNs),
    pid: e.pid,
    tid: e.tid,
    goid: Number(e.goid),
    op: e.op,
    function: e.function,
    map: { addr: e.map.addr, type: e.map.type, len: e.map.len },
    key: e.key === null ? null : e.key.value === undefined ? { type: e.key.type, hash: e.key.hash } : { type: e.key.type, hash: e.key.hash, value: e.key.value },
    caller: { function: e.caller.function, file: e.caller.file, line: e.caller.line },
    stack: e.stack.map((f) => ({ function: f.function, file: f.file, line: f.line, pc: f.pc })),
    trace_id: e.span?.traceId ?? null,
    span_id: e.span?.spanId ?? null,
  };
}

export function formatJson(e: DeleteEvent): string {
  return jsonHead(e) + stackJson(e.stack) + jsonTail(e);
}

/** formatJson(e) and "\n", appended to `out` (the stack's text copied as ready-made bytes when shared). */
export function appendJsonLine(e: DeleteEvent, out: LineBuffer): void {
  out.appendString(jsonHead(e));
  const bytes = sharedStackBytes(e.stack);
  if (bytes) out.appendBytes(bytes);
  else out.appendString(stackJson(e.stack));
  out.appendString(jsonTail(e));
  out.endLine();
}

/** Everything before the stack's value. */
function jsonHead(e: DeleteEvent): string {
  return (
    '{"time":"' +
    rfc3339Nano(e.timeNs) + // digits and -:.TZ only: nothing to escape
    '","pid":' +
    jsonNumber(e.pid) +
    ',"tid":' +
    jsonNumber(e.tid) +
    ',"goid":' +
    jsonNumber(Number(e.goid)) +
    ',"op":' +
    jsonString(e.op) +
    ',"function":' +
    jsonString(e.function) +
    ',"map":' +
    mapJson(e.map) +
    ',"key":' +
    keyJson(e.key) +
    ',"caller":' +
    callerJson(e.caller) +
    ',"stack":'
  );
}

/** Everything after the stack's value. */
function jsonTail(e: DeleteEvent): string {
  const span = e.span;
  return (
    ',"trace_id":' +
    (span?.traceId == null ? 'null' : jsonString(span.traceId)) +
    ',"span_id":' +
    (span?.spanId == null ? 'null' : jsonString(span.spanId)) +
    '}'
  );
}

/** JSON.stringify(s) for a string: the common case (nothing to escape) without calling it. */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Control characters, quote and backslash are escaped; surrogates may be (lone ones are).
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

/** JSON.stringify(n) for a number: non-finite numbers are null. */
export function jsonNumber(n: number | null): string {
  return n !== null && Number.isFinite(n) ? String(n) : 'null';
}

/** The JSON text of frozen objects (and, made when first asked for, its UTF-8 bytes): they cannot change. */
interface Fragment {
  text: string;
  bytes?: Buffer;
}
const fragments = new WeakMap<object, Fragment>();

function fragment<T extends object>(o: T, make: (o: T) => string, deepFrozen: (o: T) => boolean): Fragment | undefined {
  if (!Object.isFrozen(o)) return undefined;
  let f = fragments.get(o);
  if (f === undefined && deepFrozen(o)) fragments.set(o, (f = { text: make(o) }));
  return f;
}

function locationJson(f: SourceLocation): string {
  return '{"function":' + jsonString(f.function) + ',"file":' + jsonString(f.file) + ',"line":' + jsonNumber(f.line);
}

function makeCallerJson(c: SourceLocation): string {
  return locationJson(c) + '}';
}

function makeStackJson(stack: StackFrame[]): string {
  let text = '[';
  for (let i = 0; i < stack.length; i++) {
    const f = stack[i];
    text += (i ? ',' : '') + locationJson(f) + ',"pc":' + jsonString(f.pc) + '}';
  }
  return text + ']';
}

const always = () => true;
const framesFrozen = (stack: StackFrame[]) => stack.every((f) => Object.isFrozen(f));

function callerJson(c: SourceLocation): string {
  return fragment(c, makeCallerJson, always)?.text ?? makeCallerJson(c);
}

function stackJson(stack: StackFrame[]): string {
  return fragment(stack, makeStackJson, framesFrozen)?.text ?? makeStackJson(stack);
}

/** The stack's JSON as UTF-8 when the stack is shared (frozen); undefined otherwise. */
function sharedStackBytes(stack: StackFrame[]): Buffer | undefined {
  const f = fragment(stack, makeStackJson, framesFrozen);
  if (f) f.bytes ??= Buffer.from(f.text, 'utf8');
  return f?.bytes;
}

/** The map object up to "len": a process deletes from the same map in runs. */
let lastMapAddr = '';
let lastMapType = '';
let lastMapHead = '';

function mapJson(m: MapInfo): string {
  if (m.addr !== lastMapAddr || m.type !== lastMapType || !lastMapHead) {
    lastMapHead = '{"addr":' + jsonString(m.addr) + ',"type":' + jsonString(m.type) + ',"len":';
    lastMapAddr = m.addr;
    lastMapType = m.type;
  }
  return lastMapHead + jsonNumber(m.len) + '}';
}

function keyJson(k: KeyInfo | null): string {
  if (k === null) return 'null';
  const head = '{"type":' + jsonString(k.type) + ',"hash":' + jsonString(k.hash);
  return k.value === undefined ? head + '}' : head + ',"value":' + jsonString(k.value) + '}';
}
