/**
 * What to probe in one binary so deletes carry the OpenTelemetry span active on their goroutine
 * (docs/design/correlation.md): the SDK's span start and end, goroutine creation, and the
 * offsets the kernel reads. Pure planning from the binary; the tracer does the attaching.
 */
import type { GoBinary } from '../golang/binary';
import { detectOtelSdk, type OtelSdkDetection } from '../golang/otelsdk';
import { NewgReg } from '../events/decode';

/**
 * How a new goroutine inherits its creator's spans:
 * - `creation`: a probe on the `CALL runtime.runqput` in runtime.newproc.func1 (emulated by the
 *   kernel like an entry probe, ~1 µs per `go` statement);
 * - `return`: probes on the RET instructions of runtime.newproc1 (single-stepped, ~20 µs per
 *   `go` statement) for runtimes where the call site cannot be verified;
 * - `off`: goroutines do not inherit; deletes in workers are correlated only with their own spans.
 */
export type InheritanceMode = 'creation' | 'return' | 'off';

export interface CorrelationOptions {
  inheritance: InheritanceMode;
}

/** Mirrors struct mdt_otel_plan (bpf/mdt_event.h). */
export interface OtelPlanOffsets {
  traceIdOff: number;
  spanIdOff: number;
  flagsOff: number;
  endTimeOff: number;
  goidOff: number;
  /** 0: unknown (Go < 1.21): no inheritance. */
  parentGoidOff: number;
}

export type SpanProbeProgram = 'mdt_span_start' | 'mdt_span_end' | 'mdt_goroutine_created';

export interface SpanProbe {
  program: SpanProbeProgram;
  /** What it is, for messages: "(*recordingSpan).End entry". */
  what: string;
  vaddr: number;
  fileOffset: number;
  /** The cookie's kind byte: for goroutine probes, the register holding the new g. */
  kind: number;
}

export type CorrelationPlan =
  | { ok: true; sdkVersion: string; offsetsSource: string; offsets: OtelPlanOffsets; probes: SpanProbe[]; notes: string[] }
  | {
      ok: false;
      /** absent: the program does not use the SDK (nothing to correlate); unsupported: it does, but its spans cannot be tracked. */
      kind: 'absent' | 'unsupported';
      reason: string;
      notes: string[];
    };

export function planCorrelation(
  binary: GoBinary,
  goid: { goidOffset: number; parentGoidOffset?: number },
  opts: CorrelationOptions,
): CorrelationPlan {
  let det: OtelSdkDetection;
  try {
    det = detectOtelSdk(binary);
  } catch (err) {
    return { ok: false, kind: 'unsupported', reason: `${binary.path}: cannot analyse the OpenTelemetry SDK: ${(err as Error).message}; deletes are traced but not correlated with spans`, notes: [] };
  }
  const notes = [...det.notes];
  if (det.problem || !det.offsets) {
    const kind = !det.version && det.functions.length === 0 ? 'absent' : 'unsupported';
    return { ok: false, kind, reason: det.problem ?? `${binary.path}: no OpenTelemetry SDK offsets; deletes are traced but not correlated with spans`, notes };
  }
  const start = det.functions.find((f) => f.role === 'span-start' && f.entryProbe);
  const end = det.functions.find((f) => f.role === 'span-end' && f.entryProbe);
  if (!start || !end) {
    return { ok: false, kind: 'unsupported', reason: `${binary.path}: the SDK's span start/end functions cannot be probed; deletes are traced but not correlated with spans`, notes };
  }
  const probes: SpanProbe[] = [
    { program: 'mdt_span_start', what: `${start.name} entry`, vaddr: start.entryProbe!.vaddr, fileOffset: start.entryProbe!.fileOffset, kind: 0 },
    { program: 'mdt_span_end', what: `${end.name} entry`, vaddr: end.entryProbe!.vaddr, fileOffset: end.entryProbe!.fileOffset, kind: 0 },
  ];

  if (opts.inheritance !== 'off') {
    if (goid.parentGoidOffset === undefined) {
      notes.push(`${binary.goVersion} has no g.parentGoid (Go 1.21+): goroutines do not inherit their creator's spans`);
    } else if (opts.inheritance === 'creation') {
      const call = det.runtime.find((t) => t.role === 'goroutine-created-call');
      if (call?.callAddrs?.length) {
        for (const a of call.callAddrs) probes.push(goroutineProbe(binary, `CALL runtime.runqput in ${call.name}`, a, NewgReg.Rbx));
      } else {
        notes.push(`the CALL runtime.runqput in runtime.newproc.func1 could not be verified in this runtime: goroutines do not inherit their creator's spans (set inheritance: return to probe the RETs of runtime.newproc1, ~20 µs per go statement)`);
      }
    } else {
      const np = det.runtime.find((t) => t.role === 'goroutine-create');
      if (np?.retAddrs?.length) {
        for (const a of np.retAddrs) probes.push(goroutineProbe(binary, `RET of ${np.name}`, a, NewgReg.Rax));
      } else {
        notes.push(`runtime.newproc1 has no RET instruction to probe: goroutines do not inherit their creator's spans`);
      }
    }
  }

  const o = det.offsets;
  return {
    ok: true,
    sdkVersion: det.version ?? 'unknown version',
    offsetsSource: det.offsetsSource === 'table' ? `the offsets table (${det.offsetsFrom})` : 'DWARF',
    offsets: {
      traceIdOff: o.recordingSpan.spanContext + o.spanContext.traceID,
      spanIdOff: o.recordingSpan.spanContext + o.spanContext.spanID,
      flagsOff: o.recordingSpan.spanContext + o.spanContext.traceFlags,
      endTimeOff: o.recordingSpan.endTime,
      goidOff: goid.goidOffset,
      parentGoidOff: goid.parentGoidOffset ?? 0,
    },
    probes,
    notes,
  };
}

function goroutineProbe(binary: GoBinary, what: string, vaddr: number, reg: NewgReg): SpanProbe {
  return { program: 'mdt_goroutine_created', what, vaddr, fileOffset: binary.elf.vaddrToFileOffset(vaddr), kind: reg };
}
