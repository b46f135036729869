/**
 * The pipeline-stage OTLP/gRPC receiver (receiver/otlp/server.ts) and forwarder
 * (receiver/otlp/forward.ts), over real gRPC on loopback — no transport mocks:
 *
 * - spans made and exported by the OpenTelemetry JS SDK (OTLPTraceExporter) go into a receiver
 *   that forwards them to a second in-process receiver playing the collector; what comes out is
 *   byte-identical to what went in, and decodes to exactly the SDK's spans (every span,
 *   attribute, event, link, status, resource, scope);
 * - oversize requests get RESOURCE_EXHAUSTED, malformed ones INVALID_ARGUMENT, and the receiver
 *   keeps serving;
 * - with the downstream down, senders get UNAVAILABLE after the bounded wait, the number of
 *   requests and bytes held never exceeds the configured bounds, and forwarding resumes when
 *   the downstream is back;
 * - gzip-compressed requests (from the SDK, and as a hand-built HTTP/2 gRPC frame) are accepted;
 * - shutdown finishes in-flight requests, and answers UNAVAILABLE for those past its timeout.
 */
import { strict as assert } from 'node:assert';
import * as http2 from 'node:http2';
import * as zlib from 'node:zlib';
import { Client, credentials, Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type AttributeValue, type HrTime } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { FORWARD_DEFAULTS, OtlpForwarder, type OtlpForwarderOptions } from '../../receiver/otlp/forward';
import {
  EXPORT_PATH,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  loadTraceProtos,
  type ExportTraceServiceRequest,
  type Span as OtlpSpan,
} from '../../receiver/otlp/proto';
import { StatusError } from '../../receiver/otlp/status';
import { MIB, OTLP_GRPC_DEFAULTS, OtlpGrpcReceiver, parseEndpoint, type OtlpGrpcReceiverOptions, type ReceivedTraces, type TraceConsumer } from '../../receiver/otlp/server';
import { freePort } from '../helpers/otel';
import { attrsToJs, hex } from './export-helpers';

const protos = loadTraceProtos();

// ---- helpers ---------------------------------------------------------------------------------

const started: OtlpGrpcReceiver[] = [];
const forwarders: OtlpForwarder[] = [];

async function startReceiver(opts: OtlpGrpcReceiverOptions, consumer: TraceConsumer): Promise<{ rx: OtlpGrpcReceiver; addr: string }> {
  const rx = new OtlpGrpcReceiver({ endpoint: '127.0.0.1:0', ...opts }, consumer);
  await rx.start();
  started.push(rx);
  return { rx, addr: rx.address() };
}

function forwarder(opts: OtlpForwarderOptions): OtlpForwarder {
  const f = new OtlpForwarder(opts);
  forwarders.push(f);
  return f;
}

/** A stand-in collector: records every request's bytes and accepts it. */
async function collector(port = 0, respond?: (r: ReceivedTraces) => Buffer | undefined) {
  const got: ReceivedTraces[] = [];
  const { rx, addr } = await startReceiver({ endpoint: `127.0.0.1:${port}` }, async (r) => {
    got.push(r);
    return respond?.(r);
  });
  return { rx, addr, got };
}

/** A receiver that forwards to `downstream`, recording what it received. */
async function stage(downstream: string, rxOpts: OtlpGrpcReceiverOptions = {}, fwdOpts: Partial<OtlpForwarderOptions> = {}) {
  const fwd = forwarder({ endpoint: downstream, ...fwdOpts });
  const got: ReceivedTraces[] = [];
  const { rx, addr } = await startReceiver(rxOpts, (r) => {
    got.push(r);
    return fwd.forward(r.raw, { deadline: r.deadline, signal: r.signal });
  });
  return { rx, addr, fwd, got };
}

interface RawResult {
  err?: ServiceError;
  res?: Buffer;
  ms: number;
}

const identity = (b: Buffer): Buffer => b;
const rawClients: Client[] = [];

function rawClient(addr: string, gzip = false): Client {
  const c = new Client(addr, credentials.createInsecure(), gzip ? { 'grpc.default_compression_algorithm': 2 } : {});
  rawClients.push(c);
  return c;
}

