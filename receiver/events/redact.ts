/**
 * Redaction of captured key values (receivers.mapdelete.redact_keys, watch --redact-key): every
 * part of a key that matches one of the patterns is replaced by REDACTED before the event reaches
 * any output or exporter. The key's hash is kept: it identifies the key without showing it.
 */

export const REDACTED = '****';

export type Redactor = (value: string) => string;

/** Thrown for a pattern that is not a regular expression; `index` is its position in the list. */
export class RedactPatternError extends Error {
  constructor(
    readonly index: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Compiles the patterns (JavaScript regular expressions, matched anywhere in the value); undefined when there are none. */
export function compileRedactor(patterns: readonly string[]): Redactor | undefined {
  if (patterns.length === 0) return undefined;
  const res = patterns.map((p, i) => {
    if (p === '') throw new RedactPatternError(i, 'an empty pattern would match every key (use ".*" to hide every value, or turn capture off)');
    try {
      return new RegExp(p, 'gu');
    } catch (err) {
      throw new RedactPatternError(i, `not a regular expression: ${(err as Error).message.replace(/^Invalid regular expression: (\/.*\/[a-z]*: )?/, '')}`);
    }
  });
  return (value) => {
    let out = value;
    for (const re of res) {
      re.lastIndex = 0;
      // A pattern that can match nothing at all ("a*") would insert REDACTED between every character.
      out = out.replace(re, (m) => (m === '' ? '' : REDACTED));
    }
    return out;
  };
}
