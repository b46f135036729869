/**
 * Issue 4's end-to-end check: a few hundred requests to examples/otel-http (instrumented with the
 * OpenTelemetry Go SDK), traced by `run`, exported through a real otelcol to a real Jaeger; then,
 * through Jaeger's API, every request's trace must hold exactly that request's deletes (keys,
 * lines, goroutines, the worker goroutine's included), and no other request's.
 *
 * Two modes:
 * - standalone: the service exports its spans to the collector itself; the tracer exports each
 *   delete on a go.map.deletes span whose parent is the span active at the delete;
 * - pipeline stage: the service exports to the tracer's otlp receiver; the tracer forwards its
 *   spans, with each delete added as an event on the very span that was active.
 *
 * The ground truth is what the service itself printed for each delete (-ground-truth): the trace
 * and span ids of the active span from span.SpanContext(), runtime.Stack's goroutine id, %p of
 * the map, the key, and the delete statement's line.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildOtelHttp, startOtelHttp, type GroundTruthDelete, type OtelHttpResponse, type RunningOtelHttp } from '../helpers/otel-http';
import { useCollectorAndJaeger } from '../helpers/jaeger-events';
import { freePort, jaegerTrace, spanEvents, waitFor, type JaegerTrace } from '../helpers/otel';
import { parseRunSummary, runCli, type TracerRun } from '../helpers/tracer';
import { hashHex, hashKey } from '../../receiver/events/keyhash';

const REQUESTS_PER_KIND = 100; // logins+logouts, cache misses, orders: 400 requests in all
const CONCURRENCY = 8;

/** What a delete looks like when compared: ground truth and Jaeger events alike. */
interface DeleteKey {
  line: number;
  keyHash: string;
  goid: number;
  map: string;
}
const fmt = (d: DeleteKey) => `line ${d.line} key#${d.keyHash} goid ${d.goid} map ${d.map}`;

function keyHashOf(d: GroundTruthDelete): string {
  return hashHex(hashKey(d.type.startsWith('map[uint64]') ? 'uint64' : 'string', d.key));
}

function truthKey(d: GroundTruthDelete): DeleteKey {
  return { line: d.line, keyHash: keyHashOf(d), goid: d.goid, map: d.map };
}

/** The service's own deletes (examples/otel-http/store.go) in a Jaeger trace, with the span each hangs on. */
function deletesInTrace(t: JaegerTrace, storeFile: string): (DeleteKey & { spanId: string; parentId?: string; spanName: string })[] {
  const out: (DeleteKey & { spanId: string; parentId?: string; spanName: string })[] = [];
  for (const s of t.spans) {
    for (const e of spanEvents(s)) {
      if (e.name !== 'go.map.delete' || e.attributes['code.file.path'] !== storeFile) continue;
      out.push({
        line: Number(e.attributes['code.line.number']),
        keyHash: String(e.attributes['go.map.key.hash']),
        goid: Number(e.attributes['go.goroutine.id']),
        map: String(e.attributes['go.map.address']),
        spanId: s.spanID,
        parentId: s.references.find((r) => r.refType === 'CHILD_OF')?.spanID,
        spanName: s.operationName,
      });
    }
  }
  return out;
}

async function pool<T>(n: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]();
      }
    }),
  );
  return out;
}

/** A few hundred requests of every kind that deletes; returns the responses that deleted something. */
async function drive(svc: RunningOtelHttp): Promise<OtelHttpResponse[]> {
  const logins = await pool(
    CONCURRENCY,
    Array.from({ length: REQUESTS_PER_KIND }, (_, i) => () => svc.request('POST', `/login?user=user-${i}`)),
  );
  const sessions = logins.map((r) => {
    assert.equal(r.status, 200, r.body);
    return (JSON.parse(r.body) as { session: string }).session;
  });
  const jobs: (() => Promise<OtelHttpResponse>)[] = [];
  for (let i = 0; i < REQUESTS_PER_KIND; i++) {
    jobs.push(() => svc.request('POST', `/logout?session=${sessions[i]}`));
    jobs.push(() => svc.request('GET', `/item?id=${1000 + i}`)); // all misses: the full cache evicts
    jobs.push(() => svc.request('POST', `/order?id=${i}`)); // a worker goroutine per order
  }
  const rs = await pool(CONCURRENCY, jobs);
  for (const r of rs) assert.ok(r.status === 200 || r.status === 404, `HTTP ${r.status}: ${r.body}`);
  return rs.filter((r) => r.deletes.length > 0);
}

interface ModeSetup {
  name: string;
  /** Tracer config YAML for a collector at `collector`; `receiverPort` when the mode needs one. */
  config(collector: string, receiverPort: number): string;
  /** Where the service sends its spans. */
  serviceEndpoint(collector: string, receiverPort: number): string;
  /** How each delete event must hang in the trace relative to the ground truth's span. */
  check(d: { spanId: string; parentId?: string; spanName: string }, truth: GroundTruthDelete): string | undefined;
}

const MAPDELETE = `  mapdelete:
    grouping_window: 200ms
    spans: { enabled: true, inheritance: creation }
`;
const EXPORTER = (collector: string) => `exporters:
  otlp:
    endpoint: http://${collector}
    retry_on_failure: { enabled: true, initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 0s }
`;

