// The test switches exist only in the test suite: the shipped library, monitor, launcher,
// rewriter and CLI ignore them. Each check runs the shipped artifacts (dist/,
// native-shim/build/) outside vitest, where no seam is aliased in, next to the test build it
// contrasts with.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { testCgroupParent } from '../helpers/cgroups.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, ROOT } from '../helpers/cli.js';
import { probeBundle } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { I, T, repeatedModule, wasmModule } from '../core/wasm/builder.js';

const BUILD = join(ROOT, 'native-shim', 'build');

/** Whether a library exports bv_test_build (defined only under BV_TEST_BUILD). */
function hasTestMarker(lib: string): boolean {
  try {
    (require('koffi') as { load(p: string): { func(sig: string): unknown } }).load(lib).func('int bv_test_build(void)');
    return true;
  } catch (e) {
    expect(String(e)).toMatch(/bv_test_build/);
    return false;
  }
}

describe('shipped artifacts have no test switches', () => {
  it('the shipped shim and monitor are built without BV_TEST_BUILD; the test build is not', () => {
    expect(hasTestMarker(join(BUILD, 'libbvshim.so'))).toBe(false);
    expect(hasTestMarker(join(BUILD, 'test', 'libbvshim.so'))).toBe(true);
    // The static monitor has no dynamic symbols: the test build carries a marker string instead.
    expect(readFileSync(join(BUILD, 'bvmonitor')).includes('BV_TEST_BUILD')).toBe(false);
    expect(readFileSync(join(BUILD, 'test', 'bvmonitor')).includes('BV_TEST_BUILD')).toBe(true);
    // The monitor's spawn passes its red-twin switch on only in the test build (spawn.c): the
    // variable's name is in the test library, not in the shipped one.
    expect(readFileSync(join(BUILD, 'libbvshim.so')).includes('BV_TEST_MONITOR=')).toBe(false);
    expect(readFileSync(join(BUILD, 'test', 'libbvshim.so')).includes('BV_TEST_MONITOR=')).toBe(true);
  });

  it('dist names only the shipped native build and reads no test variable', () => {
    const artifacts = readFileSync(join(ROOT, 'dist', 'backends', 'linux', 'ffi', 'native-artifacts.js'), 'utf8');
    expect(artifacts).not.toMatch(/'test'/);
    const grep = spawnSync('grep', ['-rl', '-e', 'BVISOR_TEST_', '-e', 'BVISOR_SHIM_PATH', join(ROOT, 'dist')], { encoding: 'utf8' });
    expect(grep.status, grep.stdout).toBe(1); // grep: no match
    // The wasm runner's snapshot directory: fixed in the shipped module, movable only in the seam.
    const shipped = spawnSync(process.execPath, ['-e', `console.log(Object.keys(require(${JSON.stringify(join(ROOT, 'dist', 'app', 'runner-snapshot-dir.js'))})).join(','))`], { encoding: 'utf8' });
    expect(shipped.stdout.trim()).toBe('runnerSnapshotDir');
  });

  it('the shipped launcher drops LaunchHooks: a run asking to switch everything off is confined', () => {
    // A leaked descriptor the scrub must close, and hooks that would skip every mechanism.
    const script = `
      const { runBundle } = await import(${JSON.stringify(join(ROOT, 'dist', 'app', 'run.js'))});
      const { shim } = await import(${JSON.stringify(join(ROOT, 'dist', 'backends', 'linux', 'ffi', 'shim.js'))});
      const fd = shim().bv_open('/etc/hostname', 0, 0);
      shim().bv_set_cloexec(fd, 0);
      const hooks = { noScrub: true, noSeccomp: true, noLandlock: true, keepCaps: true, failUidMap: true, ignoreEvidence: true, noCloneIntoCgroup: true, dropListener: true, noLandlockLog: true, beforeRelease: () => { throw new Error('beforeRelease honoured'); }, afterRelease: () => { throw new Error('afterRelease honoured'); }, mutateLaunch: (l) => { l.namespaces = []; } };
      const out = await runBundle(process.argv[1], { id: null, root: null, cgroupParent: null, secretEnv: {}, hooks });
      process.stdout.write(out.stdout.toString());
      process.stderr.write(JSON.stringify({ seccompObserved: out.report.body.denials.sources.seccomp.observed }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, probeBundle(['facts'])], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p.fds.map((f: { fd: number }) => f.fd).sort()).toEqual([0, 1, 2]); // scrubbed
    expect(p.pid).toBe(1); // namespaces kept (a pid namespace of its own)
    expect(p.CapEff).toBe('0000000000000000'); // capabilities dropped
    expect(p.Seccomp).toBe('2'); // filter mode (proc(5): 2 = SECCOMP_MODE_FILTER)
    // dropListener ignored too: the seccomp listener was held, so its denials were observed
    expect(JSON.parse(r.stderr.slice(r.stderr.lastIndexOf('{')))).toEqual({ seccompObserved: true });
  });

  it('the shipped rewriter ignores the switches that turn its validation off', () => {
    // Invalid as it comes: a local.set on the index the rewriter appends for its counter.
    const forged = wasmModule({ funcs: [{ results: [T.i32], locals: [[1, T.i32]], export: 'run', body: [I.i64(1n << 62n), I.localSet(1), I.i32(0)] }] });
    const script = `
      const { instrument } = await import(${JSON.stringify(join(ROOT, 'dist', 'core', 'wasm', 'fuel.js'))});
      try {
        instrument(Buffer.from(process.argv[1], 'hex'), { maxPages: 16, tableEntries: 1024 }, { skipEngineValidation: true, skipIndexChecks: true });
        console.log('rewritten');
      } catch (e) {
        console.log(e.message);
      }
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, Buffer.from(forged).toString('hex')], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/^not a valid module: .*invalid local index/i);
  });

  it("the shipped run drops the rewriter's test bounds and launch hook: a large module is instrumented within its own bounds, not the 1 MiB and 1 ms asked", () => {
    // 300,000 nops: about 50 MB of the rewriter's heap, and more than a millisecond. With the
    // seam, a 1 MiB heap, 1 MiB of memory or 1 ms refuses it, and so does an environment emptied
    // of its preload (red twin, by hand: the seam's pass-through in dist;
    // test/app/wasm-rewrite.live.test.ts shows each).
    const b = tempDir();
    writeFileSync(join(b, 'big.wasm'), repeatedModule({ functions: 1, instruction: [I.nop], count: 300_000 }));
    writeFileSync(join(b, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  wasm: { module: big.wasm }\nlimits: { wall: 30s, memory: 16Mi }\n');
    const script = `
      const { runBundle } = await import(${JSON.stringify(join(ROOT, 'dist', 'app', 'run.js'))});
      const out = await runBundle(process.argv[1], { id: null, root: process.argv[2], cgroupParent: process.argv[3], secretEnv: {}, hooks: { rewriterHeapMb: 1, rewriterMemoryBytes: 2 ** 20, rewriterWallMs: 1, mutateRewriterLaunch: (l) => { l.env = []; } } });
      console.log(JSON.stringify(out.report.body.outcome));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, b, tempDir(), testCgroupParent()], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'completed', exitCode: 0 });
  });

  it('the shipped CLI ignores BVISOR_TEST_CRASH_AT; the crash preload obeys it', () => {
    const root = tempDir();
    const b = probeBundle(['exit', '0']);
    const plain = cli(['create', 'c1', '-b', b, '--root', root], { env: { BVISOR_TEST_CRASH_AT: 'create:after-state' } });
    expect(plain.status, plain.stderr).toBe(0);
    expect(cli(['delete', '-f', 'c1', '--root', root]).status).toBe(0);
    const crashed = cli(['create', 'c2', '-b', b, '--root', root], { crashAt: 'create:after-state' });
    expect(crashed.status).toBeNull(); // killed by SIGKILL at the fault point
    expect(cli(['delete', '-f', 'c2', '--root', root]).status).toBe(0);
  });
});
