/**
 * The span-event shape of one delete. Project attributes live under `go.map.*` and
 * `go.goroutine.id`; code location uses the stable `code.*` conventions.
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import type { DeleteEvent } from '../events/types';

export const EVENT_DELETE = 'go.map.delete';
export const EVENT_CLEAR = 'go.map.clear';

export function hrTime(unixNs: bigint): HrTime {
  return [Number(unixNs / 1_000_000_000n), Number(unixNs % 1_000_000_000n)];
}

/** Go's own traceback layout, so the stack reads like a panic's. */
export function goStacktrace(e: DeleteEvent): string {
  return e.stack.map((f) => `${f.function}(...)\n\t${f.file}:${f.line} pc=${f.pc}`).join('\n');
}

export function eventAttributes(e: DeleteEvent): Attributes {
  const a: Attributes = {
    'go.goroutine.id': Number(e.goid),
    'thread.id': e.tid,
    'go.map.type': e.map.type,
    'go.map.address': e.map.addr,
    'go.map.function': e.function,
    'code.function.name': e.caller.function,
    'code.file.path': e.caller.file,
    'code.line.number': e.caller.line,
    'code.stacktrace': goStacktrace(e),
  };
  if (e.map.len !== null) a['go.map.len'] = e.map.len;
  if (e.key) {
    a['go.map.key.type'] = e.key.type;
    a['go.map.key.hash'] = e.key.hash;
    if (e.key.value !== undefined) a['go.map.key.value'] = e.key.value;
  }
  return a;
}
