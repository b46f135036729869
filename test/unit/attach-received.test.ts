/**
 * Pipeline-stage attaching (receiver/export/attach-received.ts through ExportPipeline), on real
 * gRPC over loopback: an OtlpGrpcReceiver feeding ExportPipeline.consumeTraces, in front of an
 * in-process "collector" that records every request. Service traces go in as real
 * ExportTraceServiceRequests; deletes are synthetic DeleteEvents (the BPF path is tested
 * elsewhere). What comes out must be what went in, plus one span event per delete on exactly the
 * spans the deletes happened under; deletes that cannot be attached leave as `go.map.deletes`
 * spans parented to their service span.
 */
import { strict as assert } from 'node:assert';
import { status as Status, type Client } from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { MapDeleteReceiverConfig, OtlpReceiverConfig } from '../../receiver/config/types';
import type { DeleteEvent } from '../../receiver/events/types';
import { ReceivedSpanAttacher } from '../../receiver/export/attach-received';
import { eventAttributes } from '../../receiver/export/attributes';
import { ExportPipeline } from '../../receiver/export/pipeline';
import { StatusError } from '../../receiver/otlp/status';
import { decodeRequest, loadTraceProtos, type ExportTraceServiceRequest, type KeyValue, type Span } from '../../receiver/otlp/proto';
import { OtlpGrpcReceiver, type ReceivedTraces } from '../../receiver/otlp/server';
import {
  Collector,
  activeSpan,
  attrsToJs,
  deleteEvent,
  hex,
  lenField,
  otlpExporterConfig,
  otlpReceiverConfig,
  rawClient,
  rawExport,
  receiverConfig,
  waitFor,
} from './export-helpers';

const protos = loadTraceProtos();
const type = (name: string) => protos.root.lookupType(name);
const enc = (name: string, obj: unknown): Buffer => {
  const t = type(name);
  return Buffer.from(t.encode(t.fromObject(obj as Record<string, unknown>)).finish());
};

const T1 = '4bf92f3577b34da6a3ce929d0e0e4736';
const T2 = '0af7651916cd43dd8448eb211c80319c';
const T3 = 'a3ce929d0e0e47364bf92f3577b34da6';
const A = '00f067aa0ba902b7';
const B = 'b7ad6b7169203331';
const C = '53995c3f42cd8ad8';
const D = '1111111111111111';
const E = '2222222222222222';

const SAMPLED_REMOTE_PARENT = 0x301;
/** Field 999 (varint 42) and field 1000 (bytes "abc"): a newer protocol's fields. */
const UNKNOWN = Buffer.from([0xb8, 0x3e, 0x2a, 0xc2, 0x3e, 0x03, 0x61, 0x62, 0x63]);

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
const id = (h: string): Buffer => Buffer.from(h, 'hex');

/** Attributes of every kind OTLP has. */
const ALL_KINDS: KeyValue[] = [
  { key: 's', value: { stringValue: 'välue ✓' } },
  { key: 'b', value: { boolValue: true } },
  { key: 'i', value: { intValue: '-9007199254740993' } },
  { key: 'd', value: { doubleValue: 0.25 } },
  { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '2' }, { boolValue: false }] } } },
  { key: 'kv', value: { kvlistValue: { values: [{ key: 'inner', value: { doubleValue: -1.5 } }] } } },
  { key: 'bytes', value: { bytesValue: Buffer.from([0, 1, 2, 255]) } },
  { key: 'empty', value: {} },
];

function spanObject(traceId: string, spanId: string, name: string, endNs: bigint, extra: Partial<Span> = {}): Span {
  return {
    traceId: id(traceId),
    spanId: id(spanId),
    name,
    kind: 1,
    startTimeUnixNano: (endNs - 5_000_000n).toString(),
    endTimeUnixNano: endNs.toString(),
    attributes: [{ key: 'n', value: { stringValue: name } }],
    events: [],
    links: [],
    ...extra,
  };
}

