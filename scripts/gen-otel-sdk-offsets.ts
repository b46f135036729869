/**
 * The reading half of scripts/gen-otel-sdk-offsets.sh (which builds the programs): for each built
 * program, reads the SDK structs from its DWARF with receiver/golang/dwarf.ts, checks every member
 * offset and struct size against what the program measured on itself with reflect (and verified
 * against a live span's memory), checks that all toolchains agree, and writes the table.
 *
 *   node dist/scripts/gen-otel-sdk-offsets.js MANIFEST.tsv OUT.json
 *
 * MANIFEST.tsv: one line per build, tab-separated: sdk version, trace version, toolchain
 * ("go1.26.8"), path of the binary, path of its reflect JSON ({"structs": {name: {size, members}}}).
 */
import * as fs from 'node:fs';
import { GoBinary } from '../receiver/golang/binary';
import {
  OTEL_SDK_MODULE,
  OTEL_STRUCTS,
  OTEL_TRACE_MODULE,
  OtelOffsetsTable,
  OtelStructKey,
  OtelTableRow,
  compareSemver,
  detectOtelSdk,
} from '../receiver/golang/otelsdk';

interface Layout {
  size: number;
  members: Record<string, number>;
}

function fail(msg: string): never {
  process.stderr.write(`gen-otel-sdk-offsets: ERROR: ${msg}\n`);
  process.exit(1);
}

function log(msg: string): void {
  process.stderr.write(`gen-otel-sdk-offsets: ${msg}\n`);
}

function sameLayout(a: Layout, b: Layout): boolean {
  const ka = Object.keys(a.members).sort();
  const kb = Object.keys(b.members).sort();
  return a.size === b.size && ka.length === kb.length && ka.every((k, i) => k === kb[i] && a.members[k] === b.members[k]);
}

function main(argv: string[]): void {
  const [manifest, outFile] = argv;
  if (!manifest || !outFile) fail('usage: gen-otel-sdk-offsets.js MANIFEST.tsv OUT.json');
  const table: OtelOffsetsTable = { goarch: 'amd64', modules: { [OTEL_SDK_MODULE]: {}, [OTEL_TRACE_MODULE]: {} } };
  const lines = fs.readFileSync(manifest, 'utf8').split('\n').filter((l) => l.trim());
  if (!lines.length) fail(`${manifest} lists no builds`);
  for (const line of lines) {
    const [sdkVersion, traceVersion, toolchain, binPath, reflectPath] = line.split('\t');
    const what = `sdk ${sdkVersion} built with ${toolchain}`;
    const bin = GoBinary.open(binPath);
    // The binary must be what the manifest says it is.
    const dep = (p: string) => bin.buildInfo.deps.find((d) => d.path === p)?.version;
    if (dep(OTEL_SDK_MODULE) !== sdkVersion) fail(`${what}: .go.buildinfo says ${OTEL_SDK_MODULE} ${dep(OTEL_SDK_MODULE)}`);
    if (dep(OTEL_TRACE_MODULE) !== traceVersion) fail(`${what}: .go.buildinfo says ${OTEL_TRACE_MODULE} ${dep(OTEL_TRACE_MODULE)}`);
    if (bin.goVersion !== toolchain) fail(`${what}: .go.buildinfo says ${bin.goVersion}`);
    const dwarf = bin.dwarfData();
    if (!dwarf) fail(`${what}: ${binPath} has no DWARF`);
    const measured = JSON.parse(fs.readFileSync(reflectPath, 'utf8')) as { structs: Record<string, Layout> };
    // The detector must find the probe targets in this very program.
    const det = detectOtelSdk(bin);
    if (det.problem) fail(`${what}: detectOtelSdk: ${det.problem}`);
    if (det.offsetsSource !== 'dwarf') fail(`${what}: offsets came from ${det.offsetsSource}, not DWARF`);

    for (const key of Object.keys(OTEL_STRUCTS) as OtelStructKey[]) {
      const spec = OTEL_STRUCTS[key];
      const s = dwarf.struct(spec.dwarfName);
      if (!s) fail(`${what}: DWARF has no ${spec.dwarfName}`);
      const fromDwarf: Layout = { size: s.byteSize ?? -1, members: Object.fromEntries(s.members) };
      const fromReflect = measured.structs[spec.dwarfName];
      if (!fromReflect) fail(`${what}: the program did not report ${spec.dwarfName}`);
      if (!sameLayout(fromDwarf, fromReflect)) {
        fail(`${what}: ${spec.dwarfName} differs between DWARF ${JSON.stringify(fromDwarf)} and reflect ${JSON.stringify(fromReflect)}`);
      }
      const members: Record<string, number> = {};
      for (const m of spec.members) {
        if (fromDwarf.members[m] === undefined) fail(`${what}: ${spec.dwarfName} has no member ${m}`);
        members[m] = fromDwarf.members[m];
      }
      const version = spec.module === OTEL_SDK_MODULE ? sdkVersion : traceVersion;
      const rows = table.modules[spec.module];
      const row: OtelTableRow = (rows[version] ??= { toolchains: [], structs: {} });
      const prev = row.structs[spec.dwarfName];
      const cur = { size: fromDwarf.size, members };
      if (prev && !sameLayout(prev, cur)) {
        fail(`${spec.module} ${version}: ${spec.dwarfName} is ${JSON.stringify(cur)} with ${toolchain} but ${JSON.stringify(prev)} with ${row.toolchains.join(', ')}`);
      }
      row.structs[spec.dwarfName] = cur;
      if (!row.toolchains.includes(toolchain)) row.toolchains.push(toolchain);
    }
    log(`${what}: recordingSpan.spanContext=${det.offsets!.recordingSpan.spanContext} endTime=${det.offsets!.recordingSpan.endTime} SpanContext.traceID=${det.offsets!.spanContext.traceID} spanID=${det.offsets!.spanContext.spanID} traceFlags=${det.offsets!.spanContext.traceFlags} (DWARF = reflect)`);
  }
  // Stable output: versions in semver order, toolchains sorted, members in declaration order.
  const sorted: OtelOffsetsTable = { goarch: table.goarch, modules: {} };
  for (const [mod, rows] of Object.entries(table.modules)) {
    sorted.modules[mod] = {};
    for (const v of Object.keys(rows).sort(compareSemver)) {
      rows[v].toolchains.sort((a, b) => compareSemver(a.replace(/^go/, 'v'), b.replace(/^go/, 'v')));
      sorted.modules[mod][v] = rows[v];
    }
  }
  const doc = {
    about:
      'Member offsets (amd64) of the OpenTelemetry Go SDK structs the span-tracking probes read, for binaries without DWARF. ' +
      'Generated by scripts/gen-otel-sdk-offsets.sh (DWARF of small programs built against each release, checked against reflect on a live span); do not edit by hand. ' +
      'recordingSpan rows are keyed by the go.opentelemetry.io/otel/sdk version, SpanContext rows by the go.opentelemetry.io/otel/trace version.',
    ...sorted,
  };
  fs.writeFileSync(outFile, JSON.stringify(doc, null, 2) + '\n');
  log(`wrote ${outFile}: ${Object.keys(sorted.modules[OTEL_SDK_MODULE]).join(', ')}`);
}

main(process.argv.slice(2));
