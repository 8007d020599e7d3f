// Found by attacking this change: the workload's parent-death signal was set before the child
// switched to its mapped id, and a credential change clears it, so a `bvisor run` killed with
// SIGKILL left its workload running (reparented to init) with no wall limit. Now it is set after
// the switch (and the child checks its parent is still there). Oracle: /proc, by the workload's
// unique command line.
import { readdirSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { probeBundle } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';

/** Pids whose command line holds `marker` (the probe ignores arguments past its own). */
function pidsWith(marker: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(marker)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a killed bvisor run takes its workload with it', () => {
  it('SIGKILL of `bvisor run` ends the workload at once', async () => {
    const marker = `bvisor-orphan-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const bundle = probeBundle(['sleep', '30', marker], 'limits: { wall: 60s }\n');
    const cli = spawn(process.execPath, [BIN, '--root', tempDir('bvisor-pd-root-'), 'run', 'pd', '-b', bundle], { stdio: 'ignore' });
    try {
      let pids: number[] = [];
      for (let i = 0; i < 200 && pids.length === 0; i++) {
        await sleep(25);
        pids = pidsWith(marker);
      }
      expect(pids.length, 'the workload started').toBe(1);
      cli.kill('SIGKILL');
      for (let i = 0; i < 100 && pidsWith(marker).length; i++) await sleep(20);
      expect(pidsWith(marker)).toEqual([]);
    } finally {
      cli.kill('SIGKILL');
      for (const p of pidsWith(marker)) process.kill(p, 'SIGKILL');
    }
  });
});
