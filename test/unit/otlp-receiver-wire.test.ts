/**
 * The OTLP receiver's protobuf side without the network: the vendored protos load with
 * protobufjs, requests round-trip, and the structural check (receiver/otlp/wire.ts) rejects
 * malformed bytes precisely while letting every well-formed request through — unknown fields
 * included — and everything it lets through decodes.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXPORT_PATH, checkRequest, decodeRequest, encodeRequest, loadTraceProtos, type AnyValue, type ExportTraceServiceRequest } from '../../receiver/otlp/proto';
import { MAX_DEPTH, WireError } from '../../receiver/otlp/wire';
import { packageRoot } from '../../receiver/util/paths';

const protos = loadTraceProtos();

function request(attrValue: AnyValue = { stringValue: 'v' }, name = 'span'): ExportTraceServiceRequest {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'wire' } }], entityRefs: [] },
        scopeSpans: [
          {
            scope: { name: 'scope', version: '1', attributes: [] },
            schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
            spans: [
              {
                traceId: Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex'),
                spanId: Buffer.from('1112131415161718', 'hex'),
                parentSpanId: Buffer.from('2122232425262728', 'hex'),
                traceState: 'a=b',
                flags: 0x101,
                name,
                kind: 2,
                startTimeUnixNano: '1700000000123456789',
                endTimeUnixNano: '1700000000987654321',
                attributes: [
                  { key: 'a', value: attrValue },
                  { key: 'i', value: { intValue: '-9007199254740993' } },
                  { key: 'd', value: { doubleValue: 0.1 } },
                  { key: 'b', value: { boolValue: true } },
                  { key: 'raw', value: { bytesValue: Buffer.from([0xff, 0x00, 0xfe]) } },
                ],
                droppedAttributesCount: 2,
                events: [{ timeUnixNano: '1700000000500000000', name: 'map.delete', attributes: [{ key: 'k', value: { stringValue: 'sess-1' } }] }],
                droppedEventsCount: 1,
                links: [{ traceId: Buffer.alloc(16, 7), spanId: Buffer.alloc(8, 8), attributes: [], flags: 0x301 }],
                status: { code: 2, message: 'failed' },
              },
            ],
          },
        ],
      },
    ],
  };
}

function check(bytes: Uint8Array): string | undefined {
  try {
    checkRequest(protos, bytes);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof WireError, `a WireError, not ${err}`);
    return err.message;
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited field, encoded by hand. */
function field(no: number, payload: Buffer | string): Buffer {
  const b = Buffer.from(payload);
  return Buffer.concat([varint(no * 8 + 2), varint(b.length), b]);
}

/** A request whose one span attribute is a key-value list nested `levels` deep, encoded by hand. */
function deepRequest(levels: number): Buffer {
  let anyValue = field(1, 'bottom'); // AnyValue.string_value
  for (let i = 0; i < levels; i++) anyValue = field(6, field(1, Buffer.concat([field(1, `l${i}`), field(2, anyValue)]))); // kvlist_value { values { key value } }
  const span = Buffer.concat([field(5, 'deep'), field(9, Buffer.concat([field(1, 'a'), field(2, anyValue)]))]);
  return field(1, field(2, field(2, span))); // resource_spans { scope_spans { spans } }
}

