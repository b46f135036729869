/**
 * Just enough DWARF (versions 2–5) to read a struct's member offsets, e.g. runtime.g's goid.
 * Go emits one unit per package plus one for types, with names inline (DW_FORM_string); cgo
 * binaries also carry gcc's units (DWARF 5, strx/line_strp forms, ...), which must be skipped
 * correctly even though we never look inside them. A unit we cannot decode is skipped whole via
 * its unit_length; a corrupt section yields "not found", never an exception to the caller.
 */
import { ElfFile, ElfSection } from './elf';
import { corrupt } from './errors';
import { cstring, svarint, u16, u32, u64, u8, uvarint } from './reader';

const DW_TAG_structure_type = 0x13;
const DW_TAG_member = 0x0d;
const DW_AT_name = 0x03;
const DW_AT_byte_size = 0x0b;
const DW_AT_data_member_location = 0x38;
const DW_OP_plus_uconst = 0x23;

export interface StructLayout {
  name: string;
  byteSize?: number;
  /** member name → byte offset */
  members: Map<string, number>;
}

interface AttrSpec {
  at: number;
  form: number;
  implicit: number;
}

interface Abbrev {
  tag: number;
  children: boolean;
  attrs: AttrSpec[];
}

interface Unit {
  offsetSize: 4 | 8;
  addrSize: number;
  version: number;
}

/** The DWARF sections of a binary, when it has them. */
export class Dwarf {
  private readonly info: Buffer;
  private readonly abbrev: Buffer;
  private readonly str?: Buffer;
  private readonly lineStr?: Buffer;
  private readonly abbrevCache = new Map<number, Map<number, Abbrev>>();
  private structs?: Map<string, StructLayout>;
  /**
   * Units skipped because they could not be decoded (at most 100), with the error: corrupt data
   * normally; anything else is a parser bug that the skip hides (the fuzzer looks here).
   */
  readonly skippedUnits: { offset: number; error: unknown }[] = [];

  /** undefined when the binary has no (readable) .debug_info/.debug_abbrev. */
  static open(elf: ElfFile): Dwarf | undefined {
    const get = (name: string): Buffer | undefined => {
      const sec: ElfSection | undefined = elf.section(`.debug_${name}`) ?? elf.section(`.zdebug_${name}`);
      if (!sec) return undefined;
      try {
        return elf.sectionData(sec);
      } catch {
        return undefined;
      }
    };
    const info = get('info');
    const abbrev = get('abbrev');
    if (!info || !abbrev || info.length === 0) return undefined;
    return new Dwarf(info, abbrev, get('str'), get('line_str'));
  }

  private constructor(info: Buffer, abbrev: Buffer, str?: Buffer, lineStr?: Buffer) {
    this.info = info;
    this.abbrev = abbrev;
    this.str = str;
    this.lineStr = lineStr;
  }

  /**
   * Layout of the named top-level struct type (first definition wins). The first call walks all
   * of .debug_info once and indexes every struct that has members, so later lookups are free.
   */
  struct(name: string): StructLayout | undefined {
    if (!this.structs) this.structs = this.indexStructs();
    return this.structs.get(name);
  }

  private indexStructs(): Map<string, StructLayout> {
    const out = new Map<string, StructLayout>();
    let off = 0;
    while (off + 11 <= this.info.length) {
      let next: number;
      try {
        next = this.unit(off, out);
      } catch {
        // Header unreadable: nothing after it can be trusted to be aligned to a unit.
        break;
      }
      if (!(next > off)) break;
      off = next;
    }
    return out;
  }

