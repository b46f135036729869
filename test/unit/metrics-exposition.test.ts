/**
 * The Prometheus exposition (receiver/metrics/) over a fake CounterSource: names, labels and
 * values as Prometheus reads them, the cardinality limits and what gets folded into "other",
 * counters that never go backwards whatever the source does, the tracer's health, and the
 * exposition format as promtool judges it.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { MetricsCollector, type ExportStats } from '../../receiver/metrics/collector';
import { FAMILIES, exposedSeriesNames, type Family } from '../../receiver/metrics/families';
import type { MetricsLimits } from '../../receiver/metrics/state';
import { FakeCounterSource, parseExposition, pick, type Sample } from '../helpers/fake-counter-source';

const LIMITS: MetricsLimits = { maxCallSites: 500, maxMapTypes: 100, maxMaps: 20 };

function collector(limits: Partial<MetricsLimits> = {}, queueCapacity?: Record<string, number>) {
  const c = new MetricsCollector({ limits: { ...LIMITS, ...limits }, version: '9.9.9', queueCapacity });
  const src = new FakeCounterSource();
  c.setSource(src);
  return { c, src };
}

async function scrape(c: MetricsCollector, nowMs?: number): Promise<Sample[]> {
  return parseExposition(await c.scrape(nowMs)).samples;
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined => {
  const hits = pick(samples, name, labels);
  assert.ok(hits.length <= 1, `${name} ${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
};

const sum = (samples: Sample[], name: string) => pick(samples, name).reduce((n, s) => n + s.value, 0);

describe('metrics: call-site counters', () => {
  it('go_map_delete_total and go_map_clear_total carry service, map_type, caller (file:line) and function', async () => {
    const { c, src } = collector();
    src.site({ caller: 'user_service.go:42', callerFunction: 'main.(*UserService).Logout', mapType: 'map[string]*main.Session', count: 7n });
    src.site({ caller: 'cache.go:9', callerFunction: 'main.(*Cache).Reset', op: 'clear', count: 2n });
    const s = await scrape(c);
    assert.deepEqual(pick(s, 'go_map_delete_total'), [
      {
        name: 'go_map_delete_total',
        labels: { service: 'svc', map_type: 'map[string]*main.Session', caller: 'user_service.go:42', function: 'main.(*UserService).Logout' },
        value: 7,
      },
    ]);
    assert.deepEqual(pick(s, 'go_map_clear_total'), [
      { name: 'go_map_clear_total', labels: { service: 'svc', map_type: 'map[string]int', caller: 'cache.go:9', function: 'main.(*Cache).Reset' }, value: 2 },
    ]);
  });

  it('adds up the processes of one service, and keeps services apart', async () => {
    const { c, src } = collector();
    src.site({ caller: 'a.go:1', pid: 1, count: 3n });
    src.site({ caller: 'a.go:1', pid: 2, count: 4n });
    src.site({ caller: 'a.go:1', pid: 3, service: 'other-svc', count: 5n });
    const s = await scrape(c);
    assert.equal(value(s, 'go_map_delete_total', { service: 'svc', caller: 'a.go:1' }), 7);
    assert.equal(value(s, 'go_map_delete_total', { service: 'other-svc', caller: 'a.go:1' }), 5);
  });

  it('escapes label values Prometheus-style (quotes, backslashes)', async () => {
    const { c, src } = collector();
    src.site({ caller: 'x.go:1', callerFunction: 'main.f["q"]\\', count: 1n });
    const text = await c.scrape();
    assert.match(text, /function="main\.f\[\\"q\\"\]\\\\"/);
    assert.equal(parseExposition(text).samples.find((x) => x.name === 'go_map_delete_total')!.labels.function, 'main.f["q"]\\');
  });

  it('reads each table of the source once per scrape, and never between scrapes', async () => {
    const { c, src } = collector();
    src.site({ caller: 'a.go:1', count: 1n });
    assert.deepEqual(src.reads, { counts: 0, maps: 0, health: 0 });
    await c.scrape();
    await c.scrape();
    assert.deepEqual(src.reads, { counts: 2, maps: 2, health: 2 });
  });

  it('exposes only the families of families.ts, each with HELP and TYPE, and no forbidden label', async () => {
    const { c, src } = collector({}, { otlp: 2048 });
    src.site({ caller: 'a.go:1', count: 1n });
    src.site({ caller: 'b.go:2', op: 'clear', count: 1n });
    src.map({ mapAddr: '0xc000010000', deletes: 3n, clears: 1n, lastLen: 4, maxClearLen: 9, lastSeen: 1n });
    src.histograms = [{ op: 'delete', buckets: [{ le: 1e-6, count: 1n }, { le: Infinity, count: 2n }], sumSeconds: 0.5, count: 2n }];
    c.setExportStats(() => ({ received: 1, rateLimited: 0, exporters: { otlp: { queuedSpans: 1, exportedEvents: 1, droppedEvents: 0, failedAttempts: 0 } } }));
    const { samples, types, helps } = parseExposition(await c.scrape());
    const allowed = new Set(exposedSeriesNames());
    for (const x of samples) assert.ok(allowed.has(x.name), `${x.name} is not in receiver/metrics/families.ts`);
    for (const f of Object.values(FAMILIES) as Family[]) {
      assert.equal(types.get(f.name), f.type, `TYPE of ${f.name}`);
      assert.ok(helps.get(f.name), `HELP of ${f.name}`);
      assert.ok(f.name.startsWith('go_map_') || f.name.startsWith('map_delete_tracer_'), `${f.name}: one prefix per subject`);
      if (f.type === 'counter') assert.match(f.name, /_total$/);
      else assert.doesNotMatch(f.name, /_total$/);
    }
    const forbidden = /goroutine|goid|key|hash|trace|span_id/;
    for (const x of samples) for (const l of Object.keys(x.labels)) assert.doesNotMatch(l, forbidden, `${x.name} has label ${l}`);
    // every family has a sample in this scrape
    for (const f of Object.values(FAMILIES) as Family[]) {
      if (f.name === FAMILIES.clearDuration.name) continue;
      const names = f.type === 'histogram' ? [`${f.name}_count`] : [f.name];
      assert.ok(samples.some((x) => names.includes(x.name)), `no sample of ${f.name}`);
    }
  });

  it('passes `promtool check metrics` (Prometheus\'s own linter of exposition text)', async function () {
    const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      if (process.env.CI === 'true') throw new Error('promtool is missing under CI (Debian package prometheus)');
      this.skip();
    }
    const { c, src } = collector({}, { otlp: 2048 });
    src.site({ caller: 'a.go:1', count: 1n });
    src.site({ caller: 'b.go:2', op: 'clear', count: 1n });
    src.map({ mapAddr: '0xc000010000', deletes: 3n, clears: 1n, lastLen: 4, maxClearLen: 9, lastSeen: 1n });
    src.histograms = [
      { op: 'delete', buckets: [{ le: 1e-6, count: 1n }, { le: 2e-6, count: 2n }, { le: Infinity, count: 2n }], sumSeconds: 2e-6, count: 2n },
      { op: 'clear', buckets: [{ le: 1e-6, count: 0n }, { le: Infinity, count: 1n }], sumSeconds: 3e-6, count: 1n },
    ];
    c.setExportStats(() => ({ received: 1, rateLimited: 0, exporters: { otlp: { queuedSpans: 1, exportedEvents: 1, droppedEvents: 0, failedAttempts: 0 } } }));
    const text = await c.scrape();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
    assert.equal((r.stdout + r.stderr).trim(), '', 'promtool has no remark');
  });
});

describe('metrics: folding beyond max_call_sites and max_map_types', () => {
  it('gives the first call sites seen (busiest first) their own series, and folds later ones into caller="other"', async () => {
    const { c, src } = collector({ maxCallSites: 2 });
    src.site({ caller: 'quiet.go:1', count: 1n });
    src.site({ caller: 'busy.go:2', count: 50n });
    src.site({ caller: 'mid.go:3', count: 10n });
    let s = await scrape(c);
    assert.deepEqual(pick(s, 'go_map_delete_total').map((x) => [x.labels.caller, x.labels.function, x.value]).sort(), [
      ['busy.go:2', 'main.f_busy_go_2', 50],
      ['mid.go:3', 'main.f_mid_go_3', 10],
      ['other', 'other', 1],
    ]);
    assert.equal(value(s, 'map_delete_tracer_folded_call_sites', { op: 'delete' }), 1);

    // a later call site goes to "other" however busy it is; the admitted ones keep their series
    src.site({ caller: 'late.go:4', count: 1000n });
    src.counts[0].count += 2n; // quiet.go, folded
    src.counts[1].count += 5n; // busy.go
    s = await scrape(c);
    assert.equal(value(s, 'go_map_delete_total', { caller: 'busy.go:2' }), 55);
    assert.equal(value(s, 'go_map_delete_total', { caller: 'mid.go:3' }), 10);
    assert.equal(value(s, 'go_map_delete_total', { caller: 'other' }), 1003);
    assert.equal(value(s, 'go_map_delete_total', { caller: 'late.go:4' }), undefined);
    assert.equal(value(s, 'map_delete_tracer_folded_call_sites', { op: 'delete' }), 2);
    assert.equal(sum(s, 'go_map_delete_total'), 55 + 10 + 3 + 1000, 'the sum is every delete');
  });

  it('keeps the map type of folded call sites up to max_map_types, then folds it too', async () => {
    const { c, src } = collector({ maxCallSites: 1, maxMapTypes: 1 });
    src.site({ caller: 'a.go:1', mapType: 'map[int]A', count: 9n });
    src.site({ caller: 'b.go:1', mapType: 'map[int]B', count: 5n });
    src.site({ caller: 'c.go:1', mapType: 'map[int]C', count: 3n });
    src.site({ caller: 'd.go:1', mapType: 'map[int]B', count: 2n });
    const s = await scrape(c);
    assert.deepEqual(pick(s, 'go_map_delete_total').map((x) => [x.labels.map_type, x.labels.caller, x.value]).sort(), [
      ['map[int]A', 'a.go:1', 9],
      ['map[int]B', 'other', 7],
      ['other', 'other', 3],
    ]);
  });

  it('folds deletes and clears separately, and services keep their label in "other"', async () => {
    const { c, src } = collector({ maxCallSites: 1 });
    src.site({ caller: 'a.go:1', count: 5n });
    src.site({ caller: 'b.go:1', count: 4n, service: 'two' });
    src.site({ caller: 'c.go:1', op: 'clear', count: 1n });
    const s = await scrape(c);
    assert.equal(value(s, 'go_map_delete_total', { service: 'svc', caller: 'a.go:1' }), 5);
    assert.equal(value(s, 'go_map_delete_total', { service: 'two', caller: 'other' }), 4);
    assert.equal(value(s, 'go_map_clear_total', { caller: 'c.go:1' }), 1);
  });
});

describe('metrics: counters never go backwards', () => {
  it('a row that restarts from zero (kernel LRU) or vanishes (process gone) never lowers its series', async () => {
    const { c, src } = collector();
    const a = src.site({ caller: 'a.go:1', pid: 1, count: 10n });
    src.site({ caller: 'a.go:1', pid: 2, count: 5n });
    assert.equal(value(await scrape(c), 'go_map_delete_total', { caller: 'a.go:1' }), 15);
    a.count = 3n; // restarted: 3 new deletes
    assert.equal(value(await scrape(c), 'go_map_delete_total', { caller: 'a.go:1' }), 18);
    src.counts = [src.counts[0]]; // pid 2's row is gone
    assert.equal(value(await scrape(c), 'go_map_delete_total', { caller: 'a.go:1' }), 18);
    src.counts = []; // every row gone: the series stays, with its value
    assert.equal(value(await scrape(c), 'go_map_delete_total', { caller: 'a.go:1' }), 18);
    src.site({ caller: 'a.go:1', pid: 2, count: 1n }); // back, from zero
    assert.equal(value(await scrape(c), 'go_map_delete_total', { caller: 'a.go:1' }), 19);
  });

  it('random growth, restarts and disappearances: every series once exposed stays, never decreasing; without restarts the sum is exact', async () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (const restarts of [false, true]) {
      const { c, src } = collector({ maxCallSites: 5, maxMapTypes: 2 });
      const last = new Map<string, number>();
      let total = 0n;
      for (let round = 0; round < 60; round++) {
        // new rows
        for (let i = rnd(3); i > 0; i--) {
          const n = BigInt(rnd(20));
          total += n;
          const pid = rnd(4);
          src.site({ caller: `f${rnd(12)}.go:${rnd(3)}`, mapType: `map[int]T${rnd(4)}`, pid, service: `s${pid % 2}`, op: rnd(4) ? 'delete' : 'clear', count: n });
        }
        for (const r of src.counts) {
          const g = BigInt(rnd(10));
          r.count += g;
          total += g;
          if (restarts && rnd(15) === 0) {
            const fresh = BigInt(rnd(3));
            r.count = fresh;
            total += fresh;
          }
        }
        // a duplicate key (pid, op, type, site) would be one kernel row: keep them unique
        const seen = new Set<string>();
        src.counts = src.counts.filter((r) => {
          const k = [r.pid, r.op, r.mapType, r.caller, r.callerFunction].join('|');
          if (seen.has(k)) {
            total -= r.count;
            return false;
          }
          seen.add(k);
          return true;
        });
        const s = await scrape(c);
        const now = new Map<string, number>();
        for (const x of [...pick(s, 'go_map_delete_total'), ...pick(s, 'go_map_clear_total')]) {
          const k = `${x.name}${JSON.stringify(x.labels)}`;
          assert.ok(!now.has(k), `duplicate series ${k}`);
          now.set(k, x.value);
        }
        for (const [k, v] of last) {
          assert.ok(now.has(k), `round ${round}: series ${k} disappeared`);
          assert.ok(now.get(k)! >= v, `round ${round}: ${k} went from ${v} to ${now.get(k)}`);
        }
        const ownSites = [...now.keys()].filter((k) => !k.includes('"caller":"other"'));
        assert.ok(ownSites.length <= 10, 'at most max_call_sites series of their own per family');
        if (!restarts) assert.equal(sum(s, 'go_map_delete_total') + sum(s, 'go_map_clear_total'), Number(total), `round ${round}: sum`);
        last.clear();
        for (const [k, v] of now) last.set(k, v);
        // some rows vanish (their processes exited and the source dropped them)
        if (restarts && rnd(5) === 0) src.counts.splice(rnd(src.counts.length + 1), 1);
      }
    }
  });

  it('a row whose service name changes (learnt late) goes on into the new series, without counting twice', async () => {
    const { c, src } = collector();
    const r = src.site({ caller: 'a.go:1', service: 'app', count: 10n });
    let s = await scrape(c);
    assert.equal(value(s, 'go_map_delete_total', { service: 'app' }), 10);
    r.service = 'checkout';
    r.count = 14n;
    s = await scrape(c);
    assert.equal(value(s, 'go_map_delete_total', { service: 'app' }), 10);
    assert.equal(value(s, 'go_map_delete_total', { service: 'checkout' }), 4);
    assert.equal(sum(s, 'go_map_delete_total'), 14);
  });

  it('health counters stay monotonic when the source restarts them', async () => {
    const { c, src } = collector();
    src.healthNow.eventsLost = 5n;
    assert.equal(value(await scrape(c), 'map_delete_tracer_events_lost_total'), 5);
    src.healthNow.eventsLost = 2n;
    assert.equal(value(await scrape(c), 'map_delete_tracer_events_lost_total'), 7);
  });
});

describe('metrics: hot maps', () => {
  it('exposes length, clear size and per-map counts of the most active maps, with pid and address', async () => {
    const { c, src } = collector({ maxMaps: 2 });
    src.map({ mapAddr: '0xc000000001', deletes: 100n, lastLen: 12, lastSeen: 5n });
    src.map({ mapAddr: '0xc000000002', deletes: 1n, clears: 1n, lastLen: 0, maxClearLen: 40, lastSeen: 6n });
    src.map({ mapAddr: '0xc000000003', deletes: 50n, lastLen: null, lastSeen: 7n });
    const s = await scrape(c);
    const labels = { service: 'svc', pid: '100', map_type: 'map[string]int', map: '0xc000000001' };
    assert.deepEqual(pick(s, 'go_map_deletes_by_map_total').map((x) => x.labels.map).sort(), ['0xc000000001', '0xc000000003']);
    assert.equal(value(s, 'go_map_deletes_by_map_total', labels), 100);
    assert.equal(value(s, 'go_map_clears_by_map_total', labels), 0);
    assert.equal(value(s, 'go_map_len', labels), 12);
    assert.equal(value(s, 'go_map_len', { map: '0xc000000003' }), undefined, 'no length when it could not be read');
    assert.equal(pick(s, 'go_map_clear_max_len').length, 0, 'no clear among the shown maps');
  });

  it('a shown map keeps its place unless another is more than twice as active; a map that leaves resumes from its count', async () => {
    const { c, src } = collector({ maxMaps: 1 });
    const a = src.map({ mapAddr: '0xa', deletes: 10n });
    const b = src.map({ mapAddr: '0xb', deletes: 0n });
    let t = 0;
    const shown = async () => pick(await scrape(c, (t += 15_000)), 'go_map_deletes_by_map_total').map((x) => [x.labels.map, x.value]);
    assert.deepEqual(await shown(), [['0xa', 10]]);
    a.deletes += 10n;
    b.deletes += 15n; // busier, but not twice as busy: a stays
    assert.deepEqual(await shown(), [['0xa', 20]]);
    b.deletes += 100n; // now it is
    assert.deepEqual(await shown(), [['0xb', 115]]);
    a.deletes += 1000n;
    assert.deepEqual(await shown(), [['0xa', 1020]], 'back with its whole count, not from zero');
  });

  it('a shown map the kernel forgot keeps its series; if it comes back it counts on from there', async () => {
    const { c, src } = collector({ maxMaps: 5 });
    src.map({ mapAddr: '0xa', deletes: 10n });
    assert.equal(value(await scrape(c, 1000), 'go_map_deletes_by_map_total', { map: '0xa' }), 10);
    src.maps = [];
    assert.equal(value(await scrape(c, 2000), 'go_map_deletes_by_map_total', { map: '0xa' }), 10);
    src.map({ mapAddr: '0xa', deletes: 3n });
    assert.equal(value(await scrape(c, 3000), 'go_map_deletes_by_map_total', { map: '0xa' }), 13);
  });

  it('max_maps: 0 exposes no map by address', async () => {
    const { c, src } = collector({ maxMaps: 0 });
    src.map({ mapAddr: '0xa', deletes: 10n, lastLen: 1 });
    const s = await scrape(c);
    assert.equal(pick(s, 'go_map_len').length + pick(s, 'go_map_deletes_by_map_total').length, 0);
  });

  it('the same address in two processes is two series (pid label)', async () => {
    const { c, src } = collector();
    src.map({ mapAddr: '0xc000100000', pid: 1, deletes: 1n });
    src.map({ mapAddr: '0xc000100000', pid: 2, deletes: 2n });
    const s = await scrape(c);
    assert.deepEqual(pick(s, 'go_map_deletes_by_map_total', { map: '0xc000100000' }).map((x) => [x.labels.pid, x.value]).sort(), [['1', 1], ['2', 2]]);
  });
});

describe('metrics: the tracer itself', () => {
  it('exposes health from the source and the export pipeline, usage as ratios', async () => {
    const { c, src } = collector({}, { otlp: 2048 });
    src.healthNow = { eventsLost: 3n, ringBufferBytes: 1 << 20, ringBufferUsedBytes: 1 << 18, probesAttached: 6, attachErrors: 1, tracedProcesses: 2, counterOverflow: 4n };
    const stats: ExportStats = {
      received: 100,
      rateLimited: 7,
      exporters: {
        otlp: { queuedSpans: 512, queuedEvents: 900, exportedSpans: 10, exportedEvents: 80, droppedSpans: 1, droppedEvents: 13, failedAttempts: 2 },
        debug: { written: 93 },
      },
    };
    c.setExportStats(() => stats);
    const s = await scrape(c);
    const expect: [string, Record<string, string>, number][] = [
      ['map_delete_tracer_events_lost_total', {}, 3],
      ['map_delete_tracer_uncounted_deletes_total', {}, 4],
      ['map_delete_tracer_ring_buffer_size_bytes', {}, 1 << 20],
      ['map_delete_tracer_ring_buffer_used_bytes', {}, 1 << 18],
      ['map_delete_tracer_ring_buffer_usage_ratio', {}, 0.25],
      ['map_delete_tracer_probes_attached', {}, 6],
      ['map_delete_tracer_attach_errors_total', {}, 1],
      ['map_delete_tracer_traced_processes', {}, 2],
      ['map_delete_tracer_events_received_total', {}, 100],
      ['map_delete_tracer_events_rate_limited_total', {}, 7],
      ['map_delete_tracer_exported_events_total', { exporter: 'otlp' }, 80],
      ['map_delete_tracer_exported_events_total', { exporter: 'debug' }, 93],
      ['map_delete_tracer_export_dropped_events_total', { exporter: 'otlp' }, 13],
      ['map_delete_tracer_export_failed_attempts_total', { exporter: 'otlp' }, 2],
      ['map_delete_tracer_export_queue_spans', { exporter: 'otlp' }, 512],
      ['map_delete_tracer_export_queue_capacity_spans', { exporter: 'otlp' }, 2048],
      ['map_delete_tracer_export_queue_usage_ratio', { exporter: 'otlp' }, 0.25],
      ['map_delete_tracer_build_info', { version: '9.9.9' }, 1],
    ];
    for (const [name, labels, v] of expect) assert.equal(value(s, name, labels), v, `${name} ${JSON.stringify(labels)}`);
    assert.equal(pick(s, 'map_delete_tracer_export_queue_spans', { exporter: 'debug' }).length, 0, 'no queue for a line exporter');
  });

  it('before the tracer has attached: build info, health at zero, empty go_map_ families; no pipeline families without a pipeline (watch)', async () => {
    const c = new MetricsCollector({ limits: LIMITS, version: '1.2.3' });
    const { samples, types } = parseExposition(await c.scrape());
    assert.equal(value(samples, 'map_delete_tracer_build_info', { version: '1.2.3' }), 1);
    assert.deepEqual(samples.filter((x) => x.name.startsWith('go_map_')), []);
    for (const x of samples) assert.equal(x.value, x.name === 'map_delete_tracer_build_info' ? 1 : 0, x.name);
    assert.equal(types.get('go_map_delete_total'), 'counter');
    assert.equal(types.get('map_delete_tracer_events_received_total'), undefined);
    c.setExportStats(() => ({ received: 3, rateLimited: 0, exporters: {} }));
    assert.equal(value(parseExposition(await c.scrape()).samples, 'map_delete_tracer_events_received_total'), 3);
  });
});

describe('metrics: delete duration histogram (timing mode)', () => {
  it('renders the source\'s cumulative buckets with +Inf, _sum and _count; absent without timing', async () => {
    const { c, src } = collector();
    let s = await scrape(c);
    assert.equal(pick(s, 'go_map_delete_duration_seconds_count').length, 0);
    src.histograms = [
      {
        op: 'delete',
        buckets: [
          { le: 2 ** 9 / 1e9, count: 3n },
          { le: 2 ** 10 / 1e9, count: 7n },
          { le: Infinity, count: 8n },
        ],
        sumSeconds: 0.000004,
        count: 8n,
      },
    ];
    s = await scrape(c);
    assert.deepEqual(pick(s, 'go_map_delete_duration_seconds_bucket').map((x) => [x.labels.le, x.value]), [
      ['5.12e-7', 3],
      ['0.000001024', 7],
      ['+Inf', 8],
    ]);
    assert.equal(value(s, 'go_map_delete_duration_seconds_sum'), 0.000004);
    assert.equal(value(s, 'go_map_delete_duration_seconds_count'), 8);
    assert.equal(pick(s, 'go_map_clear_duration_seconds_count').length, 0);
  });
});
