/**
 * receiver/golang/otelsdk.ts against real programs instrumented with the OpenTelemetry Go SDK:
 * one small service-like program (a span per call, a nested span, a worker goroutine) built
 * against each of the newest three SDK releases in receiver/golang/otel-sdk-offsets.json, plain
 * and stripped (-s -w), with the machine's Go. Ground truth: `go tool nm` and `go tool objdump`
 * for function entries, RET and CALL instructions (on the plain build; stripping does not move
 * code), and the offsets the program measures on a live span with reflect and checks against the
 * span's memory. Also a PGO build (the compiler then inlines SDK functions), a program without
 * the SDK, and versions outside the table.
 *
 * Builds are cached under .cache/otelsdk-unit/, keyed by a hash of the program, the SDK version
 * and the Go version. The SDK comes through the Go module proxy (or the module cache): when it
 * cannot be fetched the suites skip, unless CI=true.
 *
 * Then the correlation matrix: examples/otel-http built by scripts/build-examples.sh for every
 * Go x SDK pair of its PAIRS (every Go of the core matrix with the newest SDK it can build, and
 * the newest three SDK minor releases), plain and stripped: probe targets, the goroutine-created
 * call site and the offsets (DWARF on the plain build, the table on the stripped one) for each.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GoBinary } from '../../receiver/golang/binary';
import {
  OFFSETS_FILE,
  OTEL_SDK_MODULE,
  OTEL_STRUCTS,
  OTEL_TRACE_MODULE,
  OtelOffsetsTable,
  OtelProbeTarget,
  OtelSdkDetection,
  OtelSdkOffsets,
  compareSemver,
  detectOtelSdk,
  dwarfOffsets,
  inlinedCopies,
  loadOffsetsTable,
  runtimeTargets,
} from '../../receiver/golang/otelsdk';
import { funcNameForPrint } from '../../receiver/golang/pclntab';
import { buildOtelHttp, otelHttpPairs, type OtelHttpBuild } from '../helpers/otel-http';
import { decode } from '../../receiver/golang/x86';
import { packageRoot } from '../../receiver/util/paths';

const SDK = 'go.opentelemetry.io/otel/sdk/trace';
const START = `${SDK}.(*tracer).Start`;
const NEW_RECORDING_SPAN = `${SDK}.(*tracer).newRecordingSpan`;
const NEW_SPAN = `${SDK}.(*tracer).newSpan`;
const RUNTIME_TRACE = `${SDK}.(*recordingSpan).runtimeTrace`;
const END = `${SDK}.(*recordingSpan).End`;

const PROGRAM = `package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime/pprof"
	"sync"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

var (
	mu    sync.Mutex
	store = map[string]int{"k": 1, "k-w": 2}
)

// handle looks like a request handler: a span, a worker goroutine with a nested span that
// deletes under it, and a delete of its own.
func handle(ctx context.Context, tr trace.Tracer, key string) {
	ctx, span := tr.Start(ctx, "handle")
	defer span.End()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, child := tr.Start(ctx, "worker")
		mu.Lock()
		delete(store, key+"-w")
		mu.Unlock()
		child.End()
	}()
	wg.Wait()
	mu.Lock()
	delete(store, key)
	mu.Unlock()
}

// spin is the hot path of the profile: a span started and ended, a delete under it.
func spin(ctx context.Context, tr trace.Tracer) {
	_, span := tr.Start(ctx, "spin")
	mu.Lock()
	delete(store, "x")
	mu.Unlock()
	span.End()
}

type layout struct {
	Size    uintptr            \`json:"size"\`
	Members map[string]uintptr \`json:"members"\`
}

func describe(t reflect.Type) layout {
	l := layout{Size: t.Size(), Members: map[string]uintptr{}}
	for i := 0; i < t.NumField(); i++ {
		l.Members[t.Field(i).Name] = t.Field(i).Offset
	}
	return l
}

func field(t reflect.Type, name string) reflect.StructField {
	f, ok := t.FieldByName(name)
	if !ok {
		fail("%s has no field %s", t, name)
	}
	return f
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\\n", args...)
	os.Exit(1)
}

func main() {
	tp := sdktrace.NewTracerProvider()
	otel.SetTracerProvider(tp)
	tr := otel.Tracer("otelsdk-unit")
	if len(os.Args) == 3 && os.Args[1] == "profile" {
		// A CPU profile in which span start and end are hot, for the PGO build.
		f, err := os.Create(os.Args[2])
		if err != nil {
			fail("%v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail("%v", err)
		}
		for t0 := time.Now(); time.Since(t0) < 2*time.Second; {
			for i := 0; i < 1000; i++ {
				spin(context.Background(), tr)
			}
		}
		pprof.StopCPUProfile()
		f.Close()
		return
	}
	handle(context.Background(), tr, "k")
	spin(context.Background(), tr)

	// Measure the layout on a live span and check it against the span's memory.
	_, span := tr.Start(context.Background(), "layout")
	v := reflect.ValueOf(span)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		fail("the span is a %s, not a pointer to a struct", v.Type())
	}
	rs := v.Elem().Type()
	scf := field(rs, "spanContext")
	sc := scf.Type
	p := v.UnsafePointer()
	want := span.SpanContext()
	if got := *(*[16]byte)(unsafe.Add(p, scf.Offset+field(sc, "traceID").Offset)); got != want.TraceID() {
		fail("trace id in memory %x, SpanContext() says %s", got, want.TraceID())
	}
	if got := *(*[8]byte)(unsafe.Add(p, scf.Offset+field(sc, "spanID").Offset)); got != want.SpanID() {
		fail("span id in memory %x, SpanContext() says %s", got, want.SpanID())
	}
	if got := *(*byte)(unsafe.Add(p, scf.Offset+field(sc, "traceFlags").Offset)); got != byte(want.TraceFlags()) {
		fail("trace flags in memory %x, SpanContext() says %s", got, want.TraceFlags())
	}
	endTime := (*[16]byte)(unsafe.Add(p, field(rs, "endTime").Offset))
	if *endTime != [16]byte{} {
		fail("endTime is not zero before End")
	}
	span.End()
	if *endTime == [16]byte{} {
		fail("endTime is still zero after End")
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"structs": map[string]layout{
			rs.PkgPath() + "." + rs.Name(): describe(rs),
			sc.PkgPath() + "." + sc.Name(): describe(sc),
		},
	})
}
`;

const NO_SDK_PROGRAM = `package main

import "fmt"

var m = map[string]int{"a": 1}

func main() {
	delete(m, "a")
	fmt.Println(len(m))
}
`;

type Mode = 'plain' | 'stripped' | 'pgo';

interface Built {
  version: string;
  dir: string;
  bins: Partial<Record<Mode, string>>;
  report: { structs: Record<string, { size: number; members: Record<string, number> }> };
}

class Unavailable extends Error {}

function goCommand(): string {
  return fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
}

function goEnv(toolchain = 'local'): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GOTOOLCHAIN: toolchain, GOWORK: 'off', GO111MODULE: 'on', GOFLAGS: '-mod=mod -buildvcs=false', CGO_ENABLED: '0' };
  delete env.GOARCH;
  delete env.GOEXPERIMENT;
  return env;
}

function go(args: string[], cwd: string, what: string, unavailableOnError = false, toolchain = 'local'): string {
  const r = spawnSync(goCommand(), args, { cwd, env: goEnv(toolchain), encoding: 'utf8', timeout: 900_000, maxBuffer: 1 << 28 });
  if (r.status !== 0) {
    const msg = `${what}: go ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`;
    if (unavailableOnError) throw new Unavailable(msg);
    throw new Error(msg);
  }
  return r.stdout;
}

const goVersions = new Map<string, string>();
/** "go1.26.8" for a toolchain ("local", or one the Go module proxy serves). */
function goVersion(toolchain = 'local'): string {
  let v = goVersions.get(toolchain);
  if (!v) {
    v = go(['env', 'GOVERSION'], os.tmpdir(), `toolchain ${toolchain}`, true, toolchain).trim();
    goVersions.set(toolchain, v);
  }
  return v;
}
const localGoVersion = () => goVersion();

