/**
 * A real OpenTelemetry Collector (otelcol-mdt, config/otelcol.yaml) and a real Jaeger v2
 * (config/jaeger.yaml) as plain processes on loopback and free ports, for end-to-end tests.
 * The binaries come from scripts/build-otel-tools.sh (.cache/tools/).
 *
 * Every process started here is tracked and stopped by its PID: stop() sends SIGTERM, then
 * SIGKILL after a timeout; suites call stopAllOtel() in after(), and whatever is still alive
 * when Node exits is killed then. Each process logs to a file in a temp directory (the path is
 * in error messages; the collector's is readable through debugLog()).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Context } from 'mocha';
import { packageRoot } from '../../receiver/util/paths';

// ---- tools -----------------------------------------------------------------------------------

export interface OtelTools {
  /** The collector distribution built from config/otelcol-builder.yaml. */
  otelcol: string;
  /** Jaeger v2. */
  jaeger: string;
}

const BUILD_SCRIPT = (): string => path.join(packageRoot(), 'scripts', 'build-otel-tools.sh');
const CONFIG = (name: string): string => path.join(packageRoot(), 'config', name);

function toolPaths(): OtelTools {
  const dir = path.join(packageRoot(), '.cache', 'tools');
  return { otelcol: path.join(dir, 'otelcol-mdt'), jaeger: path.join(dir, 'jaeger') };
}

function toolsUpToDate(): boolean {
  const r = spawnSync('bash', [BUILD_SCRIPT(), '--check'], { stdio: ['ignore', 'ignore', 'ignore'] });
  return r.status === 0;
}

