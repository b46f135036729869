/**
 * Forwards received OTLP trace requests to a downstream OTLP/gRPC endpoint (a collector)
 * unchanged: the request's bytes go out as they came in, through a generic grpc-js client
 * with identity serializers, and the downstream's response bytes (partial success included)
 * come back as they are.
 *
 * Acknowledgement is end to end with a bounded wait: forward() resolves only once the
 * downstream accepted the request. While the downstream is down or answers with a retryable
 * status, it retries with exponential backoff (retry.initialIntervalMs doubling up to
 * retry.maxIntervalMs, giving up after retry.maxElapsedMs when that is not 0, as the export
 * queue does), but never longer than maxWaitMs nor past the sender's own deadline; then it
 * rejects UNAVAILABLE, which OTLP senders retry — so the request is never held once its sender
 * has stopped waiting, and nothing is lost silently. Non-retryable statuses from the downstream
 * (INVALID_ARGUMENT, RESOURCE_EXHAUSTED for size, ...) are passed back to the sender as they are.
 *
 * Memory: only requests whose senders are waiting are held, at most maxPendingRequests and
 * maxPendingBytes of them (beyond: UNAVAILABLE at once); the receiver in front bounds them too.
 *
 * receiver/export/queue.ts is not reused: it batches ReadableSpans into new requests and drops
 * when full, where this must keep each request's bytes intact and push back on the sender.
 */
