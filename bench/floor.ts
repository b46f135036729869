/**
 * The benchmark's floor: the do-nothing uprobe program `mdt_noop` (bpf/map_delete.bpf.c)
 * attached at exactly the instructions the tracer probes (GoBinary.probePoints()), through the
 * same addon and BPF object, so the difference to the tracer is the tracer's own work.
 *
 *   node dist/bench/floor.js --pid PID
 *
 * Prints `ready: N probes attached` on stderr once attached, then waits until PID exits (or
 * SIGINT/SIGTERM), detaches and exits 0.
 */
import { GoBinary } from '../receiver/golang/binary';
import { loadNative } from '../receiver/native';
import { bpfObjectPath } from '../receiver/util/paths';

function main(): void {
  const i = process.argv.indexOf('--pid');
  const pid = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  if (!Number.isInteger(pid) || pid <= 0) {
    process.stderr.write('usage: floor --pid PID\n');
    process.exit(2);
  }
  const exe = `/proc/${pid}/exe`;
  const plan = GoBinary.open(exe).probePoints();
  const obj = loadNative().open(bpfObjectPath());
  // The ring buffer is never written by mdt_noop: keep it small.
  obj.setMapMaxEntries('events', 4096 * 16);
  obj.load();
  for (const p of plan.points) obj.attachUprobe('mdt_noop', exe, p.fileOffset, pid, 0n);
  process.stderr.write(
    `floor: ready: ${obj.linkCount()} probes attached (mdt_noop at ${plan.points.map((p) => `${p.function}+${p.vaddr - p.entry}`).join(', ')})\n`,
  );
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    obj.close();
    process.exit(0);
  };
  const timer = setInterval(() => {
    try {
      process.kill(pid, 0);
    } catch {
      stop();
    }
  }, 50);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main();
