/**
 * The docker-compose stack's Prometheus (docker-compose.yml, config/prometheus.yml): it scrapes
 * the tracer where the tracer serves its metrics — the host, port and path the tracer's command
 * line and config give, as the tracer's own loader reads them — with a config Prometheus accepts.
 * (test/unit/compose.test.ts checks the compose file as a whole, with the real Compose parser.)
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { loadConfigFile } from '../../receiver/config/load';
import { METRICS_DEFAULTS } from '../../receiver/config/metrics';
import { parseEndpoint } from '../../receiver/otlp/server';
import { packageRoot } from '../../receiver/util/paths';
import { PROMTOOL_BIN } from '../helpers/prometheus';

const ROOT = packageRoot();
type Obj = Record<string, unknown>;

function compose(): { services: Record<string, Obj> } {
  return YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'));
}

function prometheusConfig(): { scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[] } {
  return YAML.parse(fs.readFileSync(path.join(ROOT, 'config', 'prometheus.yml'), 'utf8'));
}

/** Where the compose tracer serves metrics: --metrics-endpoint, else its config's metrics section. */
function tracerMetrics(): { port: number; host: string; path: string } {
  const t = compose().services.tracer;
  const cmd = t.command as string[];
  const mount = ((t.volumes as string[]) ?? []).find((v) => v.split(':')[1] === cmd[cmd.indexOf('--config') + 1]);
  assert.ok(mount, 'the tracer config is mounted');
  const env = Object.fromEntries(Object.entries((t.environment as Obj) ?? {}).map(([k, v]) => [k, String(v)]));
  const cfg = loadConfigFile(path.join(ROOT, mount.split(':')[0]), env).config;
  const flag = cmd.indexOf('--metrics-endpoint');
  const endpoint = flag >= 0 ? cmd[flag + 1] : cfg.metrics?.enabled ? cfg.metrics.endpoint : undefined;
  assert.ok(endpoint, 'the compose tracer serves metrics (--metrics-endpoint or a metrics: section)');
  const { host, port } = parseEndpoint(endpoint);
  return { host, port, path: cfg.metrics?.path ?? METRICS_DEFAULTS.path };
}

describe('docker-compose: Prometheus scrapes the tracer', () => {
  it('the tracer serves metrics on every interface of its container, unpublished', () => {
    const m = tracerMetrics();
    assert.ok(['0.0.0.0', '::'].includes(m.host), `the tracer listens on ${m.host}: other containers could not reach it`);
    assert.equal(compose().services.tracer.ports, undefined);
  });

  it('config/prometheus.yml scrapes tracer:PORT at the tracer\'s path', () => {
    const m = tracerMetrics();
    const job = prometheusConfig().scrape_configs.find((j) => j.job_name === 'map-delete-tracer');
    assert.ok(job, 'a map-delete-tracer job');
    assert.equal(job.metrics_path ?? '/metrics', m.path);
    assert.deepEqual(job.static_configs.flatMap((s) => s.targets), [`tracer:${m.port}`]);
  });

  it('the prometheus service runs that file, pinned, with its UI on this machine only', () => {
    const p = compose().services.prometheus;
    assert.ok(p, 'a prometheus service');
    assert.match(String(p.image), /^prom\/prometheus:v\d+\.\d+\.\d+$/);
    const cmd = p.command as string[];
    const file = cmd.find((a) => a.startsWith('--config.file='))?.slice('--config.file='.length);
    assert.ok(file, '--config.file');
    assert.ok(((p.volumes as string[]) ?? []).includes(`./config/prometheus.yml:${file}:ro`), `config/prometheus.yml is mounted at ${file}`);
    assert.deepEqual(p.ports, ['127.0.0.1:9090:9090']);
    assert.deepEqual(Object.keys((p.depends_on as Obj) ?? {}), ['tracer']);
  });

  it('config/prometheus.yml passes promtool check config', function () {
    if (spawnSync(PROMTOOL_BIN, ['--version']).error) {
      if (process.env.CI === 'true') throw new Error('promtool is missing under CI');
      this.skip();
    }
    const r = spawnSync(PROMTOOL_BIN, ['check', 'config', '--syntax-only', path.join(ROOT, 'config', 'prometheus.yml')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });
});
