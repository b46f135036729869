/**
 * The `alerts:` section (docs/alerts.md): rules evaluated by the tracer over its exact counters
 * and its event stream, and the notifiers they send to (webhook, Slack, Alertmanager). Read
 * like the rest of the file: every mistake is one `FILE:LINE:COL: KEY.PATH: problem (fix)` line.
 */
import type { RetryConfig } from './types';
import {
  asBool,
  asChoice,
  asDuration,
  asInt,
  asList,
  asMap,
  asNumber,
  asString,
  describe,
  expected,
  fail,
  failMissing,
  joinPath,
  readMap,
  type CNode,
  type MapNode,
  type Readers,
} from './tree';
import { didYouMean } from './suggest';
import { formatDuration } from './duration';
import { isHeaderName } from './environment';
import { parseTemplate } from '../alerts/template';
import { readKeyValue } from './receivers';

// ---------------------------------------------------------------------------------------------
// Types

/** Labels a rule can group by; each becomes a label of the alert (docs/alerts.md). */
export type GroupLabel = 'service' | 'pid' | 'map_type' | 'caller' | 'function' | 'map' | 'key_hash';
/** Labels `match:` can filter on (globs with `*` and `?`). */
export type MatchLabel = 'service' | 'map_type' | 'caller' | 'function';
export type MatchConfig = Partial<Record<MatchLabel, string[]>>;

export interface DeleteRateCondition {
  kind: 'delete_rate';
  op: 'delete' | 'clear' | 'any';
  windowMs: number;
  /** Fires when more than this many operations happened within the window. */
  threshold: number;
  groupBy: GroupLabel[];
  match: MatchConfig;
}

export interface MassDeletionCondition {
  kind: 'mass_deletion';
  windowMs: number;
  /** Fires when the map lost at least this fraction of its largest length within the window. */
  fraction: number;
  /** Maps smaller than this at their peak are ignored. */
  minLen: number;
  match: MatchConfig;
}

export interface ClearCondition {
  kind: 'clear';
  windowMs: number;
  /** Fires for a clear of a map holding more than this many elements. */
  largerThan: number;
  groupBy: GroupLabel[];
  match: MatchConfig;
}

export interface WatchedKeysCondition {
  kind: 'watched_keys';
  windowMs: number;
  /** Key values (strings; integers as decimal strings, matching every integer width). */
  keys: string[];
  /** Key hashes as `hash-key` prints them (16 lowercase hex digits). */
  hashes: string[];
  groupBy: GroupLabel[];
  match: MatchConfig;
}

export type RuleCondition = DeleteRateCondition | MassDeletionCondition | ClearCondition | WatchedKeysCondition;
export type RuleKind = RuleCondition['kind'];

export interface AlertRuleConfig {
  /** The alert's name: its `alertname` label. */
  name: string;
  condition: RuleCondition;
  forMs: number;
  /** Re-notify webhook and Slack notifiers this often while firing; 0: never. */
  repeatIntervalMs: number;
  labels: Record<string, string>;
  /** Templates: `{{ $labels.NAME }}` and `{{ $value }}`. */
  annotations: Record<string, string>;
  /** Notifier ids this rule sends to (every notifier unless the rule lists some). */
  notifiers: string[];
  /** Labels every alert of the rule carries, in order: alertname, group labels, rule labels, external labels. */
  labelNames: string[];
  /** `FILE:LINE:COL` of the rule, for messages. */
  at: string;
}

interface NotifierBase {
  id: string;
  timeoutMs: number;
  retry: RetryConfig;
  /** Messages held while the receiver is slow or down; beyond, new ones are dropped and counted. */
  queueSize: number;
  headers: Record<string, string>;
}

export interface WebhookNotifierConfig extends NotifierBase {
  type: 'webhook';
  url: string;
  sendResolved: boolean;
  /** Alerts per message; more are split into several messages. */
  maxAlerts: number;
}

