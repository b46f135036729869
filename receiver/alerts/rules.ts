/**
 * The four rule conditions as evaluators. Each turns the counters' deltas of one evaluation
 * (Snapshot) and the events seen since the previous one into the series that are active now,
 * each with its labels and value. The lifecycle (pending, firing, repeat, resolved) is the
 * engine's (engine.ts).
 *
 * Windows are counted in evaluations: what an evaluation measured (counter deltas, events since
 * the previous evaluation) is stored as one bucket at the evaluation's time, and a window of W
 * holds the buckets of the last W.
 */
import * as path from 'node:path';
import type { AlertRuleConfig, ClearCondition, DeleteRateCondition, GroupLabel, MassDeletionCondition, MatchConfig, MatchLabel, WatchedKeysCondition } from '../config/alerts';
import { expandGroupBy } from '../config/alerts';
import type { DeleteEvent } from '../events/types';
import { hashHex, hashesForKeyFilter } from '../events/keyhash';
import type { DeleteCountRow, KeyActivityRow, MapActivityRow } from '../metrics/source';
import { globToRegExp } from '../util/glob';
import type { Labels } from './types';

/** Series one rule may hold at once; beyond, new ones are ignored (and counted). */
export const MAX_SERIES_PER_RULE = 10_000;

export interface CountDelta {
  row: DeleteCountRow;
  delta: number;
}

export interface MapDelta {
  row: MapActivityRow;
  /** The row at the previous evaluation; undefined when new (or after a reset). */
  prev?: MapActivityRow;
  deletes: number;
  clears: number;
}

export interface KeyDelta {
  row: KeyActivityRow;
  delta: number;
}

/** One evaluation's view of the counters. A table is undefined when no rule needs it or it could not be read. */
export interface Snapshot {
  now: number;
  counts?: CountDelta[];
  maps?: MapDelta[];
  keys?: KeyDelta[];
  /** True for the first read of a table: its rows are the baseline, every delta is 0. */
  baseline: { counts: boolean; maps: boolean; keys: boolean };
}

export interface Series {
  labels: Labels;
  value: number;
}

export interface RuleEvaluator {
  readonly rule: AlertRuleConfig;
  readonly needs: { counts?: boolean; maps?: boolean; keys?: boolean };
  /** An event, as the tracer delivers it (before sampling decisions of the exporters). */
  observe?(e: DeleteEvent, service: string): void;
  /** Active series at s.now, by series key. */
  evaluate(s: Snapshot): Map<string, Series>;
  /** Series refused because the rule already held MAX_SERIES_PER_RULE. */
  overflow: number;
}

/** The length before the operation, when the event carries it (`map.lenBefore`, see docs/alerts.md). */
export function eventLenBefore(e: DeleteEvent): number | null | undefined {
  return (e.map as { lenBefore?: number | null }).lenBefore;
}

/** `user_service.go:42`, as the counters name call sites. */
export function callerOf(e: DeleteEvent): string {
  return e.caller.file && e.caller.file !== '?' ? `${path.basename(e.caller.file)}:${e.caller.line}` : 'unknown';
}

// ---------------------------------------------------------------------------------------------
// Labels, grouping, matching

type RowLabels = Partial<Record<GroupLabel | 'key', string>>;

function countLabels(r: DeleteCountRow): RowLabels {
  return { service: r.service, pid: String(r.pid), map_type: r.mapType, caller: r.caller, function: r.callerFunction };
}
function mapLabels(r: MapActivityRow): RowLabels {
  return { service: r.service, pid: String(r.pid), map_type: r.mapType, map: r.mapAddr };
}
function keyLabels(r: KeyActivityRow): RowLabels {
  return { service: r.service, pid: String(r.pid), map_type: r.mapType, key_hash: r.keyHash };
}
function eventLabels(e: DeleteEvent, service: string): RowLabels {
  return { service, pid: String(e.pid), map_type: e.map.type, caller: callerOf(e), function: e.caller.function, map: e.map.addr };
}

type Matcher = (l: RowLabels) => boolean;

