/**
 * `npm run bench`: what map-delete-tracer costs, measured side by side in one invocation.
 *
 *   npm run bench                      # the full suite (~17 min on the 2-core VM)
 *   npm run bench -- --quick           # smoke run, same as BENCH_QUICK=1 (~4 min, rough numbers)
 *   npm run bench -- --only loop,service --rounds 3
 *
 *  1. loop      a Go delete loop (bench/deleteloop: int64 and string keys) with no probe, the bare
 *               uprobe floor (mdt_noop at the tracer's probe offsets, bench/floor.ts), counting
 *               only, full events into `watch --format json`, full events over OTLP to a local
 *               sink (bench/sink.ts), and the bpftrace one-liner; interleaved rounds, medians;
 *               flat out and paced at 100 000 deletes/s.
 *  2. capacity  the highest delete rate (test/fixtures/deleter -scenario load) with zero loss in
 *               full-event mode and with 1% sampling, tracer CPU per 100 000 events, tracer
 *               peak RSS under a burst.
 *  3. service   examples/otel-http under cmd/load at a fixed rate, without and with `run`.
 *  4. spans     bench/span-tracking.sh (npm run bench:spans), its JSON folded in.
 *
 * Prints the tables (bench/summary.ts) and writes the JSON summary to bench/results/<date>.json
 * and bench/results/latest.json (a quick run: bench/results/quick.json only). Progress goes to
 * stderr. Never fails on a number: exit 0, or 1 when a part could not run (its error is in the
 * JSON's "errors").
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GoBinary } from '../receiver/golang/binary';
import { loadNative } from '../receiver/native';
import { packageRoot } from '../receiver/util/paths';
import {
  alive,
  cpuSeconds,
  freePort,
  memoryKb,
  run,
  signal,
  sleep,
  start,
  startMeasured,
  tryRun,
  waitOrKill,
  type Measured,
  type Started,
} from './procs';
import {
  LOOP_CASES,
  LOOP_SETTINGS,
  SCHEMA,
  formatSummary,
  loopCells,
  parseTracerSummary,
  serviceCells,
  slope,
  validateSummary,
  type Burst,
  type CapacitySearch,
  type CapacityTrial,
  type LoopCase,
  type LoopMode,
  type LoopRun,
  type LoopSettingId,
  type Machine,
  type ServiceRun,
  type Summary,
  type TracerCounts,
} from './summary';

const ROOT = packageRoot();
const NODE = process.execPath;
const CLI = path.join(ROOT, 'dist', 'receiver', 'cli.js');
const FLOOR = path.join(ROOT, 'dist', 'bench', 'floor.js');
const SINK = path.join(ROOT, 'dist', 'bench', 'sink.js');
const CACHE = path.join(ROOT, '.cache', 'bench');
const GO = process.env.GO || ['/usr/local/go/bin/go', '/usr/bin/go'].find((p) => fs.existsSync(p)) || 'go';
const PARTS = ['loop', 'capacity', 'service', 'spans'] as const;
type Part = (typeof PARTS)[number];

const HELP = `Usage: npm run bench [-- --quick] [-- --only PART,...] [-- --rounds N] [-- --out DIR]

  --quick         smoke run with short durations (also BENCH_QUICK=1); writes
                  quick.json (and span-tracking-quick.json), leaves latest.json alone
  --only PARTS    comma-separated subset of: ${PARTS.join(', ')}
  --rounds N      rounds of the delete loop and the service benchmark
  --out DIR       where the JSON goes (default bench/results)`;

interface Plan {
  quick: boolean;
  out: string;
  parts: Set<Part>;
  loopRounds: number;
  loopSeconds: number;
  trialSeconds: number;
  bisectSteps: number;
  burstSeconds: number;
  burstRate: number;
  goroutines: number;
  serviceSeconds: number;
  saturatedSeconds: number;
  serviceRounds: number;
  spanRounds: number;
  spanN: number;
}

function parsePlan(argv: string[]): Plan {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  const quick = argv.includes('--quick') || process.env.BENCH_QUICK === '1';
  const val = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = val('--only');
  const parts = new Set<Part>(only ? (only.split(',') as Part[]) : PARTS);
  for (const p of parts) if (!PARTS.includes(p)) throw new Error(`--only: unknown part "${p}" (${PARTS.join(', ')})`);
  const rounds = val('--rounds') ? Number(val('--rounds')) : undefined;
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds > 0)) throw new Error('--rounds must be a positive integer');
  return {
    quick,
    out: path.resolve(val('--out') ?? path.join(ROOT, 'bench', 'results')),
    parts,
    loopRounds: rounds ?? (quick ? 1 : 5),
    loopSeconds: quick ? 0.3 : 1,
    trialSeconds: quick ? 1 : 5,
    bisectSteps: quick ? 1 : 3,
    burstSeconds: quick ? 5 : 60,
    burstRate: 200_000,
    goroutines: 2,
    serviceSeconds: quick ? 4 : 20,
    saturatedSeconds: quick ? 3 : 8,
    serviceRounds: rounds ? Math.min(rounds, 5) : quick ? 1 : 3,
    spanRounds: quick ? 1 : 3,
    spanN: quick ? 10_000 : 200_000,
  };
}

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

// Every process started here, so an interrupted run leaves nothing behind.
const children = new Set<number>();
function track<T extends { pid: number }>(x: T): T {
  children.add(x.pid);
  return x;
}
function untrack(pid: number | undefined): void {
  if (pid !== undefined) children.delete(pid);
}
process.on('exit', () => {
  for (const pid of children) signal(pid, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping`);
    for (const pid of children) signal(pid, 'SIGTERM');
    setTimeout(() => process.exit(130), 500);
  });
}

// ---- builds and configs -------------------------------------------------------------------

const BIN = {
  loop: path.join(CACHE, 'deleteloop'),
  deleter: path.join(CACHE, 'deleter'),
  service: path.join(ROOT, '.cache', 'examples', 'otel-http', 'plain', 'otel-http-example'),
  load: path.join(ROOT, '.cache', 'examples', 'otel-http', 'load'),
};

async function goBuild(dir: string, out: string): Promise<void> {
  await run(GO, ['build', '-o', out, '.'], { cwd: dir, env: { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=mod' } });
}

function writeConfig(name: string, yaml: string): string {
  const dir = path.join(CACHE, 'configs');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, yaml);
  return file;
}

/** The tracer configurations the parts use (`run --config`). */
function configs(sinkPort: number, metricsPort: number) {
  const sink = `
exporters:
  otlp:
    endpoint: http://127.0.0.1:${sinkPort}
    sending_queue:
      queue_size: 1000000
service:
  pipelines:
    traces:
      receivers: [mapdelete]
      exporters: [otlp]
`;
  return {
    // Counting only: nothing per delete leaves the kernel; the debug exporter gets nothing.
    count: writeConfig(
      'count',
      `receivers:
  mapdelete:
    events: false
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [mapdelete]
      exporters: [debug]
metrics:
  endpoint: 127.0.0.1:${metricsPort}
`,
    ),
    // Full events over OTLP. max_events_per_second at its maximum: with the default 5000, all
    // but 5000 events a second would be dropped in user space before any span is built, and
    // the export cost would not be measured.
    otlp: writeConfig(
      'otlp',
      `receivers:
  mapdelete:
    sampling:
      rate: 1.0
    max_events_per_second: 100000000
${sink}`,
    ),
    // 1% sampling, decided in the kernel; JSON lines to /dev/null.
    sampled: writeConfig(
      'sampled',
      `receivers:
  mapdelete:
    sampling:
      rate: 0.01
    max_events_per_second: 100000000
exporters:
  file:
    path: /dev/null
service:
  pipelines:
    traces:
      receivers: [mapdelete]
      exporters: [file]
`,
    ),
    // The service benchmark: every delete a span event, exported to the sink.
    serviceFull: writeConfig(
      'service-full',
      `receivers:
  mapdelete:
    sampling:
      rate: 1.0
    max_events_per_second: 100000000
${sink}`,
    ),
    // The service benchmark with config/tracer.yaml's sampling and ceiling.
    serviceSampled: writeConfig(
      'service-sampled',
      `receivers:
  mapdelete:
    sampling:
      rate: 0.1
    max_events_per_second: 5000
${sink}`,
    ),
  };
}
type Configs = ReturnType<typeof configs>;

