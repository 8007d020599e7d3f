// sha256 for the pure core (which receives it as an argument), and of files read in pieces.
import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync, constants as C } from 'node:fs';
import type { Sha256Hex } from '../core/seal.js';

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
  const h = createHash('sha256');
  const buf = Buffer.alloc(1 << 16);
  let size = 0;
  for (let n; (n = readSync(fd, buf, 0, buf.length, size)) > 0; size += n) {
    if (size + n > limit) return null;
    const piece = buf.subarray(0, n);
    h.update(piece);
    each?.(piece);
  }
  return { sha256: h.digest('hex'), size };
}
