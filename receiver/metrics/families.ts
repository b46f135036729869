/**
 * Every metric family the Prometheus endpoint exposes: name, type, labels and help, in one
 * place. docs/metrics.md describes the same list; the tests check the dashboard and the docs
 * against it.
 *
 * Two prefixes, by subject: `go_map_` for what the traced Go programs do, `map_delete_tracer_`
 * for the tracer itself. Counters end in `_total`, durations are in seconds, sizes in bytes.
 * No label ever holds a goroutine id, a key or its hash, or a trace id; the per-map families
 * carry the map's address and its process id, but only for the few hottest maps (max_maps).
 */

export type FamilyType = 'counter' | 'gauge' | 'histogram';

export interface Family {
  name: string;
  type: FamilyType;
  labels: readonly string[];
  help: string;
}

const CALL_SITE = ['service', 'map_type', 'caller', 'function'] as const;
const PER_MAP = ['service', 'pid', 'map_type', 'map'] as const;

export const FAMILIES = {
  deletes: {
    name: 'go_map_delete_total',
    type: 'counter',
    labels: CALL_SITE,
    help: 'delete(m, k) calls, exact (counted in the kernel, whatever the span sampling), by service, map type and call site (caller = file:line of the statement, function = its function); call sites beyond metrics.max_call_sites are folded into caller="other"',
  },
  clears: {
    name: 'go_map_clear_total',
    type: 'counter',
    labels: CALL_SITE,
    help: 'clear(m) calls (and range-delete loops compiled to one), exact, by service, map type and call site; call sites beyond metrics.max_call_sites are folded into caller="other"',
  },
  mapLen: {
    name: 'go_map_len',
    type: 'gauge',
    labels: PER_MAP,
    help: 'Element count of a hot map, read at its latest delete or clear (before it ran); only the metrics.max_maps most active maps',
  },
  mapClearMaxLen: {
    name: 'go_map_clear_max_len',
    type: 'gauge',
    labels: PER_MAP,
    help: 'Largest element count a hot map had when it was cleared (read before the clear); only maps that were cleared',
  },
  mapDeletes: {
    name: 'go_map_deletes_by_map_total',
    type: 'counter',
    labels: PER_MAP,
    help: 'delete(m, k) calls on one hot map (by address); only the metrics.max_maps most active maps',
  },
  mapClears: {
    name: 'go_map_clears_by_map_total',
    type: 'counter',
    labels: PER_MAP,
    help: 'clear(m) calls on one hot map (by address); only the metrics.max_maps most active maps',
  },
  deleteDuration: {
    name: 'go_map_delete_duration_seconds',
    type: 'histogram',
    labels: [],
    help: 'Time spent in the Go runtime per delete(m, k), entry to return (timing mode only: metrics.timing)',
  },
  clearDuration: {
    name: 'go_map_clear_duration_seconds',
    type: 'histogram',
    labels: [],
    help: 'Time spent in the Go runtime per clear(m), entry to return (timing mode only: metrics.timing)',
  },

  buildInfo: {
    name: 'map_delete_tracer_build_info',
    type: 'gauge',
    labels: ['version'],
    help: 'Always 1; the tracer version as a label',
  },
  eventsLost: {
    name: 'map_delete_tracer_events_lost_total',
    type: 'counter',
    labels: [],
    help: 'Delete records lost on their way to the exporters (ring buffer full, or not processable); spans miss them, the in-kernel go_map_ counters do not',
  },
  uncountedDeletes: {
    name: 'map_delete_tracer_uncounted_deletes_total',
    type: 'counter',
    labels: [],
    help: 'Deletes and clears missing from go_map_delete_total and go_map_clear_total because the kernel counter table was full',
  },
  ringBufferSize: {
    name: 'map_delete_tracer_ring_buffer_size_bytes',
    type: 'gauge',
    labels: [],
    help: 'Size of the kernel-to-tracer ring buffer',
  },
  ringBufferUsed: {
    name: 'map_delete_tracer_ring_buffer_used_bytes',
    type: 'gauge',
    labels: [],
    help: 'Bytes waiting in the ring buffer at the last read',
  },
  ringBufferUsage: {
    name: 'map_delete_tracer_ring_buffer_usage_ratio',
    type: 'gauge',
    labels: [],
    help: 'Fraction of the ring buffer waiting to be read (0..1) at the last read',
  },
  probesAttached: {
    name: 'map_delete_tracer_probes_attached',
    type: 'gauge',
    labels: [],
    help: 'uprobes currently attached',
  },
  attachErrors: {
    name: 'map_delete_tracer_attach_errors_total',
    type: 'counter',
    labels: [],
    help: 'Probes that could not be attached',
  },
  tracedProcesses: {
    name: 'map_delete_tracer_traced_processes',
    type: 'gauge',
    labels: [],
    help: 'Processes traced so far in this run',
  },
  foldedCallSites: {
    name: 'map_delete_tracer_folded_call_sites',
    type: 'gauge',
    labels: ['op'],
    help: 'Call sites counted in the caller="other" series because metrics.max_call_sites was reached (raise it if this grows)',
  },
  eventsReceived: {
    name: 'map_delete_tracer_events_received_total',
    type: 'counter',
    labels: [],
    help: 'Sampled delete events that reached the export pipeline',
  },
  eventsRateLimited: {
    name: 'map_delete_tracer_events_rate_limited_total',
    type: 'counter',
    labels: [],
    help: 'Delete events dropped by max_events_per_second before export',
  },
  exportedEvents: {
    name: 'map_delete_tracer_exported_events_total',
    type: 'counter',
    labels: ['exporter'],
    help: 'Delete events exported (otlp: acknowledged by the collector; debug, file: written)',
  },
  exportDroppedEvents: {
    name: 'map_delete_tracer_export_dropped_events_total',
    type: 'counter',
    labels: ['exporter'],
    help: 'Delete events an otlp exporter dropped: queue full, or retries given up',
  },
  exportFailedAttempts: {
    name: 'map_delete_tracer_export_failed_attempts_total',
    type: 'counter',
    labels: ['exporter'],
    help: 'Failed OTLP export attempts (each is retried with backoff)',
  },
  exportQueueSpans: {
    name: 'map_delete_tracer_export_queue_spans',
    type: 'gauge',
    labels: ['exporter'],
    help: 'Spans waiting in an otlp exporter queue',
  },
  exportQueueCapacity: {
    name: 'map_delete_tracer_export_queue_capacity_spans',
    type: 'gauge',
    labels: ['exporter'],
    help: 'Capacity of an otlp exporter queue (sending_queue.queue_size)',
  },
  exportQueueUsage: {
    name: 'map_delete_tracer_export_queue_usage_ratio',
    type: 'gauge',
    labels: ['exporter'],
    help: 'Fraction of an otlp exporter queue in use (0..1)',
  },
} as const satisfies Record<string, Family>;

export type FamilyId = keyof typeof FAMILIES;

/** Every name a scrape can contain, histograms with their _bucket, _sum and _count series. */
export function exposedSeriesNames(): string[] {
  const names: string[] = [];
  for (const f of Object.values(FAMILIES) as Family[]) {
    if (f.type === 'histogram') names.push(`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`);
    else names.push(f.name);
  }
  return names;
}

/** The value of labels folded away because of a cardinality limit. */
export const OTHER = 'other';
