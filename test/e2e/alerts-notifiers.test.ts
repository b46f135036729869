/**
 * The engine with its configured notifiers, end to end over HTTP on loopback: the webhook and
 * Slack payloads reach a local server in the format docs/alerts.md documents (firing, then
 * resolved), and notifiers pointing at a dead port or at a server that never answers neither
 * slow evaluation nor event handling down; what they cannot send is counted.
 */
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import { createAlerting, type AlertEngine } from '../../receiver/alerts';
import { hashHex, hashKey } from '../../receiver/events/keyhash';
import { FakeSource, HookServer, deadPort, event, loadAlerts } from '../helpers/alerts';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('alerts e2e: webhook and Slack payloads, broken receivers', function () {
  this.timeout(60_000);
  const engines: AlertEngine[] = [];
  const servers: HookServer[] = [];
  after(async () => {
    for (const e of engines) await e.stop(0);
    for (const s of servers) await s.stop();
  });

  async function server(): Promise<{ s: HookServer; url: string }> {
    const s = new HookServer();
    servers.push(s);
    return { s, url: await s.start() };
  }

  it('webhook and Slack receive firing, then resolved, in the documented format', async () => {
    const hook = await server();
    const slack = await server();
    const { alerts } = loadAlerts(
      `alerts:
  evaluation_interval: 100ms
  notifiers:
    webhook/ops:
      url: ${hook.url}/hooks/map-deletes
      headers: { Authorization: "Bearer \${env:HOOK_TOKEN}" }
    slack:
      webhook_url: \${env:SLACK_WEBHOOK_URL}
      channel: "#go-maps"
      username: map-delete-tracer
  rules:
    - alert: WatchedSessionDeleted
      watched_keys: { keys: ["sess-admin"], window: 100ms, group_by: [map_type, caller] }
      labels: { severity: critical }
      annotations:
        summary: "key {{ $labels.key }} deleted from {{ $labels.map_type }} at {{ $labels.caller }} ({{ $value }} times)"
`,
      { HOOK_TOKEN: 's3cret', SLACK_WEBHOOK_URL: `${slack.url}/services/T000/B000/XXXX` },
    );
    const logs: string[] = [];
    const engine = createAlerting(alerts, { source: new FakeSource(), log: (l) => logs.push(l) });
    engines.push(engine);
    engine.evaluate();
    const key = hashHex(hashKey('string', 'sess-admin'));
    engine.observe(event({ keyHash: key, mapType: 'map[string]*main.Session', caller: { function: 'main.(*Store).Expire', file: '/src/app/store.go', line: 57 } }));
    engine.observe(event({ keyHash: key, mapType: 'map[string]*main.Session', caller: { function: 'main.(*Store).Expire', file: '/src/app/store.go', line: 57 } }));
    engine.evaluate();
    await new Promise((r) => setTimeout(r, 150));
    engine.evaluate(); // the window is empty: resolved

    const [hf, hr] = await hook.s.waitFor(2);
    assert.equal(hf.path, '/hooks/map-deletes');
    assert.equal(hf.headers.authorization, 'Bearer s3cret');
    assert.equal(hf.headers['content-type'], 'application/json');
    const firing = hf.body as Record<string, unknown> & { alerts: Record<string, unknown>[] };
    assert.deepEqual(Object.keys(firing), ['version', 'source', 'notifier', 'host', 'status', 'alerts']);
    assert.equal(firing.version, '1');
    assert.equal(firing.source, 'map-delete-tracer');
    assert.equal(firing.notifier, 'webhook/ops');
    assert.equal(firing.host, os.hostname());
    assert.equal(firing.status, 'firing');
    assert.equal(firing.alerts.length, 1);
    const a = firing.alerts[0];
    assert.deepEqual(Object.keys(a), ['status', 'reason', 'labels', 'annotations', 'value', 'startsAt', 'endsAt', 'fingerprint']);
    assert.deepEqual(a.labels, {
      alertname: 'WatchedSessionDeleted',
      key: 'sess-admin',
      map_type: 'map[string]*main.Session',
      caller: 'store.go:57',
      severity: 'critical',
    });
    assert.deepEqual(a.annotations, { summary: 'key sess-admin deleted from map[string]*main.Session at store.go:57 (2 times)' });
    assert.equal(a.status, 'firing');
    assert.equal(a.reason, 'firing');
    assert.equal(a.value, 2);
    assert.match(String(a.startsAt), ISO);
    assert.equal(a.endsAt, null);
    assert.match(String(a.fingerprint), /^[0-9a-f]{16}$/);

    const resolved = hr.body as typeof firing;
    assert.equal(resolved.status, 'resolved');
    assert.equal(resolved.alerts[0].status, 'resolved');
    assert.equal(resolved.alerts[0].reason, 'resolved');
    assert.equal(resolved.alerts[0].fingerprint, a.fingerprint);
    assert.equal(resolved.alerts[0].startsAt, a.startsAt);
    assert.match(String(resolved.alerts[0].endsAt), ISO);

    const [sf, sr] = await slack.s.waitFor(2);
    assert.equal(sf.path, '/services/T000/B000/XXXX');
    assert.deepEqual(sf.body, {
      text: '[FIRING] WatchedSessionDeleted — key sess-admin deleted from map[string]*main.Session at store.go:57 (2 times)',
      blocks: [
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text:
              `*[FIRING] WatchedSessionDeleted*  value *2*, since ${a.startsAt}\n` +
              'key sess-admin deleted from map[string]*main.Session at store.go:57 (2 times)\n' +
              '`key=sess-admin` `map_type=map[string]*main.Session` `caller=store.go:57` `severity=critical`',
          },
        },
      ],
      channel: '#go-maps',
      username: 'map-delete-tracer',
    });
    const sb = sr.body as { text: string; blocks: { text: { text: string } }[] };
    assert.match(sb.text, /^\[RESOLVED\] WatchedSessionDeleted — /);
    assert.match(sb.blocks[0].text.text, /^\*\[RESOLVED\] WatchedSessionDeleted\*  value \*2\*, fired \S+, resolved \S+\n/);
    assert.ok(!logs.some((l) => /XXXX|s3cret/.test(l)), 'no secrets in log lines');
  });

  it('a dead port and a server that never answers do not hold up evaluation or events', async () => {
    const hang = await server();
    hang.s.fallback = 'hang';
    const ok = await server();
    const port = await deadPort();
    const { alerts } = loadAlerts(`alerts:
  evaluation_interval: 100ms
  notifiers:
    webhook/dead:
      url: http://127.0.0.1:${port}/
      timeout: 200ms
      retry_on_failure: { initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 1s }
      queue_size: 3
    webhook/slow:
      url: ${hang.url}/
      timeout: 30s
      queue_size: 3
    alertmanager:
      url: ${hang.url}/
      timeout: 30s
      resend_interval: 100ms
      queue_size: 3
    webhook/ok:
      url: ${ok.url}/
  rules:
    - alert: Busy
      delete_rate: { window: 100ms, threshold: 0, group_by: [map] }
      repeat_interval: 100ms
    - alert: Watched
      watched_keys: { keys: [k], window: 100ms }
`);
    const logs: string[] = [];
    const source = new FakeSource();
    const maps = Array.from({ length: 50 }, (_, i) => source.map({ mapAddr: `0xc0000${i.toString(16).padStart(5, '0')}` }));
    const engine = createAlerting(alerts, { source, log: (l) => logs.push(l) });
    engines.push(engine);
    engine.evaluate();
    const key = hashHex(hashKey('string', 'k'));
    const evalTimes: number[] = [];
    let events = 0;
    const t0 = Date.now();
    // 40 evaluations, each with new deletes and 1000 events; 51 alerts fire, 50 of them repeat every 100ms.
    for (let i = 0; i < 40; i++) {
      for (const m of maps) m.deletes += 1n;
      const e0 = process.hrtime.bigint();
      for (let j = 0; j < 1000; j++) {
        engine.observe(event({ keyHash: key }));
        events++;
      }
      engine.evaluate();
      evalTimes.push(Number(process.hrtime.bigint() - e0) / 1e6);
      await new Promise((r) => setTimeout(r, 25));
    }
    const elapsed = Date.now() - t0;
    evalTimes.sort((x, y) => x - y);
    const p95 = evalTimes[Math.floor(evalTimes.length * 0.95)];
    assert.ok(p95 < 100, `1000 events + an evaluation took ${p95.toFixed(1)} ms at p95 (all: ${evalTimes.map((t) => t.toFixed(1)).join(' ')})`);
    assert.ok(elapsed < 40 * 25 + 4000, `the loop took ${elapsed} ms`);
    assert.equal(events, 40_000);

    const stats = Object.fromEntries(engine.summary().split('; ').map((p) => [p.split(':')[0], p]));
    // The working notifier got the first firing and the repeats.
    const sentOk = Number(/^webhook\/ok: (\d+) sent/.exec(stats['webhook/ok'])![1]);
    assert.ok(sentOk >= 5, stats['webhook/ok']);
    await ok.s.waitFor(sentOk, 10_000);
    // The hanging ones hold 3 messages each and dropped the rest, counted.
    assert.match(stats['webhook/slow'], /^webhook\/slow: 0 sent, 0 failed, (\d+) dropped, 3 queued$/);
    assert.ok(Number(/(\d+) dropped/.exec(stats['webhook/slow'])![1]) >= 3, stats['webhook/slow']);
    assert.match(stats.alertmanager, /^alertmanager: 0 sent, 0 failed, [1-9]\d* dropped, 3 queued$/);
    // The dead port gives up on messages and drops the overflow.
    assert.match(stats['webhook/dead'], /^webhook\/dead: 0 sent, \d+ failed, [1-9]\d* dropped/);
    assert.ok(logs.some((l) => /^notifier webhook\/slow: queue full \(3 messages\): dropped/.test(l)), logs.join('\n'));
    assert.ok(logs.some((l) => /^notifier webhook\/dead: sending .* failed: connect ECONNREFUSED/.test(l)), logs.join('\n'));

    // Stopping does not wait for the hanging server beyond the timeout given.
    const s0 = Date.now();
    await engine.stop(300);
    assert.ok(Date.now() - s0 < 2000, `stop took ${Date.now() - s0} ms`);
  });
});
