/**
 * The `run` pipeline's export side: every DeleteEvent passes the rate ceiling once, then goes to
 * each configured exporter — otlp (grouped into spans, queued, retried), debug (readable lines
 * on stdout), file (JSON lines, the `watch --format json` schema).
 *
 * With the otlp receiver in the pipeline (pipeline-stage mode, docs/otlp-receiver.md), each otlp
 * exporter also gets an OtlpForwarder, and consumeTraces() passes every received request to all
 * of them. Unless `attach_events` is off, deletes made under a sampled service span are held by a
 * ReceivedSpanAttacher (attach-received.ts) instead of going to the otlp exporters, and added as
 * span events to that span when a received request carries it; what is not attached goes to the
 * otlp exporters as in standalone mode. debug and file exporters see every delete at once, and
 * ignore received traces.
 */
import * as fs from 'node:fs';
import type { Resource } from '@opentelemetry/resources';
import type { ExporterConfig, MapDeleteReceiverConfig, OtlpReceiverConfig } from '../config/types';
import { OtlpForwarder, type ForwardStats } from '../otlp/forward';
import type { ReceivedTraces } from '../otlp/server';
import type { DeleteEvent } from '../events/types';
import { appendJsonLine } from '../output/json';
import { LineBuffer } from '../output/lines';
import { appendTextLine } from '../output/text';
import { UserError } from '../util/errors';
import { loadTraceProtos } from '../otlp/proto';
import { ReceivedSpanAttacher, type AttachStats } from './attach-received';
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
  /** Lines gathered as bytes and written 256 at a time (and on every tick). */
  private readonly pending = new LineBuffer();
  private written = 0;

  constructor(
    readonly id: string,
    private readonly fd: number,
    private readonly append: (e: DeleteEvent, out: LineBuffer) => void,
    private readonly ownsFd: boolean,
  ) {}

  consume(e: DeleteEvent): void {
    this.append(e, this.pending);
    if (this.pending.lines >= 256) this.tick();
  }

  tick(): void {
    if (!this.pending.lines) return;
    this.written += this.pending.lines;
    fs.writeSync(this.fd, this.pending.take());
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
  /** Per otlp exporter, forwarding of received traces (only with the otlp receiver). */
  forwarders: Record<string, ForwardStats>;
  /** Deletes attached to received spans, or not and why (only with the otlp receiver attaching). */
  attach?: AttachStats;
}

export class ExportPipeline {
  private readonly exporters: EventExporter[] = [];
  /** The otlp ones among them: where deletes that are not attached go. */
  private readonly spanExporters: EventExporter[] = [];
  private readonly attacher?: ReceivedSpanAttacher;
  private readonly limiter: RateLimiter;
  private received = 0;
  private rateLimited = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly forwarders: { id: string; fwd: OtlpForwarder }[] = [];
  private forwardersClosed = false;

