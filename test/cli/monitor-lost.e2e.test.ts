// A created container's monitor keeps its wall and records its exit; its workload dies with it
// through PR_SET_PDEATHSIG. But any program may clear its own parent-death signal (prctl(2)), and
// then a monitor killed (SIGKILL by someone, the OOM killer) left the workload running on past its
// wall, reparented to init, while `state` said running and not broken, `gc` recorded the attempt
// as rolled back and left it running, and `delete -f` sealed a report saying the workload was
// gone by itself (an attack in December). Oracles: /proc (the workload's pid and start time, its
// parent), the state's own words, and the journal's records.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { BVISOR, cli, cliEnv } from '../helpers/cli.js';
import { probeBundle } from '../helpers/probe.js';
import { newRoot } from '../helpers/roots.js';
import { alive, startTimeOf, until } from '../helpers/wait.js';

/** Whether a thread of process `pid` (born at `born`) still runs: any task of its group not a
 * zombie. A leader that ended by exit(2) alone is a zombie while the others run on. */
function groupRuns(pid: number, born: string): boolean {
  if (startTimeOf(pid) !== born) return false;
  try {
    return readdirSync(`/proc/${pid}/task`).some((t) => {
      try {
        const st = readFileSync(`/proc/${pid}/task/${t}/stat`, 'latin1');
        return !['Z', 'X'].includes(st.slice(st.lastIndexOf(')') + 2)[0]!);
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** Whether process `pid`'s leader has ended (a zombie) while another thread of it runs: the case
 * the leader-exit tests are about, waited for before anything is asked. */
function leaderGoneThreadsRun(pid: number, born: string): boolean {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return st.slice(st.lastIndexOf(')') + 2)[0] === 'Z' && groupRuns(pid, born);
  } catch {
    return false;
  }
}

const LEADER_EXIT = ['unparented', '60', 'leader-exit'];
const THREADS = 'limits: { wall: 60s }\nspawn: threads\n';

const journal = (root: string): any[] => readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const reportFor = (root: string, id: string): any => journal(root).find((e) => e.report?.body.containerId === id)?.report ?? null;

/** A started container whose workload cleared its parent-death signal, its monitor SIGKILLed:
 * the workload's pid and start time. */
async function unsupervised(root: string, id: string, leaderExit = false): Promise<{ pid: number; born: string }> {
  expect(cli(['create', id, '-b', leaderExit ? probeBundle(LEADER_EXIT, THREADS) : probeBundle(['unparented', '60'], 'limits: { wall: 60s }\n'), '--root', root]).status).toBe(0);
  expect(cli(['start', id, '--root', root]).status).toBe(0);
  await until('the workload to clear its parent-death signal', () => readFileSync(join(root, 'containers', id, 'stdout'), 'utf8').includes('cleared'));
  const st = cli(['state', id, '--root', root, '--json']).json();
  const pid = st.pid as number;
  const born = startTimeOf(pid)!;
  process.kill(st.bvisor.monitorPid, 'SIGKILL'); // the monitor this test's create started
  await until('the monitor to go', () => !alive(st.bvisor.monitorPid));
  // What the attack showed: the workload lives on without it, init's child now.
  expect(groupRuns(pid, born)).toBe(true);
  if (leaderExit) await until('its leader a zombie, a thread running', () => leaderGoneThreadsRun(pid, born));
  expect(Number(/^PPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])).not.toBe(st.bvisor.monitorPid);
  return { pid, born };
}

describe('a container whose monitor is killed while its workload runs on', () => {
  it('state says so (broken, still running), and gc kills the workload and closes the attempt', async () => {
    const root = newRoot();
    const { pid, born } = await unsupervised(root, 'lost-1');
    const st = cli(['state', 'lost-1', '--root', root, '--json']).json();
    expect(st.status).toBe('running');
    expect(st.bvisor.broken).toMatch(/^its monitor \(pid \d+\) is gone \(killed\) and the workload runs on unsupervised: nothing keeps its limits\.wall/);
    expect(cli(['list', '--root', root, '--json']).json()).toEqual([expect.objectContaining({ id: 'lost-1', status: 'running', broken: expect.stringContaining('runs on unsupervised') })]);
    // Nothing keeps its wall: exec adds no process to it (an attack in December's did, and the
    // process ran past the wall), as start starts none.
    const ex = cli(['exec', '--root', root, 'lost-1', '/nonexistent']);
    expect([ex.status, ex.stderr]).toEqual([125, expect.stringMatching(/BV_CONTAINER_STATE: cannot exec into container lost-1: its monitor \(pid \d+\) is gone/)]);
    const gc = cli(['gc', '--root', root, '--json']);
    expect(gc.status, gc.stderr).toBe(0);
    expect(gc.json().recovered).toEqual([expect.objectContaining({ containerId: 'lost-1', classification: 'rolled-back' })]);
    await until('the workload to die', () => startTimeOf(pid) !== born || !alive(pid));
    expect(cli(['state', 'lost-1', '--root', root]).status).toBe(6); // gone: not found
    expect(reportFor(root, 'lost-1').body.outcome).toMatchObject({ status: 'killed', reason: 'deleted', signal: 'SIGKILL', error: { message: expect.stringContaining('monitor was gone') } });
  });

  it('its main thread ended by exit(2) alone (a zombie leader) while another runs on: state says it runs on unsupervised, not gone; delete refuses without -f; delete -f kills it', async () => {
    // An attack in December: a zombie leader was taken for the workload's end, so state sealed
    // "lost, the workload is gone", and gc and delete then left it running past its wall.
    const root = newRoot();
    const { pid, born } = await unsupervised(root, 'lost-3', true);
    const st = cli(['state', 'lost-3', '--root', root, '--json']).json();
    expect(st.status).toBe('running');
    expect(st.bvisor.broken).toMatch(/runs on unsupervised/);
    expect(cli(['delete', 'lost-3', '--root', root]).status).not.toBe(0);
    expect(groupRuns(pid, born)).toBe(true);
    const d = cli(['delete', '-f', 'lost-3', '--root', root]);
    expect(d.status, d.stderr).toBe(0);
    await until('the workload to die', () => !groupRuns(pid, born));
    expect(reportFor(root, 'lost-3').body.outcome).toMatchObject({ status: 'killed', reason: 'deleted', signal: 'SIGKILL' });
  });

  it('delete -f kills it, and the report says it was killed because its monitor was gone, its wall not observed', async () => {
    const root = newRoot();
    const { pid, born } = await unsupervised(root, 'lost-2');
    const d = cli(['delete', '-f', 'lost-2', '--root', root]);
    expect(d.status, d.stderr).toBe(0);
    await until('the workload to die', () => startTimeOf(pid) !== born || !alive(pid));
    const body = reportFor(root, 'lost-2').body;
    expect(body.outcome).toEqual({ status: 'killed', reason: 'deleted', exitCode: null, signal: 'SIGKILL', error: { code: 'BV_CONTAINER_STATE', message: expect.stringContaining('its monitor was gone (killed) while the workload ran on unsupervised') } });
    expect(body.budgets.wall.observed).toMatchObject({ notObserved: expect.stringContaining('monitor') });
  });
});

// The same attack on `bvisor run` (a second look in December): the run SIGKILLed, its workload
// lived on, reparented, while state and list said it had died with the run and delete sealed
// "lost, its workload died with it".
describe('a bvisor run killed while its workload runs on', () => {
  /** A run whose workload cleared its parent-death signal, the run SIGKILLed. */
  async function orphaned(root: string, id: string, leaderExit = false): Promise<{ pid: number; born: string }> {
    const b = leaderExit ? probeBundle(LEADER_EXIT, THREADS) : probeBundle(['unparented', '60'], 'limits: { wall: 60s }\n');
    // Its stdout passed through, where this test reads that the signal is cleared.
    writeFileSync(join(b, 'boundary.yaml'), readFileSync(join(b, 'boundary.yaml'), 'utf8').replace('stdout: capture', 'stdout: inherit'));
    const run = spawn(BVISOR, ['run', '-b', b, '--root', root, id], { env: cliEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    run.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await until('the workload to clear its parent-death signal', () => out.includes('cleared'));
    } catch (e) {
      run.kill('SIGKILL');
      throw e;
    }
    const pid = cli(['state', id, '--root', root, '--json']).json().pid as number;
    const born = startTimeOf(pid)!;
    const gone = new Promise((r) => run.once('exit', r));
    run.kill('SIGKILL'); // bin/bvisor execs node: this is the run itself
    await gone;
    expect(groupRuns(pid, born)).toBe(true); // what the attack showed: the workload lives on
    if (leaderExit) await until('its leader a zombie, a thread running', () => leaderGoneThreadsRun(pid, born));
    return { pid, born };
  }

  it('state says it runs on unsupervised, delete refuses without -f, and delete -f kills it and says why', async () => {
    const root = newRoot();
    const { pid, born } = await orphaned(root, 'run-lost-1');
    const st = cli(['state', 'run-lost-1', '--root', root, '--json']).json();
    expect(st.status).toBe('running');
    expect(st.bvisor.broken).toMatch(/^bvisor run \(pid \d+\) is gone \(killed\) and its workload runs on unsupervised/);
    expect(cli(['delete', 'run-lost-1', '--root', root]).status).not.toBe(0);
    expect(startTimeOf(pid)).toBe(born);
    const d = cli(['delete', '-f', 'run-lost-1', '--root', root]);
    expect(d.status, d.stderr).toBe(0);
    await until('the workload to die', () => startTimeOf(pid) !== born || !alive(pid));
    const body = reportFor(root, 'run-lost-1').body;
    expect(body.outcome).toEqual({ status: 'killed', reason: 'deleted', exitCode: null, signal: 'SIGKILL', error: { code: 'BV_CONTAINER_STATE', message: 'bvisor run was gone (killed) while its workload ran on unsupervised; bvisor delete -f killed the workload' } });
    expect(body.budgets.wall.observed).toMatchObject({ notObserved: expect.stringContaining('bvisor run') });
  });

  it('its main thread ended by exit(2) alone while another runs on: state says it runs on unsupervised, not that it died with the run', async () => {
    const root = newRoot();
    const { pid, born } = await orphaned(root, 'run-lost-3', true);
    const st = cli(['state', 'run-lost-3', '--root', root, '--json']).json();
    expect(st.status).toBe('running');
    expect(st.bvisor.broken).toMatch(/^bvisor run \(pid \d+\) is gone \(killed\) and its workload runs on unsupervised/);
    const d = cli(['delete', '-f', 'run-lost-3', '--root', root]);
    expect(d.status, d.stderr).toBe(0);
    await until('the workload to die', () => !groupRuns(pid, born));
  });

  it('gc kills it and closes the attempt', async () => {
    const root = newRoot();
    const { pid, born } = await orphaned(root, 'run-lost-2');
    const gc = cli(['gc', '--root', root, '--json']);
    expect(gc.status, gc.stderr).toBe(0);
    await until('the workload to die', () => startTimeOf(pid) !== born || !alive(pid));
    expect(cli(['state', 'run-lost-2', '--root', root]).status).toBe(6);
  });
});
