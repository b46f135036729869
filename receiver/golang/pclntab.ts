/**
 * `.gopclntab` for Go 1.18+: function table, names, PC→file:line, and inlined frames. This is
 * what makes stripped binaries (-ldflags="-s -w") work: the runtime needs it for tracebacks, so
 * the linker always keeps it.
 *
 * Layout (runtime/symtab.go, cmd/link/internal/ld/pcln.go):
 *   functab at pclnOffset: nfunc+1 pairs {entryOff u32 (from the text base), funcOff u32 (from
 *   pclnOffset)}; the last entryOff is the end of the last function.
 *   _func: entryOff, nameOff, args, deferreturn, pcsp, pcfile, pcln, npcdata, cuOffset (u32 each),
 *   [startLine i32 — Go 1.20+], funcID u8, flag u8, pad u8, nfuncdata u8; then npcdata u32
 *   offsets into pctab, then nfuncdata u32 offsets from moduledata.gofunc.
 *   pc-value tables: pairs (zigzag uvarint value delta, uvarint pc delta × minLC), value starts
 *   at -1, a zero value-delta after the first pair ends the table.
 *   inline tree (FUNCDATA_InlTree = 3, indexed by PCDATA_InlTreeIndex = 2):
 *     1.18–1.19: {parent i16, funcID u8, pad, file i32, line i32, nameOff i32, parentPc i32} (20 B)
 *     1.20+:     {funcID u8, pad[3], nameOff i32, parentPc i32, startLine i32} (16 B)
 *   Both carry parentPc: the caller's frame is resolved by looking the pc tables up again at
 *   entry+parentPc, exactly as runtime.CallersFrames does; that works the same for both layouts.
 */
import { corrupt, hex } from './errors';
import { MAGIC_GO118, PcHeader } from './pclnheader';
import { cstring, i32, u32, u8 } from './reader';

const PCDATA_INL_TREE_INDEX = 2;
const FUNCDATA_INL_TREE = 3;
/** Inlining depth cap: real programs stay far below; a cycle in corrupt data must not hang us. */
const MAX_INLINE_DEPTH = 100;

export interface FuncInfo {
  index: number;
  /** Name as stored ("main.F[go.shape.int]"). */
  name: string;
  entry: number;
  /** First address past the function. */
  end: number;
  funcID: number;
}

export interface SourceFrame {
  function: string;
  file: string;
  line: number;
  inlined: boolean;
}

interface FuncRecord extends FuncInfo {
  off: number;
  pcfile: number;
  pcln: number;
  npcdata: number;
  nfuncdata: number;
  cuOffset: number;
  fixedSize: number;
}

export interface PclntabOptions {
  /** Base of functab entry offsets: pcHeader.textStart, or moduledata.text from Go 1.26. */
  textStart: number;
  /** moduledata.gofunc; without it inlined frames cannot be resolved. */
  gofunc?: number;
  /** Reads link-time memory (the inline trees live in go:func.*, outside .gopclntab). */
  readVaddr?: (vaddr: number, len: number) => Buffer;
  /** abi.FuncIDWrapper for this Go version: inlined wrapper frames are elided like the runtime does. */
  wrapperFuncID?: number;
}

/** Go's funcNameForPrint: generic shape names ("F[go.shape.int]") print as "F[...]". */
export function funcNameForPrint(name: string): string {
  const i = name.indexOf('[');
  if (i < 0) return name;
  const j = name.lastIndexOf(']');
  if (j <= i) return name;
  return name.slice(0, i) + '[...]' + name.slice(j + 1);
}

export class Pclntab {
  readonly nfunc: number;
  readonly textStart: number;
  private readonly entryOffs: Uint32Array;
  private readonly funcOffs: Uint32Array;
  private readonly records: (FuncRecord | undefined)[];
  private nameIndex?: Map<string, number>;
  private readonly go120: boolean;

