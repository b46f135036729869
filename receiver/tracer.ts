/**
 * One tracing run: resolve targets, load and attach, stream records through decode → enrich →
 * sink, follow processes coming and going, and stop cleanly (drain, detach) on exit, error,
 * duration or signal.
 */
import { BpfSession, type KernelCounters } from './attach/session';
import { planForExe, planForPid, sameBinary, type BinaryPlan } from './attach/targets';
import { argKindCode, cookie, functionId } from './attach/functions';
import { exeIdentity, listPids, loadBias, processExists, readMaps } from './attach/procfs';
import { decodeRecord, forEachRecord } from './events/decode';
import { Enricher, type ProcessView } from './events/enrich';
import { hashesForKeyFilter } from './events/keyhash';
import type { DeleteEvent } from './events/types';
import { UserError, errnoCode } from './util/errors';
import { globToRegExp } from './util/glob';

export interface TracerOptions {
  pids: number[];
  exes: string[];
  captureKeys: boolean;
  key?: string;
  mapType?: string;
  durationSec?: number;
  stackDepth: number;
  ringBufferBytes?: number;
}

export interface TracerSummary {
  /** Events handed to the sink. */
  delivered: number;
  /** Records dropped by the map-type filter in user space. */
  filteredUser: number;
  /** Records that could not be processed (counted, never silent). */
  failed: number;
  kernel: KernelCounters;
  /** Every delete the probes saw but nobody received: ring-buffer overflow, and anything lost after. */
  lost: bigint;
  processes: number;
}

export type Sink = (e: DeleteEvent) => void;
export type Logger = (line: string) => void;

interface Attached {
  plan: BinaryPlan;
  /** Set for --pid targets; undefined for --exe (every process of the binary). */
  pid?: number;
  links: number[];
}