/**
 * A service request built field by field (so that it can hold unknown fields where protobufjs
 * would not write them): two resources, three scopes, five spans with attributes of every
 * kind, events, links, status, trace state, flags and dropped counts; unknown fields inside the
 * first span, its scope, its resource and the request.
 */
function serviceRequest(endNs: bigint): Buffer {
  const span = (o: Span, unknown = false) => Buffer.concat([enc('opentelemetry.proto.trace.v1.Span', o), unknown ? UNKNOWN : Buffer.alloc(0)]);
  const s0 = span(
    spanObject(T1, A, 'GET /sessions/{id}', endNs, {
      kind: 2,
      traceState: 'vendor=1',
      flags: 0x101,
      attributes: ALL_KINDS,
      droppedAttributesCount: 2,
      events: [{ name: 'request.read', timeUnixNano: (endNs - 4_000_000n).toString(), attributes: ALL_KINDS.slice(0, 3), droppedAttributesCount: 1 }],
      droppedEventsCount: 3,
      links: [{ traceId: id(T2), spanId: id(E), traceState: 'k=v', attributes: ALL_KINDS.slice(3), flags: 0x301 }],
      droppedLinksCount: 1,
      status: { code: 2, message: 'session store timeout' },
    }),
    true,
  );
  const s1 = span(spanObject(T1, B, 'store.load', endNs - 1_000_000n, { parentSpanId: id(A), status: { code: 1 } }));
  const s2 = span(spanObject(T1, C, 'store.expire', endNs - 2_000_000n, { parentSpanId: id(A), kind: 3 }));
  const s3 = span(spanObject(T3, D, 'charge', endNs - 3_000_000n, { kind: 4 }));
  const s4 = span(spanObject(T3, E, 'refund', endNs - 3_000_000n, { kind: 5, parentSpanId: id(D) }));
  const resource = (service: string) => enc('opentelemetry.proto.resource.v1.Resource', { attributes: [{ key: 'service.name', value: { stringValue: service } }, ...ALL_KINDS], droppedAttributesCount: 1 });
  const scope = (name: string) => enc('opentelemetry.proto.common.v1.InstrumentationScope', { name, version: '1.2.3', attributes: [{ key: 'scope.k', value: { intValue: '7' } }] });
  const schema = (u: string) => lenField(3, Buffer.from(u));
  const scope0 = Buffer.concat([lenField(1, scope('net/http')), lenField(2, s0), lenField(2, s1), UNKNOWN, schema('https://opentelemetry.io/schemas/1.26.0')]);
  const scope1 = Buffer.concat([lenField(1, scope('sessions/store')), lenField(2, s2)]);
  const scope2 = Buffer.concat([lenField(1, scope('billing')), lenField(2, s3), lenField(2, s4)]);
  const rs0 = Buffer.concat([lenField(1, resource('checkout')), lenField(2, scope0), lenField(2, scope1), UNKNOWN]);
  const rs1 = Buffer.concat([lenField(1, resource('billing')), lenField(2, scope2), schema('https://opentelemetry.io/schemas/1.21.0')]);
  return Buffer.concat([lenField(1, rs0), UNKNOWN, lenField(1, rs1)]);
}

/** A request of one span (T, spanId) of about `size` bytes. */
function oneSpanRequest(traceId: string, spanId: string, endNs: bigint, size = 300): Buffer {
  const s = spanObject(traceId, spanId, 'one', endNs, { attributes: [{ key: 'pad', value: { stringValue: 'x'.repeat(Math.max(0, size - 120)) } }] });
  return enc('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest', {
    resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'one' } }] }, scopeSpans: [{ scope: { name: 'one' }, spans: [s] }] }],
  });
}

function spansOf(req: ExportTraceServiceRequest): Span[] {
  return req.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
}

function findSpan(req: ExportTraceServiceRequest, traceId: string, spanId: string): Span {
  const s = spansOf(req).find((x) => hex(x.traceId) === traceId && hex(x.spanId) === spanId);
  assert.ok(s, `span ${traceId}/${spanId} in the request`);
  return s;
}

