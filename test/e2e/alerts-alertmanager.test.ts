/**
 * The tracer's alert engine and a real Alertmanager (Debian's prometheus-alertmanager, a plain
 * process on loopback, stopped by its PID) routing to a local webhook: a rule fires, the alert
 * reaches Alertmanager through its v2 API and Alertmanager forwards it to the webhook; then the
 * rule resolves and the webhook gets the resolved notification. The engine runs in-process over
 * a fake CounterSource, evaluated by the test on the real clock.
 */
import { strict as assert } from 'node:assert';
import { createAlerting, type AlertEngine } from '../../receiver/alerts';
import { ALERTMANAGER, FakeSource, HookServer, loadAlerts, requireTool, startAlertmanager, type RunningAlertmanager } from '../helpers/alerts';

interface AmWebhook {
  version: string;
  status: 'firing' | 'resolved';
  receiver: string;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('alerts e2e: tracer → Alertmanager → webhook', function () {
  this.timeout(60_000);
  let hook: HookServer;
  let am: RunningAlertmanager | undefined;
  let engine: AlertEngine | undefined;
  const logs: string[] = [];

  before(async function () {
    requireTool(this, ALERTMANAGER, 'prometheus-alertmanager');
    hook = new HookServer();
    const hookUrl = await hook.start();
    am = await startAlertmanager(`${hookUrl}/am`, { groupWait: '1s', groupInterval: '1s', resolveTimeout: '1m' });
  });

  after(async () => {
    await engine?.stop(1000);
    await am?.stop();
    await hook?.stop();
  });

  it('receives the firing alert from the tracer, forwards it, then forwards the resolved one', async () => {
    const { alerts } = loadAlerts(`alerts:
  evaluation_interval: 200ms
  external_labels: { cluster: test }
  generator_url: http://tracer.example:9464/
  notifiers:
    alertmanager:
      url: ${am!.url}
      resend_interval: 1s
      timeout: 2s
  rules:
    - alert: MapHammered
      delete_rate: { window: 1s, threshold: 5, group_by: [map] }
      labels: { severity: page }
      annotations:
        summary: "{{ $labels.map_type }} at {{ $labels.map }} lost {{ $value }} entries in 1s"
`);
    const source = new FakeSource();
    const m = source.map({ service: 'checkout', pid: 4242, mapAddr: '0xc0000a4120', mapType: 'map[string]*main.Session', deletes: 100n, lastLen: 7 });
    engine = createAlerting(alerts, { source, log: (l) => logs.push(l) });
    engine.evaluate(); // baseline
    m.deletes += 42n;
    const fired = engine.evaluate();
    assert.equal(fired.notices.length, 1, logs.join('\n'));

    // Alertmanager has it, with the tracer's labels and a validity in the future.
    let active: { labels: Record<string, string>; endsAt: string; generatorURL: string; status: { state: string } }[] = [];
    for (let i = 0; i < 50 && active.length === 0; i++) {
      active = (await (await fetch(`${am!.url}/api/v2/alerts`)).json()) as typeof active;
      if (!active.length) await sleep(100);
    }
    assert.equal(active.length, 1, `Alertmanager log: ${am!.logFile}`);
    assert.equal(active[0].status.state, 'active');
    assert.equal(active[0].generatorURL, 'http://tracer.example:9464/');
    assert.ok(Date.parse(active[0].endsAt) > Date.now(), `endsAt ${active[0].endsAt} is in the future while firing`);

    // Alertmanager → webhook: firing.
    const [first] = await hook.waitFor(1, 15_000, 'the firing notification from Alertmanager');
    const body = first.body as AmWebhook;
    assert.equal(first.path, '/am');
    assert.equal(body.status, 'firing');
    assert.equal(body.receiver, 'hook');
    assert.equal(body.alerts.length, 1);
    assert.deepEqual(body.alerts[0].labels, {
      alertname: 'MapHammered',
      service: 'checkout',
      pid: '4242',
      map_type: 'map[string]*main.Session',
      map: '0xc0000a4120',
      severity: 'page',
      cluster: 'test',
    });
    assert.deepEqual(body.alerts[0].annotations, { summary: 'map[string]*main.Session at 0xc0000a4120 lost 42 entries in 1s' });
    assert.equal(body.alerts[0].status, 'firing');
    // Alertmanager re-formats times (RFC 3339, trailing zero fractions dropped): compare instants.
    assert.equal(Date.parse(body.alerts[0].startsAt), fired.notices[0]?.startsAt, `startsAt ${body.alerts[0].startsAt}`);

    // Keep it firing a little: the engine re-sends every resend_interval; Alertmanager does not notify again.
    for (let i = 0; i < 8; i++) {
      m.deletes += 10n;
      engine.evaluate();
      await sleep(200);
    }
    const notifierStats = () => engine!.summary();
    assert.match(notifierStats(), /alertmanager: [2-9]\d* sent, 0 failed, 0 dropped/);

    // The deletes stop: once the window has no more than 5, the rule resolves and the engine
    // sends endsAt = now; Alertmanager forwards a resolved notification.
    await sleep(1200);
    const r = engine.evaluate();
    assert.deepEqual(r.notices.map((n) => n.reason), ['resolved']);
    const got = await hook.waitFor(2, 15_000, 'the resolved notification from Alertmanager');
    const resolved = got.find((x) => (x.body as AmWebhook).status === 'resolved');
    assert.ok(resolved, `webhook got: ${JSON.stringify(got.map((x) => (x.body as AmWebhook).status))}`);
    const rb = resolved.body as AmWebhook;
    assert.equal(rb.alerts[0].status, 'resolved');
    assert.equal(rb.alerts[0].labels.map, '0xc0000a4120');
    assert.ok(Date.parse(rb.alerts[0].endsAt) <= Date.now());
    assert.equal(got.filter((x) => (x.body as AmWebhook).status === 'firing').length, 1, 'one firing notification only');
  });
});