export interface SlackNotifierConfig extends NotifierBase {
  type: 'slack';
  url: string;
  sendResolved: boolean;
  channel?: string;
  username?: string;
}

export interface AlertmanagerNotifierConfig extends NotifierBase {
  type: 'alertmanager';
  /** Base URL of Alertmanager; alerts are POSTed to `<url>/api/v2/alerts`. */
  url: string;
  /** Every firing alert is sent again this often, as Alertmanager expects. */
  resendIntervalMs: number;
}

export type NotifierConfig = WebhookNotifierConfig | SlackNotifierConfig | AlertmanagerNotifierConfig;

export interface AlertsConfig {
  evaluationIntervalMs: number;
  /** Added to every alert (e.g. cluster, region). */
  externalLabels: Record<string, string>;
  /** Sent as each alert's generatorURL (Alertmanager's "Source" link). */
  generatorUrl?: string;
  notifiers: NotifierConfig[];
  rules: AlertRuleConfig[];
}

// ---------------------------------------------------------------------------------------------
// Defaults and names

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const ALERTS_DEFAULTS = {
  evaluationIntervalMs: 15 * SECOND,
  repeatIntervalMs: 4 * HOUR,
  windowMs: 5 * MINUTE,
  minLen: 100,
  notifier: {
    timeoutMs: 10 * SECOND,
    retry: { enabled: true, initialIntervalMs: 1 * SECOND, maxIntervalMs: 30 * SECOND, maxElapsedMs: 5 * MINUTE } satisfies RetryConfig,
    queueSize: 100,
    maxAlerts: 100,
    resendIntervalMs: 1 * MINUTE,
  },
};

export const GROUP_LABELS: readonly GroupLabel[] = ['service', 'pid', 'map_type', 'caller', 'function', 'map', 'key_hash'];
const MATCH_LABELS: readonly MatchLabel[] = ['service', 'map_type', 'caller', 'function'];
const CONDITIONS: readonly RuleKind[] = ['delete_rate', 'mass_deletion', 'clear', 'watched_keys'];
const NOTIFIER_TYPES = ['webhook', 'slack', 'alertmanager'] as const;

/** Labels the tracer sets itself (group labels, alertname): rule and external labels cannot reuse them. */
const RESERVED_LABELS = new Set<string>(['alertname', ...GROUP_LABELS, 'key']);

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const ALERT_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const KEY_HASH = /^[0-9a-f]{16}$/;

/**
 * The group labels a rule's alerts carry, in a fixed order: grouping by `map` also brings the
 * map's process, service and type (an address means nothing without its process).
 */
export function expandGroupBy(groupBy: readonly GroupLabel[]): GroupLabel[] {
  const set = new Set(groupBy);
  if (set.has('map')) for (const l of ['service', 'pid', 'map_type'] as const) set.add(l);
  return GROUP_LABELS.filter((l) => set.has(l));
}

// ---------------------------------------------------------------------------------------------
// Reading

