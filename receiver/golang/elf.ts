/**
 * Minimal ELF64 little-endian reader: just what Go-binary analysis needs. The whole file is read
 * into one Buffer (Go binaries are a few MB to a few tens of MB) so that every later lookup is a
 * slice, not a syscall.
 */
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { GoBinaryError, corrupt, hex } from './errors';
import { bytes, cstring, u16, u32, u64, u8 } from './reader';

export const ET_EXEC = 2;
export const ET_DYN = 3;
export const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const SHT_NOBITS = 8;
export const SHT_SYMTAB = 2;
export const SHT_RELA = 4;
export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
export const SHF_COMPRESSED = 0x800;
const ELFCOMPRESS_ZLIB = 1;
const ELFCOMPRESS_ZSTD = 2;
const R_X86_64_RELATIVE = 8;
/** Refuse to inflate a section past this: DWARF of real programs is far smaller. */
const MAX_DECOMPRESSED = 1 << 30;
/**
 * Nor past this multiple of its compressed size (plus MAX_RATIO_SLACK for tiny sections): Go
 * and gcc DWARF sections inflate about 2–7×, while a zlib bomb (a stream of zeros) inflates
 * 1000×, so a small hostile file could otherwise make us allocate a gigabyte.
 */
const MAX_RATIO = 64;
const MAX_RATIO_SLACK = 1 << 20;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
}

export interface ElfSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  type: number;
  bind: number;
  shndx: number;
}

/**
 * The parts of `ranges` ([start, start+size)) not covered by an earlier one, sorted by start,
 * each with the item it came from. Valid files have disjoint sections and segments; corrupt
 * headers that repeat or overlap the same bytes (tens of thousands of copies fit in a file)
 * would otherwise make each linear scan over them quadratic in the file size.
 */
export function uncovered<T>(items: readonly T[], start: (t: T) => number, size: (t: T) => number): { item: T; start: number; size: number }[] {
  const sorted = items.map((item) => ({ item, start: start(item), size: size(item) })).sort((a, b) => a.start - b.start);
  const out: { item: T; start: number; size: number }[] = [];
  let done = -Infinity;
  for (const r of sorted) {
    const end = r.start + r.size;
    const from = Math.max(r.start, done);
    if (end > from) out.push({ item: r.item, start: from, size: end - from });
    done = Math.max(done, end);
  }
  return out;
}

/** A section as messages name it: its name, or its index when the name table is missing. */
function secName(sec: ElfSection): string {
  return sec.name || `#${sec.index}`;
}

export class ElfFile {
  readonly type: number;
  readonly machine: number;
  readonly entry: number;
  readonly sections: readonly ElfSection[];
  readonly segments: readonly ElfSegment[];
  /** PT_LOAD segments, sorted by vaddr. */
  readonly loads: readonly ElfSegment[];

  private readonly byName = new Map<string, ElfSection>();
  private readonly decompressed = new Map<number, Buffer>();
  private symtab?: Map<string, ElfSymbol>;
  private relative?: Map<number, number>;
  private lastSegment?: ElfSegment;

  /** Reads and parses `path`; throws GoBinaryError on anything that is not a sane ELF64 LE file. */
  static open(path: string): ElfFile {
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (err) {
      const code = (err as { code?: string }).code ?? String(err);
      throw new GoBinaryError(`cannot read ${path} (${code}); check the path and permissions`);
    }
    return new ElfFile(data, path);
  }

  constructor(
    readonly data: Buffer,
    readonly path = '<buffer>',
  ) {
    if (data.length < 64 || data.readUInt32BE(0) !== 0x7f454c46) {
      throw new GoBinaryError(`${path} is not an ELF file; give the path of a compiled Go executable`);
    }
    if (data[4] !== 2 || data[5] !== 1) {
      throw new GoBinaryError(
        `${path} is a ${data[4] === 1 ? '32-bit' : 'big-endian or unknown-class'} ELF file; map-delete-tracer supports 64-bit little-endian (x86-64) Go executables only`,
      );
    }
    this.type = u16(data, 16);
    this.machine = u16(data, 18);
    this.entry = u64(data, 24);
    this.segments = this.readSegments();
    this.loads = this.segments.filter((s) => s.type === PT_LOAD).sort((a, b) => a.vaddr - b.vaddr);
    this.sections = this.readSections();
    for (const s of this.sections) if (!this.byName.has(s.name)) this.byName.set(s.name, s);
  }

  get isPIE(): boolean {
    return this.type === ET_DYN;
  }

