/**
 * For the alert tests: a local HTTP server that records what notifiers POST (and can answer
 * slowly or with errors), a real Alertmanager (Debian's prometheus-alertmanager) as a plain
 * process on loopback stopped by its PID, and a fake CounterSource with settable rows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Context } from 'mocha';
import type { CounterSource, DeleteCountRow, KeyActivityRow, MapActivityRow, TracerHealth } from '../../receiver/metrics/source';
import type { DeleteEvent } from '../../receiver/events/types';
import { loadConfigText } from '../../receiver/config/load';
import type { AlertsConfig } from '../../receiver/config/alerts';

// ---- config ------------------------------------------------------------------------------------

const BASE = 'receivers:\n  mapdelete:\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [mapdelete]\n      exporters: [debug]\n';

/** The alerts section of a file made of a minimal pipeline and `alerts` (the section's text, from "alerts:"). */
export function loadAlerts(alerts: string, env: NodeJS.ProcessEnv = {}): { alerts: AlertsConfig; warnings: string[] } {
  const { config, warnings } = loadConfigText(BASE + alerts, 'tracer.yaml', env);
  if (!config.alerts) throw new Error('no alerts section');
  return { alerts: config.alerts, warnings };
}

export const CONFIG_PREFIX_LINES = BASE.split('\n').length - 1;

// ---- fake counters and events -----------------------------------------------------------------

export class FakeSource implements CounterSource {
  counts: DeleteCountRow[] = [];
  maps: MapActivityRow[] = [];
  keys: KeyActivityRow[] = [];
  fail?: string;

  deleteCounts(): DeleteCountRow[] {
    if (this.fail) throw new Error(this.fail);
    return this.counts.map((r) => ({ ...r }));
  }
  mapActivity(): MapActivityRow[] {
    if (this.fail) throw new Error(this.fail);
    return this.maps.map((r) => ({ ...r }));
  }
  keyActivity(): KeyActivityRow[] {
    if (this.fail) throw new Error(this.fail);
    return this.keys.map((r) => ({ ...r }));
  }
  health(): TracerHealth {
    return { eventsLost: 0n, ringBufferBytes: 0, ringBufferUsedBytes: 0, probesAttached: 0, attachErrors: 0, tracedProcesses: 1, counterOverflow: 0n };
  }

  site(r: Partial<DeleteCountRow> & { count: bigint }): DeleteCountRow {
    const row: DeleteCountRow = { pid: 100, service: 'svc', op: 'delete', mapType: 'map[string]int', caller: 'store.go:57', callerFunction: 'main.(*Store).Expire', ...r };
    this.counts.push(row);
    return row;
  }

  map(r: Partial<MapActivityRow>): MapActivityRow {
    const row: MapActivityRow = { pid: 100, service: 'svc', mapAddr: '0xc000010000', mapType: 'map[string]int', deletes: 0n, clears: 0n, lastLen: null, maxClearLen: null, lastSeen: 0n, ...r };
    this.maps.push(row);
    return row;
  }

  key(r: Partial<KeyActivityRow> & { keyHash: string }): KeyActivityRow {
    const row: KeyActivityRow = { pid: 100, service: 'svc', mapType: 'map[string]int', deletes: 0n, ...r };
    this.keys.push(row);
    return row;
  }
}

/** A synthetic DeleteEvent; `lenBefore` goes on map when given (see docs/alerts.md). */
export function event(o: {
  op?: 'delete' | 'clear';
  pid?: number;
  mapAddr?: string;
  mapType?: string;
  keyHash?: string;
  keyValue?: string;
  lenBefore?: number | null;
  caller?: { function: string; file: string; line: number };
  service?: string;
}): DeleteEvent {
  const op = o.op ?? 'delete';
  // lenBefore stays absent unless given: the rules must also cope with events that lack it.
  const map = { addr: o.mapAddr ?? '0xc000010000', type: o.mapType ?? 'map[string]int', len: op === 'clear' ? 0 : null } as DeleteEvent['map'];
  if (o.lenBefore !== undefined) map.lenBefore = o.lenBefore;
  return {
    timeNs: BigInt(Date.now()) * 1_000_000n,
    pid: o.pid ?? 100,
    tid: o.pid ?? 100,
    goid: '1',
    op,
    function: op === 'clear' ? 'runtime.mapclear' : 'runtime.mapdelete_faststr',
    map,
    key: op === 'clear' ? null : { type: 'string', hash: o.keyHash ?? '0000000000000000', ...(o.keyValue !== undefined ? { value: o.keyValue } : {}) },
    caller: o.caller ?? { function: 'main.(*Store).Expire', file: '/src/app/store.go', line: 57 },
    stack: [],
    process: { executable: '/usr/local/bin/app', goVersion: 'go1.26.0', serviceName: o.service ?? 'svc' },
    span: null,
    notes: { stackTruncated: false, keyTruncated: false, goidUnknown: false },
  };
}

