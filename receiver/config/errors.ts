/**
 * Configuration mistakes. Every one is a single line that says where, what and how to fix it:
 *
 *   FILE:LINE:COL: KEY.PATH: what is wrong (how to fix)
 *
 * Mistakes that have no place in the file (an environment variable, a file that cannot be
 * read) start with what they are about instead.
 */
import { UserError } from '../util/errors';

export class ConfigError extends UserError {
  constructor(
    message: string,
    /** Where in the file, when the mistake has a place there. */
    readonly location?: { file: string; line: number; col: number; keyPath: string },
  ) {
    super(oneLine(message));
    this.name = 'ConfigError';
  }
}

/** Collapses line breaks so a message always prints as one line. */
export function oneLine(message: string): string {
  return message.replace(/\s*[\r\n]+\s*/g, ' ');
}

/** A value as a message shows it: strings quoted (and shortened), others as written. */
export function quote(value: string, max = 60): string {
  const short = value.length > max ? `${value.slice(0, max - 1)}…` : value;
  return JSON.stringify(short);
}
