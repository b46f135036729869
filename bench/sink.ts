/**
 * A local OTLP/gRPC sink for the benchmark: receiver/otlp/server.ts's OtlpGrpcReceiver with a
 * consumer that accepts every request and discards it (after the receiver's own wire check).
 *
 *   node dist/bench/sink.js [--port N]
 *
 * stdout: {"event":"listening","port":N} once bound; on SIGINT/SIGTERM
 * {"event":"stats","requests":R,"bytes":B,...} and exit 0.
 */
import { OtlpGrpcReceiver } from '../receiver/otlp/server';

async function main(): Promise<void> {
  const i = process.argv.indexOf('--port');
  const port = i >= 0 ? Number(process.argv[i + 1]) : 0;
  const rx = new OtlpGrpcReceiver(
    // Generous bounds: the sink must never be the one pushing back.
    { endpoint: `127.0.0.1:${port}`, maxRecvMsgSizeBytes: 64 * 1024 * 1024, maxInflightRequests: 1024, maxInflightBytes: 1024 * 1024 * 1024 },
    async () => undefined,
  );
  const bound = await rx.start();
  process.stdout.write(JSON.stringify({ event: 'listening', port: bound.port }) + '\n');
  const stop = async () => {
    await rx.shutdown(1000).catch(() => undefined);
    const s = rx.stats;
    process.stdout.write(
      JSON.stringify({ event: 'stats', requests: s.received, bytes: s.receivedBytes, accepted: s.accepted, refused_busy: s.refusedBusy, malformed: s.malformed }) + '\n',
    );
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((e) => {
  process.stderr.write(`sink: ${(e as Error).message}\n`);
  process.exit(1);
});
