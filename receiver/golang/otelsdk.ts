/**
 * The OpenTelemetry Go SDK (go.opentelemetry.io/otel/sdk/trace) inside a Go binary: its version,
 * the functions whose probes tell which span is active on which goroutine, where those probes go,
 * and the struct offsets the BPF side needs to read a span's trace and span ids. The design (why
 * these functions, what the BPF side keeps, what it cannot see) is docs/design/correlation.md.
 *
 * Everything comes from the file, so stripped binaries work: function names and code from
 * .gopclntab, the SDK version from .go.buildinfo, struct offsets from DWARF when the binary has
 * it, else from receiver/golang/otel-sdk-offsets.json, which scripts/gen-otel-sdk-offsets.sh
 * generates by building small programs against each SDK release and reading their DWARF.
 *
 * What the probes see (amd64 register ABI; R14 = g at every one of them):
 *   (*recordingSpan).runtimeTrace  entry   RAX = the new *recordingSpan, on the goroutine that
 *                                          started it (called once per recording span, from Start)
 *   (*recordingSpan).End           entry   RAX = the *recordingSpan being ended (any goroutine)
 *   (*tracer).Start                RET     RCX:RDI = the returned trace.Span (itab, data): fallback
 *   (*tracer).newRecordingSpan     RET     RAX = the new *recordingSpan: fallback, often inlined
 *   runtime.newproc1               entry   RBX = the creating goroutine's g
 *                                  RET     RAX = the new goroutine's g
 *   runtime.newproc.func1          CALL runtime.runqput: RBX = the new g (already has goid and,
 *                                          from Go 1.21, parentGoid); emulated, so cheap
 *   runtime.goexit1                entry   R14 = the exiting goroutine
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../util/paths';
import type { GoBinary } from './binary';
import { Dwarf } from './dwarf';
import { GoBinaryError, hex } from './errors';
import { MAGIC_GO118, locatePclntab } from './pclnheader';
import { FuncInfo } from './pclntab';
import { functionBody } from './probes';
import { chooseProbePoint } from './prologue';
import { cstring, u32, u8 } from './reader';
import { Flow, Reg, decode } from './x86';

export const OTEL_SDK_MODULE = 'go.opentelemetry.io/otel/sdk';
export const OTEL_TRACE_MODULE = 'go.opentelemetry.io/otel/trace';
const SDK_PKG = 'go.opentelemetry.io/otel/sdk/trace';

/**
 * The structs and members the correlation probes read, by DWARF name, and the module whose
 * version decides their layout (recordingSpan lives in the sdk module, SpanContext in the trace
 * module; the two are versioned separately and Go's module selection may pick different ones).
 */
export const OTEL_STRUCTS = {
  recordingSpan: {
    dwarfName: `${SDK_PKG}.recordingSpan`,
    module: OTEL_SDK_MODULE,
    /** spanContext: the span's own SpanContext; endTime: time.Time, zero until End; name: string. */
    members: ['spanContext', 'endTime', 'name'],
  },
  spanContext: {
    dwarfName: 'go.opentelemetry.io/otel/trace.SpanContext',
    module: OTEL_TRACE_MODULE,
    /** traceID [16]byte, spanID [8]byte, traceFlags byte (bit 0: sampled). */
    members: ['traceID', 'spanID', 'traceFlags'],
  },
} as const;

export type OtelStructKey = keyof typeof OTEL_STRUCTS;

export interface OtelSdkOffsets {
  recordingSpan: { size?: number; spanContext: number; endTime: number; name: number };
  spanContext: { size?: number; traceID: number; spanID: number; traceFlags: number };
}

export type OtelProbeRole =
  /** entry: RAX = new *recordingSpan on the starting goroutine (primary span-start probe) */
  | 'span-start'
  /** RET: RCX:RDI = returned trace.Span interface (fallback span-start probe, single-stepped) */
  | 'span-start-ret'
  /** RET: RAX = new *recordingSpan (fallback; PGO inlines it into newSpan) */
  | 'span-created-ret'
  /** entry: RAX = *recordingSpan being ended */
  | 'span-end'
  /** entry: RBX = creating g; RET: RAX = new g */
  | 'goroutine-create'
  /** CALL runtime.runqput in newproc.func1: RBX = new g */
  | 'goroutine-created-call'
  /** entry: R14 = exiting g */
  | 'goroutine-exit';

