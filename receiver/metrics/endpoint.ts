/**
 * What `run` and `watch` call: start the Prometheus endpoint for a MetricsConfig, and say where
 * it is. Keeps the commands' wiring to a few lines.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExporterConfig, MetricsConfig } from '../config/types';
import { packageRoot } from '../util/paths';
import { MetricsServer } from './server';
import { isLoopback, parseEndpoint } from '../otlp/server';

function version(): string {
  try {
    return String(JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

/** Each otlp exporter's queue capacity, for map_delete_tracer_export_queue_capacity_spans. */
export function queueCapacities(exporters: ExporterConfig[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of exporters) if (x.type === 'otlp') out[x.id] = x.queueSize;
  return out;
}

/**
 * Starts the endpoint; fails with a UserError naming `setting` when it cannot listen. The caller
 * sets its counter source (collector.setSource) once the tracer exists, and stops it at exit.
 */
export async function startMetricsEndpoint(
  cfg: MetricsConfig,
  opts: { setting: string; log: (line: string) => void; exporters?: ExporterConfig[] },
): Promise<MetricsServer> {
  const server = new MetricsServer({
    endpoint: cfg.endpoint,
    path: cfg.path,
    setting: opts.setting,
    log: opts.log,
    version: version(),
    limits: { maxCallSites: cfg.maxCallSites, maxMapTypes: cfg.maxMapTypes, maxMaps: cfg.maxMaps },
    queueCapacity: queueCapacities(opts.exporters ?? []),
  });
  await server.start();
  const open = isLoopback(parseEndpoint(cfg.endpoint).host) ? '' : ' (not loopback: reachable from other hosts)';
  opts.log(`metrics: Prometheus endpoint at http://${server.address()}${cfg.path}${open}`);
  return server;
}