  constructor(
    readonly header: PcHeader,
    private readonly data: Buffer,
    private readonly opts: PclntabOptions,
  ) {
    this.textStart = opts.textStart;
    this.go120 = header.magic !== MAGIC_GO118;
    this.nfunc = header.nfunc;
    this.entryOffs = new Uint32Array(this.nfunc + 1);
    this.funcOffs = new Uint32Array(this.nfunc + 1);
    let o = header.pclnOffset;
    for (let i = 0; i <= this.nfunc; i++, o += 8) {
      this.entryOffs[i] = data.readUInt32LE(o);
      this.funcOffs[i] = data.readUInt32LE(o + 4);
      // The runtime refuses to start when the table is not sorted (moduledataverify1); the
      // binary search needs it, and a function's end is the next entry: an out-of-order entry
      // would make one function span the rest of the text (and every decode of it crawl).
      if (i > 0 && this.entryOffs[i] < this.entryOffs[i - 1]) {
        corrupt(`pclntab function table is not sorted: entry ${i} at ${hex(this.entryOffs[i])} comes after ${hex(this.entryOffs[i - 1])}`);
      }
    }
    this.records = new Array(this.nfunc);
  }

  /** Link-time address just past the last function. */
  get textEnd(): number {
    return this.textStart + this.entryOffs[this.nfunc];
  }

  funcAt(index: number): FuncInfo {
    return this.record(index);
  }

  /** The function containing pc, or undefined (pc outside Go text). */
  funcForPC(pc: number): FuncInfo | undefined {
    const i = this.indexForPC(pc);
    return i < 0 ? undefined : this.record(i);
  }

  funcByName(name: string): FuncInfo | undefined {
    if (!this.nameIndex) {
      const m = new Map<string, number>();
      for (let i = 0; i < this.nfunc; i++) {
        try {
          const n = this.record(i).name;
          if (!m.has(n)) m.set(n, i);
        } catch {
          // A corrupt record is just not findable by name.
        }
      }
      this.nameIndex = m;
    }
    const i = this.nameIndex.get(name);
    return i === undefined ? undefined : this.record(i);
  }

  /**
   * Source frames at pc, innermost first: one per inlined call, then the physical function
   * (unless it is an autogenerated wrapper, see below; then the last frame has inlined: true).
   * Throws CorruptDataError on corrupt tables; returns [] for a pc outside Go text.
   */
  frames(pc: number): SourceFrame[] {
    const i = this.indexForPC(pc);
    if (i < 0) return [];
    const f = this.record(i);
    const out: SourceFrame[] = [];
    let cur = pc;
    const inl = this.inlineTree(f);
    if (inl) {
      let ix = this.pcValue(inl.indexTable, f.entry, cur);
      for (let depth = 0; ix >= 0; depth++) {
        if (depth >= MAX_INLINE_DEPTH) corrupt(`inline tree of ${f.name} deeper than ${MAX_INLINE_DEPTH}`);
        const e = this.inlineEntry(inl.base, ix);
        // Inlined wrappers are elided, as the runtime does.
        if (e.funcID !== this.opts.wrapperFuncID || this.opts.wrapperFuncID === undefined) {
          out.push({ function: funcNameForPrint(this.name(e.nameOff)), ...this.fileLine(f, cur), inlined: true });
        }
        cur = f.entry + e.parentPc;
        if (!(cur >= f.entry && cur < f.end)) corrupt(`inline parentPc ${hex(cur)} outside ${f.name}`);
        ix = this.pcValue(inl.indexTable, f.entry, cur);
      }
    }
    // Like runtime tracebacks, hide autogenerated wrappers (e.g. (*T).M for a value method called
    // through an interface) when the real method is inlined into them; keep the wrapper only
    // when it is all there is, so a pc in Go text always yields at least one frame.
    const hide = f.funcID === this.opts.wrapperFuncID && this.opts.wrapperFuncID !== undefined && out.length > 0;
    if (!hide) out.push({ function: funcNameForPrint(f.name), ...this.fileLine(f, cur), inlined: false });
    return out;
  }

