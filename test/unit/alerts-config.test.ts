/**
 * The `alerts:` section of the config file: what a valid one turns into (defaults included),
 * and broken ones, each failing with one line `FILE:LINE:COL: KEY.PATH: problem (fix)` that
 * points at the mistake.
 */
import { strict as assert } from 'node:assert';
import { ConfigError } from '../../receiver/config/load';
import { ALERTS_DEFAULTS } from '../../receiver/config/alerts';
import { loadAlerts } from '../helpers/alerts';

/** The pipeline part of every file takes 9 lines: `alerts:` is on line 10. */
function alertsError(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    loadAlerts(text, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(!/[\r\n]/.test(err.message), `not one line: ${err.message}`);
    return err.message;
  }
  return assert.fail('expected a ConfigError');
}

const RULE = (body: string) => `alerts:\n  rules:\n    - alert: R\n${body}`;

interface Case {
  name: string;
  text: string;
  prefix: string;
  rest: RegExp;
}

const cases: Case[] = [
  {
    name: 'unknown key in alerts, the close one suggested',
    text: 'alerts:\n  evaluation_intervall: 15s\n',
    prefix: 'tracer.yaml:11:3: alerts.evaluation_intervall: ',
    rest: /^unknown key "evaluation_intervall" \(did you mean "evaluation_interval"\?\)$/,
  },
  {
    name: 'Prometheus groups',
    text: 'alerts:\n  groups: []\n',
    prefix: 'tracer.yaml:11:3: alerts.groups: ',
    rest: /\(rules are listed directly under alerts.rules \(no groups\)\)$/,
  },
  {
    name: 'a rule without a name',
    text: 'alerts:\n  rules:\n    - delete_rate: { threshold: 1 }\n',
    prefix: 'tracer.yaml:12:7: alerts.rules[0].alert: ',
    rest: /^required: name the rule, e\.g\. alert: MapHammered$/,
  },
  {
    name: 'a rule without a condition',
    text: RULE('      for: 1m\n'),
    prefix: 'tracer.yaml:12:7: alerts.rules[0].delete_rate: ',
    rest: /^required: give the rule one condition: delete_rate, mass_deletion, clear, watched_keys$/,
  },
  {
    name: 'a PromQL expression',
    text: RULE('      expr: rate(x[5m]) > 1\n'),
    prefix: 'tracer.yaml:13:7: alerts.rules[0].expr: ',
    rest: /rules here are not PromQL: give one of delete_rate, mass_deletion, clear, watched_keys \(rules --prometheus writes the PromQL for you\)\)$/,
  },
  {
    name: 'two conditions',
    text: RULE('      clear: { larger_than: 1 }\n      watched_keys: { keys: [a] }\n'),
    prefix: 'tracer.yaml:14:7: alerts.rules[0].watched_keys: ',
    rest: /^a rule has one condition, and this one already has clear \(make another rule\)$/,
  },
  {
    name: 'an invalid alert name',
    text: 'alerts:\n  rules:\n    - alert: map hammered\n      clear: { larger_than: 1 }\n',
    prefix: 'tracer.yaml:12:14: alerts.rules[0].alert: ',
    rest: /^expected an alert name of letters, digits, _ and : \(not starting with a digit\), got "map hammered" \(Prometheus and Alertmanager need this form\)$/,
  },
  {
    name: 'two rules with one name',
    text: 'alerts:\n  rules:\n    - alert: R\n      clear: { larger_than: 1 }\n    - alert: R\n      clear: { larger_than: 2 }\n',
    prefix: 'tracer.yaml:14:7: alerts.rules[1]: ',
    rest: /^a second rule named "R" \(the first is at tracer\.yaml:12:7; give each rule its own alert name\)$/,
  },
  {
    name: 'threshold missing',
    text: RULE('      delete_rate: { window: 5m }\n'),
    prefix: 'tracer.yaml:13:7: alerts.rules[0].delete_rate.threshold: ',
    rest: /^required: how many operations within the window make the alert active, e\.g\. threshold: 100$/,
  },
  {
    name: 'threshold not a number',
    text: RULE('      delete_rate:\n        threshold: lots\n'),
    prefix: 'tracer.yaml:14:20: alerts.rules[0].delete_rate.threshold: ',
    rest: /^expected a number of operations, 0 or more, got "lots"$/,
  },
  {
    name: 'a window without a unit',
    text: RULE('      delete_rate:\n        threshold: 1\n        window: 5\n'),
    prefix: 'tracer.yaml:15:17: alerts.rules[0].delete_rate.window: ',
    rest: /\(add a unit: 5s or 5ms\)$/,
  },
  {
    name: 'a window shorter than the evaluation interval',
    text: 'alerts:\n  evaluation_interval: 30s\n  rules:\n    - alert: R\n      delete_rate: { threshold: 1, window: 10s }\n',
    prefix: 'tracer.yaml:14:44: alerts.rules[0].delete_rate.window: ',
    rest: /^"10s" is shorter than alerts\.evaluation_interval \(30s\): the window is counted in evaluations \(make it at least 30s\)$/,
  },
  {
    name: 'group_by key',
    text: RULE('      delete_rate: { threshold: 1, group_by: [map_type, key] }\n'),
    prefix: 'tracer.yaml:13:57: alerts.rules[0].delete_rate.group_by[1]: ',
    rest: /^cannot group by "key" \(did you mean "key_hash"\?\)$/,
  },
  {
    name: 'group_by map and key_hash',
    text: RULE('      delete_rate: { threshold: 1, group_by: [map, key_hash] }\n'),
    prefix: 'tracer.yaml:13:46: alerts.rules[0].delete_rate.group_by: ',
    rest: /^cannot group by both map and key_hash/,
  },
  {
    name: 'group_by map and caller',
    text: RULE('      delete_rate: { threshold: 1, group_by: [map, caller] }\n'),
    prefix: 'tracer.yaml:13:46: alerts.rules[0].delete_rate.group_by: ',
    rest: /^cannot group by caller or function together with map \(per-map counts have no call site; drop one\)$/,
  },
  {
    name: 'key_hash with clears',
    text: RULE('      delete_rate: { threshold: 1, op: clear, group_by: [key_hash] }\n'),
    prefix: 'tracer.yaml:13:57: alerts.rules[0].delete_rate.group_by: ',
    rest: /^key_hash counts deletes only, and op is clear/,
  },
  {
    name: 'match on caller per map',
    text: RULE('      delete_rate:\n        threshold: 1\n        group_by: [map]\n        match: { caller: "a.go:1" }\n'),
    prefix: 'tracer.yaml:16:26: alerts.rules[0].delete_rate.match.caller: ',
    rest: /^cannot match on caller here \(per-map counts have no call site\)$/,
  },
  {
    name: 'an op that does not exist',
    text: RULE('      delete_rate: { threshold: 1, op: deletes }\n'),
    prefix: 'tracer.yaml:13:40: alerts.rules[0].delete_rate.op: ',
    rest: /^expected one of delete \| clear \| any, got "deletes" \(did you mean "delete"\?\)$/,
  },
  {
    name: 'a fraction above 1',
    text: RULE('      mass_deletion: { fraction: 90 }\n'),
    prefix: 'tracer.yaml:13:34: alerts.rules[0].mass_deletion.fraction: ',
    rest: /^expected a fraction in \(0, 1\], e\.g\. 0\.9 for 90%, got 90$/,
  },
  {
    name: 'mass_deletion grouped',
    text: RULE('      mass_deletion: { fraction: 0.5, group_by: [map] }\n'),
    prefix: 'tracer.yaml:13:39: alerts.rules[0].mass_deletion.group_by: ',
    rest: /\(mass_deletion always makes one alert per map\)$/,
  },
  {
    name: 'clear without larger_than',
    text: RULE('      clear: {}\n'),
    prefix: 'tracer.yaml:13:7: alerts.rules[0].clear.larger_than: ',
    rest: /^required: the element count a cleared map must exceed, e\.g\. larger_than: 1000$/,
  },
  {
    name: 'watched_keys without keys',
    text: RULE('      watched_keys: { window: 1m }\n'),
    prefix: 'tracer.yaml:13:7: alerts.rules[0].watched_keys.keys: ',
    rest: /^required: list the key values to watch/,
  },
  {
    name: 'a float key',
    text: RULE('      watched_keys: { keys: [1.5] }\n'),
    prefix: 'tracer.yaml:13:30: alerts.rules[0].watched_keys.keys[0]: ',
    rest: /^expected a string or an integer, got 1\.5 \(.*quote it: "1\.5"\)$/,
  },
  {
    name: 'a bad hash',
    text: RULE('      watched_keys: { hashes: [abc] }\n'),
    prefix: 'tracer.yaml:13:32: alerts.rules[0].watched_keys.hashes[0]: ',
    rest: /^expected a key hash of 16 hex digits, as hash-key prints it, got "abc"$/,
  },
  {
    name: 'an annotation with a label the rule does not have',
    text: RULE('      delete_rate: { threshold: 1, group_by: [map_type] }\n      annotations:\n        summary: "{{ $labels.mapp }} x"\n'),
    prefix: 'tracer.yaml:15:18: alerts.rules[0].annotations.summary: ',
    rest: /^\{\{ \$labels\.mapp \}\}: this rule's alerts have no label "mapp" \(its labels: alertname, map_type\)$/,
  },
  {
    name: 'an annotation with an unsupported template',
    text: RULE('      clear: { larger_than: 1 }\n      annotations:\n        summary: "{{ $value | humanize }}"\n'),
    prefix: 'tracer.yaml:15:18: alerts.rules[0].annotations.summary: ',
    rest: /^unsupported template \{\{ \$value \| humanize \}\} \(only \{\{ \$labels\.NAME \}\} and \{\{ \$value \}\} are replaced\)$/,
  },
  {
    name: 'a label the grouping sets',
    text: RULE('      clear: { larger_than: 1 }\n      labels: { map: x }\n'),
    prefix: 'tracer.yaml:14:17: alerts.rules[0].labels.map: ',
    rest: /^"map" is a label the tracer sets itself \(choose another name\)$/,
  },
  {
    name: 'an invalid label name',
    text: RULE('      clear: { larger_than: 1 }\n      labels: { "team-name": x }\n'),
    prefix: 'tracer.yaml:14:17: alerts.rules[0].labels.team-name: ',
    rest: /is not a valid label name/,
  },
  {
    name: 'a notifier type that does not exist',
    text: 'alerts:\n  notifiers:\n    pagerduty:\n      url: http://x\n',
    prefix: 'tracer.yaml:12:5: alerts.notifiers.pagerduty: ',
    rest: /^unknown notifier type "pagerduty" \(expected one of: webhook, slack, alertmanager\)$/,
  },
  {
    name: 'a webhook without url',
    text: 'alerts:\n  notifiers:\n    webhook/ops:\n      timeout: 5s\n',
    prefix: 'tracer.yaml:12:5: alerts.notifiers.webhook/ops.url: ',
    rest: /^required: a URL like/,
  },
  {
    name: 'slack with url instead of webhook_url',
    text: 'alerts:\n  notifiers:\n    slack:\n      url: https://hooks.slack.com/services/x\n',
    prefix: 'tracer.yaml:13:7: alerts.notifiers.slack.url: ',
    rest: /^unknown key "url" \(did you mean "webhook_url"\?\)$/,
  },
  {
    name: 'a URL that is not http',
    text: 'alerts:\n  notifiers:\n    alertmanager:\n      url: ftp://am:9093\n',
    prefix: 'tracer.yaml:13:12: alerts.notifiers.alertmanager.url: ',
    rest: /only http:\/\/ and https:\/\/ are supported, not ftp:\/\/\)$/,
  },
  {
    name: 'a Slack webhook URL that is not a URL, not repeated (it is a secret)',
    text: 'alerts:\n  notifiers:\n    slack:\n      webhook_url: hooks.slack.com/services/T0/B0/SECRET\n',
    prefix: 'tracer.yaml:13:20: alerts.notifiers.slack.webhook_url: ',
    rest: /^expected a Slack incoming webhook URL like "https:\/\/hooks\.slack\.com\/services\/…" \(write a full URL with http:\/\/ or https:\/\/; the value is not shown: it is a secret\)$/,
  },
  {
    name: 'send_resolved for alertmanager',
    text: 'alerts:\n  notifiers:\n    alertmanager:\n      url: http://am:9093\n      send_resolved: false\n',
    prefix: 'tracer.yaml:14:7: alerts.notifiers.alertmanager.send_resolved: ',
    rest: /Alertmanager always gets resolved alerts/,
  },
  {
    name: 'retry intervals the wrong way round',
    text: 'alerts:\n  notifiers:\n    webhook:\n      url: http://x\n      retry_on_failure: { initial_interval: 1m, max_interval: 10s }\n',
    prefix: 'tracer.yaml:14:45: alerts.notifiers.webhook.retry_on_failure.initial_interval: ',
    rest: /is longer than max_interval \(10s\)/,
  },
  {
    name: 'a rule sending to an undefined notifier',
    text: 'alerts:\n  notifiers:\n    webhook/ops: { url: "http://x" }\n  rules:\n    - alert: R\n      clear: { larger_than: 1 }\n      notifiers: [webhook/opps]\n',
    prefix: 'tracer.yaml:16:19: alerts.rules[0].notifiers[0]: ',
    rest: /^notifier "webhook\/opps" is not defined under alerts\.notifiers \(did you mean "webhook\/ops"\?\)$/,
  },
  {
    name: 'an unset variable in a URL',
    text: 'alerts:\n  notifiers:\n    slack:\n      webhook_url: ${env:SLACK_URL}\n',
    prefix: 'tracer.yaml:13:20: alerts.notifiers.slack.webhook_url: ',
    rest: /SLACK_URL is not set/,
  },
];

