/**
 * A bounded queue in front of a span exporter: batches, retries with exponential backoff while
 * the collector is down, and counts — never blocks tracing, never grows past its bound. When the
 * queue is full, new spans are dropped and counted (like the collector's sending queue).
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { RetryConfig } from '../config/types';

export interface QueueStats {
  queuedSpans: number;
  queuedEvents: number;
  exportedSpans: number;
  exportedEvents: number;
  droppedSpans: number;
  droppedEvents: number;
  failedAttempts: number;
  /** Last export error, for the log. */
  lastError?: string;
}

export interface QueueOptions {
  capacitySpans: number;
  batchSpans: number;
  /** Events per request: keeps a request under the receiver's message limit (gRPC's default is 4 MiB). */
  batchEvents: number;
  retry: RetryConfig;
  /** A fresh exporter per attempt after a failure, so reconnects follow our backoff, not the channel's. */
  makeExporter: () => SpanExporter;
  log: (line: string) => void;
}

/** The collector refused the request for its size: retrying the same request cannot succeed. */
function tooLarge(result: ExportResult): boolean {
  return /larger than max|message too large|RESOURCE_EXHAUSTED.*(size|larger)/i.test(result.error?.message ?? '');
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class ExportQueue {
  private readonly items: { span: ReadableSpan; events: number }[] = [];
  private exporter: SpanExporter;
  private pumping?: Promise<void>;
  private closing = false;
  private abandoned = false;
  private inflight = { spans: 0, events: 0 };
  private batchEvents: number;
  private down = false;
  readonly stats: QueueStats = {
    queuedSpans: 0,
    queuedEvents: 0,
    exportedSpans: 0,
    exportedEvents: 0,
    droppedSpans: 0,
    droppedEvents: 0,
    failedAttempts: 0,
  };

  constructor(private readonly opts: QueueOptions) {
    this.exporter = opts.makeExporter();
    this.batchEvents = opts.batchEvents;
  }

  /** The next request: up to batchSpans spans and batchEvents events (always at least one span). */
  private nextBatch(): { span: ReadableSpan; events: number }[] {
    let n = 0;
    let events = 0;
    while (n < this.items.length && n < this.opts.batchSpans) {
      const e = this.items[n].events;
      if (n > 0 && events + e > this.batchEvents) break;
      events += e;
      n++;
    }
    return this.items.splice(0, n);
  }

  push(span: ReadableSpan, events: number): void {
    if (this.items.length >= this.opts.capacitySpans || this.closing) {
      this.stats.droppedSpans++;
      this.stats.droppedEvents += events;
      return;
    }
    this.items.push({ span, events });
    this.stats.queuedSpans++;
    this.stats.queuedEvents += events;
    if (!this.pumping) this.pumping = this.pump().finally(() => (this.pumping = undefined));
  }

  private exportOnce(batch: ReadableSpan[]): Promise<ExportResult> {
    return new Promise((resolve) => {
      try {
        this.exporter.export(batch, resolve);
      } catch (err) {
        resolve({ code: ExportResultCode.FAILED, error: err as Error });
      }
    });
  }

  private async pump(): Promise<void> {
    while (this.items.length) {
      const take = this.nextBatch();
      const batch = take.map((t) => t.span);
      const events = take.reduce((n, t) => n + t.events, 0);
      this.stats.queuedSpans -= take.length;
      this.stats.queuedEvents -= events;
      this.inflight = { spans: batch.length, events };
      const started = Date.now();
      let delay = this.opts.retry.initialIntervalMs;
      for (;;) {
        const result = await this.exportOnce(batch);
        if (this.abandoned) return; // close() gave up on this batch and counted it
        if (result.code === ExportResultCode.SUCCESS) {
          this.stats.exportedSpans += batch.length;
          this.stats.exportedEvents += events;
          if (this.down) this.opts.log('export: collector reachable again, delivering');
          this.down = false;
          break;
        }
        this.stats.failedAttempts++;
        this.stats.lastError = result.error?.message ?? 'export failed';
        if (tooLarge(result)) {
          // Smaller requests from now on; this one goes back split in two, or is dropped if it is one span.
          this.batchEvents = Math.max(1, Math.floor(events / 2));
          this.opts.log(`export: request of ${events} events too large for the collector (${this.stats.lastError}); sending at most ${this.batchEvents} events per request`);
          if (take.length > 1) {
            this.items.unshift(...take);
            this.stats.queuedSpans += take.length;
            this.stats.queuedEvents += events;
          } else {
            this.stats.droppedSpans += 1;
            this.stats.droppedEvents += events;
          }
          break;
        }
        if (!this.down) this.opts.log(`export failed (${this.stats.lastError}); retrying with backoff, queue holds at most ${this.opts.capacitySpans} spans`);
        this.down = true;
        const elapsed = Date.now() - started;
        const giveUp =
          !this.opts.retry.enabled || this.closing || (this.opts.retry.maxElapsedMs > 0 && elapsed + delay > this.opts.retry.maxElapsedMs);
        if (giveUp) {
          this.stats.droppedSpans += batch.length;
          this.stats.droppedEvents += events;
          break;
        }
        await sleep(delay);
        if (this.abandoned) return;
        delay = Math.min(delay * 2, this.opts.retry.maxIntervalMs);
        void this.exporter.shutdown().catch(() => undefined);
        this.exporter = this.opts.makeExporter();
      }
    }
  }

  /** Delivers what is queued within `timeoutMs`; what is left then is counted as dropped. */
  async close(timeoutMs: number): Promise<void> {
    const deadline = sleep(timeoutMs).then(() => 'timeout' as const);
    const done = (this.pumping ?? Promise.resolve()).then(() => 'done' as const);
    const first = await Promise.race([done, deadline]);
    this.closing = true;
    if (first === 'timeout') {
      this.abandoned = true;
      this.stats.droppedSpans += this.inflight.spans;
      this.stats.droppedEvents += this.inflight.events;
      for (const t of this.items.splice(0)) {
        this.stats.droppedSpans++;
        this.stats.droppedEvents += t.events;
      }
      this.stats.queuedSpans = this.stats.queuedEvents = 0;
    }
    await Promise.race([this.exporter.shutdown().catch(() => undefined), sleep(1000)]);
  }
}
