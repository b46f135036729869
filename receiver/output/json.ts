/**
 * `watch --format json`: one object per line, in exactly the documented field order and shape.
 */
import type { DeleteEvent } from '../events/types';
import { rfc3339Nano } from './time';

export function toJsonObject(e: DeleteEvent): Record<string, unknown> {
  return {
    time: rfc3339Nano(e.timeNs),
    pid: e.pid,
    tid: e.tid,
    goid: Number(e.goid),
    op: e.op,
    function: e.function,
    map: { addr: e.map.addr, type: e.map.type, len: e.map.len },
    key: e.key === null ? null : e.key.value === undefined ? { type: e.key.type, hash: e.key.hash } : { type: e.key.type, hash: e.key.hash, value: e.key.value },
    caller: { function: e.caller.function, file: e.caller.file, line: e.caller.line },
    stack: e.stack.map((f) => ({ function: f.function, file: f.file, line: f.line, pc: f.pc })),
    trace_id: e.span?.traceId ?? null,
    span_id: e.span?.spanId ?? null,
  };
}

export function formatJson(e: DeleteEvent): string {
  return JSON.stringify(toJsonObject(e));
}
