/** `map-delete-tracer inspect`: what the tracer would do with a binary, without root. */
import { planForExe, planForPid } from '../attach/targets';
import { UserError } from '../util/errors';
import { one, parseArgs } from './args';

export const INSPECT_HELP = `Usage: map-delete-tracer inspect PATH | --pid PID [--format text|json]

Shows the Go version, the map implementation (classic or Swiss tables), each probe point chosen
(function, file offset, instruction) and where the goroutine-id offset came from. Needs no
privilege for a PATH.`;

export function inspectCommand(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(INSPECT_HELP + '\n');
    return 0;
  }
  const p = parseArgs('inspect', argv, { pid: { type: 'number' }, format: { type: 'string', choices: ['text', 'json'] } });
  const pid = one<number>(p, 'pid');
  if ((pid === undefined) === (p.positional.length === 0) || p.positional.length > 1) {
    throw new UserError('inspect: pass either one executable PATH or --pid PID');
  }
  const plan = pid !== undefined ? planForPid(pid) : planForExe(p.positional[0]);
  const b = plan.binary;
  const probes = b.probePoints();
  const goid = b.goidOffsets();
  if (one<string>(p, 'format') === 'json') {
    process.stdout.write(
      JSON.stringify(
        {
          path: plan.displayPath,
          go: b.goVersion,
          maps: b.mapImpl,
          pie: b.isPIE,
          module: b.buildInfo.mainPath,
          goid: goid,
          probes: probes.points,
          absent: probes.absent,
          skipped: probes.skipped,
        },
        null,
        2,
      ) + '\n',
    );
    return 0;
  }
  const lines = [
    `binary:      ${plan.displayPath}`,
    `go:          ${b.goVersion}${b.buildInfo.mainPath ? `  (module ${b.buildInfo.mainPath})` : ''}`,
    `maps:        ${b.mapImpl === 'swiss' ? 'Swiss tables' : 'classic hash maps'}`,
    `executable:  ${b.isPIE ? 'PIE' : 'fixed address'}`,
    `goroutine:   g.goid at +${goid.goid}${goid.parentGoid !== undefined ? `, g.parentGoid at +${goid.parentGoid}` : ''} (from ${goid.source === 'dwarf' ? 'DWARF' : `the table for ${b.goVersion}`})`,
    'probes:',
    ...probes.points.map(
      (pt) =>
        `  ${pt.function.padEnd(28)} offset 0x${pt.fileOffset.toString(16).padStart(6, '0')}  +${pt.vaddr - pt.entry}  ${pt.instruction.padEnd(12)} ${pt.reason}`,
    ),
    ...probes.skipped.map((s) => `  ${s.function.padEnd(28)} not probed: ${s.reason}`),
    ...(probes.absent.length ? [`absent:      ${probes.absent.join(', ')} (not linked into this binary)`] : []),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
