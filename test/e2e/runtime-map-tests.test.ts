/**
 * Never harm the target (issue 7, point 1): the Go runtime's own map tests, built as test
 * binaries by scripts/build-runtime-tests.sh, run once without and once under
 * `watch --exe <test binary> --format json --capture-keys` (full events, span correlation on as
 * by default). This proves, for the newest Go of the matrix (Swiss tables: `runtime` and
 * `internal/runtime/maps`) and the newest Go with classic maps (`runtime`):
 *  - the same tests pass, fail and skip with the tracer as without it, and the exit code is the
 *    same (a test whose result changes between two runs without the tracer is flaky and is not
 *    held against it);
 *  - the tracer saw deletes made by the tests themselves (events whose caller is in the package's
 *    *_test.go files), every event came from the test process, every line is JSON, and every
 *    probe hit was printed or counted as lost (and the loss said so);
 *  - it stops on SIGTERM with exit 0 and leaves nothing behind: no uprobe, no BPF link, no BPF
 *    program of its own (bpftool perf/link/prog show).
 * Selection (test/helpers/runtime-tests.ts): runtime's map*_test.go tests plus every test named
 * *Map* (what `go test runtime -run Map` picks) except crash_test.go's, which run a separate
 * program; all of internal/runtime/maps. Runs with -test.short (as Go's own all.bash does; the
 * long mode does ~50 M deletes, about a minute under the tracer); MDT_SOAK=1 runs the long mode.
 * internal/runtime/maps' white-box tests mostly call (*maps.Map).Delete directly, which the
 * tracer does not probe (user code reaches it only through runtime.mapdelete* and
 * reflect.mapdelete, which are probed): that package's events come from its delete() statements.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as readline from 'node:readline';
import { bpfUnavailableReason, requireBpf } from '../helpers/bpf';
import { CLI, parseSummary } from '../helpers/tracer';
import { bpftoolMissing, tracerProbes, waitProbesGone, type ProbeSnapshot } from '../helpers/probes';
import {
  buildRuntimeTests,
  countResults,
  runGoTest,
  selectMapTests,
  type GoTestRun,
  type RuntimeTestBuild,
  type RuntimeTestBinary,
  type TestResult,
} from '../helpers/runtime-tests';

const SOAK = process.env.MDT_SOAK === '1';

interface TracedRun {
  test: GoTestRun;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string[];
  lines: number;
  badLines: string[];
  otherPids: Set<number>;
  /** Events whose caller is in the package's *_test.go files, by file name. */
  fromTestFiles: Map<string, number>;
  /** The same, by caller function (for the log). */
  fromTestFuncs: Map<string, number>;
  probes: ProbeSnapshot | undefined;
  attachedProbes: number;
  left: Awaited<ReturnType<typeof waitProbesGone>> | undefined;
}

