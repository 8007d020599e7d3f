// removeTree (src/host/remove-tree.ts): rm -rf by descriptor, for trees a workload or an archive
// shaped. Oracle: the disk. The tree is made here as a workload would make it (a failed test's
// is left to the temp dirs' cleanup, which falls back to GNU rm).
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync, type OpenDirOptions, type PathLike } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeTree } from '../../src/host/remove-tree.js';
import { BvisorError } from '../../src/contract/errors.js';
import { mkdirChain, tempDir } from '../helpers/tmp.js';

describe('removeTree', () => {
  it('removes a tree deeper than PATH_MAX, names that are not UTF-8, a mode-000 directory, and no symlink target', () => {
    const parent = tempDir();
    const top = join(parent, 'q');
    mkdirSync(top);
    const victim = join(parent, 'victim');
    mkdirSync(victim);
    writeFileSync(join(victim, 'keep'), 'x');
    // 18 directories of 250 bytes (over 4096 bytes of path).
    mkdirChain(top, Array.from({ length: 18 }, (_, i) => `${String(i).padStart(2, '0')}${'n'.repeat(248)}`), { name: 'deep.txt', data: 'deep' });
    writeFileSync(Buffer.from(`${top}/bad\xffname`, 'latin1'), 'x');
    mkdirSync(join(top, 'locked'));
    writeFileSync(join(top, 'locked', 'f'), 'x');
    chmodSync(join(top, 'locked'), 0o000);
    symlinkSync(victim, join(top, 'link'));
    chmodSync(top, 0o500); // frozen, as a quarantine is
    removeTree(top);
    expect(existsSync(top)).toBe(false);
    expect(readdirSync(victim)).toEqual(['keep']);
  });

  it('a directory of 5000 subdirectories is read a few times, not once per subdirectory (each re-read from its start made a wide tree quadratic: 120,000 took 81 s)', () => {
    const top = join(tempDir(), 'q');
    mkdirSync(top);
    const n = 5000;
    for (let i = 0; i < n; i++) {
      mkdirSync(join(top, `d${i}`));
      if (i % 10 === 0) writeFileSync(join(top, `d${i}`, 'f'), 'x');
      if (i % 7 === 0) writeFileSync(join(top, `f${i}`), 'x');
    }
    const topIno = statSync(top).ino;
    // Every opendir(3) of the top, counted through fs's own export (the module under test imports
    // it from node:fs: syncBuiltinESMExports carries the wrapper to it).
    const fs = createRequire(__filename)('node:fs') as typeof import('node:fs');
    const real = fs.opendirSync;
    let reads = 0;
    fs.opendirSync = ((p: PathLike, o?: OpenDirOptions) => {
      if (statSync(p).ino === topIno) reads++;
      return real(p, o);
    }) as typeof real;
    syncBuiltinESMExports();
    try {
      removeTree(top);
    } finally {
      fs.opendirSync = real;
      syncBuiltinESMExports();
    }
    expect(existsSync(top)).toBe(false);
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThan(n / 100);
  });

  it('removes a tree 5000 directories deep (Node\'s recursive rmSync and a recursive walk overflow their stack)', () => {
    const top = join(tempDir(), 'q');
    mkdirSync(top);
    mkdirChain(top, Array(5000).fill('d'), { name: 'f', data: 'x' });
    removeTree(top);
    expect(existsSync(top)).toBe(false);
  });

  it('a removal that fails names the tree and the depth, never a name inside it (a workload chose those)', () => {
    const top = join(tempDir(), 'q');
    const named = join(top, 'tok-s3cr3t');
    mkdirSync(named, { recursive: true });
    writeFileSync(join(named, 'f'), 'x');
    // chattr(1) +i: not even root may unlink the file (EPERM).
    const i = spawnSync('chattr', ['+i', join(named, 'f')], { encoding: 'utf8' });
    expect(i.status, i.stderr).toBe(0);
    try {
      let err: unknown;
      try {
        removeTree(top);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BvisorError);
      expect((err as BvisorError).code).toBe('BV_IO');
      expect((err as BvisorError).message).toBe(`remove ${top}: EPERM (1 directories down)`);
      expect(readdirSync(named)).toEqual(['f']);
    } finally {
      spawnSync('chattr', ['-i', join(named, 'f')]);
    }
  });

  it('never enters a bind mount inside the tree, even of the same filesystem: refused, and what it shows is left as it was', () => {
    const parent = tempDir();
    const top = join(parent, 'q');
    mkdirSync(join(top, 'm'), { recursive: true });
    const victim = join(parent, 'victim');
    mkdirSync(victim);
    writeFileSync(join(victim, 'keep'), 'x');
    // In a private mount namespace of its own (unshare(1)), so the host's mounts are not touched:
    // the bind mount, then the built removeTree in a Node that lives there.
    const mod = join(__dirname, '..', '..', 'dist', 'host', 'remove-tree.js');
    const script = `import { removeTree } from ${JSON.stringify(mod)}; try { removeTree(${JSON.stringify(top)}); console.log('removed'); } catch (e) { console.log(e.code + ': ' + e.message); }`;
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" "$2" && exec node --input-type=module -e "$3"', 'sh', victim, join(top, 'm'), script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`BV_IO: remove ${top}: another filesystem is mounted inside (0 directories down)`);
    expect(readdirSync(victim)).toEqual(['keep']);
  });

  it('rootless: a top its owner made mode 000 (a workload\'s chmod of its /out) is opened up through a checked descriptor and removed', () => {
    const parent = tempDir();
    chmodSync(parent, 0o777);
    const top = join(parent, 'q');
    mkdirSync(join(top, 'sub'), { recursive: true });
    writeFileSync(join(top, 'sub', 'f'), 'x');
    for (const p of [top, join(top, 'sub'), join(top, 'sub', 'f')]) chownSync(p, 65534, 65534);
    chmodSync(top, 0o000);
    const mod = join(__dirname, '..', '..', 'dist', 'host', 'remove-tree.js');
    const script = `import { removeTree } from ${JSON.stringify(mod)}; try { removeTree(${JSON.stringify(top)}); console.log('removed'); } catch (e) { console.log(e.code + ': ' + e.message); }`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'node', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: parent });
    expect(r.stdout.trim(), r.stderr).toBe('removed');
    expect(existsSync(top)).toBe(false);
  });

  it('is nothing for a path that does not exist, and removes a symlink given as the top without following it', () => {
    const parent = tempDir();
    removeTree(join(parent, 'absent'));
    const victim = join(parent, 'victim');
    mkdirSync(victim);
    writeFileSync(join(victim, 'keep'), 'x');
    symlinkSync(victim, join(parent, 'link'));
    removeTree(join(parent, 'link'));
    expect(existsSync(join(parent, 'link'))).toBe(false);
    expect(readdirSync(victim)).toEqual(['keep']);
  });
});
