/**
 * Pipeline-stage mode, attaching (docs/otlp-receiver.md): each delete made under a sampled span of
 * the service becomes a span event on that very span, as the service's own request passes through
 * the tracer on its way to the collector — no extra span.
 *
 *  - offer(e): a delete whose active span is sampled is held, keyed by (trace id, span id), until
 *    that span arrives; any other delete goes standalone at once (the `go.map.deletes` spans of
 *    spans.ts, parented to the service span when it has a sampled one).
 *  - attach(req): for a received request, waits until its newest span has been over for `settle`
 *    (at most `settle`: deletes can still be in the ring buffer when the span arrives), takes the
 *    held deletes of its spans and appends them as Span.Event fields to those spans' bytes
 *    (receiver/otlp/splice.ts): everything else stays byte for byte as received. The caller
 *    forwards the result and then commits, or rolls back when forwarding failed (the deletes are
 *    held again, for the sender's retry).
 *  - Deletes whose span has not arrived within `wait` of them, deletes for a span already
 *    forwarded (remembered in a bounded LRU), deletes beyond `maxPendingEvents`, deletes that
 *    would grow the request past `maxRequestBytes`, and everything held at close() go standalone,
 *    each counted by why.
 *
 * Memory: at most maxPendingEvents deletes and forwardedSpans span keys.
 */
import type { AttributeValue } from '@opentelemetry/api';
import type { Type } from 'protobufjs';
import type { DeleteEvent } from '../events/types';
import type { AnyValue, KeyValue, OtlpTraceProtos, SpanEvent } from '../otlp/proto';
import { appendToSpans, eventField, indexSpans } from '../otlp/splice';
import { EVENT_CLEAR, EVENT_DELETE, eventAttributes } from './attributes';
import { parentSpanOf } from './spans';

/** Span keys remembered as forwarded, by default. (The other defaults are the config's: receivers.ts.) */
export const FORWARDED_SPANS = 65_536;

export interface AttachOptions {
  /** Longest a delete waits for its span before it goes standalone. */
  waitMs: number;
  /** How long after a received span's end its deletes may still arrive. */
  settleMs: number;
  maxPendingEvents: number;
  /** A request never grows past this by attaching (the receiver's max_recv_msg_size). */
  maxRequestBytes: number;
  /** Span keys remembered as forwarded (default FORWARDED_SPANS). */
  forwardedSpans?: number;
  protos: OtlpTraceProtos;
  /** Exports a delete as in standalone mode. */
  standalone: (e: DeleteEvent) => void;
  log?: (line: string) => void;
}

export interface AttachStats {
  /** Deletes held, waiting for their span. */
  pendingEvents: number;
  peakPendingEvents: number;
  /** Deletes added as span events to received spans, and the spans that got them. */
  attachedEvents: number;
  attachedSpans: number;
  /** Went standalone because their span did not arrive within the wait. */
  expired: number;
  /** Went standalone because their span had already been forwarded. */
  late: number;
  /** Went standalone at once because maxPendingEvents deletes were held. */
  overflow: number;
  /** Went standalone because adding them would have grown the request past maxRequestBytes. */
  tooLarge: number;
  /** Went standalone because encoding or splicing failed (the request was forwarded as received). */
  failed: number;
  /** Held again because forwarding their request failed (the sender retries it). */
  requeued: number;
  /** Went standalone when the pipeline closed. */
  atClose: number;
}

/** A received request with the deletes attached, for the caller to forward. */
export interface Attachment {
  /** The bytes to forward: the received ones when nothing was attached. */
  raw: Buffer;
  /** Deletes attached. */
  events: number;
  /** Forwarding succeeded. */
  commit(): void;
  /** Forwarding failed: the attached deletes are held again. */
  rollback(): void;
}

interface Held {
  e: DeleteEvent;
  key: string;
  atMs: number;
}

// ---- the OTLP form of a delete -----------------------------------------------------------------

