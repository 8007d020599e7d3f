// The journal on disk: appends chain, and verify finds any edit, deletion, reorder or truncation
// (oracle: we tamper with the file directly, as an attacker or a crash would).
import { readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { appendReport, verifyJournalAt, journalPaths } from '../../src/host/journal-store.js';
import { sealReport } from '../../src/core/report.js';
import { sha256Hex } from '../../src/host/hash.js';
import { sampleBody } from '../helpers/sample-report.js';
import { tempDir } from '../helpers/tmp.js';

function journalWith(n: number): { root: string; file: string; lines: string[] } {
  const root = tempDir();
  for (let i = 0; i < n; i++) appendReport(root, sealReport(sampleBody(`run-${i}`), sha256Hex));
  const file = journalPaths(root).file;
  return { root, file, lines: readFileSync(file, 'utf8').trimEnd().split('\n') };
}

describe('journal', () => {
  it('chains appends and verifies', () => {
    const { root, lines } = journalWith(4);
    expect(lines).toHaveLength(4);
    const entries = lines.map((l) => JSON.parse(l));
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    for (let i = 1; i < 4; i++) expect(entries[i].prevHash).toBe(entries[i - 1].entryHash);
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 4 });
  });

  it('an empty journal verifies', () => {
    const root = tempDir();
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 0 });
  });

  it('finds an edited report (line 2)', () => {
    const { root, file, lines } = journalWith(3);
    lines[1] = lines[1]!.replace('"exitCode":0', '"exitCode":1');
    writeFileSync(file, lines.join('\n') + '\n');
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, line: 2 });
  });

  it('finds an edit that also recomputes the report seal', () => {
    const { root, file, lines } = journalWith(3);
    const e = JSON.parse(lines[1]!);
    e.report.body.outcome.exitCode = 1;
    e.report = sealReport(e.report.body, sha256Hex);
    e.bodyHash = e.report.bodyHash;
    lines[1] = JSON.stringify(e);
    writeFileSync(file, lines.join('\n') + '\n');
    const v = verifyJournalAt(root);
    expect(v).toMatchObject({ ok: false, line: 2 });
    expect(!v.ok && v.problem).toMatch(/entry hash/);
  });

  it('finds a deleted entry', () => {
    const { root, file, lines } = journalWith(4);
    writeFileSync(file, [lines[0], lines[2], lines[3]].join('\n') + '\n');
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, line: 2 });
  });

  it('finds reordered entries', () => {
    const { root, file, lines } = journalWith(3);
    writeFileSync(file, [lines[0], lines[2], lines[1]].join('\n') + '\n');
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, line: 2 });
  });

  it('finds a truncated tail (whole entries) through the head record', () => {
    const { root, file, lines } = journalWith(3);
    writeFileSync(file, lines.slice(0, 2).join('\n') + '\n');
    const v = verifyJournalAt(root);
    expect(v.ok).toBe(false);
    expect(!v.ok && v.problem).toMatch(/truncated/);
  });

  it('finds a torn last line', () => {
    const { root, file } = journalWith(2);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, text.length - 20));
    expect(verifyJournalAt(root)).toMatchObject({ ok: false, line: 2 });
  });

  it('finds a journal whose head was deleted', () => {
    const { root } = journalWith(1);
    const head = journalPaths(root).head;
    expect(existsSync(head)).toBe(true);
    rmSync(head);
    expect(verifyJournalAt(root).ok).toBe(false);
  });

  it('serialises concurrent appenders (no lost or duplicated sequence numbers)', async () => {
    const root = tempDir();
    const { spawn } = await import('node:child_process');
    // Four processes append 10 reports each through the compiled build.
    const child = (i: number) =>
      new Promise<number>((resolve) => {
        const p = spawn(process.execPath, ['-e', `const {appendReport}=require('./dist/host/journal-store.js');const {sealReport}=require('./dist/core/report.js');const {sha256Hex}=require('./dist/host/hash.js');const b=${JSON.stringify(sampleBody())};for(let k=0;k<10;k++){b.runId='p${i}-'+k;appendReport(${JSON.stringify(root)},sealReport(b,sha256Hex));}`], { cwd: process.cwd(), stdio: 'inherit' });
        p.on('exit', (c) => resolve(c ?? -1));
      });
    const codes = await Promise.all([0, 1, 2, 3].map(child));
    expect(codes).toEqual([0, 0, 0, 0]);
    expect(verifyJournalAt(root)).toMatchObject({ ok: true, entries: 40 });
  });
});
