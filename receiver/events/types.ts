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
  caller: SourceLocation;
  stack: StackFrame[];
  process: ProcessInfo;
  /** Facts about the record that the JSON schema has no place for but the text output shows. */
  notes: {
    stackTruncated: boolean;
    keyTruncated: boolean;
    goidUnknown: boolean;
  };
}