  private indexForPC(pc: number): number {
    const rel = pc - this.textStart;
    const offs = this.entryOffs;
    if (!(rel >= offs[0] && rel < offs[this.nfunc])) return -1;
    let lo = 0;
    let hi = this.nfunc - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (offs[mid] <= rel) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private record(i: number): FuncRecord {
    const cached = this.records[i];
    if (cached) return cached;
    const d = this.data;
    const off = this.header.pclnOffset + this.funcOffs[i];
    const entryOff = u32(d, off, '_func.entryOff');
    if (entryOff !== this.entryOffs[i]) corrupt(`_func ${i} entry ${hex(entryOff)} does not match functab ${hex(this.entryOffs[i])}`);
    const base = this.go120 ? 40 : 36;
    const r: FuncRecord = {
      index: i,
      off,
      entry: this.textStart + entryOff,
      end: this.textStart + this.entryOffs[i + 1],
      name: this.name(i32(d, off + 4, '_func.nameOff')),
      pcfile: u32(d, off + 20),
      pcln: u32(d, off + 24),
      npcdata: u32(d, off + 28),
      cuOffset: u32(d, off + 32),
      funcID: u8(d, off + base),
      nfuncdata: u8(d, off + base + 3),
      fixedSize: base + 4,
    };
    if (r.npcdata > 1024) corrupt(`_func ${r.name} has ${r.npcdata} pcdata tables`);
    this.records[i] = r;
    return r;
  }

  private name(nameOff: number): string {
    return cstring(this.data, this.header.funcnameOffset + nameOff, 'function name', 1 << 16);
  }

  private fileLine(f: FuncRecord, pc: number): { file: string; line: number } {
    const fileIx = this.pcValue(f.pcfile, f.entry, pc);
    const line = this.pcValue(f.pcln, f.entry, pc);
    let file = '?';
    if (fileIx >= 0) {
      const fileOff = u32(this.data, this.header.cuOffset + (f.cuOffset + fileIx) * 4, 'cutab entry');
      if (fileOff !== 0xffffffff) file = cstring(this.data, this.header.filetabOffset + fileOff, 'file name', 1 << 16);
    }
    return { file, line: line < 0 ? 0 : line };
  }

  /** Where the inline tree and its index table are, if the function has inlined calls. */
  private inlineTree(f: FuncRecord): { base: number; indexTable: number } | undefined {
    if (f.npcdata <= PCDATA_INL_TREE_INDEX || f.nfuncdata <= FUNCDATA_INL_TREE) return undefined;
    if (this.opts.gofunc === undefined || !this.opts.readVaddr) return undefined;
    const indexTable = u32(this.data, f.off + f.fixedSize + PCDATA_INL_TREE_INDEX * 4, 'pcdata');
    const treeOff = u32(this.data, f.off + f.fixedSize + f.npcdata * 4 + FUNCDATA_INL_TREE * 4, 'funcdata');
    if (indexTable === 0 || treeOff === 0xffffffff) return undefined;
    return { base: this.opts.gofunc + treeOff, indexTable };
  }

  private inlineEntry(base: number, ix: number): { funcID: number; nameOff: number; parentPc: number } {
    const read = this.opts.readVaddr!;
    if (this.go120) {
      const e = read(base + ix * 16, 16);
      return { funcID: e[0], nameOff: e.readInt32LE(4), parentPc: e.readInt32LE(8) };
    }
    const e = read(base + ix * 20, 20);
    return { funcID: e[2], nameOff: e.readInt32LE(12), parentPc: e.readInt32LE(16) };
  }

  /**
   * Value of pc-value table `tableOff` (relative to pctab) at pc, or -1 if absent. Hand-inlined
   * varint decoding: this is the hot loop of symbolization.
   */
  pcValue(tableOff: number, entry: number, pc: number): number {
    if (tableOff === 0) return -1;
    const d = this.data;
    const minLC = this.header.minLC;
    let p = this.header.pctabOffset + tableOff;
    const n = d.length;
    let val = -1;
    let cur = entry;
    let first = true;
    for (;;) {
      // value delta (zigzag)
      let uv = 0;
      let mul = 1;
      let b: number;
      do {
        if (p >= n || mul > 2 ** 49) corrupt(`pc-value table at ${tableOff} runs off the end`);
        b = d[p++];
        uv += (b & 0x7f) * mul;
        mul *= 128;
      } while (b & 0x80);
      if (uv === 0 && !first) return -1;
      val += uv % 2 === 1 ? -(uv + 1) / 2 : uv / 2;
      // pc delta
      let pd = 0;
      mul = 1;
      do {
        if (p >= n || mul > 2 ** 49) corrupt(`pc-value table at ${tableOff} runs off the end`);
        b = d[p++];
        pd += (b & 0x7f) * mul;
        mul *= 128;
      } while (b & 0x80);
      cur += pd * minLC;
      if (pc < cur) return val;
      first = false;
    }
  }
}
