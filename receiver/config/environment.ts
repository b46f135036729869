/**
 * The standard variables that fill in what a file leaves unset: OpenTelemetry's
 * `OTEL_EXPORTER_OTLP_*` (the `_TRACES_` variant of each wins over the general one) and
 * `OTEL_SERVICE_NAME`; and the tracer's own `MAP_DELETE_TRACER_SAMPLING_RATE`, which
 * overrides the file. An empty variable counts as unset. A bad value is an error that names
 * the variable (never its value when it may be a secret).
 */
import { ConfigError, quote } from './errors';

export const SAMPLING_RATE_VARIABLE = 'MAP_DELETE_TRACER_SAMPLING_RATE';

export interface EnvSetting {
  /** The variable the value came from. */
  variable: string;
  value: string;
}

function get(env: NodeJS.ProcessEnv, name: string): EnvSetting | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : { variable: name, value: value.trim() };
}

/** `OTEL_EXPORTER_OTLP_TRACES_<what>`, else `OTEL_EXPORTER_OTLP_<what>`. */
export function otlpSetting(env: NodeJS.ProcessEnv, what: string): EnvSetting | undefined {
  return get(env, `OTEL_EXPORTER_OTLP_TRACES_${what}`) ?? get(env, `OTEL_EXPORTER_OTLP_${what}`);
}

export function serviceNameSetting(env: NodeJS.ProcessEnv): EnvSetting | undefined {
  return get(env, 'OTEL_SERVICE_NAME');
}

export function samplingRateSetting(env: NodeJS.ProcessEnv): EnvSetting | undefined {
  return get(env, SAMPLING_RATE_VARIABLE);
}

/**
 * A bad environment value: `VAR: what is wrong (how to fix)`. `shown` is false for variables
 * that may hold secrets.
 */
export function envError(setting: EnvSetting, expectedWhat: string, fix: string, shown = true): never {
  const got = shown ? `, got ${quote(setting.value)}` : '';
  throw new ConfigError(`environment variable ${setting.variable}: expected ${expectedWhat}${got} (${fix})`);
}

/**
 * `OTEL_EXPORTER_OTLP_HEADERS`: `key=value,key2=value2`, values URL-decoded, surrounding
 * spaces ignored. Names are lower-cased (gRPC metadata keys are).
 */
export function parseHeaderList(setting: EnvSetting): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [i, part] of setting.value.split(',').entries()) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (eq < 0 || !isHeaderName(name)) {
      envError(setting, 'a list of name=value pairs separated by commas', `entry ${i + 1} ${eq < 0 ? 'has no "="' : 'has no valid header name'}; fix or unset the variable`, false);
    }
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      envError(setting, 'URL-encoded header values', `the value of "${name}" has a bad %-escape; write % as %25`, false);
    }
    headers[name] = value;
  }
  return headers;
}

/** An HTTP/2 header name (RFC 9110 token). */
export function isHeaderName(name: string): boolean {
  return /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name);
}