export interface OtelProbeTarget {
  /** Name as in pclntab. */
  name: string;
  role: OtelProbeRole;
  /** Link-time vaddr of the first instruction. */
  entry: number;
  /** First address past the function. */
  end: number;
  /** For roles probed at entry: the instruction chosen by prologue.ts (emulated by the kernel). */
  entryProbe?: { vaddr: number; fileOffset: number; instruction: string; reason: string };
  /** For roles probed at return: every RET instruction (each is single-stepped, ~15–18 µs a hit). */
  retAddrs?: number[];
  /** For call-site roles: the CALL instructions to probe. */
  callAddrs?: number[];
}

export interface OtelSdkDetection {
  /** go.opentelemetry.io/otel/sdk version from .go.buildinfo, e.g. "v1.47.0". */
  version?: string;
  /** go.opentelemetry.io/otel/trace version (SpanContext's layout follows this module). */
  traceVersion?: string;
  /** SDK functions found in pclntab, with their probe points. */
  functions: OtelProbeTarget[];
  /** Runtime functions for goroutine inheritance and cleanup. */
  runtime: OtelProbeTarget[];
  /**
   * Functions that exist only inlined, or also inlined, somewhere (name → functions holding an
   * inlined copy). A probe on the out-of-line copy does not see calls through inlined copies;
   * non-empty for SDK functions typically means a PGO build.
   */
  inlined: Record<string, string[]>;
  offsets?: OtelSdkOffsets;
  offsetsSource: 'dwarf' | 'table' | 'none';
  /** When offsetsSource is 'table': the table rows used ("sdk v1.46.0, trace v1.46.0"). */
  offsetsFrom?: string;
  /** Why spans cannot be tracked in this binary (deletes are still traced, uncorrelated). */
  problem?: string;
  /** Something the user should know that does not stop correlation. */
  notes: string[];
}

/** receiver/golang/otel-sdk-offsets.json */
export interface OtelOffsetsTable {
  goarch: string;
  modules: Record<string, Record<string, OtelTableRow>>;
}

export interface OtelTableRow {
  /** Toolchains the row was measured with; all gave the same offsets. */
  toolchains: string[];
  structs: Record<string, { size: number; members: Record<string, number> }>;
}

export const OFFSETS_FILE = 'otel-sdk-offsets.json';

const SDK_TARGETS: readonly { name: string; role: OtelProbeRole; at: 'entry' | 'ret'; required: boolean }[] = [
  { name: `${SDK_PKG}.(*recordingSpan).runtimeTrace`, role: 'span-start', at: 'entry', required: true },
  { name: `${SDK_PKG}.(*recordingSpan).End`, role: 'span-end', at: 'entry', required: true },
  { name: `${SDK_PKG}.(*tracer).Start`, role: 'span-start-ret', at: 'ret', required: false },
  { name: `${SDK_PKG}.(*tracer).newRecordingSpan`, role: 'span-created-ret', at: 'ret', required: false },
];

const NEWPROC_CLOSURE = 'runtime.newproc.func1';
const RUNQPUT = 'runtime.runqput';

let defaultTable: OtelOffsetsTable | null | undefined;

/**
 * The shipped offsets table: next to this file (dist/receiver/golang/ when copied there), else in
 * the package's receiver/golang/. undefined when neither exists or it does not parse.
 */
export function loadOffsetsTable(): OtelOffsetsTable | undefined {
  if (defaultTable === undefined) {
    defaultTable = null;
    const candidates = [path.join(__dirname, OFFSETS_FILE)];
    try {
      candidates.push(path.join(packageRoot(), 'receiver', 'golang', OFFSETS_FILE));
    } catch {
      // not inside the package: only the copy next to this file can serve
    }
    for (const file of candidates) {
      try {
        const t = JSON.parse(fs.readFileSync(file, 'utf8')) as OtelOffsetsTable;
        if (t && typeof t.modules === 'object') {
          defaultTable = t;
          break;
        }
      } catch {
        // try the next
      }
    }
  }
  return defaultTable ?? undefined;
}

