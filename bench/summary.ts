/**
 * The benchmark summary (bench/results/latest.json): its shape, the arithmetic from raw runs to
 * medians and ratios, a schema check, and the printed tables. Pure functions, no I/O, so the
 * unit tests (test/unit/bench-summary.test.ts) cover them without running a benchmark.
 */

export const SCHEMA = 'map-delete-tracer-bench/1';

export const LOOP_SETTINGS = [
  { id: 'none', label: 'no probe' },
  { id: 'floor', label: 'bare uprobe (mdt_noop), the floor' },
  { id: 'count', label: 'counting only (run, events: false)' },
  { id: 'watch', label: 'full events (watch --format json)' },
  { id: 'otlp', label: 'full events (run → OTLP sink)' },
  { id: 'bpftrace', label: 'bpftrace @[ustack] = count()' },
] as const;
export type LoopSettingId = (typeof LOOP_SETTINGS)[number]['id'];
export const LOOP_CASES = ['int64', 'string'] as const;
export type LoopCase = (typeof LOOP_CASES)[number];

/** Counts a tracer reported in its final summary line (absent when it has none). */
export interface TracerCounts {
  hits?: number;
  delivered?: number;
  lost?: number;
  /** run: events over max_events_per_second, dropped in user space */
  rate_limited?: number;
  /** run with an otlp exporter: events exported / dropped by its queue */
  exported_events?: number;
  exported_spans?: number;
  dropped_events?: number;
}

export type LoopMode = 'flat' | 'paced';

export interface LoopRun {
  round: number;
  setting: LoopSettingId;
  case: LoopCase;
  /** flat: as fast as possible for a fixed time; paced: a fixed number of deletes at a fixed rate */
  mode: LoopMode;
  /** wall clock */
  ns_per_delete: number;
  /** CPU time of the deleting thread */
  cpu_ns_per_delete: number;
  deletes: number;
  /** the tracer's counts for this run */
  tracer?: TracerCounts;
}

export interface LoopCell {
  /** wall-clock ns per delete, median over the rounds */
  ns_per_delete: number | null;
  /** ns_per_delete − the no-probe median: what the probe adds per delete */
  added_ns: number | null;
  /** added_ns ÷ the floor's added_ns */
  ratio_to_floor: number | null;
  /** bpftrace's added_ns ÷ this added_ns: how many times cheaper than the bpftrace line */
  bpftrace_ratio: number | null;
  /** the same four in CPU time of the deleting thread (no waiting for a CPU) */
  cpu_ns_per_delete: number | null;
  cpu_added_ns: number | null;
  cpu_ratio_to_floor: number | null;
  cpu_bpftrace_ratio: number | null;
  /** median over the rounds of lost ÷ probe hits (events modes) */
  lost_fraction: number | null;
  rounds: number;
}

export interface Machine {
  cpus: number;
  model: string;
  kernel: string;
  go: string;
  node: string;
  libbpf?: string;
  bpftrace?: string | null;
  mem_total_mb?: number;
}

export interface CapacityTrial {
  rate: number;
  achieved_rate: number;
  deletes: number;
  elapsed_ms: number;
  hits: number | null;
  delivered: number | null;
  lost: number | null;
  /** tracer CPU from "ready" to its exit, seconds */
  tracer_cpu_s: number | null;
  /** from the Go program's exit to the tracer's: the backlog it still had to work through */
  drain_ms: number | null;
  ok: boolean;
  /** why not ok: "loss"; "fell behind" (drain_ms over the limit: loss was only a matter of
   *  time); "rate not reached" (the Go program, sharing the CPUs with the tracer, could not
   *  delete that fast); "error" */
  reason?: string;
}

export interface CapacitySearch {
  tool: string;
  /** highest rate tried that ran at ≥95% of its target with zero loss */
  max_zero_loss_rate: number | null;
  /** what stopped the search above it */
  limited_by: string | null;
  /** tracer CPU (ready → exit) of the best zero-loss trial ÷ its events (deletes), × 100 000 */
  cpu_s_per_100k_events: number | null;
  cpu_s_per_100k_deletes: number | null;
  /** least-squares slope of tracer CPU over events (deletes) across the trials, × 100 000:
   *  the per-event cost without the fixed cost of a run (start-up after "ready", timers, exit) */
  marginal_cpu_s_per_100k_events: number | null;
  marginal_cpu_s_per_100k_deletes: number | null;
  trials: CapacityTrial[];
}

