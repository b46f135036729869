/**
 * Every map type descriptor of a binary, for GoBinary.mapTypes().
 *
 * The primary source is what reflect itself uses to find a binary's types again, the typelinks
 * (runtime/symtab.go moduledata.typelinks, reflect/type.go typelinks/rtypeOff):
 *   Go ≤1.26: moduledata.typelinks, a []int32 of offsets from moduledata.types (where its header
 *             sits per version: moduledata.ts), sorted by type string.
 *   Go 1.27+: the slice is gone; the linker sorts the typelink descriptors first in the types
 *             section (cmd/link dodataSect) and records their total size in
 *             moduledata.typedesclen; the runtime (runtime/type.go moduleTypelinks) walks them from
 *             types+8, each aligned to 8, stepping by abi.Type.DescriptorSize(). So do we.
 *
 * The compiler (cmd/compile reflectdata writeType) marks as typelinks only UNNAMED composite
 * types (pointer, array, chan, func, map, slice, struct), the ones reflect.MapOf & co. could build
 * at run time and must then find instead. A NAMED map type (`type Set map[string]int`,
 * `http.Header`, `url.Values`, generic `Cache[K]`) is never in typelinks, in any version 1.18–1.27,
 * yet deletes from it reach the probed runtime functions like any other. Two cheap scans add them:
 *
 *   code: a map type reaches a runtime map function as its first argument, loaded with
 *         `LEAQ type:…(SB), AX` (48 8d 05 rel32) right before the CALL; makemap, conversions to
 *         interface (then reflect) and every other use of the type in code load it the same way.
 *         We scan the Go text for RIP-relative LEAs (REX.W 8d, ModRM mod=00 rm=101) whose target
 *         is a type descriptor.
 *   data: generic code gets its map type from the instantiation's dictionary (a read-only symbol
 *         of pointers), and type descriptors, itabs and static interface values point at types
 *         too: we scan every allocated non-code section for pointer-sized words (and, in PIE, the
 *         R_X86_64_RELATIVE addends) that hold a type descriptor's address.
 *
 * Both scans look at raw bytes, so every candidate is checked to be a map type descriptor (right
 * place and alignment, kind Map, the size/alignment every map header has, resolvable key and elem
 * types, and a name that matches: "map[K]V" for unnamed ones, the TFlagNamed bit for named ones).
 * A false hit would have to be the exact address of a real map descriptor, so it cannot add
 * anything that is not one. A map type built at run time by reflect.MapOf is not in the binary at
 * all (and mapType() cannot name it either). The list also holds the compiler's shape types of
 * generic code ("go.shape.map[string]int", named, so never typelinks): real descriptors, but the
 * runtime functions are always passed the instantiated type from the dictionary, never a shape.
 */
import { GoVersion, compareMinor } from './buildinfo';
import { ElfFile, SHF_ALLOC, SHF_EXECINSTR, SHT_NOBITS, uncovered } from './elf';
import { ModuleData } from './moduledata';
import { KIND_MAP, TypeResolver } from './types';

const PTR = 8;
const TFLAG_UNCOMMON = 1 << 0;
const TFLAG_NAMED = 1 << 2;
const KIND_MASK = 0x1f;

/**
 * amd64 sizes of the abi type descriptors of Go 1.27 (internal/abi/type.go, map.go), for
 * DescriptorSize(); checked against DWARF in the unit tests.
 */
export const DESCRIPTOR_SIZES_GO127 = {
  Type: 48,
  ArrayType: 72,
  ChanType: 64,
  FuncType: 56,
  InterfaceType: 80,
  MapType: 136,
  PtrType: 56,
  SliceType: 56,
  StructType: 80,
  UncommonType: 16,
  Method: 16,
  Imethod: 8,
  StructField: 24,
} as const;

// reflect.Kind values used below.
const K = { Array: 17, Chan: 18, Func: 19, Interface: 20, Map: 21, Pointer: 22, Slice: 23, Struct: 25, UnsafePointer: 26 };

export interface Typelinks {
  /** Link-time addresses of the typelink descriptors, in the binary's order (sorted by name). */
  addrs: number[];
  /** 'slice' (moduledata.typelinks, Go ≤1.26) or 'walk' (typedesclen, Go 1.27+). */
  via: 'slice' | 'walk';
  /** false when the 1.27 walk did not end exactly at types+typedesclen (unknown layout). */
  complete: boolean;
}

