/**
 * Globs for Go type names. Only `*` (any run) and `?` (one character) are wildcards: Go type
 * names are full of `[`, `]` and `*`, so `map[string]*main.User` must match itself literally
 * — a literal `*` in a pattern also matches a literal `*`, since `*` matches any run.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
