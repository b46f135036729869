/**
 * Issue 4, the matrix: every delete the OpenTelemetry-instrumented example service
 * (examples/otel-http) makes is reported by `watch --format json` with the trace and span ids of
 * the SDK span that was active, as the service itself knows them (its -ground-truth lines), for
 * every Go x SDK pair of scripts/build-examples.sh (every Go of the core matrix with the newest
 * SDK it can build, go1.24 with GOEXPERIMENT=noswissmap too, and the newest three SDK minor
 * releases), plain and stripped (-s -w: offsets from the table instead of DWARF).
 *
 * Per build: the service runs with OTEL_TRACES_EXPORTER=none (the span ids exist without an
 * exporter); the tracer attaches; a few dozen requests of each kind, four at a time over
 * keep-alive connections (so server goroutines serve several requests one after another):
 *   /login then /logout      one delete under "session.delete", on the request's goroutine
 *   /item past the cache     LRU evictions under "cache.get"
 *   /order                   a worker goroutine deletes under the handler's "order.process"
 *                            (inherited at `go`), then the handler deletes under it too
 * and sessions left to the janitor, whose deletes happen under no span (trace_id null).
 * Each ground-truth delete (goid, map, key, line) must match exactly one tracer record, and that
 * record must carry the ground truth's trace_id and span_id.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { requireBpf } from '../helpers/bpf';
import { buildOtelHttp, otelHttpPairs, startOtelHttp, type GroundTruthDelete, type OtelHttpBuild, type RunningOtelHttp } from '../helpers/otel-http';
import { parseSummary, runCli, type TracerRun } from '../helpers/tracer';

interface JsonEvent {
  goid: number;
  op: 'delete' | 'clear';
  map: { addr: string; type: string };
  key: { type: string; hash: string; value?: string } | null;
  caller: { function: string; file: string; line: number };
  trace_id?: string | null;
  span_id?: string | null;
}

const CACHE_SIZE = 4;
/** More `watch` options, for trying variants by hand: MDT_CORRELATION_TRACER_ARGS='--inheritance return'. */
const EXTRA_TRACER_ARGS = (process.env.MDT_CORRELATION_TRACER_ARGS ?? '').split(/\s+/).filter(Boolean);
const ROUNDS = 30; // requests of each kind
const UNCLAIMED = 6; // sessions left for the janitor

const matchKey = (goid: number, map: string, key: string | undefined, line: number) => JSON.stringify([goid, map, key ?? null, line]);
const gtKey = (d: GroundTruthDelete) => matchKey(d.goid, d.map, d.key, d.line);
const evKey = (e: JsonEvent) => matchKey(e.goid, e.map.addr, e.key?.value, e.caller.line);

/** Runs `items` through `fn`, `width` at a time. */
async function inBatches<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

