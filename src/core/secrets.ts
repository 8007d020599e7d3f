// Secrets are named in the manifest and looked up only at launch, from BVISOR_SECRET_<NAME>
// in bvisor's environment (or the API's secrets map, which is keyed the same way). Plans and
// reports carry the reference (the variable's name); the value goes to the workload alone.
import { BvisorError } from '../contract/errors.js';

/** The variable a secret is read from: api-token → BVISOR_SECRET_API_TOKEN. */
export function secretVar(name: string): string {
  return `BVISOR_SECRET_${name.toUpperCase().replace(/-/g, '_')}`;
}

/** The workload's environment with each secret reference replaced by its value. */
export function resolveEnv(env: ReadonlyArray<{ name: string; value?: string; secret?: string }>, lookup: (secret: string) => string | undefined): Array<{ name: string; value: string }> {
  return env.map((e) => {
    if (e.secret === undefined) return { name: e.name, value: e.value ?? '' };
    const value = lookup(e.secret);
    if (value === undefined) throw new BvisorError('BV_SECRET_MISSING', `env.${e.name}: secret "${e.secret}" is not provided`, { hint: `set ${secretVar(e.secret)} in bvisor's environment (it is passed to the workload only)` });
    // execve(2) ends each environment string at NUL: the workload would get a different value
    // than the one given. Refused here, naming the variable and never echoing the value, which
    // would otherwise reach an error message (and from there a log).
    if (typeof value !== 'string' || value.includes('\0')) {
      throw new BvisorError('BV_SECRET_INVALID', `env.${e.name}: the value of secret "${e.secret}" is not a string without NUL bytes`, { hint: `give ${secretVar(e.secret)} a value without NUL (an environment string cannot hold one)` });
    }
    return { name: e.name, value };
  });
}

/**
 * The strings a record must not spell, from the workload's secret values (in the environment's
 * order, as resolved): each value, and its trimmed form where that differs (a tool that names a
 * file after its token trims the newline a token file ends with). Empty ones match everything
 * and name nothing: left out.
 */
export function redactionValues(env: ReadonlyArray<{ secret?: string }>, lookup: (secret: string) => string | undefined): string[] {
  const out = new Set<string>();
  for (const e of env) {
    if (e.secret === undefined) continue;
    const v = lookup(e.secret) ?? '';
    for (const s of [v, v.trim()]) if (s.length > 0) out.add(s);
  }
  return [...out];
}
