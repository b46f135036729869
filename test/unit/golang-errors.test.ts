/**
 * receiver/golang on files it must refuse: every failure is a GoBinaryError with a one-line
 * message naming the file, the problem and the fix; corrupt input never crashes or hangs it.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GoBinary } from '../../receiver/golang/binary';
import { GoBinaryError } from '../../receiver/golang/errors';
import { UserError } from '../../receiver/util/errors';
import { Built, buildOrSkip } from './golang-fixtures.test';

function refuses(file: string, pattern: RegExp): GoBinaryError {
  let caught: unknown;
  try {
    GoBinary.open(file);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GoBinaryError, `expected GoBinaryError, got ${String(caught)}`);
  assert.ok(caught instanceof UserError, 'GoBinaryError should be a UserError (printed without a stack)');
  assert.ok(!caught.message.includes('\n'), `multi-line message: ${caught.message}`);
  assert.match(caught.message, pattern);
  return caught;
}

/** Deterministic PRNG so that a failure is reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('golang binary errors', function () {
  this.timeout(600_000);
  let tmp: string;
  let good: Built;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'golang-errors-'));
    good = buildOrSkip(this, 'maps', { toolchain: 'local', mode: 'stripped' });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a file that is not ELF', () => {
    const f = path.join(tmp, 'script.sh');
    fs.writeFileSync(f, '#!/bin/sh\necho hello\n');
    const err = refuses(f, /script\.sh is not an ELF file; give the path of a compiled Go executable/);
    assert.ok(err.message.startsWith(f));
  });

  it('an empty file and a missing file', () => {
    const f = path.join(tmp, 'empty');
    fs.writeFileSync(f, '');
    refuses(f, /is not an ELF file/);
    refuses(path.join(tmp, 'nope'), /cannot read .*nope \(ENOENT\)/);
  });

  it('an ELF file that is not Go (/bin/ls)', () => {
    refuses('/bin/ls', /^\/bin\/ls is not a Go program \(no \.go\.buildinfo or \.gopclntab section\)$/);
  });

  it('a Go binary built before Go 1.18', function () {
    const old = buildOrSkip(this, 'hello', { toolchain: 'go1.17.13', mode: 'plain' });
    refuses(old.path, /was built with go1\.17\.13; map-delete-tracer needs Go 1\.18 or newer/);
  });

  it('a Go binary for another architecture', function () {
    const arm = buildOrSkip(this, 'hello', { toolchain: 'local', mode: 'plain', goarch: 'arm64' });
    refuses(arm.path, /is an arm64 binary; map-delete-tracer supports x86-64 Go executables only/);
    const x86 = buildOrSkip(this, 'hello', { toolchain: 'local', mode: 'plain', goarch: '386' });
    refuses(x86.path, /is a 32-bit ELF file; map-delete-tracer supports 64-bit little-endian \(x86-64\) Go executables only/);
  });

  it('a truncated Go binary, cut anywhere', () => {
    const data = fs.readFileSync(good.path);
    const f = path.join(tmp, 'truncated');
    for (const len of [16, 64, 65, 4096, data.length >> 3, data.length >> 1, data.length - 4096, data.length - 1]) {
      fs.writeFileSync(f, data.subarray(0, len));
      refuses(f, /^\S*truncated (is not an ELF file|is truncated or corrupt \(.+\); copy or rebuild the binary)/);
    }
  });

  it('corrupt bytes never crash or hang the parsers', function () {
    const data = fs.readFileSync(good.path);
    const ok = GoBinary.fromBuffer(data);
    const pcs = ok.probePoints().points.map((p) => p.vaddr);
    for (let i = 0; i < 2000 && pcs.length < 64; i++) pcs.push(ok.textVaddr + i * 997);
    const typeAddr = ok.moduleData!.types! + 64;
    const entries = ok.probePoints().points.map((p) => p.entry);
    // Regions worth hitting: the ELF and section headers, pclntab header and function table,
    // buildinfo, moduledata, and anywhere at all.
    const sec = (n: string) => ok.elf.section(n)!;
    const pcln = sec('.gopclntab');
    const regions: [number, number][] = [
      [0, 64],
      [ok.elf.data.readUInt32LE(40), data.length - ok.elf.data.readUInt32LE(40)],
      [pcln.offset, 72],
      [pcln.offset + ok.pclntab.header.pclnOffset, 4096],
      [pcln.offset, pcln.size],
      [sec('.go.buildinfo').offset, 64],
      [ok.elf.vaddrToFileOffset(ok.moduleData!.vaddr), 400],
      [ok.elf.vaddrToFileOffset(ok.moduleData!.typelinks!.addr), ok.moduleData!.typelinks!.len * 4],
      [0, data.length],
    ];
    const rand = rng(1);
    const started = Date.now();
    let refused = 0;
    let accepted = 0;
    for (let iter = 0; iter < 400; iter++) {
      const [start, len] = regions[iter % regions.length];
      const buf = Buffer.from(data);
      const flips = 1 + Math.floor(rand() * 8);
      for (let k = 0; k < flips; k++) {
        const at = start + Math.floor(rand() * len);
        buf[at] = rand() < 0.5 ? Math.floor(rand() * 256) : buf[at] ^ (1 << Math.floor(rand() * 8));
      }
      try {
        const b = GoBinary.fromBuffer(buf, 'fuzzed');
        // Lazy analyses may refuse with GoBinaryError; lookups must simply answer.
        for (const fn of [() => b.probePoints(), () => b.goidOffsets(), () => b.mapTypes(), () => b.callSites(entries)]) {
          try {
            fn();
          } catch (err) {
            if (!(err instanceof GoBinaryError)) throw err;
            assert.ok(!err.message.includes('\n'));
          }
        }
        for (const pc of pcs) {
          assert.ok(Array.isArray(b.symbolize(pc)));
          b.funcName(pc);
        }
        b.mapType(typeAddr);
        accepted++;
      } catch (err) {
        if (!(err instanceof GoBinaryError)) {
          throw new Error(`iteration ${iter}: ${(err as Error).stack}`);
        }
        assert.ok(!err.message.includes('\n'), err.message);
        refused++;
      }
    }
    console.log(`      400 corrupted copies: ${accepted} opened, ${refused} refused, ${Date.now() - started} ms`);
    assert.ok(accepted > 0 && refused > 0);
  });
});
