// Human units in manifests: durations (500ms, 30s, 2m, 1h) and sizes (4096, 64Ki, 256Mi, 10M).
// Binary suffixes are powers of 1024 (as Kubernetes writes them), decimal ones powers of 1000.
// Results are integers (milliseconds, bytes); anything not exactly representable is an error.

const DURATION = /^([0-9]{1,9})(?:\.([0-9]{1,3}))?(ms|s|m|h)$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, or null when the text is not a duration. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text);
  if (!m) return null;
  const [, whole, frac = '', unit = 's'] = m;
  const scale = DURATION_MS[unit] ?? 1;
  // Fixed-point arithmetic so 1.5s is exactly 1500 ms.
  const fracScaled = frac === '' ? 0 : (Number(frac) * scale) / 10 ** frac.length;
  const ms = Number(whole) * scale + fracScaled;
  if (!Number.isSafeInteger(ms)) return null;
  return ms;
}

const SIZE = /^([0-9]{1,15})(Ki|Mi|Gi|Ti|K|M|G|T|B)?$/;
const SIZE_MULT: Record<string, number> = {
  B: 1,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** Bytes, or null when not a size or not a safe integer. */
export function parseSize(value: number | string): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  const m = SIZE.exec(value);
  if (!m) return null;
  const bytes = Number(m[1]) * (SIZE_MULT[m[2] ?? 'B'] ?? 1);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** The size suffixes, largest first: binary (what formatSize writes), then decimal. */
export const BINARY_UNITS: ReadonlyArray<readonly [string, number]> = [['Ti', SIZE_MULT.Ti!], ['Gi', SIZE_MULT.Gi!], ['Mi', SIZE_MULT.Mi!], ['Ki', SIZE_MULT.Ki!]];
export const DECIMAL_UNITS: ReadonlyArray<readonly [string, number]> = [['T', SIZE_MULT.T!], ['G', SIZE_MULT.G!], ['M', SIZE_MULT.M!], ['K', SIZE_MULT.K!]];

/** 268435456 → "256Mi"; used to echo limits back in words. */
export function formatSize(bytes: number): string {
  for (const [suffix, mult] of BINARY_UNITS) {
    if (bytes >= mult && bytes % mult === 0) return `${bytes / mult}${suffix}`;
  }
  return `${bytes}`;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const POWER = ['', '', '²', '³', '⁴'];
const LETTER_POWER: Record<string, number> = { K: 1, M: 2, G: 3, T: 4 };

/**
 * What a size written in another tool's way most likely meant, in ours, best first; empty when
 * it does not look like a size at all. docker's `-m 64m` and `1g` are binary (64Mi, 1Gi);
 * "64MB" and "64 M" carry a B or a space this grammar does not take, and are offered both ways.
 * Each comes with what it means: "64Mi (64 × 1024² bytes)".
 */
export function sizeMeant(text: string): string[] {
  const m = /^\s*([0-9]{1,15})\s*([kmgtKMGT])(i?)([bB]?)\s*$/.exec(text);
  if (m) {
    const [, n, letter, i, b] = m as unknown as [string, string, string, string, string];
    const u = letter.toUpperCase();
    const p = POWER[LETTER_POWER[u]!]!;
    const binary = `${n}${u}i (${n} × 1024${p} bytes)`;
    const decimal = `${n}${u} (${n} × 1000${p} bytes)`;
    // A lower-case letter alone is docker's and ulimit's binary unit; with a B it is the SI one.
    const both = i ? [binary] : letter === letter.toLowerCase() && !b ? [binary, decimal] : [decimal, binary];
    // Only what the grammar takes (15 digits of T may not be a safe integer of bytes).
    return both.filter((x) => parseSize(x.slice(0, x.indexOf(' '))) !== null);
  }
  const bytes = /^\s*([0-9]{1,15})\s*(?:b|bytes?)\s*$/i.exec(text);
  return bytes ? [`${bytes[1]} (bytes)`] : [];
}

const DURATION_WORDS: Record<string, string> = { ms: 'ms', msec: 'ms', msecs: 'ms', millisecond: 'ms', milliseconds: 'ms', s: 's', sec: 's', secs: 's', second: 's', seconds: 's', m: 'm', min: 'm', mins: 'm', minute: 'm', minutes: 'm', h: 'h', hr: 'h', hrs: 'h', hour: 'h', hours: 'h' };

/** What a duration written another way most likely meant ("10sec", "2 min", "1H" → 10s, 2m,
 * 1h); a bare number (1.5 too) is taken as seconds, as timeout(1) does. Empty when nothing is
 * near, or when it is already a duration. */
export function durationMeant(value: unknown): string[] {
  if (typeof value === 'number') return value >= 0 && parseDuration(`${value}s`) !== null ? [`${value}s`] : [];
  if (typeof value !== 'string') return [];
  const m = /^\s*([0-9]{1,9}(?:\.[0-9]{1,3})?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!m) return [];
  const unit = m[2] === '' ? 's' : DURATION_WORDS[m[2]!.toLowerCase()];
  const meant = unit === undefined ? null : `${m[1]}${unit}`;
  return meant !== null && parseDuration(value) === null && parseDuration(meant) !== null ? [meant] : [];
}
