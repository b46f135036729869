/**
 * receiver/golang against real Go binaries: golang-testdata/maps built with every toolchain and
 * mode of the matrix (golang-fixtures.test.ts). Each binary is checked against what the Go
 * program itself reported at run time (type names and descriptor addresses, CallersFrames,
 * runtime.Version, its own g struct) and against binutils objdump.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { parseGoVersion } from '../../receiver/golang/buildinfo';
import { GoBinary } from '../../receiver/golang/binary';
import { dwarfGoidOffsets, tableGoidOffsets } from '../../receiver/golang/goid';
import { findModuleData, moduleDataLayout } from '../../receiver/golang/moduledata';
import { DESCRIPTOR_SIZES_GO127, readTypelinks } from '../../receiver/golang/maptypes';
import { locatePclntab } from '../../receiver/golang/pclnheader';
import { KIND_NAMES } from '../../receiver/golang/types';
import { Built, MapsReport, buildOrSkip, mapsReport, matrix, specName } from './golang-fixtures.test';

const kind = (name: string) => KIND_NAMES.indexOf(name);

/** %T → expected key and elem {name, size, kind} (amd64). */
const MAP_TYPES: Record<string, { key: [string, number, string]; elem: [string, number, string] }> = {
  'map[string]*main.User': { key: ['string', 16, 'string'], elem: ['*main.User', 8, 'ptr'] },
  'map[main.Key]int': { key: ['main.Key', 24, 'struct'], elem: ['int', 8, 'int'] },
  'map[int64]struct {}': { key: ['int64', 8, 'int64'], elem: ['struct {}', 0, 'struct'] },
  'map[interface {}]string': { key: ['interface {}', 16, 'interface'], elem: ['string', 16, 'string'] },
  'map[int32]main.Big': { key: ['int32', 4, 'int32'], elem: ['main.Big', 200, 'struct'] },
  'map[main.ID][]uint8': { key: ['main.ID', 4, 'uint32'], elem: ['[]uint8', 24, 'slice'] },
  'map[*main.User]bool': { key: ['*main.User', 8, 'ptr'], elem: ['bool', 1, 'bool'] },
  'map[float64]uint8': { key: ['float64', 8, 'float64'], elem: ['uint8', 1, 'uint8'] },
  'map[[2]string]error': { key: ['[2]string', 32, 'array'], elem: ['error', 16, 'interface'] },
  'map[string]int': { key: ['string', 16, 'string'], elem: ['int', 8, 'int'] },
};

const RUNTIME_FUNCS = ['runtime.mapdelete', 'runtime.mapdelete_fast32', 'runtime.mapdelete_fast64', 'runtime.mapdelete_faststr', 'runtime.mapclear'];

