/** `watch --format text`: one readable line per delete. */
import type { DeleteEvent } from '../events/types';
import type { LineBuffer } from './lines';
import { rfc3339Nano } from './time';

function shortFile(file: string): string {
  const parts = file.split('/');
  return parts.slice(-2).join('/');
}

export function formatText(e: DeleteEvent): string {
  const time = rfc3339Nano(e.timeNs).slice(11, 29); // hh:mm:ss.nnnnnnnnn
  const len = e.map.len === null ? '' : ` len=${e.map.len}`;
  let key = '';
  if (e.key) {
    key = e.key.value === undefined ? ` key#${e.key.hash}` : ` key=${JSON.stringify(e.key.value)} #${e.key.hash}`;
    if (e.notes.keyTruncated) key += '(truncated)';
  }
  const at = `${e.caller.function} ${shortFile(e.caller.file)}:${e.caller.line}`;
  const span = e.span ? ` trace=${e.span.traceId} span=${e.span.spanId}${e.span.inherited ? '(inherited)' : ''}` : '';
  return `${time} pid=${e.pid} goid=${e.goid} ${e.op.padEnd(6)} ${e.map.type} ${e.map.addr}${len}${key} at ${at}${span}`;
}

/** formatText(e) and "\n", appended to `out`. */
export function appendTextLine(e: DeleteEvent, out: LineBuffer): void {
  out.appendString(formatText(e));
  out.endLine();
}
