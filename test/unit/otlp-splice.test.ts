/**
 * receiver/otlp/splice.ts: finding the spans of a serialized request and appending fields to some
 * of them, with every other byte left as it was (unknown fields, non-minimal lengths, field order).
 */
import { strict as assert } from 'node:assert';
import { checkRequest, decodeRequest, encodeRequest, loadTraceProtos, type ExportTraceServiceRequest, type Span } from '../../receiver/otlp/proto';
import { SpliceError, appendToSpans, eventField, indexSpans } from '../../receiver/otlp/splice';
import { lenField, varint } from './export-helpers';

const protos = loadTraceProtos();
const SpanType = protos.root.lookupType('opentelemetry.proto.trace.v1.Span');
const EventType = protos.root.lookupType('opentelemetry.proto.trace.v1.Span.Event');

const field = lenField;

function span(traceByte: number, spanByte: number, name: string, endNs: string): Buffer {
  const obj = { traceId: Buffer.alloc(16, traceByte), spanId: Buffer.alloc(8, spanByte), name, kind: 2, startTimeUnixNano: '1700000000000000000', endTimeUnixNano: endNs, attributes: [], events: [], links: [] };
  return Buffer.from(SpanType.encode(SpanType.fromObject(obj)).finish());
}

const UNKNOWN_VARINT = Buffer.from([0xb8, 0x3e, 0x2a]); // field 999 = 42
const UNKNOWN_GROUP = Buffer.from([0xcb, 0x3e, 0x08, 0x01, 0xcc, 0x3e]); // group 1001 { field 1 = 1 }

/**
 * Two resources: the first with two scopes (spans A, B | C), the second with one (D); unknown
 * fields at every level, a non-minimal length on B, a name on span C that needs a 2-byte length.
 */
function request(): { bytes: Buffer; spans: Buffer[]; second: Buffer } {
  const a = Buffer.concat([span(1, 0xa, 'A', '1700000000000001000'), UNKNOWN_VARINT]);
  const b = span(1, 0xb, 'B', '1700000000000009000');
  const c = span(2, 0xc, 'C'.repeat(100), '1700000000000002000');
  const d = Buffer.concat([UNKNOWN_GROUP, span(3, 0xd, 'D', '1700000000000003000')]);
  const scope1 = Buffer.concat([field(1, Buffer.from([0x0a, 0x02, 0x73, 0x31])), field(2, a), field(2, b, 3), UNKNOWN_VARINT]);
  const scope2 = Buffer.concat([field(2, c), field(3, Buffer.from('https://schema'))]);
  const scope3 = field(2, d);
  const rs1 = Buffer.concat([field(1, field(1, Buffer.concat([field(1, Buffer.from('k')), field(2, field(1, Buffer.from('v')))]))), field(2, scope1), field(2, scope2, 5)]);
  const rs2 = Buffer.concat([UNKNOWN_GROUP, field(2, scope3)]);
  const second = field(1, rs2);
  const bytes = Buffer.concat([field(1, rs1), UNKNOWN_VARINT, second]);
  return { bytes, spans: [a, b, c, d], second };
}

function events(...names: string[]): Buffer {
  return Buffer.concat(names.map((name, i) => eventField(EventType.encode(EventType.fromObject({ name, timeUnixNano: String(1700000000000000500n + BigInt(i)), attributes: [{ key: 'n', value: { intValue: String(i) } }] })).finish())));
}

function allSpans(req: ExportTraceServiceRequest): Span[] {
  return req.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
}