// ---- starting things ------------------------------------------------------------------------

/** A Go program of this suite that prints {"event":"ready"} and waits for "go" on stdin. */
async function startGo(bin: string, args: string[]): Promise<Started> {
  const g = track(start(bin, args, { stdin: 'pipe' }));
  g.exited.then(() => untrack(g.pid));
  await g.stdout.waitFor(/"event":"ready"/, 15_000, path.basename(bin));
  return g;
}

function go(g: Started): void {
  g.child.stdin!.write('go\n');
  g.child.stdin!.end();
}

/** A tracer (or the floor) under the wait4 wrapper, stdout to /dev/null; resolves once it says "ready:". */
async function startTracer(args: string[], what: string): Promise<Measured> {
  const m = await startMeasured(NODE, args, { stdout: 'ignore' });
  track(m);
  m.done.then(() => untrack(m.pid), () => untrack(m.pid));
  try {
    await m.stderr.waitFor(/ready:/, 90_000, what);
  } catch (e) {
    signal(m.pid, 'SIGKILL');
    throw e;
  }
  return m;
}

async function finishTracer(m: Measured, timeoutMs = 180_000): Promise<{ counts: TracerCounts; cpuS: number; maxRssKb: number; exitCode: number }> {
  const ru = await waitOrKill(m.done, m.pid, timeoutMs);
  if (ru.exitCode !== 0) log(`warning: tracer exited ${ru.exitCode}: ${m.stderr.all.slice(-3).join(' | ')}`);
  return { counts: parseTracerSummary(m.stderr.all), cpuS: ru.cpuS, maxRssKb: ru.maxRssKb, exitCode: ru.exitCode };
}