function cacheRoot(): string {
  return path.join(packageRoot(), '.cache', 'otelsdk-unit');
}

/** Builds (or finds cached) the program against SDK `version` with the machine's Go, and runs it once. */
function build(version: string, modes: Mode[]): Built {
  const key = createHash('sha256').update(PROGRAM).update('\0' + version + '\0' + localGoVersion()).digest('hex').slice(0, 12);
  const dir = path.join(cacheRoot(), `${version}-${localGoVersion()}-${key}`);
  const src = path.join(dir, 'src');
  const bins: Partial<Record<Mode, string>> = {};
  if (!fs.existsSync(path.join(src, 'go.sum'))) {
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, 'main.go'), PROGRAM);
    fs.writeFileSync(path.join(src, 'go.mod'), 'module mdt.local/otelsdkunit\n\ngo 1.21\n');
    go(['get', `go.opentelemetry.io/otel/sdk@${version}`, `go.opentelemetry.io/otel/trace@${version}`, `go.opentelemetry.io/otel@${version}`], src, `SDK ${version}`, true);
    go(['mod', 'tidy'], src, `SDK ${version}`, true);
  }
  const out = (mode: Mode) => path.join(dir, `prog-${mode}`);
  const compile = (mode: Mode, extra: string[]) => {
    const tmp = `${out(mode)}.tmp`;
    go(['build', ...extra, '-o', tmp, '.'], src, `SDK ${version} ${mode} build`);
    fs.renameSync(tmp, out(mode));
  };
  if (!fs.existsSync(out('plain'))) compile('plain', []);
  bins.plain = out('plain');
  if (modes.includes('stripped')) {
    if (!fs.existsSync(out('stripped'))) compile('stripped', ['-ldflags=-s -w']);
    bins.stripped = out('stripped');
  }
  const reportFile = path.join(dir, 'report.json');
  if (!fs.existsSync(reportFile)) {
    const r = spawnSync(bins.plain, [], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `${bins.plain}: ${r.stderr}`);
    JSON.parse(r.stdout);
    fs.writeFileSync(reportFile, r.stdout);
  }
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as Built['report'];
  if (modes.includes('pgo')) {
    const profile = path.join(dir, 'cpu.pprof');
    if (!fs.existsSync(profile)) {
      const r = spawnSync(bins.plain, ['profile', `${profile}.tmp`], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `${bins.plain} profile: ${r.stderr}`);
      fs.renameSync(`${profile}.tmp`, profile);
    }
    if (!fs.existsSync(out('pgo'))) compile('pgo', [`-pgo=${profile}`]);
    bins.pgo = out('pgo');
  }
  return { version, dir, bins, report };
}

