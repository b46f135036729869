/**
 * Offsets of g.goid and g.parentGoid in runtime.g (amd64), which the BPF program reads through
 * R14 to tag each delete with its goroutine.
 *
 * DWARF is authoritative when present. Stripped binaries (-ldflags=-w) fall back to a table keyed
 * by Go minor version. Every entry was measured twice on real builds of the listed release:
 * from DWARF `runtime.g`, and at run time by reading a live goroutine's g (getg in assembly)
 * and finding its known goid and parent goid (test/unit/golang-testdata/maps).
 */
import { GoVersion } from './buildinfo';
import { Dwarf } from './dwarf';
import { ElfFile } from './elf';
import { GoBinaryError } from './errors';

export interface GoidOffsets {
  goid: number;
  /** g.parentGoid exists from Go 1.21. */
  parentGoid?: number;
  source: 'dwarf' | 'table';
}

/** minor → [goid, parentGoid]; measured: see file comment. */
const TABLE: Record<number, [number, number | undefined]> = {
  18: [152, undefined],
  19: [152, undefined],
  20: [152, undefined],
  21: [152, 272],
  22: [152, 272],
  23: [160, 280],
  24: [160, 280],
  25: [152, 272],
  26: [152, 280],
  27: [152, 280],
};

export function tableGoidOffsets(v: GoVersion): GoidOffsets | undefined {
  const row = v.major === 1 ? TABLE[v.minor] : undefined;
  if (!row) return undefined;
  return row[1] === undefined ? { goid: row[0], source: 'table' } : { goid: row[0], parentGoid: row[1], source: 'table' };
}

export function dwarfGoidOffsets(dwarf: Dwarf | undefined): GoidOffsets | undefined {
  const g = dwarf?.struct('runtime.g');
  const goid = g?.members.get('goid');
  if (goid === undefined) return undefined;
  const parentGoid = g!.members.get('parentGoid');
  return parentGoid === undefined ? { goid, source: 'dwarf' } : { goid, parentGoid, source: 'dwarf' };
}

export function goidOffsets(elf: ElfFile, goVersion: string, v: GoVersion, dwarf: Dwarf | undefined): GoidOffsets {
  const fromDwarf = dwarfGoidOffsets(dwarf);
  if (fromDwarf) return fromDwarf;
  const fromTable = tableGoidOffsets(v);
  if (fromTable) return fromTable;
  throw new GoBinaryError(
    `${elf.path} was built with ${goVersion} and has no DWARF, and map-delete-tracer has no runtime.g offsets for that version; rebuild it without -ldflags=-w, or update map-delete-tracer`,
  );
}
