/**
 * What the endpoint exposes, updated from a CounterSource read at each scrape: the bounded
 * label sets and the values that must never go backwards.
 *
 * Counters are built from growth, not copied: each source row (per process) is remembered with
 * the value it had at the previous scrape, and only its increase is added to the series its
 * labels map to. A row whose value went down, or that vanished and came back, started again from
 * zero (the kernel's LRU tables forget rows), so its whole new value is growth. That keeps every
 * exposed counter monotonic whatever the source does, and lets several rows (processes of one
 * service, folded call sites) feed one series.
 *
 * Folding of call sites (go_map_delete_total, go_map_clear_total), per family:
 *  - a call site (service, map_type, caller, function) gets its own series when it is first
 *    seen while fewer than max_call_sites have one; among call sites first seen at the same
 *    scrape, the busiest go first. Once it has a series it keeps it for the whole run;
 *  - a call site seen later is counted in (service, map_type, caller="other", function="other"),
 *    for at most max_map_types (service, map_type) pairs, admitted the same way; beyond that in
 *    (service, map_type="other", caller="other", function="other");
 *  - a call site's place never changes, so each series counts exactly the deletes of what its
 *    labels say since the tracer started (or since it started counting that process), and
 *    sum(go_map_delete_total) is every delete.
 *
 * Hot maps (go_map_len, go_map_clear_max_len, go_map_*_by_map_total): at each scrape, the
 * max_maps maps with the most recent activity (deletes + clears, decayed with a one-minute half
 * life); a map already shown keeps its place unless another is more than twice as active. A map
 * that leaves the set stops being exposed (its series end); while shown its counters never
 * decrease, and one that comes back resumes from its count, not from zero (unless the kernel
 * forgot the map meanwhile).
 */
import type { CounterSource, DeleteCountRow, MapActivityRow, MapOp } from './source';
import { OTHER } from './families';

export interface MetricsLimits {
  /** Call sites with a series of their own, per family (delete, clear). */
  maxCallSites: number;
  /** (service, map_type) pairs of the caller="other" series, per family. */
  maxMapTypes: number;
  /** Maps exposed by address. 0: none. */
  maxMaps: number;
}

export interface CallSiteLabels {
  service: string;
  map_type: string;
  caller: string;
  function: string;
}

export interface PerMapLabels {
  service: string;
  pid: string;
  map_type: string;
  map: string;
}

export interface Series<L> {
  labels: L;
  value: bigint;
}

export interface HotMap {
  labels: PerMapLabels;
  deletes: bigint;
  clears: bigint;
  len: number | null;
  maxClearLen: number | null;
}

const SEP = '\u0000';

/** Growth of cumulative values read repeatedly, per key; a decrease is a restart from zero. */
export class GrowthTracker {
  private last = new Map<string, bigint>();

  /** The growth since the previous read of `key`; the whole value for a key not seen before. */
  growth(key: string, value: bigint): bigint {
    const prev = this.last.get(key);
    this.last.set(key, value);
    if (prev === undefined || value < prev) return value;
    return value - prev;
  }

  /** Forgets every key not in `present` (rows the source no longer has). */
  retain(present: Set<string>): void {
    for (const k of this.last.keys()) if (!present.has(k)) this.last.delete(k);
  }

  forget(key: string): void {
    this.last.delete(key);
  }

  get size(): number {
    return this.last.size;
  }
}

/** One call-site family (deletes or clears) with its folding. */
export class CallSiteCounter {
  private readonly rows = new GrowthTracker();
  /** call-site key → series key, decided once. */
  private readonly route = new Map<string, string>();
  private readonly series = new Map<string, Series<CallSiteLabels>>();
  private ownSeries = 0;
  private readonly typeFolds = new Set<string>();
  /** Call sites routed to a caller="other" series. */
  private folded = 0;

  constructor(private readonly limits: Pick<MetricsLimits, 'maxCallSites' | 'maxMapTypes'>) {}