/** Least-squares slope of y over x (null with fewer than two distinct x). */
export function slope(points: readonly { x: number; y: number }[]): number | null {
  if (points.length < 2) return null;
  const mx = points.reduce((a, p) => a + p.x, 0) / points.length;
  const my = points.reduce((a, p) => a + p.y, 0) / points.length;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  if (sxx === 0) return null;
  return points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / sxx;
}

export interface Burst {
  tool: string;
  seconds: number;
  target_rate: number;
  achieved_rate: number | null;
  deletes: number | null;
  delivered: number | null;
  lost: number | null;
  /** peak RSS of the tracer process: ru_maxrss at exit (= VmHWM), kB */
  peak_rss_kb: number | null;
  /** VmHWM read from /proc/PID/status during the burst (last read), kB */
  vm_hwm_kb: number | null;
  rss_at_ready_kb: number | null;
  tracer_cpu_s: number | null;
}

export interface ServiceCell {
  rps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  /** CPU of the service process during the load, % of one core */
  service_cpu_pct: number | null;
  tracer_cpu_pct: number | null;
  deletes_per_request: number | null;
  lost: number | null;
  /** rps ÷ the no-tracer rps − 1, in % */
  throughput_change_pct: number | null;
  /** saturated: the most the service answered with the load tool's concurrency */
  max_rps: number | null;
  max_rps_change_pct: number | null;
  rounds: number;
}

export interface ServiceRun {
  round: number;
  setting: string;
  sent: number;
  ok: number;
  failed: number;
  elapsed_ms: number;
  rps: number;
  p50_ms: number | null;
  p99_ms: number | null;
  service_cpu_pct: number | null;
  tracer_cpu_pct: number | null;
  /** then: as many requests as the load tool's concurrency allows, for a few seconds */
  max_rps: number | null;
  /** requests of the whole run, warm-up included: what the tracer's probe hits cover */
  requests_total: number;
  tracer?: TracerCounts;
}

export interface Skipped {
  skipped: string;
}

export interface Summary {
  schema: typeof SCHEMA;
  date: string;
  quick: boolean;
  duration_s: number;
  git: { commit: string | null; dirty: boolean | null };
  machine: Machine;
  delete_loop:
    | {
        rounds: number;
        seconds_per_case: number;
        go_binary: string;
        /** probe points of the tracer (function+offset: instruction) */
        probe_points: string[];
        /** `go tool nm`: the runtime functions bpftrace attaches to, present or not */
        bpftrace_symbols: Record<string, boolean>;
        settings: { id: string; label: string }[];
        /** flat out */
        cases: Record<LoopCase, Record<LoopSettingId, LoopCell>>;
        /** at `rate` deletes per second (one the full-event pipeline sustains): CPU time only */
        paced: { rate: number; cases: Record<LoopCase, Record<LoopSettingId, LoopCell>> };
        runs: LoopRun[];
      }
    | Skipped;
  capacity:
    | {
        trial_seconds: number;
        goroutines: number;
        /** a trial whose tracer exits later than this after the Go program had a backlog */
        drain_limit_ms: number;
        full_events: CapacitySearch;
        sampled_1pct: CapacitySearch;
        burst: Burst;
      }
    | Skipped;
  service:
    | {
        target_rps: number;
        calibrated_max_rps: number | null;
        seconds: number;
        rounds: number;
        concurrency: number;
        settings: { id: string; label: string }[];
        cells: Record<string, ServiceCell>;
        runs: ServiceRun[];
      }
    | Skipped;
  span_tracking: Record<string, unknown> | Skipped;
  errors: { part: string; message: string }[];
}

