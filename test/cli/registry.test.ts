// The command registries (src/commands/index.ts for bvisor.blob and bin/run.js,
// src/commands/lifecycle-index.ts for lifecycle.blob, src/commands/launch-index.ts for
// launch.blob): each smaller one is a subset of the full one, each id the very same class, so a
// command behaves the same from either blob; and every id is in oclif.manifest.json, where its
// help and flags come from.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/commands/index.js';
import { LIFECYCLE_COMMANDS } from '../../src/commands/lifecycle-index.js';
import { LAUNCH_COMMANDS } from '../../src/commands/launch-index.js';

describe('command registries', () => {
  it('the lifecycle registry is a subset of the full one, id for id the same class', () => {
    const full = COMMANDS as Record<string, unknown>;
    for (const [id, cls] of Object.entries(LIFECYCLE_COMMANDS)) expect(full[id], id).toBe(cls);
    // Commands that read a bundle or a manifest are not in it (they need what the blob leaves out).
    for (const id of ['create', 'run', 'validate', 'plan', 'learn', 'exec']) expect(Object.keys(LIFECYCLE_COMMANDS)).not.toContain(id);
  });

  it('the launch registry is run, create and exec, id for id the full one\'s class, and shares no command with the lifecycle one', () => {
    const full = COMMANDS as Record<string, unknown>;
    expect(Object.keys(LAUNCH_COMMANDS).sort()).toEqual(['create', 'exec', 'run']);
    for (const [id, cls] of Object.entries(LAUNCH_COMMANDS)) expect(full[id], id).toBe(cls);
    for (const id of Object.keys(LAUNCH_COMMANDS)) expect(Object.keys(LIFECYCLE_COMMANDS)).not.toContain(id);
  });

  it('every command of the registries is in oclif.manifest.json, and every manifest command in the full registry', () => {
    const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'oclif.manifest.json'), 'utf8')) as { commands: Record<string, unknown> };
    expect(Object.keys(COMMANDS).sort()).toEqual(Object.keys(manifest.commands).sort());
    for (const id of [...Object.keys(LIFECYCLE_COMMANDS), ...Object.keys(LAUNCH_COMMANDS)]) expect(manifest.commands, id).toHaveProperty([id]);
  });
});
