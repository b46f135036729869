/**
 * The `run` pipeline's export side: every DeleteEvent passes the rate ceiling once, then goes to
 * each configured exporter — otlp (grouped into spans, queued, retried), debug (readable lines
 * on stdout), file (JSON lines, the `watch --format json` schema).
 */
import * as fs from 'node:fs';
import type { Resource } from '@opentelemetry/resources';
import type { ExporterConfig, MapDeleteReceiverConfig } from '../config/types';
import type { DeleteEvent } from '../events/types';
import { formatJson } from '../output/json';
import { formatText } from '../output/text';
import { UserError } from '../util/errors';
import { makeOtlpExporter } from './otlp';
import { ExportQueue, type QueueStats } from './queue';
import { RateLimiter } from './ratelimit';
import { processResource } from './resource';
import { SpanGrouper } from './spans';

interface EventExporter {
  id: string;
  consume(e: DeleteEvent): void;
  tick(): void;
  close(timeoutMs: number): Promise<void>;
  stats(): Record<string, number | string | undefined>;
}

class OtlpEventExporter implements EventExporter {
  private readonly grouper: SpanGrouper;
  readonly queue: ExportQueue;
  private readonly resources = new Map<number, Resource>();

  constructor(
    readonly id: string,
    cfg: Extract<ExporterConfig, { type: 'otlp' }>,
    private readonly receiver: MapDeleteReceiverConfig,
    private readonly log: (l: string) => void,
  ) {
    this.queue = new ExportQueue({
      capacitySpans: cfg.queueSize,
      batchSpans: 256,
      batchEvents: 1000,
      retry: cfg.retry,
      makeExporter: makeOtlpExporter(cfg),
      log: (l) => log(`${id}: ${l}`),
    });
    this.grouper = new SpanGrouper(receiver.groupingWindowMs, (span, events) => this.queue.push(span, events));
  }

  consume(e: DeleteEvent): void {
    let res = this.resources.get(e.pid);
    if (!res) {
      res = processResource(e.pid, e.process, this.receiver.serviceName);
      this.log(`${this.id}: PID ${e.pid} exports as service "${res.attributes['service.name']}"`);
      if (this.resources.size > 10_000) this.resources.clear();
      this.resources.set(e.pid, res);
    }
    this.grouper.add(e, res);
  }

  tick(): void {
    this.grouper.flush(false);
  }

  async close(timeoutMs: number): Promise<void> {
    this.grouper.flush(true);
    await this.queue.close(timeoutMs);
  }

  stats(): Record<string, number | string | undefined> {
    const s: QueueStats = this.queue.stats;
    return { ...s, openEvents: this.grouper.openEvents };
  }
}

class LineExporter implements EventExporter {
  private pending: string[] = [];
  private written = 0;

  constructor(
    readonly id: string,
    private readonly fd: number,
    private readonly render: (e: DeleteEvent) => string,
    private readonly ownsFd: boolean,
  ) {}

  consume(e: DeleteEvent): void {
    this.pending.push(this.render(e) + '\n');
    if (this.pending.length >= 256) this.tick();
  }

  tick(): void {
    if (!this.pending.length) return;
    const text = this.pending.join('');
    this.written += this.pending.length;
    this.pending = [];
    fs.writeSync(this.fd, text);
  }

  async close(): Promise<void> {
    this.tick();
    if (this.ownsFd) fs.closeSync(this.fd);
  }

  stats(): Record<string, number> {
    return { written: this.written };
  }
}

export interface PipelineStats {
  received: number;
  rateLimited: number;
  exporters: Record<string, Record<string, number | string | undefined>>;
}

export class ExportPipeline {
  private readonly exporters: EventExporter[] = [];
  private readonly limiter: RateLimiter;
  private received = 0;
  private rateLimited = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(receiver: MapDeleteReceiverConfig, exporters: ExporterConfig[], log: (l: string) => void) {
    this.limiter = new RateLimiter(receiver.maxEventsPerSecond);
    for (const cfg of exporters) {
      switch (cfg.type) {
        case 'otlp':
          this.exporters.push(new OtlpEventExporter(cfg.id, cfg, receiver, log));
          break;
        case 'debug':
          this.exporters.push(new LineExporter(cfg.id, 1, cfg.verbosity === 'detailed' ? formatJson : formatText, false));
          break;
        case 'file': {
          let fd: number;
          try {
            fd = fs.openSync(cfg.path, 'a');
          } catch (err) {
            throw new UserError(`exporter ${cfg.id}: cannot open ${cfg.path}: ${(err as NodeJS.ErrnoException).code} (check exporters.${cfg.id}.path)`);
          }
          this.exporters.push(new LineExporter(cfg.id, fd, formatJson, true));
          break;
        }
      }
    }
    this.timer = setInterval(() => this.tick(), 200);
  }

  consume(e: DeleteEvent): void {
    this.received++;
    if (!this.limiter.take()) {
      this.rateLimited++;
      return;
    }
    for (const x of this.exporters) x.consume(e);
  }

  private tick(): void {
    for (const x of this.exporters) x.tick();
  }

  stats(): PipelineStats {
    const exporters: PipelineStats['exporters'] = {};
    for (const x of this.exporters) exporters[x.id] = x.stats();
    return { received: this.received, rateLimited: this.rateLimited, exporters };
  }

  /** Flushes every exporter, giving queued OTLP spans up to `timeoutMs` to leave. */
  async close(timeoutMs: number): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.exporters.map((x) => x.close(timeoutMs)));
  }
}