export function readTypelinks(elf: ElfFile, md: ModuleData | undefined, v: GoVersion): Typelinks | undefined {
  if (!md || md.types === undefined || md.etypes === undefined) return undefined;
  if (md.typelinks) {
    const { addr, len } = md.typelinks;
    const addrs: number[] = [];
    if (len > 0) {
      const d = elf.readVaddr(addr, len * 4);
      for (let i = 0; i < len; i++) addrs.push(md.types + d.readInt32LE(i * 4));
    }
    return { addrs, via: 'slice', complete: true };
  }
  if (md.typedesclen !== undefined && compareMinor(v, 1, 27) >= 0) return walkTypelinks(elf, md.types, md.types + md.typedesclen);
  return undefined;
}

/** Go 1.27+: runtime/type.go moduleTypelinks. */
function walkTypelinks(elf: ElfFile, types: number, end: number): Typelinks {
  const addrs: number[] = [];
  let p = types + PTR;
  let complete = true;
  while (p < end) {
    p = Math.ceil(p / PTR) * PTR;
    let size: number | undefined;
    try {
      size = descriptorSize127(elf, p);
    } catch {
      size = undefined;
    }
    if (size === undefined) {
      complete = false;
      break;
    }
    addrs.push(p);
    p += size;
  }
  if (p !== end) complete = false;
  return { addrs, via: 'walk', complete };
}

/** abi.Type.DescriptorSize() of the descriptor at addr (Go 1.27 layout); undefined if it is not one. */
export function descriptorSize127(elf: ElfFile, addr: number): number | undefined {
  const S = DESCRIPTOR_SIZES_GO127;
  const t = elf.readVaddr(addr, S.Type + 24);
  const tflag = t[20];
  const kind = t[23] & KIND_MASK;
  let base: number;
  let add = 0;
  switch (kind) {
    case K.Array:
      base = S.ArrayType;
      break;
    case K.Chan:
      base = S.ChanType;
      break;
    case K.Func:
      base = S.FuncType;
      add = (t.readUInt16LE(48) + (t.readUInt16LE(50) & 0x7fff)) * PTR;
      break;
    case K.Interface:
      base = S.InterfaceType;
      add = readLen(t, 64) * S.Imethod;
      break;
    case K.Map:
      base = S.MapType;
      break;
    case K.Pointer:
      base = S.PtrType;
      break;
    case K.Slice:
      base = S.SliceType;
      break;
    case K.Struct:
      base = S.StructType;
      add = readLen(t, 64) * S.StructField;
      break;
    default:
      if (kind >= 1 && kind <= K.UnsafePointer) {
        base = S.Type;
        break;
      }
      return undefined;
  }
  let size = base;
  let mcount = 0;
  if (tflag & TFLAG_UNCOMMON) {
    mcount = elf.readVaddr(addr + base, S.UncommonType).readUInt16LE(4);
    size += S.UncommonType;
  }
  return size + add + mcount * S.Method;
}

/** A slice length word; absurd values mean we are not looking at a descriptor. */
function readLen(t: Buffer, off: number): number {
  const lo = t.readUInt32LE(off);
  if (t.readUInt32LE(off + 4) !== 0 || lo > 1 << 20) throw new Error('implausible slice length');
  return lo;
}

/**
 * Targets of RIP-relative `lea r64, [rip+disp32]` in `code` (at link-time address `vaddr`) that
 * fall in [lo, hi) and are 8-aligned. A byte scan: candidates, not proven instructions.
 */
export function codeRefs(code: Buffer, vaddr: number, lo: number, hi: number, out = new Set<number>()): Set<number> {
  const n = code.length - 7;
  for (let p = code.indexOf(0x8d, 1); p !== -1; p = code.indexOf(0x8d, p + 1)) {
    const at = p - 1;
    if (at > n) break;
    if ((code[at] & 0xf8) !== 0x48 || (code[p + 1] & 0xc7) !== 0x05) continue;
    const target = vaddr + at + 7 + code.readInt32LE(p + 2);
    if (target >= lo && target < hi && target % PTR === 0) out.add(target);
  }
  return out;
}

/**
 * Pointer-sized words in [lo, hi) held by the allocated, non-code sections (or, without section
 * headers, the non-executable PT_LOADs), plus PIE relocation addends in that range.
 */
