/**
 * The YAML file as a tree that knows where every value came from. `readYaml` parses the text
 * (syntax errors keep their line), resolves aliases, expands `${env:…}` in scalar values and
 * records for every node its key path and offset; the `as*` readers check types and ranges
 * and fail with `FILE:LINE:COL: KEY.PATH: …`.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { ConfigError, oneLine, quote } from './errors';
import { ExpansionError, expandEnv } from './substitute';
import { didYouMean } from './suggest';
import { formatDuration, parseDuration } from './duration';

/** One configuration text: its name in messages, positions, environment and warnings. */
export class Source {
  readonly warnings: string[] = [];

  constructor(
    /** The file name as messages show it. */
    readonly name: string,
    readonly text: string,
    readonly env: NodeJS.ProcessEnv,
    private readonly lines: LineCounter,
  ) {}

  position(offset: number): { line: number; col: number } {
    const { line, col } = this.lines.linePos(Math.max(0, Math.min(offset, this.text.length)));
    return line < 1 ? { line: 1, col: 1 } : { line, col };
  }

  private format(offset: number, path: string, message: string): string {
    const { line, col } = this.position(offset);
    return `${this.name}:${line}:${col}: ${path ? `${path}: ` : ''}${message}`;
  }

  fail(offset: number, path: string, message: string): never {
    const { line, col } = this.position(offset);
    throw new ConfigError(this.format(offset, path, message), { file: this.name, line, col, keyPath: path });
  }

  warn(offset: number, path: string, message: string): void {
    this.warnings.push(oneLine(this.format(offset, path, message)));
  }
}

interface NodeBase {
  readonly src: Source;
  /** `receivers.mapdelete.targets.pids[0]` */
  readonly path: string;
  /** Offset of the value (of its key when the value is empty). */
  readonly at: number;
  /** Offset of the key this value belongs to (the list item, for list items): where "missing" errors point. */
  readonly keyAt: number;
}

export interface MapEntry {
  key: string;
  keyAt: number;
  value: CNode;
}

export interface MapNode extends NodeBase {
  readonly kind: 'map';
  readonly entries: MapEntry[];
}

export interface SeqNode extends NodeBase {
  readonly kind: 'seq';
  readonly items: CNode[];
}

export interface ScalarNode extends NodeBase {
  readonly kind: 'scalar';
  readonly value: string | number | bigint | boolean | null;
  /** The value as written in the file. */
  readonly raw: string;
  readonly quoted: boolean;
  /** `${env:…}` references expanded into this value, as written. */
  readonly references: string[];
}

export type CNode = MapNode | SeqNode | ScalarNode;

export function joinPath(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

export function fail(node: CNode, message: string): never {
  return node.src.fail(node.kind === 'scalar' && node.value === null ? node.keyAt : node.at, node.path, message);
}

export function warn(node: CNode, message: string): void {
  node.src.warn(node.kind === 'scalar' && node.value === null ? node.keyAt : node.at, node.path, message);
}

/** Reported for a key that should be in `map` and is not. */
export function failMissing(map: MapNode, key: string, message: string): never {
  return map.src.fail(map.keyAt, joinPath(map.path, key), message);
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Aliases can multiply a small file into a huge tree; no real configuration comes close. */
const MAX_NODES = 100_000;

export function readYaml(name: string, text: string, env: NodeJS.ProcessEnv): { src: Source; root: CNode } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, intAsBigInt: true, uniqueKeys: true });
  const src = new Source(name, text, env, lines);
  const error = doc.errors[0];
  if (error) {
    const at = error.pos[0];
    const lineText = text.slice(text.lastIndexOf('\n', at - 1) + 1, text.indexOf('\n', at) < 0 ? undefined : text.indexOf('\n', at));
    if (error.code === 'MULTIPLE_DOCS') src.fail(at, '', 'the file holds more than one YAML document (keep one: remove this "---" and what follows, or merge them)');
    const hint =
      error.code === 'DUPLICATE_KEY'
        ? ' (keep one of them)'
        : error.code === 'TAB_AS_INDENT'
          ? ' (indent with spaces)'
          : /\$\{/.test(lineText) && /[[\]{}]/.test(lineText)
            ? ' (inside [ ] or { }, quote values that use ${…}: "${env:NAME}")'
            : ' (fix the YAML syntax)';
    const message = error.message.replace(/\s+at line \d+, column \d+.*$/s, '');
    src.fail(at, '', `YAML syntax error: ${message}${hint}`);
  }
  for (const w of doc.warnings) src.warn(w.pos[0], '', `YAML: ${w.message}`);
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    src.fail(0, '', 'the file has no settings (start from config/minimal.yaml; see docs/configuration.md)');
  }
  const builder = new Builder(src, doc);
  return { src, root: builder.build(doc.contents, '', 0) };
}

class Builder {
  private count = 0;
  private readonly visiting = new Set<YamlNode>();

