/**
 * The alert engine with a fake CounterSource, synthetic events and an injected clock: the
 * lifecycle (pending, firing, repeat, resolved), grouping, counter resets and baselines,
 * mass deletion, clears, watched keys, templating and routing to notifiers.
 */
import { strict as assert } from 'node:assert';
import { AlertEngine, CounterTracker, fingerprint } from '../../receiver/alerts/engine';
import type { Evaluation, Notifier, NotifierStats } from '../../receiver/alerts/types';
import { formatValue, parseTemplate, renderTemplate } from '../../receiver/alerts/template';
import { hashHex, hashKey } from '../../receiver/events/keyhash';
import { alertCounting, watchedKeys } from '../../receiver/config/alerts';
import { FakeSource, event, loadAlerts } from '../helpers/alerts';

class CaptureNotifier implements Notifier {
  readonly evaluations: Evaluation[] = [];
  constructor(readonly id: string) {}
  deliver(e: Evaluation): void {
    this.evaluations.push(e);
  }
  stats(): NotifierStats {
    return { sent: 0, failed: 0, dropped: 0, retries: 0, queued: 0 };
  }
  async close(): Promise<void> {}
  /** Every notice so far, as "reason rule value". */
  notices(): string[] {
    return this.evaluations.flatMap((e) => e.notices.map((n) => `${n.reason} ${n.rule} ${n.value}`));
  }
}

const SEC = 1000;
const MIN = 60 * SEC;

function setup(alertsYaml: string, o: { source?: FakeSource; notifiers?: string[] } = {}) {
  const { alerts } = loadAlerts(alertsYaml);
  const clock = { t: 1_800_000_000_000 };
  const source = o.source ?? new FakeSource();
  const notifiers = (o.notifiers ?? alerts.notifiers.map((n) => n.id)).map((id) => new CaptureNotifier(id));
  const logs: string[] = [];
  const engine = new AlertEngine({ config: alerts, source, notifiers, now: () => clock.t, log: (l) => logs.push(l) });
  /** Advances the clock and evaluates. */
  const step = (ms: number) => {
    clock.t += ms;
    return engine.evaluate();
  };
  return { alerts, clock, source, notifiers, n: notifiers[0], logs, engine, step };
}

const HOOK = `  notifiers:\n    webhook:\n      url: http://127.0.0.1:1/hook\n`;

