/**
 * The OTLP/gRPC trace receiver of the pipeline-stage mode: `TraceService/Export` on
 * @grpc/grpc-js, the protos loaded with protobufjs at start-up (proto.ts). Each request goes to
 * the consumer as its raw bytes — exactly the serialized ExportTraceServiceRequest the sender
 * sent, after gRPC decompression — and as a lazily decoded message; the sender gets its answer
 * when the consumer's promise settles (end-to-end acknowledgement).
 *
 *  - listens on 127.0.0.1:4317 unless configured otherwise;
 *  - requests over maxRecvMsgSizeBytes (before or after gzip decompression) get
 *    RESOURCE_EXHAUSTED from grpc-js, without being buffered whole;
 *  - bytes that are not a well-formed ExportTraceServiceRequest get INVALID_ARGUMENT (wire.ts);
 *  - backpressure: at most maxInflightRequests requests (counted from their headers, so a
 *    refused request's body is never read) and maxInflightBytes bytes are held at once; beyond
 *    that, UNAVAILABLE, which OTLP senders retry with backoff;
 *  - gzip (and deflate) request compression is handled by grpc-js (`grpc-encoding`);
 *  - shutdown() stops accepting, lets in-flight requests finish within a timeout, then cancels
 *    what is left (their senders get UNAVAILABLE) and closes.
 */
