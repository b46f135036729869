import { strict as assert } from 'node:assert';
import { fnv1a64, hashHex, hashKey, hashesForKeyFilter, keyBytes, KeyValueError } from '../../receiver/events/keyhash';

describe('key hash', () => {
  it('is FNV-1a 64 (published test vectors)', () => {
    assert.equal(hashHex(fnv1a64(Buffer.alloc(0))), 'cbf29ce484222325');
    assert.equal(hashHex(fnv1a64(Buffer.from('a'))), 'af63dc4c8601ec8c');
    assert.equal(hashHex(fnv1a64(Buffer.from('foobar'))), '85944171f73967e8');
  });

  it('hashes integers as their little-endian bytes', () => {
    assert.deepEqual(keyBytes('int64', '-2'), Buffer.from('feffffffffffffff', 'hex'));
    assert.deepEqual(keyBytes('uint32', '258'), Buffer.from('02010000', 'hex'));
    assert.equal(hashKey('int64', '42'), fnv1a64(Buffer.from('2a00000000000000', 'hex')));
    assert.equal(hashKey('hex', '0x2a00000000000000'), hashKey('uint64', '42'));
  });

  it('folds the length into keys longer than 128 bytes', () => {
    const a = Buffer.alloc(200, 1);
    const b = Buffer.alloc(201, 1);
    assert.notEqual(fnv1a64(a), fnv1a64(b));
    assert.notEqual(fnv1a64(a), fnv1a64(a.subarray(0, 128)));
  });

  it('rejects values that do not fit, with the reason', () => {
    assert.throws(() => keyBytes('int32', '3000000000'), KeyValueError);
    assert.throws(() => keyBytes('uint64', '-1'), KeyValueError);
    assert.throws(() => keyBytes('int64', 'abc'), /not an integer/);
    assert.throws(() => keyBytes('hex', 'abc'), /even number of hex digits/);
  });

  it('gives --key every meaning of the value', () => {
    assert.equal(hashesForKeyFilter('sess-1').length, 1);
    const h = hashesForKeyFilter('7');
    assert.ok(h.includes(hashKey('string', '7')));
    assert.ok(h.includes(hashKey('int64', '7')));
    assert.ok(h.includes(hashKey('int32', '7')));
    assert.equal(hashesForKeyFilter('-1').length, 3); // string, int64, int32
  });
});
