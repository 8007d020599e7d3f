// The blobs go without the code cache of Node's own built-in modules (scripts/snapshot-code-cache.mjs,
// docs/startup.md "What a blob holds"). Oracle: Node itself, which says at start how many
// entries of code cache it found in the blob (NODE_DEBUG_NATIVE=CODE_CACHE), and whether the
// blob still runs its main, including a built-in module it first requires after the start.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';

const SNAP = join(ROOT, 'dist', 'snapshot');
const built = existsSync(join(SNAP, 'bvisor.blob'));
if (!built) skipOrFail('snapshot', `no ${SNAP}/bvisor.blob (npm run build makes it; esbuild is a development dependency)`);
const STRIP = join(ROOT, 'scripts', 'snapshot-code-cache.mjs');

/** Node's own count of the code cache entries in a blob, read as it starts from it. */
function codeCacheEntries(blob: string, flags: string[] = [], args: string[] = []): { entries: number; stdout: string; status: number | null } {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_DEBUG_NATIVE: 'CODE_CACHE' };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(process.execPath, [...flags, '--snapshot-blob', blob, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'], timeout: 60_000 });
  const m = /snapshot contains (\d+) code cache/.exec(r.stderr);
  if (!m) throw new Error(`node did not say how much code cache ${blob} holds (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  return { entries: Number(m[1]), stdout: r.stdout, status: r.status };
}

describe.skipIf(!built)("the blobs without Node's built-in modules' code cache", () => {
  it('every blob the build made has none, and each still starts its main', () => {
    const cli = codeCacheEntries(join(SNAP, 'bvisor.blob'), [], [ROOT, '--version']);
    expect(cli).toMatchObject({ entries: 0, status: 0 });
    expect(cli.stdout).toMatch(/^bvisor\/\d+\.\d+\.\d+/);
    if (existsSync(join(SNAP, 'lifecycle.blob'))) {
      const lc = codeCacheEntries(join(SNAP, 'lifecycle.blob'), [], [ROOT, 'state', '--help']);
      expect(lc).toMatchObject({ entries: 0, status: 0 });
      expect(lc.stdout).toMatch(/^Print the OCI state of a container/);
    }
    if (existsSync(join(SNAP, 'launch.blob'))) {
      const la = codeCacheEntries(join(SNAP, 'launch.blob'), [], [ROOT, 'create', '--help']);
      expect(la).toMatchObject({ entries: 0, status: 0 });
      expect(la.stdout).toMatch(/^Create a container/);
    }
    if (existsSync(join(SNAP, 'runner.blob'))) {
      // Without arguments the runner refuses to run and says so on its result pipe (fd 4).
      expect(codeCacheEntries(join(SNAP, 'runner.blob'), ['--max-old-space-size=128'])).toMatchObject({ entries: 0, status: 0 });
    }
  });

  it("drops them from a blob fresh from node --build-snapshot, which still runs, a built-in first required after the start included", () => {
    const dir = tempDir();
    const entry = join(dir, 'entry.js');
    // zlib is not loaded while the snapshot is made: its main compiles it from source.
    writeFileSync(entry, "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => console.log('main', require('node:zlib').inflateSync(require('node:zlib').deflateSync('ran')).toString()));\n");
    const blob = join(dir, 'x.blob');
    const b = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', entry], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(b.status, b.stderr).toBe(0);
    const before = codeCacheEntries(blob);
    expect(before.entries).toBeGreaterThan(100);
    expect(before.stdout).toBe('main ran\n');
    const size = readFileSync(blob).length;

    const r = spawnSync(process.execPath, [STRIP, blob], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const dropped = JSON.parse(r.stdout) as { dropped: number; entries: number };
    expect(dropped.entries).toBe(before.entries);
    expect(readFileSync(blob).length).toBe(size - dropped.dropped);
    const after = codeCacheEntries(blob);
    expect(after).toMatchObject({ entries: 0, status: 0, stdout: 'main ran\n' });
  });

  it('leaves a blob whose end is not a code cache as it was', () => {
    const dir = tempDir();
    const entry = join(dir, 'entry.js');
    writeFileSync(entry, "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {});\n");
    const blob = join(dir, 'x.blob');
    expect(spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', entry], { cwd: dir }).status).toBe(0);
    // Three bytes after the vector: no offset now holds one that ends where the file ends.
    appendFileSync(blob, Buffer.from([1, 2, 3]));
    const bytes = readFileSync(blob);
    const r = spawnSync(process.execPath, [STRIP, blob], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('null');
    expect(readFileSync(blob).equals(bytes)).toBe(true);
  });
});
