/**
 * The `exporters:` section. Each entry's id is `TYPE` or `TYPE/NAME` (as in the collector);
 * EXPORTER_TYPES maps a type to the function that reads its settings.
 */
import type { DebugExporterConfig, ExporterConfig, FileExporterConfig, OtlpExporterConfig, RetryConfig } from './types';
import {
  asBool,
  asChoice,
  asDuration,
  asInt,
  asMap,
  asString,
  describe,
  expected,
  fail,
  failMissing,
  joinPath,
  parseBool,
  readMap,
  warn,
  type CNode,
  type ScalarNode,
} from './tree';
import { envError, isHeaderName, otlpSetting, parseHeaderList, type EnvSetting } from './environment';
import { quote } from './errors';
import { formatDuration } from './duration';

export const EXPORTER_TYPES: Record<string, (node: CNode, id: string) => ExporterConfig> = {
  otlp: readOtlp,
  debug: readDebug,
  file: readFile,
};

export const OTLP_DEFAULTS = {
  compression: 'gzip' as const,
  timeoutMs: 10_000,
  retry: { enabled: true, initialIntervalMs: 5_000, maxIntervalMs: 30_000, maxElapsedMs: 300_000 } satisfies RetryConfig,
  queueSize: 2048,
};

const HOUR = 3_600_000;
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1']);
const ENDPOINT_FORMS = 'an endpoint like "otelcol:4317", "http://otelcol:4317" or "https://otelcol:4317"';

interface Endpoint {
  scheme?: 'http' | 'https';
  host: string;
  port?: number;
}

/** host:port, http://host[:port] or https://host[:port]; a string saying what is wrong otherwise. */
export function parseEndpoint(text: string): Endpoint | string {
  const s = text.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(s);
  if (scheme) {
    const name = scheme[1].toLowerCase();
    if (name !== 'http' && name !== 'https') return `only http:// and https:// URLs or a bare host:port are supported, not ${name}://`;
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      return 'not a valid URL';
    }
    if (!url.hostname) return 'the URL has no host';
    if ((url.pathname && url.pathname !== '/') || url.search || url.hash) {
      return `OTLP/gRPC endpoints have no path: drop "${url.pathname}${url.search}${url.hash}"`;
    }
    return { scheme: name, host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port ? Number(url.port) : undefined };
  }
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(s);
  if (!m) return 'write host:port, http://host:port or https://host:port';
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return 'the port must be from 1 to 65535';
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

/** Without a scheme or an explicit tls.insecure, plain text is used only for this machine. */
export function isLocalHost(host: string): boolean {
  return LOCAL_HOSTS.has(host.toLowerCase());
}

