import * as fs from 'node:fs';
import { UserError } from './errors';

/**
 * Reads a PEM file named in the configuration. `setting` is how the user wrote it (for example
 * `receivers.otlp.protocols.grpc.tls.cert_file`), so the one-line error says what to fix.
 */
export function readPem(setting: string, file: string): Buffer {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    throw new UserError(`${setting}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)} (check the path and its permissions)`);
  }
  if (!data.includes('-----BEGIN ')) throw new UserError(`${setting}: ${file} is not a PEM file (expected a "-----BEGIN …" block)`);
  return data;
}

/** readPem for an optional setting: null when it is not set. */
export function readPemIfSet(setting: string, file: string | undefined): Buffer | null {
  return file ? readPem(setting, file) : null;
}