/** First instruction objdump shows at vaddr, and the file offset it reports for that address. */
function objdumpAt(file: string, vaddr: number): { fileOffset: number; bytes: string; asm: string } {
  const r = spawnSync('objdump', ['-d', '-F', `--start-address=0x${vaddr.toString(16)}`, `--stop-address=0x${(vaddr + 16).toString(16)}`, file], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const header = /\(File Offset: 0x([0-9a-f]+)\):\s*$/m.exec(r.stdout);
  const insn = new RegExp(`^\\s*${vaddr.toString(16)}:\\s+((?:[0-9a-f]{2} )+)\\s*(.*)$`, 'm').exec(r.stdout);
  assert.ok(header && insn, `unexpected objdump output:\n${r.stdout}`);
  return { fileOffset: parseInt(header[1], 16), bytes: insn[1].trim(), asm: insn[2].replace(/\s+/g, ' ').trim() };
}

for (const spec of matrix()) {
  describe(`golang binary ${specName(spec)}`, function () {
    this.timeout(600_000);
    let built: Built;
    let report: MapsReport;
    let bin: GoBinary;
    let bias: number;
    let minor: number;

    before(function () {
      built = buildOrSkip(this, 'maps', spec);
      report = mapsReport(built);
      bin = GoBinary.open(built.path);
      minor = parseGoVersion(built.goVersion)!.minor;
      const anchor = bin.pclntab.funcByName('main.anchor');
      assert.ok(anchor, 'main.anchor not in pclntab');
      bias = report.anchor - anchor.entry;
    });

    it('reads the Go version and build settings', () => {
      assert.equal(bin.goVersion, report.version.split(' ')[0]);
      assert.equal(bin.goVersion, built.goVersion);
      assert.deepEqual(bin.version, parseGoVersion(built.goVersion));
      assert.equal(bin.buildInfo.mainPath, 'example.com/gounit');
      const s = bin.buildInfo.settings;
      // Go 1.18 and 1.19 do not record -buildmode; later ones always do.
      if (minor >= 20 || s['-buildmode']) assert.equal(s['-buildmode'], spec.mode === 'pie' ? 'pie' : 'exe');
      assert.equal(s.CGO_ENABLED, spec.mode === 'cgo' ? '1' : '0');
      if (spec.mode === 'stripped') assert.equal(s['-ldflags'], '-s -w');
      if (spec.experiment) {
        assert.ok(bin.goExperiments.includes(spec.experiment), `goExperiments ${bin.goExperiments}`);
        assert.equal(s.GOEXPERIMENT, spec.experiment);
        assert.ok(report.version.includes(`X:${spec.experiment}`), report.version);
      }
      assert.equal(bin.isPIE, spec.mode === 'pie');
      assert.equal(report.cgo, spec.mode === 'cgo');
      if (spec.mode !== 'pie') assert.equal(bias, 0);
    });

    it('finds moduledata (text, types, gofunc) consistent with .symtab and DWARF', () => {
      const md = bin.moduleData;
      assert.ok(md, 'moduledata not found');
      assert.equal(md.source, spec.mode === 'stripped' ? 'scan' : 'symtab');
      assert.equal(bin.textVaddr, md.text);
      assert.ok(md.types !== undefined && md.gofunc !== undefined);
      const pl = locatePclntab(bin.elf)!;
      if (minor >= 26) assert.equal(pl.header.textStart, 0);
      else assert.equal(pl.header.textStart, md.text);
      // The scan must find the same thing the symbol names.
      const scanned = findModuleData(bin.elf, pl.header, bin.version, { ignoreSymtab: true });
      assert.ok(scanned, 'scan did not find moduledata');
      assert.deepEqual({ ...scanned, source: 'x' }, { ...md, source: 'x' });
      if (spec.mode !== 'stripped') {
        const sym = (n: string) => bin.elf.symbol(n)?.value;
        assert.equal(md.vaddr, sym('runtime.firstmoduledata'));
        assert.equal(md.text, sym('runtime.text'));
        assert.equal(md.types, sym('runtime.types'));
        assert.equal(md.etypes, sym('runtime.etypes'));
        const layout = bin.dwarfData()?.struct('runtime.moduledata');
        assert.ok(layout, 'no DWARF runtime.moduledata');
        const want = moduleDataLayout(bin.version);
        const m = layout.members;
        assert.deepEqual(
          {
            types: m.get('types'),
            etypes: m.get('etypes'),
            gofunc: m.get('gofunc'),
            text: m.get('text'),
            typelinks: m.get('typelinks'),
            typedesclen: m.get('typedesclen'),
          },
          { typelinks: undefined, typedesclen: undefined, ...want, text: 176 },
        );
      }
      // Go ≤1.26 has the typelinks slice (the .typelink section), 1.27 typedesclen instead.
      if (minor <= 26) {
        assert.equal(md.typedesclen, undefined);
        const sec = bin.elf.section('.typelink') ?? bin.elf.section('.data.rel.ro.typelink');
        assert.ok(md.typelinks && sec, 'typelinks not found');
        assert.deepEqual(md.typelinks, { addr: sec.addr, len: sec.size / 4 });
        if (spec.mode !== 'stripped') assert.equal(md.typelinks.addr, bin.elf.symbol('runtime.typelink')?.value);
      } else {
        assert.equal(md.typelinks, undefined);
        assert.ok(md.typedesclen !== undefined && md.typedesclen > 0 && md.typedesclen < md.etypes! - md.types!, `typedesclen ${md.typedesclen}`);
      }
    });

    it('lists the typelinks (sorted by type string, as the linker writes them) and every map type', () => {
      const tl = readTypelinks(bin.elf, bin.moduleData, bin.version);
      assert.ok(tl, 'no typelinks');
      assert.equal(tl.via, minor <= 26 ? 'slice' : 'walk');
      assert.ok(tl.complete, 'the typedesclen walk did not end at types+typedesclen');
      if (minor >= 27 && spec.mode !== 'stripped') {
        // The walk steps by abi.Type.DescriptorSize(): our sizes must be the compiler's.
        const dw = bin.dwarfData();
        assert.ok(dw, 'no DWARF');
        for (const [name, size] of Object.entries(DESCRIPTOR_SIZES_GO127)) {
          assert.equal(dw.struct(`internal/abi.${name}`)?.byteSize, size, `internal/abi.${name}`);
        }
      }
      const names = tl.addrs.map((a) => bin.typeName(a));
      assert.ok(tl.addrs.length > 300 && names.every((n) => n !== undefined), `${tl.addrs.length} typelinks, unnamed: ${tl.addrs.filter((_, i) => !names[i]).length}`);
      for (let i = 1; i < names.length; i++) {
        assert.ok(Buffer.compare(Buffer.from(names[i - 1]!), Buffer.from(names[i]!)) <= 0, `typelinks not sorted: ${names[i - 1]} > ${names[i]}`);
      }
      const list = bin.mapTypes();
      const byAddr = new Map(list.map((m) => [m.addr, m.name]));
      for (const m of report.maps) assert.equal(byAddr.get(m.addr - bias), m.type, `${m.type} at 0x${(m.addr - bias).toString(16)}`);
      // Every map typelink is listed, with the name mapType() gives.
      const tlMaps = tl.addrs.filter((a) => bin.mapType(a));
      for (const a of tlMaps) assert.equal(byAddr.get(a), bin.mapType(a)!.name);
      for (const m of list) assert.equal(bin.mapType(m.addr)?.name, m.name);
      // The named map type main.Set is not a typelink but is found (from code).
      const set = list.find((m) => m.name === 'main.Set');
      assert.ok(set, 'main.Set not found');
      assert.ok(!tl.addrs.includes(set.addr));
      assert.deepEqual(
        list.map((m) => m.addr),
        [...byAddr.keys()].sort((a, b) => a - b),
      );
      // Cached, and copies.
      list[0].name = 'x';
      assert.notEqual(bin.mapTypes()[0].name, 'x');
      if (spec.mode === 'plain') console.log(`      ${tl.addrs.length} typelinks (${tl.via}), ${tlMaps.length} map typelinks, ${list.length} map types`);
    });

    if (spec.mode === 'pie') {
      it('reads PIE pointers from R_X86_64_RELATIVE addends when the file holds zeros', () => {
        // Both linkers store the value in the file too; a linker that does not must still work.
        const data = Buffer.from(bin.elf.data);
        const relocs = bin.elf.relativeRelocs();
        let zeroed = 0;
        for (const [where] of relocs) {
          const near = (a: number, len: number) => where >= a && where < a + len;
          if (near(bin.moduleData!.vaddr, 400) || report.maps.some((m) => near(m.addr - bias, 64))) {
            data.writeBigUInt64LE(0n, bin.elf.vaddrToFileOffset(where));
            zeroed++;
          }
        }
        assert.ok(zeroed > 20, `only ${zeroed} relocated words`);
        const z = GoBinary.fromBuffer(data, 'zeroed');
        assert.deepEqual(z.moduleData, bin.moduleData);
        const scanned = findModuleData(z.elf, locatePclntab(z.elf)!.header, z.version, { ignoreSymtab: true });
        assert.deepEqual({ ...scanned, source: 'symtab' }, bin.moduleData);
        for (const m of report.maps) assert.deepEqual(z.mapType(m.addr - bias), bin.mapType(m.addr - bias));
      });
    }

    it('symbolizes return addresses, inlined frames included, as runtime.CallersFrames does', () => {
      let sawInlined = 0;
      for (const st of report.stacks) {
        // Callers reports one logical pc per frame (inlined ones included); symbolizing pcs[i]
        // must give frames i, i+1, ... up to the physical frame.
        for (let i = 0; i < st.pcs.length; i++) {
          const mine = bin.symbolizeReturn(st.pcs[i] - bias);
          assert.ok(mine.length >= 1, `no frames for pc ${st.pcs[i]}`);
          assert.deepEqual(mine, st.frames.slice(i, i + mine.length), `pc #${i} of ${st.frames[0].function}`);
          sawInlined += mine.length - 1;
        }
      }
      // outer → middle → inner are inlined into each other: 2 inlined frames at pcs[0], 1 at pcs[1].
      assert.ok(sawInlined >= 3, `only ${sawInlined} inlined frames`);
      const top = bin.symbolizeReturn(report.stacks[0].pcs[0] - bias);
      assert.deepEqual(top.map((f) => f.function), ['main.inner', 'main.middle', 'main.outer']);
      // The wrapper (*Set).Del has Set.Del inlined and is itself hidden.
      const wrapped = bin.symbolizeReturn(report.stacks[2].pcs[0] - bias);
      assert.deepEqual(wrapped.map((f) => [f.function, f.inlined]), [['main.Set.Del', true]]);
      assert.equal(bin.funcName(report.anchor - bias), 'main.anchor');
      assert.deepEqual(bin.symbolize(0x10), []);
      assert.equal(bin.funcName(0x10), undefined);
      // Cached: same frozen array on repeat.
      assert.equal(bin.symbolizeReturn(report.stacks[0].pcs[0] - bias), top);
    });

    it('knows g.goid and g.parentGoid (checked on a live goroutine)', () => {
      const off = bin.goidOffsets();
      assert.equal(off.source, spec.mode === 'stripped' ? 'table' : 'dwarf');
      const words = report.g.words;
      assert.equal(words[off.goid / 8], report.g.goid, `goid at ${off.goid}`);
      if (minor >= 21) {
        assert.ok(off.parentGoid !== undefined);
        assert.equal(words[off.parentGoid / 8], report.g.parentGoid, `parentGoid at ${off.parentGoid}`);
      } else {
        assert.equal(off.parentGoid, undefined);
      }
      const table = tableGoidOffsets(bin.version);
      assert.ok(table, `no table entry for ${bin.goVersion}`);
      assert.deepEqual({ ...table, source: off.source }, off);
      if (spec.mode !== 'stripped') assert.deepEqual(dwarfGoidOffsets(bin.dwarfData()), off);
    });

    it('chooses emulated probe points that objdump confirms', () => {
      const plan = bin.probePoints();
      const names = plan.points.map((p) => p.function);
      for (const f of RUNTIME_FUNCS) assert.ok(names.includes(f), `${f} not probed (absent: ${plan.absent})`);
      const lines: string[] = [];
      for (const p of plan.points) {
        const fn = bin.pclntab.funcByName(p.function)!;
        assert.equal(p.entry, fn.entry);
        const od = objdumpAt(built.path, p.vaddr);
        assert.equal(p.fileOffset, od.fileOffset, `${p.function} file offset`);
        assert.equal(p.fileOffset, bin.elf.vaddrToFileOffset(p.vaddr));
        if (minor >= 21) {
          assert.equal(p.instruction, 'push rbp', `${p.function}: ${p.reason}`);
          assert.equal(od.asm, 'push %rbp');
          assert.equal(fs.readFileSync(built.path).subarray(p.fileOffset, p.fileOffset + 1)[0], 0x55);
        } else {
          assert.match(p.instruction, /^jbe 0x[0-9a-f]+$/, `${p.function}: ${p.reason}`);
          assert.match(od.asm, /^jbe /);
          assert.equal(parseInt(od.asm.split(' ')[1], 16), parseInt(p.instruction.split(' ')[1], 16));
        }
        lines.push(`${p.function}+${p.vaddr - p.entry} ${p.instruction} @0x${p.fileOffset.toString(16)}`);
      }
      if (spec.mode === 'plain') console.log(`      ${lines.join('; ')}`);
    });

    it('detects the map implementation and probes reflect.* only where they bypass the runtime functions', () => {
      const swiss = minor >= 24 && spec.experiment !== 'noswissmap';
      assert.equal(bin.mapImpl, swiss ? 'swiss' : 'classic');
      const plan = bin.probePoints();
      const probed = new Set(plan.points.map((p) => p.function));
      const skipped = new Set(plan.skipped.map((s) => s.function));
      const present = (n: string) => !plan.absent.includes(n);
      if (swiss) {
        assert.ok(probed.has('reflect.mapdelete') && probed.has('reflect.mapclear'), JSON.stringify(plan.skipped));
        assert.ok(skipped.has('reflect.mapdelete_faststr'));
      } else {
        for (const n of ['reflect.mapdelete', 'reflect.mapdelete_faststr', 'reflect.mapclear']) {
          if (present(n)) assert.ok(skipped.has(n), `${n} should be skipped: ${JSON.stringify(plan.points.find((p) => p.function === n))}`);
        }
      }
      // Go 1.21 added reflect.Value.Clear, which the program uses.
      assert.equal(present('reflect.mapclear'), minor >= 21);
      if (spec.mode === 'plain') {
        console.log(`      ${bin.mapImpl}: probe ${[...probed].filter((n) => n.startsWith('reflect')).join(', ') || 'no reflect.*'}; skip ${[...skipped].join(', ') || 'none'}`);
      }
    });
  });
}
