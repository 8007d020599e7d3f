// A run's registration appears whole under its id or not at all (app/create.ts, claimId): it is
// filled under a claim's name, then renamed with RENAME_NOREPLACE (rename(2): "Don't overwrite
// newpath of the rename. Return an error if newpath already exists"). Oracles: the state root's
// directories on disk, and the processes the claims name in /proc.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimId, takeIdLocked } from '../../src/app/create.js';
import { claimName, listContainers } from '../../src/app/lifecycle.js';
import { gcRoot } from '../../src/app/gc.js';
import { writeOwner } from '../../src/host/extracted.js';
import { faultPoints } from '../../src/host/faults.js';
import { procRef } from '../../src/host/proc.js';
import { thrown } from '../helpers/thrown.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail, straceBin } from '../helpers/require.js';

const entries = (root: string): string[] => readdirSync(join(root, 'containers')).sort();

describe('claimId (live)', () => {
  it('renames a filled claim to its id, and leaves no claim behind', () => {
    const root = tempDir();
    const dir = claimId(root, 'a', (claim) => writeFileSync(join(claim, 'state.json'), 'whole\n'));
    expect(dir).toBe(join(root, 'containers', 'a'));
    expect(entries(root)).toEqual(['a']);
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe('whole\n');
  });

  it('an id taken while the claim was filled (even an empty directory) is BV_CONTAINER_EXISTS; the taker keeps it, the claim goes', () => {
    const root = tempDir();
    // A create's mkdir between claimId's check and its rename: an empty directory, which a plain
    // rename(2) of a directory would replace.
    const e = thrown(() => claimId(root, 'b', () => mkdirSync(join(root, 'containers', 'b'))));
    expect(e).toMatchObject({ code: 'BV_CONTAINER_EXISTS' });
    expect(entries(root)).toEqual(['b']);
    expect(readdirSync(join(root, 'containers', 'b'))).toEqual([]);
    const e2 = thrown(() =>
      claimId(root, 'c', () => {
        mkdirSync(join(root, 'containers', 'c'));
        writeFileSync(join(root, 'containers', 'c', 'state.json'), 'theirs\n');
      }),
    );
    expect(e2).toMatchObject({ code: 'BV_CONTAINER_EXISTS' });
    expect(readFileSync(join(root, 'containers', 'c', 'state.json'), 'utf8')).toBe('theirs\n');
    expect(entries(root)).toEqual(['b', 'c']);
  });

  it('an id already taken is refused before anything is written', () => {
    const root = tempDir();
    mkdirSync(join(root, 'containers', 'd'), { recursive: true });
    let filled = false;
    expect(thrown(() => claimId(root, 'd', () => void (filled = true)))).toMatchObject({ code: 'BV_CONTAINER_EXISTS' });
    expect(filled).toBe(false);
    expect(entries(root)).toEqual(['d']);
  });

  it('without RENAME_NOREPLACE (NFS): the id is taken by mkdir and filled under its lock, and only a free one', () => {
    const root = tempDir();
    mkdirSync(join(root, 'containers', 'e'), { recursive: true });
    let filled = false;
    expect(thrown(() => takeIdLocked(root, 'e', join(root, 'containers', 'e'), () => void (filled = true)))).toMatchObject({ code: 'BV_CONTAINER_EXISTS' });
    expect(filled).toBe(false);
    expect(readdirSync(join(root, 'containers', 'e'))).toEqual([]);
    const dir = takeIdLocked(root, 'f', join(root, 'containers', 'f'), (d) => {
      // Filled under the entry's lock (flock(2) on containers/f/lock): another taker would wait.
      const held = spawnSync('flock', ['-n', join(d, 'lock'), 'true']);
      writeFileSync(join(d, 'state.json'), `mine ${held.status}\n`);
    });
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe('mine 1\n'); // flock -n: 1 when held
    expect(entries(root)).toEqual(['e', 'f']);
  });
});

