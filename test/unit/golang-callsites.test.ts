/**
 * GoBinary.callSites and GoBinary.mapTypes against real binaries: golang-testdata/deletes (every
 * delete/clear statement records its own line with runtime.CallersFrames, and the program prints
 * the %T and descriptor address of every map type it uses) built with Go 1.21, 1.22, 1.24 (Swiss
 * tables and noswissmap), 1.26 and 1.27 in plain, stripped and PIE modes; and a net/http program
 * for speed and the standard library's named map types.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { GoBinary } from '../../receiver/golang/binary';
import { codeRefs, dataRefs, readTypelinks } from '../../receiver/golang/maptypes';
import { RUNTIME_TARGETS } from '../../receiver/golang/probes';
import { Reg, decode } from '../../receiver/golang/x86';
import { BuildSpec, Built, buildOrSkip, runReport, specName } from './golang-fixtures.test';

interface Mark {
  function: string;
  file: string;
  line: number;
  want: string;
  how: 'direct' | 'inlined' | 'generic' | 'reflect';
}

interface DeletesReport {
  version: string;
  anchor: number;
  marks: Mark[];
  maps: { type: string; addr: number }[];
}

const TOOLCHAINS: { toolchain: string; experiment?: string }[] = [
  { toolchain: 'go1.21.13' },
  { toolchain: 'go1.22.12' },
  { toolchain: 'go1.24.13' },
  { toolchain: 'go1.24.13', experiment: 'noswissmap' },
  { toolchain: 'local' },
  { toolchain: 'go1.27.4' },
];

function specs(): BuildSpec[] {
  const only = process.env.GOLANG_UNIT_TOOLCHAINS?.split(',').map((s) => s.trim()).filter(Boolean);
  const out: BuildSpec[] = [];
  for (const t of TOOLCHAINS) {
    if (only && !only.includes(t.toolchain)) continue;
    for (const mode of ['plain', 'stripped', 'pie'] as const) out.push({ ...t, mode });
  }
  return out;
}

const RUNTIME_NAMES = new Set(RUNTIME_TARGETS.map((t) => t.name));
const time = <T>(fn: () => T): [T, number] => {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [r, Number(process.hrtime.bigint() - t0) / 1e6];
};

for (const spec of specs()) {
  describe(`golang call sites and map types ${specName(spec)}`, function () {
    this.timeout(600_000);
    let built: Built;
    let report: DeletesReport;
    let bin: GoBinary;
    let bias: number;
    let entries: number[];
    let nameOf: Map<number, string>;

    before(function () {
      built = buildOrSkip(this, 'deletes', spec);
      report = runReport<DeletesReport>(built);
      bin = GoBinary.open(built.path);
      const anchor = bin.pclntab.funcByName('main.anchor');
      assert.ok(anchor, 'main.anchor not in pclntab');
      bias = report.anchor - anchor.entry;
      const plan = bin.probePoints();
      entries = plan.points.map((p) => p.entry);
      nameOf = new Map(plan.points.map((p) => [p.entry, p.function]));
    });

    it('lists every map type the program uses with its %T name, named types (not typelinks) included', () => {
      const [list, ms] = time(() => bin.mapTypes());
      const byAddr = new Map(list.map((m) => [m.addr, m.name]));
      const tl = new Set(readTypelinks(bin.elf, bin.moduleData, bin.version)!.addrs);
      assert.ok(report.maps.length >= 20);
      for (const m of report.maps) {
        const addr = m.addr - bias;
        assert.equal(byAddr.get(addr), m.type, `${m.type} at 0x${addr.toString(16)}`);
        // Unnamed map types are typelinks, named ones never are.
        assert.equal(tl.has(addr), m.type.startsWith('map['), `${m.type} typelink: ${tl.has(addr)}`);
      }
      // main.Hidden only ever reaches code through generic dictionaries: found in data.
      const hidden = report.maps.find((m) => m.type === 'main.Hidden')!;
      const md = bin.moduleData!;
      assert.ok(dataRefs(bin.elf, md.types!, md.etypes!).has(hidden.addr - bias), 'main.Hidden not referenced from data');
      if (spec.mode === 'plain') {
        const text = bin.elf.readVaddr(bin.pclntab.funcAt(0).entry, bin.pclntab.textEnd - bin.pclntab.funcAt(0).entry);
        const inCode = codeRefs(text, bin.pclntab.funcAt(0).entry, md.types!, md.etypes!).has(hidden.addr - bias);
        console.log(`      ${list.length} map types in ${ms.toFixed(1)} ms; main.Hidden referenced from code: ${inCode}`);
      }
    });

    it('finds the call site of every delete and clear statement, with its line and function', () => {
      const [sites, ms] = time(() => bin.callSites(entries));
      const file = report.marks[0].file;
      assert.equal(path.basename(file), 'main.go');
      const mine = sites.filter((s) => s.frames.length > 0 && s.frames[0].file === file);
      for (const s of sites) {
        assert.equal(s.retAddr > s.callPc && s.retAddr - s.callPc === 5, true, `call at 0x${s.callPc.toString(16)}`);
        assert.ok(entries.includes(s.target));
        assert.deepEqual(s.frames, bin.symbolizeReturn(s.retAddr));
      }
      const key = (f: string, l: number) => `${f}:${l}`;
      const marks = new Map<string, Mark>();
      for (const m of report.marks) marks.set(key(m.function, m.line), m);
      // Every call site in the program's file belongs to a marked statement.
      for (const s of mine) {
        const f = s.frames[0];
        const m = marks.get(key(f.function, f.line));
        assert.ok(m, `unexpected call site ${f.function}:${f.line} → ${nameOf.get(s.target)}`);
        assert.notEqual(m.how, 'reflect', `a reflective delete has a direct call site at ${f.line}`);
        assert.ok(RUNTIME_NAMES.has(nameOf.get(s.target)!), `${f.function}:${f.line} calls ${nameOf.get(s.target)}`);
        if (m.want) assert.equal(nameOf.get(s.target), `runtime.${m.want}`, `${f.function}:${f.line}`);
        assert.equal(f.inlined, m.how === 'inlined' && s.frames.length > 1, `${f.function}:${f.line} inlined`);
      }
      // Every marked statement has its call site(s); a direct one exactly one.
      const perTarget = new Map<string, [number, number]>();
      for (const m of marks.values()) {
        const at = mine.filter((s) => s.frames[0].function === m.function && s.frames[0].line === m.line);
        if (m.how === 'reflect') {
          assert.equal(at.length, 0);
        } else if (m.how === 'direct') {
          assert.equal(at.length, 1, `${m.function}:${m.line} has ${at.length} call sites`);
          const c = perTarget.get(m.want) ?? [0, 0];
          perTarget.set(m.want, [c[0] + 1, c[1]]);
        } else {
          assert.ok(at.length >= 1, `${m.how} ${m.function}:${m.line} has no call site`);
        }
      }
      // Per runtime function: as many direct call sites as direct statements compiled to it.
      for (const s of mine) {
        const m = marks.get(key(s.frames[0].function, s.frames[0].line))!;
        if (m.how !== 'direct') continue;
        const c = perTarget.get(m.want)!;
        c[1]++;
      }
      for (const [want, [statements, callSites]] of perTarget) assert.equal(callSites, statements, `runtime.${want}`);
      assert.deepEqual([...perTarget.keys()].sort(), ['mapclear', 'mapdelete', 'mapdelete_fast32', 'mapdelete_fast64', 'mapdelete_faststr']);
      // The inlined helper shows its caller as the next frame.
      const inl = mine.filter((s) => s.frames[0].function === 'main.rmInl');
      assert.ok(inl.length >= 1);
      if (inl.some((s) => s.frames[0].inlined)) {
        assert.deepEqual(inl.map((s) => s.frames[1]?.function).sort(), ['main.callsInl1', 'main.callsInl2']);
      }
      if (spec.mode === 'plain') {
        console.log(`      ${sites.length} call sites (${mine.length} in main.go, ${report.marks.filter((m) => m.how === 'direct').length} direct statements) in ${ms.toFixed(1)} ms`);
      }
    });

    it('lists the map type that each direct delete call loads into AX', () => {
      const listed = new Set(bin.mapTypes().map((m) => m.addr));
      const file = report.marks[0].file;
      const direct = new Set(report.marks.filter((m) => m.how === 'direct').map((m) => `${m.function}:${m.line}`));
      let checked = 0;
      for (const s of bin.callSites(entries)) {
        const f = s.frames[0];
        if (!f || f.file !== file || !direct.has(`${f.function}:${f.line}`)) continue;
        const fn = bin.pclntab.funcForPC(s.callPc)!;
        const insns = decode(bin.elf.readVaddr(fn.entry, s.callPc - fn.entry), fn.entry);
        const lastAX = [...insns].reverse().find((i) => i.writes.has(Reg.RAX));
        assert.ok(lastAX, `${f.function}: nothing loads AX`);
        if (lastAX.text.startsWith('lea rax,') && lastAX.ripRef !== undefined) {
          assert.ok(listed.has(lastAX.ripRef), `${f.function}:${f.line}: ${lastAX.text} → 0x${lastAX.ripRef.toString(16)} (${bin.typeName(lastAX.ripRef)}) not listed`);
          assert.ok(bin.mapType(lastAX.ripRef), `${bin.typeName(lastAX.ripRef)} is not a map type`);
          checked++;
        }
      }
      assert.ok(checked >= direct.size - 2, `only ${checked} of ${direct.size} direct deletes load their type with a LEA`);
    });

    it('caches per target set, and takes any set of entries', () => {
      const all = bin.callSites(entries);
      const again = bin.callSites([...entries].reverse());
      assert.deepEqual(again, all);
      assert.equal(again[0], all[0], 'not cached');
      const faststr = bin.pclntab.funcByName('runtime.mapdelete_faststr')!.entry;
      const only = bin.callSites([faststr]);
      assert.deepEqual(only, all.filter((s) => s.target === faststr));
      assert.ok(only.length >= 5);
      assert.deepEqual(bin.callSites([]), []);
      assert.deepEqual(bin.callSites([0x10, bin.textVaddr + 1]), []);
      // Calls to a function that is not a delete: main.mark is called once per statement.
      const mark = bin.pclntab.funcByName('main.mark')!.entry;
      const marks = bin.callSites([mark]);
      const lines = new Set(report.marks.map((m) => `${m.function}:${m.line}`));
      for (const s of marks) assert.ok(lines.has(`${s.frames[0].function}:${s.frames[0].line}`), `${s.frames[0].function}:${s.frames[0].line}`);
      assert.ok(marks.length >= lines.size);
    });
  });
}

describe('golang call sites and map types on a net/http binary', function () {
  this.timeout(600_000);
  let bin: GoBinary;

  before(function () {
    const only = process.env.GOLANG_UNIT_TOOLCHAINS?.split(',').map((s) => s.trim());
    if (only && !only.includes('local')) this.skip();
    bin = GoBinary.open(buildOrSkip(this, 'nethttp', { toolchain: 'local', mode: 'plain' }).path);
  });

  it('is fast, and finds the standard library named map types and their deletes', () => {
    const fresh = GoBinary.open(bin.path);
    const text = fresh.pclntab.textEnd - fresh.pclntab.funcAt(0).entry;
    const entries = fresh.probePoints().points.map((p) => p.entry);
    const [sites, msSites] = time(() => fresh.callSites(entries));
    const [list, msTypes] = time(() => fresh.mapTypes());
    console.log(
      `      ${(text / 1e6).toFixed(1)} MB text, ${fresh.pclntab.nfunc} functions: callSites ${sites.length} in ${msSites.toFixed(0)} ms, mapTypes ${list.length} in ${msTypes.toFixed(0)} ms`,
    );
    assert.ok(text > 2e6, `only ${text} bytes of text`);
    assert.ok(msSites < 3000 && msTypes < 3000, 'too slow');
    const names = new Set(list.map((m) => m.name));
    for (const n of ['http.Header', 'url.Values', 'textproto.MIMEHeader', 'map[string]string']) assert.ok(names.has(n), `${n} not found`);
    const tl = new Set(readTypelinks(fresh.elf, fresh.moduleData, fresh.version)!.addrs);
    assert.ok(!tl.has(list.find((m) => m.name === 'http.Header')!.addr));
    const fns = new Set(sites.flatMap((s) => s.frames.map((f) => f.function)));
    assert.ok(fns.has('net/textproto.MIMEHeader.Del'), 'MIMEHeader.Del delete not found');
    assert.ok(fns.has('net/url.Values.Del'), 'Values.Del delete not found');
  });
});
