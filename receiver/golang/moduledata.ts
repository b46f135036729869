/**
 * runtime.firstmoduledata: where the runtime keeps the bases that pclntab and type descriptors
 * are relative to (text, types, gofunc). Stripped binaries have no symbol for it, but its first
 * word is a pointer to the pcHeader (the start of .gopclntab), and the next slices point into
 * the same table; that is distinctive enough to find it by scanning the data sections.
 *
 * Field offsets (amd64), from runtime/symtab.go `moduledata`, checked against DWARF
 * `runtime.moduledata` of real builds in the unit tests:
 *   all:        pcHeader 0, funcnametab 8, ..., ftab 128, minpc 160, maxpc 168, text 176, etext 184
 *   1.18–1.19:  types 280, etypes 288, gofunc 304
 *   1.20–1.26:  covctrs/ecovctrs added before `end`: types 296, etypes 304, gofunc 320
 *   1.27+:      `typedesclen` after types and itaboffset/itabsize after etypes: types 296,
 *               etypes 312, gofunc 344
 *
 * typelinks (`[]int32` of offsets from types: the descriptors reflect must find again; see
 * maptypes.ts) comes after gofunc and the 24-byte textsectmap slice:
 *   1.18–1.19:  typelinks 336
 *   1.20–1.25:  typelinks 352
 *   1.26:       epclntab added after gofunc: typelinks 360
 *   1.27+:      no typelinks slice; the linker sorts the typelink descriptors first in the
 *               types section instead and stores their total size in typedesclen @304 (the
 *               runtime walks them, runtime/type.go moduleTypelinks)
 */
import { GoVersion, compareMinor } from './buildinfo';
import { ElfFile, SHF_ALLOC, SHF_WRITE, SHT_NOBITS, uncovered } from './elf';
import { PcHeader } from './pclnheader';

export interface ModuleData {
  vaddr: number;
  text: number;
  etext: number;
  minpc: number;
  maxpc: number;
  /** Base of abi.Type.Str name offsets and type offsets; undefined if the layout is unknown. */
  types?: number;
  etypes?: number;
  /** Base of funcdata offsets (FUNCDATA_InlTree). */
  gofunc?: number;
  /** moduledata.typelinks (Go ≤1.26): `len` int32 offsets from `types` at `addr`. */
  typelinks?: { addr: number; len: number };
  /** moduledata.typedesclen (Go 1.27+): the typelink descriptors are [types+8, types+typedesclen). */
  typedesclen?: number;
  source: 'symtab' | 'scan';
}

export interface ModuleDataLayout {
  types: number;
  etypes: number;
  gofunc: number;
  /** Offset of the typelinks slice header, where there is one (Go ≤1.26). */
  typelinks?: number;
  /** Offset of typedesclen (Go 1.27+). */
  typedesclen?: number;
}

export function moduleDataLayout(v: GoVersion): ModuleDataLayout {
  if (compareMinor(v, 1, 20) < 0) return { types: 280, etypes: 288, gofunc: 304, typelinks: 336 };
  if (compareMinor(v, 1, 26) < 0) return { types: 296, etypes: 304, gofunc: 320, typelinks: 352 };
  if (compareMinor(v, 1, 27) < 0) return { types: 296, etypes: 304, gofunc: 320, typelinks: 360 };
  return { types: 296, etypes: 312, gofunc: 344, typedesclen: 304 };
}

/** More typelinks than this is garbage: real programs have tens of thousands at most. */
const MAX_TYPELINKS = 1 << 24;

const OFF_FUNCNAMETAB = 8;
const OFF_FTAB = 128;
const OFF_MINPC = 160;
const OFF_MAXPC = 168;
const OFF_TEXT = 176;
const OFF_ETEXT = 184;

/**
 * Locates firstmoduledata: the `runtime.firstmoduledata` symbol when present, otherwise a scan of
 * the writable sections for a word equal to the pcHeader address whose neighbours check out.
 */
export function findModuleData(elf: ElfFile, pcHeader: PcHeader, version: GoVersion, opts: { ignoreSymtab?: boolean } = {}): ModuleData | undefined {
  const layout = moduleDataLayout(version);
  const sym = opts.ignoreSymtab ? undefined : elf.symbol('runtime.firstmoduledata');
  if (sym) {
    const md = tryRead(elf, sym.value, pcHeader, layout, 'symtab');
    if (md) return md;
  }
  for (const addr of candidates(elf, pcHeader.vaddr)) {
    const md = tryRead(elf, addr, pcHeader, layout, 'scan');
    if (md) return md;
  }
  return undefined;
}