/** One Export call with exactly these bytes as the message (any bytes, valid or not). */
function rawExport(client: Client, bytes: Buffer, timeoutMs = 20_000): Promise<RawResult> {
  const t0 = Date.now();
  return new Promise((resolve) =>
    client.makeUnaryRequest(EXPORT_PATH, identity, identity, bytes, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
      resolve({ err: err ?? undefined, res: res ?? undefined, ms: Date.now() - t0 }),
    ),
  );
}

/** A gRPC call written by hand over HTTP/2: `frameFlag` 1 marks the message compressed with `encoding`. */
async function h2Export(addr: string, message: Buffer, frameFlag: 0 | 1, encoding?: string): Promise<{ status: number; message: string }> {
  const session = http2.connect(`http://${addr}`);
  try {
    return await new Promise((resolve, reject) => {
      session.on('error', reject);
      const headers: http2.OutgoingHttpHeaders = {
        ':method': 'POST',
        ':path': EXPORT_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
      };
      if (encoding) headers['grpc-encoding'] = encoding;
      const req = session.request(headers);
      let status: number | undefined;
      let msg = '';
      const take = (h: http2.IncomingHttpHeaders) => {
        if (h['grpc-status'] !== undefined) {
          status = Number(h['grpc-status']);
          msg = decodeURIComponent(String(h['grpc-message'] ?? ''));
        }
      };
      req.on('response', take);
      req.on('trailers', take);
      req.on('data', () => undefined);
      req.on('error', reject);
      req.on('close', () => (status === undefined ? reject(new Error('no grpc-status')) : resolve({ status, message: msg })));
      const head = Buffer.alloc(5);
      head.writeUInt8(frameFlag, 0);
      head.writeUInt32BE(message.length, 1);
      req.end(Buffer.concat([head, message]));
    });
  } finally {
    session.close();
  }
}

const nanos = (t: HrTime): string => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

function sdkAttrs(a: Attributes | undefined): Record<string, AttributeValue | undefined> {
  return { ...(a ?? {}) };
}

/** Makes spans with the SDK: nested, every attribute type, events, links, error status, drops. */
function makeSpans(service: string, count: number): { spans: ReadableSpan[]; resourceAttrs: Attributes } {
  const resourceAttrs: Attributes = { 'service.name': service, 'service.version': '1.2.3', 'host.cores': 2, 'deployment.canary': false };
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resourceAttrs),
    spanProcessors: [new SimpleSpanProcessor(memory)],
    spanLimits: { attributeCountLimit: 12, eventCountLimit: 8, linkCountLimit: 4 },
  });
  const tracer = provider.getTracer('otlp-receiver-test', '9.8.7');
  for (let i = 0; i < count; i++) {
    tracer.startActiveSpan(`GET /sessions/${i}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200 + (i % 3) } }, (root) => {
      const child = tracer.startSpan('store.expire', {
        kind: i % 2 ? SpanKind.CLIENT : SpanKind.INTERNAL,
        links: [{ context: root.spanContext(), attributes: { 'link.why': 'test', 'link.n': i } }],
      });
      child.setAttributes({
        's': `value ${i} — ünïcödé ✓`,
        'i': i * 1_000_003,
        'neg': -i - 1,
        'big': 2 ** 53 - 1,
        'd': i + 0.25,
        'b': i % 2 === 0,
        'ss': ['a', `b${i}`, ''],
        'is': [1, 2, 3 + i],
        'ds': [0.5, -1.5],
        'bs': [true, false],
        'empty': '',
      });
      for (let j = 0; j < 14; j++) child.setAttribute(`extra.${j}`, j); // over the limit: counted as dropped
      child.addEvent('map.delete', { 'go.map.key': `sess-${i}`, 'code.lineno': 57 });
      child.addEvent('no attributes');
      child.recordException(new Error(`boom ${i}`));
      for (let j = 0; j < 10; j++) child.addEvent(`e${j}`); // over the event limit
      child.setStatus(i % 3 === 0 ? { code: SpanStatusCode.ERROR, message: `failed ${i}` } : { code: SpanStatusCode.OK });
      child.end();
      root.end();
    });
  }
  return { spans: memory.getFinishedSpans(), resourceAttrs };
}

function sdkExport(addr: string, spans: ReadableSpan[], gzip = false, timeoutMillis = 10_000): Promise<ExportResult> {
  const exporter = new OTLPTraceExporter({
    url: `http://${addr}`,
    compression: gzip ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
    timeoutMillis,
  });
  return new Promise<ExportResult>((resolve) => exporter.export(spans, resolve)).finally(() => exporter.shutdown());
}

