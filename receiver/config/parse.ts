/**
 * From configuration text to TracerConfig: the top-level sections, component ids, the
 * pipeline's references, and the checks that span sections.
 */
import type { ExporterConfig, TracerConfig } from './types';
import { ConfigError } from './errors';
import { EXPORTER_TYPES } from './exporters';
import { RECEIVER_TYPES, REQUIRED_RECEIVERS } from './receivers';
import { readMetrics } from './metrics';
import { readAlerts } from './alerts';
import { didYouMean } from './suggest';
import { asList, asMap, asString, fail, failMissing, joinPath, readMap, readYaml, type CNode, type MapNode, type Source } from './tree';

export interface LoadResult {
  config: TracerConfig;
  /** Things that work but are probably not what was meant, each `FILE:LINE:COL: KEY.PATH: …`. */
  warnings: string[];
}

type Receivers = TracerConfig['receivers'];

/** Where the configuration says what to trace: for requireTargets' message. */
const targetsLocation = new WeakMap<object, string>();

const NO_PROCESSORS = 'this tracer has no processors: sampling and filters are set under receivers.mapdelete.sampling';

export function loadConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): LoadResult {
  const { src, root } = readYaml(source, text, env);
  const sections: Partial<Record<'receivers' | 'exporters' | 'service', CNode>> = {};
  let metrics: TracerConfig['metrics'];
  let alerts: TracerConfig['alerts'];
  const top = readMap(
    root,
    {
      receivers: (v) => (sections.receivers = v),
      exporters: (v) => (sections.exporters = v),
      service: (v) => (sections.service = v),
      metrics: (v) => (metrics = readMetrics(v)),
      alerts: (v) => (alerts = readAlerts(v)),
    },
    {
      processors: NO_PROCESSORS,
      extensions: 'extensions are not supported',
      connectors: 'connectors are not supported',
      prometheus: 'the Prometheus endpoint is configured under metrics:, see docs/metrics.md',
    },
    'a map with receivers, exporters and service',
  );

  const receivers = readReceivers(src, top, sections.receivers);
  const exporters = readExporters(top, sections.exporters);
  const pipeline = readPipeline(src, top, sections.service, receivers.defined, exporters);

  const config: TracerConfig = {
    source,
    receivers: receivers.configs,
    exporters: pipeline.exporters.map((id) => exporters.get(id)!.config),
    pipelines: { traces: { receivers: pipeline.receivers, exporters: pipeline.exporters } },
    ...(metrics ? { metrics } : {}),
    ...(alerts ? { alerts } : {}),
  };
  targetsLocation.set(config, receivers.targetsAt);
  targetsLocation.set(config.receivers.mapdelete, receivers.targetsAt);
  return { config, warnings: [...src.warnings] };
}

/** `otlp/primary` → type `otlp`, name `primary`. */
function splitId(map: MapNode, key: string, keyAt: number, kind: string): { type: string; name?: string } {
  const slash = key.indexOf('/');
  if (slash < 0) return { type: key };
  const name = key.slice(slash + 1);
  if (name === '' || /\s/.test(name)) {
    map.src.fail(keyAt, joinPath(map.path, key), `"${key}" is not a valid ${kind} id (write TYPE or TYPE/NAME, NAME without spaces)`);
  }
  return { type: key.slice(0, slash), name };
}

