/**
 * The `metrics:` section (receiver/config/metrics.ts) and `--metrics-endpoint`: defaults, every
 * key, and mistakes as one line `FILE:LINE:COL: KEY.PATH: problem (fix)`.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCommand } from '../../receiver/cli/run';
import { watchCommand } from '../../receiver/cli/watch';
import { METRICS_DEFAULTS, checkMetricsEndpoint } from '../../receiver/config/metrics';
import { defaultConfig } from '../../receiver/config/load';
import { UserError } from '../../receiver/util/errors';
import { PIPELINE, load, loadError, yaml } from './config-helpers';

const RECV = 'receivers:\n  mapdelete:\nexporters:\n  debug:\n' + PIPELINE;

/** A config whose `metrics:` section is `body` (indented two spaces, one setting a line). */
const withMetrics = (body: string) => `${RECV}metrics:\n${body}`;

describe('config: metrics', () => {
  it('no section: no endpoint (config.metrics is undefined), in files and in the embedded default', () => {
    assert.equal(load(RECV).config.metrics, undefined);
    assert.equal(defaultConfig({}).metrics, undefined);
  });

  it('an empty section takes every default: 127.0.0.1:9464/metrics (loopback), 500 call sites, 100 map types, 20 maps, no timing', () => {
    const m = load(`${RECV}metrics:\n`).config.metrics;
    assert.deepEqual(m, {
      enabled: true,
      endpoint: '127.0.0.1:9464',
      path: '/metrics',
      maxCallSites: 500,
      maxMapTypes: 100,
      maxMaps: 20,
      timing: false,
    });
    assert.deepEqual(m, METRICS_DEFAULTS);
  });

  it('reads every key', () => {
    const m = load(
      withMetrics(yaml`
        enabled: false
        endpoint: 127.0.0.1:19464
        path: /prom/metrics
        max_call_sites: 50
        max_map_types: 5
        max_maps: 0
        timing: true
      `.replace(/^/gm, '  ')),
    ).config.metrics;
    assert.deepEqual(m, { enabled: false, endpoint: '127.0.0.1:19464', path: '/prom/metrics', maxCallSites: 50, maxMapTypes: 5, maxMaps: 0, timing: true });
  });

  it('takes ${env:…} values, converted to the setting\'s type', () => {
    const m = load(withMetrics('  endpoint: ${env:METRICS_AT:-:9464}\n  max_maps: ${env:MAPS}\n  timing: ${env:TIMING}\n'), { MAPS: '7', TIMING: 'true' }).config.metrics!;
    assert.equal(m.endpoint, ':9464');
    assert.equal(m.maxMaps, 7);
    assert.equal(m.timing, true);
  });

  it('accepts IPv6 and every-interface endpoints', () => {
    for (const e of ['"[::]:9464"', '"[::1]:9464"', ':9464', 'localhost:9464']) {
      assert.ok(load(withMetrics(`  endpoint: ${e}\n`)).config.metrics, e);
    }
  });

  const errors: { name: string; body: string; at: string; rest: RegExp }[] = [
    { name: 'a misspelt key', body: '  endpont: :9464\n', at: '11:3: metrics.endpont', rest: /^unknown key "endpont" \(did you mean "endpoint"\?\)$/ },
    { name: 'top_call_sites', body: '  top_call_sites: 10\n', at: '11:3: metrics.top_call_sites', rest: /^unknown key "top_call_sites" \(did you mean "max_call_sites"\?\)$/ },
    { name: 'port instead of endpoint', body: '  port: 9464\n', at: '11:3: metrics.port', rest: /\(write endpoint: HOST:PORT, e\.g\. endpoint: 0\.0\.0\.0:9464\)$/ },
    { name: 'an endpoint with a scheme', body: '  endpoint: http://0.0.0.0:9464\n', at: '11:13: metrics.endpoint', rest: /^expected host:port .*, got "http:\/\/0\.0\.0\.0:9464" \(write host:port without a scheme\)$/ },
    { name: 'an endpoint with a path', body: '  endpoint: 0.0.0.0:9464/metrics\n', at: '11:13: metrics.endpoint', rest: /\(put the path under metrics\.path\)$/ },
    { name: 'a bare port', body: '  endpoint: 9464\n', at: '11:13: metrics.endpoint', rest: /got 9464 \(for every interface on that port, write ":9464"\)$/ },
    { name: 'a port over 65535', body: '  endpoint: 0.0.0.0:70000\n', at: '11:13: metrics.endpoint', rest: /^expected host:port/ },
    { name: 'a path without /', body: '  path: metrics\n', at: '11:9: metrics.path', rest: /^expected a URL path like \/metrics, got "metrics" \(start it with "\/": \/metrics\)$/ },
    { name: 'a path with a query', body: '  path: /metrics?x=1\n', at: '11:9: metrics.path', rest: /\(no spaces, "\?" or "#"\)$/ },
    { name: 'max_call_sites 0', body: '  max_call_sites: 0\n', at: '11:19: metrics.max_call_sites', rest: /^expected an integer from 1 to 100000, got 0$/ },
    { name: 'max_maps negative', body: '  max_maps: -1\n', at: '11:13: metrics.max_maps', rest: /^expected an integer from 0 to 10000, got -1$/ },
    { name: 'max_map_types a string', body: '  max_map_types: "5"\n', at: '11:18: metrics.max_map_types', rest: /\(remove the quotes\)$/ },
    { name: 'enabled yes', body: '  enabled: yes\n', at: '11:12: metrics.enabled', rest: /^expected true or false, got "yes"$/ },
    { name: 'a list', body: '  - endpoint: :9464\n', at: '11:3: metrics', rest: /^expected a map of metrics settings/ },
  ];
  for (const e of errors) {
    it(`one line for ${e.name}`, () => {
      const err = loadError(withMetrics(e.body));
      assert.ok(err.message.startsWith(`tracer.yaml:${e.at}: `), err.message);
      assert.match(err.message.slice(`tracer.yaml:${e.at}: `.length), e.rest);
    });
  }

  it('a top-level prometheus: section says where the settings go', () => {
    const err = loadError(`${RECV}prometheus:\n  endpoint: :9464\n`);
    assert.equal(err.message, 'tracer.yaml:10:1: prometheus: unknown key "prometheus" (the Prometheus endpoint is configured under metrics:, see docs/metrics.md)');
  });
});

