/**
 * `run` with the otlp receiver, the parts that need no BPF: a port already in use is one line
 * that names the setting to change, with exit code 2, before anything is traced. (Forwarding
 * with real targets: test/e2e/run-otlp-receiver.test.ts.)
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../helpers/tracer';

describe('run: otlp receiver start-up', function () {
  this.timeout(30_000);
  let tmp: string;
  let busy: net.Server;

  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-run-otlp-unit-'));
    busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  });

  afterEach(async () => {
    await new Promise<void>((r) => busy.close(() => r()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('reports a port already in use as one line and exits 2', async () => {
    const port = (busy.address() as net.AddressInfo).port;
    const cfg = path.join(tmp, 'tracer.yaml');
    fs.writeFileSync(
      cfg,
      `receivers:\n  mapdelete: {}\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:${port}\n` +
        `exporters:\n  otlp:\n    endpoint: http://127.0.0.1:1\nservice:\n  pipelines:\n    traces:\n      receivers: [mapdelete, otlp]\n      exporters: [otlp]\n`,
    );
    // Our own pid: a valid target, never traced because the receiver fails first.
    const run = runCli(['run', '--config', cfg, '--pid', String(process.pid)]);
    const done = await run.exited;
    assert.equal(done.code, 2, done.stderr.join('\n'));
    assert.deepEqual(done.stderr, [
      `map-delete-tracer: receivers.otlp: cannot listen on 127.0.0.1:${port}: address in use (set receivers.otlp.protocols.grpc.endpoint)`,
    ]);
  });

  it('still requires a mapdelete target', async () => {
    const cfg = path.join(tmp, 'tracer.yaml');
    fs.writeFileSync(
      cfg,
      `receivers:\n  mapdelete: {}\n  otlp: {}\nexporters:\n  otlp:\n    endpoint: http://127.0.0.1:1\n` +
        `service:\n  pipelines:\n    traces:\n      receivers: [mapdelete, otlp]\n      exporters: [otlp]\n`,
    );
    const done = await runCli(['run', '--config', cfg]).exited;
    assert.equal(done.code, 2, done.stderr.join('\n'));
    assert.match(done.stderr.join('\n'), /receivers\.mapdelete\.targets: no process to trace/);
  });
});
