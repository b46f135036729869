/**
 * GoBinary: everything the tracer needs to know about one Go executable, from the file alone
 * (no root, no running process). All addresses in and out are link-time virtual addresses; the
 * caller converts runtime addresses with the PIE load bias from /proc/PID/maps.
 */
import { BuildInfo, GoVersion, compareMinor, readBuildInfo } from './buildinfo';
import { Dwarf } from './dwarf';
import { EM_X86_64, ElfFile } from './elf';
import { CorruptDataError, GoBinaryError, refusal } from './errors';
import { GoidOffsets, goidOffsets } from './goid';
import { RawCallSite, findCallSites } from './callsites';
import { findMapTypes, mapTypeCandidates } from './maptypes';
import { ModuleData, findModuleData } from './moduledata';
import { locatePclntab } from './pclnheader';
import { Pclntab, SourceFrame, funcNameForPrint } from './pclntab';
import { ArgKind, ProbePlan, ProbePoint, SWISS_MARKER, findProbePoints } from './probes';
import { GoTypeInfo, MapTypeInfo, TypeResolver } from './types';

export type { ArgKind, ProbePoint, SourceFrame, GoTypeInfo, MapTypeInfo, GoidOffsets, ProbePlan };

/** A direct CALL to one of the functions given to callSites(). */
export interface CallSite extends RawCallSite {
  /** symbolizeReturn(retAddr): the source line of the call, innermost inlined frame first (shared, frozen). */
  frames: SourceFrame[];
}

/** A map type descriptor (link-time address) and its %T name. */
export interface MapTypeEntry {
  addr: number;
  name: string;
}
export { GoBinaryError };

const MACHINES: Record<number, string> = { 3: 'x86 (32-bit)', 40: 'ARM', 183: 'arm64', 243: 'RISC-V', 8: 'MIPS', 21: 'ppc64', 22: 's390x' };
/** Symbolization results kept per PC; the working set of a traced program is far smaller. */
const SYMBOL_CACHE_MAX = 1 << 17;
const NO_FRAMES: readonly SourceFrame[] = Object.freeze([]);

/** abi.FuncIDWrapper by Go minor version (its position in the FuncID enum moved twice). */
function wrapperFuncID(v: GoVersion): number | undefined {
  if (v.major !== 1) return undefined;
  if (v.minor <= 21) return 21;
  if (v.minor <= 24) return 22;
  if (v.minor <= 27) return 23;
  return undefined;
}

export class GoBinary {
  readonly path: string;
  readonly goVersion: string;
  readonly version: { major: number; minor: number; patch: number };
  /** GOEXPERIMENTs the binary was built with ("noswissmap", ...). */
  readonly goExperiments: readonly string[];
  readonly buildInfo: BuildInfo;
  readonly mapImpl: 'swiss' | 'classic';
  readonly isPIE: boolean;
  /** Base of the function table (runtime.text), link-time. */
  readonly textVaddr: number;

  /** Lower layers, for tools and tests; the tracer should not need them. */
  readonly elf: ElfFile;
  readonly pclntab: Pclntab;
  readonly moduleData: ModuleData | undefined;

  private readonly symbolCache = new Map<number, readonly SourceFrame[]>();
  private dwarf?: Dwarf | null;
  private typeResolver?: TypeResolver | null;
  private goid?: GoidOffsets;
  private plan?: ProbePlan;
  private mapTypeList?: readonly MapTypeEntry[];
  private readonly callSiteCache = new Map<string, readonly CallSite[]>();

  /** Throws GoBinaryError, with a one-line message, for anything that is not a usable Go binary. */
  static open(path: string): GoBinary {
    return guard(path, () => new GoBinary(ElfFile.open(path)));
  }

  /** Same as open() for a file already in memory (fuzzing, tests). */
  static fromBuffer(data: Buffer, path = '<buffer>'): GoBinary {
    return guard(path, () => new GoBinary(new ElfFile(data, path)));
  }