export interface DetectOptions {
  /** Use this table instead of the shipped one (tests). */
  table?: OtelOffsetsTable;
  /** Ignore DWARF even when present (tests: exercise the table path on a plain build). */
  ignoreDwarf?: boolean;
}

export function detectOtelSdk(binary: GoBinary, opts: DetectOptions = {}): OtelSdkDetection {
  const dep = (p: string) => binary.buildInfo.deps.find((d) => d.path === p)?.version || undefined;
  const det: OtelSdkDetection = {
    version: dep(OTEL_SDK_MODULE),
    traceVersion: dep(OTEL_TRACE_MODULE),
    functions: [],
    runtime: [],
    inlined: {},
    offsetsSource: 'none',
    notes: [],
  };
  const pcln = binary.pclntab;
  const present = SDK_TARGETS.map((t) => ({ t, f: pcln.funcByName(t.name) }));
  if (!present.some((p) => p.f)) {
    det.problem = det.version
      ? `${binary.path} depends on ${OTEL_SDK_MODULE} ${det.version} but contains none of its span functions (is go.opentelemetry.io/otel/sdk/trace used?): deletes are traced but cannot be correlated with spans`
      : `${binary.path} does not use the OpenTelemetry Go SDK (${SDK_PKG}): deletes are traced but cannot be correlated with spans`;
    return det;
  }

  const inlined = inlinedCopies(binary, new Set(SDK_TARGETS.map((t) => t.name)));
  for (const [name, into] of inlined) det.inlined[name] = into;

  const unusable: string[] = [];
  for (const { t, f } of present) {
    if (!f) continue;
    try {
      det.functions.push(t.at === 'entry' ? entryTarget(binary, f, t.role) : retTarget(binary, f, t.role));
    } catch (err) {
      const msg = `${t.name} cannot be probed: ${err instanceof Error ? err.message : String(err)}`;
      if (t.required) unusable.push(msg);
      else det.notes.push(msg);
    }
  }
  try {
    det.runtime = runtimeTargets(binary);
  } catch (err) {
    det.notes.push(`goroutine probes unavailable: ${err instanceof Error ? err.message : String(err)}`);
  }

  const missing = present.filter((p) => p.t.required && !p.f).map((p) => p.t.name);
  const pgo = binary.buildInfo.settings['-pgo'];
  for (const { t, f } of present) {
    const into = det.inlined[t.name];
    if (!into?.length) continue;
    const where = `${into.slice(0, 3).join(', ')}${into.length > 3 ? ` and ${into.length - 3} more` : ''}`;
    const build = pgo ? ` (PGO build: -pgo=${pgo})` : '';
    if (f) det.notes.push(`${t.name} is also inlined into ${where}${build}: its probe does not see calls made through those copies`);
    else if (!t.required) det.notes.push(`${t.name} exists only inlined into ${where}${build}: it cannot serve as a fallback probe`);
  }
  if (missing.length) {
    const why = missing
      .map((n) => (det.inlined[n]?.length ? `${n} (inlined into ${det.inlined[n].slice(0, 3).join(', ')}${pgo ? `; PGO build -pgo=${pgo}` : ''})` : n))
      .join(', ');
    det.problem = `${binary.path} (${OTEL_SDK_MODULE} ${det.version ?? 'of unknown version'}) has no out-of-line ${why}: span starts and ends cannot be probed there, so deletes are traced but not correlated with spans`;
  } else if (unusable.length) {
    det.problem = `${binary.path}: ${unusable.join('; ')}; deletes are traced but not correlated with spans`;
  }

  resolveOffsets(binary, det, opts);
  return det;
}

function entryTarget(binary: GoBinary, f: FuncInfo, role: OtelProbeRole): OtelProbeTarget {
  const c = chooseProbePoint(f.name, f.entry, functionBody(binary.elf, f));
  return {
    name: f.name,
    role,
    entry: f.entry,
    end: f.end,
    entryProbe: { vaddr: c.vaddr, fileOffset: binary.elf.vaddrToFileOffset(c.vaddr), instruction: c.instruction, reason: c.reason },
  };
}