/** Every span the SDK made is in the decoded requests, with every field as the SDK had it. */
function assertSameSpans(reqs: ExportTraceServiceRequest[], sdk: ReadableSpan[], resourceAttrs: Attributes): void {
  const byId = new Map<string, { span: OtlpSpan; resource: Record<string, unknown>; scope?: { name?: string; version?: string } }>();
  for (const req of reqs) {
    for (const rs of req.resourceSpans) {
      const resource = attrsToJs(rs.resource?.attributes ?? []);
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          assert.ok(!byId.has(hex(span.spanId)), `span ${hex(span.spanId)} once`);
          byId.set(hex(span.spanId), { span, resource, scope: ss.scope });
        }
      }
    }
  }
  assert.equal(byId.size, sdk.length, 'as many spans came out as the SDK made');
  for (const s of sdk) {
    const ctx = s.spanContext();
    const got = byId.get(ctx.spanId);
    assert.ok(got, `span ${s.name} ${ctx.spanId} came out`);
    const o = got.span;
    const where = `span ${s.name} ${ctx.spanId}`;
    assert.deepEqual(got.resource, sdkAttrs(resourceAttrs), `${where}: resource`);
    assert.equal(got.scope?.name, s.instrumentationScope.name);
    assert.equal(got.scope?.version, s.instrumentationScope.version);
    assert.equal(hex(o.traceId), ctx.traceId, `${where}: trace id`);
    assert.equal(hex(o.parentSpanId), s.parentSpanContext?.spanId ?? '', `${where}: parent`);
    assert.equal(o.name, s.name);
    assert.equal(o.kind, s.kind + 1, `${where}: kind`);
    assert.equal((o.flags ?? 0) & 0xff, ctx.traceFlags & 0xff);
    assert.equal(o.startTimeUnixNano, nanos(s.startTime), `${where}: start`);
    assert.equal(o.endTimeUnixNano, nanos(s.endTime), `${where}: end`);
    assert.deepEqual(attrsToJs(o.attributes), sdkAttrs(s.attributes), `${where}: attributes`);
    assert.equal(o.droppedAttributesCount ?? 0, s.droppedAttributesCount, `${where}: dropped attributes`);
    assert.equal(o.events.length, s.events.length, `${where}: events`);
    s.events.forEach((e, k) => {
      assert.equal(o.events[k].name, e.name);
      assert.equal(o.events[k].timeUnixNano, nanos(e.time), `${where}: event ${e.name} time`);
      assert.deepEqual(attrsToJs(o.events[k].attributes), sdkAttrs(e.attributes), `${where}: event ${e.name} attributes`);
      assert.equal(o.events[k].droppedAttributesCount ?? 0, e.droppedAttributesCount ?? 0);
    });
    assert.equal(o.droppedEventsCount ?? 0, s.droppedEventsCount, `${where}: dropped events`);
    assert.equal(o.links.length, s.links.length);
    s.links.forEach((l, k) => {
      assert.equal(hex(o.links[k].traceId), l.context.traceId);
      assert.equal(hex(o.links[k].spanId), l.context.spanId);
      assert.deepEqual(attrsToJs(o.links[k].attributes), sdkAttrs(l.attributes));
    });
    assert.equal(o.droppedLinksCount ?? 0, s.droppedLinksCount);
    assert.equal(o.status?.code ?? 0, s.status.code, `${where}: status code`);
    assert.equal(o.status?.message ?? '', s.status.message ?? '', `${where}: status message`);
  }
}

/** A valid request of about `size` bytes (one span with a big attribute). */
function requestOfSize(size: number, name = 'big'): Buffer {
  const req: ExportTraceServiceRequest = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'sizes' } }], entityRefs: [] },
        scopeSpans: [
          {
            scope: { name: 'test', attributes: [] },
            spans: [
              {
                traceId: Buffer.alloc(16, 1),
                spanId: Buffer.alloc(8, 2),
                name,
                kind: 1,
                startTimeUnixNano: '1700000000000000000',
                endTimeUnixNano: '1700000000000001000',
                attributes: [{ key: 'pad', value: { stringValue: 'x'.repeat(Math.max(0, size - 120)) } }],
                events: [],
                links: [],
              },
            ],
          },
        ],
      },
    ],
  };
  return encodeRequest(protos, req);
}