function readReceivers(src: Source, top: MapNode, node: CNode | undefined) {
  if (!node) failMissing(top, 'receivers', 'required: add a receivers section with mapdelete: (see config/minimal.yaml)');
  const map = asMap(node, 'a map of receivers');
  const configs: Partial<Receivers> = {};
  const defined = new Map<string, number>();
  let targetsAt = `${src.name}: receivers.mapdelete.targets`;
  const types = Object.keys(RECEIVER_TYPES);
  for (const entry of map.entries) {
    const where = joinPath(map.path, entry.key);
    const { type, name } = splitId(map, entry.key, entry.keyAt, 'receiver');
    if (!Object.prototype.hasOwnProperty.call(RECEIVER_TYPES, type)) {
      src.fail(entry.keyAt, where, `unknown receiver type "${type}"${didYouMean(type, types, ` (this version has: ${types.join(', ')})`)}`);
    }
    if (name !== undefined) src.fail(entry.keyAt, where, `only one ${type} receiver is supported (name it "${type}")`);
    const read = RECEIVER_TYPES[type as keyof Receivers];
    (configs as Record<string, unknown>)[type] = read(entry.value, entry.key);
    defined.set(entry.key, entry.keyAt);
    if (type === 'mapdelete') {
      const targets = entry.value.kind === 'map' ? entry.value.entries.find((e) => e.key === 'targets') : undefined;
      const { line, col } = src.position(targets ? targets.keyAt : entry.keyAt);
      targetsAt = `${src.name}:${line}:${col}: receivers.mapdelete.targets`;
    }
  }
  for (const required of REQUIRED_RECEIVERS) {
    if (!configs[required]) failMissing(map, required, `required: add the ${required} receiver (an empty "${required}:" takes every default)`);
  }
  return { configs: configs as Receivers, defined, targetsAt };
}

function readExporters(top: MapNode, node: CNode | undefined) {
  if (!node) failMissing(top, 'exporters', 'required: add an exporters section, e.g. debug: (prints spans) or otlp: { endpoint: otelcol:4317 }');
  const map = asMap(node, 'a map of exporters');
  const defined = new Map<string, { config: ExporterConfig; keyAt: number }>();
  const types = Object.keys(EXPORTER_TYPES);
  for (const entry of map.entries) {
    const where = joinPath(map.path, entry.key);
    const { type } = splitId(map, entry.key, entry.keyAt, 'exporter');
    if (!Object.prototype.hasOwnProperty.call(EXPORTER_TYPES, type)) {
      const hint =
        type === 'otlp_grpc'
          ? ' (the OTLP/gRPC exporter is called "otlp" here)'
          : type === 'otlphttp' || type === 'otlp_http'
            ? ' (only OTLP over gRPC is supported: use "otlp" with the collector\'s gRPC port, usually 4317)'
            : didYouMean(type, types, ` (expected one of: ${types.join(', ')})`);
      map.src.fail(entry.keyAt, where, `unknown exporter type "${type}"${hint}`);
    }
    const config = EXPORTER_TYPES[type](entry.value, entry.key);
    if (config.type === 'file') {
      for (const [otherId, other] of defined) {
        if (other.config.type === 'file' && other.config.path === config.path) {
          map.src.fail(entry.keyAt, joinPath(where, 'path'), `same file as exporters.${otherId} (give each file exporter its own path)`);
        }
      }
    }
    defined.set(entry.key, { config, keyAt: entry.keyAt });
  }
  return defined;
}