export function readAlerts(node: CNode): AlertsConfig {
  const cfg: AlertsConfig = {
    evaluationIntervalMs: ALERTS_DEFAULTS.evaluationIntervalMs,
    externalLabels: {},
    notifiers: [],
    rules: [],
  };
  let repeatIntervalMs = ALERTS_DEFAULTS.repeatIntervalMs;
  let rulesNode: CNode | undefined;
  let notifiersNode: CNode | undefined;
  const map = readMap(
    node,
    {
      evaluation_interval: (v) => (cfg.evaluationIntervalMs = asDuration(v, 100, HOUR)),
      repeat_interval: (v) => (repeatIntervalMs = asDuration(v, 0, 30 * DAY)),
      external_labels: (v) => (cfg.externalLabels = readLabels(v, 'external label')),
      generator_url: (v) => (cfg.generatorUrl = readUrl(v, 'a URL like "http://tracer-host:9464/"')),
      notifiers: (v) => (notifiersNode = v),
      rules: (v) => (rulesNode = v),
    },
    {
      groups: 'rules are listed directly under alerts.rules (no groups)',
      receivers: 'notifiers are defined under alerts.notifiers',
      alertmanagers: 'define an alertmanager notifier under alerts.notifiers',
      interval: 'did you mean "evaluation_interval"?',
    },
    'a map with evaluation_interval, notifiers and rules',
  );
  const notifiers = notifiersNode ? readNotifiers(notifiersNode, cfg.evaluationIntervalMs) : new Map<string, { config: NotifierConfig; keyAt: number; used: boolean }>();
  cfg.notifiers = [...notifiers.values()].map((n) => n.config);

  const items = rulesNode ? asList(rulesNode, 'rules (each "- alert: NAME" with one condition)') : [];
  const names = new Map<string, string>();
  for (const item of items) {
    const rule = readRule(item, cfg, repeatIntervalMs, notifiers);
    const previous = names.get(rule.name);
    if (previous) fail(item, `a second rule named "${rule.name}" (the first is at ${previous}; give each rule its own alert name)`);
    names.set(rule.name, rule.at);
    cfg.rules.push(rule);
  }

  if (cfg.rules.length === 0) {
    map.src.warn(map.keyAt, joinPath(map.path, 'rules'), 'no rules: nothing is evaluated (add rules, or remove the alerts section)');
  } else if (cfg.notifiers.length === 0) {
    map.src.warn(map.keyAt, joinPath(map.path, 'notifiers'), 'no notifiers: alerts are only logged on stderr (add a webhook, slack or alertmanager notifier)');
  }
  for (const [id, n] of notifiers) {
    if (!n.used && cfg.rules.length) map.src.warn(n.keyAt, joinPath(map.path, `notifiers.${id}`), 'no rule sends to it (rules that list notifiers: only send to those)');
  }
  return cfg;
}

function position(node: CNode): string {
  const { line, col } = node.src.position(node.kind === 'scalar' && node.value === null ? node.keyAt : node.at);
  return `${node.src.name}:${line}:${col}`;
}

function readLabels(node: CNode, what: string): Record<string, string> {
  const m = asMap(node, `a map of ${what} names to values`);
  const out: Record<string, string> = {};
  for (const e of m.entries) {
    const where = joinPath(m.path, e.key);
    if (!LABEL_NAME.test(e.key) || e.key.startsWith('__')) {
      m.src.fail(e.keyAt, where, `"${e.key}" is not a valid label name (letters, digits and _, not starting with a digit or __)`);
    }
    if (RESERVED_LABELS.has(e.key)) {
      m.src.fail(e.keyAt, where, `"${e.key}" is a label the tracer sets itself (choose another name)`);
    }
    out[e.key] = asString(e.value, 'a label value (a string)');
  }
  return out;
}

/** An http(s) URL; a `secret` one (a Slack webhook URL) is never repeated in messages. */
function readUrl(node: CNode, what: string, secret = false): string {
  const s = asString(node, what).trim();
  const bad = (hint: string): never => (secret ? fail(node, `expected ${what} (${hint}; the value is not shown: it is a secret)`) : expected(node, what, hint));
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return bad('write a full URL with http:// or https://');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') bad(`only http:// and https:// are supported, not ${url.protocol}//`);
  return s;
}

function readGlobs(node: CNode, what: string): string[] {
  if (node.kind === 'scalar' && typeof node.value === 'string') return [asString(node, what)];
  return asList(node, `${what}s`).map((x) => asString(x, what));
}

function readMatch(node: CNode, allowed: readonly MatchLabel[], why: string): MatchConfig {
  const out: MatchConfig = {};
  const readers: Readers = {};
  for (const l of MATCH_LABELS) {
    readers[l] = (v) => {
      if (!allowed.includes(l)) fail(v, `cannot match on ${l} here (${why})`);
      out[l] = readGlobs(v, l === 'map_type' ? 'a map type pattern like "map[string]*main.Session"' : l === 'caller' ? 'a file:line pattern like "store.go:57" or "store.go:*"' : `a ${l} pattern`);
    };
  }
  readMap(node, readers, { map: 'maps are matched by service and map_type; group_by: [map] makes one alert per map', pid: 'not supported: match on service instead' }, `a map with ${allowed.join(', ')}`);
  return out;
}

