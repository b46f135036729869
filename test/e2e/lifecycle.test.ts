/**
 * Targets coming and going, and the tracer stopping: --exe follows processes started later;
 * SIGTERM/SIGINT flush every queued event, detach every probe (the kernel restores the
 * original instruction) and exit 0, while the target keeps running.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { loadFixtureManifest, startFixture, type FixtureBuild } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { CLI, parseSummary, runCli } from '../helpers/tracer';

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
});