/** An attribute value as the OTLP JS exporter encodes it: integers as intValue, other numbers as doubleValue. */
export function anyValue(v: AttributeValue | null | undefined): AnyValue {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: BigInt(v).toString() } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: (v as (AttributeValue | null | undefined)[]).map(anyValue) } };
  return {};
}

/** A delete as an OTLP Span.Event: the same name, time and attributes as its standalone event. */
export function otlpEvent(e: DeleteEvent): SpanEvent {
  const attributes: KeyValue[] = Object.entries(eventAttributes(e)).map(([key, v]) => ({ key, value: anyValue(v) }));
  return { timeUnixNano: e.timeNs.toString(), name: e.op === 'clear' ? EVENT_CLEAR : EVENT_DELETE, attributes };
}

// ---- the attacher ------------------------------------------------------------------------------

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    if (signal?.aborted) done();
    else signal?.addEventListener('abort', done, { once: true });
  });
}

export class ReceivedSpanAttacher {
  /** Held deletes by span key, each set in arrival order. */
  private readonly bySpan = new Map<string, Set<Held>>();
  /** Every held delete, in arrival order (so the oldest expire first). */
  private readonly order = new Set<Held>();
  /** Span keys recently taken from a received request (insertion order = age). */
  private readonly forwarded = new Map<string, true>();
  private readonly eventType: Type;
  private readonly forwardedCap: number;
  private closed = false;
  readonly stats: AttachStats = {
    pendingEvents: 0,
    peakPendingEvents: 0,
    attachedEvents: 0,
    attachedSpans: 0,
    expired: 0,
    late: 0,
    overflow: 0,
    tooLarge: 0,
    failed: 0,
    requeued: 0,
    atClose: 0,
  };

  constructor(private readonly opts: AttachOptions) {
    this.eventType = opts.protos.root.lookupType('opentelemetry.proto.trace.v1.Span.Event');
    this.forwardedCap = opts.forwardedSpans ?? FORWARDED_SPANS;
  }

  /** Holds a delete made under a sampled span until that span arrives; exports any other standalone. */
  offer(e: DeleteEvent): void {
    const p = parentSpanOf(e);
    if (!p || this.closed) {
      this.opts.standalone(e);
      return;
    }
    const key = p.traceId + p.spanId;
    if (this.forwarded.has(key)) {
      this.stats.late++;
      this.opts.standalone(e);
      return;
    }
    this.hold(e, key, Date.now());
  }

  private hold(e: DeleteEvent, key: string, atMs: number): void {
    if (this.closed) {
      this.stats.atClose++;
      this.opts.standalone(e);
      return;
    }
    if (this.order.size >= this.opts.maxPendingEvents) {
      this.stats.overflow++;
      this.opts.standalone(e);
      return;
    }
    const h: Held = { e, key, atMs };
    let set = this.bySpan.get(key);
    if (!set) this.bySpan.set(key, (set = new Set()));
    set.add(h);
    this.order.add(h);
    this.stats.pendingEvents = this.order.size;
    if (this.order.size > this.stats.peakPendingEvents) this.stats.peakPendingEvents = this.order.size;
  }

  /** Takes every held delete of a span, oldest first. */
  private take(key: string): Held[] {
    const set = this.bySpan.get(key);
    if (!set) return [];
    this.bySpan.delete(key);
    for (const h of set) this.order.delete(h);
    this.stats.pendingEvents = this.order.size;
    return [...set];
  }

  private remember(key: string): void {
    this.forwarded.delete(key);
    this.forwarded.set(key, true);
    if (this.forwarded.size > this.forwardedCap) this.forwarded.delete(this.forwarded.keys().next().value!);
  }

  /** Deletes held longer than the wait go standalone. Call periodically. */
  expire(now = Date.now()): void {
    for (const h of this.order) {
      if (now - h.atMs < this.opts.waitMs) break;
      this.order.delete(h);
      const set = this.bySpan.get(h.key)!;
      set.delete(h);
      if (!set.size) this.bySpan.delete(h.key);
      this.stats.expired++;
      this.opts.standalone(h.e);
    }
    this.stats.pendingEvents = this.order.size;
  }