function compileMatch(match: MatchConfig): Matcher {
  const tests: [MatchLabel, RegExp[]][] = (Object.entries(match) as [MatchLabel, string[]][]).map(([k, globs]) => [k, globs.map(globToRegExp)]);
  if (tests.length === 0) return () => true;
  return (l) => tests.every(([k, res]) => res.some((re) => re.test(l[k] ?? '')));
}

class Grouper {
  readonly names: (GroupLabel | 'key')[];
  constructor(groupBy: readonly GroupLabel[], extra: 'key'[] = []) {
    this.names = [...extra, ...expandGroupBy(groupBy)];
  }
  key(l: RowLabels): string {
    return this.names.map((n) => l[n] ?? '').join('\u0000');
  }
  labels(l: RowLabels): Labels {
    const out: Labels = {};
    for (const n of this.names) out[n] = l[n] ?? '';
    return out;
  }
}

/** Per-series buckets over a window, with a bound on how many series exist. */
class SeriesTable<S extends { buckets: { t: number }[] }> {
  readonly map = new Map<string, S & { labels: Labels }>();
  overflow = 0;

  get(key: string, make: () => S & { labels: Labels }): (S & { labels: Labels }) | undefined {
    let s = this.map.get(key);
    if (!s) {
      if (this.map.size >= MAX_SERIES_PER_RULE) {
        this.overflow++;
        return undefined;
      }
      s = make();
      this.map.set(key, s);
    }
    return s;
  }