/** Addresses of 8-aligned words equal to `target` in allocated writable sections (or segments). */
function* candidates(elf: ElfFile, target: number): Generator<number> {
  const lo = target % 0x1_0000_0000;
  const hi = Math.floor(target / 0x1_0000_0000);
  const ranges: { vaddr: number; size: number }[] = [];
  const secs = elf.sections.filter((s) => s.flags & SHF_WRITE && s.flags & SHF_ALLOC && s.type !== SHT_NOBITS && s.size > 0);
  // Go 1.26 puts moduledata in its own .go.module section; look there first.
  secs.sort((a, b) => Number(b.name === '.go.module') - Number(a.name === '.go.module'));
  if (secs.length) for (const s of secs) ranges.push({ vaddr: s.addr, size: s.size });
  else for (const s of elf.loads) if (s.flags & 2) ranges.push({ vaddr: s.vaddr, size: s.filesz });
  // .go.module first, then every address once however many (corrupt) headers repeat it.
  const first = secs[0]?.name === '.go.module' ? [ranges[0]] : [];
  const once = uncovered(ranges, (r) => r.vaddr, (r) => r.size).map((u) => ({ vaddr: u.start, size: u.size }));
  for (const r of [...first, ...once]) {
    const start = r.vaddr + ((8 - (r.vaddr % 8)) % 8);
    const off = elf.tryVaddrToFileOffset(start);
    if (off === undefined) continue;
    const d = elf.data;
    const end = Math.min(off + r.size - (start - r.vaddr), d.length) - 8;
    for (let o = off; o <= end; o += 8) {
      if (d.readUInt32LE(o) === lo && d.readUInt32LE(o + 4) === hi) yield start + (o - off);
    }
  }
  // PIE whose linker left pointer words zero: the relocation addends tell where they point.
  if (elf.isPIE) for (const [where, addend] of elf.relativeRelocs()) if (addend === target) yield where;
}

function tryRead(elf: ElfFile, addr: number, h: PcHeader, layout: ModuleDataLayout, source: ModuleData['source']): ModuleData | undefined {
  try {
    const ptr = (off: number) => elf.readPointer(addr + off);
    if (ptr(0) !== h.vaddr) return undefined;
    if (ptr(OFF_FUNCNAMETAB) !== h.vaddr + h.funcnameOffset) return undefined;
    if (ptr(OFF_FTAB) !== h.vaddr + h.pclnOffset) return undefined;
    const text = ptr(OFF_TEXT);
    const etext = ptr(OFF_ETEXT);
    const minpc = ptr(OFF_MINPC);
    const maxpc = ptr(OFF_MAXPC);
    if (!(text <= minpc && minpc < maxpc && maxpc <= etext + 1)) return undefined;
    const md: ModuleData = { vaddr: addr, text, etext, minpc, maxpc, source };
    const types = ptr(layout.types);
    const etypes = ptr(layout.etypes);
    if (types > 0 && types < etypes && etypes - types < 1 << 30 && elf.tryVaddrToFileOffset(types) !== undefined) {
      md.types = types;
      md.etypes = etypes;
    }
    const gofunc = ptr(layout.gofunc);
    if (elf.tryVaddrToFileOffset(gofunc) !== undefined) md.gofunc = gofunc;
    if (md.types !== undefined && layout.typelinks !== undefined) {
      // A slice header {ptr, len, cap}: only ptr is relocated in PIE.
      const tl = ptr(layout.typelinks);
      const len = elf.readPointer(addr + layout.typelinks + 8);
      const cap = elf.readPointer(addr + layout.typelinks + 16);
      if (len === 0) md.typelinks = { addr: tl, len: 0 };
      else if (len <= cap && len < MAX_TYPELINKS && elf.tryVaddrToFileOffset(tl) !== undefined && elf.tryVaddrToFileOffset(tl + len * 4 - 1) !== undefined) {
        md.typelinks = { addr: tl, len };
      }
    }
    if (md.types !== undefined && md.etypes !== undefined && layout.typedesclen !== undefined) {
      const n = elf.readPointer(addr + layout.typedesclen);
      if (n > 0 && n <= md.etypes - md.types) md.typedesclen = n;
    }
    return md;
  } catch {
    return undefined;
  }
}
