/**
 * `map-delete-tracer run`: the long-running mode. Traces the configured targets and exports
 * deletes through the configured pipeline (OTLP to a collector, debug lines, a JSON-lines file).
 */
import { logVerbosity, setLogVerbosity } from '@grpc/grpc-js';
import { Tracer } from '../tracer';
import type { AttachStats } from '../export/attach-received';
import { ExportPipeline, type PipelineStats } from '../export/pipeline';
import { OtlpGrpcReceiver, type OtlpReceiverStats } from '../otlp/server';
import { DEFAULT_CONFIG_YAML, defaultConfig, loadConfigFile, requireTargets } from '../config/load';
import type { TracerConfig } from '../config/types';
import { UserError } from '../util/errors';
import { all, one, parseArgs } from './args';
import { checkMetricsEndpoint, defaultMetricsConfig } from '../config/metrics';
import { KernelCounterSource } from '../metrics/kernel-source';
import { startMetricsEndpoint } from '../metrics/endpoint';
import type { MetricsServer } from '../metrics/server';
import { alertCounting, createAlerting, type AlertEngine } from '../alerts';
import { compileRedactor } from '../events/redact';

export const RUN_HELP = `Usage: map-delete-tracer run [--config FILE] [--pid PID ...] [--exe PATH ...] [--metrics-endpoint HOST:PORT]

Traces Go map deletes and exports them as OpenTelemetry spans (OTLP/gRPC), debug lines or JSON
lines, as the config file's service.pipelines.traces says. With the otlp receiver in that
pipeline, it also receives OTLP/gRPC traces and forwards them to its otlp exporters
(docs/otlp-receiver.md). Without --config, an embedded default
prints readable lines on stdout (see --print-default-config). --pid/--exe add targets to the
config's receivers.mapdelete.targets. Environment: OTEL_EXPORTER_OTLP_* and OTEL_SERVICE_NAME
fill what the file leaves unset; MAP_DELETE_TRACER_SAMPLING_RATE overrides the sampling rate.
Stops on SIGINT/SIGTERM (flushing what it holds) or once every --pid target has exited.

  --config FILE            collector-style YAML config (docs/configuration.md)
  --pid PID                trace this process (repeatable)
  --exe PATH               trace every process of this executable, now and later (repeatable)
  --metrics-endpoint HOST:PORT
                           serve exact delete counts for Prometheus at http://HOST:PORT/metrics
                           (overrides the config's metrics.endpoint; docs/metrics.md)
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
  if (p.attach) parts.push(summarizeAttach(p.attach));
  return parts.join('; ');
}

/** Pipeline-stage attaching: deletes added to received spans, and those exported on their own, by why. */
function summarizeAttach(a: AttachStats): string {
  const own = [`${a.expired} after delete_wait`, `${a.late} late`, `${a.overflow} over max_pending_events`];
  if (a.tooLarge) own.push(`${a.tooLarge} too large for the request`);
  if (a.failed) own.push(`${a.failed} failed to attach`);
  if (a.atClose) own.push(`${a.atClose} at exit`);
  return `attached ${a.attachedEvents} deletes to ${a.attachedSpans} received spans${a.pendingEvents ? ` (${a.pendingEvents} waiting)` : ''}, on their own: ${own.join(', ')}`;
}

/** The otlp receiver's part of the summary: requests received, forwarded, refused. */
function summarizeReceiver(s: OtlpReceiverStats): string {
  const answered = Object.entries(s.statuses);
  const ok = answered.filter(([name]) => name === 'OK').reduce((n, [, c]) => n + c, 0);
  const refused = answered.filter(([name]) => name !== 'OK').reduce((n, [, c]) => n + c, 0) + s.endedByTransport;
  const why = answered.filter(([name, c]) => name !== 'OK' && c > 0).map(([name, c]) => `${c} ${name}`);
  if (s.endedByTransport) why.push(`${s.endedByTransport} ended by gRPC or the sender`);
  return `otlp receiver: ${ok + refused} requests received, ${ok} forwarded, ${refused} refused${why.length ? ` (${why.join(', ')})` : ''}`;
}

/** grpc-js's log level as GRPC_VERBOSITY sets it (its default: errors). */
function grpcVerbosity(): logVerbosity {
  const v = (process.env.GRPC_VERBOSITY ?? '').toUpperCase();
  return v === 'DEBUG' ? logVerbosity.DEBUG : v === 'INFO' ? logVerbosity.INFO : v === 'NONE' ? logVerbosity.NONE : logVerbosity.ERROR;
}

/** Starts the otlp receiver; a failure to listen is one line that says which setting to change. */
async function startReceiver(rx: OtlpGrpcReceiver, endpoint: string): Promise<void> {
  // grpc-js logs its own multi-line account of a failed bind; the UserError below says it all.
  setLogVerbosity(logVerbosity.NONE);
  try {
    await rx.start();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const why = /EADDRINUSE/.test(msg)
      ? 'address in use'
      : /EADDRNOTAVAIL/.test(msg)
        ? 'address not available on this host'
        : /EACCES/.test(msg)
          ? 'permission denied'
          : msg.replace(/^OTLP receiver cannot listen on \S+: /, '');
    throw new UserError(`receivers.otlp: cannot listen on ${endpoint}: ${why} (set receivers.otlp.protocols.grpc.endpoint)`);
  } finally {
    setLogVerbosity(grpcVerbosity());
  }
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
    'metrics-endpoint': { type: 'string' },
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
  const metricsFlag = one<string>(p, 'metrics-endpoint');
  if (metricsFlag !== undefined) {
    const bad = checkMetricsEndpoint(metricsFlag);
    if (bad) throw new UserError(`run: --metrics-endpoint: ${bad}`);
    config.metrics = { ...(config.metrics ?? defaultMetricsConfig()), enabled: true, endpoint: metricsFlag.trim() };
  }
  const wanted = new Set(config.pipelines.traces.exporters);
  // The otlp receiver runs only when the pipeline lists it (parse.ts warns when it does not).
  const otlpConfig = config.pipelines.traces.receivers.includes('otlp') ? config.receivers.otlp : undefined;
  const pipeline = new ExportPipeline(recv, config.exporters.filter((x) => wanted.has(x.id)), log, otlpConfig);
  let otlp: OtlpGrpcReceiver | undefined;
  let metrics: MetricsServer | undefined;
  try {
    if (config.metrics?.enabled) {
      const setting = metricsFlag !== undefined ? '--metrics-endpoint' : 'metrics.endpoint';
      metrics = await startMetricsEndpoint(config.metrics, { setting, log, exporters: config.exporters });
      metrics.collector.setExportStats(() => pipeline.stats());
    }
    if (otlpConfig) {
      const g = otlpConfig.grpc;
      otlp = new OtlpGrpcReceiver(
        { endpoint: g.endpoint, maxRecvMsgSizeBytes: g.maxRecvMsgSizeBytes, maxInflightRequests: g.maxInflightRequests, maxInflightBytes: g.maxInflightBytes, tls: g.tls, log },
        (req) => pipeline.consumeTraces(req),
      );
      await startReceiver(otlp, g.endpoint);
    }
    return await trace(config, pipeline, otlp, log, metrics);
  } finally {
    await metrics?.stop().catch(() => undefined);
    await otlp?.shutdown(0).catch(() => undefined);
    await pipeline.close(0).catch(() => undefined);
  }
}

async function trace(
  config: TracerConfig,
  pipeline: ExportPipeline,
  otlp: OtlpGrpcReceiver | undefined,
  log: (line: string) => void,
  metrics?: MetricsServer,
): Promise<number> {
  const recv = config.receivers.mapdelete;
  const { pids, executables: exes } = recv;
  const wanted = config.pipelines.traces.exporters;
  // Alert rules (docs/alerts.md) read the same counters as the metrics endpoint, and take events.
  const alertNeeds = config.alerts?.rules.length ? alertCounting(config.alerts) : undefined;
  let alerting: AlertEngine | undefined;
  if (!recv.events) {
    if (!metrics && !alertNeeds) {
      throw new UserError(`${config.source}: receivers.mapdelete.events is false but there is no metrics: or alerts: section, so nothing would be recorded (add one, or remove events: false)`);
    }
    const watched = config.alerts?.rules.find((r) => r.condition.kind === 'watched_keys');
    if (watched) throw new UserError(`${config.source}: alert ${watched.name} watches keys, which needs the deletes themselves, but receivers.mapdelete.events is false (remove events: false or the rule)`);
  }
  const tracer = new Tracer(
    {
      pids,
      exes,
      captureKeys: recv.captureKeys,
      redactKey: compileRedactor(recv.redactKeys),
      stackDepth: recv.stackDepth,
      ringBufferBytes: recv.ringBufferBytes,
      sampling: { rate: recv.sampling.rate, keep: recv.sampling.keep },
      correlation: recv.spans.enabled && recv.events ? { inheritance: recv.spans.inheritance } : undefined,
      events: recv.events,
      counting:
        metrics || alertNeeds
          ? { keys: alertNeeds?.keys ?? false, timing: metrics ? config.metrics!.timing : false, keepClears: alertNeeds?.keepClears ?? false, watchKeys: alertNeeds?.watchKeys ?? [], watchKeyHashes: alertNeeds?.watchKeyHashes }
          : undefined,
    },
    (e) => {
      alerting?.observe(e);
      pipeline.consume(e);
    },
    log,
  );
  // One source for both: it keeps the final counts of exited processes once read.
  const counters = metrics || alertNeeds ? new KernelCounterSource(tracer.counterAccess(), recv.serviceName, metrics ? config.metrics!.timing : false) : undefined;
  if (counters) metrics?.collector.setSource(counters);
  if (config.alerts) alerting = createAlerting(config.alerts, { source: counters, serviceName: recv.serviceName, log });
  log(`config: ${config.source}; sampling rate ${recv.sampling.rate}; exporters: ${wanted.join(', ')}${otlp ? `; forwarding OTLP/gRPC traces received on ${otlp.address()}${config.receivers.otlp?.attach.enabled ? ', deletes attached to their spans' : ''}` : ''}`);
  const onSignal = (sig: string) => {
    log(`${sig}: stopping`);
    tracer.stop();
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  let lastStatus = '';
  const status = setInterval(() => {
    const line = summarize(pipeline.stats()) + (otlp ? `; ${summarizeReceiver(otlp.stats)}` : '') + (alerting ? `; ${alerting.summary()}` : '');
    if (line !== lastStatus) log(`status: ${line}`);
    lastStatus = line;
  }, 30_000);
  status.unref();
  alerting?.start();
  try {
    const s = await tracer.run();
    await alerting?.stop(5_000);
    // The receiver first: it stops taking requests and lets those in flight be forwarded.
    await otlp?.shutdown(5_000);
    await pipeline.close(5_000);
    log(
      `${s.delivered} deletes from ${s.processes} process(es); probe hits ${s.kernel.hits}, left out by sampling ${s.kernel.unsampled}, ` +
        `lost ${s.lost}; ${summarize(pipeline.stats())}${otlp ? `; ${summarizeReceiver(otlp.stats)}` : ''}${alerting ? `; ${alerting.summary()}` : ''}`,
    );
    return 0;
  } finally {
    clearInterval(status);
    await alerting?.stop(0);
  }
}