function readGroupBy(node: CNode, allowed: readonly GroupLabel[], why: string): GroupLabel[] {
  const out: GroupLabel[] = [];
  for (const item of asList(node, `labels to group by (${allowed.join(', ')})`)) {
    const s = asString(item, 'a label name').trim();
    if (!(GROUP_LABELS as readonly string[]).includes(s)) {
      const hint = s === 'key' ? ' (did you mean "key_hash"?)' : didYouMean(s, GROUP_LABELS, ` (expected one of: ${allowed.join(', ')})`);
      fail(item, `cannot group by "${s}"${hint}`);
    }
    if (!allowed.includes(s as GroupLabel)) fail(item, `cannot group by ${s} here (${why})`);
    if (out.includes(s as GroupLabel)) fail(item, `"${s}" is listed twice (keep one)`);
    out.push(s as GroupLabel);
  }
  return out;
}

function readWindow(v: CNode, evaluationIntervalMs: number): number {
  const ms = asDuration(v, 1, 30 * DAY);
  if (ms < evaluationIntervalMs) {
    fail(v, `${describe(v)} is shorter than alerts.evaluation_interval (${formatDuration(evaluationIntervalMs)}): the window is counted in evaluations (make it at least ${formatDuration(evaluationIntervalMs)})`);
  }
  return ms;
}

