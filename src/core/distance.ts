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
