/**
 * Overload: a Go program deleting as fast as it can from two goroutines (asked for 1 000 000
 * deletes/s) with `watch --format json` attached. The tracer's memory stays bounded, every probe
 * hit is either delivered or counted as lost (hits = delivered + lost = the program's own count),
 * and SIGTERM in the middle of it flushes what the tracer holds, detaches every probe and exits 0
 * within a bounded time while the program runs on.
 *
 * CI runs 8-second bursts; `npm run soak` (MDT_SOAK=1) runs the 30-second burst issue 7 names.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { loadFixtureManifest, startFixture, type FixtureBuild } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { CLI, parseSummary } from '../helpers/tracer';
import { freePort } from '../helpers/otel';
import { tracerProbes, waitProbesGone } from '../helpers/probes';

const SOAK = process.env.MDT_SOAK === '1';
const BURST_S = SOAK ? 30 : 8;
/** Ring buffer (16 MiB, mapped twice), batches waiting for JS (64 MiB), the V8 heap, Node itself. */
const RSS_BOUND_MB = 450;

function newestPlain(): FixtureBuild {
  const b = loadFixtureManifest().filter((x) => x.mode === 'plain' && !x.experiment);
  b.sort((x, y) => x.go.localeCompare(y.go, 'en', { numeric: true }));
  return b[b.length - 1];
}

function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** `watch --format json` with its events written to /dev/null (the test cannot read millions of lines). */
function watchToNull(pid: number, extra: string[] = []) {
  const out = fs.openSync('/dev/null', 'w');
  const proc = spawn(process.execPath, [CLI, 'watch', '--pid', String(pid), '--format', 'json', ...extra], { stdio: ['ignore', out, 'pipe'] });
  fs.closeSync(out);
  const stderr: string[] = [];
  let buf = '';
  proc.stderr!.setEncoding('utf8');
  const ready = new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      stderr.push(...lines);
      if (lines.some((l) => /ready: \d+ probes attached/.test(l))) resolve();
    });
    proc.on('exit', () => reject(new Error(`tracer exited before attaching:\n${stderr.join('\n')}`)));
  });
  ready.catch(() => undefined);
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    proc.on('close', (code) => {
      if (buf) stderr.push(buf);
      resolve({ code, at: Date.now() });
    }),
  );
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(proc.pid!) ?? 0)), 250);
  void exited.then(() => clearInterval(sampler));
  return { proc, ready, exited, stderr, peakRssMb: () => peak };
}

describe('overload', function () {
  this.timeout((BURST_S * 2 + 120) * 1000);

  it(`a ${BURST_S}-second burst at up to 1 000 000 deletes/s: bounded memory, every hit delivered or counted as lost`, async function () {
    requireBpf(this);
    const fx = await startFixture(newestPlain().path, { scenario: 'load', goroutines: 2, rate: 1_000_000, seconds: BURST_S });
    const port = await freePort();
    const t = watchToNull(fx.pid, ['--metrics-endpoint', `127.0.0.1:${port}`]);
    try {
      await t.ready;
      fx.go();
      // While the reader is behind, the event loop still serves sockets: scrapes answer promptly.
      const scrapes: number[] = [];
      await new Promise((r) => setTimeout(r, 1500));
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        const body = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
        scrapes.push(Date.now() - t0);
        assert.match(body, /go_map_delete_total/);
        await new Promise((r) => setTimeout(r, 500));
      }
      const load = await fx.loadResult;
      assert.equal(await fx.exited, 0);
      const done = await t.exited;
      assert.equal(done.code, 0, t.stderr.join('\n'));
      const s = parseSummary(t.stderr);
      const rate = Math.round(load.deletes / (load.elapsed_ms / 1000));
      console.log(`      ${load.deletes} deletes in ${load.elapsed_ms} ms (${rate}/s): ${s.events} delivered, ${s.lost} lost; tracer peak RSS ${t.peakRssMb().toFixed(0)} MiB; scrapes took ${scrapes.join(', ')} ms`);
      // Generous: before batches were gated on the event loop, a scrape waited seconds.
      assert.ok(Math.max(...scrapes) < 3000, `scrapes took ${scrapes.join(', ')} ms`);
      assert.equal(s.hits, load.deletes, 'every delete hit the probe');
      assert.equal(s.events + s.lost, s.hits, 'every hit was delivered or counted as lost');
      if (s.lost > 0) assert.match(t.stderr.join('\n'), /lost \d+ \(ring buffer full: the reader fell behind\)/);
      assert.ok(t.peakRssMb() > 0 && t.peakRssMb() < RSS_BOUND_MB, `peak RSS ${t.peakRssMb()} MiB`);
    } finally {
      fx.kill();
      if (t.proc.exitCode === null) t.proc.kill('SIGKILL');
    }
  });

  it('SIGTERM in the middle of the burst: flushes, detaches every probe and exits 0 within 10 s; the program runs on', async function () {
    requireBpf(this);
    const fx = await startFixture(newestPlain().path, { scenario: 'load', goroutines: 2, rate: 1_000_000, seconds: BURST_S + 6 });
    const t = watchToNull(fx.pid);
    try {
      await t.ready;
      const probes = tracerProbes(t.proc.pid!);
      assert.ok(probes.uprobes.length > 0 && probes.links.length > 0, 'the tracer holds uprobes and links while tracing');
      fx.go();
      await new Promise((r) => setTimeout(r, 4000));
      const sentAt = Date.now();
      t.proc.kill('SIGTERM');
      const done = await t.exited;
      const took = done.at - sentAt;
      assert.equal(done.code, 0, t.stderr.join('\n'));
      const s = parseSummary(t.stderr);
      console.log(`      exited ${took} ms after SIGTERM: ${s.events} delivered, ${s.lost} lost of ${s.hits} hits`);
      assert.ok(took < 10_000, `took ${took} ms to stop`);
      assert.equal(s.events + s.lost, s.hits, 'every hit was delivered or counted as lost');
      assert.deepEqual(await waitProbesGone(probes, t.proc.pid!), { uprobes: [], links: [], progs: [] }, 'no uprobe, link or program left');
      const load = await fx.loadResult;
      assert.equal(await fx.exited, 0, 'the program finished its run');
      assert.ok(load.deletes > s.hits, 'it kept deleting after the tracer left');
    } finally {
      fx.kill();
      if (t.proc.exitCode === null) t.proc.kill('SIGKILL');
    }
  });
});
