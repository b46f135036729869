/** Loading valid configurations: values, defaults, ids, warnings, shipped files, targets. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ConfigError,
  DEFAULT_CONFIG_YAML,
  EMBEDDED_SOURCE,
  defaultConfig,
  loadConfigFile,
  loadConfigText,
  requireTargets,
} from '../../receiver/config/load';
import * as defaults from '../../receiver/config/default';
import type { OtlpExporterConfig } from '../../receiver/config/types';
import { load, loadError, withExporters, withReceiver, yaml } from './config-helpers';

const ROOT = path.resolve(__dirname, '..', '..', '..');

const FULL = yaml`
  receivers:
    mapdelete:
      targets:
        pids: [1234, 99, 1234]
        executables: [/usr/local/bin/app]
      capture_keys: true
      stack_depth: 8
      sampling:
        rate: 0.25
        keep:
          keys: ["sess-1", 42, 0x2A, -7, 18446744073709551615, ""]
          map_types: ["map[string]*main.Session"]
          callers: ["main.(*Store).Expire", "store.go:57"]
      max_events_per_second: 100
      ring_buffer_bytes: 65536
      grouping_window: 1m30s
      service_name: checkout
      spans: { enabled: false, inheritance: return }
  exporters:
    otlp:
      endpoint: otelcol:4317
      tls: { insecure: false, ca_file: /etc/ca.pem, cert_file: /etc/c.pem, key_file: /etc/k.pem }
      headers: { X-API-Key: "secret", x-empty: "" }
      compression: none
      timeout: 2500ms
      retry_on_failure: { enabled: false, initial_interval: 1s, max_interval: 1m, max_elapsed_time: 0 }
      sending_queue: { queue_size: 10 }
    debug/verbose:
      verbosity: detailed
    file:
      path: /var/log/map-deletes.jsonl
  service:
    pipelines:
      traces:
        receivers: [mapdelete]
        exporters: [file, otlp, debug/verbose]
`;

describe('config: loading a complete file', () => {
  const { config, warnings } = load(FULL);

  it('reads every receiver setting', () => {
    assert.deepEqual(config.receivers.mapdelete, {
      pids: [1234, 99],
      executables: ['/usr/local/bin/app'],
      captureKeys: true,
      redactKeys: [],
      stackDepth: 8,
      sampling: {
        rate: 0.25,
        keep: {
          keys: ['sess-1', '42', '42', '-7', '18446744073709551615', ''],
          mapTypes: ['map[string]*main.Session'],
          callers: ['main.(*Store).Expire', 'store.go:57'],
        },
      },
      maxEventsPerSecond: 100,
      ringBufferBytes: 65536,
      groupingWindowMs: 90_000,
      serviceName: 'checkout',
      spans: { enabled: false, inheritance: 'return' },
      events: true,
    });
  });

  it('reads every exporter setting, in pipeline order, with their ids', () => {
    assert.deepEqual(config.exporters, [
      { type: 'file', id: 'file', path: '/var/log/map-deletes.jsonl' },
      {
        type: 'otlp',
        id: 'otlp',
        endpoint: 'otelcol:4317',
        tls: { insecure: false, caFile: '/etc/ca.pem', certFile: '/etc/c.pem', keyFile: '/etc/k.pem' },
        headers: { 'x-api-key': 'secret', 'x-empty': '' },
        compression: 'none',
        timeoutMs: 2500,
        retry: { enabled: false, initialIntervalMs: 1000, maxIntervalMs: 60_000, maxElapsedMs: 0 },
        queueSize: 10,
      },
      { type: 'debug', id: 'debug/verbose', verbosity: 'detailed' },
    ]);
    assert.deepEqual(config.pipelines, { traces: { receivers: ['mapdelete'], exporters: ['file', 'otlp', 'debug/verbose'] } });
    assert.equal(config.source, 'tracer.yaml');
    assert.deepEqual(warnings, []);
  });
});

describe('config: defaults', () => {
  it('an empty mapdelete receiver takes every default', () => {
    const r = load(withReceiver('')).config.receivers.mapdelete;
    assert.deepEqual(r, {
      pids: [],
      executables: [],
      captureKeys: false,
      redactKeys: [],
      stackDepth: 16,
      sampling: { rate: 1.0, keep: { keys: [], mapTypes: [], callers: [] } },
      maxEventsPerSecond: 5000,
      ringBufferBytes: 16 * 1024 * 1024,
      groupingWindowMs: 1000,
      spans: { enabled: true, inheritance: 'creation' },
      events: true,
    });
    assert.ok(!('serviceName' in r));
  });

  it('an otlp exporter with only an endpoint', () => {
    const [otlp] = load(withExporters('  otlp:\n    endpoint: otelcol:4317\n', ['otlp'])).config.exporters;
    assert.deepEqual(otlp, {
      type: 'otlp',
      id: 'otlp',
      endpoint: 'otelcol:4317',
      tls: { insecure: false },
      headers: {},
      compression: 'gzip',
      timeoutMs: 10_000,
      retry: { enabled: true, initialIntervalMs: 5000, maxIntervalMs: 30_000, maxElapsedMs: 300_000 },
      queueSize: 2048,
    });
  });

  it('an empty debug exporter is basic', () => {
    assert.deepEqual(load(withExporters('  debug:\n', ['debug'])).config.exporters, [{ type: 'debug', id: 'debug', verbosity: 'basic' }]);
  });
});

describe('config: values', () => {
  it('durations are Go-style and come out in milliseconds', () => {
    const cases: [string, number][] = [
      ['500ms', 500],
      ['1s', 1000],
      ['1.5s', 1500],
      ['1m30s', 90_000],
      ['5m', 300_000],
      ['1h', 3_600_000],
      ['2500us', 3], // rounded to a whole millisecond
      ['"250ms"', 250],
    ];
    for (const [text, ms] of cases) {
      assert.equal(load(withReceiver(`    grouping_window: ${text}\n`)).config.receivers.mapdelete.groupingWindowMs, ms, text);
    }
  });

  it('max_elapsed_time accepts 0 (never give up)', () => {
    for (const zero of ['0', '0s']) {
      const [otlp] = load(withExporters(`  otlp:\n    endpoint: otelcol:4317\n    retry_on_failure: { max_elapsed_time: ${zero} }\n`, ['otlp'])).config.exporters as OtlpExporterConfig[];
      assert.equal(otlp.retry.maxElapsedMs, 0);
    }
  });

  it('integral floats are integers; rate 1 is fine', () => {
    const r = load(withReceiver('    stack_depth: 16.0\n    sampling: { rate: 1 }\n')).config.receivers.mapdelete;
    assert.equal(r.stackDepth, 16);
    assert.equal(r.sampling.rate, 1);
  });

  it('resolves anchors and aliases', () => {
    const text = yaml`
      receivers:
        mapdelete:
          targets: { pids: &pids [7, 8] }
          sampling:
            keep:
              keys: *pids
      exporters:
        file/a: &f { path: /tmp/a.jsonl }
        debug:
      service:
        pipelines:
          traces:
            receivers: [mapdelete]
            exporters: [debug, file/a]
    `;
    const { config } = load(text);
    assert.deepEqual(config.receivers.mapdelete.sampling.keep.keys, ['7', '8']);
    assert.deepEqual(config.receivers.mapdelete.pids, [7, 8]);
  });

  it('named exporters of every type', () => {
    const { config } = load(
      withExporters(
        '  otlp/a: { endpoint: "a:4317" }\n  otlp/b: { endpoint: "b:4317" }\n  debug/x:\n  file/y: { path: /tmp/y.jsonl }\n',
        ['otlp/a', 'otlp/b', 'debug/x', 'file/y'],
      ),
    );
    assert.deepEqual(
      config.exporters.map((e) => `${e.type} ${e.id}`),
      ['otlp otlp/a', 'otlp otlp/b', 'debug debug/x', 'file file/y'],
    );
  });
});

describe('config: warnings', () => {
  it('an exporter no pipeline uses is a warning, and is left out', () => {
    const { config, warnings } = load(withExporters('  debug:\n  file:\n    path: /tmp/x.jsonl\n', ['debug']));
    assert.deepEqual(config.exporters.map((e) => e.id), ['debug']);
    assert.deepEqual(warnings, [
      'tracer.yaml:5:3: exporters.file: defined but not used in service.pipelines.traces.exporters, so it is not started (add it there or remove it)',
    ]);
  });

  it('the OTLP/HTTP port', () => {
    const { warnings } = load(withExporters('  otlp:\n    endpoint: otelcol:4318\n', ['otlp']));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^tracer\.yaml:5:15: exporters\.otlp\.endpoint: port 4318 is usually OTLP\/HTTP/);
  });

  it('certificate files with TLS off', () => {
    const { warnings } = load(withExporters('  otlp:\n    endpoint: http://otelcol:4317\n    tls: { ca_file: /etc/ca.pem }\n', ['otlp']));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^tracer\.yaml:6:21: exporters\.otlp\.tls\.ca_file: ignored: this exporter sends plain text/);
  });

  it('YAML warnings, with their place', () => {
    const { config, warnings } = load(withReceiver('    service_name: !custom checkout\n'));
    assert.equal(config.receivers.mapdelete.serviceName, 'checkout');
    assert.deepEqual(warnings, ['tracer.yaml:3:19: YAML: Unresolved tag: !custom']);
  });

  it('warnings are one line each', () => {
    const { warnings } = load(withExporters('  debug:\n  debug/2:\n  file: { path: /tmp/x }\n', ['debug']));
    assert.equal(warnings.length, 2);
    for (const w of warnings) assert.ok(!/\n/.test(w));
  });
});

describe('config: targets', () => {
  it('a config without targets loads (the CLI may supply them)', () => {
    const { config } = load(withReceiver(''));
    assert.deepEqual(config.receivers.mapdelete.pids, []);
    assert.deepEqual(config.receivers.mapdelete.executables, []);
  });

  it('requireTargets fails, pointing at the receiver, until a target is merged in', () => {
    const { config } = load(withReceiver('    targets: {}\n'));
    assert.throws(
      () => requireTargets(config),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message ===
          'tracer.yaml:3:5: receivers.mapdelete.targets: no process to trace (list pids or executables under receivers.mapdelete.targets, or pass --pid PID or --exe PATH)',
    );
    config.receivers.mapdelete.pids.push(4242);
    requireTargets(config);
  });

  it('requireTargets works on a copy the CLI made, and with executables', () => {
    const { config } = load(withReceiver(''));
    const copy = { ...config, receivers: { mapdelete: { ...config.receivers.mapdelete } } };
    assert.throws(() => requireTargets(copy), (e: Error) => e instanceof ConfigError && /^tracer\.yaml(:2:3)?: receivers\.mapdelete\.targets: no process to trace/.test(e.message));
    copy.receivers.mapdelete.executables = ['/usr/local/bin/app'];
    requireTargets(copy);
  });

  it('requireTargets on the embedded default points at the flags', () => {
    assert.throws(() => requireTargets(defaultConfig({})), (e: Error) => e instanceof ConfigError && /^run: no process to trace \(pass --pid PID or --exe PATH/.test(e.message));
  });
});

describe('config: the embedded default', () => {
  it('is the YAML text it shows, and loads without warnings', () => {
    const { config, warnings } = loadConfigText(DEFAULT_CONFIG_YAML, EMBEDDED_SOURCE, {});
    assert.deepEqual(warnings, []);
    assert.deepEqual(defaultConfig({}), config);
    assert.equal(config.source, '<embedded default>');
  });

  it('has no targets, samples everything and prints readable lines', () => {
    const c = defaultConfig({});
    assert.deepEqual(c.receivers.mapdelete.pids, []);
    assert.deepEqual(c.receivers.mapdelete.executables, []);
    assert.equal(c.receivers.mapdelete.sampling.rate, 1.0);
    assert.equal(c.receivers.mapdelete.captureKeys, false);
    assert.deepEqual(c.exporters, [{ type: 'debug', id: 'debug', verbosity: 'basic' }]);
    assert.deepEqual(c.pipelines.traces, { receivers: ['mapdelete'], exporters: ['debug'] });
  });

  it('states the same values as the built-in defaults', () => {
    assert.deepEqual(defaultConfig({}).receivers.mapdelete, load(withReceiver('')).config.receivers.mapdelete);
  });

  it('applies the environment', () => {
    const c = defaultConfig({ MAP_DELETE_TRACER_SAMPLING_RATE: '0.5', OTEL_SERVICE_NAME: 'checkout' });
    assert.equal(c.receivers.mapdelete.sampling.rate, 0.5);
    assert.equal(c.receivers.mapdelete.serviceName, 'checkout');
  });

  it('is exported from default.ts and load.ts alike', () => {
    assert.equal(defaults.DEFAULT_CONFIG_YAML, DEFAULT_CONFIG_YAML);
    assert.deepEqual(defaults.defaultConfig({}), defaultConfig({}));
  });
});

describe('config: shipped files', () => {
  for (const name of ['tracer.yaml', 'minimal.yaml', 'tracer-pipeline.yaml']) {
    it(`config/${name} loads without errors or warnings`, () => {
      const file = path.join(ROOT, 'config', name);
      const { config, warnings } = loadConfigFile(file, {});
      assert.deepEqual(warnings, []);
      assert.equal(config.source, file);
      assert.ok(config.exporters.length > 0);
    });
  }

  it('config/tracer.yaml sends to ${env:OTELCOL_ENDPOINT:-otelcol:4317}, in plain text unless told otherwise', () => {
    const file = path.join(ROOT, 'config', 'tracer.yaml');
    const otlp = (env: NodeJS.ProcessEnv) => loadConfigFile(file, env).config.exporters.find((e) => e.type === 'otlp') as OtlpExporterConfig;
    assert.equal(otlp({}).endpoint, 'otelcol:4317');
    assert.equal(otlp({}).tls.insecure, true);
    assert.equal(otlp({ OTELCOL_ENDPOINT: 'collector.example.com:4317', OTELCOL_INSECURE: 'false' }).endpoint, 'collector.example.com:4317');
    assert.equal(otlp({ OTELCOL_ENDPOINT: 'collector.example.com:4317', OTELCOL_INSECURE: 'false' }).tls.insecure, false);
  });

  it('config/minimal.yaml names a target and an OTLP endpoint on this machine', () => {
    const { config } = loadConfigFile(path.join(ROOT, 'config', 'minimal.yaml'), {});
    requireTargets(config);
    assert.deepEqual(config.exporters.map((e) => e.type), ['otlp']);
  });

  it('the example in docs/configuration.md loads', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([^]*?)```/g)].map((m) => m[1]).filter((b) => /^service:/m.test(b));
    assert.ok(blocks.length >= 1, 'no complete yaml example in docs/configuration.md');
    for (const b of blocks) {
      const { warnings } = loadConfigText(b, 'docs/configuration.md', { OTELCOL_API_KEY: 'k' });
      assert.deepEqual(warnings, []);
    }
  });

  it('docs/configuration.md describes every key and variable', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
    const keys = [
      'receivers', 'mapdelete', 'targets', 'pids', 'executables', 'capture_keys', 'stack_depth', 'sampling', 'rate', 'keep', 'keys',
      'map_types', 'callers', 'max_events_per_second', 'ring_buffer_bytes', 'grouping_window', 'service_name', 'exporters', 'otlp',
      'endpoint', 'tls', 'insecure', 'ca_file', 'cert_file', 'key_file', 'headers', 'compression', 'timeout', 'retry_on_failure',
      'enabled', 'initial_interval', 'max_interval', 'max_elapsed_time', 'sending_queue', 'queue_size', 'debug', 'verbosity', 'file',
      'path', 'service', 'pipelines', 'traces',
      'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_INSECURE',
      'OTEL_EXPORTER_OTLP_CERTIFICATE', 'OTEL_EXPORTER_OTLP_CLIENT_KEY', 'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE',
      'OTEL_EXPORTER_OTLP_COMPRESSION', 'OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_SERVICE_NAME', 'MAP_DELETE_TRACER_SAMPLING_RATE',
    ];
    for (const k of keys) {
      assert.ok(new RegExp('`([\\w/]+\\.)*' + k + '(\\.[\\w/]+)*`').test(doc), `docs/configuration.md does not describe \`${k}\``);
    }
  });
});

describe('config: loadConfigText errors carry the source name', () => {
  it('uses the name given', () => {
    assert.throws(
      () => loadConfigText('receivers: 1\n', 'x/y.yaml', {}),
      (e: Error) => e instanceof ConfigError && /^x\/y\.yaml:1:12: receivers: expected a map of receivers, got 1 \(indent the settings/.test(e.message),
    );
  });
  it('loadError helper sanity', () => {
    assert.match(loadError('receivers: 1\n').message, /^tracer\.yaml:1:12: /);
  });
});