/** The attributes a delete's event must carry, as OTLP KeyValues (integers as intValue). */
function expectedAttributes(e: DeleteEvent): KeyValue[] {
  return Object.entries(eventAttributes(e)).map(([key, v]) => ({ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: String(v) } }));
}

function assertEventIs(ev: Span['events'][number], e: DeleteEvent): void {
  assert.equal(ev.name, e.op === 'clear' ? 'go.map.clear' : 'go.map.delete');
  assert.equal(ev.timeUnixNano, e.timeNs.toString());
  assert.deepEqual(ev.attributes, expectedAttributes(e));
  assert.equal(ev.droppedAttributesCount, undefined);
}

// ---- the stage ---------------------------------------------------------------------------------

interface Stage {
  col: Collector;
  pipeline: ExportPipeline;
  rx: OtlpGrpcReceiver;
  client: Client;
  /** What the stage received, in order. */
  received: ReceivedTraces[];
  close(): Promise<void>;
}

let stages: Stage[] = [];

async function stage(
  attach: Partial<OtlpReceiverConfig['attach']> = {},
  o: { maxRecvMsgSizeBytes?: number; receiver?: Partial<MapDeleteReceiverConfig>; onRequest?: (r: ReceivedTraces) => void } = {},
): Promise<Stage> {
  const col = new Collector();
  const colAddr = await col.start();
  const rxCfg = otlpReceiverConfig(attach, o.maxRecvMsgSizeBytes);
  const pipeline = new ExportPipeline(receiverConfig(o.receiver), [otlpExporterConfig(colAddr)], () => undefined, rxCfg);
  const received: ReceivedTraces[] = [];
  const rx = new OtlpGrpcReceiver({ endpoint: '127.0.0.1:0', maxRecvMsgSizeBytes: rxCfg.grpc.maxRecvMsgSizeBytes }, (r) => {
    received.push(r);
    const p = pipeline.consumeTraces(r);
    o.onRequest?.(r);
    return p;
  });
  await rx.start();
  const client = rawClient(rx.address());
  let closed: Promise<void> | undefined;
  const st: Stage = {
    col,
    pipeline,
    rx,
    client,
    received,
    close: () =>
      (closed ??= (async () => {
        client.close();
        await rx.shutdown(1000);
        await pipeline.close(5000);
      })()),
  };
  stages.push(st);
  return st;
}

afterEach(async () => {
  for (const st of stages) {
    await st.close();
    await st.col.stop();
  }
  stages = [];
});

function parentOf(s: Span): string {
  return `${hex(s.traceId)}/${hex(s.parentSpanId)}`;
}

// ---- tests -------------------------------------------------------------------------------------

