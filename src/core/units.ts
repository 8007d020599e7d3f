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
