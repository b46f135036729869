/** What one delete or clear looks like once decoded and symbolized: the receiver's currency. */

export interface SourceLocation {
  function: string;
  file: string;
  line: number;
}

export interface StackFrame extends SourceLocation {
  /** The return address this frame was found from, "0x…" (inlined frames share it). */
  pc: string;
}

export interface MapInfo {
  addr: string;
  type: string;
  /** Elements after the operation, or null when it cannot be known from an entry probe. */
  len: number | null;
  /** Elements when the probe fired, before the operation (null: unreadable). */
  lenBefore: number | null;
}

export interface KeyInfo {
  type: string;
  hash: string;
  /** Only when key capture is on. */
  value?: string;
}

/** The traced process an event came from (for OpenTelemetry resources). */
export interface ProcessInfo {
  /** The executable as the user knows it. */
  executable: string;
  goVersion: string;
  /** OTEL_SERVICE_NAME from the process's environment, read when the tracer first saw it. */
  serviceName?: string;
}

/**
 * The OpenTelemetry Go SDK span that was active on the deleting goroutine (tracked in the kernel
 * from the SDK's own span start/end, docs/design/correlation.md), with the SDK's own ids.
 */
export interface ActiveSpan {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  /** W3C trace flag bit 0: the SDK's sampler kept the span, so it will reach the backend. */
  sampled: boolean;
  /** The span was open on the goroutine that created this one (inherited at `go`), not started here. */
  inherited: boolean;
}

export interface DeleteEvent {
  /** Wall-clock time in ns since the Unix epoch. */
  timeNs: bigint;
  pid: number;
  tid: number;
  goid: string;
  op: 'delete' | 'clear';
  function: string;
  map: MapInfo;
  key: KeyInfo | null;
  /**
   * caller, stack, process and notes are shared between events with the same stack / process /
   * flags (receiver/events/stacks.ts) and frozen: never modify them; copy to change.
   */
  caller: SourceLocation;
  stack: StackFrame[];
  process: ProcessInfo;
  /** The service's span active on the goroutine at the delete; null when none was tracked. */
  span: ActiveSpan | null;
  /** Facts about the record that the JSON schema has no place for but the text output shows. */
  notes: {
    stackTruncated: boolean;
    keyTruncated: boolean;
    goidUnknown: boolean;
  };
}
