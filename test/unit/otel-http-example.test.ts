/**
 * examples/otel-http, the OpenTelemetry-instrumented example service of issue 4, on its own (no
 * tracer, no root): built by scripts/build-examples.sh, run with -ground-truth and an OTLP
 * endpoint where nothing listens. Its ground truth is what the correlation tests will compare
 * the tracer against, so it is checked here first:
 *
 * - every delete of a request carries that request's trace id (X-Trace-Id) and the span of the
 *   handler's child span, including the deletes of the /order worker goroutine (another goid);
 * - the janitor's deletes carry no trace id;
 * - file:line is the delete statement's own line, in store.go;
 * - keys, map types and maps are the expected ones (LRU eviction order included);
 * - failing exports do not disturb the service, and SIGTERM stops it cleanly;
 * - the load tool sends a bounded mixed load, loopback only, and prints the trace ids.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  buildOtelHttp,
  startOtelHttp,
  type GroundTruthDelete,
  type OtelHttpBuild,
  type OtelHttpResponse,
  type RunningOtelHttp,
} from '../helpers/otel-http';
import { freePort } from '../helpers/otel';

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

/** The delete statement each function holds, as written in store.go. */
const STATEMENTS: Record<string, string> = {
  'main.(*SessionStore).Logout': 'delete(s.sessions, id); rec(ctx, s.sessions, id)',
  'main.(*SessionStore).expire': 'delete(s.sessions, id); rec(ctx, s.sessions, id)',
  'main.(*Cache).Get': 'delete(c.items, old.Key); rec(ctx, c.items, old.Key)',
  'main.(*Orders).settle': 'delete(o.reservations, k); rec(ctx, o.reservations, k)',
  'main.(*Orders).Finish': 'delete(o.inflight, order); rec(ctx, o.inflight, order)',
};

const fileLines = new Map<string, string[]>();
function sourceLine(file: string, line: number): string {
  if (!fileLines.has(file)) fileLines.set(file, fs.readFileSync(file, 'utf8').split('\n'));
  return fileLines.get(file)![line - 1] ?? '';
}

function checkLine(d: GroundTruthDelete, build: OtelHttpBuild): void {
  assert.equal(d.file, path.join(build.source, 'store.go'), `file of ${JSON.stringify(d)}`);
  const want = STATEMENTS[d.func];
  assert.ok(want, `unexpected function ${d.func}`);
  assert.equal(sourceLine(d.file, d.line).trim(), want, `${d.file}:${d.line} (${d.func})`);
}