after(async () => {
  for (const c of rawClients) c.close();
  await Promise.all(forwarders.map((f) => f.close(100)));
  await Promise.all(started.map((rx) => rx.shutdown(500)));
});

// ---- tests -----------------------------------------------------------------------------------

describe('OTLP receiver: defaults and endpoint', () => {
  it('listens on loopback by default, with the collector-like defaults', () => {
    assert.equal(OTLP_GRPC_DEFAULTS.endpoint, '127.0.0.1:4317');
    assert.equal(OTLP_GRPC_DEFAULTS.maxRecvMsgSizeBytes, 4 * MIB);
    assert.deepEqual(parseEndpoint('127.0.0.1:4317'), { host: '127.0.0.1', port: 4317 });
    assert.deepEqual(parseEndpoint('[::1]:4317'), { host: '::1', port: 4317 });
    assert.deepEqual(parseEndpoint('localhost:0'), { host: 'localhost', port: 0 });
    assert.deepEqual(parseEndpoint(':4317'), { host: '0.0.0.0', port: 4317 });
    assert.throws(() => parseEndpoint('4317'), /host:port/);
    assert.throws(() => parseEndpoint('127.0.0.1:70000'), /over 65535/);
    assert.throws(() => new OtlpGrpcReceiver({ maxInflightBytes: MIB }, async () => undefined), /at least maxRecvMsgSizeBytes/);
  });

  it('binds the configured loopback address and reports the port it got', async () => {
    const { rx, addr } = await startReceiver({ endpoint: '127.0.0.1:0' }, async (r) => {
      assert.match(r.peer, /^127\.0\.0\.1:\d+$/);
      return undefined;
    });
    assert.match(addr, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(addr, '127.0.0.1:0');
    const r = await rawExport(rawClient(addr), requestOfSize(200));
    assert.equal(r.err, undefined);
    assert.equal(rx.stats.accepted, 1);
  });
});

describe('OTLP receiver: SDK → receiver → forwarder → collector', () => {
  it('forwards every request byte for byte, and the spans decode to exactly what the SDK made', async () => {
    const col = await collector();
    const st = await stage(col.addr);
    const a = makeSpans('sessions', 40);
    const b = makeSpans('billing', 3);
    // three exports: two resources, and a single-span request
    for (const spans of [a.spans, b.spans, a.spans.slice(0, 1)]) {
      const result = await sdkExport(st.addr, spans);
      assert.equal(result.code, ExportResultCode.SUCCESS, result.error?.message);
    }
    assert.equal(st.got.length, 3, 'the stage received three requests');
    assert.equal(col.got.length, 3, 'the collector received three requests');
    for (let k = 0; k < 3; k++) {
      assert.ok(col.got[k].raw.equals(st.got[k].raw), `request ${k}: the collector got the very bytes the SDK sent`);
      assert.deepEqual(col.got[k].decode(), st.got[k].decode(), `request ${k}: decoded alike`);
    }
    assertSameSpans([col.got[0].decode()], a.spans, a.resourceAttrs);
    assertSameSpans([col.got[1].decode()], b.spans, b.resourceAttrs);
    assertSameSpans([col.got[2].decode()], a.spans.slice(0, 1), a.resourceAttrs);
    assert.equal(st.fwd.stats.forwarded, 3);
    assert.equal(st.fwd.stats.pendingRequests, 0);
    assert.equal(st.rx.stats.inflightRequests, 0);
    assert.equal(st.rx.stats.inflightBytes, 0);
  });

  it("passes the collector's response (partial success) back to the sender unchanged", async () => {
    const answer = encodeResponse(protos, { partialSuccess: { rejectedSpans: '1', errorMessage: 'one span too old' } });
    const col = await collector(0, () => answer);
    const st = await stage(col.addr);
    const r = await rawExport(rawClient(st.addr), requestOfSize(500));
    assert.equal(r.err, undefined);
    assert.ok(r.res?.equals(answer), 'response bytes as the collector sent them');
    assert.deepEqual(decodeResponse(protos, r.res!), { partialSuccess: { rejectedSpans: '1', errorMessage: 'one span too old' } });
  });

  it('keeps unknown fields: a request from a newer protocol version passes through intact', async () => {
    const col = await collector();
    const st = await stage(col.addr);
    const base = requestOfSize(300);
    // field 999 (varint), field 1000 (bytes) and a group, appended at the top level
    const unknown = Buffer.from([0xb8, 0x3e, 0x2a, 0xc2, 0x3e, 0x03, 0x61, 0x62, 0x63, 0xcb, 0x3e, 0x08, 0x01, 0xcc, 0x3e]);
    const req = Buffer.concat([base, unknown]);
    const r = await rawExport(rawClient(st.addr), req);
    assert.equal(r.err, undefined, r.err?.message);
    assert.ok(col.got.at(-1)!.raw.equals(req));
    assert.equal(col.got.at(-1)!.decode().resourceSpans[0].scopeSpans[0].spans[0].name, 'big');
  });

  it('refuses a non-retryable downstream answer with that status (no retry loop)', async () => {
    const { addr: bad } = await startReceiver({}, async () => {
      throw new StatusError(Status.INVALID_ARGUMENT, 'trace id must be 16 bytes');
    });
    const st = await stage(bad);
    const r = await rawExport(rawClient(st.addr), requestOfSize(100));
    assert.equal(r.err?.code, Status.INVALID_ARGUMENT);
    assert.match(r.err!.details, /trace id must be 16 bytes/);
    assert.equal(st.fwd.stats.refusedDownstream, 1);
    assert.equal(st.fwd.stats.failedAttempts, 0);
  });
});

describe('OTLP receiver: limits', () => {
  it('answers RESOURCE_EXHAUSTED for a request over max_recv_msg_size, also when it only grows past it by gzip decompression, and stays up', async () => {
    const got: Buffer[] = [];
    const { rx, addr } = await startReceiver({ maxRecvMsgSizeBytes: 64 * 1024 }, async (r) => void got.push(r.raw));
    const plain = rawClient(addr);
    const over = await rawExport(plain, requestOfSize(100 * 1024));
    assert.equal(over.err?.code, Status.RESOURCE_EXHAUSTED, over.err?.message);
    // compresses to a few hundred bytes, decompresses to 200 KiB
    const zipped = await rawExport(rawClient(addr, true), requestOfSize(200 * 1024));
    assert.equal(zipped.err?.code, Status.RESOURCE_EXHAUSTED, zipped.err?.message);
    const bomb = zlib.gzipSync(requestOfSize(1024 * 1024));
    assert.ok(bomb.length < 64 * 1024);
    const h2 = await h2Export(addr, bomb, 1, 'gzip');
    assert.equal(h2.status, Status.RESOURCE_EXHAUSTED, h2.message);
    assert.equal(got.length, 0, 'nothing oversize reached the consumer');
    const ok = await rawExport(plain, requestOfSize(60 * 1024));
    assert.equal(ok.err, undefined, 'still serving');
    assert.equal(got.length, 1);
    assert.equal(rx.stats.endedByTransport, 3, 'the three ended by grpc-js');
    assert.equal(rx.stats.inflightRequests, 0);
  });

  it('accepts up to the 4 MiB default and refuses beyond it', async () => {
    const { addr } = await startReceiver({}, async () => undefined);
    const c = rawClient(addr);
    const under = await rawExport(c, requestOfSize(4 * MIB - 1024));
    assert.equal(under.err, undefined, under.err?.message);
    const over = await rawExport(c, requestOfSize(4 * MIB + 1024));
    assert.equal(over.err?.code, Status.RESOURCE_EXHAUSTED);
  });

  it('answers INVALID_ARGUMENT for malformed protobuf, never hands it on, and stays up', async () => {
    const got: Buffer[] = [];
    const { rx, addr } = await startReceiver({}, async (r) => void got.push(r.raw));
    const c = rawClient(addr);
    const valid = requestOfSize(400);
    const badName = Buffer.from(valid);
    badName[badName.indexOf(Buffer.from('big'))] = 0xff; // span name no longer UTF-8
    const garbage: [string, Buffer][] = [
      ['random bytes', Buffer.from('e1b3f0c9a7d2ff08ee31c4b2d9e0a7ff1c3b5d7f9e8a6c4b2d0f1e3c5a7b9d8f', 'hex')],
      ['text', Buffer.from('this is not protobuf at all, just a sentence')],
      ['truncated request', valid.subarray(0, valid.length - 7)],
      ['wrong wire type for resource_spans', Buffer.from([0x08, 0x01])],
      ['field number 0', Buffer.from([0x02, 0x00])],
      ['length past the end', Buffer.from([0x0a, 0x7f, 0x00])],
      ['varint longer than 10 bytes', Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])],
      ['invalid UTF-8 in a span name', badName],
      ['stray end-group tag', Buffer.from([0x0c])],
    ];
    for (const [what, bytes] of garbage) {
      const r = await rawExport(c, bytes);
      assert.equal(r.err?.code, Status.INVALID_ARGUMENT, `${what}: ${r.err?.message ?? 'accepted'}`);
      assert.match(r.err!.details, /malformed ExportTraceServiceRequest/);
      const still = await rawExport(c, valid);
      assert.equal(still.err, undefined, `still serving after ${what}`);
    }
    const h2 = await h2Export(addr, Buffer.from([0xff, 0xff, 0xff]), 0);
    assert.equal(h2.status, Status.INVALID_ARGUMENT);
    assert.equal(got.length, garbage.length, 'only the valid requests reached the consumer');
    for (const g of got) assert.ok(g.equals(valid));
    assert.equal(rx.stats.malformed, garbage.length + 1);
    assert.equal(rx.stats.inflightRequests, 0);
  });

  it('pushes back with UNAVAILABLE beyond max in-flight requests and bytes instead of buffering', async () => {
    const release: (() => void)[] = [];
    const { rx, addr } = await startReceiver({ maxInflightRequests: 3, maxInflightBytes: 256 * 1024, maxRecvMsgSizeBytes: 128 * 1024 }, (r) =>
      new Promise<undefined>((resolve) => release.push(() => resolve(undefined))),
    );
    const c = rawClient(addr);
    const calls = Array.from({ length: 12 }, () => rawExport(c, requestOfSize(100 * 1024)));
    // held: 2 (the third would pass 256 KiB); the other 10 are answered at once
    const deadline = Date.now() + 5000;
    while (rx.stats.refusedBusy < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(rx.stats.refusedBusy, 10, 'ten refused while two are held');
    assert.equal(release.length, 2);
    assert.ok(rx.stats.peakInflightRequests <= 3);
    assert.ok(rx.stats.peakInflightBytes <= 256 * 1024);
    release.forEach((f) => f());
    const results = await Promise.all(calls);
    const ok = results.filter((r) => !r.err);
    const busy = results.filter((r) => r.err?.code === Status.UNAVAILABLE);
    assert.equal(ok.length, 2);
    assert.equal(busy.length, 10);
    for (const b of busy) assert.match(b.err!.details, /busy/);
    assert.equal(rx.stats.inflightRequests, 0);
    assert.equal(rx.stats.inflightBytes, 0);
  });
});