function readCondition(kind: RuleKind, node: CNode, evaluationIntervalMs: number): RuleCondition {
  let windowMs = ALERTS_DEFAULTS.windowMs;
  const windowReader = { window: (v: CNode) => (windowMs = readWindow(v, evaluationIntervalMs)) };
  let match: MatchConfig = {};
  let matchNode: CNode | undefined;
  let groupByNode: CNode | undefined;
  const missing = (map: MapNode, key: string, example: string): never => failMissing(map, key, `required: ${example}`);

  switch (kind) {
    case 'delete_rate': {
      let op: DeleteRateCondition['op'] = 'delete';
      let threshold: number | undefined;
      let groupBy: GroupLabel[] = ['service', 'map_type'];
      const map = readMap(
        node,
        {
          ...windowReader,
          threshold: (v) => (threshold = asNumber(v, 'a number of operations, 0 or more', (n) => n >= 0)),
          op: (v) => (op = asChoice(v, ['delete', 'clear', 'any'] as const)),
          group_by: (v) => {
            groupBy = readGroupBy(v, GROUP_LABELS, '');
            groupByNode = v;
          },
          match: (v) => (matchNode = v),
        },
        { rate: 'give the number of operations in the window as threshold', count: 'did you mean "threshold"?', per_second: 'give the number of operations in the window as threshold' },
        'a map with window, threshold, op, group_by and match',
      );
      if (threshold === undefined) return missing(map, 'threshold', 'how many operations within the window make the alert active, e.g. threshold: 100');
      const byMap = groupBy.includes('map');
      const byKey = groupBy.includes('key_hash');
      if (byMap && byKey) fail(groupByNode!, 'cannot group by both map and key_hash (the tracer counts per map and per key separately; pick one)');
      if ((byMap || byKey) && (groupBy.includes('caller') || groupBy.includes('function'))) {
        fail(groupByNode!, `cannot group by caller or function together with ${byMap ? 'map' : 'key_hash'} (per-${byMap ? 'map' : 'key'} counts have no call site; drop one)`);
      }
      if (byKey && op !== 'delete') fail(groupByNode!, `key_hash counts deletes only, and op is ${op} (use op: delete, or group by something else)`);
      if (matchNode) {
        match = byMap || byKey ? readMatch(matchNode, ['service', 'map_type'], `per-${byMap ? 'map' : 'key'} counts have no call site`) : readMatch(matchNode, MATCH_LABELS, '');
      }
      return { kind, op, windowMs, threshold, groupBy, match };
    }
    case 'mass_deletion': {
      let fraction: number | undefined;
      let minLen = ALERTS_DEFAULTS.minLen;
      const map = readMap(
        node,
        {
          ...windowReader,
          fraction: (v) => (fraction = asNumber(v, 'a fraction in (0, 1], e.g. 0.9 for 90%', (n) => n > 0 && n <= 1)),
          min_len: (v) => (minLen = asInt(v, 1, Number.MAX_SAFE_INTEGER, 'an element count, 1 or more')),
          match: (v) => (matchNode = v),
        },
        { group_by: 'mass_deletion always makes one alert per map', threshold: 'did you mean "fraction"?', percent: 'give a fraction: 0.9 for 90%' },
        'a map with window, fraction, min_len and match',
      );
      if (fraction === undefined) return missing(map, 'fraction', 'the share of its elements a map must lose within the window, e.g. fraction: 0.9');
      if (matchNode) match = readMatch(matchNode, ['service', 'map_type'], 'map lengths are tracked per map, without a call site');
      return { kind, windowMs, fraction, minLen, match };
    }
    case 'clear': {
      let largerThan: number | undefined;
      let groupBy: GroupLabel[] = ['map'];
      const map = readMap(
        node,
        {
          ...windowReader,
          larger_than: (v) => (largerThan = asInt(v, 0, Number.MAX_SAFE_INTEGER, 'an element count, 0 or more')),
          group_by: (v) => (groupBy = readGroupBy(v, GROUP_LABELS.filter((l) => l !== 'key_hash'), 'clears have no key')),
          match: (v) => (matchNode = v),
        },
        { min_len: 'did you mean "larger_than"?', threshold: 'did you mean "larger_than"?' },
        'a map with larger_than, window, group_by and match',
      );
      if (largerThan === undefined) return missing(map, 'larger_than', 'the element count a cleared map must exceed, e.g. larger_than: 1000');
      if (matchNode) match = readMatch(matchNode, MATCH_LABELS, '');
      return { kind, windowMs, largerThan, groupBy, match };
    }
    case 'watched_keys': {
      let keys: string[] = [];
      let hashes: string[] = [];
      let groupBy: GroupLabel[] = ['service', 'map_type'];
      const map = readMap(
        node,
        {
          ...windowReader,
          keys: (v) => (keys = [...new Set(asList(v, 'key values').map((x) => readKeyValue(x, ' (other keys by hashes:)')))]),
          hashes: (v) =>
            (hashes = [
              ...new Set(
                asList(v, 'key hashes').map((h) => {
                  const s = asString(h, 'a key hash of 16 hex digits, as hash-key prints it').trim().toLowerCase().replace(/^0x/, '');
                  if (!KEY_HASH.test(s)) expected(h, 'a key hash of 16 hex digits, as hash-key prints it');
                  return s;
                }),
              ),
            ]),
          group_by: (v) => (groupBy = readGroupBy(v, GROUP_LABELS.filter((l) => l !== 'key_hash'), 'the watched key is always the "key" label')),
          match: (v) => (matchNode = v),
        },
        { key: 'did you mean "keys"? (a list)', values: 'did you mean "keys"?' },
        'a map with keys, hashes, window, group_by and match',
      );
      if (keys.length === 0 && hashes.length === 0) missing(map, 'keys', 'list the key values to watch, e.g. keys: ["sess-1", 42] (or their hashes: under hashes:)');
      if (matchNode) match = readMatch(matchNode, MATCH_LABELS, '');
      return { kind, windowMs, keys, hashes, groupBy, match };
    }
  }
}

/** The labels a condition's alerts carry besides alertname, rule and external labels. */
export function conditionLabels(c: RuleCondition): string[] {
  switch (c.kind) {
    case 'delete_rate':
    case 'clear':
      return expandGroupBy(c.groupBy);
    case 'mass_deletion':
      return expandGroupBy(['map']);
    case 'watched_keys':
      return ['key', ...expandGroupBy(c.groupBy)];
  }
}