  private constructor(elf: ElfFile) {
    const path = elf.path;
    this.elf = elf;
    this.path = path;
    if (elf.machine !== EM_X86_64) {
      throw new GoBinaryError(`${path} is an ${MACHINES[elf.machine] ?? `ELF machine ${elf.machine}`} binary; map-delete-tracer supports x86-64 Go executables only`);
    }
    const bi = readBuildInfo(elf);
    const hasPcln = !!(elf.section('.gopclntab') ?? elf.section('.data.rel.ro.gopclntab'));
    if (!bi) {
      throw new GoBinaryError(
        hasPcln
          ? `${path} has a .gopclntab but no .go.buildinfo, so its Go version is unknown; rebuild it with the standard Go toolchain (go build)`
          : `${path} is not a Go program (no .go.buildinfo or .gopclntab section)`,
      );
    }
    const v = bi.version;
    if (!v) throw new GoBinaryError(`${path} reports an unrecognised Go version "${bi.rawGoVersion}"; rebuild it with a released Go toolchain`);
    if (compareMinor(v, 1, 18) < 0) {
      throw new GoBinaryError(`${path} was built with ${bi.goVersion}; map-delete-tracer needs Go 1.18 or newer: rebuild it with a current Go`);
    }
    const pl = locatePclntab(elf);
    if (!pl) throw new GoBinaryError(`${path} (${bi.goVersion}) has no .gopclntab; it cannot be symbolized or probed: was it post-processed by a packer or obfuscator?`);

    this.buildInfo = bi;
    this.goVersion = bi.goVersion;
    this.version = v;
    this.goExperiments = bi.goExperiments;
    this.isPIE = elf.isPIE;
    this.moduleData = findModuleData(elf, pl.header, v);
    this.textVaddr = this.textBase(pl.header.textStart);
    this.pclntab = new Pclntab(pl.header, pl.data, {
      textStart: this.textVaddr,
      gofunc: this.moduleData?.gofunc,
      readVaddr: (addr, len) => elf.readVaddr(addr, len),
      wrapperFuncID: wrapperFuncID(v),
    });
    // A wrong text base would silently mis-symbolize everything: insist the table lands in code.
    const first = this.pclntab.funcAt(0);
    const seg = elf.loads.find((s) => first.entry >= s.vaddr && first.entry < s.vaddr + s.filesz);
    if (!seg || !(seg.flags & 1)) {
      throw new CorruptDataError(`first function ${first.name} at 0x${first.entry.toString(16)} is not in an executable segment`);
    }
    this.mapImpl = this.pclntab.funcByName(SWISS_MARKER) ? 'swiss' : 'classic';
  }

  /**
   * Go ≤1.25 stores the text base in the pcHeader. Go 1.26 writes 0 there ("use moduledata.text");
   * with external linking (cgo) runtime.text is NOT the start of the .text section (crt code
   * comes first), so the .text section is only the last resort.
   */
  private textBase(headerTextStart: number): number {
    if (headerTextStart !== 0) return headerTextStart;
    if (this.moduleData) return this.moduleData.text;
    const sym = this.elf.symbol('runtime.text');
    if (sym) return sym.value;
    const sec = this.elf.section('.text');
    if (sec) return sec.addr;
    throw new CorruptDataError('no text base: pcHeader.textStart is 0 and neither moduledata nor .text was found');
  }

  /** PT_LOAD segments (link-time vaddr, file offset, sizes), for computing the PIE load bias from /proc/PID/maps. */
  loadSegments(): { vaddr: number; offset: number; filesz: number; memsz: number; flags: number }[] {
    return this.elf.loads.map((s) => ({ vaddr: s.vaddr, offset: s.offset, filesz: s.filesz, memsz: s.memsz, flags: s.flags }));
  }

  goidOffsets(): GoidOffsets {
    this.goid ??= guard(this.path, () => goidOffsets(this.elf, this.goVersion, this.version, this.dwarfData()));
    return { ...this.goid };
  }

  probePoints(): ProbePlan {
    this.plan ??= guard(this.path, () => findProbePoints(this.elf, this.pclntab));
    return { points: this.plan.points.map((p) => ({ ...p })), absent: [...this.plan.absent], skipped: this.plan.skipped.map((s) => ({ ...s })) };
  }

