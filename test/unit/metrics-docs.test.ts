/**
 * docs/metrics.md and docs/configuration.md against the code: every metric family and every
 * `metrics:` key is described, nothing stale is, the example section loads, and every PromQL query
 * in docs/metrics.md is valid for promtool and uses only exposed metrics and labels.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FAMILIES, exposedSeriesNames, type Family } from '../../receiver/metrics/families';
import { METRICS_DEFAULTS } from '../../receiver/config/metrics';
import { packageRoot } from '../../receiver/util/paths';
import { labelsBySeries, promqlRefs } from '../helpers/prometheus';
import { PIPELINE, load } from './config-helpers';

const ROOT = packageRoot();
const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), 'utf8');
const KEYS = ['enabled', 'endpoint', 'path', 'max_call_sites', 'max_map_types', 'max_maps', 'timing'];

function promqlBlocks(doc: string): string[] {
  return [...doc.matchAll(/```promql\n([^]*?)```/g)].flatMap((m) =>
    m[1]
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#')),
  );
}

describe('docs/metrics.md', () => {
  const doc = read('docs/metrics.md');

  it('describes every metric family with its type and labels', () => {
    for (const f of Object.values(FAMILIES) as Family[]) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${f.name}\` |`));
      assert.ok(row, `no table row for ${f.name}`);
      const cells = row.split('|').map((c) => c.trim());
      assert.equal(cells[2], f.type, `${f.name}: type`);
      const labels = [...cells[3].matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
      assert.deepEqual(labels, [...f.labels], `${f.name}: labels`);
    }
  });

  it('names no metric the endpoint does not expose', () => {
    const known = new Set([...exposedSeriesNames(), ...(Object.values(FAMILIES) as Family[]).map((f) => f.name)]);
    for (const m of doc.matchAll(/\b((?:go_map|map_delete_tracer)_[a-z0-9_]+)/g)) {
      assert.ok(known.has(m[1]) || m[1] === 'go_map_', `docs/metrics.md names ${m[1]}`);
    }
  });

  it('describes every metrics key with its default, and its example section loads to the defaults', () => {
    for (const k of KEYS) assert.match(doc, new RegExp(`\\| \`${k}\` \\|`), `key ${k}`);
    const block = /```yaml\n(metrics:\n[^]*?)```/.exec(doc);
    assert.ok(block, 'a yaml block with the metrics section');
    const cfg = load(`receivers:\n  mapdelete:\nexporters:\n  debug:\n${PIPELINE}${block[1]}`).config.metrics;
    assert.deepEqual(cfg, METRICS_DEFAULTS);
  });

  it('its PromQL queries use only exposed metrics and labels, and promtool parses them', function () {
    const queries = promqlBlocks(doc);
    assert.ok(queries.length >= 8);
    const series = labelsBySeries();
    for (const q of queries) {
      const refs = promqlRefs(q);
      assert.ok(refs.metrics.length, q);
      for (const m of refs.metrics) assert.ok(series.has(m), `${m} in ${q}`);
      const allowed = new Set(refs.metrics.flatMap((m) => [...series.get(m)!]));
      for (const l of refs.labels) assert.ok(allowed.has(l), `label ${l} in ${q}`);
    }
    if (spawnSync('promtool', ['--version']).error) {
      if (process.env.CI === 'true') throw new Error('promtool is missing under CI');
      this.skip();
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-docq-'));
    try {
      const file = path.join(dir, 'rules.yml');
      const rules = queries.map((q, i) => `      - record: docs:q_${i}\n        expr: ${JSON.stringify(q)}`);
      fs.writeFileSync(file, `groups:\n  - name: docs\n    rules:\n${rules.join('\n')}\n`);
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('docs/configuration.md: metrics', () => {
  it('describes every metrics key', () => {
    const doc = read('docs/configuration.md');
    for (const k of KEYS) assert.match(doc, new RegExp(`\`metrics\\.${k}\``), `metrics.${k}`);
    assert.match(doc, /\[metrics\.md\]\(metrics\.md\)/);
  });
});
