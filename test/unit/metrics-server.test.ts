/**
 * The endpoint's HTTP side (receiver/metrics/server.ts): GET/HEAD on the path, 404 and 405
 * elsewhere, Prometheus's content type, scrapes that read the source when they happen, and a
 * port in use as one line naming the setting.
 */
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { MetricsServer } from '../../receiver/metrics/server';
import { startMetricsEndpoint } from '../../receiver/metrics/endpoint';
import { METRICS_DEFAULTS } from '../../receiver/config/metrics';
import { UserError } from '../../receiver/util/errors';
import { FakeCounterSource, parseExposition, pick } from '../helpers/fake-counter-source';

const LIMITS = { maxCallSites: 10, maxMapTypes: 10, maxMaps: 10 };

describe('metrics: HTTP endpoint', () => {
  let server: MetricsServer;
  let src: FakeCounterSource;
  let base: string;

  before(async () => {
    server = new MetricsServer({ endpoint: '127.0.0.1:0', path: '/metrics', limits: LIMITS, version: '0.0.1' });
    await server.start();
    src = new FakeCounterSource();
    server.collector.setSource(src);
    base = `http://${server.address()}`;
  });
  after(() => server.stop());

  it('serves the exposition at the path with the text format\'s content type', async () => {
    src.site({ caller: 'a.go:1', count: 3n });
    const r = await fetch(`${base}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const s = parseExposition(await r.text()).samples;
    assert.equal(pick(s, 'go_map_delete_total', { caller: 'a.go:1' })[0].value, 3);
    assert.equal(server.url(), `${base}/metrics`);
  });

  it('reads the source at each scrape', async () => {
    const before = src.reads.counts;
    src.counts[0].count = 10n;
    const s = parseExposition(await (await fetch(`${base}/metrics?x=1`)).text()).samples;
    assert.equal(pick(s, 'go_map_delete_total', { caller: 'a.go:1' })[0].value, 10);
    assert.equal(src.reads.counts, before + 1);
  });

  it('HEAD answers without a body; other methods get 405; other paths 404 with the right path', async () => {
    const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const other = await fetch(`${base}/`);
    assert.equal(other.status, 404);
    assert.equal(await other.text(), 'not found: the metrics are at /metrics\n');
  });

  it('a source that throws gives 500 and a log line, and the next scrape works again', async () => {
    const lines: string[] = [];
    const s = new MetricsServer({ endpoint: '127.0.0.1:0', path: '/m', limits: LIMITS, version: '0', log: (l) => lines.push(l) });
    await s.start();
    try {
      const bad = new FakeCounterSource();
      let fail = true;
      const real = bad.deleteCounts.bind(bad);
      bad.deleteCounts = () => {
        if (fail) throw new Error('kernel table unreadable');
        return real();
      };
      s.collector.setSource(bad);
      const r = await fetch(`http://${s.address()}/m`);
      assert.equal(r.status, 500);
      assert.match(await r.text(), /kernel table unreadable/);
      assert.match(lines[0], /^metrics: a scrape failed: Error: kernel table unreadable/);
      fail = false;
      assert.equal((await fetch(`http://${s.address()}/m`)).status, 200);
    } finally {
      await s.stop();
    }
  });

  it('a port in use: a UserError naming the setting', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        startMetricsEndpoint({ ...METRICS_DEFAULTS, endpoint: `127.0.0.1:${port}` }, { setting: 'metrics.endpoint', log: () => undefined }),
        (e: unknown) => e instanceof UserError && e.message === `metrics: cannot listen on 127.0.0.1:${port}: address in use (set metrics.endpoint)`,
      );
    } finally {
      busy.close();
    }
  });

  it('startMetricsEndpoint logs where it listens, with queue capacities from the otlp exporters', async () => {
    const lines: string[] = [];
    const s = await startMetricsEndpoint(
      { ...METRICS_DEFAULTS, endpoint: '127.0.0.1:0', path: '/p' },
      {
        setting: 'x',
        log: (l) => lines.push(l),
        exporters: [
          { type: 'otlp', id: 'otlp/a', endpoint: 'x:1', tls: { insecure: true }, headers: {}, compression: 'none', timeoutMs: 1, retry: { enabled: false, initialIntervalMs: 1, maxIntervalMs: 1, maxElapsedMs: 0 }, queueSize: 64 },
          { type: 'debug', id: 'debug', verbosity: 'basic' },
        ],
      },
    );
    try {
      assert.deepEqual(lines, [`metrics: Prometheus endpoint at http://${s.address()}/p`]);
      s.collector.setExportStats(() => ({ received: 0, rateLimited: 0, exporters: { 'otlp/a': { queuedSpans: 16 } } }));
      const samples = parseExposition(await (await fetch(s.url())).text()).samples;
      assert.equal(pick(samples, 'map_delete_tracer_export_queue_capacity_spans', { exporter: 'otlp/a' })[0].value, 64);
      assert.equal(pick(samples, 'map_delete_tracer_export_queue_usage_ratio', { exporter: 'otlp/a' })[0].value, 0.25);
    } finally {
      await s.stop();
    }
  });
});
