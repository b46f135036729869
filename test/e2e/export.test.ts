/**
 * `run` exporting to a real OpenTelemetry Collector that forwards to a real Jaeger v2: the
 * fixture's deletes must arrive in Jaeger as span events with the goroutine id, key hash, caller
 * file:line and stack, under the fixture's own service name.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadFixtureManifest, startFixture, type FixtureOp } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { parseRunSummary, runCli } from '../helpers/tracer';
import { jaegerTraces, waitFor } from '../helpers/otel';
import { hashHex, hashKey, type KeyKind } from '../../receiver/events/keyhash';
import { eventsOf, tracerConfig, useCollectorAndJaeger, type JaegerEvent } from '../helpers/jaeger-events';

function keyKind(type: string): KeyKind | undefined {
  if (type === 'string') return 'string';
  if (['int64', 'uint64', 'int32', 'uint32'].includes(type)) return type as KeyKind;
  return undefined;
}

describe('export to a real collector and Jaeger', function () {
  this.timeout(15 * 60_000); // the first run builds otelcol and Jaeger
  const otel = useCollectorAndJaeger('mdt-export-');

  it('delivers every delete as a span event with goroutine, key hash, caller and stack', async function () {
    requireBpf(this);
    const build = loadFixtureManifest().filter((b) => b.mode === 'pie' && !b.experiment).sort((a, b) => a.go.localeCompare(b.go, 'en', { numeric: true })).at(-1)!;
    const service = `deleter-e2e-${process.pid}-${Date.now() % 100000}`;
    const fx = await startFixture(build.path, { linger: true }, { env: { ...process.env, OTEL_SERVICE_NAME: service } });
    try {
      const cfg = path.join(otel.tmp, 'tracer.yaml');
      fs.writeFileSync(cfg, tracerConfig(otel.collector().otlpGrpc));
      const tracer = runCli(['run', '--config', cfg, '--pid', String(fx.pid)]);
      await tracer.attached;
      fx.go();
      const ops = await fx.ops;
      fx.endInput();
      await fx.exited;
      const done = await tracer.exited;
      assert.equal(done.code, 0, done.stderr.join('\n'));
      const summary = parseRunSummary(done.stderr);
      assert.equal(summary.droppedEvents, 0, done.stderr.join('\n'));

      const mine = (evs: JaegerEvent[]) => evs.filter((e) => String(e.fields['code.function.name']).startsWith('main.'));
      const events = await waitFor(
        async () => {
          const evs = mine(eventsOf(await jaegerTraces(otel.jaeger().queryUrl, service, { limit: 1000 })));
          return evs.length >= ops.length ? evs : undefined;
        },
        60_000,
        `${ops.length} delete events of ${service} in Jaeger`,
      );
      assert.equal(events.length, ops.length, 'one event per delete, never two');
      for (const e of events) {
        assert.equal(e.service, service);
        assert.equal(e.span, 'go.map.deletes');
      }
      const unmatched: FixtureOp[] = [];
      for (const op of ops) {
        const kind = op.op === 'delete' ? keyKind(op.key_type) : undefined;
        const hash = kind ? hashHex(hashKey(kind, op.key)) : undefined;
        const hit = events.find(
          (e) =>
            e.fields['event'] === (op.op === 'clear' ? 'go.map.clear' : 'go.map.delete') &&
            Number(e.fields['go.goroutine.id']) === op.goid &&
            e.fields['go.map.address'] === op.map &&
            e.fields['go.map.type'] === op.type &&
            e.fields['code.file.path'] === op.file &&
            Number(e.fields['code.line.number']) === op.line &&
            e.fields['code.function.name'] === op.func &&
            (hash === undefined || e.fields['go.map.key.hash'] === hash) &&
            String(e.fields['code.stacktrace']).includes(`${op.file}:${op.line}`),
        );
        if (!hit) unmatched.push(op);
      }
      assert.deepEqual(unmatched, [], 'every fixture op found in Jaeger');
      for (const e of events) assert.equal(e.fields['go.map.key.value'], undefined, 'no key values without capture_keys');
    } finally {
      fx.kill();
    }
  });
});