function waitExit(run: TracerRun, ms: number): Promise<Awaited<TracerRun['exited']> | undefined> {
  return Promise.race([run.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);
}

describe('correlation matrix: every delete of examples/otel-http carries the span the service knows', function () {
  for (const pair of otelHttpPairs()) {
    describe(pair.label, function () {
      this.timeout(300_000);
      let build: OtelHttpBuild | undefined;

      before(function () {
        this.timeout(1_800_000); // prebuilt by scripts/test.sh; otherwise ~40 s cold per pair
        requireBpf(this);
        build = buildOtelHttp({ go: pair.go, experiment: pair.experiment, sdk: pair.sdk });
      });

      for (const mode of ['plain', 'stripped'] as const) {
        it(`${mode}: trace_id and span_id of every delete equal the ground truth (worker goroutines inherit; the janitor has none)`, async function () {
          requireBpf(this);
          const b = build!;
          assert.deepEqual([b.go, b.experiment, b.sdk], [pair.go, pair.experiment, pair.sdk], 'the build is the pair');
          let svc: RunningOtelHttp | undefined;
          let tracer: TracerRun | undefined;
          try {
            svc = await startOtelHttp(b[mode], {
              groundTruth: true,
              env: { OTEL_TRACES_EXPORTER: 'none', OTEL_SERVICE_NAME: 'correlation-matrix' },
              args: ['-cache-size', String(CACHE_SIZE), '-session-ttl', '3s', '-janitor-interval', '100ms', '-work', '1ms', '-shutdown-timeout', '5s'],
            });
            const s = svc;
            tracer = runCli(['watch', '--pid', String(s.pid), '--format', 'json', '--capture-keys', ...EXTRA_TRACER_ARGS]);
            await tracer.attached;

            const traces = new Set<string>();
            const send = async (method: string, p: string, want: number) => {
              const r = await s.request(method, p);
              assert.equal(r.status, want, `${method} ${p}: ${r.body}`);
              traces.add(r.traceId);
              return r;
            };
            // Sessions: logins, then logouts of all but UNCLAIMED (left to the janitor), and as many
            // logouts of unknown ids (404, still a delete).
            const sessions: string[] = [];
            await inBatches([...Array(ROUNDS).keys()], 4, async (i) => {
              sessions.push(JSON.parse((await send('POST', `/login?user=u${i}`, 200)).body).session);
            });
            const claimed = sessions.slice(UNCLAIMED);
            const unclaimed = sessions.slice(0, UNCLAIMED);
            await inBatches(claimed, 4, async (id) => void (await send('POST', `/logout?session=${id}`, 200)));
            await inBatches([...Array(UNCLAIMED).keys()], 4, async (i) => void (await send('POST', `/logout?session=sess-none-${i}`, 404)));
            // The LRU cache: every id a miss, so all but the first CACHE_SIZE evict.
            await inBatches([...Array(ROUNDS + CACHE_SIZE).keys()], 4, async (i) => void (await send('GET', `/item?id=${1000 + i}`, 200)));
            // Orders: a worker goroutine each.
            await inBatches([...Array(ROUNDS).keys()], 4, async (i) => void (await send('POST', `/order?id=${i + 1}`, 200)));
            // Everything at once.
            await inBatches([...Array(24).keys()], 8, async (i) => {
              if (i % 3 === 0) await send('GET', `/item?id=${2000 + i}`, 200);
              else if (i % 3 === 1) await send('POST', `/order?id=${100 + i}`, 200);
              else await send('POST', `/logout?session=sess-mixed-${i}`, 404);
            });
            await s.waitForDeletes(
              (ds) => unclaimed.every((id) => ds.some((d) => d.key === id && d.func === 'main.(*SessionStore).expire')),
              20_000,
              `the janitor to expire the ${UNCLAIMED} sessions nobody logged out`,
            );

            // Stop the service (clean SIGTERM); the tracer then exits by itself once every event is
            // printed. If it does not, stop it by its PID.
            assert.equal(await s.stop(), 0, `service exit; stderr:\n${s.stderr()}`);
            let done = await waitExit(tracer, 30_000);
            if (!done) {
              tracer.kill('SIGTERM');
              done = await waitExit(tracer, 15_000);
              assert.ok(done, 'the tracer did not exit after SIGTERM');
              assert.fail(`the tracer did not exit within 30 s of its target; stderr:\n${done.stderr.join('\n')}`);
            }
            assert.equal(done.code, 0, `tracer exit code; stderr:\n${done.stderr.join('\n')}`);
            const summary = parseSummary(done.stderr);
            assert.equal(summary.lost, 0, `events lost; stderr:\n${done.stderr.join('\n')}`);

            const truth = s.deletes;
            const byFunc = (f: string) => truth.filter((d) => d.func === f).length;
            assert.ok(byFunc('main.(*SessionStore).Logout') >= ROUNDS, 'logout deletes');
            assert.ok(byFunc('main.(*Cache).Get') >= ROUNDS, 'eviction deletes');
            assert.ok(byFunc('main.(*Orders).settle') >= ROUNDS, 'worker deletes');
            assert.ok(byFunc('main.(*Orders).Finish') >= ROUNDS, 'order deletes');
            assert.ok(byFunc('main.(*SessionStore).expire') >= UNCLAIMED, 'janitor deletes');
            for (const d of truth) {
              if (d.func === 'main.(*SessionStore).expire') assert.deepEqual([d.trace_id, d.span_id], ['', ''], 'ground truth: the janitor has no span');
              else assert.ok(traces.has(d.trace_id), `ground truth: ${JSON.stringify(d)} in no request's trace`);
            }

            const events = done.stdout.filter((l) => l.trim()).map((l) => JSON.parse(l) as JsonEvent);
            const storeGo = path.join(b.source, 'store.go');
            const mine = events.filter((e) => e.caller.file === storeGo);
            const index = new Map<string, JsonEvent[]>();
            for (const e of mine) {
              const k = evKey(e);
              index.set(k, [...(index.get(k) ?? []), e]);
            }
            if (events.length) {
              assert.ok('trace_id' in events[0] && 'span_id' in events[0], `the JSON records have no "trace_id"/"span_id": ${JSON.stringify(events[0])}`);
            }

            // Every ground-truth delete: exactly one record, with its ids.
            const problems: Record<string, string[]> = {};
            const problem = (d: GroundTruthDelete, what: string) => (problems[`${d.func} ${what}`] ??= []).push(JSON.stringify(d));
            for (const d of truth) {
              const got = index.get(gtKey(d)) ?? [];
              if (got.length !== 1) {
                problem(d, `${got.length} records`);
                continue;
              }
              const e = got[0];
              const want = d.trace_id === '' ? [null, null] : [d.trace_id, d.span_id];
              const have = [e.trace_id, e.span_id];
              if (have[0] !== want[0] || have[1] !== want[1]) {
                problem(d, `wrong ids: got trace_id ${JSON.stringify(have[0])} span_id ${JSON.stringify(have[1])}`);
              }
            }
            const truthKeys = new Set(truth.map(gtKey));
            const extra = mine.filter((e) => !truthKeys.has(evKey(e)));
            const summaryLines = Object.entries(problems).map(([k, v]) => `  ${k}: ${v.length}, e.g. ${v[0]}`);
            if (extra.length) summaryLines.push(`  records without a ground-truth delete: ${extra.length}, e.g. ${JSON.stringify(extra[0])}`);
            const count = (f: string) => `${byFunc(`main.${f}`)} ${f.replace(/^\(\*\w+\)\./, '')}`;
            console.log(
              `      ${truth.length} deletes (${['(*SessionStore).Logout', '(*Cache).Get', '(*Orders).settle', '(*Orders).Finish', '(*SessionStore).expire'].map(count).join(', ')}), ` +
                `${mine.length} tracer records in store.go, ${events.length} in all`,
            );
            assert.deepEqual(
              summaryLines,
              [],
              `${pair.label} ${mode}: ${truth.length} ground-truth deletes, ${mine.length} tracer records in store.go\n${summaryLines.join('\n')}\ntracer stderr:\n${done.stderr.join('\n')}`,
            );
          } finally {
            tracer?.kill('SIGKILL');
            await svc?.stop().catch(() => undefined);
          }
        });
      }
    });
  }
});
