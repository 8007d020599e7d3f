// A plan's clause names when the planner folds two clauses into one setting (pure): one rlimit
// per resource (planner.ts oneRlimitEach) is named "a + b". What reads a name back (the report's
// limits.cpu, a refusal's place in the manifest) splits it here.

const FOLD = ' + ';

/** The name of a setting two clauses share. */
export function foldClauses(a: string, b: string): string {
  return `${a}${FOLD}${b}`;
}

/** The clauses a name stands for: itself, or each of those folded into it. */
export function clausesOf(name: string): string[] {
  return name.split(FOLD);
}