function buildOrSkip(ctx: Mocha.Context, version: string, modes: Mode[]): Built {
  try {
    return build(version, modes);
  } catch (err) {
    if (err instanceof Unavailable && process.env.CI !== 'true') {
      console.log(`      skipping: ${err.message}`);
      ctx.skip();
    }
    throw err;
  }
}

/** The program without the SDK, built with `toolchain` (cached); skips when it is unavailable. */
function buildNoSdk(ctx: Mocha.Context, toolchain: string): string {
  try {
    const v = goVersion(toolchain);
    const key = createHash('sha256').update(NO_SDK_PROGRAM).digest('hex').slice(0, 12);
    const dir = path.join(cacheRoot(), `nosdk-${v}-${key}`);
    const out = path.join(dir, 'prog-plain');
    if (!fs.existsSync(out)) {
      fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'src', 'main.go'), NO_SDK_PROGRAM);
      fs.writeFileSync(path.join(dir, 'src', 'go.mod'), 'module mdt.local/nosdk\n\ngo 1.18\n');
      go(['build', '-o', `${out}.tmp`, '.'], path.join(dir, 'src'), `no-SDK build with ${v}`, false, toolchain);
      fs.renameSync(`${out}.tmp`, out);
    }
    return out;
  } catch (err) {
    if (err instanceof Unavailable && process.env.CI !== 'true') {
      console.log(`      skipping: ${err.message}`);
      ctx.skip();
    }
    throw err;
  }
}

/** `go tool nm`: name → address, for the functions asked for. */
function nmAddresses(bin: string, names: string[]): Map<string, number> {
  const out = new Map<string, number>();
  const want = new Set(names);
  for (const line of go(['tool', 'nm', bin], os.tmpdir(), 'nm').split('\n')) {
    const m = /^\s*([0-9a-f]+)\s+[Tt]\s+(.+)$/.exec(line);
    if (m && want.has(m[2])) out.set(m[2], parseInt(m[1], 16));
  }
  return out;
}