describe('pipeline stage: deletes attached to received spans', function () {
  this.timeout(30_000);

  it('adds one event per delete to exactly the spans they happened under, and changes nothing else', async () => {
    const st = await stage();
    const t = nowNs() - 10_000_000_000n; // ended 10 s ago: no settling
    const onA = [
      deleteEvent(activeSpan(T1, A), { timeNs: t - 3_000_000n, goid: '18' }),
      deleteEvent(activeSpan(T1, A), { timeNs: t - 4_500_000n, goid: '18' }), // earlier: goes first
      deleteEvent(activeSpan(T1, A, true, true), { timeNs: t - 2_000_000n, goid: '19', op: 'clear' }),
    ];
    const onC = deleteEvent(activeSpan(T1, C), { timeNs: t - 2_500_000n, goid: '20' });
    const otherTrace = deleteEvent(activeSpan(T1, D), { goid: '21' }); // D's span id, but not D's trace
    const unsampled = deleteEvent(activeSpan(T1, B, false), { goid: '22' });
    const none = deleteEvent(null, { goid: '23' });
    for (const e of [...onA, onC, otherTrace, unsampled, none]) st.pipeline.consume(e);
    assert.equal(st.pipeline.stats().attach?.pendingEvents, 5);

    const sent = serviceRequest(t);
    const r = await rawExport(st.client, sent);
    assert.equal(r.err, undefined, r.err?.message);
    const fwd = st.col.forwarded();
    assert.equal(fwd.length, 1);
    const out = fwd[0];
    const got = out.decode();
    const want = decodeRequest(protos, sent);

    const a = findSpan(got, T1, A);
    assert.equal(a.events.length, 1 + 3);
    assertEventIs(a.events[1], onA[1]);
    assertEventIs(a.events[2], onA[0]);
    assertEventIs(a.events[3], onA[2]);
    assert.equal(a.droppedEventsCount, 3, 'dropped_events_count as the SDK set it');
    const c = findSpan(got, T1, C);
    assert.equal(c.events.length, 1);
    assertEventIs(c.events[0], onC);
    assert.equal(attrsToJs(c.events[0].attributes)['go.goroutine.id'], 20);

    // take the added events away: what is left is what was sent
    a.events = a.events.slice(0, 1);
    c.events = [];
    assert.deepEqual(got, want, 'the rest of the request is as sent');
    let unknown = 0;
    for (let at = out.raw.indexOf(UNKNOWN); at >= 0; at = out.raw.indexOf(UNKNOWN, at + 1)) unknown++;
    assert.equal(unknown, 4, 'the unknown fields of the span, its scope, its resource and the request are all there');

    const s = st.pipeline.stats().attach!;
    assert.equal(s.attachedEvents, 4);
    assert.equal(s.attachedSpans, 2);
    assert.equal(s.pendingEvents, 1, 'the delete of another trace still waits');

    // a request none of whose spans has deletes is forwarded byte for byte
    const plain = oneSpanRequest(T2, B, t);
    assert.equal((await rawExport(st.client, plain)).err, undefined);
    assert.equal(st.col.forwarded().length, 2);
    assert.ok(st.col.forwarded()[1].raw.equals(plain), 'unmatched request: byte-identical');

    // closing exports the one still held; nothing attached is exported a second time
    await st.close();
    const own = st.col.deleteSpans();
    assert.equal(own.length, 3, own.map(parentOf).join(' '));
    assert.deepEqual(own.filter((x) => x.parentSpanId?.length).map(parentOf), [`${T1}/${D}`]);
    assert.equal(own.filter((x) => hex(x.traceId) === T1 && !x.parentSpanId?.length).length, 0);
    assert.equal(st.pipeline.stats().attach!.atClose, 1);
    assert.equal(st.pipeline.stats().exporters.otlp.exportedEvents, 3, 'the unsampled, the spanless and the held one');
  });

  it('attaches to spans exported by the OpenTelemetry JS SDK', async () => {
    const st = await stage();
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'sdk' }), spanProcessors: [new SimpleSpanProcessor(memory)] });
    const tracer = provider.getTracer('attach-test', '1.0.0');
    tracer.startActiveSpan('GET /x', (root) => {
      const child = tracer.startSpan('work', { attributes: { k: 1 } });
      child.addEvent('sdk event', { n: 2 });
      child.end();
      root.end();
    });
    const spans = memory.getFinishedSpans();
    const child = spans.find((s) => s.name === 'work')!.spanContext();
    const d = deleteEvent(activeSpan(child.traceId, child.spanId), { goid: '33' });
    st.pipeline.consume(d);
    const exporter = new OTLPTraceExporter({ url: `http://${st.rx.address()}` });
    const result = await new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));
    await exporter.shutdown();
    assert.equal(result.code, ExportResultCode.SUCCESS, result.error?.message);
    const got = st.col.forwarded()[0].decode();
    const want = st.received[0].decode();
    const w = findSpan(got, child.traceId, child.spanId);
    assert.deepEqual(w.events.map((e) => e.name), ['sdk event', 'go.map.delete']);
    assertEventIs(w.events[1], d);
    w.events.pop();
    assert.deepEqual(got, want);
  });

  it('waits for deletes still on their way when the span has just ended (settle)', async () => {
    const t = nowNs();
    const late = deleteEvent(activeSpan(T2, C), { timeNs: t - 1_000_000n });
    // offered while the request is already being handled: during the settle wait
    const st = await stage({ settleMs: 1000 }, { onRequest: () => st.pipeline.consume(late) });
    assert.equal((await rawExport(st.client, oneSpanRequest(T2, C, t))).err, undefined);
    const span = findSpan(st.col.forwarded()[0].decode(), T2, C);
    assert.equal(span.events.length, 1);
    assertEventIs(span.events[0], late);
    assert.equal(st.pipeline.stats().attach!.late, 0);
  });

  it('exports a delete that arrives after its span was forwarded on its own at once, parented to the span', async () => {
    const t = nowNs();
    const during = deleteEvent(activeSpan(T2, A), { goid: '40' });
    // without settling, a delete offered while the request is handled is already late
    const st = await stage({ settleMs: 0 }, { onRequest: () => st.pipeline.consume(during) });
    assert.equal((await rawExport(st.client, oneSpanRequest(T2, A, t))).err, undefined);
    assert.equal(findSpan(st.col.forwarded()[0].decode(), T2, A).events.length, 0);
    st.pipeline.consume(deleteEvent(activeSpan(T2, A), { goid: '41' }));
    const s = st.pipeline.stats().attach!;
    assert.equal(s.late, 2);
    assert.equal(s.pendingEvents, 0);
    // delete_wait is 60 s: these come through the late path, not the wait
    assert.ok(await waitFor(() => st.col.deleteSpans().length === 2), `${st.col.deleteSpans().length} spans`);
    for (const x of st.col.deleteSpans()) {
      assert.equal(parentOf(x), `${T2}/${A}`);
      assert.equal(x.flags, SAMPLED_REMOTE_PARENT);
    }
  });

  it('exports deletes whose span never arrives on their own after delete_wait, parented to the span', async () => {
    const st = await stage({ deleteWaitMs: 300 });
    const held = [
      deleteEvent(activeSpan(T3, B), { goid: '50' }),
      deleteEvent(activeSpan(T3, B), { goid: '50' }),
      deleteEvent(activeSpan(T3, B, true, true), { goid: '51' }),
    ];
    for (const e of held) st.pipeline.consume(e);
    assert.equal(st.pipeline.stats().attach!.pendingEvents, 3);
    assert.ok(await waitFor(() => st.col.deleteSpans().length === 2), `${st.col.deleteSpans().length} spans`);
    const own = st.col.deleteSpans();
    for (const x of own) {
      assert.equal(hex(x.traceId), T3);
      assert.equal(hex(x.parentSpanId), B);
      assert.equal(x.flags, SAMPLED_REMOTE_PARENT);
    }
    assert.deepEqual(own.map((x) => x.events.length).sort(), [1, 2]);
    const s = st.pipeline.stats().attach!;
    assert.equal(s.expired, 3);
    assert.equal(s.pendingEvents, 0);
    assert.equal(s.attachedEvents, 0);
  });

  it('holds at most max_pending_events; beyond, deletes go on their own at once and are counted', async () => {
    const st = await stage({ maxPendingEvents: 3 });
    const spanIds = ['1000000000000001', '1000000000000002', '1000000000000003', '1000000000000004', '1000000000000005'];
    for (const s of spanIds) st.pipeline.consume(deleteEvent(activeSpan(T1, s)));
    const s = st.pipeline.stats().attach!;
    assert.equal(s.overflow, 2);
    assert.equal(s.pendingEvents, 3);
    assert.equal(s.peakPendingEvents, 3);
    assert.ok(await waitFor(() => st.col.deleteSpans().length === 2));
    assert.deepEqual(st.col.deleteSpans().map(parentOf).sort(), [`${T1}/${spanIds[3]}`, `${T1}/${spanIds[4]}`]);
    // the held ones still attach
    assert.equal((await rawExport(st.client, oneSpanRequest(T1, spanIds[0], nowNs() - 5_000_000_000n))).err, undefined);
    assert.equal(findSpan(st.col.forwarded()[0].decode(), T1, spanIds[0]).events.length, 1);
    assert.equal(st.pipeline.stats().attach!.pendingEvents, 2);
  });

  it('close() exports every delete still held, parented to its span', async () => {
    const st = await stage();
    st.pipeline.consume(deleteEvent(activeSpan(T2, D), { goid: '60' }));
    st.pipeline.consume(deleteEvent(activeSpan(T2, E), { goid: '60' }));
    st.pipeline.consume(deleteEvent(activeSpan(T2, E), { goid: '60' }));
    assert.equal(st.col.deleteSpans().length, 0);
    await st.close();
    const own = st.col.deleteSpans();
    assert.deepEqual(own.map(parentOf).sort(), [`${T2}/${D}`, `${T2}/${E}`]);
    assert.equal(own.reduce((n, x) => n + x.events.length, 0), 3);
    const s = st.pipeline.stats().attach!;
    assert.equal(s.atClose, 3);
    assert.equal(s.pendingEvents, 0);
    assert.equal(st.pipeline.stats().exporters.otlp.droppedEvents, 0);
  });

  it('holds the deletes again when forwarding fails, and attaches them to the retry', async () => {
    const st = await stage();
    let refused = 0;
    st.col.respond = async (r) => {
      if (refused === 0 && !spansOf(r.decode()).some((s) => s.name === 'go.map.deletes')) {
        refused++;
        throw new StatusError(Status.INVALID_ARGUMENT, 'not today');
      }
      return undefined;
    };
    const d = deleteEvent(activeSpan(T3, A));
    st.pipeline.consume(d);
    const req = oneSpanRequest(T3, A, nowNs() - 5_000_000_000n);
    const first = await rawExport(st.client, req);
    assert.equal(first.err?.code, Status.INVALID_ARGUMENT);
    let s = st.pipeline.stats().attach!;
    assert.equal(s.requeued, 1);
    assert.equal(s.pendingEvents, 1);
    assert.equal(s.attachedEvents, 0);
    // a delete arriving before the retry waits for it too (the span is no longer "forwarded")
    const d2 = deleteEvent(activeSpan(T3, A));
    st.pipeline.consume(d2);
    assert.equal(st.pipeline.stats().attach!.late, 0);
    const retry = await rawExport(st.client, req);
    assert.equal(retry.err, undefined, retry.err?.message);
    const span = findSpan(st.col.forwarded().at(-1)!.decode(), T3, A);
    assert.equal(span.events.length, 2);
    assertEventIs(span.events[0], d);
    assertEventIs(span.events[1], d2);
    s = st.pipeline.stats().attach!;
    assert.equal(s.attachedEvents, 2);
    assert.equal(s.pendingEvents, 0);
  });

  it('never grows a request past max_recv_msg_size: deletes that do not fit go on their own', async () => {
    const max = 64 * 1024;
    const st = await stage({}, { maxRecvMsgSizeBytes: max });
    const req = oneSpanRequest(T1, E, nowNs() - 5_000_000_000n, max - 1500);
    assert.ok(req.length < max);
    for (let k = 0; k < 10; k++) st.pipeline.consume(deleteEvent(activeSpan(T1, E)));
    assert.equal((await rawExport(st.client, req)).err, undefined);
    const out = st.col.forwarded()[0];
    assert.ok(out.raw.length <= max, `${out.raw.length} bytes`);
    const attached = findSpan(out.decode(), T1, E).events.length;
    const s = st.pipeline.stats().attach!;
    assert.ok(attached >= 1 && attached < 10, `${attached} attached`);
    assert.equal(s.attachedEvents, attached);
    assert.equal(s.tooLarge, 10 - attached);
    assert.ok(await waitFor(() => st.col.deleteSpans().reduce((n, x) => n + x.events.length, 0) === 10 - attached));
    for (const x of st.col.deleteSpans()) assert.equal(parentOf(x), `${T1}/${E}`);
  });

  it('with attach_events: false, forwards byte for byte and exports deletes as their own spans', async () => {
    const st = await stage({ enabled: false });
    st.pipeline.consume(deleteEvent(activeSpan(T2, B)));
    const req = oneSpanRequest(T2, B, nowNs() - 5_000_000_000n);
    assert.equal((await rawExport(st.client, req)).err, undefined);
    assert.ok(st.col.forwarded()[0].raw.equals(req));
    assert.equal(st.pipeline.stats().attach, undefined);
    assert.ok(await waitFor(() => st.col.deleteSpans().length === 1));
    assert.equal(parentOf(st.col.deleteSpans()[0]), `${T2}/${B}`);
  });

  it('applies the rate ceiling before holding', async () => {
    const st = await stage({}, { receiver: { maxEventsPerSecond: 2 } });
    for (let k = 0; k < 5; k++) st.pipeline.consume(deleteEvent(activeSpan(T2, C)));
    const p = st.pipeline.stats();
    assert.equal(p.rateLimited, 3);
    assert.equal(p.attach!.pendingEvents, 2);
  });
});

