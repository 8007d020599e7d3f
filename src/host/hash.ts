// sha256 for the pure core (which receives it as an argument), and of files read in pieces.
import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync, constants as C } from 'node:fs';
import type { Sha256Hex } from '../core/seal.js';

export const sha256Hex: Sha256Hex = (text) => createHash('sha256').update(text, 'utf8').digest('hex');

/** sha256 of a file, read in pieces; of nothing if it does not exist. */
export function sha256File(path: string): string {
  const h = createHash('sha256');
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW);
  } catch {
    return h.digest('hex');
  }
  try {
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}