  /**
   * The request with the held deletes of its spans attached (after the settle wait). Never
   * throws: on any failure the received bytes come back, and the deletes go standalone.
   */
  async attach(req: { raw: Buffer; signal?: AbortSignal }): Promise<Attachment> {
    const unchanged = (keys: string[]): Attachment => ({
      raw: req.raw,
      events: 0,
      commit: () => undefined,
      rollback: () => keys.forEach((k) => this.forwarded.delete(k)),
    });
    let index;
    try {
      index = indexSpans(req.raw);
    } catch (err) {
      this.opts.log?.(`otlp receiver: cannot find the spans of a request (${(err as Error).message}); forwarded as received`);
      return unchanged([]);
    }
    if (!index.spans.length) return unchanged([]);

    let newestEnd = 0n;
    for (const s of index.spans) if (s.endNs > newestEnd) newestEnd = s.endNs;
    const settle = Math.min(this.opts.settleMs, Number(newestEnd / 1_000_000n) + this.opts.settleMs - Date.now());
    if (settle > 0 && !this.closed) await sleep(settle, req.signal);

    const keys: string[] = [];
    const taken: { span: number; held: Held[] }[] = [];
    for (const s of index.spans) {
      if (!s.traceId || !s.spanId) continue;
      const key = s.traceId + s.spanId;
      keys.push(key);
      this.remember(key);
      const held = this.take(key);
      if (held.length) taken.push({ span: s.index, held: held.sort((a, b) => (a.e.timeNs < b.e.timeNs ? -1 : a.e.timeNs > b.e.timeNs ? 1 : 0)) });
    }
    if (!taken.length) return unchanged(keys);

    // Encode; what does not fit under maxRequestBytes goes standalone (its span is forwarded now).
    // 15 bytes per span cover the growth of its own, its scope's and its resource's length prefixes.
    let room = this.opts.maxRequestBytes - req.raw.length;
    const additions = new Map<number, Buffer>();
    const attached: { key: string; held: Held[] }[] = [];
    const tooLarge: DeleteEvent[] = [];
    try {
      for (const t of taken) {
        const fields: Buffer[] = [];
        const kept: Held[] = [];
        for (const h of t.held) {
          const f = eventField(this.eventType.encode(this.eventType.fromObject(otlpEvent(h.e) as unknown as Record<string, unknown>)).finish());
          const need = f.length + (fields.length ? 0 : 15);
          if (need > room) {
            tooLarge.push(h.e);
            continue;
          }
          room -= need;
          fields.push(f);
          kept.push(h);
        }
        if (fields.length) {
          additions.set(t.span, Buffer.concat(fields));
          attached.push({ key: t.held[0].key, held: kept });
        }
      }
      const raw = appendToSpans(index, additions);
      const events = attached.reduce((n, a) => n + a.held.length, 0);
      for (const e of tooLarge) {
        this.stats.tooLarge++;
        this.opts.standalone(e);
      }
      if (!events) return unchanged(keys);
      return {
        raw,
        events,
        commit: () => {
          this.stats.attachedEvents += events;
          this.stats.attachedSpans += attached.length;
        },
        rollback: () => {
          for (const k of keys) this.forwarded.delete(k);
          const now = Date.now();
          for (const a of attached) {
            for (const h of a.held) {
              this.stats.requeued++;
              this.hold(h.e, a.key, now);
            }
          }
        },
      };
    } catch (err) {
      this.opts.log?.(`otlp receiver: attaching deletes to a request failed (${(err as Error).message}); forwarded as received, deletes exported on their own`);
      for (const t of taken) {
        for (const h of t.held) {
          this.stats.failed++;
          this.opts.standalone(h.e);
        }
      }
      return unchanged(keys);
    }
  }

  /** Everything held goes standalone; later deletes too. */
  close(): void {
    this.closed = true;
    for (const h of this.order) {
      this.stats.atClose++;
      this.opts.standalone(h.e);
    }
    this.order.clear();
    this.bySpan.clear();
    this.stats.pendingEvents = 0;
  }
}
