/**
 * The hand-built JSON lines (output/json.ts) against their definition, JSON.stringify of
 * toJsonObject(), byte for byte; the per-stack fragment cache; the cached-second time formats.
 */
import { strict as assert } from 'node:assert';
import { appendJsonLine, formatJson, toJsonObject } from '../../receiver/output/json';
import { LineBuffer } from '../../receiver/output/lines';
import { appendTextLine, formatText } from '../../receiver/output/text';
import { rfc3339Nano, slowRfc3339Nano } from '../../receiver/output/time';
import { goStacktrace, hrTime } from '../../receiver/export/attributes';
import type { DeleteEvent, StackFrame } from '../../receiver/events/types';

const frame = (fn: string, file: string, line: number, pc: string): StackFrame => ({ function: fn, file, line, pc });

function event(o: Partial<DeleteEvent> = {}): DeleteEvent {
  const stack = o.stack ?? [frame('main.drop', '/src/main.go', 12, '0x4a1b2c'), frame('main.main', '/src/main.go', 30, '0x4a2000')];
  return {
    timeNs: 1_700_000_000_123_456_789n,
    pid: 4242,
    tid: 4243,
    goid: '77',
    op: 'delete',
    function: 'runtime.mapdelete_faststr',
    map: { addr: '0xc000123000', type: 'map[string]*main.Session', len: null, lenBefore: 3 },
    key: { type: 'string', hash: '8d5f0c2a9e4b7710', value: 'sess-1' },
    caller: { function: 'main.drop', file: '/src/main.go', line: 12 },
    stack,
    process: { executable: '/usr/local/bin/sessions', goVersion: 'go1.26.0', serviceName: 'sessions' },
    span: null,
    notes: { stackTruncated: false, keyTruncated: false, goidUnknown: false },
    ...o,
  };
}

/** A stack as the enricher shares it between events: frozen, frames frozen. */
function shared(frames: StackFrame[]): StackFrame[] {
  return Object.freeze(frames.map((f) => Object.freeze({ ...f }))) as StackFrame[];
}

const reference = (e: DeleteEvent) => JSON.stringify(toJsonObject(e));

// Strings JSON.stringify escapes (or, for pairs, must not): quote, backslash, controls, lone
// surrogates, a valid pair, non-ASCII.
const AWKWARD = ['a"b', 'back\\slash', 'ctl\x00\x01\x1f\x7f', 'line\nbreak\ttab', '\ud800lone', 'lone\udfff', '😀 pair', 'é ☃ \u2028', ''];

