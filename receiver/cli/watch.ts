/** `map-delete-tracer watch`: print every delete of the targets as it happens. */
import { Tracer } from '../tracer';
import { appendJsonLine } from '../output/json';
import { LineBuffer } from '../output/lines';
import { appendTextLine } from '../output/text';
import { UserError } from '../util/errors';
import { all, one, parseArgs } from './args';
import type { DeleteEvent } from '../events/types';
import type { InheritanceMode } from '../attach/correlation';
import { checkMetricsEndpoint, defaultMetricsConfig } from '../config/metrics';
import { KernelCounterSource } from '../metrics/kernel-source';
import { startMetricsEndpoint } from '../metrics/endpoint';
import { RedactPatternError, compileRedactor, type Redactor } from '../events/redact';

export const WATCH_HELP = `Usage: map-delete-tracer watch (--pid PID ... | --exe PATH ...) [options]

Prints every delete(m, k) and clear(m) in the target Go processes as it happens.

  --pid PID           trace this process (repeatable)
  --exe PATH          trace every process running this executable, now and later (repeatable);
                      runs until --duration or Ctrl-C
  --format text|json  one readable line (default) or one JSON object per delete
  --capture-keys      include key values (off by default: keys can be personal data)
  --redact-key REGEX  with --capture-keys, replace the parts of key values that match by ****
                      (repeatable; the key's hash stays)
  --key VALUE         only deletes of this key (matched in the kernel by hash; integers match
                      every integer width)
  --map-type GLOB     only maps whose Go type matches, e.g. 'map[string]*' (* and ? are wildcards)
  --stack-depth N     return addresses per event, 1-32 (default 16)
  --duration SECONDS  stop after this long
  --no-spans          do not track the target's OpenTelemetry Go SDK spans (by default a delete
                      carries the trace and span active on its goroutine: "trace_id", "span_id")
  --inheritance creation|return|off
                      how goroutines inherit their creator's spans: a probe at goroutine
                      creation (default, ~1 µs per go statement), probes on the RETs of
                      runtime.newproc1 (~20 µs per go statement), or not at all
  --metrics-endpoint HOST:PORT
                      also serve exact delete counts for Prometheus at
                      http://HOST:PORT/metrics while watching (docs/metrics.md)

Exits 0 once every traced --pid process has exited (or the duration passed) and every event is
printed; a summary, including any events lost, goes to stderr.`;

