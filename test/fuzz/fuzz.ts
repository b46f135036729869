/**
 * The fuzz loop, shared by `npm run fuzz` (run.ts) and the short CI test
 * (test/unit/fuzz-parsers.test.ts): one child process (worker.ts) at a time checks inputs
 * (iteration i mutates seed i mod N), this process keeps the clock and the tally. A check that
 * outlives its time bound is a hang: the child is killed and replaced. A child that dies is a
 * crash (out of memory, stack). Every failure is written with its description and the probe set
 * under outDir so it can be replayed (`npm run fuzz -- --replay FILE`), and can be regenerated
 * from the master seed and iteration alone (`npm run fuzz -- --seed S --iteration I`).
 */
import { ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FailureKind } from './check';
import { makeInput } from './mutate';
import type { SeedSpec } from './seeds';
import { FromWorker, LoadedSeed, Result, SeedInfo, ToWorker, loadSeed } from './worker';
import type { ProbeSet } from './layout';

export interface FuzzOptions {
  seeds: SeedSpec[];
  masterSeed: number;
  /** First iteration (default 0) and how many; stops earlier when `seconds` have passed. */
  start?: number;
  iterations?: number;
  seconds?: number;
  /** Time bound of one input: max(timeoutMs, 10 × the clean seed's check time). */
  timeoutMs?: number;
  /** Peak memory growth allowed for one input: max(memMb, 8 × the clean seed's). */
  memMb?: number;
  outDir: string;
  log?: (line: string) => void;
  /** Progress line interval (default 10 s; 0: none). */
  progressMs?: number;
  /** One line per input: its mutations and outcome. */
  verbose?: boolean;
}

export interface Failure {
  kind: FailureKind;
  step: string;
  message: string;
  detail: string;
  seed: string;
  masterSeed: number;
  iteration: number;
  mutations: string[];
  /** Where the input was written (the first few of each signature only). */
  file?: string;
}

export interface FuzzReport {
  iterations: number;
  accepted: number;
  refused: number;
  /** Inputs that opened but had at least one analysis refuse. */
  partlyRefused: number;
  /** Inputs that overran their time bound once but not when run again on a fresh worker. */
  retried: number;
  failures: Failure[];
  elapsedMs: number;
  perSeed: Record<string, { inputs: number; accepted: number; slowestMs: number; peakMb: number; cleanMs: number; cleanPeakMb: number }>;
  /** Refusal messages with numbers and the file name taken out → count. */
  refusals: Map<string, number>;
  slowest: { ms: number; seed: string; iteration: number };
}

const WORKER = path.join(__dirname, 'worker.js');
/** Setting a child up (loading seeds) and building one input are not what the bound is about. */
const SETUP_TIMEOUT_MS = 120_000;
const MAX_FILES_PER_SIGNATURE = 3;

class Child {
  readonly proc: ChildProcess;
  private stderr = '';
  private waiting?: { resolve: (m: FromWorker | { type: 'exit'; code: number | null; signal: string | null }) => void };
  private queue: FromWorker[] = [];
  exited?: { code: number | null; signal: string | null };

  constructor() {
    this.proc = fork(WORKER, [], {
      execArgv: ['--expose-gc', '--max-old-space-size=2048'],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.proc.stderr!.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    });
    this.proc.on('message', (m: FromWorker) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w.resolve(m);
      } else this.queue.push(m);
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = { code, signal };
      const w = this.waiting;
      this.waiting = undefined;
      w?.resolve({ type: 'exit', code, signal });
    });
  }

  send(m: ToWorker): void {
    this.proc.send(m);
  }

  /** The next message, 'exit' if the child died, or 'timeout'. */
  next(ms: number): Promise<FromWorker | { type: 'exit'; code: number | null; signal: string | null } | { type: 'timeout' }> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.exited) return Promise.resolve({ type: 'exit', ...this.exited });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve({ type: 'timeout' });
      }, ms);
      this.waiting = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
    });
  }

  get stderrTail(): string {
    return this.stderr.trim().split('\n').slice(-12).join('\n');
  }

  /** Kills the child (by its own pid) and waits for it to be gone. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.kill('SIGKILL');
    await gone;
  }
}

async function startChild(opts: FuzzOptions, memLimitMb: number): Promise<{ child: Child; seeds: SeedInfo[] }> {
  const child = new Child();
  child.send({ type: 'init', seeds: opts.seeds, masterSeed: opts.masterSeed, memLimitMb });
  const m = await child.next(SETUP_TIMEOUT_MS);
  if (m.type !== 'ready') {
    await child.kill();
    const why = m.type === 'fatal' ? m.message : m.type === 'exit' ? `exited (${m.code ?? m.signal}): ${child.stderrTail}` : m.type;
    throw new Error(`fuzz worker did not start: ${why}`);
  }
  return { child, seeds: m.seeds };
}

/** "…/input.bin is truncated or corrupt (pclntab nfunc 123 …)" → a class of refusals. */
export function refusalClass(msg: string): string {
  return msg
    .replace(/\/fuzz\/input\.bin:?\s*/g, '')
    .replace(/0x[0-9a-f]+/gi, 'N')
    .replace(/\d+/g, 'N')
    .replace(/"[^"]*"/g, '"…"')
    .slice(0, 110);
}

