// The read-back's two halves (src/backends/linux/host/evidence.ts): the fixed facts (id maps,
// namespaces), read right after the release while the child builds its root, and the READY
// read (status, cgroup). Judged here on a process util-linux's unshare(1) put in a new user and
// UTS namespace, so which namespaces differ from ours comes from unshare's flags, not from bvisor.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { failedEvidence, fixedEvidence, readEvidence, type EvidenceExpect } from '../../../../src/backends/linux/host/evidence.js';
import { until } from '../../../helpers/wait.js';

let child: ChildProcess | null = null;
afterEach(() => {
  child?.kill('SIGKILL');
  child = null;
});

/** `unshare --user --map-root-user --uts sleep 30`, once it has exec'd sleep (its namespaces made). */
async function unshared(): Promise<number> {
  child = spawn('unshare', ['--user', '--map-root-user', '--uts', 'sleep', '30'], { stdio: 'ignore' });
  const pid = child.pid!;
  await until('unshare has exec\'d sleep', () => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep');
  return pid;
}

// --map-root-user maps the caller's effective ids to 0 (unshare(1)); one line, "inside outside count".
const euid = process.geteuid!();
const egid = process.getegid!();
const expectOf = (namespaces: string[], uidMap = `0 ${euid} 1`): EvidenceExpect => ({ namespaces, noNewPrivs: false, seccomp: false, uidMap, gidMap: `0 ${egid} 1` });

describe('the fixed read-back (live)', () => {
  it('judges the namespaces unshare made, and those it did not, against ours', async () => {
    const pid = await unshared();
    const ev = fixedEvidence(pid, expectOf(['user', 'uts']));
    const ok = Object.fromEntries(ev.map((e) => [e.name, e.ok]));
    expect(ok).toEqual({ uid_map: true, gid_map: true, 'ns.user': true, 'ns.pid': true, 'ns.mnt': true, 'ns.net': true, 'ns.ipc': true, 'ns.uts': true, 'ns.cgroup': true });
    // A namespace the plan asked for that the process shares with us, and one it has that the plan did not ask for.
    expect(failedEvidence(fixedEvidence(pid, expectOf(['user', 'uts', 'net']))).map((e) => e.name)).toEqual(['ns.net']);
    expect(failedEvidence(fixedEvidence(pid, expectOf(['user']))).map((e) => e.name)).toEqual(['ns.uts']);
    // A map other than the one written.
    expect(failedEvidence(fixedEvidence(pid, expectOf(['user', 'uts'], `0 ${euid + 1} 1`))).map((e) => e.name)).toEqual(['uid_map']);
  });

  it('read early or at READY, the read-back is the same list, in the same order', async () => {
    const pid = await unshared();
    const expectNow = expectOf(['user', 'uts']);
    const early = readEvidence(pid, expectNow, fixedEvidence(pid, expectNow));
    const late = readEvidence(pid, expectNow);
    expect(early).toEqual(late);
    expect(early.map((e) => e.name)).toEqual(['NoNewPrivs', 'Seccomp', 'CapEff', 'CapBnd', 'Uid', 'Gid', 'Groups', 'uid_map', 'gid_map', 'ns.user', 'ns.pid', 'ns.mnt', 'ns.net', 'ns.ipc', 'ns.uts', 'ns.cgroup', 'cgroup']);
  });

  it('the parent, when one is expected, is the kernel\'s PPid: ours for what we spawned (unshare exec\'d sleep), and any other withholds the go byte', async () => {
    const pid = await unshared();
    const ours = readEvidence(pid, { ...expectOf(['user', 'uts']), parent: process.pid }).find((e) => e.name === 'PPid');
    expect(ours).toEqual({ name: 'PPid', source: `/proc/${pid}/status`, value: String(process.pid), expected: String(process.pid), ok: true });
    // Another pid (our own parent): the workload's status would go to a process that does not report it.
    // (CapEff fails either way: unshare's root keeps its capabilities in its namespace.)
    const failed = (parent: number): string[] => failedEvidence(readEvidence(pid, { ...expectOf(['user', 'uts']), parent })).map((e) => e.name);
    expect(failed(process.pid)).toEqual(['CapEff']);
    expect(failed(process.ppid)).toEqual(['CapEff', 'PPid']);
  });

  it('a process gone before the read is not observed, keeps what was expected, and withholds the go byte', async () => {
    const pid = await unshared();
    child!.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const ev = fixedEvidence(pid, expectOf(['user', 'uts']));
    expect(ev.map((e) => e.name)).toEqual(['uid_map', 'gid_map', 'ns.user', 'ns.pid', 'ns.mnt', 'ns.net', 'ns.ipc', 'ns.uts', 'ns.cgroup']);
    for (const e of ev) expect(e).toEqual({ name: e.name, source: expect.stringMatching(new RegExp(`^/proc/${pid}/`)), value: { notObserved: 'process gone before read-back' }, expected: expect.any(String) });
    expect(failedEvidence(ev).map((e) => e.name)).toEqual(ev.map((e) => e.name));
    // At READY too: a status field with an expectation (CapEff) withholds it; one recorded only (CapBnd, and NoNewPrivs here) does not.
    expect(failedEvidence(readEvidence(pid, expectOf(['user', 'uts']), [])).map((e) => e.name)).toEqual(['CapEff']);
  });
});
