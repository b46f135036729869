/**
 * The CounterSource of a tracing run: reads the kernel's counter tables (bpf/counters.h) when
 * asked, and names what they hold with the plans' binaries (link-time addresses: no per-process
 * load bias needed). Counts of processes that have exited are kept here with their final
 * values and their kernel rows deleted, so the kernel's tables hold only live processes.
 */
import * as path from 'node:path';
import type { BpfSession } from '../attach/session';
import type { BinaryPlan } from '../attach/targets';
import { DURATION_BUCKETS, MapOpCode } from '../events/decode';
import { hashHex } from '../events/keyhash';
import { serviceNameFor } from '../export/resource';
import type { CounterSource, DeleteCountRow, DurationHistogram, KeyActivityRow, MapActivityRow, MapOp, TracerHealth } from './source';

/** What the tracer lends the source (receiver/tracer.ts counterAccess()). */
export interface CounterAccess {
  /** undefined once the run has ended. */
  session(): BpfSession | undefined;
  plan(planId: number): BinaryPlan | undefined;
  /** The process's own OTEL_SERVICE_NAME, when the tracer read one. */
  serviceName(pid: number): string | undefined;
  alive(pid: number): boolean;
  probesAttached(): number;
  attachErrors(): number;
  tracedProcesses(): number;
  /** Records lost in user space (after the ring buffer). */
  lostAfterKernel(): bigint;
  /** f runs once the probes are gone and the last record is in, before the session closes. */
  onClose(f: () => void): void;
}

const UNKNOWN = 'unknown';
const hex = (n: number) => `0x${n.toString(16)}`;

interface Site {
  caller: string;
  callerFunction: string;
}

export class KernelCounterSource implements CounterSource {
  /** Final counts of processes that exited, by label key. */
  private readonly finals = new Map<string, DeleteCountRow>();
  private readonly sites = new Map<string, Site>();
  private readonly typeNames = new Map<string, string>();
  /** Per-map and per-key rows of exited processes: served for one more read, then dropped. */
  private readonly lastCall = { maps: new Set<string>(), keys: new Set<string>() };
  /** What the last reads returned: served once the run has ended (a last scrape, a last rule evaluation). */
  private last: { counts?: DeleteCountRow[]; maps?: MapActivityRow[]; keys?: KeyActivityRow[]; health?: TracerHealth; durations?: DurationHistogram[] } = {};

  constructor(
    private readonly access: CounterAccess,
    /** receivers.mapdelete.service_name: overrides every process's service name. */
    private readonly serviceOverride?: string,
    private readonly timing = false,
  ) {
    // The final readings, served from then on (a last scrape, a last rule evaluation).
    access.onClose(() => {
      this.deleteCounts();
      this.mapActivity();
      this.keyActivity();
      this.health();
      this.durations?.();
    });
  }

  deleteCounts(): DeleteCountRow[] {
    const session = this.access.session();
    if (!session) return this.last.counts ?? [...this.finals.values()];
    const rows = new Map<string, DeleteCountRow>();
    const gone: Buffer[] = [];
    for (const { key, raw, count } of session.readCounts()) {
      const plan = this.access.plan(key.planId);
      const op: MapOp = key.op === MapOpCode.Clear ? 'clear' : 'delete';
      const site = this.site(plan, key.planId, key.caller);
      const row: DeleteCountRow = {
        pid: key.pid,
        service: this.service(key.pid, plan),
        op,
        mapType: this.typeName(plan, key.planId, key.mapType),
        caller: site.caller,
        callerFunction: site.callerFunction,
        count,
      };
      const id = labelKey(row);
      if (!this.access.alive(key.pid)) {
        // Kept here from now on: the kernel row goes, the count stays.
        const f = this.finals.get(id);
        if (f) f.count += count;
        else this.finals.set(id, { ...row });
        gone.push(raw);
        continue;
      }
      const r = rows.get(id);
      if (r) r.count += count;
      else rows.set(id, row);
    }
    if (gone.length) session.deleteCounts(gone);
    for (const [id, f] of this.finals) {
      const r = rows.get(id);
      if (r) r.count += f.count;
      else rows.set(id, { ...f });
    }
    const counts = [...rows.values()];
    this.remember({ counts });
    return counts;
  }

  mapActivity(): MapActivityRow[] {
    const session = this.access.session();
    if (!session) return this.last.maps ?? [];
    const out: MapActivityRow[] = [];
    const gone: Buffer[] = [];
    for (const { pid, mapAddr, raw, a } of session.readMapActivity()) {
      if (!this.access.alive(pid)) {
        // One more read sees it (a clear just before exit still reaches the rules), then it goes.
        const id = raw.toString('hex');
        if (this.lastCall.maps.has(id)) {
          this.lastCall.maps.delete(id);
          gone.push(raw);
          continue;
        }
        this.lastCall.maps.add(id);
      }
      const plan = this.access.plan(a.planId);
      out.push({
        pid,
        service: this.service(pid, plan),
        mapAddr: hex(mapAddr),
        mapType: this.typeName(plan, a.planId, a.mapType),
        deletes: a.deletes,
        clears: a.clears,
        lastLen: a.lastLen < 0 ? null : a.lastLen,
        maxClearLen: a.maxClearLen < 0 ? null : a.maxClearLen,
        lastSeen: a.lastSeen,
      });
    }
    if (gone.length) session.deleteActivity('map_activity', gone);
    this.remember({ maps: out });
    return out;
  }

