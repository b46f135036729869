/** Reading /proc: process liveness, executables, mappings. Read-only by design. */
import * as fs from 'node:fs';

export interface ExeIdentity {
  dev: number;
  ino: number;
}

export function processExists(pid: number): boolean {
  try {
    // /proc/PID/stat disappears when the process is reaped; zombies are treated as gone.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The executable's identity through the /proc magic link, so containers' binaries work too. */
export function exeIdentity(pid: number): ExeIdentity | undefined {
  try {
    const st = fs.statSync(`/proc/${pid}/exe`);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

export function fileIdentity(path: string): ExeIdentity {
  const st = fs.statSync(path);
  return { dev: st.dev, ino: st.ino };
}

export function exePath(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}

export function listPids(): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) out.push(Number(name));
  }
  return out;
}

export interface Mapping {
  start: number;
  end: number;
  perms: string;
  offset: number;
  dev: string;
  ino: number;
  path: string;
}

export function readMaps(pid: number): Mapping[] {
  const text = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      start: parseInt(m[1], 16),
      end: parseInt(m[2], 16),
      perms: m[3],
      offset: parseInt(m[4], 16),
      dev: m[5],
      ino: Number(m[6]),
      path: m[7],
    });
  }
  return out;
}

export interface LoadSegment {
  vaddr: number;
  offset: number;
  filesz: number;
}

/**
 * Runtime address − link-time address for the executable's image in `pid`: 0 for non-PIE
 * binaries, the ASLR slide for PIE. Found from the mapping of a PT_LOAD segment.
 */
export function loadBias(maps: Mapping[], ino: number, segments: LoadSegment[]): number | undefined {
  for (const m of maps) {
    if (m.ino !== ino) continue;
    const seg = segments.find((s) => m.offset >= s.offset && m.offset < s.offset + Math.max(s.filesz, 1));
    if (!seg) continue;
    return m.start - m.offset - (seg.vaddr - seg.offset);
  }
  return undefined;
}

/** Environment of a process, for OTEL_SERVICE_NAME and friends; empty when unreadable. */
export function readEnviron(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  try {
    for (const kv of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const eq = kv.indexOf('=');
      if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
  } catch {
    // another user's process without CAP_SYS_PTRACE: no environment, not an error
  }
  return env;
}
