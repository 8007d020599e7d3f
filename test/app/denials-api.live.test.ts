// runConfined returns what the boundary denied (result.denials, the report's body.denials): a
// shell past limits.output on Linux, a wasm guest out of fuel. Oracles: the bytes the shell
// wrote (known from the script), the guest's fate (a module that never ends).
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { runConfined, closeSpares, denialSummary } from '../../src/index.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { defaultTestParent } from '../helpers/cgroups.js';

describe('denials through the API (live)', () => {
  it('a captured stream cut at limits.output is a limits.output denial, with a line that fits what was written', async () => {
    const dir = tempDir();
    // 10000 bytes through a 4Ki cap: printf is a dash builtin, no fork needed.
    const manifest = `bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/dash, args: ["-c", "i=0; while [ $i -lt 1000 ]; do printf 123456789-; i=$((i+1)); done"] }\nfilesystem:\n  - { path: /usr, access: read-exec }\nstdio: { stdout: capture, stderr: capture }\nlimits: { wall: 10s, output: 4Ki }\n`;
    const r = await runConfined({ manifest, dir }, { cgroupParent: defaultTestParent() });
    expect(r.exitStatus).toBe(0);
    expect(r.stdout?.length).toBe(4096);
    expect(r.denials).toBe(r.report.body.denials);
    const cut = r.denials.items.filter((d) => d.kind === 'budget');
    expect(cut).toEqual([expect.objectContaining({ clause: 'limits.output', errno: null, observedBy: 'supervisor:capture stdout', allow: 'limits: { output: 10Ki }' })]);
    expect(cut[0]!.what).toContain('10000 bytes');
  });

  it('a wasm guest out of fuel: limits.fuel; its seccomp source says it makes no system calls', async () => {
    try {
      const r = await runConfined(join(ROOT, 'bundles', 'wasm-out-of-fuel'), { cgroupParent: defaultTestParent() });
      expect(r.report.body.outcome).toMatchObject({ status: 'timeout', reason: 'fuel' });
      expect(r.denials.items).toEqual([expect.objectContaining({ kind: 'budget', clause: 'limits.fuel', allow: 'limits: { fuel: 2000000 }' })]);
      expect(r.denials.sources.seccomp).toMatchObject({ observed: false, how: null });
      expect(r.denials.sources.seccomp.notObserved).toMatch(/no system calls/);
      // The summary leaves that source out: a wasm guest cannot be misled by it.
      expect(denialSummary(r.report.body, { id: 'w' }).join('\n')).not.toMatch(/seccomp/);
    } finally {
      closeSpares();
    }
  });
});
