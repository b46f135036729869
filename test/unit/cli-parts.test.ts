import { strict as assert } from 'node:assert';
import { globToRegExp } from '../../receiver/util/glob';
import { parseArgs } from '../../receiver/cli/args';
import { rfc3339Nano } from '../../receiver/output/time';
import { formatKeyValue } from '../../receiver/events/enrich';
import { UserError } from '../../receiver/util/errors';

describe('map-type globs', () => {
  it('treat brackets literally and * as any run', () => {
    assert.ok(globToRegExp('map[string]*main.User').test('map[string]*main.User'));
    assert.ok(globToRegExp('map[string]*').test('map[string]*main.User'));
    assert.ok(!globToRegExp('map[string]*').test('map[int64]int'));
    assert.ok(globToRegExp('map[?]int').test('map[K]int'));
    assert.ok(globToRegExp('*User').test('map[int]main.User'));
  });
});

describe('argument parser', () => {
  const spec = { pid: { type: 'number' as const, repeat: true }, format: { type: 'string' as const, choices: ['text', 'json'] }, x: { type: 'boolean' as const } };
  it('parses repeatable, choice and boolean flags', () => {
    const p = parseArgs('watch', ['--pid', '1', '--pid=2', '--format', 'json', '--x'], spec);
    assert.deepEqual(p.flags.get('pid'), [1, 2]);
    assert.deepEqual(p.flags.get('format'), ['json']);
    assert.deepEqual(p.flags.get('x'), [true]);
  });
  it('names the bad flag', () => {
    assert.throws(() => parseArgs('watch', ['--nope'], spec), (e: Error) => e instanceof UserError && /--nope/.test(e.message));
    assert.throws(() => parseArgs('watch', ['--pid', 'abc'], spec), /expects a number/);
    assert.throws(() => parseArgs('watch', ['--format', 'xml'], spec), /one of text, json/);
    assert.throws(() => parseArgs('watch', ['--pid'], spec), /needs a value/);
  });
});

describe('output formatting', () => {
  it('prints RFC 3339 with nanoseconds', () => {
    assert.equal(rfc3339Nano(1_700_000_000_123_456_789n), '2023-11-14T22:13:20.123456789Z');
    assert.equal(rfc3339Nano(1_700_000_000_000_000_001n), '2023-11-14T22:13:20.000000001Z');
  });
  it('shows keys as text, decimal or hex by Go kind', () => {
    assert.equal(formatKeyValue(Buffer.from('abc'), undefined, true), 'abc');
    assert.equal(formatKeyValue(Buffer.from('feffffffffffffff', 'hex'), { name: 'int64', size: 8, kind: 6 }, false), '-2');
    assert.equal(formatKeyValue(Buffer.from('feffffff', 'hex'), { name: 'uint32', size: 4, kind: 10 }, false), '4294967294');
    assert.equal(formatKeyValue(Buffer.from('0102', 'hex'), { name: 'main.K', size: 2, kind: 25 }, false), '0102');
  });
});
