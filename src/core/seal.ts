// Canonical JSON (RFC 8785, JCS) and content hashes. The hash function is passed in (node:crypto
// in the host layer) so this module stays pure; RFC 8785 comes from the `canonicalize` package.
import canonicalizeImpl from 'canonicalize';

export type Sha256Hex = (text: string) => string;

const canonicalizeFn = canonicalizeImpl as unknown as (value: unknown) => string | undefined;

/** RFC 8785 canonical JSON. Throws on values JSON cannot hold (undefined at top, NaN, …). */
export function canonicalJson(value: unknown): string {
  const out = canonicalizeFn(value);
  if (out === undefined) throw new TypeError('value has no canonical JSON form');
  return out;
}

export function contentHash(value: unknown, sha256: Sha256Hex): string {
  return sha256(canonicalJson(value));
}