function readRule(
  node: CNode,
  alerts: AlertsConfig,
  defaultRepeatMs: number,
  notifiers: Map<string, { config: NotifierConfig; keyAt: number; used: boolean }>,
): AlertRuleConfig {
  let name: string | undefined;
  let condition: RuleCondition | undefined;
  let conditionKey: string | undefined;
  let forMs = 0;
  let repeatIntervalMs = defaultRepeatMs;
  let labels: Record<string, string> = {};
  let labelsNode: CNode | undefined;
  let annotationsNode: CNode | undefined;
  let notifierIds: string[] | undefined;
  const readers: Readers = {
    alert: (v) => {
      name = asString(v, 'an alert name like "MapHammered"').trim();
      if (!ALERT_NAME.test(name)) expected(v, 'an alert name of letters, digits, _ and : (not starting with a digit)', 'Prometheus and Alertmanager need this form');
    },
    for: (v) => (forMs = asDuration(v, 0, DAY)),
    repeat_interval: (v) => (repeatIntervalMs = asDuration(v, 0, 30 * DAY)),
    labels: (v) => {
      labels = readLabels(v, 'label');
      labelsNode = v;
    },
    annotations: (v) => (annotationsNode = v),
    notifiers: (v) => {
      notifierIds = [];
      for (const item of asList(v, 'notifier ids')) {
        const id = asString(item, 'a notifier id').trim();
        if (!notifiers.has(id)) {
          const known = [...notifiers.keys()];
          fail(item, `notifier "${id}" is not defined under alerts.notifiers${didYouMean(id, known, known.length ? ` (defined: ${known.join(', ')})` : ' (add it there)')}`);
        }
        if (notifierIds.includes(id)) fail(item, `notifier "${id}" is listed twice (keep one)`);
        notifierIds.push(id);
      }
    },
  };
  for (const kind of CONDITIONS) {
    readers[kind] = (v, entry) => {
      if (conditionKey) v.src.fail(entry.keyAt, v.path, `a rule has one condition, and this one already has ${conditionKey} (make another rule)`);
      conditionKey = kind;
      condition = readCondition(kind, v, alerts.evaluationIntervalMs);
    };
  }
  const conditionList = CONDITIONS.join(', ');
  const map = readMap(
    node,
    readers,
    {
      expr: `rules here are not PromQL: give one of ${conditionList} (rules --prometheus writes the PromQL for you)`,
      name: 'did you mean "alert"?',
      keep_firing_for: 'not supported: use the condition\'s window',
      rate: 'did you mean "delete_rate"?',
      watched_key: 'did you mean "watched_keys"?',
      mass_delete: 'did you mean "mass_deletion"?',
    },
    `a rule: a map with alert, one of ${conditionList}, for, labels, annotations`,
  );
  if (name === undefined) failMissing(map, 'alert', 'required: name the rule, e.g. alert: MapHammered');
  if (!condition) failMissing(map, 'delete_rate', `required: give the rule one condition: ${conditionList}`);

  const groupLabels = conditionLabels(condition);
  for (const l of Object.keys(labels)) {
    if (groupLabels.includes(l)) fail(labelsNode!, `label "${l}" is set by the rule's grouping (choose another name)`);
  }
  const labelNames = ['alertname', ...groupLabels, ...Object.keys(labels), ...Object.keys(alerts.externalLabels).filter((l) => !(l in labels))];

  const annotations: Record<string, string> = {};
  if (annotationsNode) {
    const m = asMap(annotationsNode, 'a map of annotation names to templates');
    for (const e of m.entries) {
      const where = joinPath(m.path, e.key);
      if (!LABEL_NAME.test(e.key)) m.src.fail(e.keyAt, where, `"${e.key}" is not a valid annotation name (letters, digits and _, not starting with a digit)`);
      const text = asString(e.value, 'an annotation (a string; {{ $labels.NAME }} and {{ $value }} are replaced)', { allowEmpty: true });
      const parsed = parseTemplate(text);
      if (typeof parsed === 'string') fail(e.value, parsed);
      for (const part of parsed) {
        if (part.kind === 'label' && !labelNames.includes(part.name)) {
          fail(e.value, `{{ $labels.${part.name} }}: this rule's alerts have no label "${part.name}"${didYouMean(part.name, labelNames, '')} (its labels: ${labelNames.join(', ')})`);
        }
      }
      annotations[e.key] = text;
    }
  }

  const ids = notifierIds ?? [...notifiers.keys()];
  for (const id of ids) notifiers.get(id)!.used = true;
  return { name, condition, forMs, repeatIntervalMs, labels, annotations, notifiers: ids, labelNames, at: position(node) };
}

