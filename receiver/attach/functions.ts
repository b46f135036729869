/**
 * The probed functions and how they take their arguments. A function's id travels in the
 * uprobe cookie and comes back in every record, so ids must be stable within a session.
 */
import type { ArgKind } from '../golang/binary';
import { ArgKindCode } from '../events/decode';

const KNOWN = [
  'runtime.mapdelete',
  'runtime.mapdelete_fast32',
  'runtime.mapdelete_fast64',
  'runtime.mapdelete_faststr',
  'runtime.mapclear',
  'reflect.mapdelete',
  'reflect.mapdelete_faststr',
  'reflect.mapclear',
];

const ids = new Map<string, number>(KNOWN.map((name, i) => [name, i + 1]));
const names = new Map<number, string>(KNOWN.map((name, i) => [i + 1, name]));

export function functionId(name: string): number {
  let id = ids.get(name);
  if (id === undefined) {
    id = names.size + 1;
    if (id > 255) throw new Error(`too many probed functions (cookie holds 8 bits): ${name}`);
    ids.set(name, id);
    names.set(id, name);
  }
  return id;
}

export function functionName(id: number): string {
  return names.get(id) ?? `function#${id}`;
}

export function argKindCode(kind: ArgKind): ArgKindCode {
  switch (kind) {
    case 'keyptr':
      return ArgKindCode.KeyPtr;
    case 'key32':
      return ArgKindCode.Key32;
    case 'key64':
      return ArgKindCode.Key64;
    case 'keystr':
      return ArgKindCode.KeyStr;
    case 'clear':
      return ArgKindCode.Clear;
  }
}

/** Mirrors MDT_COOKIE in bpf/mdt_event.h. */
export function cookie(kind: ArgKindCode, funcId: number, goidOffset: number, planId: number): bigint {
  if (goidOffset < 0 || goidOffset > 0xffff) throw new Error(`goid offset ${goidOffset} does not fit the cookie`);
  if (planId < 0 || planId > 0xffff) throw new Error(`plan id ${planId} does not fit the cookie`);
  return BigInt(kind) | (BigInt(funcId) << 8n) | (BigInt(goidOffset) << 16n) | (BigInt(planId) << 32n);
}
