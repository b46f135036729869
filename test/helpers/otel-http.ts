/**
 * The OpenTelemetry-instrumented example service examples/otel-http (issue 4): building it with
 * scripts/build-examples.sh, running it, sending it requests, and its ground truth — one JSON
 * line per map delete, with the trace and span that were active (protocol in
 * examples/otel-http/README.md).
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { packageRoot } from '../../receiver/util/paths';

// ---- building ----------------------------------------------------------------------------

/**
 * .cache/examples/otel-http[-goA.B.C[-EXP]][-sdk-vX.Y.Z]/build.json, written by
 * scripts/build-examples.sh.
 */
export interface OtelHttpBuild {
  /** SDK version the binaries hold, e.g. "v1.47.0". */
  sdk: string;
  /** Go that built them, e.g. "go1.26.8". */
  go: string;
  /** GOEXPERIMENT they were built with ("" for none), e.g. "noswissmap". */
  experiment: string;
  /** Absolute source directory (the ground truth's "file" values are in it). */
  source: string;
  /** Absolute paths of the service, plain and stripped (-ldflags='-s -w'). */
  plain: string;
  stripped: string;
  /** The load tool (cmd/load); null for --sdk builds. */
  load: string | null;
  /** Versions of go.opentelemetry.io/otel, .../trace, .../sdk, .../otlptracegrpc in the binary. */
  modules: Record<string, string>;
}

/**
 * Runs scripts/build-examples.sh (a no-op when the build is current; ~25 s from a cold Go build
 * cache) and returns the build. sdk: another SDK release ("v1.45.0"); the first build of one
 * needs the Go module proxy. go (with sdk): a toolchain of the core matrix ("go1.21.13", from
 * scripts/go-toolchains.sh) instead of the machine's Go; experiment: its GOEXPERIMENT.
 */
