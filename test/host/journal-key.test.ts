// The keyed journal: each entry carries HMAC-SHA256(key, "bvisor-journal-mac-v1\n" + entryHash)
// made with a key kept outside the state root. Oracles: the MAC is recomputed here with
// node:crypto from the key file's bytes (not through bvisor's key object), and every forgery is
// made the way an attacker with write access to the state root would make it: edit an entry and
// recompute every hash after it, so that the unkeyed chain verifies again.
import { readFileSync, writeFileSync, chmodSync, symlinkSync, linkSync, mkdirSync, chownSync } from 'node:fs';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { appendReport, verifyJournalAt, journalPaths, loadJournalKey } from '../../src/host/journal-store.js';
import { verifyJournal } from '../../src/app/journal.js';
import { sealReport } from '../../src/core/report.js';
import { sha256Hex } from '../../src/host/hash.js';
import { sampleReport } from '../helpers/sample-report.js';
import { thrown } from '../helpers/thrown.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';


const report = sampleReport;
const sha = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');
const jcs = (v: unknown) => (canonicalize as unknown as (x: unknown) => string)(v);

/** A key file in its own temp dir (outside every state root), mode 0600. */
function keyFile(bytes: Buffer = randomBytes(32)): { file: string; bytes: Buffer } {
  const file = join(tempDir('bvisor-key-'), 'journal.key');
  writeFileSync(file, bytes, { mode: 0o600 });
  return { file, bytes };
}

function keyedJournal(n: number, k = keyFile()): { root: string; file: string; key: ReturnType<typeof keyFile> } {
  const root = tempDir();
  const key = loadJournalKey(k.file, root);
  for (let i = 0; i < n; i++) appendReport(root, report(`k-${i}`), { key });
  return { root, file: journalPaths(root).file, key: k };
}

