/**
 * The tracer's configuration after loading, defaults, environment and validation: what the
 * rest of the receiver consumes. The file format (collector-shaped YAML) is documented in
 * docs/configuration.md; receiver/config/load.ts turns a file into this.
 */
import type { AlertsConfig } from './alerts';

export interface KeepFilters {
  /** Key values (strings; integers match every integer width) always exported. */
  keys: string[];
  /** Map type globs (`*`, `?`) always exported. */
  mapTypes: string[];
  /** Caller globs, matched against `function` and `file:line` (base name), always exported. */
  callers: string[];
}

export interface MapDeleteReceiverConfig {
  pids: number[];
  executables: string[];
  captureKeys: boolean;
  /** Regular expressions; matching parts of captured key values are replaced (receiver/events/redact.ts). */
  redactKeys: string[];
  stackDepth: number;
  sampling: {
    /** Fraction of deletes recorded, in (0, 1]; decided in the kernel. */
    rate: number;
    keep: KeepFilters;
  };
  /** Ceiling on events exported per second; excess is counted as dropped. */
  maxEventsPerSecond: number;
  ringBufferBytes: number;
  /** Deletes of one goroutine within this window share one grouping span. */
  groupingWindowMs: number;
  /** Overrides the service name for every traced process. */
  serviceName?: string;
  /**
   * false: counters only (metrics mode) — nothing is decoded or exported per delete; needs a
   * metrics or alerts section.
   */
  events: boolean;
  /** Track the targets' OpenTelemetry Go SDK spans (docs/correlation.md). */
  spans: {
    enabled: boolean;
    /** How goroutines inherit their creator's spans. */
    inheritance: 'creation' | 'return' | 'off';
  };
}

/** The OTLP/gRPC receiver (pipeline-stage mode, docs/otlp-receiver.md). */
export interface OtlpReceiverConfig {
  grpc: {
    /** host:port to listen on. */
    endpoint: string;
    /** Largest request accepted, after decompression. */
    maxRecvMsgSizeBytes: number;
    /** Requests held at once before new ones get UNAVAILABLE. */
    maxInflightRequests: number;
    /** Bytes of requests held at once before new ones get UNAVAILABLE. */
    maxInflightBytes: number;
    /** Serve TLS with this certificate; with clientCaFile, senders must present a certificate it signed. */
    tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  };
  /** Longest a sender waits for the downstream's acknowledgement. */
  forwardTimeoutMs: number;
  /** Deletes made under a received span become span events of that span. */
  attach: {
    enabled: boolean;
    /** Longest a delete waits for its span to arrive before it is exported on its own. */
    deleteWaitMs: number;
    /** How long after a received span's end its deletes may still arrive (the request waits at most this). */
    settleMs: number;
    /** Deletes held waiting for their spans; beyond, new ones are exported on their own at once. */
    maxPendingEvents: number;
  };
}

export interface RetryConfig {
  enabled: boolean;
  initialIntervalMs: number;
  maxIntervalMs: number;
  /** Give up on a batch after this long (0 = never). */
  maxElapsedMs: number;
}

export interface OtlpExporterConfig {
  type: 'otlp';
  id: string;
  /** host:port or a URL (http:// means insecure, https:// TLS). */
  endpoint: string;
  tls: { insecure: boolean; caFile?: string; certFile?: string; keyFile?: string };
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  timeoutMs: number;
  retry: RetryConfig;
  /** Spans held while the collector is slow or down; beyond it, new spans are dropped and counted. */
  queueSize: number;
}

export interface DebugExporterConfig {
  type: 'debug';
  id: string;
  verbosity: 'basic' | 'normal' | 'detailed';
}

export interface FileExporterConfig {
  type: 'file';
  id: string;
  path: string;
}

export type ExporterConfig = OtlpExporterConfig | DebugExporterConfig | FileExporterConfig;

/** The Prometheus endpoint (top-level `metrics:`, docs/metrics.md). */
export interface MetricsConfig {
  /** false: the section is there but no endpoint runs. */
  enabled: boolean;
  /** host:port to listen on. */
  endpoint: string;
  /** URL path of the exposition. */
  path: string;
  /** Call sites with a series of their own per family; later ones are folded into caller="other". */
  maxCallSites: number;
  /** (service, map_type) pairs of the folded series; beyond, map_type="other" too. */
  maxMapTypes: number;
  /** Maps exposed by address (the most active); 0: none. */
  maxMaps: number;
  /** Timing mode: probes on RET instructions feed go_map_delete_duration_seconds. */
  timing: boolean;
}

export interface TracerConfig {
  /** The file it came from, or "<embedded default>". */
  source: string;
  receivers: { mapdelete: MapDeleteReceiverConfig; otlp?: OtlpReceiverConfig };
  exporters: ExporterConfig[];
  pipelines: { traces: { receivers: string[]; exporters: string[] } };
  /** The `metrics:` section; undefined when the file has none. */
  metrics?: MetricsConfig;
  /** The `alerts:` section (receiver/config/alerts.ts, docs/alerts.md); undefined when the file has none. */
  alerts?: AlertsConfig;
}