// ---- 1. the delete loop ---------------------------------------------------------------------

const BPFTRACE_FUNCS = ['runtime.mapdelete_fast64', 'runtime.mapdelete_faststr'];

async function loopPart(plan: Plan, cfg: Configs, hasBpftrace: boolean, errors: Summary['errors']): Promise<Summary['delete_loop']> {
  const bin = GoBinary.open(BIN.loop);
  const points = bin.probePoints().points.map((p) => `${p.function}+${p.vaddr - p.entry} (${p.instruction})`);
  const nm = (await run(GO, ['tool', 'nm', BIN.loop])).split('\n').map((l) => l.trim().split(/\s+/).pop());
  const symbols = Object.fromEntries(BPFTRACE_FUNCS.map((f) => [f, nm.includes(f)]));
  const settings = LOOP_SETTINGS.map((s) => s.id).filter((s) => s !== 'bpftrace' || hasBpftrace) as LoopSettingId[];
  if (!hasBpftrace) errors.push({ part: 'loop', message: 'bpftrace is not installed (SETUP_BENCH_TOOLS=1 bash scripts/setup.sh installs it): its row is empty' });
  const runs: LoopRun[] = [];
  for (let r = 1; r <= plan.loopRounds; r++) {
    // Rotate the order each round, so no setting always runs first (or right after bpftrace).
    const order = [...settings.slice((r - 1) % settings.length), ...settings.slice(0, (r - 1) % settings.length)];
    const cases = r % 2 ? LOOP_CASES : [...LOOP_CASES].reverse();
    for (const s of order) {
      for (const mode of ['flat', 'paced'] as const) {
        for (const c of cases) {
          log(`loop: round ${r}/${plan.loopRounds}: ${s}, ${c} keys, ${mode}`);
          const got = await loopOne(s, c, mode, plan, cfg);
          for (const x of got) runs.push({ round: r, ...x });
        }
      }
    }
  }
  return {
    rounds: plan.loopRounds,
    seconds_per_case: plan.loopSeconds,
    go_binary: `${BIN.loop} (${bin.goVersion}, ${bin.mapImpl} maps)`,
    probe_points: points,
    bpftrace_symbols: symbols,
    settings: LOOP_SETTINGS.map((s) => ({ ...s })),
    cases: loopCells(runs, 'flat'),
    paced: { rate: PACED_RATE, cases: loopCells(runs, 'paced') },
    runs,
  };
}

/** The paced delete loop's rate: one full events sustain without loss (part 2 measures where that ends). */
const PACED_RATE = 100_000;

