// Secrets are named in the manifest and looked up only at launch, from BVISOR_SECRET_<NAME>
// in bvisor's environment (or the API's secrets map, which is keyed the same way). Plans and
// reports carry the reference (the variable's name); the value goes to the workload alone.
import { BvisorError } from '../contract/errors.js';

/** The variable a secret is read from: api-token → BVISOR_SECRET_API_TOKEN. */
export function secretVar(name: string): string {
  return `BVISOR_SECRET_${name.toUpperCase().replace(/-/g, '_')}`;
}

/** U+FFFD, or a surrogate without its other half. */
const NOT_AS_GIVEN = /\uFFFD|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

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
    // Node reads its environment as UTF-8 and puts U+FFFD where bytes are not: the workload would
    // get another value than the one set (and a lone surrogate from the API has no UTF-8 at all).
    if (NOT_AS_GIVEN.test(value)) {
      throw new BvisorError('BV_SECRET_INVALID', `env.${e.name}: the value of secret "${e.secret}" is not UTF-8 text the workload would get as given (it holds U+FFFD, where bytes that are not UTF-8 were read, or a lone surrogate)`, { hint: `give ${secretVar(e.secret)} a UTF-8 value (encode binary secrets, e.g. as base64)` });
    }
    return { name: e.name, value };
  });
}
