/**
 * `${env:NAME}` and `${env:NAME:-default}` in scalar values, as in the OpenTelemetry
 * Collector. `$$` is a literal `$`; a `$` followed by anything else is kept as it is. The
 * default applies when NAME is unset or empty (as in the shell's `${NAME:-default}`) and is
 * taken literally, up to the first `}`.
 */

export interface Expansion {
  value: string;
  /** The references that were replaced, as written (`${env:RATE:-1}`), in order. */
  references: string[];
}

/** A reference that cannot be expanded: `offset` is where it starts in the input string. */
export class ExpansionError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly reference: string,
  ) {
    super(message);
  }
}

const REFERENCE = /^env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^]*))?$/;

export function expandEnv(input: string, env: NodeJS.ProcessEnv): Expansion {
  if (!input.includes('$')) return { value: input, references: [] };
  let out = '';
  const references: string[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i];
    if (ch !== '$') {
      out += ch;
      i++;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next !== '{') {
      out += '$';
      i++;
      continue;
    }
    const close = input.indexOf('}', i + 2);
    if (close < 0) {
      const rest = input.slice(i);
      throw new ExpansionError(`unterminated reference "${rest}" (close it with "}", or write $$ for a literal $)`, i, rest);
    }
    const text = input.slice(i, close + 1);
    const inner = input.slice(i + 2, close);
    const m = REFERENCE.exec(inner);
    if (!m) {
      const bare = /^[A-Za-z_][A-Za-z0-9_]*$/.test(inner) ? ` (write \${env:${inner}}; $$ for a literal $)` : ' (write ${env:NAME} or ${env:NAME:-default}; $$ for a literal $)';
      throw new ExpansionError(`malformed reference "${text}"${bare}`, i, text);
    }
    const [, name, fallback] = m;
    const value = env[name];
    if (value !== undefined && (value !== '' || fallback === undefined)) {
      out += value;
    } else if (fallback !== undefined) {
      out += fallback;
    } else {
      throw new ExpansionError(`environment variable ${name} is not set (set it, or give a default: \${env:${name}:-VALUE})`, i, text);
    }
    references.push(text);
    i = close + 1;
  }
  return { value: out, references };
}
