// C guests, built here with Debian's clang and wasi-libc (installed by .ci/run), run through
// the whole wasm backend: libc's preopen discovery, file copy between a read-only and a
// read-write preopen, readdir, sleep, and a memory hog against the cap. Oracles: the host disk,
// the guest's own output, repeated runs.
import { mkdirSync, writeFileSync, readFileSync, copyFileSync, chmodSync, chownSync, existsSync } from 'node:fs';
import { defaultTestParent } from '../helpers/cgroups.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded, type RunOutcome } from '../../src/app/run.js';
import { facts } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';

const GUESTS = join(__dirname, '..', 'guests');

function build(name: string): string | null {
  const out = join(tempDir('bvisor-cguest-'), `${name}.wasm`);
  const r = spawnSync('clang', ['--target=wasm32-wasi', '-O2', '-o', out, join(GUESTS, `${name}.c`)], { encoding: 'utf8' });
  if (r.error || (r.status !== 0 && /wasm32|sysroot|not found|unable to create target/i.test(r.stderr))) return null;
  if (r.status !== 0) throw new Error(r.stderr);
  return out;
}

async function run(dir: string): Promise<RunOutcome> {
  return runLoaded(loadBundle(dir), { id: null, root: tempDir('bvisor-wasm-root-'), cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
}

describe('C guests (live)', () => {
  it('copies a file from a read-only to a read-write preopen, and cannot write the read-only one', async () => {
    const wasm = build('copy');
    if (wasm === null) return skipOrFail('wasi-clang', 'clang with wasi-libc (Debian clang lld wasi-libc libclang-rt-dev-wasm32) is not installed');
    const b = tempDir('bvisor-cbundle-');
    chmodSync(b, 0o755);
    copyFileSync(wasm, join(b, 'copy.wasm'));
    mkdirSync(join(b, 'in'));
    mkdirSync(join(b, 'out'));
    chownSync(join(b, 'out'), 1000, 1000); // written through an idmapped mount as its owner
    writeFileSync(join(b, 'in', 'source.txt'), 'the quick brown fox\n');
    writeFileSync(join(b, 'in', 'other'), 'x');
    writeFileSync(join(b, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  wasm: { module: copy.wasm, deterministic: true }\nfilesystem:\n  - { path: ./in, access: read }\n  - { path: ./out, access: read-write }\nstdio: { stdout: capture, stderr: capture }\nlimits: { wall: 10s, memory: 32Mi, fuel: 100000000 }\n');
    const t = Date.now();
    const out = await run(b);
    expect(out.stdout?.toString(), out.stderr?.toString()).toBe('write to read-only: refused\nentries in /in: 2\ncopied\n');
    expect(readFileSync(join(b, 'out', 'copy.txt'), 'utf8')).toBe('the quick brown fox\n');
    expect(existsSync(join(b, 'in', 'nope.txt'))).toBe(false);
    expect(Date.now() - t).toBeLessThan(1000); // sleep(1) advanced the virtual clock instead
    const again = await run(b);
    expect(again.report.body.budgets.fuel.observed).toBe(out.report.body.budgets.fuel.observed);
  });

  it('a memory hog gets what the cap allows and no more', async () => {
    const wasm = build('hog');
    if (wasm === null) return skipOrFail('wasi-clang', 'clang with wasi-libc is not installed');
    const b = tempDir('bvisor-cbundle-');
    chmodSync(b, 0o755);
    copyFileSync(wasm, join(b, 'hog.wasm'));
    const manifest = (mem: string): string => `bvisorVersion: "1"\nworkload:\n  wasm: { module: hog.wasm, deterministic: true }\nstdio: { stdout: capture, stderr: capture }\nlimits: { wall: 20s, memory: ${mem}, fuel: 100000000000 }\n`;
    writeFileSync(join(b, 'boundary.yaml'), manifest('16Mi'));
    const small = Number((await run(b)).stdout?.toString().trim());
    writeFileSync(join(b, 'boundary.yaml'), manifest('64Mi'));
    const big = Number((await run(b)).stdout?.toString().trim());
    expect(small).toBeGreaterThan(5);
    expect(small).toBeLessThan(16);
    expect(big).toBeGreaterThan(40);
    expect(big).toBeLessThan(64);
  });
});
