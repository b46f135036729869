/**
 * One tracing run: resolve targets, load and attach, stream records through decode → enrich →
 * sink, follow processes coming and going, and stop cleanly (drain, detach) on exit, error,
 * duration or signal.
 */
import { BpfSession, type KernelCounters, type ProbeRequest } from './attach/session';
import { planForExe, planForPid, sameBinary, type BinaryPlan } from './attach/targets';
import { argKindCode, cookie, functionId } from './attach/functions';
import { exeIdentity, listPids, loadBias, processExists, readEnviron, readMaps } from './attach/procfs';
import { decodeRecord, forEachRecord, type RawDelete } from './events/decode';
import { Enricher, type ProcessView } from './events/enrich';
import { hashesForKeyFilter } from './events/keyhash';
import type { DeleteEvent } from './events/types';
import { UserError, errnoCode } from './util/errors';
import { uprobePrivilegeHint } from './attach/capabilities';
import { globToRegExp } from './util/glob';
import { resolveKeep } from './attach/keep';
import { KeepKind } from './events/decode';

/** MDT_COOKIE_CORRELATE (bpf/mdt_event.h): the delete probe looks up the goroutine's active span. */
const COOKIE_CORRELATE = 1n << 48n;
import type { KeepFilters } from './config/types';
import type { Redactor } from './events/redact';
import { planCorrelation, type CorrelationOptions } from './attach/correlation';
import { retInstructions } from './golang/otelsdk';
import type { CounterAccess } from './metrics/kernel-source';

