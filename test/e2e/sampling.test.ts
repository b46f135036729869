/**
 * Sampling happens in the kernel (left-out deletes never reach the ring buffer), at the rate
 * asked for, and deletes matching a keep-filter (key, map type, caller) are always recorded —
 * in every process of a PIE binary, whose addresses differ per process.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadFixtureManifest, startFixture } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { runCli } from '../helpers/tracer';

function config(out: string, rate: number, keep = ''): string {
  return `receivers:
  mapdelete:
    capture_keys: true
    max_events_per_second: 1000000
    sampling:
      rate: ${rate}
${keep}exporters:
  file:
    path: ${out}
service:
  pipelines:
    traces: { receivers: [mapdelete], exporters: [file] }
`;
}

function summaryOf(stderr: string[]) {
  const line = stderr.find((l) => /deletes from \d+ process/.test(l)) ?? '';
  const n = (re: RegExp) => Number(re.exec(line)?.[1] ?? NaN);
  return { hits: n(/probe hits (\d+)/), unsampled: n(/left out by sampling (\d+)/), deletes: n(/(\d+) deletes from/), lost: n(/lost (\d+)/) };
}

describe('sampling in the kernel', function () {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-sampling-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const newest = (mode: string) =>
    loadFixtureManifest().filter((b) => b.mode === mode && !b.experiment).sort((a, b) => a.go.localeCompare(b.go, 'en', { numeric: true })).at(-1)!;

  it('records about rate × deletes, and every hit is recorded or counted as left out', async function () {
    requireBpf(this);
    const out = path.join(tmp, 'rate.jsonl');
    const cfg = path.join(tmp, 'rate.yaml');
    fs.writeFileSync(cfg, config(out, 0.01));
    const fx = await startFixture(newest('plain').path, { scenario: 'load', goroutines: 2, rate: 100000, seconds: 2 });
    try {
      const tracer = runCli(['run', '--config', cfg, '--pid', String(fx.pid)]);
      await tracer.attached;
      fx.go();
      const load = await fx.loadResult;
      const done = await tracer.exited;
      assert.equal(done.code, 0, done.stderr.join('\n'));
      const s = summaryOf(done.stderr);
      const recorded = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).length;
      // Binomial(200000, 0.01): mean 2000, sd ~44.5; 6 sd either way.
      const expected = load.deletes * 0.01;
      console.log(`      ${load.deletes} deletes, ${recorded} recorded at rate 0.01, ${s.unsampled} left out in the kernel`);
      assert.ok(Math.abs(recorded - expected) < 6 * Math.sqrt(expected), `recorded ${recorded}, expected ~${expected}`);
      assert.equal(s.deletes, recorded);
      assert.equal(s.hits, s.deletes + s.unsampled + s.lost, 'hits = recorded + left out + lost');
    } finally {
      fx.kill();
    }
  });

  it('always keeps deletes matching a key, map type or caller filter, in every process of a PIE binary', async function () {
    requireBpf(this);
    const out = path.join(tmp, 'keep.jsonl');
    const cfg = path.join(tmp, 'keep.yaml');
    fs.writeFileSync(
      cfg,
      config(
        out,
        0.000001,
        `      keep:
        keys: ["alice"]
        map_types: ["map[int32]*"]
        callers: ["main.deleteUint64", "scenarios.go:199"]
`,
      ),
    );
    const build = newest('pie');
    const tracer = runCli(['run', '--config', cfg, '--exe', build.path]);
    await tracer.attached;
    const runs = [];
    for (let i = 0; i < 2; i++) {
      const fx = await startFixture(build.path, {});
      fx.go();
      runs.push({ fx, ops: await fx.ops });
      await fx.exited;
    }
    await new Promise((r) => setTimeout(r, 300));
    tracer.kill('SIGTERM');
    const done = await tracer.exited;
    assert.equal(done.code, 0, done.stderr.join('\n'));
    assert.match(done.stderr.join('\n'), /always kept in .*: [1-9]\d* map type\(s\), [1-9]\d* call site\(s\)/);
    const events = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    for (const { fx, ops } of runs) {
      const want = ops.filter(
        (o) =>
          (o.op === 'delete' && o.key === 'alice') ||
          o.type.startsWith('map[int32]') ||
          o.func === 'main.deleteUint64' ||
          (o.line === 199 && o.file.endsWith('scenarios.go')),
      );
      assert.ok(want.length >= 8, `fixture has keep-worthy ops (${want.length})`);
      const got = events.filter((e) => e.pid === fx.pid && e.caller.function.startsWith('main.'));
      for (const o of want) {
        assert.ok(
          got.some((e) => e.caller.line === o.line && e.map.addr === o.map && (o.op === 'clear' || e.key.value === o.key)),
          `kept in PID ${fx.pid}: ${o.func} line ${o.line} key ${o.key}`,
        );
      }
      assert.ok(got.length <= want.length + 1, `little else recorded at rate 1e-6 (${got.length} for ${want.length})`);
    }
  });
});