/** Edits entry `at` (0-based) and recomputes its hash and every later link and hash, and the head. */
function forge(root: string, at: number, edit: (e: any) => void, keepMacs = true): void {
  const file = journalPaths(root).file;
  const entries = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  edit(entries[at]);
  for (let i = at; i < entries.length; i++) {
    const e = entries[i];
    if (i > 0) e.prevHash = entries[i - 1].entryHash;
    if ('report' in e) {
      e.report = sealReport(e.report.body, sha256Hex);
      e.bodyHash = e.report.bodyHash;
    }
    const { entryHash: _h, mac, ...rest } = e;
    e.entryHash = sha(jcs(rest));
    if (!keepMacs || !mac) delete e.mac;
  }
  writeFileSync(file, entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const last = entries[entries.length - 1];
  writeFileSync(journalPaths(root).head, JSON.stringify({ seq: last.seq, entryHash: last.entryHash }) + '\n');
}

describe('keyed journal', () => {
  it('each entry carries the HMAC of its entryHash, as recomputed from the key bytes', () => {
    const { file, key } = keyedJournal(3);
    const keyId = createHmac('sha256', key.bytes).update('bvisor-journal-key-id-v1').digest('hex').slice(0, 16);
    for (const line of readFileSync(file, 'utf8').trimEnd().split('\n')) {
      const e = JSON.parse(line);
      const { entryHash, mac, ...rest } = e;
      expect(entryHash).toBe(sha(jcs(rest))); // the MAC is outside what entryHash covers
      expect(mac).toEqual({ alg: 'hmac-sha256', keyId, value: createHmac('sha256', key.bytes).update(`bvisor-journal-mac-v1\n${entryHash}`).digest('hex') });
    }
    expect(readFileSync(file, 'utf8')).not.toContain(key.bytes.toString('hex'));
  });

  it('a forged entry with every hash recomputed passes unkeyed verify (documented) and fails keyed verify, naming the line', () => {
    const { root, key } = keyedJournal(4);
    forge(root, 1, (e) => (e.report.body.outcome.exitCode = 0 === e.report.body.outcome.exitCode ? 3 : 0));
    // Without the key the forgery is indistinguishable from the truth: this is what chain mode cannot prove.
    expect(verifyJournal(root)).toMatchObject({ ok: true, entries: 4, mode: 'chain' });
    const v = verifyJournalAt(root, loadJournalKey(key.file, root));
    expect(v).toMatchObject({ ok: false, kind: 'mac', line: 2 });
    const e = thrown(() => verifyJournal(root, { keyFile: key.file }));
    expect(e.code).toBe('BV_JOURNAL_CORRUPT');
    expect(e.exit).toBe(8);
    expect(e.message).toMatch(/line 2: its MAC does not match/);
  });

  it('a forgery that strips the MACs fails keyed verify: no entry may go unMAC’d after a MAC’d one, nor may all', () => {
    const { root, key } = keyedJournal(3);
    forge(root, 2, (e) => (e.report.body.runId = 'forged'), false);
    expect(verifyJournalAt(root)).toMatchObject({ ok: true });
    expect(thrown(() => verifyJournal(root, { keyFile: key.file })).message).toMatch(/line 3: it has no MAC although earlier entries have one/);
    forge(root, 0, (e) => (e.report.body.runId = 'forged'), false);
    expect(thrown(() => verifyJournal(root, { keyFile: key.file })).message).toMatch(/no entry carries a MAC/);
  });

  it('the right key verifies; another key fails naming its key id', () => {
    const { root, key } = keyedJournal(2);
    expect(verifyJournal(root, { keyFile: key.file })).toMatchObject({ ok: true, entries: 2, mode: 'keyed', macs: 2 });
    const other = keyFile();
    expect(thrown(() => verifyJournal(root, { keyFile: other.file })).message).toMatch(/line 1: its MAC was made with another key/);
  });

  it('appends to a keyed journal without the key, or with another, are refused and write nothing', () => {
    const { root, file, key } = keyedJournal(2);
    const bytes = readFileSync(file);
    const noKey = thrown(() => appendReport(root, report('nokey')));
    expect(noKey.code).toBe('BV_JOURNAL_KEY');
    expect(noKey.message).toMatch(/is keyed \(key id [0-9a-f]{16}\) and no journal key was given/);
    const other = loadJournalKey(keyFile().file, root);
    expect(thrown(() => appendReport(root, report('other'), { key: other })).code).toBe('BV_JOURNAL_KEY');
    expect(readFileSync(file).equals(bytes)).toBe(true);
    appendReport(root, report('right'), { key: loadJournalKey(key.file, root) });
    expect(verifyJournal(root, { keyFile: key.file })).toMatchObject({ entries: 3 });
  });

  it('a key adopted on an unkeyed journal vouches for the entries before it through the chain', () => {
    const root = tempDir();
    for (let i = 0; i < 2; i++) appendReport(root, report(`u-${i}`));
    const k = keyFile();
    appendReport(root, report('k'), { key: loadJournalKey(k.file, root) });
    expect(verifyJournal(root, { keyFile: k.file })).toMatchObject({ ok: true, entries: 3, macs: 1 });
    forge(root, 0, (e) => (e.report.body.runId = 'forged'));
    expect(verifyJournalAt(root)).toMatchObject({ ok: true });
    // The first MAC (entry 3) no longer matches: the forged prefix is caught there.
    expect(thrown(() => verifyJournal(root, { keyFile: k.file })).message).toMatch(/line 3: its MAC does not match/);
  });

  it('--repair of a keyed journal writes a keyed repair entry, and needs the key to do it', () => {
    const { root, file, key } = keyedJournal(2);
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from('{"bvisorVersion":"1","seq":3,')]));
    const bytes = readFileSync(file);
    expect(thrown(() => verifyJournal(root, { repair: true })).code).toBe('BV_JOURNAL_KEY');
    expect(readFileSync(file).equals(bytes)).toBe(true);
    const r = verifyJournal(root, { repair: true, keyFile: key.file });
    expect(r).toMatchObject({ ok: true, entries: 3, mode: 'keyed', macs: 3, repaired: { truncated: { line: 3 } } });
  });
});

