/**
 * Where to put the uprobe in a Go function.
 *
 * Cost decides: the kernel emulates `push reg`, `jmp`/`jcc`/`call` rel and nop (≈0.45 µs per hit
 * on the reference machine) but single-steps everything else out of line (≈15 µs). Correctness
 * decides too: the BPF program reads the arguments (RAX, RBX, RCX, RDI, RSI, R8–R11), g (R14) and
 * the caller's return address at [RSP], and walks frames from RBP, so at the probe all of those
 * must still hold their entry values, and the instruction must run exactly once on every call.
 *
 * Go amd64 prologues:
 *   Go 1.21+:  [LEAQ -N(SP), R12;] CMPQ SP|R12, 16(R14); JBE morestack; PUSHQ BP; MOVQ SP, BP; …
 *   Go 1.18–1.20: CMPQ …; JBE morestack; SUBQ $N, SP; MOVQ BP, N-8(SP); …   (no push)
 *   NOSPLIT leaves: no stack check at all.
 * So: walk from the entry until something writes a protected register or control leaves the
 * straight line; take `push rbp` if we reach it, else the stack-check JBE (it fires a second time
 * when the function re-enters after morestack — rare), else the first emulated instruction.
 */
import { GoBinaryError, hex } from './errors';
import { Flow, Insn, Reg, decode } from './x86';

export interface ProbeChoice {
  vaddr: number;
  /** Intel syntax: "push rbp", "jbe 0x40e6ec". */
  instruction: string;
  reason: string;
}

const PROTECTED = new Set([Reg.RSP, Reg.RBP, Reg.RAX, Reg.RBX, Reg.RCX, Reg.RDI, Reg.RSI, Reg.R8, Reg.R9, Reg.R10, Reg.R11, Reg.R14]);
const PROTECTED_NAMES = 'RSP, RBP, R14 or an argument register';
/** A Go prologue is a handful of instructions; never look further. */
const MAX_PROLOGUE = 16;

function isPushRbp(i: Insn): boolean {
  return i.flow === Flow.Next && i.op0 === Reg.RBP && i.text === 'push rbp';
}

/** Instructions the x86 uprobe code emulates instead of single-stepping. */
function isEmulated(i: Insn): boolean {
  if (i.text.startsWith('push ') && i.op0 !== Reg.None) return true;
  if (i.text === 'nop' || i.text.startsWith('nop ')) return true;
  return i.target !== undefined && (i.flow === Flow.ConditionalBranch || i.flow === Flow.UnconditionalBranch || i.flow === Flow.Call);
}

/**
 * The JBE of the stack check jumps to a block at the end of the function that calls
 * runtime.morestack* and then jumps back to the entry: that is how we recognise it (not by
 * its bytes). `body` is the whole function, starting at `entry`.
 */
function isStackCheck(branch: Insn, entry: number, body: Buffer): boolean {
  const t = branch.target;
  if (t === undefined || t <= branch.ip || t >= entry + body.length) return false;
  let sawCall = false;
  for (const i of decode(body.subarray(t - entry), t, 32)) {
    if (i.flow === Flow.Call) sawCall = true;
    else if (i.flow === Flow.UnconditionalBranch) return sawCall && i.target === entry;
    else if (i.flow !== Flow.Next) return false;
  }
  return false;
}

/**
 * Chooses the probe instruction of function `fn` whose code (`body`, the whole function) starts
 * at link-time address `entry`. Throws GoBinaryError when no instruction qualifies.
 */
export function chooseProbePoint(fn: string, entry: number, body: Buffer): ProbeChoice {
  const insns = decode(body.subarray(0, 128), entry, MAX_PROLOGUE);
  let stackCheck: Insn | undefined;
  let firstEmulated: Insn | undefined;
  let stopper: Insn | undefined;
  const at = (i: Insn) => `entry+${i.ip - entry}`;
  for (const i of insns) {
    if (i.invalid) {
      stopper = i;
      break;
    }
    if (isPushRbp(i)) {
      return {
        vaddr: i.ip,
        instruction: i.text,
        reason: `push rbp of the standard prologue at ${at(i)}: emulated by the kernel; RSP, RBP, R14 and the argument registers still hold their entry values; runs once per call`,
      };
    }
    if (i.flow === Flow.ConditionalBranch) {
      if (!stackCheck && isStackCheck(i, entry, body)) {
        stackCheck = i;
        continue;
      }
      // Any other branch may skip what follows, so the probe can go no later than here.
      return {
        vaddr: i.ip,
        instruction: i.text,
        reason: `first conditional branch that may skip the rest of the function, at ${at(i)}: emulated by the kernel; nothing before it changes RSP, RBP, R14 or the arguments`,
      };
    }
    if (isEmulated(i)) firstEmulated ??= i;
    const leaves = i.flow !== Flow.Next;
    const clobbers = [...i.writes].some((r) => PROTECTED.has(r));
    if (leaves || clobbers) {
      stopper = i;
      break;
    }
  }
  if (stackCheck) {
    return {
      vaddr: stackCheck.ip,
      instruction: stackCheck.text,
      reason: `no push rbp before the first write to ${PROTECTED_NAMES} (${stopper ? `"${stopper.text}" at ${at(stopper)}` : 'end of prologue'}, Go 1.18–1.20 style prologue): the stack-check branch at ${at(stackCheck)} is emulated by the kernel; it fires a second time when the function re-enters after growing its stack`,
    };
  }
  if (firstEmulated) {
    return {
      vaddr: firstEmulated.ip,
      instruction: firstEmulated.text,
      reason: `no stack check and no push rbp (NOSPLIT leaf): "${firstEmulated.text}" at ${at(firstEmulated)} is emulated by the kernel and comes before anything changes ${PROTECTED_NAMES}`,
    };
  }
  const first = insns[0];
  throw new GoBinaryError(
    `no safe uprobe point in ${fn} at ${hex(entry)}: ${stopper ? `"${stopper.text}" at ${at(stopper)} changes ${PROTECTED_NAMES} before any instruction the kernel can emulate` : `its prologue starts with "${first?.text ?? 'nothing'}" and has no emulatable instruction`}; this Go version's prologue is not supported yet`,
  );
}
