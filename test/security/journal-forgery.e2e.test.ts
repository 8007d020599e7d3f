// Issue 10, item 5 through the real CLI: a forged journal with every hash recomputed passes
// `journal verify` without a key (exit 0: what chain mode cannot prove) and fails it with the key
// (exit 8, naming the line); a torn tail exits 8 with BV_JOURNAL_TORN and `--repair` mends it;
// a key file others can read is refused (exit 4). Oracles: the journal file's bytes, edited here.
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { appendReport, journalPaths, loadJournalKey } from '../../src/host/journal-store.js';
import { sealReport } from '../../src/core/report.js';
import { sha256Hex } from '../../src/host/hash.js';
import { sampleBody } from '../helpers/sample-report.js';
import { tempDir } from '../helpers/tmp.js';
import { cli } from '../helpers/cli.js';

const sha = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');
const jcs = (v: unknown) => (canonicalize as unknown as (x: unknown) => string)(v);

function keyed(n: number): { root: string; keyFile: string } {
  const root = tempDir();
  const keyFile = join(tempDir('bvisor-key-'), 'journal.key');
  writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  const key = loadJournalKey(keyFile, root);
  for (let i = 0; i < n; i++) appendReport(root, sealReport(sampleBody(`e-${i}`), sha256Hex), { key });
  return { root, keyFile };
}

describe('journal verify on the command line', () => {
  it('a recomputed-hash forgery: exit 0 without the key, exit 8 naming the line with --key', () => {
    const { root, keyFile } = keyed(3);
    const file = journalPaths(root).file;
    const entries = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    entries[1].report.body.outcome.exitCode = 42;
    for (let i = 1; i < entries.length; i++) {
      const e = entries[i];
      e.prevHash = entries[i - 1].entryHash;
      e.report = sealReport(e.report.body, sha256Hex);
      e.bodyHash = e.report.bodyHash;
      const { entryHash: _h, mac: _m, ...rest } = e;
      e.entryHash = sha(jcs(rest));
      e.mac = _m;
    }
    writeFileSync(file, entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
    writeFileSync(journalPaths(root).head, JSON.stringify({ seq: 3, entryHash: entries[2].entryHash }));

    const chain = cli(['journal', 'verify', '--root', root, '--json']);
    expect(chain.status, chain.stderr).toBe(0);
    expect(chain.json()).toMatchObject({ ok: true, entries: 3, mode: 'chain' });
    const keyedRun = cli(['--root', root, 'journal', 'verify', '--key', keyFile, '--json']);
    expect(keyedRun.status).toBe(8);
    expect(keyedRun.json()).toMatchObject({ error: { code: 'BV_JOURNAL_CORRUPT', exit: 8, message: expect.stringMatching(/line 2: its MAC does not match/) } });
    // --journal-key (global) serves as the key when --key is absent.
    expect(cli(['journal', 'verify', '--root', root, '--journal-key', keyFile]).status).toBe(8);
  });

  it('a torn tail: exit 8 BV_JOURNAL_TORN; --repair mends it and says where the cut bytes are', () => {
    const { root, keyFile } = keyed(2);
    const file = journalPaths(root).file;
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from('{"bvisorVersion":"1","seq":3,"at":"20')]));
    const r = cli(['journal', 'verify', '--root', root, '--key', keyFile]);
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/BV_JOURNAL_TORN/);
    expect(r.stderr).toMatch(/line 3/);
    const m = cli(['journal', 'verify', '--root', root, '--key', keyFile, '--repair']);
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/repaired: line 3 was incomplete .*kept in journal\.jsonl\.torn-3-\d+/);
    expect(m.stdout).toMatch(/ok, 3 entries verified, every MAC checked/);
    expect(cli(['journal', 'verify', '--root', root, '--key', keyFile]).status).toBe(0);
  });

  it('a key file others can read: exit 4 BV_JOURNAL_KEY', () => {
    const { root, keyFile } = keyed(1);
    const loose = join(tempDir(), 'loose.key');
    writeFileSync(loose, readFileSync(keyFile), { mode: 0o644 });
    const r = cli(['journal', 'verify', '--root', root, '--key', loose, '--json']);
    expect(r.status).toBe(4);
    expect(r.json()).toMatchObject({ error: { code: 'BV_JOURNAL_KEY', hint: `chmod 600 ${loose}` } });
  });
});
