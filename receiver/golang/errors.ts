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

export function corrupt(detail: string): never {
  throw new CorruptDataError(detail);
}

/** "0x4a3f20" — every address in a message is printed this way. */
export function hex(n: number): string {
  return '0x' + n.toString(16);
}