function retTarget(binary: GoBinary, f: FuncInfo, role: OtelProbeRole): OtelProbeTarget {
  return { name: f.name, role, entry: f.entry, end: f.end, retAddrs: retInstructions(binary, f) };
}

/**
 * Addresses of the RET instructions of `f`, by decoding the whole function linearly (Go's amd64
 * text holds only code: no data or jump tables between instructions, INT3 padding after).
 */
export function retInstructions(binary: GoBinary, f: FuncInfo): number[] {
  const out: number[] = [];
  for (const i of decode(functionBody(binary.elf, f), f.entry, Infinity, { lite: true })) {
    // A GoBinaryError naming the file: the tracer calls this directly (RET probes in timing mode).
    if (i.invalid) throw new GoBinaryError(`${binary.path}: undecodable instruction at ${hex(i.ip)} in ${f.name}; the binary may be corrupt: copy or rebuild it`);
    if (i.flow === Flow.Return) out.push(i.ip);
  }
  return out;
}

export function runtimeTargets(binary: GoBinary): OtelProbeTarget[] {
  const pcln = binary.pclntab;
  const out: OtelProbeTarget[] = [];
  const newproc1 = pcln.funcByName('runtime.newproc1');
  if (newproc1) {
    const e = entryTarget(binary, newproc1, 'goroutine-create');
    e.retAddrs = retInstructions(binary, newproc1);
    out.push(e);
  }
  const closure = pcln.funcByName(NEWPROC_CLOSURE);
  const runqput = pcln.funcByName(RUNQPUT);
  if (closure && runqput && newproc1) {
    const calls = newgCallSites(binary, closure, newproc1.entry, runqput.entry);
    if (calls.length) out.push({ name: closure.name, role: 'goroutine-created-call', entry: closure.entry, end: closure.end, callAddrs: calls });
  }
  const goexit1 = pcln.funcByName('runtime.goexit1');
  if (goexit1) out.push(entryTarget(binary, goexit1, 'goroutine-exit'));
  return out;
}

/**
 * The `CALL runtime.runqput` instructions of runtime.newproc.func1 at which RBX is certainly the
 * g that the preceding `CALL runtime.newproc1` returned: straight-line code from that call, RAX
 * untouched until a `mov rbx, rax`, RBX untouched after it. Go 1.18–1.27 all compile
 * `newg := newproc1(...); runqput(pp, newg, true)` that way; a runtime that does not yields [].
 */
function newgCallSites(binary: GoBinary, closure: FuncInfo, newproc1: number, runqput: number): number[] {
  const insns = decode(functionBody(binary.elf, closure), closure.entry);
  const out: number[] = [];
  for (let i = 0; i < insns.length; i++) {
    if (!(insns[i].flow === Flow.Call && insns[i].target === newproc1)) continue;
    let rbxIsNewg = false;
    let raxIsNewg = true;
    for (let j = i + 1; j < insns.length; j++) {
      const x = insns[j];
      if (x.flow === Flow.Call && x.target === runqput) {
        if (rbxIsNewg) out.push(x.ip);
        break;
      }
      if (x.flow !== Flow.Next) break;
      if (x.text === 'mov rbx, rax' && raxIsNewg) rbxIsNewg = true;
      else if (x.writes.has(Reg.RBX)) rbxIsNewg = false;
      if (x.writes.has(Reg.RAX)) raxIsNewg = false;
    }
  }
  return out;
}

// ---- offsets -----------------------------------------------------------------------------------

