// A state root is trusted: its state files name processes and cgroups that delete kills, its
// plans carry OCI hooks that delete runs, its reports name quarantines that discard removes.
// create and run check the root before they write into it (a real directory of ours, writable
// by no one else); every other command must check it before it reads, or whoever made or can
// write the root (another local user who created /tmp/bvisor-<uid> first) decides what bvisor
// kills, removes and runs. Oracles: the exit status and code each command returns, the
// container's directory on disk, and its workload's /proc entry (the same process, still alive).
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { BVISOR, cli, cliEnv } from '../helpers/cli.js';
import { containerIds, loadExisting } from '../../src/app/lifecycle.js';
import { gcRoot } from '../../src/app/gc.js';
import { recoverRoot } from '../../src/app/recover.js';
import { probeBundle, writableDir } from '../helpers/probe.js';
import { startTimeOf, until } from '../helpers/wait.js';
import { keepRoot, newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';

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
    const born = startTimeOf(pid);
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
        expect(startTimeOf(pid)).toBe(born);
      }
    } finally {
      chmodSync(root, mode);
      if (process.geteuid?.() === 0) chownSync(root, process.getuid!(), process.getgid!());
    }
    // Ours again: the same commands work on it.
    expect(cli(['state', 'c1', '--root', root, '--json']).json().status).toBe('created');
    expect(cli(['delete', '-f', 'c1', '--root', root]).status).toBe(0);
    expect(existsSync(dir)).toBe(false);
    expect(startTimeOf(pid)).toBeNull();
  }, 120_000);
});

// The directories above the root: whoever can change one can swap the whole root for a directory
// of theirs (rename(2)'s RENAME_EXCHANGE) between bvisor's check of the root and its reads, which
// go by path: a forged plan's poststop hook then ran as root at delete (an attack in December).
// Oracles: the exit status, code and message of each command, the container's directory, and its
// workload's /proc entry (the same live process).
describe('a state root below a directory someone else can change is refused', () => {
  it('a parent owned by uid 65534, a parent writable by others, a symlink of 65534 on the path: each command exits 4 and acts on nothing; a sticky parent (/tmp\'s kind) with the root ours is fine', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'giving a parent to another uid (chown) needs root');
    const top = tempDir();
    const parent = join(top, 'p');
    mkdirSync(parent, { mode: 0o755 });
    const root = keepRoot(join(parent, 'root'));
    expect(cli(['create', 'c1', '-b', probeBundle(['sleep', '30']), '--root', root]).status).toBe(0);
    const dir = join(root, 'containers', 'c1');
    const pid = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).pid.pid as number;
    const born = startTimeOf(pid);
    const resources = join(tempDir(), 'resources.json');
    writeFileSync(resources, JSON.stringify({ memory: { limit: 32 * 1024 * 1024 } }));
    const link = join(top, 'link');
    symlinkSync('p', link);
    lchownSync(link, 65534, 65534);
    const cases: Array<{ why: RegExp; root: string; commands: string[][]; make(): void; undo(): void }> = [
      { why: new RegExp(`${parent}, above it, is owned by uid 65534`), root, commands: COMMANDS, make: () => chownSync(parent, 65534, 65534), undo: () => chownSync(parent, 0, 0) },
      { why: new RegExp(`${parent}, above it, is writable by others \\(mode 0777\\)`), root, commands: [['state', 'c1'], ['delete', '-f', 'c1']], make: () => chmodSync(parent, 0o777), undo: () => chmodSync(parent, 0o755) },
      { why: new RegExp(`${link} on its path is a symlink owned by uid 65534`), root: join(link, 'root'), commands: [['state', 'c1'], ['delete', '-f', 'c1']], make: () => {}, undo: () => {} },
    ];
    try {
      for (const c of cases) {
        c.make();
        for (const args of c.commands) {
          const argv = args.map((a) => (a === '$RESOURCES' ? resources : a));
          const r = cli(['--root', c.root, ...(argv[0] === 'exec' ? ['exec', '--json', ...argv.slice(1)] : [...argv, '--json'])]);
          const what = `${args.join(' ')} (${c.why.source})`;
          expect(r.status, `${what}: ${r.stdout}${r.stderr}`).toBe(args[0] === 'exec' ? 125 : 4);
          expect(r.json().error.code, what).toBe('BV_STATE_ROOT_UNUSABLE');
          expect(r.json().error.message, what).toMatch(c.why);
        }
        c.undo();
        expect(existsSync(join(dir, 'state.json'))).toBe(true);
        expect(startTimeOf(pid)).toBe(born);
      }
      // Sticky and writable by all, as /tmp: no one else may rename a root that is ours there.
      chmodSync(parent, 0o1777);
      expect(cli(['state', 'c1', '--root', root, '--json']).json().status).toBe('created');
      // But a root that is not ours in it is refused by the root's own check (owner), first.
    } finally {
      chownSync(parent, 0, 0);
      chmodSync(parent, 0o755);
    }
    expect(cli(['delete', '-f', 'c1', '--root', root]).status).toBe(0);
    expect(existsSync(dir)).toBe(false);
    expect(startTimeOf(pid)).toBeNull();
  }, 120_000);
});

