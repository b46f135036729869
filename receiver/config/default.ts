/**
 * The configuration `map-delete-tracer run` uses without --config: trace what --pid/--exe
 * name and print a readable line per delete on stdout (the debug exporter), so it works out of the
 * box on one machine. `run --print-default-config` shows DEFAULT_CONFIG_YAML, a starting
 * point for a file.
 */
import type { TracerConfig } from './types';
import { EMBEDDED_SOURCE, loadConfigText } from './parse';

export const DEFAULT_CONFIG_YAML = `# map-delete-tracer: the embedded default configuration (docs/configuration.md).
# Save it to a file, edit it, and pass it to \`map-delete-tracer run --config FILE\`.
receivers:
  mapdelete:
    # What to trace: here, or with run --pid PID / --exe PATH.
    targets:
      pids: []
      executables: []
    capture_keys: false           # key values can be personal data: hashes only
    stack_depth: 16               # return addresses per delete, 1..32
    sampling:
      rate: 1.0                   # fraction of deletes recorded, in (0, 1]
    max_events_per_second: 5000   # ceiling on exported deletes; the excess is counted as dropped
    ring_buffer_bytes: 16777216   # kernel-to-tracer buffer: a power of two >= 4096
    grouping_window: 1s           # a goroutine's deletes within this window share a span
    spans:
      enabled: true               # deletes carry the OpenTelemetry SDK span active on their goroutine
      inheritance: creation       # new goroutines inherit their creator's spans: creation | return | off

exporters:
  debug:
    verbosity: basic              # a line per delete on stdout: basic | normal | detailed

service:
  pipelines:
    traces:
      receivers: [mapdelete]
      exporters: [debug]

# Exact delete counts for Prometheus (docs/metrics.md): uncomment to serve them at
# http://HOST:9464/metrics, or pass run --metrics-endpoint HOST:PORT.
# metrics:
#   endpoint: 0.0.0.0:9464
`;

/** The embedded default with the environment applied (OTEL_SERVICE_NAME, MAP_DELETE_TRACER_SAMPLING_RATE). */
export function defaultConfig(env: NodeJS.ProcessEnv = process.env): TracerConfig {
  return loadConfigText(DEFAULT_CONFIG_YAML, EMBEDDED_SOURCE, env).config;
}
