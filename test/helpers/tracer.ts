/** Runs the real CLI as a child process and collects what it prints. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { packageRoot } from '../../receiver/util/paths';

export const CLI = path.join(packageRoot(), 'dist', 'receiver', 'cli.js');

export interface TracerRun {
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves when the tracer says its probes are attached (or rejects when it exits first). */
  attached: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string[]; stderr: string[] }>;
  /** Stops it by its PID. */
  kill(signal?: NodeJS.Signals): void;
}

function lines(stream: NodeJS.ReadableStream, into: string[], onLine?: (l: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      into.push(line);
      onLine?.(line);
    }
  });
  stream.on('end', () => {
    if (rest) into.push(rest);
  });
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; wrap?: string[] } = {}): TracerRun {
  const argv = [...(opts.wrap ?? []), process.execPath, CLI, ...args];
  const proc = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  let onAttached: () => void = () => {};
  let onFail: (e: Error) => void = () => {};
  const attached = new Promise<void>((res, rej) => {
    onAttached = res;
    onFail = rej;
  });
  attached.catch(() => {});
  lines(proc.stdout!, stdout);
  lines(proc.stderr!, stderr, (l) => {
    if (/ready: \d+ probes attached/.test(l)) onAttached();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string[]; stderr: string[] }>((res) => {
    proc.on('close', (code, signal) => {
      onFail(new Error(`tracer exited (${code ?? signal}) before attaching: ${stderr.join('\n')}`));
      res({ code, signal, stdout, stderr });
    });
  });
  return {
    proc,
    stdout,
    stderr,
    attached,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (proc.pid && proc.exitCode === null) process.kill(proc.pid, signal);
    },
  };
}

export interface WatchSummary {
  events: number;
  hits: number;
  lost: number;
}

export function parseSummary(stderr: string[]): WatchSummary {
  const line = stderr.find((l) => /events from \d+ process/.test(l));
  if (!line) throw new Error(`no summary line in tracer stderr:\n${stderr.join('\n')}`);
  const num = (re: RegExp) => Number(re.exec(line)?.[1] ?? NaN);
  return { events: num(/(\d+) events from/), hits: num(/probe hits (\d+)/), lost: num(/lost (\d+)/) };
}

export interface RunSummary {
  deletes: number;
  exportedEvents: number;
  droppedEvents: number;
  rateLimited: number;
}

/** The closing line of `run`: "N deletes from …; otlp: S spans / E events exported, D events dropped". */
export function parseRunSummary(stderr: string[]): RunSummary {
  const line = stderr.find((l) => /deletes from \d+ process/.test(l));
  if (!line) throw new Error(`no run summary in tracer stderr:\n${stderr.join('\n')}`);
  const num = (re: RegExp) => Number(re.exec(line)?.[1] ?? 0);
  return {
    deletes: num(/(\d+) deletes from/),
    exportedEvents: num(/(\d+) events exported/),
    droppedEvents: num(/(\d+) events dropped/),
    rateLimited: num(/(\d+) over the rate ceiling/),
  };
}
