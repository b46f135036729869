/**
 * The properties every input must have, whatever its bytes: GoBinary.fromBuffer and every
 * analysis the tracer runs on a binary either answer or refuse with a GoBinaryError whose message
 * is one line, names the file and reads like a diagnosis (not a leaked TypeError or RangeError).
 * The guard in binary.ts turns an unexpected exception into a GoBinaryError "could not be
 * analysed (…)": that is a bug caught by the safety net, so it counts as a failure here too.
 * Time and memory are checked by the caller (worker.ts / fuzz.ts).
 */
import { GoBinary } from '../../receiver/golang/binary';
import { CorruptDataError, GoBinaryError } from '../../receiver/golang/errors';
import { detectOtelSdk, retInstructions } from '../../receiver/golang/otelsdk';
import type { ProbeSet } from './layout';

/** The name inputs are opened under: every refusal of the facade must name it. */
export const INPUT_NAME = '/fuzz/input.bin';

export type FailureKind = 'crash' | 'wrapped' | 'message' | 'hang' | 'memory' | 'died';

export class PropertyViolation extends Error {
  constructor(
    readonly kind: FailureKind,
    readonly step: string,
    message: string,
    readonly detail = '',
  ) {
    super(message);
    this.name = 'PropertyViolation';
  }
}

export interface CheckOutcome {
  /** GoBinary.fromBuffer answered. */
  accepted: boolean;
  /** The open refusal, or the first analysis that refused. */
  refusal?: string;
  /** How many analyses refused (GoBinaryError) after a successful open. */
  refusedSteps: number;
}

/** Messages that show a JavaScript error leaking through instead of a diagnosis. */
const LEAK = /Cannot read propert|Cannot set propert|is not a function|is not iterable|is not defined|Maximum call stack|Invalid array length|Invalid typed array length|Array buffer allocation failed|out of range|\bNaN\b|\bundefined\b|\[object |Infinity/;

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * `facade`: the error crossed a GoBinary method (or detectOtelSdk), so it must name the file.
 * Otherwise it came from a lower layer used directly (Pclntab), which may throw the bare
 * CorruptDataError that the facade rewraps.
 */
function expectRefusal(step: string, err: unknown, facade: boolean): string {
  if (err instanceof PropertyViolation) throw err;
  if (!(err instanceof GoBinaryError)) {
    throw new PropertyViolation('crash', step, `${step} threw ${describeError(err)}`, err instanceof Error ? (err.stack ?? '') : '');
  }
  const msg = err.message;
  if (/could not be analysed \(/.test(msg)) {
    throw new PropertyViolation('wrapped', step, `${step}: an unexpected exception reached the guard: ${msg}`, err.stack ?? '');
  }
  if (!msg || msg.includes('\n')) throw new PropertyViolation('message', step, `${step}: empty or multi-line message: ${JSON.stringify(msg)}`);
  if (facade && !msg.includes(INPUT_NAME)) throw new PropertyViolation('message', step, `${step}: message does not name the file: ${msg}`);
  if (!facade && !(err instanceof CorruptDataError) && !msg.includes(INPUT_NAME)) {
    throw new PropertyViolation('message', step, `${step}: message does not name the file: ${msg}`);
  }
  if (LEAK.test(msg)) throw new PropertyViolation('message', step, `${step}: message looks like a leaked JavaScript error: ${msg}`);
  return msg;
}

function noLeak(step: string, texts: (string | undefined)[]): void {
  for (const t of texts) {
    if (t && (LEAK.test(t) || t.includes('\n'))) throw new PropertyViolation('message', step, `${step}: ${JSON.stringify(t)}`);
  }
}

/** Runs everything the tracer does with a binary on `buf`; throws PropertyViolation on a failure. */
export function checkInput(buf: Buffer, probes: ProbeSet): CheckOutcome {
  let b: GoBinary;
  try {
    b = GoBinary.fromBuffer(buf, INPUT_NAME);
  } catch (err) {
    return { accepted: false, refusal: expectRefusal('GoBinary.fromBuffer', err, true), refusedSteps: 0 };
  }
  const out: CheckOutcome = { accepted: true, refusedSteps: 0 };
  /** mayRefuse: a GoBinaryError is an acceptable answer; otherwise any exception fails. */
  const step = <T>(name: string, fn: () => T, mayRefuse: boolean, facade = true): T | undefined => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof PropertyViolation) throw err;
      if (!mayRefuse) throw new PropertyViolation('crash', name, `${name} threw ${describeError(err)}`, err instanceof Error ? (err.stack ?? '') : '');
      const msg = expectRefusal(name, err, facade);
      out.refusedSteps++;
      out.refusal ??= msg;
      return undefined;
    }
  };

  step('loadSegments', () => b.loadSegments(), false);
  const plan = step('probePoints', () => b.probePoints(), true);
  step('goidOffsets', () => b.goidOffsets(), true);
  const mapTypes = step('mapTypes', () => b.mapTypes(), true);
  const targets = plan?.points.length ? plan.points.map((p) => p.entry) : probes.callTargets;
  step('callSites', () => b.callSites(targets), true);

  for (const pc of probes.pcs) {
    step('symbolize', () => {
      if (!Array.isArray(b.symbolize(pc))) throw new Error('symbolize returned a non-array');
      b.symbolizeReturn(pc + 1);
      b.funcName(pc);
    }, false);
    // The lower layer directly: symbolize() hides its exceptions, so look behind it.
    step('Pclntab.frames', () => b.pclntab.frames(pc), true, false);
  }
  const typeAddrs = [...probes.typeAddrs, ...(mapTypes ?? []).slice(0, 64).map((m) => m.addr)];
  for (const a of typeAddrs) {
    step('mapType', () => {
      b.mapType(a);
      b.typeName(a);
    }, false);
  }
  step('dwarf', () => {
    const dwarf = b.dwarfData();
    dwarf?.struct('runtime.g');
    // Units the walker skipped hide their errors: only corrupt data is a reason to skip one.
    for (const s of dwarf?.skippedUnits ?? []) {
      if (!(s.error instanceof GoBinaryError)) {
        const e = s.error as Error;
        throw new PropertyViolation('crash', 'Dwarf (skipped unit)', `the DWARF unit at ${s.offset} was skipped on ${describeError(e)}`, e?.stack ?? '');
      }
    }
  }, false);

  for (const opts of [{}, { ignoreDwarf: true }]) {
    const det = step('detectOtelSdk', () => detectOtelSdk(b, opts), true);
    if (det) noLeak('detectOtelSdk', [det.problem, ...det.notes]);
  }
  for (const name of probes.probed) {
    const f = step('funcByName', () => b.pclntab.funcByName(name), false);
    if (f) step('retInstructions', () => retInstructions(b, f), true);
  }
  return out;
}