  constructor(
    private readonly src: Source,
    private readonly doc: Document,
  ) {}

  build(node: YamlNode | null | undefined, path: string, keyAt: number): CNode {
    if (++this.count > MAX_NODES) this.src.fail(keyAt, path, `more than ${MAX_NODES} values once aliases are expanded (simplify the aliases)`);
    if (node === null || node === undefined) return this.nullAt(path, keyAt);
    const at = node.range?.[0] ?? keyAt;
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) this.src.fail(at, path, `unknown alias *${node.source} (define &${node.source} before using it)`);
      if (this.visiting.has(target)) this.src.fail(at, path, `alias *${node.source} refers to a value that contains it`);
      this.visiting.add(target);
      try {
        return this.build(target, path, keyAt);
      } finally {
        this.visiting.delete(target);
      }
    }
    if (isMap(node)) {
      const entries: MapEntry[] = [];
      for (const pair of node.items) {
        const keyNode = pair.key as YamlNode | null;
        const k = isAlias(keyNode) ? keyNode.resolve(this.doc) : keyNode;
        const kAt = (keyNode as YamlNode | null)?.range?.[0] ?? at;
        if (!isScalar(k) || k.value === null || k.value === undefined || k.value === '') {
          this.src.fail(kAt, path, isScalar(k) || !k ? 'empty key (give the setting a name)' : 'a key must be a name, not a map or a list');
        }
        const key = String(k.value);
        const childPath = joinPath(path, key);
        entries.push({ key, keyAt: kAt, value: this.build(pair.value as YamlNode | null, childPath, kAt) });
      }
      return { kind: 'map', src: this.src, path, at, keyAt, entries };
    }
    if (isSeq(node)) {
      const items = node.items.map((item, i) => {
        const itemNode = item as YamlNode | null;
        return this.build(itemNode, `${path}[${i}]`, itemNode?.range?.[0] ?? at);
      });
      return { kind: 'seq', src: this.src, path, at, keyAt, items };
    }
    if (isScalar(node)) {
      const raw = node.range ? this.src.text.slice(node.range[0], node.range[1]) : String(node.value);
      const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
      let value = node.value as ScalarNode['value'] | undefined;
      if (value === undefined || value === null) return this.nullAt(path, keyAt, at, raw);
      let references: string[] = [];
      if (typeof value === 'string') {
        try {
          ({ value, references } = expandEnv(value, this.src.env));
        } catch (err) {
          if (!(err instanceof ExpansionError)) throw err;
          const i = raw.indexOf(err.reference);
          this.src.fail(at + Math.max(0, i), path, err.message);
        }
      } else if (typeof value !== 'number' && typeof value !== 'bigint' && typeof value !== 'boolean') {
        value = String(value);
      }
      return { kind: 'scalar', src: this.src, path, at, keyAt, value, raw, quoted, references };
    }
    return this.src.fail(at, path, 'unsupported YAML value');
  }

  private nullAt(path: string, keyAt: number, at = keyAt, raw = ''): ScalarNode {
    return { kind: 'scalar', src: this.src, path, at, keyAt, value: null, raw, quoted: false, references: [] };
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

/** How a value is shown after "got": `"lots"`, `1e3`, `a list`, `nothing`. */
export function describe(node: CNode): string {
  if (node.kind === 'map') return 'a map';
  if (node.kind === 'seq') return 'a list';
  const v = node.value;
  if (v === null) return 'nothing';
  const fromEnv = node.references.length ? ` (from ${node.references.join(', ')})` : '';
  if (typeof v === 'string') return quote(v) + fromEnv;
  return node.raw.trim() || String(v);
}

/** Fails with `expected …, got …` and an optional `(how to fix)`. */
export function expected(node: CNode, what: string, hint?: string): never {
  return fail(node, `expected ${what}, got ${describe(node)}${hint ? ` (${hint})` : ''}`);
}

export type Readers = Record<string, (value: CNode, entry: MapEntry) => void>;

/**
 * A map of settings. An empty value (`debug:`) is an empty map. Entries are read in file
 * order by the reader for their key; a key without a reader is an error that suggests the
 * closest known key, or `hints[key]` when the key is a known mistake.
 */
export function readMap(node: CNode, readers: Readers, hints: Record<string, string> = {}, what = 'a map of settings'): MapNode {
  const map = asMap(node, what);
  const src: Source = map.src;
  const known = Object.keys(readers);
  for (const entry of map.entries) {
    const reader = Object.prototype.hasOwnProperty.call(readers, entry.key) ? readers[entry.key] : undefined;
    if (!reader) {
      const hint = Object.prototype.hasOwnProperty.call(hints, entry.key)
        ? ` (${hints[entry.key]})`
        : entry.key === '<<'
          ? ' (YAML merge keys are not supported: write the settings out, or use an alias as the whole value)'
          : didYouMean(entry.key, known, ` (expected one of: ${known.join(', ')})`);
      src.fail(entry.keyAt, joinPath(map.path, entry.key), `unknown key "${entry.key}"${hint}`);
    }
    reader(entry.value, entry);
  }
  return map;
}

export function asMap(node: CNode, what = 'a map of settings'): MapNode {
  if (node.kind === 'map') return node;
  if (node.kind === 'scalar' && node.value === null) return { kind: 'map', src: node.src, path: node.path, at: node.keyAt, keyAt: node.keyAt, entries: [] };
  const hint = node.path === '' ? 'start from config/minimal.yaml' : 'indent the settings under the key, one "name: value" per line';
  return expected(node, what, node.kind === 'scalar' ? hint : undefined);
}

/** A list; an empty value is an empty list, a single value is an error that shows the list syntax. */
export function asList(node: CNode, what: string): CNode[] {
  if (node.kind === 'seq') return node.items;
  if (node.kind === 'scalar' && node.value === null) return [];
  return expected(node, `a list of ${what}`, node.kind === 'scalar' ? `write [${node.raw.trim()}]` : undefined);
}

export function asString(node: CNode, what = 'a string', opts: { allowEmpty?: boolean } = {}): string {
  if (node.kind === 'scalar' && typeof node.value === 'string') {
    if (!opts.allowEmpty && node.value.trim() === '') fail(node, `expected ${what}, got an empty string`);
    return node.value;
  }
  if (node.kind === 'scalar' && node.value !== null) return expected(node, what, `quote it: "${node.raw.trim()}"`);
  return expected(node, what);
}

/** A number: YAML numbers, and strings that came from `${env:…}`. */
function numberOf(node: CNode): number | undefined {
  if (node.kind !== 'scalar') return undefined;
  const v = node.value;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && node.references.length) return parseNumber(v);
  return undefined;
}