import { Client, Metadata, credentials, status as Status, type ChannelCredentials, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import type { OtlpExporterConfig, RetryConfig } from '../config/types';
import { grpcTarget } from '../export/otlp';
import { MIB } from './server';
import { EXPORT_PATH } from './proto';
import { RETRYABLE, StatusError, describe } from './status';
import { readPemIfSet } from '../util/pem';

export const FORWARD_DEFAULTS = {
  maxWaitMs: 5000,
  timeoutMs: 5000,
  retry: { enabled: true, initialIntervalMs: 500, maxIntervalMs: 5000, maxElapsedMs: 0 } as RetryConfig,
  maxPendingRequests: 32,
  maxPendingBytes: 64 * MIB,
  compression: 'none' as const,
};

/** Time kept back from the sender's deadline, so it gets our UNAVAILABLE rather than DEADLINE_EXCEEDED. */
const DEADLINE_MARGIN_MS = 100;

export interface OtlpForwarderOptions extends Partial<Pick<OtlpExporterConfig, 'tls' | 'headers' | 'compression' | 'timeoutMs' | 'retry'>> {
  /** host:port, or http://host:port (insecure) / https://host:port (TLS), as for the otlp exporter. */
  endpoint: string;
  /** Longest a sender waits for the downstream's acknowledgement before it gets UNAVAILABLE. */
  maxWaitMs?: number;
  maxPendingRequests?: number;
  maxPendingBytes?: number;
  /** Name in log lines (e.g. the exporter's id). */
  name?: string;
  log?: (line: string) => void;
}

export interface ForwardStats {
  forwarded: number;
  forwardedBytes: number;
  /** Attempts that failed with a retryable status (or none: connection failures). */
  failedAttempts: number;
  /** Requests given up after the bounded wait: their senders got UNAVAILABLE. */
  unavailable: number;
  /** Requests the downstream refused with a non-retryable status, passed back to the sender. */
  refusedDownstream: number;
  /** Requests refused at once because maxPendingRequests/maxPendingBytes were reached. */
  refusedFull: number;
  pendingRequests: number;
  pendingBytes: number;
  peakPendingRequests: number;
  peakPendingBytes: number;
  lastError?: string;
}

export interface ForwardOptions {
  /** The sender's deadline, ms since the epoch. */
  deadline?: number;
  /** Abort to give up (the sender went away). */
  signal?: AbortSignal;
}

const identity = (b: Buffer): Buffer => b;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class OtlpForwarder {
  private client: Client;
  private readonly target: string;
  private readonly name: string;
  private readonly log: (line: string) => void;
  private readonly retry: RetryConfig;
  private readonly timeoutMs: number;
  private readonly maxWaitMs: number;
  private readonly maxPendingRequests: number;
  private readonly maxPendingBytes: number;
  private readonly headers: Record<string, string>;
  private readonly active = new Set<AbortController>();
  private closing = false;
  private down = false;
  readonly stats: ForwardStats = {
    forwarded: 0,
    forwardedBytes: 0,
    failedAttempts: 0,
    unavailable: 0,
    refusedDownstream: 0,
    refusedFull: 0,
    pendingRequests: 0,
    pendingBytes: 0,
    peakPendingRequests: 0,
    peakPendingBytes: 0,
  };

  constructor(opts: OtlpForwarderOptions) {
    const t = grpcTarget(opts.endpoint);
    this.target = t.url;
    this.name = opts.name ?? `forward ${t.url}`;
    this.log = opts.log ?? (() => undefined);
    this.retry = opts.retry ?? FORWARD_DEFAULTS.retry;
    this.timeoutMs = opts.timeoutMs ?? FORWARD_DEFAULTS.timeoutMs;
    this.maxWaitMs = opts.maxWaitMs ?? FORWARD_DEFAULTS.maxWaitMs;
    this.maxPendingRequests = opts.maxPendingRequests ?? FORWARD_DEFAULTS.maxPendingRequests;
    this.maxPendingBytes = opts.maxPendingBytes ?? FORWARD_DEFAULTS.maxPendingBytes;
    this.headers = opts.headers ?? {};
    const insecure = t.insecure ?? opts.tls?.insecure ?? true;
    const creds: ChannelCredentials = insecure
      ? credentials.createInsecure()
      : credentials.createSsl(readPemIfSet('OTLP forwarder tls.ca_file', opts.tls?.caFile), readPemIfSet('OTLP forwarder tls.key_file', opts.tls?.keyFile), readPemIfSet('OTLP forwarder tls.cert_file', opts.tls?.certFile));
    const channel: ChannelOptions = {
      // Reconnects follow the retry settings, capped at the bounded wait: a sender that waits
      // sees at least one reconnection attempt, and a downstream that is back is used soon.
      'grpc.initial_reconnect_backoff_ms': Math.max(1, Math.min(this.retry.initialIntervalMs, this.maxWaitMs)),
      'grpc.max_reconnect_backoff_ms': Math.max(1, Math.min(this.retry.maxIntervalMs, this.maxWaitMs)),
      'grpc.max_send_message_length': -1,
      'grpc.max_receive_message_length': 4 * MIB,
    };
    if ((opts.compression ?? FORWARD_DEFAULTS.compression) === 'gzip') channel['grpc.default_compression_algorithm'] = 2; // gzip
    this.client = new Client(this.target, creds, channel);
  }

  /**
   * Sends one serialized ExportTraceServiceRequest downstream as it is; resolves with the
   * downstream's serialized response once accepted, rejects with a StatusError otherwise.
   */
  async forward(raw: Buffer, opts: ForwardOptions = {}): Promise<Buffer> {
    const s = this.stats;
    if (this.closing) throw new StatusError(Status.UNAVAILABLE, `${this.name}: shutting down`);
    if (s.pendingRequests >= this.maxPendingRequests || (s.pendingRequests > 0 && s.pendingBytes + raw.length > this.maxPendingBytes)) {
      s.refusedFull++;
      throw new StatusError(Status.UNAVAILABLE, `${this.name}: ${s.pendingRequests} requests (${s.pendingBytes} bytes) already waiting for the downstream; retry later`);
    }
    s.pendingRequests++;
    s.pendingBytes += raw.length;
    s.peakPendingRequests = Math.max(s.peakPendingRequests, s.pendingRequests);
    s.peakPendingBytes = Math.max(s.peakPendingBytes, s.pendingBytes);
    const ac = new AbortController();
    this.active.add(ac);
    const onAbort = () => ac.abort();
    if (opts.signal?.aborted) ac.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.deliver(raw, opts.deadline ?? Infinity, ac.signal);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      this.active.delete(ac);
      s.pendingRequests--;
      s.pendingBytes -= raw.length;
    }
  }

  private async deliver(raw: Buffer, senderDeadline: number, signal: AbortSignal): Promise<Buffer> {
    const started = Date.now();
    const deadline = Math.min(started + this.maxWaitMs, senderDeadline - DEADLINE_MARGIN_MS);
    let delay = this.retry.initialIntervalMs;
    let last = 'no attempt made before the deadline';
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 || signal.aborted) break;
      try {
        const res = await this.attempt(raw, Math.min(remaining, this.timeoutMs), signal);
        this.stats.forwarded++;
        this.stats.forwardedBytes += raw.length;
        if (this.down) this.log(`${this.name}: downstream accepts requests again`);
        this.down = false;
        return res;
      } catch (err) {
        const e = err as Partial<ServiceError>;
        last = describe(err);
        this.stats.lastError = last;
        if (signal.aborted) break;
        const code = typeof e.code === 'number' ? e.code : Status.UNAVAILABLE;
        if (!RETRYABLE.has(code)) {
          this.stats.refusedDownstream++;
          this.log(`${this.name}: downstream refused a request of ${raw.length} bytes: ${last} (passed back to the sender)`);
          throw new StatusError(code, `downstream ${this.target} refused the request: ${e.details ?? last}`);
        }
        this.stats.failedAttempts++;
        if (!this.down) this.log(`${this.name}: forwarding failed (${last}); retrying with backoff, senders wait at most ${this.maxWaitMs} ms`);
        this.down = true;
        if (!this.retry.enabled) break;
        const elapsed = Date.now() - started;
        if (this.retry.maxElapsedMs > 0 && elapsed + delay > this.retry.maxElapsedMs) break;
        const wait = Math.min(delay, deadline - Date.now());
        if (wait <= 0) break;
        await sleep(wait, signal);
        delay = Math.min(delay * 2, this.retry.maxIntervalMs);
      }
    }
    this.stats.unavailable++;
    const why = signal.aborted ? 'the request was cancelled' : `not accepted within ${Date.now() - started} ms`;
    throw new StatusError(Status.UNAVAILABLE, `downstream ${this.target}: ${why} (${last}); retry later`);
  }

  private attempt(raw: Buffer, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const md = new Metadata({ waitForReady: this.retry.enabled });
      for (const [k, v] of Object.entries(this.headers)) md.set(k, v);
      const call = this.client.makeUnaryRequest<Buffer, Buffer>(EXPORT_PATH, identity, identity, raw, md, { deadline: Date.now() + timeoutMs }, (err, res) => {
        signal.removeEventListener('abort', cancel);
        if (err) reject(err);
        else resolve(res ?? Buffer.alloc(0));
      });
      const cancel = () => call.cancel();
      signal.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Refuses new requests, gives pending ones up to `timeoutMs`, then cancels them and closes the channel. */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    const until = Date.now() + timeoutMs;
    while (this.stats.pendingRequests > 0 && Date.now() < until) await sleep(Math.min(20, until - Date.now()));
    for (const ac of this.active) ac.abort();
    const grace = Date.now() + 1000;
    while (this.stats.pendingRequests > 0 && Date.now() < grace) await sleep(5);
    this.client.close();
  }
}
