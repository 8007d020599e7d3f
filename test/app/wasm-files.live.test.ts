// The WASI file host against escapes, with the guest's own errnos as the oracle (and the host
// disk for writes). The same guest under node:wasi, in a throwaway process, is the negative
// control: it shows the escape is real there, so these tests can see one.
import { mkdirSync, writeFileSync, symlinkSync, existsSync, readFileSync, chmodSync, chownSync } from 'node:fs';
import { defaultTestParent } from '../helpers/cgroups.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';
import { facts } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { guest, type Op } from '../helpers/wasm-guest.js';

interface Box {
  bundle: string;
  box: string; // parent of the preopen: where the secret lives
  sb: string; // the preopened directory
}

/** bundle/box/sb is preopened as /sb; bundle/box/secret.txt is outside it. */
function makeBox(ops: Op[], access: 'read' | 'read-write'): Box | null {
  const bundle = tempDir('bvisor-wasm-fs-');
  chmodSync(bundle, 0o755);
  const box = join(bundle, 'box');
  const sb = join(box, 'sb');
  mkdirSync(sb, { recursive: true });
  // A regular user's directory: the runner (uid 65534 when bvisor is root) writes it through an
  // idmapped mount.
  if (access === 'read-write') chownSync(sb, 1000, 1000);
  writeFileSync(join(box, 'secret.txt'), 'SECRET');
  writeFileSync(join(sb, 'inside.txt'), 'inside');
  symlinkSync(join(box, 'secret.txt'), join(sb, 'host_abs_link'));
  symlinkSync(box, join(sb, 'host_dir_link'));
  symlinkSync('/proc/self/root', join(sb, 'magic'));
  spawnSync('mkfifo', [join(sb, 'fifo')]);
  writeFileSync(join(bundle, 'g.wat'), guest(ops));
  const r = spawnSync('wat2wasm', [join(bundle, 'g.wat'), '-o', join(bundle, 'g.wasm')], { encoding: 'utf8' });
  if (r.error) return null;
  if (r.status !== 0) throw new Error(r.stderr);
  writeFileSync(join(bundle, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  wasm: { module: g.wasm }\nfilesystem:\n  - { path: ./box/sb, access: ${access} }\nstdio: { stdout: capture, stderr: capture }\nlimits: { wall: 10s, fuel: 100000000 }\n`);
  return { bundle, box, sb };
}

async function errnos(b: Box): Promise<string[]> {
  const out = await runLoaded(loadBundle(b.bundle), { id: null, root: tempDir('bvisor-wasm-root-'), cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
  expect(out.report.body.outcome.status, out.stderr?.toString()).toBe('completed');
  return out.stdout!.toString().trim().split('\n');
}

/** The same guest under node:wasi in a throwaway process: the negative control. */
function underNodeWasi(b: Box): string[] {
  const script = `const { WASI } = require('node:wasi'); const fs = require('node:fs');
    const w = new WASI({ version: 'preview1', args: ['g'], preopens: { '/sb': ${JSON.stringify(b.sb)} }, returnOnExit: true });
    const m = new WebAssembly.Module(fs.readFileSync(${JSON.stringify(join(b.bundle, 'g.wasm'))}));
    w.start(new WebAssembly.Instance(m, w.getImportObject()));`;
  const r = spawnSync(process.execPath, ['--no-warnings', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  return r.stdout.trim().split('\n');
}

const E = { OK: '0', NOENT: '44', LOOP: '32', NOTCAPABLE: '76', ACCES: '2' };

describe('WASI file host (live)', () => {
  it('reads inside a read-only preopen; refuses writes there', async () => {
    const b = makeBox([{ op: 'read', path: 'inside.txt' }, { op: 'open', path: 'inside.txt', write: true }, { op: 'open', path: 'new.txt', create: true }, { op: 'mkdir', path: 'd' }], 'read');
    if (b === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const out = await errnos(b);
    // errno 0, then the file's bytes (no newline of their own), then one errno per refused write
    expect(out).toEqual([E.OK, `inside${E.NOTCAPABLE}`, E.NOTCAPABLE, E.NOTCAPABLE]);
    expect(existsSync(join(b.sb, 'new.txt'))).toBe(false);
  });

  // bvisor's runner grants itself /usr read-exec; a preopen inside it used to be refused as a
  // nested grant (landlock's rules add up along a path), though it adds only reading and
  // executing, which the runner already has there and its guest never gets.
  it('a read-only preopen inside /usr: the guest reads there, and writes nothing', async () => {
    const licenses = '/usr/share/common-licenses';
    if (!existsSync(join(licenses, 'GPL-3'))) return skipOrFail('base-files', `${licenses}/GPL-3 is missing (Debian's base-files ships it)`);
    const bundle = tempDir('bvisor-wasm-fs-');
    chmodSync(bundle, 0o755);
    writeFileSync(join(bundle, 'g.wat'), guest([{ op: 'read', path: 'GPL-3' }, { op: 'open', path: 'GPL-3', write: true }, { op: 'open', path: 'new.txt', create: true }]));
    const r = spawnSync('wat2wasm', [join(bundle, 'g.wat'), '-o', join(bundle, 'g.wasm')], { encoding: 'utf8' });
    if (r.error) return skipOrFail('wabt', 'wat2wasm is not installed');
    writeFileSync(join(bundle, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  wasm: { module: g.wasm }\nfilesystem:\n  - { path: ${licenses}, access: read }\nstdio: { stdout: capture, stderr: capture }\nlimits: { wall: 10s, fuel: 100000000 }\n`);
    const out = await errnos({ bundle, box: licenses, sb: licenses });
    // errno 0, the file's first 64 bytes (its own newlines), then one errno per refused write
    const first = readFileSync(join(licenses, 'GPL-3')).subarray(0, 64).toString();
    expect(out.join('\n')).toBe(`${E.OK}\n${first}${E.NOTCAPABLE}\n${E.NOTCAPABLE}`);
    expect(existsSync(join(licenses, 'new.txt'))).toBe(false);
  });

  it('writes inside a read-write preopen (host disk oracle)', async () => {
    const b = makeBox([{ op: 'open', path: 'made.txt', create: true }, { op: 'mkdir', path: 'sub' }], 'read-write');
    if (b === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    expect(await errnos(b)).toEqual([E.OK, E.OK]);
    expect(existsSync(join(b.sb, 'made.txt'))).toBe(true);
    expect(existsSync(join(b.sb, 'sub'))).toBe(true);
  });

  it('the report lists what the guest did to its read-write preopen, as the disk has it (fsDelta)', async () => {
    const b = makeBox([{ op: 'open', path: 'made.txt', create: true }, { op: 'mkdir', path: 'sub' }], 'read-write');
    if (b === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const out = await runLoaded(loadBundle(b.bundle), { id: null, root: tempDir('bvisor-wasm-root-'), cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
    expect(out.report.body.outcome.status).toBe('completed');
    // The oracle: the disk after the run. made.txt is empty (sha256 of no bytes, FIPS 180-4).
    expect(readFileSync(join(b.sb, 'made.txt'))).toHaveLength(0);
    expect(out.report.body.fsDelta).toEqual([
      {
        clause: 'filesystem[0]',
        path: b.sb,
        notObserved: null,
        created: [
          { path: 'made.txt', kind: 'file', size: 0, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
          { path: 'sub', kind: 'dir', size: expect.any(Number), sha256: null },
        ],
        modified: [],
        deleted: [],
      },
    ]);
  });

  it('blocks every escape in the table (../, absolute, host links, magic links, the guest-made pair, hard link, rename, FIFO)', async () => {
    const ops: Op[] = [
      { op: 'read', path: '../secret.txt' },
      { op: 'read', path: 'sub/../../secret.txt' },
      { op: 'read', path: '/etc/passwd' },
      { op: 'read', path: 'host_abs_link' },
      { op: 'open', path: 'host_abs_link', follow: true },
      { op: 'read', path: 'host_dir_link/secret.txt' },
      { op: 'read', path: 'magic/etc/hostname' },
      { op: 'symlink', target: '.', path: 'r' },
      { op: 'symlink', target: 'r/..', path: 'esc' },
      { op: 'read', path: 'esc/secret.txt' },
      { op: 'open', path: 'esc/pwned.txt', create: true },
      { op: 'symlink', target: '/etc/passwd', path: 'abs' },
      { op: 'link', from: 'host_dir_link/secret.txt', to: 'hl' },
      { op: 'rename', from: 'host_dir_link/secret.txt', to: 'stolen' },
      { op: 'read', path: 'fifo' },
    ];
    const b = makeBox(ops, 'read-write');
    if (b === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    const ours = await errnos(b);
    // nothing got out: no SECRET in the output, nothing written outside, the secret still there
    expect(ours.join('\n')).not.toContain('SECRET');
    expect(existsSync(join(b.box, 'pwned.txt'))).toBe(false);
    expect(readFileSync(join(b.box, 'secret.txt'), 'utf8')).toBe('SECRET');
    if (process.env.BVISOR_PRINT_ESCAPES) console.log(JSON.stringify({ ours, control: underNodeWasi(makeBox(ops.filter((o) => !(o.op === 'read' && o.path === 'fifo')), 'read-write')!) }));
    expect(ours[0]).toBe(E.NOTCAPABLE); // ../
    expect(ours[2]).toBe(E.NOTCAPABLE); // absolute
    expect(ours[3]).toBe(E.LOOP); // host link, not followed
    expect(ours[9]).toBe(E.NOTCAPABLE); // esc -> r/..
    expect(ours[11]).toBe(E.NOTCAPABLE); // absolute symlink target
    expect(ours[14]).toBe(E.ACCES); // FIFO refused, and the runner did not hang
    // the negative control: node:wasi lets the same guest read the secret and write outside
    // (without the FIFO step, which would hang node:wasi for ever: WASM.md §8.3)
    const cb = makeBox(ops.filter((o) => !(o.op === 'read' && o.path === 'fifo')), 'read-write')!;
    const control = underNodeWasi(cb);
    expect(control.join('\n')).toContain('SECRET');
    expect(existsSync(join(cb.box, 'pwned.txt'))).toBe(true);
  });
});
