/**
 * The Prometheus endpoint: an HTTP server answering GET (and HEAD) on one path with the
 * exposition of MetricsCollector, computed at that moment. Other paths get 404 with a pointer to
 * the right one. A failure to listen is a UserError naming the setting to change.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseEndpoint } from '../otlp/server';
import { UserError, errnoCode } from '../util/errors';
import { MetricsCollector, type CollectorOptions } from './collector';

export interface MetricsServerOptions extends CollectorOptions {
  /** host:port to listen on. */
  endpoint: string;
  /** URL path of the exposition, e.g. "/metrics". */
  path: string;
  /** Names the setting in listen errors, e.g. "metrics.endpoint" or "--metrics-endpoint". */
  setting?: string;
  log?: (line: string) => void;
}

const LISTEN_REASONS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host',
};

export class MetricsServer {
  readonly collector: MetricsCollector;
  private readonly server: http.Server;
  private failures = 0;

  constructor(private readonly opts: MetricsServerOptions) {
    this.collector = new MetricsCollector(opts);
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 65_000;
  }

  async start(): Promise<void> {
    const { host, port } = parseEndpoint(this.opts.endpoint);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        const code = errnoCode(err) ?? 'error';
        const why = LISTEN_REASONS[code] ?? err.message;
        reject(new UserError(`metrics: cannot listen on ${this.opts.endpoint}: ${why} (set ${this.opts.setting ?? 'metrics.endpoint'})`));
      };
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  /** host:port actually bound (the port chosen by the kernel for :0). */
  address(): string {
    const a = this.server.address() as AddressInfo | null;
    if (!a) return this.opts.endpoint;
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  /** The URL to scrape, with the bound port. */
  url(): string {
    const a = this.server.address() as AddressInfo | null;
    const port = a?.port ?? parseEndpoint(this.opts.endpoint).port;
    const host = parseEndpoint(this.opts.endpoint).host;
    const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
    return `http://${shown}:${port}${this.opts.path}`;
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== this.opts.path) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`not found: the metrics are at ${this.opts.path}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('use GET\n');
      return;
    }
    let body: string;
    try {
      body = await this.collector.scrape();
    } catch (err) {
      if (this.failures++ === 0) this.opts.log?.(`metrics: a scrape failed: ${(err as Error).stack ?? err}`);
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`scrape failed: ${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': this.collector.contentType, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
