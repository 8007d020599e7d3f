// A wasm run needs bvisor's own processes (the runner, the rewriter), which start with a library
// preloaded that makes them non-dumpable (native-shim/src/nodump.c). Without it, every wasm run is
// refused before anything runs: BV_SHIM_LOAD, exit 4 in docs/errors.md (125 from `run`, whose own
// failures are all 125 in docs/exit-codes.md). `plan` and `check` must say so too, in run's words,
// while Linux bundles stay untouched. The package is a copy with that one file missing
// (test/helpers/package-copy.ts); run itself is the oracle.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BVISOR, ROOT, cliEnv } from '../helpers/cli.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { packageCopy } from '../helpers/package-copy.js';
import { tempDir } from '../helpers/tmp.js';

const HELLO_WASM = join(ROOT, 'bundles', 'hello-wasm');

describe("a bundle's preopens, as the wasm runner would hold them", () => {
  // The bundle's own clauses admit both preopens (the wasm host opens every guest path with each
  // preopen's access). The runner's boundary cannot: landlock's rules add up along a path
  // (landlock(7)), so the read-only one, inside the read-write one, would be writable to the
  // runner. run refuses it before anything runs, and plan must say the same.
  it('plan refuses as run does, with the same issues, each named as the bundle names the grant', () => {
    const b = tempDir();
    chmodSync(b, 0o755);
    copyFileSync(join(HELLO_WASM, 'hello.wasm'), join(b, 'hello.wasm'));
    mkdirSync(join(b, 'data', 'ro'), { recursive: true });
    for (const d of ['data', 'data/ro']) chownSync(join(b, d), 65534, 65534);
    writeFileSync(join(b, 'boundary.yaml'), readFileSync(join(HELLO_WASM, 'boundary.yaml'), 'utf8').replace(/^filesystem: \[\]$/m, 'filesystem:\n  - { path: ./data, access: read-write }\n  - { path: ./data/ro, access: read }'));
    const root = tempDir();
    const parent = defaultTestParent();
    const bv = (args: string[]) => spawnSync(BVISOR, ['--root', root, ...(parent ? ['--cgroup-parent', parent] : []), ...args], { cwd: ROOT, env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
    const ran = bv(['run', '--json', 'nested', '-b', b]);
    expect(ran.status, ran.stderr).toBe(125);
    const planned = bv(['plan', '--json', b]);
    expect(planned.status, planned.stderr).toBe(3);
    const runIssues = JSON.parse(ran.stdout).error.issues;
    expect(runIssues.map((i: { code: string; clause: string }) => `${i.clause} ${i.code}`)).toEqual(['filesystem[1] BV_PLAN_GRANT_NESTED']);
    expect(runIssues[0].message).toMatch(/ lies inside filesystem\[0\] /);
    expect(JSON.parse(planned.stdout).error.issues).toEqual(runIssues);
    expect(existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : []).toEqual([]);
  });
});

describe('an address-space limit the wasm runner cannot work in', () => {
  // The runner inherits bvisor's RLIMIT_AS. The oracle is V8 itself: this very Node, under the
  // same limit, cannot instantiate even a one-page memory.
  const instantiate = (limit: number) => spawnSync('prlimit', [`--as=${limit}`, process.execPath, '-e', 'new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([0,97,115,109,1,0,0,0,5,3,1,0,1])))'], { encoding: 'utf8' });
  const GiB = 2 ** 30;

  it('is refused before anything runs, by plan and run alike, where V8 could not instantiate; 12 GiB is enough', () => {
    expect(instantiate(4 * GiB).stderr).toContain('Cannot allocate Wasm memory');
    expect(instantiate(12 * GiB).status).toBe(0);
    const root = tempDir();
    const parent = defaultTestParent();
    const bv = (limit: string, args: string[]) => spawnSync('prlimit', [`--as=${limit}`, BVISOR, '--root', root, ...(parent ? ['--cgroup-parent', parent] : []), ...args], { cwd: ROOT, env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
    // Soft 4 GiB, hard unlimited: bvisor could raise it, and says so.
    const planned = bv(`${4 * GiB}:unlimited`, ['plan', HELLO_WASM]);
    expect(planned.status, planned.stderr).toBe(3);
    expect(planned.stderr).toContain('workload: the wasm runner needs 12Gi of address space');
    expect(planned.stderr).toContain('[BV_PLAN_RLIMIT_TOO_LOW]');
    expect(planned.stderr).toContain('ulimit -v unlimited');
    const ran = bv(`${4 * GiB}:unlimited`, ['run', 'as-low', '-b', HELLO_WASM]);
    expect(ran.status, ran.stderr).toBe(125);
    expect(ran.stderr).toContain('[BV_PLAN_RLIMIT_TOO_LOW]');
    expect(ran.stdout).toBe('');
    expect(existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : []).toEqual([]);
    const checked = bv(`${4 * GiB}:unlimited`, ['check', '--json']);
    expect(checked.status, checked.stderr).toBe(0);
    expect(JSON.parse(checked.stdout).wasmProcesses).toMatchObject({ admitted: false, why: expect.stringContaining('needs 12Gi of address space') });
    const enough = bv(`${12 * GiB}`, ['run', 'as-enough', '-b', HELLO_WASM]);
    expect(enough.status, enough.stderr).toBe(0);
    expect(enough.stdout).toContain('hello from wasm');
  });
});

describe('the library the wasm processes preload, missing', () => {
  it('plan refuses a wasm bundle as run does, check says why, and a Linux bundle is planned as before', () => {
    const p = packageCopy({ withoutNative: ['libbvnodump.so'] });
    const lib = join(p, 'native-shim', 'build', 'libbvnodump.so');
    const root = tempDir();
    const parent = defaultTestParent();
    const bv = (args: string[]) => spawnSync(join(p, 'bin', 'bvisor'), ['--root', root, ...(parent ? ['--cgroup-parent', parent] : []), ...args], { cwd: ROOT, env: cliEnv(), encoding: 'utf8', timeout: 60_000 });

    const ran = bv(['run', 'own-plan', '-b', HELLO_WASM]);
    expect(ran.status, ran.stderr).toBe(125);
    expect(ran.stderr).toContain(`BV_SHIM_LOAD: ${lib} is missing`);
    expect(ran.stdout).toBe(''); // the guest never ran
    expect(existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : []).toEqual([]);

    const planned = bv(['plan', HELLO_WASM]);
    expect(planned.status, planned.stderr).toBe(4);
    expect(planned.stderr).toContain(`BV_SHIM_LOAD: ${lib} is missing`);
    expect(planned.stdout).not.toContain('admitted:');
    const json = bv(['plan', '--json', HELLO_WASM]);
    expect(json.status).toBe(4);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'BV_SHIM_LOAD', message: `${lib} is missing` } });

    // check says what run said: its message, and its hint.
    const checked = bv(['check', '--json']);
    expect(checked.status, checked.stderr).toBe(0);
    const runHint = /^hint: (.*)$/m.exec(ran.stderr)?.[1];
    expect(runHint).toBeTruthy();
    expect(JSON.parse(checked.stdout).wasmProcesses).toEqual({ admitted: false, why: `${lib} is missing`, hint: runHint });

    const linux = bv(['plan', join(ROOT, 'bundles', 'hello')]);
    expect(linux.status, linux.stderr).toBe(0);
    expect(linux.stdout).toContain('admitted: linux backend');
  });
});
