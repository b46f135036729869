/**
 * Shared by the export-stage unit tests (export-parented, attach-received): synthetic
 * DeleteEvents, pipeline configs, and an in-process gRPC "collector" — an OtlpGrpcReceiver that
 * records every request it gets — with helpers to tell forwarded requests from the tracer's own
 * `go.map.deletes` spans.
 */
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { ActiveSpan, DeleteEvent } from '../../receiver/events/types';
import { defaultConfig } from '../../receiver/config/load';
import type { MapDeleteReceiverConfig, OtlpExporterConfig, OtlpReceiverConfig } from '../../receiver/config/types';
import { EXPORT_PATH, type AnyValue, type ExportTraceServiceRequest, type KeyValue, type Span } from '../../receiver/otlp/proto';
import { OtlpGrpcReceiver, MIB, type ReceivedTraces, type TraceConsumer } from '../../receiver/otlp/server';
import { SPAN_NAME } from '../../receiver/export/spans';

export const hex = (b?: Uint8Array): string => Buffer.from(b ?? []).toString('hex');

export function anyToJs(v: AnyValue | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue) return v.arrayValue.values.map(anyToJs);
  if (v.bytesValue) return Buffer.from(v.bytesValue);
  if (v.kvlistValue) return attrsToJs(v.kvlistValue.values);
  return undefined;
}

export function attrsToJs(kvs: KeyValue[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const kv of kvs) o[kv.key ?? ''] = anyToJs(kv.value);
  return o;
}

export function activeSpan(traceId: string, spanId: string, sampled = true, inherited = false): ActiveSpan {
  return { traceId, spanId, sampled, inherited };
}

let seq = 0;

/** A plausible delete; `span` is the service span active on its goroutine. */
export function deleteEvent(span: ActiveSpan | null, o: Partial<Pick<DeleteEvent, 'goid' | 'op' | 'timeNs' | 'pid'>> = {}): DeleteEvent {
  seq++;
  return {
    timeNs: o.timeNs ?? BigInt(Date.now()) * 1_000_000n + BigInt(seq),
    pid: o.pid ?? 4242,
    tid: 4243,
    goid: o.goid ?? '77',
    op: o.op ?? 'delete',
    function: o.op === 'clear' ? 'runtime.mapclear' : 'runtime.mapdelete_faststr',
    map: { addr: '0xc000123000', type: 'map[string]*main.Session', len: o.op === 'clear' ? 0 : 3, lenBefore: 3 },
    key: o.op === 'clear' ? null : { type: 'string', hash: `0x${(0x1234abcd + seq).toString(16)}`, value: `sess-${seq}` },
    caller: { function: 'main.(*Store).Expire', file: '/src/store.go', line: 57 },
    stack: [
      { function: 'main.(*Store).Expire', file: '/src/store.go', line: 57, pc: '0x4a1b2c' },
      { function: 'main.handle', file: '/src/main.go', line: 88, pc: '0x4a2000' },
    ],
    process: { executable: '/usr/local/bin/sessions', goVersion: 'go1.26.0', serviceName: 'sessions' },
    span,
    notes: { stackTruncated: false, keyTruncated: false, goidUnknown: false },
  };
}

/** The embedded default's mapdelete settings, with a high rate ceiling and a short grouping window. */
export function receiverConfig(over: Partial<MapDeleteReceiverConfig> = {}): MapDeleteReceiverConfig {
  return { ...defaultConfig({}).receivers.mapdelete, maxEventsPerSecond: 1_000_000, groupingWindowMs: 20, ...over };
}

export function otlpExporterConfig(addr: string, id = 'otlp'): OtlpExporterConfig {
  return {
    type: 'otlp',
    id,
    endpoint: `http://${addr}`,
    tls: { insecure: true },
    headers: {},
    compression: 'none',
    timeoutMs: 5000,
    retry: { enabled: true, initialIntervalMs: 100, maxIntervalMs: 500, maxElapsedMs: 0 },
    queueSize: 1000,
  };
}

export function otlpReceiverConfig(attach: Partial<OtlpReceiverConfig['attach']> = {}, maxRecvMsgSizeBytes = 4 * MIB): OtlpReceiverConfig {
  return {
    grpc: { endpoint: '127.0.0.1:0', maxRecvMsgSizeBytes, maxInflightRequests: 32, maxInflightBytes: 64 * MIB },
    forwardTimeoutMs: 5000,
    attach: { enabled: true, deleteWaitMs: 60_000, settleMs: 0, maxPendingEvents: 1000, ...attach },
  };
}

/** A stand-in collector: records every request and answers as `respond` says (default: accept). */
export class Collector {
  readonly got: ReceivedTraces[] = [];
  private rx?: OtlpGrpcReceiver;
  respond: TraceConsumer = async () => undefined;

  async start(): Promise<string> {
    this.rx = new OtlpGrpcReceiver({ endpoint: '127.0.0.1:0' }, (r) => {
      this.got.push(r);
      return this.respond(r);
    });
    await this.rx.start();
    return this.rx.address();
  }

  async stop(): Promise<void> {
    await this.rx?.shutdown(500);
  }

  /** Requests that are not the tracer's own export (forwarded from the service). */
  forwarded(): ReceivedTraces[] {
    return this.got.filter((r) => !isTracerExport(r.decode()));
  }

  /** The tracer's `go.map.deletes` spans received so far. */
  deleteSpans(): Span[] {
    const out: Span[] = [];
    for (const r of this.got) {
      const req = r.decode();
      if (!isTracerExport(req)) continue;
      for (const rs of req.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) if (s.name === SPAN_NAME) out.push(s);
    }
    return out;
  }
}

function isTracerExport(req: ExportTraceServiceRequest): boolean {
  return req.resourceSpans.some((rs) => rs.scopeSpans.some((ss) => ss.scope?.name === 'map-delete-tracer'));
}

/** Polls `ok` every 20 ms until it holds or `ms` pass (then one last look). */
export async function waitFor(ok: () => boolean, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!ok() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return ok();
}

const identity = (b: Buffer): Buffer => b;

export function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited protobuf field, its length written in `lenBytes` bytes (non-minimal when more than needed). */
export function lenField(no: number, body: Uint8Array, lenBytes?: number): Buffer {
  let len = varint(body.length);
  if (lenBytes && lenBytes > len.length) {
    const padded = Buffer.alloc(lenBytes);
    len.copy(padded);
    for (let i = 0; i < lenBytes - 1; i++) padded[i] |= 0x80;
    len = padded;
  }
  return Buffer.concat([varint((no << 3) | 2), len, body]);
}

/** One Export call with exactly these bytes. */
export function rawExport(client: Client, bytes: Buffer, timeoutMs = 20_000): Promise<{ err?: ServiceError; res?: Buffer }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(EXPORT_PATH, identity, identity, bytes, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
      resolve({ err: err ?? undefined, res: res ?? undefined }),
    ),
  );
}

export function rawClient(addr: string): Client {
  return new Client(addr, credentials.createInsecure());
}