// ---------------------------------------------------------------------------------------------
// Notifiers

function readNotifiers(node: CNode, evaluationIntervalMs: number): Map<string, { config: NotifierConfig; keyAt: number; used: boolean }> {
  const map = asMap(node, 'a map of notifiers (webhook, slack, alertmanager; TYPE/NAME for more than one)');
  const out = new Map<string, { config: NotifierConfig; keyAt: number; used: boolean }>();
  for (const entry of map.entries) {
    const where = joinPath(map.path, entry.key);
    const slash = entry.key.indexOf('/');
    const type = slash < 0 ? entry.key : entry.key.slice(0, slash);
    const name = slash < 0 ? undefined : entry.key.slice(slash + 1);
    if (name !== undefined && (name === '' || /\s/.test(name))) map.src.fail(entry.keyAt, where, `"${entry.key}" is not a valid notifier id (write TYPE or TYPE/NAME, NAME without spaces)`);
    if (!(NOTIFIER_TYPES as readonly string[]).includes(type)) {
      map.src.fail(entry.keyAt, where, `unknown notifier type "${type}"${didYouMean(type, NOTIFIER_TYPES, ` (expected one of: ${NOTIFIER_TYPES.join(', ')})`)}`);
    }
    out.set(entry.key, { config: readNotifier(type as NotifierConfig['type'], entry.value, entry.key, evaluationIntervalMs), keyAt: entry.keyAt, used: false });
  }
  return out;
}

