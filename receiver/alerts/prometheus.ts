/**
 * `rules --prometheus`: the config's alert rules as Prometheus alerting rules over the metrics
 * the tracer exports (receiver/metrics/), for users who alert in Prometheus. Rules that the
 * metrics cannot express (key grouping, watched keys, per-process grouping) are left out with a
 * comment in the file and a note for stderr.
 *
 * Annotations are copied as they are: `{{ $labels.NAME }}` and `{{ $value }}` mean the same in
 * Prometheus templates.
 */
import { stringify } from 'yaml';
import type { AlertRuleConfig, AlertsConfig, MatchConfig } from '../config/alerts';
import { expandGroupBy } from '../config/alerts';
import { FAMILIES } from '../metrics/families';
import { parseTemplate } from './template';

/** The exported metric names (receiver/metrics/families.ts, docs/metrics.md). */
export const PROM_METRICS = {
  /** counter {service, map_type, caller, function} */
  deletes: FAMILIES.deletes.name,
  /** counter {service, map_type, caller, function} */
  clears: FAMILIES.clears.name,
  /** counter {service, pid, map_type, map}, hottest maps */
  deletesByMap: FAMILIES.mapDeletes.name,
  /** counter {service, pid, map_type, map}, hottest maps */
  clearsByMap: FAMILIES.mapClears.name,
  /** gauge {service, pid, map_type, map}, hottest maps: the length read at the latest delete/clear (before it ran) */
  mapLen: FAMILIES.mapLen.name,
  /** gauge {service, pid, map_type, map}: the largest length a hot map had when cleared */
  clearMaxLen: FAMILIES.mapClearMaxLen.name,
};

export interface PrometheusRules {
  /** The rule file (YAML). */
  text: string;
  /** One line per rule left out or changed in meaning, for stderr. */
  notes: string[];
  written: number;
  skipped: number;
}

