// The terminal's stop signals held off the supervisor's process (src/host/job-control.ts): while
// a workload that shares our session runs, SIGTSTP, SIGTTIN and SIGTTOU are ignored where their
// action is the default, and given back after; holds nest; a signal the process handles is left
// alone. Oracle: the kernel's own view of this process, /proc/self/status (SigIgn, SigCgt: one
// bit per signal, bit N-1 for signal N, proc(5)); signal numbers from signal(7) via os.constants.
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { describe, expect, it, onTestFinished } from 'vitest';
import { holdJobStops } from '../../src/host/job-control.js';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROBE, facts } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded } from '../../src/app/run.js';

const STOPS = ['SIGTSTP', 'SIGTTIN', 'SIGTTOU'] as const;

/** Which of the three the kernel has as ignored (SigIgn) or caught (SigCgt) for this process. */
function mask(field: 'SigIgn' | 'SigCgt'): string[] {
  const hex = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))![1]!;
  const bits = BigInt(`0x${hex}`);
  return STOPS.filter((s) => (bits >> BigInt(constants.signals[s] - 1)) & 1n);
}

describe('the terminal\'s stop signals, held while a workload shares the session', () => {
  it('are ignored while held, holds nest, and the defaults come back with the last release', () => {
    expect(mask('SigIgn')).toEqual([]); // the worker's own: the defaults
    const first = holdJobStops();
    onTestFinished(first); // a failed assertion leaves no hold to the next test
    expect(mask('SigIgn')).toEqual([...STOPS]);
    const second = holdJobStops();
    onTestFinished(second);
    first();
    first(); // a second call of one release does nothing
    expect(mask('SigIgn')).toEqual([...STOPS]);
    second();
    expect(mask('SigIgn')).toEqual([]);
  });

  it('a stop signal the process handles is left to its handler, before and after', () => {
    const listener = (): void => {};
    process.on('SIGTSTP', listener);
    onTestFinished(() => void process.removeListener('SIGTSTP', listener));
    expect(mask('SigCgt')).toContain('SIGTSTP');
    const release = holdJobStops();
    onTestFinished(release);
    expect(mask('SigIgn')).toEqual(['SIGTTIN', 'SIGTTOU']);
    expect(mask('SigCgt')).toContain('SIGTSTP');
    release();
    expect(mask('SigIgn')).toEqual([]);
    expect(mask('SigCgt')).toContain('SIGTSTP');
  });

  it('a signal given its default back during a hold (a listener removed: libuv does that) is ignored again by the next hold', () => {
    const first = holdJobStops();
    onTestFinished(first);
    const listener = (): void => {};
    process.on('SIGTTIN', listener);
    process.removeListener('SIGTTIN', listener);
    expect(mask('SigIgn')).toEqual(['SIGTSTP', 'SIGTTOU']);
    const second = holdJobStops();
    onTestFinished(second);
    expect(mask('SigIgn')).toEqual([...STOPS]);
    second();
    first();
    expect(mask('SigIgn')).toEqual([]);
  });

  it('an API run whose workload has our stdin holds them until it is gone; one with its own session does not', async () => {
    // Every 50 ms while the run lasts (its workload sleeps 1 s): what was ever ignored, and how
    // many looks there were (a run the looks missed would prove nothing).
    const during = async (stdin: 'inherit' | 'null'): Promise<string[]> => {
      const seen = new Set<string>();
      let looks = 0;
      const t = setInterval(() => {
        looks++;
        for (const s of mask('SigIgn')) seen.add(s);
      }, 50);
      const b = tempDir('bvisor-jc-');
      chmodSync(b, 0o755);
      writeFileSync(join(b, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: [sleep, "1"] }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\nstdio: { stdin: ${stdin}, stdout: capture, stderr: capture }\n`);
      const out = await runLoaded(loadBundle(b), { id: null, root: null, cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
      clearInterval(t);
      expect(out.exitStatus).toBe(0);
      expect(looks).toBeGreaterThan(5);
      return STOPS.filter((s) => seen.has(s));
    };
    expect(await during('inherit')).toEqual([...STOPS]);
    expect(mask('SigIgn')).toEqual([]);
    expect(await during('null')).toEqual([]);
  });
});