describe('OTLP protos (proto/)', () => {
  it('are the four files of a pinned opentelemetry-proto release, with their license', () => {
    const dir = path.join(packageRoot(), 'proto');
    const readme = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
    assert.match(readme, /v1\.11\.0/);
    assert.match(fs.readFileSync(path.join(dir, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
    for (const f of ['collector/trace/v1/trace_service.proto', 'trace/v1/trace.proto', 'resource/v1/resource.proto', 'common/v1/common.proto']) {
      const text = fs.readFileSync(path.join(dir, 'opentelemetry/proto', f), 'utf8');
      assert.match(text, /^\/\/ Copyright 2019, OpenTelemetry Authors/, `${f} keeps its license header`);
      assert.match(text, /Licensed under the Apache License, Version 2\.0/);
    }
    assert.equal(EXPORT_PATH, '/opentelemetry.proto.collector.trace.v1.TraceService/Export');
    const service = protos.root.lookupService('opentelemetry.proto.collector.trace.v1.TraceService');
    assert.deepEqual(Object.keys(service.methods), ['Export']);
  });

  it('round-trip: decode then encode gives the same bytes for a canonical request', () => {
    const bytes = encodeRequest(protos, request());
    assert.equal(check(bytes), undefined);
    const decoded = decodeRequest(protos, bytes);
    const span = decoded.resourceSpans[0].scopeSpans[0].spans[0];
    assert.equal(span.startTimeUnixNano, '1700000000123456789', 'fixed64 exact, as a decimal string');
    assert.equal(span.attributes[1].value?.intValue, '-9007199254740993', 'int64 beyond 2^53 exact');
    assert.deepEqual([...(span.attributes[4].value?.bytesValue ?? [])], [0xff, 0x00, 0xfe]);
    assert.equal(span.flags, 0x101);
    assert.deepEqual(span.status, { code: 2, message: 'failed' });
    assert.ok(encodeRequest(protos, decoded).equals(bytes));
  });

  it('an empty request is valid', () => {
    assert.equal(check(Buffer.alloc(0)), undefined);
    assert.deepEqual(decodeRequest(protos, Buffer.alloc(0)), { resourceSpans: [] });
  });
});

describe('OTLP wire check', () => {
  const valid = encodeRequest(protos, request());

  it('names the field and the position of a wire-type mismatch deep in a request', () => {
    // span name (field 5 of Span) sent as a varint: rebuild the span by hand
    const good = encodeRequest(protos, request(undefined, 'NAME'));
    const at = good.indexOf(Buffer.from('NAME'));
    assert.equal(good[at - 2], 0x2a); // tag: field 5, wire type 2
    const bad = Buffer.from(good);
    bad[at - 2] = 0x28; // field 5, varint: length byte 4 becomes the value, "NAME" becomes garbage tags
    const msg = check(bad);
    assert.ok(msg);
    assert.equal(msg, `opentelemetry.proto.trace.v1.Span.name (field 5) has wire type 0, expected 2 at byte ${at - 1}`);
  });

  it('accepts unknown fields of every wire type, groups included, and keeps them out of the decoded view', () => {
    // appended to the request: field 100 varint, 101 fixed64, 102 bytes, 103 fixed32, 104 group holding field 1 varint
    const unknown = Buffer.from([0xa0, 0x06, 0x96, 0x01, 0xa9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, 0xb2, 0x06, 0x02, 0xff, 0xff, 0xbd, 0x06, 1, 2, 3, 4, 0xc3, 0x06, 0x08, 0x05, 0xc4, 0x06]);
    const bytes = Buffer.concat([valid, unknown]);
    assert.equal(check(bytes), undefined);
    assert.deepEqual(decodeRequest(protos, bytes), decodeRequest(protos, valid));
    // a group whose end tag names another field
    assert.match(check(Buffer.from([0xc3, 0x06, 0xcc, 0x06]))!, /end of group 105 inside group 104/);
    // a group never closed
    assert.match(check(Buffer.from([0xc3, 0x06, 0x08, 0x05]))!, /truncated varint/);
  });

  it('checks UTF-8 in string fields only, not in bytes fields', () => {
    const bad = Buffer.from(valid);
    bad[bad.indexOf(Buffer.from('sess-1'))] = 0xc3; // a lone lead byte
    assert.match(check(bad)!, /^opentelemetry\.proto\.common\.v1\.AnyValue\.stringValue is not valid UTF-8 at byte \d+$/);
    // trace id, span id and bytes_value hold 0xff bytes in `valid` already
    assert.equal(check(valid), undefined);
  });

  it(`allows nesting to ${MAX_DEPTH} messages (what protobufjs decodes), and refuses deeper`, () => {
    const ok = deepRequest(31); // the innermost AnyValue at depth 5 + 3 * 31 = 98
    assert.equal(check(ok), undefined);
    let v: AnyValue | undefined = decodeRequest(protos, ok).resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value;
    let depth = 0;
    while (v?.kvlistValue) {
      v = v.kvlistValue.values[0].value;
      depth++;
    }
    assert.equal(depth, 31);
    assert.equal(v?.stringValue, 'bottom');
    const deep = deepRequest(32); // depth 101
    assert.match(check(deep)!, new RegExp(`nesting deeper than ${MAX_DEPTH}`));
    assert.throws(() => decodeRequest(protos, deep), /nesting depth/, 'protobufjs would not decode it either');
  });

  it('whatever it lets through decodes (2000 seeded mutations of a valid request)', () => {
    let seed = 0x2545f491;
    const rnd = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(valid);
      const edits = 1 + rnd(4);
      for (let e = 0; e < edits; e++) {
        const kind = rnd(3);
        if (kind === 0) b[rnd(b.length)] = rnd(256);
        else if (kind === 1) b[rnd(b.length)] ^= 1 << rnd(8);
        else b[rnd(b.length)] = [0x00, 0x7f, 0x80, 0xff][rnd(4)];
      }
      const cut = rnd(10) === 0 ? b.subarray(0, rnd(b.length)) : b;
      if (check(cut) === undefined) {
        accepted++;
        assert.doesNotThrow(() => decodeRequest(protos, cut), `mutation ${i} passed the check but does not decode`);
      } else {
        refused++;
      }
    }
    assert.ok(accepted > 50 && refused > 50, `${accepted} accepted, ${refused} refused`);
  });
});