function resolveOffsets(binary: GoBinary, det: OtelSdkDetection, opts: DetectOptions): void {
  const dwarf = opts.ignoreDwarf ? undefined : binary.dwarfData();
  const fromDwarf = dwarf ? dwarfOffsets(dwarf) : undefined;
  if (fromDwarf) {
    det.offsets = fromDwarf;
    det.offsetsSource = 'dwarf';
    return;
  }
  const table = opts.table ?? loadOffsetsTable();
  if (!table) {
    setProblem(det, `${binary.path} has no DWARF and the SDK offsets table (${OFFSETS_FILE}) is missing from this installation: deletes are traced but not correlated with spans; reinstall map-delete-tracer or rebuild the program without -ldflags=-w`);
    return;
  }
  const sdk = tableRow(table, OTEL_SDK_MODULE, det.version);
  const tr = tableRow(table, OTEL_TRACE_MODULE, det.traceVersion ?? det.version);
  const rs = sdk?.row.structs[OTEL_STRUCTS.recordingSpan.dwarfName];
  const sc = tr?.row.structs[OTEL_STRUCTS.spanContext.dwarfName];
  if (!sdk || !tr || !rs || !sc) {
    const known = Object.keys(table.modules[OTEL_SDK_MODULE] ?? {}).sort(compareSemver);
    const range = known.length ? `${known[0]}–${known[known.length - 1]}` : 'none';
    const which = !sdk || !rs ? `${OTEL_SDK_MODULE} ${det.version ?? '(version unknown: no module info)'}` : `${OTEL_TRACE_MODULE} ${det.traceVersion}`;
    setProblem(
      det,
      `${binary.path} uses ${which}, outside the SDK offsets table (${range}), and has no DWARF (built with -ldflags=-w): deletes are traced but not correlated with spans; rebuild it without -w, or add the version with scripts/gen-otel-sdk-offsets.sh`,
    );
    return;
  }
  const offsets = structOffsets(rs, sc);
  if (!offsets) {
    setProblem(det, `the SDK offsets table row for ${sdk.version} is incomplete; regenerate it with scripts/gen-otel-sdk-offsets.sh`);
    return;
  }
  det.offsets = offsets;
  det.offsetsSource = 'table';
  det.offsetsFrom = `sdk ${sdk.version}, trace ${tr.version}`;
  for (const [mod, want, got] of [[OTEL_SDK_MODULE, det.version, sdk.version], [OTEL_TRACE_MODULE, det.traceVersion, tr.version]] as const) {
    if (want && want !== got) det.notes.push(`no table row for ${mod} ${want}: using the offsets measured on ${got} (same minor release)`);
  }
}

function setProblem(det: OtelSdkDetection, msg: string): void {
  det.problem ??= msg;
}

/** Offsets from the binary's own DWARF; undefined when either struct or a member is missing. */
export function dwarfOffsets(dwarf: Dwarf): OtelSdkOffsets | undefined {
  const rs = dwarf.struct(OTEL_STRUCTS.recordingSpan.dwarfName);
  const sc = dwarf.struct(OTEL_STRUCTS.spanContext.dwarfName);
  if (!rs || !sc) return undefined;
  const obj = (s: { byteSize?: number; members: Map<string, number> }) => ({ size: s.byteSize ?? 0, members: Object.fromEntries(s.members) });
  return structOffsets(obj(rs), obj(sc));
}

function structOffsets(
  rs: { size: number; members: Record<string, number> },
  sc: { size: number; members: Record<string, number> },
): OtelSdkOffsets | undefined {
  const pick = (s: { members: Record<string, number> }, names: readonly string[]) => {
    const out: Record<string, number> = {};
    for (const n of names) {
      const v = s.members[n];
      if (typeof v !== 'number') return undefined;
      out[n] = v;
    }
    return out;
  };
  const r = pick(rs, OTEL_STRUCTS.recordingSpan.members);
  const c = pick(sc, OTEL_STRUCTS.spanContext.members);
  if (!r || !c) return undefined;
  return {
    recordingSpan: { size: rs.size || undefined, spanContext: r.spanContext, endTime: r.endTime, name: r.name },
    spanContext: { size: sc.size || undefined, traceID: c.traceID, spanID: c.spanID, traceFlags: c.traceFlags },
  };
}

/** Exact version, else the newest row of the same major.minor. */
function tableRow(table: OtelOffsetsTable, mod: string, version: string | undefined): { version: string; row: OtelTableRow } | undefined {
  const rows = table.modules[mod];
  if (!rows || !version) return undefined;
  if (rows[version]) return { version, row: rows[version] };
  const mm = majorMinor(version);
  if (!mm) return undefined;
  const same = Object.keys(rows).filter((v) => majorMinor(v) === mm).sort(compareSemver);
  const v = same[same.length - 1];
  return v ? { version: v, row: rows[v] } : undefined;
}

