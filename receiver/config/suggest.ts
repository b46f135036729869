/** "Did you mean …?" for misspelt keys and names. */

/** Edit distance with adjacent transpositions (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** Case, `_` and `-` do not count: `captureKeys` and `Capture-Keys` both mean `capture_keys`. */
const normalize = (s: string) => s.toLowerCase().replace(/[_-]/g, '');

/** The candidate `word` was most likely meant to be, if one is close enough. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = normalize(word);
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const n = normalize(c);
    const score = editDistance(w, n);
    const limit = Math.max(1, Math.floor(Math.max(w.length, n.length) / 3));
    if (score <= limit && score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

/** ` (did you mean "x"?)`, or `fallback` when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>, fallback = ''): string {
  const c = closest(word, candidates);
  return c !== undefined ? ` (did you mean "${c}"?)` : fallback;
}
