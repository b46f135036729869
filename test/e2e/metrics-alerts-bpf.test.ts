/**
 * Issue 5 end to end with real probes: `run` traces a fixture deleting at a known rate with span
 * sampling at 1%; a real Prometheus (Debian's package) scrapes the tracer's endpoint, and
 * - the endpoint's go_map_delete_total for the fixture's call site equals the exact number of
 *   deletes the fixture made;
 * - PromQL's rate() over what Prometheus stored gives the fixture's rate;
 * - a delete-rate rule fires, reaches a real Alertmanager (Debian's package) that forwards it to a
 *   local webhook, and the webhook notifier directly; once the deletes stop, both get it resolved.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireBpf } from '../helpers/bpf';
import { loadFixtureManifest, startFixture, type RunningFixture } from '../helpers/fixtures';
import { freePort } from '../helpers/otel';
import { requirePrometheus, startPrometheus, stopAllPrometheus } from '../helpers/prometheus';
import { ALERTMANAGER, HookServer, requireTool, startAlertmanager, type RunningAlertmanager } from '../helpers/alerts';
import { runCli, type TracerRun } from '../helpers/tracer';

const RATE = 1000; // deletes per second, over 2 goroutines
const SECONDS = 14;

interface AmWebhook {
  status: 'firing' | 'resolved';
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}
interface OwnWebhook {
  status: string;
  alerts: { status: string; reason: string; labels: Record<string, string>; value: number }[];
}

/** The value of one series of the endpoint's text exposition. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('metrics and alerts with real probes (Prometheus, Alertmanager)', function () {
  this.timeout(180_000);
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await Promise.resolve(f()).catch(() => undefined);
    await stopAllPrometheus();
  });

  it('exact counts at 1% sampling, rate() in PromQL, and an alert firing and resolving through Alertmanager', async function () {
    requireBpf(this);
    requirePrometheus(this);
    requireTool(this, ALERTMANAGER, 'prometheus-alertmanager');
    const build = loadFixtureManifest()
      .filter((b) => b.mode === 'plain' && !b.experiment)
      .sort((a, b) => a.go.localeCompare(b.go, 'en', { numeric: true }))
      .at(-1)!;

    const hook = new HookServer();
    const hookUrl = await hook.start();
    cleanup.push(() => hook.stop());
    const am: RunningAlertmanager = await startAlertmanager(`${hookUrl}/am`, { groupWait: '1s', groupInterval: '1s', resolveTimeout: '1m' });
    cleanup.push(() => am.stop());

    const fx: RunningFixture = await startFixture(build.path, { scenario: 'load', goroutines: 2, rate: RATE, seconds: SECONDS, linger: true });
    cleanup.push(() => fx.kill());

    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-metrics-bpf-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cfg = path.join(dir, 'tracer.yaml');
    fs.writeFileSync(
      cfg,
      `receivers:
  mapdelete:
    sampling: { rate: 0.01 }
exporters:
  file:
    path: ${path.join(dir, 'events.jsonl')}
service:
  pipelines:
    traces: { receivers: [mapdelete], exporters: [file] }
metrics:
  endpoint: 127.0.0.1:${port}
alerts:
  evaluation_interval: 1s
  notifiers:
    alertmanager: { url: ${am.url} }
    webhook: { url: ${hookUrl}/hook }
  rules:
    - alert: LoadHammering
      delete_rate: { window: 5s, threshold: ${RATE * 2}, group_by: [caller] }
      labels: { severity: warning }
      annotations: { summary: "{{ $labels.caller }}: {{ $value }} deletes in 5s" }
`,
    );
    const prom = await startPrometheus({ targets: [`127.0.0.1:${port}`], scrapeInterval: '1s' });

    const tracer: TracerRun = runCli(['run', '--config', cfg, '--pid', String(fx.pid)]);
    cleanup.push(() => tracer.kill('SIGKILL'));
    await tracer.attached;
    await prom.waitForTargetsUp(30_000);

    fx.go();
    const started = Date.now();
    // While it runs: Prometheus sees the fixture's rate, and the rule fires.
    const site = loadSite(build.source);
    const caller = `${path.basename(site.file)}:${site.line}`;
    const expr = `sum(rate(go_map_delete_total{caller="${caller}"}[6s]))`;
    // Once the 6 s window lies wholly inside the load (and Prometheus has scraped it).
    const rate = await prom.waitForQuery(expr, (r) => r.length === 1 && Date.now() - started > 9_000, 40_000, `${expr} over a window inside the load`);
    assert.ok(Math.abs(rate[0].value - RATE) < RATE * 0.15, `rate() gave ${rate[0].value}, the fixture deletes ${RATE}/s`);

    const firingAm = await waitForBody<AmWebhook>(hook, '/am', (b) => b.status === 'firing', 30_000);
    const alert = firingAm.alerts.find((a) => a.labels.alertname === 'LoadHammering')!;
    assert.equal(alert.labels.caller, caller);
    assert.equal(alert.labels.severity, 'warning');
    assert.match(alert.annotations.summary, new RegExp(`^${caller.replace('.', '\\.')}: \\d+ deletes in 5s$`));
    const firingOwn = await waitForBody<OwnWebhook>(hook, '/hook', (b) => b.alerts.some((a) => a.status === 'firing'), 10_000);
    assert.ok(firingOwn.alerts[0].value > RATE * 2, `value ${firingOwn.alerts[0].value}`);

    // The load ends; the counter is exact; the alert resolves on both paths.
    const load = await fx.loadResult;
    assert.equal(load.line, site.line, 'the load site read from the source');
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.equal(sample(text, 'go_map_delete_total', { caller, function: load.func }), load.deletes, 'the endpoint counts every delete');
    await waitForBody<OwnWebhook>(hook, '/hook', (b) => b.alerts.some((a) => a.status === 'resolved'), 30_000);
    await waitForBody<AmWebhook>(hook, '/am', (b) => b.status === 'resolved', 30_000);
    assert.ok(Date.now() - started < 120_000);

    fx.endInput();
    await fx.exited;
    const done = await tracer.exited;
    assert.equal(done.code, 0, done.stderr.join('\n'));
    const events = fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8').trim().split('\n').length;
    assert.ok(events < load.deletes * 0.03, `span sampling kept ${events} of ${load.deletes} deletes`);
  });
});

/** The fixture's load call site: its one delete statement in load.go (the load line says it only at the end). */
function loadSite(source: string): { file: string; line: number } {
  const file = path.join(source, 'load.go');
  const line = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => /^\s*delete\(/.test(l)) + 1;
  assert.ok(line > 0, `a delete statement in ${file}`);
  return { file, line };
}

async function waitForBody<T>(hook: HookServer, p: string, ok: (b: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = hook.received.find((r) => r.path.startsWith(p) && ok(r.body as T));
    if (hit) return hit.body as T;
    if (Date.now() > deadline) throw new Error(`no ${p} message as expected within ${timeoutMs} ms; got ${JSON.stringify(hook.received.map((r) => [r.path, r.body])).slice(0, 3000)}`);
    await hook.waitFor(hook.received.length + 1, Math.max(1, deadline - Date.now())).catch(() => undefined);
  }
}
