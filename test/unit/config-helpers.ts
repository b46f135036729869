/** Shared by the config*.test.ts files: load text as "tracer.yaml" and catch ConfigErrors. */
import { strict as assert } from 'node:assert';
import { ConfigError, loadConfigText, type LoadResult } from '../../receiver/config/load';

/** Strips the indentation common to every line, and the first line break. */
export function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = String.raw({ raw: strings }, ...values).replace(/^\n/, '');
  const lines = text.split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

export function load(text: string, env: NodeJS.ProcessEnv = {}): LoadResult {
  return loadConfigText(text, 'tracer.yaml', env);
}

/** The ConfigError loading `text` throws; asserts it is one line. */
export function loadError(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    load(text, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(!/[\r\n]/.test(err.message), `message is not one line: ${JSON.stringify(err.message)}`);
    assert.equal(err.exitCode, 2);
    return err;
  }
  return assert.fail('expected a ConfigError, but the config loaded');
}

/** A valid pipeline section to append to a receivers/exporters snippet. */
export const PIPELINE = yaml`
  service:
    pipelines:
      traces:
        receivers: [mapdelete]
        exporters: [debug]
`;

/** receivers + a debug exporter + pipeline, with `receiver` as the mapdelete settings (indented 4). */
export function withReceiver(receiver: string): string {
  return `receivers:\n  mapdelete:\n${receiver}exporters:\n  debug:\n${PIPELINE}`;
}

/** mapdelete + `exporters` (the section's body, indented 2) + a pipeline using `use`. */
export function withExporters(exporters: string, use: string[]): string {
  return `receivers:\n  mapdelete:\nexporters:\n${exporters}service:\n  pipelines:\n    traces:\n      receivers: [mapdelete]\n      exporters: [${use.join(', ')}]\n`;
}
