// A state root is trusted: its state files name processes and cgroups that delete kills, its
// plans carry OCI hooks that delete runs, its reports name quarantines that discard removes.
// create and run check the root before they write into it (a real directory of ours, writable
// by no one else); every other command must check it before it reads, or whoever made or can
// write the root (another local user who created /tmp/bvisor-<uid> first) decides what bvisor
// kills, removes and runs. Oracles: the exit status and code each command returns, the
// container's directory on disk, and its workload's /proc entry (the same process, still alive).
import { chmodSync, chownSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { probeBundle } from '../helpers/probe.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';

/** A workload's identity: its pid and its start time (field 22 of /proc/<pid>/stat). */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
  } catch {
    return null;
  }
}

// Every command that takes a container or reads the root (docs/exit-codes.md: 4 is setup).
const COMMANDS: string[][] = [
  ['state', 'c1'],
  ['start', 'c1'],
  ['kill', 'c1', 'KILL'],
  ['delete', '-f', 'c1'],
  ['delete', 'c1'],
  ['list'],
  ['gc'],
  ['recover'],
  ['report', 'c1'],
  ['ps', 'c1'],
  ['pause', 'c1'],
  ['resume', 'c1'],
  ['update', 'c1', '-r', '$RESOURCES'],
  ['events', 'c1', '--stats'],
  ['exec', 'c1', '/usr/bin/true'],
  ['commit', 'c1'],
  ['discard', 'c1'],
  ['journal', 'verify', '--repair'],
];

describe('a state root that is not only ours is refused by every command that reads it', () => {
  it('writable by others (mode 0777), or owned by another uid: each command exits 4, BV_STATE_ROOT_UNUSABLE, and acts on nothing', () => {
    const root = newRoot();
    expect(cli(['create', 'c1', '-b', probeBundle(['sleep', '30']), '--root', root]).status).toBe(0);
    const dir = join(root, 'containers', 'c1');
    const pid = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).pid.pid as number;
    const born = startTime(pid);
    expect(born).not.toBeNull();
    const mode = statSync(root).mode & 0o7777;
    const resources = join(tempDir(), 'resources.json');
    writeFileSync(resources, JSON.stringify({ memory: { limit: 32 * 1024 * 1024 } }));
    const cases: Array<{ why: RegExp; make(): void }> = [{ why: /is writable by others \(mode 0777\)/, make: () => chmodSync(root, 0o777) }];
    if (process.geteuid?.() === 0) cases.push({ why: /is owned by uid 65534, not by us/, make: () => chownSync(root, 65534, 65534) });
    else skipOrFail('root', 'giving the root to another uid (chown) needs root; the mode 0777 case still runs');
    try {
      for (const c of cases) {
        c.make();
        for (const args of COMMANDS) {
          // --root first, as engines pass it; exec takes everything after its id as the argv.
          const argv = args.map((a) => (a === '$RESOURCES' ? resources : a));
          const r = cli(['--root', root, ...(argv[0] === 'exec' ? ['exec', '--json', ...argv.slice(1)] : [...argv, '--json'])]);
          const what = `${args.join(' ')} (${c.why.source})`;
          // exec, like run, reports its own failures as 125 (docs/exit-codes.md); the code says which.
          expect(r.status, `${what}: ${r.stdout}${r.stderr}`).toBe(args[0] === 'exec' ? 125 : 4);
          expect(r.json().error.code, what).toBe('BV_STATE_ROOT_UNUSABLE');
          expect(r.json().error.message, what).toMatch(c.why);
        }
        // Verifying only reads, and its proof does not rest on the root's owner: an audit of a
        // root that is not ours still gets its verdict (--repair, which writes, does not).
        const audit = cli(['--root', root, 'journal', 'verify', '--json']);
        expect(audit.status, `journal verify (${c.why.source}): ${audit.stdout}${audit.stderr}`).toBe(0);
        expect(audit.json()).toMatchObject({ entries: expect.any(Number), mode: 'chain' });
        chmodSync(root, mode);
        if (process.geteuid?.() === 0) chownSync(root, process.getuid!(), process.getgid!());
        // Nothing acted: the container is there, its workload is the same live process.
        expect(existsSync(join(dir, 'state.json'))).toBe(true);
        expect(startTime(pid)).toBe(born);
      }
    } finally {
      chmodSync(root, mode);
      if (process.geteuid?.() === 0) chownSync(root, process.getuid!(), process.getgid!());
    }
    // Ours again: the same commands work on it.
    expect(cli(['state', 'c1', '--root', root, '--json']).json().status).toBe('created');
    expect(cli(['delete', '-f', 'c1', '--root', root]).status).toBe(0);
    expect(existsSync(dir)).toBe(false);
    expect(startTime(pid)).toBeNull();
  }, 120_000);
});