export interface TracerOptions {
  pids: number[];
  exes: string[];
  captureKeys: boolean;
  /** Applied to captured key values before any output (receiver/events/redact.ts). */
  redactKey?: Redactor;
  key?: string;
  mapType?: string;
  durationSec?: number;
  stackDepth: number;
  ringBufferBytes?: number;
  /** Record only this fraction of deletes (decided in the kernel), plus every keep-filter match. */
  sampling?: { rate: number; keep: KeepFilters };
  /** Track the OpenTelemetry Go SDK's active spans so deletes carry them; undefined: off. */
  correlation?: CorrelationOptions;
  /** false: counters only (metrics mode); the sink gets nothing. Needs `counting`. */
  events?: boolean;
  /** Exact in-kernel counters for metrics and alert rules; undefined: off. */
  counting?: {
    keys: boolean;
    timing: boolean;
    keepClears: boolean;
    /** Key values whose deletes are always recorded, whatever the sampling (watched-key rules). */
    watchKeys: string[];
    /** The same for keys given by hash (16 hex digits, as `hash-key` prints them). */
    watchKeyHashes?: string[];
  };
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
  /** Per (pid, plan): where the binary is loaded. */
  private readonly views = new Map<number, ProcessView | null>();
  private readonly announced = new Set<number>();
  /** OTEL_SERVICE_NAME of each process, read while it runs (it is gone once the process exits). */
  private readonly serviceNames = new Map<number, string | undefined>();
  private readonly seenPids = new Set<number>();
  private enricher?: Enricher;
  private readonly mapTypeRe?: RegExp;
  private delivered = 0;
  private attachErrors = 0;
  /** Run after the last record, before the session closes (final counter readings). */
  private readonly closing: (() => void)[] = [];
  /** Plans whose program does not use the OpenTelemetry SDK. */
  private readonly noSdk = new Set<number>();
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
    if (opts.events === false && !opts.counting) throw new UserError('events are off and nothing counts: enable metrics or alerts, or turn events back on');
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
      sampleRate: this.opts.sampling?.rate,
      counting: this.opts.counting,
      events: this.opts.events,
    });
    try {
      this.enricher = new Enricher(this.session.native.clockOffsetNs());
      for (const plan of exePlans) this.attachPlan(plan, undefined);
      for (const { pid, plan } of pidPlans) {
        // A --pid whose binary is also an --exe target is already covered: attaching again would double its events.
        if (exePlans.some((e) => sameBinary(e.identity, plan.identity))) continue;
        this.attachPlan(plan, pid);
        this.noteProcess(pid);
      }
      this.discover();
      this.session.start((batch) => this.onBatch(batch));
      this.startTimers();
      this.log(`ready: ${this.session.linkCount()} probes attached to ${this.attached.length} target(s)`);
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
    const planId = this.attached.push(entry) - 1;
    for (const point of plan.points) session.setProbeVaddr(planId, functionId(point.function), point.vaddr);
    this.applyKeepFilters(planId, plan);
    const path = pid !== undefined ? `/proc/${pid}/exe` : plan.displayPath;
    const target = pid !== undefined ? `PID ${pid}` : plan.displayPath;
    const attachOne = (what: string, req: Omit<ProbeRequest, 'path' | 'pid'>) => {
      try {
        entry.links.push(session.attach({ ...req, path, pid: pid ?? -1 }));
      } catch (err) {
        if (pid !== undefined && !processExists(pid)) throw new UserError(`process ${pid} exited while attaching`);
        if (errnoCode(err) === 'EPERM' || errnoCode(err) === 'EACCES') {
          throw new UserError(uprobePrivilegeHint(target, errnoCode(err)!), 77);
        }
        throw new UserError(`cannot attach to ${what} in ${target}: ${(err as Error).message}`);
      }
    };

    // Span probes go in first, so no delete sees a span start it missed.
    const correlated = this.attachSpanTracking(planId, plan, attachOne);
    const deleteLinks = entry.links.length;
    for (const point of plan.points) {
      let c = cookie(argKindCode(point.argKind), functionId(point.function), plan.goidOffset, planId);
      if (correlated) c |= COOKIE_CORRELATE;
      // Timing mode: the RETs first, so no entry's start time waits for a RET probe not yet there.
      if (this.opts.counting?.timing) {
        for (const ret of this.retProbes(plan, point.function)) attachOne(`RET of ${point.function}`, { program: 'mdt_delete_ret', fileOffset: ret, cookie: c });
      }
      attachOne(point.function, { fileOffset: point.fileOffset, cookie: c });
    }
    this.log(
      `attached ${entry.links.length - deleteLinks} probes to ${pid !== undefined ? `PID ${pid} ` : 'every process of '}${plan.displayPath} (${plan.binary.goVersion}, ${plan.binary.mapImpl} maps${this.noSdk.has(planId) ? ', no OpenTelemetry SDK' : ''})`,
    );
  }

  /** File offsets of the RET instructions of a probed function (timing mode). */
  private retProbes(plan: BinaryPlan, fn: string): number[] {
    const f = plan.binary.pclntab.funcByName(fn);
    if (!f) return [];
    return retInstructions(plan.binary, f).map((a) => plan.binary.elf.vaddrToFileOffset(a));
  }

  /** What receiver/metrics/kernel-source.ts reads: the session and the plans, while the run lasts. */
  counterAccess(): CounterAccess {
    return {
      session: () => this.session,
      plan: (planId) => this.attached[planId]?.plan,
      serviceName: (pid) => this.serviceNames.get(pid),
      alive: (pid) => processExists(pid),
      probesAttached: () => this.session?.linkCount() ?? 0,
      attachErrors: () => this.attachErrors,
      tracedProcesses: () => {
        const known = new Set<number>([...this.seenPids, ...this.announced, ...this.attached.flatMap((a) => (a.pid !== undefined ? [a.pid] : []))]);
        return [...known].filter((pid) => processExists(pid)).length;
      },
      lostAfterKernel: () => BigInt(this.failed),
      onClose: (f) => this.closing.push(f),
    };
  }

  /**
   * The OpenTelemetry SDK span probes for one plan; true when they are attached. A binary whose
   * spans cannot be tracked is still traced: one warning says why its deletes are uncorrelated.
   */
  private attachSpanTracking(planId: number, plan: BinaryPlan, attachOne: (what: string, req: Omit<ProbeRequest, 'path' | 'pid'>) => void): boolean {
    const opts = this.opts.correlation;
    if (!opts) return false;
    const cp = planCorrelation(plan.binary, plan, opts);
    if (!cp.ok) {
      // A program without the SDK has nothing to correlate: the attach line says so, no warning.
      if (cp.kind === 'absent') this.noSdk.add(planId);
      else this.log(`warning: ${cp.reason}`);
      return false;
    }
    this.session!.setOtelPlan(planId, cp.offsets);
    try {
      for (const p of cp.probes) {
        attachOne(p.what, { program: p.program, fileOffset: p.fileOffset, cookie: cookie(p.kind, 0, plan.goidOffset, planId) });
      }
    } catch (err) {
      // Deletes are still worth tracing without spans; a vanished process fails at the delete probes.
      this.attachErrors++;
      this.log(`warning: span probes not attached, deletes in ${plan.displayPath} are traced without spans: ${(err as Error).message}`);
      return false;
    }
    const inherit = cp.probes.filter((p) => p.program === 'mdt_goroutine_created').length;
    this.log(
      `tracking OpenTelemetry spans in ${plan.displayPath} (go.opentelemetry.io/otel/sdk ${cp.sdkVersion}, offsets from ${cp.offsetsSource}): ${cp.probes.length - inherit} span probes, ${inherit} goroutine-creation probes`,
    );
    for (const n of cp.notes) this.log(`note: ${n}`);
    return true;
  }

  /** Sampling keep-filters for one plan: in the kernel before the first probe fires. */
  private applyKeepFilters(planId: number, plan: BinaryPlan): void {
    const keep = this.opts.sampling?.keep;
    const session = this.session!;
    if (!keep || (this.opts.sampling?.rate ?? 1) >= 1) return;
    if (planId === 0) {
      for (const k of [...keep.keys, ...(this.opts.counting?.watchKeys ?? [])]) for (const h of hashesForKeyFilter(k)) session.keepKeyHash(h);
      for (const h of this.opts.counting?.watchKeyHashes ?? []) session.keepKeyHash(BigInt(`0x${h}`));
    }
    const resolved = resolveKeep(plan.binary, plan.points, keep.mapTypes, keep.callers);
    for (const t of resolved.mapTypes) session.keepAddress(planId, KeepKind.MapType, t.addr);
    for (const c of resolved.callSites) session.keepAddress(planId, KeepKind.Caller, c.retAddr);
    if (keep.mapTypes.length || keep.callers.length) {
      this.log(
        `always kept in ${plan.displayPath}: ${resolved.mapTypes.length} map type(s), ${resolved.callSites.length} call site(s)` +
          (resolved.mapTypes.length + resolved.callSites.length === 0 ? ' (no match: check the keep globs)' : ''),
      );
    }
  }

  private noteProcess(pid: number): void {
    this.serviceNames.set(pid, readEnviron(pid).get('OTEL_SERVICE_NAME') || undefined);
  }

  /** --exe targets: find running processes of the binaries (new ones show up here within 250 ms). */
  private discover(): void {
    const exeTargets = this.attached.filter((a) => a.pid === undefined);
    if (exeTargets.length === 0) return;
    for (const pid of listPids()) {
      if (this.announced.has(pid)) continue;
      const id = exeIdentity(pid);
      if (!id) continue;
      const target = exeTargets.find((a) => sameBinary(a.plan.identity, id));
      if (target) {
        this.noteProcess(pid);
        this.announced.add(pid);
        this.log(`tracing PID ${pid} (${target.plan.displayPath})`);
      }
    }
  }

  /**
   * Where the record's binary sits in its process. Each record names the plan (binary) whose
   * probe fired and the address it fired at, so the PIE slide is known from the record itself,
   * even when the process is gone before the record is read.
   */
  private viewFor(raw: RawDelete): ProcessView | null {
    const key = raw.pid * 65536 + raw.planId;
    const known = this.views.get(key);
    if (known !== undefined) return known;
    const entry = this.attached[raw.planId];
    let view: ProcessView | null = null;
    if (entry) {
      const { binary, points } = entry.plan;
      let bias: number | undefined = binary.isPIE ? undefined : 0;
      const point = points.find((p) => functionId(p.function) === raw.funcId);
      if (bias === undefined && point) {
        // The uprobe reports the probed address or, after the trap, the byte past it.
        for (const ip of [raw.probeIp, raw.probeIp - 1]) {
          const b = ip - point.vaddr;
          if (b % 4096 === 0) {
            bias = b;
            break;
          }
        }
      }
      if (bias === undefined) {
        try {
          bias = loadBias(readMaps(raw.pid), entry.plan.identity.ino, binary.loadSegments());
        } catch {
          bias = undefined;
        }
      }
      if (!this.serviceNames.has(raw.pid)) this.noteProcess(raw.pid);
      if (bias !== undefined) view = { binary, bias, executable: entry.plan.displayPath, serviceName: this.serviceNames.get(raw.pid) };
    }
    this.views.set(key, view);
    this.seenPids.add(raw.pid);
    if (entry && entry.pid === undefined && !this.announced.has(raw.pid)) {
      // A process that came and went between two discovery scans.
      this.announced.add(raw.pid);
      this.log(`tracing PID ${raw.pid} (${entry.plan.displayPath})`);
    }
    return view;
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
      const view = this.viewFor(raw);
      if (!view) throw new Error(`record from PID ${raw.pid} names no known binary (plan ${raw.planId})`);
      const event = this.enricher!.enrich(raw, view);
      if (this.opts.redactKey && event.key?.value !== undefined) event.key.value = this.opts.redactKey(event.key.value);
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
    // Probes first: a delete after the last read of the ring buffer would be counted as lost.
    session.detachProbes();
    await session.drain();
    const kernel = session.counters();
    for (const f of this.closing) {
      try {
        f();
      } catch (err) {
        this.log(`cannot take the final counter readings: ${(err as Error).message}`);
      }
    }
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