function signature(f: Failure): string {
  const frame = /at .*?\((.*?receiver\/golang\/[^:)]+:\d+)/.exec(f.detail)?.[1] ?? '';
  return `${f.kind} ${f.step} ${frame || refusalClass(f.message)}`;
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const timeoutMs = opts.timeoutMs ?? 2000;
  const memMb = opts.memMb ?? 512;
  const start = opts.start ?? 0;
  const end = start + (opts.iterations ?? Infinity);
  const deadline = Date.now() + (opts.seconds ?? Infinity) * 1000;
  const progressMs = opts.progressMs ?? 10_000;
  if (!opts.seeds.length) throw new Error('no seed binaries to fuzz');

  // The memory limit is given to the child before the seeds are measured: first measure with a
  // provisional child, then keep it (the limit is enforced by comparing here as well).
  let { child, seeds } = await startChild(opts, Infinity);
  const bound = (i: number) => Math.max(timeoutMs, Math.round(10 * seeds[i % seeds.length].cleanMs));
  const memBound = (label: string) => Math.max(memMb, 8 * (seeds.find((s) => s.label === label)?.cleanPeakMb ?? 0));

  const report: FuzzReport = {
    iterations: 0,
    accepted: 0,
    refused: 0,
    partlyRefused: 0,
    retried: 0,
    failures: [],
    elapsedMs: 0,
    perSeed: Object.fromEntries(seeds.map((s) => [s.label, { inputs: 0, accepted: 0, slowestMs: 0, peakMb: 0, cleanMs: s.cleanMs, cleanPeakMb: s.cleanPeakMb }])),
    refusals: new Map(),
    slowest: { ms: 0, seed: '', iteration: -1 },
  };
  const savedPerSig = new Map<string, number>();
  const attempt = async (it: number, limit: number) => {
    child.send({ type: 'run', iteration: it });
    const started = await child.next(SETUP_TIMEOUT_MS);
    if (started.type !== 'started') {
      throw new Error(`fuzz worker failed building input ${it}: ${started.type === 'fatal' ? started.message : started.type === 'exit' ? child.stderrTail : started.type}`);
    }
    return { started, m: await child.next(limit) };
  };
  const loaded = new Map<string, LoadedSeed>();
  const t0 = Date.now();
  let lastProgress = t0;

  const record = (f: Failure, input: () => { buf: Buffer; probes: ProbeSet }) => {
    const sig = signature(f);
    const n = savedPerSig.get(sig) ?? 0;
    savedPerSig.set(sig, n + 1);
    if (n < MAX_FILES_PER_SIGNATURE) {
      fs.mkdirSync(opts.outDir, { recursive: true });
      const base = path.join(opts.outDir, `${f.seed}-seed${f.masterSeed}-iter${f.iteration}`);
      const { buf, probes } = input();
      fs.writeFileSync(`${base}.bin`, buf);
      fs.writeFileSync(`${base}.json`, JSON.stringify({ ...f, file: undefined, probes }, null, 2) + '\n');
      f.file = `${base}.bin`;
    }
    report.failures.push(f);
    log(`FAILURE (${f.kind}) seed ${f.seed}, master seed ${f.masterSeed}, iteration ${f.iteration}`);
    log(`  mutations: ${f.mutations.join('; ')}`);
    log(`  ${f.step}: ${f.message}`);
    const frames = f.detail.split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 6);
    for (const l of frames) log(`  ${l.trim()}`);
    if (f.file) log(`  input: ${f.file}\n  replay: npm run fuzz -- --replay ${f.file}\n  regenerate: npm run fuzz -- --seed ${f.masterSeed} --iteration ${f.iteration} --seeds ${opts.seeds.map((s) => s.label).join(',')}`);
  };
  /** Regenerates an input here (the child is gone after a hang or crash). */
  const regenerate = (iteration: number) => {
    const spec = opts.seeds[iteration % opts.seeds.length];
    let s = loaded.get(spec.label);
    if (!s) loaded.set(spec.label, (s = loadSeed(spec)));
    return { buf: makeInput(s.data, s.layout, opts.masterSeed, iteration).buf, probes: s.probes };
  };

  try {
    for (let it = start; it < end && Date.now() < deadline; it++) {
      const limit = bound(it);
      let { started, m } = await attempt(it, limit);
      if (m.type === 'timeout') {
        // Before calling it a hang, run it once more on a fresh worker: on a busy machine (two
        // cores, other jobs) a GC pause or a descheduled worker can overrun a bound once.
        await child.kill();
        ({ child } = await startChild(opts, Infinity));
        const again = await attempt(it, limit);
        if (again.m.type !== 'timeout') {
          report.retried++;
          log(`  note: iteration ${it} overran ${limit} ms once, then took ${again.m.type === 'result' ? `${(again.m as Result).ms.toFixed(0)} ms` : again.m.type} on a fresh worker`);
        }
        ({ started, m } = again);
      }
      const label = opts.seeds[started.seed].label;
      report.iterations++;
      const per = report.perSeed[label];
      per.inputs++;
      const base = { seed: label, masterSeed: opts.masterSeed, iteration: it, mutations: started.mutations };
      if (m.type === 'result') {
        const r = m as Result;
        per.slowestMs = Math.max(per.slowestMs, r.ms);
        per.peakMb = Math.max(per.peakMb, r.peakMb);
        if (r.ms > report.slowest.ms) report.slowest = { ms: r.ms, seed: label, iteration: it };
        if (opts.verbose) {
          const o = r.outcome;
          const what = o ? (o.accepted ? `opened${o.refusedSteps ? `, ${o.refusedSteps} refused` : ''}` : 'refused') : 'failed';
          log(`  #${it} ${label}: ${started.mutations.join('; ')} → ${what} in ${r.ms.toFixed(0)} ms${o?.refusal ? `: ${o.refusal}` : ''}`);
        }
        let failure = r.failure;
        if (!failure && r.peakMb > memBound(label)) {
          failure = { kind: 'memory', step: 'check', message: `peak memory grew by ${r.peakMb.toFixed(0)} MB for a ${r.size}-byte input (limit ${memBound(label).toFixed(0)} MB)`, detail: '' };
        }
        if (failure) {
          record({ ...base, ...failure }, () => regenerate(it));
        } else if (r.outcome) {
          if (r.outcome.accepted) {
            report.accepted++;
            per.accepted++;
          } else report.refused++;
          if (r.outcome.accepted && r.outcome.refusedSteps) report.partlyRefused++;
          if (r.outcome.refusal) {
            const c = refusalClass(r.outcome.refusal);
            report.refusals.set(c, (report.refusals.get(c) ?? 0) + 1);
          }
        }
      } else {
        const hung = m.type === 'timeout';
        if (hung) await child.kill();
        const why = hung
          ? `no answer within ${limit} ms (the clean seed takes ${seeds[it % seeds.length].cleanMs.toFixed(0)} ms)`
          : m.type === 'exit'
            ? `the worker died (${m.code ?? m.signal}): ${child.stderrTail}`
            : m.type === 'fatal'
              ? m.message
              : `unexpected message ${m.type}`;
        record({ ...base, kind: hung ? 'hang' : 'died', step: 'check', message: why, detail: '' }, () => regenerate(it));
        await child.kill();
        ({ child } = await startChild(opts, Infinity));
      }
      if (progressMs && Date.now() - lastProgress >= progressMs) {
        lastProgress = Date.now();
        const s = (lastProgress - t0) / 1000;
        const left = Number.isFinite(deadline) ? `, ${Math.max(0, Math.round((deadline - lastProgress) / 1000))} s left` : '';
        log(`  ${report.iterations} inputs (${(report.iterations / s).toFixed(1)}/s): ${report.accepted} opened, ${report.refused} refused, ${report.failures.length} failures${left}`);
      }
    }
  } finally {
    await child.kill();
  }
  report.elapsedMs = Date.now() - t0;
  return report;
}