import {
  Metadata,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  status as Status,
  type sendUnaryData,
  type ServerInterceptor,
  type ServerUnaryCall,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { EXPORT_PATH, checkRequest, decodeRequest, loadTraceProtos, type ExportTraceServiceRequest, type OtlpTraceProtos } from './proto';
import { StatusError, describe, statusName } from './status';
import { WireError } from './wire';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { UserError } from '../util/errors';
import { readPem, readPemIfSet } from '../util/pem';

export const MIB = 1024 * 1024;

export const OTLP_GRPC_DEFAULTS = {
  endpoint: '127.0.0.1:4317',
  maxRecvMsgSizeBytes: 4 * MIB,
  maxInflightRequests: 32,
  maxInflightBytes: 64 * MIB,
  shutdownTimeoutMs: 5000,
};

export interface OtlpGrpcReceiverOptions {
  /** host:port to listen on; port 0 picks a free port (see address()). Default 127.0.0.1:4317. */
  endpoint?: string;
  /** Largest request accepted, after decompression. Default 4 MiB (the collector's default). */
  maxRecvMsgSizeBytes?: number;
  /** Requests held at once (read, being consumed, or waiting for the consumer's answer). */
  maxInflightRequests?: number;
  /** Bytes of requests held at once; at least maxRecvMsgSizeBytes. */
  maxInflightBytes?: number;
  /** Serve TLS: certificate and key files (PEM); with clientCaFile, only senders presenting a
   *  certificate signed by that CA are served (mutual TLS). Without it: plain text. */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** Where the .proto files are (default: the package's proto/). */
  protoDir?: string;
  log?: (line: string) => void;
}

/** One received Export request, as the consumer sees it. */
export interface ReceivedTraces {
  /** The serialized ExportTraceServiceRequest, byte for byte as sent (decompressed). */
  readonly raw: Buffer;
  /** The decoded request; decoded on first call, then cached. Never throws (raw was checked). */
  decode(): ExportTraceServiceRequest;
  /** The sender's gRPC metadata (custom headers). */
  readonly metadata: Metadata;
  readonly peer: string;
  /** The sender's deadline in ms since the epoch, Infinity without one. */
  readonly deadline: number;
  /** Aborted when the sender cancels or its deadline passes, or when shutdown gives up waiting. */
  readonly signal: AbortSignal;
  readonly receivedAtMs: number;
}

/**
 * Takes a request and settles when it has been dealt with: resolves with the serialized
 * ExportTraceServiceResponse to answer (undefined or empty = plain success), or rejects with a
 * StatusError to answer that status; any other rejection is answered INTERNAL.
 */
export type TraceConsumer = (req: ReceivedTraces) => Promise<Buffer | undefined | void>;

export interface OtlpReceiverStats {
  /** Requests handed to the consumer. */
  received: number;
  receivedBytes: number;
  /** Answered OK. */
  accepted: number;
  /** Refused with UNAVAILABLE because the in-flight bound was reached. */
  refusedBusy: number;
  /** Answered INVALID_ARGUMENT by the wire check. */
  malformed: number;
  /** Statuses the receiver answered, by name (not those grpc-js sends itself: see endedByTransport). */
  statuses: Record<string, number>;
  /**
   * Admitted calls that grpc-js ended itself — RESOURCE_EXHAUSTED for oversize requests,
   * INTERNAL for undecompressable ones, DEADLINE_EXCEEDED — or that the sender cancelled.
   */
  endedByTransport: number;
  inflightRequests: number;
  inflightBytes: number;
  peakInflightRequests: number;
  peakInflightBytes: number;
}

const identity = (b: Buffer): Buffer => b;
const EMPTY = Buffer.alloc(0);

function traceService(handler: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => void): {
  definition: ServiceDefinition;
  implementation: Record<string, typeof handler>;
} {
  return {
    definition: {
      Export: {
        path: EXPORT_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    implementation: { Export: handler },
  };
}

/** Splits host:port ("[::1]:4317" for IPv6; ":4317" means every interface). */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(endpoint.trim());
  if (!m) throw new Error(`endpoint "${endpoint}" is not host:port (e.g. 127.0.0.1:4317, [::1]:4317)`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`endpoint "${endpoint}": port ${port} is over 65535`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  return { host, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function bindTarget(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export class OtlpGrpcReceiver {
  private readonly opts: Required<Omit<OtlpGrpcReceiverOptions, 'protoDir' | 'log' | 'tls'>>;
  private readonly log: (line: string) => void;
  private readonly protos: OtlpTraceProtos;
  private server?: Server;
  private boundPort?: number;
  private readonly tls?: OtlpGrpcReceiverOptions['tls'];
  private closing = false;
  private readonly active = new Set<AbortController>();
  readonly stats: OtlpReceiverStats = {
    received: 0,
    receivedBytes: 0,
    accepted: 0,
    refusedBusy: 0,
    malformed: 0,
    statuses: {},
    endedByTransport: 0,
    inflightRequests: 0,
    inflightBytes: 0,
    peakInflightRequests: 0,
    peakInflightBytes: 0,
  };

  constructor(
    options: OtlpGrpcReceiverOptions,
    private readonly consumer: TraceConsumer,
  ) {
    this.opts = {
      endpoint: options.endpoint ?? OTLP_GRPC_DEFAULTS.endpoint,
      maxRecvMsgSizeBytes: options.maxRecvMsgSizeBytes ?? OTLP_GRPC_DEFAULTS.maxRecvMsgSizeBytes,
      maxInflightRequests: options.maxInflightRequests ?? OTLP_GRPC_DEFAULTS.maxInflightRequests,
      maxInflightBytes: options.maxInflightBytes ?? OTLP_GRPC_DEFAULTS.maxInflightBytes,
    };
    const { maxRecvMsgSizeBytes: max, maxInflightRequests: reqs, maxInflightBytes: bytes } = this.opts;
    if (!Number.isInteger(max) || max < 1) throw new Error(`maxRecvMsgSizeBytes must be a positive integer, not ${max}`);
    if (!Number.isInteger(reqs) || reqs < 1) throw new Error(`maxInflightRequests must be a positive integer, not ${reqs}`);
    if (!Number.isFinite(bytes) || bytes < max) throw new Error(`maxInflightBytes (${bytes}) must be at least maxRecvMsgSizeBytes (${max})`);
    parseEndpoint(this.opts.endpoint);
    this.tls = options.tls;
    this.log = options.log ?? (() => undefined);
    this.protos = loadTraceProtos(options.protoDir);
  }

  /** Binds and starts serving; resolves with the address actually bound. */
  async start(): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('OTLP receiver already started');
    const { host, port } = parseEndpoint(this.opts.endpoint);
    const server = new Server({
      'grpc.max_receive_message_length': this.opts.maxRecvMsgSizeBytes,
      'grpc.max_send_message_length': 4 * MIB,
      interceptors: [this.admission],
    });
    const svc = traceService((call, cb) => void this.handle(call, cb));
    server.addService(svc.definition, svc.implementation);
    const target = bindTarget(host, port);
    const creds = this.credentials();
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(target, creds, (err, p) => (err ? reject(new Error(`OTLP receiver cannot listen on ${target}: ${err.message}`)) : resolve(p))),
    );
    this.server = server;
    const where = bindTarget(host, this.boundPort);
    const tls = this.tls ? (this.tls.clientCaFile ? ', TLS, client certificates required' : ', TLS') : isLoopback(host) ? '' : ', plain text';
    this.log(`otlp receiver: listening for OTLP/gRPC traces on ${where}${tls}${isLoopback(host) ? '' : ' (not loopback: reachable from other hosts)'}`);
    return { host, port: this.boundPort };
  }

  /** Plain text, or TLS from the configured files (read now: a bad file stops the start). */
  private credentials(): ServerCredentials {
    const t = this.tls;
    if (!t) return ServerCredentials.createInsecure();
    const key = 'receivers.otlp.protocols.grpc.tls';
    const pair = { cert_chain: readPem(`${key}.cert_file`, t.certFile), private_key: readPem(`${key}.key_file`, t.keyFile) };
    const clientCa = readPemIfSet(`${key}.client_ca_file`, t.clientCaFile);
    // Checked here: gRPC would only say "key values mismatch" when binding.
    let matches: boolean;
    try {
      matches = new X509Certificate(pair.cert_chain).checkPrivateKey(createPrivateKey(pair.private_key));
    } catch (err) {
      throw new UserError(`${key}: cannot use ${t.certFile} and ${t.keyFile}: ${(err as Error).message} (give a PEM certificate and its unencrypted PEM key)`);
    }
    if (!matches) throw new UserError(`${key}.key_file: ${t.keyFile} is not the key of the certificate in ${t.certFile} (give the key the certificate was made for)`);
    return ServerCredentials.createSsl(clientCa, [pair], clientCa !== null);
  }

  /** host:port actually bound (after start()). */
  address(): string {
    if (this.boundPort === undefined) throw new Error('OTLP receiver not started');
    return bindTarget(parseEndpoint(this.opts.endpoint).host, this.boundPort);
  }

  private count(code: number): void {
    const name = statusName(code);
    this.stats.statuses[name] = (this.stats.statuses[name] ?? 0) + 1;
  }

  /**
   * Admission at the headers: a call takes a slot before its body is read, and gives it back
   * with its status (or when the sender cancels). No slot: UNAVAILABLE at once.
   */
  private readonly admission: ServerInterceptor = (_method, call) => {
    let held = false;
    let answered = false;
    const release = () => {
      if (!held) return;
      held = false;
      this.stats.inflightRequests--;
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            if (this.closing || this.stats.inflightRequests >= this.opts.maxInflightRequests) {
              this.stats.refusedBusy++;
              this.count(Status.UNAVAILABLE);
              call.sendStatus({
                code: Status.UNAVAILABLE,
                details: this.closing
                  ? 'OTLP receiver is shutting down'
                  : `OTLP receiver busy: ${this.stats.inflightRequests} requests in flight (limit ${this.opts.maxInflightRequests}); retry later`,
              });
              return;
            }
            held = true;
            this.stats.inflightRequests++;
            if (this.stats.inflightRequests > this.stats.peakInflightRequests) this.stats.peakInflightRequests = this.stats.inflightRequests;
            nextMetadata(metadata);
          },
          // grpc-js calls this at the end of every call; without our status first, grpc-js
          // itself ended the call (oversize, undecompressable, deadline) or the sender cancelled.
          onCancel: () => {
            if (held && !answered) this.stats.endedByTransport++;
            release();
          },
        }),
      sendStatus: (status, next) => {
        answered = true;
        this.count(status.code ?? Status.UNKNOWN);
        release();
        next(status);
      },
    });
  };

  private async handle(call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>): Promise<void> {
    const raw = call.request;
    try {
      checkRequest(this.protos, raw);
    } catch (err) {
      if (!(err instanceof WireError)) {
        this.log(`otlp receiver: checking a request failed: ${describe(err)}`);
        cb({ code: Status.INTERNAL, details: `OTLP receiver: ${describe(err)}` });
        return;
      }
      this.stats.malformed++;
      cb({ code: Status.INVALID_ARGUMENT, details: `malformed ExportTraceServiceRequest: ${err.message}` });
      return;
    }
    if (this.stats.inflightBytes > 0 && this.stats.inflightBytes + raw.length > this.opts.maxInflightBytes) {
      this.stats.refusedBusy++;
      cb({
        code: Status.UNAVAILABLE,
        details: `OTLP receiver busy: ${this.stats.inflightBytes} bytes in flight (limit ${this.opts.maxInflightBytes}); retry later`,
      });
      return;
    }
    this.stats.inflightBytes += raw.length;
    if (this.stats.inflightBytes > this.stats.peakInflightBytes) this.stats.peakInflightBytes = this.stats.inflightBytes;
    this.stats.received++;
    this.stats.receivedBytes += raw.length;

    const ac = new AbortController();
    this.active.add(ac);
    const onCancel = () => ac.abort(new StatusError(Status.CANCELLED, 'the sender cancelled the request'));
    call.once('cancelled', onCancel);
    const d = call.getDeadline();
    const deadline = d instanceof Date ? d.getTime() : d;
    let decoded: ExportTraceServiceRequest | undefined;
    const protos = this.protos;
    const req: ReceivedTraces = {
      raw,
      decode: () => (decoded ??= decodeRequest(protos, raw)),
      metadata: call.metadata,
      peer: call.getPeer(),
      deadline,
      signal: ac.signal,
      receivedAtMs: Date.now(),
    };
    try {
      const res = await this.consumer(req);
      this.stats.accepted++;
      cb(null, res ?? EMPTY);
    } catch (err) {
      if (err instanceof StatusError) {
        cb({ code: err.code, details: err.message });
      } else {
        this.log(`otlp receiver: request from ${req.peer} failed: ${describe(err)}`);
        cb({ code: Status.INTERNAL, details: `OTLP receiver: ${describe(err)}` });
      }
    } finally {
      this.stats.inflightBytes -= raw.length;
      this.active.delete(ac);
      call.removeListener('cancelled', onCancel);
    }
  }

  /**
   * Stops accepting (new calls get UNAVAILABLE, listeners close), gives in-flight requests up
   * to `timeoutMs` to be answered, then aborts their consumers (senders get UNAVAILABLE) and,
   * after a short grace, closes every connection.
   */
  async shutdown(timeoutMs: number = OTLP_GRPC_DEFAULTS.shutdownTimeoutMs): Promise<void> {
    const server = this.server;
    if (!server || this.closing) return;
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const graceful = new Promise<'done'>((resolve) => server.tryShutdown(() => resolve('done')));
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const first = await Promise.race([graceful, timedOut]);
    clearTimeout(timer);
    if (first === 'timeout') {
      const left = this.active.size;
      for (const ac of this.active) ac.abort(new StatusError(Status.UNAVAILABLE, 'OTLP receiver is shutting down'));
      await Promise.race([graceful, new Promise((r) => setTimeout(r, 500))]);
      this.log(`otlp receiver: shutdown timeout (${timeoutMs} ms): ${left} request(s) were answered UNAVAILABLE`);
      server.forceShutdown();
    }
    this.server = undefined;
  }
}
