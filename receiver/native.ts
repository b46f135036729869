/**
 * The typed surface of the native addon (addon/, built to addon/build/Release/mdt_native.node).
 *
 * The addon is a thin, generic libbpf wrapper: open/load a BPF object, set its globals, attach
 * uprobes, read and write maps, and read a ring buffer on a native thread. It knows nothing about
 * Go or about the record layout (that is receiver/events/). Every failure throws a
 * {@link NativeError}: the message names the operation and the reason
 * (`attachUprobe(/bin/x, 0x1234, pid 42): Operation not permitted`), `.code` is the errno name
 * and `.errno` the positive errno.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface RingBufferOptions {
  /** epoll timeout of the native thread, ms (default 100). Also bounds how late a record that
   *  was submitted without a wakeup reaches JS, and how long stopping can take. */
  pollTimeoutMs?: number;
  /** Hand a batch to JS once this many bytes are collected (default 1 MiB). */
  maxBatchBytes?: number;
  /** Batches handed to JS but not yet processed by onBatch (default 64 MiB). Past this the
   *  thread stops consuming: the ring buffer fills and the BPF side counts the losses. */
  maxPendingBytes?: number;
}

export interface MapInfo {
  /** enum bpf_map_type, see {@link BpfMapType} */
  type: number;
  keySize: number;
  valueSize: number;
  /** for ring buffers: the size in bytes */
  maxEntries: number;
}

/**
 * Receives one batch of ring-buffer records. Layout: repeated
 * `[u32 LE length][record bytes][zero padding]`, each entry padded to a multiple of 8 bytes
 * (so every entry starts 8-aligned). Walk it with forEachRecord in events/decode.ts; `records` is the
 * number of entries. The Buffer is valid only during the call: it is detached when the callback
 * returns (its memory goes back to the reader's pool) and reads as empty afterwards, so copy what
 * you keep.
 */
export type BatchCallback = (batch: Buffer, records: number) => void;

export interface BpfObject {
  /** Write a .rodata/.data/.bss global by its BTF name before load(); the size must match the
   *  variable's BTF size (EINVAL otherwise; ENOENT for an unknown name; EBUSY after load). */
  setConst(name: string, value: Buffer): void;
  /** Before load(); for ring buffers n is the size in bytes (a power of 2, multiple of the page). */
  setMapMaxEntries(mapName: string, n: number): void;
  /** On failure the Error message includes libbpf's lines, including the verifier log; the
   *  untrimmed log is also on `err.libbpfLog`. A failed load cannot be retried: close(). */
  load(): void;
  /** Returns a link id. pid -1 = every process (0 would mean this process, libbpf's rule).
   *  fileOffset is a file offset (vaddr − p_vaddr + p_offset), not a virtual address. */
  attachUprobe(progName: string, binaryPath: string, fileOffset: number, pid: number, cookie: bigint): number;
  detach(linkId: number): void;
  detachAll(): void;
  linkCount(): number;
  /** null if absent. Per-CPU maps return numPossibleCpus * roundup(valueSize, 8) bytes. */
  mapLookup(mapName: string, key: Buffer): Buffer | null;
  /** flags: {@link BPF_ANY} (default), {@link BPF_NOEXIST}, {@link BPF_EXIST}. */
  mapUpdate(mapName: string, key: Buffer, value: Buffer, flags?: number): void;
  /** false if the key was absent. */
  mapDelete(mapName: string, key: Buffer): boolean;
  /** At most maxEntries keys; a hash map changing during the walk may repeat or skip keys. */
  mapKeys(mapName: string): Buffer[];
  mapInfo(mapName: string): MapInfo;
  /** One reader per object (EBUSY otherwise). While it runs the object is kept alive and the
   *  event loop stays referenced, until stopRingBuffer() or close(). */
  startRingBuffer(mapName: string, onBatch: BatchCallback, opts?: RingBufferOptions): void;
  /** Stops the native thread after draining every record still in the ring buffer; resolves
   *  once the last batch was delivered to onBatch. Resolves at once if no reader runs. */
  stopRingBuffer(): Promise<void>;
  /** Stops the reader (draining; those batches still reach onBatch from the event loop),
   *  detaches all links, closes the object. Idempotent. */
  close(): void;
}

export interface Native {
  /** bpf_object__open_file */
  open(objPath: string): BpfObject;
  numPossibleCpus(): number;
  /** CLOCK_REALTIME − CLOCK_MONOTONIC in ns: wall time of a kernel timestamp = ts + offset. */
  clockOffsetNs(): bigint;
  /** libbpf's version string, e.g. "v1.1" */
  libbpfVersion(): string;
}

/** What every addon failure throws. */
export interface NativeError extends Error {
  /** errno name: "EPERM", "ENOENT", "ESRCH", "EINVAL", … */
  code: string;
  /** positive errno */
  errno: number;
  /** libbpf's lines printed during the failing call, untrimmed (e.g. the verifier log) */
  libbpfLog?: string;
}

export function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && typeof (e as NativeError).code === 'string' && typeof (e as NativeError).errno === 'number';
}

/** enum bpf_map_type values that mapInfo().type may report for this project's maps. */
export const BpfMapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  RINGBUF: 27,
} as const;

/** mapUpdate flags */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

/** Batch framing: a u32 length before each record, entries padded to this alignment. */

const ADDON_REL = path.join('addon', 'build', 'Release', 'mdt_native.node');

/** The addon's path: $MDT_NATIVE_ADDON, else the first addon/build/Release above this file
 *  (works from receiver/ under tsx and from dist/receiver/ after tsc). */
export function nativeAddonPath(): string {
  const override = process.env.MDT_NATIVE_ADDON;
  if (override) return path.resolve(override);
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, ADDON_REL);
    if (fs.existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return path.join(path.resolve(__dirname, '..'), ADDON_REL);
    dir = parent;
  }
}

let cached: Native | undefined;

/** Loads the addon once per process (per worker). */
export function loadNative(): Native {
  if (cached) return cached;
  const file = nativeAddonPath();
  if (!fs.existsSync(file)) {
    throw new Error(`native addon not built: run \`npm run build\` (looked for ${file})`);
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    cached = require(file) as Native;
  } catch (e) {
    const err = new Error(`cannot load native addon ${file}: ${(e as Error).message}` +
      ' (rebuild it with `npm run build:addon`; it needs libbpf, libelf and zlib at run time)');
    (err as Error & { cause?: unknown }).cause = e;
    throw err;
  }
  return cached;
}