function goToolchain(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat('/usr/local/go/bin')) {
    const p = path.join(dir || '.', 'go');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/**
 * Why otelTools() cannot work here, or undefined when it can: the tools are built and current,
 * or a Go toolchain is there to build them.
 */
export function otelToolsUnavailableReason(): string | undefined {
  if (toolsUpToDate()) return undefined;
  if (!goToolchain()) {
    return 'otelcol/Jaeger are not built (.cache/tools) and there is no Go toolchain to build them (go on PATH or /usr/local/go/bin/go)';
  }
  return undefined;
}

/**
 * For a suite's before(): outside CI, skips with a printed reason when the tools cannot be had
 * (no Go toolchain); under CI=true that is a failure.
 */
export function requireOtelTools(ctx: Context): void {
  const reason = otelToolsUnavailableReason();
  if (!reason) return;
  if (process.env.CI === 'true') throw new Error(`OpenTelemetry tools cannot be built under CI: ${reason}`);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

let built: OtelTools | undefined;

/**
 * Paths of the collector and Jaeger binaries. Runs scripts/build-otel-tools.sh first when they
 * are missing or stale (a cold build takes minutes: give the calling hook a long timeout).
 * Throws a clear error when the build fails.
 */
export function otelTools(): OtelTools {
  if (built) return built;
  const paths = toolPaths();
  if (!toolsUpToDate()) {
    console.log(`      building otelcol-mdt and Jaeger into ${path.dirname(paths.otelcol)} (scripts/build-otel-tools.sh; a cold build takes several minutes)...`);
    const t0 = Date.now();
    const r = spawnSync('bash', [BUILD_SCRIPT()], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}${path.delimiter}/usr/local/go/bin` },
      timeout: 60 * 60 * 1000,
    });
    if (r.error) throw new Error(`scripts/build-otel-tools.sh could not run: ${r.error.message}`);
    if (r.status !== 0) {
      throw new Error(`scripts/build-otel-tools.sh failed (exit ${r.status ?? r.signal}); its output above says why`);
    }
    console.log(`      built in ${Math.round((Date.now() - t0) / 1000)} s`);
  }
  for (const p of [paths.otelcol, paths.jaeger]) {
    if (!fs.existsSync(p)) throw new Error(`${p} is missing after scripts/build-otel-tools.sh`);
  }
  return (built = paths);
}

// ---- processes -------------------------------------------------------------------------------

let logDir: string | undefined;

/** The temp directory holding the logs of the processes started here (made on first use). */
export function otelLogDir(): string {
  if (!logDir) logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-otel-'));
  return logDir;
}

interface Tracked {
  name: string;
  proc: ChildProcess;
  /** Set once the process has exited (or could not be spawned). */
  ended: boolean;
  exited: Promise<void>;
}

const running = new Set<Tracked>();

process.on('exit', () => {
  // Last resort (a suite that forgot stopAllOtel, or mocha's --exit): never leave them behind.
  for (const t of running) {
    if (t.proc.exitCode === null && t.proc.signalCode === null && t.proc.pid) {
      try {
        process.kill(t.proc.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
});

function alive(t: Tracked): boolean {
  return !t.ended && t.proc.exitCode === null && t.proc.signalCode === null;
}

function launch(name: string, bin: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Tracked {
  const fd = fs.openSync(logFile, 'a');
  fs.writeSync(fd, `==== ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
  let proc: ChildProcess;
  try {
    proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  } finally {
    fs.closeSync(fd);
  }
  const t: Tracked = { name, proc, ended: false, exited: Promise.resolve() };
  t.exited = new Promise<void>((res) => {
    const end = (): void => {
      t.ended = true;
      res();
    };
    proc.once('exit', end);
    proc.once('error', (e) => {
      fs.appendFileSync(logFile, `==== cannot run ${bin}: ${e.message}\n`);
      end();
    });
  });
  running.add(t);
  void t.exited.then(() => running.delete(t));
  return t;
}

/** SIGTERM, then SIGKILL after timeoutMs; resolves once the process has exited. */
async function stopTracked(t: Tracked, timeoutMs = 10_000): Promise<void> {
  if (!alive(t) || !t.proc.pid) {
    await t.exited;
    return;
  }
  const pid = t.proc.pid;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    t.exited.then(() => false),
    new Promise<boolean>((res) => {
      timer = setTimeout(() => res(true), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut && alive(t)) {
    console.log(`      ${t.name} (pid ${pid}) ignored SIGTERM for ${timeoutMs} ms: SIGKILL`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    await t.exited;
  }
}

/**
 * Stops every collector and Jaeger started by this process (call it in after()), newest first,
 * so a collector can flush to its Jaeger before that goes.
 */
export async function stopAllOtel(): Promise<void> {
  for (const t of [...running].reverse()) await stopTracked(t);
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
/**
 * A port free to listen on, chosen below the kernel's ephemeral range: a port from that range
 * (what listening on port 0 gives) can be handed by the kernel to anything else — another
 * process's `:0` listener or an outgoing connection — between this check and the real bind.
 * Ports handed out by this process are not handed out again.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found between 10000 and ${low}`);
}

const handedOut = new Set<number>();

function ephemeralLow(): number {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 11_000) return low;
  } catch {
    // not Linux, or no /proc: fall through
  }
  return 30_000;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(1000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false;
  }
}

/**
 * Polls fn (every 100–500 ms) until it returns something other than undefined; a throw counts
 * as "not yet" and is quoted when the time runs out.
 */
export async function waitFor<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let delay = 100;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 500);
  }
}

/**
 * Starts a process and waits until ready() says so. Fails early, with the log's tail, when the
 * process exits first; retries with fresh ports when it lost a port race ("address already in use").
 */
async function startReady(
  name: string,
  logFile: string,
  attempt: () => Promise<{ t: Tracked; ready: () => Promise<boolean> }>,
  timeoutMs: number,
): Promise<Tracked> {
  for (let tries = 1; ; tries++) {
    const before = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const { t, ready } = await attempt();
    try {
      const state = await waitFor(
        async () => {
          if (!alive(t)) return 'exited';
          return (await ready()) ? 'ready' : undefined;
        },
        timeoutMs,
        `${name} to be ready`,
      );
      if (state === 'exited') throw new Error('exited');
      return t;
    } catch (e) {
      const exited = !alive(t);
      await stopTracked(t);
      const log = fs.readFileSync(logFile, 'utf8').slice(before);
      if (exited && /address already in use/.test(log) && tries < 3) continue;
      const how = exited ? `exited (${t.proc.exitCode ?? t.proc.signalCode ?? 'not started'}) before it was ready` : (e as Error).message;
      throw new Error(`${name} ${how}; log ${logFile}:\n${tail(logFile)}`);
    }
  }
}

// ---- Jaeger ----------------------------------------------------------------------------------

export interface RunningJaeger {
  /** Where Jaeger takes OTLP/gRPC: host:port. */
  otlpGrpc: string;
  /** Where Jaeger takes OTLP/HTTP: http://127.0.0.1:port. */
  otlpHttp: string;
  /** The query API and UI: http://127.0.0.1:port. */
  queryUrl: string;
  pid: number;
  /** Its log file. */
  logFile: string;
  stop(): Promise<void>;
}

/** Starts Jaeger with config/jaeger.yaml on loopback and free ports; resolves once it is ready. */
export async function startJaeger(opts: { uiAssetsPath?: string } = {}): Promise<RunningJaeger> {
  const { jaeger } = otelTools();
  const logFile = path.join(otelLogDir(), `jaeger-${Date.now()}.log`);
  let ports = { grpc: 0, http: 0, query: 0, queryGrpc: 0, health: 0, metrics: 0 };
  const t = await startReady(
    'jaeger',
    logFile,
    async () => {
      ports = { grpc: await freePort(), http: await freePort(), query: await freePort(), queryGrpc: await freePort(), health: await freePort(), metrics: await freePort() };
      const env = {
        JAEGER_OTLP_GRPC_ENDPOINT: `127.0.0.1:${ports.grpc}`,
        JAEGER_OTLP_HTTP_ENDPOINT: `127.0.0.1:${ports.http}`,
        JAEGER_QUERY_HTTP_ENDPOINT: `127.0.0.1:${ports.query}`,
        JAEGER_QUERY_GRPC_ENDPOINT: `127.0.0.1:${ports.queryGrpc}`,
        JAEGER_HEALTH_ENDPOINT: `127.0.0.1:${ports.health}`,
        JAEGER_METRICS_HOST: '127.0.0.1',
        JAEGER_METRICS_PORT: String(ports.metrics),
        JAEGER_UI_ASSETS_PATH: opts.uiAssetsPath ?? '',
      };
      const t = launch('jaeger', jaeger, ['--config', CONFIG('jaeger.yaml')], env, logFile);
      const p = ports;
      return {
        t,
        // healthy once every component started (healthcheckv2 answers 503 until then), and the
        // query API answers
        ready: async () => (await httpOk(`http://127.0.0.1:${p.health}/status`)) && (await httpOk(`http://127.0.0.1:${p.query}/api/services`)),
      };
    },
    60_000,
  );
  return {
    otlpGrpc: `127.0.0.1:${ports.grpc}`,
    otlpHttp: `http://127.0.0.1:${ports.http}`,
    queryUrl: `http://127.0.0.1:${ports.query}`,
    pid: t.proc.pid!,
    logFile,
    stop: () => stopTracked(t),
  };
}

// ---- collector -------------------------------------------------------------------------------

export interface RunningCollector {
  /** Where the collector takes OTLP/gRPC: host:port. */
  otlpGrpc: string;
  /** Where it takes OTLP/HTTP: http://127.0.0.1:port. */
  otlpHttp: string;
  /** PID of the current process (changes on start()). */
  pid: number;
  /** Its log file (all runs, appended). */
  logFile: string;
  stop(): Promise<void>;
  /** Starts it again after stop(), on the same ports. */
  start(): Promise<void>;
  /** The collector's log so far: its own messages and the debug exporter's output. */
  debugLog(): string;
}

const COLLECTOR_READY = 'Everything is ready';

/**
 * Runs otelcol-mdt with config/otelcol.yaml on loopback and free ports, exporting to
 * opts.jaegerOtlp (host:port); resolves once it accepts OTLP. The debug exporter runs at
 * `detailed` verbosity unless opts.debugVerbosity says otherwise.
 */
export async function startCollector(opts: { jaegerOtlp: string; debugVerbosity?: 'basic' | 'normal' | 'detailed' }): Promise<RunningCollector> {
  const { otelcol } = otelTools();
  const logFile = path.join(otelLogDir(), `otelcol-${Date.now()}.log`);
  let ports = { grpc: 0, http: 0, metrics: 0 };
  let current: Tracked | undefined;

  const run = async (fresh: boolean): Promise<Tracked> =>
    startReady(
      'otelcol',
      logFile,
      async () => {
        if (fresh) ports = { grpc: await freePort(), http: await freePort(), metrics: await freePort() };
        const env = {
          OTELCOL_GRPC_ENDPOINT: `127.0.0.1:${ports.grpc}`,
          OTELCOL_HTTP_ENDPOINT: `127.0.0.1:${ports.http}`,
          OTELCOL_METRICS_HOST: '127.0.0.1',
          OTELCOL_METRICS_PORT: String(ports.metrics),
          JAEGER_OTLP_ENDPOINT: opts.jaegerOtlp,
          OTELCOL_DEBUG_VERBOSITY: opts.debugVerbosity ?? 'detailed',
        };
        const before = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
        const t = launch('otelcol', otelcol, ['--config', CONFIG('otelcol.yaml')], env, logFile);
        const p = ports;
        return {
          t,
          ready: async () => fs.readFileSync(logFile, 'utf8').slice(before).includes(COLLECTOR_READY) && (await tcpOpen(p.grpc)),
        };
      },
      60_000,
    );

  current = await run(true);
  const col: RunningCollector = {
    otlpGrpc: `127.0.0.1:${ports.grpc}`,
    otlpHttp: `http://127.0.0.1:${ports.http}`,
    pid: current.proc.pid!,
    logFile,
    stop: async () => {
      if (current) await stopTracked(current);
    },
    start: async () => {
      if (current && alive(current)) throw new Error(`otelcol (pid ${current.proc.pid}) is still running: stop() it first`);
      // same ports; a port race here is an error, not a reason to move
      current = await run(false);
      col.pid = current.proc.pid!;
    },
    debugLog: () => fs.readFileSync(logFile, 'utf8'),
  };
  return col;
}

// ---- Jaeger query API ------------------------------------------------------------------------

/** A tag or log field as Jaeger's HTTP API (/api/...) renders it. */
export interface JaegerKeyValue {
  key: string;
  type: 'string' | 'bool' | 'int64' | 'float64' | 'binary';
  value: string | number | boolean;
}

/** A span event: `fields` holds its attributes plus {key:"event", value:<event name>}. */
export interface JaegerLog {
  /** Microseconds since the epoch. */
  timestamp: number;
  fields: JaegerKeyValue[];
}

export interface JaegerReference {
  refType: 'CHILD_OF' | 'FOLLOWS_FROM';
  traceID: string;
  spanID: string;
}

export interface JaegerProcess {
  serviceName: string;
  /** Resource attributes other than service.name. */
  tags: JaegerKeyValue[];
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: JaegerReference[];
  /** Microseconds since the epoch. */
  startTime: number;
  /** Microseconds. */
  duration: number;
  /** Span attributes, plus span.kind, otel.scope.name/version, otel.status_code, error... */
  tags: JaegerKeyValue[];
  /** Span events. */
  logs: JaegerLog[];
  /** Key into the trace's processes. */
  processID: string;
  warnings: string[] | null;
  flags?: number;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, JaegerProcess>;
  warnings: string[] | null;
}

interface JaegerResponse<T> {
  data: T | null;
  errors: { code: number; msg: string }[] | null;
}

async function jaegerGet<T>(url: string): Promise<T> {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as JaegerResponse<T>;
  if (body.errors?.length) throw new Error(`GET ${url}: ${body.errors.map((e) => `${e.code} ${e.msg}`).join('; ')}`);
  return body.data as T;
}

/** Service names Jaeger has seen. */
export async function jaegerServices(queryUrl: string): Promise<string[]> {
  return (await jaegerGet<string[] | null>(`${queryUrl}/api/services`)) ?? [];
}

/**
 * Traces of a service from the last lookbackMs (default 1 h), newest first, at most limit
 * (default 20); optionally only those with a span of this operation name or these span tags.
 */
export async function jaegerTraces(
  queryUrl: string,
  service: string,
  opts: { limit?: number; lookbackMs?: number; operation?: string; tags?: Record<string, string> } = {},
): Promise<JaegerTrace[]> {
  const endUs = Date.now() * 1000 + 60_000_000; // a minute ahead: spans may carry their own clock
  const q = new URLSearchParams({
    service,
    limit: String(opts.limit ?? 20),
    start: String(endUs - 60_000_000 - (opts.lookbackMs ?? 3_600_000) * 1000),
    end: String(endUs),
  });
  if (opts.operation) q.set('operation', opts.operation);
  if (opts.tags) q.set('tags', JSON.stringify(opts.tags));
  return (await jaegerGet<JaegerTrace[] | null>(`${queryUrl}/api/traces?${q}`)) ?? [];
}

/** One trace by id (32 hex digits), or undefined when Jaeger does not have it. */
export async function jaegerTrace(queryUrl: string, traceId: string): Promise<JaegerTrace | undefined> {
  const r = await fetch(`${queryUrl}/api/traces/${traceId}`, { signal: AbortSignal.timeout(10_000) });
  if (r.status === 404) return undefined;
  const text = await r.text();
  if (!r.ok) throw new Error(`GET /api/traces/${traceId}: HTTP ${r.status}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as JaegerResponse<JaegerTrace[]>).data?.[0];
}

/** The value of a tag or log field, or undefined. */
export function kv(list: JaegerKeyValue[] | undefined, key: string): string | number | boolean | undefined {
  return list?.find((f) => f.key === key)?.value;
}

/** A span's events as {name, time (µs), attributes}. */
export function spanEvents(span: JaegerSpan): { name: string | undefined; timestamp: number; attributes: Record<string, string | number | boolean> }[] {
  return span.logs.map((l) => {
    const attributes: Record<string, string | number | boolean> = {};
    for (const f of l.fields) if (f.key !== 'event') attributes[f.key] = f.value;
    return { name: kv(l.fields, 'event') as string | undefined, timestamp: l.timestamp, attributes };
  });
}
