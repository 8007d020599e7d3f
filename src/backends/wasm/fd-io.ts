// Whole reads and writes on the descriptors bvisor's wasm processes (the runner, the rewriter)
// are handed: synchronous, as those processes are from start to end. A descriptor may come
// non-blocking (a pipe end's file description is shared with whoever set O_NONBLOCK on it):
// EAGAIN waits a millisecond and tries again.
import { readSync, writeSync } from 'node:fs';

// Made on first use: the runner's start-up snapshot holds this module (no shared memory in it).
let pause: Int32Array | null = null;
function again(e: unknown): boolean {
  if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return false;
  Atomics.wait((pause ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, 1);
  return true;
}

/** Everything `fd` holds, up to its end. */
export function readAll(fd: number): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if (again(e)) continue;
      throw e;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

/** All of `bytes`, written to `fd`. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(fd, bytes, at, bytes.length - at);
    } catch (e) {
      if (!again(e)) throw e;
    }
  }
}
