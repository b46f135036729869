/**
 * A real Prometheus (Debian's package: /usr/bin/prometheus) as a plain process on loopback, for
 * end-to-end tests of the metrics endpoint: a temp config scraping the given targets, its TSDB in
 * a temp directory, a free port; queries through its HTTP API.
 *
 *   const prom = await startPrometheus({ targets: ['127.0.0.1:9464'] });
 *   await prom.waitForTargetsUp();
 *   const [s] = await prom.query('rate(go_map_delete_total[10s])');
 *   await prom.stop();                        // or stopAllPrometheus() in after()
 *
 * Every process started here is stopped by its PID (SIGTERM, then SIGKILL), and killed when
 * Node exits if a suite forgot. Its log is a file in the temp directory (named in errors).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Context } from 'mocha';
import { FAMILIES, type Family } from '../../receiver/metrics/families';
import { freePort, waitFor } from './otel';

export const PROMETHEUS_BIN = process.env.MDT_PROMETHEUS ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.MDT_PROMTOOL ?? '/usr/bin/promtool';

/** Why Prometheus cannot run here, or undefined when it can. */
export function prometheusUnavailableReason(): string | undefined {
  const r = spawnSync(PROMETHEUS_BIN, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return `${PROMETHEUS_BIN} does not run (install Debian's prometheus package: SETUP_TEST_TOOLS=1 bash scripts/setup.sh)`;
  return undefined;
}

/** For a suite's before(): skips with a printed reason when Prometheus is missing; under CI=true that is a failure. */
export function requirePrometheus(ctx: Context): void {
  const reason = prometheusUnavailableReason();
  if (!reason) return;
  if (process.env.CI === 'true') throw new Error(`Prometheus is required under CI: ${reason}`);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

export interface PromSample {
  metric: Record<string, string>;
  value: number;
  /** Unix seconds of the evaluation. */
  time: number;
}

export interface RunningPrometheus {
  /** http://127.0.0.1:PORT */
  url: string;
  pid: number;
  logFile: string;
  /** An instant query (/api/v1/query), at `time` (Unix seconds) or now. Throws on a PromQL error. */
  query(expr: string, time?: number): Promise<PromSample[]>;
  /** Polls an instant query until `ok` accepts its result. */
  waitForQuery(expr: string, ok: (r: PromSample[]) => boolean, timeoutMs: number, what?: string): Promise<PromSample[]>;
  /** Waits until every configured target has been scraped successfully (health "up"). */
  waitForTargetsUp(timeoutMs?: number): Promise<void>;
  /** /api/v1/targets: the active targets with their health and last error. */
  targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** host:port of each endpoint to scrape. */
  targets: string[];
  /** Default /metrics. */
  metricsPath?: string;
  /** Default 1s. */
  scrapeInterval?: string;
  /** Default "map-delete-tracer". */
  job?: string;
  /** Extra top-level YAML appended to the config (e.g. rule_files). */
  extraConfig?: string;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) {
    if (p.exitCode === null && p.signalCode === null && p.pid) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
});

const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

async function stopProcess(p: ChildProcess, exited: Promise<void>, timeoutMs = 10_000): Promise<void> {
  if (!alive(p) || !p.pid) return exited;
  const pid = p.pid;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* gone */
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
  clearTimeout(timer);
  if (timedOut && alive(p)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    await exited;
  }
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function getJson(url: string): Promise<{ status: string; data?: unknown; error?: string; errorType?: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await r.json()) as { status: string; data?: unknown; error?: string; errorType?: string };
  return body;
}

const stopAll: (() => Promise<void>)[] = [];

/** Stops every Prometheus started by this process (call it in after()). */
export async function stopAllPrometheus(): Promise<void> {
  for (const s of stopAll.splice(0)) await s();
}

/** Starts Prometheus scraping `targets`; resolves once it is ready (not yet once it has scraped). */
export async function startPrometheus(opts: PrometheusOptions): Promise<RunningPrometheus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-prometheus-'));
  const interval = opts.scrapeInterval ?? '1s';
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'scrape_configs:',
    `  - job_name: ${JSON.stringify(opts.job ?? 'map-delete-tracer')}`,
    `    metrics_path: ${JSON.stringify(opts.metricsPath ?? '/metrics')}`,
    `    scrape_timeout: ${interval}`,
    '    static_configs:',
    `      - targets: ${JSON.stringify(opts.targets)}`,
    opts.extraConfig ?? '',
  ].join('\n');
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, config + '\n');
  const logFile = path.join(dir, 'prometheus.log');

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const fd = fs.openSync(logFile, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(
        PROMETHEUS_BIN,
        [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${path.join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--storage.tsdb.retention.time=1h',
          '--log.level=info',
        ],
        { stdio: ['ignore', fd, fd] },
      );
    } finally {
      fs.closeSync(fd);
    }
    running.add(proc);
    const exited = new Promise<void>((res) => {
      proc.once('exit', () => res());
      proc.once('error', (e) => {
        fs.appendFileSync(logFile, `==== cannot run ${PROMETHEUS_BIN}: ${e.message}\n`);
        res();
      });
    });
    void exited.then(() => running.delete(proc));
    const url = `http://127.0.0.1:${port}`;
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await stopProcess(proc, exited);
      fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
      const state = await waitFor(
        async () => {
          if (!alive(proc)) return 'exited';
          const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
          return r?.ok ? 'ready' : undefined;
        },
        30_000,
        'Prometheus to be ready',
      );
      if (state === 'exited') throw new Error(`exited (${proc.exitCode ?? proc.signalCode}) before it was ready`);
    } catch (e) {
      const log = tail(logFile);
      await stopProcess(proc, exited);
      if (!alive(proc) && /address already in use/.test(log) && attempt < 3) continue;
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`Prometheus did not start (${(e as Error).message}); log:\n${log}`);
    }
    stopAll.push(stop);

    const query = async (expr: string, time?: number): Promise<PromSample[]> => {
      const q = new URLSearchParams({ query: expr });
      if (time !== undefined) q.set('time', String(time));
      const body = await getJson(`${url}/api/v1/query?${q}`);
      if (body.status !== 'success') throw new Error(`PromQL ${expr}: ${body.errorType}: ${body.error}`);
      const data = body.data as { resultType: string; result: unknown };
      if (data.resultType === 'scalar') {
        const [t, v] = data.result as [number, string];
        return [{ metric: {}, value: Number(v), time: t }];
      }
      if (data.resultType !== 'vector') throw new Error(`PromQL ${expr}: expected an instant vector, got a ${data.resultType}`);
      return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
        metric: r.metric,
        value: Number(r.value[1]),
        time: r.value[0],
      }));
    };
    const targets = async () => {
      const body = await getJson(`${url}/api/v1/targets`);
      const data = body.data as { activeTargets: { scrapeUrl: string; health: string; lastError: string }[] };
      return data.activeTargets.map((t) => ({ scrapeUrl: t.scrapeUrl, health: t.health, lastError: t.lastError }));
    };
    return {
      url,
      pid: proc.pid!,
      logFile,
      query,
      waitForQuery: (expr, ok, timeoutMs, what) =>
        waitFor(async () => {
          const r = await query(expr);
          return ok(r) ? r : undefined;
        }, timeoutMs, what ?? `PromQL ${expr}`),
      waitForTargetsUp: async (timeoutMs = 30_000) => {
        let last: { scrapeUrl: string; health: string; lastError: string }[] = [];
        try {
          await waitFor(
            async () => {
              last = await targets();
              return last.length === opts.targets.length && last.every((t) => t.health === 'up') ? true : undefined;
            },
            timeoutMs,
            'every target to be up',
          );
        } catch (e) {
          throw new Error(`${(e as Error).message}: ${JSON.stringify(last)}`);
        }
      },
      targets,
      stop,
    };
  }
}

