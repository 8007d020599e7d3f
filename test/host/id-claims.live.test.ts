// Per-run ids (host/id-claims.ts): a claim is an id of the range no live holder has, whoever
// asks (other processes: the lock), and one whose holders are all gone is taken again. Oracles:
// the claim files on disk, /proc (a holder is a process that really ended), and child processes
// claiming at once.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimIds, freeStart, perRunHost, releaseUnheld, type IdRange } from '../../src/host/id-claims.js';
import { procRef } from '../../src/host/proc.js';
import { BvisorError } from '../../src/contract/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { hybridHost as hostFacts } from '../helpers/hosts.js';

const claimsIn = (dir: string): number[] =>
  readdirSync(dir)
    .filter((f) => /^\d+$/.test(f))
    .map(Number)
    .sort((a, b) => a - b);
const holdersOf = (dir: string, uid: number): unknown[] => (JSON.parse(readFileSync(join(dir, String(uid)), 'utf8')) as { holders: unknown[] }).holders;
const thrown = (fn: () => unknown): BvisorError => {
  try {
    fn();
  } catch (e) {
    return e as BvisorError;
  }
  throw new Error('did not throw');
};

/** A process that has ended (and been reaped), as a holder would have named it while it lived. */
async function endedProcess(): Promise<{ pid: number; startTime: string }> {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await new Promise((r) => child.once('spawn', r));
  const ref = procRef(child.pid!)!;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  expect(existsSync(`/proc/${ref.pid}`) && procRef(ref.pid)?.startTime === ref.startTime).toBe(false);
  return ref;
}

const RANGE: IdRange = { uid: 400000, gid: 500000, count: 4 };
/** What a holder records of this process's namespaces, as the module does: a process's pid and
 * time namespaces, a container's mount namespace. */
const procNs = (): string => ['pid', 'time'].map((n) => readlinkSync(`/proc/self/ns/${n}`)).join(' ');
const mntNs = (): string => readlinkSync('/proc/self/ns/mnt');

const root = process.geteuid?.() === 0;
if (!root) skipOrFail('root', 'claims are made by root (a 0700 directory of its own)');

