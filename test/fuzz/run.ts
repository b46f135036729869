/**
 * `npm run fuzz`: mutated real Go binaries against the ELF, buildinfo, pclntab, moduledata, type
 * and DWARF parsers and everything the tracer computes from a binary (see README.md here).
 *
 *   npm run fuzz                                  10 minutes, a random master seed (printed)
 *   npm run fuzz -- --seconds 60 --seed 42        one minute from master seed 42
 *   npm run fuzz -- --iterations 500              a fixed number of inputs
 *   npm run fuzz -- --seed 42 --iteration 1234    just that input again (same --seeds as the run)
 *   npm run fuzz -- --replay test/fuzz/failures/X.bin
 *   npm run fuzz -- --seeds maps-local,otel-http  only seeds whose label contains one of these
 *   npm run fuzz -- --list-seeds
 *   --timeout MS (per input, default 2000), --mem MB (peak growth per input, default 512),
 *   --out DIR (default test/fuzz/failures)
 *
 * Exits 1 when any input failed.
 */
import * as path from 'node:path';
import { packageRoot } from '../../receiver/util/paths';
import { FuzzReport, replay, runFuzz } from './fuzz';
import { SEED_CHOICES, resolveSeeds } from './seeds';

interface Args {
  seconds: number;
  iterations?: number;
  seed: number;
  iteration?: number;
  replay?: string;
  seeds: string[];
  timeoutMs: number;
  memMb: number;
  out: string;
  listSeeds: boolean;
}

function parse(argv: string[]): Args {
  const a: Args = {
    seconds: 600,
    seed: Math.floor(Math.random() * 2 ** 31),
    seeds: [],
    timeoutMs: 2000,
    memMb: 512,
    out: path.join(packageRoot(), 'test', 'fuzz', 'failures'),
    listSeeds: false,
  };
  let secondsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    const num = () => {
      const s = v();
      const n = Number(s);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${k} needs a non-negative number, not ${JSON.stringify(s)}`);
      return n;
    };
    switch (k) {
      case '--seconds':
        a.seconds = num();
        secondsGiven = true;
        break;
      case '--iterations':
        a.iterations = num();
        break;
      case '--seed':
        a.seed = num();
        break;
      case '--iteration':
        a.iteration = num();
        break;
      case '--replay':
        a.replay = v();
        break;
      case '--seeds':
        a.seeds = v().split(',').filter(Boolean);
        break;
      case '--timeout':
        a.timeoutMs = num();
        break;
      case '--mem':
        a.memMb = num();
        break;
      case '--out':
        a.out = path.resolve(v());
        break;
      case '--list-seeds':
        a.listSeeds = true;
        break;
      case '-h':
      case '--help':
        console.log('usage: npm run fuzz -- [--seconds S] [--iterations N] [--seed N] [--iteration I] [--seeds a,b] [--replay FILE] [--timeout MS] [--mem MB] [--out DIR] [--list-seeds]');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${k} (see --help)`);
    }
  }
  // A count without a duration runs until the count is reached.
  if (a.iterations !== undefined && !secondsGiven) a.seconds = Infinity;
  return a;
}

function summary(r: FuzzReport, masterSeed: number): string[] {
  const s = r.elapsedMs / 1000;
  const lines = [
    `${r.iterations} inputs in ${s.toFixed(1)} s (${(r.iterations / s).toFixed(1)}/s), master seed ${masterSeed}`,
    `  opened: ${r.accepted} (${r.partlyRefused} with an analysis refused), refused at open: ${r.refused}, failures: ${r.failures.length}`,
    `  slowest input: ${r.slowest.ms.toFixed(0)} ms (${r.slowest.seed}, iteration ${r.slowest.iteration})`,
    '  per seed (inputs, opened, slowest ms / clean ms, peak MB / clean MB):',
  ];
  for (const [label, p] of Object.entries(r.perSeed)) {
    lines.push(`    ${label.padEnd(24)} ${String(p.inputs).padStart(6)} ${String(p.accepted).padStart(6)}   ${p.slowestMs.toFixed(0).padStart(5)} / ${p.cleanMs.toFixed(0).padEnd(5)} ${p.peakMb.toFixed(0).padStart(5)} / ${p.cleanPeakMb.toFixed(0)}`);
  }
  const top = [...r.refusals].sort((a, b) => b[1] - a[1]);
  lines.push(`  ${top.length} kinds of refusal; the most common:`);
  for (const [c, n] of top.slice(0, 12)) lines.push(`    ${String(n).padStart(6)}  ${c}`);
  return lines;
}

async function main(): Promise<number> {
  const a = parse(process.argv.slice(2));
  if (a.listSeeds) {
    for (const c of SEED_CHOICES) console.log(`${c.label.padEnd(24)} ${c.what}`);
    return 0;
  }
  if (a.replay) {
    const r = await replay(a.replay, { timeoutMs: Math.max(a.timeoutMs, 10_000), memMb: a.memMb });
    if (r.type !== 'result') {
      console.log(`FAIL (${r.type}): ${r.message}`);
      return 1;
    }
    if (r.failure) {
      console.log(`FAIL (${r.failure.kind}) in ${r.failure.step}: ${r.failure.message}\n${r.failure.detail}`);
      return 1;
    }
    const o = r.outcome!;
    console.log(`OK in ${r.ms.toFixed(0)} ms, peak +${r.peakMb.toFixed(0)} MB: ${o.accepted ? `opened${o.refusedSteps ? `, ${o.refusedSteps} analyses refused` : ''}` : 'refused'}${o.refusal ? `: ${o.refusal}` : ''}`);
    return 0;
  }
  const seeds = resolveSeeds(a.seeds, (s) => console.log(s));
  const single = a.iteration !== undefined;
  console.log(`fuzzing ${seeds.map((s) => s.label).join(', ')}; master seed ${a.seed}${single ? `, iteration ${a.iteration}` : ''}`);
  const report = await runFuzz({
    seeds,
    masterSeed: a.seed,
    start: a.iteration ?? 0,
    iterations: single ? 1 : a.iterations,
    seconds: single ? Infinity : a.seconds,
    timeoutMs: a.timeoutMs,
    memMb: a.memMb,
    outDir: a.out,
    verbose: single,
  });
  if (single && report.failures.length === 0) console.log(`iteration ${a.iteration} passed`);
  for (const l of summary(report, a.seed)) console.log(l);
  return report.failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
