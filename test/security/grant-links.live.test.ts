// A grant written through a symlink (as /etc/localtime and /etc/os-release are on Debian) works as
// written: the file is bound at its physical place and the link is made in the host-mode root
// (src/core/layout.ts, grantLinks). Oracles: the probe's own open(2) of the path as written
// (0, or ENOENT: asm-generic/errno-base.h).
// Red twin: the same plan with the link step removed gives ENOENT, for the expected reason (the
// file itself is still bound and opens by its physical path).
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tryOps } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';

const ENOENT = 2;

function linkedFile(): { dir: string; link: string; real: string } {
  const dir = tempDir('bvisor-links-');
  chmodSync(dir, 0o755); // root's, not writable by others: resolveHostPath trusts links in it
  mkdirSync(join(dir, 'data'), { mode: 0o755 });
  const real = join(dir, 'data', 'f');
  writeFileSync(real, 'x\n', { mode: 0o644 });
  const link = join(dir, 'l');
  symlinkSync('data/f', link); // relative, as /etc/localtime's and /etc/os-release's are
  return { dir, link, real };
}

describe('a grant reached through a symlink (live)', () => {
  it('opens by the path as written and by its physical path', async () => {
    const { link, real } = linkedFile();
    expect(await tryOps([['open', link, 'r'], ['open', real, 'r']], '', { filesystem: [`  - { path: ${link}, access: read }`] })).toEqual([0, 0]);
  });

  it('red twin: without the link step the path as written is absent (ENOENT), the file still there', async () => {
    const { link, real } = linkedFile();
    const errnos = await tryOps([['open', link, 'r'], ['open', real, 'r']], '', {
      filesystem: [`  - { path: ${link}, access: read }`],
      hooks: { mutateLaunch: (l) => void (l.layout = l.layout.filter((e) => !(e.kind === 'symlink' && e.target === link))) },
    });
    expect(errnos).toEqual([ENOENT, 0]);
  });
});