  update(rows: DeleteCountRow[]): void {
    // A row is its kernel row: (pid, type, call site). Not the service, which names the pid and
    // may be learnt late: a row whose service changes goes on growing, into the new series.
    // Rows the source repeats within one read are added up (it should not).
    const byRow = new Map<string, { labels: CallSiteLabels; count: bigint }>();
    for (const r of rows) {
      const rowKey = [r.pid, r.mapType, r.caller, r.callerFunction].join(SEP);
      const seen = byRow.get(rowKey);
      if (seen) seen.count += r.count;
      else byRow.set(rowKey, { labels: { service: r.service, map_type: r.mapType, caller: r.caller, function: r.callerFunction }, count: r.count });
    }
    const present = new Set<string>();
    const fresh: { site: string; labels: CallSiteLabels; growth: bigint }[] = [];
    const pending = new Map<string, bigint>();
    for (const [rowKey, { labels, count }] of byRow) {
      const site = [labels.service, labels.map_type, labels.caller, labels.function].join(SEP);
      present.add(rowKey);
      const g = this.rows.growth(rowKey, count);
      if (this.route.has(site)) {
        this.add(this.route.get(site)!, g);
      } else {
        const before = pending.get(site);
        if (before === undefined) fresh.push({ site, labels, growth: 0n });
        pending.set(site, (before ?? 0n) + g);
      }
    }
    this.rows.retain(present);
    for (const f of fresh) f.growth = pending.get(f.site)!;
    // New call sites, the busiest first, take what is left of the budget.
    fresh.sort((a, b) => (a.growth === b.growth ? (a.site < b.site ? -1 : a.site > b.site ? 1 : 0) : a.growth > b.growth ? -1 : 1));
    for (const f of fresh) {
      const key = this.admit(f.site, f.labels);
      this.add(key, f.growth);
    }
  }

  private admit(site: string, labels: CallSiteLabels): string {
    let key: string;
    let seriesLabels: CallSiteLabels;
    if (this.ownSeries < this.limits.maxCallSites) {
      this.ownSeries++;
      key = site;
      seriesLabels = labels;
    } else {
      this.folded++;
      const pair = [labels.service, labels.map_type].join(SEP);
      if (this.typeFolds.has(pair) || this.typeFolds.size < this.limits.maxMapTypes) {
        this.typeFolds.add(pair);
        seriesLabels = { service: labels.service, map_type: labels.map_type, caller: OTHER, function: OTHER };
      } else {
        seriesLabels = { service: labels.service, map_type: OTHER, caller: OTHER, function: OTHER };
      }
      // A caller really named "other" cannot collide: folded keys carry a marker.
      key = `${SEP}fold${SEP}${[seriesLabels.service, seriesLabels.map_type].join(SEP)}`;
    }
    this.route.set(site, key);
    if (!this.series.has(key)) this.series.set(key, { labels: seriesLabels, value: 0n });
    return key;
  }

  private add(key: string, growth: bigint): void {
    this.series.get(key)!.value += growth;
  }

  /** Every series ever exposed, with its current value. */
  values(): Series<CallSiteLabels>[] {
    return [...this.series.values()];
  }

  /** Call sites counted in a caller="other" series. */
  foldedCallSites(): number {
    return this.folded;
  }
}

/** A monotonic counter fed with a cumulative value that may restart (health counters). */
export class MonotonicValue {
  private readonly tracker = new GrowthTracker();
  value = 0n;

  update(cumulative: bigint): bigint {
    this.value += this.tracker.growth('', cumulative);
    return this.value;
  }
}

interface MapEntry {
  labels: PerMapLabels;
  deletes: bigint;
  clears: bigint;
  len: number | null;
  maxClearLen: number | null;
  lastSeen: bigint;
  score: number;
  scoredAt: number;
  shown: boolean;
}

/** Half life of a map's activity score. */
export const HOT_MAP_HALF_LIFE_MS = 60_000;
/** A shown map is replaced only by one more than this many times as active. */
export const HOT_MAP_STICKINESS = 2;

/** The hot maps: which are shown, and their counts. */
export class HotMaps {
  private readonly entries = new Map<string, MapEntry>();
  private readonly deletes = new GrowthTracker();
  private readonly clears = new GrowthTracker();

  constructor(private readonly maxMaps: number) {}