async function loopOne(setting: LoopSettingId, keyCase: LoopCase, mode: LoopMode, plan: Plan, cfg: Configs): Promise<Omit<LoopRun, 'round'>[]> {
  const g = await startGo(BIN.loop, ['-seconds', String(plan.loopSeconds), '-cases', keyCase, '-rate', mode === 'paced' ? String(PACED_RATE) : '0']);
  const pid = String(g.pid);
  let tracer: Measured | undefined;
  let bt: Started | undefined;
  try {
    switch (setting) {
      case 'none':
        break;
      case 'floor':
        tracer = await startTracer([FLOOR, '--pid', pid], 'floor');
        break;
      case 'count':
        tracer = await startTracer([CLI, 'run', '--config', cfg.count, '--pid', pid], 'run (counting)');
        break;
      case 'watch':
        tracer = await startTracer([CLI, 'watch', '--pid', pid, '--format', 'json'], 'watch');
        break;
      case 'otlp':
        tracer = await startTracer([CLI, 'run', '--config', cfg.otlp, '--pid', pid], 'run (otlp)');
        break;
      case 'bpftrace': {
        // The ad-hoc line of the issue, on both functions the loop calls; BEGIN runs once every
        // probe is attached.
        const prog = `BEGIN { printf("ready:\\n"); } ${BPFTRACE_FUNCS.map((f) => `uprobe:${BIN.loop}:${f}`).join(', ')} { @[ustack] = count(); }`;
        bt = track(start('bpftrace', ['-e', prog], { stdin: 'ignore' }));
        bt.exited.then(() => untrack(bt!.pid));
        await bt.stdout.waitFor(/ready:/, 60_000, 'bpftrace');
        break;
      }
    }
    go(g);
    await g.stdout.waitFor(/"event":"done"/, 600_000, 'deleteloop');
    await g.exited;
    let counts: TracerCounts | undefined;
    if (tracer) counts = (await finishTracer(tracer)).counts;
    if (bt) {
      signal(bt.pid, 'SIGINT');
      await waitOrKill(bt.exited, bt.pid, 60_000);
    }
    return g.stdout
      .json()
      .filter((o) => o.event === 'result')
      .map((o) => ({ setting, case: o.case, mode, ns_per_delete: o.ns_per_delete, cpu_ns_per_delete: o.cpu_ns_per_delete, deletes: o.deletes, ...(counts ? { tracer: counts } : {}) }));
  } finally {
    signal(g.pid, 'SIGKILL');
    if (tracer && alive(tracer.pid)) signal(tracer.pid, 'SIGTERM');
    if (bt && alive(bt.pid)) signal(bt.pid, 'SIGINT');
  }
}

// ---- 2. pipeline capacity -------------------------------------------------------------------

type Mode = 'full' | 'sampled';

/** A tracer still busy this long after its target exited had a backlog: at that rate, loss is a
 *  matter of the burst lasting longer than the buffers (16 MiB ring buffer, 64 MiB of batches).
 *  Noticing the exit and shutting down takes ~0.8 s here when there is no backlog; the limit
 *  allows one second more. */
export const DRAIN_LIMIT_MS = 1800;

interface TrialDetail extends CapacityTrial {
  peakRssKb: number | null;
  hwmKb: number | null;
  rssAtReadyKb: number | null;
}

async function trial(mode: Mode, rate: number, seconds: number, plan: Plan, cfg: Configs): Promise<TrialDetail> {
  const g = await startGo(BIN.deleter, ['-scenario', 'load', '-goroutines', String(plan.goroutines), '-rate', String(rate), '-seconds', String(seconds)]);
  const pid = String(g.pid);
  let m: Measured | undefined;
  let poll: NodeJS.Timeout | undefined;
  try {
    m = mode === 'full'
      ? await startTracer([CLI, 'watch', '--pid', pid, '--format', 'json'], 'watch')
      : await startTracer([CLI, 'run', '--config', cfg.sampled, '--pid', pid], 'run (1% sampling)');
    const tpid = m.pid;
    const cpu0 = cpuSeconds(tpid) ?? 0;
    const ready = memoryKb(tpid);
    let hwm: number | null = ready?.hwm ?? null;
    poll = setInterval(() => {
      const x = memoryKb(tpid);
      if (x && Number.isFinite(x.hwm)) hwm = Math.max(hwm ?? 0, x.hwm);
    }, 250);
    go(g);
    const line = await g.stdout.waitFor(/"event":"load"/, seconds * 30_000 + 120_000, 'deleter load');
    await g.exited;
    const exitedAt = performance.now();
    const load = JSON.parse(line);
    const fin = await finishTracer(m);
    const drainMs = Math.round(performance.now() - exitedAt);
    clearInterval(poll);
    const achieved = load.elapsed_ms > 0 ? load.deletes / (load.elapsed_ms / 1000) : 0;
    const lost = fin.counts.lost ?? null;
    let reason: string | undefined;
    if (fin.exitCode !== 0 || lost === null) reason = 'error';
    else if (lost > 0) reason = 'loss';
    else if (drainMs > DRAIN_LIMIT_MS) reason = 'fell behind';
    else if (achieved < 0.95 * rate) reason = 'rate not reached';
    return {
      rate,
      achieved_rate: Math.round(achieved),
      deletes: load.deletes,
      elapsed_ms: load.elapsed_ms,
      hits: fin.counts.hits ?? null,
      delivered: fin.counts.delivered ?? null,
      lost,
      tracer_cpu_s: Number((fin.cpuS - cpu0).toFixed(3)),
      drain_ms: drainMs,
      ok: reason === undefined,
      ...(reason ? { reason } : {}),
      peakRssKb: fin.maxRssKb,
      hwmKb: hwm,
      rssAtReadyKb: ready?.rss ?? null,
    };
  } finally {
    clearInterval(poll);
    signal(g.pid, 'SIGKILL');
    if (m && alive(m.pid)) signal(m.pid, 'SIGTERM');
  }
}