const regexQuote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `go tool objdump -s ^name$`: addresses of the instructions whose text matches `re`. */
function objdumpMatches(bin: string, name: string, re: RegExp): number[] {
  const out: number[] = [];
  const text = go(['tool', 'objdump', '-s', `^${regexQuote(name)}$`, bin], os.tmpdir(), 'objdump');
  assert.match(text, new RegExp(`^TEXT ${regexQuote(name)}\\(SB\\)`, 'm'), `objdump found no ${name}`);
  for (const line of text.split('\n')) {
    // "  tracer.go:77\t\t0x5b2646\t\tc3\t\t\tRET"
    const m = /^\s+\S+\s+0x([0-9a-f]+)\s+[0-9a-f]+\s+(.*)$/.exec(line);
    if (m && re.test(m[2].trim())) out.push(parseInt(m[1], 16));
  }
  return out;
}

function target(list: OtelProbeTarget[], name: string): OtelProbeTarget {
  const t = list.find((f) => f.name === name);
  assert.ok(t, `${name} not detected (have ${list.map((f) => f.name).join(', ')})`);
  return t;
}

/** What the program measured with reflect, in the detector's shape. */
function reflectOffsets(report: Built['report']): OtelSdkOffsets {
  const rs = report.structs[OTEL_STRUCTS.recordingSpan.dwarfName];
  const sc = report.structs[OTEL_STRUCTS.spanContext.dwarfName];
  assert.ok(rs && sc, `report lacks the structs: ${Object.keys(report.structs).join(', ')}`);
  return {
    recordingSpan: { size: rs.size, spanContext: rs.members.spanContext, endTime: rs.members.endTime, name: rs.members.name },
    spanContext: { size: sc.size, traceID: sc.members.traceID, spanID: sc.members.spanID, traceFlags: sc.members.traceFlags },
  };
}

function newestVersions(n: number): string[] {
  const table = loadOffsetsTable();
  assert.ok(table, `${OFFSETS_FILE} not found`);
  return Object.keys(table.modules[OTEL_SDK_MODULE] ?? {}).sort(compareSemver).slice(-n);
}

/** A copy of the shipped table without the rows of `drop`, or with them renamed. */
function tableWith(edit: (rows: Record<string, unknown>) => void): OtelOffsetsTable {
  const t = JSON.parse(JSON.stringify(loadOffsetsTable())) as OtelOffsetsTable;
  edit(t.modules[OTEL_SDK_MODULE]);
  edit(t.modules[OTEL_TRACE_MODULE]);
  return t;
}

describe('otelsdk offsets table', () => {
  it(`${OFFSETS_FILE} covers at least the newest three SDK minor releases, measured with the machine's Go`, () => {
    const table = loadOffsetsTable()!;
    assert.equal(table.goarch, 'amd64');
    const sdk = Object.keys(table.modules[OTEL_SDK_MODULE]).sort(compareSemver);
    const minors = new Set(sdk.map((v) => v.split('.').slice(0, 2).join('.')));
    assert.ok(minors.size >= 3, `only ${[...minors].join(', ')}`);
    // No minor release missing in between (v1.29, the newest that Go 1.21 builds, to the newest).
    const nums = [...minors].map((m) => Number(m.split('.')[1])).sort((a, b) => a - b);
    for (let m = nums[0]; m <= nums[nums.length - 1]; m++) assert.ok(nums.includes(m), `no row for v1.${m}`);
    assert.ok(nums[0] <= 29, `the table starts at v1.${nums[0]}, after v1.29 (the newest SDK Go 1.21 builds)`);
    for (const v of sdk) {
      const row = table.modules[OTEL_SDK_MODULE][v];
      assert.ok(row.toolchains.length >= 1);
      assert.ok(row.structs[OTEL_STRUCTS.recordingSpan.dwarfName], `${v} has no recordingSpan`);
      // Each sdk row has its trace row (the release train publishes both at the same version).
      assert.ok(table.modules[OTEL_TRACE_MODULE][v]?.structs[OTEL_STRUCTS.spanContext.dwarfName], `trace ${v} missing`);
    }
  });
});

