/**
 * Notifier payloads (webhook, Slack, Alertmanager v2) and delivery: retries with backoff,
 * timeouts, a bounded queue whose drops are counted and logged, ordering, and close(). The
 * receiving end is a local HTTP server.
 */
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import { Delivery, redactUrl } from '../../receiver/alerts/notify/delivery';
import {
  AlertmanagerNotifier,
  SLACK_MAX_ALERTS,
  WebhookNotifier,
  alertmanagerAlertsUrl,
  slackPayload,
  webhookPayload,
} from '../../receiver/alerts/notify/notifiers';
import type { AlertInstance, Notice } from '../../receiver/alerts/types';
import type { RetryConfig } from '../../receiver/config/types';
import { HookServer, deadPort } from '../helpers/alerts';

const T0 = Date.UTC(2026, 10, 23, 4, 19, 6);

function alert(o: Partial<Notice> = {}): Notice {
  return {
    rule: 'MapHammered',
    status: 'firing',
    reason: 'firing',
    labels: { alertname: 'MapHammered', service: 'checkout', map: '0xc0000a4120', map_type: 'map[string]*main.Session' },
    annotations: { summary: 'map <b> & co lost 342' },
    value: 342,
    startsAt: T0,
    fingerprint: '0123456789abcdef',
    ...o,
  };
}

