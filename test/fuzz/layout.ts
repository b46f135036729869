/**
 * Where the structures of a seed binary are, found once from the clean file with the parsers
 * under test (they are trusted on clean input: the unit tests check them against the Go
 * toolchain), so that the mutators can aim at fields instead of at random bytes: ELF headers,
 * the pclntab header and function table, buildinfo's varints, moduledata, type descriptors and
 * their names, DWARF unit headers and abbreviation declarations.
 *
 * Also the probe set: the addresses every mutated input is queried with (pcs to symbolize, type
 * descriptors to name, call-site targets), taken from the clean analysis.
 */
import { GoBinary } from '../../receiver/golang/binary';
import { ElfSection, SHF_COMPRESSED } from '../../receiver/golang/elf';
import { moduleDataLayout } from '../../receiver/golang/moduledata';
import { MAGIC_GO118 } from '../../receiver/golang/pclnheader';
import { OTEL_STRUCTS } from '../../receiver/golang/otelsdk';
import { uvarint } from '../../receiver/golang/reader';

export interface Region {
  name: string;
  start: number;
  len: number;
}

export interface SectionInfo {
  index: number;
  name: string;
  /** File offset of its section header. */
  hdr: number;
  offset: number;
  size: number;
  flags: number;
  type: number;
  /** 'shf': SHF_COMPRESSED (Elf64_Chdr + zlib); 'zdebug': "ZLIB" + 8-byte BE size + zlib. */
  compression?: 'shf' | 'zdebug';
}

export interface DwarfUnit {
  /** Offset in the (decompressed) .debug_info of unit_length. */
  off: number;
  version: number;
  offsetSize: 4 | 8;
  /** Offsets of the header fields and of the first DIE's abbrev code. */
  versionAt: number;
  abbrevOffAt: number;
  addrSizeAt: number;
  firstDie: number;
}

export interface AbbrevDecl {
  off: number;
  code: number;
  tagAt: number;
  childrenAt: number;
  /** Offsets of each attribute's (attr, form) uvarints. */
  attrs: { atAt: number; formAt: number }[];
}

export interface DwarfLayout {
  info?: { sec: SectionInfo; data: Buffer; units: DwarfUnit[]; structs: number[] };
  abbrev?: { sec: SectionInfo; data: Buffer; decls: AbbrevDecl[] };
}

export interface SeedLayout {
  size: number;
  ph: { off: number; num: number; entsize: number };
  sh: { off: number; num: number; entsize: number; strndx: number };
  sections: SectionInfo[];
  /** File offset of the pcHeader, the function table, pctab, funcnametab. */
  pcln?: { off: number; size: number; go120: boolean; nfunc: number; functab: number; pctab: number; funcnametab: number; records: number[]; recordIndexes: number[] };
  buildinfo?: { off: number; verLenAt: number; verAt: number; verLen: number; modLenAt: number };
  moduledata?: { off: number; fields: { name: string; at: number }[]; typelinks?: { off: number; len: number } };
  /** File offsets of map type descriptors and of their abi.Name. */
  types: { descs: number[]; names: number[]; vaddrs: number[] };
  dwarf: DwarfLayout;
  regions: Region[];
}

export interface ProbeSet {
  /** pcs to symbolize / name. */
  pcs: number[];
  /** Entries given to callSites(). */
  callTargets: number[];
  /** Type descriptor addresses to resolve. */
  typeAddrs: number[];
  /** Probed function names (for retInstructions). */
  probed: string[];
}

const INTERESTING_SECTIONS = [
  '.gopclntab', '.go.buildinfo', '.debug_info', '.zdebug_info', '.debug_abbrev', '.zdebug_abbrev', '.text', '.noptrdata', '.data',
  '.typelink', '.rodata', '.symtab', '.strtab', '.shstrtab', '.rela.dyn', '.go.module', '.data.rel.ro', '.debug_str', '.debug_line_str',
];

