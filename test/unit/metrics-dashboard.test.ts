/**
 * config/grafana-dashboard.json: a Grafana dashboard that parses, is laid out sanely, and whose
 * every PromQL expression (and template variable query) uses only metrics and labels the
 * endpoint exposes (receiver/metrics/families.ts); each expression is also valid PromQL for
 * Prometheus's own parser (promtool check rules), Grafana's variables substituted.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exposedSeriesNames } from '../../receiver/metrics/families';
import { packageRoot } from '../../receiver/util/paths';
import { labelsBySeries, promqlRefs, substituteGrafana } from '../helpers/prometheus';

const FILE = path.join(packageRoot(), 'config', 'grafana-dashboard.json');

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string; datasource?: { type: string; uid: string } }[];
  panels?: Panel[];
}

function dashboard(): { panels: Panel[]; templating: { list: { name: string; type: string; query: unknown }[] }; uid: string; title: string; schemaVersion: number } {
  return JSON.parse(fs.readFileSync(FILE, 'utf8'));
}

function allPanels(): Panel[] {
  const out: Panel[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      out.push(p);
      if (p.panels) walk(p.panels);
    }
  };
  walk(dashboard().panels);
  return out;
}

function expressions(): { panel: string; expr: string }[] {
  return allPanels().flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
}

describe('config/grafana-dashboard.json', () => {
  it('is a Grafana dashboard: title, uid, schema version, a Prometheus datasource variable, panels with unique ids', () => {
    const d = dashboard();
    assert.equal(typeof d.title, 'string');
    assert.match(d.uid, /^[a-zA-Z0-9_-]{1,40}$/);
    assert.ok(d.schemaVersion >= 30);
    const ds = d.templating.list.find((v) => v.type === 'datasource');
    assert.ok(ds, 'a datasource variable');
    assert.equal(ds.query, 'prometheus');
    const ids = allPanels().map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const p of allPanels()) {
      assert.ok(p.title, `panel ${p.id} has a title`);
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `panel "${p.title}" fits the 24-column grid`);
      if (p.type === 'row') continue;
      assert.ok(p.targets?.length, `panel "${p.title}" has queries`);
      for (const t of p.targets!) {
        assert.equal((t.datasource ?? p.datasource)?.uid, '${datasource}', `panel "${p.title}" ${t.refId} uses the datasource variable`);
      }
      const refIds = p.targets!.map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `panel "${p.title}": refIds are unique`);
    }
  });

  it('has panels for delete and clear rates by map type and call site, the hottest maps\' length, and the tracer\'s health', () => {
    const exprs = expressions().map((e) => e.expr);
    const has = (re: RegExp, what: string) => assert.ok(exprs.some((e) => re.test(e)), `no panel for ${what}`);
    has(/sum by \(map_type\) \(rate\(go_map_delete_total/, 'delete rate by map type');
    has(/sum by \(map_type\) \(rate\(go_map_clear_total/, 'clear rate by map type');
    has(/by \([^)]*caller[^)]*\) \(rate\(go_map_delete_total/, 'delete rate by call site');
    has(/by \([^)]*caller[^)]*\) \(rate\(go_map_clear_total/, 'clear rate by call site');
    has(/go_map_len/, 'map length');
    for (const h of ['events_lost_total', 'ring_buffer_usage_ratio', 'export_queue_usage_ratio', 'probes_attached', 'attach_errors_total', 'traced_processes']) {
      has(new RegExp(`map_delete_tracer_${h}`), h);
    }
  });

  it('every PromQL expression and variable query uses only metrics and labels the endpoint exposes', () => {
    const series = labelsBySeries();
    const exposed = new Set(exposedSeriesNames());
    const queries = [
      ...expressions(),
      ...dashboard()
        .templating.list.filter((v) => v.type === 'query')
        .map((v) => {
          const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
          // label_values(selector, label): the selector and the label
          const m = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(q);
          assert.ok(m, `variable ${v.name}: label_values(selector, label)`);
          return { panel: `variable ${v.name}`, expr: `sum by (${m[2]}) (${m[1]})` };
        }),
    ];
    assert.ok(queries.length > 20);
    for (const { panel, expr } of queries) {
      const refs = promqlRefs(expr);
      assert.ok(refs.metrics.length > 0, `${panel}: no metric in ${expr}`);
      for (const m of refs.metrics) assert.ok(exposed.has(m), `${panel}: ${m} is not exposed (${expr})`);
      const allowed = new Set(refs.metrics.flatMap((m) => [...series.get(m)!]));
      for (const l of refs.labels) assert.ok(allowed.has(l), `${panel}: label ${l} is not on ${refs.metrics.join(', ')} (${expr})`);
    }
  });

  it('the reference extractor itself finds what it should', () => {
    assert.deepEqual(promqlRefs('topk(10, sum by (service, caller) (rate(go_map_delete_total{service=~"a(b)"}[5m])))'), {
      metrics: ['go_map_delete_total'],
      labels: ['service', 'service', 'caller'],
    });
    assert.deepEqual(promqlRefs('histogram_quantile(0.9, sum by (le) (rate(x_bucket[1m]))) / on (job) y or vector(0)').metrics, ['x_bucket', 'y']);
  });

  it('every expression is valid PromQL for promtool (Grafana variables substituted)', function () {
    const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      if (process.env.CI === 'true') throw new Error('promtool is missing under CI (Debian package prometheus)');
      this.skip();
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-dash-'));
    try {
      const rules = expressions().map((e, i) => `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(substituteGrafana(e.expr))}`);
      const file = path.join(dir, 'rules.yml');
      fs.writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `promtool check rules:\n${r.stdout}${r.stderr}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
