/**
 * What the kernel says about a tracer's probes, through bpftool: the uprobes a process holds
 * (`bpftool perf show`: holder PID, program id, file, offset), the BPF links of those programs
 * (`bpftool link show`) and whether the programs still exist (`bpftool prog show`). Other tracers
 * may run on the same machine, so everything is narrowed to one tracer's programs.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export interface PerfAttachment {
  pid: number;
  fd: number;
  prog_id: number;
  fd_type: string;
  filename?: string;
  offset?: number;
}

export interface BpfLink {
  id: number;
  type: string;
  prog_id: number;
}

function bpftool(args: string[]): unknown[] | undefined {
  const r = spawnSync('bpftool', ['-j', ...args], { encoding: 'utf8' });
  if (r.error) return undefined; // not installed
  if (r.status !== 0) throw new Error(`bpftool ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout || '[]') as unknown[];
}

/** Why bpftool cannot be used, or undefined. Under CI=true a missing bpftool is an error (scripts/setup.sh installs it). */
export function bpftoolMissing(): string | undefined {
  if (spawnSync('bpftool', ['version'], { encoding: 'utf8' }).error === undefined) return undefined;
  if (process.env.CI === 'true') throw new Error('bpftool is not installed (scripts/setup.sh installs it)');
  return 'bpftool is not installed: probe checks through bpftool skipped';
}

/** Uprobes held by process `pid` (`bpftool perf show`). */
export function uprobesHeldBy(pid: number): PerfAttachment[] {
  return ((bpftool(['perf', 'show']) ?? []) as PerfAttachment[]).filter((e) => e.pid === pid && e.fd_type === 'uprobe');
}

/** Uprobes on a file, whoever holds them. */
export function uprobesOnFile(filename: string): PerfAttachment[] {
  const real = fs.realpathSync(filename);
  return ((bpftool(['perf', 'show']) ?? []) as PerfAttachment[]).filter((e) => e.fd_type === 'uprobe' && (e.filename === filename || e.filename === real));
}

/** BPF links (`bpftool link show`) of these programs. */
export function linksOfPrograms(progIds: Set<number>): BpfLink[] {
  return ((bpftool(['link', 'show']) ?? []) as BpfLink[]).filter((l) => progIds.has(l.prog_id));
}

/** Which of these program ids still exist (`bpftool prog show`). */
export function liveProgramIds(progIds: Set<number>): number[] {
  return ((bpftool(['prog', 'show']) ?? []) as { id: number }[]).map((p) => p.id).filter((id) => progIds.has(id));
}

export interface ProbeSnapshot {
  uprobes: PerfAttachment[];
  progIds: Set<number>;
  links: BpfLink[];
}

/** A running tracer's uprobes, their programs and their links. */
export function tracerProbes(pid: number): ProbeSnapshot {
  const uprobes = uprobesHeldBy(pid);
  const progIds = new Set(uprobes.map((u) => u.prog_id));
  return { uprobes, progIds, links: linksOfPrograms(progIds) };
}

/**
 * After the tracer is gone: waits (the kernel may free links and programs a moment after the
 * process is reaped) until none of its programs, links or uprobes is left; returns what is
 * left at the deadline (all empty when clean).
 */
export async function waitProbesGone(snap: ProbeSnapshot, tracerPid: number, timeoutMs = 5000): Promise<{ uprobes: PerfAttachment[]; links: BpfLink[]; progs: number[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = {
      uprobes: ((bpftool(['perf', 'show']) ?? []) as PerfAttachment[]).filter((e) => e.pid === tracerPid || snap.progIds.has(e.prog_id)),
      links: linksOfPrograms(snap.progIds),
      progs: liveProgramIds(snap.progIds),
    };
    if ((left.uprobes.length === 0 && left.links.length === 0 && left.progs.length === 0) || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}