  /** Drops buckets at or before `cutoff`, and series left without any (callers store pending input first). */
  prune(cutoff: number): void {
    for (const [key, s] of this.map) {
      let i = 0;
      while (i < s.buckets.length && s.buckets[i].t <= cutoff) i++;
      if (i) s.buckets.splice(0, i);
      if (s.buckets.length === 0) this.map.delete(key);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// delete_rate: counts over a window, from the exact counters

interface SumSeries {
  buckets: { t: number; n: number }[];
  pending: number;
}

export class DeleteRateEvaluator implements RuleEvaluator {
  readonly needs: RuleEvaluator['needs'];
  private readonly c: DeleteRateCondition;
  private readonly grouper: Grouper;
  private readonly matches: Matcher;
  private readonly table = new SeriesTable<SumSeries>();
  private readonly source: 'counts' | 'maps' | 'keys';

  constructor(readonly rule: AlertRuleConfig) {
    this.c = rule.condition as DeleteRateCondition;
    this.grouper = new Grouper(this.c.groupBy);
    this.matches = compileMatch(this.c.match);
    this.source = this.c.groupBy.includes('map') ? 'maps' : this.c.groupBy.includes('key_hash') ? 'keys' : 'counts';
    this.needs = { [this.source]: true };
  }

  get overflow(): number {
    return this.table.overflow;
  }

  private add(l: RowLabels, n: number): void {
    if (n <= 0 || !this.matches(l)) return;
    const s = this.table.get(this.grouper.key(l), () => ({ labels: this.grouper.labels(l), buckets: [], pending: 0 }));
    if (s) s.pending += n;
  }

  evaluate(s: Snapshot): Map<string, Series> {
    const op = this.c.op;
    if (this.source === 'counts') {
      for (const d of s.counts ?? []) if (op === 'any' || d.row.op === op) this.add(countLabels(d.row), d.delta);
    } else if (this.source === 'maps') {
      for (const d of s.maps ?? []) this.add(mapLabels(d.row), (op !== 'clear' ? d.deletes : 0) + (op !== 'delete' ? d.clears : 0));
    } else {
      for (const d of s.keys ?? []) this.add(keyLabels(d.row), d.delta);
    }
    for (const series of this.table.map.values()) {
      if (series.pending) series.buckets.push({ t: s.now, n: series.pending });
      series.pending = 0;
    }
    this.table.prune(s.now - this.c.windowMs);
    const out = new Map<string, Series>();
    for (const [key, series] of this.table.map) {
      const total = series.buckets.reduce((a, b) => a + b.n, 0);
      if (total > this.c.threshold) out.set(key, { labels: series.labels, value: total });
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// mass_deletion: a map's length falling by a fraction within a window

/**
 * The length observations of one evaluation interval, in time order, reduced to what the
 * largest fall needs: the highest length, the lowest, and the largest fall inside the interval.
 * Across intervals the largest fall is from the highest length of an earlier interval to the
 * lowest of a later one, so these three numbers per interval are exact.
 */
interface LenBucket {
  t: number;
  max: number;
  min: number;
  /** Largest fall (a fraction of the peak it fell from) inside the interval, among peaks ≥ min_len. */
  fall: number;
}

interface MassSeries {
  buckets: LenBucket[];
  open?: Omit<LenBucket, 't'>;
}

export class MassDeletionEvaluator implements RuleEvaluator {
  readonly needs = { maps: true };
  private readonly c: MassDeletionCondition;
  private readonly grouper = new Grouper(['map']);
  private readonly matches: Matcher;
  private readonly table = new SeriesTable<MassSeries>();

  constructor(readonly rule: AlertRuleConfig) {
    this.c = rule.condition as MassDeletionCondition;
    this.matches = compileMatch(this.c.match);
  }

  get overflow(): number {
    return this.table.overflow;
  }

  /** One length observation of a map, in time order. */
  private point(l: RowLabels, len: number): void {
    if (!this.matches(l)) return;
    const s = this.table.get(this.grouper.key(l), () => ({ labels: this.grouper.labels(l), buckets: [] }));
    if (!s) return;
    const o = s.open;
    if (!o) {
      s.open = { max: len, min: len, fall: 0 };
      return;
    }
    if (o.max >= this.c.minLen && o.max > 0) o.fall = Math.max(o.fall, 1 - len / o.max);
    o.max = Math.max(o.max, len);
    o.min = Math.min(o.min, len);
  }

  observe(e: DeleteEvent, service: string): void {
    const before = eventLenBefore(e);
    if (typeof before !== 'number' || before < 0) return;
    const l = eventLabels(e, service);
    this.point(l, before);
    this.point(l, e.op === 'clear' ? 0 : Math.max(before - 1, 0));
  }

  evaluate(s: Snapshot): Map<string, Series> {
    for (const d of s.maps ?? []) {
      const l = mapLabels(d.row);
      const len = d.row.lastLen;
      if (s.baseline.maps) {
        if (len !== null) this.point(l, len);
        continue;
      }
      if (d.deletes === 0 && d.clears === 0) continue;
      if (d.clears > 0) {
        // A clear emptied the map at some point since the last evaluation; its length before, when the largest so far.
        const cl = d.row.maxClearLen;
        if (cl !== null && (d.prev?.maxClearLen == null || cl > d.prev.maxClearLen)) this.point(l, cl);
        this.point(l, 0);
      }
      if (len !== null) {
        // lastLen is the length before the latest operation.
        this.point(l, len);
        this.point(l, d.clears > 0 && d.deletes === 0 ? 0 : Math.max(len - 1, 0));
      }
    }
    for (const series of this.table.map.values()) {
      if (series.open) series.buckets.push({ t: s.now, ...series.open });
      series.open = undefined;
    }
    this.table.prune(s.now - this.c.windowMs);
    const out = new Map<string, Series>();
    for (const [key, series] of this.table.map) {
      let peak = -1;
      let fall = 0;
      for (const b of series.buckets) {
        if (peak >= this.c.minLen && peak > 0) fall = Math.max(fall, 1 - b.min / peak);
        fall = Math.max(fall, b.fall);
        peak = Math.max(peak, b.max);
      }
      if (fall >= this.c.fraction) out.set(key, { labels: series.labels, value: fall });
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// clear: a clear of a map holding more than N elements

interface MaxSeries {
  buckets: { t: number; max: number }[];
  pending?: number;
}

export class ClearEvaluator implements RuleEvaluator {
  readonly needs = { maps: true };
  private readonly c: ClearCondition;
  private readonly grouper: Grouper;
  private readonly matches: Matcher;
  private readonly table = new SeriesTable<MaxSeries>();
  /**
   * Once a clear event carries its length (map.lenBefore), events are the source and the
   * per-map counters are not; until then, clears are found in the counters.
   */
  private fromEvents = false;

  constructor(readonly rule: AlertRuleConfig) {
    this.c = rule.condition as ClearCondition;
    this.grouper = new Grouper(this.c.groupBy);
    this.matches = compileMatch(this.c.match);
  }

  get overflow(): number {
    return this.table.overflow;
  }

  private add(l: RowLabels, len: number): void {
    if (len <= this.c.largerThan || !this.matches(l)) return;
    const s = this.table.get(this.grouper.key(l), () => ({ labels: this.grouper.labels(l), buckets: [] }));
    if (s) s.pending = Math.max(s.pending ?? 0, len);
  }

  observe(e: DeleteEvent, service: string): void {
    if (e.op !== 'clear') return;
    const before = eventLenBefore(e);
    if (before === undefined) return;
    this.fromEvents = true;
    if (typeof before === 'number') this.add(eventLabels(e, service), before);
  }

  evaluate(s: Snapshot): Map<string, Series> {
    if (!this.fromEvents && !s.baseline.maps) {
      for (const d of s.maps ?? []) {
        if (d.clears === 0) continue;
        // The clear's length: the largest clear so far when it grew, else lastLen when the clear was the only operation.
        const cl = d.row.maxClearLen;
        let len: number | null = null;
        if (cl !== null && (d.prev?.maxClearLen == null || cl > d.prev.maxClearLen)) len = cl;
        else if (d.deletes === 0 && d.clears === 1) len = d.row.lastLen;
        if (len !== null) this.add({ ...mapLabels(d.row), caller: 'unknown', function: 'unknown' }, len);
      }
    }
    for (const series of this.table.map.values()) {
      if (series.pending !== undefined) series.buckets.push({ t: s.now, max: series.pending });
      series.pending = undefined;
    }
    this.table.prune(s.now - this.c.windowMs);
    const out = new Map<string, Series>();
    for (const [key, series] of this.table.map) {
      out.set(key, { labels: series.labels, value: Math.max(...series.buckets.map((b) => b.max)) });
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// watched_keys: any delete of a watched key

export class WatchedKeysEvaluator implements RuleEvaluator {
  readonly needs = {};
  private readonly c: WatchedKeysCondition;
  private readonly grouper: Grouper;
  private readonly matches: Matcher;
  private readonly table = new SeriesTable<SumSeries>();
  /** Key hash → the value (or hash) the rule names it by. */
  private readonly watched = new Map<string, string>();

  constructor(readonly rule: AlertRuleConfig) {
    this.c = rule.condition as WatchedKeysCondition;
    this.grouper = new Grouper(this.c.groupBy, ['key']);
    this.matches = compileMatch(this.c.match);
    for (const h of this.c.hashes) this.watched.set(h, h);
    for (const v of this.c.keys) for (const h of hashesForKeyFilter(v)) if (!this.watched.has(hashHex(h))) this.watched.set(hashHex(h), v);
  }

  get overflow(): number {
    return this.table.overflow;
  }

  observe(e: DeleteEvent, service: string): void {
    if (e.op !== 'delete' || !e.key) return;
    const name = this.watched.get(e.key.hash);
    if (name === undefined) return;
    const l = { ...eventLabels(e, service), key: name };
    if (!this.matches(l)) return;
    const s = this.table.get(this.grouper.key(l), () => ({ labels: this.grouper.labels(l), buckets: [], pending: 0 }));
    if (s) s.pending++;
  }

  evaluate(s: Snapshot): Map<string, Series> {
    for (const series of this.table.map.values()) {
      if (series.pending) series.buckets.push({ t: s.now, n: series.pending });
      series.pending = 0;
    }
    this.table.prune(s.now - this.c.windowMs);
    const out = new Map<string, Series>();
    for (const [key, series] of this.table.map) out.set(key, { labels: series.labels, value: series.buckets.reduce((a, b) => a + b.n, 0) });
    return out;
  }
}

export function makeEvaluator(rule: AlertRuleConfig): RuleEvaluator {
  switch (rule.condition.kind) {
    case 'delete_rate':
      return new DeleteRateEvaluator(rule);
    case 'mass_deletion':
      return new MassDeletionEvaluator(rule);
    case 'clear':
      return new ClearEvaluator(rule);
    case 'watched_keys':
      return new WatchedKeysEvaluator(rule);
  }
}
