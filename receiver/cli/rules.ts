/**
 * `map-delete-tracer rules`: checks the `alerts:` section of a config file and lists its rules;
 * with --prometheus, writes the equivalent Prometheus alerting rules (receiver/alerts/prometheus.ts).
 */
import * as fs from 'node:fs';
import type { AlertRuleConfig } from '../config/alerts';
import { loadConfigFile } from '../config/load';
import { formatDuration } from '../config/duration';
import { prometheusRules } from '../alerts/prometheus';
import { UserError, errnoCode } from '../util/errors';
import { one, parseArgs } from './args';

export const RULES_HELP = `Usage: map-delete-tracer rules --config FILE [--prometheus [-o FILE]]

Checks the alert rules of a config file (its alerts: section, docs/alerts.md) and lists them.

  --config FILE      the tracer's config file
  --prometheus       write the rules as Prometheus alerting rules over the tracer's metrics
                     (docs/metrics.md) instead; rules the metrics cannot express are left out,
                     with a comment in the output and a note on stderr
  -o, --output FILE  write to FILE instead of stdout`;

function describeRule(r: AlertRuleConfig): string {
  const c = r.condition;
  const w = formatDuration(c.windowMs);
  let what: string;
  switch (c.kind) {
    case 'delete_rate':
      what = `more than ${c.threshold} ${c.op === 'any' ? 'deletes and clears' : `${c.op}s`} within ${w}, per ${c.groupBy.join(', ') || 'everything'}`;
      break;
    case 'mass_deletion':
      what = `a map (of at least ${c.minLen} elements) losing ${Number((c.fraction * 100).toPrecision(6))}% or more within ${w}`;
      break;
    case 'clear':
      what = `a clear of a map of more than ${c.largerThan} elements (active ${w}), per ${c.groupBy.join(', ') || 'everything'}`;
      break;
    case 'watched_keys':
      what = `a delete of ${c.keys.length + c.hashes.length} watched key(s) (active ${w})`;
      break;
  }
  const f = r.forMs ? `, for ${formatDuration(r.forMs)}` : '';
  return `${r.name} (${r.at}): ${what}${f}; notifies ${r.notifiers.join(', ') || 'nobody (logged only)'}`;
}

export async function rulesCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(RULES_HELP + '\n');
    return 0;
  }
  const p = parseArgs(
    'rules',
    argv.map((a) => (a === '-o' ? '--output' : a.startsWith('-o=') ? `--output=${a.slice(3)}` : a)),
    { config: { type: 'string' }, prometheus: { type: 'boolean' }, output: { type: 'string' } },
  );
  if (p.positional.length) throw new UserError(`rules: unexpected argument "${p.positional[0]}" (see --help)`);
  const file = one<string>(p, 'config');
  if (!file) throw new UserError('rules: --config FILE is required (the config file with the alerts: section)');
  const output = one<string>(p, 'output');
  const log = (line: string) => process.stderr.write(`map-delete-tracer: ${line}\n`);
  const { config, warnings } = loadConfigFile(file);
  for (const w of warnings) log(`warning: ${w}`);
  const alerts = config.alerts;
  if (!alerts) log(`rules: ${file} has no alerts: section (docs/alerts.md)`);

  let text: string;
  if (one<boolean>(p, 'prometheus')) {
    const r = prometheusRules(alerts, file);
    for (const n of r.notes) log(`rules: ${n}`);
    if (alerts?.rules.length) log(`rules: ${r.written} Prometheus rule(s) written, ${r.skipped} skipped`);
    text = r.text;
  } else {
    text = (alerts?.rules ?? []).map((r) => describeRule(r) + '\n').join('');
  }
  if (output) {
    try {
      fs.writeFileSync(output, text);
    } catch (err) {
      throw new UserError(`rules: cannot write ${output}: ${errnoCode(err) ?? (err as Error).message}`);
    }
  } else {
    process.stdout.write(text);
  }
  return 0;
}
