// Edit distance for "did you mean" hints (pure): a misspelt manifest key, a misspelt syscall name
// in an OCI seccomp profile, a misspelt command.

/** Levenshtein distance between a and b (insertions, deletions, substitutions; one row kept). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The allowed name a typo most likely meant: within two edits (Levenshtein), and fewer than
 * half its length; the closest, else none. */
export function nearest(name: string, allowed: readonly string[]): string | null {
  let best: { n: string; d: number } | null = null;
  for (const n of allowed) {
    const d = editDistance(name.toLowerCase(), n.toLowerCase());
    if (d <= 2 && d * 2 < n.length && (!best || d < best.d)) best = { n, d };
  }
  return best?.n ?? null;
}

/**
 * Optimal string alignment distance: Levenshtein's edits, and a swap of two neighbours as one
 * (a typed command's likeliest slip: `exce`, `lsit`, which Levenshtein counts as two).
 */
export function swapDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
