/**
 * The span-event shape of one delete. Project attributes live under `go.map.*` and
 * `go.goroutine.id`; code location uses the stable `code.*` conventions.
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import type { DeleteEvent, StackFrame } from '../events/types';
import { SecondSplitter } from '../output/time';

export const EVENT_DELETE = 'go.map.delete';
export const EVENT_CLEAR = 'go.map.clear';

const seconds = new SecondSplitter();

export function hrTime(unixNs: bigint): HrTime {
  if (unixNs < 0n) return [Number(unixNs / 1_000_000_000n), Number(unixNs % 1_000_000_000n)];
  const ns = seconds.split(unixNs); // per event: no BigInt division within a second
  return [seconds.sec, ns];
}

/** The stacktrace of each shared (frozen) stack, made once: events/stacks.ts shares them. */
const stacktraces = new WeakMap<StackFrame[], string>();

/** Go's own traceback layout, so the stack reads like a panic's. */
export function goStacktrace(e: DeleteEvent): string {
  const stack = e.stack;
  if (!Object.isFrozen(stack)) return formatStacktrace(stack);
  let text = stacktraces.get(stack);
  if (text === undefined) {
    text = formatStacktrace(stack);
    if (stack.every((f) => Object.isFrozen(f))) stacktraces.set(stack, text);
  }
  return text;
}

function formatStacktrace(stack: StackFrame[]): string {
  return stack.map((f) => `${f.function}(...)\n\t${f.file}:${f.line} pc=${f.pc}`).join('\n');
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