describe('OTLP receiver: downstream down', () => {
  it('answers UNAVAILABLE after the bounded wait, holds no more than its bounds, and resumes when the downstream is back', async () => {
    const port = await freePort();
    const maxWaitMs = 700;
    const st = await stage(
      `127.0.0.1:${port}`,
      { maxInflightRequests: 4, maxInflightBytes: 1 * MIB, maxRecvMsgSizeBytes: 256 * 1024 },
      { maxWaitMs, retry: { enabled: true, initialIntervalMs: 50, maxIntervalMs: 200, maxElapsedMs: 0 } },
    );
    const c = rawClient(st.addr);

    // one request: the sender waits the bounded time, then gets a retryable UNAVAILABLE
    const one = await rawExport(c, requestOfSize(1000));
    assert.equal(one.err?.code, Status.UNAVAILABLE, one.err?.message);
    assert.match(one.err!.details, /downstream 127\.0\.0\.1:\d+: not accepted within/);
    assert.ok(one.ms >= maxWaitMs - 50 && one.ms < maxWaitMs + 3000, `answered after ${one.ms} ms`);

    // a burst: four are held (the bound), the rest refused at once; nothing is kept afterwards
    const heapBefore = process.memoryUsage().heapUsed;
    const burst = await Promise.all(Array.from({ length: 40 }, (_, k) => rawExport(c, requestOfSize(200 * 1024, `burst ${k}`))));
    assert.ok(burst.every((r) => r.err?.code === Status.UNAVAILABLE), 'every sender told to retry');
    const held = burst.filter((r) => /downstream/.test(r.err!.details));
    const refused = burst.filter((r) => /busy/.test(r.err!.details));
    assert.equal(held.length + refused.length, 40);
    assert.ok(held.length >= 1 && held.length <= 4, `${held.length} held`);
    for (const r of held) assert.ok(r.ms >= maxWaitMs - 50, `a held sender waited the bounded time (${r.ms} ms)`);
    for (const r of refused) assert.ok(r.ms < maxWaitMs, `a refused sender is answered at once (${r.ms} ms)`);
    assert.ok(st.rx.stats.peakInflightRequests <= 4, `peak ${st.rx.stats.peakInflightRequests} requests`);
    assert.ok(st.rx.stats.peakInflightBytes <= 1 * MIB, `peak ${st.rx.stats.peakInflightBytes} bytes`);
    assert.ok(st.fwd.stats.peakPendingRequests <= 4);
    assert.equal(st.rx.stats.inflightRequests, 0);
    assert.equal(st.rx.stats.inflightBytes, 0);
    assert.equal(st.fwd.stats.pendingRequests, 0, 'no request outlives its sender');
    assert.equal(st.fwd.stats.pendingBytes, 0);
    global.gc?.();
    const grew = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(grew < 64 * MIB, `heap grew by ${grew} bytes over a burst of 8 MiB of requests`);

    // the downstream comes up on that port: the next request goes through within the wait
    const col = await collector(port);
    const req = requestOfSize(2000, 'after the outage');
    let r: RawResult | undefined;
    for (let k = 0; k < 5; k++) {
      r = await rawExport(c, req);
      if (!r.err) break;
      assert.equal(r.err.code, Status.UNAVAILABLE);
    }
    assert.equal(r!.err, undefined, `forwarding resumed (${r!.err?.message})`);
    assert.ok(col.got.at(-1)!.raw.equals(req), 'the collector got the request byte for byte');
    assert.equal(col.got.length, 1, 'nothing given up earlier was delivered later');
    assert.ok(st.fwd.stats.unavailable >= 1);
  });

  it("answers before the sender's own deadline when that is shorter than the bounded wait", async () => {
    const port = await freePort();
    const st = await stage(`127.0.0.1:${port}`, {}, { maxWaitMs: 10_000 });
    const r = await rawExport(rawClient(st.addr), requestOfSize(100), 800);
    assert.equal(r.err?.code, Status.UNAVAILABLE, r.err?.message);
    assert.ok(r.ms < 800, `answered after ${r.ms} ms, before the sender's 800 ms deadline`);
    const until = Date.now() + 2000;
    while (st.fwd.stats.pendingRequests > 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 10));
    assert.equal(st.fwd.stats.pendingRequests, 0, 'given up together with the sender');
  });

  it('the SDK exporter gets a failure, not a hang, while the downstream is down', async () => {
    const port = await freePort();
    const st = await stage(`127.0.0.1:${port}`, {}, { maxWaitMs: 300 });
    const t0 = Date.now();
    const result = await sdkExport(st.addr, makeSpans('down', 2).spans, false, 3000);
    assert.equal(result.code, ExportResultCode.FAILED);
    assert.ok(Date.now() - t0 < 10_000);
    assert.ok(st.rx.stats.statuses.UNAVAILABLE >= 1, JSON.stringify(st.rx.stats.statuses));
  });
});

