/**
 * Which functions to probe and where. Everything comes from pclntab, so stripped binaries work.
 *
 * delete(m, k) compiles to one of the runtime.mapdelete* calls and clear(m) / the range-delete
 * idiom to runtime.mapclear; none of them can be inlined into user code. Reflection is the one
 * other way in: reflect.mapdelete/_faststr/mapclear are runtime functions linknamed into reflect.
 * With classic maps they just call the runtime function (probing them too would report every
 * reflective delete twice), but in Swiss-table builds (Go 1.24+) reflect.mapdelete and
 * reflect.mapclear inline the runtime function and call internal/runtime/maps.(*Map).Delete/Clear
 * directly, so without their own probe reflective deletes would be missed. Rather than trust a
 * version table, we disassemble each reflect function and look at what it calls.
 */
import { ElfFile } from './elf';
import { GoBinaryError, refusal } from './errors';
import { FuncInfo, Pclntab } from './pclntab';
import { chooseProbePoint } from './prologue';
import { Flow, decode } from './x86';

export type ArgKind = 'keyptr' | 'key32' | 'key64' | 'keystr' | 'clear';

export interface ProbePoint {
  function: string;
  argKind: ArgKind;
  /** Function entry, link-time vaddr. */
  entry: number;
  /** Probe address, link-time vaddr. */
  vaddr: number;
  /** What uprobe attach wants: the file offset of `vaddr`. */
  fileOffset: number;
  instruction: string;
  reason: string;
}

export interface ProbePlan {
  points: ProbePoint[];
  absent: string[];
  skipped: { function: string; reason: string }[];
}

export const RUNTIME_TARGETS: readonly { name: string; argKind: ArgKind }[] = [
  { name: 'runtime.mapdelete', argKind: 'keyptr' },
  { name: 'runtime.mapdelete_fast32', argKind: 'key32' },
  { name: 'runtime.mapdelete_fast64', argKind: 'key64' },
  { name: 'runtime.mapdelete_faststr', argKind: 'keystr' },
  { name: 'runtime.mapclear', argKind: 'clear' },
];

export const REFLECT_TARGETS: readonly { name: string; argKind: ArgKind }[] = [
  { name: 'reflect.mapdelete', argKind: 'keyptr' },
  { name: 'reflect.mapdelete_faststr', argKind: 'keystr' },
  { name: 'reflect.mapclear', argKind: 'clear' },
];

export const SWISS_MARKER = 'internal/runtime/maps.(*Map).Delete';

/** The function's machine code, from its entry to the next function. */
export function functionBody(elf: ElfFile, f: FuncInfo): Buffer {
  const len = f.end - f.entry;
  if (!(len > 0 && len < 1 << 24)) throw new GoBinaryError(`${elf.path}: function ${f.name} has implausible size ${len}`);
  try {
    return elf.readVaddr(f.entry, len);
  } catch (err) {
    // Callers outside GoBinary's guard (otelsdk.ts, the tracer's RET probes) need the file named.
    throw refusal(elf.path, err);
  }
}

/** Names of the functions `f` calls directly (CALL rel32), in order, deduplicated. */
export function directCallees(elf: ElfFile, pcln: Pclntab, f: FuncInfo): string[] {
  const names = new Set<string>();
  for (const i of decode(functionBody(elf, f), f.entry)) {
    if (i.flow === Flow.Call && i.target !== undefined) {
      const callee = pcln.funcForPC(i.target);
      names.add(callee && callee.entry === i.target ? callee.name : `0x${i.target.toString(16)}`);
    }
  }
  return [...names];
}

export function findProbePoints(elf: ElfFile, pcln: Pclntab): ProbePlan {
  const plan: ProbePlan = { points: [], absent: [], skipped: [] };
  const probed = new Set<string>();
  const add = (f: FuncInfo, argKind: ArgKind, note?: string) => {
    let c;
    try {
      c = chooseProbePoint(f.name, f.entry, functionBody(elf, f));
    } catch (err) {
      // chooseProbePoint does not know the file; functionBody's errors already name it.
      if (err instanceof GoBinaryError && !err.message.startsWith(elf.path)) throw new GoBinaryError(`${elf.path}: ${err.message}`);
      throw err;
    }
    plan.points.push({
      function: f.name,
      argKind,
      entry: f.entry,
      vaddr: c.vaddr,
      fileOffset: elf.vaddrToFileOffset(c.vaddr),
      instruction: c.instruction,
      reason: note ? `${note}; ${c.reason}` : c.reason,
    });
    probed.add(f.name);
  };
  for (const t of RUNTIME_TARGETS) {
    const f = pcln.funcByName(t.name);
    if (f) add(f, t.argKind);
    else plan.absent.push(t.name);
  }
  if (plan.points.length === 0) {
    throw new GoBinaryError(
      `${elf.path} contains none of the Go runtime's map-delete functions (${RUNTIME_TARGETS.map((t) => t.name).join(', ')}); it cannot delete from maps, so there is nothing to trace`,
    );
  }
  for (const t of REFLECT_TARGETS) {
    const f = pcln.funcByName(t.name);
    if (!f) {
      plan.absent.push(t.name);
      continue;
    }
    const callees = directCallees(elf, pcln, f);
    const hit = callees.find((c) => probed.has(c));
    if (hit) {
      plan.skipped.push({ function: t.name, reason: `calls ${hit}, which is probed: a reflective delete is already seen there` });
    } else {
      const via = callees.filter((c) => !c.startsWith('runtime.morestack'));
      add(f, t.argKind, `does not call a probed runtime function${via.length ? ` (calls ${via.join(', ')})` : ''}`);
    }
  }
  return plan;
}
