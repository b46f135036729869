/**
 * Direct CALLs to given functions, for GoBinary.callSites(): where the user's code calls the
 * probed runtime functions, so that a tracer can tell the sites apart (and name them) before a
 * single event arrives.
 *
 * Decoding every instruction of a large binary with iced-x86 is slow (≈0.8 s for the 12–16 MB
 * of text of cmd/compile even without formatting, ≈7× that with it). But a direct call is always
 * `e8 rel32`, so a byte scan of the text finds every position that COULD be a call to one of the
 * targets: an e8 byte whose rel32 lands on a target. That is a superset of the real call sites
 * (it also matches e8 bytes inside other instructions), and only the functions that contain such
 * a candidate can contain a call; those functions, found through pclntab's function table, are
 * decoded from their entry to their end and only candidates that are real instruction starts
 * and really CALL a target are kept. A function that fails to decode is skipped, not fatal.
 */
import { ElfFile } from './elf';
import { Pclntab } from './pclntab';
import { Flow, decode } from './x86';

export interface RawCallSite {
  /** Address of the CALL instruction (link-time). */
  callPc: number;
  /** Address of the instruction after it: what the callee finds at [RSP] on entry. */
  retAddr: number;
  /** The called function's entry. */
  target: number;
}

/** Functions larger than this are not decoded (no real Go function comes near). */
const MAX_FUNC = 1 << 24;

export function findCallSites(elf: ElfFile, pcln: Pclntab, targets: ReadonlySet<number>): RawCallSite[] {
  if (targets.size === 0 || pcln.nfunc === 0) return [];
  const lo = pcln.funcAt(0).entry;
  const hi = pcln.textEnd;
  const text = elf.readVaddr(lo, hi - lo);
  // Candidate CALL addresses, grouped by the function (index) that contains them.
  const byFunc = new Map<number, Set<number>>();
  const last = text.length - 5;
  for (let p = text.indexOf(0xe8); p !== -1 && p <= last; p = text.indexOf(0xe8, p + 1)) {
    const pc = lo + p;
    if (!targets.has(pc + 5 + text.readInt32LE(p + 1))) continue;
    let f;
    try {
      f = pcln.funcForPC(pc);
    } catch {
      continue;
    }
    if (!f) continue;
    let set = byFunc.get(f.index);
    if (!set) byFunc.set(f.index, (set = new Set()));
    set.add(pc);
  }
  const out: RawCallSite[] = [];
  for (const [index, pcs] of byFunc) {
    try {
      const f = pcln.funcAt(index);
      const len = f.end - f.entry;
      if (!(len > 0 && len < MAX_FUNC)) continue;
      for (const i of decode(elf.readVaddr(f.entry, len), f.entry, Infinity, { lite: true })) {
        if (i.invalid) break;
        if (i.flow === Flow.Call && i.target !== undefined && pcs.has(i.ip) && targets.has(i.target)) {
          out.push({ callPc: i.ip, retAddr: i.ip + i.length, target: i.target });
        }
      }
    } catch {
      // Undecodable or corrupt: this function's candidates are dropped.
    }
  }
  return out.sort((a, b) => a.callPc - b.callPc);
}