  funcName(pc: number): string | undefined {
    try {
      const f = this.pclntab.funcForPC(pc);
      return f ? funcNameForPrint(f.name) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Source frames at an instruction address, innermost (inlined) first, as runtime.CallersFrames
   * reports them. [] for an address outside Go code. The result is shared and frozen.
   */
  symbolize(pc: number): SourceFrame[] {
    let hit = this.symbolCache.get(pc);
    if (hit === undefined) {
      try {
        hit = Object.freeze(this.pclntab.frames(pc).map((f) => Object.freeze(f)));
      } catch {
        hit = NO_FRAMES;
      }
      if (this.symbolCache.size >= SYMBOL_CACHE_MAX) this.symbolCache.clear();
      this.symbolCache.set(pc, hit);
    }
    return hit as SourceFrame[];
  }

  /** Frames for a return address: the CALL instruction before it is what the user wrote. */
  symbolizeReturn(retAddr: number): SourceFrame[] {
    return this.symbolize(retAddr - 1);
  }

  /** Name, key and elem type of the map type descriptor at typeAddr; undefined if it is not one. */
  mapType(typeAddr: number): MapTypeInfo | undefined {
    return this.types()?.mapTypeInfo(typeAddr);
  }

  /** %T of any type descriptor. */
  typeName(typeAddr: number): string | undefined {
    return this.types()?.typeName(typeAddr);
  }

  /**
   * Every map type descriptor in the binary, with its %T name, sorted by address: the typelinks
   * (which hold the UNNAMED map types only) plus the named ones found referenced from code or
   * data; see maptypes.ts. [] when the type section is unknown. Cached.
   */
  mapTypes(): MapTypeEntry[] {
    this.mapTypeList ??= guard(this.path, () => {
      const types = this.types();
      if (!types) return [];
      const text = { vaddr: this.pclntab.funcAt(0).entry, end: this.pclntab.textEnd };
      const src = mapTypeCandidates(this.elf, this.moduleData, this.version, types, text);
      return findMapTypes(this.elf, types, src).map((m) => Object.freeze(m));
    });
    return this.mapTypeList.map((m) => ({ ...m }));
  }

  /**
   * Every direct CALL in the Go text to one of `targets` (function entries, link-time), sorted by
   * address, each with its return address and the source frames of that return address (what a
   * uprobe at the callee's entry sees at [RSP]). Cached per target set.
   */
  callSites(targets: readonly number[]): CallSite[] {
    const set = new Set(targets);
    const key = [...set].sort((a, b) => a - b).join(',');
    let hit = this.callSiteCache.get(key);
    if (!hit) {
      hit = guard(this.path, () => findCallSites(this.elf, this.pclntab, set)).map((c) => Object.freeze({ ...c, frames: this.symbolizeReturn(c.retAddr) }));
      this.callSiteCache.set(key, hit);
    }
    return [...hit];
  }

  private types(): TypeResolver | undefined {
    if (this.typeResolver === undefined) {
      let types = this.moduleData?.types;
      let etypes = this.moduleData?.etypes;
      if (types === undefined || etypes === undefined) {
        types = this.elf.symbol('runtime.types')?.value;
        etypes = this.elf.symbol('runtime.etypes')?.value;
      }
      this.typeResolver = types !== undefined && etypes !== undefined ? new TypeResolver(this.elf, types, etypes) : null;
    }
    return this.typeResolver ?? undefined;
  }

  /** DWARF, when the binary has it (not with -ldflags=-w). */
  dwarfData(): Dwarf | undefined {
    if (this.dwarf === undefined) {
      try {
        this.dwarf = Dwarf.open(this.elf) ?? null;
      } catch {
        this.dwarf = null;
      }
    }
    return this.dwarf ?? undefined;
  }
}

/** Runs fn, turning every failure into a one-line GoBinaryError that names the file. */
function guard<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw refusal(path, err);
  }
}