const MODES: ModeSetup[] = [
  {
    name: 'standalone: deletes exported on child spans of the active span',
    config: (collector) => `receivers:\n${MAPDELETE}${EXPORTER(collector)}service:\n  pipelines:\n    traces: { receivers: [mapdelete], exporters: [otlp] }\n`,
    serviceEndpoint: (collector) => `http://${collector}`,
    check: (d, t) =>
      d.spanName !== 'go.map.deletes'
        ? `expected on a go.map.deletes span, found on "${d.spanName}"`
        : d.parentId !== t.span_id
          ? `go.map.deletes span's parent is ${d.parentId}, the active span was ${t.span_id}`
          : undefined,
  },
  {
    name: 'pipeline stage: deletes attached as events to the active span itself',
    config: (collector, port) =>
      `receivers:\n${MAPDELETE}  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:${port}\n${EXPORTER(collector)}` +
      `service:\n  pipelines:\n    traces: { receivers: [mapdelete, otlp], exporters: [otlp] }\n`,
    serviceEndpoint: (_collector, port) => `http://127.0.0.1:${port}`,
    check: (d, t) => (d.spanId !== t.span_id ? `expected on span ${t.span_id} (the active span), found on ${d.spanId} "${d.spanName}"` : undefined),
  },
];

describe('correlation with the service\'s own traces (otelcol + Jaeger)', function () {
  this.timeout(300_000);
  const otel = useCollectorAndJaeger('mdt-correlation-');
  const cleanup: (() => unknown)[] = [];

  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await Promise.resolve(f()).catch(() => undefined);
  });

  for (const mode of MODES) {
    it(mode.name, async () => {
      const build = buildOtelHttp();
      const storeFile = path.join(build.source, 'store.go');
      const collector = otel.collector().otlpGrpc;
      const port = await freePort();
      const service = `otel-http-${randomBytes(4).toString('hex')}`;

      const svc = await startOtelHttp(build.plain, {
        env: {
          OTEL_SERVICE_NAME: service,
          OTEL_EXPORTER_OTLP_ENDPOINT: mode.serviceEndpoint(collector, port),
          OTEL_BSP_SCHEDULE_DELAY: '300',
          OTEL_TRACES_EXPORTER: undefined,
        },
        // Sessions outlive the test: the janitor's deletes (outside any span) stay out of the way.
        args: ['-session-ttl', '10m', '-cache-size', '16', '-work', '0s'],
      });
      cleanup.push(() => svc.stop());

      const cfg = path.join(otel.tmp, `tracer-${service}.yaml`);
      fs.writeFileSync(cfg, mode.config(collector, port));
      const tracer: TracerRun = runCli(['run', '--config', cfg, '--pid', String(svc.pid)]);
      cleanup.push(() => tracer.kill('SIGKILL'));
      await tracer.attached;
      assert.ok(tracer.stderr.some((l) => l.includes('tracking OpenTelemetry spans in')), tracer.stderr.join('\n'));

      const responses = await drive(svc);
      const truth = responses.flatMap((r) => r.deletes);
      assert.ok(responses.length >= 2 * REQUESTS_PER_KIND, `requests that deleted: ${responses.length}`);
      const workerDeletes = truth.filter((d) => d.func === 'main.(*Orders).settle');
      assert.ok(workerDeletes.length >= REQUESTS_PER_KIND, 'the order workers deleted');
      for (const r of responses) for (const d of r.deletes) assert.equal(d.trace_id, r.traceId, 'ground truth: deletes in the request\'s trace');

      // Let the service flush its spans and the tracer its deletes: stopping both ends the run cleanly.
      assert.equal(await svc.stop(), 0, svc.stderr());
      tracer.kill('SIGTERM');
      const done = await tracer.exited;
      assert.equal(done.code, 0, done.stderr.join('\n'));
      const summary = parseRunSummary(done.stderr);
      assert.equal(summary.droppedEvents, 0, done.stderr.join('\n'));

      // Every request's trace, from Jaeger, holds exactly its own deletes.
      const problems: string[] = [];
      let seen = 0;
      // One deadline for all traces: a broken run fails in minutes, not per trace.
      const deadline = Date.now() + 90_000;
      for (const r of responses) {
        const want = r.deletes.map(truthKey);
        const trace = await waitFor(
          async () => {
            const t = await jaegerTrace(otel.jaeger().queryUrl, r.traceId);
            return t && deletesInTrace(t, storeFile).length >= want.length ? t : undefined;
          },
          Math.max(1000, deadline - Date.now()),
          `trace ${r.traceId} with its ${want.length} deletes in Jaeger`,
        ).catch((err: Error) => {
          problems.push(err.message);
          return undefined;
        });
        if (!trace) continue;
        const got = deletesInTrace(trace, storeFile);
        seen += got.length;
        const gotKeys = got.map(fmt).sort();
        const wantKeys = want.map(fmt).sort();
        if (JSON.stringify(gotKeys) !== JSON.stringify(wantKeys)) {
          problems.push(`trace ${r.traceId}: deletes ${JSON.stringify(gotKeys)}, expected ${JSON.stringify(wantKeys)}`);
          continue;
        }
        assert.ok(trace.spans.some((s) => s.spanID === r.spanId), `the request's server span is in trace ${r.traceId}`);
        for (const d of got) {
          const t = r.deletes.find((x) => fmt(truthKey(x)) === fmt(d))!;
          const why = mode.check(d, t);
          if (why) problems.push(`trace ${r.traceId}, ${fmt(d)} (${t.func}): ${why}`);
        }
      }
      assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems`);
      assert.equal(seen, truth.length, 'every delete in exactly one request trace');
    });
  }
});
