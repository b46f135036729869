/**
 * Deletes → spans. A delete is a span event; events hang on a span so Jaeger shows readable
 * traces: one span per process and goroutine over a short window ("go.map.deletes"), closed when
 * the window ends or it holds MAX_EVENTS events.
 *
 * A delete made under a sampled span of the service (DeleteEvent.span) is grouped per process,
 * goroutine and that span, and its `go.map.deletes` span is a child of the service span: same
 * trace id, parent span id = the service span's id (a remote parent: it lives in another
 * process). So it shows inside the request's trace. Deletes without a span, or under an
 * unsampled one (which never reaches the backend), get a trace of their own.
 */
import { SpanKind, SpanStatusCode, TraceFlags, type HrTime, type SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { randomBytes } from 'node:crypto';
import type { ActiveSpan, DeleteEvent } from '../events/types';
import { EVENT_CLEAR, EVENT_DELETE, eventAttributes, hrTime } from './attributes';

export const SPAN_NAME = 'go.map.deletes';
export const MAX_EVENTS = 128;
const SCOPE = { name: 'map-delete-tracer', version: '0.1.0' };

interface OpenGroup {
  resource: Resource;
  pid: number;
  goid: string;
  /** The service span the deletes happened under (sampled), or none. */
  parent: ActiveSpan | null;
  openedAtMs: number;
  firstNs: bigint;
  lastNs: bigint;
  events: ReadableSpan['events'];
  deletes: number;
  clears: number;
}

function hrDiff(a: HrTime, b: HrTime): HrTime {
  let s = b[0] - a[0];
  let n = b[1] - a[1];
  if (n < 0) {
    s -= 1;
    n += 1e9;
  }
  return [s, n];
}

const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
const SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;

/** The span a delete's export is parented to: its active span when sampled and with valid ids. */
export function parentSpanOf(e: DeleteEvent): ActiveSpan | null {
  const s = e.span;
  return s && s.sampled && TRACE_ID.test(s.traceId) && SPAN_ID.test(s.spanId) ? s : null;
}

export function makeSpan(g: OpenGroup): ReadableSpan {
  const ctx: SpanContext = {
    traceId: g.parent?.traceId ?? randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    traceFlags: TraceFlags.SAMPLED,
  };
  const parentSpanContext: SpanContext | undefined = g.parent
    ? { traceId: g.parent.traceId, spanId: g.parent.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true }
    : undefined;
  const startTime = hrTime(g.firstNs);
  const endTime = hrTime(g.lastNs + 1n);
  return {
    name: SPAN_NAME,
    kind: SpanKind.INTERNAL,
    spanContext: () => ctx,
    parentSpanContext,
    startTime,
    endTime,
    status: { code: SpanStatusCode.UNSET },
    attributes: {
      'go.goroutine.id': Number(g.goid),
      'go.map.deletes': g.deletes,
      'go.map.clears': g.clears,
    },
    links: [],
    events: g.events,
    duration: hrDiff(startTime, endTime),
    ended: true,
    resource: g.resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

export class SpanGrouper {
  private readonly open = new Map<string, OpenGroup>();

  constructor(
    private readonly windowMs: number,
    private readonly emit: (span: ReadableSpan, events: number) => void,
  ) {}

  add(e: DeleteEvent, resource: Resource): void {
    const parent = parentSpanOf(e);
    const key = parent ? `${e.pid}/${e.goid}/${parent.traceId}/${parent.spanId}` : `${e.pid}/${e.goid}`;
    let g = this.open.get(key);
    if (!g) {
      g = { resource, pid: e.pid, goid: e.goid, parent, openedAtMs: Date.now(), firstNs: e.timeNs, lastNs: e.timeNs, events: [], deletes: 0, clears: 0 };
      this.open.set(key, g);
    }
    g.events.push({ name: e.op === 'clear' ? EVENT_CLEAR : EVENT_DELETE, time: hrTime(e.timeNs), attributes: eventAttributes(e) });
    if (e.op === 'clear') g.clears++;
    else g.deletes++;
    if (e.timeNs < g.firstNs) g.firstNs = e.timeNs;
    if (e.timeNs > g.lastNs) g.lastNs = e.timeNs;
    if (g.events.length >= MAX_EVENTS) this.close(key, g);
  }

  /** Closes groups whose window has passed (all of them with `all`). */
  flush(all = false): void {
    const now = Date.now();
    for (const [key, g] of this.open) if (all || now - g.openedAtMs >= this.windowMs) this.close(key, g);
  }

  get openEvents(): number {
    let n = 0;
    for (const g of this.open.values()) n += g.events.length;
    return n;
  }

  private close(key: string, g: OpenGroup): void {
    this.open.delete(key);
    this.emit(makeSpan(g), g.events.length);
  }
}