export function seedLayout(b: GoBinary): SeedLayout {
  const elf = b.elf;
  const d = elf.data;
  const regions: Region[] = [];
  const add = (name: string, start: number | undefined, len: number) => {
    if (start === undefined || !(start >= 0) || start >= d.length || len <= 0) return;
    regions.push({ name, start, len: Math.min(len, d.length - start) });
  };
  const ph = { off: Number(d.readBigUInt64LE(32)), entsize: d.readUInt16LE(54), num: d.readUInt16LE(56) };
  const sh = { off: Number(d.readBigUInt64LE(40)), entsize: d.readUInt16LE(58), num: d.readUInt16LE(60), strndx: d.readUInt16LE(62) };
  add('elf header', 0, 64);
  add('program headers', ph.off, ph.num * ph.entsize);
  add('section headers', sh.off, sh.num * sh.entsize);

  const sections: SectionInfo[] = elf.sections.map((s) => ({
    index: s.index,
    name: s.name,
    hdr: sh.off + s.index * sh.entsize,
    offset: s.offset,
    size: s.size,
    flags: s.flags,
    type: s.type,
    compression: compressionOf(d, s),
  }));
  const shstr = sections[sh.strndx];
  if (shstr) add('section names', shstr.offset, shstr.size);
  for (const n of ['.symtab', '.strtab', '.rela.dyn', '.typelink', '.go.module', '.noptrdata', '.data.rel.ro']) {
    const s = elf.section(n);
    if (s) add(n, s.offset, Math.min(s.size, 1 << 16));
  }

  let pcln: SeedLayout['pcln'];
  const h = b.pclntab.header;
  const pclnOff = elf.tryVaddrToFileOffset(h.vaddr);
  if (pclnOff !== undefined) {
    const sec = elf.section('.gopclntab');
    const recordIndexes: number[] = [];
    for (const name of b.probePoints().points.map((p) => p.function)) {
      const f = b.pclntab.funcByName(name);
      if (f) recordIndexes.push(f.index);
    }
    for (let i = 0; i < 16; i++) recordIndexes.push(Math.floor((i * b.pclntab.nfunc) / 16));
    const records = recordIndexes.map((i) => pclnOff + h.pclnOffset + d.readUInt32LE(pclnOff + h.pclnOffset + i * 8 + 4));
    pcln = {
      off: pclnOff,
      size: sec?.size ?? d.length - pclnOff,
      go120: h.magic !== MAGIC_GO118,
      nfunc: h.nfunc,
      functab: pclnOff + h.pclnOffset,
      pctab: pclnOff + h.pctabOffset,
      funcnametab: pclnOff + h.funcnameOffset,
      records,
      recordIndexes,
    };
    add('pclntab header', pclnOff, 72);
    add('functab', pcln.functab, (h.nfunc + 1) * 8);
    for (const r of records) add('_func record', r, 64);
    add('pctab', pcln.pctab, Math.min(pcln.size - h.pctabOffset, 1 << 16));
    add('funcnametab', pcln.funcnametab, 1 << 14);
    add('pclntab', pclnOff, pcln.size);
  }

  let buildinfo: SeedLayout['buildinfo'];
  const bis = elf.section('.go.buildinfo');
  if (bis && d[bis.offset + 15] & 2) {
    const verLenAt = bis.offset + 32;
    const [verLen, verAt] = uvarint(d, verLenAt);
    buildinfo = { off: bis.offset, verLenAt, verAt, verLen, modLenAt: verAt + verLen };
    add('buildinfo', bis.offset, Math.min(bis.size, 4096));
  }

  let moduledata: SeedLayout['moduledata'];
  const md = b.moduleData;
  const mdOff = md ? elf.tryVaddrToFileOffset(md.vaddr) : undefined;
  if (md && mdOff !== undefined) {
    const l = moduleDataLayout(b.version);
    const fields = [
      { name: 'pcHeader', at: 0 },
      { name: 'funcnametab', at: 8 },
      { name: 'funcnametab.len', at: 16 },
      { name: 'ftab', at: 128 },
      { name: 'ftab.len', at: 136 },
      { name: 'minpc', at: 160 },
      { name: 'maxpc', at: 168 },
      { name: 'text', at: 176 },
      { name: 'etext', at: 184 },
      { name: 'types', at: l.types },
      { name: 'etypes', at: l.etypes },
      { name: 'gofunc', at: l.gofunc },
    ];
    if (l.typelinks !== undefined) {
      fields.push({ name: 'typelinks', at: l.typelinks }, { name: 'typelinks.len', at: l.typelinks + 8 }, { name: 'typelinks.cap', at: l.typelinks + 16 });
    }
    if (l.typedesclen !== undefined) fields.push({ name: 'typedesclen', at: l.typedesclen });
    moduledata = { off: mdOff, fields: fields.map((f) => ({ name: f.name, at: mdOff + f.at })) };
    add('moduledata', mdOff, 400);
    if (md.typelinks && md.typelinks.len > 0) {
      const tl = elf.tryVaddrToFileOffset(md.typelinks.addr);
      if (tl !== undefined) {
        moduledata.typelinks = { off: tl, len: md.typelinks.len };
        add('typelinks', tl, md.typelinks.len * 4);
      }
    }
    if (md.gofunc !== undefined) add('gofunc', elf.tryVaddrToFileOffset(md.gofunc), 1 << 14);
  }

  const types: SeedLayout['types'] = { descs: [], names: [], vaddrs: [] };
  const typesBase = md?.types;
  for (const m of b.mapTypes().slice(0, 64)) {
    const off = elf.tryVaddrToFileOffset(m.addr);
    if (off === undefined) continue;
    types.descs.push(off);
    types.vaddrs.push(m.addr);
    add('map type descriptor', off, 72);
    if (typesBase !== undefined) {
      const nameOff = elf.tryVaddrToFileOffset(typesBase + d.readInt32LE(off + 40));
      if (nameOff !== undefined) {
        types.names.push(nameOff);
        add('type name', nameOff, 32);
      }
    }
  }

  for (const p of b.probePoints().points) add('probed function code', elf.tryVaddrToFileOffset(p.entry), 128);
  add('whole file', 0, d.length);

  return { size: d.length, ph, sh, sections, pcln, buildinfo, moduledata, types, dwarf: dwarfLayout(b, sections), regions };
}

