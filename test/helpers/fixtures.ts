// Helpers for end-to-end tests: the fixture build manifest and running the
// ground-truth program test/fixtures/deleter (protocol in its main.go).

import { spawn, execFileSync, ChildProcessWithoutNullStreams } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';

// ---- manifest ----------------------------------------------------------------

export type FixtureMode = 'plain' | 'stripped' | 'pie' | 'cgo';

/** One entry of .cache/fixtures/manifest.json (written by scripts/build-fixtures.sh). */
export interface FixtureBuild {
  /** Toolchain version, e.g. "go1.22.12". */
  go: string;
  /** go, plus "-<experiment>" when built with GOEXPERIMENT, e.g. "go1.24.13-noswissmap". */
  variant: string;
  /** GOEXPERIMENT value ("" for none), e.g. "noswissmap". */
  experiment: string;
  mode: FixtureMode;
  /** Absolute path of the binary. */
  path: string;
  /** Absolute path of the source directory (op lines' "file" values live there). */
  source: string;
}

/** The repository root (the directory holding package.json and scripts/build-fixtures.sh). */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'scripts', 'build-fixtures.sh')) && fs.existsSync(path.join(dir, 'package.json'))) {
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`fixtures: cannot find the repository root above ${__dirname}`);
    dir = up;
  }
}

export function manifestPath(): string {
  return path.join(repoRoot(), '.cache', 'fixtures', 'manifest.json');
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (/\.go$|^go\.(mod|sum)$/.test(e.name) && !e.name.endsWith('_test.go')) {
      newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  }
  return newest;
}

/** Why the manifest cannot be used as is, or null when it is current. */
export function manifestProblem(): string | null {
  const mp = manifestPath();
  if (!fs.existsSync(mp)) return `${mp} does not exist`;
  const mtime = fs.statSync(mp).mtimeMs;
  const src = path.join(repoRoot(), 'test', 'fixtures', 'deleter');
  if (newestMtime(src) > mtime) return `sources in ${src} are newer than ${mp}`;
  const builds = JSON.parse(fs.readFileSync(mp, 'utf8')) as FixtureBuild[];
  const missing = builds.find((b) => !fs.existsSync(b.path));
  if (missing) return `${missing.path} (listed in ${mp}) is missing`;
  return null;
}

export interface LoadManifestOptions {
  /** Run scripts/build-fixtures.sh when the manifest is missing or stale
   * (default: true when MDT_BUILD_FIXTURES=1 is set in the environment). */
  build?: boolean;
  /** Keep only these toolchains / modes / variants. */
  go?: string[];
  mode?: FixtureMode[];
  variant?: string[];
}

/**
 * The fixture builds of the test matrix. Throws when the manifest is missing or
 * stale, unless `build` (or MDT_BUILD_FIXTURES=1) asks to run
 * scripts/build-fixtures.sh first (that takes minutes on a cold machine).
 */
export function loadFixtureManifest(opts: LoadManifestOptions = {}): FixtureBuild[] {
  const build = opts.build ?? process.env.MDT_BUILD_FIXTURES === '1';
  let problem = manifestProblem();
  if (problem && build) {
    execFileSync('bash', [path.join(repoRoot(), 'scripts', 'build-fixtures.sh')], {
      stdio: ['ignore', process.stderr, process.stderr],
    });
    problem = manifestProblem();
  }
  if (problem) {
    throw new Error(
      `fixture manifest not usable: ${problem}. Run \`bash scripts/build-fixtures.sh\` ` +
        '(or set MDT_BUILD_FIXTURES=1 to let the tests run it).',
    );
  }
  let builds = JSON.parse(fs.readFileSync(manifestPath(), 'utf8')) as FixtureBuild[];
  if (opts.go) builds = builds.filter((b) => opts.go!.includes(b.go));
  if (opts.mode) builds = builds.filter((b) => opts.mode!.includes(b.mode));
  if (opts.variant) builds = builds.filter((b) => opts.variant!.includes(b.variant));
  return builds;
}

/** The text of source line `line` of `file` (1-based), for assertions. */
export function sourceLine(file: string, line: number): string {
  return fs.readFileSync(file, 'utf8').split('\n')[line - 1] ?? '';
}

// ---- the fixture's JSON lines --------------------------------------------------

/** First line: the process is up and waits for "go" on stdin. */
export interface FixtureReady {
  event: 'ready';
  pid: number;
  /** runtime.Version(), e.g. "go1.22.12" or "go1.24.13 X:noswissmap". */
  go: string;
}