/** Milliseconds as a Prometheus duration: `1h30m`, `15s`, `500ms` (no fractions). */
export function promDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ];
  let rest = Math.round(ms);
  let out = '';
  for (const [u, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${u}`;
      rest -= n * size;
    }
  }
  return out;
}

/** A glob (`*`, `?`) as an RE2 regular expression (PromQL regexes are anchored). */
export function globToRe2(glob: string): string {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');
  }
  return re;
}

/** A PromQL string literal. */
function str(s: string): string {
  return JSON.stringify(s);
}

function matchers(match: MatchConfig, extra: string[] = []): string {
  const out = [...extra];
  for (const [label, globs] of Object.entries(match) as [string, string[]][]) {
    if (globs.length === 1 && !/[*?]/.test(globs[0])) out.push(`${label}=${str(globs[0])}`);
    else out.push(`${label}=~${str(globs.map(globToRe2).join('|'))}`);
  }
  return out.length ? `{${out.join(', ')}}` : '';
}

function sumBy(labels: string[], inner: string): string {
  return labels.length ? `sum by (${labels.join(', ')}) (${inner})` : `sum(${inner})`;
}

/** The PromQL of a rule and the labels its alerts have, or why it cannot be written. */
function translate(rule: AlertRuleConfig): { expr: string; labels: string[]; note?: string } | { skip: string } {
  const c = rule.condition;
  const w = promDuration(c.windowMs);
  switch (c.kind) {
    case 'delete_rate': {
      if (c.groupBy.includes('key_hash')) return { skip: 'grouped by key_hash: the exported metrics have no key label (it would be unbounded)' };
      const byMap = c.groupBy.includes('map');
      if (c.groupBy.includes('pid') && !byMap) return { skip: 'grouped by pid: the per-call-site metrics have no pid label (group by map, or drop pid)' };
      const names = byMap ? [PROM_METRICS.deletesByMap, PROM_METRICS.clearsByMap] : [PROM_METRICS.deletes, PROM_METRICS.clears];
      const metric = c.op === 'delete' ? names[0] : c.op === 'clear' ? names[1] : undefined;
      const selector = metric ? `${metric}${matchers(c.match)}` : matchers(c.match, [`__name__=~${str(names.join('|'))}`]);
      const labels = expandGroupBy(c.groupBy);
      return {
        expr: `${sumBy(labels, `increase(${selector}[${w}])`)} > ${c.threshold}`,
        labels,
        note: byMap
          ? 'per map: only the hottest maps (metrics.max_maps) have series'
          : c.groupBy.includes('caller') || c.groupBy.includes('function') || c.match.caller || c.match.function
            ? 'call sites beyond metrics.max_call_sites are folded into caller="other"'
            : undefined,
      };
    }
    case 'mass_deletion': {
      const labels = expandGroupBy(['map']);
      const len = `${PROM_METRICS.mapLen}${matchers(c.match)}`;
      const peak = `max_over_time(${len}[${w}])`;
      return {
        expr: `(${peak} - ${len}) / ${peak} >= ${c.fraction} and ${peak} >= ${c.minLen}`,
        labels,
        note: 'from the length gauge of the hottest maps, as sampled at each scrape (the tracer also sees lengths between scrapes)',
      };
    }
    case 'clear': {
      const labels = expandGroupBy(c.groupBy);
      if (labels.some((l) => l === 'caller' || l === 'function')) return { skip: 'grouped by caller or function: the per-map metrics have no call site' };
      if (c.match.caller || c.match.function) return { skip: 'matches a caller or function: the per-map metrics have no call site' };
      const on = labels.length ? `on (${labels.join(', ')}) ` : '';
      const maxLen = `max_over_time(${PROM_METRICS.clearMaxLen}${matchers(c.match)}[${w}])`;
      const clears = `increase(${PROM_METRICS.clearsByMap}${matchers(c.match)}[${w}])`;
      return {
        expr: `${labels.length ? `max by (${labels.join(', ')})` : 'max'} (${maxLen}) > ${c.largerThan} and ${on}${sumBy(labels, clears)} > 0`,
        labels,
        note: 'approximate: a hot map cleared within the window whose largest clear so far held more than the limit (the tracer knows the length at each clear)',
      };
    }
    case 'watched_keys':
      return { skip: 'watches key values: the exported metrics have no key label' };
  }
}

export function prometheusRules(alerts: AlertsConfig | undefined, source: string): PrometheusRules {
  const notes: string[] = [];
  const lines: string[] = [
    `# Prometheus alerting rules written by \`map-delete-tracer rules --prometheus\` from ${source}.`,
    '# They read the metrics of the tracer\'s Prometheus endpoint; the tracer\'s external_labels are not',
    '# added (Prometheus has its own). Check with: promtool check rules FILE',
    'groups:',
    '  - name: map-delete-tracer',
  ];
  if (alerts) lines.push(`    interval: ${promDuration(alerts.evaluationIntervalMs)}`);
  const body: string[] = [];
  let written = 0;
  let skipped = 0;
  for (const rule of alerts?.rules ?? []) {
    const t = translate(rule);
    if ('skip' in t) {
      skipped++;
      body.push(`      # skipped ${rule.name} (${rule.at}): ${t.skip}; it runs in the tracer only`);
      notes.push(`skipped ${rule.name} (${rule.at}): ${t.skip}; it runs in the tracer only`);
      continue;
    }
    written++;
    const have = new Set(['alertname', ...t.labels, ...Object.keys(rule.labels)]);
    const missing = new Set<string>();
    for (const text of Object.values(rule.annotations)) {
      const parts = parseTemplate(text);
      if (typeof parts !== 'string') for (const p of parts) if (p.kind === 'label' && !have.has(p.name)) missing.add(p.name);
    }
    const comments = [`${rule.name} (${rule.at}): ${rule.condition.kind}${t.note ? `; ${t.note}` : ''}`];
    if (missing.size) {
      const m = `annotations use ${[...missing].map((l) => `$labels.${l}`).join(', ')}, which the Prometheus alert does not have (they render empty)`;
      comments.push(m);
      notes.push(`${rule.name} (${rule.at}): ${m}`);
    }
    const r: Record<string, unknown> = { alert: rule.name, expr: t.expr };
    if (rule.forMs > 0) r.for = promDuration(rule.forMs);
    if (Object.keys(rule.labels).length) r.labels = rule.labels;
    if (Object.keys(rule.annotations).length) r.annotations = rule.annotations;
    for (const c of comments) body.push(`      # ${c}`);
    const yaml = stringify([r], { lineWidth: 0 }).trimEnd().split('\n');
    body.push(...yaml.map((l) => `      ${l}`));
  }
  if (written === 0) lines.push('    rules: []');
  else lines.push('    rules:');
  lines.push(...body);
  return { text: lines.join('\n') + '\n', notes, written, skipped };
}
