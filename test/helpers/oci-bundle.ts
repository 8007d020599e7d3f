// An OCI bundle as containerd writes it (its real default config, test/fixtures/oci) around a
// busybox rootfs, its cgroup leaf under the test's cgroup parent (as an engine gives its own).
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultTestParent } from './cgroups.js';

export const BUSYBOX = '/bin/busybox';

/** Makes `dir` with `rootfs/` (busybox, `applets` linked to it, the directories a container
 * mounts over) and a config.json running `args`, edited by `edit`; returns `dir`. */
export function containerdBundle(dir: string, args: string[], applets: readonly string[], edit: (c: Record<string, any>) => void = () => {}): string {
  const r = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'dev', 'sys', 'tmp', 'run']) mkdirSync(join(r, d), { recursive: true });
  copyFileSync(BUSYBOX, join(r, 'bin', 'busybox'));
  chmodSync(join(r, 'bin', 'busybox'), 0o755);
  for (const a of applets) symlinkSync('busybox', join(r, 'bin', a));
  const c = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'oci', 'containerd-config.json'), 'utf8'));
  c.process.args = args;
  const parent = defaultTestParent();
  const leaf = Math.random().toString(36).slice(2, 8);
  c.linux.cgroupsPath = parent === null ? `bvisor-oci/${leaf}` : `${parent}/oci-${leaf}`;
  edit(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c, null, 2));
  return dir;
}
