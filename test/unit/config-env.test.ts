/** ${env:…} substitution, the standard OpenTelemetry variables and MAP_DELETE_TRACER_SAMPLING_RATE. */
import { strict as assert } from 'node:assert';
import { ConfigError } from '../../receiver/config/load';
import type { OtlpExporterConfig } from '../../receiver/config/types';
import { load, loadError, withExporters, withReceiver } from './config-helpers';

const otlpOf = (exporterBody: string, env: NodeJS.ProcessEnv = {}): OtlpExporterConfig =>
  load(withExporters(`  otlp:\n${exporterBody}`, ['otlp']), env).config.exporters[0] as OtlpExporterConfig;

/** The message of the ConfigError `fn` throws (asserted to be one line). */
function envFailure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.ok(!/\n/.test(err.message));
    return err.message;
  }
  return assert.fail('expected a ConfigError');
}

describe('config: ${env:…} substitution', () => {
  it('replaces references inside scalar values, with defaults', () => {
    const r = load(withReceiver('    service_name: "${env:TEAM}-${env:APP:-api}-${env:ZONE:-eu}"\n'), { TEAM: 'pay', ZONE: 'us' }).config.receivers.mapdelete;
    assert.equal(r.serviceName, 'pay-api-us');
  });

  it('uses the default when the variable is empty, as the shell does', () => {
    const r = load(withReceiver('    service_name: ${env:APP:-fallback}\n'), { APP: '' }).config.receivers.mapdelete;
    assert.equal(r.serviceName, 'fallback');
  });

  it('$$ is a literal $, and a lone $ stays', () => {
    const r = load(withReceiver('    service_name: "a$${env:X}b$c"\n'), {}).config.receivers.mapdelete;
    assert.equal(r.serviceName, 'a${env:X}b$c');
  });

  it('happens before type checks: numbers, booleans and durations from variables', () => {
    const text = withReceiver(
      '    targets:\n      pids: ["${env:PID}"]\n    capture_keys: ${env:CAPTURE}\n    stack_depth: ${env:DEPTH:-8}\n' +
        '    sampling:\n      rate: ${env:RATE}\n    grouping_window: ${env:WINDOW:-250ms}\n',
    );
    const r = load(text, { PID: '4242', CAPTURE: 'true', RATE: '0.05' }).config.receivers.mapdelete;
    assert.deepEqual(r.pids, [4242]);
    assert.equal(r.captureKeys, true);
    assert.equal(r.stackDepth, 8);
    assert.equal(r.sampling.rate, 0.05);
    assert.equal(r.groupingWindowMs, 250);
  });

  it('a string setting stays a string whatever the variable holds', () => {
    const r = load(withReceiver('    service_name: ${env:SVC}\n    sampling: { keep: { keys: ["${env:K}"] } }\n'), { SVC: '123', K: '42' }).config.receivers.mapdelete;
    assert.equal(r.serviceName, '123');
    assert.deepEqual(r.sampling.keep.keys, ['42']);
  });

  it('keys are not substituted', () => {
    assert.match(loadError(withReceiver('    ${env:K}: 1\n'), { K: 'stack_depth' }).message, /^tracer\.yaml:3:5: receivers\.mapdelete\.\$\{env:K\}: unknown key/);
  });

  it('an unset variable is an error naming the variable, file, line and column', () => {
    const msg = loadError(withExporters('  otlp:\n    endpoint: ${env:OTELCOL_ENDPOINT}\n', ['otlp'])).message;
    assert.equal(
      msg,
      'tracer.yaml:5:15: exporters.otlp.endpoint: environment variable OTELCOL_ENDPOINT is not set (set it, or give a default: ${env:OTELCOL_ENDPOINT:-VALUE})',
    );
  });

  it('in a block scalar, the error points at the line of the reference', () => {
    const msg = loadError(withReceiver('    service_name: |\n      svc\n      ${env:NOPE}\n')).message;
    assert.match(msg, /^tracer\.yaml:5:7: receivers\.mapdelete\.service_name: environment variable NOPE is not set/);
  });
});

