// An OCI bundle whose entrypoint is a .wasm module (containerd's real config, with crun's
// module.wasm.image/variant=compat annotation, over a rootfs holding bundles/hello-wasm's module),
// through bvisor run and through create/start/delete. Oracles: what the guest printed on the
// stdout it inherited (a file for create, which returns while the container waits), the
// journal's report, and /proc for the runner waiting before exec.
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, cli } from '../helpers/cli.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import { defaultTestParent } from '../helpers/cgroups.js';

const HELLO = join(__dirname, '..', '..', 'bundles', 'hello-wasm', 'hello.wasm');

/** A bundle as containerd writes it, with the wasm annotation and the module in its rootfs. */
function wasmOciBundle(edit: (c: Record<string, any>) => void = () => {}): string {
  const dir = tempDir('bvisor-oci-wasm-');
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'rootfs'), { mode: 0o755 });
  copyFileSync(HELLO, join(dir, 'rootfs', 'hello.wasm'));
  const c = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'oci', 'containerd-config.json'), 'utf8'));
  c.process.args = ['/hello.wasm'];
  c.annotations = { 'module.wasm.image/variant': 'compat' };
  // A file-descriptor rlimit does not bound a WASI guest (its WASI host's table): refused for
  // wasm, so the engine's default is dropped here (the refusal is checked below).
  delete c.process.rlimits;
  const parent = defaultTestParent();
  c.linux.cgroupsPath = parent === null ? `bvisor-oci/${Math.random().toString(36).slice(2, 8)}` : `${parent}/oci-${Math.random().toString(36).slice(2, 8)}`;
  edit(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c, null, 2));
  return dir;
}

/** The CLI with stdout and stderr going to files (what a created container inherits). */
function cliToFiles(args: string[], dir: string): { status: number | null; out: string; err: string } {
  const out = join(dir, `out-${Math.random().toString(36).slice(2, 8)}`);
  const err = `${out}.err`;
  const o = openSync(out, 'w');
  const e = openSync(err, 'w');
  try {
    const parent = defaultTestParent();
    const r = spawnSync(process.execPath, [BIN, ...args], { stdio: ['ignore', o, e], env: { ...process.env, ...(parent ? { BVISOR_CGROUP_PARENT: parent } : {}) }, timeout: 60_000 });
    return { status: r.status, out, err };
  } finally {
    closeSync(o);
    closeSync(e);
  }
}

describe('OCI bundles whose entrypoint is a .wasm module (e2e)', () => {
  it('bvisor run prints hello: the module runs as a wasm workload, its report says so', () => {
    const root = newRoot();
    const b = wasmOciBundle();
    const r = cli(['--root', root, 'run', '--bundle', b, 'ow-run']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello from wasm, bv\n');
    const rep = JSON.parse(readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').at(-1)!).report;
    expect(rep.body.backend).toBe('wasm');
    expect(rep.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(rep.body.admitted.find((a: any) => a.clause === 'annotations.module.wasm.image/variant')).toBeDefined();
  });

  it('create / start / delete: created runs nothing, start prints hello on the stdout create had, delete journals the report', async () => {
    const root = newRoot();
    const b = wasmOciBundle();
    const work = tempDir('bvisor-oci-wasm-out-');
    const c = cliToFiles(['--root', root, 'create', '--bundle', b, 'ow-c'], work);
    expect(c.status, readFileSync(c.err, 'utf8')).toBe(0);
    const st = cli(['--root', root, 'state', 'ow-c']).json();
    expect(st).toMatchObject({ status: 'created', annotations: { 'module.wasm.image/variant': 'compat' }, bvisor: { backend: 'wasm' } });
    expect(readlinkSync(`/proc/${st.pid}/exe`)).toMatch(/bvmonitor$/); // not exec'd yet
    expect(readFileSync(c.out, 'utf8')).toBe('');
    expect(cli(['--root', root, 'start', 'ow-c']).status).toBe(0);
    await until('the container to stop', () => cli(['--root', root, 'state', 'ow-c']).json().status === 'stopped', 30_000);
    // The runner wrote the guest's line to the stdout it inherited from create.
    expect(readFileSync(c.out, 'utf8')).toBe('hello from wasm, bv\n');
    expect(cli(['--root', root, 'delete', 'ow-c']).status).toBe(0);
    expect(existsSync(join(root, 'containers', 'ow-c'))).toBe(false);
    const rep = JSON.parse(readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').at(-1)!).report;
    expect(rep.body).toMatchObject({ backend: 'wasm', containerId: 'ow-c', outcome: { status: 'completed', exitCode: 0 } });
    expect(rep.body.budgets.fuel.observed).toBeGreaterThan(0);
  });

  it('what a wasm guest cannot have is refused by JSON path before anything runs', () => {
    const root = newRoot();
    const b = wasmOciBundle((c) => {
      c.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }];
      c.process.terminal = true;
    });
    const r = cli(['--root', root, 'plan', b, '--json']);
    expect(r.status).toBe(3);
    const clauses = r.json().refusals.map((x: any) => x.clause);
    expect(clauses).toEqual(expect.arrayContaining(['process.rlimits[0]', 'process.terminal']));
    const run = cli(['--root', root, 'run', '--bundle', b, 'ow-refused', '--json']);
    expect(run.status).toBe(125); // run: bvisor failed and nothing ran (docs/exit-codes.md)
    expect(run.json().error.code).toBe('BV_PLAN_REFUSED');
    expect(existsSync(join(root, 'containers', 'ow-refused'))).toBe(false);
  });
});
