/** Shared by the export tests: a tracer config for a collector, and Jaeger span events flattened. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireBpf } from './bpf';
import { startCollector, startJaeger, stopAllOtel, type JaegerTrace, type RunningCollector, type RunningJaeger } from './otel';

export function tracerConfig(endpoint: string, extra = ''): string {
  return `receivers:
  mapdelete:
    capture_keys: false
    grouping_window: 200ms
${extra}exporters:
  otlp:
    endpoint: ${endpoint}
    tls: { insecure: true }
    retry_on_failure: { enabled: true, initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 0s }
service:
  pipelines:
    traces: { receivers: [mapdelete], exporters: [otlp] }
`;
}

export interface JaegerEvent {
  /** µs since the epoch, as Jaeger reports it. */
  time: number;
  fields: Record<string, string | number | boolean>;
  span: string;
  service: string;
}

export function eventsOf(traces: JaegerTrace[]): JaegerEvent[] {
  const out: JaegerEvent[] = [];
  for (const t of traces) {
    for (const s of t.spans) {
      const service = t.processes[s.processID]?.serviceName ?? '?';
      for (const log of s.logs ?? []) {
        const fields: JaegerEvent['fields'] = {};
        for (const f of log.fields) fields[f.key] = f.value;
        out.push({ time: log.timestamp, fields, span: s.operationName, service });
      }
    }
  }
  return out;
}


/**
 * Inside a describe(): a real Jaeger and a collector forwarding to it for the suite's tests, a
 * temp folder, and everything stopped and removed afterwards.
 */
export function useCollectorAndJaeger(tmpPrefix: string): { jaeger(): RunningJaeger; collector(): RunningCollector; tmp: string } {
  let jaeger: RunningJaeger | undefined;
  let collector: RunningCollector | undefined;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  before(async function () {
    requireBpf(this);
    jaeger = await startJaeger();
    collector = await startCollector({ jaegerOtlp: jaeger.otlpGrpc });
  });
  after(async () => {
    await stopAllOtel();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  return { jaeger: () => jaeger!, collector: () => collector!, tmp };
}