export function dataRefs(elf: ElfFile, lo: number, hi: number, out = new Set<number>()): Set<number> {
  const ranges: { vaddr: number; size: number }[] = [];
  const secs = elf.sections.filter(
    (s) => s.flags & SHF_ALLOC && !(s.flags & SHF_EXECINSTR) && s.type !== SHT_NOBITS && s.size > 0 && !s.name.endsWith('.gopclntab') && s.addr > 0,
  );
  if (secs.length) for (const s of secs) ranges.push({ vaddr: s.addr, size: s.size });
  else for (const s of elf.loads) if (!(s.flags & 1)) ranges.push({ vaddr: s.vaddr, size: s.filesz });
  const loHi = Math.floor(lo / 0x1_0000_0000);
  const hiHi = Math.floor((hi - 1) / 0x1_0000_0000);
  // Every address once, however many (corrupt) headers repeat it.
  for (const r of uncovered(ranges, (x) => x.vaddr, (x) => x.size).map((u) => ({ vaddr: u.start, size: u.size }))) {
    const start = Math.ceil(r.vaddr / PTR) * PTR;
    const off = elf.tryVaddrToFileOffset(start);
    if (off === undefined) continue;
    const d = elf.data;
    const end = Math.min(off + r.size - (start - r.vaddr), d.length) - PTR;
    for (let o = off; o <= end; o += PTR) {
      const h = d.readUInt32LE(o + 4);
      if (h < loHi || h > hiHi) continue;
      const v = h * 0x1_0000_0000 + d.readUInt32LE(o);
      if (v >= lo && v < hi && v % PTR === 0) out.add(v);
    }
  }
  if (elf.isPIE) for (const v of elf.relativeRelocs().values()) if (v >= lo && v < hi && v % PTR === 0) out.add(v);
  return out;
}

/**
 * Is addr a map type descriptor? Stricter than TypeResolver.mapTypeInfo because candidates come
 * from byte scans: every map type is one pointer (size, ptrdata, align 8), and its name agrees
 * with its key and elem unless it is a named type.
 */
export function isMapDescriptor(elf: ElfFile, types: TypeResolver, addr: number): boolean {
  try {
    if (!(addr >= types.types && addr + 64 <= types.etypes) || addr % PTR !== 0) return false;
    const t = elf.readVaddr(addr, 24);
    if ((t[23] & KIND_MASK) !== KIND_MAP) return false;
    if (t.readUInt32LE(0) !== 8 || t.readUInt32LE(4) !== 0 || t.readUInt32LE(8) !== 8 || t.readUInt32LE(12) !== 0) return false;
    if (t[21] !== 8 || t[22] !== 8) return false;
    const info = types.mapTypeInfo(addr);
    if (!info) return false;
    if (t[20] & TFLAG_NAMED) return info.name.length > 0 && !info.name.startsWith('map[');
    return info.name === `map[${info.key.name}]${info.elem.name}`;
  } catch {
    return false;
  }
}

export interface MapTypeSources {
  typelinks?: Typelinks;
  code: Set<number>;
  data: Set<number>;
}

/** The candidates of all three sources (unfiltered: any type, not just maps). */
export function mapTypeCandidates(elf: ElfFile, md: ModuleData | undefined, v: GoVersion, types: TypeResolver, text: { vaddr: number; end: number }): MapTypeSources {
  const typelinks = readTypelinks(elf, md, v);
  const code = new Set<number>();
  const seg = elf.loads.find((s) => text.vaddr >= s.vaddr && text.end <= s.vaddr + s.filesz);
  if (seg) codeRefs(elf.readVaddr(text.vaddr, text.end - text.vaddr), text.vaddr, types.types, types.etypes, code);
  const data = dataRefs(elf, types.types, types.etypes);
  return { typelinks, code, data };
}

/** Map type descriptors from all sources, sorted by address. */
export function findMapTypes(elf: ElfFile, types: TypeResolver, src: MapTypeSources): { addr: number; name: string }[] {
  const out = new Map<number, string>();
  const consider = (addr: number) => {
    if (out.has(addr)) return;
    if (!isMapDescriptor(elf, types, addr)) return;
    out.set(addr, types.typeName(addr)!);
  };
  for (const a of src.typelinks?.addrs ?? []) consider(a);
  for (const a of src.code) consider(a);
  for (const a of src.data) consider(a);
  return [...out].sort((a, b) => a[0] - b[0]).map(([addr, name]) => ({ addr, name }));
}
