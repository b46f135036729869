/**
 * The alert engine: evaluates the `alerts.rules` of the config every `evaluation_interval` over
 * the tracer's exact counters (a CounterSource, read as deltas; a counter that goes down is a
 * reset) and the events seen in between, and runs each series through Prometheus's lifecycle:
 *
 *   inactive → pending (condition true) → firing (true for `for:`; notified once)
 *            → repeated every `repeat_interval` while firing → resolved (condition false; notified)
 *
 * A pending series whose condition turns false is dropped silently. Notifiers only queue what
 * they are given (notify/): nothing here waits for the network, so a broken or slow receiver
 * never holds up tracing or evaluation.
 */
import { createHash } from 'node:crypto';
import type { AlertRuleConfig, AlertsConfig } from '../config/alerts';
import type { DeleteEvent } from '../events/types';
import { serviceNameFor } from '../export/resource';
import type { CounterSource, DeleteCountRow, KeyActivityRow, MapActivityRow } from '../metrics/source';
import { makeEvaluator, type CountDelta, type KeyDelta, type MapDelta, type RuleEvaluator, type Snapshot } from './rules';
import { formatValue, renderTemplate } from './template';
import type { AlertInstance, Labels, Notice, Notifier } from './types';

export interface AlertEngineOptions {
  config: AlertsConfig;
  /** The exact counters; undefined: rules over counters stay inactive (event rules still work). */
  source?: CounterSource;
  notifiers?: Notifier[];
  /** Milliseconds since the epoch (tests pass their own clock). */
  now?: () => number;
  log?: (line: string) => void;
  /** receivers.mapdelete.service_name, to name events' services as the counters do. */
  serviceName?: string;
}

interface AlertState {
  labels: Labels;
  fingerprint: string;
  value: number;
  state: 'pending' | 'firing';
  activeAt: number;
  firedAt?: number;
  lastNoticeAt?: number;
}

interface CompiledRule {
  config: AlertRuleConfig;
  evaluator: RuleEvaluator;
  notifiers: Set<string>;
  states: Map<string, AlertState>;
  /** Overflow already logged. */
  overflowLogged: number;
}

/** A view of one alert, for status lines and tests. */
export interface AlertView {
  rule: string;
  state: 'pending' | 'firing';
  labels: Labels;
  value: number;
  activeAt: number;
  firedAt?: number;
}

export interface EvaluationResult {
  now: number;
  notices: Notice[];
  firing: AlertInstance[];
  pending: number;
}

/** Most transitions logged per evaluation; the rest are counted in one line. */
const MAX_LOG_LINES = 20;

export class AlertEngine {
  private readonly rules: CompiledRule[];
  private readonly notifiers: Notifier[];
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly needs = { counts: false, maps: false, keys: false };
  private readonly eventRules: CompiledRule[];
  private readonly counts = new CounterTracker<DeleteCountRow>((r) => `${r.pid}\u0000${r.op}\u0000${r.mapType}\u0000${r.caller}\u0000${r.callerFunction}`);
  // A map's row is its address in its process (the kernel's key), whatever type it holds now.
  private readonly maps = new CounterTracker<MapActivityRow>((r) => `${r.pid}\u0000${r.mapAddr}`);
  private readonly keys = new CounterTracker<KeyActivityRow>((r) => `${r.pid}\u0000${r.keyHash}`);
  private timer?: NodeJS.Timeout;
  private readonly sourceErrors = new Set<string>();
  private noSourceLogged = false;
  evaluations = 0;