/** Starts `watch --exe`, runs the test binary while it traces, stops it with SIGTERM; streams its JSON. */
async function runTraced(build: RuntimeTestBuild, t: RuntimeTestBinary, args: string[], checkProbes: boolean): Promise<TracedRun> {
  const tracer = spawn(process.execPath, [CLI, 'watch', '--exe', t.binary, '--format', 'json', '--capture-keys'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  let attachedProbes = -1;
  const ready = new Promise<void>((resolve, reject) => {
    readline.createInterface({ input: tracer.stderr! }).on('line', (l) => {
      stderr.push(l);
      const m = /ready: (\d+) probes attached/.exec(l);
      if (m) {
        attachedProbes = Number(m[1]);
        resolve();
      }
    });
    tracer.on('exit', () => reject(new Error(`tracer exited before attaching:\n${stderr.join('\n')}`)));
  });
  ready.catch(() => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => tracer.on('close', (code, signal) => r({ code, signal })));

  let testPid = -1;
  let lines = 0;
  const badLines: string[] = [];
  const otherPids = new Set<number>();
  const fromTestFiles = new Map<string, number>();
  const fromTestFuncs = new Map<string, number>();
  const testFile = new RegExp(`^${t.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/([^/]+_test\\.go)$`);
  readline.createInterface({ input: tracer.stdout!, crlfDelay: Infinity }).on('line', (l) => {
    lines++;
    let e: { pid: number; caller?: { function: string; file: string } };
    try {
      e = JSON.parse(l);
    } catch {
      if (badLines.length < 5) badLines.push(l.slice(0, 300));
      return;
    }
    if (e.pid !== testPid) otherPids.add(e.pid);
    const m = e.caller ? testFile.exec(e.caller.file) : null;
    if (m) {
      fromTestFiles.set(m[1], (fromTestFiles.get(m[1]) ?? 0) + 1);
      fromTestFuncs.set(e.caller!.function, (fromTestFuncs.get(e.caller!.function) ?? 0) + 1);
    }
  });

  try {
    await ready;
    const probes = checkProbes ? tracerProbes(tracer.pid!) : undefined;
    const test = await runGoTest(build, t, args, { onStart: (pid) => (testPid = pid) });
    // Let the reader pick up the last records (its poll interval), then stop it.
    await new Promise((r) => setTimeout(r, 500));
    tracer.kill('SIGTERM');
    const done = await exited;
    otherPids.delete(test.pid);
    const left = probes ? await waitProbesGone(probes, tracer.pid!) : undefined;
    return { test, ...done, stderr, lines, badLines, otherPids, fromTestFiles, fromTestFuncs, probes, attachedProbes, left };
  } finally {
    if (tracer.exitCode === null && tracer.signalCode === null) process.kill(tracer.pid!, 'SIGKILL');
  }
}

const fmt = (c: Record<TestResult, number>) => `${c.PASS} pass / ${c.FAIL} fail / ${c.SKIP} skip`;

function differences(a: Map<string, TestResult>, b: Map<string, TestResult>): string[] {
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names].filter((n) => a.get(n) !== b.get(n)).sort();
}

describe('the Go runtime\'s own map tests under the tracer', function () {
  this.timeout(SOAK ? 1_800_000 : 600_000);
  let builds: RuntimeTestBuild[] = [];

  before(function () {
    if (bpfUnavailableReason() && process.env.CI !== 'true') return; // every test skips: no need to build
    this.timeout(1_800_000); // a fresh clone fetches toolchains and compiles two runtimes' tests
    builds = buildRuntimeTests();
  });

  const cases: { title: string; pick: (b: RuntimeTestBuild[]) => RuntimeTestBuild | undefined; pkg: string }[] = [
    { title: 'newest Go (Swiss tables): runtime', pick: (b) => b.find((x) => x.swiss), pkg: 'runtime' },
    { title: 'newest Go (Swiss tables): internal/runtime/maps', pick: (b) => b.find((x) => x.swiss), pkg: 'internal/runtime/maps' },
    { title: 'newest Go with classic maps: runtime', pick: (b) => b.find((x) => !x.swiss), pkg: 'runtime' },
  ];

  for (const c of cases) {
    it(`${c.title}: the same tests pass with the tracer attached, it sees their deletes and leaves no probe`, async function () {
      requireBpf(this);
      const build = c.pick(builds);
      assert.ok(build, `no such build in .cache/runtime-tests/manifest.json: ${JSON.stringify(builds.map((b) => b.variant))}`);
      const t = build.tests.find((x) => x.pkg === c.pkg);
      assert.ok(t, `${build.variant} has no ${c.pkg} test binary`);
      const sel = selectMapTests(t);
      const args = ['-test.run', sel.run, ...(SOAK ? [] : ['-test.short'])];
      const noBpftool = bpftoolMissing();
      if (noBpftool) console.log(`      ${noBpftool}`);
      console.log(`      ${build.variant} ${c.pkg}: ${sel.names.length} tests${sel.excluded.length ? `; left out: ${sel.excluded.map((e) => e.name).join(', ')} (${sel.excluded[0].reason})` : ''}`);

      const base = await runGoTest(build, t, args);
      const traced = await runTraced(build, t, args, !noBpftool);
      const tr = traced.test;
      console.log(`      without tracer: exit ${base.code}, ${fmt(countResults(base.results))} (${fmt(countResults(base.results, true))} top-level) in ${base.ms} ms`);
      console.log(`      with tracer:    exit ${tr.code}, ${fmt(countResults(tr.results))} (${fmt(countResults(tr.results, true))} top-level) in ${tr.ms} ms`);

      // 1. The same results. Any difference (or a failure) is checked against a second run without
      //    the tracer: what changes between the two untraced runs is flaky and not held against it.
      let flaky = new Set<string>();
      const diff = differences(base.results, tr.results);
      if (diff.length > 0 || base.code !== 0 || tr.code !== base.code) {
        const base2 = await runGoTest(build, t, args);
        flaky = new Set(differences(base.results, base2.results));
        console.log(`      second run without tracer: exit ${base2.code}, ${fmt(countResults(base2.results))}; flaky: ${[...flaky].join(', ') || 'none'}`);
        if (base2.code !== base.code) flaky.add('(exit code)');
      }
      const real = diff.filter((n) => !flaky.has(n));
      assert.deepEqual(
        real.map((n) => `${n}: ${base.results.get(n) ?? 'absent'} without, ${tr.results.get(n) ?? 'absent'} with the tracer`),
        [],
        `results differ under the tracer; its output:\n${tr.output.slice(-4000)}`,
      );
      if (!flaky.has('(exit code)')) assert.equal(tr.code, base.code, `exit code under the tracer (signal ${tr.signal})\n${tr.output.slice(-4000)}`);
      assert.ok(countResults(tr.results).PASS > 0, 'tests passed');
      for (const n of sel.names) assert.ok(tr.results.has(n) || flaky.has(n), `${n} ran under the tracer`);

      // 2. The tracer saw the tests' own deletes; every hit printed or counted as lost.
      assert.equal(traced.code, 0, `tracer exit (signal ${traced.signal}):\n${traced.stderr.join('\n')}`);
      const s = parseSummary(traced.stderr);
      const fromTests = [...traced.fromTestFiles.values()].reduce((a, b) => a + b, 0);
      const topFuncs = [...traced.fromTestFuncs].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([f, n]) => `${f.slice(f.lastIndexOf('/') + 1)} ${n}`);
      console.log(
        `      tracer: ${traced.attachedProbes} probes; ${s.hits} probe hits, ${s.events} events printed, ${s.lost} lost; ` +
          `${fromTests} from test code (${[...traced.fromTestFiles].map(([f, n]) => `${f} ${n}`).join(', ')}; top: ${topFuncs.join(', ')})`,
      );
      assert.deepEqual(traced.badLines, [], 'every event line is JSON');
      assert.equal(s.events, traced.lines, 'the summary counts the lines printed');
      assert.equal(s.hits, s.events + s.lost, 'every probe hit was printed or counted as lost');
      if (s.lost > 0) assert.match(traced.stderr.join('\n'), new RegExp(`lost ${s.lost} \\(ring buffer full`), 'the loss is reported');
      assert.deepEqual([...traced.otherPids], [], 'every event came from the test process');
      assert.ok(fromTests > 0, `events from the package's *_test.go files (${t.dir})`);
      if (c.pkg === 'runtime') assert.ok((traced.fromTestFiles.get('map_test.go') ?? 0) > 0, 'events from runtime/map_test.go');

      // 3. Nothing left behind.
      if (traced.probes && traced.left) {
        assert.equal(traced.probes.uprobes.length, traced.attachedProbes, `bpftool perf show lists the tracer's uprobes: ${JSON.stringify(traced.probes.uprobes)}`);
        assert.ok(traced.probes.links.length > 0, 'bpftool link show lists the links of its programs while it runs');
        assert.deepEqual(traced.left, { uprobes: [], links: [], progs: [] }, 'no uprobe, link or program of the tracer left after it exits');
        console.log(`      while tracing: ${traced.probes.uprobes.length} uprobes, ${traced.probes.links.length} links of programs ${[...traced.probes.progIds].join(',')}; after exit: none`);
      }
    });
  }
});
