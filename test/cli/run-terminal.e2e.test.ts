// A workload given the caller's terminal can leave its output stopped (tcflow(TCOOFF)) with
// IXON cleared, so no key resumes it. bvisor's own last words there (the denial summary after a
// failed run) then blocked for ever, and so would the caller's shell. Now the launcher resumes the
// terminal's output once none of the workload's processes is left, and bvisor's writes to a
// terminal while a run is under way never hold its event loop.
// Oracles, from the pseudo-terminal's other side (termios(3)): whether bvisor ended at all, the
// summary read from the master, whether a non-blocking write to the slave is taken (a stopped
// terminal answers EAGAIN), and the slave's modes, which Node puts back at its exit.
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BVISOR, cliEnv } from '../helpers/cli.js';
import { defaultTestParent, processesInTestParent } from '../helpers/cgroups.js';
import { PROBE } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { PTY_HARNESS as HARNESS, type Seen } from '../helpers/pty.js';

interface How {
  /** The probe's ttystop arguments: where, how, and its end. */
  args: [string, 'tcooff' | 'stopchar' | 'fg', string];
  stdio?: string;
  /** The workload may fork (the fg case's child). */
  fork?: boolean;
  env?: NodeJS.ProcessEnv;
}

function runOnTerminal(how: How): Seen {
  const b = tempDir();
  chmodSync(b, 0o755);
  writeFileSync(join(b, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: ${JSON.stringify(['ttystop', ...how.args])} }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\nstdio: ${how.stdio ?? '{ stdin: inherit, stdout: inherit, stderr: inherit }'}\n${how.fork ? 'spawn: descendants\nlimits: { wall: 20s, processes: 8 }' : 'limits: { wall: 20s }'}\n`);
  const parent = defaultTestParent();
  const r = spawnSync('python3', ['-c', HARNESS, BVISOR, '--root', tempDir(), ...(parent ? ['--cgroup-parent', parent] : []), 'run', `tty-${how.args.join('-')}`, '-b', b], { env: cliEnv(how.env ?? {}), encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Seen;
}

/** What every case must leave: bvisor ended, the terminal's output resumed and its modes as they
 * were (after an exit Node puts back its stdio's; after a signal bvisor does), nothing running. */
function leftWell(seen: Seen): void {
  expect(seen.wedged, seen.out).toBe(false);
  expect(seen.out).toContain('stopped'); // the workload's own line, before its stop
  expect(seen.writable).toBe(true);
  expect(seen.before).toEqual({ IXON: true, ICANON: true, ECHO: true, ISIG: true });
  expect(seen.after).toEqual(seen.before);
  expect(processesInTestParent()).toEqual([]);
}

describe('the terminal a workload was given, as bvisor leaves it', () => {
  for (const [end, code] of [['3', 3], ['segv', 128 + 11]] as const) {
    it(`stopped (TCOOFF, no IXON) and raw by a workload that then ${end === 'segv' ? 'faults (128 + SIGSEGV, signal(7))' : 'exits 3'}: bvisor ends, its summary reaches the terminal`, () => {
      const seen = runOnTerminal({ args: ['0', 'tcooff', end] });
      leftWell(seen);
      expect(seen.code).toBe(code);
      // The denial summary (docs/denials.md#the-summary), written after the run: mount(2) denied.
      expect(seen.out).toMatch(/mount/);
    });
  }

  it('stopped by a STOP character typed while IXON is on and no START character is left: resumed too', () => {
    const seen = runOnTerminal({ args: ['0', 'stopchar', '3'], env: { STOP_CHAR: '1' } });
    leftWell(seen);
    expect(seen.code).toBe(3);
    expect(seen.out).toMatch(/mount/);
  });

  it("its foreground process group taken by a group of the workload's that then ends: given back, so the calling script's next read works", () => {
    const seen = runOnTerminal({ args: ['0', 'fg', '3'], fork: true, env: { SH_READ: '1' } });
    leftWell(seen);
    expect(seen.code).toBe(3);
    expect(seen.out).toContain('read-ok');
  });

  it("through /dev/tty, where bvisor's stdin is not the terminal and its output relayed is", () => {
    const seen = runOnTerminal({ args: ['tty', 'tcooff', '3'], stdio: '{ stdin: inherit, stdout: capture, stderr: capture }', env: { NULL_STDIN: '1' } });
    leftWell(seen);
    expect(seen.code).toBe(3);
    expect(seen.out).toMatch(/mount/);
  });

  it('Ctrl-C while the workload holds the terminal stopped: bvisor says so there without blocking, ends the run and dies by SIGINT', () => {
    const seen = runOnTerminal({ args: ['0', 'tcooff', 'sleep'], env: { INTERRUPT: '1' } });
    leftWell(seen);
    expect(seen.signal).toBe(2); // SIGINT, signal(7)
    expect(seen.out).toContain('bvisor: received SIGINT: stopping the run');
  });

  it('Ctrl-C twice (bvisor dies at once, before the run ends): the terminal resumed and its modes put back all the same', () => {
    const seen = runOnTerminal({ args: ['0', 'tcooff', 'sleep'], env: { INTERRUPT: '2' } });
    leftWell(seen);
    expect(seen.signal).toBe(2);
  });

  it('Ctrl-\\ (SIGQUIT, whose default bvisor keeps: at once, a core dump): the terminal resumed and its modes put back first', () => {
    const seen = runOnTerminal({ args: ['0', 'tcooff', 'sleep'], env: { QUIT: '1' } });
    leftWell(seen);
    expect(seen.signal).toBe(3); // SIGQUIT, signal(7)
  });
});
