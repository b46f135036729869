import { UserError } from '../util/errors';

/**
 * Anything wrong with a binary we were asked to analyse: not ELF, not Go, too old, truncated,
 * corrupt. The message is one line that names the problem and what to do about it, because the
 * CLI prints it as is (it is a UserError) and the attach code shows it per process.
 */
export class GoBinaryError extends UserError {
  constructor(message: string) {
    super(message.replace(/\s*\n\s*/g, ' '));
    this.name = 'GoBinaryError';
  }
}

/**
 * A read outside the data it was meant to stay in. Parsers throw it from deep inside; the
 * facade rewraps it with the file name, so the detail only has to say where.
 */
export class CorruptDataError extends GoBinaryError {
  constructor(readonly detail: string) {
    super(`corrupt data: ${detail}`);
    this.name = 'CorruptDataError';
  }
}

/**
 * The one-line refusal for a failure inside the parsers of `path`: a CorruptDataError gets the
 * file name and the fix; a GoBinaryError is already a diagnosis; anything else is a bug the
 * parsers did not anticipate, still reported as a refusal (so a bad binary never crashes the
 * tracer) but marked as such.
 */
export function refusal(path: string, err: unknown): GoBinaryError {
  if (err instanceof CorruptDataError) {
    return new GoBinaryError(`${path} is truncated or corrupt (${err.detail}); copy or rebuild the binary`);
  }
  if (err instanceof GoBinaryError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new GoBinaryError(`${path} could not be analysed (${msg}); it may be corrupt: copy or rebuild the binary`);
}

export function corrupt(detail: string): never {
  throw new CorruptDataError(detail);
}

/** "0x4a3f20" — every address in a message is printed this way. */
export function hex(n: number): string {
  // Corrupt tables can make an address negative: "-0x10", not "0x-10".
  return n < 0 ? '-0x' + (-n).toString(16) : '0x' + n.toString(16);
}
