/**
 * docker-compose.yml's pipeline without Docker (no engine runs on the test machines): the same
 * configuration files — config/tracer-pipeline.yaml for the tracer, config/otelcol.yaml,
 * config/jaeger.yaml — with plain processes on loopback, the addresses moved through the
 * variables those files read, and examples/otel-http driven by its load tool, as the `example`
 * and `load` services run them. What docs/docker-compose.md says Jaeger shows must hold: each
 * request's trace, with the request's map deletes as go.map.delete events on the handler's span
 * (session.delete, cache.get, order.process) — the service's own span, no go.map.deletes span.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildOtelHttp, startOtelHttp, type GroundTruthDelete } from '../helpers/otel-http';
import { useCollectorAndJaeger } from '../helpers/jaeger-events';
import { freePort, jaegerTrace, spanEvents, waitFor } from '../helpers/otel';
import { runCli } from '../helpers/tracer';
import { packageRoot } from '../../receiver/util/paths';

const HANDLER_SPANS: Record<string, string> = {
  'main.(*SessionStore).Logout': 'session.delete',
  'main.(*Cache).Get': 'cache.get',
  'main.(*Orders).settle': 'order.process',
  'main.(*Orders).Finish': 'order.process',
};

describe("docker-compose's pipeline as plain processes (config/tracer-pipeline.yaml, otelcol, Jaeger)", function () {
  this.timeout(300_000);
  const otel = useCollectorAndJaeger('mdt-compose-pipeline-');

  it("Jaeger shows each request's trace with its deletes as go.map.delete events on the handler's span", async () => {
    const build = buildOtelHttp();
    assert.ok(build.load, 'the pinned build has the load tool');
    const receiverPort = await freePort();
    const service = `otel-http-${randomBytes(4).toString('hex')}`;
    // As the `example` service: its spans go to the tracer.
    const svc = await startOtelHttp(build.plain, {
      env: {
        OTEL_SERVICE_NAME: service,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`,
        OTEL_TRACES_EXPORTER: undefined,
        OTEL_BSP_SCHEDULE_DELAY: '300',
      },
      // A small cache: evictions early. Sessions outlive the test: no janitor deletes.
      args: ['-cache-size', '4', '-session-ttl', '10m', '-work', '0s'],
    });
    // As the `tracer` service, with the shipped file; only the two addresses differ.
    const tracer = runCli(['run', '--config', path.join(packageRoot(), 'config', 'tracer-pipeline.yaml'), '--pid', String(svc.pid)], {
      env: { TRACER_OTLP_GRPC_ENDPOINT: `127.0.0.1:${receiverPort}`, OTELCOL_ENDPOINT: otel.collector().otlpGrpc },
    });
    try {
      await tracer.attached;
      assert.ok(tracer.stderr.some((l) => l.includes(`forwarding OTLP/gRPC traces received on 127.0.0.1:${receiverPort}, deletes attached to their spans`)), tracer.stderr.join('\n'));

      // As the `load` service (faster, and bounded).
      const load = await promisify(execFile)(build.load!, ['-addr', svc.addr, '-n', '60', '-rate', '0', '-concurrency', '2', '-items', '16'], { encoding: 'utf8' });
      const requests = load.stdout
        .split('\n')
        .filter((l) => l.startsWith('{"event":"request"'))
        .map((l) => JSON.parse(l) as { kind: string; status: number; trace_id: string; span_id: string });
      assert.equal(requests.length, 60, load.stdout);
      assert.ok(requests.every((r) => r.status > 0 && /^[0-9a-f]{32}$/.test(r.trace_id)), load.stdout);

      // The ground truth: every delete in the service's handlers, with its trace and span.
      const truth = svc.deletes.filter((d) => d.trace_id !== '');
      const byTrace = new Map<string, GroundTruthDelete[]>();
      for (const d of truth) byTrace.set(d.trace_id, [...(byTrace.get(d.trace_id) ?? []), d]);
      const serverSpan = new Map(requests.map((r) => [r.trace_id, r.span_id]));
      for (const t of byTrace.keys()) assert.ok(serverSpan.has(t), `ground-truth trace ${t} is a request's`);
      for (const f of Object.keys(HANDLER_SPANS)) assert.ok(truth.some((d) => d.func === f), `some ${f} deletes (${truth.length} in all)`);

      // Flush: the service's SDK exports what it holds (through the tracer); the tracer, stopping,
      // exports anything still held. Every delete of the run was attached to a received span.
      assert.equal(await svc.stop(), 0, svc.stderr());
      tracer.kill('SIGTERM');
      const done = await tracer.exited;
      assert.equal(done.code, 0, done.stderr.join('\n'));
      const summary = done.stderr.find((l) => /deletes from \d+ process/.test(l)) ?? '';
      const m = /attached (\d+) deletes to (\d+) received spans, on their own: (\d+) after delete_wait, (\d+) late/.exec(summary);
      assert.ok(m, done.stderr.join('\n'));
      assert.equal(Number(m[1]), truth.length, summary);
      assert.deepEqual([m[3], m[4]], ['0', '0'], summary);

      // Jaeger: per request, the deletes hang on the handler's span of the request's trace.
      const problems: string[] = [];
      const deadline = Date.now() + 60_000;
      for (const [traceId, want] of byTrace) {
        const trace = await waitFor(
          async () => {
            const t = await jaegerTrace(otel.jaeger().queryUrl, traceId);
            const n = t?.spans.reduce((a, s) => a + spanEvents(s).filter((e) => e.name === 'go.map.delete').length, 0) ?? 0;
            return t && n >= want.length ? t : undefined;
          },
          Math.max(1000, deadline - Date.now()),
          `trace ${traceId} with its ${want.length} deletes in Jaeger`,
        );
        const server = trace.spans.find((s) => s.spanID === serverSpan.get(traceId));
        if (!server) problems.push(`trace ${traceId}: no server span ${serverSpan.get(traceId)}`);
        if (trace.spans.some((s) => s.operationName === 'go.map.deletes')) problems.push(`trace ${traceId}: a go.map.deletes span`);
        if (trace.processes[trace.spans[0].processID]?.serviceName !== service) problems.push(`trace ${traceId}: service is not ${service}`);
        for (const s of trace.spans) {
          const got = spanEvents(s)
            .filter((e) => e.name === 'go.map.delete')
            .map((e) => `${e.attributes['code.function.name']}:${e.attributes['code.line.number']} ${e.attributes['go.map.type']}`)
            .sort();
          const exp = want.filter((d) => d.span_id === s.spanID);
          if (exp.length === 0) {
            if (got.length) problems.push(`trace ${traceId}: span ${s.operationName} has unexpected events ${got.join(', ')}`);
            continue;
          }
          const expKeys = exp.map((d) => `${d.func}:${d.line} ${d.type}`).sort();
          if (JSON.stringify(got) !== JSON.stringify(expKeys)) {
            problems.push(`trace ${traceId}: span ${s.operationName} has ${JSON.stringify(got)}, expected ${JSON.stringify(expKeys)}`);
          }
          if (s.operationName !== HANDLER_SPANS[exp[0].func]) problems.push(`trace ${traceId}: ${exp[0].func}'s deletes on span "${s.operationName}"`);
          if (!s.references.some((r) => r.refType === 'CHILD_OF' && r.spanID === serverSpan.get(traceId))) {
            problems.push(`trace ${traceId}: span ${s.operationName} is not a child of the request's server span`);
          }
        }
      }
      assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems`);
    } finally {
      tracer.kill('SIGKILL');
      await svc.stop().catch(() => undefined);
    }
  });
});