describe('the key file', () => {
  const root = () => tempDir();
  it('must not be readable by others', () => {
    const k = keyFile();
    chmodSync(k.file, 0o644);
    const e = thrown(() => loadJournalKey(k.file, root()));
    expect(e.code).toBe('BV_JOURNAL_KEY');
    expect(e.message).toMatch(/mode 0644/);
    expect(e.hint).toBe(`chmod 600 ${k.file}`);
  });

  it('must not be inside the state root, even through a symlinked path to it', () => {
    const r = root();
    const f = join(r, 'journal.key');
    writeFileSync(f, randomBytes(32), { mode: 0o600 });
    expect(thrown(() => loadJournalKey(f, r)).message).toMatch(/inside the state root/);
    const sub = join(r, 'keys');
    mkdirSync(sub);
    const g = join(sub, 'k');
    writeFileSync(g, randomBytes(32), { mode: 0o600 });
    const alias = join(tempDir(), 'alias');
    symlinkSync(r, alias);
    expect(thrown(() => loadJournalKey(join(alias, 'keys', 'k'), r)).message).toMatch(/inside the state root/);
    // ...and a state root that does not exist yet is compared by its path.
    expect(thrown(() => loadJournalKey(g, join(r))).code).toBe('BV_JOURNAL_KEY');
  });

  it('must be a regular file of its own: not a symlink, not hard-linked', () => {
    const k = keyFile();
    const link = join(tempDir(), 'link.key');
    symlinkSync(k.file, link);
    expect(thrown(() => loadJournalKey(link, root())).message).toMatch(/is a symlink/);
    const hard = join(tempDir(), 'hard.key');
    linkSync(k.file, hard);
    expect(thrown(() => loadJournalKey(k.file, root())).message).toMatch(/2 hard links/);
    expect(thrown(() => loadJournalKey(tempDir(), root())).message).toMatch(/not a regular file/);
    expect(thrown(() => loadJournalKey('/nonexistent/key', root())).message).toMatch(/cannot be opened: ENOENT/);
  });

  it('a FIFO named as the key is refused at once, not waited on for a writer', () => {
    const fifo = join(tempDir(), 'key.fifo');
    expect(spawnSync('mkfifo', ['-m', '600', fifo]).status).toBe(0);
    // In a child with a deadline: the open that waits for a writer blocks the whole process.
    const mod = join(__dirname, '..', '..', 'dist', 'host', 'journal-store.js');
    const js = `import(${JSON.stringify(mod)}).then((m) => { try { m.loadJournalKey(${JSON.stringify(fifo)}, ${JSON.stringify(root())}); } catch (e) { console.log(e.message); } });`;
    const r = spawnSync(process.execPath, ['-e', js], { encoding: 'utf8', timeout: 10_000 });
    expect([r.signal, r.status]).toEqual([null, 0]);
    expect(r.stdout).toMatch(/key\.fifo: is not a regular file/);
  });

  it('must hold 32 to 4096 bytes', () => {
    expect(thrown(() => loadJournalKey(keyFile(randomBytes(16)).file, root())).message).toMatch(/holds 16 bytes/);
    expect(thrown(() => loadJournalKey(keyFile(randomBytes(5000)).file, root())).message).toMatch(/holds 5000 bytes/);
  });

  it('must be ours', () => {
    if (process.geteuid?.() !== 0) return skipOrFail('root', 'giving the key file to another uid needs root');
    const k = keyFile();
    chownSync(k.file, 12345, 12345);
    expect(thrown(() => loadJournalKey(k.file, root())).message).toMatch(/owned by uid 12345/);
  });
});