describe('config: OTEL_EXPORTER_OTLP_* fill what the file leaves unset', () => {
  it('endpoint: the file, else TRACES_ENDPOINT, else ENDPOINT', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'general:4317', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'traces:4317' };
    assert.equal(otlpOf('    endpoint: file:4317\n', env).endpoint, 'file:4317');
    assert.equal(otlpOf('', env).endpoint, 'traces:4317');
    assert.equal(otlpOf('', { OTEL_EXPORTER_OTLP_ENDPOINT: 'general:4317' }).endpoint, 'general:4317');
    assert.equal(otlpOf('', { OTEL_EXPORTER_OTLP_ENDPOINT: 'general:4317', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' }).endpoint, 'general:4317');
  });

  it('applies to every otlp exporter', () => {
    const { config } = load(withExporters('  otlp/a:\n  otlp/b: { endpoint: "b:4317" }\n', ['otlp/a', 'otlp/b']), { OTEL_EXPORTER_OTLP_ENDPOINT: 'env:4317' });
    assert.deepEqual(config.exporters.map((e) => (e as OtlpExporterConfig).endpoint), ['env:4317', 'b:4317']);
  });

  it('a bad endpoint from the environment names the variable', () => {
    const msg = envFailure(() => otlpOf('', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'nowhere' }));
    assert.match(msg, /^environment variable OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected an endpoint like .*, got "nowhere" \(write host:port/);
  });

  it('headers: k=v pairs, URL-decoded, TRACES_HEADERS winning; the file wins per name', () => {
    const env = { OTEL_EXPORTER_OTLP_HEADERS: 'a=1', OTEL_EXPORTER_OTLP_TRACES_HEADERS: ' X-Api-Key = s%20e%3Dc , tenant=t1,,' };
    assert.deepEqual(otlpOf('    endpoint: c:4317\n', env).headers, { 'x-api-key': 's e=c', tenant: 't1' });
    assert.deepEqual(otlpOf('    endpoint: c:4317\n', { OTEL_EXPORTER_OTLP_HEADERS: 'a=1,b=2' }).headers, { a: '1', b: '2' });
    assert.deepEqual(otlpOf('    endpoint: c:4317\n    headers: { B: file }\n', { OTEL_EXPORTER_OTLP_HEADERS: 'a=1,b=2' }).headers, { a: '1', b: 'file' });
  });

  it('a malformed header list names the variable and not its (secret) value', () => {
    const msg = envFailure(() => otlpOf('    endpoint: c:4317\n', { OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key:topsecret' }));
    assert.match(msg, /^environment variable OTEL_EXPORTER_OTLP_HEADERS: expected a list of name=value pairs separated by commas \(entry 1 has no "="/);
    assert.ok(!msg.includes('topsecret'));
    const bad = envFailure(() => otlpOf('    endpoint: c:4317\n', { OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'k=%zzsecret' }));
    assert.match(bad, /^environment variable OTEL_EXPORTER_OTLP_TRACES_HEADERS: expected URL-encoded header values/);
    assert.ok(!bad.includes('secret'));
  });

  it('certificates, compression and timeout; TRACES_ variants first', () => {
    const general = {
      OTEL_EXPORTER_OTLP_CERTIFICATE: '/g/ca.pem',
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/g/c.pem',
      OTEL_EXPORTER_OTLP_CLIENT_KEY: '/g/k.pem',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'none',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
    };
    const g = otlpOf('    endpoint: collector:4317\n', general);
    assert.deepEqual(g.tls, { insecure: false, caFile: '/g/ca.pem', certFile: '/g/c.pem', keyFile: '/g/k.pem' });
    assert.equal(g.compression, 'none');
    assert.equal(g.timeoutMs, 2500);
    const traces = {
      ...general,
      OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: '/t/ca.pem',
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE: '/t/c.pem',
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: '/t/k.pem',
      OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '700',
    };
    const t = otlpOf('    endpoint: collector:4317\n', traces);
    assert.deepEqual(t.tls, { insecure: false, caFile: '/t/ca.pem', certFile: '/t/c.pem', keyFile: '/t/k.pem' });
    assert.equal(t.compression, 'gzip');
    assert.equal(t.timeoutMs, 700);
    const f = otlpOf(
      '    endpoint: collector:4317\n    tls: { ca_file: /f/ca.pem, cert_file: /f/c.pem, key_file: /f/k.pem }\n    compression: none\n    timeout: 3s\n',
      traces,
    );
    assert.deepEqual(f.tls, { insecure: false, caFile: '/f/ca.pem', certFile: '/f/c.pem', keyFile: '/f/k.pem' });
    assert.equal(f.compression, 'none');
    assert.equal(f.timeoutMs, 3000);
  });

  it('bad compression and timeout values name the variable', () => {
    assert.match(
      envFailure(() => otlpOf('    endpoint: c:4317\n', { OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' })),
      /^environment variable OTEL_EXPORTER_OTLP_COMPRESSION: expected gzip or none, got "zstd"/,
    );
    assert.match(
      envFailure(() => otlpOf('    endpoint: c:4317\n', { OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '10s' })),
      /^environment variable OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: expected a whole number of milliseconds .*, got "10s" \(it is in milliseconds/,
    );
  });

  it('variables that do not apply are not checked', () => {
    assert.equal(otlpOf('    endpoint: c:4317\n    timeout: 1s\n', { OTEL_EXPORTER_OTLP_TIMEOUT: 'junk' }).timeoutMs, 1000);
    load(withReceiver(''), { OTEL_EXPORTER_OTLP_ENDPOINT: 'junk', OTEL_EXPORTER_OTLP_HEADERS: 'junk' });
  });

  it('a client key without its certificate, from the environment', () => {
    assert.match(
      envFailure(() => otlpOf('    endpoint: c:4317\n', { OTEL_EXPORTER_OTLP_CLIENT_KEY: '/k.pem' })),
      /^tracer\.yaml:4:3: exporters\.otlp\.tls: OTEL_EXPORTER_OTLP_CLIENT_KEY is set but not OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/,
    );
  });
});

describe('config: plain text or TLS', () => {
  it('http:// is plain text, https:// is TLS', () => {
    assert.equal(otlpOf('    endpoint: http://collector.example.com:4317\n').tls.insecure, true);
    assert.equal(otlpOf('    endpoint: https://localhost:4317\n').tls.insecure, false);
    assert.equal(otlpOf('    endpoint: https://collector:4317\n    tls: { insecure: false }\n').tls.insecure, false);
  });

  it('a bare host:port: plain text on this machine only, unless tls.insecure says', () => {
    for (const local of ['localhost:4317', 'LOCALHOST:4317', '127.0.0.1:4317', '[::1]:4317']) {
      assert.equal(otlpOf(`    endpoint: "${local}"\n`).tls.insecure, true, local);
    }
    for (const remote of ['otelcol:4317', '10.0.0.7:4317', '[2001:db8::1]:4317', '127.0.0.2:4317']) {
      assert.equal(otlpOf(`    endpoint: "${remote}"\n`).tls.insecure, false, remote);
    }
    assert.equal(otlpOf('    endpoint: otelcol:4317\n    tls: { insecure: true }\n').tls.insecure, true);
    assert.equal(otlpOf('    endpoint: localhost:4317\n    tls: { insecure: false }\n').tls.insecure, false);
  });

  it('OTEL_EXPORTER_OTLP_INSECURE applies to a bare host:port the file does not settle', () => {
    assert.equal(otlpOf('    endpoint: otelcol:4317\n', { OTEL_EXPORTER_OTLP_INSECURE: 'true' }).tls.insecure, true);
    assert.equal(otlpOf('    endpoint: localhost:4317\n', { OTEL_EXPORTER_OTLP_INSECURE: 'false' }).tls.insecure, false);
    assert.equal(otlpOf('    endpoint: otelcol:4317\n', { OTEL_EXPORTER_OTLP_INSECURE: 'false', OTEL_EXPORTER_OTLP_TRACES_INSECURE: 'TRUE' }).tls.insecure, true);
    assert.equal(otlpOf('    endpoint: otelcol:4317\n    tls: { insecure: false }\n', { OTEL_EXPORTER_OTLP_INSECURE: 'true' }).tls.insecure, false);
    assert.equal(otlpOf('    endpoint: https://otelcol:4317\n', { OTEL_EXPORTER_OTLP_INSECURE: 'true' }).tls.insecure, false);
    assert.match(
      envFailure(() => otlpOf('    endpoint: otelcol:4317\n', { OTEL_EXPORTER_OTLP_INSECURE: 'yes' })),
      /^environment variable OTEL_EXPORTER_OTLP_INSECURE: expected true or false, got "yes"/,
    );
  });

  it('an endpoint from the environment whose scheme contradicts the file', () => {
    assert.match(
      loadError(withExporters('  otlp:\n    tls: { insecure: true }\n', ['otlp']), { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c:4317' }).message,
      /^tracer\.yaml:5:22: exporters\.otlp\.tls\.insecure: true contradicts the https:\/\/ endpoint "https:\/\/c:4317" from OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
  });
});

describe('config: OTEL_SERVICE_NAME and MAP_DELETE_TRACER_SAMPLING_RATE', () => {
  it('OTEL_SERVICE_NAME fills service_name; the file wins', () => {
    assert.equal(load(withReceiver(''), { OTEL_SERVICE_NAME: 'checkout' }).config.receivers.mapdelete.serviceName, 'checkout');
    assert.equal(load(withReceiver('    service_name: cart\n'), { OTEL_SERVICE_NAME: 'checkout' }).config.receivers.mapdelete.serviceName, 'cart');
  });

  it('MAP_DELETE_TRACER_SAMPLING_RATE overrides the file', () => {
    const text = withReceiver('    sampling:\n      rate: 0.5\n');
    assert.equal(load(text, {}).config.receivers.mapdelete.sampling.rate, 0.5);
    assert.equal(load(text, { MAP_DELETE_TRACER_SAMPLING_RATE: '0.01' }).config.receivers.mapdelete.sampling.rate, 0.01);
    assert.equal(load(text, { MAP_DELETE_TRACER_SAMPLING_RATE: '1' }).config.receivers.mapdelete.sampling.rate, 1);
    assert.equal(load(text, { MAP_DELETE_TRACER_SAMPLING_RATE: '' }).config.receivers.mapdelete.sampling.rate, 0.5);
  });

  it('an invalid MAP_DELETE_TRACER_SAMPLING_RATE is an error naming the variable', () => {
    for (const bad of ['0', '1.5', '-0.1', 'lots', '50%']) {
      assert.equal(
        envFailure(() => load(withReceiver(''), { MAP_DELETE_TRACER_SAMPLING_RATE: bad })),
        `environment variable MAP_DELETE_TRACER_SAMPLING_RATE: expected a number in (0, 1], got "${bad}" (it overrides receivers.mapdelete.sampling.rate; fix or unset MAP_DELETE_TRACER_SAMPLING_RATE)`,
      );
    }
  });

  it('the override still needs a valid rate in the file', () => {
    assert.match(loadError(withReceiver('    sampling: { rate: 2 }\n'), { MAP_DELETE_TRACER_SAMPLING_RATE: '0.5' }).message, /^tracer\.yaml:3:23: receivers\.mapdelete\.sampling\.rate: /);
  });
});
