/**
 * Structure-aware mutators for Go binaries. Each takes a copy of a seed and its layout
 * (layout.ts) and damages one structure the parsers read: a header field set to a boundary or
 * huge value, a count that no longer fits, a varint that never ends, a DWARF unit or abbreviation
 * rewritten (and the section recompressed or stored raw), a compressed section claiming
 * terabytes, or just flipped bytes and a truncation. One input gets 1–3 of them.
 *
 * makeInput() is a pure function of (seed bytes, layout, master seed, iteration): the driver
 * regenerates a failing input from those numbers.
 */
import { deflateSync } from 'node:zlib';
import type { AbbrevDecl, SectionInfo, SeedLayout } from './layout';
import { Rng } from './rng';

const SHF_COMPRESSED = 0x800n;

export interface MutatedInput {
  buf: Buffer;
  /** One entry per mutation applied, e.g. "pclntab-header: nfunc 0x1a2b → 0xffffffffffffffff". */
  mutations: string[];
}

/** Working state of one input while mutators run. */
export class Mut {
  buf: Buffer;
  readonly desc: string[] = [];

  constructor(
    seed: Buffer,
    readonly L: SeedLayout,
    readonly r: Rng,
  ) {
    this.buf = Buffer.from(seed);
  }

  fits(off: number, len: number): boolean {
    return off >= 0 && off + len <= this.buf.length;
  }

  read(off: number, bytes: number): bigint {
    if (!this.fits(off, bytes)) return 0n;
    let v = 0n;
    for (let i = bytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.buf[off + i]);
    return v;
  }

  write(off: number, bytes: number, v: bigint): boolean {
    if (!this.fits(off, bytes)) return false;
    for (let i = 0; i < bytes; i++) {
      this.buf[off + i] = Number((v >> BigInt(8 * i)) & 0xffn);
    }
    return true;
  }

  writeBytes(off: number, data: Buffer): boolean {
    if (off < 0 || off >= this.buf.length) return false;
    data.copy(this.buf, off, 0, Math.min(data.length, this.buf.length - off));
    return true;
  }

  /** Sets a little-endian field to an interesting value; records what changed. */
  field(what: string, off: number, bytes: number, value?: bigint): boolean {
    if (!this.fits(off, bytes)) return false;
    const orig = this.read(off, bytes);
    const v = (value ?? interesting(this.r, orig, this.L.size)) & ((1n << BigInt(8 * bytes)) - 1n);
    this.write(off, bytes, v);
    this.desc.push(`${what} ${hex(orig)} → ${hex(v)}`);
    return true;
  }

  /** Appends data at the end of the file (8-aligned); returns its file offset. */
  append(data: Buffer): number {
    const at = Math.ceil(this.buf.length / 8) * 8;
    this.buf = Buffer.concat([this.buf, Buffer.alloc(at - this.buf.length), data]);
    return at;
  }
}

function hex(v: bigint | number): string {
  return '0x' + v.toString(16);
}

const FIXED: bigint[] = [
  0n, 1n, 2n, 7n, 8n, 0x7fn, 0x80n, 0xffn, 0x100n, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n,
  (1n << 53n) - 1n, 1n << 53n, 1n << 62n, 1n << 63n, (1n << 64n) - 1n, (1n << 64n) - 8n,
];

/** Boundary values, file-size relatives, small deltas, shifts and random bits. */
export function interesting(r: Rng, orig: bigint, fileSize: number): bigint {
  const size = BigInt(fileSize);
  switch (r.int(7)) {
    case 0:
    case 1:
      return r.pick(FIXED);
    case 2:
      return size + BigInt(r.range(-16, 16));
    case 3:
      return orig + BigInt(r.range(-16, 16));
    case 4:
      return r.pick([orig * 2n, orig << 8n, orig << 16n, orig << 32n, orig >> 1n, orig * 1000n]);
    case 5:
      return orig ^ (1n << BigInt(r.int(64)));
    default:
      return r.u64();
  }
}

