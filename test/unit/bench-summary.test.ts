import { strict as assert } from 'node:assert';
import {
  LOOP_CASES,
  LOOP_SETTINGS,
  SCHEMA,
  formatSummary,
  loopCells,
  median,
  parseTracerSummary,
  serviceCells,
  slope,
  validateSummary,
  type LoopRun,
  type ServiceRun,
  type Summary,
} from '../../bench/summary';

// Added cost over "none" per setting (ns), for synthetic runs.
const ADDED: Record<string, number> = { none: 0, floor: 500, count: 600, watch: 1000, otlp: 1200, bpftrace: 15000 };

function loopRuns(rounds: number): LoopRun[] {
  const runs: LoopRun[] = [];
  for (let r = 1; r <= rounds; r++) {
    for (const { id } of LOOP_SETTINGS) {
      for (const c of LOOP_CASES) {
        // round 2 is an outlier the median must ignore
        const noise = r === 2 ? 5000 : r;
        runs.push({ round: r, setting: id, case: c, mode: 'flat', ns_per_delete: 20 + ADDED[id] + noise, cpu_ns_per_delete: 20 + ADDED[id] / 2 + r, deletes: 1000, ...(id === 'watch' ? { tracer: { hits: 1000, lost: r === 1 ? 100 : 0 } } : {}) });
      }
    }
  }
  return runs;
}

function pacedRuns(): LoopRun[] {
  return loopRuns(1).map((r) => ({ ...r, mode: 'paced' as const, ns_per_delete: 10_000, cpu_ns_per_delete: r.cpu_ns_per_delete + 50 }));
}

function serviceRuns(): ServiceRun[] {
  const base = { sent: 100, ok: 100, failed: 0, elapsed_ms: 1000, requests_total: 120, p50_ms: 1, p99_ms: 5, service_cpu_pct: 40, tracer_cpu_pct: null, max_rps: 10000 };
  return [
    { ...base, round: 1, setting: 'none', rps: 5000 },
    { ...base, round: 1, setting: 'run-full', rps: 4900, max_rps: 9000, tracer_cpu_pct: 50, tracer: { hits: 600, lost: 0 } },
  ];
}

function sample(): Summary {
  return {
    schema: SCHEMA,
    date: '2026-11-23T07:00:00.000Z',
    quick: true,
    duration_s: 1,
    git: { commit: 'abc1234', dirty: false },
    machine: { cpus: 2, model: 'Intel(R) Xeon(R) Processor', kernel: '6.18.44', go: 'go1.26.8 linux/amd64', node: 'v20.20.2' },
    delete_loop: {
      rounds: 3,
      seconds_per_case: 1,
      go_binary: 'deleteloop',
      probe_points: ['runtime.mapdelete_fast64+6 (push rbp)'],
      bpftrace_symbols: { 'runtime.mapdelete_fast64': true },
      settings: LOOP_SETTINGS.map((s) => ({ ...s })),
      cases: loopCells(loopRuns(3)),
      paced: { rate: 100000, cases: loopCells(pacedRuns(), 'paced') },
      runs: [...loopRuns(3), ...pacedRuns()],
    },
    capacity: {
      trial_seconds: 5,
      goroutines: 2,
      drain_limit_ms: 1800,
      full_events: { tool: 'watch', max_zero_loss_rate: 150000, limited_by: 'loss', cpu_s_per_100k_events: 0.7, cpu_s_per_100k_deletes: 0.7, marginal_cpu_s_per_100k_events: 0.6, marginal_cpu_s_per_100k_deletes: 0.6, trials: [] },
      sampled_1pct: { tool: 'run', max_zero_loss_rate: null, limited_by: null, cpu_s_per_100k_events: null, cpu_s_per_100k_deletes: null, marginal_cpu_s_per_100k_events: null, marginal_cpu_s_per_100k_deletes: null, trials: [] },
      burst: { tool: 'watch', seconds: 60, target_rate: 200000, achieved_rate: 199000, deletes: 1, delivered: 1, lost: 0, peak_rss_kb: 400000, vm_hwm_kb: 390000, rss_at_ready_kb: 120000, tracer_cpu_s: 40 },
    },
    service: {
      target_rps: 5000,
      calibrated_max_rps: 20000,
      seconds: 20,
      rounds: 1,
      concurrency: 64,
      settings: [
        { id: 'none', label: 'no tracer' },
        { id: 'run-full', label: 'run' },
      ],
      cells: serviceCells(serviceRuns(), ['none', 'run-full']),
      runs: serviceRuns(),
    },
    span_tracking: { skipped: 'not selected (--only)' },
    errors: [],
  };
}

