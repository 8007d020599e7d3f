// Writes tar archives byte by byte (ustar headers), so tests can make the hostile entries that
// well-behaved tar writers refuse to produce: absolute paths, .., devices, escaping links.
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

export interface RawEntry {
  name: string;
  /** '0' file, '1' hard link, '2' symlink, '3' char dev, '4' block dev, '5' dir, '6' fifo; 'L'
   * and 'K' are GNU long-name and long-link records (their data names the next entry). */
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6' | 'L' | 'K';
  link?: string;
  data?: string;
  /** Claimed size, to fake a huge entry without writing it. */
  size?: number;
  /** Permission bits (default 0755 for directories, 0644 otherwise). */
  mode?: number;
}

function header(e: RawEntry, size: number): Buffer {
  const h = Buffer.alloc(512, 0);
  const put = (off: number, len: number, s: string): void => void h.write(s.slice(0, len), off, 'utf8');
  const oct = (off: number, len: number, n: number): void => put(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
  put(0, 100, e.name);
  oct(100, 8, e.mode ?? (e.type === '5' ? 0o755 : 0o644));
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, size);
  oct(136, 12, 1_700_000_000);
  h.write('        ', 148, 'ascii');
  put(156, 1, e.type ?? '0');
  if (e.link) put(157, 100, e.link);
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

export function writeTar(path: string, entries: RawEntry[], gzip = false): void {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const carries = ['0', 'L', 'K'].includes(e.type ?? '0');
    const size = e.size ?? (carries ? data.length : 0);
    parts.push(header(e, size));
    if (carries && e.size === undefined && data.length) {
      parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    } else if (e.size !== undefined) {
      parts.push(Buffer.alloc(Math.ceil(e.size / 512) * 512));
    }
  }
  parts.push(Buffer.alloc(1024));
  const buf = Buffer.concat(parts);
  writeFileSync(path, gzip ? gzipSync(buf) : buf);
}
