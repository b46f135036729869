/**
 * 100 000 deletes per second from 4 goroutines: `watch --format json` reports every delete, or
 * says exactly how many it lost — probe hits = events printed + events lost, always.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { loadFixtureManifest, startFixture } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { CLI, parseSummary } from '../helpers/tracer';

describe('load', function () {
  it('100k deletes/s from 4 goroutines: every delete printed or counted as lost', async function () {
    requireBpf(this);
    const plain = loadFixtureManifest().filter((b) => b.mode === 'plain' && !b.experiment);
    plain.sort((a, b) => a.go.localeCompare(b.go, 'en', { numeric: true }));
    const build = plain[plain.length - 1];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-load-'));
    const outFile = path.join(dir, 'events.json');
    const out = fs.openSync(outFile, 'w');
    const fx = await startFixture(build.path, ['-scenario', 'load', '-goroutines', '4', '-rate', '100000', '-seconds', '2']);
    try {
      const tracer = spawn(process.execPath, [CLI, 'watch', '--pid', String(fx.pid), '--format', 'json'], { stdio: ['ignore', out, 'pipe'] });
      const stderr: string[] = [];
      let attachedResolve!: () => void;
      const attached = new Promise<void>((r) => (attachedResolve = r));
      tracer.stderr!.setEncoding('utf8');
      tracer.stderr!.on('data', (d: string) => {
        stderr.push(...d.split('\n').filter(Boolean));
        if (/ready: \d+ probes attached/.test(d)) attachedResolve();
      });
      const exited = new Promise<number | null>((r) => tracer.on('close', r));
      await Promise.race([attached, exited.then(() => assert.fail(stderr.join('\n')))]);
      fx.go();
      const load = await fx.loadResult;
      assert.equal(await fx.exited, 0);
      assert.equal(await exited, 0, stderr.join('\n'));
      fs.closeSync(out);

      let printed = 0;
      let mine = 0;
      const goids = new Set<number>();
      const text = fs.readFileSync(outFile, 'utf8');
      for (const line of text.split('\n')) {
        if (!line) continue;
        printed++;
        const e = JSON.parse(line);
        if (e.caller.function.startsWith('main.')) {
          mine++;
          goids.add(e.goid);
        }
      }
      const s = parseSummary(stderr);
      console.log(`      fixture deleted ${load.deletes}; tracer printed ${printed} (${mine} from main), lost ${s.lost}, probe hits ${s.hits}`);
      assert.equal(s.events, printed, 'summary counts what was printed');
      assert.equal(s.hits, s.events + s.lost, 'every probe hit is printed or counted lost');
      assert.ok(s.hits >= load.deletes, 'the probes saw every delete');
      assert.ok(mine <= load.deletes && mine + s.lost >= load.deletes, 'every fixture delete printed or counted lost');
      if (s.lost === 0) {
        assert.equal(mine, load.deletes);
        assert.deepEqual([...goids].sort(), Object.keys(load.per_goroutine).map(Number).sort());
      }
    } finally {
      fx.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
