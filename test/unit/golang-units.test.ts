/**
 * receiver/golang pieces on synthetic input: version strings, probe-point choice on hand-written
 * prologues (the shapes real toolchains emit and the ones they might), and symbolization speed.
 */
import { strict as assert } from 'node:assert';
import { parseGoVersion } from '../../receiver/golang/buildinfo';
import { GoBinary } from '../../receiver/golang/binary';
import { GoBinaryError } from '../../receiver/golang/errors';
import { chooseProbePoint } from '../../receiver/golang/prologue';
import { buildOrSkip } from './golang-fixtures.test';

const ENTRY = 0x401000;

/** Function bytes: prologue, filler, then a morestack block `call rel32; jmp entry` at `stub`. */
function fn(prologue: number[], stub = 0x40): Buffer {
  const b = Buffer.alloc(stub + 16, 0xcc);
  Buffer.from(prologue).copy(b);
  b[stub] = 0xe8; // call morestack (target irrelevant)
  b.writeInt32LE(0x1000, stub + 1);
  b[stub + 5] = 0xe9; // jmp entry
  b.writeInt32LE(-(stub + 10), stub + 6);
  return b;
}

/** jbe rel8 from `at` (offset in the function) to `target`. */
const jbe8 = (at: number, target: number) => [0x76, target - (at + 2)];
const jbe32 = (at: number, target: number) => {
  const b = Buffer.alloc(6);
  b[0] = 0x0f;
  b[1] = 0x86;
  b.writeInt32LE(target - (at + 6), 2);
  return [...b];
};
const CMP_RSP_STACKGUARD = [0x49, 0x3b, 0x66, 0x10]; // cmp rsp, [r14+0x10]
const CMP_R12_STACKGUARD = [0x4d, 0x3b, 0x66, 0x10]; // cmp r12, [r14+0x10]
const LEA_R12 = [0x4c, 0x8d, 0xa4, 0x24, 0x00, 0xfe, 0xff, 0xff]; // lea r12, [rsp-0x200]
const PUSH_RBP = [0x55];
const MOV_RBP_RSP = [0x48, 0x89, 0xe5];
const SUB_RSP = [0x48, 0x83, 0xec, 0x60]; // sub rsp, 0x60
const MOV_SPILL_BP = [0x48, 0x89, 0x6c, 0x24, 0x58]; // mov [rsp+0x58], rbp

