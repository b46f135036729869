/**
 * Annotation templates: text with `{{ $labels.NAME }}` and `{{ $value }}` (spaces inside the
 * braces optional). That is the whole language — the same two forms Prometheus's templates
 * have, so `rules --prometheus` copies annotations as they are.
 */

export type TemplatePart = { kind: 'text'; text: string } | { kind: 'label'; name: string } | { kind: 'value' };

const ACTION = /\{\{\s*(.*?)\s*\}\}/gs;

/** The parts of a template, or a message saying what is wrong with it. */
export function parseTemplate(text: string): TemplatePart[] | string {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const m of text.matchAll(ACTION)) {
    const at = m.index!;
    if (at > last) parts.push({ kind: 'text', text: text.slice(last, at) });
    last = at + m[0].length;
    const inner = m[1];
    const label = /^\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)$/.exec(inner);
    if (inner === '$value') parts.push({ kind: 'value' });
    else if (label) parts.push({ kind: 'label', name: label[1] });
    else return `unsupported template {{ ${inner} }} (only {{ $labels.NAME }} and {{ $value }} are replaced)`;
  }
  const rest = text.slice(last);
  if (rest.includes('{{')) return 'a "{{" without its "}}" (close it, or write {{ $labels.NAME }} or {{ $value }})';
  if (rest) parts.push({ kind: 'text', text: rest });
  return parts;
}

/** `$value` as text: integers as they are, other numbers with at most 6 significant digits. */
export function formatValue(value: number): string {
  if (Number.isInteger(value)) return String(value);
  if (!Number.isFinite(value)) return String(value);
  return String(Number(value.toPrecision(6)));
}

/** The template with labels and value filled in; a label the alert lacks is empty (as in Prometheus). */
export function renderTemplate(text: string, labels: Record<string, string>, value: number): string {
  const parts = parseTemplate(text);
  if (typeof parts === 'string') return text;
  return parts.map((p) => (p.kind === 'text' ? p.text : p.kind === 'value' ? formatValue(value) : (labels[p.name] ?? ''))).join('');
}
