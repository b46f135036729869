/**
 * receivers.otlp: the keys it reads, their defaults, and the collector keys it refuses with one
 * "not supported yet" line at FILE:LINE:COL.
 */
import { strict as assert } from 'node:assert';
import { load, loadError } from './config-helpers';

const MIB = 1024 * 1024;

/** mapdelete + `otlp` (the receiver's body, indented 4) + an otlp exporter, both in the pipeline. */
function withOtlp(body: string, opts: { exporters?: string; use?: string[] } = {}): string {
  return (
    'receivers:\n  mapdelete:\n  otlp:\n' +
    body +
    'exporters:\n' +
    (opts.exporters ?? '  otlp:\n    endpoint: collector:4317\n  debug:\n') +
    'service:\n  pipelines:\n    traces:\n      receivers: [mapdelete, otlp]\n' +
    `      exporters: [${(opts.use ?? ['otlp', 'debug']).join(', ')}]\n`
  );
}

describe('config: receivers.otlp', () => {
  it('an empty otlp receiver takes every default', () => {
    const { config, warnings } = load(withOtlp(''));
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.receivers.otlp, {
      grpc: { endpoint: '127.0.0.1:4317', maxRecvMsgSizeBytes: 4 * MIB, maxInflightRequests: 32, maxInflightBytes: 64 * MIB },
      forwardTimeoutMs: 5000,
      attach: { enabled: true, deleteWaitMs: 10_000, settleMs: 200, maxPendingEvents: 100_000 },
    });
    assert.deepEqual(config.pipelines.traces.receivers, ['mapdelete', 'otlp']);
  });

  it('reads every key', () => {
    const { config } = load(
      withOtlp(
        [
          '    protocols:',
          '      grpc:',
          '        endpoint: 0.0.0.0:14317',
          '        max_recv_msg_size_mib: 8',
          '        max_concurrent_requests: 100',
          '        max_inflight_size_mib: 128',
          '    forward_timeout: 1m30s',
          '    attach_events: false',
          '    delete_wait: 30s',
          '    settle: 50ms',
          '    max_pending_events: 2000',
          '',
        ].join('\n'),
      ),
    );
    assert.deepEqual(config.receivers.otlp, {
      grpc: { endpoint: '0.0.0.0:14317', maxRecvMsgSizeBytes: 8 * MIB, maxInflightRequests: 100, maxInflightBytes: 128 * MIB },
      forwardTimeoutMs: 90_000,
      attach: { enabled: false, deleteWaitMs: 30_000, settleMs: 50, maxPendingEvents: 2000 },
    });
  });

  it('takes the endpoint from the environment, and fractional MiB', () => {
    const { config } = load(withOtlp('    protocols:\n      grpc:\n        endpoint: ${env:RX}\n        max_recv_msg_size_mib: 0.5\n'), { RX: '[::1]:4317' });
    assert.equal(config.receivers.otlp?.grpc.endpoint, '[::1]:4317');
    assert.equal(config.receivers.otlp?.grpc.maxRecvMsgSizeBytes, MIB / 2);
  });

  it('takes 0 for delete_wait and settle, and attach_events from the environment', () => {
    const { config } = load(withOtlp('    attach_events: ${env:ATTACH}\n    delete_wait: 0\n    settle: 0s\n'), { ATTACH: 'false' });
    assert.deepEqual(config.receivers.otlp?.attach, { enabled: false, deleteWaitMs: 0, settleMs: 0, maxPendingEvents: 100_000 });
  });

  it('raises the default bytes in flight to hold the largest request', () => {
    const { config } = load(withOtlp('    protocols:\n      grpc:\n        max_recv_msg_size_mib: 100\n'));
    assert.equal(config.receivers.otlp?.grpc.maxInflightBytes, 100 * MIB);
  });

  it('is left out of the config when not defined', () => {
    const { config } = load('receivers:\n  mapdelete:\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [mapdelete]\n      exporters: [debug]\n');
    assert.equal(config.receivers.otlp, undefined);
  });

  it('warns when defined but not in the pipeline', () => {
    const text = withOtlp('').replace('receivers: [mapdelete, otlp]', 'receivers: [mapdelete]');
    const { warnings } = load(text);
    assert.deepEqual(warnings, ['tracer.yaml:3:3: receivers.otlp: defined but not used in service.pipelines.traces.receivers, so it is not started (add it there or remove it)']);
  });

  it('protocols.grpc.tls: certificate, key and an optional client CA', () => {
    const { config } = load(withOtlp('    protocols:\n      grpc:\n        tls:\n          cert_file: /etc/t/cert.pem\n          key_file: /etc/t/key.pem\n          client_ca_file: /etc/t/ca.pem\n'));
    assert.deepEqual(config.receivers.otlp?.grpc.tls, { certFile: '/etc/t/cert.pem', keyFile: '/etc/t/key.pem', clientCaFile: '/etc/t/ca.pem' });
    assert.equal(load(withOtlp('')).config.receivers.otlp?.grpc.tls, undefined, 'plain text unless tls: is given');
  });

  const errors: { name: string; text: string; message: string | RegExp }[] = [
    {
      name: 'protocols.http',
      text: withOtlp('    protocols:\n      http:\n        endpoint: 127.0.0.1:4318\n'),
      message: /^tracer\.yaml:5:7: receivers\.otlp\.protocols\.http: not supported yet: only OTLP\/gRPC is received; /,
    },
    {
      name: 'protocols.grpc.tls without key_file',
      text: withOtlp('    protocols:\n      grpc:\n        tls:\n          cert_file: /c.pem\n'),
      message: 'tracer.yaml:7:11: receivers.otlp.protocols.grpc.tls: serving TLS needs both cert_file and key_file: set key_file (or remove tls: for plain text)',
    },
    {
      name: 'protocols.grpc.tls with the exporter\'s ca_file',
      text: withOtlp('    protocols:\n      grpc:\n        tls:\n          ca_file: /ca.pem\n'),
      message: /^tracer\.yaml:7:11: receivers\.otlp\.protocols\.grpc\.tls\.ca_file: unknown key "ca_file" \(did you mean "client_ca_file"/,
    },
    {
      name: 'tls on the receiver itself',
      text: withOtlp('    tls: {}\n'),
      message: 'tracer.yaml:4:5: receivers.otlp.tls: unknown key "tls" (put it under protocols: grpc:)',
    },
    {
      name: 'protocols.grpc.include_metadata',
      text: withOtlp('    protocols:\n      grpc:\n        include_metadata: true\n'),
      message: /^tracer\.yaml:6:9: receivers\.otlp\.protocols\.grpc\.include_metadata: not supported yet: the sender's metadata is not forwarded; remove include_metadata$/,
    },
    {
      name: 'include_metadata on the receiver itself',
      text: withOtlp('    include_metadata: true\n'),
      message: /^tracer\.yaml:4:5: receivers\.otlp\.include_metadata: not supported yet: /,
    },
    {
      name: 'keepalive',
      text: withOtlp('    protocols:\n      grpc:\n        keepalive:\n          server_parameters: {}\n'),
      message: /^tracer\.yaml:6:9: receivers\.otlp\.protocols\.grpc\.keepalive: not supported yet: remove keepalive/,
    },
    {
      name: 'max_concurrent_streams',
      text: withOtlp('    protocols:\n      grpc:\n        max_concurrent_streams: 10\n'),
      message: /^tracer\.yaml:6:9: receivers\.otlp\.protocols\.grpc\.max_concurrent_streams: not supported yet: use max_concurrent_requests/,
    },
    {
      name: 'an unknown grpc key',
      text: withOtlp('    protocols:\n      grpc:\n        endpont: 127.0.0.1:4317\n'),
      message: 'tracer.yaml:6:9: receivers.otlp.protocols.grpc.endpont: unknown key "endpont" (did you mean "endpoint"?)',
    },
    {
      name: 'endpoint outside protocols.grpc',
      text: withOtlp('    endpoint: 127.0.0.1:4317\n'),
      message: 'tracer.yaml:4:5: receivers.otlp.endpoint: unknown key "endpoint" (put it under protocols: grpc:)',
    },
    {
      name: 'an endpoint that is not host:port',
      text: withOtlp('    protocols:\n      grpc:\n        endpoint: http://127.0.0.1:4317\n'),
      message: /^tracer\.yaml:6:19: receivers\.otlp\.protocols\.grpc\.endpoint: expected host:port like 127\.0\.0\.1:4317, .*write host:port without a scheme/,
    },
    {
      name: 'a port over 65535',
      text: withOtlp('    protocols:\n      grpc:\n        endpoint: 127.0.0.1:70000\n'),
      message: /^tracer\.yaml:6:19: receivers\.otlp\.protocols\.grpc\.endpoint: expected host:port/,
    },
    {
      name: 'max_recv_msg_size_mib 0',
      text: withOtlp('    protocols:\n      grpc:\n        max_recv_msg_size_mib: 0\n'),
      message: /^tracer\.yaml:6:32: receivers\.otlp\.protocols\.grpc\.max_recv_msg_size_mib: expected a size in MiB, more than 0 and at most 1024, got 0$/,
    },
    {
      name: 'max_concurrent_requests 0',
      text: withOtlp('    protocols:\n      grpc:\n        max_concurrent_requests: 0\n'),
      message: /^tracer\.yaml:6:34: receivers\.otlp\.protocols\.grpc\.max_concurrent_requests: expected an integer from 1 to 100000, got 0$/,
    },
    {
      name: 'bytes in flight below the largest request',
      text: withOtlp('    protocols:\n      grpc:\n        max_recv_msg_size_mib: 16\n        max_inflight_size_mib: 8\n'),
      message: /^tracer\.yaml:7:32: receivers\.otlp\.protocols\.grpc\.max_inflight_size_mib: expected at least max_recv_msg_size_mib \(16\), got 8/,
    },
    {
      name: 'forward_timeout without a unit',
      text: withOtlp('    forward_timeout: 5\n'),
      message: /^tracer\.yaml:4:22: receivers\.otlp\.forward_timeout: expected a duration from 1ms to 1h .*add a unit: 5s or 5ms/,
    },
    {
      name: 'attach_events that is not a boolean',
      text: withOtlp('    attach_events: yes please\n'),
      message: 'tracer.yaml:4:20: receivers.otlp.attach_events: expected true or false, got "yes please"',
    },
    {
      name: 'delete_wait without a unit',
      text: withOtlp('    delete_wait: 10\n'),
      message: /^tracer\.yaml:4:18: receivers\.otlp\.delete_wait: expected a duration from 0s to 1h .*add a unit: 10s or 10ms/,
    },
    {
      name: 'settle over 5s',
      text: withOtlp('    settle: 1m\n'),
      message: 'tracer.yaml:4:13: receivers.otlp.settle: expected a duration from 0s to 5s, got "1m"',
    },
    {
      name: 'max_pending_events 0',
      text: withOtlp('    max_pending_events: 0\n'),
      message: 'tracer.yaml:4:25: receivers.otlp.max_pending_events: expected an integer from 1 to 10000000, got 0',
    },
    {
      name: 'wait for delete_wait',
      text: withOtlp('    wait: 10s\n'),
      message: 'tracer.yaml:4:5: receivers.otlp.wait: unknown key "wait" (did you mean "delete_wait"?)',
    },
    {
      name: 'attach settings under protocols.grpc',
      text: withOtlp('    protocols:\n      grpc:\n        settle: 1s\n'),
      message: /^tracer\.yaml:6:9: receivers\.otlp\.protocols\.grpc\.settle: unknown key "settle"/,
    },
    {
      name: 'a named otlp receiver',
      text: withOtlp('').replace('  otlp:\n', '  otlp/in:\n').replace('[mapdelete, otlp]', '[mapdelete, otlp/in]'),
      message: 'tracer.yaml:3:3: receivers.otlp/in: only one otlp receiver is supported (name it "otlp")',
    },
    {
      name: 'the otlp receiver in a pipeline without an otlp exporter',
      text: withOtlp('', { use: ['debug'] }),
      message: /^tracer\.yaml:\d+:\d+: service\.pipelines\.traces\.receivers: the otlp receiver forwards received traces to the otlp exporters of the pipeline, and service\.pipelines\.traces\.exporters has none/,
    },
  ];
  for (const c of errors) {
    it(`refuses ${c.name}`, () => {
      const msg = loadError(c.text).message;
      if (typeof c.message === 'string') assert.equal(msg, c.message);
      else assert.match(msg, c.message);
    });
  }
});
