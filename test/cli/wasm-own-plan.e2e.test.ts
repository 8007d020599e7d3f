// A wasm run needs bvisor's own processes (the runner, the rewriter), which start with a library
// preloaded that makes them non-dumpable (native-shim/src/nodump.c). Without it, every wasm run is
// refused before anything runs: BV_SHIM_LOAD, exit 4 in docs/errors.md (125 from `run`, whose own
// failures are all 125 in docs/exit-codes.md). `plan` and `check` must say so too, in run's words,
// while Linux bundles stay untouched. The package is a copy with that one file missing
// (test/helpers/package-copy.ts); run itself is the oracle.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, cliEnv } from '../helpers/cli.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { packageCopy } from '../helpers/package-copy.js';
import { tempDir } from '../helpers/tmp.js';

const HELLO_WASM = join(ROOT, 'bundles', 'hello-wasm');

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

    const checked = bv(['check', '--json']);
    expect(checked.status, checked.stderr).toBe(0);
    expect(JSON.parse(checked.stdout).wasmProcesses).toEqual({ admitted: false, why: `${lib} is missing (build it with \`npm run build:shim\` (needs cc and make))` });

    const linux = bv(['plan', join(ROOT, 'bundles', 'hello')]);
    expect(linux.status, linux.stderr).toBe(0);
    expect(linux.stdout).toContain('admitted: linux backend');
  });
});
