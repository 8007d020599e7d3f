// The wasm runner's V8 start-up snapshot (dist/snapshot/runner.blob; docs/startup.md "wasm
// runner"). From the blob, V8's wasm caps cannot be Node flags (they would change the blob's
// configuration tag): the runner sets them itself. Oracles: what a guest could grow its memory
// and table to (the outcome's pages and entries, which V8 reports), with the same job run by
// runner.js under the same caps given as flags; and Node's own refusal of a blob under another
// V8 configuration (exit 14).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { instrument } from '../../../src/core/wasm/fuel.js';
import { I, T, wasmModule } from '../../core/wasm/builder.js';
import { skipOrFail } from '../../helpers/require.js';
import { RUNNER_V8_FLAGS } from '../../../src/app/wasm.js';

const ROOT = join(__dirname, '..', '..', '..');
const BLOB = join(ROOT, 'dist', 'snapshot', 'runner.blob');
const SCRIPT = join(ROOT, 'dist', 'backends', 'wasm', 'runner.js');
const NODUMP = join(ROOT, 'native-shim', 'build', 'libbvnodump.so');
const built = existsSync(BLOB);
if (!built) skipOrFail('snapshot', `no ${BLOB} (npm run build makes it; esbuild is a development dependency)`);

// The module's own limits are rewritten to 64 pages and 1024 entries, so only V8's caps (lower
// in the first runs) can stop its growth: memory by 20 pages, its table by 99 entries.
const MODULE = instrument(
  wasmModule({
    memory: { min: 1, export: 'memory' },
    tables: [{ ref: T.funcref, min: 1 }],
    funcs: [{ body: [I.i32(20), I.memoryGrow, I.drop, I.refNull(T.funcref), I.i32(99), I.tableGrow(0), I.drop], export: '_start' }],
  }),
  { maxPages: 64, tableEntries: 1024 },
).bytes;
const JOB = Buffer.concat([Buffer.from(JSON.stringify({ args: ['m.wasm'], env: [], fuel: '1000000', seed: 1, moduleBytes: MODULE.length, preopens: [] }) + '\n'), Buffer.from(MODULE)]);

/** Runs the job in a runner (fd 3 the job, fd 4 the outcome, through a shell's redirections),
 * with the library its launch preloads (app/wasm.ts), unless `preload` is false. */
function runner(argv: string[], preload = true): { status: number | null; outcome: Record<string, unknown> | null; stderr: string } {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const env = preload ? { LD_PRELOAD: NODUMP } : {};
  const r = spawnSync('/bin/sh', ['-c', `exec ${[process.execPath, ...argv].map(q).join(' ')} 3<&0 4>&1 1>/dev/null`], { input: JOB, encoding: 'utf8', timeout: 60_000, env });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return { status: r.status, outcome: line ? (JSON.parse(line) as Record<string, unknown>) : null, stderr: r.stderr };
}
const caps = (pages: number, entries: number): string[] => [`--wasm-max-mem-pages=${pages}`, `--wasm-max-table-size=${entries}`];
const fromBlob = (pages: number, entries: number, extra: string[] = []): string[] => [...RUNNER_V8_FLAGS, ...extra, '--snapshot-blob', BLOB, ROOT, ...caps(pages, entries)];
const fromScript = (pages: number, entries: number): string[] => [...caps(pages, entries), ...RUNNER_V8_FLAGS, SCRIPT];

describe.skipIf(!built)('the wasm runner from its snapshot', () => {
  it('holds V8’s memory and table caps as runner.js does', () => {
    for (const argv of [fromBlob(10, 50), fromScript(10, 50)]) {
      const r = runner(argv);
      expect(r.outcome, r.stderr).toMatchObject({ exitCode: 0, trap: null, peakPages: 1, tableEntries: 1 });
    }
    // the twins with room: the same guest grows
    for (const argv of [fromBlob(64, 1024), fromScript(64, 1024)]) {
      const r = runner(argv);
      expect(r.outcome, r.stderr).toMatchObject({ exitCode: 0, trap: null, peakPages: 21, tableEntries: 100 });
    }
  });

  it('runs nothing when its arguments are not the package root and the two caps', () => {
    for (const argv of [[...RUNNER_V8_FLAGS, '--snapshot-blob', BLOB, ROOT, caps(10, 50)[0]!], [...RUNNER_V8_FLAGS, '--snapshot-blob', BLOB, ROOT, ...caps(10, 50), 'more'], [...RUNNER_V8_FLAGS, '--snapshot-blob', BLOB, 'relative', ...caps(10, 50)]]) {
      const r = runner(argv);
      expect(r.outcome).toMatchObject({ trap: 'host_error', message: expect.stringMatching(/^the runner was started with unexpected arguments/) });
    }
  });

  // ld.so runs a program whose preload it cannot load (ld.so(8)): the runner itself refuses to
  // read its job unless the library made it non-dumpable (native-shim/src/nodump.c).
  it('runs nothing without the library that makes it non-dumpable, from the blob or from runner.js', () => {
    for (const argv of [fromBlob(64, 1024), fromScript(64, 1024)]) {
      const r = runner(argv, false);
      expect(r.outcome, r.stderr).toEqual({ exitCode: null, trap: 'host_error', fuelUsed: null, peakPages: 0, tableEntries: 0, message: "this process was not made non-dumpable (bvisor's libbvnodump.so was not preloaded): not run" });
    }
  });

  it('is refused by Node under another V8 configuration (why the caps are not flags)', () => {
    const r = runner([...caps(10, 50), ...fromBlob(10, 50)]);
    expect(r.status).toBe(14);
    expect(r.stderr).toMatch(/Failed to load the startup snapshot/);
    expect(r.outcome).toBeNull();
    expect(runner(fromBlob(10, 50).filter((a) => !RUNNER_V8_FLAGS.includes(a as never))).status).toBe(14);
  });
});
