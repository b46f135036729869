/**
 * Targets coming and going, and the tracer stopping: --exe follows processes started later;
 * SIGTERM/SIGINT flush every queued event, detach every probe (the kernel restores the
 * original instruction) and exit 0, while the target keeps running. And the tracer dying
 * without a chance to clean up (kill -9) in the middle of a full-speed delete loop: the target
 * runs on, back at its no-probe speed, with every probed instruction restored and no uprobe,
 * BPF link or program of the tracer left; it finishes and exits 0.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as readline from 'node:readline';
import * as fs from 'node:fs';
import { loadFixtureManifest, startFixture, type FixtureBuild } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { CLI, parseSummary, runCli } from '../helpers/tracer';
import { buildDeleteloop, startDeleteloop, type LoopWindow } from '../helpers/deleteloop';
import { bpftoolMissing, tracerProbes, waitProbesGone } from '../helpers/probes';

function newest(mode: string): FixtureBuild {
  const builds = loadFixtureManifest().filter((b) => b.mode === mode && !b.experiment);
  builds.sort((a, b) => a.go.localeCompare(b.go, 'en', { numeric: true }));
  return builds[builds.length - 1];
}

interface Probe {
  function: string;
  vaddr: number;
}

function probesOf(path: string): Probe[] {
  return JSON.parse(execFileSync(process.execPath, [CLI, 'inspect', '--format', 'json', path], { encoding: 'utf8' })).probes;
}

/** The byte at a text address of a live process, read through /proc/PID/mem (never written). */
function textByte(pid: number, addr: number): number {
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, addr);
    return b[0];
  } finally {
    fs.closeSync(fd);
  }
}

const INT3 = 0xcc;
const PUSH_RBP = 0x55;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mps = (w: LoopWindow) => `${(w.rate / 1e6).toFixed(1)}M/s`;

