/**
 * End-to-end test of the native addon (addon/ + receiver/native.ts) on the real kernel, no mocks:
 * load bpf/build/map_delete.bpf.o, probe `runtime.mapdelete_fast64` of a tiny Go program, and
 * check what arrives through the ring buffer and the `stats` map.
 *
 * Needs root (CAP_BPF + CAP_PERFMON), uprobes and Go. Without them it skips with the reason,
 * unless CI=true, where a missing capability fails the run.
 *
 * The probe offset is found here with `go tool objdump` and the ELF program headers; the product
 * uses receiver/golang/ for that.
 */
import { strict as assert } from 'assert';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import { Worker } from 'worker_threads';

import { forEachRecord } from '../../receiver/events/decode';
import { BpfMapType, BpfObject, isNativeError, loadNative, Native, nativeAddonPath } from '../../receiver/native';

// ---------------------------------------------------------------------------------------------
// constants shared with bpf/mdt_event.h (the record layout itself is read from the header below)

const MDT_ARGS_KEY64 = 3n;
const GOID_OFFSET = 152n; // g.goid for the machine's Go (1.26); see DESIGN.md §3
const COOKIE = MDT_ARGS_KEY64 | (GOID_OFFSET << 16n);
const STAT_HITS = 0;
const STAT_EMITTED = 1;
const STAT_LOST = 2;
const PROG = 'mdt_delete';
const N = 1000; // deletes per round of the Go program
const PUSH_RBP = 0x55;
const INT3 = 0xcc;

function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'map-delete-tracer') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no map-delete-tracer package.json above ${__dirname}`);
    dir = parent;
  }
}

const ROOT = repoRoot();
const BPF_OBJ = path.join(ROOT, 'bpf', 'build', 'map_delete.bpf.o');

// ---------------------------------------------------------------------------------------------
// prerequisites

function findGo(): string | undefined {
  for (const c of [process.env.GO, '/usr/local/go/bin/go', 'go']) {
    if (c && spawnSync(c, ['version'], { stdio: 'ignore' }).status === 0) return c;
  }
  return undefined;
}

function missingCapability(): string | undefined {
  if (process.platform !== 'linux') return `platform is ${process.platform}, not linux`;
  if (process.getuid?.() !== 0) return 'not running as root (uprobes and BPF need CAP_BPF + CAP_PERFMON)';
  if (!fs.existsSync('/sys/bus/event_source/devices/uprobe/type')) return 'kernel has no uprobe PMU (CONFIG_UPROBE_EVENTS)';
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) return 'kernel has no BTF (/sys/kernel/btf/vmlinux)';
  if (!findGo()) return 'no Go toolchain (set $GO or install /usr/local/go)';
  return undefined;
}

/** Skip (outside CI) or fail (CI=true) when the machine cannot run the test. */
function skipOrFail(ctx: Mocha.Context, reason: string): never {
  if (process.env.CI === 'true') throw new Error(`CI=true but the addon e2e test cannot run: ${reason}`);
  console.log(`      skipping addon e2e: ${reason}`);
  ctx.skip();
}

// ---------------------------------------------------------------------------------------------
// the Go program and where to probe it

const GO_MAIN = `package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
)

