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
    return { name: e.name, value };
  });
}
