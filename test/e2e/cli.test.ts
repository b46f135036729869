/** The CLI as a newcomer meets it: inspect, hash-key, the text format, and the demo. */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import { loadFixtureManifest, startFixture } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { CLI, runCli } from '../helpers/tracer';
import { packageRoot } from '../../receiver/util/paths';

const cli = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe('CLI', function () {
  const builds = loadFixtureManifest();

  it('inspect shows version, map implementation, probe points and the goid source', function () {
    const swiss = builds.find((b) => b.go.startsWith('go1.26') && b.mode === 'stripped')!;
    const text = cli('inspect', swiss.path);
    assert.match(text, /go:\s+go1\.26/);
    assert.match(text, /maps:\s+Swiss tables/);
    assert.match(text, /runtime\.mapdelete_faststr\s+offset 0x[0-9a-f]+\s+\+\d+\s+push rbp/);
    assert.match(text, /g\.goid at \+152.*\(from the table for go1\.26/, 'stripped: offset from the version table');
    const classic = builds.find((b) => b.go.startsWith('go1.22') && b.mode === 'plain')!;
    const json = JSON.parse(cli('inspect', '--format', 'json', classic.path));
    assert.equal(json.maps, 'classic');
    assert.equal(json.goid.source, 'dwarf');
    assert.ok(json.probes.length >= 5);
    assert.ok(json.skipped.some((s: { function: string }) => s.function === 'reflect.mapdelete'), 'classic reflect.mapdelete calls runtime.mapdelete');
  });

  it('hash-key prints 16 hex digits and rejects bad values in one line', function () {
    assert.match(cli('hash-key', '--type', 'string', 'sess-1'), /^[0-9a-f]{16}\n$/);
    assert.equal(cli('hash-key', '--type', 'int64', '42'), cli('hash-key', '--type', 'hex', '2a00000000000000'));
    assert.throws(() => execFileSync(process.execPath, [CLI, 'hash-key', '--type', 'int32', 'x'], { stdio: 'pipe' }), (e: { status: number; stderr: Buffer }) => {
      assert.equal(e.status, 2);
      assert.match(e.stderr.toString(), /^map-delete-tracer: hash-key: "x" is not an integer.*\n$/);
      return true;
    });
  });

  it('text format: one readable line per delete', async function () {
    requireBpf(this);
    const build = builds.find((b) => b.go.startsWith('go1.26') && b.mode === 'plain')!;
    const fx = await startFixture(build.path, { scenario: 'string' });
    try {
      const tracer = runCli(['watch', '--pid', String(fx.pid), '--capture-keys']);
      await tracer.attached;
      fx.go();
      const ops = await fx.ops;
      const done = await tracer.exited;
      assert.equal(done.code, 0);
      assert.equal(done.stdout.length, ops.length);
      for (const [i, line] of done.stdout.entries()) {
        assert.match(line, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{9} pid=${fx.pid} goid=\\d+ delete +map\\[string\\]\\*main\\.User 0x[0-9a-f]+ key="${ops[i].key}" #[0-9a-f]{16} at main\\.deleteString deleter/scenarios\\.go:${ops[i].line}$`));
      }
    } finally {
      fx.kill();
    }
  });

  it("the README's demo command shows the example service's deletes live, request deletes with their trace and span", async function () {
    requireBpf(this);
    const demo = spawn('bash', [path.join(packageRoot(), 'scripts', 'demo.sh')], {
      env: { ...process.env, DEMO_SECONDS: '4' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    demo.stdout.on('data', (d) => (out += d));
    demo.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => demo.on('close', r));
    assert.equal(code, 0, err);
    const lines = out.split('\n').filter((l) => / (delete|clear) /.test(l));
    assert.ok(lines.length >= 20, `demo printed ${lines.length} deletes in 4 s:\n${out}\n${err}`);
    // The requests the load tool sent, each with the trace id the service answered with.
    const requestTraces = new Set([...err.matchAll(/^demo: request [A-Z]+ \S+ -> \d{3} trace=([0-9a-f]{32})$/gm)].map((m) => m[1]));
    assert.ok(requestTraces.size >= 5, `demo showed ${requestTraces.size} requests:\n${err}`);
    // Every delete made in a request handler carries the request's trace and the handler's span.
    const handler = lines.filter((l) => / at main\.\((\*SessionStore\)\.Logout|\*Cache\)\.Get|\*Orders\)\.(settle|Finish)) /.test(l));
    assert.ok(handler.length >= 5, `${handler.length} deletes from request handlers:\n${out}`);
    const unknown = new Set<string>();
    for (const l of handler) {
      const m = / trace=([0-9a-f]{32}) span=([0-9a-f]{16})(\(inherited\))?$/.exec(l);
      assert.ok(m, `a request handler's delete without its trace and span: ${l}`);
      if (!requestTraces.has(m[1])) unknown.add(m[1]);
      assert.equal(m[3] !== undefined, / at main\.\(\*Orders\)\.settle /.test(l), `only the order worker's span is inherited: ${l}`);
    }
    // ... of a request the load tool printed, except for those in flight (at most 2) when it was stopped.
    assert.ok(unknown.size <= 2, `traces of no request: ${[...unknown].join(' ')}\n${out}\n${err}`);
    assert.ok(handler.some((l) => /map\[string\]\*main\.Session .*key="sess-[0-9a-f]+" .* at main\.\(\*SessionStore\)\.Logout /.test(l)), 'a logout, key shown');
    assert.ok(handler.some((l) => /\(inherited\)$/.test(l)), "a delete on the order's worker goroutine, under the inherited span");
    // net/http's own deletes happen outside any span.
    assert.ok(lines.some((l) => / at net\/http\..* http\/server\.go:\d+$/.test(l)), 'net/http deletes, without a trace');
    assert.match(err, /lost 0/);
  });
});