describe('watch --format json lines', () => {
  it('match JSON.stringify of the documented object for every shape', () => {
    const cases: DeleteEvent[] = [
      event(),
      event({ key: null, op: 'clear', function: 'runtime.mapclear', map: { addr: '0xc0', type: 'map[int]int', len: 0, lenBefore: 0 } }),
      event({ key: { type: 'int64', hash: '0000000000000001' } }),
      event({ span: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', sampled: true, inherited: false } }),
      event({ stack: [], caller: { function: '?', file: '?', line: 0 } }),
      event({ goid: '18446744073709551615' }),
      event({ goid: 'not a number' }),
      event({ map: { addr: '0x1', type: 't', len: NaN, lenBefore: null } }),
      event({ timeNs: 0n }),
      event({ stack: shared([frame('main.a', '/a.go', 1, '0x1'), frame('main.b', '/b.go', 2, '0x2')]) }),
    ];
    for (const s of AWKWARD) {
      cases.push(
        event({
          function: s,
          map: { addr: s, type: s, len: 1, lenBefore: 2 },
          key: { type: s, hash: s, value: s },
          caller: { function: s, file: s, line: 3 },
          stack: [frame(s, s, 4, s)],
          span: { traceId: s, spanId: s, sampled: false, inherited: true },
        }),
        event({ caller: Object.freeze({ function: s, file: s, line: 5 }), stack: shared([frame(s, s, 6, s), frame('x', 'y', 7, '0x7')]) }),
      );
    }
    for (const e of cases) assert.equal(formatJson(e), reference(e));
  });

  it('append the same bytes as formatJson plus a newline, across takes', () => {
    const s = shared([frame('main.a', '/é.go', 1, '0x1')]);
    const events = [event(), event({ stack: s }), event({ stack: s, key: { type: 'string', hash: 'h', value: '\ud800' } }), event({ key: null })];
    const out = new LineBuffer();
    const chunks: Buffer[] = [];
    let expected = '';
    let sinceTake = 0;
    for (let i = 0; i < 2000; i++) {
      const e = events[i % events.length];
      appendJsonLine(e, out);
      expected += formatJson(e) + '\n';
      sinceTake++;
      if (i % 333 === 0) {
        assert.equal(out.lines, sinceTake);
        chunks.push(out.take());
        sinceTake = 0;
      }
    }
    chunks.push(out.take());
    assert.equal(out.lines, 0);
    assert.ok(Buffer.concat(chunks).equals(Buffer.from(expected, 'utf8')));
  });

  it('give each event its own line when events share a stack', () => {
    const s = shared([frame('main.drop', '/src/main.go', 12, '0x4a1b2c')]);
    const a = event({ stack: s, timeNs: 1_700_000_000_000_000_001n, goid: '1', key: { type: 'int64', hash: '00000000000000aa' } });
    const b = event({ stack: s, timeNs: 1_700_000_001_999_999_999n, goid: '2', key: { type: 'int64', hash: '00000000000000bb' } });
    const la = formatJson(a);
    const lb = formatJson(b);
    assert.notEqual(la, lb);
    assert.equal(la, reference(a));
    assert.equal(lb, reference(b));
    assert.equal(JSON.parse(lb).time, '2023-11-14T22:13:21.999999999Z');
    assert.equal(JSON.parse(lb).goid, 2);
  });

  it('do not reuse the text of a stack that is not frozen (it may change)', () => {
    const stack = [frame('main.a', '/a.go', 1, '0x1')];
    const e = event({ stack });
    assert.equal(formatJson(e), reference(e));
    stack[0].line = 99;
    stack.push(frame('main.b', '/b.go', 2, '0x2'));
    assert.equal(formatJson(e), reference(e));
    assert.match(formatJson(e), /"line":99/);
  });

  it('text lines append as formatText plus a newline', () => {
    const out = new LineBuffer();
    const e = event({ key: { type: 'string', hash: 'h', value: 'é"' } });
    appendTextLine(e, out);
    assert.equal(out.take().toString('utf8'), formatText(e) + '\n');
  });
});

describe('event times', () => {
  it('rfc3339Nano matches the plain computation in order, out of order and across seconds', () => {
    const times: bigint[] = [0n, 1n, 999_999_999n, 1_000_000_000n, -1n, -1_000_000_001n];
    let t = 1_790_000_000_999_000_000n;
    for (let i = 0; i < 5000; i++) {
      t += BigInt((i * 7919) % 400_000);
      times.push(t, t - 2_000_000_000n, t);
    }
    for (const x of times) assert.equal(rfc3339Nano(x), slowRfc3339Nano(x), String(x));
    assert.throws(() => rfc3339Nano(10n ** 25n), RangeError);
  });

  it('hrTime splits into seconds and nanoseconds', () => {
    for (const x of [1_700_000_000_123_456_789n, 1_700_000_000_999_999_999n, 1_700_000_001_000_000_000n, 1_699_999_999_000_000_001n, 5n, -1_500_000_000n]) {
      assert.deepEqual(hrTime(x), [Number(x / 1_000_000_000n), Number(x % 1_000_000_000n)], String(x));
    }
  });

  it('goStacktrace is the same for a shared stack and a fresh one', () => {
    const frames = [frame('main.a', '/a.go', 1, '0x1'), frame('main.b', '/b.go', 2, '0x2')];
    const want = 'main.a(...)\n\t/a.go:1 pc=0x1\nmain.b(...)\n\t/b.go:2 pc=0x2';
    assert.equal(goStacktrace(event({ stack: frames })), want);
    const s = shared(frames);
    assert.equal(goStacktrace(event({ stack: s })), want);
    assert.equal(goStacktrace(event({ stack: s })), want);
  });
});