function readOtlp(node: CNode, id: string): OtlpExporterConfig {
  const env = node.src.env;
  let endpointNode: ScalarNode | undefined;
  let endpointText: string | undefined;
  let insecureNode: CNode | undefined;
  let insecure: boolean | undefined;
  const files: Partial<Record<'caFile' | 'certFile' | 'keyFile', { value: string; node: CNode }>> = {};
  const headers: Record<string, string> = {};
  let compression: 'gzip' | 'none' | undefined;
  let timeoutMs: number | undefined;
  const retry: RetryConfig = { ...OTLP_DEFAULTS.retry };
  let initialNode: CNode | undefined;
  let maxNode: CNode | undefined;
  let queueSize = OTLP_DEFAULTS.queueSize;

  const fileReader = (name: 'caFile' | 'certFile' | 'keyFile') => (v: CNode) => {
    files[name] = { value: asString(v, 'a file path'), node: v };
  };

  const map = readMap(node, {
    endpoint: (v) => {
      endpointText = asString(v, ENDPOINT_FORMS).trim();
      endpointNode = v as ScalarNode;
    },
    tls: (v) =>
      readMap(
        v,
        {
          insecure: (x) => {
            insecure = asBool(x);
            insecureNode = x;
          },
          ca_file: fileReader('caFile'),
          cert_file: fileReader('certFile'),
          key_file: fileReader('keyFile'),
        },
        { insecure_skip_verify: 'not supported: give the server\'s CA with ca_file, or use insecure: true for plain text' },
      ),
    headers: (v) => {
      const m = asMap(v, 'a map of header names to values');
      const seen = new Map<string, string>();
      for (const e of m.entries) {
        const name = e.key.toLowerCase();
        if (!isHeaderName(name)) m.src.fail(e.keyAt, joinPath(m.path, e.key), `"${e.key}" is not a valid header name (letters, digits and -_.!#$%&'*+^\`|~ only)`);
        if (seen.has(name)) m.src.fail(e.keyAt, joinPath(m.path, e.key), `same header as "${seen.get(name)}" (header names ignore case; keep one)`);
        seen.set(name, e.key);
        headers[name] = asString(e.value, 'a string', { allowEmpty: true });
      }
    },
    compression: (v) => {
      compression = asChoice(v, ['gzip', 'none'] as const);
    },
    timeout: (v) => {
      timeoutMs = asDuration(v, 1, HOUR);
    },
    retry_on_failure: (v) =>
      readMap(v, {
        enabled: (x) => (retry.enabled = asBool(x)),
        initial_interval: (x) => {
          retry.initialIntervalMs = asDuration(x, 1, HOUR);
          initialNode = x;
        },
        max_interval: (x) => {
          retry.maxIntervalMs = asDuration(x, 1, HOUR);
          maxNode = x;
        },
        max_elapsed_time: (x) => (retry.maxElapsedMs = asDuration(x, 0, 24 * HOUR)),
      }),
    sending_queue: (v) =>
      readMap(
        v,
        { queue_size: (x) => (queueSize = asInt(x, 1, 10_000_000)) },
        { enabled: 'the queue cannot be turned off: set queue_size instead', num_consumers: 'not supported: spans are sent by one consumer' },
      ),
  });

  // Endpoint: the file, else OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT.
  let endpointEnv: EnvSetting | undefined;
  if (endpointText === undefined) {
    endpointEnv = otlpSetting(env, 'ENDPOINT');
    if (!endpointEnv) failMissing(map, 'endpoint', 'required: where the collector listens, e.g. endpoint: otelcol:4317 (or set OTEL_EXPORTER_OTLP_ENDPOINT)');
    endpointText = endpointEnv.value;
  }
  const endpoint = parseEndpoint(endpointText);
  if (typeof endpoint === 'string') {
    if (endpointEnv) envError(endpointEnv, ENDPOINT_FORMS, endpoint);
    return expected(endpointNode!, ENDPOINT_FORMS, endpoint);
  }
  if (endpoint.port === 4318) {
    const message = 'port 4318 is usually OTLP/HTTP; this exporter speaks OTLP/gRPC (usually port 4317)';
    if (endpointNode) warn(endpointNode, message);
    else map.src.warn(map.keyAt, joinPath(map.path, 'endpoint'), `${message} (from ${endpointEnv!.variable})`);
  }

  // TLS: the scheme decides; without one, tls.insecure, else OTEL_EXPORTER_OTLP_INSECURE, else local = plain text.
  const from = endpointEnv ? ` ${quote(endpointText)} from ${endpointEnv.variable}` : '';
  if (endpoint.scheme === 'http') {
    if (insecure === false) fail(insecureNode!, `false contradicts the http:// endpoint${from} (use https:// for TLS, or drop the scheme)`);
    insecure = true;
  } else if (endpoint.scheme === 'https') {
    if (insecure === true) fail(insecureNode!, `true contradicts the https:// endpoint${from} (use http:// for plain text, or drop the scheme)`);
    insecure = false;
  } else if (insecure === undefined) {
    const setting = otlpSetting(env, 'INSECURE');
    if (setting) {
      insecure = parseBool(setting.value);
      if (insecure === undefined) envError(setting, 'true or false', 'fix or unset it');
    } else {
      insecure = isLocalHost(endpoint.host);
    }
  }

  const tls: OtlpExporterConfig['tls'] = { insecure };
  const envFile = (what: string) => otlpSetting(env, what)?.value;
  const caFile = files.caFile?.value ?? envFile('CERTIFICATE');
  const certFile = files.certFile?.value ?? envFile('CLIENT_CERTIFICATE');
  const keyFile = files.keyFile?.value ?? envFile('CLIENT_KEY');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const [has, missing, missingVar] = certFile !== undefined ? (['certFile', 'key_file', 'CLIENT_KEY'] as const) : (['keyFile', 'cert_file', 'CLIENT_CERTIFICATE'] as const);
    const given = files[has];
    const message = `a client certificate needs both cert_file and key_file: set tls.${missing} (or OTEL_EXPORTER_OTLP_${missingVar})`;
    if (given) fail(given.node, message);
    const hasVar = has === 'certFile' ? 'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE' : 'OTEL_EXPORTER_OTLP_CLIENT_KEY';
    map.src.fail(map.keyAt, joinPath(map.path, 'tls'), `${hasVar} is set but not OTEL_EXPORTER_OTLP_${missingVar} (${message})`);
  }
  if (caFile !== undefined) tls.caFile = caFile;
  if (certFile !== undefined) tls.certFile = certFile;
  if (keyFile !== undefined) tls.keyFile = keyFile;
  if (insecure) {
    for (const f of [files.caFile, files.certFile, files.keyFile]) {
      if (f) warn(f.node, 'ignored: this exporter sends plain text (tls.insecure or an http:// endpoint); remove it or turn TLS on');
    }
  }

  // Headers: the file's win over OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, name by name.
  const headerSetting = otlpSetting(env, 'HEADERS');
  const merged = headerSetting ? { ...parseHeaderList(headerSetting), ...headers } : headers;

  if (compression === undefined) {
    const setting = otlpSetting(env, 'COMPRESSION');
    if (setting) {
      const v = setting.value.toLowerCase();
      if (v !== 'gzip' && v !== 'none') envError(setting, 'gzip or none', 'fix or unset it');
      compression = v;
    }
  }
  if (timeoutMs === undefined) {
    const setting = otlpSetting(env, 'TIMEOUT');
    if (setting) {
      if (!/^\d+$/.test(setting.value) || Number(setting.value) < 1 || Number(setting.value) > HOUR) {
        envError(setting, `a whole number of milliseconds from 1 to ${HOUR}`, 'it is in milliseconds, as the OpenTelemetry specification says: 10000 is 10s');
      }
      timeoutMs = Number(setting.value);
    }
  }
  if (retry.initialIntervalMs > retry.maxIntervalMs) {
    if (initialNode) fail(initialNode, `${describe(initialNode)} is longer than max_interval (${formatDuration(retry.maxIntervalMs)}); make it shorter or raise max_interval`);
    fail(maxNode!, `${describe(maxNode!)} is shorter than initial_interval (default ${formatDuration(retry.initialIntervalMs)}); raise it or lower initial_interval`);
  }

  return {
    type: 'otlp',
    id,
    endpoint: endpointText,
    tls,
    headers: merged,
    compression: compression ?? OTLP_DEFAULTS.compression,
    timeoutMs: timeoutMs ?? OTLP_DEFAULTS.timeoutMs,
    retry,
    queueSize,
  };
}

function readDebug(node: CNode, id: string): DebugExporterConfig {
  let verbosity: DebugExporterConfig['verbosity'] = 'basic';
  readMap(node, { verbosity: (v) => (verbosity = asChoice(v, ['basic', 'normal', 'detailed'] as const)) });
  return { type: 'debug', id, verbosity };
}

function readFile(node: CNode, id: string): FileExporterConfig {
  let path: string | undefined;
  const map = readMap(node, { path: (v) => (path = asString(v, 'a file path')) }, {
    rotation: 'not supported: rotate the file with logrotate (copytruncate)',
    format: 'not supported: the file exporter always writes JSON lines',
  });
  if (path === undefined) failMissing(map, 'path', 'required: the file to append JSON lines to, e.g. path: /var/log/map-deletes.jsonl');
  return { type: 'file', id, path };
}
