/**
 * Sampling keep-filters, resolved against a binary: which map type descriptors and which call
 * sites (return addresses into the caller) the kernel must record whatever the sampling rate.
 * Resolution is static — every map type in the binary, every call to a probed function — so
 * matching deletes are kept from the very first one, before user space has seen any.
 */
import * as path from 'node:path';
import type { GoBinary, ProbePoint, SourceFrame } from '../golang/binary';
import { globToRegExp } from '../util/glob';

export interface ResolvedKeep {
  mapTypes: { addr: number; name: string }[];
  callSites: { retAddr: number; where: string }[];
}

export function callerMatches(re: RegExp, frame: SourceFrame): boolean {
  return re.test(frame.function) || re.test(`${path.basename(frame.file)}:${frame.line}`) || re.test(`${frame.file}:${frame.line}`);
}

export function resolveKeep(binary: GoBinary, points: ProbePoint[], mapTypeGlobs: string[], callerGlobs: string[]): ResolvedKeep {
  const out: ResolvedKeep = { mapTypes: [], callSites: [] };
  if (mapTypeGlobs.length) {
    const res = mapTypeGlobs.map(globToRegExp);
    for (const t of binary.mapTypes()) if (res.some((re) => re.test(t.name))) out.mapTypes.push(t);
  }
  if (callerGlobs.length) {
    const res = callerGlobs.map(globToRegExp);
    for (const site of binary.callSites(points.map((p) => p.entry))) {
      const frame = site.frames[0];
      if (frame && res.some((re) => callerMatches(re, frame))) {
        out.callSites.push({ retAddr: site.retAddr, where: `${frame.function} ${path.basename(frame.file)}:${frame.line}` });
      }
    }
  }
  return out;
}
