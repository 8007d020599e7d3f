// Issue 9, attack 5: a grant that covered the state root let the workload plant
// `containers/<id>/.exit.json.tmp -> <any file>`, which the root monitor then overwrote, and edit
// its own state.json so that `kill --all` killed another container. Now:
// - a grant inside the state root (or the wasm cache) is refused; a grant that merely contains
//   it shows it as an empty read-only directory (the plan's layout names the mask);
// - the monitor creates its files exclusively and never through a symlink (defence in depth);
// - kill --all signals only cgroups bvisor named for that container.
// Oracles: the probe's errnos, the host disk (the victim file's content), a live process.
import { chmodSync, mkdirSync, writeFileSync, readFileSync, symlinkSync, existsSync, readdirSync } from 'node:fs';
import { defaultTestParent } from '../helpers/cgroups.js';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tryOps, probeBundle, facts, E, PROBE } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { cli } from '../helpers/cli.js';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';

describe('attack 5: the state root is out of every workload’s reach', () => {
  it('a grant containing the state root sees it empty and read-only; the run’s own state is untouched', async () => {
    const parent = tempDir('bvisor-sr-');
    chmodSync(parent, 0o1777); // writable by the workload's id, so only the mask protects state/
    const root = join(parent, 'state');
    const id = `sr-${process.pid}`;
    // The run's state dir exists while it runs: <root>/containers/<id>.
    const ops = [['stat', join(root, 'containers')], ['symlink', '/etc/passwd', join(root, 'containers', id, '.exit.json.tmp')], ['open', join(root, 'planted'), 'c'], ['open', join(parent, 'beside'), 'c']];
    const got = await tryOps(ops, '', { filesystem: [`  - { path: ${parent}, access: read-write }`], root, id });
    // The mask is an empty tmpfs, mode 000, read-only: nothing inside exists or can be made.
    // (Without it, stat of containers/ would work: the identity alone stops only the rest.)
    expect(got).toEqual([E.ACCES, E.ACCES, E.ACCES, 0]);
    expect(existsSync(join(root, 'planted'))).toBe(false);
    expect(existsSync(join(parent, 'beside'))).toBe(true); // the rest of the grant works
    expect(readdirSync(root)).not.toContain('planted');
  });

  it('a grant inside the state root is refused before anything runs', async () => {
    const root = tempDir('bvisor-sr2-');
    mkdirSync(join(root, 'containers'));
    const b = loadBundle(probeBundle(['exit', '0'], '', { filesystem: [`  - { path: ${join(root, 'containers')}, access: read }`] }));
    await expect(runLoaded(b, { id: null, root, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() })).rejects.toMatchObject({ code: 'BV_PLAN_REFUSED', issues: [expect.objectContaining({ clause: 'filesystem[2]', code: 'BV_PLAN_GRANT_RESERVED' })] });
  });

  it('the monitor never writes through a planted symlink (defence in depth)', () => {
    const root = tempDir('bvisor-sr3-');
    const victim = join(tempDir('bvisor-victim-'), 'victim');
    writeFileSync(victim, 'untouched');
    const id = `mon-${process.pid}`;
    const bundle = probeBundle(['exit', '0']);
    expect(cli(['--root', root, 'create', id, '-b', bundle]).status).toBe(0);
    const dir = join(root, 'containers', id);
    // What a workload that could reach the state root would plant.
    symlinkSync(victim, join(dir, '.exit.json.tmp'));
    symlinkSync(victim, join(dir, '.monitor.json.tmp'));
    expect(cli(['--root', root, 'start', id]).status).toBe(0);
    const until = Date.now() + 10_000;
    while (!existsSync(join(dir, 'exit.json')) && Date.now() < until) require('node:child_process').spawnSync('sleep', ['0.05']);
    expect(readFileSync(victim, 'utf8')).toBe('untouched');
    expect(JSON.parse(readFileSync(join(dir, 'exit.json'), 'utf8')).phase).toBe('exited');
    expect(cli(['--root', root, 'delete', id]).status).toBe(0);
  });

  it('kill --all signals only cgroups bvisor named for the container, whatever state.json says', () => {
    const root = tempDir('bvisor-sr4-');
    const id = `ka-${process.pid}`;
    const bundle = probeBundle(['sleep', '30']);
    expect(cli(['--root', root, 'create', id, '-b', bundle]).status).toBe(0);
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      // Put a cgroup holding a process that is not the container's into its state.json.
      const other = tempDir('bvisor-fakecg-');
      writeFileSync(join(other, 'cgroup.procs'), `${bystander.pid}\n`);
      const sf = join(root, 'containers', id, 'state.json');
      const s = JSON.parse(readFileSync(sf, 'utf8'));
      s.cgroupDirs = [...s.cgroupDirs, other];
      writeFileSync(sf, JSON.stringify(s));
      expect(cli(['--root', root, 'kill', id, 'KILL', '--all']).status).toBe(0);
      require('node:child_process').spawnSync('sleep', ['0.2']);
      expect(bystander.exitCode).toBeNull();
      expect(bystander.signalCode).toBeNull();
    } finally {
      bystander.kill('SIGKILL');
      cli(['--root', root, 'delete', '-f', id]);
    }
    void PROBE;
  });
});