describe('OTLP receiver: gzip', () => {
  it('accepts gzip-compressed requests from the SDK exporter and forwards the decompressed bytes', async () => {
    const col = await collector();
    const st = await stage(col.addr, {}, { compression: 'gzip' });
    const { spans, resourceAttrs } = makeSpans('zipped', 25);
    const result = await sdkExport(st.addr, spans, true);
    assert.equal(result.code, ExportResultCode.SUCCESS, result.error?.message);
    assert.equal(col.got.length, 1);
    assert.ok(col.got[0].raw.equals(st.got[0].raw));
    assertSameSpans([col.got[0].decode()], spans, resourceAttrs);
  });

  it('decompresses a hand-made gzip gRPC frame to exactly the original request', async () => {
    const got: Buffer[] = [];
    const { addr } = await startReceiver({}, async (r) => void got.push(r.raw));
    const req = requestOfSize(50_000, 'zipped by hand');
    const z = zlib.gzipSync(req);
    assert.ok(z.length < req.length / 10);
    const res = await h2Export(addr, z, 1, 'gzip');
    assert.equal(res.status, Status.OK, res.message);
    assert.equal(got.length, 1);
    assert.ok(got[0].equals(req));
    assert.equal(decodeRequest(protos, got[0]).resourceSpans[0].scopeSpans[0].spans[0].name, 'zipped by hand');
  });
});