export function median(xs: readonly number[]): number | null {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const div = (a: number | null, b: number | null): number | null => (a === null || b === null || b <= 0 ? null : a / b);

/** Medians, added cost and ratios from the raw delete-loop runs of one mode (paced: the
 *  wall-clock fields are null, being mostly the pacing's sleeps). */
export function loopCells(runs: readonly LoopRun[], mode: LoopMode = 'flat'): Record<LoopCase, Record<LoopSettingId, LoopCell>> {
  runs = runs.filter((r) => (r.mode ?? 'flat') === mode);
  const out = {} as Record<LoopCase, Record<LoopSettingId, LoopCell>>;
  for (const c of LOOP_CASES) {
    const of = (s: LoopSettingId) => runs.filter((r) => r.case === c && r.setting === s);
    const metric = (get: (r: LoopRun) => number) => {
      const med = (s: LoopSettingId) => median(of(s).map(get));
      const base = med('none');
      const added = (s: LoopSettingId) => {
        const m = med(s);
        return m === null || base === null ? null : s === 'none' ? 0 : Math.max(m - base, 0);
      };
      const floor = added('floor');
      const bpf = added('bpftrace');
      return (id: LoopSettingId) => {
        const a = added(id);
        return { ns: med(id), added: a, floor: id === 'none' ? null : div(a, floor), bpf: id === 'none' ? null : div(bpf, a) };
      };
    };
    const wall = metric((r) => r.ns_per_delete);
    const cpu = metric((r) => r.cpu_ns_per_delete);
    const row = {} as Record<LoopSettingId, LoopCell>;
    for (const { id } of LOOP_SETTINGS) {
      const w = wall(id);
      const u = cpu(id);
      const lost = of(id)
        .filter((r) => r.tracer?.lost !== undefined && r.tracer?.hits)
        .map((r) => r.tracer!.lost! / r.tracer!.hits!);
      const wallOk = mode === 'flat';
      row[id] = {
        ns_per_delete: wallOk ? w.ns : null,
        added_ns: wallOk ? w.added : null,
        ratio_to_floor: wallOk ? w.floor : null,
        bpftrace_ratio: wallOk ? w.bpf : null,
        cpu_ns_per_delete: u.ns,
        cpu_added_ns: u.added,
        cpu_ratio_to_floor: u.floor,
        cpu_bpftrace_ratio: u.bpf,
        lost_fraction: median(lost),
        rounds: of(id).length,
      };
    }
    out[c] = row;
  }
  return out;
}

/** Median cells per service setting; throughput change relative to the setting "none". */
export function serviceCells(runs: readonly ServiceRun[], settings: readonly string[]): Record<string, ServiceCell> {
  const cells: Record<string, ServiceCell> = {};
  for (const s of settings) {
    const rs = runs.filter((r) => r.setting === s);
    const m = (f: (r: ServiceRun) => number | null | undefined) => median(rs.map(f).filter((x): x is number => typeof x === 'number'));
    const dpr = rs
      .filter((r) => r.tracer?.hits !== undefined && r.requests_total > 0)
      .map((r) => r.tracer!.hits! / r.requests_total);
    cells[s] = {
      rps: m((r) => r.rps),
      p50_ms: m((r) => r.p50_ms),
      p99_ms: m((r) => r.p99_ms),
      service_cpu_pct: m((r) => r.service_cpu_pct),
      tracer_cpu_pct: m((r) => r.tracer_cpu_pct),
      deletes_per_request: median(dpr),
      lost: m((r) => r.tracer?.lost),
      throughput_change_pct: null,
      max_rps: m((r) => r.max_rps),
      max_rps_change_pct: null,
      rounds: rs.length,
    };
  }
  const change = (v: number | null, base: number | null | undefined) => (v === null || !base ? null : (v / base - 1) * 100);
  for (const s of settings) {
    if (s === 'none') continue;
    cells[s].throughput_change_pct = change(cells[s].rps, cells.none?.rps);
    cells[s].max_rps_change_pct = change(cells[s].max_rps, cells.none?.max_rps);
  }
  return cells;
}

/** Parses the counts out of a tracer's last stderr lines (watch's or run's final summary). */
export function parseTracerSummary(lines: readonly string[]): TracerCounts {
  const line = [...lines].reverse().find((l) => /probe hits \d+/.test(l)) ?? '';
  const num = (re: RegExp) => {
    const m = re.exec(line);
    return m ? Number(m[1]) : undefined;
  };
  const out: TracerCounts = {
    hits: num(/probe hits (\d+)/),
    delivered: num(/(\d+) (?:events|deletes) from \d+ process/),
    lost: num(/lost (\d+)/),
    rate_limited: num(/(\d+) over the rate ceiling/),
  };
  const ex = /(\d+) spans \/ (\d+) events exported, (\d+) events dropped/.exec(line);
  if (ex) {
    out.exported_spans = Number(ex[1]);
    out.exported_events = Number(ex[2]);
    out.dropped_events = Number(ex[3]);
  }
  for (const k of Object.keys(out) as (keyof TracerCounts)[]) if (out[k] === undefined) delete out[k];
  return out;
}

// ---- schema check -----------------------------------------------------------------------

const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const isNumOrNull = (v: unknown) => v === null || isNum(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Problems with a summary's shape (empty: fine). Numbers may be null; keys may not be missing. */
export function validateSummary(s: unknown): string[] {
  const p: string[] = [];
  const need = (o: unknown, path: string, keys: string[], check: (v: unknown) => boolean, what: string) => {
    if (!isObj(o)) return p.push(`${path}: not an object`);
    for (const k of keys) if (!(k in o) || !check(o[k])) p.push(`${path}.${k}: expected ${what}, got ${JSON.stringify(o[k])}`);
  };
  if (!isObj(s)) return ['summary: not an object'];
  if (s.schema !== SCHEMA) p.push(`schema: expected ${SCHEMA}`);
  need(s, 'summary', ['date'], (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v as string)), 'an ISO date');
  need(s, 'summary', ['quick'], (v) => typeof v === 'boolean', 'a boolean');
  need(s, 'summary', ['duration_s'], isNum, 'a number');
  need(s, 'summary', ['errors'], Array.isArray, 'a list');
  need(s.machine, 'machine', ['cpus'], isNum, 'a number');
  need(s.machine, 'machine', ['model', 'kernel', 'go', 'node'], (v) => typeof v === 'string', 'a string');
  const part = (name: string, body: (o: Record<string, unknown>) => void) => {
    const o = s[name];
    if (!isObj(o)) return p.push(`${name}: missing`);
    if (typeof o.skipped === 'string') return;
    body(o);
  };
  part('delete_loop', (o) => {
    need(o, 'delete_loop', ['rounds', 'seconds_per_case'], isNum, 'a number');
    need(o, 'delete_loop', ['runs'], Array.isArray, 'a list');
    need(o.paced, 'delete_loop.paced', ['rate'], isNum, 'a number');
    const cases = (where: string, cs: unknown) => {
      if (!isObj(cs)) return p.push(`${where}: missing`);
      for (const c of LOOP_CASES) {
        const row = cs[c];
        if (!isObj(row)) {
          p.push(`${where}.${c}: missing`);
          continue;
        }
        for (const { id } of LOOP_SETTINGS) {
          need(
            row[id],
            `${where}.${c}.${id}`,
            ['ns_per_delete', 'added_ns', 'ratio_to_floor', 'bpftrace_ratio', 'cpu_ns_per_delete', 'cpu_added_ns', 'cpu_ratio_to_floor', 'cpu_bpftrace_ratio', 'lost_fraction'],
            isNumOrNull,
            'a number or null',
          );
        }
      }
    };
    cases('delete_loop.cases', o.cases);
    cases('delete_loop.paced.cases', isObj(o.paced) ? o.paced.cases : undefined);
  });
  part('capacity', (o) => {
    for (const k of ['full_events', 'sampled_1pct']) {
      need(o[k], `capacity.${k}`, ['max_zero_loss_rate', 'cpu_s_per_100k_events', 'cpu_s_per_100k_deletes', 'marginal_cpu_s_per_100k_events', 'marginal_cpu_s_per_100k_deletes'], isNumOrNull, 'a number or null');
      need(o[k], `capacity.${k}`, ['trials'], Array.isArray, 'a list');
    }
    need(o.burst, 'capacity.burst', ['seconds', 'target_rate'], isNum, 'a number');
    need(o.burst, 'capacity.burst', ['peak_rss_kb', 'vm_hwm_kb', 'lost', 'achieved_rate'], isNumOrNull, 'a number or null');
  });
  part('service', (o) => {
    need(o, 'service', ['target_rps', 'seconds', 'rounds'], isNum, 'a number');
    if (!isObj(o.cells) || !isObj(o.cells.none)) return p.push('service.cells.none: missing');
    for (const [id, cell] of Object.entries(o.cells)) {
      need(cell, `service.cells.${id}`, ['rps', 'p50_ms', 'p99_ms', 'service_cpu_pct', 'throughput_change_pct', 'max_rps', 'max_rps_change_pct'], isNumOrNull, 'a number or null');
    }
  });
  if (!isObj(s.span_tracking)) p.push('span_tracking: missing');
  return p;
}

// ---- tables -------------------------------------------------------------------------------

const f0 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : Math.round(v).toLocaleString('en-US'));
const f1 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(1));
const f2 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(2));
const f3 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(3));
const pct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(v > 0 && v < 0.001 ? 3 : 1)}%`);

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** The printed report (also what the README's Performance section shows). */
export function formatSummary(s: Summary): string {
  const out: string[] = [];
  const m = s.machine;
  out.push(
    `map-delete-tracer benchmark${s.quick ? ' (QUICK smoke run: durations shortened, numbers rough)' : ''} — ${s.date}`,
    `machine: ${m.cpus} CPUs ${m.model}, kernel ${m.kernel}, ${m.go}, Node ${m.node}${m.libbpf ? `, libbpf ${m.libbpf}` : ''}${m.bpftrace ? `, ${m.bpftrace}` : ''}; git ${s.git.commit ?? '?'}${s.git.dirty ? ' (dirty)' : ''}`,
    '',
  );
  const dl = s.delete_loop;
  if ('skipped' in dl) out.push(`1. delete loop: skipped (${dl.skipped})`, '');
  else {
    out.push(
      `1. Go delete loop (delete + re-insert of a present key), flat out: ns per delete, median of ${dl.rounds} interleaved round(s) of ${dl.seconds_per_case} s, one process per case.`,
      '   wall = elapsed time; CPU = CPU time of the deleting thread (the probe runs in it; excludes waiting for a CPU the tracer holds).',
      '   added = over no probe; ×floor = added ÷ the bare uprobe\'s added; bpftrace÷ = bpftrace\'s added ÷ this added (higher: cheaper than bpftrace);',
      '   lost = events lost in the ring buffer (the loop runs flat out, above what user space drains).',
    );
    const dash = (id: string, v: string) => (id === 'none' ? '' : v);
    for (const c of LOOP_CASES) {
      const rows = LOOP_SETTINGS.map(({ id, label }) => {
        const x = dl.cases[c][id];
        return [
          label,
          f0(x.ns_per_delete),
          dash(id, f0(x.added_ns)),
          dash(id, f2(x.ratio_to_floor)),
          dash(id, f1(x.bpftrace_ratio)),
          f0(x.cpu_ns_per_delete),
          dash(id, f0(x.cpu_added_ns)),
          dash(id, f2(x.cpu_ratio_to_floor)),
          dash(id, f1(x.cpu_bpftrace_ratio)),
          x.lost_fraction === null ? '' : pct(x.lost_fraction),
        ];
      });
      out.push(table([`${c} keys`, 'wall ns', 'added', '×floor', 'bpftrace÷', 'CPU ns', 'added', '×floor', 'bpftrace÷', 'lost'], rows), '');
    }
    out.push(
      `   paced: ${f0(dl.paced.rate)} deletes/s (a rate full events sustain without loss), ${dl.seconds_per_case} s per case; CPU time of the deleting thread per delete`,
    );
    const prow = LOOP_SETTINGS.map(({ id, label }) => {
      const r: string[] = [label];
      for (const c of LOOP_CASES) {
        const x = dl.paced.cases[c][id];
        r.push(f0(x.cpu_ns_per_delete), dash(id, f0(x.cpu_added_ns)), dash(id, f2(x.cpu_ratio_to_floor)), dash(id, f1(x.cpu_bpftrace_ratio)), x.lost_fraction === null ? '' : pct(x.lost_fraction));
      }
      return r;
    });
    out.push(table(['paced', 'int64 CPU ns', 'added', '×floor', 'bpftrace÷', 'lost', 'string CPU ns', 'added', '×floor', 'bpftrace÷', 'lost'], prow), '');
    out.push(`   probe points: ${dl.probe_points.join(', ')}`, '');
  }
  const cap = s.capacity;
  if ('skipped' in cap) out.push(`2. pipeline capacity: skipped (${cap.skipped})`, '');
  else {
    out.push(
      `2. Pipeline capacity: test/fixtures/deleter -scenario load, ${cap.goroutines} goroutines, ${cap.trial_seconds} s per trial; sustained = no event lost, ≥95% of the rate reached,`,
      `   and the tracer done within ${cap.drain_limit_ms} ms of the program (no backlog). CPU: tracer user+system from "ready" to exit, per 100 000; marginal: slope over the trials.`,
    );
    const rows = [cap.full_events, cap.sampled_1pct].map((x, i) => [
      i === 0 ? 'full events' : '1% sampling',
      x.tool,
      f0(x.max_zero_loss_rate),
      x.limited_by ?? '–',
      f2(x.cpu_s_per_100k_events),
      f2(x.marginal_cpu_s_per_100k_events),
      f3(x.cpu_s_per_100k_deletes),
      f3(x.marginal_cpu_s_per_100k_deletes),
    ]);
    out.push(table(['mode', 'tracer', 'max deletes/s sustained', 'above it', 'CPU s/100k events', 'marginal', 'CPU s/100k deletes', 'marginal'], rows));
    const b = cap.burst;
    out.push(
      `   burst: ${b.seconds} s at ${f0(b.target_rate)}/s (${b.tool}): reached ${f0(b.achieved_rate)}/s, ${f0(b.delivered)} events, lost ${f0(b.lost)}; ` +
        `tracer peak RSS ${f0(b.peak_rss_kb === null ? null : b.peak_rss_kb / 1024)} MiB (VmHWM), ${f0(b.rss_at_ready_kb === null ? null : b.rss_at_ready_kb / 1024)} MiB when ready; CPU ${f1(b.tracer_cpu_s)} s`,
      '',
    );
  }
  const sv = s.service;
  if ('skipped' in sv) out.push(`3. realistic service: skipped (${sv.skipped})`, '');
  else {
    out.push(
      `3. examples/otel-http under cmd/load at ${f0(sv.target_rps)} req/s (calibrated max ${f0(sv.calibrated_max_rps)} req/s without tracer), concurrency ${sv.concurrency}, ${sv.seconds} s, median of ${sv.rounds} round(s);`,
      '   CPU in % of one core, during the fixed-rate load; saturated = then as fast as the concurrency allows (the 2 cores shared by service, load tool and tracer).',
    );
    const chg = (id: string, v: number | null) => (id === 'none' ? '' : v === null ? '–' : `${v >= 0 ? '+' : ''}${v.toFixed(1)}%`);
    const rows = sv.settings.map(({ id, label }) => {
      const c = sv.cells[id];
      return [
        label,
        f0(c.rps),
        chg(id, c.throughput_change_pct),
        f2(c.p50_ms),
        f2(c.p99_ms),
        f0(c.service_cpu_pct),
        id === 'none' ? '' : f0(c.tracer_cpu_pct),
        id === 'none' ? '' : f1(c.deletes_per_request),
        id === 'none' ? '' : f0(c.lost),
        f0(c.max_rps),
        chg(id, c.max_rps_change_pct),
      ];
    });
    out.push(table(['setting', 'req/s', 'Δ', 'p50 ms', 'p99 ms', 'service CPU%', 'tracer CPU%', 'deletes/req', 'lost', 'saturated req/s', 'Δ'], rows), '');
  }
  const sp = s.span_tracking;
  if ('skipped' in sp) out.push(`4. span tracking (bench/span-tracking.sh): skipped (${sp.skipped})`);
  else {
    const t = sp.ns_per_op as Record<string, Record<string, number>> | undefined;
    if (t) {
      const settings = [...new Set(Object.values(t).flatMap((r) => Object.keys(r)))];
      out.push(`4. span tracking (bench/span-tracking.sh): ns per operation, median of ${sp.rounds} round(s) of ${sp.n}`);
      out.push(table(['case', ...settings], Object.entries(t).map(([c, r]) => [c, ...settings.map((x) => f0(r[x]))])));
    }
  }
  if (s.errors.length) {
    out.push('', 'errors:');
    for (const e of s.errors) out.push(`  ${e.part}: ${e.message.split('\n')[0]}`);
  }
  return out.join('\n');
}
