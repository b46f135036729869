/**
 * Finding `.gopclntab` and decoding its header (runtime.pcHeader). Split from pclntab.ts because
 * moduledata.ts needs the header to find moduledata, and pclntab.ts needs moduledata for its
 * text base (Go 1.26+) and gofunc base.
 *
 * pcHeader (amd64): magic u32, pad1 u8, pad2 u8, minLC u8, ptrSize u8, nfunc @8, nfiles @16,
 * textStart @24 (always 0 from Go 1.26: "code should use the moduledata text field"),
 * funcnameOffset @32, cuOffset @40, filetabOffset @48, pctabOffset @56, pclnOffset @64.
 */
import { ElfFile, uncovered } from './elf';
import { GoBinaryError, corrupt, hex } from './errors';
import { u32, u64, u8 } from './reader';

export const MAGIC_GO118 = 0xfffffff0;
export const MAGIC_GO120 = 0xfffffff1;
const OLD_MAGICS: Record<number, string> = { 0xfffffffb: 'Go 1.2–1.15', 0xfffffffa: 'Go 1.16–1.17' };
const HEADER_SIZE = 72;

export interface PcHeader {
  vaddr: number;
  magic: number;
  minLC: number;
  nfunc: number;
  nfiles: number;
  /** 0 from Go 1.26; use moduledata.text then. */
  textStart: number;
  funcnameOffset: number;
  cuOffset: number;
  filetabOffset: number;
  pctabOffset: number;
  pclnOffset: number;
}

export interface LocatedPclntab {
  header: PcHeader;
  /** From the pcHeader to the end of the section (or segment when there are no sections). */
  data: Buffer;
}

const SECTION_NAMES = ['.gopclntab', '.data.rel.ro.gopclntab'];

/** undefined when the binary has no pclntab at all (not Go); throws for old or corrupt ones. */
export function locatePclntab(elf: ElfFile): LocatedPclntab | undefined {
  for (const name of SECTION_NAMES) {
    const sec = elf.section(name);
    if (sec && sec.size >= 8) return { header: parseHeader(elf, elf.sectionData(sec), sec.addr), data: elf.sectionData(sec) };
  }
  // No section headers: look for a plausible header in the read-only segments.
  // Bytes that an earlier segment already covered are not scanned again (corrupt headers can
  // repeat a segment thousands of times).
  const ro = elf.loads.filter((s) => !(s.flags & 2) && s.filesz >= HEADER_SIZE);
  for (const { item: seg, start } of uncovered(ro, (s) => s.offset, (s) => s.filesz)) {
    const end = Math.min(seg.offset + seg.filesz, elf.data.length);
    const img = elf.data.subarray(seg.offset, end);
    for (let o = Math.ceil((start - seg.offset) / 8) * 8; o + HEADER_SIZE <= img.length; o += 8) {
      const m = img.readUInt32LE(o);
      if ((m !== MAGIC_GO118 && m !== MAGIC_GO120) || img.readUInt32BE(o + 4) !== 0x00000108) continue;
      try {
        const data = img.subarray(o);
        return { header: parseHeader(elf, data, seg.vaddr + o), data };
      } catch {
        // keep looking
      }
    }
  }
  return undefined;
}

export function parseHeader(elf: ElfFile, d: Buffer, vaddr: number): PcHeader {
  const magic = u32(d, 0, 'pclntab magic');
  if (OLD_MAGICS[magic]) {
    throw new GoBinaryError(`${elf.path} has a ${OLD_MAGICS[magic]} symbol table (.gopclntab); map-delete-tracer needs Go 1.18 or newer: rebuild it with a current Go`);
  }
  if (magic !== MAGIC_GO118 && magic !== MAGIC_GO120) {
    throw new GoBinaryError(`${elf.path} has an unknown .gopclntab format (magic ${hex(magic)}); it may be built by a Go newer than this map-delete-tracer supports`);
  }
  if (u8(d, 4) !== 0 || u8(d, 5) !== 0 || u8(d, 7) !== 8) corrupt(`pclntab header pad/ptrSize bytes are ${d.subarray(4, 8).toString('hex')}`);
  const h: PcHeader = {
    vaddr,
    magic,
    minLC: u8(d, 6),
    nfunc: u64(d, 8, 'pclntab nfunc'),
    nfiles: u64(d, 16, 'pclntab nfiles'),
    textStart: u64(d, 24, 'pclntab textStart'),
    funcnameOffset: u64(d, 32, 'pclntab funcnameOffset'),
    cuOffset: u64(d, 40, 'pclntab cuOffset'),
    filetabOffset: u64(d, 48, 'pclntab filetabOffset'),
    pctabOffset: u64(d, 56, 'pclntab pctabOffset'),
    pclnOffset: u64(d, 64, 'pclntab pclnOffset'),
  };
  if (h.minLC !== 1 && h.minLC !== 2 && h.minLC !== 4) corrupt(`pclntab minLC ${h.minLC}`);
  for (const k of ['funcnameOffset', 'cuOffset', 'filetabOffset', 'pctabOffset', 'pclnOffset'] as const) {
    if (!(h[k] >= HEADER_SIZE && h[k] <= d.length)) corrupt(`pclntab ${k} ${h[k]} is outside the ${d.length}-byte table`);
  }
  if (!(h.nfunc > 0 && h.pclnOffset + (h.nfunc + 1) * 8 <= d.length)) corrupt(`pclntab claims ${h.nfunc} functions, more than fit`);
  return h;
}
