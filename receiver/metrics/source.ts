/**
 * What the tracer knows as exact numbers, for the Prometheus endpoint (receiver/metrics/) and the
 * alert rules (receiver/alerts/): in-kernel counters read on demand, resolved to labels people
 * read (service, Go map type, `file:line` of the delete statement). Every count is cumulative
 * since the tracer attached and never goes backwards for a row that exists (a row of a process
 * that exited keeps its final value); only the bounded per-map and per-key tables can forget a
 * row (LRU in the kernel), and then a later read starts that row again from zero.
 */

export type MapOp = 'delete' | 'clear';

/** Exact: every delete and clear, whatever the span sampling rate. */
export interface DeleteCountRow {
  pid: number;
  /** service.name as the spans use it (config, else the process's OTEL_SERVICE_NAME, else exe name). */
  service: string;
  op: MapOp;
  /** Go type of the map, e.g. "map[string]*main.User"; "unknown" when it cannot be named. */
  mapType: string;
  /** Base name and line of the delete/clear statement, e.g. "user_service.go:42"; "unknown" when not symbolized. */
  caller: string;
  /** Function holding the statement, e.g. "main.(*UserService).Logout". */
  callerFunction: string;
  count: bigint;
}

/** Per map (by address), for the hottest maps: bounded in the kernel (LRU). */
export interface MapActivityRow {
  pid: number;
  service: string;
  /** "0xc000123456", as %p prints it. */
  mapAddr: string;
  mapType: string;
  deletes: bigint;
  clears: bigint;
  /** Element count read at the latest delete/clear (before it ran); null when unreadable. */
  lastLen: number | null;
  /** Largest element count read at a clear so far (before it ran); null when no clear. */
  maxClearLen: number | null;
  /** When the latest delete/clear happened, in the kernel's jiffies: only compared, to rank by recency. */
  lastSeen: bigint;
}

/** Per key hash: bounded in the kernel (LRU); only when something asks for it (a key-grouped rule). */
export interface KeyActivityRow {
  pid: number;
  service: string;
  mapType: string;
  /** 16 hex digits, as `hash-key` prints it. */
  keyHash: string;
  deletes: bigint;
}

/** Optional timing mode (probes on RET instructions): delete/clear duration, log2 buckets. */
export interface DurationHistogram {
  op: MapOp;
  /** Upper bounds in seconds (cumulative counts), the last is +Inf. */
  buckets: { le: number; count: bigint }[];
  sumSeconds: number;
  count: bigint;
}

export interface TracerHealth {
  /** Records the kernel could not queue (ring buffer full), and anything lost after. */
  eventsLost: bigint;
  ringBufferBytes: number;
  /** Bytes waiting in the ring buffer at the last read. */
  ringBufferUsedBytes: number;
  probesAttached: number;
  attachErrors: number;
  tracedProcesses: number;
  /** Counter rows the kernel could not create (its table was full): those deletes are not counted by label. */
  counterOverflow: bigint;
}

export interface CounterSource {
  deleteCounts(): DeleteCountRow[];
  mapActivity(): MapActivityRow[];
  keyActivity(): KeyActivityRow[];
  health(): TracerHealth;
  /** Present only in timing mode. */
  durations?(): DurationHistogram[];
}
