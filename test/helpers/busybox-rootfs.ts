// A container rootfs for live tests: busybox (its sh) and our probe under /bin, and the empty
// directories a container mounts over.
import { chmodSync, copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PROBE } from './probe.js';

export const BUSYBOX = '/bin/busybox';

/** Makes `<dir>/rootfs` (mode `mode`) and returns its path. */
export function busyboxRootfs(dir: string, mode = 0o755): string {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'tmp', 'proc', 'dev', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
  chmodSync(rootfs, mode);
  copyFileSync(PROBE, join(rootfs, 'bin', 'bvprobe'));
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  chmodSync(join(rootfs, 'bin', 'bvprobe'), 0o755);
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
  symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
  return rootfs;
}
