// A created container's monitor keeps its wall and records its exit; its workload dies with it
// through PR_SET_PDEATHSIG. But any program may clear its own parent-death signal (prctl(2)), and
// then a monitor killed (SIGKILL by someone, the OOM killer) left the workload running on past its
// wall, reparented to init, while `state` said running and not broken, `gc` recorded the attempt
// as rolled back and left it running, and `delete -f` sealed a report saying the workload was
// gone by itself (an attack in December). Oracles: /proc (the workload's pid and start time, its
// parent), the state's own words, and the journal's records.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { probeBundle } from '../helpers/probe.js';
import { newRoot } from '../helpers/roots.js';
import { alive, startTimeOf, until } from '../helpers/wait.js';

const journal = (root: string): any[] => readFileSync(join(root, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const reportFor = (root: string, id: string): any => journal(root).find((e) => e.report?.body.containerId === id)?.report ?? null;

/** A started container whose workload cleared its parent-death signal, its monitor SIGKILLed:
 * the workload's pid and start time. */
async function unsupervised(root: string, id: string): Promise<{ pid: number; born: string }> {
  expect(cli(['create', id, '-b', probeBundle(['unparented', '60'], 'limits: { wall: 60s }\n'), '--root', root]).status).toBe(0);
  expect(cli(['start', id, '--root', root]).status).toBe(0);
  await until('the workload to clear its parent-death signal', () => readFileSync(join(root, 'containers', id, 'stdout'), 'utf8').includes('cleared'));
  const st = cli(['state', id, '--root', root, '--json']).json();
  const pid = st.pid as number;
  const born = startTimeOf(pid)!;
  process.kill(st.bvisor.monitorPid, 'SIGKILL'); // the monitor this test's create started
  await until('the monitor to go', () => !alive(st.bvisor.monitorPid));
  // What the attack showed: the workload lives on without it, init's child now.
  expect(startTimeOf(pid)).toBe(born);
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
    const gc = cli(['gc', '--root', root, '--json']);
    expect(gc.status, gc.stderr).toBe(0);
    expect(gc.json().recovered).toEqual([expect.objectContaining({ containerId: 'lost-1', classification: 'rolled-back' })]);
    await until('the workload to die', () => startTimeOf(pid) !== born || !alive(pid));
    expect(cli(['state', 'lost-1', '--root', root]).status).toBe(6); // gone: not found
    expect(reportFor(root, 'lost-1').body.outcome).toMatchObject({ status: 'killed', reason: 'deleted', signal: 'SIGKILL', error: { message: expect.stringContaining('monitor was gone') } });
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