export async function watchCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(WATCH_HELP + '\n');
    return 0;
  }
  const p = parseArgs('watch', argv, {
    pid: { type: 'number', repeat: true },
    exe: { type: 'string', repeat: true },
    format: { type: 'string', choices: ['text', 'json'] },
    'capture-keys': { type: 'boolean' },
    'redact-key': { type: 'string', repeat: true },
    key: { type: 'string' },
    'map-type': { type: 'string' },
    'stack-depth': { type: 'number' },
    duration: { type: 'number' },
    'no-spans': { type: 'boolean' },
    inheritance: { type: 'string', choices: ['creation', 'return', 'off'] },
    'metrics-endpoint': { type: 'string' },
  });
  if (p.positional.length) throw new UserError(`watch: unexpected argument "${p.positional[0]}" (targets are given with --pid or --exe)`);
  const duration = one<number>(p, 'duration');
  if (duration !== undefined && duration <= 0) throw new UserError('watch: --duration must be a positive number of seconds');
  const stackDepth = one<number>(p, 'stack-depth') ?? 16;
  if (!Number.isInteger(stackDepth) || stackDepth < 1 || stackDepth > 32) throw new UserError('watch: --stack-depth must be an integer from 1 to 32');
  const pids = all<number>(p, 'pid');
  for (const pid of pids) {
    if (!Number.isInteger(pid) || pid <= 0) throw new UserError(`watch: --pid ${pid} is not a process id (pass a positive integer)`);
  }

  const captureKeys = one<boolean>(p, 'capture-keys') ?? false;
  const redactPatterns = all<string>(p, 'redact-key');
  if (redactPatterns.length > 0 && !captureKeys) throw new UserError('watch: --redact-key needs --capture-keys (without it no key value leaves the kernel: nothing to redact)');
  let redactKey: Redactor | undefined;
  try {
    redactKey = compileRedactor(redactPatterns);
  } catch (err) {
    if (!(err instanceof RedactPatternError)) throw err;
    throw new UserError(`watch: --redact-key ${JSON.stringify(redactPatterns[err.index])}: ${err.message}`);
  }

  const format = one<string>(p, 'format') ?? 'text';
  const append: (e: DeleteEvent, out: LineBuffer) => void = format === 'json' ? appendJsonLine : appendTextLine;
  // Writes to stdout are synchronous on Linux (files, pipes, TTYs): a slow reader slows the
  // receiver, the addon's bounded queue fills and the kernel counts what it cannot keep.
  // Lines are gathered as bytes and written 256 at a time (and by a timer).
  const pending = new LineBuffer();
  let stdoutClosed = false;
  const flush = () => {
    if (!pending.lines) return;
    const bytes = pending.take();
    if (!stdoutClosed) process.stdout.write(bytes);
  };
  const sink = (e: DeleteEvent) => {
    append(e, pending);
    if (pending.lines >= 256) flush();
  };
  const log = (line: string) => process.stderr.write(`map-delete-tracer: ${line}\n`);
  const metricsEndpoint = one<string>(p, 'metrics-endpoint');
  if (metricsEndpoint !== undefined) {
    const bad = checkMetricsEndpoint(metricsEndpoint);
    if (bad) throw new UserError(`watch: --metrics-endpoint: ${bad}`);
  }

  const tracer = new Tracer(
    {
      pids,
      exes: all<string>(p, 'exe'),
      captureKeys,
      redactKey,
      key: one<string>(p, 'key'),
      mapType: one<string>(p, 'map-type'),
      durationSec: duration,
      stackDepth,
      correlation: one<boolean>(p, 'no-spans')
        ? undefined
        : { inheritance: (one<string>(p, 'inheritance') ?? 'creation') as InheritanceMode },
      counting: metricsEndpoint !== undefined ? { keys: false, timing: false, keepClears: false, watchKeys: [] } : undefined,
    },
    sink,
    log,
  );
  // After the tracer: its options checked first; before tracing: a port in use stops here.
  const metrics =
    metricsEndpoint === undefined
      ? undefined
      : await startMetricsEndpoint({ ...defaultMetricsConfig(), endpoint: metricsEndpoint.trim() }, { setting: '--metrics-endpoint', log });
  metrics?.collector.setSource(new KernelCounterSource(tracer.counterAccess()));
  const flushTimer = setInterval(flush, 100);
  const onSignal = (sig: string) => {
    log(`${sig}: stopping`);
    tracer.stop();
  };
  // `watch | head`: once nobody reads the events, stop tracing instead of tracing into the void.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (!stdoutClosed) log('stdout closed: stopping');
    stdoutClosed = true;
    tracer.stop();
  });
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  try {
    const s = await tracer.run();
    flush();
    log(
      `${s.delivered} events from ${s.processes} process(es); probe hits ${s.kernel.hits}, ` +
        `lost ${s.lost}${s.lost > 0n ? ' (ring buffer full: the reader fell behind)' : ''}` +
        (s.kernel.filtered > 0n ? `, filtered in kernel ${s.kernel.filtered}` : '') +
        (s.filteredUser > 0 ? `, filtered ${s.filteredUser}` : '') +
        (s.kernel.spanStarts > 0n ? `; spans started ${s.kernel.spanStarts}, events with a span ${s.kernel.correlated}` : ''),
    );
    return 0;
  } finally {
    clearInterval(flushTimer);
    flush();
    await metrics?.stop();
  }
}
