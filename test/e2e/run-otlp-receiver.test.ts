/**
 * `run` in pipeline-stage mode: with the otlp receiver in the pipeline, the tracer forwards the
 * OTLP/gRPC traces a service sends it to its otlp exporter's downstream byte for byte, and
 * exports the deletes it traces to that same downstream as before; SIGTERM ends it with 0.
 *
 * The downstream is an in-process OtlpGrpcReceiver playing the collector; the spans are made and
 * sent by the OpenTelemetry JS SDK (OTLPTraceExporter). What the SDK sends is first captured by
 * a second in-process receiver (the SDK's encoding of the same spans is deterministic), so the
 * downstream's bytes can be compared with it.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { OtlpGrpcReceiver, type ReceivedTraces } from '../../receiver/otlp/server';
import type { AnyValue } from '../../receiver/otlp/proto';
import { loadFixtureManifest, startFixture, type RunningFixture } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { freePort, waitFor } from '../helpers/otel';
import { parseRunSummary, runCli, type TracerRun } from '../helpers/tracer';

/** An in-process receiver that records every request and accepts it. */
async function recorder(): Promise<{ rx: OtlpGrpcReceiver; addr: string; got: ReceivedTraces[] }> {
  const got: ReceivedTraces[] = [];
  const rx = new OtlpGrpcReceiver({ endpoint: '127.0.0.1:0' }, async (r) => {
    got.push(r);
  });
  await rx.start();
  return { rx, addr: rx.address(), got };
}

function makeSpans(service: string, count: number): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('run-otlp-receiver-test', '1.0.0');
  for (let i = 0; i < count; i++) {
    tracer.startActiveSpan(`GET /sessions/${i}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', i } }, (root) => {
      const child = tracer.startSpan('store.expire');
      child.addEvent('expired', { key: `sess-${i}` });
      child.end();
      root.end();
    });
  }
  return memory.getFinishedSpans();
}

function sdkExport(addr: string, spans: ReadableSpan[]): Promise<ExportResult> {
  const exporter = new OTLPTraceExporter({ url: `http://${addr}`, timeoutMillis: 10_000 });
  return new Promise<ExportResult>((resolve) => exporter.export(spans, resolve)).finally(() => exporter.shutdown());
}

function str(v: AnyValue | undefined): string | undefined {
  return v?.stringValue ?? undefined;
}

/** The delete events of the fixture's own code, from every go.map.deletes span in `reqs`. */
function deleteEvents(reqs: ReceivedTraces[]): { name: string; func: string }[] {
  const out: { name: string; func: string }[] = [];
  for (const r of reqs) {
    for (const rs of r.decode().resourceSpans) {
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          if (span.name !== 'go.map.deletes') continue;
          for (const e of span.events) {
            const func = str(e.attributes.find((a) => a.key === 'code.function.name')?.value) ?? '';
            if (func.startsWith('main.')) out.push({ name: e.name ?? '', func });
          }
        }
      }
    }
  }
  return out;
}

describe('run with the otlp receiver (pipeline-stage mode)', function () {
  this.timeout(120_000);
  let tmp: string;
  const cleanup: (() => unknown)[] = [];

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-run-otlp-'));
  });

  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await Promise.resolve(f()).catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('forwards received traces byte for byte and exports the deletes to the same downstream', async function () {
    requireBpf(this);
    const build = loadFixtureManifest()
      .filter((b) => b.mode === 'plain' && !b.experiment)
      .sort((a, b) => a.go.localeCompare(b.go, 'en', { numeric: true }))
      .at(-1)!;

    const downstream = await recorder();
    cleanup.push(() => downstream.rx.shutdown(0));
    const mirror = await recorder();
    cleanup.push(() => mirror.rx.shutdown(0));

    const fx: RunningFixture = await startFixture(build.path, { linger: true });
    cleanup.push(() => fx.kill());

    const port = await freePort();
    const cfg = path.join(tmp, 'tracer.yaml');
    fs.writeFileSync(
      cfg,
      [
        'receivers:',
        '  mapdelete: {}',
        '  otlp:',
        '    protocols:',
        '      grpc:',
        `        endpoint: 127.0.0.1:${port}`,
        'exporters:',
        '  otlp:',
        `    endpoint: http://${downstream.addr}`,
        'service:',
        '  pipelines:',
        '    traces:',
        '      receivers: [mapdelete, otlp]',
        '      exporters: [otlp]',
        '',
      ].join('\n'),
    );
    const tracer: TracerRun = runCli(['run', '--config', cfg, '--pid', String(fx.pid)]);
    cleanup.push(() => tracer.kill('SIGKILL'));
    await tracer.attached;
    assert.ok(
      tracer.stderr.some((l) => l.includes(`listening for OTLP/gRPC traces on 127.0.0.1:${port}`)),
      tracer.stderr.join('\n'),
    );

    // What the SDK sends for these spans, captured by the mirror; then the same to the tracer.
    const batches = [makeSpans('sessions', 20), makeSpans('billing', 3)];
    for (const spans of batches) {
      const r = await sdkExport(mirror.addr, spans);
      assert.equal(r.code, ExportResultCode.SUCCESS, r.error?.message);
    }
    for (const spans of batches) {
      const r = await sdkExport(`127.0.0.1:${port}`, spans);
      assert.equal(r.code, ExportResultCode.SUCCESS, `${r.error?.message}\n${tracer.stderr.join('\n')}`);
    }
    assert.equal(mirror.got.length, 2);
    for (const [k, sent] of mirror.got.entries()) {
      assert.ok(
        downstream.got.some((g) => g.raw.equals(sent.raw)),
        `request ${k}: the downstream got the very bytes the SDK sent (${sent.raw.length} bytes)`,
      );
    }

    // The fixture's deletes reach the same downstream as go.map.deletes spans.
    fx.go();
    const ops = await fx.ops;
    assert.ok(ops.length > 0, 'the fixture reported its deletes');
    const events = await waitFor(
      async () => {
        const evs = deleteEvents(downstream.got);
        return evs.length >= ops.length ? evs : undefined;
      },
      30_000,
      `${ops.length} delete events in the downstream`,
    );
    assert.equal(events.length, ops.length, 'one event per delete');
    for (const e of events) assert.ok(e.name === 'go.map.delete' || e.name === 'go.map.clear', e.name);
    // The forwarded requests are exactly the SDK's two; everything else is the tracer's own.
    const forwarded = downstream.got.filter((g) => mirror.got.some((m) => m.raw.equals(g.raw)));
    assert.equal(forwarded.length, 2, 'each received request forwarded once');

    tracer.kill('SIGTERM');
    const done = await tracer.exited;
    assert.equal(done.code, 0, done.stderr.join('\n'));
    const summary = parseRunSummary(done.stderr);
    assert.equal(summary.deletes, ops.length, done.stderr.join('\n'));
    assert.equal(summary.droppedEvents, 0, done.stderr.join('\n'));
    const line = done.stderr.find((l) => /deletes from \d+ process/.test(l))!;
    assert.match(line, /otlp receiver: 2 requests received, 2 forwarded, 0 refused$/);
    fx.endInput();
    await fx.exited;
  });
});