/** Decimal integers and floats (`1`, `0.25`, `.5`, `1e3`); nothing else. */
export function parseNumber(text: string): number | undefined {
  const s = text.trim();
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

function quotedHint(node: CNode, parses: (s: string) => boolean): string | undefined {
  return node.kind === 'scalar' && typeof node.value === 'string' && node.quoted && !node.references.length && parses(node.value)
    ? 'remove the quotes'
    : undefined;
}

export function asNumber(node: CNode, what: string, ok: (n: number) => boolean): number {
  const n = numberOf(node);
  if (n === undefined || !Number.isFinite(n) || !ok(n)) return expected(node, what, quotedHint(node, (s) => parseNumber(s) !== undefined));
  return n;
}

export function asInt(node: CNode, min: number, max: number, what = `an integer from ${min} to ${max}`): number {
  return asNumber(node, what, (n) => Number.isSafeInteger(n) && n >= min && n <= max);
}

export function parseBool(text: string): boolean | undefined {
  const s = text.trim().toLowerCase();
  return s === 'true' ? true : s === 'false' ? false : undefined;
}

export function asBool(node: CNode): boolean {
  if (node.kind === 'scalar') {
    if (typeof node.value === 'boolean') return node.value;
    if (typeof node.value === 'string' && node.references.length) {
      const b = parseBool(node.value);
      if (b !== undefined) return b;
    }
  }
  return expected(node, 'true or false', quotedHint(node, (s) => parseBool(s) !== undefined));
}

export function asChoice<T extends string>(node: CNode, choices: readonly T[]): T {
  const list = choices.join(' | ');
  if (node.kind === 'scalar' && typeof node.value === 'string') {
    const v = node.value.trim();
    if ((choices as readonly string[]).includes(v)) return v as T;
    return expected(node, `one of ${list}`, didYouMean(v, choices).replace(/^ \((.*)\)$/, '$1') || undefined);
  }
  return expected(node, `one of ${list}`);
}

/** A Go-style duration (`500ms`, `1s`, `1m30s`) in milliseconds, rounded to a whole millisecond. */
export function asDuration(node: CNode, minMs: number, maxMs: number): number {
  const range = `a duration from ${formatDuration(minMs)} to ${formatDuration(maxMs)}`;
  if (node.kind === 'scalar') {
    const v = node.value;
    if (v === 0 || v === 0n) {
      if (minMs === 0) return 0;
      return expected(node, range);
    }
    if (typeof v === 'number' || typeof v === 'bigint') {
      return expected(node, `${range} like "500ms", "10s" or "1m30s"`, `add a unit: ${node.raw.trim()}s or ${node.raw.trim()}ms`);
    }
    if (typeof v === 'string') {
      const ms = parseDuration(v);
      if (ms === undefined) {
        const hint = v.trim().startsWith('-') ? 'a duration cannot be negative' : 'units are ns, us, ms, s, m, h';
        return expected(node, `${range} like "500ms", "10s" or "1m30s"`, hint);
      }
      if (ms < minMs || ms > maxMs) return expected(node, range);
      return Math.round(ms);
    }
  }
  return expected(node, `${range} like "500ms", "10s" or "1m30s"`);
}
