/**
 * The core promise, checked against what the Go program itself knows: for every fixture build
 * in the matrix (Go versions × plain/stripped/PIE/cgo), `watch --format json` reports each
 * delete and clear exactly once, with the runtime's goroutine id, the map's %p and %T, the
 * key, and the delete statement's own function, file and line.
 */
import { strict as assert } from 'node:assert';
import { loadFixtureManifest, startFixture, type FixtureBuild, type FixtureOp } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { runCli } from '../helpers/tracer';

interface JsonEvent {
  time: string;
  pid: number;
  tid: number;
  goid: number;
  op: 'delete' | 'clear';
  function: string;
  map: { addr: string; type: string; len: number | null };
  key: { type: string; hash: string; value?: string } | null;
  caller: { function: string; file: string; line: number };
  stack: { function: string; file: string; line: number; pc: string }[];
}

const FIELDS = ['time', 'pid', 'tid', 'goid', 'op', 'function', 'map', 'key', 'caller', 'stack', 'trace_id', 'span_id'];

function opKey(o: { op: string; goid: number; map: string; type: string; keyType: string | null; key: string | null; func: string; file: string; line: number }): string {
  return JSON.stringify([o.op, o.goid, o.map, o.type, o.keyType, o.key, o.func, o.file, o.line]);
}

function fromFixture(o: FixtureOp): string {
  return opKey({
    op: o.op,
    goid: o.goid,
    map: o.map,
    type: o.type,
    keyType: o.op === 'clear' ? null : o.key_type,
    key: o.op === 'clear' ? null : o.key,
    func: o.func,
    file: o.file,
    line: o.line,
  });
}

function fromTracer(e: JsonEvent): string {
  return opKey({
    op: e.op,
    goid: e.goid,
    map: e.map.addr,
    type: e.map.type,
    keyType: e.key?.type ?? null,
    key: e.key?.value ?? null,
    func: e.caller.function,
    file: e.caller.file,
    line: e.caller.line,
  });
}

function countBy(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

export async function traceFixture(build: FixtureBuild, tracerArgs: string[], fixtureArgs: string[] = []) {
  const fx = await startFixture(build.path, fixtureArgs);
  try {
    const tracer = runCli(['watch', '--pid', String(fx.pid), '--format', 'json', ...tracerArgs]);
    await tracer.attached;
    fx.go();
    const ops = await fx.ops;
    const code = await fx.exited;
    assert.equal(code, 0, 'fixture exit code');
    const done = await tracer.exited;
    assert.equal(done.code, 0, `tracer exit code; stderr:\n${done.stderr.join('\n')}`);
    const events = done.stdout.filter((l) => l.trim()).map((l) => JSON.parse(l) as JsonEvent);
    return { fx, ops, events, stderr: done.stderr };
  } finally {
    fx.kill();
  }
}

describe('watch: every delete, exactly once, matching what Go knows', function () {
  const builds = loadFixtureManifest();
  for (const build of builds) {
    it(`${build.variant} ${build.mode}`, async function () {
      requireBpf(this);
      const { ops, events } = await traceFixture(build, ['--capture-keys']);
      assert.ok(ops.length >= 30, `fixture reported only ${ops.length} ops`);

      for (const e of events) assert.deepEqual(Object.keys(e), FIELDS, 'JSON field order');
      const mine = events.filter((e) => e.caller.function.startsWith('main.'));
      const want = countBy(ops.map(fromFixture));
      const got = countBy(mine.map(fromTracer));
      const missing = [...want].filter(([k, n]) => (got.get(k) ?? 0) < n).map(([k]) => k);
      const extra = [...got].filter(([k, n]) => (want.get(k) ?? 0) < n).map(([k]) => k);
      assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, 'tracer events vs fixture ground truth');

      for (const e of mine) {
        assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
        assert.ok(e.stack.length >= 2, 'stack has the caller and more');
        if (e.stack[0].function.startsWith('main.')) {
          // A direct delete: the first frame is the delete statement itself.
          assert.deepEqual(e.caller, { function: e.stack[0].function, file: e.stack[0].file, line: e.stack[0].line });
        }
        assert.ok(e.stack.some((f) => f.function === e.caller.function && f.line === e.caller.line), 'caller is on the stack');
        assert.match(e.stack[0].pc, /^0x[0-9a-f]+$/);
        if (e.op === 'clear') assert.equal(e.key, null);
        else assert.match(e.key!.hash, /^[0-9a-f]{16}$/);
        if (e.map.len !== null) {
          const op = ops.find((o) => o.map === e.map.addr && o.goid === e.goid && o.line === e.caller.line);
          if (op) assert.equal(e.map.len, op.len_after, 'len after the operation');
        }
      }
    });
  }
});