const strip = ({ peakRssKb: _a, hwmKb: _b, rssAtReadyKb: _c, ...t }: TrialDetail): CapacityTrial => t;

/** Doubling from 50 000/s (quick: 100 000/s) until a trial fails, then bisecting between the last
 *  good and the first bad rate. */
async function search(mode: Mode, plan: Plan, cfg: Configs): Promise<CapacitySearch> {
  const trials: CapacityTrial[] = [];
  const one = async (rate: number) => {
    const t = strip(await trial(mode, rate, plan.trialSeconds, plan, cfg));
    log(`capacity (${mode}): ${rate}/s → reached ${t.achieved_rate}/s, lost ${t.lost}, drained in ${t.drain_ms} ms, tracer CPU ${t.tracer_cpu_s} s: ${t.ok ? 'ok' : t.reason}`);
    trials.push(t);
    return t;
  };
  const CEILING = 3_200_000;
  let good: CapacityTrial | undefined;
  let bad: CapacityTrial | undefined;
  for (let rate = plan.quick ? 100_000 : 50_000; rate <= CEILING; rate *= 2) {
    const t = await one(rate);
    if (t.ok) good = t;
    else {
      bad = t;
      break;
    }
  }
  if (!good) {
    // Fails already at 50 000/s: step down.
    for (let rate = 25_000; rate >= 5_000 && !good; rate = Math.floor(rate / 2)) {
      const t = await one(rate);
      if (t.ok) good = t;
      else bad = t;
    }
  }
  for (let i = 0; i < plan.bisectSteps && good && bad; i++) {
    const step = bad.rate - good.rate > 100_000 ? 10_000 : 5_000;
    const mid = Math.round((good.rate + bad.rate) / 2 / step) * step;
    if (mid <= good.rate || mid >= bad.rate) break;
    const t = await one(mid);
    if (t.ok) good = t;
    else bad = t;
  }
  // CPU per 100 000 events: from the best zero-loss trial (else the lowest-rate one).
  const basis = good ?? [...trials].sort((a, b) => a.rate - b.rate)[0];
  const per = (n: number | null | undefined) => (basis && basis.tracer_cpu_s !== null && n ? (basis.tracer_cpu_s / n) * 100_000 : null);
  const fit = (x: (t: CapacityTrial) => number | null) => {
    const pts = trials.filter((t) => t.reason !== 'error' && t.tracer_cpu_s !== null && x(t) !== null).map((t) => ({ x: x(t)!, y: t.tracer_cpu_s! }));
    const k = slope(pts);
    return k === null ? null : k * 100_000;
  };
  return {
    tool: mode === 'full' ? 'watch --format json > /dev/null' : 'run, sampling.rate 0.01, file exporter → /dev/null',
    max_zero_loss_rate: good?.rate ?? null,
    limited_by: bad ? (bad.reason ?? null) : good ? `search ceiling (${CEILING}/s)` : null,
    cpu_s_per_100k_events: per(basis?.delivered),
    cpu_s_per_100k_deletes: per(basis?.hits),
    marginal_cpu_s_per_100k_events: fit((t) => t.delivered),
    marginal_cpu_s_per_100k_deletes: fit((t) => t.hits),
    trials,
  };
}

