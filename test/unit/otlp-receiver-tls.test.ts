/**
 * The OTLP receiver over TLS (receivers.otlp.protocols.grpc.tls), with real gRPC on loopback and
 * certificates made by openssl for the test: a sender trusting the CA is served; plain text and
 * an untrusted CA are not; with client_ca_file only senders with a certificate from that CA are
 * served; a bad key or file stops the start with one line naming the setting.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, credentials, Metadata, status as Status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { EXPORT_PATH, encodeRequest, loadTraceProtos } from '../../receiver/otlp/proto';
import { OtlpGrpcReceiver, type OtlpGrpcReceiverOptions, type ReceivedTraces } from '../../receiver/otlp/server';
import { UserError } from '../../receiver/util/errors';

const protos = loadTraceProtos();

/** A CA, a server certificate for 127.0.0.1 signed by it, and a client certificate (another CA's too). */
function makeCertificates(dir: string): Record<string, string> {
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ca = (name: string) => ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`));
  const signed = (name: string, by: string, ext: string) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    fs.writeFileSync(f(`${name}.ext`), ext);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${by}.pem`), '-CAkey', f(`${by}.key`), '-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  };
  ca('ca');
  ca('other-ca');
  signed('server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  signed('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  signed('stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  fs.writeFileSync(f('not-pem.txt'), 'hello\n');
  return Object.fromEntries(['ca', 'other-ca', 'server', 'client', 'stranger'].flatMap((n) => [[`${n}Pem`, f(`${n}.pem`)], [`${n}Key`, f(`${n}.key`)]]).concat([['notPem', f('not-pem.txt')]]));
}

function oneSpanRequest(): Buffer {
  return encodeRequest(protos, {
    resourceSpans: [
      {
        resource: { attributes: [], entityRefs: [] },
        scopeSpans: [
          {
            scope: { name: 't', attributes: [] },
            spans: [{ traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 2), name: 'over tls', kind: 1, startTimeUnixNano: '1', endTimeUnixNano: '2', attributes: [], events: [], links: [] }],
          },
        ],
      },
    ],
  });
}

const identity = (b: Buffer): Buffer => b;

function exportOnce(addr: string, creds: ChannelCredentials, bytes: Buffer): Promise<ServiceError | undefined> {
  const c = new Client(addr, creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
  return new Promise((resolve) =>
    c.makeUnaryRequest(EXPORT_PATH, identity, identity, bytes, new Metadata(), { deadline: Date.now() + 5000 }, (err) => {
      c.close();
      resolve(err ?? undefined);
    }),
  );
}

describe('OTLP receiver over TLS', function () {
  this.timeout(60_000);
  let dir: string;
  let cert: Record<string, string>;
  const receivers: OtlpGrpcReceiver[] = [];
  const pem = (f: string) => fs.readFileSync(f);

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-tls-'));
    cert = makeCertificates(dir);
  });
  after(async () => {
    await Promise.all(receivers.map((r) => r.shutdown(0)));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(tls: OtlpGrpcReceiverOptions['tls'], logs: string[] = []) {
    const got: ReceivedTraces[] = [];
    const rx = new OtlpGrpcReceiver({ endpoint: '127.0.0.1:0', tls, log: (l) => logs.push(l) }, async (r) => {
      got.push(r);
      return undefined;
    });
    await rx.start();
    receivers.push(rx);
    return { addr: rx.address(), got };
  }

  it('serves a sender that trusts its CA, byte for byte; refuses plain text and an untrusted CA', async () => {
    const logs: string[] = [];
    const { addr, got } = await start({ certFile: cert.serverPem, keyFile: cert.serverKey }, logs);
    assert.match(logs.join('\n'), /listening for OTLP\/gRPC traces on 127\.0\.0\.1:\d+, TLS$/m);
    const req = oneSpanRequest();
    assert.equal(await exportOnce(addr, credentials.createSsl(pem(cert.caPem)), req), undefined);
    assert.equal(got.length, 1);
    assert.ok(got[0].raw.equals(req), 'the request arrives exactly as sent');

    const plain = await exportOnce(addr, credentials.createInsecure(), req);
    assert.equal(plain?.code, Status.UNAVAILABLE, `plain text: ${plain?.message}`);
    const untrusted = await exportOnce(addr, credentials.createSsl(pem(cert['other-caPem'])), req);
    assert.equal(untrusted?.code, Status.UNAVAILABLE, `untrusted CA: ${untrusted?.message}`);
    assert.equal(got.length, 1, 'nothing else got through');
  });

  it('with client_ca_file, serves only senders presenting a certificate from that CA', async () => {
    const logs: string[] = [];
    const { addr, got } = await start({ certFile: cert.serverPem, keyFile: cert.serverKey, clientCaFile: cert.caPem }, logs);
    assert.match(logs.join('\n'), /, TLS, client certificates required$/m);
    const req = oneSpanRequest();
    const noCert = await exportOnce(addr, credentials.createSsl(pem(cert.caPem)), req);
    assert.ok(noCert, 'a sender without a certificate is refused');
    const stranger = await exportOnce(addr, credentials.createSsl(pem(cert.caPem), pem(cert.strangerKey), pem(cert.strangerPem)), req);
    assert.ok(stranger, 'a certificate from another CA is refused');
    assert.equal(got.length, 0);
    assert.equal(await exportOnce(addr, credentials.createSsl(pem(cert.caPem), pem(cert.clientKey), pem(cert.clientPem)), req), undefined);
    assert.equal(got.length, 1);
  });

  it('a missing file, a file that is not PEM, or a key of another certificate: one line naming the setting', async () => {
    const cases: [OtlpGrpcReceiverOptions['tls'], RegExp][] = [
      [{ certFile: path.join(dir, 'nope.pem'), keyFile: cert.serverKey }, /^receivers\.otlp\.protocols\.grpc\.tls\.cert_file: cannot read .*nope\.pem: ENOENT \(check the path and its permissions\)$/],
      [{ certFile: cert.serverPem, keyFile: cert.notPem }, /^receivers\.otlp\.protocols\.grpc\.tls\.key_file: .*not-pem\.txt is not a PEM file/],
      [{ certFile: cert.serverPem, keyFile: cert.serverKey, clientCaFile: path.join(dir, 'none.pem') }, /^receivers\.otlp\.protocols\.grpc\.tls\.client_ca_file: cannot read /],
    ];
    for (const [tls, re] of cases) {
      const rx = new OtlpGrpcReceiver({ endpoint: '127.0.0.1:0', tls }, async () => undefined);
      await assert.rejects(rx.start(), (e: Error) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n'));
    }
    const mismatched = new OtlpGrpcReceiver({ endpoint: '127.0.0.1:0', tls: { certFile: cert.serverPem, keyFile: cert.clientKey } }, async () => undefined);
    await assert.rejects(mismatched.start(), (e: Error) => e instanceof UserError && /^receivers\.otlp\.protocols\.grpc\.tls\.key_file: .*client\.key is not the key of the certificate in .*server\.pem/.test(e.message));
  });
});