describe('process lifecycle and stopping', function () {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} flushes queued events, detaches every probe and exits 0; the target runs on`, async function () {
      requireBpf(this);
      const build = newest('plain'); // fixed addresses: link-time vaddr = runtime address
      const probes = probesOf(build.path);
      const fx = await startFixture(build.path, { linger: true });
      try {
        const tracer = runCli(['watch', '--pid', String(fx.pid), '--format', 'json']);
        await tracer.attached;
        for (const p of probes) assert.equal(textByte(fx.pid, p.vaddr), INT3, `${p.function} probed`);
        fx.go();
        const ops = await fx.ops;
        tracer.kill(signal); // at once: events may still sit in the ring buffer
        const done = await tracer.exited;
        assert.equal(done.code, 0, done.stderr.join('\n'));
        const mine = done.stdout.filter((l) => l.includes('"main.'));
        assert.equal(mine.length, ops.length, 'every delete printed before exit');
        assert.equal(parseSummary(done.stderr).lost, 0);
        for (const p of probes) assert.equal(textByte(fx.pid, p.vaddr), PUSH_RBP, `${p.function} restored`);
        assert.equal(fx.events.at(-1)?.event, 'done');
        assert.ok(fs.existsSync(`/proc/${fx.pid}`), 'target still running');
      } finally {
        fx.endInput();
        fx.kill();
      }
    });
  }

  it('--exe traces running processes and ones started later, then stops on SIGTERM', async function () {
    requireBpf(this);
    const build = newest('pie'); // PIE: each process has its own load address
    const first = await startFixture(build.path, {});
    let second: Awaited<ReturnType<typeof startFixture>> | undefined;
    try {
      const tracer = runCli(['watch', '--exe', build.path, '--format', 'json', '--capture-keys']);
      await tracer.attached;
      first.go();
      const ops1 = await first.ops;
      second = await startFixture(build.path, {});
      second.go();
      const ops2 = await second.ops;
      assert.equal(await second.exited, 0);
      // Give the reader its poll interval to pick up the last records, then stop.
      await sleep(300);
      tracer.kill('SIGTERM');
      const done = await tracer.exited;
      assert.equal(done.code, 0, done.stderr.join('\n'));
      const events = done.stdout.map((l) => JSON.parse(l));
      for (const [fx, ops] of [[first, ops1], [second, ops2]] as const) {
        const mine = events.filter((e) => e.pid === fx.pid && e.caller.function.startsWith('main.'));
        assert.equal(mine.length, ops.length, `events of PID ${fx.pid} (events by pid: ${JSON.stringify(events.reduce((m: Record<string, number>, e) => ((m[e.pid] = (m[e.pid] ?? 0) + 1), m), {}))}; stderr: ${done.stderr.join(" | ")})`);
        const lines = new Set(ops.map((o) => `${o.map} ${o.line} ${o.op === 'clear' ? '' : o.key}`));
        for (const e of mine) {
          assert.ok(lines.has(`${e.map.addr} ${e.caller.line} ${e.key?.value ?? ''}`), `event matches an op of PID ${fx.pid}: ${JSON.stringify(e)}`);
          assert.notEqual(e.map.type.startsWith('unknown'), true, 'type resolved with the process\'s own load address');
        }
      }
      assert.match(done.stderr.join('\n'), new RegExp(`tracing PID ${second.pid}`));
    } finally {
      first.kill();
      second?.kill();
    }
  });

  it('exits 0 once every traced process has exited', async function () {
    requireBpf(this);
    const build = newest('stripped');
    const a = await startFixture(build.path, {});
    const b = await startFixture(build.path, { linger: true });
    try {
      const tracer = runCli(['watch', '--pid', String(a.pid), '--pid', String(b.pid), '--format', 'json']);
      await tracer.attached;
      a.go();
      b.go();
      const [opsA, opsB] = await Promise.all([a.ops, b.ops]);
      await a.exited;
      await sleep(500);
      assert.equal(tracer.proc.exitCode, null, 'still running while one target lives');
      b.endInput();
      await b.exited;
      const done = await tracer.exited;
      assert.equal(done.code, 0);
      const events = done.stdout.map((l) => JSON.parse(l)).filter((e) => e.caller.function.startsWith('main.'));
      assert.equal(events.length, opsA.length + opsB.length);
      assert.match(done.stderr.join('\n'), /every traced process has exited/);
    } finally {
      a.kill();
      b.kill();
    }
  });

  it('kill -9 of the tracer in a full-speed delete loop: the target runs on at its no-probe speed, no probe is left, it exits 0', async function () {
    requireBpf(this);
    this.timeout(180_000);
    const bin = buildDeleteloop(); // the machine's Go, not PIE: link-time vaddr = runtime address
    const probes = probesOf(bin);
    const noBpftool = bpftoolMissing();
    if (noBpftool) console.log(`      ${noBpftool}`);
    const WINDOWS = 64; // of 0.25 s each: 16 s in all, enough for the tracer's start on a busy machine
    const BASELINE = 3;
    const loop = await startDeleteloop(bin, WINDOWS, 0.25);
    const out = fs.openSync('/dev/null', 'w');
    let tracer: ReturnType<typeof spawn> | undefined;
    try {
      const original = probes.map((p) => textByte(loop.pid, p.vaddr));
      assert.ok(original.every((b) => b !== INT3), 'no probe before the tracer starts');
      loop.start();
      const baseline: LoopWindow[] = [];
      for (let i = 0; i < BASELINE; i++) baseline.push(await loop.window(i));
      const base = median(baseline.map((w) => w.rate));

      // Full events: JSON with key values and stacks (to /dev/null), span correlation as by default.
      tracer = spawn(process.execPath, [CLI, 'watch', '--pid', String(loop.pid), '--format', 'json', '--capture-keys'], { stdio: ['ignore', out, 'pipe'] });
      const stderr: string[] = [];
      const ready = new Promise<void>((resolve, reject) => {
        readline.createInterface({ input: tracer!.stderr! }).on('line', (l) => {
          stderr.push(l);
          if (/ready: \d+ probes attached/.test(l)) resolve();
        });
        tracer!.on('exit', () => reject(new Error(`tracer exited before attaching:\n${stderr.join('\n')}`)));
      });
      const tracerExited = new Promise<NodeJS.Signals | null>((r) => tracer!.on('close', (_c, sig) => r(sig)));
      await ready;
      const attachedAt = Date.now();
      for (const p of probes) assert.equal(textByte(loop.pid, p.vaddr), INT3, `${p.function} probed`);
      const snap = noBpftool ? undefined : tracerProbes(tracer.pid!);
      if (snap) assert.equal(snap.uprobes.length, probes.length, `bpftool perf show: ${JSON.stringify(snap.uprobes)}`);

      // A whole window with the probes in: the delete loop is slowed by them.
      let i = BASELINE;
      let during: LoopWindow | undefined;
      while (!during) {
        const w = await loop.window(i++);
        if (w.start >= attachedAt) during = w;
      }
      assert.equal(tracer.exitCode, null, `tracer still running:\n${stderr.join('\n')}`);
      const tracerPid = tracer.pid!;
      process.kill(tracerPid, 'SIGKILL');
      const killedAt = Date.now();
      assert.equal(await tracerExited, 'SIGKILL');

      // The kernel removed every probe with the tracer's file descriptors.
      const deadline = Date.now() + 5000;
      while (probes.some((p, k) => textByte(loop.pid, p.vaddr) !== original[k]) && Date.now() < deadline) await sleep(50);
      for (const [k, p] of probes.entries()) assert.equal(textByte(loop.pid, p.vaddr), original[k], `${p.function}: original first byte back (not int3)`);
      if (snap) assert.deepEqual(await waitProbesGone(snap, tracerPid), { uprobes: [], links: [], progs: [] }, 'no uprobe, link or program of the tracer left');

      // Windows that started after the kill: back near the no-probe rate.
      const after: LoopWindow[] = [];
      while (after.length < 3) {
        const w = await loop.window(i++);
        if (w.start >= killedAt) after.push(w);
      }
      const best = Math.max(...after.map((w) => w.rate));
      console.log(
        `      deletes/s: before ${baseline.map(mps).join(', ')}; with the tracer ${mps(during)}; after kill -9 ${after.map(mps).join(', ')}` +
          ` (${probes.length} probes; attached ${attachedAt - baseline[BASELINE - 1].at} ms after the baseline)`,
      );
      assert.ok(during.rate < base / 2, `the probes were live: ${mps(during)} with them vs ${(base / 1e6).toFixed(1)}M/s without`);
      assert.ok(best >= base / 2, `after the kill ${after.map(mps).join(', ')}: at least half the no-probe ${(base / 1e6).toFixed(1)}M/s`);

      await loop.done;
      const ex = await loop.exited;
      assert.deepEqual(ex, { code: 0, signal: null }, `deleteloop exit; stderr: ${loop.stderr()}`);
      assert.equal(loop.windows.length, WINDOWS, 'every window ran');
    } finally {
      fs.closeSync(out);
      if (tracer && tracer.exitCode === null && tracer.signalCode === null) process.kill(tracer.pid!, 'SIGKILL');
      loop.kill();
    }
  });
});