async function capacityPart(plan: Plan, cfg: Configs): Promise<Summary['capacity']> {
  const full = await search('full', plan, cfg);
  const sampled = await search('sampled', plan, cfg);
  log(`capacity: burst of ${plan.burstSeconds} s at ${plan.burstRate}/s into watch --format json`);
  const b = await trial('full', plan.burstRate, plan.burstSeconds, plan, cfg);
  const burst: Burst = {
    tool: 'watch --format json > /dev/null',
    seconds: plan.burstSeconds,
    target_rate: plan.burstRate,
    achieved_rate: b.achieved_rate,
    deletes: b.deletes,
    delivered: b.delivered,
    lost: b.lost,
    peak_rss_kb: b.peakRssKb,
    vm_hwm_kb: b.hwmKb,
    rss_at_ready_kb: b.rssAtReadyKb,
    tracer_cpu_s: b.tracer_cpu_s,
  };
  return { trial_seconds: plan.trialSeconds, goroutines: plan.goroutines, drain_limit_ms: DRAIN_LIMIT_MS, full_events: full, sampled_1pct: sampled, burst };
}

// ---- 3. the example service -----------------------------------------------------------------

const SERVICE_SETTINGS = [
  { id: 'none', label: 'no tracer' },
  { id: 'run-full', label: 'run: every delete → OTLP sink' },
  { id: 'run-sampled', label: 'run: 10% sampled, ≤5000/s (config/tracer.yaml)' },
];
const CONCURRENCY = 64;

interface LoadSummary {
  sent: number;
  ok: number;
  failed: number;
  elapsed_ms: number;
  latency_ms?: { p50: number; p90: number; p99: number; max: number };
}

async function loadRun(addr: string, rate: number, n: number, maxSeconds: number): Promise<LoadSummary> {
  const l = track(
    start(BIN.load, ['-addr', addr, '-rate', String(rate), '-n', String(n), '-concurrency', String(CONCURRENCY), '-max-duration', `${maxSeconds}s`, '-summary-only'], { stdin: 'ignore' }),
  );
  const line = await l.stdout.waitFor(/"event":"summary"/, (maxSeconds + 60) * 1000, 'load');
  await l.exited;
  untrack(l.pid);
  return JSON.parse(line) as LoadSummary;
}