async function until(f: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const FAST: RetryConfig = { enabled: true, initialIntervalMs: 10, maxIntervalMs: 40, maxElapsedMs: 2000 };

describe('alerts notifiers', () => {
  describe('payloads', () => {
    it('webhook: version 1, status, one object per alert', () => {
      const p = webhookPayload('webhook/ops', [alert(), alert({ reason: 'resolved', status: 'resolved', endsAt: T0 + 60_000, fingerprint: 'fedcba9876543210', generatorUrl: 'http://tracer/' })]);
      assert.deepEqual(p, {
        version: '1',
        source: 'map-delete-tracer',
        notifier: 'webhook/ops',
        host: os.hostname(),
        status: 'firing',
        alerts: [
          {
            status: 'firing',
            reason: 'firing',
            labels: alert().labels,
            annotations: alert().annotations,
            value: 342,
            startsAt: '2026-11-23T04:19:06.000Z',
            endsAt: null,
            fingerprint: '0123456789abcdef',
          },
          {
            status: 'resolved',
            reason: 'resolved',
            labels: alert().labels,
            annotations: alert().annotations,
            value: 342,
            startsAt: '2026-11-23T04:19:06.000Z',
            endsAt: '2026-11-23T04:20:06.000Z',
            fingerprint: 'fedcba9876543210',
            generatorURL: 'http://tracer/',
          },
        ],
      });
      assert.equal(webhookPayload('w', [alert({ status: 'resolved', reason: 'resolved' })]).status, 'resolved');
    });

    it('slack: a text fallback and a section per alert, mrkdwn escaped', () => {
      const p = slackPayload([alert()], { channel: '#maps' });
      assert.equal(p.text, '[FIRING] MapHammered — map <b> & co lost 342');
      assert.equal(p.channel, '#maps');
      assert.equal(p.username, undefined);
      assert.deepEqual(p.blocks, [
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text:
              '*[FIRING] MapHammered*  value *342*, since 2026-11-23T04:19:06.000Z\n' +
              'map &lt;b&gt; &amp; co lost 342\n' +
              '`service=checkout` `map=0xc0000a4120` `map_type=map[string]*main.Session`',
          },
        },
      ]);
      const many = slackPayload(Array.from({ length: SLACK_MAX_ALERTS + 3 }, (_, i) => alert({ fingerprint: String(i), reason: i % 2 ? 'resolved' : 'repeat', status: i % 2 ? 'resolved' : 'firing' })));
      assert.equal(many.blocks.length, SLACK_MAX_ALERTS + 1);
      assert.deepEqual(many.blocks.at(-1), { type: 'context', elements: [{ type: 'mrkdwn', text: '…and 3 more alert(s)' }] });
      assert.match(many.text, /^\[FIRING\] 12 firing, 11 resolved: MapHammered — /);
      assert.match((many.blocks[1] as { text: { text: string } }).text.text, /^\*\[RESOLVED\] MapHammered\*  value \*342\*, fired 2026-11-23T04:19:06\.000Z, resolved /);
      assert.match((many.blocks[0] as { text: { text: string } }).text.text, /^\*\[FIRING, still\] MapHammered\*/);
    });

    it('alertmanager: the v2 alerts URL from a base URL', () => {
      assert.equal(alertmanagerAlertsUrl('http://am:9093'), 'http://am:9093/api/v2/alerts');
      assert.equal(alertmanagerAlertsUrl('http://am:9093/'), 'http://am:9093/api/v2/alerts');
      assert.equal(alertmanagerAlertsUrl('https://h/alertmanager/'), 'https://h/alertmanager/api/v2/alerts');
      assert.equal(alertmanagerAlertsUrl('http://am:9093/api/v2/alerts'), 'http://am:9093/api/v2/alerts');
    });

    it('log lines show a URL without its path (webhook paths are secrets)', () => {
      assert.equal(redactUrl('https://hooks.slack.com/services/T0/B0/XYZ'), 'https://hooks.slack.com');
    });
  });

  describe('delivery', () => {
    let server: HookServer;
    let url: string;
    let logs: string[];
    beforeEach(async () => {
      server = new HookServer();
      url = await server.start();
      logs = [];
    });
    afterEach(async () => {
      await server.stop();
    });

    const delivery = (o: Partial<ConstructorParameters<typeof Delivery>[0]> = {}) =>
      new Delivery({ id: 'notifier test', url: `${url}/hook`, headers: { authorization: 'Bearer x' }, timeoutMs: 2000, retry: FAST, queueSize: 10, log: (l) => logs.push(l), ...o });

    it('posts JSON with the configured headers', async () => {
      const d = delivery();
      d.push({ body: '{"a":1}', what: 'one' });
      const [r] = await server.waitFor(1);
      await until(() => d.stats().sent === 1, 'sent');
      assert.deepEqual(r.body, { a: 1 });
      assert.equal(r.path, '/hook');
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers.authorization, 'Bearer x');
      assert.match(String(r.headers['user-agent']), /^map-delete-tracer\//);
      await d.close(1000);
      assert.deepEqual(d.stats(), { sent: 1, failed: 0, dropped: 0, retries: 0, queued: 0 });
    });

    it('retries 5xx and 429 with backoff, and keeps the order', async () => {
      server.script = [500, 429, 503];
      const d = delivery();
      d.push({ body: '{"n":1}', what: 'first' });
      d.push({ body: '{"n":2}', what: 'second' });
      await until(() => d.stats().sent === 2, 'both are sent');
      assert.deepEqual(server.received.map((r) => r.body), [{ n: 1 }, { n: 2 }]);
      const s = d.stats();
      assert.equal(s.sent, 2);
      assert.equal(s.retries, 3);
      assert.equal(s.lastError, 'HTTP 503: status 503');
      assert.deepEqual(logs, [`notifier test: sending first to ${url} failed: HTTP 500: status 500; retrying`]);
      await d.close(0);
    });

    it('does not retry a 4xx answer', async () => {
      server.script = [400];
      const d = delivery();
      d.push({ body: '{}', what: 'a bad one' });
      d.push({ body: '{"ok":true}', what: 'a good one' });
      await until(() => d.stats().sent === 1, 'the good one is sent');
      assert.equal(server.attempts, 2);
      assert.deepEqual(d.stats(), { sent: 1, failed: 1, dropped: 0, retries: 0, queued: 0, lastError: 'HTTP 400: status 400' });
      assert.deepEqual(logs, [`notifier test: could not send a bad one to ${url}: HTTP 400: status 400`]);
    });

    it('times out a server that does not answer, and gives up after max_elapsed_time', async () => {
      server.fallback = 'hang';
      const d = delivery({ timeoutMs: 100, retry: { enabled: true, initialIntervalMs: 50, maxIntervalMs: 50, maxElapsedMs: 400 } });
      const t0 = Date.now();
      d.push({ body: '{}', what: 'x' });
      while (d.stats().failed === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
      const s = d.stats();
      assert.equal(s.failed, 1);
      assert.equal(s.lastError, 'no answer within 100 ms');
      assert.ok(server.attempts >= 2 && server.attempts <= 4, `attempts: ${server.attempts}`);
      assert.match(logs.at(-1)!, /could not send x to .*: no answer within 100 ms \(gave up after \d attempts\)$/);
    });

    it('gives up on a dead port without holding anything else up', async () => {
      const port = await deadPort();
      const d = delivery({ url: `http://127.0.0.1:${port}/`, retry: { enabled: true, initialIntervalMs: 10, maxIntervalMs: 10, maxElapsedMs: 50 } });
      d.push({ body: '{}', what: 'x' });
      const t0 = Date.now();
      while (d.stats().failed === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
      assert.equal(d.stats().failed, 1);
      assert.match(d.stats().lastError!, /ECONNREFUSED/);
    });

    it('drops new messages when the queue is full, counts them and logs once', async () => {
      server.fallback = 'hang';
      const d = delivery({ queueSize: 2, timeoutMs: 60_000 });
      const t0 = process.hrtime.bigint();
      const accepted = [1, 2, 3, 4, 5].map((n) => d.push({ body: `{"n":${n}}`, what: `m${n}` }));
      assert.ok(process.hrtime.bigint() - t0 < 50_000_000n, 'push() does not wait');
      assert.deepEqual(accepted, [true, true, false, false, false]);
      assert.equal(d.stats().dropped, 3);
      assert.equal(d.stats().queued, 2);
      assert.deepEqual(logs, ['notifier test: queue full (2 messages): dropped 1 message(s) (1 in all)']);
      await d.close(50);
      assert.equal(d.stats().dropped, 5, 'the two left at close are dropped too');
      assert.equal(d.stats().queued, 0);
      assert.match(logs.at(-1)!, /stopped with 2 message\(s\) unsent/);
    });

    it('close() waits for the queue to drain', async () => {
      server.script = [{ status: 200, delayMs: 100 }, { status: 200, delayMs: 100 }];
      const d = delivery();
      d.push({ body: '{"n":1}', what: 'a' });
      d.push({ body: '{"n":2}', what: 'b' });
      await d.close(5000);
      assert.equal(server.received.length, 2);
      assert.equal(d.stats().sent, 2);
      assert.equal(d.push({ body: '{}', what: 'late' }), false);
    });
  });

  describe('notifier schedules', () => {
    let server: HookServer;
    let url: string;
    beforeEach(async () => {
      server = new HookServer();
      url = await server.start();
    });
    afterEach(async () => {
      await server.stop();
    });

    it('webhook: one message per evaluation, split by max_alerts, resolved ones only with send_resolved', async () => {
      const base = { timeoutMs: 1000, retry: FAST, queueSize: 10, headers: {} };
      const w = new WebhookNotifier({ ...base, type: 'webhook', id: 'webhook', url, sendResolved: false, maxAlerts: 2 }, () => undefined);
      w.deliver({ now: T0, notices: [alert(), alert({ fingerprint: 'b' }), alert({ fingerprint: 'c', reason: 'repeat' }), alert({ fingerprint: 'd', reason: 'resolved', status: 'resolved' })], firing: [] });
      await server.waitFor(2);
      await w.close(1000);
      assert.deepEqual(
        server.received.map((r) => (r.body as { alerts: { fingerprint: string; reason: string }[] }).alerts.map((a) => `${a.fingerprint}:${a.reason}`)),
        [['0123456789abcdef:firing', 'b:firing'], ['c:repeat']],
      );
    });

    it('alertmanager: changes at once, every firing alert again each resend_interval, resolved with endsAt in the past', async () => {
      const cfg = { type: 'alertmanager' as const, id: 'alertmanager', url, resendIntervalMs: 60_000, timeoutMs: 1000, retry: FAST, queueSize: 10, headers: {} };
      const am = new AlertmanagerNotifier(cfg, 15_000, () => undefined);
      const a = alert();
      const firing: AlertInstance = { ...a, status: 'firing' };
      am.deliver({ now: T0, notices: [a], firing: [firing] }); // new: sent (all firing)
      am.deliver({ now: T0 + 15_000, notices: [], firing: [firing] }); // nothing due
      am.deliver({ now: T0 + 30_000, notices: [{ ...a, reason: 'repeat' }], firing: [firing] }); // repeats are Alertmanager's business
      am.deliver({ now: T0 + 60_000, notices: [], firing: [firing] }); // resend
      am.deliver({ now: T0 + 75_000, notices: [{ ...a, reason: 'resolved', status: 'resolved', endsAt: T0 + 75_000 }], firing: [] });
      await server.waitFor(3);
      await am.close(1000);
      assert.deepEqual(server.received.map((r) => r.path), ['/api/v2/alerts', '/api/v2/alerts', '/api/v2/alerts']);
      const bodies = server.received.map((r) => r.body as { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string }[]);
      const iso = (ms: number) => new Date(ms).toISOString();
      assert.deepEqual(bodies[0], [{ labels: a.labels, annotations: a.annotations, startsAt: iso(T0), endsAt: iso(T0 + 240_000) }]);
      assert.deepEqual(bodies[1].map((x) => x.endsAt), [iso(T0 + 60_000 + 240_000)]);
      assert.deepEqual(bodies[2].map((x) => x.endsAt), [iso(T0 + 75_000)]);
    });
  });
});
