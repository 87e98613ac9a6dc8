/** "Did you mean" for misspelt keys and values. */

/** Optimal-string-alignment distance: a swap of two neighbours (nmae/name) counts as one edit. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

const squash = (s: string): string => s.toLowerCase().replace(/[_\-\s]/g, '');

/** The closest candidate if it is close enough to be a likely typo (or a camelCase/kebab-case spelling), else undefined. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const byShape = candidates.find((c) => squash(c) === squash(input));
  if (byShape !== undefined) return byShape;
  const limit = input.length <= 4 ? 1 : input.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(squash(input), squash(c));
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= limit ? best : undefined;
}