describe('benchmark summary (bench/summary.ts)', () => {
  it('takes medians, so one noisy round does not move a cell', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([]), null);
    const cells = loopCells(loopRuns(3));
    assert.equal(cells.int64.none.ns_per_delete, 23);
    assert.equal(cells.int64.floor.ns_per_delete, 523);
  });

  it('reports added cost over no probe, its ratio to the floor and how much cheaper than bpftrace', () => {
    const c = loopCells(loopRuns(3)).string;
    assert.equal(c.none.added_ns, 0);
    assert.equal(c.none.ratio_to_floor, null);
    assert.equal(c.floor.ratio_to_floor, 1);
    assert.equal(c.watch.added_ns, 1000);
    assert.equal(c.watch.ratio_to_floor, 2);
    assert.equal(c.watch.bpftrace_ratio, 15);
    assert.equal(c.bpftrace.bpftrace_ratio, 1);
    assert.equal(c.watch.lost_fraction, 0, 'median of 0.1, 0, 0');
    // CPU time: half the added cost, same ratios
    assert.equal(c.watch.cpu_added_ns, 500);
    assert.equal(c.watch.cpu_ratio_to_floor, 2);
    assert.equal(c.watch.cpu_bpftrace_ratio, 15);
    assert.equal(c.floor.lost_fraction, null, 'no tracer counts');
  });

  it('keeps paced runs apart, with CPU time only', () => {
    const c = loopCells([...loopRuns(3), ...pacedRuns()], 'paced').int64;
    assert.equal(c.watch.ns_per_delete, null, 'wall clock is mostly pacing sleeps');
    assert.equal(c.watch.ratio_to_floor, null);
    assert.equal(c.none.cpu_ns_per_delete, 71);
    assert.equal(c.watch.cpu_added_ns, 500);
    assert.equal(c.watch.cpu_ratio_to_floor, 2);
    assert.equal(c.watch.rounds, 1);
    assert.equal(loopCells([...loopRuns(3), ...pacedRuns()]).int64.watch.rounds, 3, 'flat by default');
  });

  it('leaves a ratio empty when its basis is missing', () => {
    const c = loopCells(loopRuns(1).filter((r) => r.setting !== 'bpftrace' && r.setting !== 'floor')).int64;
    assert.equal(c.watch.ratio_to_floor, null);
    assert.equal(c.watch.bpftrace_ratio, null);
    assert.equal(c.bpftrace.ns_per_delete, null);
  });

  it('fits the marginal CPU per event as a least-squares slope', () => {
    assert.equal(slope([{ x: 100, y: 1.5 }, { x: 200, y: 2.5 }, { x: 300, y: 3.5 }]), 0.01);
    assert.equal(slope([{ x: 100, y: 1 }]), null);
    assert.equal(slope([{ x: 100, y: 1 }, { x: 100, y: 2 }]), null);
  });

  it('computes the service throughput change and deletes per request', () => {
    const cells = serviceCells(serviceRuns(), ['none', 'run-full']);
    assert.equal(cells.none.throughput_change_pct, null);
    assert.ok(Math.abs(cells['run-full'].throughput_change_pct! - -2) < 1e-9);
    assert.equal(cells['run-full'].deletes_per_request, 5);
    assert.ok(Math.abs(cells['run-full'].max_rps_change_pct! - -10) < 1e-9);
  });

  it('parses the tracers\' final summary lines', () => {
    assert.deepEqual(
      parseTracerSummary(['map-delete-tracer: ready: 3 probes attached to 1 target(s)', 'map-delete-tracer: 209920 events from 1 process(es); probe hits 209920, lost 12 (ring buffer full: the reader fell behind)']),
      { hits: 209920, delivered: 209920, lost: 12 },
    );
    assert.deepEqual(
      parseTracerSummary([
        'map-delete-tracer: 225280 deletes from 1 process(es); probe hits 225280, left out by sampling 0, lost 0; 225280 events; 7 over the rate ceiling (dropped); otlp: 1760 spans / 225273 events exported, 0 events dropped',
      ]),
      { hits: 225280, delivered: 225280, lost: 0, rate_limited: 7, exported_spans: 1760, exported_events: 225273, dropped_events: 0 },
    );
    assert.deepEqual(parseTracerSummary(['floor: ready: 5 probes attached']), {});
  });

  it('accepts a complete summary, and a part that was skipped', () => {
    assert.deepEqual(validateSummary(sample()), []);
    assert.deepEqual(validateSummary(JSON.parse(JSON.stringify(sample()))), [], 'after a JSON round trip');
    const s = sample();
    s.capacity = { skipped: 'not selected (--only)' };
    assert.deepEqual(validateSummary(s), []);
  });

  it('names what is missing or mistyped', () => {
    const s = JSON.parse(JSON.stringify(sample()));
    delete s.machine.kernel;
    s.delete_loop.cases.int64.watch.ns_per_delete = 'fast';
    delete s.service;
    const problems = validateSummary(s);
    assert.ok(problems.some((p) => p.startsWith('machine.kernel')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('delete_loop.cases.int64.watch.ns_per_delete')), problems.join('\n'));
    assert.ok(problems.includes('service: missing'), problems.join('\n'));
    assert.deepEqual(validateSummary({ ...sample(), schema: 'other/1' }), [`schema: expected ${SCHEMA}`]);
  });

  it('prints every setting of the delete loop, the capacity and the service rows', () => {
    const text = formatSummary(sample());
    for (const { label } of LOOP_SETTINGS) assert.ok(text.includes(label), label);
    assert.match(text, /full events\s.*150,000/);
    assert.match(text, /peak RSS 391 MiB/);
    assert.match(text, /paced: 100,000 deletes\/s/);
    assert.match(text, /run\s+4,900\s+-2\.0%.*9,000\s+-10\.0%/);
    assert.match(text, /span tracking .*skipped/);
  });
});
