// A package laid out like the installed one, in a temp dir, whose parts a test can take away
// (a stale or missing snapshot, a native artifact missing): its bin/bvisor and snapshot files are
// copies, the rest links to this checkout's.
import { copyFileSync, mkdirSync, readdirSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.js';
import { tempDir } from './tmp.js';

/** The copy's root. `withoutNative` names files of native-shim/build the copy lacks. */
export function packageCopy(o: { withoutNative?: readonly string[] } = {}): string {
  const p = tempDir();
  mkdirSync(join(p, 'bin'));
  for (const f of ['bvisor', 'run.js']) copyFileSync(join(ROOT, 'bin', f), join(p, 'bin', f));
  mkdirSync(join(p, 'dist'));
  for (const e of readdirSync(join(ROOT, 'dist'))) if (e !== 'snapshot') symlinkSync(join(ROOT, 'dist', e), join(p, 'dist', e));
  mkdirSync(join(p, 'dist', 'snapshot'));
  for (const f of readdirSync(join(ROOT, 'dist', 'snapshot'))) {
    const from = join(ROOT, 'dist', 'snapshot', f);
    copyFileSync(from, join(p, 'dist', 'snapshot', f));
    utimesSync(join(p, 'dist', 'snapshot', f), statSync(from).atime, statSync(from).mtime); // the stamp's mtime is its content
  }
  for (const e of ['node_modules', 'package.json', 'oclif.manifest.json']) symlinkSync(join(ROOT, e), join(p, e));
  if (!o.withoutNative?.length) {
    symlinkSync(join(ROOT, 'native-shim'), join(p, 'native-shim'));
    return p;
  }
  mkdirSync(join(p, 'native-shim', 'build'), { recursive: true });
  for (const f of readdirSync(join(ROOT, 'native-shim', 'build'))) if (!o.withoutNative.includes(f)) symlinkSync(join(ROOT, 'native-shim', 'build', f), join(p, 'native-shim', 'build', f));
  return p;
}