async function startService(sinkPort: number): Promise<{ s: Started; addr: string }> {
  const s = track(
    start(BIN.service, ['-addr', '127.0.0.1:0'], {
      stdin: 'ignore',
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`, OTEL_SERVICE_NAME: 'otel-http-example' },
    }),
  );
  s.exited.then(() => untrack(s.pid));
  const line = await s.stdout.waitFor(/"event":"listening"/, 15_000, 'otel-http-example');
  return { s, addr: JSON.parse(line).addr as string };
}

async function stopService(s: Started): Promise<void> {
  signal(s.pid, 'SIGTERM');
  await waitOrKill(s.exited, s.pid, 20_000);
}

async function servicePart(plan: Plan, cfg: Configs, sinkPort: number): Promise<Summary['service']> {
  // Calibrate: requests as fast as CONCURRENCY allows, no tracer.
  let calibrated: number | null = null;
  {
    const { s, addr } = await startService(sinkPort);
    try {
      const secs = plan.quick ? 3 : 8;
      const sum = await loadRun(addr, 0, 1_000_000, secs);
      calibrated = Math.round(sum.sent / (sum.elapsed_ms / 1000));
      log(`service: calibration: ${calibrated} req/s at most (concurrency ${CONCURRENCY}, p99 ${sum.latency_ms?.p99} ms)`);
    } finally {
      await stopService(s);
    }
  }
  // 5 000 req/s, or 80% of what the machine sustains without the tracer.
  const target = Math.max(100, Math.min(5000, Math.floor((0.8 * (calibrated ?? 5000)) / 100) * 100));
  const runs: ServiceRun[] = [];
  for (let r = 1; r <= plan.serviceRounds; r++) {
    const order = [...SERVICE_SETTINGS.slice((r - 1) % 3), ...SERVICE_SETTINGS.slice(0, (r - 1) % 3)];
    for (const { id } of order) {
      log(`service: round ${r}/${plan.serviceRounds}: ${id} at ${target} req/s for ${plan.serviceSeconds} s`);
      runs.push(await serviceOne(id, r, target, plan, cfg, sinkPort));
    }
  }
  return {
    target_rps: target,
    calibrated_max_rps: calibrated,
    seconds: plan.serviceSeconds,
    rounds: plan.serviceRounds,
    concurrency: CONCURRENCY,
    settings: SERVICE_SETTINGS,
    cells: serviceCells(
      runs,
      SERVICE_SETTINGS.map((s) => s.id),
    ),
    runs,
  };
}

async function serviceOne(id: string, round: number, rate: number, plan: Plan, cfg: Configs, sinkPort: number): Promise<ServiceRun> {
  const { s, addr } = await startService(sinkPort);
  let m: Measured | undefined;
  try {
    if (id !== 'none') m = await startTracer([CLI, 'run', '--config', id === 'run-full' ? cfg.serviceFull : cfg.serviceSampled, '--pid', String(s.pid)], id);
    const warm = await loadRun(addr, rate, Math.max(1, Math.round(rate * 1)), 30);
    const c0 = cpuSeconds(s.pid);
    const t0 = m ? cpuSeconds(m.pid) : undefined;
    const w0 = performance.now();
    const sum = await loadRun(addr, rate, Math.round(rate * plan.serviceSeconds), plan.serviceSeconds * 3);
    const wall = (performance.now() - w0) / 1000;
    const c1 = cpuSeconds(s.pid);
    const t1 = m ? cpuSeconds(m.pid) : undefined;
    const sat = await loadRun(addr, 0, 1_000_000, plan.saturatedSeconds);
    let counts: TracerCounts | undefined;
    if (m) {
      signal(m.pid, 'SIGINT');
      counts = (await finishTracer(m, 60_000)).counts;
    }
    const pctOf = (a?: number, b?: number) => (a !== undefined && b !== undefined ? Number((((b - a) / wall) * 100).toFixed(1)) : null);
    const r: ServiceRun = {
      round,
      setting: id,
      sent: sum.sent,
      ok: sum.ok,
      failed: sum.failed,
      elapsed_ms: sum.elapsed_ms,
      rps: Math.round(sum.ok / (sum.elapsed_ms / 1000)),
      p50_ms: sum.latency_ms?.p50 ?? null,
      p99_ms: sum.latency_ms?.p99 ?? null,
      service_cpu_pct: pctOf(c0, c1),
      tracer_cpu_pct: pctOf(t0, t1),
      max_rps: Math.round(sat.ok / (sat.elapsed_ms / 1000)),
      requests_total: warm.sent + sum.sent + sat.sent,
      ...(counts ? { tracer: counts } : {}),
    };
    log(`service: ${id}: ${r.rps} req/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, saturated ${r.max_rps} req/s, service CPU ${r.service_cpu_pct}%${m ? `, tracer CPU ${r.tracer_cpu_pct}%, ${counts?.hits} deletes, lost ${counts?.lost}` : ''}`);
    return r;
  } finally {
    if (m && alive(m.pid)) {
      signal(m.pid, 'SIGTERM');
      await waitOrKill(m.done, m.pid, 20_000).catch(() => undefined);
    }
    await stopService(s);
  }
}

// ---- 4. span tracking -----------------------------------------------------------------------

async function spansPart(plan: Plan): Promise<Record<string, unknown>> {
  // A quick run leaves the committed bench/results/span-tracking.json alone.
  const out = path.join(plan.out, plan.quick ? 'span-tracking-quick.json' : 'span-tracking.json');
  const before = fs.existsSync(out) ? fs.statSync(out).mtimeMs : 0;
  await run('bash', [path.join(ROOT, 'bench', 'span-tracking.sh')], {
    env: { ...process.env, ROUNDS: String(plan.spanRounds), N: String(plan.spanN), GO, SPAN_JSON: out },
    timeoutMs: 3600_000,
  });
  if (!fs.existsSync(out) || fs.statSync(out).mtimeMs === before) throw new Error(`bench/span-tracking.sh did not write ${out}`);
  return JSON.parse(fs.readFileSync(out, 'utf8'));
}

// ---- machine, main ---------------------------------------------------------------------------

async function machine(): Promise<Machine> {
  let libbpf: string | undefined;
  try {
    libbpf = loadNative().libbpfVersion();
  } catch {
    /* reported by the parts */
  }
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model ?? 'unknown',
    kernel: os.release(),
    go: (await tryRun(GO, ['version']))?.replace(/^go version /, '') ?? 'unknown',
    node: process.version,
    libbpf,
    bpftrace: (await tryRun('bpftrace', ['--version'])) ?? null,
    mem_total_mb: Math.round(os.totalmem() / 2 ** 20),
  };
}

async function gitInfo(): Promise<Summary['git']> {
  const commit = (await tryRun('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])) ?? null;
  const status = await tryRun('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']);
  return { commit, dirty: status === undefined ? null : status.length > 0 };
}

async function main(): Promise<number> {
  const plan = parsePlan(process.argv.slice(2));
  const t0 = Date.now();
  if (process.getuid?.() !== 0) log('warning: not root: uprobes need root (or CAP_SYS_ADMIN + CAP_BPF + CAP_PERFMON)');
  for (const f of [CLI, FLOOR, SINK]) if (!fs.existsSync(f)) throw new Error(`${f} is missing: run npm run build`);
  fs.mkdirSync(CACHE, { recursive: true });
  fs.mkdirSync(plan.out, { recursive: true });
  const errors: Summary['errors'] = [];
  const skipped = (why: string) => ({ skipped: why });
  const summary: Summary = {
    schema: SCHEMA,
    date: new Date().toISOString(),
    quick: plan.quick,
    duration_s: 0,
    git: await gitInfo(),
    machine: await machine(),
    delete_loop: skipped('not selected (--only)'),
    capacity: skipped('not selected (--only)'),
    service: skipped('not selected (--only)'),
    span_tracking: skipped('not selected (--only)'),
    errors,
  };
  log(`${plan.quick ? 'QUICK smoke run' : 'full run'}: ${[...plan.parts].join(', ')}`);

  log('building the Go programs');
  if (plan.parts.has('loop')) await goBuild(path.join(ROOT, 'bench', 'deleteloop'), BIN.loop);
  if (plan.parts.has('capacity')) await goBuild(path.join(ROOT, 'test', 'fixtures', 'deleter'), BIN.deleter);
  if (plan.parts.has('service')) await run('bash', [path.join(ROOT, 'scripts', 'build-examples.sh')], { env: { ...process.env, GO } });

  const sinkProc = track(start(NODE, [SINK], { stdin: 'ignore' }));
  const sinkPort = JSON.parse(await sinkProc.stdout.waitFor(/"listening"/, 30_000, 'OTLP sink')).port as number;
  const cfg = configs(sinkPort, await freePort());
  const hasBpftrace = summary.machine.bpftrace !== null;

  const attempt = async <K extends 'delete_loop' | 'capacity' | 'service' | 'span_tracking'>(part: Part, key: K, body: () => Promise<Summary[K]>) => {
    if (!plan.parts.has(part)) return;
    const t = Date.now();
    try {
      summary[key] = await body();
    } catch (e) {
      const msg = (e as Error).message;
      log(`${part}: FAILED: ${msg}`);
      errors.push({ part, message: msg });
      summary[key] = skipped(`failed: ${msg.split('\n')[0]}`) as Summary[K];
    }
    log(`${part}: ${((Date.now() - t) / 1000).toFixed(0)} s`);
  };
  try {
    await attempt('loop', 'delete_loop', () => loopPart(plan, cfg, hasBpftrace, errors));
    await attempt('capacity', 'capacity', () => capacityPart(plan, cfg));
    await attempt('service', 'service', () => servicePart(plan, cfg, sinkPort));
    await attempt('spans', 'span_tracking', () => spansPart(plan));
  } finally {
    signal(sinkProc.pid, 'SIGTERM');
    await waitOrKill(sinkProc.exited, sinkProc.pid, 10_000);
  }
  const sinkStats = sinkProc.stdout.json().find((o) => o.event === 'stats');
  if (sinkStats) log(`OTLP sink: ${sinkStats.requests} requests, ${sinkStats.bytes} bytes received`);

  summary.duration_s = Math.round((Date.now() - t0) / 1000);
  const problems = validateSummary(summary);
  if (problems.length) errors.push({ part: 'summary', message: `schema check: ${problems.join('; ')}` });
  const json = JSON.stringify(summary, null, 2) + '\n';
  const written: string[] = [];
  if (plan.quick) {
    written.push(path.join(plan.out, 'quick.json'));
  } else {
    const stamp = summary.date.replace(/:/g, '').replace(/\.\d+Z$/, 'Z');
    written.push(path.join(plan.out, `${stamp}.json`), path.join(plan.out, 'latest.json'));
  }
  for (const f of written) fs.writeFileSync(f, json);
  process.stdout.write(formatSummary(summary) + '\n');
  process.stdout.write(`\nJSON summary: ${written.map((f) => path.relative(ROOT, f)).join(', ')} (${summary.duration_s} s)\n`);
  return errors.some((e) => e.part !== 'loop' || !/bpftrace is not installed/.test(e.message)) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
