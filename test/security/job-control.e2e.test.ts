// A stopped supervisor enforces no deadline: `bvisor run` stopped by the terminal's job control
// left its workload running on past its wall, unsupervised. Two ways in: the user's Ctrl-Z
// (SIGTSTP), and, with `stdin: inherit`, the workload itself, which shares bvisor's session and
// process group: it makes another group the terminal's foreground and reads the terminal from
// bvisor's group, and the kernel sends SIGTTIN to that whole group (no kill(2), so neither the pid
// namespace nor landlock's signal scope is asked). Oracles: a shell's own wait status for its job
// (bash with job control, under a real pseudo-terminal from script(1)), and the ticks the
// workload wrote to the disk.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { BVISOR, cliEnv } from '../helpers/cli.js';
import { PROBE, writableDir } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { until } from '../helpers/wait.js';

/** The probe with `args`, able to tick into `out`; `stdin` is the manifest's. */
function tickBundle(args: string[], out: string, stdin: 'inherit' | 'null'): string {
  const b = tempDir('bvisor-jc-');
  chmodSync(b, 0o755);
  writeFileSync(
    join(b, 'boundary.yaml'),
    `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: ${JSON.stringify(args)} }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\n  - { path: ${out}, access: read-write }\nspawn: descendants\nstdio: { stdin: ${stdin}, stdout: inherit, stderr: inherit }\nlimits: { wall: 2s, processes: 8 }\n`,
  );
  return b;
}

/** How many 100 ms ticks the workload wrote (0: none). */
function ticks(file: string): number {
  return existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0;
}

// A 2 s wall, 100 ms ticks: about 20, plus a margin for a loaded machine's start; a run left
// stopped would tick on until the test's end.
const MAX_TICKS = 30;

describe('job control cannot stop bvisor run while its workload runs', () => {
  it('a workload given the terminal stops nothing through it: the wall ends the run (exit 124)', () => {
    if (spawnSync('script', ['--version']).error) return skipOrFail('util-linux', 'script(1) is missing');
    const out = writableDir();
    const tickFile = join(out, 'ticks');
    const b = tickBundle(['jobstop', tickFile], out, 'inherit');
    const root = tempDir('bvisor-jc-root-');
    // bash with job control (set -m) runs bvisor as a job of its own, in the terminal's
    // foreground, as an interactive shell does; its `$?` is the job's wait status: 128 + the
    // signal that stopped it, 124 when the wall ended the run.
    const job = `set -m; "${BVISOR}" --root "${root}" run jc -b "${b}"; echo "rc=$?"`;
    const r = spawnSync('script', ['-qec', `bash -c '${job}'`, '/dev/null'], { env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
    // The attack was made: the probe prints only what failed (fork, setpgid, tcsetpgrp).
    expect(r.stdout).not.toMatch(/errno/);
    expect(r.stdout, `bash saw: ${r.stdout}`).toContain('rc=124');
    expect(r.stdout).not.toContain(`rc=${128 + constants.signals.SIGTTIN}`);
    const n = ticks(tickFile);
    expect(n).toBeGreaterThan(3);
    expect(n).toBeLessThanOrEqual(MAX_TICKS);
  });

  it('Ctrl-Z (SIGTSTP) does not stop it: it says so, and the wall ends the run (exit 124)', async () => {
    if (spawnSync('script', ['--version']).error) return skipOrFail('util-linux', 'script(1) is missing');
    const out = writableDir();
    const tickFile = join(out, 'ticks');
    const b = tickBundle(['tick', tickFile], out, 'null');
    const root = tempDir('bvisor-jc-root-');
    const job = `set -m; "${BVISOR}" --root "${root}" run tstp -b "${b}"; echo "rc=$?"`;
    // script(1) copies its stdin to the terminal: a Ctrl-Z typed there is the terminal's SIGTSTP
    // to its foreground group, bvisor's job (a process group no shell watches would discard it).
    const p = spawn('script', ['-qec', `bash -c '${job}'`, '/dev/null'], { env: cliEnv(), stdio: ['pipe', 'pipe', 'ignore'] });
    let tty = '';
    p.stdout.on('data', (d: Buffer) => (tty += d));
    const ended = new Promise<void>((r) => p.on('close', () => r()));
    onTestFinished(async () => {
      // A failure may leave the job stopped: the terminal goes, and bash's jobs with it (SIGHUP).
      try {
        p.kill('SIGKILL');
      } catch {
        // ended, as it should have
      }
      await ended;
    });
    await until('the workload ticks', () => ticks(tickFile) > 0, 20_000);
    p.stdin.write('\x1a');
    await ended;
    expect(tty, `the terminal showed: ${tty}`).toContain('rc=124');
    expect(tty).not.toContain(`rc=${128 + constants.signals.SIGTSTP}`);
    expect(tty).toContain('received SIGTSTP: bvisor run does not stop');
    expect(ticks(tickFile)).toBeLessThanOrEqual(MAX_TICKS);
  });
});
