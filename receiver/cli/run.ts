/**
 * `map-delete-tracer run`: the long-running mode. Traces the configured targets and exports
 * deletes through the configured pipeline (OTLP to a collector, debug lines, a JSON-lines file).
 */
import { Tracer } from '../tracer';
import { ExportPipeline, type PipelineStats } from '../export/pipeline';
import { DEFAULT_CONFIG_YAML, defaultConfig, loadConfigFile, requireTargets } from '../config/load';
import type { TracerConfig } from '../config/types';
import { UserError } from '../util/errors';
import { all, one, parseArgs } from './args';

export const RUN_HELP = `Usage: map-delete-tracer run [--config FILE] [--pid PID ...] [--exe PATH ...]

Traces Go map deletes and exports them as OpenTelemetry spans (OTLP/gRPC), debug lines or JSON
lines, as the config file's service.pipelines.traces says. Without --config, an embedded default
prints readable lines on stdout (see --print-default-config). --pid/--exe add targets to the
config's receivers.mapdelete.targets. Environment: OTEL_EXPORTER_OTLP_* and OTEL_SERVICE_NAME
fill what the file leaves unset; MAP_DELETE_TRACER_SAMPLING_RATE overrides the sampling rate.
Stops on SIGINT/SIGTERM (flushing what it holds) or once every --pid target has exited.

  --config FILE            collector-style YAML config (docs/configuration.md)
  --pid PID                trace this process (repeatable)
  --exe PATH               trace every process of this executable, now and later (repeatable)
  --print-default-config   print the embedded default config and exit`;

function summarize(p: PipelineStats): string {
  const parts = [`${p.received} events`];
  if (p.rateLimited) parts.push(`${p.rateLimited} over the rate ceiling (dropped)`);
  for (const [id, s] of Object.entries(p.exporters)) {
    if ('exportedEvents' in s) {
      parts.push(
        `${id}: ${s.exportedSpans} spans / ${s.exportedEvents} events exported, ${s.droppedEvents} events dropped` +
          (Number(s.queuedEvents) ? `, ${s.queuedEvents} queued` : ''),
      );
    } else {
      parts.push(`${id}: ${s.written} written`);
    }
  }
  return parts.join('; ');
}

export async function runCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(RUN_HELP + '\n');
    return 0;
  }
  const p = parseArgs('run', argv, {
    config: { type: 'string' },
    pid: { type: 'number', repeat: true },
    exe: { type: 'string', repeat: true },
    'print-default-config': { type: 'boolean' },
  });
  if (p.positional.length) throw new UserError(`run: unexpected argument "${p.positional[0]}" (see --help)`);
  if (one<boolean>(p, 'print-default-config')) {
    process.stdout.write(DEFAULT_CONFIG_YAML);
    return 0;
  }
  const log = (line: string) => process.stderr.write(`map-delete-tracer: ${line}\n`);
  const file = one<string>(p, 'config');
  let config: TracerConfig;
  if (file) {
    const loaded = loadConfigFile(file);
    for (const w of loaded.warnings) log(`warning: ${w}`);
    config = loaded.config;
  } else {
    config = defaultConfig();
  }
  const recv = config.receivers.mapdelete;
  recv.pids.push(...all<number>(p, 'pid'));
  recv.executables.push(...all<string>(p, 'exe'));
  requireTargets(config);
  const { pids, executables: exes } = recv;
  const wanted = new Set(config.pipelines.traces.exporters);
  const pipeline = new ExportPipeline(recv, config.exporters.filter((x) => wanted.has(x.id)), log);
  const tracer = new Tracer(
    {
      pids,
      exes,
      captureKeys: recv.captureKeys,
      stackDepth: recv.stackDepth,
      ringBufferBytes: recv.ringBufferBytes,
      sampling: { rate: recv.sampling.rate, keep: recv.sampling.keep },
    },
    (e) => pipeline.consume(e),
    log,
  );
  log(`config: ${config.source}; sampling rate ${recv.sampling.rate}; exporters: ${[...wanted].join(', ')}`);
  const onSignal = (sig: string) => {
    log(`${sig}: stopping`);
    tracer.stop();
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  let lastStatus = '';
  const status = setInterval(() => {
    const line = summarize(pipeline.stats());
    if (line !== lastStatus) log(`status: ${line}`);
    lastStatus = line;
  }, 30_000);
  status.unref();
  try {
    const s = await tracer.run();
    await pipeline.close(5_000);
    log(
      `${s.delivered} deletes from ${s.processes} process(es); probe hits ${s.kernel.hits}, left out by sampling ${s.kernel.unsampled}, ` +
        `lost ${s.lost}; ${summarize(pipeline.stats())}`,
    );
    return 0;
  } finally {
    clearInterval(status);
    await pipeline.close(0).catch(() => undefined);
  }
}