for (const version of newestVersions(3)) {
  describe(`otelsdk ${version}`, function () {
    this.timeout(900_000);
    let built: Built;
    const bins: Partial<Record<'plain' | 'stripped', GoBinary>> = {};
    const dets: Partial<Record<'plain' | 'stripped', OtelSdkDetection>> = {};

    before(function () {
      built = buildOrSkip(this, version, ['plain', 'stripped']);
      for (const mode of ['plain', 'stripped'] as const) {
        bins[mode] = GoBinary.open(built.bins[mode]!);
        const t0 = process.hrtime.bigint();
        dets[mode] = detectOtelSdk(bins[mode]!);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (mode === 'stripped') console.log(`      detectOtelSdk on the stripped build: ${ms.toFixed(0)} ms`);
      }
    });

    it('reads the SDK and trace module versions from .go.buildinfo, plain and stripped', () => {
      for (const mode of ['plain', 'stripped'] as const) {
        const d = dets[mode]!;
        assert.equal(d.version, version, mode);
        assert.equal(d.traceVersion, version, mode);
        assert.equal(d.problem, undefined, `${mode}: ${d.problem}`);
        assert.deepEqual(d.notes, [], mode);
        assert.deepEqual(d.inlined, {}, `${mode}: nothing of the SDK's probe targets is inlined without PGO`);
      }
    });

    it('finds the probe targets through pclntab at the entries go tool nm lists; stripping moves nothing', () => {
      const plain = dets.plain!;
      const stripped = dets.stripped!;
      const all = [...plain.functions, ...plain.runtime];
      const nm = nmAddresses(built.bins.plain!, all.map((f) => f.name));
      for (const name of [RUNTIME_TRACE, END, START, NEW_RECORDING_SPAN, 'runtime.newproc1', 'runtime.newproc.func1', 'runtime.goexit1']) {
        const f = target(all, name);
        assert.equal(f.entry, nm.get(name), `${name}: pclntab 0x${f.entry.toString(16)}, nm 0x${nm.get(name)?.toString(16)}`);
        assert.ok(f.end > f.entry);
      }
      assert.deepEqual(target(plain.functions, RUNTIME_TRACE).role, 'span-start');
      assert.deepEqual(target(plain.functions, END).role, 'span-end');
      // Stripped: the same code at the same addresses, found without .symtab.
      assert.deepEqual(stripped.functions, plain.functions);
      assert.deepEqual(stripped.runtime, plain.runtime);
    });

    it('puts entry probes on the push rbp of the prologue, which the kernel emulates', () => {
      for (const f of [...dets.plain!.functions, ...dets.plain!.runtime].filter((f) => f.entryProbe)) {
        const p = f.entryProbe!;
        assert.equal(p.instruction, 'push rbp', f.name);
        assert.ok(p.vaddr > f.entry && p.vaddr < f.entry + 32, f.name);
        assert.equal(p.fileOffset, bins.plain!.elf.vaddrToFileOffset(p.vaddr));
        const [insn] = decode(bins.plain!.elf.readVaddr(p.vaddr, 16), p.vaddr, 1);
        assert.equal(insn.text, 'push rbp');
      }
    });

    it('lists exactly the RET instructions go tool objdump shows', () => {
      const all = [...dets.plain!.functions, ...dets.plain!.runtime];
      for (const name of [START, NEW_RECORDING_SPAN, 'runtime.newproc1']) {
        const f = target(all, name);
        const rets = objdumpMatches(built.bins.plain!, name, /^RET\b/);
        assert.ok(rets.length >= 1, `${name} has no RET in objdump`);
        assert.deepEqual(f.retAddrs, rets, name);
        for (const r of rets) assert.equal(bins.plain!.elf.readVaddr(r, 1)[0], 0xc3, `${name} RET at 0x${r.toString(16)}`);
      }
    });

    it('finds the CALL runtime.runqput in runtime.newproc.func1, where RBX is the new goroutine', () => {
      const f = target(dets.plain!.runtime, 'runtime.newproc.func1');
      assert.equal(f.role, 'goroutine-created-call');
      assert.deepEqual(f.callAddrs, objdumpMatches(built.bins.plain!, 'runtime.newproc.func1', /^CALL runtime\.runqput\(SB\)/));
      assert.equal(f.callAddrs!.length, 1);
    });

    it('takes the offsets from DWARF when present and from the table when stripped; both equal what reflect measured on a live span', () => {
      const truth = reflectOffsets(built.report);
      const plain = dets.plain!;
      const stripped = dets.stripped!;
      assert.equal(plain.offsetsSource, 'dwarf');
      assert.deepEqual(plain.offsets, truth);
      assert.equal(bins.stripped!.dwarfData(), undefined, 'the stripped build still has DWARF');
      assert.equal(stripped.offsetsSource, 'table');
      assert.equal(stripped.offsetsFrom, `sdk ${version}, trace ${version}`);
      assert.deepEqual(stripped.offsets, truth);
      // Where the BPF side reads: span + spanContext + spanID, etc.
      assert.equal(truth.recordingSpan.spanContext + truth.spanContext.spanID, 208);
    });

    it('table offsets equal DWARF offsets (the table path forced on the plain build)', () => {
      const fromTable = detectOtelSdk(bins.plain!, { ignoreDwarf: true });
      assert.equal(fromTable.offsetsSource, 'table');
      assert.deepEqual(fromTable.offsets, dwarfOffsets(bins.plain!.dwarfData()!));
      // And every member the table holds for this version, not only those the detector returns.
      const table = loadOffsetsTable()!;
      const dwarf = bins.plain!.dwarfData()!;
      for (const [mod, spec] of [[OTEL_SDK_MODULE, OTEL_STRUCTS.recordingSpan], [OTEL_TRACE_MODULE, OTEL_STRUCTS.spanContext]] as const) {
        const row = table.modules[mod][version].structs[spec.dwarfName];
        const s = dwarf.struct(spec.dwarfName)!;
        assert.equal(row.size, s.byteSize, `${spec.dwarfName} size`);
        for (const [m, off] of Object.entries(row.members)) assert.equal(off, s.members.get(m), `${spec.dwarfName}.${m}`);
      }
    });

    it('outside the table, a stripped binary gets one clear problem and no offsets; the probe targets are still listed', () => {
      const t = tableWith((rows) => {
        for (const k of Object.keys(rows)) if (k.startsWith(version.split('.').slice(0, 2).join('.') + '.')) delete rows[k];
      });
      const d = detectOtelSdk(bins.stripped!, { table: t });
      assert.equal(d.offsetsSource, 'none');
      assert.equal(d.offsets, undefined);
      assert.match(d.problem ?? '', new RegExp(`go\\.opentelemetry\\.io/otel/sdk ${regexQuote(version)}, outside the SDK offsets table \\(v[0-9.]+–v[0-9.]+\\), and has no DWARF`));
      assert.match(d.problem!, /deletes are traced but not correlated/);
      assert.ok(d.functions.length >= 2);
      // With DWARF the table does not matter.
      assert.equal(detectOtelSdk(bins.plain!, { table: t }).offsetsSource, 'dwarf');
    });

    it('a newer patch of a known minor uses that minor\'s row, with a note', () => {
      const [maj, min] = version.slice(1).split('.');
      const t = tableWith((rows) => {
        const row = rows[version];
        delete rows[version];
        rows[`v${maj}.${min}.99`] = row;
      });
      // The binary is vX.Y.0; the table knows only vX.Y.99: same minor, so it is used.
      const d = detectOtelSdk(bins.stripped!, { table: t });
      assert.equal(d.offsetsSource, 'table');
      assert.equal(d.offsetsFrom, `sdk v${maj}.${min}.99, trace v${maj}.${min}.99`);
      assert.equal(d.notes.length, 2);
      assert.match(d.notes[0], /no table row for go\.opentelemetry\.io\/otel\/sdk/);
    });
  });
}