/**
 * A Grafana dashboard expression as Grafana would send it: $__rate_interval, $__interval and
 * $__range given `rangeSeconds`-based values, and the dashboard's variables ($service, $map_type)
 * matching everything.
 */
export function substituteGrafana(expr: string, rangeSeconds = 3600): string {
  return expr
    .replace(/\$__rate_interval/g, `${Math.max(4, Math.round(rangeSeconds / 60))}s`)
    .replace(/\$__interval/g, `${Math.max(1, Math.round(rangeSeconds / 240))}s`)
    .replace(/\$__range/g, `${rangeSeconds}s`)
    .replace(/\$\{?service\}?/g, '.*')
    .replace(/\$\{?map_type\}?/g, '.*');
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan']);

/**
 * Metric names and label names a PromQL expression refers to: selectors (`name{l="v"}`), label
 * lists of by/without/on/ignoring. Functions and aggregations are the identifiers followed by "(".
 */
export function promqlRefs(expr: string): { metrics: string[]; labels: string[] } {
  const labels: string[] = [];
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  s = s.replace(/\{([^}]*)\}/g, (_, body: string) => {
    for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) labels.push(m[1]);
    return ' ';
  });
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _kw: string, list: string) => {
    for (const l of list.split(',').map((x) => x.trim()).filter(Boolean)) labels.push(l);
    return ' ';
  });
  const metrics: string[] = [];
  for (const m of s.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1].toLowerCase())) continue;
    metrics.push(m[1]);
  }
  return { metrics, labels };
}

const CONTEXT_LABELS = ['le', 'instance', 'job'];

/** The labels each exposed series name can carry. */
export function labelsBySeries(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const f of Object.values(FAMILIES) as Family[]) {
    const ls = new Set([...f.labels, ...CONTEXT_LABELS]);
    if (f.type === 'histogram') for (const suf of ['_bucket', '_sum', '_count']) out.set(f.name + suf, ls);
    else out.set(f.name, ls);
  }
  return out;
}
