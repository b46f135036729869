/** Filters, key privacy and the key hash, on one fixture build (the machine's newest Go). */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { loadFixtureManifest, type FixtureBuild } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { CLI } from '../helpers/tracer';
import { traceFixture } from './watch.test';

function newestPlain(): FixtureBuild {
  const plain = loadFixtureManifest().filter((b) => b.mode === 'plain' && !b.experiment);
  plain.sort((a, b) => a.go.localeCompare(b.go, 'en', { numeric: true }));
  return plain[plain.length - 1];
}

describe('watch options', function () {
  const build = newestPlain();

  it('leaves key values out unless --capture-keys, and hash-key reproduces the hashes', async function () {
    requireBpf(this);
    const { ops, events } = await traceFixture(build, []);
    const deletes = events.filter((e) => e.op === 'delete' && e.caller.function.startsWith('main.'));
    assert.ok(deletes.length > 10);
    for (const e of deletes) assert.deepEqual(Object.keys(e.key!), ['type', 'hash'], 'no key value without --capture-keys');
    // The hash of a string key and of an int64 key, recomputed by `hash-key`, appear in the stream.
    for (const [type, kind] of [['string', 'string'], ['int64', 'int64'], ['uint32', 'uint32']] as const) {
      const op = ops.find((o) => o.op === 'delete' && o.key_type === type && o.via === 'direct');
      assert.ok(op, `fixture has a ${type} delete`);
      const hash = execFileSync(process.execPath, [CLI, 'hash-key', '--type', kind, op.key], { encoding: 'utf8' }).trim();
      assert.ok(
        deletes.some((e) => e.key!.hash === hash && e.caller.line === op.line),
        `hash-key ${kind} ${op.key} = ${hash} appears on the delete at line ${op.line}`,
      );
    }
  });

  it('--redact-key masks the matching parts of captured keys in every event; the hash stays the key\'s', async function () {
    requireBpf(this);
    const { ops, events } = await traceFixture(build, ['--capture-keys', '--redact-key', '[0-9]', '--redact-key', '^[a-c]']);
    const deletes = events.filter((e) => e.op === 'delete' && e.caller.function.startsWith('main.') && e.key?.value !== undefined);
    assert.ok(deletes.length > 10);
    const mask = (v: string) => v.replace(/[0-9]/g, '****').replace(/^[a-c]/, '****');
    let masked = 0;
    for (const op of ops.filter((o) => o.op === 'delete' && o.via === 'direct' && (o.key_type === 'string' || o.key_type === 'int64'))) {
      const hash = execFileSync(process.execPath, [CLI, 'hash-key', '--type', op.key_type, op.key], { encoding: 'utf8' }).trim();
      const e = deletes.find((d) => d.key!.hash === hash && d.caller.line === op.line);
      assert.ok(e, `the delete of ${op.key_type} ${JSON.stringify(op.key)} at line ${op.line} is there, by its hash`);
      assert.equal(e.key!.value, mask(op.key));
      if (e.key!.value !== op.key) masked++;
    }
    assert.ok(masked > 0, 'some keys were masked');
    for (const e of deletes) assert.doesNotMatch(e.key!.value!, /[0-9]/, 'no digit of any key is shown');
  });

  it('--key keeps only deletes of that key (matched in the kernel)', async function () {
    requireBpf(this);
    const probe = await traceFixture(build, ['--capture-keys']);
    const target = probe.ops.find((o) => o.op === 'delete' && o.key_type === 'string' && o.via === 'direct')!;
    const { ops, events, stderr } = await traceFixture(build, ['--capture-keys', '--key', target.key]);
    const expected = ops.filter((o) => o.op === 'delete' && o.key === target.key && (o.key_type === 'string' || /int/.test(o.key_type)));
    assert.ok(expected.length >= 1);
    assert.ok(events.length >= expected.length, `${events.length} events for ${expected.length} deletes of ${target.key}`);
    for (const e of events) assert.equal(e.key?.value, target.key);
    assert.match(stderr.join('\n'), /filtered in kernel \d+/);
  });

  it('--map-type keeps only matching map types', async function () {
    requireBpf(this);
    const { events } = await traceFixture(build, ['--map-type', 'map[int64]*']);
    assert.ok(events.length > 0);
    for (const e of events) assert.match(e.map.type, /^map\[int64\]/);
  });
});
