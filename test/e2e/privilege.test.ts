/**
 * Least privilege (SECURITY.md): on this kernel the tracer needs CAP_SYS_ADMIN (uprobes through
 * perf_event_open, since the CVE-2025-38466 fix) and, for another user's processes,
 * CAP_SYS_PTRACE — nothing else. Run as user 65534 with exactly those two capabilities, it traces
 * every delete of a root-owned Go process; with one of them missing it stops with one line
 * naming it. (CAP_BPF + CAP_PERFMON alone: test/e2e/errors.test.ts.)
 */
import { strict as assert } from 'node:assert';
import { loadFixtureManifest, startFixture } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { runCli } from '../helpers/tracer';

/** Run as nobody with exactly these capabilities (effective, permitted, inheritable, ambient and bounding). */
function asNobodyWith(caps: string[]): string[] {
  const set = ['-all', ...caps.map((c) => `+${c}`)].join(',');
  return ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`, '--'];
}

function newestPlain() {
  const plain = loadFixtureManifest().filter((b) => b.mode === 'plain' && !b.experiment);
  plain.sort((a, b) => a.go.localeCompare(b.go, 'en', { numeric: true }));
  return plain[plain.length - 1];
}

describe('least privilege', function () {
  this.timeout(120_000);

  it('as an unprivileged user with only CAP_SYS_ADMIN and CAP_SYS_PTRACE, every delete of a root process is traced', async function () {
    requireBpf(this);
    const fx = await startFixture(newestPlain().path, []);
    try {
      const tracer = runCli(['watch', '--pid', String(fx.pid), '--format', 'json'], { wrap: asNobodyWith(['sys_admin', 'sys_ptrace']) });
      await tracer.attached;
      fx.go();
      const ops = await fx.ops;
      assert.equal(await fx.exited, 0);
      const done = await tracer.exited;
      assert.equal(done.code, 0, done.stderr.join('\n'));
      const events = done.stdout.filter((l) => l.trim()).map((l) => JSON.parse(l) as { op: string; caller: { function: string; line: number } });
      const mine = events.filter((e) => e.caller.function.startsWith('main.'));
      assert.ok(ops.length >= 30);
      assert.equal(mine.length, ops.length, `${mine.length} events for ${ops.length} deletes and clears`);
      assert.match(done.stderr.join('\n'), /lost 0\b/);
    } finally {
      fx.kill();
    }
  });

  for (const [missing, keep, pattern] of [
    ['CAP_SYS_PTRACE', ['sys_admin'], /cannot read \/proc\/\d+\/exe: tracing another user's process needs root or CAP_SYS_PTRACE/],
    ['CAP_SYS_ADMIN', ['sys_ptrace', 'bpf', 'perfmon'], /CAP_SYS_ADMIN/],
  ] as const) {
    it(`without ${missing}: one line naming it, exit non-zero, the target untouched`, async function () {
      requireBpf(this);
      const fx = await startFixture(newestPlain().path, []);
      try {
        const run = runCli(['watch', '--pid', String(fx.pid)], { wrap: asNobodyWith([...keep]) });
        const { code, stderr } = await run.exited;
        assert.notEqual(code, 0);
        const lines = stderr.filter((l) => l.trim());
        assert.equal(lines.length, 1, stderr.join('\n'));
        assert.match(lines[0], pattern);
        fx.go();
        assert.equal(await fx.exited, 0, 'the target ran to its end');
      } finally {
        fx.kill();
      }
    });
  }
});