describe('alerts config', () => {
  describe('mistakes: one line that points at them', () => {
    for (const c of cases) {
      it(c.name, () => {
        const message = alertsError(c.text);
        assert.ok(message.startsWith(c.prefix), `\n  got:      ${message}\n  expected: ${c.prefix}…`);
        assert.match(message.slice(c.prefix.length), c.rest);
      });
    }
  });

  it('reads a full section, with the defaults filled in', () => {
    const { alerts, warnings } = loadAlerts(
      `alerts:
  evaluation_interval: 30s
  repeat_interval: 1h
  external_labels: { cluster: prod }
  generator_url: http://tracer:9464/
  notifiers:
    webhook/ops:
      url: https://hooks.example.com/x
      headers: { Authorization: "Bearer \${env:TOKEN}" }
    slack:
      webhook_url: \${env:SLACK_URL}
      channel: "#maps"
    alertmanager:
      url: http://127.0.0.1:9093
      resend_interval: 30s
      timeout: 2s
      retry_on_failure: { initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 10s }
      queue_size: 10
  rules:
    - alert: MapHammered
      delete_rate: { window: 5m, threshold: 100, group_by: [map], match: { map_type: ["map[string]*main.*"] } }
      for: 1m
      labels: { severity: page }
      annotations: { summary: "{{ $labels.map }} {{ $value }}" }
      notifiers: [alertmanager]
    - alert: Mass
      mass_deletion: { fraction: 0.5 }
    - alert: Watch
      watched_keys: { keys: ["sess-1", 42, 0x2A, 18446744073709551615] }
`,
      { TOKEN: 't0k', SLACK_URL: 'https://hooks.slack.com/services/T/B/X' },
    );
    assert.deepEqual(warnings, []);
    assert.equal(alerts.evaluationIntervalMs, 30_000);
    assert.deepEqual(alerts.externalLabels, { cluster: 'prod' });
    assert.equal(alerts.generatorUrl, 'http://tracer:9464/');
    const d = ALERTS_DEFAULTS.notifier;
    assert.deepEqual(alerts.notifiers, [
      { id: 'webhook/ops', type: 'webhook', url: 'https://hooks.example.com/x', timeoutMs: d.timeoutMs, retry: d.retry, queueSize: d.queueSize, headers: { authorization: 'Bearer t0k' }, sendResolved: true, maxAlerts: d.maxAlerts },
      { id: 'slack', type: 'slack', url: 'https://hooks.slack.com/services/T/B/X', timeoutMs: d.timeoutMs, retry: d.retry, queueSize: d.queueSize, headers: {}, sendResolved: true, channel: '#maps' },
      {
        id: 'alertmanager',
        type: 'alertmanager',
        url: 'http://127.0.0.1:9093',
        timeoutMs: 2000,
        retry: { enabled: true, initialIntervalMs: 100, maxIntervalMs: 1000, maxElapsedMs: 10_000 },
        queueSize: 10,
        headers: {},
        resendIntervalMs: 30_000,
      },
    ]);
    const [hammered, mass, watch] = alerts.rules;
    assert.deepEqual(hammered, {
      name: 'MapHammered',
      condition: { kind: 'delete_rate', op: 'delete', windowMs: 300_000, threshold: 100, groupBy: ['map'], match: { map_type: ['map[string]*main.*'] } },
      forMs: 60_000,
      repeatIntervalMs: 3_600_000,
      labels: { severity: 'page' },
      annotations: { summary: '{{ $labels.map }} {{ $value }}' },
      notifiers: ['alertmanager'],
      labelNames: ['alertname', 'service', 'pid', 'map_type', 'map', 'severity', 'cluster'],
      at: 'tracer.yaml:29:7',
    });
    assert.deepEqual(mass.condition, { kind: 'mass_deletion', windowMs: 300_000, fraction: 0.5, minLen: 100, match: {} });
    assert.deepEqual(mass.notifiers, ['webhook/ops', 'slack', 'alertmanager']);
    assert.equal(mass.forMs, 0);
    assert.deepEqual(watch.condition, { kind: 'watched_keys', windowMs: 300_000, keys: ['sess-1', '42', '18446744073709551615'], hashes: [], groupBy: ['service', 'map_type'], match: {} });
  });

  it('warns about a section that sends nowhere or evaluates nothing', () => {
    assert.deepEqual(loadAlerts('alerts:\n  rules:\n    - alert: R\n      clear: { larger_than: 1 }\n').warnings, [
      'tracer.yaml:10:1: alerts.notifiers: no notifiers: alerts are only logged on stderr (add a webhook, slack or alertmanager notifier)',
    ]);
    assert.deepEqual(loadAlerts('alerts:\n  notifiers:\n    webhook: { url: "http://x" }\n').warnings, [
      'tracer.yaml:10:1: alerts.rules: no rules: nothing is evaluated (add rules, or remove the alerts section)',
    ]);
    assert.deepEqual(
      loadAlerts('alerts:\n  notifiers:\n    webhook: { url: "http://x" }\n    slack: { webhook_url: "http://y" }\n  rules:\n    - alert: R\n      clear: { larger_than: 1 }\n      notifiers: [slack]\n').warnings,
      ['tracer.yaml:12:5: alerts.notifiers.webhook: no rule sends to it (rules that list notifiers: only send to those)'],
    );
  });
});
