// recover's view of quarantines (src/app/recover.ts, quarantineDirs): a quarantine placed on its
// destination's filesystem is indexed by a link under the state root; recovery must list it,
// name it and discard all of it (directory, home, link), as it does a quarantine under the root.
// Oracle: the disk.
import { describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { quarantineDirs } from '../../src/app/recover.js';
import { tempDir } from '../helpers/tmp.js';

const RUN = '3f1e2d4c-0000-4000-8000-000000000001';

describe('recover: quarantines placed on a destination filesystem (live)', () => {
  it('lists, names and discards a placed quarantine through its link', () => {
    const root = tempDir();
    const dest = tempDir();
    const home = join(dest, '.bvisor-quarantine');
    const q = join(home, RUN);
    mkdirSync(join(q, 'sub'), { recursive: true });
    writeFileSync(join(q, 'sub', 'f'), 'x');
    mkdirSync(join(root, 'outputs'));
    symlinkSync(q, join(root, 'outputs', RUN));
    expect(quarantineDirs.list(root)).toEqual([RUN]);
    expect(quarantineDirs.quarantine(root, RUN)).toBe(join(root, 'outputs', RUN));
    quarantineDirs.discard(join(root, 'outputs', RUN));
    expect(existsSync(q)).toBe(false);
    expect(existsSync(home)).toBe(false);
    expect(lstatSync(join(root, 'outputs', RUN), { throwIfNoEntry: false })).toBeUndefined();
    expect(readdirSync(dest)).toEqual([]);
  });

  it('a dangling link is not a quarantine; another run in the same home keeps the home', () => {
    const root = tempDir();
    const dest = tempDir();
    const home = join(dest, '.bvisor-quarantine');
    const other = join(home, 'other-run');
    mkdirSync(other, { recursive: true });
    mkdirSync(join(root, 'outputs'));
    symlinkSync(join(home, 'gone'), join(root, 'outputs', 'gone'));
    expect(quarantineDirs.list(root)).toEqual([]);
    const q = join(home, RUN);
    mkdirSync(q);
    symlinkSync(q, join(root, 'outputs', RUN));
    quarantineDirs.discard(join(root, 'outputs', RUN));
    expect(existsSync(q)).toBe(false);
    expect(existsSync(other)).toBe(true);
  });
});

describe('recover: an index link that names something else (live)', () => {
  it('is not followed: nothing is removed, and the error says why', () => {
    const root = tempDir();
    const victim = tempDir();
    writeFileSync(join(victim, 'keep'), 'x');
    mkdirSync(join(victim, '.bvisor-quarantine', 'another-run'), { recursive: true });
    mkdirSync(join(root, 'outputs'));
    // Each: not under a .bvisor-quarantine home, another run's name, or not normalised.
    for (const target of [victim, join(victim, '.bvisor-quarantine', 'another-run'), `${victim}/x/../.bvisor-quarantine/${RUN}`]) {
      const index = join(root, 'outputs', RUN);
      symlinkSync(target, index);
      expect(() => quarantineDirs.discard(index)).toThrow(expect.objectContaining({ code: 'BV_OUTPUTS', message: expect.stringContaining('not a quarantine bvisor makes') }));
      expect(lstatSync(index).isSymbolicLink()).toBe(true);
      unlinkSync(index);
    }
    expect(readFileSync(join(victim, 'keep'), 'utf8')).toBe('x');
    expect(existsSync(join(victim, '.bvisor-quarantine', 'another-run'))).toBe(true);
  });
});