/** A uvarint encoding of v (any size up to 64 bits). */
export function uvarintBytes(v: bigint): Buffer {
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

/** Varints that decode to huge values, or never end. */
export function hugeVarint(r: Rng, fileSize: number): Buffer {
  switch (r.int(5)) {
    case 0:
      return uvarintBytes((1n << BigInt(r.range(20, 63))) - BigInt(r.int(2)));
    case 1:
      return Buffer.from([...Array(10).fill(0xff), 0x01]); // 11 bytes: longer than any uvarint
    case 2:
      return Buffer.alloc(r.range(1, 16), 0x80); // continuation bytes only
    case 3:
      return uvarintBytes(BigInt(fileSize + r.range(-64, 64)));
    default:
      return uvarintBytes((1n << 64n) - 1n);
  }
}

type Mutator = (m: Mut) => boolean;

// ---- raw bytes -------------------------------------------------------------------------------

function flip(m: Mut): boolean {
  const { r, L } = m;
  const region = r.chance(0.25) ? L.regions[L.regions.length - 1] : r.pick(L.regions);
  const n = r.chance(0.1) ? r.range(9, 64) : r.range(1, 8);
  const at: number[] = [];
  for (let k = 0; k < n; k++) {
    const o = region.start + r.int(region.len);
    if (o >= m.buf.length) continue;
    const how = r.int(4);
    m.buf[o] = how === 0 ? r.int(256) : how === 1 ? 0 : how === 2 ? 0xff : m.buf[o] ^ (1 << r.int(8));
    at.push(o);
  }
  m.desc.push(`flip ${at.length} bytes in ${region.name} at ${at.slice(0, 4).map(hex).join(',')}${at.length > 4 ? ',…' : ''}`);
  return at.length > 0;
}

function truncate(m: Mut): boolean {
  const { r, L } = m;
  let n: number;
  if (r.chance(0.4)) n = r.int(m.buf.length);
  else {
    const g = r.pick(L.regions);
    n = r.chance(0.5) ? g.start + r.int(g.len) : g.start + (r.chance(0.5) ? 0 : g.len) + r.range(-16, 16);
  }
  n = Math.max(0, Math.min(n, m.buf.length - 1));
  m.buf = m.buf.subarray(0, n);
  m.desc.push(`truncate to ${n} of ${L.size} bytes`);
  return true;
}

function splice(m: Mut): boolean {
  const { r, L } = m;
  const src = r.pick(L.regions);
  const dst = r.pick(L.regions);
  const len = r.chance(0.2) ? r.range(257, 4096) : r.range(1, 256);
  const from = src.start + r.int(src.len);
  const to = dst.start + r.int(dst.len);
  if (from + len > m.buf.length || to >= m.buf.length) return false;
  m.buf.copy(m.buf, to, from, from + len);
  m.desc.push(`splice ${len} bytes from ${src.name} ${hex(from)} over ${dst.name} ${hex(to)}`);
  return true;
}

function zeroRange(m: Mut): boolean {
  const { r, L } = m;
  const g = r.pick(L.regions);
  const at = g.start + r.int(g.len);
  const len = r.range(1, 256);
  if (at >= m.buf.length) return false;
  m.buf.fill(r.chance(0.5) ? 0 : 0xff, at, Math.min(at + len, m.buf.length));
  m.desc.push(`fill ${len} bytes of ${g.name} at ${hex(at)}`);
  return true;
}

// ---- ELF -------------------------------------------------------------------------------------

const ELF_FIELDS: [string, number, number][] = [
  ['e_ident.class', 4, 1], ['e_ident.data', 5, 1], ['e_type', 16, 2], ['e_machine', 18, 2], ['e_entry', 24, 8], ['e_phoff', 32, 8],
  ['e_shoff', 40, 8], ['e_phentsize', 54, 2], ['e_phnum', 56, 2], ['e_shentsize', 58, 2], ['e_shnum', 60, 2], ['e_shstrndx', 62, 2],
];

function elfHeader(m: Mut): boolean {
  const [name, off, bytes] = m.r.pick(ELF_FIELDS);
  return m.field(`elf header ${name}`, off, bytes);
}

const SH_FIELDS: [string, number, number][] = [
  ['name', 0, 4], ['type', 4, 4], ['flags', 8, 8], ['addr', 16, 8], ['offset', 24, 8], ['size', 32, 8], ['link', 40, 4], ['info', 44, 4],
  ['addralign', 48, 8], ['entsize', 56, 8],
];

const PREFERRED = new Set([
  '.gopclntab', '.go.buildinfo', '.debug_info', '.zdebug_info', '.debug_abbrev', '.zdebug_abbrev', '.text', '.noptrdata', '.data',
  '.typelink', '.rodata', '.symtab', '.strtab', '.shstrtab', '.rela.dyn', '.go.module', '.data.rel.ro', '.debug_str', '.debug_line_str',
]);

function pickSection(m: Mut, filter?: (s: SectionInfo) => boolean): SectionInfo | undefined {
  let secs = m.L.sections.filter((s) => s.index > 0 && (!filter || filter(s)));
  const pref = secs.filter((s) => PREFERRED.has(s.name));
  if (pref.length && m.r.chance(0.7)) secs = pref;
  return secs.length ? m.r.pick(secs) : undefined;
}

function sectionHeader(m: Mut): boolean {
  const s = pickSection(m);
  if (!s) return false;
  if (m.r.chance(0.15)) {
    const flags = m.read(s.hdr + 8, 8) ^ SHF_COMPRESSED;
    return m.field(`section[${s.index} ${s.name}] flags (toggle SHF_COMPRESSED)`, s.hdr + 8, 8, flags);
  }
  const [name, off, bytes] = m.r.pick(SH_FIELDS);
  return m.field(`section[${s.index} ${s.name}] ${name}`, s.hdr + off, bytes);
}

const PH_FIELDS: [string, number, number][] = [
  ['type', 0, 4], ['flags', 4, 4], ['offset', 8, 8], ['vaddr', 16, 8], ['paddr', 24, 8], ['filesz', 32, 8], ['memsz', 40, 8],
];

function programHeader(m: Mut): boolean {
  const { ph } = m.L;
  if (ph.num === 0) return false;
  const i = m.r.int(ph.num);
  const [name, off, bytes] = m.r.pick(PH_FIELDS);
  return m.field(`program header[${i}] ${name}`, ph.off + i * ph.entsize + off, bytes);
}

// ---- pclntab ---------------------------------------------------------------------------------

const PCLN_FIELDS: [string, number, number][] = [
  ['magic', 0, 4], ['pad1', 4, 1], ['pad2', 5, 1], ['minLC', 6, 1], ['ptrSize', 7, 1], ['nfunc', 8, 8], ['nfiles', 16, 8], ['textStart', 24, 8],
  ['funcnameOffset', 32, 8], ['cuOffset', 40, 8], ['filetabOffset', 48, 8], ['pctabOffset', 56, 8], ['pclnOffset', 64, 8],
];
const MAGICS = [0xfffffff0n, 0xfffffff1n, 0xfffffffan, 0xfffffffbn, 0xfffffff2n, 0n];

function pclnHeader(m: Mut): boolean {
  const p = m.L.pcln;
  if (!p) return false;
  const [name, off, bytes] = m.r.pick(PCLN_FIELDS);
  if (name === 'magic' && m.r.chance(0.7)) return m.field('pclntab magic', p.off, 4, m.r.pick(MAGICS));
  if (name === 'nfunc' && m.r.chance(0.5)) {
    // Counts that almost fit: one more than the table holds, or just what the section could hold.
    const v = m.r.pick([BigInt(p.nfunc + 1), BigInt(p.nfunc * 2), BigInt(Math.floor(p.size / 8)), BigInt(Math.floor(p.size / 8) - 10)]);
    return m.field('pclntab nfunc', p.off + 8, 8, v);
  }
  return m.field(`pclntab ${name}`, p.off + off, bytes);
}

function funcIndex(m: Mut): number {
  const p = m.L.pcln!;
  if (m.r.chance(0.6)) return m.r.pick(p.recordIndexes) + m.r.int(2);
  return m.r.int(p.nfunc + 1);
}

function functab(m: Mut): boolean {
  const p = m.L.pcln;
  if (!p) return false;
  const i = funcIndex(m);
  const at = p.functab + i * 8;
  const how = m.r.int(10);
  if (how === 0) {
    const j = funcIndex(m);
    const a = m.buf.subarray(at, at + 8);
    const b = m.buf.subarray(p.functab + j * 8, p.functab + j * 8 + 8);
    if (a.length < 8 || b.length < 8) return false;
    const tmp = Buffer.from(a);
    b.copy(a);
    tmp.copy(b);
    m.desc.push(`functab swap entries ${i} and ${j}`);
    return true;
  }
  if (how === 1) {
    const j = funcIndex(m);
    return m.field(`functab[${i}] = functab[${j}]`, at, 8, m.read(p.functab + j * 8, 8));
  }
  const half = m.r.int(2);
  return m.field(`functab[${i}].${half ? 'funcOff' : 'entryOff'}`, at + half * 4, 4);
}

function funcRecord(m: Mut): boolean {
  const p = m.L.pcln;
  if (!p || !p.records.length) return false;
  const k = m.r.int(p.records.length);
  const r0 = p.records[k];
  const base = p.go120 ? 40 : 36;
  const fields: [string, number, number][] = [
    ['entryOff', 0, 4], ['nameOff', 4, 4], ['args', 8, 4], ['deferreturn', 12, 4], ['pcsp', 16, 4], ['pcfile', 20, 4], ['pcln', 24, 4],
    ['npcdata', 28, 4], ['cuOffset', 32, 4], ['funcID', base, 1], ['flag', base + 1, 1], ['nfuncdata', base + 3, 1],
  ];
  if (p.go120) fields.push(['startLine', 36, 4]);
  for (let j = 0; j < 6; j++) fields.push([`pcdata/funcdata[${j}]`, base + 4 + j * 4, 4]);
  const [name, off, bytes] = m.r.pick(fields);
  return m.field(`_func[${p.recordIndexes[k]}].${name}`, r0 + off, bytes);
}

function pctabVarint(m: Mut): boolean {
  const p = m.L.pcln;
  if (!p || !p.records.length) return false;
  const r0 = m.r.pick(p.records);
  const table = m.r.pick([16, 20, 24]);
  const off = m.read(r0 + table, 4);
  if (off === 0n) return false;
  const at = p.pctab + Number(off) + (m.r.chance(0.5) ? 0 : m.r.int(16));
  const bytes = m.r.chance(0.3) ? Buffer.alloc(m.r.range(1, 64), m.r.pick([0x80, 0xff, 0x00])) : hugeVarint(m.r, m.L.size);
  if (!m.writeBytes(at, bytes)) return false;
  m.desc.push(`pc-value table at ${hex(at)} ← ${bytes.subarray(0, 12).toString('hex')}${bytes.length > 12 ? '…' : ''}`);
  return true;
}

// ---- buildinfo -------------------------------------------------------------------------------

const VERSIONS = ['go1.17.13', 'go1.99.0', 'go2.0', 'go1.', 'gox.y', 'devel +abc', 'go1.18', 'go1.26.8 X:nothing', 'go1.24.1 X:noswissmap', ''];

function buildinfo(m: Mut): boolean {
  const b = m.L.buildinfo;
  if (!b) return false;
  switch (m.r.int(6)) {
    case 0: {
      const v = hugeVarint(m.r, m.L.size);
      m.writeBytes(b.verLenAt, v);
      m.desc.push(`buildinfo version length ← ${v.toString('hex')}`);
      return true;
    }
    case 1: {
      const v = hugeVarint(m.r, m.L.size);
      m.writeBytes(b.modLenAt, v);
      m.desc.push(`buildinfo modinfo length ← ${v.toString('hex')}`);
      return true;
    }
    case 2:
      return m.field('buildinfo flags', b.off + 15, 1, m.r.pick([0n, 1n, 3n, 0xffn]));
    case 3:
      return m.field('buildinfo ptrSize', b.off + 14, 1, m.r.pick([0n, 4n, 16n, 0xffn]));
    case 4: {
      // A different version string, length-prefixed; what followed it is overwritten.
      const s = m.r.pick(VERSIONS);
      const data = Buffer.concat([uvarintBytes(BigInt(s.length)), Buffer.from(s)]);
      m.writeBytes(b.verLenAt, data);
      m.desc.push(`buildinfo version ← ${JSON.stringify(s)}`);
      return true;
    }
    default: {
      const at = b.off + m.r.int(14);
      m.buf[at] ^= 1 << m.r.int(8);
      m.desc.push(`buildinfo magic byte ${at - b.off} flipped`);
      return true;
    }
  }
}

// ---- moduledata and types --------------------------------------------------------------------

function moduledata(m: Mut): boolean {
  const md = m.L.moduledata;
  if (!md) return false;
  const f = m.r.pick(md.fields);
  if (f.name.startsWith('typelinks.') && m.r.chance(0.6)) {
    const v = m.r.pick([(1n << 24n) - 1n, 1n << 31n, (1n << 32n) + 1n, 1n << 62n, BigInt(m.L.size), BigInt((md.typelinks?.len ?? 0) + 1)]);
    m.field(`moduledata ${f.name}`, f.at, 8, v);
    if (m.r.chance(0.5)) m.field(`moduledata ${f.name === 'typelinks.len' ? 'typelinks.cap' : 'typelinks.len'}`, f.name === 'typelinks.len' ? f.at + 8 : f.at - 8, 8, v);
    return true;
  }
  if (m.r.chance(0.3)) {
    // Another field's value: pointers into the wrong table, lengths as pointers.
    const g = m.r.pick(md.fields);
    return m.field(`moduledata ${f.name} = ${g.name}`, f.at, 8, m.read(g.at, 8));
  }
  return m.field(`moduledata ${f.name}`, f.at, 8);
}

function typeName(m: Mut): boolean {
  const t = m.L.types;
  if (!t.descs.length) return false;
  const i = m.r.int(t.descs.length);
  const desc = t.descs[i];
  switch (m.r.int(7)) {
    case 0:
    case 1: {
      const name = t.names[i];
      if (name === undefined) return false;
      const v = hugeVarint(m.r, m.L.size);
      m.writeBytes(name + 1, v);
      m.desc.push(`type name length of ${hex(t.vaddrs[i])} ← ${v.toString('hex')}`);
      return true;
    }
    case 2:
      return m.field(`type ${hex(t.vaddrs[i])} Str`, desc + 40, 4);
    case 3:
      return m.r.chance(0.5) ? m.field(`type ${hex(t.vaddrs[i])} kind`, desc + 23, 1) : m.field(`type ${hex(t.vaddrs[i])} tflag`, desc + 20, 1);
    case 4:
    case 5: {
      const which = m.r.int(2) ? 'elem' : 'key';
      const at = desc + (which === 'key' ? 48 : 56);
      const v = m.r.pick([BigInt(t.vaddrs[i]), BigInt(m.r.pick(t.vaddrs)), BigInt(t.vaddrs[i] + 1), 0n]);
      return m.r.chance(0.6) ? m.field(`type ${hex(t.vaddrs[i])} ${which}`, at, 8, v) : m.field(`type ${hex(t.vaddrs[i])} ${which}`, at, 8);
    }
    default:
      return m.field(`type ${hex(t.vaddrs[i])} size`, desc, 8);
  }
}

// ---- DWARF -----------------------------------------------------------------------------------

/**
 * Writes new contents for a section: compressed like the original (in place when it fits, else
 * appended at the end of the file), or, sometimes, stored raw at the end with SHF_COMPRESSED
 * cleared, so that both the decompression and the plain path see damaged DWARF.
 */
function rewriteSection(m: Mut, s: SectionInfo, content: Buffer): void {
  if (s.compression && m.r.chance(0.8)) return writeCompressed(m, s, deflateSync(content, { level: 1 }), content.length);
  placeSection(m, s, content, m.read(s.hdr + 8, 8) & ~SHF_COMPRESSED);
}

/** A zlib stream as the section's contents, framed as the section was (SHF_COMPRESSED by default). */
function writeCompressed(m: Mut, s: SectionInfo, z: Buffer, size: number): void {
  let data: Buffer;
  if (s.compression === 'zdebug') {
    const h = Buffer.alloc(12);
    h.write('ZLIB', 0, 'latin1');
    h.writeBigUInt64BE(BigInt(size), 4);
    data = Buffer.concat([h, z]);
  } else {
    const chdr = Buffer.alloc(24);
    chdr.writeUInt32LE(1, 0);
    chdr.writeBigUInt64LE(BigInt(size), 8);
    chdr.writeBigUInt64LE(1n, 16);
    data = Buffer.concat([chdr, z]);
  }
  placeSection(m, s, data, s.compression === 'zdebug' ? m.read(s.hdr + 8, 8) : m.read(s.hdr + 8, 8) | SHF_COMPRESSED);
}

function placeSection(m: Mut, s: SectionInfo, data: Buffer, flags: bigint): void {
  let at = s.offset;
  if (data.length > s.size || at + data.length > m.buf.length) at = m.append(data);
  else data.copy(m.buf, at);
  m.write(s.hdr + 8, 8, flags);
  m.write(s.hdr + 24, 8, BigInt(at));
  m.write(s.hdr + 32, 8, BigInt(data.length));
}

function dwarfUnit(m: Mut): boolean {
  const info = m.L.dwarf.info;
  if (!info || !info.units.length) return false;
  const d = Buffer.from(info.data);
  const u = m.r.chance(0.5) ? info.units[Math.min(m.r.int(4), info.units.length - 1)] : m.r.pick(info.units);
  const r = m.r;
  let what: string;
  switch (r.int(5)) {
    case 0: {
      const v = r.pick([0, 1, 2, 0xffffffff, 0xfffffff0, 0x7fffffff, d.readUInt32LE(u.off) + r.range(-8, 8), d.length]);
      d.writeUInt32LE(v >>> 0, u.off);
      what = `unit_length ← ${hex(v >>> 0)}`;
      break;
    }
    case 1: {
      const v = r.pick([0, 1, 2, 3, 4, 5, 6, 0xffff]);
      d.writeUInt16LE(v, u.versionAt);
      what = `version ← ${v}`;
      break;
    }
    case 2: {
      const abbrevLen = m.L.dwarf.abbrev?.data.length ?? 0;
      const v = r.pick([0xffffffff, abbrevLen, abbrevLen - 1, 1, r.int(2 ** 32)]) >>> 0;
      if (u.offsetSize === 4) d.writeUInt32LE(v, u.abbrevOffAt);
      what = `debug_abbrev_offset ← ${hex(v)}`;
      break;
    }
    case 3: {
      const v = r.pick([0, 1, 4, 255]);
      d[u.addrSizeAt] = v;
      what = `address_size ← ${v}`;
      break;
    }
    default: {
      const v = r.chance(0.3) ? Buffer.from([0]) : hugeVarint(r, d.length);
      v.copy(d, u.firstDie);
      what = `first DIE abbrev code ← ${v.toString('hex')}`;
    }
  }
  rewriteSection(m, info.sec, d);
  m.desc.push(`.debug_info unit at ${hex(u.off)}: ${what}`);
  return true;
}

const FORMS = [0x16, 0x21, 0x7f, 0x2d, 0x00, 0x08, 0x0e, 0x1f, 0x18, 0x09, 0x04, 0x01, 0x10, 0x1e, 0x0a, 0x03];

function dwarfAbbrev(m: Mut): boolean {
  const ab = m.L.dwarf.abbrev;
  if (!ab || !ab.decls.length) return false;
  const r = m.r;
  let d = Buffer.from(ab.data);
  const decl: AbbrevDecl = r.pick(ab.decls);
  let what: string;
  switch (r.int(6)) {
    case 0: {
      const v = r.chance(0.5) ? hugeVarint(r, d.length) : uvarintBytes(BigInt(r.pick(ab.decls).code));
      v.copy(d, decl.off);
      what = `code ${decl.code} ← ${v.toString('hex')}`;
      break;
    }
    case 1:
      d[decl.tagAt] = r.pick([0x13, 0x0d, 0x00, r.int(256)]);
      what = `tag of ${decl.code} ← ${hex(d[decl.tagAt])}`;
      break;
    case 2:
      d[decl.childrenAt] = r.pick([0, 1, 2, 0xff]);
      what = `children of ${decl.code} ← ${d[decl.childrenAt]}`;
      break;
    case 3:
    case 4: {
      if (!decl.attrs.length) return false;
      const a = r.pick(decl.attrs);
      const form = r.pick(FORMS);
      if (r.chance(0.8)) {
        d[a.formAt] = form;
        what = `form of an attribute of ${decl.code} ← ${hex(form)}`;
      } else {
        d[a.atAt] = r.pick([0x03, 0x38, 0x0b, 0x00]);
        what = `attribute name of ${decl.code} ← ${hex(d[a.atAt])}`;
      }
      break;
    }
    default:
      d = d.subarray(0, decl.off + r.int(8));
      what = `table cut at ${hex(d.length)}`;
  }
  rewriteSection(m, ab.sec, d);
  m.desc.push(`.debug_abbrev: ${what}`);
  return true;
}

function dwarfStruct(m: Mut): boolean {
  const info = m.L.dwarf.info;
  if (!info || !info.structs.length) return false;
  const d = Buffer.from(info.data);
  const pos = m.r.pick(info.structs);
  const n = m.r.range(1, 8);
  for (let k = 0; k < n; k++) {
    const at = pos - 32 + m.r.int(544);
    if (at >= 0 && at < d.length) d[at] = m.r.chance(0.5) ? m.r.int(256) : d[at] ^ (1 << m.r.int(8));
  }
  rewriteSection(m, info.sec, d);
  m.desc.push(`.debug_info: ${n} bytes flipped around the struct DIE at ${hex(pos)}`);
  return true;
}

/** Every form DW_FORM_indirect and the unit's DIEs a long run of 0x16: recursion depth bomb. */
function dwarfIndirect(m: Mut): boolean {
  return indirectForms(m, m.r.pick([1000, 100_000, Infinity]));
}

export function indirectForms(m: Mut, run: number): boolean {
  const info = m.L.dwarf.info;
  const ab = m.L.dwarf.abbrev;
  if (!info || !ab || !info.units.length) return false;
  const a = Buffer.from(ab.data);
  for (const decl of ab.decls) for (const at of decl.attrs) if (a[at.formAt] < 0x80) a[at.formAt] = 0x16;
  const d = Buffer.from(info.data);
  const u = info.units[0];
  d.fill(0x16, u.firstDie + 1, Math.min(d.length, u.firstDie + 1 + run));
  rewriteSection(m, ab.sec, a);
  rewriteSection(m, info.sec, d);
  m.desc.push(`DWARF: every form indirect, ${Math.min(run, d.length)} bytes of 0x16 in the first unit`);
  return true;
}

const bombs = new Map<number, Buffer>();

/** A zlib bomb in a DWARF section: a few hundred KB that inflate to hundreds of MB of zeros. */
function zlibBomb(m: Mut): boolean {
  const s = pickSection(m, (x) => x.name.includes('debug_'));
  if (!s) return false;
  bombSection(m, s, m.r.pick([64 << 20, 256 << 20]));
  return true;
}

/** Makes section `s` a zlib stream of `size` zeros (compressed ~1000:1). */
export function bombSection(m: Mut, s: SectionInfo, size: number): void {
  let z = bombs.get(size);
  if (!z) bombs.set(size, (z = deflateSync(Buffer.alloc(size), { level: 9 })));
  writeCompressed(m, s, z, size);
  m.desc.push(`section[${s.index} ${s.name}] ← ${z.length} bytes of zlib that inflate to ${size}`);
}

/**
 * A header table grown by thousands of copies of one of its entries, appended at the end of the
 * file: the real entries stay, so the file still parses, and every scan over sections or
 * segments meets each copy.
 */
function headerBomb(m: Mut, kind: 'section' | 'program'): boolean {
  const { L, r } = m;
  const t = kind === 'section' ? L.sh : L.ph;
  if (t.num === 0 || t.entsize === 0) return false;
  let pick: number;
  if (kind === 'section') {
    const s = pickSection(m, (x) => x.size > 0);
    if (!s) return false;
    pick = s.index;
  } else pick = r.int(t.num);
  return repeatHeader(m, kind, pick, r.pick([1000, 20_000, 65_535 - t.num]));
}

/** Appends a copy of the section or program header table with entry `pick` repeated `copies` times. */
export function repeatHeader(m: Mut, kind: 'section' | 'program', pick: number, copies: number): boolean {
  const t = kind === 'section' ? m.L.sh : m.L.ph;
  const table = m.buf.subarray(t.off, t.off + t.num * t.entsize);
  const entry = m.buf.subarray(t.off + pick * t.entsize, t.off + (pick + 1) * t.entsize);
  if (table.length < t.num * t.entsize || entry.length < t.entsize) return false;
  const grown = Buffer.concat([table, ...Array(copies).fill(entry)]);
  const at = m.append(grown);
  const total = t.num + copies;
  if (kind === 'section') {
    m.write(40, 8, BigInt(at));
    m.write(60, 2, BigInt(Math.min(total, 0xffff)));
  } else {
    m.write(32, 8, BigInt(at));
    m.write(56, 2, BigInt(Math.min(total, 0xffff)));
  }
  m.desc.push(`${kind} header table: entry ${pick} repeated ${copies} times (${total} entries)`);
  return true;
}

function compressed(m: Mut): boolean {
  const s = pickSection(m, (x) => x.compression !== undefined);
  if (!s) return false;
  const r = m.r;
  const name = `section[${s.index} ${s.name}]`;
  switch (r.int(5)) {
    case 0:
    case 1:
      if (s.compression === 'shf') {
        const v = r.pick([(1n << 40n), (1n << 64n) - 1n, 1n << 30n, (1n << 30n) + 1n, 0n, 1n, m.read(s.offset + 8, 8) + BigInt(r.range(-2, 2)), BigInt(r.int(2 ** 32))]);
        return m.field(`${name} ch_size`, s.offset + 8, 8, v);
      } else {
        const v = r.pick([(1n << 40n), (1n << 64n) - 1n, 1n << 30n, 0n, 1n]);
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(v);
        m.writeBytes(s.offset + 4, b);
        m.desc.push(`${name} zdebug size ← ${hex(v)}`);
        return true;
      }
    case 2:
      if (s.compression === 'shf') return m.field(`${name} ch_type`, s.offset, 4, r.pick([0n, 2n, 3n, 0xffffffffn]));
      return m.field(`${name} ZLIB magic`, s.offset, 4, r.u64());
    case 3: {
      const start = s.offset + (s.compression === 'shf' ? 24 : 12);
      const n = r.range(1, 8);
      for (let k = 0; k < n; k++) {
        const at = start + (r.chance(0.5) ? r.int(64) : r.int(Math.max(1, s.size - 24)));
        if (at < m.buf.length) m.buf[at] ^= 1 << r.int(8);
      }
      m.desc.push(`${name}: ${n} bits of the zlib stream flipped`);
      return true;
    }
    default:
      return m.field(`${name} size (cut)`, s.hdr + 32, 8, BigInt(r.pick([r.int(s.size), 23, 11, 0, s.size - 1])));
  }
}

export const MUTATORS: readonly (readonly [number, string, Mutator])[] = [
  [14, 'flip', flip],
  [5, 'truncate', truncate],
  [3, 'splice', splice],
  [2, 'fill', zeroRange],
  [5, 'elf-header', elfHeader],
  [8, 'section-header', sectionHeader],
  [5, 'program-header', programHeader],
  [7, 'pclntab-header', pclnHeader],
  [6, 'functab', functab],
  [6, 'func-record', funcRecord],
  [3, 'pctab-varint', pctabVarint],
  [6, 'buildinfo', buildinfo],
  [6, 'moduledata', moduledata],
  [6, 'type-name', typeName],
  [5, 'dwarf-unit', dwarfUnit],
  [5, 'dwarf-abbrev', dwarfAbbrev],
  [3, 'dwarf-struct', dwarfStruct],
  [1, 'dwarf-indirect', dwarfIndirect],
  [4, 'compressed-section', compressed],
  [1, 'zlib-bomb', zlibBomb],
  [1, 'section-table-bomb', (m) => headerBomb(m, 'section')],
  [1, 'program-table-bomb', (m) => headerBomb(m, 'program')],
];

/** The input of one iteration: 1–3 mutations of the seed, chosen by Rng.forIteration. */
export function makeInput(seed: Buffer, layout: SeedLayout, masterSeed: number, iteration: number): MutatedInput {
  const r = Rng.forIteration(masterSeed, iteration);
  const m = new Mut(seed, layout, r);
  const count = r.weighted([[60, 1], [30, 2], [10, 3]] as const);
  const table = MUTATORS.map(([w, name, fn]) => [w, [name, fn]] as const);
  for (let done = 0, tries = 0; done < count && tries < 20; tries++) {
    const [name, fn] = r.weighted(table);
    const before = m.desc.length;
    if (fn(m)) {
      done++;
      for (let i = before; i < m.desc.length; i++) if (!m.desc[i].startsWith(name)) m.desc[i] = `${name}: ${m.desc[i]}`;
    } else {
      m.desc.length = before;
    }
  }
  return { buf: m.buf, mutations: m.desc };
}