function compressionOf(d: Buffer, s: ElfSection): SectionInfo['compression'] {
  if (s.flags & SHF_COMPRESSED) return 'shf';
  if (s.name.startsWith('.zdebug_') && s.size >= 12 && d.toString('latin1', s.offset, s.offset + 4) === 'ZLIB') return 'zdebug';
  return undefined;
}

function dwarfLayout(b: GoBinary, sections: SectionInfo[]): DwarfLayout {
  const out: DwarfLayout = {};
  const find = (n: string) => sections.find((s) => s.name === `.debug_${n}`) ?? sections.find((s) => s.name === `.zdebug_${n}`);
  const infoSec = find('info');
  const abbrevSec = find('abbrev');
  if (!infoSec || !abbrevSec) return out;
  let info: Buffer;
  let abbrev: Buffer;
  try {
    info = Buffer.from(b.elf.sectionData(b.elf.sections[infoSec.index]));
    abbrev = Buffer.from(b.elf.sectionData(b.elf.sections[abbrevSec.index]));
  } catch {
    return out;
  }
  const units: DwarfUnit[] = [];
  for (let off = 0; off + 11 <= info.length && units.length < 100_000; ) {
    let len = info.readUInt32LE(off);
    let p = off + 4;
    let offsetSize: 4 | 8 = 4;
    if (len === 0xffffffff) {
      len = Number(info.readBigUInt64LE(p));
      p += 8;
      offsetSize = 8;
    }
    const end = p + len;
    const version = info.readUInt16LE(p);
    const u: DwarfUnit = { off, version, offsetSize, versionAt: p, abbrevOffAt: 0, addrSizeAt: 0, firstDie: 0 };
    if (version >= 5) {
      u.addrSizeAt = p + 3;
      u.abbrevOffAt = p + 4;
      u.firstDie = p + 4 + offsetSize;
    } else {
      u.abbrevOffAt = p + 2;
      u.addrSizeAt = p + 2 + offsetSize;
      u.firstDie = u.addrSizeAt + 1;
    }
    units.push(u);
    if (!(end > off)) break;
    off = end;
  }
  // Struct DIEs the tracer reads (runtime.g for goids, the SDK's for span correlation): their
  // names are DW_FORM_string inline in Go's DWARF.
  const structs: number[] = [];
  for (const name of ['runtime.g', OTEL_STRUCTS.recordingSpan.dwarfName, OTEL_STRUCTS.spanContext.dwarfName]) {
    const at = info.indexOf(Buffer.from(name + '\0'));
    if (at >= 0) structs.push(at);
  }
  out.info = { sec: infoSec, data: info, units, structs };

  const decls: AbbrevDecl[] = [];
  try {
    let p = 0;
    while (p < abbrev.length && decls.length < 10_000) {
      const off = p;
      let code: number;
      [code, p] = uvarint(abbrev, p);
      if (code === 0) continue; // end of one table; cgo binaries have several
      const tagAt = p;
      [, p] = uvarint(abbrev, p);
      const childrenAt = p++;
      const attrs: AbbrevDecl['attrs'] = [];
      for (;;) {
        const atAt = p;
        let at: number;
        let form: number;
        [at, p] = uvarint(abbrev, p);
        const formAt = p;
        [form, p] = uvarint(abbrev, p);
        if (at === 0 && form === 0) break;
        if (form === 0x21) [, p] = uvarint(abbrev, p); // implicit_const (read as unsigned: only its length matters here)
        attrs.push({ atAt, formAt });
      }
      decls.push({ off, code, tagAt, childrenAt, attrs });
    }
  } catch {
    // keep what was parsed
  }
  out.abbrev = { sec: abbrevSec, data: abbrev, decls };
  return out;
}

/** The addresses every mutated copy of this seed is queried with. */
export function probeSet(b: GoBinary): ProbeSet {
  const plan = b.probePoints();
  const pcs = new Set<number>();
  for (const p of plan.points) {
    pcs.add(p.entry);
    pcs.add(p.vaddr);
  }
  const callTargets = plan.points.map((p) => p.entry);
  for (const c of b.callSites(callTargets).slice(0, 64)) pcs.add(c.retAddr - 1);
  const lo = b.pclntab.funcAt(0).entry;
  const hi = b.pclntab.textEnd;
  for (let i = 0; i < 48; i++) pcs.add(lo + Math.floor(((hi - lo) * i) / 48) + (i % 7));
  for (const pc of [0, lo - 1, lo, hi - 1, hi, 2 ** 53, -1]) pcs.add(pc);
  const typeAddrs = b.mapTypes().slice(0, 32).map((m) => m.addr);
  const types = b.moduleData?.types;
  if (types !== undefined) typeAddrs.push(types, types + 8, types + 64, types - 8, 0);
  return { pcs: [...pcs], callTargets, typeAddrs, probed: plan.points.map((p) => p.function) };
}
