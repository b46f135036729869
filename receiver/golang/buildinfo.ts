/**
 * `.go.buildinfo`: the Go version that built the binary and its module/build settings. It is the
 * one authoritative source of the version (every version-dependent layout below is keyed by it)
 * and survives `-ldflags="-s -w"`.
 *
 * Layout: a 32-byte header ("\xff Go buildinf:", ptrSize, flags, then two pointers in the pre-1.18
 * format) followed, when flags&2 (Go 1.18+), by two uvarint-length-prefixed strings inline: the
 * version, then the module info framed by 16-byte sentinels.
 */
import { ElfFile, uncovered } from './elf';
import { corrupt } from './errors';
import { bytes, u64, uvarint } from './reader';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER_SIZE = 32;
const FLAG_BIG_ENDIAN = 0x1;
const FLAG_INLINE = 0x2;
/** No sane version or modinfo string is this long. */
const MAX_STRING = 1 << 20;

export interface GoVersion {
  major: number;
  minor: number;
  patch: number;
}

export interface BuildInfo {
  /** Toolchain version without experiment suffix: "go1.24.0". */
  goVersion: string;
  /** As stored: "go1.24.0 X:noswissmap". */
  rawGoVersion: string;
  /** Parsed version; undefined for a version string we do not understand. */
  version?: GoVersion;
  /** From the " X:a,b" suffix and the GOEXPERIMENT build setting, deduplicated. */
  goExperiments: string[];
  mainPath?: string;
  mainVersion?: string;
  /** `build` lines: "-buildmode", "-ldflags", "CGO_ENABLED", "GOEXPERIMENT", "GOAMD64", ... */
  settings: Record<string, string>;
  deps: { path: string; version: string }[];
}

/** Parses "go1.22.12", "go1.21rc2", "go1.20", "go1.24.0 X:foo", "devel go1.23-abcdef ...". */
export function parseGoVersion(s: string): GoVersion | undefined {
  const m = /^go(\d+)\.(\d+)(?:\.(\d+))?/.exec(s) ?? /\bgo(\d+)\.(\d+)(?:\.(\d+))?/.exec(s);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: m[3] === undefined ? 0 : Number(m[3]) };
}

/** a < b, a == b, a > b as -1, 0, 1 on (major, minor) only. */
export function compareMinor(a: GoVersion, major: number, minor: number): number {
  if (a.major !== major) return a.major < major ? -1 : 1;
  if (a.minor !== minor) return a.minor < minor ? -1 : 1;
  return 0;
}

/** Finds and decodes `.go.buildinfo`; undefined when the binary has none (not a Go binary). */
export function readBuildInfo(elf: ElfFile): BuildInfo | undefined {
  const located = locate(elf);
  if (!located) return undefined;
  const { data, vaddr } = located;
  const flags = data[15];
  let vers: string;
  let mod: string;
  if (flags & FLAG_INLINE) {
    let off = HEADER_SIZE;
    [vers, off] = inlineString(data, off);
    [mod] = inlineString(data, off);
  } else {
    // Pre-1.18 pointer format: enough to report the version in the "too old" error.
    const ptrSize = data[14];
    if (ptrSize !== 8 || flags & FLAG_BIG_ENDIAN) corrupt(`unsupported .go.buildinfo pointer format (ptrSize ${ptrSize}, flags ${flags})`);
    vers = pointerString(elf, u64(data, 16, 'buildinfo version pointer'));
    mod = pointerString(elf, u64(data, 24, 'buildinfo modinfo pointer'));
  }
  if (!vers) corrupt(`empty Go version in .go.buildinfo at 0x${vaddr.toString(16)}`);
  // Strip the module-info framing (16-byte sentinels) exactly when it is there.
  mod = mod.length >= 33 && mod[mod.length - 17] === '\n' ? mod.slice(16, -16) : '';
  return decode(vers, mod);
}

