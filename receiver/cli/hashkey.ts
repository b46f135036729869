/** `map-delete-tracer hash-key`: the hash `watch` shows for a key, without capturing keys. */
import { KEY_KINDS, KeyValueError, hashHex, hashKey, type KeyKind } from '../events/keyhash';
import { UserError } from '../util/errors';
import { one, parseArgs } from './args';

export const HASH_KEY_HELP = `Usage: map-delete-tracer hash-key --type string|int64|uint64|int32|uint32|hex VALUE

Prints the 16-hex-digit key hash that \`watch\` reports for this key: FNV-1a 64 over the key's
bytes (a string's UTF-8 bytes; an integer's little-endian bytes; hex: the bytes as given).
Keys longer than 128 bytes hash their first 128 bytes followed by their length (8 bytes, LE).`;

export function hashKeyCommand(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HASH_KEY_HELP + '\n');
    return 0;
  }
  const p = parseArgs('hash-key', argv, { type: { type: 'string', choices: KEY_KINDS } });
  const kind = (one<string>(p, 'type') ?? 'string') as KeyKind;
  if (p.positional.length !== 1) throw new UserError('hash-key: pass exactly one VALUE (quote it if it has spaces)');
  try {
    process.stdout.write(hashHex(hashKey(kind, p.positional[0])) + '\n');
  } catch (err) {
    if (err instanceof KeyValueError) throw new UserError(`hash-key: ${err.message}`);
    throw err;
  }
  return 0;
}