// A root that does not exist yet is made where it is asked for: through another user's symlink
// or directory, bvisor (as root) made directories wherever that led, and its wasm-cache, before
// the root's check refused it (an attack in December: a plan's reserved paths made the root with
// a recursive mkdir, and the root's own making went one component at a time, checking after).
// Oracle: the disk where the link leads, and beneath the untrusted directory.
describe('a root that does not exist is made only below trusted directories', () => {
  it('below another user\'s symlink or directory: run and create refuse it (BV_STATE_ROOT_UNUSABLE) and make nothing there; below a trusted one it is made', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'giving a directory to another uid (chown) needs root');
    const top = tempDir();
    const other = join(top, 'other');
    mkdirSync(other, { mode: 0o755 });
    chownSync(other, 65534, 65534);
    const victim = join(top, 'victim');
    mkdirSync(victim, { mode: 0o755 });
    symlinkSync(victim, join(other, 'sub'));
    lchownSync(join(other, 'sub'), 65534, 65534);
    for (const root of [join(other, 'sub', 'newdir', 'state'), join(other, 'mine', 'state')]) {
      // With outputs too: its quarantine was made (and chowned, or a tmpfs mounted on it) by path
      // through the link before the root's check (a third attack).
      const outputs = probeBundle(['exit', '0'], 'outputs: { path: /out }\n');
      // plan too: it exited 0 there, admitting a plan without the root's mask, where run refused.
      for (const args of [['run', '-b', probeBundle(['exit', '0']), 'x1'], ['create', 'x2', '-b', probeBundle(['exit', '0'])], ['run', '-b', outputs, 'x4'], ['create', 'x5', '-b', outputs], ['plan', probeBundle(['exit', '0'])]]) {
        const r = cli(['--root', root, ...args, '--json']);
        const what = `${args[0]} --root ${root}`;
        expect(r.status, `${what}: ${r.stderr}`).toBe(args[0] === 'run' ? 125 : 4);
        expect(r.json().error.code, what).toBe('BV_STATE_ROOT_UNUSABLE');
        expect(readdirSync(victim), what).toEqual([]);
        expect(existsSync(join(other, 'mine')), what).toBe(false);
      }
    }
    // journal verify --repair made a missing root by a recursive mkdir (a fourth attack): it has
    // nothing to mend there, says there is no journal there, and makes nothing.
    const repair = cli(['--root', join(other, 'sub', 'newdir', 'state'), 'journal', 'verify', '--repair']);
    expect(repair.status, repair.stderr).toBe(4);
    expect(repair.stderr).toMatch(/BV_STATE_ROOT_UNUSABLE: .* is not a directory: there is no journal to verify there/);
    expect(readdirSync(victim)).toEqual([]);
    // A root-owned link that leads to another user's link: on neither the path as given nor its
    // real path, the kernel still follows it (a fourth attack: the user chose where root made the
    // root). Every link followed is checked.
    const rs = join(top, 'rs');
    symlinkSync(join(other, 'sub'), rs);
    for (const args of [['run', '-b', probeBundle(['exit', '0']), 'x6'], ['plan', probeBundle(['exit', '0'])]]) {
      const r = cli(['--root', join(rs, 'newdir', 'state'), ...args, '--json']);
      expect(r.status, r.stderr).toBe(args[0] === 'run' ? 125 : 4);
      expect(r.json().error.message).toContain(`${join(other, 'sub')} on its path is a symlink owned by uid 65534`);
      expect(readdirSync(victim), args[0]).toEqual([]);
    }
    const trusted = join(top, 'ok', 'state');
    keepRoot(trusted);
    expect(cli(['--root', trusted, 'run', '-b', probeBundle(['exit', '0']), 'x3']).status).toBe(0);
    expect(statSync(trusted).isDirectory()).toBe(true);
  });
});