/** Checks one saved input (with its probe set when the .json sidecar is there) in a child. */
export async function replay(file: string, opts: { timeoutMs?: number; memMb?: number } = {}): Promise<Result | { type: 'hang' | 'died'; message: string }> {
  const sidecar = file.replace(/\.bin$/, '') + '.json';
  const probes: ProbeSet = fs.existsSync(sidecar) ? (JSON.parse(fs.readFileSync(sidecar, 'utf8')) as { probes: ProbeSet }).probes : { pcs: [], callTargets: [], typeAddrs: [], probed: [] };
  const { child } = await startChild({ seeds: [], masterSeed: 0, outDir: '', memMb: opts.memMb }, opts.memMb ?? 512);
  try {
    child.send({ type: 'replay', file: path.resolve(file), probes });
    const started = await child.next(SETUP_TIMEOUT_MS);
    if (started.type !== 'started') return { type: 'died', message: started.type === 'fatal' ? started.message : child.stderrTail };
    const m = await child.next(opts.timeoutMs ?? 10_000);
    if (m.type === 'result') return m;
    if (m.type === 'timeout') return { type: 'hang', message: `no answer within ${opts.timeoutMs ?? 10_000} ms` };
    return { type: 'died', message: m.type === 'fatal' ? m.message : child.stderrTail };
  } finally {
    await child.kill();
  }
}