  /** Walks one unit, adding its structs to `out`; returns the offset of the next unit. */
  private unit(off: number, out: Map<string, StructLayout>): number {
    const d = this.info;
    let len = u32(d, off, 'unit_length');
    let p = off + 4;
    let offsetSize: 4 | 8 = 4;
    if (len === 0xffffffff) {
      len = u64(d, p, 'unit_length64');
      p += 8;
      offsetSize = 8;
    } else if (len >= 0xfffffff0) {
      corrupt(`reserved DWARF unit length ${len}`);
    }
    const end = p + len;
    if (end > d.length) corrupt('DWARF unit runs past .debug_info');
    const version = u16(d, p, 'unit version');
    p += 2;
    let abbrevOff: number;
    let addrSize: number;
    if (version >= 5) {
      const unitType = u8(d, p++);
      addrSize = u8(d, p++);
      abbrevOff = offsetSize === 4 ? u32(d, p) : u64(d, p);
      p += offsetSize;
      if (unitType === 2 || unitType === 6) p += 8 + offsetSize; // type units: signature + type offset
      else if (unitType === 4 || unitType === 5) p += 8; // skeleton/split: dwo id
      else if (unitType !== 1 && unitType !== 3) return end;
    } else if (version >= 2) {
      abbrevOff = offsetSize === 4 ? u32(d, p) : u64(d, p);
      p += offsetSize;
      addrSize = u8(d, p++);
    } else {
      return end;
    }
    try {
      this.walk(p, end, { offsetSize, addrSize, version }, this.abbrevs(abbrevOff), out);
    } catch (error) {
      // A form we do not know or corrupt data inside this unit: skip the unit.
      if (this.skippedUnits.length < 100) this.skippedUnits.push({ offset: off, error });
    }
    return end;
  }

  private walk(p: number, end: number, u: Unit, abbrevs: Map<number, Abbrev>, out: Map<string, StructLayout>): void {
    const d = this.info;
    let depth = 0;
    let current: StructLayout | undefined; // struct whose members we are collecting
    let currentDepth = -1;
    while (p < end) {
      let code: number;
      [code, p] = uvarint(d, p, 'abbrev code');
      if (code === 0) {
        depth--;
        if (current && depth < currentDepth) {
          if (!out.has(current.name) && current.members.size) out.set(current.name, current);
          current = undefined;
        }
        if (depth < 0) break;
        continue;
      }
      const ab = abbrevs.get(code);
      if (!ab) corrupt(`unknown abbrev code ${code}`);
      const wantStruct = ab.tag === DW_TAG_structure_type && depth === 1;
      const wantMember = ab.tag === DW_TAG_member && current !== undefined && depth === currentDepth;
      let name: string | undefined;
      let byteSize: number | undefined;
      let loc: number | undefined;
      for (const a of ab.attrs) {
        if ((wantStruct || wantMember) && (a.at === DW_AT_name || a.at === DW_AT_byte_size || a.at === DW_AT_data_member_location)) {
          const [v, np] = this.value(p, a, u);
          p = np;
          if (a.at === DW_AT_name && typeof v === 'string') name = v;
          else if (a.at === DW_AT_byte_size && typeof v === 'number') byteSize = v;
          else if (a.at === DW_AT_data_member_location) loc = typeof v === 'number' ? v : memberLocation(v);
        } else {
          p = this.skip(p, a.form, u, a.implicit);
        }
      }
      if (wantStruct && name !== undefined && ab.children) {
        current = { name, byteSize, members: new Map() };
        currentDepth = depth + 1;
      } else if (wantMember && name !== undefined && loc !== undefined) {
        current!.members.set(name, loc);
      }
      if (ab.children) depth++;
    }
  }

  private abbrevs(off: number): Map<number, Abbrev> {
    const hit = this.abbrevCache.get(off);
    if (hit) return hit;
    const d = this.abbrev;
    const map = new Map<number, Abbrev>();
    let p = off;
    for (;;) {
      let code: number;
      [code, p] = uvarint(d, p, 'abbrev code');
      if (code === 0) break;
      let tag: number;
      [tag, p] = uvarint(d, p, 'abbrev tag');
      const children = u8(d, p++) !== 0;
      const attrs: AttrSpec[] = [];
      for (;;) {
        let at: number;
        let form: number;
        [at, p] = uvarint(d, p, 'attr');
        [form, p] = uvarint(d, p, 'form');
        if (at === 0 && form === 0) break;
        let implicit = 0;
        if (form === 0x21) [implicit, p] = svarint(d, p, 'implicit_const');
        attrs.push({ at, form, implicit });
        if (attrs.length > 1000) corrupt('abbrev with more than 1000 attributes');
      }
      map.set(code, { tag, children, attrs });
    }
    this.abbrevCache.set(off, map);
    return map;
  }

