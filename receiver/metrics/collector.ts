/**
 * The Prometheus exposition (prom-client): at each scrape, the counter source and the export
 * pipeline's statistics are read once, folded into CounterState (state.ts), and every family of
 * families.ts is filled from that, in its collect(). Nothing here runs per delete.
 */
import { Counter, Gauge, Histogram as PromHistogram, Registry } from 'prom-client';
import type { CounterSource } from './source';
import { FAMILIES, type Family } from './families';
import { CounterState, MonotonicValue, type Histogram, type MetricsLimits } from './state';

/** What the export pipeline tells about itself (receiver/export/pipeline.ts's PipelineStats, narrowed). */
export interface ExportStats {
  received: number;
  rateLimited: number;
  exporters: Record<string, Record<string, number | string | undefined>>;
}

export interface CollectorOptions {
  limits: MetricsLimits;
  /** Tracer version for map_delete_tracer_build_info. */
  version: string;
  /** Capacity of each otlp exporter's queue, by exporter id (sending_queue.queue_size). */
  queueCapacity?: Record<string, number>;
}

type Labels = Record<string, string>;
type HistogramObject = Awaited<ReturnType<PromHistogram<string>['get']>>;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** A histogram whose buckets come from the source as they are (log2 bounds from the kernel). */
class SourcedHistogram extends PromHistogram<string> {
  constructor(
    private readonly family: Family,
    private readonly read: () => Histogram | undefined,
    registry: Registry,
  ) {
    super({ name: family.name, help: family.help, labelNames: [], buckets: [1], registers: [registry] });
  }

  override async get(): Promise<HistogramObject> {
    return this.render();
  }

  /** What the registry calls when it renders text (prom-client's Histogram has it too). */
  async getForPromString(): Promise<HistogramObject> {
    return this.render();
  }

  private render(): HistogramObject {
    const h = this.read();
    const values: { labels: Labels; value: number; metricName: string }[] = [];
    if (h) {
      let last = 0n;
      let sawInf = false;
      for (const b of h.buckets) {
        // cumulative counts never go down from one bucket to the next
        last = b.count > last ? b.count : last;
        const le = b.le === Infinity ? '+Inf' : String(b.le);
        if (le === '+Inf') sawInf = true;
        values.push({ labels: { le }, value: Number(last), metricName: `${this.family.name}_bucket` });
      }
      if (!sawInf) values.push({ labels: { le: '+Inf' }, value: Number(h.count), metricName: `${this.family.name}_bucket` });
      values.push({ labels: {}, value: h.sum, metricName: `${this.family.name}_sum` });
      values.push({ labels: {}, value: Number(h.count), metricName: `${this.family.name}_count` });
    }
    // prom-client's own histograms report type 'histogram' as a string too; its typings say enum.
    return { name: this.family.name, help: this.family.help, type: 'histogram', values, aggregator: 'sum' } as unknown as HistogramObject;
  }
}

export class MetricsCollector {
  readonly registry = new Registry();
  private readonly state: CounterState;
  private source?: CounterSource;
  private exportStats?: () => ExportStats;
  private readonly exportCounters = new Map<string, MonotonicValue>();
  private exportView: ExportStats | undefined;

  constructor(private readonly opts: CollectorOptions) {
    this.state = new CounterState(opts.limits);
    this.define();
  }

  /** The counters to expose; undefined until the tracer has attached (the families stay empty). */
  setSource(source: CounterSource | undefined): void {
    this.source = source;
  }