describe('otelsdk without the SDK', function () {
  this.timeout(600_000);
  it('reports that the program does not use the SDK, and nothing to probe', function () {
    const d = detectOtelSdk(GoBinary.open(buildNoSdk(this, 'local')));
    assert.equal(d.version, undefined);
    assert.deepEqual(d.functions, []);
    assert.equal(d.offsetsSource, 'none');
    assert.match(d.problem ?? '', /does not use the OpenTelemetry Go SDK \(go\.opentelemetry\.io\/otel\/sdk\/trace\): deletes are traced but cannot be correlated/);
  });
});

// The goroutine-inheritance probes are in the runtime, so they depend on the Go version, not the SDK.
for (const toolchain of ['go1.18.10', 'go1.20.14', 'go1.21.13', 'go1.23.12', 'go1.25.14', 'local', 'go1.27.4']) {
  describe(`otelsdk goroutine probes, ${toolchain}`, function () {
    this.timeout(900_000);
    it('finds newproc1 (entry and RET), the CALL runqput that receives the new g in RBX, and goexit1', function () {
      const file = buildNoSdk(this, toolchain);
      const bin = GoBinary.open(file);
      const rt = runtimeTargets(bin);
      const create = target(rt, 'runtime.newproc1');
      assert.ok(create.entryProbe, 'no entry probe for newproc1');
      assert.deepEqual(create.retAddrs, objdumpMatches(file, 'runtime.newproc1', /^RET\b/));
      const call = target(rt, 'runtime.newproc.func1');
      const calls = objdumpMatches(file, 'runtime.newproc.func1', /^CALL runtime\.runqput\(SB\)/);
      assert.equal(calls.length, 1);
      assert.deepEqual(call.callAddrs, calls);
      // RBX at that call: the instruction that last sets it is MOVQ AX, BX after CALL newproc1.
      const movs = objdumpMatches(file, 'runtime.newproc.func1', /^MOVQ AX, BX$/);
      const newproc1Calls = objdumpMatches(file, 'runtime.newproc.func1', /^CALL runtime\.newproc1\(SB\)/);
      assert.ok(movs.some((m) => m > newproc1Calls[0] && m < calls[0]), 'no MOVQ AX, BX between the calls');
      assert.ok(target(rt, 'runtime.goexit1').entryProbe);
    });
  });
}