  keyActivity(): KeyActivityRow[] {
    const session = this.access.session();
    if (!session) return this.last.keys ?? [];
    const out: KeyActivityRow[] = [];
    const gone: Buffer[] = [];
    for (const k of session.readKeyActivity()) {
      if (!this.access.alive(k.pid)) {
        const id = k.raw.toString('hex');
        if (this.lastCall.keys.has(id)) {
          this.lastCall.keys.delete(id);
          gone.push(k.raw);
          continue;
        }
        this.lastCall.keys.add(id);
      }
      const plan = this.access.plan(k.planId);
      out.push({ pid: k.pid, service: this.service(k.pid, plan), mapType: this.typeName(plan, k.planId, k.mapType), keyHash: hashHex(k.keyHash), deletes: k.deletes });
    }
    if (gone.length) session.deleteActivity('key_activity', gone);
    this.remember({ keys: out });
    return out;
  }

  health(): TracerHealth {
    const session = this.access.session();
    if (!session) {
      if (this.last.health) return this.last.health;
      return { eventsLost: 0n, ringBufferBytes: 0, ringBufferUsedBytes: 0, probesAttached: 0, attachErrors: this.access.attachErrors(), tracedProcesses: this.access.tracedProcesses(), counterOverflow: 0n };
    }
    const k = session.counters();
    const h: TracerHealth = {
      eventsLost: k.lost + this.access.lostAfterKernel(),
      ringBufferBytes: session.ringBufferBytes(),
      ringBufferUsedBytes: session.ringBufferLevel(),
      probesAttached: this.access.probesAttached(),
      attachErrors: this.access.attachErrors(),
      tracedProcesses: this.access.tracedProcesses(),
      counterOverflow: k.counterFull,
    };
    this.remember({ health: h });
    return h;
  }

  get durations(): (() => DurationHistogram[]) | undefined {
    if (!this.timing) return undefined;
    return () => {
      const session = this.access.session();
      if (!session) return this.last.durations ?? [];
      const out = session.readDurations().map(({ op, buckets, sumNs }) => {
        let cum = 0n;
        const bs = buckets.map((c, b) => {
          cum += c;
          // Bucket b holds durations below 2^(b+1) ns; the last one is everything above.
          return { le: b === DURATION_BUCKETS - 1 ? Infinity : 2 ** (b + 1) / 1e9, count: cum };
        });
        return { op: (op === MapOpCode.Clear ? 'clear' : 'delete') as MapOp, buckets: bs, sumSeconds: Number(sumNs) / 1e9, count: cum };
      });
      this.remember({ durations: out });
      return out;
    };
  }

  private remember(part: KernelCounterSource['last']): void {
    Object.assign(this.last, part);
  }

  private service(pid: number, plan: BinaryPlan | undefined): string {
    return serviceNameFor({ executable: plan?.displayPath ?? UNKNOWN, goVersion: plan?.binary.goVersion ?? '', serviceName: this.access.serviceName(pid) }, this.serviceOverride);
  }

  private site(plan: BinaryPlan | undefined, planId: number, linkAddr: number): Site {
    const id = `${planId}/${linkAddr}`;
    let s = this.sites.get(id);
    if (!s) {
      s = { caller: UNKNOWN, callerFunction: UNKNOWN };
      if (plan && linkAddr) {
        try {
          const f = plan.binary.symbolizeReturn(linkAddr)[0];
          if (f) s = { caller: `${path.basename(f.file)}:${f.line}`, callerFunction: f.function };
        } catch {
          // unknown: an address outside the binary's text
        }
      }
      if (this.sites.size > 100_000) this.sites.clear();
      this.sites.set(id, s);
    }
    return s;
  }

  private typeName(plan: BinaryPlan | undefined, planId: number, linkAddr: number): string {
    const id = `${planId}/${linkAddr}`;
    let n = this.typeNames.get(id);
    if (n === undefined) {
      n = UNKNOWN;
      if (plan && linkAddr) {
        try {
          n = plan.binary.mapType(linkAddr)?.name ?? UNKNOWN;
        } catch {
          n = UNKNOWN;
        }
      }
      if (this.typeNames.size > 100_000) this.typeNames.clear();
      this.typeNames.set(id, n);
    }
    return n;
  }
}

function labelKey(r: DeleteCountRow): string {
  return `${r.pid}\u0000${r.op}\u0000${r.mapType}\u0000${r.caller}\u0000${r.callerFunction}`;
}
