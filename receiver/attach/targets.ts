/**
 * From what the user named (--pid, --exe) to analysed binaries: which file, which Go, which
 * probe points, which goroutine-id offset. Binaries are analysed once per inode.
 */
import * as fs from 'node:fs';
import { GoBinary, type ProbePoint } from '../golang/binary';
import { GoBinaryError } from '../golang/errors';
import { UserError } from '../util/errors';
import { exeIdentity, exePath, fileIdentity, processExists, type ExeIdentity } from './procfs';

export interface BinaryPlan {
  binary: GoBinary;
  identity: ExeIdentity;
  /** What the user knows the binary as (its path, or the process's executable). */
  displayPath: string;
  points: ProbePoint[];
  goidOffset: number;
  /** g.parentGoid (Go 1.21+): lets new goroutines inherit their creator's spans. */
  parentGoidOffset?: number;
  goidSource: 'dwarf' | 'table';
}

const plans = new Map<string, BinaryPlan>();
const idKey = (id: ExeIdentity) => `${id.dev}:${id.ino}`;

/** Analyses (once) the binary at `openPath`; errors become one-line UserErrors naming `what`. */
export function planFor(openPath: string, identity: ExeIdentity, what: string, displayPath: string): BinaryPlan {
  const cached = plans.get(idKey(identity));
  if (cached) return cached;
  let binary: GoBinary;
  try {
    binary = GoBinary.open(openPath);
  } catch (err) {
    if (err instanceof GoBinaryError) throw new UserError(`${what}: ${err.message}`);
    throw err;
  }
  let points: ProbePoint[];
  let goid: { goid: number; parentGoid?: number; source: 'dwarf' | 'table' };
  try {
    points = binary.probePoints().points;
    goid = binary.goidOffsets();
  } catch (err) {
    if (err instanceof GoBinaryError) throw new UserError(`${what}: ${err.message}`);
    throw err;
  }
  if (points.length === 0) {
    throw new UserError(`${what}: no map delete functions found in ${displayPath} (a Go program that never deletes from a map has nothing to trace)`);
  }
  const plan: BinaryPlan = { binary, identity, displayPath, points, goidOffset: goid.goid, parentGoidOffset: goid.parentGoid, goidSource: goid.source };
  plans.set(idKey(identity), plan);
  return plan;
}

export function planForPid(pid: number): BinaryPlan {
  if (!Number.isInteger(pid) || pid <= 0) throw new UserError(`invalid PID "${pid}": pass a positive process id`);
  if (!processExists(pid)) throw new UserError(`no process with PID ${pid} (check it with \`ps -p ${pid}\`)`);
  const id = exeIdentity(pid);
  const path = exePath(pid);
  if (!id || !path) {
    if (!processExists(pid)) throw new UserError(`process ${pid} exited while attaching`);
    throw new UserError(
      `cannot read /proc/${pid}/exe: tracing another user's process needs root or CAP_SYS_PTRACE (run with sudo)`,
      77,
    );
  }
  return planFor(`/proc/${pid}/exe`, id, `PID ${pid} (${path})`, path);
}

export function planForExe(path: string): BinaryPlan {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    throw new UserError(`--exe ${path}: no such file (pass the path of the Go executable)`);
  }
  if (!st.isFile()) throw new UserError(`--exe ${path}: not a regular file (pass the path of the Go executable)`);
  const abs = fs.realpathSync(path);
  return planFor(abs, fileIdentity(abs), abs, abs);
}

export function sameBinary(a: ExeIdentity, b: ExeIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}
