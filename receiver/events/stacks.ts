/**
 * Return addresses → an event's stack frames and caller, cached per distinct stack.
 *
 * A traced program deletes from a handful of call paths over and over, so each distinct stack
 * (per binary and load bias) is symbolized and formatted once; every event with that stack then
 * shares the same frozen frames array and caller object. Sharing is what lets the formatters
 * cache their output per stack (output/json.ts, export/attributes.ts) and what keeps the
 * per-event cost flat in the stack depth. Frozen, so a consumer that tried to edit a shared
 * stack would fail loudly instead of changing other events.
 */
import type { GoBinary, SourceFrame } from '../golang/binary';
import type { SourceLocation, StackFrame } from './types';

/** One distinct stack, as events carry it. */
export interface CachedStack {
  readonly frames: StackFrame[];
  /** The direct caller: the first frame (or "?"). */
  readonly direct: SourceLocation;
  /** The caller of a delete made through reflect: the first frame past runtime/reflect machinery. */
  readonly reflective: SourceLocation;
}

const UNKNOWN: SourceLocation = Object.freeze({ function: '?', file: '?', line: 0 });

/** Bounds on what one binary+bias keeps; past them it starts over (events keep their own references). */
const MAX_NODES = 100_000;
const MAX_SITES = 200_000;

/** Frames of the runtime's and reflect's own machinery, skipped to find a reflective caller. */
function isMachinery(fn: string): boolean {
  return (
    fn.startsWith('runtime.') ||
    fn.startsWith('reflect.') ||
    fn.startsWith('internal/runtime/') ||
    fn.startsWith('internal/reflectlite.')
  );
}

function location(f: SourceLocation): SourceLocation {
  return Object.freeze({ function: f.function, file: f.file, line: f.line });
}

/** A trie over return addresses, innermost first: a lookup is one Map.get per frame. */
interface Node {
  next?: Map<number, Node>;
  stack?: CachedStack;
}

/** The stacks of one binary loaded at one bias: a runtime address means one thing here. */
class StackTable {
  private root: Node = {};
  private nodes = 0;
  /** Runtime return address → its frames (inlined frames share the pc), frozen. */
  private sites = new Map<number, readonly StackFrame[]>();

  constructor(
    private readonly binary: GoBinary,
    private readonly bias: number,
  ) {}

  lookup(stack: readonly number[]): CachedStack {
    if (this.nodes > MAX_NODES) {
      this.root = {};
      this.nodes = 0;
    }
    let node = this.root;
    for (let i = 0; i < stack.length; i++) {
      const ret = stack[i];
      let next = node.next?.get(ret);
      if (next === undefined) {
        next = {};
        (node.next ??= new Map()).set(ret, next);
        this.nodes++;
      }
      node = next;
    }
    return (node.stack ??= this.build(stack));
  }

  private build(stack: readonly number[]): CachedStack {
    const frames: StackFrame[] = [];
    for (const ret of stack) for (const f of this.site(ret)) frames.push(f);
    Object.freeze(frames);
    const direct = frames.length ? location(frames[0]) : UNKNOWN;
    const past = frames.find((f) => !isMachinery(f.function));
    return Object.freeze({ frames, direct, reflective: past ? location(past) : direct });
  }

  private site(ret: number): readonly StackFrame[] {
    let frames = this.sites.get(ret);
    if (frames === undefined) {
      const pc = '0x' + ret.toString(16);
      let symbolized: readonly SourceFrame[];
      try {
        symbolized = this.binary.symbolizeReturn(ret - this.bias);
      } catch {
        symbolized = [];
      }
      frames =
        symbolized.length === 0
          ? [Object.freeze({ function: '?', file: '?', line: 0, pc })]
          : symbolized.map((f) => Object.freeze({ function: f.function, file: f.file, line: f.line, pc }));
      Object.freeze(frames);
      if (this.sites.size > MAX_SITES) this.sites.clear();
      this.sites.set(ret, frames);
    }
    return frames;
  }
}

/** The stack tables of every binary and bias seen; the last one used is kept at hand. */
export class StackCache {
  private readonly tables = new WeakMap<GoBinary, Map<number, StackTable>>();
  private lastBinary?: GoBinary;
  private lastBias = 0;
  private lastTable?: StackTable;

  /** `stack`: runtime return addresses, innermost first; `bias`: runtime − link-time address. */
  lookup(binary: GoBinary, bias: number, stack: readonly number[]): CachedStack {
    return this.table(binary, bias).lookup(stack);
  }

  private table(binary: GoBinary, bias: number): StackTable {
    if (binary === this.lastBinary && bias === this.lastBias && this.lastTable) return this.lastTable;
    let byBias = this.tables.get(binary);
    if (!byBias) this.tables.set(binary, (byBias = new Map()));
    let table = byBias.get(bias);
    if (!table) byBias.set(bias, (table = new StackTable(binary, bias)));
    this.lastBinary = binary;
    this.lastBias = bias;
    this.lastTable = table;
    return table;
  }
}
