// sha256 for the pure core (which receives it as an argument), and of files read in pieces; and
// whether bytes a workload wrote hold one of its secret values (a report then gives no hash of
// them: a hash of bytes around a low-entropy secret, a `.netrc` line, is a guess checked offline).
import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync, constants as C } from 'node:fs';
import type { Sha256Hex } from '../core/seal.js';
import { runSteps, type Steps } from './steps.js';

export const sha256Hex: Sha256Hex = (text) => createHash('sha256').update(text, 'utf8').digest('hex');

/** sha256 of a file, read in pieces; of nothing if it does not exist. */
export function sha256File(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW);
  } catch {
    return sha256Hex('');
  }
  try {
    return hashFd(fd, Infinity)!.sha256;
  } finally {
    closeSync(fd);
  }
}

/**
 * sha256 and size of what a descriptor holds, read from offset 0 to its end in pieces, each piece
 * handed to `each` too (a copy made as it is hashed); null as soon as it holds more than `limit`
 * bytes (a file still growing is not the one that was measured, and is read no further). A read
 * error is thrown as Node's.
 */
export function hashFd(fd: number, limit: number, each?: (piece: Buffer) => void): { sha256: string; size: number } | null {
  return runSteps(hashFdSteps(fd, limit, each));
}

/** hashFd as steps (host/steps.ts): it may pause after each piece. */
export function* hashFdSteps(fd: number, limit: number, each?: (piece: Buffer) => void): Steps<{ sha256: string; size: number } | null> {
  const h = createHash('sha256');
  const buf = Buffer.alloc(1 << 16);
  let size = 0;
  for (let n; (n = readSync(fd, buf, 0, buf.length, size)) > 0; size += n) {
    if (size + n > limit) return null;
    const piece = buf.subarray(0, n);
    h.update(piece);
    each?.(piece);
    yield;
  }
  return { sha256: h.digest('hex'), size };
}

/** The values to look for in bytes: each once, none empty, none that holds another (bytes that
 * hold it hold the other too: a token and its trimmed form are one search). */
export function searchForms(values: readonly string[]): string[] {
  const set = [...new Set(values.filter((v) => v.length > 0))];
  return set.filter((v) => !set.some((w) => w !== v && v.includes(w)));
}

/** Whether `bytes` hold one of `values` (UTF-8), whole. */
export function holdsValue(bytes: Uint8Array | null, values: readonly string[]): boolean {
  if (!bytes || !values.length) return false;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return searchForms(values).some((v) => b.includes(v, 0, 'utf8'));
}

/** A stream's kept bytes whose hash would say something of a secret value: they hold one, or
 * they were cut (limits.output) while the workload had secrets, where the cut may fall inside
 * one and leave its first characters at their end. */
export function streamHoldsSecret(kept: Uint8Array | null, truncated: boolean, values: readonly string[]): boolean {
  return values.length > 0 && (truncated || holdsValue(kept, values));
}

/**
 * Watches bytes read in pieces (hashFd's `each`) for the values, whole, also where one straddles
 * two pieces: each piece is searched, then the join of the last bytes before it (one fewer than
 * the longest value) with its first ones.
 */
/** The search budget (bytes read times values searched for: ValueWatch.cost) that goes with a
 * bound on bytes hashed: twice it, so that with one value the hash's bound is the one met. */
export function searchBudgetFor(hashedBytes: number): number {
  return 2 * hashedBytes;
}

export class ValueWatch {
  private readonly needles: Buffer[];
  private readonly keep: number;
  private tail: Buffer = Buffer.alloc(0);
  found = false;
  constructor(values: readonly string[]) {
    this.needles = searchForms(values).map((v) => Buffer.from(v, 'utf8'));
    this.keep = Math.max(0, ...this.needles.map((n) => n.length - 1));
  }
  /** How many values each byte is searched for. */
  get values(): number {
    return this.needles.length;
  }
  /** What reading `bytes` costs against a search budget: each byte searched for each value, and
   * the join of each 64 KiB piece with the last bytes before it (up to twice the longest value). */
  cost(bytes: number): number {
    return this.needles.length * (bytes + Math.ceil(bytes / 65536) * 2 * this.keep);
  }
  readonly see = (piece: Buffer): void => {
    if (this.found || !this.needles.length) return;
    const join = this.tail.length ? Buffer.concat([this.tail, piece.subarray(0, this.keep)]) : null;
    if (this.needles.some((n) => piece.includes(n) || (join !== null && join.includes(n)))) {
      this.found = true;
      return;
    }
    // Copied: the reader reuses its buffer for the next piece.
    const last = piece.length >= this.keep ? piece.subarray(piece.length - this.keep) : Buffer.concat([this.tail, piece]).subarray(-this.keep);
    this.tail = Buffer.from(last);
  };
}