function readPipeline(
  src: Source,
  top: MapNode,
  node: CNode | undefined,
  receivers: Map<string, number>,
  exporters: Map<string, { config: ExporterConfig; keyAt: number }>,
): { receivers: string[]; exporters: string[] } {
  const missing = 'required: add service: pipelines: traces: with receivers: [mapdelete] and exporters: [...]';
  if (!node) src.fail(top.keyAt, 'service.pipelines.traces', missing);
  const found: { pipelines?: CNode; traces?: CNode; receivers?: string[]; receiversNode?: CNode; exporters?: string[] } = {};
  const service = readMap(
    node,
    { pipelines: (v) => (found.pipelines = v) },
    { telemetry: 'not supported: the tracer reports its own state on stderr', extensions: 'extensions are not supported' },
  );
  const pipelines = found.pipelines;
  if (!pipelines) src.fail(service.keyAt, 'service.pipelines.traces', missing);
  const hints: Record<string, string> = { metrics: 'this tracer only produces traces: use traces', logs: 'this tracer only produces traces: use traces' };
  if (pipelines.kind === 'map') {
    for (const e of pipelines.entries) if (e.key.startsWith('traces/')) hints[e.key] = 'only one traces pipeline is supported: name it "traces"';
  }
  const pipelinesMap = readMap(pipelines, { traces: (v) => (found.traces = v) }, hints, 'a map of pipelines');
  const traces = found.traces;
  if (!traces) src.fail(pipelinesMap.keyAt, 'service.pipelines.traces', missing);

  const tracesMap = readMap(
    traces,
    {
      receivers: (v) => {
        found.receivers = readIds(v, 'receiver', receivers);
        found.receiversNode = v;
      },
      exporters: (v) => (found.exporters = readIds(v, 'exporter', exporters)),
    },
    { processors: NO_PROCESSORS },
  );
  const receiverIds = found.receivers;
  const exporterIds = found.exporters;
  if (!receiverIds) failMissing(tracesMap, 'receivers', 'required: receivers: [mapdelete]');
  if (!exporterIds) failMissing(tracesMap, 'exporters', `required: list the exporters to use, e.g. exporters: [${[...exporters.keys()][0] ?? 'debug'}]`);

  if (receiverIds.includes('otlp') && !exporterIds.some((id) => exporters.get(id)!.config.type === 'otlp')) {
    fail(found.receiversNode!, 'the otlp receiver forwards received traces to the otlp exporters of the pipeline, and service.pipelines.traces.exporters has none (add an otlp exporter there, or remove otlp from the receivers)');
  }
  for (const [id, keyAt] of receivers) {
    if (!receiverIds.includes(id)) src.warn(keyAt, `receivers.${id}`, 'defined but not used in service.pipelines.traces.receivers, so it is not started (add it there or remove it)');
  }
  for (const [id, { keyAt }] of exporters) {
    if (!exporterIds.includes(id)) src.warn(keyAt, `exporters.${id}`, 'defined but not used in service.pipelines.traces.exporters, so it is not started (add it there or remove it)');
  }
  return { receivers: receiverIds, exporters: exporterIds };
}

function readIds(node: CNode, kind: 'receiver' | 'exporter', defined: Map<string, unknown>): string[] {
  const items = asList(node, `${kind} ids`);
  if (items.length === 0) fail(node, `expected at least one ${kind} (e.g. [${[...defined.keys()][0] ?? (kind === 'receiver' ? 'mapdelete' : 'debug')}])`);
  const ids: string[] = [];
  for (const item of items) {
    const id = asString(item, `a ${kind} id`).trim();
    if (!defined.has(id)) {
      const known = [...defined.keys()];
      const hint = didYouMean(id, known, known.length ? ` (defined: ${known.join(', ')})` : ` (add it under ${kind}s:)`);
      fail(item, `${kind} "${id}" is not defined under ${kind}s:${hint}`);
    }
    if (ids.includes(id)) fail(item, `${kind} "${id}" is listed twice (keep one)`);
    ids.push(id);
  }
  return ids;
}

/**
 * Fails unless the mapdelete receiver has something to trace. Targets may come from the file
 * or from `run --pid/--exe`, so the CLI calls this after merging its flags into the config.
 */
export function requireTargets(config: TracerConfig): void {
  const r = config.receivers.mapdelete;
  if (r.pids.length > 0 || r.executables.length > 0) return;
  if (config.source === EMBEDDED_SOURCE) {
    throw new ConfigError('run: no process to trace (pass --pid PID or --exe PATH, or a --config file that lists receivers.mapdelete.targets)');
  }
  const where = targetsLocation.get(r) ?? targetsLocation.get(config) ?? `${config.source}: receivers.mapdelete.targets`;
  throw new ConfigError(`${where}: no process to trace (list pids or executables under receivers.mapdelete.targets, or pass --pid PID or --exe PATH)`);
}

/** TracerConfig.source of the embedded default. */
export const EMBEDDED_SOURCE = '<embedded default>';
