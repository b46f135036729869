/**
 * Loading the tracer's configuration: a collector-shaped YAML file (docs/configuration.md)
 * with `${env:…}` substitution and the standard OpenTelemetry variables, checked and turned
 * into a TracerConfig (types.ts). Every mistake is a ConfigError whose one-line message says
 * `FILE:LINE:COL: KEY.PATH: what is wrong (how to fix)`.
 *
 *   loadConfigFile(path)       a file (run --config FILE)
 *   loadConfigText(text, src)  text, `src` naming it in messages
 *   defaultConfig()            the embedded default (run without --config)
 *   requireTargets(config)     after the CLI merged --pid/--exe: at least one target
 */
import * as fs from 'node:fs';
import { errnoCode } from '../util/errors';
import { ConfigError } from './errors';
import { loadConfigText, type LoadResult } from './parse';

export { ConfigError } from './errors';
export { loadConfigText, requireTargets, EMBEDDED_SOURCE, type LoadResult } from './parse';
export { defaultConfig, DEFAULT_CONFIG_YAML } from './default';

const READ_HINTS: Record<string, string> = {
  ENOENT: 'pass an existing file to --config',
  EACCES: 'make it readable by the user running the tracer',
  EISDIR: 'pass a file, not a directory, to --config',
};

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): LoadResult {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    const code = errnoCode(err) ?? 'error';
    throw new ConfigError(`cannot read ${path}: ${code} (${READ_HINTS[code] ?? 'pass a readable file to --config'})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return loadConfigText(text, path, env);
}
