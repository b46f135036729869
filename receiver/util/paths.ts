import * as fs from 'node:fs';
import * as path from 'node:path';

let root: string | undefined;

/** The package's root folder, whether running from receiver/ sources or compiled dist/. */
export function packageRoot(): string {
  if (root) return root;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'map-delete-tracer') {
      return (root = dir);
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the map-delete-tracer package root');
    dir = up;
  }
}

export function bpfObjectPath(): string {
  return path.join(packageRoot(), 'bpf', 'build', 'map_delete.bpf.o');
}