  constructor(private readonly opts: AlertEngineOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => undefined);
    this.notifiers = opts.notifiers ?? [];
    this.rules = opts.config.rules.map((config) => {
      const evaluator = makeEvaluator(config);
      for (const k of Object.keys(evaluator.needs) as (keyof typeof this.needs)[]) if (evaluator.needs[k]) this.needs[k] = true;
      return { config, evaluator, notifiers: new Set(config.notifiers), states: new Map(), overflowLogged: 0 };
    });
    this.eventRules = this.rules.filter((r) => r.evaluator.observe);
  }

  /** Rules that take events (clear, watched keys, mass deletion): tracing calls this for every event. */
  get wantsEvents(): boolean {
    return this.eventRules.length > 0;
  }

  /** One delete or clear, as the tracer decoded it. Cheap, and never throws. */
  observe(e: DeleteEvent): void {
    if (this.eventRules.length === 0) return;
    try {
      const service = serviceNameFor(e.process, this.opts.serviceName);
      for (const r of this.eventRules) r.evaluator.observe!(e, service);
    } catch (err) {
      this.logOnce('observe', `alerts: an event could not be evaluated: ${(err as Error).message}`);
    }
  }

  /** Evaluates every rule now, updates the alerts' states and hands notifiers what is due. */
  evaluate(now = this.now()): EvaluationResult {
    this.evaluations++;
    const snap = this.snapshot(now);
    const notices: Notice[] = [];
    const byRule = new Map<CompiledRule, { notices: Notice[]; firing: AlertInstance[] }>();
    const lines: string[] = [];
    let pending = 0;
    for (const rule of this.rules) {
      const out = { notices: [] as Notice[], firing: [] as AlertInstance[] };
      byRule.set(rule, out);
      let active;
      try {
        active = rule.evaluator.evaluate(snap);
      } catch (err) {
        this.logOnce(`rule ${rule.config.name}`, `alerts: rule ${rule.config.name} failed to evaluate (its alerts keep their state): ${(err as Error).message}`);
        for (const st of rule.states.values()) if (st.state === 'firing') out.firing.push(this.instance(rule, st, 'firing'));
        continue;
      }
      if (rule.evaluator.overflow > rule.overflowLogged) {
        this.log(`alerts: rule ${rule.config.name} holds its limit of series; ${rule.evaluator.overflow - rule.overflowLogged} more ignored (narrow group_by or match)`);
        rule.overflowLogged = rule.evaluator.overflow;
      }
      const c = rule.config;
      for (const [key, series] of active) {
        let st = rule.states.get(key);
        if (!st) {
          const labels = this.labelsFor(rule, series.labels);
          st = { labels, fingerprint: fingerprint(labels), value: series.value, state: 'pending', activeAt: now };
          rule.states.set(key, st);
        }
        st.value = series.value;
        if (st.state === 'pending' && now - st.activeAt >= c.forMs) {
          st.state = 'firing';
          st.firedAt = now;
          st.lastNoticeAt = now;
          out.notices.push(this.notice(rule, st, 'firing'));
          lines.push(`alert ${c.name} firing ${formatLabels(st.labels)} value ${formatValue(st.value)}`);
        } else if (st.state === 'firing' && c.repeatIntervalMs > 0 && now - st.lastNoticeAt! >= c.repeatIntervalMs) {
          st.lastNoticeAt = now;
          out.notices.push(this.notice(rule, st, 'repeat'));
        }
        if (st.state === 'firing') out.firing.push(this.instance(rule, st, 'firing'));
        else pending++;
      }
      for (const [key, st] of rule.states) {
        if (active.has(key)) continue;
        rule.states.delete(key);
        if (st.state !== 'firing') continue;
        out.notices.push(this.notice(rule, st, 'resolved', now));
        lines.push(`alert ${c.name} resolved ${formatLabels(st.labels)}`);
      }
      notices.push(...out.notices);
    }
    for (const l of lines.slice(0, MAX_LOG_LINES)) this.log(l);
    if (lines.length > MAX_LOG_LINES) this.log(`alerts: and ${lines.length - MAX_LOG_LINES} more alerts changed state`);

    const firing: AlertInstance[] = [];
    for (const out of byRule.values()) firing.push(...out.firing);
    for (const n of this.notifiers) {
      const mine = { now, notices: [] as Notice[], firing: [] as AlertInstance[] };
      for (const [rule, out] of byRule) {
        if (!rule.notifiers.has(n.id)) continue;
        mine.notices.push(...out.notices);
        mine.firing.push(...out.firing);
      }
      if (mine.notices.length === 0 && mine.firing.length === 0) continue;
      try {
        n.deliver(mine);
      } catch (err) {
        this.logOnce(`notifier ${n.id}`, `alerts: notifier ${n.id} failed: ${(err as Error).message}`);
      }
    }
    return { now, notices, firing, pending };
  }

  /** Evaluates now and then every evaluation_interval, until stop(). The timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    this.safeEvaluate();
    this.timer = setInterval(() => this.safeEvaluate(), this.opts.config.evaluationIntervalMs);
    this.timer.unref();
  }

  private safeEvaluate(): void {
    try {
      this.evaluate();
    } catch (err) {
      this.logOnce('evaluate', `alerts: evaluation failed: ${(err as Error).stack ?? err}`);
    }
  }

  /** Stops evaluating; then waits up to timeoutMs for notifiers to send what they hold. */
  async stop(timeoutMs = 0): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(this.notifiers.map((n) => n.close(timeoutMs).catch(() => undefined)));
  }

  /** Every pending and firing alert. */
  alerts(): AlertView[] {
    const out: AlertView[] = [];
    for (const r of this.rules) {
      for (const st of r.states.values()) {
        out.push({ rule: r.config.name, state: st.state, labels: st.labels, value: st.value, activeAt: st.activeAt, firedAt: st.firedAt });
      }
    }
    return out;
  }

  /** `alerts: 2 firing, 1 pending; webhook: 5 sent, 0 failed, 0 dropped` */
  summary(): string {
    const all = this.alerts();
    const parts = [`alerts: ${all.filter((a) => a.state === 'firing').length} firing, ${all.filter((a) => a.state === 'pending').length} pending`];
    for (const n of this.notifiers) {
      const s = n.stats();
      parts.push(`${n.id}: ${s.sent} sent, ${s.failed} failed, ${s.dropped} dropped${s.queued ? `, ${s.queued} queued` : ''}`);
    }
    return parts.join('; ');
  }

  private labelsFor(rule: CompiledRule, group: Labels): Labels {
    const labels: Labels = { alertname: rule.config.name };
    for (const [k, v] of Object.entries(group)) if (v !== '') labels[k] = v;
    for (const [k, v] of Object.entries(rule.config.labels)) if (v !== '') labels[k] = v;
    for (const [k, v] of Object.entries(this.opts.config.externalLabels)) if (v !== '' && !(k in labels)) labels[k] = v;
    return labels;
  }

  private instance(rule: CompiledRule, st: AlertState, status: 'firing' | 'resolved', endsAt?: number): AlertInstance {
    const annotations: Labels = {};
    for (const [k, t] of Object.entries(rule.config.annotations)) annotations[k] = renderTemplate(t, st.labels, st.value);
    const a: AlertInstance = {
      rule: rule.config.name,
      status,
      labels: st.labels,
      annotations,
      value: st.value,
      startsAt: st.firedAt ?? st.activeAt,
      fingerprint: st.fingerprint,
    };
    if (endsAt !== undefined) a.endsAt = endsAt;
    if (this.opts.config.generatorUrl) a.generatorUrl = this.opts.config.generatorUrl;
    return a;
  }

  private notice(rule: CompiledRule, st: AlertState, reason: Notice['reason'], endsAt?: number): Notice {
    return { ...this.instance(rule, st, reason === 'resolved' ? 'resolved' : 'firing', endsAt), reason };
  }

  private snapshot(now: number): Snapshot {
    const s: Snapshot = { now, baseline: { counts: false, maps: false, keys: false } };
    const src = this.opts.source;
    if (!this.needs.counts && !this.needs.maps && !this.needs.keys) return s;
    if (!src) {
      if (!this.noSourceLogged) this.log('alerts: no counters to read: rules over counts (delete_rate, mass_deletion) stay inactive');
      this.noSourceLogged = true;
      return s;
    }
    if (this.needs.counts) {
      const rows = this.read('deleteCounts', () => src.deleteCounts());
      if (rows) {
        s.baseline.counts = this.counts.isBaseline;
        s.counts = this.counts.update(rows, (r) => [r.count]).map(({ row, deltas }): CountDelta => ({ row, delta: deltas[0] }));
      }
    }
    if (this.needs.maps) {
      const rows = this.read('mapActivity', () => src.mapActivity());
      if (rows) {
        s.baseline.maps = this.maps.isBaseline;
        s.maps = this.maps.update(rows, (r) => [r.deletes, r.clears]).map(({ row, prev, deltas }): MapDelta => ({ row, prev, deletes: deltas[0], clears: deltas[1] }));
      }
    }
    if (this.needs.keys) {
      const rows = this.read('keyActivity', () => src.keyActivity());
      if (rows) {
        s.baseline.keys = this.keys.isBaseline;
        s.keys = this.keys.update(rows, (r) => [r.deletes]).map(({ row, deltas }): KeyDelta => ({ row, delta: deltas[0] }));
      }
    }
    return s;
  }

  private read<T>(what: string, f: () => T): T | undefined {
    try {
      const v = f();
      this.sourceErrors.delete(what);
      return v;
    } catch (err) {
      this.logOnce(`source ${what}`, `alerts: cannot read counters (${what}): ${(err as Error).message}; rules over them skip this evaluation`);
      return undefined;
    }
  }

  private logOnce(key: string, line: string): void {
    if (this.sourceErrors.has(key)) return;
    this.sourceErrors.add(key);
    this.log(line);
  }
}