  update(rows: MapActivityRow[], nowMs: number): void {
    const present = new Set<string>();
    for (const r of rows) {
      const key = [r.pid, r.mapAddr, r.mapType].join(SEP);
      present.add(key);
      let e = this.entries.get(key);
      if (e && e.labels.service !== r.service) e.labels = { ...e.labels, service: r.service };
      if (!e) {
        e = {
          labels: { service: r.service, pid: String(r.pid), map_type: r.mapType, map: r.mapAddr },
          deletes: 0n,
          clears: 0n,
          len: null,
          maxClearLen: null,
          lastSeen: 0n,
          score: 0,
          scoredAt: nowMs,
          shown: false,
        };
        this.entries.set(key, e);
      }
      const d = this.deletes.growth(key, r.deletes);
      const c = this.clears.growth(key, r.clears);
      e.deletes += d;
      e.clears += c;
      e.len = r.lastLen;
      if (r.maxClearLen !== null) e.maxClearLen = Math.max(e.maxClearLen ?? 0, r.maxClearLen);
      if (r.lastSeen > e.lastSeen) e.lastSeen = r.lastSeen;
      e.score = decay(e.score, nowMs - e.scoredAt) + Number(d + c);
      e.scoredAt = nowMs;
    }
    for (const [key, e] of this.entries) {
      if (present.has(key)) continue;
      // Gone from the kernel's table: if it comes back it starts from zero there.
      this.deletes.forget(key);
      this.clears.forget(key);
      if (!e.shown) {
        this.entries.delete(key);
        continue;
      }
      e.score = decay(e.score, nowMs - e.scoredAt);
      e.scoredAt = nowMs;
    }
    this.choose();
  }

  private choose(): void {
    const all = [...this.entries.values()];
    const rank = (e: MapEntry) => e.score * (e.shown ? HOT_MAP_STICKINESS : 1);
    all.sort((a, b) => rank(b) - rank(a) || (b.lastSeen > a.lastSeen ? 1 : b.lastSeen < a.lastSeen ? -1 : 0) || cmpLabels(a.labels, b.labels));
    all.forEach((e, i) => (e.shown = i < this.maxMaps));
    // Memory: entries no longer shown are kept only while the source has their row.
  }

  shown(): HotMap[] {
    const out: HotMap[] = [];
    for (const e of this.entries.values()) {
      if (e.shown) out.push({ labels: e.labels, deletes: e.deletes, clears: e.clears, len: e.len, maxClearLen: e.maxClearLen });
    }
    return out;
  }
}

function decay(score: number, elapsedMs: number): number {
  return elapsedMs <= 0 ? score : score * Math.pow(0.5, elapsedMs / HOT_MAP_HALF_LIFE_MS);
}

function cmpLabels(a: PerMapLabels, b: PerMapLabels): number {
  const ka = [a.service, a.pid, a.map, a.map_type].join(SEP);
  const kb = [b.service, b.pid, b.map, b.map_type].join(SEP);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export interface Histogram {
  /** Cumulative counts; the last bound is +Inf. */
  buckets: { le: number; count: bigint }[];
  sum: number;
  count: bigint;
}

/** Everything one scrape exposes from the counter source. */
export class CounterState {
  readonly calls: Record<MapOp, CallSiteCounter>;
  readonly maps: HotMaps;
  readonly lost = new MonotonicValue();
  readonly overflow = new MonotonicValue();
  readonly attachErrors = new MonotonicValue();
  gauges = { ringBufferBytes: 0, ringBufferUsedBytes: 0, probesAttached: 0, tracedProcesses: 0 };
  durations: Partial<Record<MapOp, Histogram>> = {};

  constructor(limits: MetricsLimits) {
    this.calls = { delete: new CallSiteCounter(limits), clear: new CallSiteCounter(limits) };
    this.maps = new HotMaps(limits.maxMaps);
  }

  /** Reads the source once (every table) and folds it in. */
  update(source: CounterSource, nowMs = Date.now()): void {
    const counts = source.deleteCounts();
    const maps = source.mapActivity();
    const health = source.health();
    const durations = source.durations?.();
    this.calls.delete.update(counts.filter((r) => r.op === 'delete'));
    this.calls.clear.update(counts.filter((r) => r.op === 'clear'));
    this.maps.update(maps, nowMs);
    this.lost.update(health.eventsLost);
    this.overflow.update(health.counterOverflow);
    this.attachErrors.update(BigInt(health.attachErrors));
    this.gauges = {
      ringBufferBytes: health.ringBufferBytes,
      ringBufferUsedBytes: health.ringBufferUsedBytes,
      probesAttached: health.probesAttached,
      tracedProcesses: health.tracedProcesses,
    };
    this.durations = {};
    for (const h of durations ?? []) {
      this.durations[h.op] = { buckets: h.buckets, sum: h.sumSeconds, count: h.count };
    }
  }
}
