/**
 * Sending notifier messages: a bounded queue, one HTTP POST at a time (so a resolved alert never
 * overtakes its firing one), each with a timeout, retried with exponential backoff. Nothing here
 * is awaited by the caller: push() only queues, and a full queue drops the new message, counts
 * it and says so on stderr (at most once per 30 s).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import type { RetryConfig } from '../../config/types';
import { packageRoot } from '../../util/paths';
import type { NotifierStats } from '../types';

export interface Message {
  /** JSON text. */
  body: string;
  /** For log lines: "2 firing, 1 resolved". */
  what: string;
}

export interface DeliveryOptions {
  /** The notifier id, for log lines. */
  id: string;
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  retry: RetryConfig;
  queueSize: number;
  log: (line: string) => void;
}

export interface PostResult {
  status: number;
  body: string;
}

const USER_AGENT = `map-delete-tracer/${readVersion()}`;
const DROP_LOG_INTERVAL_MS = 30_000;

function readVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0';
  }
}

/** The URL as log lines show it: scheme, host and port only (paths of webhook URLs are secrets). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '<url>';
  }
}

/** One POST with a deadline; rejects on network errors and on the timeout. */
export function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number): { done: Promise<PostResult>; abort: () => void } {
  let req: http.ClientRequest | undefined;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<PostResult>((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const data = Buffer.from(body, 'utf8');
    req = mod.request(
      u,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...headers, 'content-length': String(data.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < 4096) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').slice(0, 4096) }));
        res.on('error', reject);
      },
    );
    timer = setTimeout(() => req!.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', reject);
    req.end(data);
  }).finally(() => clearTimeout(timer));
  return { done, abort: () => req?.destroy(new Error('stopped')) };
}

/** 408, 429 and 5xx are worth another try; other answers are final. */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export class Delivery {
  private readonly queue: Message[] = [];
  private running = false;
  private loop?: Promise<void>;
  /** No new messages (close() was called). */
  private closing = false;
  /** Nothing more is sent: not even retries of the message in flight. */
  private closed = false;
  private abort?: () => void;
  private wake?: () => void;
  private idle?: () => void;
  private readonly s: NotifierStats = { sent: 0, failed: 0, dropped: 0, retries: 0, queued: 0 };
  private droppedUnlogged = 0;
  private lastDropLog = -Infinity;

  constructor(private readonly o: DeliveryOptions) {}

  /** Queues a message; false when the queue is full (the message is dropped and counted). */
  push(m: Message): boolean {
    if (this.closing || this.queue.length >= this.o.queueSize) {
      this.s.dropped++;
      this.droppedUnlogged++;
      const now = Date.now();
      if (now - this.lastDropLog >= DROP_LOG_INTERVAL_MS) {
        this.lastDropLog = now;
        this.o.log(
          `${this.o.id}: ${this.closing ? 'stopping' : `queue full (${this.o.queueSize} messages)`}: dropped ${this.droppedUnlogged} message(s) (${this.s.dropped} in all)` +
            (this.s.lastError ? `; last error: ${this.s.lastError}` : ''),
        );
        this.droppedUnlogged = 0;
      }
      return false;
    }
    this.queue.push(m);
    if (!this.running) this.loop = this.run();
    return true;
  }

  stats(): NotifierStats {
    return { ...this.s, queued: this.queue.length };
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length && !this.closed) {
        const sent = await this.send(this.queue[0]);
        this.queue.shift();
        if (sent === 'stopped') this.s.dropped++;
      }
    } finally {
      this.running = false;
      this.idle?.();
    }
  }

  /** Sends one message, retrying as configured, until it is sent, given up, or delivery stops. */
  private async send(m: Message): Promise<'sent' | 'failed' | 'stopped'> {
    const started = Date.now();
    const r = this.o.retry;
    let wait = r.initialIntervalMs;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) return 'stopped';
      let error: string;
      let again: boolean;
      try {
        const p = postJson(this.o.url, m.body, this.o.headers, this.o.timeoutMs);
        this.abort = p.abort;
        const res = await p.done;
        if (res.status >= 200 && res.status < 300) {
          this.s.sent++;
          return 'sent';
        }
        error = `HTTP ${res.status}${res.body.trim() ? `: ${res.body.trim().replace(/\s+/g, ' ').slice(0, 200)}` : ''}`;
        again = retryable(res.status);
      } catch (err) {
        error = (err as Error).message || String(err);
        again = true;
      } finally {
        this.abort = undefined;
      }
      if (this.closed) return 'stopped';
      this.s.lastError = error;
      const elapsed = Date.now() - started;
      if (!again || !r.enabled || (r.maxElapsedMs > 0 && elapsed + wait > r.maxElapsedMs)) {
        this.s.failed++;
        this.o.log(`${this.o.id}: could not send ${m.what} to ${redactUrl(this.o.url)}: ${error}${again && r.enabled ? ` (gave up after ${attempt + 1} attempts)` : ''}`);
        return 'failed';
      }
      if (attempt === 0) this.o.log(`${this.o.id}: sending ${m.what} to ${redactUrl(this.o.url)} failed: ${error}; retrying`);
      this.s.retries++;
      await this.sleep(wait);
      wait = Math.min(wait * 2, r.maxIntervalMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      t.unref();
      this.wake = done;
    });
  }

  /**
   * Stops taking messages and waits up to timeoutMs for those queued to be sent; then stops
   * (aborting the request in flight): what is left is dropped and counted.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.running && timeoutMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.idle = resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    }
    this.closed = true;
    this.wake?.();
    this.abort?.();
    // The message in flight (aborted) is counted by the loop as it ends.
    const inFlight = this.running ? 1 : 0;
    const left = this.queue.length - inFlight;
    if (left > 0) {
      this.s.dropped += left;
      this.queue.splice(inFlight);
    }
    await this.loop;
    if (left + inFlight > 0) this.o.log(`${this.o.id}: stopped with ${left + inFlight} message(s) unsent`);
  }
}
