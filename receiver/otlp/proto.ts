/**
 * The OTLP trace protos (proto/, see proto/README.md), loaded with protobufjs at start-up — no
 * code generation. Decoded requests are plain objects: field names in lowerCamelCase as
 * protobufjs gives them, 64-bit integers as decimal strings (exact), bytes as Buffers, enums
 * as numbers, repeated fields always present (possibly empty), other unset fields absent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { packageRoot } from '../util/paths';
import { checkWire } from './wire';

export const TRACE_SERVICE = 'opentelemetry.proto.collector.trace.v1.TraceService';
/** The gRPC method path of OTLP trace export. */
export const EXPORT_PATH = `/${TRACE_SERVICE}/Export`;

const PROTO_FILES = ['opentelemetry/proto/collector/trace/v1/trace_service.proto'];

// ---- the decoded shape -----------------------------------------------------------------------

export interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  /** int64, as a decimal string. */
  intValue?: string;
  doubleValue?: number;
  arrayValue?: { values: AnyValue[] };
  kvlistValue?: { values: KeyValue[] };
  bytesValue?: Uint8Array;
  stringValueStrindex?: number;
}

export interface KeyValue {
  key?: string;
  value?: AnyValue;
  keyStrindex?: number;
}

export interface EntityRef {
  schemaUrl?: string;
  type?: string;
  idKeys: string[];
  descriptionKeys: string[];
}

export interface Resource {
  attributes: KeyValue[];
  droppedAttributesCount?: number;
  entityRefs: EntityRef[];
}

export interface InstrumentationScope {
  name?: string;
  version?: string;
  attributes: KeyValue[];
  droppedAttributesCount?: number;
}

export interface SpanEvent {
  /** fixed64 nanoseconds since the epoch, as a decimal string. */
  timeUnixNano?: string;
  name?: string;
  attributes: KeyValue[];
  droppedAttributesCount?: number;
}

export interface SpanLink {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  traceState?: string;
  attributes: KeyValue[];
  droppedAttributesCount?: number;
  flags?: number;
}

export interface Span {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  traceState?: string;
  parentSpanId?: Uint8Array;
  flags?: number;
  name?: string;
  /** SpanKind of the proto: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind?: number;
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  attributes: KeyValue[];
  droppedAttributesCount?: number;
  events: SpanEvent[];
  droppedEventsCount?: number;
  links: SpanLink[];
  droppedLinksCount?: number;
  status?: { message?: string; code?: number };
}

export interface ScopeSpans {
  scope?: InstrumentationScope;
  spans: Span[];
  schemaUrl?: string;
}

export interface ResourceSpans {
  resource?: Resource;
  scopeSpans: ScopeSpans[];
  schemaUrl?: string;
}

export interface ExportTraceServiceRequest {
  resourceSpans: ResourceSpans[];
}

export interface ExportTraceServiceResponse {
  partialSuccess?: { rejectedSpans?: string; errorMessage?: string };
}

// ---- loading ---------------------------------------------------------------------------------

export interface OtlpTraceProtos {
  root: protobuf.Root;
  request: protobuf.Type;
  response: protobuf.Type;
}

let cached: { dir: string; protos: OtlpTraceProtos } | undefined;

/** The folder holding opentelemetry/proto/...: the package's proto/ unless given. */
export function defaultProtoDir(): string {
  return path.join(packageRoot(), 'proto');
}

/** Loads (once per folder) and resolves the trace service protos; throws if a file is missing. */
export function loadTraceProtos(dir: string = defaultProtoDir()): OtlpTraceProtos {
  if (cached && cached.dir === dir) return cached.protos;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    const p = path.join(dir, target);
    if (!fs.existsSync(p)) throw new Error(`OTLP protos: ${p} is missing (the proto/ folder of the package)`);
    return p;
  };
  root.loadSync(PROTO_FILES, { keepCase: false });
  root.resolveAll();
  const protos: OtlpTraceProtos = {
    root,
    request: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    response: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
  };
  cached = { dir, protos };
  return protos;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: Number, defaults: false, arrays: true };

/** Checks the bytes of a request; throws WireError (with what and where) when malformed. */
export function checkRequest(protos: OtlpTraceProtos, bytes: Uint8Array): void {
  checkWire(protos.request, bytes);
}

export function decodeRequest(protos: OtlpTraceProtos, bytes: Uint8Array): ExportTraceServiceRequest {
  const msg = protos.request.decode(bytes);
  return protos.request.toObject(msg, TO_OBJECT) as ExportTraceServiceRequest;
}

/** The inverse of decodeRequest (for a stage that changes a request, e.g. adds span events). */
export function encodeRequest(protos: OtlpTraceProtos, req: ExportTraceServiceRequest): Buffer {
  const bytes = protos.request.encode(protos.request.fromObject(req as unknown as Record<string, unknown>)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeResponse(protos: OtlpTraceProtos, bytes: Uint8Array): ExportTraceServiceResponse {
  return protos.response.toObject(protos.response.decode(bytes), TO_OBJECT) as ExportTraceServiceResponse;
}

export function encodeResponse(protos: OtlpTraceProtos, res: ExportTraceServiceResponse): Buffer {
  const bytes = protos.response.encode(protos.response.fromObject(res as unknown as Record<string, unknown>)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
