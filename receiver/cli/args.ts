/**
 * A small, strict command-line parser: every flag is declared, unknown ones are errors that
 * name the flag and point at --help.
 */
import { UserError } from '../util/errors';

export interface FlagSpec {
  type: 'string' | 'number' | 'boolean';
  repeat?: boolean;
  choices?: readonly string[];
}

export interface Parsed {
  flags: Map<string, (string | number | boolean)[]>;
  positional: string[];
}

export function parseArgs(command: string, argv: string[], spec: Record<string, FlagSpec>): Parsed {
  const flags = new Map<string, (string | number | boolean)[]>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UserError(`${command}: unknown flag --${name} (see \`map-delete-tracer ${command} --help\`)`);
    let value: string | number | boolean;
    if (s.type === 'boolean') {
      if (eq >= 0) throw new UserError(`${command}: --${name} takes no value`);
      value = true;
    } else {
      let raw: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (raw === undefined) throw new UserError(`${command}: --${name} needs a value`);
      if (s.type === 'number') {
        const n = Number(raw);
        if (raw.trim() === '' || !Number.isFinite(n)) throw new UserError(`${command}: --${name} expects a number, got "${raw}"`);
        value = n;
      } else {
        if (s.choices && !s.choices.includes(raw)) {
          throw new UserError(`${command}: --${name} must be one of ${s.choices.join(', ')}, got "${raw}"`);
        }
        value = raw;
      }
    }
    const list = flags.get(name) ?? [];
    if (list.length && !s.repeat) throw new UserError(`${command}: --${name} given twice`);
    list.push(value);
    flags.set(name, list);
  }
  return { flags, positional };
}

export const one = <T extends string | number | boolean>(p: Parsed, name: string): T | undefined =>
  p.flags.get(name)?.[0] as T | undefined;
export const all = <T extends string | number | boolean>(p: Parsed, name: string): T[] => (p.flags.get(name) ?? []) as T[];