describe('otelsdk with PGO', function () {
  this.timeout(900_000);
  it('finds the SDK functions PGO inlined, and where, each confirmed by the inline frames of pclntab; span tracking stays possible', function () {
    const [version] = newestVersions(1);
    const built = buildOrSkip(this, version, ['pgo']);
    const bin = GoBinary.open(built.bins.pgo!);
    assert.ok(bin.buildInfo.settings['-pgo'], 'not a PGO build');
    // The span-start and span-end probes stay usable: runtimeTrace is only called through an
    // interface, End is over the inlining budget of a cold call site.
    const d = detectOtelSdk(bin);
    assert.equal(d.problem, undefined, d.problem);
    assert.ok(d.functions.find((f) => f.name === RUNTIME_TRACE));
    assert.ok(d.functions.find((f) => f.name === END));
    // PGO's choices depend on the profile (measured: newSpan into Start, or newRecordingSpan
    // into newSpan): look for any of the SDK's span functions.
    const names = [START, NEW_SPAN, NEW_RECORDING_SPAN, RUNTIME_TRACE, END];
    const found = inlinedCopies(bin, new Set(names));
    console.log(`      inlined under PGO: ${JSON.stringify(Object.fromEntries(found))}`);
    assert.ok(found.size >= 1, 'PGO inlined none of the SDK span functions');
    for (const [name, holders] of found) {
      for (const holder of holders) {
        const f = bin.pclntab.funcByName(holder)!;
        const seen = decode(bin.elf.readVaddr(f.entry, f.end - f.entry), f.entry, Infinity, { lite: true }).some((i) =>
          bin.symbolize(i.ip).some((fr) => fr.inlined && fr.function === funcNameForPrint(name)),
        );
        assert.ok(seen, `${name} reported inlined into ${holder}, but no instruction of ${holder} has it as an inline frame`);
      }
      // detectOtelSdk reports the same for its own targets.
      if (name !== NEW_SPAN) assert.deepEqual(d.inlined[name], holders);
    }
    // And nothing is reported that the frames do not show: a function absent from pclntab whose
    // calls still exist must be inlined somewhere.
    for (const name of names) if (!bin.pclntab.funcByName(name)) assert.ok(found.has(name), `${name} is neither a function nor inlined`);
  });
});

