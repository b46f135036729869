#!/usr/bin/env node
/** Entry point: dispatches commands; user errors print one line and exit non-zero. */
import { UserError } from './util/errors';
import { watchCommand } from './cli/watch';
import { hashKeyCommand } from './cli/hashkey';
import { inspectCommand } from './cli/inspect';
import { runCommand } from './cli/run';
import { rulesCommand } from './cli/rules';

const HELP = `Usage: map-delete-tracer <command> [options]

Commands:
  watch     print every Go map delete in running processes (--pid, --exe)
  run       trace and export deletes as OpenTelemetry spans (--config FILE)
  inspect   show what would be probed in a Go binary
  rules     check alert rules; --prometheus writes them as Prometheus rules
  hash-key  print the hash watch shows for a key

Run \`map-delete-tracer <command> --help\` for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'watch':
      return watchCommand(rest);
    case 'run':
      return runCommand(rest);
    case 'inspect':
      return inspectCommand(rest);
    case 'hash-key':
      return hashKeyCommand(rest);
    case 'rules':
      return rulesCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP + '\n');
      return command === undefined ? 2 : 0;
    case '--version':
      process.stdout.write(require('../../package.json').version + '\n');
      return 0;
    default:
      throw new UserError(`unknown command "${command}" (commands: watch, run, inspect, hash-key, rules; see --help)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UserError) {
      process.stderr.write(`map-delete-tracer: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`map-delete-tracer: internal error: ${(err as Error)?.stack ?? err}\n`);
      process.exitCode = 70;
    }
  },
);
