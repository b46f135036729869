/**
 * A structural check of protobuf bytes against a message type, without building any objects:
 * every tag, varint and length is well-formed and in bounds, every known field has the wire type
 * its declared type needs (packed or not for repeated scalars), nested messages are checked the
 * same way, and string fields are valid UTF-8 (as proto3 requires, and as the Go collector's
 * decoder enforces). Unknown fields are skipped, groups included, so they pass through.
 *
 * The receiver runs this on every request so that it can answer INVALID_ARGUMENT for malformed
 * input and still hand the bytes on untouched; full decoding stays lazy (proto.ts). Bytes that
 * pass here decode with protobufjs without error.
 */
import { isUtf8 } from 'node:buffer';
import type { Field, Type } from 'protobufjs';
import { ProtoCursor, WT_I32, WT_I64, WT_LEN, WT_VARINT } from './protoscan';

/**
 * Nesting limit for messages, the request itself being depth 0: protobufjs's decoder refuses
 * deeper messages (its recursionLimit, 100, protoc's default). Each level of an attribute value
 * nested in a key-value list costs 3 (AnyValue, KeyValueList, KeyValue), so span attributes can
 * nest 31 lists deep.
 */
export const MAX_DEPTH = 100;


const SCALAR_WIRE: Record<string, number> = {
  int32: WT_VARINT,
  int64: WT_VARINT,
  uint32: WT_VARINT,
  uint64: WT_VARINT,
  sint32: WT_VARINT,
  sint64: WT_VARINT,
  bool: WT_VARINT,
  fixed64: WT_I64,
  sfixed64: WT_I64,
  double: WT_I64,
  fixed32: WT_I32,
  sfixed32: WT_I32,
  float: WT_I32,
  string: WT_LEN,
  bytes: WT_LEN,
};

export class WireError extends Error {}

interface FieldRule {
  name: string;
  /** The wire type a single value uses. */
  wire: number;
  /** Repeated numeric scalars may also come packed (one length-delimited run). */
  packable: boolean;
  utf8: boolean;
  message?: MessageRule;
}

interface MessageRule {
  name: string;
  fields: Map<number, FieldRule>;
}

const rules = new WeakMap<Type, MessageRule>();

/** The rules for a protobufjs type (its root must be resolved: root.resolveAll()). */
function ruleFor(type: Type): MessageRule {
  let r = rules.get(type);
  if (r) return r;
  r = { name: type.fullName.replace(/^\./, ''), fields: new Map() };
  rules.set(type, r); // before the fields: message types refer to themselves (AnyValue)
  for (const f of type.fieldsArray as Field[]) {
    const resolved = f.resolvedType;
    let rule: FieldRule;
    if (f.map) {
      rule = { name: f.name, wire: WT_LEN, packable: false, utf8: false };
    } else if (resolved && 'fieldsArray' in resolved) {
      rule = { name: f.name, wire: WT_LEN, packable: false, utf8: false, message: ruleFor(resolved as Type) };
    } else if (resolved) {
      // an enum
      rule = { name: f.name, wire: WT_VARINT, packable: f.repeated, utf8: false };
    } else {
      const wire = SCALAR_WIRE[f.type];
      if (wire === undefined) throw new Error(`wire check: unsupported field type ${f.type} of ${r.name}.${f.name}`);
      rule = { name: f.name, wire, packable: f.repeated && wire !== WT_LEN, utf8: f.type === 'string' };
    }
    r.fields.set(f.id, rule);
  }
  return r;
}

class Cursor extends ProtoCursor {
  constructor(buf: Uint8Array, start: number, end: number) {
    super(buf, start, end, (m) => new WireError(m), MAX_DEPTH);
  }
}

function checkMessage(c: Cursor, rule: MessageRule, depth: number): void {
  if (depth > MAX_DEPTH) c.fail(`nesting deeper than ${MAX_DEPTH}`);
  while (c.pos < c.end) {
    const tag = c.varint();
    const no = Math.floor(tag / 8);
    const wt = tag & 7;
    if (no === 0) c.fail('field number 0');
    if (no > 536_870_911) c.fail('field number too large');
    const f = rule.fields.get(no);
    if (!f) {
      c.skipValue(wt, no, depth);
      continue;
    }
    if (wt === f.wire) {
      if (wt === WT_LEN) {
        const len = c.varint();
        if (len > c.end - c.pos) c.fail(`truncated ${rule.name}.${f.name}`);
        const start = c.pos;
        if (f.message) {
          checkMessage(new Cursor(c.buf, start, start + len), f.message, depth + 1);
        } else if (f.utf8 && !isUtf8(c.buf.subarray(start, start + len))) {
          c.fail(`${rule.name}.${f.name} is not valid UTF-8`);
        }
        c.pos = start + len;
      } else {
        c.skipValue(wt, no, depth);
      }
    } else if (f.packable && wt === WT_LEN) {
      const len = c.varint();
      if (len > c.end - c.pos) c.fail(`truncated ${rule.name}.${f.name}`);
      const run = new Cursor(c.buf, c.pos, c.pos + len);
      while (run.pos < run.end) run.skipValue(f.wire, no, depth);
      c.pos = run.end;
    } else {
      c.fail(`${rule.name}.${f.name} (field ${no}) has wire type ${wt}, expected ${f.wire}`);
    }
  }
  if (c.pos !== c.end) c.fail(`${rule.name} overruns its length`);
}

/** Throws WireError when `bytes` are not a well-formed encoding of `type`. */
export function checkWire(type: Type, bytes: Uint8Array): void {
  checkMessage(new Cursor(bytes, 0, bytes.length), ruleFor(type), 0);
}