describe('OTLP receiver: shutdown', () => {
  it('lets in-flight requests finish, then refuses new ones', async () => {
    const rx = new OtlpGrpcReceiver({ endpoint: '127.0.0.1:0' }, () => new Promise((r) => setTimeout(() => r(undefined), 300)));
    await rx.start();
    const c = rawClient(rx.address());
    const inflight = rawExport(c, requestOfSize(100));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await rx.shutdown(5000);
    assert.ok(Date.now() - t0 < 2000);
    const r = await inflight;
    assert.equal(r.err, undefined, 'the in-flight request was answered OK');
    const after = await rawExport(c, requestOfSize(100), 2000);
    assert.ok(after.err, 'nothing is accepted after shutdown');
    assert.equal(rx.stats.accepted, 1);
  });

  it('answers UNAVAILABLE for requests still running at the shutdown timeout', async () => {
    const rx = new OtlpGrpcReceiver({ endpoint: '127.0.0.1:0' }, (r) =>
      new Promise((_, reject) => r.signal.addEventListener('abort', () => reject(r.signal.reason))),
    );
    await rx.start();
    const inflight = rawExport(rawClient(rx.address()), requestOfSize(100));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await rx.shutdown(300);
    assert.ok(Date.now() - t0 < 2000);
    const r = await inflight;
    assert.equal(r.err?.code, Status.UNAVAILABLE, r.err?.message);
    assert.match(r.err!.details, /shutting down/);
  });
});

