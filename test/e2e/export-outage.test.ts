/**
 * The collector goes away for 30 seconds mid-run: the tracer keeps tracing, its memory stays
 * bounded, it counts the events its bounded queue had to drop, and it delivers again by itself
 * once the collector is back.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { requireBpf } from '../helpers/bpf';
import { parseRunSummary, runCli } from '../helpers/tracer';
import { jaegerTraces, waitFor } from '../helpers/otel';
import { packageRoot } from '../../receiver/util/paths';
import { eventsOf, tracerConfig, useCollectorAndJaeger } from '../helpers/jaeger-events';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

describe('collector outage', function () {
  this.timeout(15 * 60_000);
  const otel = useCollectorAndJaeger('mdt-outage-');

  it('keeps tracing through 30 s without a collector, bounded, counting drops, and resumes', async function () {
    requireBpf(this);
    const service = `sessions-outage-${process.pid}`;
    const bin = path.join(packageRoot(), '.cache', 'examples', 'sessions', 'sessions');
    const svc = spawn(bin, [], { env: { ...process.env, OTEL_SERVICE_NAME: service }, stdio: ['ignore', 'ignore', 'ignore'] });
    try {
      const cfg = path.join(otel.tmp, 'tracer.yaml');
      // A small queue, so that 30 s of deletes overflow it and drops must be counted.
      fs.writeFileSync(cfg, tracerConfig(otel.collector().otlpGrpc).replace('    tls: { insecure: true }\n', '    tls: { insecure: true }\n    sending_queue: { queue_size: 20 }\n'));
      const tracer = runCli(['run', '--config', cfg, '--pid', String(svc.pid)]);
      await tracer.attached;
      await waitFor(async () => ((await jaegerTraces(otel.jaeger().queryUrl, service)).length ? true : undefined), 30_000, 'first spans in Jaeger');

      await otel.collector().stop();
      const rss: number[] = [];
      for (let i = 0; i < 6; i++) {
        await sleep(5_000);
        assert.equal(tracer.proc.exitCode, null, 'tracer still running');
        rss.push(rssMiB(tracer.proc.pid!));
      }
      const backAtUs = Date.now() * 1000;
      await otel.collector().start();

      await waitFor(
        async () => (eventsOf(await jaegerTraces(otel.jaeger().queryUrl, service, { limit: 500, lookbackMs: 120_000 })).some((e) => e.time > backAtUs) ? true : undefined),
        90_000,
        'events recorded after the collector came back',
      );
      tracer.kill('SIGTERM');
      const done = await tracer.exited;
      assert.equal(done.code, 0, done.stderr.join('\n'));
      const log = done.stderr.join('\n');
      const summary = parseRunSummary(done.stderr);
      console.log(`      RSS during the outage (MiB): ${rss.map((r) => r.toFixed(0)).join(', ')}; ${summary.exportedEvents} events exported, ${summary.droppedEvents} dropped`);
      assert.match(log, /export failed/);
      assert.match(log, /reachable again/);
      assert.ok(summary.droppedEvents > 0, 'the bounded queue overflowed and the drops were counted');
      assert.ok(summary.exportedEvents > 0);
      assert.ok(Math.max(...rss) < 400, `memory bounded: ${rss.join(', ')} MiB`);
      assert.ok(rss[5] - rss[1] < 64, `no growth while the collector is away: ${rss.join(', ')} MiB`);
    } finally {
      if (svc.pid && svc.exitCode === null) process.kill(svc.pid, 'SIGTERM');
    }
  });
});