// A root missing when a command begins is not checked then (there is nothing to check), and
// whoever could make it before the command reads it decided what it acted on (a review found
// list reading a tree renamed into place, 7 times in 25). So each place that reads the root checks
// it as it is then. Oracle: each function's own answer on a root that exists below an unsafe
// parent, and the container's workload untouched.
describe('a root is checked where it is read, not only when the command began', () => {
  it('loadExisting, the container listing, gc and recover refuse a root below a parent of uid 65534', async () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'giving a parent to another uid (chown) needs root');
    const parent = join(tempDir(), 'p');
    mkdirSync(parent, { mode: 0o755 });
    const root = keepRoot(join(parent, 'root'));
    expect(cli(['create', 'c1', '-b', probeBundle(['sleep', '30']), '--root', root]).status).toBe(0);
    const pid = JSON.parse(readFileSync(join(root, 'containers', 'c1', 'state.json'), 'utf8')).pid.pid as number;
    const born = startTimeOf(pid);
    chownSync(parent, 65534, 65534);
    try {
      const why = { code: 'BV_STATE_ROOT_UNUSABLE', message: expect.stringContaining(`${parent}, above it, is owned by uid 65534`) };
      expect(() => loadExisting(root, 'c1')).toThrow(expect.objectContaining(why));
      expect(() => containerIds(root)).toThrow(expect.objectContaining(why));
      await expect(gcRoot(root)).rejects.toMatchObject(why);
      await expect(recoverRoot(root)).rejects.toMatchObject(why);
    } finally {
      chownSync(parent, 0, 0);
    }
    expect(startTimeOf(pid)).toBe(born);
    expect(cli(['delete', '-f', 'c1', '--root', root]).status).toBe(0);
  });

  it('a path through a magic link in /proc (/proc/<pid>/root) is refused: the kernel resolves it in that process\'s view, not as its text says (a fifth attack: another mount namespace\'s directory took the journal)', () => {
    const root = newRoot();
    chmodSync(root, 0o700);
    expect(cli(['--root', root, 'list', '--json']).status).toBe(0);
    const r = cli(['--root', `/proc/${process.pid}/root${root}`, 'list', '--json']);
    expect(r.status, r.stderr).toBe(4);
    expect(r.json().error.message).toContain(`/proc/${process.pid}/root on its path is a magic link in /proc`);
  });

  it('in a user namespace (rootless podman runs its runtime as root in one), the directories host root makes (/, /tmp) show as the overflow uid and are accepted; another host user\'s directory or link, which shows as the same uid, is not', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'setpriv to uid 1000 needs root');
    // Directly under /tmp, as $XDG_RUNTIME_DIR is directly under /run/user: uid 1000's.
    const mine = tempDir();
    chmodSync(mine, 0o755);
    chownSync(mine, 1000, 1000);
    // Each root exists (a missing one holds nothing and is not read), uid 1000's, 0700.
    const made = (root: string): string => {
      mkdirSync(root, { mode: 0o700 });
      chownSync(root, 1000, 1000);
      return root;
    };
    const inNs = (root: string): ReturnType<typeof spawnSync> =>
      spawnSync('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', 'unshare', '-Ur', BVISOR, '--root', root, 'list', '--json'], { encoding: 'utf8', timeout: 60_000, env: cliEnv() });
    const ok = inNs(made(join(mine, 'root')));
    if (ok.status !== 0 && /unshare: /.test(String(ok.stderr))) return skipOrFail('userns', `unprivileged user namespaces: ${String(ok.stderr).trim()}`);
    expect(ok.status, String(ok.stderr)).toBe(0);
    expect(JSON.parse(String(ok.stdout))).toEqual([]);
    // uid 1001's directory above the root, mode 0755: unmapped in the namespace as host root's
    // are, and its owner can rename what is in it whatever its mode (a fifth attack: it was
    // accepted). Refused, as its link in a directory of ours is.
    const theirs = tempDir();
    chmodSync(theirs, 0o755);
    chownSync(theirs, 1001, 1001);
    const sub = join(theirs, 'sub');
    mkdirSync(sub, { mode: 0o755 });
    chownSync(sub, 1000, 1000);
    const no = inNs(made(join(sub, 'root')));
    // (Found at /tmp already: sticky, and the entry in it not trusted.)
    expect([no.status, String(no.stdout)]).toEqual([4, expect.stringMatching(new RegExp(`${theirs}(, above it,)? is owned by uid 65534`))]);
    const link = join(mine, 'link');
    symlinkSync(mine, link);
    lchownSync(link, 1001, 1001);
    const viaLink = inNs(join(link, 'root'));
    expect([viaLink.status, String(viaLink.stdout)]).toEqual([4, expect.stringContaining(`${link} on its path is a symlink owned by uid 65534`)]);
    // A root-owned directory off the list (ostree's /var/home, a site's /scratch): refused, with
    // the way to name it; named in BVISOR_ROOT_TRUSTED_DIRS by the caller, accepted.
    const site = tempDir();
    chmodSync(site, 0o755);
    const home = join(site, 'home');
    mkdirSync(home, { mode: 0o755 });
    chownSync(home, 1000, 1000);
    const siteRoot = made(join(home, 'root'));
    const off = inNs(siteRoot);
    expect([off.status, String(off.stdout)]).toEqual([4, expect.stringContaining('BVISOR_ROOT_TRUSTED_DIRS')]);
    const named = spawnSync('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', 'unshare', '-Ur', BVISOR, '--root', siteRoot, 'list', '--json'], { encoding: 'utf8', timeout: 60_000, env: cliEnv({ BVISOR_ROOT_TRUSTED_DIRS: `/nowhere:${site}` }) });
    expect([named.status, String(named.stdout).trim()], String(named.stderr)).toEqual([0, '[]']);
  });
});

