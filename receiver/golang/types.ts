/**
 * Go type descriptors (abi.Type, runtime._type before 1.21) → the type string `%T` prints.
 *
 * abi.Type on amd64, unchanged 1.18–1.27: Size_ uintptr @0, PtrBytes @8, Hash u32 @16,
 * TFlag u8 @20, Align_ @21, FieldAlign_ @22, Kind_ u8 @23, Equal @24, GCData @32,
 * Str NameOff(i32) @40, PtrToThis @44; 48 bytes. Kind is Kind_ & 0x1f (the upper bits were flags
 * before Go 1.26). Map types (classic maptype and Swiss abi.MapType/SwissMapType alike) continue
 * with Key *Type @48 and Elem *Type @56.
 *
 * Str is an offset from moduledata.types to an abi.Name: flags byte, uvarint length, bytes. The
 * string is exactly reflect.Type.String(), which is what %T prints, except that with
 * TFlagExtraStar the stored string has a '*' prepended (the linker shares it with the pointer
 * type) that must be dropped.
 */
import { ElfFile } from './elf';
import { hex } from './errors';
import { bytes, i32, u8, uvarint } from './reader';

export const KIND_MAP = 21;
const KIND_MASK = 0x1f;
const TFLAG_EXTRA_STAR = 0x2;
const TYPE_SIZE = 48;
const MAX_NAME = 1 << 16;

export interface GoTypeInfo {
  name: string;
  size: number;
  kind: number;
}

export interface MapTypeInfo {
  name: string;
  key: GoTypeInfo;
  elem: GoTypeInfo;
}

/** Kind numbers (reflect.Kind) to names, for messages and tests. */
export const KIND_NAMES = [
  'invalid', 'bool', 'int', 'int8', 'int16', 'int32', 'int64', 'uint', 'uint8', 'uint16', 'uint32', 'uint64', 'uintptr',
  'float32', 'float64', 'complex64', 'complex128', 'array', 'chan', 'func', 'interface', 'map', 'ptr', 'slice', 'string',
  'struct', 'unsafe.Pointer',
];

export class TypeResolver {
  private readonly typeCache = new Map<number, GoTypeInfo | null>();
  private readonly mapCache = new Map<number, MapTypeInfo | null>();

  /** `types`/`etypes`: moduledata bounds of the type descriptors (link-time addresses). */
  constructor(
    private readonly elf: ElfFile,
    readonly types: number,
    readonly etypes: number,
  ) {}

  /** %T of the type at addr, or undefined when addr is not a type descriptor of this binary. */
  typeName(addr: number): string | undefined {
    return this.typeInfo(addr)?.name;
  }

  typeInfo(addr: number): GoTypeInfo | undefined {
    const hit = this.typeCache.get(addr);
    if (hit !== undefined) return hit ?? undefined;
    let info: GoTypeInfo | null = null;
    try {
      info = this.readType(addr);
    } catch {
      info = null;
    }
    this.typeCache.set(addr, info);
    return info ?? undefined;
  }

  /** Map type descriptor → its name and key/elem types; undefined if addr is not a map type. */
  mapTypeInfo(addr: number): MapTypeInfo | undefined {
    const hit = this.mapCache.get(addr);
    if (hit !== undefined) return hit ?? undefined;
    let info: MapTypeInfo | null = null;
    try {
      const t = this.typeInfo(addr);
      if (t && t.kind === KIND_MAP) {
        const key = this.typeInfo(this.elf.readPointer(addr + 48));
        const elem = this.typeInfo(this.elf.readPointer(addr + 56));
        if (key && elem) info = { name: t.name, key, elem };
      }
    } catch {
      info = null;
    }
    this.mapCache.set(addr, info);
    return info ?? undefined;
  }

  private readType(addr: number): GoTypeInfo | null {
    if (!(addr >= this.types && addr + TYPE_SIZE <= this.etypes) || addr % 8 !== 0) return null;
    const t = this.elf.readVaddr(addr, TYPE_SIZE);
    const size = t.readUInt32LE(0) + t.readUInt32LE(4) * 0x1_0000_0000;
    const tflag = u8(t, 20);
    const kind = u8(t, 23) & KIND_MASK;
    const nameOff = i32(t, 40);
    if (kind === 0 || kind >= KIND_NAMES.length) return null;
    let name = this.readName(this.types + nameOff);
    if (tflag & TFLAG_EXTRA_STAR && name.startsWith('*')) name = name.slice(1);
    return { name, size, kind };
  }

  /** abi.Name: flags byte, uvarint length, then the bytes. */
  private readName(addr: number): string {
    if (!(addr >= this.types && addr < this.etypes)) throw new Error(`name at ${hex(addr)} is outside the types range`);
    const d = this.elf.readVaddrUpTo(addr, 1 + 10 + MAX_NAME);
    const [len, start] = uvarint(d, 1, 'type name length');
    if (len > MAX_NAME) throw new Error(`type name of ${len} bytes`);
    return bytes(d, start, len, 'type name').toString('utf8');
  }
}
