// Bundle paths: bundle-relative paths may not leave the bundle, physically (symlinks) as well
// as lexically; rootfs paths resolve as if the rootfs were /.
import { mkdirSync, symlinkSync, writeFileSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle, resolveInRoot, openBundle } from '../../src/host/bundle.js';
import { BvisorError } from '../../src/contract/errors.js';
import { tempDir } from '../helpers/tmp.js';

function bundle(manifest: string): string {
  const d = tempDir();
  writeFileSync(join(d, 'boundary.yaml'), 'bvisorVersion: "1"\n' + manifest);
  return d;
}

function issuesOf(fn: () => unknown): BvisorError {
  try {
    fn();
  } catch (e) {
    return e as BvisorError;
  }
  throw new Error('expected an error');
}

describe('bundle paths', () => {
  it('resolves bundle-relative grants to real paths inside the bundle', () => {
    const b = bundle('workload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: ./out, access: read-write }\n');
    mkdirSync(join(b, 'out'));
    const { paths, bundle: ob } = loadBundle(b);
    expect(paths.grants[0]).toEqual({ path: join(ob.dir, 'out'), kind: 'directory' });
    expect(paths.exe?.path).toBe(realpathSync('/usr/bin/true'));
  });

  it('refuses a grant that leaves the bundle through a symlink, with its location', () => {
    const b = bundle('workload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: ./out, access: read-write }\n');
    symlinkSync('/etc', join(b, 'out'));
    const e = issuesOf(() => loadBundle(b));
    expect(e.code).toBe('BV_MANIFEST_INVALID');
    expect(e.issues[0]).toMatchObject({ code: 'BV_MANIFEST_PATH_ESCAPE', clause: 'filesystem[0].path', line: 5, col: 13 });
  });

  it('refuses a module that leaves the bundle through a parent-directory symlink', () => {
    const b = bundle('workload:\n  wasm: { module: lib/m.wasm }\n');
    symlinkSync('/usr', join(b, 'lib'));
    const e = issuesOf(() => loadBundle(b));
    expect(e.issues[0]).toMatchObject({ code: 'BV_MANIFEST_PATH_ESCAPE', clause: 'workload.wasm.module' });
  });

  it('refuses a manifest that is a symlink', () => {
    const d = tempDir();
    const other = tempDir();
    writeFileSync(join(other, 'boundary.yaml'), 'bvisorVersion: "1"\n');
    symlinkSync(join(other, 'boundary.yaml'), join(d, 'boundary.yaml'));
    expect(issuesOf(() => openBundle(d)).code).toBe('BV_MANIFEST_NOT_FOUND');
  });

  it('names a missing bundle and a bundle without a manifest', () => {
    expect(issuesOf(() => openBundle('/nonexistent/bundle')).code).toBe('BV_BUNDLE_NOT_FOUND');
    expect(issuesOf(() => openBundle(tempDir())).code).toBe('BV_MANIFEST_NOT_FOUND');
  });

  it('resolves absolute symlinks inside a rootfs against the rootfs', () => {
    const r = tempDir();
    mkdirSync(join(r, 'bin'));
    mkdirSync(join(r, 'usr/bin'), { recursive: true });
    writeFileSync(join(r, 'bin/busybox'), '');
    symlinkSync('/bin/busybox', join(r, 'usr/bin/sh'));
    symlinkSync('../../../../../../etc', join(r, 'up'));
    expect(resolveInRoot(r, '/usr/bin/sh')).toBe(join(r, 'bin/busybox'));
    // .. never climbs above the rootfs
    expect(resolveInRoot(r, '/up/passwd')).toBe(join(r, 'etc/passwd'));
    expect(readdirSync(r).sort()).toEqual(['bin', 'up', 'usr']);
  });
});