describe('--metrics-endpoint', () => {
  it('accepts host:port and refuses what is not, saying why', () => {
    assert.equal(checkMetricsEndpoint('127.0.0.1:9464'), undefined);
    assert.equal(checkMetricsEndpoint(':9464'), undefined);
    assert.equal(checkMetricsEndpoint('[::1]:9464'), undefined);
    assert.match(checkMetricsEndpoint('9464')!, /^expected host:port/);
    assert.match(checkMetricsEndpoint('http://x:1')!, /write host:port without a scheme/);
    assert.match(checkMetricsEndpoint('x:1/metrics')!, /metrics\.path/);
  });

  it('run and watch refuse a bad value before tracing anything', async () => {
    await assert.rejects(runCommand(['--pid', String(process.pid), '--metrics-endpoint', 'nope']), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /^run: --metrics-endpoint: expected host:port .*got "nope"$/);
      return true;
    });
    await assert.rejects(watchCommand(['--pid', String(process.pid), '--metrics-endpoint', 'http://a:1']), /^UserError: watch: --metrics-endpoint: .*without a scheme/);
  });

  it('run: a port in use is one line that names the setting to change', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as net.AddressInfo).port;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-metrics-cfg-'));
    try {
      const file = path.join(dir, 'tracer.yaml');
      fs.writeFileSync(file, `${RECV}metrics:\n  endpoint: 127.0.0.1:${port}\n`);
      await assert.rejects(runCommand(['--config', file, '--pid', String(process.pid)]), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.message, `metrics: cannot listen on 127.0.0.1:${port}: address in use (set metrics.endpoint)`);
        return true;
      });
      await assert.rejects(runCommand(['--pid', String(process.pid), '--metrics-endpoint', `127.0.0.1:${port}`]), /address in use \(set --metrics-endpoint\)/);
    } finally {
      busy.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
