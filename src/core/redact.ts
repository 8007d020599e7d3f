// What a record must not spell: the workload's secret values. Reports, journal lines and denial
// records hold paths a workload chose, and a tool can name a file after its token. Pure, and
// without imports: the wasm runner's snapshot takes it as it is (its file host redacts too).

/** What a path or a reason holding a secret value is recorded as (docs/denials.md). */
export const REDACTED = '<redacted: holds a secret value>';

/** Whether `text` spells any of the values (an empty value spells nothing), also across the
 * directories of a path. */
export function holdsSecret(text: string, values: readonly string[]): boolean {
  return values.some((v) => v.length > 0 && (text.includes(v) || spansNames(text, v)));
}

/** The value spelled across a path's names: a tool that shards a name into directories (git's
 * objects: ab/cdef…) spells a token split by `/`s, and so can a workload on purpose. The value's
 * own `/`s stay required; a value of fewer than SPAN_MIN other characters is only looked for
 * whole (split, it would match common paths: `/run/s` in `/usr/bin/runsv`). */
export function spansNames(text: string, value: string): boolean {
  if (!text.includes('/')) return false;
  const re = spanPattern(value);
  return re !== null && re.test(text);
}

const SPAN_MIN = 8;
const spanPatterns = new Map<string, RegExp | null>();
function spanPattern(value: string): RegExp | null {
  let re = spanPatterns.get(value);
  if (re === undefined) {
    const chars = [...value];
    re = chars.filter((c) => c !== '/').length < SPAN_MIN ? null : new RegExp(chars.map((c) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('/*'), 'u');
    spanPatterns.set(value, re);
  }
  return re;
}

/**
 * The strings a record must not spell, from the workload's secret values (in the environment's
 * order, as resolved): each value, and its trimmed form where that differs (a tool that names a
 * file after its token trims the newline a token file ends with). Empty ones match everything
 * and name nothing: left out.
 */
export function redactionValues(env: ReadonlyArray<{ secret?: string }>, lookup: (secret: string) => string | undefined): string[] {
  return redactionForms(env.flatMap((e) => (e.secret === undefined ? [] : [lookup(e.secret) ?? ''])));
}

/** The forms of secret values a redaction looks for: each value and its trimmed form (a token
 * read from a file ends in a newline the workload need not keep), none empty, each once. A value
 * of whitespace only is left out, as an empty one: it would match every newline of every name
 * and every output (bvmonitor.c keep_secrets does the same). */
export function redactionForms(values: readonly string[]): string[] {
  const out = new Set<string>();
  for (const v of values) if (v.trim().length > 0) for (const s of [v, v.trim()]) out.add(s);
  return [...out];
}
