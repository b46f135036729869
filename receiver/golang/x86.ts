/**
 * x86-64 decoding through iced-x86 (WASM), turned into plain objects so that callers never hold
 * WASM handles (each must be freed explicitly) and never look at raw bytes.
 */
import {
  Code,
  Decoder,
  DecoderOptions,
  FlowControl,
  Formatter,
  FormatterSyntax,
  Instruction,
  InstructionInfoFactory,
  OpAccess,
  Register,
  RegisterExt,
} from 'iced-x86';

export interface Insn {
  ip: number;
  length: number;
  /** Intel syntax, lower case: "push rbp", "jbe 0x4109bd", "cmp rsp, [r14+0x10]". */
  text: string;
  code: Code;
  flow: FlowControl;
  /** First operand's register (Register.None when it is not a register). */
  op0: Register;
  /** Target of a direct branch/call, else undefined. */
  target?: number;
  /** Address of a RIP-relative memory operand ("lea rax, [rip+X]" → its absolute address), else undefined. */
  ripRef?: number;
  /** Full 64-bit registers the instruction may write (implicit ones included, e.g. RSP for push). */
  writes: Set<Register>;
  /** Undecodable bytes (decoding stops after it). */
  invalid: boolean;
}

let formatter: Formatter | undefined;
let infoFactory: InstructionInfoFactory | undefined;

function fmt(): Formatter {
  if (!formatter) {
    formatter = new Formatter(FormatterSyntax.Intel);
    formatter.showBranchSize = false;
    formatter.hexPrefix = '0x';
    formatter.hexSuffix = '';
    formatter.uppercaseHex = false;
    formatter.leadingZeros = false;
    formatter.branchLeadingZeros = false;
    formatter.spaceAfterOperandSeparator = true;
    formatter.smallHexNumbersInDecimal = false;
  }
  return formatter;
}

const WRITE_ACCESS = new Set([OpAccess.Write, OpAccess.CondWrite, OpAccess.ReadWrite, OpAccess.ReadCondWrite]);

export interface DecodeOptions {
  /**
   * Skip the costly parts (formatting `text`, computing `writes`): `text` is "" and `writes`
   * empty. About 7× faster; for scans that only need lengths, flow and targets.
   */
  lite?: boolean;
}

const NO_WRITES: ReadonlySet<Register> = new Set();

/** Decodes up to `max` instructions of `code`, which starts at address `ip`. */
export function decode(code: Uint8Array, ip: number, max = Infinity, opts: DecodeOptions = {}): Insn[] {
  const out: Insn[] = [];
  const decoder = new Decoder(64, code, DecoderOptions.None);
  const instr = new Instruction();
  infoFactory ??= new InstructionInfoFactory();
  const lite = !!opts.lite;
  try {
    decoder.ip = BigInt(ip);
    while (decoder.canDecode && out.length < max) {
      decoder.decodeOut(instr);
      const flow = instr.flowControl;
      let writes = NO_WRITES as Set<Register>;
      if (!lite) {
        writes = new Set<Register>();
        const info = infoFactory.info(instr);
        try {
          for (const used of info.usedRegisters()) {
            try {
              if (WRITE_ACCESS.has(used.access)) writes.add(RegisterExt.fullRegister(used.register));
            } finally {
              used.free();
            }
          }
        } finally {
          info.free();
        }
      }
      const direct = flow === FlowControl.UnconditionalBranch || flow === FlowControl.ConditionalBranch || flow === FlowControl.Call;
      out.push({
        ip: Number(instr.ip),
        length: instr.length,
        text: lite ? '' : fmt().format(instr),
        code: instr.code,
        flow,
        op0: instr.opCount > 0 ? instr.op0Register : Register.None,
        target: direct ? nearTarget(instr) : undefined,
        ripRef: instr.isIpRelMemoryOperand ? Number(instr.ipRelMemoryAddress) : undefined,
        writes,
        invalid: instr.code === Code.INVALID,
      });
      if (instr.code === Code.INVALID) break;
    }
  } finally {
    instr.free();
    decoder.free();
  }
  return out;
}

function nearTarget(instr: Instruction): number | undefined {
  const t = Number(instr.nearBranchTarget);
  return t === 0 ? undefined : t;
}

export const Reg = Register;
export const Flow = FlowControl;