describe.skipIf(!root)('per-run id claims (live)', () => {
  it('gives each claim an id of its own, from the range but never its first, with the gid at the same place', () => {
    const dir = join(tempDir(), 'ids');
    const a = claimIds(RANGE, dir);
    const b = claimIds(RANGE, dir);
    const c = claimIds(RANGE, dir);
    expect(new Set([a.uid, b.uid, c.uid]).size).toBe(3);
    for (const x of [a, b, c]) {
      expect(x.uid).toBeGreaterThanOrEqual(400001);
      expect(x.uid).toBeLessThan(400004);
      expect(x.gid - 500000).toBe(x.uid - 400000);
    }
    expect(claimsIn(dir)).toEqual([400001, 400002, 400003]);
    // Made 0700: another user who could write here could take every id or free one in use.
    expect(spawnSync('stat', ['-c', '%a %u', dir], { encoding: 'utf8' }).stdout.trim()).toBe('700 0');
    // Every id held by a live process (this one): the next is refused, by name.
    const e = thrown(() => claimIds(RANGE, dir));
    expect(e.code).toBe('BV_IDS_EXHAUSTED');
    expect(e.message).toContain('400001–400003');
    // Let go, it can be taken again.
    b.release();
    expect(claimsIn(dir)).not.toContain(b.uid);
    expect(claimIds(RANGE, dir).uid).toBe(b.uid);
  });

  it('freeStart: every start whose span meets no busy interval, each as likely, and none past the end', () => {
    // Busy [3,5) and [8,9) of [1,12): spans of 2 may start at 1, 5, 6, 9, 10.
    const starts = new Set<number>();
    for (let r = 0; r < 5; r++) starts.add(freeStart([[3, 5], [8, 9]], 1, 12, 2, () => r)!);
    expect([...starts].sort((a, b) => a - b)).toEqual([1, 5, 6, 9, 10]);
    expect(freeStart([[3, 5], [8, 9]], 1, 12, 4, () => 0)).toBeNull();
    expect(freeStart([[3, 5], [8, 9]], 1, 12, 3, (n) => n - 1)).toBe(9);
    // Overlapping and unsorted busy intervals, one reaching past the end.
    expect(freeStart([[6, 20], [2, 4], [3, 7]], 1, 12, 1, (n) => (expect(n).toBe(1), 0))).toBe(1);
    expect(freeStart([], 1, 2 ** 31, 65536, (n) => n - 1)).toBe(2 ** 31 - 65536);
  });

  it('a block of ids is one claim of consecutive ids that no other claim meets; a block the free ids cannot hold is refused', async () => {
    const dir = join(tempDir(), 'ids');
    const ten: IdRange = { uid: 400000, gid: 500000, count: 10 };
    const one = claimIds(ten, dir);
    const blk = claimIds(ten, dir, 4);
    expect(blk.gid - 500000).toBe(blk.uid - 400000);
    expect(blk.uid).toBeGreaterThanOrEqual(400001);
    expect(blk.uid + 4).toBeLessThanOrEqual(400010);
    // One file, named by its first id and how many it holds.
    expect(JSON.parse(readFileSync(join(dir, `${blk.uid}+4`), 'utf8'))).toMatchObject({ uid: blk.uid, gid: blk.gid, count: 4 });
    expect(readdirSync(dir).filter((n) => n.includes('+'))).toEqual([`${blk.uid}+4`]);
    expect(one.uid < blk.uid || one.uid >= blk.uid + 4).toBe(true);
    // Every other id is then taken one by one, never one of the block's.
    const rest = [0, 1, 2, 3].map(() => claimIds(ten, dir).uid);
    for (const u of rest) expect(u < blk.uid || u >= blk.uid + 4, String(u)).toBe(true);
    const full = thrown(() => claimIds(ten, dir));
    expect(full.code).toBe('BV_IDS_EXHAUSTED');
    // A block of 2 cannot come from there, nor one larger than the range gives out (9).
    blk.release();
    expect(thrown(() => claimIds(ten, dir, 10)).message).toContain('a block of 10 consecutive ids cannot come from bvisor\'s range, which gives out 9');
    const two = claimIds(ten, dir, 4);
    expect(two.uid).toBe(blk.uid);
    // A block whose holders have all ended is taken over whole, by ids it spans.
    const dead = await endedProcess();
    writeFileSync(join(dir, `${two.uid}+4`), JSON.stringify({ v: 1, token: 't', uid: two.uid, gid: two.gid, count: 4, holders: [{ proc: dead, ns: procNs() }] }));
    const again = claimIds(ten, dir, 3);
    expect(again.uid).toBeGreaterThanOrEqual(two.uid);
    expect(again.uid + 3).toBeLessThanOrEqual(two.uid + 4);
    expect(existsSync(join(dir, `${two.uid}+4`))).toBe(false);
    // An unreadable claim holds the ids its name says (one here; a block's name says how many),
    // and one named outside the range holds none of it.
    const other = join(tempDir(), 'ids');
    mkdirSync(other, { mode: 0o700 });
    writeFileSync(join(other, '400005'), '{"v":9}');
    writeFileSync(join(other, '300000+100000'), '{"v":9}');
    expect(thrown(() => claimIds(ten, other, 5)).code).toBe('BV_IDS_EXHAUSTED');
    const four = claimIds(ten, other, 4);
    expect([400001, 400006]).toContain(four.uid);
    const singles = [0, 1, 2, 3].map(() => claimIds(ten, other).uid).sort();
    expect(singles).toEqual([400001, 400002, 400003, 400004, 400006, 400007, 400008, 400009].filter((u) => u < four.uid || u >= four.uid + 4));
    expect(thrown(() => claimIds(ten, other)).code).toBe('BV_IDS_EXHAUSTED');
  });

  it('takes over a claim whose holders have all ended, never one with a holder alive, nor one it cannot judge', async () => {
    const dir = join(tempDir(), 'ids');
    const two: IdRange = { uid: 400000, gid: 400000, count: 2 };
    mkdirSync(dir, { mode: 0o700 });
    const dead = await endedProcess();
    const me = procRef(process.pid)!;
    const here = procNs();
    const put = (holders: unknown[] | string): void => writeFileSync(join(dir, '400001'), typeof holders === 'string' ? holders : JSON.stringify({ v: 1, token: 't', uid: 400001, gid: 400001, holders }));
    put([{ proc: dead, ns: here }, { proc: me, ns: here }]);
    expect(thrown(() => claimIds(two, dir)).code).toBe('BV_IDS_EXHAUSTED');
    // The same ended process, named in another pid namespace: its pid means nothing here.
    put([{ proc: dead, ns: 'pid:[2] time:[3]' }]);
    expect(thrown(() => claimIds(two, dir)).code).toBe('BV_IDS_EXHAUSTED');
    // A claim file this bvisor cannot read (never torn: written by rename) holds too.
    put('{"v":2}');
    expect(thrown(() => claimIds(two, dir)).code).toBe('BV_IDS_EXHAUSTED');
    put([{ proc: dead, ns: here }]);
    const c = claimIds(two, dir);
    expect(c.uid).toBe(400001);
    expect(holdersOf(dir, 400001)).toEqual([{ proc: me, ns: here }]);
  });

  it('a container holds its id from create to delete, whoever made it, and not past its state', () => {
    const dir = join(tempDir(), 'ids');
    const two: IdRange = { uid: 400000, gid: 400000, count: 2 };
    const box = tempDir();
    writeFileSync(join(box, 'state.json'), JSON.stringify({ runId: 'run-1' }));
    const c = claimIds(two, dir);
    c.hold({ container: { dir: box, runId: 'run-1' } });
    // The creating process lets go; the container still holds it.
    c.release();
    expect(holdersOf(dir, 400001)).toEqual([{ container: { dir: box, runId: 'run-1' }, ns: mntNs() }]);
    expect(thrown(() => claimIds(two, dir)).code).toBe('BV_IDS_EXHAUSTED');
    releaseUnheld(400001, null, dir);
    expect(claimsIn(dir)).toEqual([400001]);
    // The same name made again by another create is not the container that held it.
    writeFileSync(join(box, 'state.json'), JSON.stringify({ runId: 'run-2' }));
    releaseUnheld(400001, null, dir);
    expect(claimsIn(dir)).toEqual([]);
  });

  it('delete lets its container go whatever namespace named it, and ended processes with it; others from another namespace hold', async () => {
    const dir = join(tempDir(), 'ids');
    const two: IdRange = { uid: 400000, gid: 400000, count: 2 };
    mkdirSync(dir, { mode: 0o700 });
    const dead = await endedProcess();
    const put = (holders: unknown[]): void => writeFileSync(join(dir, '400001'), JSON.stringify({ v: 1, token: 't', uid: 400001, gid: 400001, holders }));
    // A container made from another mount namespace (whose state this process cannot see), and
    // its ended init: the delete names its run id.
    put([{ container: { dir: '/nowhere/c1', runId: 'run-1' }, ns: 'mnt:[1]' }, { proc: dead, ns: procNs() }]);
    const e = thrown(() => claimIds(two, dir));
    expect(e.code).toBe('BV_IDS_EXHAUSTED');
    expect(e.message).toContain('1 of them only by holders this bvisor cannot judge');
    releaseUnheld(400001, 'run-2', dir);
    expect(claimsIn(dir)).toEqual([400001]);
    releaseUnheld(400001, 'run-1', dir);
    expect(claimsIn(dir)).toEqual([]);
    // A live process of another pid namespace is not the delete's to drop.
    put([{ container: { dir: '/nowhere/c1', runId: 'run-1' }, ns: 'mnt:[1]' }, { proc: dead, ns: 'pid:[2] time:[3]' }]);
    releaseUnheld(400001, 'run-1', dir);
    expect(holdersOf(dir, 400001)).toEqual([{ proc: dead, ns: 'pid:[2] time:[3]' }]);
  });

  it('a state that is not root\'s regular file holds nothing, and a FIFO there is not waited on', () => {
    const dir = join(tempDir(), 'ids');
    const two: IdRange = { uid: 400000, gid: 400000, count: 2 };
    const box = tempDir();
    const c = claimIds(two, dir);
    c.hold({ container: { dir: box, runId: 'run-1' } });
    c.release();
    // Made again by someone else (a parent removed and remade in /tmp): not the container's.
    writeFileSync(join(box, 'state.json'), JSON.stringify({ runId: 'run-1' }));
    chownSync(join(box, 'state.json'), 65534, 65534);
    releaseUnheld(400001, null, dir);
    expect(claimsIn(dir)).toEqual([]);
    const d = claimIds(two, dir);
    d.hold({ container: { dir: box, runId: 'run-1' } });
    d.release();
    rmSync(join(box, 'state.json'));
    expect(spawnSync('mkfifo', [join(box, 'state.json')]).status).toBe(0);
    // Within the test's time: a blocking open would hang here while holding the lock.
    const t0 = Date.now();
    expect(claimIds(two, dir).uid).toBe(400001);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('refuses a claims directory another user could write, or a link', () => {
    const top = tempDir();
    const open = join(top, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const e = thrown(() => claimIds(RANGE, open));
    expect(e.code).toBe('BV_IO');
    expect(e.message).toContain('writable by others (mode 777)');
    const link = join(top, 'link');
    mkdirSync(join(top, 'real'), { mode: 0o700 });
    symlinkSync(join(top, 'real'), link);
    expect(thrown(() => claimIds(RANGE, link)).message).toContain('is not a directory');
    expect(readdirSync(join(top, 'real'))).toEqual([]);
  });

  it('processes claiming at once get ids of their own (the lock), and what each held is free once it has ended', async () => {
    const dir = join(tempDir(), 'ids');
    const mod = resolve('dist/host/id-claims.js');
    // Each holds its id until it exits, and never releases it: its end frees it. All eight live
    // at once (each waits for its stdin to close, which happens once all have claimed): an id of
    // one that had already ended could rightly be another's.
    const script = `const { claimIds } = require(${JSON.stringify(mod)}); const c = claimIds({ uid: 400000, gid: 400000, count: 9 }, ${JSON.stringify(dir)}); process.stdout.write(String(c.uid)); process.stdin.on('end', () => process.exit(0)).resume();`;
    const children = [0, 1, 2, 3, 4, 5, 6, 7].map(() => spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const claimed = children.map(
      (p) =>
        new Promise<string>((res, rej) => {
          p.stdout.once('data', (d: Buffer) => res(d.toString()));
          p.once('error', rej);
          p.once('exit', (code) => rej(new Error(`child exited ${code} before it claimed`)));
        }),
    );
    const ended = children.map((p) => new Promise((res) => p.once('exit', res)));
    let uids: string[];
    try {
      uids = await Promise.all(claimed);
    } finally {
      for (const p of children) p.stdin.end();
      await Promise.all(ended);
    }
    expect(new Set(uids).size).toBe(8);
    expect(claimsIn(dir)).toHaveLength(8);
    // Their holders have all ended: every id can be taken again, here.
    const again = [0, 1, 2, 3, 4, 5, 6, 7].map(() => claimIds({ uid: 400000, gid: 400000, count: 9 }, dir).uid);
    expect(new Set(again).size).toBe(8);
  });

  it('perRunHost: rootful with a range, the mapping is the claim; else the host as it is', () => {
    const dir = join(tempDir(), 'ids');
    const ranged = hostFacts();
    ranged.mapping = { uid: 400000, gid: 400000, source: '/etc/subuid and /etc/subgid (bvisor)', range: { uid: 400000, gid: 400000, count: 3 } };
    const a = perRunHost(ranged, dir);
    expect(a.claim).not.toBeNull();
    expect(a.host.mapping).toMatchObject({ uid: a.claim!.uid, gid: a.claim!.gid, range: ranged.mapping.range });
    expect(a.host.mapping.source).toMatch(/\(bvisor\), id [12] of 3: this launch's own$/);
    // A spare runner claims again from a per-run host: one id's words, not two.
    const b = perRunHost(a.host, dir);
    expect(b.host.mapping.uid).not.toBe(a.host.mapping.uid);
    expect(b.host.mapping.source.match(/ id /g)).toHaveLength(1);
    a.claim!.release();
    b.claim!.release();
    const shared = hostFacts();
    expect(perRunHost(shared, dir)).toEqual({ host: shared, claim: null });
    const rootless = { ...ranged, identity: { uid: 1000, gid: 1000, euid: 1000, egid: 1000 } };
    expect(perRunHost(rootless, dir).claim).toBeNull();
    expect(claimsIn(dir)).toEqual([]);
    // A range of one id is that id, shared by every launch (the first is never given out).
    const single = { ...ranged, mapping: { ...ranged.mapping, range: { uid: 400000, gid: 400000, count: 1 } } };
    expect(perRunHost(single, dir)).toEqual({ host: single, claim: null });
  });
});
