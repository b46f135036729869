/**
 * The per-stack cache of events/stacks.ts as the Enricher uses it, and the BigInt-free record
 * readers of events/u64.ts against Buffer's own.
 */
import { strict as assert } from 'node:assert';
import type { GoBinary, SourceFrame } from '../../receiver/golang/binary';
import { ArgKindCode, Flag, SpanState, type RawDelete } from '../../receiver/events/decode';
import { Enricher, type ProcessView } from '../../receiver/events/enrich';
import { StackCache } from '../../receiver/events/stacks';
import { i64Number, u64Decimal, u64Hex16, u64Number } from '../../receiver/events/u64';
import { functionId } from '../../receiver/attach/functions';

/** A binary whose every link-time return address is its own function: fn@<addr>. */
function fakeBinary(goVersion = 'go1.26.0'): GoBinary {
  const symbolizeReturn = (link: number): SourceFrame[] => {
    if (link === 0xdead) throw new Error('not code');
    if (link === 0xbeef) return [];
    const name = link === 0x7000 ? 'reflect.Value.SetMapIndex' : link === 0x7100 ? 'runtime.mapdelete' : `main.f${link.toString(16)}`;
    // Two inlined frames at 0x6000: both carry the return address's pc.
    if (link === 0x6000) return [{ function: 'main.inlined', file: '/src/a.go', line: 1 } as SourceFrame, { function: name, file: '/src/a.go', line: 2 } as SourceFrame];
    return [{ function: name, file: '/src/a.go', line: link & 0xff } as SourceFrame];
  };
  return { symbolizeReturn, mapType: () => undefined, goVersion } as unknown as GoBinary;
}

function raw(o: Partial<RawDelete>): RawDelete {
  return {
    tsNs: 1_000n,
    pid: 10,
    tid: 11,
    goid: '5',
    mapAddr: 0xc000012000,
    mapType: 0,
    keyHash: '00000000000000ff',
    mapLenBefore: 3,
    probeIp: 0,
    planId: 0,
    keyLen: 8,
    flags: 0,
    funcId: functionId('runtime.mapdelete_fast64'),
    argKind: ArgKindCode.Key64,
    stack: [],
    spanState: SpanState.None,
    traceId: '',
    spanId: '',
    spanFlags: 0,
    ...o,
  };
}

describe('stack cache', () => {
  it('gives two processes of one binary at different biases their own pcs and symbols', () => {
    const bin = fakeBinary();
    const cache = new StackCache();
    // The same runtime address means different code under the two biases…
    const a = cache.lookup(bin, 0x1000, [0x5000]);
    const b = cache.lookup(bin, 0x2000, [0x5000]);
    assert.equal(a.frames[0].function, 'main.f4000');
    assert.equal(b.frames[0].function, 'main.f3000');
    assert.equal(a.frames[0].pc, '0x5000');
    assert.equal(b.frames[0].pc, '0x5000');
    // …and the same code has a different pc in each process.
    const c = cache.lookup(bin, 0x2000, [0x8000]); // link 0x6000 under bias 0x2000
    const d = cache.lookup(bin, 0x1000, [0x7000]); // link 0x6000 under bias 0x1000
    assert.deepEqual(
      c.frames.map((f) => [f.function, f.pc]),
      [
        ['main.inlined', '0x8000'],
        ['main.f6000', '0x8000'],
      ],
    );
    assert.deepEqual(
      d.frames.map((f) => [f.function, f.pc]),
      [
        ['main.inlined', '0x7000'],
        ['main.f6000', '0x7000'],
      ],
    );
    // Asking again, interleaved, returns the same answers (and the same shared objects).
    assert.equal(cache.lookup(bin, 0x1000, [0x5000]), a);
    assert.equal(cache.lookup(bin, 0x2000, [0x5000]), b);
  });

  it('keeps stacks apart that share a prefix, and shows unknown frames as "?"', () => {
    const bin = fakeBinary();
    const cache = new StackCache();
    const short = cache.lookup(bin, 0, [0x4010]);
    const long = cache.lookup(bin, 0, [0x4010, 0x4020, 0xdead, 0xbeef]);
    const empty = cache.lookup(bin, 0, []);
    assert.deepEqual(short.frames.map((f) => f.function), ['main.f4010']);
    assert.deepEqual(long.frames.map((f) => f.function), ['main.f4010', 'main.f4020', '?', '?']);
    assert.deepEqual({ ...long.frames[2] }, { function: '?', file: '?', line: 0, pc: '0xdead' });
    assert.deepEqual(empty.frames, []);
    assert.deepEqual(empty.direct, { function: '?', file: '?', line: 0 });
    assert.ok(Object.isFrozen(long.frames) && long.frames.every((f) => Object.isFrozen(f)));
  });

  it('finds the caller past runtime/reflect frames for reflective deletes only', () => {
    const bin = fakeBinary();
    const cache = new StackCache();
    const s = cache.lookup(bin, 0, [0x7100, 0x7000, 0x4042]);
    assert.deepEqual(s.direct, { function: 'runtime.mapdelete', file: '/src/a.go', line: 0 });
    assert.deepEqual(s.reflective, { function: 'main.f4042', file: '/src/a.go', line: 0x42 });
  });
});