  /**
   * `otlpReceiver`: the otlp receiver's settings when it is in the pipeline; then each otlp
   * exporter also forwards received traces (consumeTraces).
   */
  constructor(receiver: MapDeleteReceiverConfig, exporters: ExporterConfig[], log: (l: string) => void, otlpReceiver?: OtlpReceiverConfig) {
    this.limiter = new RateLimiter(receiver.maxEventsPerSecond);
    for (const cfg of exporters) {
      switch (cfg.type) {
        case 'otlp': {
          const x = new OtlpEventExporter(cfg.id, cfg, receiver, log);
          this.exporters.push(x);
          this.spanExporters.push(x);
          if (otlpReceiver) {
            this.forwarders.push({
              id: cfg.id,
              fwd: new OtlpForwarder({
                endpoint: cfg.endpoint,
                tls: cfg.tls,
                headers: cfg.headers,
                compression: cfg.compression,
                timeoutMs: cfg.timeoutMs,
                retry: cfg.retry,
                maxWaitMs: otlpReceiver.forwardTimeoutMs,
                name: `${cfg.id} (forwarding)`,
                log,
              }),
            });
          }
          break;
        }
        case 'debug':
          this.exporters.push(new LineExporter(cfg.id, 1, cfg.verbosity === 'detailed' ? appendJsonLine : appendTextLine, false));
          break;
        case 'file': {
          let fd: number;
          try {
            fd = fs.openSync(cfg.path, 'a');
          } catch (err) {
            throw new UserError(`exporter ${cfg.id}: cannot open ${cfg.path}: ${(err as NodeJS.ErrnoException).code} (check exporters.${cfg.id}.path)`);
          }
          this.exporters.push(new LineExporter(cfg.id, fd, appendJsonLine, true));
          break;
        }
      }
    }
    if (otlpReceiver?.attach.enabled && this.spanExporters.length) {
      const a = otlpReceiver.attach;
      this.attacher = new ReceivedSpanAttacher({
        waitMs: a.deleteWaitMs,
        settleMs: a.settleMs,
        maxPendingEvents: a.maxPendingEvents,
        maxRequestBytes: otlpReceiver.grpc.maxRecvMsgSizeBytes,
        protos: loadTraceProtos(),
        standalone: (e) => this.exportSpans(e),
        log,
      });
    }
    this.timer = setInterval(() => this.tick(), 200);
  }

  consume(e: DeleteEvent): void {
    this.received++;
    if (!this.limiter.take()) {
      this.rateLimited++;
      return;
    }
    for (const x of this.exporters) if (!(x instanceof OtlpEventExporter)) x.consume(e);
    if (this.attacher) this.attacher.offer(e);
    else this.exportSpans(e);
  }

  /** To the otlp exporters, as a `go.map.deletes` span event (standalone mode). */
  private exportSpans(e: DeleteEvent): void {
    for (const x of this.spanExporters) x.consume(e);
  }

  /**
   * A request from the otlp receiver goes to every otlp exporter's downstream: as received, or
   * with held deletes added as span events to their spans (everything else byte for byte).
   * Settles when all of them have accepted it, with the first one's response; if any refuses or
   * gives up, rejects with that StatusError (the sender retries, and the deletes attached to
   * this attempt are held again for the retry).
   */
  async consumeTraces(req: ReceivedTraces): Promise<Buffer | undefined> {
    if (!this.forwarders.length) return undefined;
    const att = this.attacher ? await this.attacher.attach(req) : undefined;
    const raw = att?.raw ?? req.raw;
    let responses: Buffer[];
    try {
      responses = await Promise.all(this.forwarders.map((f) => f.fwd.forward(raw, { deadline: req.deadline, signal: req.signal })));
    } catch (err) {
      att?.rollback();
      throw err;
    }
    att?.commit();
    return responses[0];
  }

  private tick(): void {
    this.attacher?.expire();
    for (const x of this.exporters) x.tick();
  }

  stats(): PipelineStats {
    const exporters: PipelineStats['exporters'] = {};
    for (const x of this.exporters) exporters[x.id] = x.stats();
    const forwarders: PipelineStats['forwarders'] = {};
    for (const f of this.forwarders) forwarders[f.id] = { ...f.fwd.stats };
    const stats: PipelineStats = { received: this.received, rateLimited: this.rateLimited, exporters, forwarders };
    if (this.attacher) stats.attach = { ...this.attacher.stats };
    return stats;
  }

  /**
   * Hands deletes still waiting for their spans to the otlp exporters, then flushes every
   * exporter, giving queued OTLP spans up to `timeoutMs` to leave, and closes
   * the forwarders (requests still waiting get the same time). Shut the otlp receiver down
   * first: it stops taking requests and lets those in flight finish. Safe to call again.
   */
  async close(timeoutMs: number): Promise<void> {
    clearInterval(this.timer);
    this.attacher?.close(); // what is still held goes to the otlp exporters, flushed below
    const closing = this.forwardersClosed ? [] : this.forwarders.map((f) => f.fwd.close(timeoutMs));
    this.forwardersClosed = true;
    await Promise.all([...this.exporters.map((x) => x.close(timeoutMs)), ...closing]);
  }
}