  /** Decodes the attribute values we use: names, constants, location blocks. */
  private value(p: number, a: AttrSpec, u: Unit): [string | number | Buffer | undefined, number] {
    const d = this.info;
    switch (a.form) {
      case 0x08: { // string
        const s = cstring(d, p, 'DW_FORM_string', 1 << 20);
        return [s, p + Buffer.byteLength(s) + 1];
      }
      case 0x0e: // strp
      case 0x1f: { // line_strp
        const off = u.offsetSize === 4 ? u32(d, p) : u64(d, p);
        const tab = a.form === 0x0e ? this.str : this.lineStr;
        return [tab ? cstring(tab, off, 'string') : undefined, p + u.offsetSize];
      }
      case 0x0b: return [u8(d, p), p + 1];
      case 0x05: return [u16(d, p), p + 2];
      case 0x06: return [u32(d, p), p + 4];
      case 0x07: return [u64(d, p), p + 8];
      case 0x0f: return uvarint(d, p);
      case 0x0d: return svarint(d, p);
      case 0x21: return [a.implicit, p];
      case 0x18: // exprloc
      case 0x09: { // block
        const [len, s] = uvarint(d, p);
        return [d.subarray(s, s + len), s + len];
      }
      case 0x0a: { const len = u8(d, p); return [d.subarray(p + 1, p + 1 + len), p + 1 + len]; }
      case 0x03: { const len = u16(d, p); return [d.subarray(p + 2, p + 2 + len), p + 2 + len]; }
      case 0x04: { const len = u32(d, p); return [d.subarray(p + 4, p + 4 + len), p + 4 + len]; }
      default:
        return [undefined, this.skip(p, a.form, u, a.implicit)];
    }
  }

  /** Offset just past an attribute value of the given form. */
  private skip(p: number, form: number, u: Unit, _implicit: number): number {
    const d = this.info;
    switch (form) {
      case 0x19: case 0x21: return p; // flag_present, implicit_const
      case 0x0b: case 0x0c: case 0x11: case 0x25: case 0x29: return p + 1;
      case 0x05: case 0x12: case 0x26: case 0x2a: return p + 2;
      case 0x27: case 0x2b: return p + 3;
      case 0x06: case 0x13: case 0x1c: case 0x28: case 0x2c: return p + 4;
      case 0x07: case 0x14: case 0x20: case 0x24: return p + 8;
      case 0x1e: return p + 16;
      case 0x01: return p + u.addrSize;
      case 0x10: return p + (u.version <= 2 ? u.addrSize : u.offsetSize); // ref_addr
      case 0x0e: case 0x17: case 0x1d: case 0x1f: case 0x1f20: case 0x1f21: return p + u.offsetSize;
      case 0x0f: case 0x15: case 0x1a: case 0x1b: case 0x22: case 0x23: case 0x1f01: case 0x1f02: return uvarint(d, p)[1];
      case 0x0d: return svarint(d, p)[1];
      case 0x08: {
        const end = d.indexOf(0, p);
        if (end < 0) corrupt('unterminated DW_FORM_string');
        return end + 1;
      }
      case 0x09: case 0x18: { const [len, s] = uvarint(d, p); return s + len; }
      case 0x0a: return p + 1 + u8(d, p);
      case 0x03: return p + 2 + u16(d, p);
      case 0x04: return p + 4 + u32(d, p);
      case 0x16: { // indirect: the form comes with the value
        const [f, s] = uvarint(d, p);
        // An indirect form naming itself again would recurse once per byte of a crafted unit
        // until the stack overflows.
        if (f === 0x16) corrupt('DW_FORM_indirect whose form is DW_FORM_indirect');
        return this.skip(s, f, u, 0);
      }
      default:
        return corrupt(`unknown DWARF form 0x${form.toString(16)}`);
    }
  }
}

/** DW_AT_data_member_location as an expression: Go and gcc use DW_OP_plus_uconst N. */
function memberLocation(v: string | number | Buffer | undefined): number | undefined {
  if (!Buffer.isBuffer(v) || v.length < 2 || v[0] !== DW_OP_plus_uconst) return undefined;
  try {
    return uvarint(v, 1)[0];
  } catch {
    return undefined;
  }
}
