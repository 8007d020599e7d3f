// bvisor exec, attached, hands its process the caller's terminal (its stdio). A process that
// stops the terminal's output (tcflow(TCOOFF), IXON cleared so no key resumes it) and ends left
// the caller's shell unable to write there: its next prompt or echo blocked for ever. Now exec
// holds the terminals it gives (host/terminal.ts) and resumes them when the process has ended;
// a stop signal to bvisor exec kills the process first and resumes them before bvisor dies by it.
// Oracles from the pseudo-terminal's master (test/helpers/pty.ts): the calling script's own echo
// and read after bvisor exec, a non-blocking write to the slave, the slave's modes, and /proc for
// the process.
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BVISOR, cli, cliEnv } from '../helpers/cli.js';
import { defaultTestParent, processesInTestParent } from '../helpers/cgroups.js';
import { PROBE } from '../helpers/probe.js';
import { newRoot } from '../helpers/roots.js';
import { tempDir } from '../helpers/tmp.js';
import { PTY_HARNESS, type Seen } from '../helpers/pty.js';

/** The pids in the test's cgroups whose command line is the probe's ttystop. */
function ttystops(): number[] {
  return processesInTestParent().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('ttystop');
    } catch {
      return false;
    }
  });
}

/** A running container (the probe sleeping), `bvisor exec` of the probe's ttystop in it on a
 * fresh pty, and the container deleted after. */
function execOnTerminal(end: 'exit' | 'sleep', env: NodeJS.ProcessEnv): Seen {
  const b = tempDir();
  chmodSync(b, 0o755);
  writeFileSync(join(b, 'boundary.yaml'), `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: ["sleep", "60"] }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\nstdio: { stdin: null, stdout: capture, stderr: capture }\nspawn: descendants\nlimits: { processes: 8 }\n`);
  const root = newRoot();
  const id = `exec-tty-${end}`;
  const parent = defaultTestParent();
  expect(cli(['create', '--root', root, '-b', b, id]).status).toBe(0);
  try {
    expect(cli(['start', '--root', root, id]).status).toBe(0);
    const r = spawnSync('python3', ['-c', PTY_HARNESS, BVISOR, '--root', root, ...(parent ? ['--cgroup-parent', parent] : []), 'exec', id, PROBE, 'ttystop', '0', 'tcooff', end === 'exit' ? '3' : 'sleep'], { env: cliEnv(env), encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Seen;
    // Whatever bvisor exec's end, its process is gone with it (docs/lifecycle.md).
    expect(ttystops()).toEqual([]);
    return seen;
  } finally {
    expect(cli(['delete', '-f', '--root', root, id]).status).toBe(0);
  }
}

/** bvisor exec ended, the terminal's output resumed and its modes as they were. */
function leftWell(seen: Seen): void {
  expect(seen.wedged, seen.out).toBe(false);
  expect(seen.out).toContain('stopped'); // the process's own line, before its stop
  expect(seen.writable).toBe(true);
  expect(seen.before).toEqual({ IXON: true, ICANON: true, ECHO: true, ISIG: true });
  expect(seen.after).toEqual(seen.before);
}

describe('the terminal an exec\'d process was given, as bvisor exec leaves it', () => {
  it('stopped (TCOOFF, no IXON) and raw by the process, which then exits 3: bvisor exec exits 3 and the calling script writes and reads there after', () => {
    const seen = execOnTerminal('exit', { SH_READ: '1' });
    leftWell(seen);
    expect(seen.code).toBe(3);
    expect(seen.out).toContain('bvisor-exited');
    expect(seen.out).toContain('read-ok');
  });

  it('Ctrl-C while the process holds it stopped: the process is killed, the terminal resumed, and bvisor exec dies by SIGINT', () => {
    const seen = execOnTerminal('sleep', { INTERRUPT: '1' });
    leftWell(seen);
    expect(seen.signal).toBe(2); // SIGINT, signal(7)
  });

  it('Ctrl-\\ (SIGQUIT: at once, its core dump kept): the process is killed and the terminal resumed first', () => {
    const seen = execOnTerminal('sleep', { QUIT: '1' });
    leftWell(seen);
    expect(seen.signal).toBe(3); // SIGQUIT, signal(7)
  });
});
