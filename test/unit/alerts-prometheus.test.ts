/**
 * `rules --prometheus`: the PromQL written for each kind of rule, the rules left out, and
 * Debian's promtool accepting the file (`check rules`) and agreeing on when the written rules
 * fire over synthetic series of the exported metrics (`test rules`).
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { globToRe2, promDuration, prometheusRules } from '../../receiver/alerts/prometheus';
import { PROMTOOL, loadAlerts, requireTool } from '../helpers/alerts';

const ALERTS = `alerts:
  evaluation_interval: 15s
  external_labels: { cluster: prod }
  rules:
    - alert: MapHammered
      delete_rate: { window: 5m, threshold: 100, group_by: [map] }
      for: 1m
      labels: { severity: page }
      annotations: { summary: "{{ $labels.map_type }} {{ $labels.map }} hammered" }
    - alert: HotCallSite
      delete_rate:
        window: 1m
        threshold: 1000
        op: any
        group_by: [service, caller, function]
        match: { map_type: "map[string]*main.*", caller: ["store.go:*", "cache.go:12"] }
    - alert: TypeClears
      delete_rate: { window: 90s, threshold: 5, op: clear, group_by: [] }
    - alert: MassDeletion
      mass_deletion: { window: 10m, fraction: 0.9, min_len: 100, match: { service: checkout } }
      annotations: { summary: "{{ $labels.map }} lost {{ $value }}" }
    - alert: BigClear
      clear: { larger_than: 10000 }
    - alert: ClearBySite
      clear: { larger_than: 10, group_by: [caller] }
    - alert: WatchedSession
      watched_keys: { keys: ["sess-admin"] }
    - alert: HotKey
      delete_rate: { threshold: 50, group_by: [key_hash] }
    - alert: PerProcess
      delete_rate: { threshold: 50, group_by: [pid, map_type] }
      annotations: { summary: "{{ $labels.pid }}" }
`;

describe('alerts: rules --prometheus', () => {
  it('writes PromQL over the exported metrics, and leaves out what they cannot express', () => {
    const { alerts } = loadAlerts(ALERTS);
    const r = prometheusRules(alerts, 'tracer.yaml');
    assert.equal(r.written, 5);
    assert.equal(r.skipped, 4);
    const exprs = [...r.text.matchAll(/^ {8}expr: (.*)$/gm)].map((m) => m[1]);
    assert.deepEqual(exprs, [
      'sum by (service, pid, map_type, map) (increase(go_map_deletes_by_map_total[5m])) > 100',
      'sum by (service, caller, function) (increase({__name__=~"go_map_delete_total|go_map_clear_total", map_type=~"map\\\\[string\\\\].*main\\\\..*", caller=~"store\\\\.go:.*|cache\\\\.go:12"}[1m])) > 1000',
      'sum(increase(go_map_clear_total[1m30s])) > 5',
      '(max_over_time(go_map_len{service="checkout"}[10m]) - go_map_len{service="checkout"}) / max_over_time(go_map_len{service="checkout"}[10m]) >= 0.9 and max_over_time(go_map_len{service="checkout"}[10m]) >= 100',
      'max by (service, pid, map_type, map) (max_over_time(go_map_clear_max_len[5m])) > 10000 and on (service, pid, map_type, map) sum by (service, pid, map_type, map) (increase(go_map_clears_by_map_total[5m])) > 0',
    ]);
    assert.ok(!r.text.includes('alert: PerProcess'));
    assert.deepEqual(r.notes, [
      'skipped ClearBySite (tracer.yaml:33:7): grouped by caller or function: the per-map metrics have no call site; it runs in the tracer only',
      'skipped WatchedSession (tracer.yaml:35:7): watches key values: the exported metrics have no key label; it runs in the tracer only',
      'skipped HotKey (tracer.yaml:37:7): grouped by key_hash: the exported metrics have no key label (it would be unbounded); it runs in the tracer only',
      'skipped PerProcess (tracer.yaml:39:7): grouped by pid: the per-call-site metrics have no pid label (group by map, or drop pid); it runs in the tracer only',
    ]);
    assert.match(r.text, /^ {6}# skipped HotKey \(tracer\.yaml:37:7\): /m);
    assert.match(r.text, /^ {4}interval: 15s$/m);
    assert.ok(!r.text.includes('cluster'), 'external labels are not copied');
    // The annotation is copied verbatim.
    assert.match(r.text, /summary: "\{\{ \$labels\.map_type \}\} \{\{ \$labels\.map \}\} hammered"/);
  });

  it('writes an empty group for a file without alerts', () => {
    const r = prometheusRules(undefined, 'x.yaml');
    assert.match(r.text, /^ {4}rules: \[\]$/m);
    assert.equal(r.written, 0);
  });

  it('formats durations and globs for Prometheus', () => {
    assert.equal(promDuration(90_000), '1m30s');
    assert.equal(promDuration(1500), '1s500ms');
    assert.equal(promDuration(86_400_000 + 3_600_000), '1d1h');
    assert.equal(globToRe2('map[string]*main.User'), 'map\\[string\\].*main\\.User');
    assert.equal(globToRe2('a?.go:1*'), 'a.\\.go:1.*');
    assert.ok(new RegExp(`^${globToRe2('map[string]*main.*')}$`).test('map[string]*main.Session'));
  });

  describe('with promtool', () => {
    let dir: string;
    before(function () {
      requireTool(this, PROMTOOL, 'prometheus');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-promrules-'));
    });
    after(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('promtool check rules accepts the file', () => {
      const file = path.join(dir, 'rules.yml');
      fs.writeFileSync(file, prometheusRules(loadAlerts(ALERTS).alerts, 'tracer.yaml').text);
      const out = execFileSync(PROMTOOL, ['check', 'rules', file], { encoding: 'utf8' });
      assert.match(out, /SUCCESS: 5 rules found/);
    });

    it('promtool test rules: the written rules fire over synthetic series as the tracer\'s do', () => {
      const file = path.join(dir, 'rules.yml');
      fs.writeFileSync(file, prometheusRules(loadAlerts(ALERTS).alerts, 'tracer.yaml').text);
      const m = 'service="checkout",pid="100",map_type="map[string]*main.Session",map="0xc0000a4120"';
      const labels = { service: 'checkout', pid: '100', map_type: 'map[string]*main.Session', map: '0xc0000a4120' };
      const test = {
        rule_files: [file],
        evaluation_interval: '15s',
        tests: [
          {
            interval: '15s',
            input_series: [
              // 10 deletes every 15 s: 200 in 5 minutes.
              { series: `go_map_deletes_by_map_total{${m}}`, values: '0+10x60' },
              // 1000 elements, then 20 from 3 minutes on.
              { series: `go_map_len{${m}}`, values: '1000x11 20x40' },
              // cleared at 1m with 20000 elements.
              { series: `go_map_clear_max_len{${m}}`, values: '_x3 20000x50' },
              { series: `go_map_clears_by_map_total{${m}}`, values: '0x3 1x50' },
            ],
            alert_rule_test: [
              { eval_time: '30s', alertname: 'MapHammered', exp_alerts: [] },
              {
                eval_time: '10m',
                alertname: 'MapHammered',
                exp_alerts: [{ exp_labels: { severity: 'page', ...labels }, exp_annotations: { summary: 'map[string]*main.Session 0xc0000a4120 hammered' } }],
              },
              { eval_time: '2m', alertname: 'MassDeletion', exp_alerts: [] },
              { eval_time: '4m', alertname: 'MassDeletion', exp_alerts: [{ exp_labels: labels, exp_annotations: { summary: '0xc0000a4120 lost 0.98' } }] },
              { eval_time: '2m', alertname: 'BigClear', exp_alerts: [{ exp_labels: labels }] },
              { eval_time: '10m', alertname: 'BigClear', exp_alerts: [] },
            ],
          },
        ],
      };
      const testFile = path.join(dir, 'test.yml');
      fs.writeFileSync(testFile, JSON.stringify(test, null, 1));
      const r = spawnSync(PROMTOOL, ['test', 'rules', testFile], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /SUCCESS/);
    });
  });
});