function readNotifier(type: NotifierConfig['type'], node: CNode, id: string, evaluationIntervalMs: number): NotifierConfig {
  const d = ALERTS_DEFAULTS.notifier;
  const base: NotifierBase = { id, timeoutMs: d.timeoutMs, retry: { ...d.retry }, queueSize: d.queueSize, headers: {} };
  let url: string | undefined;
  let sendResolved = true;
  let maxAlerts = d.maxAlerts;
  let channel: string | undefined;
  let username: string | undefined;
  let resendIntervalMs = d.resendIntervalMs;
  let initialNode: CNode | undefined;
  let maxNode: CNode | undefined;
  const urlKey = type === 'slack' ? 'webhook_url' : 'url';
  const urlWhat =
    type === 'slack' ? 'a Slack incoming webhook URL like "https://hooks.slack.com/services/…"' : type === 'alertmanager' ? 'Alertmanager\'s URL like "http://alertmanager:9093"' : 'a URL like "https://hooks.example.com/map-deletes"';
  const readers: Readers = {
    [urlKey]: (v) => (url = readUrl(v, urlWhat, type === 'slack')),
    timeout: (v) => (base.timeoutMs = asDuration(v, 1, HOUR)),
    retry_on_failure: (v) =>
      readMap(v, {
        enabled: (x) => (base.retry.enabled = asBool(x)),
        initial_interval: (x) => {
          base.retry.initialIntervalMs = asDuration(x, 1, HOUR);
          initialNode = x;
        },
        max_interval: (x) => {
          base.retry.maxIntervalMs = asDuration(x, 1, HOUR);
          maxNode = x;
        },
        max_elapsed_time: (x) => (base.retry.maxElapsedMs = asDuration(x, 0, DAY)),
      }),
    queue_size: (v) => (base.queueSize = asInt(v, 1, 100_000)),
    headers: (v) => {
      const m = asMap(v, 'a map of header names to values');
      for (const e of m.entries) {
        if (!isHeaderName(e.key.toLowerCase())) m.src.fail(e.keyAt, joinPath(m.path, e.key), `"${e.key}" is not a valid header name (letters, digits and -_.!#$%&'*+^\`|~ only)`);
        base.headers[e.key.toLowerCase()] = asString(e.value, 'a string', { allowEmpty: true });
      }
    },
  };
  if (type !== 'alertmanager') readers.send_resolved = (v) => (sendResolved = asBool(v));
  if (type === 'webhook') readers.max_alerts = (v) => (maxAlerts = asInt(v, 1, 10_000));
  if (type === 'slack') {
    readers.channel = (v) => (channel = asString(v, 'a channel like "#alerts"').trim());
    readers.username = (v) => (username = asString(v, 'a user name').trim());
  }
  if (type === 'alertmanager') readers.resend_interval = (v) => (resendIntervalMs = asDuration(v, Math.min(evaluationIntervalMs, MINUTE), HOUR));
  const hints: Record<string, string> = {
    endpoint: `did you mean "${urlKey}"?`,
    [type === 'slack' ? 'url' : 'webhook_url']: `did you mean "${urlKey}"?`,
    tls: 'not supported yet: https:// URLs are checked against the system\'s CA certificates',
    sending_queue: 'did you mean "queue_size"?',
  };
  if (type === 'alertmanager') hints.send_resolved = 'Alertmanager always gets resolved alerts (it decides whether to notify them)';
  const map = readMap(node, readers, hints, `a map of ${type} notifier settings`);
  if (url === undefined) failMissing(map, urlKey, `required: ${urlWhat}`);
  if (base.retry.initialIntervalMs > base.retry.maxIntervalMs) {
    if (initialNode) fail(initialNode, `${describe(initialNode)} is longer than max_interval (${formatDuration(base.retry.maxIntervalMs)}); make it shorter or raise max_interval`);
    fail(maxNode!, `${describe(maxNode!)} is shorter than initial_interval (default ${formatDuration(base.retry.initialIntervalMs)}); raise it or lower initial_interval`);
  }
  switch (type) {
    case 'webhook':
      return { ...base, type, url, sendResolved, maxAlerts };
    case 'slack':
      return { ...base, type, url, sendResolved, ...(channel ? { channel } : {}), ...(username ? { username } : {}) };
    case 'alertmanager':
      return { ...base, type, url, resendIntervalMs };
  }
}

// ---------------------------------------------------------------------------------------------
// What the tracer must record for the rules (receiver/tracer.ts TracerOptions.counting)

/**
 * Key values and hashes the watched-key rules watch: their deletes must be recorded whatever
 * the span sampling, or the rules would miss them.
 */
export function watchedKeys(alerts: AlertsConfig | undefined): { values: string[]; hashes: string[] } {
  const values = new Set<string>();
  const hashes = new Set<string>();
  for (const r of alerts?.rules ?? []) {
    if (r.condition.kind !== 'watched_keys') continue;
    for (const k of r.condition.keys) values.add(k);
    for (const h of r.condition.hashes) hashes.add(h);
  }
  return { values: [...values], hashes: [...hashes] };
}

/** What the kernel must count for the rules: per-key activity (key_hash grouping), every clear, watched keys. */
export function alertCounting(alerts: AlertsConfig | undefined): { keys: boolean; keepClears: boolean; watchKeys: string[]; watchKeyHashes: string[] } {
  const rules = alerts?.rules ?? [];
  const w = watchedKeys(alerts);
  return {
    keys: rules.some((r) => r.condition.kind === 'delete_rate' && r.condition.groupBy.includes('key_hash')),
    keepClears: rules.some((r) => r.condition.kind === 'clear'),
    watchKeys: w.values,
    watchKeyHashes: w.hashes,
  };
}