// Each input line: fill a map[int64]int with keys 0..n-1, delete them all, print "done".
func main() {
	n, _ := strconv.Atoi(os.Args[1])
	m := make(map[int64]int)
	in := bufio.NewReader(os.Stdin)
	fmt.Println("ready")
	for {
		if _, err := in.ReadString('\\n'); err != nil {
			return
		}
		for i := 0; i < n; i++ {
			m[int64(i)] = i
		}
		for i := 0; i < n; i++ {
			delete(m, int64(i))
		}
		fmt.Println("done", len(m))
	}
}
`;

function buildGo(go: string, dir: string): string {
  fs.writeFileSync(path.join(dir, 'main.go'), GO_MAIN);
  fs.writeFileSync(path.join(dir, 'go.mod'), 'module mdtaddontest\n\ngo 1.21\n');
  const bin = path.join(dir, 'deleter');
  const r = spawnSync(go, ['build', '-o', bin, '.'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
  });
  if (r.status !== 0) throw new Error(`go build failed: ${r.stderr}`);
  return bin;
}

/** Virtual address of the PUSHQ BP in runtime.mapdelete_fast64's prologue. */
function pushRbpVaddr(go: string, bin: string): bigint {
  const r = spawnSync(go, ['tool', 'objdump', '-s', 'runtime.mapdelete_fast64$', bin], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`go tool objdump failed: ${r.stderr}`);
  // "  runtime_fast64.go:505	0x40fe66		55			PUSHQ BP"
  for (const line of r.stdout.split('\n')) {
    const m = /\s(0x[0-9a-f]+)\s+([0-9a-f]+)\s+PUSHQ BP\b/.exec(line);
    if (m) {
      assert.equal(m[2], '55', 'PUSHQ BP is the one-byte 0x55');
      return BigInt(m[1]);
    }
  }
  throw new Error(`no PUSHQ BP in runtime.mapdelete_fast64:\n${r.stdout}`);
}

/** uprobe file offset = vaddr − p_vaddr + p_offset of the PT_LOAD segment holding vaddr. */
function fileOffset(bin: string, vaddr: bigint): number {
  const b = fs.readFileSync(bin);
  assert.equal(b.readUInt32BE(0), 0x7f454c46, 'ELF magic');
  assert.equal(b[4], 2, 'ELF64');
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (b.readUInt32LE(p) !== 1 /* PT_LOAD */) continue;
    const offset = b.readBigUInt64LE(p + 8);
    const va = b.readBigUInt64LE(p + 16);
    const filesz = b.readBigUInt64LE(p + 32);
    if (vaddr >= va && vaddr < va + filesz) return Number(vaddr - va + offset);
  }
  throw new Error(`${vaddr.toString(16)} is in no PT_LOAD segment of ${bin}`);
}

interface Layout {
  size: number;
  stat_count: number;
  pid: number;
  key_hash: number;
  flags: number;
  arg_kind: number;
  stack_len: number;
  key_bytes: number;
  key: number;
  f_key_captured: number;
}

/** Sizes and offsets of struct mdt_event, from the header itself (so the test follows it). */
function recordLayout(dir: string): Layout {
  const src = path.join(dir, 'layout.c');
  fs.writeFileSync(
    src,
    `#include <stdio.h>
#include <stddef.h>
#include "mdt_event.h"
#define F(x) printf("\\"%s\\":%zu,", #x, offsetof(struct mdt_event, x))
int main(void) {
  printf("{");
  F(pid); F(key_hash); F(flags); F(arg_kind); F(stack_len); F(key_bytes); F(key);
  printf("\\"stat_count\\":%d,\\"f_key_captured\\":%d,\\"size\\":%zu}\\n", MDT_STAT__COUNT, MDT_F_KEY_CAPTURED, sizeof(struct mdt_event));
  return 0;
}
`,
  );
  const exe = path.join(dir, 'layout');
  const cc = spawnSync('cc', ['-I', path.join(ROOT, 'bpf'), '-o', exe, src], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cannot compile the layout probe: ${cc.stderr}`);
  return JSON.parse(spawnSync(exe, { encoding: 'utf8' }).stdout) as Layout;
}