async function deadEndpoint(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

describe('examples/otel-http: the example service and its ground truth (no root)', function () {
  this.timeout(120000);
  let build: OtelHttpBuild;

  before(function () {
    this.timeout(900000); // a cold build downloads the SDK and gRPC and compiles them
    build = buildOtelHttp();
  });

  it('the build holds the pinned SDK, plain and stripped, and the load tool', function () {
    assert.match(build.sdk, /^v1\.\d+\.\d+$/);
    assert.equal(build.modules['go.opentelemetry.io/otel/sdk'], build.sdk);
    for (const m of ['go.opentelemetry.io/otel', 'go.opentelemetry.io/otel/trace', 'go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc']) {
      assert.equal(build.modules[m], build.sdk, m);
    }
    const gomod = fs.readFileSync(path.join(build.source, 'go.mod'), 'utf8');
    assert.match(gomod, new RegExp(`go\\.opentelemetry\\.io/otel/sdk ${build.sdk.replace(/\./g, '\\.')}\\b`));
    for (const p of [build.plain, build.stripped, build.load!]) assert.ok(fs.statSync(p).mode & 0o111, `${p} is executable`);
    assert.ok(fs.statSync(build.stripped).size < fs.statSync(build.plain).size, 'the stripped binary is smaller');
    // Building again is a no-op.
    const t0 = Date.now();
    assert.deepEqual(buildOtelHttp(), build);
    assert.ok(Date.now() - t0 < 20000, 'a current build is not redone');
  });

  for (const mode of ['plain', 'stripped'] as const) {
    describe(`${mode} build`, function () {
      let svc: RunningOtelHttp | undefined;
      afterEach(async function () {
        if (svc) await svc.stop().catch(() => undefined);
        svc = undefined;
      });

      it('every delete carries its request trace (worker goroutine included), janitor deletes none, lines are the delete statements', async function () {
        svc = await startOtelHttp(build[mode], {
          groundTruth: true,
          env: {
            OTEL_EXPORTER_OTLP_ENDPOINT: await deadEndpoint(),
            OTEL_EXPORTER_OTLP_INSECURE: 'true',
            OTEL_EXPORTER_OTLP_TIMEOUT: '500',
            OTEL_BSP_SCHEDULE_DELAY: '100',
            OTEL_SERVICE_NAME: 'otel-http-unit',
            OTEL_TRACES_EXPORTER: undefined,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
          },
          args: ['-session-ttl', '1500ms', '-janitor-interval', '50ms', '-cache-size', '4', '-shutdown-timeout', '2s'],
        });
        assert.match(svc.addr, /^127\.0\.0\.1:\d+$/);
        const s = svc;
        const responses: OtelHttpResponse[] = [];
        const send = async (method: string, p: string, wantStatus = 200): Promise<OtelHttpResponse> => {
          const r = await s.request(method, p);
          assert.equal(r.status, wantStatus, `${method} ${p}: ${r.body}`);
          assert.match(r.traceId, HEX32, `${method} ${p}: X-Trace-Id`);
          assert.match(r.spanId, HEX16, `${method} ${p}: X-Span-Id`);
          assert.ok(!responses.some((o) => o.traceId === r.traceId), 'a new trace per request');
          responses.push(r);
          for (const d of r.deletes) {
            assert.equal(d.trace_id, r.traceId);
            assert.match(d.span_id, HEX16);
            assert.notEqual(d.span_id, r.spanId, 'deletes happen under the handler\'s child span, not the server span');
            checkLine(d, build);
          }
          return r;
        };

        // Sessions: three logins (no delete), two logouts (one delete each, request goroutine).
        const sessions: string[] = [];
        for (const user of ['alice', 'bob', 'carol']) {
          const r = await send('POST', `/login?user=${user}`);
          assert.deepEqual(r.deletes, []);
          sessions.push(JSON.parse(r.body).session);
        }
        let sessionsMap = '';
        for (const id of sessions.slice(0, 2)) {
          const r = await send('POST', `/logout?session=${id}`);
          assert.equal(r.deletes.length, 1);
          const d = r.deletes[0];
          assert.deepEqual([d.type, d.key, d.func], ['map[string]*main.Session', id, 'main.(*SessionStore).Logout']);
          sessionsMap ||= d.map;
          assert.equal(d.map, sessionsMap);
        }
        const unknown = await send('POST', '/logout?session=sess-unknown', 404);
        assert.equal(unknown.deletes.length, 1, 'a delete of a missing key is still a delete');
        assert.equal((await send('POST', '/logout', 400)).deletes.length, 0);

        // LRU cache of 4: ids 1-4 fill it, 5-7 evict 1-3, a hit on 4, then 8 evicts 5.
        const evicted: string[] = [];
        for (const id of [1, 2, 3, 4, 5, 6, 7, 4, 8]) {
          const r = await send('GET', `/item?id=${id}`);
          for (const d of r.deletes) {
            assert.deepEqual([d.type, d.func], ['map[uint64]*main.Entry', 'main.(*Cache).Get']);
            evicted.push(d.key);
          }
          assert.equal(JSON.parse(r.body).hit, id === 4 && evicted.length > 0);
        }
        assert.deepEqual(evicted, ['1', '2', '3', '5']);

        // Orders: the worker goroutine deletes 1+id%3 reservations, the handler then the order.
        for (const id of [1, 2, 3]) {
          const r = await send('POST', `/order?id=${id}`);
          const worker = r.deletes.filter((d) => d.func === 'main.(*Orders).settle');
          const handler = r.deletes.filter((d) => d.func === 'main.(*Orders).Finish');
          assert.deepEqual(worker.map((d) => d.key), Array.from({ length: 1 + (id % 3) }, (_, i) => `order-${id}/sku-${i + 1}`));
          assert.deepEqual(handler.map((d) => d.key), [`order-${id}`]);
          assert.equal(r.deletes.length, worker.length + 1);
          for (const d of r.deletes) assert.equal(d.type, 'map[string]int');
          assert.equal(new Set(worker.map((d) => d.goid)).size, 1, 'one worker goroutine per order');
          assert.notEqual(worker[0].goid, handler[0].goid, 'the worker is another goroutine');
          assert.equal(new Set(r.deletes.map((d) => d.span_id)).size, 1, 'the worker\'s deletes are under the span active when it was started');
          assert.notEqual(worker[0].map, handler[0].map, 'reservations and in-flight orders are two maps');
        }

        // Concurrent mixed requests: every delete lands in exactly its own request's trace.
        const batch = await Promise.all(
          Array.from({ length: 24 }, (_, i) => {
            const kind = i % 3;
            if (kind === 0) return send('GET', `/item?id=${100 + i}`);
            if (kind === 1) return send('POST', `/order?id=${10 + i}`);
            return send('POST', `/logout?session=sess-nope-${i}`, 404);
          }),
        );
        assert.equal(batch.length, 24);

        const traced = svc.deletes.filter((d) => d.trace_id !== '');
        const byTrace = new Map(responses.map((r) => [r.traceId, r]));
        for (const d of traced) {
          const r = byTrace.get(d.trace_id);
          assert.ok(r, `delete ${JSON.stringify(d)} is in no request's trace`);
          assert.ok(r.deletes.includes(d));
        }
        assert.equal(traced.length, responses.reduce((n, r) => n + r.deletes.length, 0));

        // The janitor expires carol's session outside any request.
        const carol = sessions[2];
        await svc.waitForDeletes((ds) => ds.some((d) => d.key === carol), 10000, 'the janitor to expire the third session');
        const janitor = svc.deletes.filter((d) => d.func === 'main.(*SessionStore).expire');
        assert.ok(janitor.length >= 1);
        const requestGoids = new Set(traced.map((d) => d.goid));
        for (const d of janitor) {
          assert.deepEqual([d.trace_id, d.span_id], ['', ''], 'no active span in the janitor');
          assert.deepEqual([d.type, d.map], ['map[string]*main.Session', sessionsMap]);
          assert.ok(!requestGoids.has(d.goid), 'the janitor is a goroutine of its own');
          checkLine(d, build);
        }
        for (const d of svc.deletes) checkLine(d, build);

        // Exports to the dead endpoint failed and were reported, and the service served on.
        const deadline = Date.now() + 15000;
        while (!/opentelemetry: .*export/i.test(svc.stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
        assert.match(svc.stderr(), /opentelemetry: .*export/i, 'export failures are reported on stderr');
        assert.equal((await send('GET', '/healthz')).status, 200);

        const t0 = Date.now();
        assert.equal(await svc.stop(), 0, svc.stderr());
        assert.ok(svc.stoppedCleanly(), 'the "stopped" line after SIGTERM');
        assert.ok(Date.now() - t0 < 10000, 'shutdown within its timeouts even with the collector away');
        svc = undefined;
      });
    });
  }

  it('OTEL_TRACES_EXPORTER=none: spans and trace ids without an exporter; the listening line', async function () {
    const svc = await startOtelHttp(build.plain, { groundTruth: false, env: { OTEL_TRACES_EXPORTER: 'none' } });
    try {
      for (let i = 0; i < 50 && !/exporter none/.test(svc.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(svc.stderr(), /exporter none/);
      assert.ok(svc.pid > 0 && svc.pid !== process.pid);
      const r = await svc.request('GET', '/no-such-path');
      assert.equal(r.status, 404);
      assert.match(r.traceId, HEX32);
      assert.equal(r.deletes.length, 0);
      const o = await svc.request('POST', '/order?id=1');
      assert.equal(o.status, 200);
      assert.equal(svc.deletes.length, 0, 'no ground truth without -ground-truth');
    } finally {
      assert.equal(await svc.stop(), 0, svc.stderr());
    }
    assert.ok(svc.stoppedCleanly());
  });

  it('the load tool: bounded mixed load on loopback, one trace id per request', async function () {
    const svc = await startOtelHttp(build.plain, {
      env: { OTEL_TRACES_EXPORTER: 'none' },
      args: ['-cache-size', '4', '-work', '0s'],
    });
    try {
      const out = spawnSync(build.load!, ['-addr', svc.addr, '-n', '60', '-rate', '300', '-concurrency', '4', '-max-duration', '30s'], {
        encoding: 'utf8',
        timeout: 60000,
      });
      assert.equal(out.status, 0, out.stderr);
      const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l));
      const reqs = lines.filter((l) => l.event === 'request');
      const summary = lines.find((l) => l.event === 'summary');
      assert.equal(reqs.length, 60);
      assert.equal(summary.sent, 60);
      assert.equal(summary.failed, 0);
      for (const k of ['login', 'logout', 'item', 'order']) assert.ok(summary.by_kind[k] > 0, `some ${k} requests`);
      const ids = new Set<string>();
      for (const r of reqs) {
        assert.match(r.trace_id, HEX32);
        assert.ok([200, 404].includes(r.status), JSON.stringify(r));
        ids.add(r.trace_id);
      }
      assert.equal(ids.size, 60, 'a trace per request');
      // Every traced delete of the run is in a trace the load tool printed.
      await svc.waitForDeletes((ds) => ds.length > 0, 5000, 'some deletes');
      for (const d of svc.deletes.filter((x) => x.trace_id !== '')) assert.ok(ids.has(d.trace_id), JSON.stringify(d));

      const bad = spawnSync(build.load!, ['-addr', '192.0.2.1:80', '-n', '1'], { encoding: 'utf8', timeout: 10000 });
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /not a loopback address/);
      const tooMany = spawnSync(build.load!, ['-addr', svc.addr, '-n', '2000000'], { encoding: 'utf8', timeout: 10000 });
      assert.equal(tooMany.status, 2);
    } finally {
      assert.equal(await svc.stop(), 0, svc.stderr());
    }
  });
});