function majorMinor(v: string): string | undefined {
  const m = /^v(\d+)\.(\d+)\./.exec(v);
  return m ? `${m[1]}.${m[2]}` : undefined;
}

/** Orders "v1.9.0" < "v1.10.0" < "v1.10.1"; pre-release suffixes sort before the release. */
export function compareSemver(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v?(\d+)\.(\d+)\.(\d+)(-.*)?$/.exec(v);
    return m ? { n: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ?? '' } : { n: [0, 0, 0], pre: v };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if (x.n[i] !== y.n[i]) return x.n[i] - y.n[i];
  if (x.pre === y.pre) return 0;
  if (!x.pre) return 1;
  if (!y.pre) return -1;
  return x.pre < y.pre ? -1 : 1;
}

// ---- inlined copies ----------------------------------------------------------------------------

const PCDATA_INL_TREE_INDEX = 2;
const FUNCDATA_INL_TREE = 3;

/**
 * For each of `names` that appears in some function's inline tree: the functions holding an
 * inlined copy. Walks every function's inline-index pc-value table once (a few ms for a large
 * binary). Layout as in pclntab.ts (Go 1.18–1.19: 20-byte inline entries with nameOff at +12;
 * Go 1.20+: 16-byte entries with nameOff at +4).
 */
export function inlinedCopies(binary: GoBinary, names: ReadonlySet<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const gofunc = binary.moduleData?.gofunc;
  const located = locatePclntab(binary.elf);
  if (gofunc === undefined || !located) return out;
  const { header: h, data: d } = located;
  const go120 = h.magic !== MAGIC_GO118;
  const entrySize = go120 ? 16 : 20;
  const nameAt = go120 ? 4 : 12;
  const fixed = go120 ? 44 : 40;
  const nameCache = new Map<number, string>();
  for (let i = 0; i < h.nfunc; i++) {
    try {
      const off = h.pclnOffset + u32(d, h.pclnOffset + 8 * i + 4);
      const npcdata = u32(d, off + 28);
      const nfuncdata = u8(d, off + fixed - 1);
      if (npcdata <= PCDATA_INL_TREE_INDEX || nfuncdata <= FUNCDATA_INL_TREE || npcdata > 1024) continue;
      const indexTable = u32(d, off + fixed + PCDATA_INL_TREE_INDEX * 4);
      const treeOff = u32(d, off + fixed + npcdata * 4 + FUNCDATA_INL_TREE * 4);
      if (indexTable === 0 || treeOff === 0xffffffff) continue;
      let holder: string | undefined;
      for (const ix of pcValues(d, h.pctabOffset + indexTable)) {
        if (ix < 0) continue;
        const nameOff = binary.elf.readVaddr(gofunc + treeOff + ix * entrySize + nameAt, 4).readInt32LE(0);
        let name = nameCache.get(nameOff);
        if (name === undefined) {
          name = cstring(d, h.funcnameOffset + nameOff, 'function name', 1 << 16);
          nameCache.set(nameOff, name);
        }
        if (!names.has(name)) continue;
        holder ??= binary.pclntab.funcAt(i).name;
        const list = out.get(name) ?? [];
        if (!list.includes(holder)) list.push(holder);
        out.set(name, list);
      }
    } catch {
      // A function whose tables we cannot read holds no copy we can report.
    }
  }
  return out;
}

/** Distinct values of a pc-value table (zigzag value deltas, uvarint pc deltas). */
function pcValues(d: Buffer, p: number): Set<number> {
  const vals = new Set<number>();
  let val = -1;
  let first = true;
  for (let guard = 0; guard < 1 << 20; guard++) {
    let uv = 0;
    let mul = 1;
    let b: number;
    do {
      if (p >= d.length) return vals;
      b = d[p++];
      uv += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    if (uv === 0 && !first) return vals;
    val += uv % 2 === 1 ? -(uv + 1) / 2 : uv / 2;
    do {
      if (p >= d.length) return vals;
      b = d[p++];
    } while (b & 0x80);
    vals.add(val);
    first = false;
  }
  return vals;
}