describe('claimId where rename has no RENAME_NOREPLACE (live, strace)', () => {
  // strace's fault injection makes renameat2(2) fail as it does on NFS (EINVAL) and under a
  // seccomp filter that does not know it (ENOSYS); the oracle is the disk and the calls strace sees.
  for (const errno of ['EINVAL', 'ENOSYS']) {
    it(`${errno}: the claim is removed and the id taken by mkdir, filled under its lock`, () => {
      const strace = straceBin();
      if (!strace) return skipOrFail('strace', 'no strace: the fallback is not exercised');
      const root = tempDir();
      const trace = join(tempDir(), 'trace');
      const js = `const { claimId } = require(${JSON.stringify(join(__dirname, '..', '..', 'dist', 'app', 'create.js'))});
        const fs = require('node:fs');
        claimId(process.env.R, 'g', (d) => fs.writeFileSync(d + '/state.json', 'whole\\n'));`;
      const r = spawnSync(strace, ['-f', '-qq', '-o', trace, '-e', 'trace=renameat2,mkdir,mkdirat', '-e', `inject=renameat2:error=${errno}`, process.execPath, '-e', js], { encoding: 'utf8', env: { ...process.env, R: root } });
      expect(r.status, r.stderr).toBe(0);
      expect(entries(root)).toEqual(['g']);
      expect(readFileSync(join(root, 'containers', 'g', 'state.json'), 'utf8')).toBe('whole\n');
      const calls = readFileSync(trace, 'utf8');
      expect(calls).toMatch(new RegExp(`renameat2\\(.*@claim\\..*, ".*/containers/g", RENAME_NOREPLACE\\) = -1 ${errno} .*\\(INJECTED\\)`));
      expect(calls).toMatch(/mkdir(at)?\(.*"[^"]*\/containers\/g", 0700\) = 0/);
    });
  }
});

describe('claims left by a crash (live)', () => {
  it('gc removes a claim, and a quarantine maker record without its quarantine, whose maker is gone, and keeps those whose maker lives; list shows no claim', async () => {
    const root = tempDir();
    const me = procRef(process.pid)!;
    // The same pid with another start time is another process (proc(5): starttime, field 22):
    // the maker of this claim is gone.
    const live = claimName(me, randomUUID());
    const gone = claimName({ pid: me.pid, startTime: String(Number(me.startTime) - 1) }, randomUUID());
    for (const n of [live, gone]) mkdirSync(join(root, 'containers', n), { recursive: true });
    // A quarantine's maker record whose quarantine was never made (killed between the two).
    const [liveRun, goneRun] = [randomUUID(), randomUUID()];
    mkdirSync(join(root, 'outputs'));
    writeFileSync(join(root, 'outputs', `${liveRun}.maker`), JSON.stringify(me));
    writeFileSync(join(root, 'outputs', `${goneRun}.maker`), JSON.stringify({ pid: me.pid, startTime: String(Number(me.startTime) - 1) }));
    expect(listContainers(root)).toEqual([]);
    const r = await gcRoot(root);
    expect(r.removed).toEqual([
      { id: gone, why: expect.stringContaining('its maker is gone'), reportHash: null },
      { id: `outputs/${goneRun}.maker`, why: expect.stringContaining('its maker is gone'), reportHash: null },
    ]);
    expect(r.failed).toEqual([]);
    expect(entries(root)).toEqual([live]);
    expect(readdirSync(join(root, 'outputs'))).toEqual([`${liveRun}.maker`]);
  });

  it('gc removes a disposition lock and a commit record whose quarantine is gone, and keeps those beside their quarantine', async () => {
    const root = tempDir();
    const [kept, stale] = [randomUUID(), randomUUID()];
    // A quarantine whose maker (this process) lives: recovery leaves it, its lock and its record.
    mkdirSync(join(root, 'outputs', kept), { recursive: true });
    writeFileSync(join(root, 'outputs', `${kept}.maker`), JSON.stringify(procRef(process.pid)));
    writeFileSync(join(root, 'outputs', `${kept}.lock`), '');
    writeFileSync(join(root, 'outputs', `${kept}.commit`), '{"to":"/x"}\n');
    writeFileSync(join(root, 'outputs', `${stale}.lock`), '');
    writeFileSync(join(root, 'outputs', `${stale}.commit`), '{"to":"/x"}\n');
    const r = await gcRoot(root);
    expect(r.removed.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: `outputs/${stale}.commit`, why: "a quarantine's commit record, its quarantine gone", reportHash: null },
      { id: `outputs/${stale}.lock`, why: "a quarantine's disposition lock, its quarantine gone", reportHash: null },
    ]);
    expect(readdirSync(join(root, 'outputs')).sort()).toEqual([kept, `${kept}.commit`, `${kept}.lock`, `${kept}.maker`].sort());
  });

  it('sweeps extracted bundles whose owner is gone only after recovery (a container set up from one may still be being torn down)', async () => {
    const root = tempDir();
    const tmp = tempDir();
    const me = procRef(process.pid)!;
    const top = join(tmp, 'bvisor-bundle-gc1');
    mkdirSync(join(top, 'bundle'), { recursive: true });
    writeOwner(top, { pid: me.pid, startTime: String(Number(me.startTime) - 1) });
    const seen: boolean[] = [];
    const [hit, dir] = [faultPoints.hit, process.env.TMPDIR];
    faultPoints.hit = (stage) => void (stage === 'recover:surveying' && seen.push(existsSync(top)));
    process.env.TMPDIR = tmp; // where the sweep looks (os.tmpdir())
    let r: Awaited<ReturnType<typeof gcRoot>>;
    try {
      r = await gcRoot(root);
    } finally {
      faultPoints.hit = hit;
      if (dir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = dir;
    }
    expect(seen).toEqual([true]);
    expect(r.bundles).toEqual([top]);
    expect(existsSync(top)).toBe(false);
  });
});
