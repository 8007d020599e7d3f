// Bundle paths: bundle-relative paths may not leave the bundle, physically (symlinks) as well
// as lexically; rootfs paths resolve as if the rootfs were /.
import { mkdirSync, symlinkSync, writeFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadBundle, openBundle } from '../../src/host/bundle.js';
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
    // The kernel's own view of the object: physical path, kind, and the identity the launcher
    // checks again (oracle: stat from Node).
    const st = statSync(join(b, 'out'));
    expect(paths.grants[0]).toMatchObject({ path: join(ob.dir, 'out'), kind: 'directory', dev: String(st.dev), ino: String(st.ino), uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 });
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

  it('reads the manifest once beneath the bundle: a symlink or a FIFO in its place is refused at once, never followed or waited on', () => {
    const secret = join(tempDir(), 'secret');
    writeFileSync(secret, 'root:*:19000:0:99999:7:::\n');
    const linked = tempDir();
    symlinkSync(secret, join(linked, 'boundary.yaml'));
    const e = issuesOf(() => openBundle(linked));
    expect(e.code).toBe('BV_MANIFEST_NOT_FOUND');
    expect(e.message).not.toContain('root:*');
    const fifo = tempDir();
    expect(spawnSync('mkfifo', [join(fifo, 'boundary.yaml')]).status).toBe(0);
    const t0 = Date.now();
    expect(issuesOf(() => openBundle(fifo)).code).toBe('BV_MANIFEST_NOT_FOUND');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('names a missing bundle and a bundle without a manifest', () => {
    expect(issuesOf(() => openBundle('/nonexistent/bundle')).code).toBe('BV_BUNDLE_NOT_FOUND');
    expect(issuesOf(() => openBundle(tempDir())).code).toBe('BV_MANIFEST_NOT_FOUND');
  });

  // A new-user pass typed `bvisor validate boundary.yaml`: "neither a directory nor a .tar".
  it('the manifest\'s own file names its bundle (its directory, config.json beside it too); a manifest under another name is told the name bvisor reads', () => {
    const d = bundle('workload: { process: { exe: /bin/true } }\n');
    const ob = openBundle(join(d, 'boundary.yaml'));
    try {
      expect([ob.dir, ob.source, ob.manifestPath]).toEqual([realpathSync(d), d, join(realpathSync(d), 'boundary.yaml')]);
    } finally {
      ob.cleanup();
    }
    // Its problems are located in that file, by the name the user gave (an attack found
    // b/boundary.yaml/boundary.yaml:2:29), and a path that says it is a directory is refused.
    const bad = bundle('workload: { process: { exe: 5 } }\n');
    const invalid = issuesOf(() => loadBundle(join(bad, 'boundary.yaml')));
    expect(invalid.issues.map((i) => [i.file, i.line])).toEqual([[join(bad, 'boundary.yaml'), 2]]);
    expect(issuesOf(() => openBundle(join(d, 'boundary.yaml') + '/')).message).toBe(`bundle ${join(d, 'boundary.yaml')}/ is not a directory`);
    writeFileSync(join(d, 'mine.yaml'), 'bvisorVersion: "1"\n');
    const e = issuesOf(() => openBundle(join(d, 'mine.yaml')));
    expect([e.code, e.hint]).toEqual(['BV_BUNDLE_NOT_FOUND', "a bundle's manifest is read only as boundary.yaml (or an OCI config.json): name it so, in the bundle directory, and pass that directory or the file"]);
  });

  it('a bundle passed or archived one level too high: the hint names the directory that holds the manifest', () => {
    const top = tempDir();
    mkdirSync(join(top, 'other'));
    mkdirSync(join(top, 'mybundle'));
    writeFileSync(join(top, 'mybundle', 'boundary.yaml'), 'bvisorVersion: "1"\n');
    const e = issuesOf(() => openBundle(top));
    expect([e.code, e.hint]).toEqual(['BV_MANIFEST_NOT_FOUND', 'mybundle/ holds one: pass that directory']);
    // The same tree archived from above it (tar -cf b.tar mybundle): the archive's fix is named.
    const tar = join(tempDir(), 'b.tar');
    expect(spawnSync('tar', ['-C', top, '-cf', tar, 'mybundle']).status).toBe(0);
    const t = issuesOf(() => openBundle(tar));
    expect([t.code, t.hint]).toEqual(['BV_MANIFEST_NOT_FOUND', "mybundle/ holds one: pass that directory, or pack the bundle's contents at the archive's top (tar -C <bundle> -cf b.tar .)"]);
  });

  it('resolves the program of a rootfs inside it, as the kernel does (absolute links restart at the rootfs, .. stops there)', () => {
    const b = tempDir();
    const r = join(b, 'rootfs');
    mkdirSync(join(r, 'bin'), { recursive: true });
    mkdirSync(join(r, 'usr/bin'), { recursive: true });
    mkdirSync(join(r, 'etc'));
    writeFileSync(join(r, 'bin/busybox'), '');
    writeFileSync(join(r, 'etc/passwd'), '');
    symlinkSync('/bin/busybox', join(r, 'usr/bin/sh'));
    symlinkSync('../../../../../../etc', join(r, 'up'));
    const manifest = (exe: string): void => writeFileSync(join(b, 'boundary.yaml'), `bvisorVersion: "1"\nroot: { path: rootfs }\nworkload: { process: { exe: ${exe} } }\n`);
    manifest('/usr/bin/sh');
    expect(loadBundle(b).paths.exe).toMatchObject({ path: join(realpathSync(r), 'bin/busybox'), kind: 'file' });
    // .. never climbs above the rootfs: /up is /etc of the rootfs, not the host's
    manifest('/up/passwd');
    expect(loadBundle(b).paths.exe).toMatchObject({ path: join(realpathSync(r), 'etc/passwd'), kind: 'file' });
    expect(readdirSync(r).sort()).toEqual(['bin', 'etc', 'up', 'usr']);
  });
});

describe('manifest size', () => {
  // The limit is 1 MiB (docs: a manifest is a short YAML file); the reader sizes its buffer from
  // fstat, so a file at the limit reads whole and one byte more is refused.
  const LIMIT = 1024 * 1024;
  it('reads a manifest of exactly 1 MiB whole, and refuses one byte more', () => {
    const dir = tempDir();
    const head = 'bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\n';
    writeFileSync(join(dir, 'boundary.yaml'), head + '#'.repeat(LIMIT - head.length - 1) + '\n');
    const b = openBundle(dir);
    try {
      expect(b.manifestText.length).toBe(LIMIT);
      expect(b.manifestText.endsWith('#\n')).toBe(true);
    } finally {
      b.cleanup();
    }
    writeFileSync(join(dir, 'boundary.yaml'), head + '#'.repeat(LIMIT - head.length) + '\n');
    try {
      openBundle(dir).cleanup();
      expect.unreachable('a manifest over 1 MiB was read');
    } catch (e) {
      expect((e as BvisorError).code).toBe('BV_MANIFEST_INVALID');
      expect((e as BvisorError).message).toMatch(/is larger than 1048576 bytes/);
    }
  });
});
