/** An OTLP/gRPC span exporter built from the `otlp` exporter's config. */
import * as fs from 'node:fs';
import { credentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { OtlpExporterConfig } from '../config/types';
import { UserError } from '../util/errors';

function readPem(what: string, file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UserError(`exporter otlp: cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? err} (check tls.${what})`);
  }
}

/** gRPC wants host:port; http:// and https:// prefixes only choose the transport security. */
export function grpcTarget(endpoint: string): { url: string; insecure?: boolean } {
  const m = /^(https?):\/\/([^/]+)\/?$/.exec(endpoint);
  if (m) return { url: m[2], insecure: m[1] === 'http' };
  return { url: endpoint };
}

export function makeOtlpExporter(cfg: OtlpExporterConfig): () => SpanExporter {
  const target = grpcTarget(cfg.endpoint);
  const insecure = target.insecure ?? cfg.tls.insecure;
  let creds: ChannelCredentials;
  if (insecure) {
    creds = credentials.createInsecure();
  } else {
    creds = credentials.createSsl(readPem('ca_file', cfg.tls.caFile) ?? null, readPem('key_file', cfg.tls.keyFile) ?? null, readPem('cert_file', cfg.tls.certFile) ?? null);
  }
  return () => {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(cfg.headers)) metadata.set(k, v);
    return new OTLPTraceExporter({
      url: `${insecure ? 'http' : 'https'}://${target.url}`,
      credentials: creds,
      metadata,
      compression: cfg.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
      timeoutMillis: cfg.timeoutMs,
    });
  };
}
