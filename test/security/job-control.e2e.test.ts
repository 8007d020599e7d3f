// A stopped supervisor enforces no deadline: `bvisor run` stopped by the terminal's job control
// left its workload running on past its wall, unsupervised. Three ways in: the user's Ctrl-Z
// (SIGTSTP); a run in the background relaying its workload's output to a terminal whose tostop is
// set (SIGTTOU); and, with `stdin: inherit`, the workload itself, which shares bvisor's session
// and process group: it makes another group the terminal's foreground and reads the terminal from
// bvisor's group, and the kernel sends SIGTTIN to that whole group (no kill(2), so neither the
// pid namespace nor landlock's signal scope is asked). Oracles: a shell's own wait status for its
// job (bash with job control, under a real pseudo-terminal from script(1)), what the workload
// printed there, and the ticks it wrote to the disk.
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

/** The probe with `args`, able to tick into `out`. */
function tickBundle(args: string[], out: string, stdio: string): string {
  const b = tempDir('bvisor-jc-');
  chmodSync(b, 0o755);
  writeFileSync(
    join(b, 'boundary.yaml'),
    `bvisorVersion: "1"\nworkload:\n  process: { exe: ${PROBE}, args: ${JSON.stringify(args)} }\nfilesystem:\n  - { path: ${PROBE}, access: read-exec }\n  - { path: ${out}, access: read-write }\nspawn: descendants\nstdio: ${stdio}\nlimits: { wall: 2s, processes: 8 }\n`,
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

/** `job` run by bash with job control (set -m), as an interactive shell runs a command: a job of
 * its own, in the terminal's foreground (script(1) gives bash the terminal). `input` is typed
 * into the terminal once `when` holds. Resolves to what the terminal showed. */
async function underJobControl(job: string, input?: { when: () => boolean; text: string }): Promise<string> {
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
  if (input) {
    let gone = false;
    void ended.then(() => (gone = true));
    await until('the moment to type', () => gone || input.when(), 20_000);
    if (gone) throw new Error(`the job ended before the moment to type; the terminal showed: ${tty}`);
    p.stdin.write(input.text);
  }
  await ended;
  return tty;
}

const hasScript = (): boolean => {
  if (!spawnSync('script', ['--version']).error) return true;
  skipOrFail('util-linux', 'script(1) is missing');
  return false;
};

describe('job control cannot stop bvisor run while its workload runs', () => {
  it('a workload given the terminal stops nothing through it (SIGTTIN): the wall ends the run (exit 124)', async () => {
    if (!hasScript()) return;
    const out = writableDir();
    const tickFile = join(out, 'ticks');
    const b = tickBundle(['jobstop', tickFile], out, '{ stdin: inherit, stdout: inherit, stderr: inherit }');
    const root = tempDir('bvisor-jc-root-');
    // The job's `$?`: 128 + the signal that stopped it, 124 when the wall ended the run.
    const tty = await underJobControl(`set -m; "${BVISOR}" --root "${root}" run jc -b "${b}"; echo "rc=$?"`);
    // The attack was made: its reader, left in bvisor's group, was stopped by SIGTTIN (the
    // workload's pid 1 ticks on: the kernel keeps it from signals it does not handle).
    expect(tty).not.toMatch(/errno/);
    expect(tty).toContain(`reader stopped ${constants.signals.SIGTTIN}`);
    expect(tty, `the terminal showed: ${tty}`).toContain('rc=124');
    expect(tty).not.toContain(`rc=${128 + constants.signals.SIGTTIN}`);
    const n = ticks(tickFile);
    expect(n).toBeGreaterThan(2);
    expect(n).toBeLessThanOrEqual(MAX_TICKS);
  });

  // stdin null: the workload has a session of its own, and only bvisor hears Ctrl-Z. stdin
  // inherit: its processes are in bvisor's group and hear it too (the ticking child, not pid 1).
  it.each([
    ['null', ['tick'], '{ stdin: null, stdout: inherit, stderr: inherit }'],
    ['inherit', ['tick', 'child'], '{ stdin: inherit, stdout: inherit, stderr: inherit }'],
  ])('Ctrl-Z (SIGTSTP) stops neither bvisor nor its workload (stdin: %s): it says so, and the wall ends the run (exit 124)', async (_stdin, mode, stdio) => {
    if (!hasScript()) return;
    const out = writableDir();
    const tickFile = join(out, 'ticks');
    const b = tickBundle([mode[0]!, tickFile, ...mode.slice(1)], out, stdio);
    const root = tempDir('bvisor-jc-root-');
    let atCtrlZ = 0;
    // script(1) copies its stdin to the terminal: a Ctrl-Z typed there is the terminal's SIGTSTP
    // to its foreground group, bvisor's job (a process group no shell watches would discard it).
    const tty = await underJobControl(`set -m; "${BVISOR}" --root "${root}" run tstp -b "${b}"; echo "rc=$?"`, { when: () => (atCtrlZ = ticks(tickFile)) > 0, text: '\x1a' });
    expect(tty, `the terminal showed: ${tty}`).toContain('rc=124');
    expect(tty).not.toContain(`rc=${128 + constants.signals.SIGTSTP}`);
    expect(tty).toContain('received SIGTSTP: bvisor run and its workload go on');
    const n = ticks(tickFile);
    expect(n, 'the workload ticked on after Ctrl-Z').toBeGreaterThan(atCtrlZ + 3);
    expect(n).toBeLessThanOrEqual(MAX_TICKS);
  });

  it('Ctrl-Z under a wrapper (sh -c): the wrapper stops as its sender asked, bvisor goes on and the wall ends the run', async () => {
    if (!hasScript()) return;
    const out = writableDir();
    const tickFile = join(out, 'ticks');
    const b = tickBundle(['tick', tickFile], out, '{ stdin: null, stdout: inherit, stderr: inherit }');
    const root = tempDir('bvisor-jc-root-');
    let atCtrlZ = 0;
    // The job is the wrapper; bvisor is its child, in its group. After Ctrl-Z the shell looks at
    // the wrapper's state once the wall has passed: bvisor continues only its workload's
    // processes, never the rest of its group.
    const job = `set -m; sh -c "\\"${BVISOR}\\" --root ${root} run wrapped -b ${b}; echo inner=\\$?"; echo "rc=$?"; sleep 3; echo "wrapper=$(ps -o stat= -p $(jobs -p))"`;
    const tty = await underJobControl(job, { when: () => (atCtrlZ = ticks(tickFile)) > 0, text: '\x1a' });
    expect(tty, `the terminal showed: ${tty}`).toContain(`rc=${128 + constants.signals.SIGTSTP}`);
    expect(tty).toMatch(/wrapper=T/);
    expect(tty).toContain('received SIGTSTP: bvisor run and its workload go on');
    const n = ticks(tickFile);
    expect(n, 'the workload ticked on after Ctrl-Z').toBeGreaterThan(atCtrlZ + 3);
    expect(n).toBeLessThanOrEqual(MAX_TICKS);
  });

  it('a run in the background relays its workload\'s output to a terminal whose tostop is set (SIGTTOU): the wall ends it (exit 124)', async () => {
    if (!hasScript()) return;
    const out = writableDir();
    const tickFile = join(out, 'ticks');
    // Captured: bvisor itself writes each line to the terminal, from the background.
    const b = tickBundle(['tick', tickFile], out, '{ stdin: null, stdout: capture, stderr: capture }');
    const root = tempDir('bvisor-jc-root-');
    const tty = await underJobControl(`set -m; stty tostop; "${BVISOR}" --root "${root}" run tostop -b "${b}" & wait $!; echo "rc=$?"`);
    expect(tty).toContain('tick 1');
    expect(tty, `the terminal showed: ${tty}`).toContain('rc=124');
    expect(tty).not.toContain(`rc=${128 + constants.signals.SIGTTOU}`);
    expect(ticks(tickFile)).toBeLessThanOrEqual(MAX_TICKS);
  });
});
