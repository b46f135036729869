/**
 * The top-level `metrics:` section: the Prometheus endpoint (docs/metrics.md). Present (and not
 * `enabled: false`), `run` serves the in-kernel counters at http://ENDPOINT/PATH; absent, no
 * endpoint runs unless `run --metrics-endpoint HOST:PORT` asks for one.
 */
import type { MetricsConfig } from './types';
import { asBool, asInt, asString, expected, readMap, type CNode } from './tree';
import { parseEndpoint } from '../otlp/server';

export const METRICS_DEFAULTS: Omit<MetricsConfig, 'enabled'> & { enabled: true } = {
  enabled: true,
  // Loopback unless configured: the counts name the service's code (files, lines, map types).
  endpoint: '127.0.0.1:9464',
  path: '/metrics',
  maxCallSites: 500,
  maxMapTypes: 100,
  maxMaps: 20,
  timing: false,
};

export const METRICS_LIMITS = {
  maxCallSites: 100_000,
  maxMapTypes: 10_000,
  maxMaps: 10_000,
};

const ENDPOINT_WHAT = 'host:port like 127.0.0.1:9464, 0.0.0.0:9464, [::]:9464 or :9464 (every interface)';

/** The metrics settings with every default: what `--metrics-endpoint` starts from without a section. */
export function defaultMetricsConfig(): MetricsConfig {
  return { ...METRICS_DEFAULTS };
}

/** Checks a `--metrics-endpoint` value; the message names the flag. */
export function checkMetricsEndpoint(value: string): string | undefined {
  const s = value.trim();
  if (s.includes('://')) return `expected ${ENDPOINT_WHAT}, got "${value}" (write host:port without a scheme)`;
  if (s.includes('/')) return `expected ${ENDPOINT_WHAT}, got "${value}" (the path is metrics.path in the config file, /metrics by default)`;
  try {
    parseEndpoint(s);
  } catch {
    return `expected ${ENDPOINT_WHAT}, got "${value}"`;
  }
  return undefined;
}

export function readMetrics(node: CNode): MetricsConfig {
  const cfg = defaultMetricsConfig();
  const renamed = (to: string) => `did you mean "${to}"?`;
  const hostPort = 'write endpoint: HOST:PORT, e.g. endpoint: 0.0.0.0:9464';
  readMap(
    node,
    {
      enabled: (v) => (cfg.enabled = asBool(v)),
      endpoint: (v) => {
        if (v.kind === 'scalar' && (typeof v.value === 'number' || typeof v.value === 'bigint')) {
          expected(v, ENDPOINT_WHAT, `for every interface on that port, write ":${v.raw.trim()}"`);
        }
        const s = asString(v, ENDPOINT_WHAT).trim();
        if (s.includes('://')) expected(v, ENDPOINT_WHAT, 'write host:port without a scheme');
        if (s.includes('/')) expected(v, ENDPOINT_WHAT, 'put the path under metrics.path');
        try {
          parseEndpoint(s);
        } catch {
          expected(v, ENDPOINT_WHAT);
        }
        cfg.endpoint = s;
      },
      path: (v) => {
        const s = asString(v, 'a URL path like /metrics').trim();
        if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(s)) {
          expected(v, 'a URL path like /metrics', s.startsWith('/') ? 'no spaces, "?" or "#"' : `start it with "/": /${s}`);
        }
        cfg.path = s;
      },
      max_call_sites: (v) => (cfg.maxCallSites = asInt(v, 1, METRICS_LIMITS.maxCallSites)),
      max_map_types: (v) => (cfg.maxMapTypes = asInt(v, 1, METRICS_LIMITS.maxMapTypes)),
      max_maps: (v) => (cfg.maxMaps = asInt(v, 0, METRICS_LIMITS.maxMaps)),
      timing: (v) => (cfg.timing = asBool(v)),
    },
    {
      top_call_sites: renamed('max_call_sites'),
      call_sites: renamed('max_call_sites'),
      top_maps: renamed('max_maps'),
      maps: renamed('max_maps'),
      top_map_types: renamed('max_map_types'),
      map_types: renamed('max_map_types'),
      port: hostPort,
      host: hostPort,
      address: hostPort,
      listen: hostPort,
      duration_histogram: 'did you mean "timing"? (it turns on the go_map_delete_duration_seconds histogram)',
      prometheus: 'the settings go directly under metrics:, e.g. metrics: { endpoint: 0.0.0.0:9464 }',
    },
    'a map of metrics settings (endpoint, path, max_call_sites, max_map_types, max_maps, timing, enabled)',
  );
  return cfg;
}