// ---- HTTP receiver --------------------------------------------------------------------------------

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  at: number;
}

/** What the server answers: a status, or 'hang' (never answers). */
export type Behaviour = number | 'hang' | { status: number; delayMs: number };

export class HookServer {
  readonly received: Received[] = [];
  private readonly server: http.Server;
  private readonly waiters: (() => void)[] = [];
  /** Answers for the next requests, in order; afterwards `fallback`. */
  script: Behaviour[] = [];
  fallback: Behaviour = 200;
  private readonly sockets = new Set<net.Socket>();
  attempts = 0;

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.attempts++;
        const b = this.script.length ? this.script.shift()! : this.fallback;
        if (b === 'hang') return;
        const answer = () => {
          const status = typeof b === 'number' ? b : b.status;
          if (status >= 200 && status < 300) {
            let body: unknown;
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              body = JSON.parse(text);
            } catch {
              body = text;
            }
            this.received.push({ path: req.url ?? '', headers: req.headers, body, at: Date.now() });
            for (const w of this.waiters.splice(0)) w();
          }
          res.writeHead(status, { 'content-type': 'text/plain' });
          res.end(status >= 300 ? `status ${status}` : 'ok');
        };
        if (typeof b === 'object') setTimeout(answer, b.delayMs);
        else answer();
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as net.AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Resolves once `n` messages have been received (rejects after timeoutMs). */
  async waitFor(n: number, timeoutMs = 10_000, what = `${n} message(s)`): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${this.received.length}: ${JSON.stringify(this.received.map((r) => r.body)).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.received;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A TCP port nobody listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

// ---- tools ---------------------------------------------------------------------------------------

/** Skips the suite outside CI when a tool is missing (CI=true: fails). */
export function requireTool(ctx: Context, file: string, pkg: string): void {
  if (fs.existsSync(file)) return;
  const reason = `${file} is not installed (apt-get install ${pkg})`;
  if (process.env.CI === 'true') throw new Error(reason);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

export const PROMTOOL = '/usr/bin/promtool';
export const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';

// ---- Alertmanager ----------------------------------------------------------------------------------

export interface RunningAlertmanager {
  url: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) if (c.pid && c.exitCode === null) c.kill('SIGKILL');
});

/**
 * Alertmanager on a free loopback port, routing every alert to `webhookUrl` at once
 * (group_wait/group_interval small), with resolved notifications on.
 */
export async function startAlertmanager(webhookUrl: string, o: { groupWait?: string; groupInterval?: string; resolveTimeout?: string } = {}): Promise<RunningAlertmanager> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-alertmanager-'));
  const cfg = path.join(dir, 'alertmanager.yml');
  fs.writeFileSync(
    cfg,
    [
      'global:',
      `  resolve_timeout: ${o.resolveTimeout ?? '5m'}`,
      'route:',
      '  receiver: hook',
      "  group_by: ['alertname', 'map']",
      `  group_wait: ${o.groupWait ?? '1s'}`,
      `  group_interval: ${o.groupInterval ?? '1s'}`,
      '  repeat_interval: 1h',
      'receivers:',
      '  - name: hook',
      '    webhook_configs:',
      `      - url: ${webhookUrl}`,
      '        send_resolved: true',
      '',
    ].join('\n'),
  );
  const port = await deadPort();
  const logFile = path.join(dir, 'alertmanager.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(
    ALERTMANAGER,
    [`--config.file=${cfg}`, `--storage.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=debug'],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  running.add(child);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    running.delete(child);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid!, 'SIGTERM');
    const t = setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(child.pid!, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`alertmanager exited with ${child.exitCode}: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    try {
      const r = await fetch(`${url}/-/ready`);
      if (r.ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`alertmanager not ready on ${url} (log: ${logFile})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: child.pid!, logFile, stop };
}
