/** The OpenTelemetry resource of a traced Go process: who the deletes belong to. */
import * as path from 'node:path';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ProcessInfo } from '../events/types';

/**
 * service.name: the configured override, else the target's own OTEL_SERVICE_NAME (so deletes
 * land under the same service as its traces), else the executable's base name.
 */
export function serviceNameFor(proc: ProcessInfo, override?: string): string {
  return override || proc.serviceName || path.basename(proc.executable);
}

export function processResource(pid: number, proc: ProcessInfo, serviceOverride?: string): Resource {
  return resourceFromAttributes({
    'service.name': serviceNameFor(proc, serviceOverride),
    'process.pid': pid,
    'process.executable.name': path.basename(proc.executable),
    'process.executable.path': proc.executable,
    'process.runtime.name': 'go',
    'process.runtime.version': proc.goVersion.replace(/^go/, ''),
    'telemetry.sdk.name': 'map-delete-tracer',
    'telemetry.sdk.language': 'go',
  });
}
