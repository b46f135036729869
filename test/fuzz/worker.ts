/**
 * The fuzzer's child process (forked by fuzz.ts, never run by hand): it holds the seeds, builds
 * each input from (master seed, iteration), checks it (check.ts) and measures the peak memory the
 * check needed. The parent owns the clock: a hang is caught there and this process killed, which
 * is why the checks run here and not in the parent.
 *
 * Memory: before each check the kernel's peak-RSS counter is reset (/proc/self/clear_refs "5") and
 * afterwards VmHWM is read: the growth is what the parsers allocated for this one input.
 */
import * as fs from 'node:fs';
import { GoBinary } from '../../receiver/golang/binary';
import { CheckOutcome, PropertyViolation, checkInput } from './check';
import { ProbeSet, SeedLayout, probeSet, seedLayout } from './layout';
import { makeInput } from './mutate';
import type { SeedSpec } from './seeds';

export type ToWorker =
  | { type: 'init'; seeds: SeedSpec[]; masterSeed: number; memLimitMb: number }
  | { type: 'run'; iteration: number }
  | { type: 'replay'; file: string; probes: ProbeSet };

export interface SeedInfo {
  label: string;
  size: number;
  /** The clean seed's check: time and peak memory growth. */
  cleanMs: number;
  cleanPeakMb: number;
}

export interface Result {
  type: 'result';
  iteration: number;
  seed: string;
  size: number;
  mutations: string[];
  ms: number;
  peakMb: number;
  outcome?: CheckOutcome;
  failure?: { kind: PropertyViolation['kind']; step: string; message: string; detail: string };
}

export type FromWorker =
  | { type: 'ready'; seeds: SeedInfo[] }
  | { type: 'started'; iteration: number; seed: number; mutations: string[]; size: number }
  | Result
  | { type: 'fatal'; message: string };

export interface LoadedSeed {
  spec: SeedSpec;
  data: Buffer;
  layout: SeedLayout;
  probes: ProbeSet;
}

/** Reads a seed and maps its structures (shared with the parent, which regenerates inputs). */
export function loadSeed(spec: SeedSpec): LoadedSeed {
  const data = fs.readFileSync(spec.path);
  const b = GoBinary.fromBuffer(data, spec.path);
  return { spec, data, layout: seedLayout(b), probes: probeSet(b) };
}

function peakKb(): number {
  const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

function resetPeak(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

/** Checks one input, timing it and measuring its peak memory growth. */
export function measuredCheck(buf: Buffer, probes: ProbeSet, memLimitMb: number): Omit<Result, 'type' | 'iteration' | 'seed' | 'mutations'> {
  gc();
  const canReset = resetPeak();
  const before = canReset ? peakKb() : process.memoryUsage().rss / 1024;
  const t0 = performance.now();
  let outcome: CheckOutcome | undefined;
  let failure: Result['failure'];
  try {
    outcome = checkInput(buf, probes);
  } catch (err) {
    const v = err instanceof PropertyViolation ? err : new PropertyViolation('crash', 'check', String(err), (err as Error)?.stack ?? '');
    failure = { kind: v.kind, step: v.step, message: v.message, detail: v.detail };
  }
  const ms = performance.now() - t0;
  const after = canReset ? peakKb() : process.memoryUsage().rss / 1024;
  const peakMb = Math.max(0, (after - before) / 1024);
  if (!failure && peakMb > memLimitMb) {
    failure = { kind: 'memory', step: 'check', message: `the analyses of a ${buf.length}-byte input raised peak memory by ${peakMb.toFixed(0)} MB (limit ${memLimitMb} MB)`, detail: '' };
  }
  return { size: buf.length, ms, peakMb, outcome, failure };
}

function main(): void {
  let seeds: LoadedSeed[] = [];
  let masterSeed = 0;
  let memLimitMb = 0;
  const send = (m: FromWorker) => process.send!(m);
  process.on('message', (msg: ToWorker) => {
    try {
      if (msg.type === 'init') {
        masterSeed = msg.masterSeed;
        memLimitMb = msg.memLimitMb;
        seeds = msg.seeds.map(loadSeed);
        const info: SeedInfo[] = seeds.map((s) => {
          measuredCheck(s.data, s.probes, Infinity); // warm up (WASM decoder, JIT)
          const r = measuredCheck(s.data, s.probes, Infinity);
          if (r.failure) throw new Error(`the clean seed ${s.spec.label} fails its own check: ${r.failure.message}`);
          return { label: s.spec.label, size: s.data.length, cleanMs: r.ms, cleanPeakMb: r.peakMb };
        });
        send({ type: 'ready', seeds: info });
      } else if (msg.type === 'run') {
        const s = seeds[msg.iteration % seeds.length];
        const input = makeInput(s.data, s.layout, masterSeed, msg.iteration);
        send({ type: 'started', iteration: msg.iteration, seed: msg.iteration % seeds.length, mutations: input.mutations, size: input.buf.length });
        // The harness's own test (fuzz-parsers.test.ts): a hang and a dead worker must be caught.
        const selftest = process.env.MDT_FUZZ_SELFTEST;
        if (selftest === `hang@${msg.iteration}`) for (;;);
        if (selftest === `die@${msg.iteration}`) process.exit(70);
        const r = measuredCheck(input.buf, s.probes, memLimitMb);
        send({ type: 'result', iteration: msg.iteration, seed: s.spec.label, mutations: input.mutations, ...r });
      } else if (msg.type === 'replay') {
        const buf = fs.readFileSync(msg.file);
        send({ type: 'started', iteration: -1, seed: -1, mutations: [], size: buf.length });
        const r = measuredCheck(buf, msg.probes, memLimitMb || 1024);
        send({ type: 'result', iteration: -1, seed: msg.file, mutations: [], ...r });
      }
    } catch (err) {
      send({ type: 'fatal', message: (err as Error)?.stack ?? String(err) });
    }
  });
}

if (require.main === module) main();