describe('golang units', () => {
  describe('parseGoVersion', () => {
    const cases: [string, ReturnType<typeof parseGoVersion>][] = [
      ['go1.22.12', { major: 1, minor: 22, patch: 12 }],
      ['go1.20', { major: 1, minor: 20, patch: 0 }],
      ['go1.21rc2', { major: 1, minor: 21, patch: 0 }],
      ['go1.24.0 X:noswissmap', { major: 1, minor: 24, patch: 0 }],
      ['devel go1.23-1a2b3c Tue Jan 2 15:04:05 2024 +0000', { major: 1, minor: 23, patch: 0 }],
      ['gccgo', undefined],
    ];
    for (const [s, want] of cases) it(JSON.stringify(s), () => assert.deepEqual(parseGoVersion(s), want));
  });

  describe('chooseProbePoint', () => {
    it('Go 1.21+ small frame: push rbp after a short jbe (+6)', () => {
      const c = chooseProbePoint('f', ENTRY, fn([...CMP_RSP_STACKGUARD, ...jbe8(4, 0x40), ...PUSH_RBP, ...MOV_RBP_RSP]));
      assert.equal(c.vaddr, ENTRY + 6);
      assert.equal(c.instruction, 'push rbp');
    });

    it('Go 1.21+ long jbe: push rbp at +10', () => {
      const c = chooseProbePoint('f', ENTRY, fn([...CMP_RSP_STACKGUARD, ...jbe32(4, 0x40), ...PUSH_RBP, ...MOV_RBP_RSP]));
      assert.equal(c.vaddr, ENTRY + 10);
      assert.equal(c.instruction, 'push rbp');
    });

    it('large frame: lea r12 (allowed to write R12) then cmp r12, jbe, push rbp', () => {
      const pro = [...LEA_R12, ...CMP_R12_STACKGUARD];
      const c = chooseProbePoint('f', ENTRY, fn([...pro, ...jbe32(pro.length, 0x40), ...PUSH_RBP, ...MOV_RBP_RSP]));
      assert.equal(c.vaddr, ENTRY + pro.length + 6);
      assert.equal(c.instruction, 'push rbp');
    });

    it('Go 1.18–1.20 (sub rsp; mov [rsp+N], rbp): the stack-check jbe', () => {
      const c = chooseProbePoint('f', ENTRY, fn([...CMP_RSP_STACKGUARD, ...jbe32(4, 0x40), ...SUB_RSP, ...MOV_SPILL_BP]));
      assert.equal(c.vaddr, ENTRY + 4);
      assert.equal(c.instruction, 'jbe 0x401040');
      assert.match(c.reason, /sub rsp, 0x60/);
    });

    it('NOSPLIT leaf with a frame: push rbp at entry', () => {
      const c = chooseProbePoint('f', ENTRY, fn([...PUSH_RBP, ...MOV_RBP_RSP]));
      assert.equal(c.vaddr, ENTRY);
    });

    it('NOSPLIT leaf without a frame: the first branch, which may skip the rest', () => {
      // test rbx, rbx; je +5; mov rax, [rbx]; ret
      const c = chooseProbePoint('f', ENTRY, fn([0x48, 0x85, 0xdb, 0x74, 0x05, 0x48, 0x8b, 0x03, 0xc3]));
      assert.equal(c.vaddr, ENTRY + 3);
      assert.match(c.instruction, /^je 0x/);
    });

    it('a jbe that is not the stack check (its target returns) is not skipped over', () => {
      // cmp rsp, [r14+0x10]; jbe → ret; push rbp
      const body = fn([...CMP_RSP_STACKGUARD, ...jbe8(4, 0x20), ...PUSH_RBP, ...MOV_RBP_RSP]);
      body[0x20] = 0xc3;
      const c = chooseProbePoint('f', ENTRY, body);
      assert.equal(c.vaddr, ENTRY + 4);
    });

    it('nothing emulatable before the arguments change: a clear error', () => {
      // mov rax, [rsp+8]; ret
      assert.throws(
        () => chooseProbePoint('runtime.mapdelete', ENTRY, fn([0x48, 0x8b, 0x44, 0x24, 0x08, 0xc3])),
        (err: unknown) =>
          err instanceof GoBinaryError &&
          /^no safe uprobe point in runtime\.mapdelete at 0x401000: "mov rax, \[rsp\+0x8\]" at entry\+0 changes/.test(err.message) &&
          !err.message.includes('\n'),
      );
    });

    it('a probe never goes past a write to RSP, RBP, R14 or an argument register', () => {
      for (const clobber of [SUB_RSP, [0x48, 0x89, 0xd8] /* mov rax, rbx */, [0x4d, 0x31, 0xf6] /* xor r14, r14 */, [0x5d] /* pop rbp */]) {
        const body = fn([...CMP_RSP_STACKGUARD, ...jbe8(4, 0x40), ...clobber, ...PUSH_RBP]);
        assert.equal(chooseProbePoint('f', ENTRY, body).vaddr, ENTRY + 4, Buffer.from(clobber).toString('hex'));
      }
    });
  });

  describe('symbolize speed', function () {
    this.timeout(600_000);
    it('answers repeat PCs from its cache well above 100k/s', function () {
      const b = GoBinary.open(buildOrSkip(this, 'maps', { toolchain: 'local', mode: 'plain' }).path);
      const pcs: number[] = [];
      for (let i = 0; i < b.pclntab.nfunc; i++) {
        const f = b.pclntab.funcAt(i);
        pcs.push(f.entry + ((f.end - f.entry) >> 1));
      }
      let t = process.hrtime.bigint();
      for (const pc of pcs) b.symbolize(pc);
      const coldNs = Number(process.hrtime.bigint() - t) / pcs.length;
      t = process.hrtime.bigint();
      const rounds = Math.ceil(1_000_000 / pcs.length);
      for (let r = 0; r < rounds; r++) for (const pc of pcs) b.symbolize(pc);
      const warmNs = Number(process.hrtime.bigint() - t) / (rounds * pcs.length);
      console.log(`      ${pcs.length} functions: first lookup ${(coldNs / 1000).toFixed(1)} µs, cached ${warmNs.toFixed(0)} ns`);
      assert.ok(warmNs < 2_000, `cached symbolize takes ${warmNs} ns`);
      assert.ok(coldNs < 200_000, `uncached symbolize takes ${coldNs} ns`);
    });
  });
});
