// removeKeptBundle (src/host/extracted.ts): delete removes the bundle a container kept, a path its
// state.json names, recursively. Only a directory of ours whose owner.json names that very
// container goes. Oracle: the disk.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeKeptBundle, writeOwner } from '../../src/host/extracted.js';
import { tempDir } from '../helpers/tmp.js';

const OWNER = { stateDir: '/run/bvisor/containers/c1', runId: '3f1e2d4c-0000-4000-8000-000000000001' };

function bundleDir(parent: string, name: string, owner: object | null): string {
  const top = join(parent, name);
  mkdirSync(join(top, 'bundle'), { recursive: true });
  writeFileSync(join(top, 'bundle', 'keep'), 'x');
  if (owner) writeOwner(top, owner as typeof OWNER);
  return top;
}

describe('removeKeptBundle', () => {
  it('removes the bundle kept for this container', () => {
    const top = bundleDir(tempDir(), 'bvisor-bundle-a', OWNER);
    removeKeptBundle(top, OWNER);
    expect(existsSync(top)).toBe(false);
  });

  it('leaves one kept for another container or run, one with no owner, a symlink, and a name extraction never makes', () => {
    const parent = tempDir();
    const victim = bundleDir(tempDir(), 'victim', null);
    const cases = [
      bundleDir(parent, 'bvisor-bundle-b', { ...OWNER, stateDir: '/run/bvisor/containers/c2' }),
      bundleDir(parent, 'bvisor-bundle-c', { ...OWNER, runId: '3f1e2d4c-0000-4000-8000-000000000002' }),
      bundleDir(parent, 'bvisor-bundle-d', null),
      bundleDir(parent, 'elsewhere', OWNER),
    ];
    symlinkSync(victim, join(parent, 'bvisor-bundle-e'));
    cases.push(join(parent, 'bvisor-bundle-e'));
    for (const top of cases) removeKeptBundle(top, OWNER);
    for (const top of cases) expect(readFileSync(join(top, 'bundle', 'keep'), 'utf8'), top).toBe('x');
    expect(readFileSync(join(victim, 'bundle', 'keep'), 'utf8')).toBe('x');
  });
});
