/**
 * A real Prometheus (Debian's package) scrapes the tracer's endpoint, and PromQL over what it
 * stored gives back the rates the counts grew at. The endpoint here serves a CounterSource whose
 * counts are a known function of time (so the expected rate is exact); the same helper
 * (test/helpers/prometheus.ts) serves the real-BPF version of this test.
 *
 * Also: every expression of config/grafana-dashboard.json runs on this Prometheus and returns data.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MetricsServer } from '../../receiver/metrics/server';
import type { DeleteCountRow, MapActivityRow } from '../../receiver/metrics/source';
import { packageRoot } from '../../receiver/util/paths';
import { FakeCounterSource } from '../helpers/fake-counter-source';
import { requirePrometheus, startPrometheus, stopAllPrometheus, substituteGrafana, type RunningPrometheus } from '../helpers/prometheus';

/** Counts that grow linearly: `perSecond` deletes a second since `t0`. */
class LinearSource extends FakeCounterSource {
  readonly t0 = Date.now();
  readonly growth: { row: DeleteCountRow; perSecond: number }[] = [];
  readonly mapGrowth: { row: MapActivityRow; perSecond: number }[] = [];

  grow(row: Partial<DeleteCountRow> & { caller: string }, perSecond: number): void {
    this.growth.push({ row: this.site({ ...row, count: 0n }), perSecond });
  }

  growMap(row: Partial<MapActivityRow> & { mapAddr: string }, perSecond: number): void {
    this.mapGrowth.push({ row: this.map(row), perSecond });
  }

  private at(perSecond: number): bigint {
    return BigInt(Math.floor(((Date.now() - this.t0) / 1000) * perSecond));
  }

  override deleteCounts(): DeleteCountRow[] {
    for (const g of this.growth) g.row.count = this.at(g.perSecond);
    return super.deleteCounts();
  }

  override mapActivity(): MapActivityRow[] {
    for (const g of this.mapGrowth) {
      g.row.deletes = this.at(g.perSecond);
      g.row.lastLen = 1000 - Number(g.row.deletes % 1000n);
      g.row.lastSeen = BigInt(Date.now()) * 1_000_000n;
    }
    return super.mapActivity();
  }
}

const close = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= expected * tolerance, `${what}: ${actual}, expected ${expected} ± ${tolerance * 100}%`);

describe('metrics: a real Prometheus scrapes the endpoint', function () {
  this.timeout(180_000);
  let server: MetricsServer;
  let source: LinearSource;
  let prom: RunningPrometheus;

  before(async function () {
    requirePrometheus(this);
    server = new MetricsServer({ endpoint: '127.0.0.1:0', path: '/metrics', limits: { maxCallSites: 10, maxMapTypes: 10, maxMaps: 5 }, version: 'e2e' });
    await server.start();
    source = new LinearSource();
    source.grow({ caller: 'user_service.go:42', callerFunction: 'main.(*UserService).Logout', mapType: 'map[string]*main.Session' }, 40);
    source.grow({ caller: 'cache.go:7', callerFunction: 'main.(*Cache).Evict', pid: 1 }, 10);
    source.grow({ caller: 'cache.go:7', callerFunction: 'main.(*Cache).Evict', pid: 2 }, 5);
    source.grow({ caller: 'cache.go:19', callerFunction: 'main.(*Cache).Reset', op: 'clear' }, 2);
    source.growMap({ mapAddr: '0xc000120000', mapType: 'map[string]*main.Session' }, 40);
    source.histograms = [{ op: 'delete', buckets: [{ le: 5e-7, count: 5n }, { le: 1e-6, count: 9n }, { le: Infinity, count: 10n }], sumSeconds: 6e-6, count: 10n }];
    server.collector.setSource(source);
    server.collector.setExportStats(() => ({ received: 1, rateLimited: 0, exporters: { otlp: { queuedSpans: 0, exportedEvents: 1, droppedEvents: 0, failedAttempts: 0 } } }));
    prom = await startPrometheus({ targets: [server.address()], scrapeInterval: '1s' });
  });

  after(async () => {
    await stopAllPrometheus();
    await server?.stop();
  });

  it('scrapes it without error', async () => {
    await prom.waitForTargetsUp(30_000);
    const [t] = await prom.targets();
    assert.equal(t.scrapeUrl, `http://${server.address()}/metrics`);
    assert.equal(t.lastError, '');
  });

  it('rate() and increase() over go_map_delete_total give the rates the counts grew at', async () => {
    // enough samples for a 10 s window
    await prom.waitForQuery('count_over_time(go_map_delete_total{caller="user_service.go:42"}[15s])', (r) => r.length === 1 && r[0].value >= 13, 60_000);
    const rates = await prom.query('sum by (caller, function, map_type, service) (rate(go_map_delete_total[10s]))');
    const byCaller = new Map(rates.map((r) => [r.metric.caller, r]));
    assert.deepEqual([...byCaller.keys()].sort(), ['cache.go:7', 'user_service.go:42']);
    close(byCaller.get('user_service.go:42')!.value, 40, 0.05, 'rate of user_service.go:42');
    assert.deepEqual(byCaller.get('user_service.go:42')!.metric, {
      caller: 'user_service.go:42',
      function: 'main.(*UserService).Logout',
      map_type: 'map[string]*main.Session',
      service: 'svc',
    });
    close(byCaller.get('cache.go:7')!.value, 15, 0.05, 'rate of cache.go:7 (two processes)');
    const [inc] = await prom.query('increase(go_map_delete_total{caller="user_service.go:42"}[10s])');
    close(inc.value, 400, 0.05, 'increase over 10 s');
    const [clears] = await prom.query('sum(rate(go_map_clear_total[10s]))');
    close(clears.value, 2, 0.15, 'clear rate');
    const [perMap] = await prom.query('rate(go_map_deletes_by_map_total{map="0xc000120000"}[10s])');
    close(perMap.value, 40, 0.05, 'per-map delete rate');
    assert.equal(perMap.metric.pid, '100');
  });

  it('every expression of config/grafana-dashboard.json runs on it, and those about present data return some', async () => {
    const dash = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'config', 'grafana-dashboard.json'), 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    let withData = 0;
    for (const p of dash.panels) {
      for (const t of p.targets ?? []) {
        const expr = substituteGrafana(t.expr, 20);
        const r = await prom.query(expr); // throws on a PromQL error
        if (r.length > 0) withData++;
        // these are fed by the source above: they must have data
        if (/go_map_delete_total|go_map_len|go_map_deletes_by_map_total|go_map_delete_duration_seconds_bucket|probes_attached/.test(t.expr)) {
          assert.ok(r.length > 0, `panel "${p.title}": no data for ${expr}`);
        }
      }
    }
    assert.ok(withData >= 15, `${withData} expressions returned data`);
  });
});