describe('OTLP splice', () => {
  it('finds every span with its ids and end time, in order', () => {
    const { bytes } = request();
    checkRequest(protos, bytes);
    const idx = indexSpans(bytes);
    assert.deepEqual(
      idx.spans.map((s) => [s.index, s.traceId, s.spanId, s.endNs]),
      [
        [0, '01'.repeat(16), '0a'.repeat(8), 1700000000000001000n],
        [1, '01'.repeat(16), '0b'.repeat(8), 1700000000000009000n],
        [2, '02'.repeat(16), '0c'.repeat(8), 1700000000000002000n],
        [3, '03'.repeat(16), '0d'.repeat(8), 1700000000000003000n],
      ],
    );
  });

  it('returns the same bytes when nothing is added', () => {
    const { bytes } = request();
    assert.ok(appendToSpans(indexSpans(bytes), new Map()).equals(bytes));
  });

  it('appends to the chosen spans and leaves every other byte as it was', () => {
    const { bytes, spans, second } = request();
    const before = decodeRequest(protos, bytes);
    const addB = events('b1', 'b2');
    const addC = events('c1'.repeat(100)); // pushes C's scope past a 1-byte length
    const out = appendToSpans(indexSpans(bytes), new Map([[1, addB], [2, addC]]));
    checkRequest(protos, out);
    assert.equal(out.length > bytes.length, true);

    const after = decodeRequest(protos, out);
    const got = allSpans(after);
    assert.deepEqual(got[1].events.map((e) => e.name), ['b1', 'b2']);
    assert.deepEqual(got[2].events.map((e) => e.name), ['c1'.repeat(100)]);
    assert.deepEqual(got[1].events[1].attributes, [{ key: 'n', value: { intValue: '1' } }]);
    got[1].events = [];
    got[2].events = [];
    assert.deepEqual(after, before, 'nothing else changed');

    // untouched spans and every unknown field are there byte for byte, the changed spans' own bytes too
    assert.ok(out.includes(Buffer.concat([varint(spans[0].length), spans[0]])), 'span A as it was');
    assert.ok(out.includes(Buffer.concat([varint(spans[3].length), spans[3]])), 'span D as it was');
    assert.ok(out.includes(Buffer.concat([spans[1], addB])), 'span B, then its new events');
    assert.ok(out.includes(Buffer.concat([spans[2], addC])), 'span C, then its new events');
    assert.ok(out.includes(Buffer.concat([field(2, spans[0]), field(2, Buffer.concat([spans[1], addB]))])), 'B\'s length is now minimal');
    let unknowns = 0;
    for (let at = out.indexOf(UNKNOWN_VARINT); at >= 0; at = out.indexOf(UNKNOWN_VARINT, at + 1)) unknowns++;
    assert.equal(unknowns, 3, 'three unknown varint fields');
    assert.ok(out.includes(UNKNOWN_GROUP));
    assert.ok(out.subarray(out.length - second.length).equals(second), 'the second resource ends the request as it did');
  });

  it('takes the last of repeated id fields, as decoders do', () => {
    const s = Buffer.concat([span(1, 0xa, 'x', '5'), field(2, Buffer.alloc(8, 0xee))]);
    const bytes = field(1, field(2, field(2, s)));
    const idx = indexSpans(bytes);
    assert.equal(idx.spans[0].spanId, 'ee'.repeat(8));
    assert.equal(hexOf(decodeRequest(protos, bytes)), 'ee'.repeat(8));
    const out = appendToSpans(idx, new Map([[0, events('e')]]));
    assert.equal(allSpans(decodeRequest(protos, out))[0].events[0].name, 'e');
  });

  it('copes with requests without spans, and spans without ids', () => {
    assert.deepEqual(indexSpans(Buffer.alloc(0)).spans, []);
    const empty = encodeRequest(protos, { resourceSpans: [{ scopeSpans: [{ spans: [] }] }] } as unknown as ExportTraceServiceRequest);
    assert.deepEqual(indexSpans(empty).spans, []);
    const bare = field(1, field(2, field(2, Buffer.alloc(0))));
    assert.deepEqual(indexSpans(bare).spans, [{ index: 0, traceId: '', spanId: '', endNs: 0n }]);
  });

  it('refuses malformed bytes and unknown span indexes', () => {
    assert.throws(() => indexSpans(Buffer.from([0x0a, 0x7f, 0x00])), SpliceError);
    assert.throws(() => indexSpans(Buffer.from([0x08, 0x01])), /wire type 0, expected 2/);
    const { bytes } = request();
    assert.throws(() => appendToSpans(indexSpans(bytes), new Map([[9, Buffer.from([])]])), /no span 9/);
  });
});

function hexOf(req: ExportTraceServiceRequest): string {
  return Buffer.from(allSpans(req)[0].spanId ?? []).toString('hex');
}