describe('OTLP forwarder', () => {
  it('with the exporter\'s long retry intervals (5s..30s), still reconnects within the bounded wait once the downstream is back', async () => {
    const port = await freePort();
    const fwd = forwarder({ endpoint: `127.0.0.1:${port}`, maxWaitMs: 1000, retry: { enabled: true, initialIntervalMs: 5000, maxIntervalMs: 30_000, maxElapsedMs: 300_000 } });
    const bytes = requestOfSize(100);
    for (let k = 0; k < 3; k++) await assert.rejects(fwd.forward(bytes), /not accepted within/); // the channel backs off meanwhile
    const col = await collector(port);
    const t0 = Date.now();
    let done = false;
    for (let k = 0; k < 3 && !done; k++) done = await fwd.forward(bytes).then(() => true, () => false);
    assert.ok(done, 'delivered within three bounded waits');
    assert.ok(Date.now() - t0 < 3500);
    assert.ok(col.got[0].raw.equals(bytes));
  });

  it('has the documented defaults', () => {
    assert.equal(FORWARD_DEFAULTS.maxWaitMs, 5000);
    assert.equal(FORWARD_DEFAULTS.retry.enabled, true);
  });

  it('refuses at once beyond its own pending bound', async () => {
    const port = await freePort();
    const fwd = forwarder({ endpoint: `127.0.0.1:${port}`, maxWaitMs: 500, maxPendingRequests: 2 });
    const bytes = requestOfSize(100);
    const all = await Promise.allSettled([fwd.forward(bytes), fwd.forward(bytes), fwd.forward(bytes)]);
    const reasons = all.map((s) => (s.status === 'rejected' ? String((s.reason as Error).message) : 'ok'));
    assert.equal(reasons.filter((m) => /already waiting/.test(m)).length, 1, reasons.join('; '));
    assert.equal(reasons.filter((m) => /not accepted within/.test(m)).length, 2, reasons.join('; '));
    assert.equal(fwd.stats.refusedFull, 1);
  });
});