/** A BPF object whose program dereferences a random number: the verifier says no. */
function buildRejectedProgram(dir: string): string {
  const src = path.join(dir, 'rejected.bpf.c');
  fs.writeFileSync(
    src,
    `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
SEC("uprobe")
int rejected(void *ctx)
{
\treturn *(int *)(long)bpf_get_prandom_u32();
}
`,
  );
  const out = path.join(dir, 'rejected.bpf.o');
  const clang = ['clang-16', 'clang'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!clang) throw new Error('no clang to build the rejected BPF program (bpf/ needs it too)');
  const r = spawnSync(clang, ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${os.arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, '-c', src, '-o', out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot build the rejected BPF program: ${r.stderr}`);
  return out;
}

/** FNV-1a 64 over the key bytes, as bpf/map_delete.bpf.c computes it (keys ≤ 128 bytes). */
function fnv1a64(bytes: Buffer): bigint {
  let h = 0xcbf29ce484222325n;
  for (const c of bytes) h = BigInt.asUintN(64, (h ^ BigInt(c)) * 0x100000001b3n);
  return h;
}

/** The Go program, driven one round (N inserts + N deletes) per line on stdin. */
class GoChild {
  readonly proc: ChildProcess;
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;

  private constructor(bin: string) {
    this.proc = spawn(bin, [String(N)], { stdio: ['pipe', 'pipe', 'inherit'] });
    readline.createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      this.lines.push(l);
      this.wake?.();
    });
  }

  static async start(bin: string): Promise<GoChild> {
    const c = new GoChild(bin);
    assert.equal(await c.nextLine(), 'ready');
    return c;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  async nextLine(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null)
        throw new Error(`Go child ${this.pid} exited (${this.proc.exitCode ?? this.proc.signalCode})`);
      if (Date.now() > deadline) throw new Error(`Go child ${this.pid} said nothing for ${timeoutMs} ms`);
      await new Promise<void>((res) => {
        this.wake = res;
        setTimeout(res, 50);
      });
    }
    return this.lines.shift()!;
  }

  async round(): Promise<void> {
    this.proc.stdin!.write('\n');
    assert.equal(await this.nextLine(), 'done 0');
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) process.kill(this.pid, 'SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------
// kernel-side observations

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
}

/** Sum of one per-CPU u64 counter of the `stats` map. */
function stat(obj: BpfObject, idx: number): bigint {
  const v = obj.mapLookup('stats', u32(idx));
  assert.ok(v, `stats[${idx}] exists`);
  let sum = 0n;
  for (let off = 0; off < v.length; off += 8) sum += v.readBigUInt64LE(off);
  return sum;
}

/** The byte at `vaddr` in a live process: 0xcc while a uprobe is installed there. */
function textByte(pid: number, vaddr: bigint): number {
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, Number(vaddr));
    return b[0];
  } finally {
    fs.closeSync(fd);
  }
}

interface PerfEntry {
  pid: number;
  fd_type: string;
  filename?: string;
  offset?: number;
}

/** `bpftool perf show`: BPF programs attached through perf events (our uprobes), or undefined
 *  when bpftool is not installed. */
function perfAttachments(filename: string): PerfEntry[] | undefined {
  const r = spawnSync('bpftool', ['perf', 'show', '--json'], { encoding: 'utf8' });
  if (r.error) return undefined;
  assert.equal(r.status, 0, `bpftool perf show: ${r.stderr}`);
  return (JSON.parse(r.stdout || '[]') as PerfEntry[]).filter((e) => e.filename === filename);
}

function tracefsUprobeLines(needle: string): string[] {
  for (const f of ['/sys/kernel/tracing/uprobe_events', '/sys/kernel/debug/tracing/uprobe_events']) {
    try {
      return fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.includes(needle));
    } catch {
      /* tracefs not mounted there */
    }
  }
  return [];
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a Node script in a child process; resolves on the first stdout line. */
function startNodeChild(script: string, args: string[], nodeArgs: string[] = []): Promise<{ proc: ChildProcess; line: string }> {
  const proc = spawn(process.execPath, [...nodeArgs, '-e', script, '--', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).once('line', (line) => resolve({ proc, line }));
    proc.once('exit', (code, sig) => reject(new Error(`node child exited early (${code ?? sig}): ${stderr}`)));
  });
}

function exited(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  return new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
}

// ---------------------------------------------------------------------------------------------

describe('native addon on the real kernel (e2e)', function () {
  this.timeout(60_000);

  let native: Native;
  let tmp: string;
  let bin: string;
  let vaddr: bigint;
  let offset: number;
  let layout: Layout;
  let child: GoChild;
  let obj: BpfObject; // capture_keys=1, stack_depth=4, and no wakeups: records arrive by timeout
  const cleanups: Array<() => void> = [];

  /** A loaded object with the given consts; closed after the suite. */
  function openLoaded(consts: Record<string, Buffer> = {}, maxEntries: Record<string, number> = {}): BpfObject {
    const o = native.open(BPF_OBJ);
    cleanups.push(() => o.close());
    for (const [k, v] of Object.entries(consts)) o.setConst(k, v);
    for (const [k, v] of Object.entries(maxEntries)) o.setMapMaxEntries(k, v);
    o.load();
    return o;
  }

  before(async function () {
    this.timeout(300_000); // a cold Go build cache
    const missing = missingCapability();
    if (missing) skipOrFail(this, missing);
    // Build products are the build's job: their absence is a failure, not a skip.
    assert.ok(fs.existsSync(nativeAddonPath()), `native addon not built (${nativeAddonPath()}): run \`npm run build\``);
    assert.ok(fs.existsSync(BPF_OBJ), `BPF object not built (${BPF_OBJ}): run \`npm run build:bpf\``);
    native = loadNative();

    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-addon-e2e-'));
    const go = findGo()!;
    bin = buildGo(go, tmp);
    vaddr = pushRbpVaddr(go, bin);
    offset = fileOffset(bin, vaddr);
    layout = recordLayout(tmp);

    try {
      obj = openLoaded({
        capture_keys: Buffer.from([1]),
        stack_depth: u32(4),
        wakeup_bytes: u64(1n << 62n),
      });
    } catch (e) {
      if (isNativeError(e) && (e.code === 'EPERM' || e.code === 'EACCES')) skipOrFail(this, `BPF not permitted here: ${e.message}`);
      throw e;
    }
    child = await GoChild.start(bin);
  });

  after(function () {
    child?.kill();
    for (const c of cleanups.reverse()) {
      try {
        c();
      } catch {
        /* best effort */
      }
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('reports libbpf version, possible CPUs and the clock offset', function () {
    assert.match(native.libbpfVersion(), /^v?\d+\.\d+/);
    const ncpu = native.numPossibleCpus();
    assert.ok(Number.isInteger(ncpu) && ncpu >= os.cpus().length, `numPossibleCpus ${ncpu}`);
    const a = native.clockOffsetNs();
    const b = native.clockOffsetNs();
    const mono = process.hrtime.bigint(); // CLOCK_MONOTONIC
    const wall = BigInt(Date.now()) * 1_000_000n;
    const d = wall - (mono + a);
    assert.ok(d > -50_000_000n && d < 50_000_000n, `mono + offset is within 50 ms of Date.now() (off by ${d} ns)`);
    const drift = a > b ? a - b : b - a;
    assert.ok(drift < 1_000_000n, `two measurements agree within 1 ms (${drift} ns)`);
  });

  it('reads and writes maps', function () {
    const ncpu = native.numPossibleCpus();
    assert.deepEqual(obj.mapInfo('events').type, BpfMapType.RINGBUF);
    assert.deepEqual(obj.mapInfo('stats'), { type: BpfMapType.PERCPU_ARRAY, keySize: 4, valueSize: 8, maxEntries: layout.stat_count });
    assert.deepEqual(obj.mapInfo('key_filter'), { type: BpfMapType.HASH, keySize: 8, valueSize: 1, maxEntries: 256 });
    assert.equal(obj.mapLookup('stats', u32(0))!.length, ncpu * 8);
    assert.equal(obj.mapLookup('scratch', u32(0))!.length, ncpu * 128);
    assert.equal(obj.mapKeys('stats').length, layout.stat_count);

    const k = u64(0x1234_5678_9abc_def0n);
    assert.equal(obj.mapLookup('key_filter', k), null);
    obj.mapUpdate('key_filter', k, Buffer.from([7]));
    assert.deepEqual(obj.mapLookup('key_filter', k), Buffer.from([7]));
    assert.throws(() => obj.mapUpdate('key_filter', k, Buffer.from([1]), 1 /* BPF_NOEXIST */), { code: 'EEXIST' });
    assert.deepEqual(obj.mapKeys('key_filter'), [k]);
    assert.equal(obj.mapDelete('key_filter', k), true);
    assert.equal(obj.mapDelete('key_filter', k), false);
    assert.deepEqual(obj.mapKeys('key_filter'), []);
  });

  it('throws Errors that name the operation and carry .code/.errno', function () {
    const fresh = native.open(BPF_OBJ);
    cleanups.push(() => fresh.close());
    assert.throws(() => fresh.setConst('stack_depth', Buffer.alloc(8)), (e: unknown) => {
      assert.ok(isNativeError(e));
      assert.equal(e.code, 'EINVAL');
      assert.equal(e.errno, 22);
      assert.match(e.message, /^setConst\(stack_depth\): .*8 bytes.*4 bytes/);
      return true;
    });
    assert.throws(() => fresh.setConst('no_such_global', Buffer.alloc(1)), { code: 'ENOENT' });
    assert.throws(() => fresh.mapLookup('stats', u32(0)), { code: 'EINVAL', message: /not loaded/ });
    assert.throws(() => fresh.attachUprobe(PROG, bin, offset, -1, COOKIE), { code: 'EINVAL', message: /not loaded/ });
    assert.throws(() => fresh.setMapMaxEntries('no_such_map', 1), { code: 'ENOENT' });

    assert.throws(() => native.open(path.join(tmp, 'missing.bpf.o')), { code: 'ENOENT', message: /^open\(/ });
    assert.throws(() => obj.setConst('stack_depth', u32(1)), { code: 'EBUSY' });
    assert.throws(() => obj.load(), { code: 'EBUSY' });
    assert.throws(() => obj.mapLookup('no_such_map', u32(0)), { code: 'ENOENT' });
    assert.throws(() => obj.mapLookup('stats', Buffer.alloc(8)), { code: 'EINVAL' });
    assert.throws(() => obj.detach(987654), { code: 'ENOENT' });
    assert.throws(() => obj.startRingBuffer('stats', () => {}), { code: 'EINVAL' });
    assert.throws(() => obj.attachUprobe('no_such_prog', bin, offset, -1, COOKIE), { code: 'ENOENT' });
    assert.throws(() => obj.attachUprobe(PROG, '/nonexistent/mdt/binary', 0x1234, 42, COOKIE), (e: unknown) => {
      assert.ok(isNativeError(e));
      assert.equal(e.code, 'ENOENT');
      assert.equal(e.errno, 2);
      assert.match(e.message, /^attachUprobe\(\/nonexistent\/mdt\/binary, 0x1234, pid 42\): No such file or directory/);
      return true;
    });
    // pid_max is at most 2^22, so this pid cannot exist.
    assert.throws(() => obj.attachUprobe(PROG, bin, offset, 2_000_000_000, COOKIE), { code: 'ESRCH' });
    assert.equal(obj.linkCount(), 0);

    // A program the verifier rejects: the Error carries libbpf's lines and the verifier log.
    const bad = native.open(buildRejectedProgram(tmp));
    cleanups.push(() => bad.close());
    assert.throws(() => bad.load(), (e: unknown) => {
      assert.ok(isNativeError(e));
      assert.equal(e.code, 'EACCES');
      assert.match(e.message, /^load\(.*rejected\.bpf\.o\): Permission denied\nlibbpf: /);
      assert.match(e.message, /BEGIN PROG LOAD LOG[\s\S]*invalid mem access/);
      assert.ok(e.libbpfLog?.includes('invalid mem access'));
      return true;
    });
  });

  it('delivers exactly one record per delete, counts them, and stops after detach', async function () {
    const hits0 = stat(obj, STAT_HITS);
    const emitted0 = stat(obj, STAT_EMITTED);
    const records: Buffer[] = [];
    const kept: Buffer[] = [];
    let batches = 0;
    obj.startRingBuffer(
      'events',
      (batch, n) => {
        batches++;
        kept.push(batch);
        assert.equal(forEachRecord(batch, (b, off) => records.push(Buffer.from(b.subarray(off, off + b.readUInt32LE(off - 4))))), n);
      },
      { pollTimeoutMs: 50 },
    );
    try {
      assert.equal(textByte(child.pid, vaddr), PUSH_RBP);
      const link = obj.attachUprobe(PROG, bin, offset, child.pid, COOKIE);
      assert.equal(obj.linkCount(), 1);
      assert.equal(textByte(child.pid, vaddr), INT3, 'the kernel put its breakpoint on PUSHQ BP');

      await child.round();
      // The BPF side never wakes us (wakeup_bytes is huge): records arrive by the timed consume.
      await waitFor(`${N} records`, () => records.length >= N);
      await sleep(200);
      assert.equal(records.length, N, 'exactly N records');
      assert.ok(batches >= 1);
      // A batch lives only during its callback: its memory went back to the reader's pool.
      assert.deepEqual(kept.map((b) => b.length), kept.map(() => 0), 'batches are detached once onBatch returned');

      const keysSeen = new Set<bigint>();
      for (const r of records) {
        assert.equal(r.length, layout.size, 'record size = sizeof(struct mdt_event)');
        assert.equal(r.readUInt32LE(layout.pid), child.pid);
        assert.equal(r[layout.arg_kind], Number(MDT_ARGS_KEY64));
        assert.ok(r.readUInt16LE(layout.flags) & layout.f_key_captured, 'capture_keys const took effect');
        assert.equal(r.readUInt16LE(layout.key_bytes), 8);
        const key = r.subarray(layout.key, layout.key + 8);
        assert.equal(r.readBigUInt64LE(layout.key_hash), fnv1a64(key));
        const stackLen = r.readUInt16LE(layout.stack_len);
        assert.ok(stackLen >= 1 && stackLen <= 4, `stack_depth const took effect (stack_len ${stackLen})`);
        keysSeen.add(key.readBigInt64LE(0));
      }
      assert.equal(keysSeen.size, N);
      for (let i = 0; i < N; i++) assert.ok(keysSeen.has(BigInt(i)), `key ${i} seen`);

      assert.equal(stat(obj, STAT_HITS) - hits0, BigInt(N));
      assert.equal(stat(obj, STAT_EMITTED) - emitted0, BigInt(N));
      assert.equal(stat(obj, STAT_LOST), 0n);

      obj.detach(link);
      assert.equal(obj.linkCount(), 0);
      assert.equal(textByte(child.pid, vaddr), PUSH_RBP, 'breakpoint removed on detach');
      await child.round();
      await sleep(200);
      assert.equal(records.length, N, 'no records after detach');
      assert.equal(stat(obj, STAT_HITS) - hits0, BigInt(N), 'no hits after detach');
    } finally {
      obj.detachAll();
      await obj.stopRingBuffer();
    }
  });

  it('stopRingBuffer drains what is still in the ring before it resolves', async function () {
    let received = 0;
    obj.startRingBuffer('events', (_b, n) => (received += n), { pollTimeoutMs: 10_000 });
    const link = obj.attachUprobe(PROG, bin, offset, child.pid, COOKIE);
    await child.round();
    obj.detach(link);
    await sleep(100);
    // No wakeups and a 10 s poll timeout: the records are still in the ring.
    assert.equal(received, 0);
    const t0 = Date.now();
    await obj.stopRingBuffer();
    assert.equal(received, N, 'every record was delivered before the promise resolved');
    assert.ok(Date.now() - t0 < 2000, `stop is prompt (${Date.now() - t0} ms), not a poll timeout`);
    await obj.stopRingBuffer(); // nothing running: resolves at once
    // A new reader can start after the old one stopped.
    obj.startRingBuffer('events', () => {});
    assert.throws(() => obj.startRingBuffer('events', () => {}), { code: 'EBUSY' });
    await obj.stopRingBuffer();
  });

  it('close() detaches everything and is idempotent', async function () {
    const o = openLoaded();
    let received = 0;
    o.startRingBuffer('events', (_b, n) => (received += n), { pollTimeoutMs: 10_000 });
    o.attachUprobe(PROG, bin, offset, child.pid, COOKIE);
    o.attachUprobe(PROG, bin, offset, -1, COOKIE);
    assert.equal(o.linkCount(), 2);
    await child.round();
    o.close();
    o.close();
    assert.equal(o.linkCount(), 0);
    assert.equal(textByte(child.pid, vaddr), PUSH_RBP);
    assert.throws(() => o.mapInfo('stats'), { code: 'EBADF' });
    // close() drained the ring; those batches arrive from the event loop.
    await waitFor('drained batches', () => received === 2 * N);
  });

  it('leaves no probe behind when the holding process is killed with SIGKILL', async function () {
    const script = `
      const n = require(process.argv[1]);
      const o = n.open(process.argv[2]);
      o.load();
      o.attachUprobe('mdt_delete', process.argv[3], Number(process.argv[4]), -1, 3n);
      o.startRingBuffer('events', () => {});
      console.log('attached');`;
    const { proc, line } = await startNodeChild(script, [nativeAddonPath(), BPF_OBJ, bin, String(offset)]);
    try {
      assert.equal(line, 'attached');
      assert.equal(textByte(child.pid, vaddr), INT3);
      const before = perfAttachments(bin);
      if (before) assert.ok(before.some((e) => e.pid === proc.pid && e.fd_type === 'uprobe' && e.offset === offset), JSON.stringify(before));
      process.kill(proc.pid!, 'SIGKILL');
      assert.equal((await exited(proc)).signal, 'SIGKILL');
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid!, 'SIGKILL');
    }
    assert.equal(textByte(child.pid, vaddr), PUSH_RBP, 'the kernel removed the breakpoint');
    const after = perfAttachments(bin);
    if (after) assert.deepEqual(after, [], 'bpftool perf shows nothing left');
    assert.deepEqual(tracefsUprobeLines(bin), [], 'no tracefs uprobe_events left');
    await child.round(); // the Go program runs on unharmed (a stale int3 would SIGTRAP it)
  });

  it('cleans up a collected object, a terminated worker and process.exit()', async function () {
    // 1. Garbage collection closes the object.
    const gcScript = `
      const n = require(process.argv[1]);
      (() => {
        const o = n.open(process.argv[2]);
        o.load();
        o.attachUprobe('mdt_delete', process.argv[3], Number(process.argv[4]), -1, 3n);
      })();
      (async () => {
        for (let i = 0; i < 10; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
        console.log('collected');
        setInterval(() => {}, 1000);
      })();`;
    const gc = await startNodeChild(gcScript, [nativeAddonPath(), BPF_OBJ, bin, String(offset)], ['--expose-gc']);
    try {
      assert.equal(gc.line, 'collected');
      assert.equal(textByte(child.pid, vaddr), PUSH_RBP, 'probe removed by the finalizer');
      const left = perfAttachments(bin);
      if (left) assert.deepEqual(left.filter((e) => e.pid === gc.proc.pid), []);
    } finally {
      process.kill(gc.proc.pid!, 'SIGKILL');
      await exited(gc.proc);
    }

    // 2. A worker thread's environment is torn down: the cleanup hook detaches and joins.
    const worker = new Worker(
      `const { parentPort, workerData: w } = require('worker_threads');
       const n = require(w.addon);
       const o = n.open(w.obj);
       o.load();
       o.attachUprobe('mdt_delete', w.bin, w.offset, -1, 3n);
       o.startRingBuffer('events', () => {});
       parentPort.postMessage('attached');`,
      { eval: true, workerData: { addon: nativeAddonPath(), obj: BPF_OBJ, bin, offset } },
    );
    assert.equal(await new Promise((r, j) => worker.once('message', r).once('error', j)), 'attached');
    assert.equal(textByte(child.pid, vaddr), INT3);
    await worker.terminate();
    assert.equal(textByte(child.pid, vaddr), PUSH_RBP, 'worker teardown removed the probe');

    // 3. process.exit() with a reader running and nothing closed: exits cleanly and promptly.
    const exitScript = `
      const n = require(process.argv[1]);
      const o = n.open(process.argv[2]);
      o.load();
      o.attachUprobe('mdt_delete', process.argv[3], Number(process.argv[4]), -1, 3n);
      o.startRingBuffer('events', () => {});
      console.log('attached');
      setTimeout(() => process.exit(0), 100);`;
    const ex = await startNodeChild(exitScript, [nativeAddonPath(), BPF_OBJ, bin, String(offset)]);
    const t0 = Date.now();
    const res = await exited(ex.proc);
    assert.deepEqual(res, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(textByte(child.pid, vaddr), PUSH_RBP);
    await child.round();
  });

  it('bounds memory when JS is slower than the producer (BPF side counts the losses)', async function () {
    // A 1 MiB ring, batches of ~64 KiB, at most 64 KiB pending, and a callback that stalls:
    // the reader must stop consuming, the ring must fill and the BPF side must count losses.
    const o = openLoaded({}, { events: 1 << 20 });
    let received = 0;
    o.startRingBuffer(
      'events',
      (_b, n) => {
        received += n;
        const until = Date.now() + 20;
        while (Date.now() < until); // a slow consumer
      },
      { pollTimeoutMs: 10, maxBatchBytes: 64 << 10, maxPendingBytes: 64 << 10 },
    );
    const big = await GoChild.start(bin);
    try {
      o.attachUprobe(PROG, bin, offset, big.pid, COOKIE);
      for (let i = 0; i < 20; i++) await big.round(); // 20 000 records ≈ 9 MiB through a 1 MiB ring
      o.detachAll();
      await o.stopRingBuffer();
    } finally {
      big.kill();
    }
    const emitted = stat(o, STAT_EMITTED);
    const lost = stat(o, STAT_LOST);
    assert.equal(stat(o, STAT_HITS), 20n * BigInt(N));
    assert.equal(emitted + lost, 20n * BigInt(N));
    assert.ok(lost > 0n, 'the ring filled up');
    assert.equal(BigInt(received), emitted, 'every record the BPF side committed reached JS');
  });

  it('sustains a high record rate through the ring buffer (measured)', async function () {
    // Fill a large ring with no reader running, then time how fast the reader empties it into JS.
    const RING = 128 << 20;
    const o = openLoaded({}, { events: RING });
    const fill = await GoChild.start(bin);
    const rounds = 100; // 100 000 records ≈ 47 MiB
    try {
      o.attachUprobe(PROG, bin, offset, fill.pid, COOKIE);
      for (let i = 0; i < rounds; i++) await fill.round();
      o.detachAll();
    } finally {
      fill.kill();
    }
    assert.equal(stat(o, STAT_LOST), 0n);
    let received = 0;
    let bytes = 0;
    const t0 = process.hrtime.bigint();
    o.startRingBuffer('events', (b, n) => {
      received += n;
      bytes += b.length;
    });
    await waitFor('the filled ring to drain', () => received === rounds * N, 20_000);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    await o.stopRingBuffer();
    const rate = Math.round(received / secs);
    console.log(`      ring buffer → JS: ${received} records (${(bytes / 2 ** 20).toFixed(1)} MiB) in ${(secs * 1000).toFixed(1)} ms = ${rate.toLocaleString('en-US')} records/s`);
    assert.ok(rate > 100_000, `at least 100k records/s (${rate})`);
  });
});
