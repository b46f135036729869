/**
 * bench/deleteloop for end-to-end tests: built with the machine's Go into .cache/e2e/deleteloop/
 * (redone only when its sources or the Go version change), and run with every result line
 * timestamped on arrival, so a test can tell which windows ran before, during and after a tracer.
 * Protocol: see bench/deleteloop/main.go (ready line, "go" on stdin, one result per case, done).
 */
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { repoRoot } from './fixtures';

export function machineGo(): string {
  return process.env.GO || ['/usr/local/go/bin/go', '/usr/bin/go'].find((p) => fs.existsSync(p)) || 'go';
}

/** The deleteloop binary (built when missing or stale). */
export function buildDeleteloop(): string {
  const src = path.join(repoRoot(), 'bench', 'deleteloop');
  const out = path.join(repoRoot(), '.cache', 'e2e', 'deleteloop');
  const bin = path.join(out, 'deleteloop');
  const go = machineGo();
  const env = { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=mod' };
  const h = createHash('sha256');
  for (const f of fs.readdirSync(src).filter((n) => /\.go$|^go\.(mod|sum)$/.test(n)).sort()) h.update(f).update(fs.readFileSync(path.join(src, f)));
  const stamp = `src=${h.digest('hex').slice(0, 16)} go=${execFileSync(go, ['env', 'GOVERSION'], { cwd: src, env, encoding: 'utf8' }).trim()}`;
  const stampFile = path.join(out, 'stamp');
  if (fs.existsSync(bin) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp) return bin;
  fs.mkdirSync(out, { recursive: true });
  execFileSync(go, ['build', '-o', bin, '.'], { cwd: src, env, stdio: ['ignore', process.stderr, process.stderr] });
  fs.writeFileSync(stampFile, stamp);
  return bin;
}

export interface LoopWindow {
  case: string;
  deletes: number;
  ns_per_delete: number;
  elapsed_ns: number;
  /** Date.now() when the result line arrived (the window's end). */
  at: number;
  /** Estimated start of the window (at − elapsed). */
  start: number;
  /** Deletes (each with its re-insert) per second in this window. */
  rate: number;
}

export interface RunningLoop {
  pid: number;
  go: string;
  windows: LoopWindow[];
  /** Resolves with window i (0-based) once it has arrived (rejects if the program ends first). */
  window(i: number): Promise<LoopWindow>;
  start(): void;
  done: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  kill(): void;
}

/** Starts deleteloop (`-cases int64,...` repeated `windows` times, each `seconds` long) and waits for its ready line. */
export async function startDeleteloop(bin: string, windows: number, seconds: number): Promise<RunningLoop> {
  const child = spawn(bin, ['-cases', Array(windows).fill('int64').join(','), '-seconds', String(seconds)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
  const list: LoopWindow[] = [];
  let waiters: { i: number; resolve: (w: LoopWindow) => void; reject: (e: Error) => void }[] = [];
  let finished: Error | null = null;
  let readyResolve!: (r: { pid: number; go: string }) => void;
  const ready = new Promise<{ pid: number; go: string }>((r) => (readyResolve = r));
  let doneResolve!: () => void;
  const done = new Promise<void>((r) => (doneResolve = r));
  const finish = (why: string) => {
    if (finished) return;
    finished = new Error(why);
    for (const w of waiters) w.reject(finished);
    waiters = [];
  };
  readline.createInterface({ input: child.stdout }).on('line', (l) => {
    const at = Date.now();
    const e = JSON.parse(l);
    if (e.event === 'ready') readyResolve(e);
    else if (e.event === 'result') {
      const w: LoopWindow = { ...e, at, start: at - e.elapsed_ns / 1e6, rate: e.deletes / (e.elapsed_ns / 1e9) };
      list.push(w);
      for (const x of waiters) if (x.i === list.length - 1) x.resolve(w);
      waiters = waiters.filter((x) => x.i >= list.length);
    } else if (e.event === 'done') {
      doneResolve();
      finish('deleteloop finished all its windows');
    }
  });
  void exited.then((r) => finish(`deleteloop exited (${r.code ?? r.signal}); stderr: ${stderr}`));
  const r = await Promise.race([ready, exited.then((x) => Promise.reject(new Error(`deleteloop exited (${x.code ?? x.signal}) before ready: ${stderr}`)))]);
  return {
    pid: r.pid,
    go: r.go,
    windows: list,
    window: (i) => {
      if (i < list.length) return Promise.resolve(list[i]);
      if (finished) return Promise.reject(finished);
      return new Promise((resolve, reject) => waiters.push({ i, resolve, reject }));
    },
    start: () => child.stdin.write('go\n'),
    done,
    exited,
    stderr: () => stderr,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    },
  };
}