describe('alerts engine', () => {
  describe('delete_rate lifecycle', () => {
    const yaml = `alerts:
  evaluation_interval: 15s
${HOOK}  rules:
    - alert: MapHammered
      delete_rate: { window: 5m, threshold: 100, group_by: [map] }
      for: 1m
      repeat_interval: 10m
      labels: { severity: page }
      annotations:
        summary: "{{ $labels.map_type }} at {{ $labels.map }} lost {{ $value }} in 5m"
`;

    it('is pending, fires after for:, repeats on schedule, and resolves once the window empties', () => {
      const { source, step, n, engine, clock } = setup(yaml);
      const m = source.map({ mapAddr: '0xc0000a4120', mapType: 'map[string]*main.Session', deletes: 5000n, lastLen: 10 });
      step(0); // baseline: 5000 deletes before the first evaluation do not count
      assert.equal(engine.alerts().length, 0);

      m.deletes += 150n;
      let r = step(15 * SEC);
      assert.equal(r.pending, 1);
      assert.deepEqual(engine.alerts().map((a) => [a.state, a.value]), [['pending', 150]]);
      assert.equal(n.notices().length, 0);

      // Still above the threshold: fires once `for:` (1m) has passed since it became active.
      for (let i = 0; i < 3; i++) step(15 * SEC);
      assert.equal(n.notices().length, 0, 'not firing before 1m');
      r = step(15 * SEC);
      assert.deepEqual(n.notices(), ['firing MapHammered 150']);
      const fired = n.evaluations.at(-1)!.notices[0];
      assert.deepEqual(fired.labels, {
        alertname: 'MapHammered',
        service: 'svc',
        pid: '100',
        map_type: 'map[string]*main.Session',
        map: '0xc0000a4120',
        severity: 'page',
      });
      assert.equal(fired.annotations.summary, 'map[string]*main.Session at 0xc0000a4120 lost 150 in 5m');
      assert.equal(fired.startsAt, clock.t);
      assert.equal(fired.endsAt, undefined);
      assert.equal(fired.fingerprint, fingerprint(fired.labels));
      assert.equal(r.firing.length, 1);

      // Keep it above the threshold: a repeat after 10m, not before.
      for (let t = 0; t < 9 * MIN; t += 15 * SEC) {
        m.deletes += 10n;
        step(15 * SEC);
      }
      assert.deepEqual(n.notices(), ['firing MapHammered 150']);
      for (let t = 0; t < 1 * MIN; t += 15 * SEC) {
        m.deletes += 10n;
        step(15 * SEC);
      }
      assert.equal(n.notices().length, 2);
      assert.match(n.notices()[1], /^repeat MapHammered \d+$/);

      // Deletes stop: the count within 5m falls to 100 or less, and the alert resolves.
      const before = n.notices().length;
      let resolvedAt = 0;
      for (let i = 0; i < 30 && n.notices().length === before; i++) {
        step(15 * SEC);
        resolvedAt = clock.t;
      }
      const resolved = n.evaluations.at(-1)!.notices[0];
      assert.equal(resolved.reason, 'resolved');
      assert.equal(resolved.status, 'resolved');
      assert.equal(resolved.endsAt, resolvedAt);
      assert.equal(resolved.startsAt, fired.startsAt);
      assert.equal(engine.alerts().length, 0);
      step(15 * SEC);
      assert.equal(n.notices().length, before + 1, 'resolved is notified once');
    });

    it('drops a pending alert silently when the condition ends before for:', () => {
      const { source, step, n, engine } = setup(yaml.replace('window: 5m', 'window: 15s'));
      const m = source.map({ deletes: 0n });
      step(0);
      m.deletes += 500n;
      step(15 * SEC);
      assert.equal(engine.alerts()[0].state, 'pending');
      step(15 * SEC);
      assert.equal(engine.alerts().length, 0);
      assert.deepEqual(n.notices(), []);
    });

    it('fires at the first evaluation with for: 0 and never repeats with repeat_interval: 0', () => {
      const { source, step, n } = setup(yaml.replace('for: 1m', 'for: 0s').replace('repeat_interval: 10m', 'repeat_interval: 0'));
      const m = source.map({});
      step(0);
      m.deletes += 101n;
      step(15 * SEC);
      assert.deepEqual(n.notices(), ['firing MapHammered 101']);
      for (let i = 0; i < 10; i++) step(15 * SEC);
      assert.deepEqual(n.notices(), ['firing MapHammered 101']);
    });
  });

  describe('grouping and counters', () => {
    it('groups call-site counts by map_type over processes and filters with match', () => {
      const { source, step, n } = setup(`alerts:
${HOOK}  rules:
    - alert: TypeHammered
      delete_rate:
        window: 1m
        threshold: 10
        group_by: [map_type]
        match: { service: "svc*", caller: ["store.go:*"] }
`);
      const a = source.site({ pid: 1, mapType: 'map[string]int', caller: 'store.go:57', count: 0n });
      const b = source.site({ pid: 2, mapType: 'map[string]int', caller: 'store.go:80', count: 0n });
      const c = source.site({ pid: 2, mapType: 'map[int64]bool', caller: 'store.go:90', count: 0n });
      const other = source.site({ pid: 3, mapType: 'map[int64]bool', caller: 'cache.go:12', count: 0n });
      const clears = source.site({ pid: 3, op: 'clear', mapType: 'map[int64]bool', caller: 'store.go:99', count: 0n });
      step(0);
      a.count += 6n;
      b.count += 6n; // 12 for map[string]int over two processes
      c.count += 5n;
      other.count += 100n; // not matched (caller)
      clears.count += 100n; // op: delete is the default
      step(15 * SEC);
      const fired = n.evaluations.at(-1)!.notices;
      assert.deepEqual(
        fired.map((x) => [x.labels.map_type, x.value]),
        [['map[string]int', 12]],
      );
      assert.deepEqual(Object.keys(fired[0].labels), ['alertname', 'map_type']);
    });

    it('groups by caller and function, op any counts deletes and clears', () => {
      const { source, step, engine } = setup(`alerts:
  rules:
    - alert: Site
      delete_rate: { window: 1m, threshold: 5, op: any, group_by: [caller, function] }
`);
      const d = source.site({ caller: 'a.go:1', callerFunction: 'main.a', count: 0n });
      const c = source.site({ op: 'clear', caller: 'a.go:1', callerFunction: 'main.a', count: 0n });
      step(0);
      d.count += 3n;
      c.count += 3n;
      step(15 * SEC);
      assert.deepEqual(
        engine.alerts().map((a) => [a.labels.caller, a.labels.function, a.value, a.state]),
        [['a.go:1', 'main.a', 6, 'firing']],
      );
    });

    it('treats a counter that goes down as a reset, never as a negative delta', () => {
      const { source, step, engine } = setup(`alerts:
  rules:
    - alert: Reset
      delete_rate: { window: 1m, threshold: 20, group_by: [map] }
`);
      const m = source.map({ deletes: 1000n });
      step(0);
      m.deletes = 1010n; // +10
      step(15 * SEC);
      assert.equal(engine.alerts().length, 0);
      m.deletes = 15n; // evicted and counted again from zero: +15
      step(15 * SEC);
      assert.deepEqual(engine.alerts().map((a) => a.value), [25]);
      m.deletes = 20n; // +5
      step(15 * SEC);
      assert.deepEqual(engine.alerts().map((a) => a.value), [30]);
    });

    it('keeps counting a map address that now holds a map of another type (no spike)', () => {
      const { source, step, engine } = setup(`alerts:
  rules:
    - alert: R
      delete_rate: { window: 1m, threshold: 10, group_by: [map] }
`);
      const m = source.map({ deletes: 5000n, mapType: 'map[string]int' });
      step(0);
      m.deletes += 2n;
      m.mapType = 'map[int64]bool';
      step(15 * SEC);
      assert.deepEqual(engine.alerts(), []);
      m.deletes += 11n;
      step(15 * SEC);
      assert.deepEqual(engine.alerts().map((a) => [a.labels.map_type, a.value]), [['map[int64]bool', 13]]);
    });

    it('counts rows that appear after the first evaluation from zero, and forgets rows that vanish', () => {
      const t = new CounterTracker<{ id: string; n: bigint }>((r) => r.id);
      assert.deepEqual(t.update([{ id: 'a', n: 7n }], (r) => [r.n]).map((x) => x.deltas), [[0]]);
      assert.deepEqual(t.update([{ id: 'a', n: 9n }, { id: 'b', n: 4n }], (r) => [r.n]).map((x) => x.deltas), [[2], [4]]);
      assert.deepEqual(t.update([{ id: 'b', n: 4n }], (r) => [r.n]).map((x) => x.deltas), [[0]]);
      // `a` came back with 3: new since it vanished.
      assert.deepEqual(t.update([{ id: 'a', n: 3n }, { id: 'b', n: 5n }], (r) => [r.n]).map((x) => x.deltas), [[3], [1]]);
    });

    it('groups deletes by key hash from the per-key counters', () => {
      const { source, step, engine, alerts } = setup(`alerts:
  rules:
    - alert: HotKey
      delete_rate: { window: 1m, threshold: 3, group_by: [key_hash] }
`);
      assert.deepEqual(alertCounting(alerts), { keys: true, keepClears: false, watchKeys: [], watchKeyHashes: [] });
      const k1 = source.key({ keyHash: '8d5f0c2a9e4b7710' });
      const k2 = source.key({ keyHash: '0000000000000001', pid: 7 });
      step(0);
      k1.deletes += 4n;
      k2.deletes += 3n;
      step(15 * SEC);
      assert.deepEqual(
        engine.alerts().map((a) => a.labels),
        [{ alertname: 'HotKey', key_hash: '8d5f0c2a9e4b7710' }],
      );
    });

    it('evaluates nothing over counters without a source, and keeps going when the source fails', () => {
      const { alerts } = loadAlerts(`alerts:
  rules:
    - alert: R
      delete_rate: { window: 1m, threshold: 1, group_by: [map] }
`);
      const logs: string[] = [];
      const e1 = new AlertEngine({ config: alerts, log: (l) => logs.push(l) });
      e1.evaluate();
      e1.evaluate();
      assert.equal(logs.length, 1);
      assert.match(logs[0], /no counters to read/);

      const { source, step, logs: logs2, engine } = setup(`alerts:
  rules:
    - alert: R
      delete_rate: { window: 1m, threshold: 1, group_by: [map] }
`);
      const m = source.map({});
      step(0);
      m.deletes += 5n;
      step(15 * SEC);
      assert.equal(engine.alerts()[0].state, 'firing');
      source.fail = 'bpf map read failed';
      step(15 * SEC);
      step(15 * SEC);
      assert.equal(logs2.filter((l) => /cannot read counters/.test(l)).length, 1, logs2.join('\n'));
      source.fail = undefined;
      m.deletes += 5n;
      step(15 * SEC);
      assert.equal(engine.alerts()[0].state, 'firing');
    });
  });

  describe('mass_deletion', () => {
    const yaml = `alerts:
${HOOK}  rules:
    - alert: MassDeletion
      mass_deletion: { window: 2m, fraction: 0.9, min_len: 100 }
      annotations: { summary: "{{ $labels.map }} lost {{ $value }} of its elements" }
`;

    it('fires when a map falls by the fraction across evaluations, from the per-map lengths', () => {
      const { source, step, engine, n } = setup(yaml);
      const m = source.map({ lastLen: 1000, deletes: 10n });
      step(0);
      m.deletes += 400n;
      m.lastLen = 600;
      step(15 * SEC);
      assert.equal(engine.alerts().length, 0);
      m.deletes += 580n;
      m.lastLen = 20; // 1000 → 19: 98% gone
      step(15 * SEC);
      const [a] = engine.alerts();
      assert.equal(a.state, 'firing');
      assert.equal(formatValue(a.value), '0.981');
      assert.equal(n.evaluations.at(-1)!.notices[0].annotations.summary, '0xc000010000 lost 0.981 of its elements');
      // Two minutes later the peak has left the window: resolved.
      for (let i = 0; i < 8; i++) step(15 * SEC);
      assert.equal(engine.alerts().length, 0);
      assert.equal(n.evaluations.at(-1)!.notices[0].reason, 'resolved');
    });

    it('ignores growth, and maps that never reached min_len', () => {
      const { source, step, engine } = setup(yaml);
      const grow = source.map({ mapAddr: '0x1', lastLen: 5, deletes: 1n });
      const small = source.map({ mapAddr: '0x2', lastLen: 90, deletes: 1n });
      step(0);
      grow.deletes += 1n;
      grow.lastLen = 5000;
      small.deletes += 89n;
      small.lastLen = 1;
      step(15 * SEC);
      assert.deepEqual(engine.alerts(), []);
    });

    it('sees a clear as emptying the map, from its largest clear length', () => {
      const { source, step, engine } = setup(yaml);
      const m = source.map({ lastLen: 10, deletes: 1n });
      step(0);
      m.clears += 1n;
      m.maxClearLen = 5000;
      m.lastLen = 5000; // the clear was the last operation: lastLen is its length before
      step(15 * SEC);
      assert.deepEqual(engine.alerts().map((a) => a.value), [1]);
    });

    it('takes lengths from events when they carry map.lenBefore (a fall within one interval)', () => {
      const { source, step, engine } = setup(yaml);
      const m = source.map({ lastLen: 2000, deletes: 1n });
      step(0);
      // 2000 deletes between two evaluations: the counters only see the last length.
      for (let len = 2000; len > 0; len -= 100) engine.observe(event({ lenBefore: len }));
      m.deletes += 2000n;
      m.lastLen = 1;
      step(15 * SEC);
      assert.deepEqual(engine.alerts().map((a) => a.value), [1]);
    });
  });

  describe('clear', () => {
    const yaml = `alerts:
${HOOK}  rules:
    - alert: BigClear
      clear: { larger_than: 1000, window: 1m }
      annotations: { summary: "cleared {{ $value }} elements of {{ $labels.map_type }} {{ $labels.map }}" }
`;

    it('finds large clears in the per-map counters while events carry no length', () => {
      const { source, step, engine, alerts } = setup(yaml);
      assert.equal(alertCounting(alerts).keepClears, true);
      const m = source.map({ mapAddr: '0xc0000a4120', lastLen: 10, deletes: 3n });
      const small = source.map({ mapAddr: '0xc0000b0000', lastLen: 10 });
      step(0);
      engine.observe(event({ op: 'clear', mapAddr: '0xc0000a4120' })); // no lenBefore: ignored
      m.clears += 1n;
      m.maxClearLen = 4000;
      m.lastLen = 4000;
      small.clears += 1n;
      small.maxClearLen = 999;
      step(15 * SEC);
      assert.deepEqual(
        engine.alerts().map((a) => [a.labels.map, a.value]),
        [['0xc0000a4120', 4000]],
      );
      // Active for the window after the clear, then resolved.
      for (let i = 0; i < 4; i++) step(15 * SEC);
      assert.equal(engine.alerts().length, 0);
    });

    it('uses clear events once they carry map.lenBefore', () => {
      const { source, step, engine, n } = setup(yaml);
      source.map({ mapAddr: '0xc0000a4120', lastLen: 10 });
      step(0);
      engine.observe(event({ op: 'clear', mapAddr: '0xc0000a4120', lenBefore: 1500, mapType: 'map[int64]*main.Item' }));
      engine.observe(event({ op: 'clear', mapAddr: '0xc0000a4120', lenBefore: 2500, mapType: 'map[int64]*main.Item' }));
      engine.observe(event({ op: 'clear', mapAddr: '0xc0000c0000', lenBefore: 1000 })); // not more than 1000
      engine.observe(event({ op: 'delete', mapAddr: '0xc0000c0000', lenBefore: 9000 }));
      step(15 * SEC);
      const notes = n.evaluations.at(-1)!.notices;
      assert.deepEqual(notes.map((x) => x.annotations.summary), ['cleared 2500 elements of map[int64]*main.Item 0xc0000a4120']);
      assert.deepEqual(Object.keys(notes[0].labels), ['alertname', 'service', 'pid', 'map_type', 'map']);
    });
  });

  describe('watched_keys', () => {
    const yaml = `alerts:
${HOOK}  rules:
    - alert: WatchedKey
      watched_keys: { keys: ["sess-admin", 42], hashes: ["00000000000000ff"], window: 1m, group_by: [caller] }
      annotations: { summary: "{{ $labels.key }} deleted {{ $value }} time(s) at {{ $labels.caller }}" }
`;

    it('lists what the tracer must always record', () => {
      const { alerts } = setup(yaml);
      assert.deepEqual(watchedKeys(alerts), { values: ['sess-admin', '42'], hashes: ['00000000000000ff'] });
      assert.deepEqual(alertCounting(alerts).watchKeys, ['sess-admin', '42']);
    });

    it('fires on any delete of a watched key, by its value, and resolves after the window', () => {
      const { step, engine, n } = setup(yaml);
      step(0);
      const s = hashHex(hashKey('string', 'sess-admin'));
      const i64 = hashHex(hashKey('int64', '42'));
      engine.observe(event({ keyHash: s }));
      engine.observe(event({ keyHash: s }));
      engine.observe(event({ keyHash: i64, caller: { function: 'main.drop', file: '/src/x.go', line: 9 } }));
      engine.observe(event({ keyHash: '00000000000000ff' }));
      engine.observe(event({ keyHash: hashHex(hashKey('string', 'sess-other')) }));
      engine.observe(event({ op: 'clear' }));
      step(15 * SEC);
      const got = n.evaluations.at(-1)!.notices.map((x) => x.annotations.summary).sort();
      assert.deepEqual(got, ['00000000000000ff deleted 1 time(s) at store.go:57', '42 deleted 1 time(s) at x.go:9', 'sess-admin deleted 2 time(s) at store.go:57']);
      for (let i = 0; i < 4; i++) step(15 * SEC);
      assert.equal(engine.alerts().length, 0);
      assert.equal(n.notices().filter((x) => x.startsWith('resolved')).length, 3);
    });
  });

  describe('labels, templates and routing', () => {
    it('adds external labels, routes rules to their notifiers only', () => {
      const { source, step, notifiers } = setup(`alerts:
  external_labels: { cluster: prod }
  notifiers:
    webhook/a: { url: "http://127.0.0.1:1/a" }
    webhook/b: { url: "http://127.0.0.1:1/b" }
  rules:
    - alert: ToA
      delete_rate: { window: 1m, threshold: 0, group_by: [] }
      notifiers: [webhook/a]
    - alert: ToAll
      delete_rate: { window: 1m, threshold: 0, group_by: [service] }
      labels: { team: maps }
`);
      const s = source.site({ count: 0n });
      step(0);
      s.count += 1n;
      step(15 * SEC);
      const [a, b] = notifiers;
      assert.deepEqual(a.notices().sort(), ['firing ToA 1', 'firing ToAll 1']);
      assert.deepEqual(b.notices(), ['firing ToAll 1']);
      assert.deepEqual(b.evaluations[0].notices[0].labels, { alertname: 'ToAll', service: 'svc', team: 'maps', cluster: 'prod' });
      assert.deepEqual(a.evaluations[0].firing.map((x) => x.rule).sort(), ['ToA', 'ToAll']);
    });

    it('renders {{ $labels.NAME }} and {{ $value }}, with or without spaces', () => {
      assert.equal(renderTemplate('{{$labels.a}}/{{ $labels.b }}={{  $value  }}!', { a: 'x', b: 'y' }, 0.123456789), 'x/y=0.123457!');
      assert.equal(renderTemplate('{{ $labels.missing }}.', {}, 1), '.');
      assert.equal(formatValue(150), '150');
      assert.equal(formatValue(2 / 3), '0.666667');
      assert.match(parseTemplate('{{ .Labels.x }}') as string, /unsupported template/);
      assert.match(parseTemplate('{{ $value | humanize }}') as string, /unsupported template/);
      assert.match(parseTemplate('oops {{ $value') as string, /without its "}}"/);
      assert.match(parseTemplate('{{- $value }}') as string, /unsupported template/);
    });

    it('bounds the series a rule holds', () => {
      const { source, step, engine, logs } = setup(`alerts:
  rules:
    - alert: Many
      delete_rate: { window: 1m, threshold: 0, group_by: [map] }
`);
      const rows = Array.from({ length: 10_005 }, (_, i) => source.map({ mapAddr: `0x${i.toString(16)}` }));
      step(0);
      for (const r of rows) r.deletes += 1n;
      step(15 * SEC);
      assert.equal(engine.alerts().length, 10_000);
      assert.ok(logs.some((l) => /holds its limit of series; 5 more ignored/.test(l)), logs.join('\n'));
    });

    it('never lets an event throw into the tracer', () => {
      const { engine } = setup(`alerts:
  rules:
    - alert: W
      watched_keys: { keys: [a] }
`);
      const bad = event({}) as unknown as { key: unknown; caller: unknown };
      bad.caller = null;
      bad.key = { hash: hashHex(hashKey('string', 'a')) };
      assert.doesNotThrow(() => engine.observe(bad as never));
    });
  });
});
