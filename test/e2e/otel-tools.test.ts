/**
 * The OpenTelemetry harness itself, with real components and no tracer: the collector built
 * from config/otelcol-builder.yaml running config/otelcol.yaml, and Jaeger v2 running
 * config/jaeger.yaml, both on loopback. A span sent over OTLP/gRPC with the JS SDK must come
 * out of Jaeger's HTTP API with its event and resource; while the collector is down a send must
 * fail, and once it is back on the same port a new span must arrive.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  jaegerServices,
  jaegerTrace,
  jaegerTraces,
  kv,
  otelTools,
  requireOtelTools,
  spanEvents,
  startCollector,
  startJaeger,
  stopAllOtel,
  waitFor,
  type RunningCollector,
  type RunningJaeger,
} from '../helpers/otel';

const SERVICE = 'otel-tools-selftest';

/** Makes finished spans with the SDK (kept in memory; the test exports them itself). */
function makeSpans(name: string, n = 1): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': SERVICE, 'mdt.selftest.run': String(process.pid) }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('otel-tools-selftest', '1.0.0');
  for (let i = 0; i < n; i++) {
    const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes: { 'selftest.index': i } });
    span.addEvent('selftest.event', { 'selftest.key': 'k-42', 'selftest.count': 7 });
    span.setStatus({ code: SpanStatusCode.OK });
    span.end();
  }
  return memory.getFinishedSpans();
}

function send(exporter: OTLPTraceExporter, spans: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

describe('otel tools: real otelcol and Jaeger v2 (no tracer)', function () {
  this.timeout(120_000);
  let jaeger: RunningJaeger;
  let collector: RunningCollector;
  let exporter: OTLPTraceExporter | undefined;

  before(function () {
    // A cold build of both tools takes minutes (scripts/build-otel-tools.sh).
    this.timeout(60 * 60 * 1000);
    requireOtelTools(this);
    otelTools();
  });

  after(async function () {
    this.timeout(60_000);
    await exporter?.shutdown().catch(() => {});
    await stopAllOtel();
  });

  it('has runnable otelcol-mdt and Jaeger binaries', function () {
    const tools = otelTools();
    const col = execFileSync(tools.otelcol, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(col, /otelcol-mdt/);
    const comps = execFileSync(tools.otelcol, ['components'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    for (const c of ['otlp', 'batch', 'otlp_grpc', 'debug']) assert.match(comps, new RegExp(`name: ${c}\\b`), `otelcol-mdt lacks ${c}`);
    const jv = execFileSync(tools.jaeger, ['version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(jv, /v2\.\d+\.\d+/);
  });

  it('starts Jaeger and the collector on loopback', async function () {
    jaeger = await startJaeger();
    assert.match(jaeger.otlpGrpc, /^127\.0\.0\.1:\d+$/);
    assert.match(jaeger.queryUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    collector = await startCollector({ jaegerOtlp: jaeger.otlpGrpc });
    assert.match(collector.otlpGrpc, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(collector.pid, jaeger.pid);
    assert.deepEqual(await jaegerServices(jaeger.queryUrl), [], 'a fresh Jaeger knows no service');
  });

  it('delivers a span with its event and resource from the collector to Jaeger', async function () {
    exporter = new OTLPTraceExporter({ url: `http://${collector.otlpGrpc}`, timeoutMillis: 5000 });
    const [span] = makeSpans('selftest-span');
    const res = await send(exporter, [span]);
    assert.equal(res.code, ExportResultCode.SUCCESS, `export failed: ${res.error?.message}`);

    const traceId = span.spanContext().traceId;
    const services = await waitFor(async () => {
      const s = await jaegerServices(jaeger.queryUrl);
      return s.includes(SERVICE) ? s : undefined;
    }, 30_000, `service ${SERVICE} in Jaeger (collector log ${collector.logFile})`);
    assert.ok(services.includes(SERVICE));

    const traces = await waitFor(async () => {
      const t = await jaegerTraces(jaeger.queryUrl, SERVICE, { limit: 10, lookbackMs: 600_000 });
      return t.some((x) => x.traceID === traceId) ? t : undefined;
    }, 30_000, `trace ${traceId} in Jaeger`);
    const trace = traces.find((t) => t.traceID === traceId)!;
    assert.equal(trace.spans.length, 1);
    const js = trace.spans[0];
    assert.equal(js.operationName, 'selftest-span');
    assert.equal(js.spanID, span.spanContext().spanId);
    assert.equal(kv(js.tags, 'selftest.index'), 0);
    assert.equal(kv(js.tags, 'otel.scope.name'), 'otel-tools-selftest');

    // the resource: service.name becomes the process's serviceName, the rest its tags
    const proc = trace.processes[js.processID];
    assert.equal(proc.serviceName, SERVICE);
    assert.equal(kv(proc.tags, 'mdt.selftest.run'), String(process.pid));

    // the span event: a log whose fields are its attributes plus event=<name>
    const events = spanEvents(js);
    assert.equal(events.length, 1);
    assert.equal(events[0].name, 'selftest.event');
    assert.deepEqual(events[0].attributes, { 'selftest.key': 'k-42', 'selftest.count': 7 });
    assert.ok(Math.abs(events[0].timestamp - js.startTime) < 60_000_000);

    // by id, and filtered by operation
    assert.equal((await jaegerTrace(jaeger.queryUrl, traceId))?.spans[0].spanID, js.spanID);
    assert.equal((await jaegerTraces(jaeger.queryUrl, SERVICE, { operation: 'no-such-operation' })).length, 0);

    // the debug exporter printed it to the collector's log
    assert.match(collector.debugLog(), /selftest-span/);
  });

  it('fails a send while the collector is down and delivers again after a restart on the same port', async function () {
    const port = collector.otlpGrpc;
    const oldPid = collector.pid;
    await collector.stop();
    assert.throws(() => process.kill(oldPid, 0), /ESRCH/, 'the collector process is gone');

    const down = await send(exporter!, makeSpans('selftest-while-down'));
    assert.equal(down.code, ExportResultCode.FAILED, 'a send to a stopped collector must fail');

    await collector.start();
    assert.equal(collector.otlpGrpc, port);
    assert.notEqual(collector.pid, oldPid);

    // the same exporter (as the tracer keeps one): its channel reconnects after the restart
    const [span] = makeSpans('selftest-after-restart');
    await waitFor(async () => {
      const r = await send(exporter!, [span]);
      return r.code === ExportResultCode.SUCCESS ? true : undefined;
    }, 60_000, 'a successful send after the collector restart');

    const traceId = span.spanContext().traceId;
    const trace = await waitFor(() => jaegerTrace(jaeger.queryUrl, traceId), 30_000, `trace ${traceId} in Jaeger after the restart`);
    assert.equal(trace.spans[0].operationName, 'selftest-after-restart');
    const names = (await jaegerTraces(jaeger.queryUrl, SERVICE, { limit: 50 })).flatMap((t) => t.spans.map((s) => s.operationName));
    assert.ok(!names.includes('selftest-while-down'), 'the span sent while the collector was down was not delivered');
  });
});
