// recover's view of quarantines (src/app/recover.ts, quarantineDirs): a quarantine placed on its
// destination's filesystem is indexed by a link under the state root; recovery must list it,
// name it and discard all of it (directory, home, link), as it does a quarantine under the root.
// Oracle: the disk.
import { describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
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