describe('enricher with shared stacks', () => {
  const view: ProcessView = { binary: fakeBinary(), bias: 0, executable: '/bin/app' };

  it('gives events with the same stack their own times, keys and goroutines', () => {
    const en = new Enricher(1_700_000_000_000_000_000n);
    const a = en.enrich(raw({ tsNs: 1n, goid: '1', keyHash: '00000000000000aa', stack: [0x4010, 0x4020] }), view);
    const b = en.enrich(raw({ tsNs: 2_000_000_000n, goid: '2', keyHash: '00000000000000bb', stack: [0x4010, 0x4020] }), view);
    assert.equal(a.stack, b.stack, 'one shared stack');
    assert.equal(a.timeNs, 1_700_000_000_000_000_001n);
    assert.equal(b.timeNs, 1_700_000_002_000_000_000n);
    assert.deepEqual([a.goid, b.goid], ['1', '2']);
    assert.deepEqual([a.key?.hash, b.key?.hash], ['00000000000000aa', '00000000000000bb']);
    assert.deepEqual(a.caller, { function: 'main.f4010', file: '/src/a.go', line: 0x10 });
    assert.throws(() => a.stack.push({ function: 'x', file: 'y', line: 1, pc: '0x0' }), TypeError);
  });

  it('takes the reflective caller when the probed function or the first frame is reflect', () => {
    const en = new Enricher(0n);
    const viaReflect = en.enrich(raw({ funcId: functionId('reflect.mapdelete'), stack: [0x4050, 0x4042] }), view);
    assert.equal(viaReflect.caller.function, 'main.f4050'); // first non-machinery frame is the first frame
    const reflectFrame = en.enrich(raw({ stack: [0x7000, 0x4042] }), view);
    assert.equal(reflectFrame.caller.function, 'main.f4042');
    const plain = en.enrich(raw({ stack: [0x7100, 0x4042] }), view);
    assert.equal(plain.caller.function, 'runtime.mapdelete');
  });

  it('maps flags to notes and keeps process info per view', () => {
    const en = new Enricher(0n);
    const e = en.enrich(raw({ flags: Flag.KeyTruncated | Flag.GoidUnreadable }), view);
    assert.deepEqual(e.notes, { stackTruncated: false, keyTruncated: true, goidUnknown: true });
    assert.deepEqual(e.process, { executable: '/bin/app', goVersion: 'go1.26.0', serviceName: undefined });
    const other = en.enrich(raw({}), { ...view, executable: '/bin/other', serviceName: 'svc' });
    assert.deepEqual(other.process, { executable: '/bin/other', goVersion: 'go1.26.0', serviceName: 'svc' });
    assert.equal(en.enrich(raw({ mapAddr: 0xabc }), view).map.addr, '0xabc');
    assert.equal(en.enrich(raw({ mapAddr: 0xc000012000 }), view).map.addr, '0xc000012000');
  });
});

describe('u64 readers', () => {
  const values = [0n, 1n, 0xffn, 0xffff_ffffn, 0x1_0000_0000n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 0x0123_4567_89ab_cdefn];
  it('read what readBigUInt64LE / readBigInt64LE read', () => {
    const b = Buffer.alloc(11);
    for (const v of values) {
      for (const off of [0, 3]) {
        b.writeBigUInt64LE(v, off);
        assert.equal(u64Number(b, off), Number(b.readBigUInt64LE(off)));
        assert.equal(i64Number(b, off), Number(b.readBigInt64LE(off)));
        assert.equal(u64Decimal(b, off), b.readBigUInt64LE(off).toString());
        assert.equal(u64Hex16(b, off), b.readBigUInt64LE(off).toString(16).padStart(16, '0'));
      }
    }
  });
  it('refuse to read past the buffer', () => {
    assert.throws(() => u64Number(Buffer.alloc(7), 0), RangeError);
    assert.throws(() => u64Hex16(Buffer.alloc(8), 1), RangeError);
  });
});