export function buildOtelHttp(opts: { sdk?: string; go?: string; experiment?: string; force?: boolean } = {}): OtelHttpBuild {
  const args = [path.join(packageRoot(), 'scripts', 'build-examples.sh')];
  if (opts.go) args.push('--go', opts.go);
  if (opts.experiment) args.push('--experiment', opts.experiment);
  if (opts.sdk) args.push('--sdk', opts.sdk);
  if (opts.force) args.push('--force');
  const out = execFileSync('bash', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/go/bin` },
    maxBuffer: 16 << 20,
  });
  const manifest = out.trim().split('\n').pop() ?? '';
  if (!manifest.endsWith('build.json') || !fs.existsSync(manifest)) {
    throw new Error(`scripts/build-examples.sh printed no build manifest: ${JSON.stringify(out)}`);
  }
  return JSON.parse(fs.readFileSync(manifest, 'utf8')) as OtelHttpBuild;
}

/** One Go x SDK pair of the correlation matrix (PAIRS in scripts/build-examples.sh). */
export interface OtelHttpPair {
  /** Toolchain, e.g. "go1.21.13". */
  go: string;
  /** GOEXPERIMENT ("" for none). */
  experiment: string;
  /** SDK release, e.g. "v1.29.0". */
  sdk: string;
  /** The build's output directory (its build.json once built). */
  dir: string;
  /** "go1.24.13-noswissmap sdk v1.41.0" */
  label: string;
}

/**
 * The Go x SDK pairs that `scripts/build-examples.sh --matrix` builds (and test.sh prebuilds),
 * from `--list`: nothing is built. Build one with buildOtelHttp({ go, experiment, sdk }).
 */
export function otelHttpPairs(): OtelHttpPair[] {
  const out = execFileSync('bash', [path.join(packageRoot(), 'scripts', 'build-examples.sh'), '--list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [go, experiment, sdk, dir] = l.split('\t');
      return { go, experiment, sdk, dir, label: `${go}${experiment ? `-${experiment}` : ''} sdk ${sdk}` };
    });
}

// ---- the stdout protocol -----------------------------------------------------------------

/** One map delete done by the service's own code, printed right after it happened. */
export interface GroundTruthDelete {
  event: 'delete';
  /** 32 lowercase hex digits: the trace of the span active in the deleting code's context;
   * "" when none was (the janitor). */
  trace_id: string;
  /** 16 lowercase hex digits: that span (a handler's child span, e.g. "session.delete";
   * for the order worker, the handler's "order.process" span); "" when none. */
  span_id: string;
  /** Goroutine id, from the runtime's "goroutine N [" stack header. */
  goid: number;
  /** fmt %p of the map. */
  map: string;
  /** fmt %T of the map: "map[string]*main.Session", "map[uint64]*main.Entry", "map[string]int". */
  type: string;
  /** The key: strings as they are, integers in decimal. */
  key: string;
  /** Function of the delete statement, e.g. "main.(*SessionStore).Logout", "main.(*Orders).settle". */
  func: string;
  /** Absolute path of the file of the delete statement (examples/otel-http/store.go). */
  file: string;
  /** Line of the delete statement. */
  line: number;
}

export interface ListeningLine {
  event: 'listening';
  addr: string;
  pid: number;
}

// ---- running ------------------------------------------------------------------------------

export interface StartOtelHttpOptions {
  /** -ground-truth: collect the delete lines (default true). */
  groundTruth?: boolean;
  /** Added to this process's environment; a value of undefined removes a variable. Without
   * OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_TRACES_EXPORTER the service exports to localhost:4317. */
  env?: NodeJS.ProcessEnv;
  /** -addr (default "127.0.0.1:0": a free port). */
  addr?: string;
  /** More flags: -session-ttl 300ms, -janitor-interval 100ms, -cache-size N, -work 1ms,
   * -shutdown-timeout 5s. */
  args?: string[];
  /** How long to wait for the listening line (ms, default 15000). */
  readyTimeoutMs?: number;
}

export interface OtelHttpResponse {
  status: number;
  /** X-Trace-Id: the request's trace id (32 hex digits). */
  traceId: string;
  /** X-Span-Id: the request's server span. */
  spanId: string;
  body: string;
  /** With ground truth: this request's delete lines (every line with its trace id), complete —
   * the service counts them in X-Ground-Truth-Deletes and request() waits until all arrived. */
  deletes: GroundTruthDelete[];
}

export interface RunningOtelHttp {
  pid: number;
  /** "127.0.0.1:PORT" */
  addr: string;
  /** Every ground-truth delete so far, in the order printed (a live array). */
  deletes: GroundTruthDelete[];
  /** Sends a request over a keep-alive connection (several requests share one server goroutine). */
  request(method: string, urlPath: string, headers?: Record<string, string>): Promise<OtelHttpResponse>;
  /** Resolves once pred holds for the deletes seen so far (checked on every new line). */
  waitForDeletes(pred: (d: GroundTruthDelete[]) => boolean, timeoutMs: number, what: string): Promise<void>;
  /** stderr so far. */
  stderr(): string;
  /** Exit code (128 + signal number when killed by a signal). */
  exited: Promise<number>;
  /** True once the "stopped" line was printed (clean shutdown, SDK flushed or given up). */
  stoppedCleanly(): boolean;
  /** SIGTERM, then wait (SIGKILL after timeoutMs, default 15000); resolves to the exit code. */
  stop(timeoutMs?: number): Promise<number>;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

export function startOtelHttp(binPath: string, opts: StartOtelHttpOptions = {}): Promise<RunningOtelHttp> {
  const groundTruth = opts.groundTruth ?? true;
  const argv = ['-addr', opts.addr ?? '127.0.0.1:0'];
  if (groundTruth) argv.push('-ground-truth');
  if (opts.args) argv.push(...opts.args);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child: ChildProcessWithoutNullStreams = spawn(binPath, argv, { stdio: ['pipe', 'pipe', 'pipe'], env });
  child.stdin.end();
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr += d;
  });

  const deletes: GroundTruthDelete[] = [];
  const waiters = new Set<() => void>();
  let stopped = false;
  let protocolError: Error | null = null;
  let listening: ListeningLine | null = null;
  let onListening: ((l: ListeningLine) => void) | null = null;

  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0)));
  });
  const lines = readline.createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    let ev: { event?: string } & Record<string, unknown>;
    try {
      ev = JSON.parse(line);
    } catch {
      protocolError ??= new Error(`otel-http: not a JSON line on stdout: ${JSON.stringify(line)}`);
      return;
    }
    if (ev.event === 'listening') {
      listening = ev as unknown as ListeningLine;
      onListening?.(listening);
    } else if (ev.event === 'delete') {
      deletes.push(ev as unknown as GroundTruthDelete);
    } else if (ev.event === 'stopped') {
      stopped = true;
    }
    for (const w of [...waiters]) w();
  });
  let stdoutClosed = false;
  const stdoutDone = new Promise<void>((resolve) => lines.once('close', resolve)).then(() => {
    stdoutClosed = true;
    for (const w of [...waiters]) w();
  });

  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  const waitForDeletes = (pred: (d: GroundTruthDelete[]) => boolean, timeoutMs: number, what: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (protocolError) finish(protocolError);
        else if (pred(deletes)) finish(null);
        else if (stdoutClosed) finish(new Error(`otel-http exited while waiting for ${what}; stderr:\n${stderr}`));
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      const finish = (err: Error | null) => {
        clearTimeout(timer);
        waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      waiters.add(check);
      check();
    });

  return new Promise<RunningOtelHttp>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`otel-http: no listening line within ${opts.readyTimeoutMs ?? 15000} ms; stderr:\n${stderr}`));
    }, opts.readyTimeoutMs ?? 15000);
    void exited.then((code) => {
      if (listening) return;
      clearTimeout(timer);
      reject(new Error(`otel-http exited (${code}) before listening; stderr:\n${stderr}`));
    });
    onListening = (l) => {
      clearTimeout(timer);
      const [host, port] = [l.addr.slice(0, l.addr.lastIndexOf(':')), Number(l.addr.slice(l.addr.lastIndexOf(':') + 1))];
      const request = (method: string, urlPath: string, headers: Record<string, string> = {}): Promise<OtelHttpResponse> =>
        new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((res, rej) => {
          const req = http.request(
            { host: host.replace(/^\[|\]$/g, ''), port, method, path: urlPath, agent, headers, timeout: 30000 },
            (resp) => {
              let body = '';
              resp.setEncoding('utf8');
              resp.on('data', (d: string) => (body += d));
              resp.on('end', () => res({ status: resp.statusCode ?? 0, headers: resp.headers, body }));
              resp.on('error', rej);
            },
          );
          req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no response within 30 s`)));
          req.on('error', rej);
          req.end();
        }).then(async (r) => {
          const traceId = String(r.headers['x-trace-id'] ?? '');
          const spanId = String(r.headers['x-span-id'] ?? '');
          const mine = () => deletes.filter((d) => traceId !== '' && d.trace_id === traceId);
          const n = r.headers['x-ground-truth-deletes'];
          if (groundTruth && n !== undefined) {
            const want = Number(n);
            await waitForDeletes(() => mine().length >= want, 10000, `${want} delete line(s) of ${method} ${urlPath} (trace ${traceId})`);
          }
          return { status: r.status, traceId, spanId, body: r.body, deletes: groundTruth ? mine() : [] };
        });
      resolve({
        pid: l.pid,
        addr: l.addr,
        deletes,
        request,
        waitForDeletes,
        stderr: () => stderr,
        exited,
        stoppedCleanly: () => stopped,
        stop: async (timeoutMs = 15000) => {
          agent.destroy();
          if (child.exitCode === null && child.signalCode === null) {
            process.kill(child.pid!, 'SIGTERM');
            const t = setTimeout(() => {
              if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
            }, timeoutMs);
            await exited;
            clearTimeout(t);
          }
          await stdoutDone;
          if (protocolError) throw protocolError;
          return exited;
        },
      });
    };
    if (listening) onListening(listening);
  });
}