// examples/otel-http for every Go x SDK pair the correlation e2e test runs
// (test/e2e/correlation-matrix.test.ts; prebuilt by scripts/test.sh with build-examples.sh --matrix).
for (const pair of otelHttpPairs()) {
  describe(`otelsdk examples/otel-http ${pair.label}`, function () {
    this.timeout(1_800_000); // a cold build of a pair: ~40 s; the first of a toolchain may fetch it
    let build: OtelHttpBuild;
    const bins: Partial<Record<'plain' | 'stripped', GoBinary>> = {};
    const dets: Partial<Record<'plain' | 'stripped', OtelSdkDetection>> = {};

    before(function () {
      try {
        build = buildOtelHttp({ go: pair.go, experiment: pair.experiment, sdk: pair.sdk });
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        if (process.env.CI !== 'true') {
          console.log(`      skipping: scripts/build-examples.sh --go ${pair.go} --sdk ${pair.sdk} failed: ${msg.split('\n').slice(-4).join(' | ')}`);
          this.skip();
        }
        throw err;
      }
      for (const mode of ['plain', 'stripped'] as const) {
        bins[mode] = GoBinary.open(build[mode]);
        dets[mode] = detectOtelSdk(bins[mode]!);
      }
    });

    it('is the pair it says: Go, GOEXPERIMENT and the OTel module versions', () => {
      assert.equal(build.go, pair.go);
      assert.equal(build.experiment, pair.experiment);
      assert.equal(build.sdk, pair.sdk);
      for (const mode of ['plain', 'stripped'] as const) {
        assert.equal(bins[mode]!.goVersion, pair.go, mode);
        const d = dets[mode]!;
        assert.equal(d.version, pair.sdk, mode);
        // The four modules come from one release train, so otel/trace has the SDK's version.
        assert.equal(d.traceVersion, build.modules[OTEL_TRACE_MODULE], mode);
        assert.equal(d.traceVersion, pair.sdk, mode);
      }
    });

    it('finds the runtimeTrace and End entry probes and the goroutine-created call site, plain and stripped alike', () => {
      const plain = dets.plain!;
      for (const mode of ['plain', 'stripped'] as const) {
        const d = dets[mode]!;
        assert.equal(d.problem, undefined, `${mode}: ${d.problem}`);
        assert.deepEqual(d.notes, [], mode);
        assert.deepEqual(d.inlined, {}, `${mode}: nothing of the SDK's probe targets is inlined without PGO`);
      }
      const nm = nmAddresses(build.plain, [RUNTIME_TRACE, END, 'runtime.newproc.func1']);
      for (const [name, role] of [[RUNTIME_TRACE, 'span-start'], [END, 'span-end']] as const) {
        const f = target(plain.functions, name);
        assert.equal(f.role, role, name);
        assert.equal(f.entry, nm.get(name), `${name}: pclntab 0x${f.entry.toString(16)}, nm 0x${nm.get(name)?.toString(16)}`);
        assert.ok(f.entryProbe, `${name}: no entry probe`);
        assert.equal(f.entryProbe.instruction, 'push rbp', name);
        assert.ok(f.entryProbe.vaddr > f.entry && f.entryProbe.vaddr < f.entry + 32, name);
        assert.equal(f.entryProbe.fileOffset, bins.plain!.elf.vaddrToFileOffset(f.entryProbe.vaddr), name);
        const [insn] = decode(bins.plain!.elf.readVaddr(f.entryProbe.vaddr, 16), f.entryProbe.vaddr, 1);
        assert.equal(insn.text, 'push rbp', name);
      }
      const call = target(plain.runtime, 'runtime.newproc.func1');
      assert.equal(call.role, 'goroutine-created-call');
      assert.equal(call.entry, nm.get('runtime.newproc.func1'));
      assert.deepEqual(call.callAddrs, objdumpMatches(build.plain, 'runtime.newproc.func1', /^CALL runtime\.runqput\(SB\)/));
      assert.equal(call.callAddrs!.length, 1);
      // Stripping moves no code: the same targets at the same addresses, found without .symtab.
      assert.deepEqual(dets.stripped!.functions, plain.functions);
      assert.deepEqual(dets.stripped!.runtime, plain.runtime);
    });

    it('offsets: from DWARF on the plain build, from the exact table row on the stripped one; they agree', () => {
      const plain = dets.plain!;
      const stripped = dets.stripped!;
      assert.equal(plain.offsetsSource, 'dwarf');
      assert.ok(plain.offsets);
      assert.equal(bins.stripped!.dwarfData(), undefined, 'the stripped build still has DWARF');
      assert.equal(stripped.offsetsSource, 'table', stripped.problem);
      assert.equal(stripped.offsetsFrom, `sdk ${pair.sdk}, trace ${pair.sdk}`);
      assert.deepEqual(stripped.offsets, plain.offsets);
      const forced = detectOtelSdk(bins.plain!, { ignoreDwarf: true });
      assert.equal(forced.offsetsSource, 'table');
      assert.deepEqual(forced.offsets, plain.offsets);
      // The table row of this version, every member it holds, against this binary's DWARF.
      const table = loadOffsetsTable()!;
      const dwarf = bins.plain!.dwarfData()!;
      for (const [mod, spec] of [[OTEL_SDK_MODULE, OTEL_STRUCTS.recordingSpan], [OTEL_TRACE_MODULE, OTEL_STRUCTS.spanContext]] as const) {
        const row = table.modules[mod][pair.sdk]?.structs[spec.dwarfName];
        assert.ok(row, `${OFFSETS_FILE} has no ${mod} ${pair.sdk} row`);
        const st = dwarf.struct(spec.dwarfName)!;
        assert.equal(row.size, st.byteSize, `${spec.dwarfName} size`);
        for (const [m, off] of Object.entries(row.members)) assert.equal(off, st.members.get(m), `${spec.dwarfName}.${m}`);
      }
    });
  });
}