/** One map operation, printed right after it happened. */
export interface FixtureOp {
  event: 'op';
  /** 1, 2, 3 … in program order. */
  seq: number;
  op: 'delete' | 'clear';
  /** Goroutine id, from the runtime's own "goroutine N [" stack header. */
  goid: number;
  /** fmt %p of the map: "0xc000123456"; "0x0" for a nil map. */
  map: string;
  /** fmt %T of the map, e.g. "map[string]*main.User", "map[string][200]uint8". */
  type: string;
  /** Key type name, e.g. "string", "int64", "*main.User", "main.Key". */
  key_type: string;
  /** Strings as text, integers decimal, other keys lowercase hex of their memory
   * bytes (pointers: little-endian address). "" for clears. */
  key: string;
  /** Function containing the operation, e.g. "main.deleteString"; for the
   * inlined case the inlined function ("main.inlineDelete"). */
  func: string;
  /** Absolute source path. */
  file: string;
  /** Line of the delete / clear statement (for a range-delete loop: the `for`;
   * for reflect: the SetMapIndex / Clear call). */
  line: number;
  via: 'direct' | 'reflect';
  /** len(m) right after the operation. */
  len_after: number;
}

/** Scenario "load" only: printed once all load goroutines finished. */
export interface FixtureLoad {
  event: 'load';
  /** Exact number of deletes done (= round(rate*seconds)). */
  deletes: number;
  /** Deletes per goroutine, keyed by goroutine id (decimal string). */
  per_goroutine: Record<string, number>;
  /** Where the load delete is: "main.loadWorker", absolute file, line. */
  func: string;
  file: string;
  line: number;
  elapsed_ms: number;
}

/** Last line. ops = number of op lines printed (0 for scenario "load"). */
export interface FixtureDone {
  event: 'done';
  ops: number;
}

export type FixtureEvent = FixtureReady | FixtureOp | FixtureLoad | FixtureDone;

// ---- running the fixture ------------------------------------------------------

export interface FixtureArgs {
  /** "all" (default), "load", or one scenario name (string, int64, uint64, int32,
   * uint32, pointer, struct, bigvalue, clear, rangeclear, reflect-string,
   * reflect-int64, reflect-clear, nil, empty, inlined, worker). */
  scenario?: string;
  /** Wait for stdin EOF after the done line (use endInput() or kill()). */
  linger?: boolean;
  goroutines?: number;
  rate?: number;
  seconds?: number;
  /** Extra raw arguments. */
  extra?: string[];
}