/**
 * Deltas of cumulative counters between reads. A row seen for the first time after the first
 * read counts from zero (rows start at zero when the tracer attaches); on the first read every
 * row is the baseline. A counter lower than before was reset (its row was evicted and created
 * again): its delta is its new value. Rows that disappear are forgotten.
 */
export class CounterTracker<R> {
  private prev?: Map<string, R>;
  private prevValues = new Map<string, bigint[]>();

  constructor(private readonly id: (r: R) => string) {}

  get isBaseline(): boolean {
    return this.prev === undefined;
  }

  update(rows: R[], values: (r: R) => bigint[]): { row: R; prev?: R; deltas: number[] }[] {
    const baseline = this.prev === undefined;
    const next = new Map<string, R>();
    const nextValues = new Map<string, bigint[]>();
    for (const row of rows) {
      const id = this.id(row);
      const cur = values(row);
      const seen = nextValues.get(id);
      if (seen) {
        // Two rows with one identity (not expected from a CounterSource): counted as one.
        for (let i = 0; i < cur.length; i++) seen[i] += cur[i];
      } else {
        next.set(id, row);
        nextValues.set(id, [...cur]);
      }
    }
    const out: { row: R; prev?: R; deltas: number[] }[] = [];
    for (const [id, row] of next) {
      const cur = nextValues.get(id)!;
      const before = this.prevValues.get(id);
      let prev = this.prev?.get(id);
      let deltas: number[];
      if (baseline) deltas = cur.map(() => 0);
      else if (!before) deltas = cur.map(Number);
      else if (cur.some((v, i) => v < before[i])) {
        deltas = cur.map(Number);
        prev = undefined;
      } else deltas = cur.map((v, i) => Number(v - before[i]));
      out.push({ row, prev, deltas });
    }
    this.prev = next;
    this.prevValues = nextValues;
    return out;
  }
}

/** 16 hex digits over the sorted label set. */
export function fingerprint(labels: Labels): string {
  const text = Object.keys(labels)
    .sort()
    .map((k) => `${k}\u00ff${labels[k]}\u00ff`)
    .join('');
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16);
}

/** `{service="checkout", map="0xc000123456"}` */
export function formatLabels(labels: Labels): string {
  return `{${Object.entries(labels)
    .filter(([k]) => k !== 'alertname')
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ')}}`;
}
