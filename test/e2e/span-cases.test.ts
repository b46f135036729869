/**
 * The corner cases of "which span is active" (docs/correlation.md), against a program that
 * knows the answer: examples/otel-http/cmd/spancases prints, for each of its deletes, the span
 * the tracer must report (or none) — nested spans, a span ended on another goroutine, children
 * and grandchildren inheriting, a worker outliving its span, a worker's own span over the
 * inherited one, nine nested spans (one more than the kernel keeps), a recorded-but-unsampled
 * span. Each record from `watch --format json --capture-keys` must carry exactly that span.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { requireBpf } from '../helpers/bpf';
import { runCli } from '../helpers/tracer';
import { packageRoot } from '../../receiver/util/paths';
import { buildOtelHttp, startOtelHttp } from '../helpers/otel-http';

interface Expected {
  event: 'delete';
  case: string;
  key: string;
  goid: number;
  trace_id: string;
  span_id: string;
}

interface WatchRecord {
  goid: number;
  key: { value?: string } | null;
  trace_id: string | null;
  span_id: string | null;
}

const OUT = path.join(packageRoot(), '.cache', 'examples', 'spancases');

function build(stripped: boolean): string {
  const go = process.env.GO ?? (fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go');
  const bin = path.join(OUT, stripped ? 'spancases-stripped' : 'spancases');
  const args = ['build', '-o', bin];
  if (stripped) args.push('-ldflags=-s -w');
  args.push('./cmd/spancases');
  execFileSync(go, args, {
    cwd: path.join(packageRoot(), 'examples', 'otel-http'),
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return bin;
}

async function runCase(bin: string, watchArgs: string[]): Promise<{ expected: Expected[]; got: WatchRecord[]; stderr: string[] }> {
  const prog = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const expected: Expected[] = [];
    let onReady: () => void = () => {};
    const ready = new Promise<void>((r) => (onReady = r));
    readline.createInterface({ input: prog.stdout }).on('line', (l) => {
      const ev = JSON.parse(l) as { event: string };
      if (ev.event === 'ready') onReady();
      else if (ev.event === 'delete') expected.push(ev as Expected);
    });
    const exited = new Promise<number | null>((r) => prog.once('exit', (code) => r(code)));
    await ready;
    const tracer = runCli(['watch', '--pid', String(prog.pid), '--format', 'json', '--capture-keys', ...watchArgs]);
    try {
      await tracer.attached;
      prog.stdin.end('go\n');
      assert.equal(await exited, 0, 'spancases exited cleanly');
      const done = await tracer.exited; // watch ends once its only target has exited
      assert.equal(done.code, 0, done.stderr.join('\n'));
      return { expected, got: done.stdout.filter((l) => l.trim()).map((l) => JSON.parse(l) as WatchRecord), stderr: done.stderr };
    } finally {
      tracer.kill('SIGKILL');
    }
  } finally {
    prog.kill('SIGKILL');
  }
}

describe('span tracking: which span is active', function () {
  this.timeout(180_000);
  const bins: Record<string, string> = {};

  before(function () {
    requireBpf(this);
    fs.mkdirSync(OUT, { recursive: true });
    bins.plain = build(false);
    bins.stripped = build(true);
  });

  const variants: { name: string; bin: 'plain' | 'stripped'; args: string[] }[] = [
    { name: 'plain build, inheritance at goroutine creation', bin: 'plain', args: [] },
    { name: 'stripped build (offsets from the table)', bin: 'stripped', args: [] },
    { name: 'plain build, inheritance on RET of newproc1', bin: 'plain', args: ['--inheritance', 'return'] },
  ];
  for (const v of variants) {
    it(v.name, async () => {
      const { expected, got, stderr } = await runCase(bins[v.bin], v.args);
      assert.ok(stderr.some((l) => l.includes('tracking OpenTelemetry spans in')), stderr.join('\n'));
      assert.equal(expected.length, 16, 'every case ran');
      const wrong: string[] = [];
      for (const want of expected) {
        const recs = got.filter((r) => r.key?.value === want.key);
        if (recs.length !== 1) {
          wrong.push(`${want.case}/${want.key}: ${recs.length} records`);
          continue;
        }
        const r = recs[0];
        const w = { goid: want.goid, trace_id: want.trace_id || null, span_id: want.span_id || null };
        const g = { goid: r.goid, trace_id: r.trace_id, span_id: r.span_id };
        if (JSON.stringify(w) !== JSON.stringify(g)) wrong.push(`${want.case}/${want.key}: expected ${JSON.stringify(w)}, got ${JSON.stringify(g)}`);
      }
      assert.deepEqual(wrong, []);
      assert.ok(expected.some((e) => e.trace_id === '') && expected.some((e) => e.trace_id !== ''), 'both kinds of answer are checked');
    });
  }

  it('--no-spans: no record carries a span', async () => {
    const { got, stderr } = await runCase(bins.plain, ['--no-spans']);
    assert.ok(!stderr.some((l) => l.includes('tracking OpenTelemetry spans')), stderr.join('\n'));
    assert.ok(got.length >= 16);
    for (const r of got) assert.deepEqual([r.trace_id, r.span_id], [null, null]);
  });

  it('a stripped binary with an SDK release outside the offsets table: one warning, deletes traced without ids', async () => {
    const build = buildOtelHttp({ sdk: 'v1.28.0' }); // the table starts at v1.29.0
    const svc = await startOtelHttp(build.stripped, { env: { OTEL_TRACES_EXPORTER: 'none' }, args: ['-session-ttl', '10m'] });
    const tracer = runCli(['watch', '--pid', String(svc.pid), '--format', 'json']);
    try {
      await tracer.attached;
      let expected = 0;
      for (let i = 0; i < 5; i++) {
        const login = await svc.request('POST', `/login?user=u${i}`);
        const r = await svc.request('POST', `/logout?session=${(JSON.parse(login.body) as { session: string }).session}`);
        expected += r.deletes.length;
        assert.ok(r.deletes.every((d) => d.trace_id !== ''), 'the service itself had a span');
      }
      assert.equal(await svc.stop(), 0);
      const done = await tracer.exited;
      assert.equal(done.code, 0, done.stderr.join('\n'));
      const warnings = done.stderr.filter((l) => l.includes('warning:'));
      assert.equal(warnings.length, 1, done.stderr.join('\n'));
      assert.match(warnings[0], /go\.opentelemetry\.io\/otel\/sdk v1\.28\.0, outside the SDK offsets table \(v1\.29\.0–v1\.47\.0\), and has no DWARF.*deletes are traced but not correlated/);
      const recs = done.stdout.filter((l) => l.trim()).map((l) => JSON.parse(l) as WatchRecord & { caller: { function: string } });
      const logouts = recs.filter((r) => r.caller.function === 'main.(*SessionStore).Logout');
      assert.equal(logouts.length, expected, 'every delete still traced');
      for (const r of recs) assert.deepEqual([r.trace_id, r.span_id], [null, null]);
    } finally {
      tracer.kill('SIGKILL');
      await svc.stop().catch(() => undefined);
    }
  });
});