  /** The export pipeline's statistics; its families exist only once this is called (not in `watch`). */
  setExportStats(read: (() => ExportStats) | undefined): void {
    if (read && !this.exportStats) this.definePipeline();
    this.exportStats = read;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One scrape: reads the source and the pipeline once, then renders every family. */
  async scrape(nowMs = Date.now()): Promise<string> {
    if (this.source) this.state.update(this.source, nowMs);
    this.exportView = this.exportStats?.();
    return this.registry.metrics();
  }

  private counter(f: Family, fill: (set: (labels: Labels, value: bigint | number) => void) => void): void {
    new Counter({
      name: f.name,
      help: f.help,
      labelNames: [...f.labels],
      registers: [this.registry],
      collect() {
        this.reset();
        fill((labels, value) => this.inc(labels, Number(value)));
      },
    });
  }

  private gauge(f: Family, fill: (set: (labels: Labels, value: number) => void) => void): void {
    new Gauge({
      name: f.name,
      help: f.help,
      labelNames: [...f.labels],
      registers: [this.registry],
      collect() {
        this.reset();
        fill((labels, value) => this.set(labels, value));
      },
    });
  }

  /** A counter of the export pipeline, kept monotonic per (name, exporter). */
  private exportCounter(name: string, exporter: string, value: number): bigint {
    const key = `${name}\u0000${exporter}`;
    let m = this.exportCounters.get(key);
    if (!m) this.exportCounters.set(key, (m = new MonotonicValue()));
    return m.update(BigInt(Math.max(0, Math.trunc(value))));
  }

  private define(): void {
    const s = this.state;

    this.counter(FAMILIES.deletes, (set) => {
      for (const x of s.calls.delete.values()) set({ ...x.labels }, x.value);
    });
    this.counter(FAMILIES.clears, (set) => {
      for (const x of s.calls.clear.values()) set({ ...x.labels }, x.value);
    });
    this.gauge(FAMILIES.mapLen, (set) => {
      for (const m of s.maps.shown()) if (m.len !== null) set({ ...m.labels }, m.len);
    });
    this.gauge(FAMILIES.mapClearMaxLen, (set) => {
      for (const m of s.maps.shown()) if (m.maxClearLen !== null) set({ ...m.labels }, m.maxClearLen);
    });
    this.counter(FAMILIES.mapDeletes, (set) => {
      for (const m of s.maps.shown()) set({ ...m.labels }, m.deletes);
    });
    this.counter(FAMILIES.mapClears, (set) => {
      for (const m of s.maps.shown()) set({ ...m.labels }, m.clears);
    });
    new SourcedHistogram(FAMILIES.deleteDuration, () => s.durations.delete, this.registry);
    new SourcedHistogram(FAMILIES.clearDuration, () => s.durations.clear, this.registry);

    const version = this.opts.version;
    this.gauge(FAMILIES.buildInfo, (set) => set({ version }, 1));
    this.counter(FAMILIES.eventsLost, (set) => set({}, s.lost.value));
    this.counter(FAMILIES.uncountedDeletes, (set) => set({}, s.overflow.value));
    this.gauge(FAMILIES.ringBufferSize, (set) => set({}, s.gauges.ringBufferBytes));
    this.gauge(FAMILIES.ringBufferUsed, (set) => set({}, s.gauges.ringBufferUsedBytes));
    this.gauge(FAMILIES.ringBufferUsage, (set) => {
      const g = s.gauges;
      if (g.ringBufferBytes > 0) set({}, Math.min(1, Math.max(0, g.ringBufferUsedBytes / g.ringBufferBytes)));
    });
    this.gauge(FAMILIES.probesAttached, (set) => set({}, s.gauges.probesAttached));
    this.counter(FAMILIES.attachErrors, (set) => set({}, s.attachErrors.value));
    this.gauge(FAMILIES.tracedProcesses, (set) => set({}, s.gauges.tracedProcesses));
    this.gauge(FAMILIES.foldedCallSites, (set) => {
      set({ op: 'delete' }, s.calls.delete.foldedCallSites());
      set({ op: 'clear' }, s.calls.clear.foldedCallSites());
    });
  }

  private definePipeline(): void {
    const pipe = () => this.exportView;
    this.counter(FAMILIES.eventsReceived, (set) => {
      const p = pipe();
      if (p) set({}, this.exportCounter('received', '', p.received));
    });
    this.counter(FAMILIES.eventsRateLimited, (set) => {
      const p = pipe();
      if (p) set({}, this.exportCounter('rateLimited', '', p.rateLimited));
    });
    const perExporter = (pick: (x: Record<string, number | string | undefined>) => number | undefined, name: string) =>
      (set: (labels: Labels, value: bigint) => void) => {
        for (const [exporter, x] of Object.entries(pipe()?.exporters ?? {})) {
          const v = pick(x);
          if (v !== undefined) set({ exporter }, this.exportCounter(name, exporter, v));
        }
      };
    this.counter(FAMILIES.exportedEvents, perExporter((x) => num(x.exportedEvents) ?? num(x.written), 'exported'));
    this.counter(FAMILIES.exportDroppedEvents, perExporter((x) => num(x.droppedEvents), 'dropped'));
    this.counter(FAMILIES.exportFailedAttempts, perExporter((x) => num(x.failedAttempts), 'failed'));
    this.gauge(FAMILIES.exportQueueSpans, (set) => {
      for (const [exporter, x] of Object.entries(pipe()?.exporters ?? {})) {
        const q = num(x.queuedSpans);
        if (q !== undefined) set({ exporter }, q);
      }
    });
    this.gauge(FAMILIES.exportQueueCapacity, (set) => {
      if (!pipe()) return;
      for (const [exporter, cap] of Object.entries(this.opts.queueCapacity ?? {})) set({ exporter }, cap);
    });
    this.gauge(FAMILIES.exportQueueUsage, (set) => {
      for (const [exporter, x] of Object.entries(pipe()?.exporters ?? {})) {
        const q = num(x.queuedSpans);
        const cap = this.opts.queueCapacity?.[exporter];
        if (q !== undefined && cap) set({ exporter }, Math.min(1, q / cap));
      }
    });
  }
}
