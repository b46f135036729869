/**
 * `map-delete-tracer rules` as a user runs it: listing the rules of a config file, writing
 * Prometheus rules with --prometheus (-o FILE) that promtool accepts, notes on stderr for the
 * rules left out, and a broken rule failing with one line and exit code 2.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../receiver/util/paths';
import { PROMTOOL, requireTool } from '../helpers/alerts';

const CLI = path.join(packageRoot(), 'dist', 'receiver', 'cli.js');

const CONFIG = `receivers:
  mapdelete:
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [mapdelete]
      exporters: [debug]
alerts:
  notifiers:
    alertmanager:
      url: http://127.0.0.1:9093
  rules:
    - alert: MapHammered
      delete_rate: { window: 5m, threshold: 100, group_by: [map] }
      for: 1m
      labels: { severity: page }
      annotations:
        summary: "{{ $labels.map_type }} at {{ $labels.map }} lost {{ $value }} entries in 5m"
    - alert: MassDeletion
      mass_deletion: { window: 10m, fraction: 0.9 }
    - alert: WatchedSession
      watched_keys: { keys: ["sess-admin"] }
`;

describe('alerts e2e: the rules command', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-rules-cli-'));
    fs.writeFileSync(path.join(dir, 'tracer.yaml'), CONFIG);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lists the rules of a config file', () => {
    const out = execFileSync(process.execPath, [CLI, 'rules', '--config', path.join(dir, 'tracer.yaml')], { encoding: 'utf8' });
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^MapHammered \(.*tracer\.yaml:15:7\): more than 100 deletes within 5m, per map, for 1m; notifies alertmanager$/);
    assert.match(lines[1], /^MassDeletion \(.*\): a map \(of at least 100 elements\) losing 90% or more within 10m; notifies alertmanager$/);
  });

  it('--prometheus -o FILE writes rules promtool accepts, with a note for each rule left out', function () {
    requireTool(this, PROMTOOL, 'prometheus');
    const out = path.join(dir, 'rules.yml');
    const r = spawnSync(process.execPath, [CLI, 'rules', '--prometheus', '--config', path.join(dir, 'tracer.yaml'), '-o', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    const notes = r.stderr.trimEnd().split('\n');
    assert.equal(notes.length, 2, r.stderr);
    assert.match(notes[0], /^map-delete-tracer: rules: skipped WatchedSession \(.*tracer\.yaml:23:7\): watches key values: the exported metrics have no key label; it runs in the tracer only$/);
    assert.equal(notes[1], 'map-delete-tracer: rules: 2 Prometheus rule(s) written, 1 skipped');
    const check = spawnSync(PROMTOOL, ['check', 'rules', out], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /SUCCESS: 2 rules found/);
    // To stdout without -o: the same text.
    const stdout = execFileSync(process.execPath, [CLI, 'rules', '--prometheus', '--config', path.join(dir, 'tracer.yaml')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(stdout, fs.readFileSync(out, 'utf8'));
  });

  it('fails with one line and exit code 2 on a broken rule', () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, CONFIG.replace('threshold: 100', 'threshold: lots'));
    const r = spawnSync(process.execPath, [CLI, 'rules', '--prometheus', '--config', bad], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `map-delete-tracer: ${bad}:16:45: alerts.rules[0].delete_rate.threshold: expected a number of operations, 0 or more, got "lots"\n`);
  });

  it('needs --config', () => {
    const r = spawnSync(process.execPath, [CLI, 'rules', '--prometheus'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /rules: --config FILE is required/);
  });
});