export class Tracer {
  private session?: BpfSession;
  private readonly attached: Attached[] = [];
  private readonly views = new Map<number, ProcessView | null>();
  private readonly seenPids = new Set<number>();
  private enricher?: Enricher;
  private readonly mapTypeRe?: RegExp;
  private delivered = 0;
  private filteredUser = 0;
  private failed = 0;
  private stopResolve?: () => void;
  private readonly stopped: Promise<void>;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly opts: TracerOptions,
    private readonly sink: Sink,
    private readonly log: Logger,
  ) {
    if (opts.pids.length === 0 && opts.exes.length === 0) {
      throw new UserError('nothing to trace: pass --pid PID or --exe PATH');
    }
    if (opts.mapType !== undefined) this.mapTypeRe = globToRegExp(opts.mapType);
    this.stopped = new Promise((resolve) => (this.stopResolve = resolve));
  }

  /** Ends the run: the promise from run() resolves once everything queued is delivered. */
  stop(): void {
    this.stopResolve?.();
  }

  async run(): Promise<TracerSummary> {
    // Analyse every binary before touching the kernel: bad input fails fast and cheaply.
    const exePlans = this.opts.exes.map((p) => planForExe(p));
    const pidPlans = this.opts.pids.map((pid) => ({ pid, plan: planForPid(pid) }));

    // Lets the test suite make a target exit between analysis and attach, deterministically.
    const pause = Number(process.env.MAP_DELETE_TRACER_TEST_PAUSE_BEFORE_ATTACH_MS ?? 0);
    if (pause > 0) {
      this.log(`test hook: pausing ${pause} ms before attaching`);
      await new Promise((r) => setTimeout(r, pause));
    }

    this.session = BpfSession.open({
      captureKeys: this.opts.captureKeys,
      keyHashes: this.opts.key !== undefined ? hashesForKeyFilter(this.opts.key) : undefined,
      stackDepth: this.opts.stackDepth,
      ringBufferBytes: this.opts.ringBufferBytes ?? 16 << 20,
      wakeupBytes: 256 * 1024,
    });
    try {
      this.enricher = new Enricher(this.session.native.clockOffsetNs());
      for (const plan of exePlans) this.attachPlan(plan, undefined);
      for (const { pid, plan } of pidPlans) {
        // A --pid whose binary is also an --exe target is already covered: attaching again would double its events.
        if (exePlans.some((e) => sameBinary(e.identity, plan.identity))) continue;
        this.attachPlan(plan, pid);
        this.registerProcess(pid, plan);
      }
      this.discover();
      this.session.start((batch) => this.onBatch(batch));
      this.startTimers();
      await this.stopped;
      return await this.finish();
    } catch (err) {
      this.teardown();
      throw err;
    }
  }

  private attachPlan(plan: BinaryPlan, pid: number | undefined): void {
    const session = this.session!;
    const entry: Attached = { plan, pid, links: [] };
    this.attached.push(entry);
    for (const point of plan.points) {
      const c = cookie(argKindCode(point.argKind), functionId(point.function), plan.goidOffset);
      const path = pid !== undefined ? `/proc/${pid}/exe` : plan.displayPath;
      try {
        entry.links.push(session.attach({ path, fileOffset: point.fileOffset, pid: pid ?? -1, cookie: c }));
      } catch (err) {
        const target = pid !== undefined ? `PID ${pid}` : plan.displayPath;
        if (pid !== undefined && !processExists(pid)) throw new UserError(`process ${pid} exited while attaching`);
        if (errnoCode(err) === 'EPERM' || errnoCode(err) === 'EACCES') {
          throw new UserError(
            `attaching to ${target} was refused (${(err as Error).message}): run as root or with CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE`,
            77,
          );
        }
        throw new UserError(`cannot attach to ${point.function} in ${target}: ${(err as Error).message}`);
      }
    }
    this.log(
      `attached ${entry.links.length} probes to ${pid !== undefined ? `PID ${pid} ` : 'every process of '}${plan.displayPath} (${plan.binary.goVersion}, ${plan.binary.mapImpl} maps)`,
    );
  }

  /** Remembers where a process's binary is mapped, so its addresses can be symbolized after it exits. */
  private registerProcess(pid: number, plan: BinaryPlan): ProcessView | null {
    let bias: number | undefined = plan.binary.isPIE ? undefined : 0;
    if (bias === undefined) {
      try {
        bias = loadBias(readMaps(pid), plan.identity.ino, plan.binary.loadSegments());
      } catch {
        bias = undefined;
      }
    }
    const view = bias === undefined ? null : { binary: plan.binary, bias };
    this.views.set(pid, view);
    this.seenPids.add(pid);
    return view;
  }

  /** --exe targets: find running processes of the binaries (new ones show up here within 250 ms). */
  private discover(): void {
    const exeTargets = this.attached.filter((a) => a.pid === undefined);
    if (exeTargets.length === 0) return;
    for (const pid of listPids()) {
      if (this.views.has(pid)) continue;
      const id = exeIdentity(pid);
      if (!id) continue;
      const target = exeTargets.find((a) => sameBinary(a.plan.identity, id));
      if (target) {
        this.registerProcess(pid, target.plan);
        this.log(`tracing PID ${pid} (${target.plan.displayPath})`);
      }
    }
  }

  private viewFor(pid: number): ProcessView | null {
    const known = this.views.get(pid);
    if (known !== undefined) return known;
    // A process of an --exe binary that started and deleted before discovery saw it.
    const id = exeIdentity(pid);
    const target = id && this.attached.find((a) => a.pid === undefined && sameBinary(a.plan.identity, id));
    if (target) return this.registerProcess(pid, target.plan);
    // Gone already: a non-PIE binary still symbolizes; a PIE one has lost its slide.
    const only = this.attached.filter((a) => a.pid === undefined);
    if (only.length === 1 && !only[0].plan.binary.isPIE) {
      const view = { binary: only[0].plan.binary, bias: 0 };
      this.views.set(pid, view);
      this.seenPids.add(pid);
      return view;
    }
    this.views.set(pid, null);
    return null;
  }

  private onBatch(batch: Buffer): void {
    forEachRecord(batch, (buf, off) => {
      try {
        this.onRecord(buf, off);
      } catch (err) {
        // One bad record must not end the run; it is counted and the first one is shown.
        if (this.failed++ === 0) this.log(`cannot process a record: ${(err as Error).stack ?? err}`);
      }
    });
  }

  private onRecord(buf: Buffer, off: number): void {
    {
      const raw = decodeRecord(buf, off);
      const view = this.viewFor(raw.pid);
      if (!view) {
        this.filteredUser++;
        return;
      }
      const event = this.enricher!.enrich(raw, view);
      if (this.mapTypeRe && !this.mapTypeRe.test(event.map.type)) {
        this.filteredUser++;
        return;
      }
      this.delivered++;
      this.sink(event);
    }
  }

  private startTimers(): void {
    const pidTargets = this.attached.filter((a) => a.pid !== undefined).map((a) => a.pid!);
    const hasExe = this.attached.some((a) => a.pid === undefined);
    this.timers.push(
      setInterval(() => {
        if (hasExe) this.discover();
        if (!hasExe && pidTargets.every((pid) => !processExists(pid))) {
          this.log('every traced process has exited');
          this.stop();
        }
      }, 200),
    );
    if (this.opts.durationSec !== undefined) {
      this.timers.push(setTimeout(() => this.stop(), this.opts.durationSec * 1000));
    }
  }

  private async finish(): Promise<TracerSummary> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const session = this.session!;
    await session.drain();
    const kernel = session.counters();
    this.teardown();
    const received = BigInt(this.delivered + this.filteredUser + this.failed);
    const lostAfterKernel = kernel.emitted > received ? kernel.emitted - received : 0n;
    return {
      delivered: this.delivered,
      filteredUser: this.filteredUser,
      failed: this.failed,
      kernel,
      lost: kernel.lost + lostAfterKernel + BigInt(this.failed),
      processes: this.seenPids.size,
    };
  }

  private teardown(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.session?.close();
    this.session = undefined;
  }
}
