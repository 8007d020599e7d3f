// The WASI file host against escapes, with the guest's own errnos as the oracle (and the host
// disk for writes). The same guest under node:wasi, in a throwaway process, is the negative
// control: it shows the escape is real there, so these tests can see one.
import { mkdirSync, writeFileSync, symlinkSync, existsSync, readFileSync, chmodSync, chownSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';
import { facts } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';

type Op =
  | { op: 'open'; path: string; write?: boolean; create?: boolean; follow?: boolean; dir?: number }
  | { op: 'read'; path: string } // open, read up to 64 bytes, print them
  | { op: 'symlink'; target: string; path: string }
  | { op: 'mkdir'; path: string }
  | { op: 'link'; from: string; to: string }
  | { op: 'rename'; from: string; to: string };

/** WAT for a guest that performs `ops` on preopen fd 3 and prints one errno per line. */
function guest(ops: Op[]): string {
  let data = '';
  let at = 2048;
  const str = (s: string): [number, number] => {
    const b = Buffer.from(s);
    const p = at;
    data += `(data (i32.const ${p}) "${[...b].map((x) => '\\' + x.toString(16).padStart(2, '0')).join('')}")\n`;
    at += b.length + 1;
    return [p, b.length];
  };
  const body = ops
    .map((o) => {
      switch (o.op) {
        case 'open':
        case 'read': {
          const [p, l] = str(o.path);
          const write = o.op === 'open' && (o.write || o.create);
          const rights = write ? 64n | 2n : 2n;
          const oflags = o.op === 'open' && o.create ? 1 : 0;
          const lookup = o.op === 'open' && o.follow ? 1 : 0;
          const call = `(call $path_open (i32.const ${o.op === 'open' ? (o.dir ?? 3) : 3}) (i32.const ${lookup}) (i32.const ${p}) (i32.const ${l}) (i32.const ${oflags}) (i64.const ${rights}) (i64.const 0) (i32.const 0) (i32.const 1024))`;
          if (o.op === 'open') return `(call $print ${call})`;
          return `(local.set $e ${call}) (call $print (local.get $e))
            (if (i32.eqz (local.get $e)) (then
              (i32.store (i32.const 16) (i32.const 4096)) (i32.store (i32.const 20) (i32.const 64))
              (drop (call $fd_read (i32.load (i32.const 1024)) (i32.const 16) (i32.const 1) (i32.const 24)))
              (i32.store (i32.const 20) (i32.load (i32.const 24)))
              (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))`;
        }
        case 'symlink': {
          const [tp, tl] = str(o.target);
          const [p, l] = str(o.path);
          return `(call $print (call $path_symlink (i32.const ${tp}) (i32.const ${tl}) (i32.const 3) (i32.const ${p}) (i32.const ${l})))`;
        }
        case 'mkdir': {
          const [p, l] = str(o.path);
          return `(call $print (call $path_create_directory (i32.const 3) (i32.const ${p}) (i32.const ${l})))`;
        }
        case 'link':
        case 'rename': {
          const [fp, fl] = str(o.from);
          const [tp, tl] = str(o.to);
          return o.op === 'link'
            ? `(call $print (call $path_link (i32.const 3) (i32.const 0) (i32.const ${fp}) (i32.const ${fl}) (i32.const 3) (i32.const ${tp}) (i32.const ${tl})))`
            : `(call $print (call $path_rename (i32.const 3) (i32.const ${fp}) (i32.const ${fl}) (i32.const 3) (i32.const ${tp}) (i32.const ${tl})))`;
        }
      }
    })
    .join('\n');
  return `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link" (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ${data}
  (func $print (param $v i32) (local $p i32)
    (local.set $p (i32.const 200))
    (i32.store8 (local.get $p) (i32.const 10))
    (loop $d
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $d (local.get $v)))
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (i32.sub (i32.const 201) (local.get $p)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (local $e i32) ${body}))`;
}

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
  const out = await runLoaded(loadBundle(b.bundle), { id: null, root: tempDir('bvisor-wasm-root-'), cgroupParent: null, secretEnv: {}, host: facts() });
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

  it('writes inside a read-write preopen (host disk oracle)', async () => {
    const b = makeBox([{ op: 'open', path: 'made.txt', create: true }, { op: 'mkdir', path: 'sub' }], 'read-write');
    if (b === null) return skipOrFail('wabt', 'wat2wasm is not installed');
    expect(await errnos(b)).toEqual([E.OK, E.OK]);
    expect(existsSync(join(b.sb, 'made.txt'))).toBe(true);
    expect(existsSync(join(b.sb, 'sub'))).toBe(true);
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