describe('ReceivedSpanAttacher', () => {
  function attacher(o: Partial<ConstructorParameters<typeof ReceivedSpanAttacher>[0]> = {}) {
    const out: DeleteEvent[] = [];
    const a = new ReceivedSpanAttacher({
      waitMs: 60_000,
      settleMs: 0,
      maxPendingEvents: 100,
      maxRequestBytes: 4 << 20,
      protos,
      standalone: (e) => out.push(e),
      ...o,
    });
    return { a, out };
  }
  const old = () => nowNs() - 60_000_000_000n;

  it('remembers at most forwardedSpans forwarded spans, the oldest forgotten first', async () => {
    const { a, out } = attacher({ forwardedSpans: 2 });
    for (const s of [A, B, C]) (await a.attach({ raw: oneSpanRequest(T1, s, old()) })).commit();
    a.offer(deleteEvent(activeSpan(T1, A)));
    a.offer(deleteEvent(activeSpan(T1, C)));
    assert.equal(a.stats.late, 1, 'C is remembered');
    assert.equal(a.stats.pendingEvents, 1, 'A was forgotten: its delete waits');
    assert.equal(out.length, 1);
  });

  it('lets each delete wait delete_wait from its own arrival', async () => {
    const { a, out } = attacher({ waitMs: 1000 });
    const first = deleteEvent(activeSpan(T2, A));
    const second = deleteEvent(activeSpan(T2, A));
    a.offer(first);
    const firstBy = Date.now();
    a.expire(firstBy + 500);
    assert.equal(out.length, 0);
    await new Promise((r) => setTimeout(r, 200));
    a.offer(second); // at least 200 ms after the first
    a.expire(firstBy + 1000);
    assert.deepEqual(out, [first], 'the first has waited its time, the second not yet');
    a.expire(Date.now() + 1000);
    assert.deepEqual(out, [first, second]);
    assert.equal(a.stats.expired, 2);
    assert.equal(a.stats.pendingEvents, 0);
  });

  it('forwards the request as received and exports the deletes on their own when encoding fails', async () => {
    const broken = {
      ...protos,
      root: {
        lookupType: () => ({
          fromObject: () => {
            throw new Error('no encoder today');
          },
        }),
      },
    } as unknown as typeof protos;
    const lines: string[] = [];
    const { a, out } = attacher({ protos: broken, log: (l) => lines.push(l) });
    const d = deleteEvent(activeSpan(T3, B));
    a.offer(d);
    const req = oneSpanRequest(T3, B, old());
    const att = await a.attach({ raw: req });
    assert.ok(att.raw.equals(req));
    assert.equal(att.events, 0);
    assert.deepEqual(out, [d]);
    assert.equal(a.stats.failed, 1);
    assert.match(lines.join('\n'), /attaching deletes to a request failed \(no encoder today\); forwarded as received/);
  });

  it('exports unsampled and spanless deletes at once, and everything after close()', () => {
    const { a, out } = attacher();
    a.offer(deleteEvent(null));
    a.offer(deleteEvent(activeSpan(T1, A, false)));
    assert.equal(out.length, 2);
    a.offer(deleteEvent(activeSpan(T1, A)));
    a.close();
    a.offer(deleteEvent(activeSpan(T1, B)));
    assert.equal(out.length, 4);
    assert.equal(a.stats.atClose, 1);
    assert.equal(a.stats.pendingEvents, 0);
  });
});