  private readSegments(): ElfSegment[] {
    const d = this.data;
    const phoff = u64(d, 32);
    const phentsize = u16(d, 54);
    const phnum = u16(d, 56);
    if (phnum === 0) return [];
    if (phentsize < 56) corrupt(`program header entry size ${phentsize} < 56`);
    if (phoff + phnum * phentsize > d.length) this.truncated('the program header table', phoff + phnum * phentsize);
    const out: ElfSegment[] = [];
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      out.push({
        type: u32(d, o),
        flags: u32(d, o + 4),
        offset: u64(d, o + 8),
        vaddr: u64(d, o + 16),
        filesz: u64(d, o + 32),
        memsz: u64(d, o + 40),
      });
    }
    return out;
  }

  private readSections(): ElfSection[] {
    const d = this.data;
    const shoff = u64(d, 40);
    const shentsize = u16(d, 58);
    let shnum = u16(d, 60);
    let shstrndx = u16(d, 62);
    if (shoff === 0) return [];
    if (shentsize < 64) corrupt(`section header entry size ${shentsize} < 64`);
    if (shoff + 64 > d.length) this.truncated('the section header table', shoff + 64);
    // Extended numbering: the real counts live in section 0.
    if (shnum === 0) shnum = u64(d, shoff + 32);
    if (shstrndx === 0xffff) shstrndx = u32(d, shoff + 40);
    if (shnum > 65536 * 16) corrupt(`${shnum} section headers`);
    if (shoff + shnum * shentsize > d.length) this.truncated('the section header table', shoff + shnum * shentsize);
    const raw: Omit<ElfSection, 'name'>[] = [];
    const nameOffs: number[] = [];
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      nameOffs.push(u32(d, o));
      raw.push({
        index: i,
        type: u32(d, o + 4),
        flags: u64(d, o + 8),
        addr: u64(d, o + 16),
        offset: u64(d, o + 24),
        size: u64(d, o + 32),
        link: u32(d, o + 40),
        info: u32(d, o + 44),
        addralign: u64(d, o + 48),
        entsize: u64(d, o + 56),
      });
    }
    let strtab: Buffer | undefined;
    const strsec = raw[shstrndx];
    if (strsec && strsec.type !== SHT_NOBITS) {
      if (strsec.offset + strsec.size > d.length) this.truncated('the section name table', strsec.offset + strsec.size);
      strtab = d.subarray(strsec.offset, strsec.offset + strsec.size);
    }
    return raw.map((s, i) => {
      let name = '';
      if (strtab && nameOffs[i] < strtab.length) {
        try {
          name = cstring(strtab, nameOffs[i], 'section name', 4096);
        } catch {
          name = '';
        }
      }
      return { ...s, name };
    });
  }

  private truncated(what: string, end: number): never {
    throw new GoBinaryError(
      `${this.path} is truncated or corrupt (${what} ends at byte ${end} but the file has ${this.data.length}); copy or rebuild the binary`,
    );
  }

  section(name: string): ElfSection | undefined {
    return this.byName.get(name);
  }

  /**
   * A section's contents, decompressed when it is SHF_COMPRESSED (zlib) or an old-style
   * `.zdebug_*` section ("ZLIB" + 8-byte big-endian size). zstd needs a newer Node and is
   * reported as an error the caller can fall back from.
   */
  sectionData(sec: ElfSection): Buffer {
    if (sec.type === SHT_NOBITS) return Buffer.alloc(0);
    const end = sec.offset + sec.size;
    if (!(end <= this.data.length)) this.truncated(`section ${secName(sec)}`, end);
    const raw = this.data.subarray(sec.offset, end);
    const cached = this.decompressed.get(sec.index);
    if (cached) return cached;
    let out: Buffer;
    if (sec.flags & SHF_COMPRESSED) {
      const type = u32(raw, 0, 'compression header');
      const size = u64(raw, 8, 'compression header');
      if (type === ELFCOMPRESS_ZSTD) {
        throw new GoBinaryError(`${this.path}: section ${secName(sec)} is zstd-compressed, which Node ${process.version} cannot decompress`);
      }
      if (type !== ELFCOMPRESS_ZLIB) corrupt(`section ${secName(sec)} has unknown compression type ${type}`);
      out = this.inflate(sec, raw.subarray(24), size);
    } else if (sec.name.startsWith('.zdebug_') && raw.length >= 12 && raw.toString('latin1', 0, 4) === 'ZLIB') {
      out = this.inflate(sec, raw.subarray(12), raw.readUInt32BE(4) * 0x1_0000_0000 + raw.readUInt32BE(8));
    } else {
      return raw;
    }
    this.decompressed.set(sec.index, out);
    return out;
  }

  private inflate(sec: ElfSection, raw: Buffer, size: number): Buffer {
    if (!(size <= MAX_DECOMPRESSED)) corrupt(`section ${secName(sec)} claims ${size} bytes uncompressed`);
    if (size > raw.length * MAX_RATIO + MAX_RATIO_SLACK) {
      corrupt(`section ${secName(sec)} claims ${size} bytes uncompressed from ${raw.length}, more than ${MAX_RATIO} times as many`);
    }
    try {
      // The claimed size bounds the output, so a stream that inflates further fails instead.
      return inflateSync(raw, { maxOutputLength: Math.max(size, 1) });
    } catch (err) {
      return corrupt(`section ${secName(sec)} does not decompress (${(err as Error).message})`);
    }
  }

  /** The PT_LOAD whose file image contains vaddr (bss-only parts are not in the file). */
  private segmentFor(vaddr: number): ElfSegment | undefined {
    const last = this.lastSegment;
    if (last && vaddr >= last.vaddr && vaddr < last.vaddr + last.filesz) return last;
    for (const s of this.loads) {
      if (vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz) return (this.lastSegment = s);
    }
    return undefined;
  }

  /** File offset of a link-time virtual address, via the PT_LOAD that maps it from the file. */
  tryVaddrToFileOffset(vaddr: number): number | undefined {
    const s = this.segmentFor(vaddr);
    return s ? vaddr - s.vaddr + s.offset : undefined;
  }

  vaddrToFileOffset(vaddr: number): number {
    const off = this.tryVaddrToFileOffset(vaddr);
    if (off === undefined) {
      throw new GoBinaryError(`${this.path}: address ${hex(vaddr)} is not in any loadable segment of the file`);
    }
    return off;
  }

  /** `len` bytes at a link-time vaddr (a view into the file, not a copy); throws if unmapped. */
  readVaddr(vaddr: number, len: number): Buffer {
    const s = this.segmentFor(vaddr);
    if (!s) corrupt(`address ${hex(vaddr)} is not in any loadable segment`);
    if (!(len >= 0 && vaddr + len <= s.vaddr + s.filesz)) corrupt(`${len} bytes at ${hex(vaddr)} run past the end of their segment`);
    return bytes(this.data, vaddr - s.vaddr + s.offset, len, `data at ${hex(vaddr)}`);
  }

  /** Bytes from vaddr to the end of its segment's file image, at most `max`. */
  readVaddrUpTo(vaddr: number, max: number): Buffer {
    const s = this.segmentFor(vaddr);
    if (!s) corrupt(`address ${hex(vaddr)} is not in any loadable segment`);
    return this.readVaddr(vaddr, Math.min(max, s.vaddr + s.filesz - vaddr));
  }

  /**
   * A pointer-sized word at vaddr. In PIE binaries pointers are dynamic relocations; both Go's
   * internal linker and the system linker also store the value in the file, but if a linker
   * leaves a zero there we take the R_X86_64_RELATIVE addend instead.
   */
  readPointer(vaddr: number): number {
    const v = u64(this.readVaddr(vaddr, 8), 0);
    if (v !== 0 || !this.isPIE) return v;
    return this.relativeRelocs().get(vaddr) ?? 0;
  }

  /** r_offset → addend of every R_X86_64_RELATIVE relocation (PIE only; built on first use). */
  relativeRelocs(): ReadonlyMap<number, number> {
    if (this.relative) return this.relative;
    const map = new Map<number, number>();
    // Entries are read at 24-byte strides from each section's start, so overlapping (corrupt)
    // sections cannot be merged: a section starting inside one already read is skipped.
    let readTo = -1;
    const relas = this.sections.filter((s) => s.type === SHT_RELA && s.entsize === 24).sort((a, b) => a.offset - b.offset);
    for (const sec of relas) {
      if (sec.offset < readTo) continue;
      readTo = sec.offset + sec.size;
      const d = this.sectionData(sec);
      for (let o = 0; o + 24 <= d.length; o += 24) {
        if (u32(d, o + 8) === R_X86_64_RELATIVE) map.set(u64(d, o), u64(d, o + 16));
      }
    }
    this.relative = map;
    return map;
  }

  /** `.symtab` by name (empty when stripped). Go's own symbols are unique by name. */
  symbols(): ReadonlyMap<string, ElfSymbol> {
    if (this.symtab) return this.symtab;
    const map = new Map<string, ElfSymbol>();
    const sec = this.sections.find((s) => s.type === SHT_SYMTAB);
    const strsec = sec ? this.sections[sec.link] : undefined;
    if (sec && strsec) {
      const d = this.sectionData(sec);
      const str = this.sectionData(strsec);
      for (let o = 24; o + 24 <= d.length; o += 24) {
        const nameOff = u32(d, o);
        if (nameOff === 0 || nameOff >= str.length) continue;
        let name: string;
        try {
          name = cstring(str, nameOff, 'symbol name', 8192);
        } catch {
          continue;
        }
        const info = u8(d, o + 4);
        if (!map.has(name)) {
          map.set(name, { name, value: u64(d, o + 8), size: u64(d, o + 16), type: info & 0xf, bind: info >> 4, shndx: u16(d, o + 6) });
        }
      }
    }
    this.symtab = map;
    return map;
  }

  symbol(name: string): ElfSymbol | undefined {
    return this.symbols().get(name);
  }
}
