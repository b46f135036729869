/**
 * Process plumbing for the benchmark suite (bench/suite.ts): start programs, wait for a line,
 * read a process's CPU time and memory from /proc, stop processes by PID.
 *
 * A tracer is started under a small python3 wrapper that waits for it with wait4(2): its exit
 * status, its total CPU time and its peak RSS (ru_maxrss, the same high-water mark as VmHWM)
 * arrive on fd 3 when it exits, so nothing is lost between the last /proc read and the exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as readline from 'node:readline';

export const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64

/** utime + stime of a live process, in seconds; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may contain spaces), from field 3 on.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** VmHWM and VmRSS (kB) of a live process. */
export function memoryKb(pid: number): { hwm: number; rss: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN);
    return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function signal(pid: number | undefined, sig: NodeJS.Signals = 'SIGTERM'): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Lines of a stream, kept, with waiters for a line that matches. */
export class Lines {
  readonly all: string[] = [];
  private waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  private closed = false;
  private closeWaiters: (() => void)[] = [];

  constructor(stream: NodeJS.ReadableStream | null, private readonly echo?: (line: string) => void) {
    if (!stream) {
      this.closed = true;
      return;
    }
    const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', (line) => {
      this.all.push(line);
      this.echo?.(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.re.test(line)) return true;
        w.resolve(line);
        return false;
      });
    });
    rl.on('close', () => {
      this.closed = true;
      for (const w of this.closeWaiters) w();
    });
  }

  /** Resolves with the first line (already seen or to come) matching re; rejects on timeout or EOF. */
  waitFor(re: RegExp, timeoutMs: number, what: string): Promise<string> {
    const seen = this.all.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        done();
        reject(new Error(`${what}: no line matching ${re} within ${timeoutMs} ms; last lines:\n  ${this.all.slice(-8).join('\n  ')}`));
      }, timeoutMs);
      const onClose = () => {
        done();
        reject(new Error(`${what}: output ended before a line matching ${re}; last lines:\n  ${this.all.slice(-8).join('\n  ')}`));
      };
      const w = {
        re,
        resolve: (l: string) => {
          done();
          resolve(l);
        },
      };
      const done = () => {
        clearTimeout(t);
        this.waiters = this.waiters.filter((x) => x !== w);
        this.closeWaiters = this.closeWaiters.filter((x) => x !== onClose);
      };
      this.waiters.push(w);
      if (this.closed) onClose();
      else this.closeWaiters.push(onClose);
    });
  }

  json(): any[] {
    const out: any[] = [];
    for (const l of this.all) {
      if (!l.startsWith('{')) continue;
      try {
        out.push(JSON.parse(l));
      } catch {
        /* not JSON */
      }
    }
    return out;
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Started {
  child: ChildProcess;
  pid: number;
  stdout: Lines;
  stderr: Lines;
  exited: Promise<Exit>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  /** 'pipe' (default): lines kept; 'ignore': /dev/null; a path: written to that file. */
  stdout?: 'pipe' | 'ignore' | string;
  stdin?: 'pipe' | 'ignore';
  cwd?: string;
}

function stdoutFd(o: StartOptions['stdout']): 'pipe' | 'ignore' | number {
  if (o === undefined || o === 'pipe' || o === 'ignore') return o ?? 'pipe';
  return fs.openSync(o, 'w');
}

export function start(cmd: string, args: string[], opts: StartOptions = {}): Started {
  const out = stdoutFd(opts.stdout);
  const child = spawn(cmd, args, { stdio: [opts.stdin ?? 'pipe', out, 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
  if (typeof out === 'number') fs.closeSync(out);
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, sig) => resolve({ code, signal: sig }));
    child.once('error', () => resolve({ code: -1, signal: null }));
  });
  if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
  return { child, pid: child.pid, stdout: new Lines(child.stdout), stderr: new Lines(child.stderr), exited };
}

/** What wait4(2) reports for a tracer that has exited. */
export interface Rusage {
  exitCode: number;
  /** user + system CPU over the whole life, seconds */
  cpuS: number;
  /** peak resident set, kB (ru_maxrss = VmHWM at exit) */
  maxRssKb: number;
}

export interface Measured {
  /** the measured program's own PID (not the wrapper's) */
  pid: number;
  stderr: Lines;
  /** resolves once the program exited and was reaped */
  done: Promise<Rusage>;
  wrapper: ChildProcess;
}

const WAIT4_PY = `
import json, os, subprocess, sys
fd3 = os.fdopen(3, "w")
p = subprocess.Popen(sys.argv[1:])
fd3.write(json.dumps({"pid": p.pid}) + "\\n"); fd3.flush()
while True:
    try:
        _, status, ru = os.wait4(p.pid, 0)
        break
    except InterruptedError:
        continue
code = os.waitstatus_to_exitcode(status)
fd3.write(json.dumps({"exit": code, "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}) + "\\n"); fd3.flush()
`;

/** Starts cmd under the wait4 wrapper; stdout goes where opts.stdout says (never piped). */
export async function startMeasured(cmd: string, args: string[], opts: { stdout: 'ignore' | string; env?: NodeJS.ProcessEnv }): Promise<Measured> {
  const out = stdoutFd(opts.stdout) as 'ignore' | number;
  const wrapper = spawn('python3', ['-c', WAIT4_PY, cmd, ...args], { stdio: ['ignore', out, 'pipe', 'pipe'], env: opts.env ?? process.env });
  if (typeof out === 'number') fs.closeSync(out);
  const ctl = new Lines(wrapper.stdio[3] as NodeJS.ReadableStream);
  const stderr = new Lines(wrapper.stderr);
  const pidLine = await ctl.waitFor(/"pid"/, 10_000, `starting ${cmd}`);
  const pid = JSON.parse(pidLine).pid as number;
  const done = ctl.waitFor(/"exit"/, 24 * 3600_000, `${cmd} ${args[0] ?? ''}`).then((l) => {
    const o = JSON.parse(l);
    return { exitCode: o.exit, cpuS: o.cpu_s, maxRssKb: o.maxrss_kb } as Rusage;
  });
  done.catch(() => undefined);
  return { pid, stderr, done, wrapper };
}

/** Waits for p, or gives up after ms (then SIGTERM, and SIGKILL 5 s later). */
export async function waitOrKill<T>(p: Promise<T>, pid: number, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  const first = await Promise.race([p, timeout]);
  clearTimeout(timer);
  if (first !== 'timeout') return first as T;
  signal(pid, 'SIGTERM');
  const t2 = setTimeout(() => signal(pid, 'SIGKILL'), 5000);
  try {
    return await p;
  } finally {
    clearTimeout(t2);
  }
}

/** Runs a command to completion; resolves with its stdout (throws on a non-zero exit). */
export async function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd, env: opts.env ?? process.env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const timer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs ?? 600_000);
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', (c) => resolve(c));
    child.once('error', () => resolve(-1));
  });
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim().split('\n').slice(-5).join('\n')}`);
  return out;
}

/** run() that returns undefined instead of throwing. */
export async function tryRun(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    return (await run(cmd, args, { timeoutMs: 30_000 })).trim();
  } catch {
    return undefined;
  }
}