function locate(elf: ElfFile): { data: Buffer; vaddr: number } | undefined {
  const sec = elf.section('.go.buildinfo');
  if (sec) {
    const data = elf.sectionData(sec);
    if (data.length >= HEADER_SIZE && data.subarray(0, MAGIC.length).equals(MAGIC)) return { data, vaddr: sec.addr };
  }
  // No section headers (or an unusual linker): the blob is 16-byte aligned in a writable segment.
  // Each file byte is searched once, however many (corrupt) segments repeat it.
  const writable = elf.loads.filter((s) => s.flags & 2 && s.filesz > 0);
  for (const { item: seg, start } of uncovered(writable, (s) => s.offset, (s) => s.filesz)) {
    const img = bytes(elf.data, seg.offset, Math.min(seg.filesz, elf.data.length - seg.offset), 'segment');
    for (let at = img.indexOf(MAGIC, start - seg.offset); at >= 0; at = img.indexOf(MAGIC, at + 1)) {
      if ((seg.vaddr + at) % 16 === 0 && at + HEADER_SIZE <= img.length) {
        return { data: img.subarray(at), vaddr: seg.vaddr + at };
      }
    }
  }
  return undefined;
}

function inlineString(data: Buffer, off: number): [string, number] {
  const [len, start] = uvarint(data, off, 'buildinfo string length');
  if (len > MAX_STRING) corrupt(`.go.buildinfo string of ${len} bytes`);
  return [bytes(data, start, len, 'buildinfo string').toString('utf8'), start + len];
}

function pointerString(elf: ElfFile, addr: number): string {
  const hdr = elf.readVaddr(addr, 16);
  const len = u64(hdr, 8);
  if (len > MAX_STRING) corrupt(`.go.buildinfo string of ${len} bytes`);
  return len === 0 ? '' : elf.readVaddr(u64(hdr, 0), len).toString('utf8');
}

function decode(rawGoVersion: string, mod: string): BuildInfo {
  const experiments = new Set<string>();
  const goVersion = rawGoVersion
    .replace(/ X:(\S*)/g, (_all, list: string) => {
      for (const e of list.split(',')) if (e) experiments.add(e);
      return '';
    })
    .trim();
  const info: BuildInfo = { goVersion, rawGoVersion, version: parseGoVersion(goVersion), goExperiments: [], settings: {}, deps: [] };
  for (const line of mod.split('\n')) {
    const [kind, ...rest] = line.split('\t');
    if (kind === 'path') info.mainPath = rest[0];
    else if (kind === 'mod') {
      info.mainPath ??= rest[0];
      info.mainVersion = rest[1];
    } else if (kind === 'dep') info.deps.push({ path: rest[0] ?? '', version: rest[1] ?? '' });
    else if (kind === 'build') {
      const kv = parseSetting(rest.join('\t'));
      if (kv) info.settings[kv[0]] = kv[1];
    }
  }
  for (const e of (info.settings.GOEXPERIMENT ?? '').split(',')) if (e) experiments.add(e);
  info.goExperiments = [...experiments];
  return info;
}

/** `key=value`, where either side may be a Go-quoted string (e.g. -ldflags="-s -w"). */
function parseSetting(s: string): [string, string] | undefined {
  let key: string;
  let rest: string;
  if (s.startsWith('"')) {
    const [k, end] = unquote(s, 0);
    key = k;
    rest = s.slice(end);
  } else {
    const eq = s.indexOf('=');
    if (eq < 0) return undefined;
    key = s.slice(0, eq);
    rest = s.slice(eq);
  }
  if (!rest.startsWith('=')) return undefined;
  rest = rest.slice(1);
  return [key, rest.startsWith('"') ? unquote(rest, 0)[0] : rest];
}

/** Decodes the Go string literal starting at s[at] (a '"'); returns [value, index after it]. */
function unquote(s: string, at: number): [string, number] {
  let out = '';
  let i = at + 1;
  while (i < s.length && s[i] !== '"') {
    if (s[i] !== '\\') {
      out += s[i++];
      continue;
    }
    const c = s[i + 1];
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v' };
    if (c in simple) {
      out += simple[c];
      i += 2;
    } else if (c === 'x' || c === 'u' || c === 'U') {
      const n = c === 'x' ? 2 : c === 'u' ? 4 : 8;
      out += String.fromCodePoint(parseInt(s.slice(i + 2, i + 2 + n), 16) || 0);
      i += 2 + n;
    } else {
      out += c ?? '';
      i += 2;
    }
  }
  return [out, i + 1];
}