// A report is sealed from files create wrote beside the state: what it read back from /proc
// (create.json), the read-write grants before anything ran (fsdelta.json), the host it planned on
// (host.json). The state names each by its hash; an edit of one alone (a schema would take it)
// must not be sealed as what happened. Oracles: the exit status and message of the sealing
// state, the container's directory, the journal, and the host's own /proc/sys/kernel/osrelease.
describe('the records a report is sealed from are the ones create wrote', () => {
  it('an edited create.json or fsdelta.json is refused (exit 7; delete -f removes it unsealed); an edited host.json is probed again', async () => {
    const rw = writableDir();
    const b = probeBundle(['write', join(rw, 'made'), 'x'], '', { filesystem: [`  - { path: ${rw}, access: read-write }`] });
    const root = newRoot();
    const journal = (): any[] => readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const stopped = async (id: string): Promise<ReturnType<typeof cli>> => {
      let last: ReturnType<typeof cli> | null = null;
      await until(`${id} to stop`, () => {
        last = cli(['state', id, '--root', root]);
        return last.status !== 0 || JSON.parse(last.stdout).status === 'stopped';
      }, 15_000);
      return last!;
    };
    const edits: Record<string, (v: any) => any> = {
      'create.json': (v) => ({ ...v, evidence: v.evidence.map((e: any, i: number) => (i === 0 ? { ...e, value: 'forged' } : e)) }),
      'fsdelta.json': (v) => ({ ...v, grants: v.grants.map((g: any) => ({ ...g, path: '/etc' })) }),
    };
    for (const [name, edit] of Object.entries(edits)) {
      const id = `rec-${name.split('.')[0]}`;
      expect(cli(['create', id, '-b', b, '--root', root]).status).toBe(0);
      const file = join(root, 'containers', id, name);
      writeFileSync(file, JSON.stringify(edit(JSON.parse(readFileSync(file, 'utf8')))) + '\n');
      expect(cli(['start', id, '--root', root]).status).toBe(0);
      const st = await stopped(id);
      expect(st.status, name).toBe(7);
      expect(st.stderr).toContain(`container ${id}: its ${name} is not the record create wrote`);
      expect(existsSync(join(root, 'containers', id, 'report.json'))).toBe(false);
      const f = cli(['delete', '-f', id, '--root', root]);
      expect(f.status).toBe(7);
      expect(f.stderr).toContain(`container ${id} was removed (delete -f), but its report could not be sealed`);
      expect(existsSync(join(root, 'containers', id))).toBe(false);
      expect(journal().some((e) => e.report?.body?.containerId === id)).toBe(false);
    }
    // host.json is not fsync'd (a crash may tear it): one that is not create's is probed again.
    const osrelease = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    expect(cli(['create', 'rec-host', '-b', b, '--root', root]).status).toBe(0);
    const hostFile = join(root, 'containers', 'rec-host', 'host.json');
    const h = JSON.parse(readFileSync(hostFile, 'utf8'));
    writeFileSync(hostFile, JSON.stringify({ ...h, kernel: { ...h.kernel, release: '9.9.9-forged' } }) + '\n');
    expect(cli(['start', 'rec-host', '--root', root]).status).toBe(0);
    expect((await stopped('rec-host')).status).toBe(0);
    const forged = JSON.parse(readFileSync(join(root, 'containers', 'rec-host', 'report.json'), 'utf8'));
    expect(forged.body.host.kernel).toBe(osrelease);
    expect(cli(['delete', 'rec-host', '--root', root]).status).toBe(0);
    // Untouched, the same bundle seals from its records: the grant's delta names what it made.
    expect(cli(['create', 'rec-ok', '-b', b, '--root', root]).status).toBe(0);
    expect(cli(['start', 'rec-ok', '--root', root]).status).toBe(0);
    expect((await stopped('rec-ok')).status).toBe(0);
    const ok = JSON.parse(readFileSync(join(root, 'containers', 'rec-ok', 'report.json'), 'utf8'));
    expect(ok.body.outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(JSON.stringify(ok.body.fsDelta)).toContain('made');
    expect(ok.body.evidence.length).toBeGreaterThan(0);
    // A report.json put in a container's directory before its seal (another container's: whole,
    // its bodyHash true to its body) is not this container's; its own report is sealed over it.
    const planted = readFileSync(join(root, 'containers', 'rec-ok', 'report.json'), 'utf8');
    expect(cli(['delete', 'rec-ok', '--root', root]).status).toBe(0);
    expect(cli(['create', 'rec-planted', '-b', b, '--root', root]).status).toBe(0);
    writeFileSync(join(root, 'containers', 'rec-planted', 'report.json'), planted);
    expect(cli(['start', 'rec-planted', '--root', root]).status).toBe(0);
    expect((await stopped('rec-planted')).status).toBe(0);
    const sealed = JSON.parse(readFileSync(join(root, 'containers', 'rec-planted', 'report.json'), 'utf8'));
    expect(sealed.body.containerId).toBe('rec-planted');
    const reports = journal().filter((e) => e.report).map((e) => e.report.body.containerId);
    expect(reports.filter((c) => c === 'rec-ok')).toHaveLength(1);
    expect(reports.at(-1)).toBe('rec-planted');
    expect(cli(['delete', 'rec-planted', '--root', root]).status).toBe(0);
  }, 120_000);
});