export interface StartOptions {
  /** How long to wait for the ready line (ms, default 15000). */
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface RunningFixture {
  readonly pid: number;
  readonly ready: FixtureReady;
  /** Let the program run its scenario (writes "go\n" to its stdin). */
  go(): void;
  /** All op lines, resolved at the done line; rejects if the process ends without one. */
  readonly ops: Promise<FixtureOp[]>;
  /** The load line (scenario "load"); rejects if the run ends without one. */
  readonly loadResult: Promise<FixtureLoad>;
  /** The done line; rejects if the process ends without one. */
  readonly done: Promise<FixtureDone>;
  /** Exit code (128 + signal number when killed by a signal). */
  readonly exited: Promise<number>;
  /** Every JSON line so far, in order. */
  readonly events: FixtureEvent[];
  /** stderr so far. */
  stderr(): string;
  /** Close stdin (ends a -linger run). */
  endInput(): void;
  /** Signal this process, by its pid only (default SIGKILL). No-op once it has exited. */
  kill(signal?: NodeJS.Signals): void;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

function toArgv(args: FixtureArgs | string[]): string[] {
  if (Array.isArray(args)) return args;
  const a: string[] = [];
  if (args.scenario) a.push('-scenario', args.scenario);
  if (args.linger) a.push('-linger');
  if (args.goroutines !== undefined) a.push('-goroutines', String(args.goroutines));
  if (args.rate !== undefined) a.push('-rate', String(args.rate));
  if (args.seconds !== undefined) a.push('-seconds', String(args.seconds));
  if (args.extra) a.push(...args.extra);
  return a;
}

/** A promise whose rejection is never reported as unhandled (callers may ignore it). */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/**
 * Spawn a fixture binary and wait for its ready line. The program then waits
 * for go(); attach the tracer in between.
 */
export function startFixture(binPath: string, args: FixtureArgs | string[] = {}, opts: StartOptions = {}): Promise<RunningFixture> {
  const child: ChildProcessWithoutNullStreams = spawn(binPath, toArgv(args), {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr += d;
  });
  child.stdin.on('error', () => undefined); // EPIPE after exit

  const events: FixtureEvent[] = [];
  const ops: FixtureOp[] = [];
  let exitedFlag = false;
  let protocolError: Error | null = null;

  let resolveReady!: (r: FixtureReady) => void;
  let rejectReady!: (e: Error) => void;
  const readyP = new Promise<FixtureReady>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  let resolveDone!: (d: FixtureDone) => void;
  let rejectDone!: (e: Error) => void;
  const doneP = quiet(
    new Promise<FixtureDone>((res, rej) => {
      resolveDone = res;
      rejectDone = rej;
    }),
  );
  let loadLine: FixtureLoad | null = null;

  const exitedP = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      exitedFlag = true;
      resolve(code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0));
    });
  });
  child.on('error', (e) => {
    exitedFlag = true;
    rejectReady(new Error(`fixture ${binPath}: ${e.message}`));
    rejectDone(new Error(`fixture ${binPath}: ${e.message}`));
  });

  const fail = (msg: string): void => {
    protocolError = new Error(`fixture ${path.basename(path.dirname(binPath))}: ${msg}`);
    rejectReady(protocolError);
    rejectDone(protocolError);
  };

  const rl = readline.createInterface({ input: child.stdout, crlfDelay: Infinity });
  rl.on('line', (line) => {
    let ev: FixtureEvent;
    try {
      ev = JSON.parse(line) as FixtureEvent;
    } catch {
      fail(`non-JSON line on stdout: ${JSON.stringify(line)}`);
      return;
    }
    events.push(ev);
    switch (ev.event) {
      case 'ready':
        resolveReady(ev);
        break;
      case 'op':
        ops.push(ev);
        break;
      case 'load':
        loadLine = ev;
        break;
      case 'done':
        if (ev.ops !== ops.length) fail(`done says ${ev.ops} ops, saw ${ops.length}`);
        else resolveDone(ev);
        break;
      default:
        fail(`unknown event in ${JSON.stringify(line)}`);
    }
  });
  rl.on('close', () => {
    // stdout closed: the process is gone (or closed stdout) without a done line.
    const why = `exited without a done line; stderr: ${stderr.trim().slice(-2000)}`;
    rejectReady(new Error(`fixture ${binPath}: ${why}`));
    rejectDone(new Error(`fixture ${binPath}: ${why}`));
  });

  const timeoutMs = opts.readyTimeoutMs ?? 15000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`fixture ${binPath}: no ready line within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
  });

  return Promise.race([readyP, timeout])
    .finally(() => clearTimeout(timer))
    .then(
      (ready): RunningFixture => {
        const fixture: RunningFixture = {
          pid: child.pid!,
          ready,
          go: () => {
            child.stdin.write('go\n');
          },
          ops: quiet(doneP.then(() => ops.slice())),
          loadResult: quiet(
            doneP.then(() => {
              if (!loadLine) throw new Error(`fixture ${binPath}: no load line (not run with -scenario load?)`);
              return loadLine;
            }),
          ),
          done: doneP,
          exited: exitedP,
          events,
          stderr: () => stderr,
          endInput: () => {
            child.stdin.end();
          },
          kill: (signal: NodeJS.Signals = 'SIGKILL') => {
            if (exitedFlag || child.pid === undefined) return;
            try {
              process.kill(child.pid, signal);
            } catch {
              /* already gone */
            }
          },
        };
        return fixture;
      },
      (e: Error) => {
        if (!exitedFlag && child.pid !== undefined) {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        throw e;
      },
    );
}

/** Run a fixture to completion without a tracer: start, go, collect. */
export async function runFixture(
  binPath: string,
  args: FixtureArgs | string[] = {},
  opts: StartOptions = {},
): Promise<{ ready: FixtureReady; ops: FixtureOp[]; load: FixtureLoad | null; done: FixtureDone; code: number }> {
  const f = await startFixture(binPath, args, opts);
  f.go();
  try {
    const [ops, done] = await Promise.all([f.ops, f.done]);
    const load = (f.events.find((e) => e.event === 'load') as FixtureLoad | undefined) ?? null;
    f.endInput();
    return { ready: f.ready, ops, load, done, code: await f.exited };
  } finally {
    f.kill();
  }
}
