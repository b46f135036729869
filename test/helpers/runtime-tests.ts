/**
 * The Go runtime's own map tests as test binaries (built by scripts/build-runtime-tests.sh into
 * .cache/runtime-tests/), which tests in them to run, and running one with its results parsed.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './fixtures';

export interface RuntimeTestBinary {
  /** Import path of the tested package: "runtime" or "internal/runtime/maps". */
  pkg: string;
  binary: string;
  /** The package's source directory in GOROOT: `go test` runs the binary there. */
  dir: string;
}

/** One entry of .cache/runtime-tests/manifest.json. */
export interface RuntimeTestBuild {
  /** "go1.27.4", "go1.24.13-noswissmap". */
  variant: string;
  go: string;
  experiment: string;
  /** Swiss-table maps (Go 1.24+ without GOEXPERIMENT=noswissmap). */
  swiss: boolean;
  gobin: string;
  goroot: string;
  tests: RuntimeTestBinary[];
}

/**
 * Builds what is missing (a no-op taking a second when the cache is current; minutes on a fresh
 * clone, which also fetches the toolchains) and returns the manifest: by default the newest Go
 * of scripts/go-toolchains.sh and the newest one with classic maps (before go1.24).
 */
export function buildRuntimeTests(variants: string[] = []): RuntimeTestBuild[] {
  const root = repoRoot();
  execFileSync('bash', [path.join(root, 'scripts', 'build-runtime-tests.sh'), ...variants.flatMap((v) => ['--go', v])], {
    stdio: ['ignore', process.stderr, process.stderr],
  });
  return JSON.parse(fs.readFileSync(path.join(root, '.cache', 'runtime-tests', 'manifest.json'), 'utf8')) as RuntimeTestBuild[];
}

export interface TestSelection {
  /** The -test.run pattern. */
  run: string;
  /** Top-level tests it selects (those compiled into the binary). */
  names: string[];
  /** Matching tests left out, and why. */
  excluded: { name: string; reason: string }[];
}

/** Top-level test functions (`func TestX(t *testing.T)`) of each *_test.go file of a directory. */
function testFuncsByFile(dir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('_test.go')).sort()) {
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    const names = [...src.matchAll(/^func (Test\w*)\(\w+ \*testing\.T\)/gm)].map((m) => m[1]);
    if (names.length) out.set(f, names);
  }
  return out;
}

/** `binary -test.list .`: the tests, fuzz targets, benchmarks and examples compiled in (build tags decide). */
export function listCompiled(binary: string): Set<string> {
  return new Set(execFileSync(binary, ['-test.list', '.'], { encoding: 'utf8' }).split('\n').filter(Boolean));
}

const CRASH_REASON = 'declared in crash_test.go: builds and runs testprog, a separate program, with the go command (not the traced binary)';

/**
 * The map tests of a package, from its sources in GOROOT:
 *  - runtime: every Test of runtime/map*_test.go (map_test.go; map_swiss_test.go and
 *    map_noswiss_test.go on go1.24/1.25; map_benchmark_test.go), plus every other Test whose name
 *    contains "Map" (what `go test runtime -run Map` selects), except crash_test.go's concurrent
 *    map crash tests, which run a separate program;
 *  - internal/runtime/maps: every test and fuzz target (the fuzz targets run their seed corpus).
 */
export function selectMapTests(t: RuntimeTestBinary): TestSelection {
  const compiled = listCompiled(t.binary);
  if (t.pkg !== 'runtime') {
    const names = [...compiled].filter((n) => /^(Test|Fuzz)/.test(n)).sort();
    return { run: '.', names, excluded: [] };
  }
  const picked = new Set<string>();
  const excluded: { name: string; reason: string }[] = [];
  for (const [file, names] of testFuncsByFile(t.dir)) {
    const mapFile = /^map.*_test\.go$/.test(file);
    for (const n of names) {
      if (!compiled.has(n)) continue; // not built for this GOEXPERIMENT / GOOS
      if (!mapFile && !n.includes('Map')) continue;
      if (file === 'crash_test.go') excluded.push({ name: n, reason: CRASH_REASON });
      else picked.add(n);
    }
  }
  const names = [...picked].sort();
  if (names.length === 0) throw new Error(`no map tests found in ${t.dir} compiled into ${t.binary}`);
  return { run: `^(${names.join('|')})$`, names, excluded };
}

export type TestResult = 'PASS' | 'FAIL' | 'SKIP';

export interface GoTestRun {
  pid: number;
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  signal: NodeJS.Signals | null;
  /** Every `--- PASS/FAIL/SKIP: Name` line (subtests included: "TestX/3"), by name. */
  results: Map<string, TestResult>;
  output: string;
  ms: number;
}

/** The `--- RESULT: Name (…)` lines of `-test.v` output. */
export function parseTestResults(output: string): Map<string, TestResult> {
  const results = new Map<string, TestResult>();
  for (const m of output.matchAll(/^\s*--- (PASS|FAIL|SKIP): (\S+) \(/gm)) results.set(m[2], m[1] as TestResult);
  return results;
}

const SIGNUM: Partial<Record<NodeJS.Signals, number>> = { SIGTRAP: 5, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGILL: 4, SIGBUS: 7 };

/**
 * Runs a test binary as `go test` would (in the package's source directory, with its own
 * toolchain first on PATH and GOROOT set) with `-test.v`, asynchronously (a tracer's output keeps
 * flowing meanwhile). `onStart` gets the PID. Kills it (by PID) after `timeoutMs`.
 */
export function runGoTest(
  build: RuntimeTestBuild,
  t: RuntimeTestBinary,
  args: string[],
  opts: { timeoutMs?: number; onStart?: (pid: number) => void } = {},
): Promise<GoTestRun> {
  const t0 = Date.now();
  const child = spawn(t.binary, [...args, '-test.v'], {
    cwd: t.dir,
    env: { ...process.env, GOROOT: build.goroot, PATH: `${path.join(build.goroot, 'bin')}:${process.env.PATH}`, GOTOOLCHAIN: 'local', GOFLAGS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  opts.onStart?.(child.pid!);
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (output += d));
  child.stderr.on('data', (d: string) => (output += d));
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  }, opts.timeoutMs ?? 300_000);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        pid: child.pid!,
        code: code ?? 128 + (signal ? (SIGNUM[signal] ?? 0) : 0),
        signal,
        results: parseTestResults(output),
        output,
        ms: Date.now() - t0,
      });
    });
  });
}

export function countResults(r: Map<string, TestResult>, top = false): Record<TestResult, number> {
  const c: Record<TestResult, number> = { PASS: 0, FAIL: 0, SKIP: 0 };
  for (const [name, res] of r) if (!top || !name.includes('/')) c[res]++;
  return c;
}
