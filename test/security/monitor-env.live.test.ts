// A container's monitor and its workload before exec carry no environment of their caller's.
// Found by attack: `bvisor create … --secret api-token` with BVISOR_SECRET_API_TOKEN exported left
// the value (and every other variable of the caller's shell) in /proc/<monitor>/environ for the
// container's whole life, and in the waiting workload's until `start`. The monitor is spawned with
// an empty environment now (the test build lets its red-twin switch BV_TEST_MONITOR through).
// Oracle: /proc/<pid>/environ of the monitor and of the created workload, read as root.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createContainer } from '../../src/app/create.js';
import { deleteContainer } from '../../src/app/lifecycle.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { facts, probeBundle } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';

const NAME = 'BVISOR_SECRET_MONITOR_ENV_TEST';
let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  delete process.env[NAME];
  delete process.env.BVISOR_TEST_CALLER_VARIABLE;
  for (const c of cleanup) await c().catch(() => undefined);
  cleanup = [];
});

const environOf = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((x) => x !== '');

describe('a container\'s monitor gets no environment of its caller', () => {
  it('neither the monitor nor the created workload holds the caller\'s secret or variables', async () => {
    const value = `s3cret-${randomBytes(8).toString('hex')}`;
    // What `bvisor create` has in its own environment when a caller passes a secret.
    process.env[NAME] = value;
    process.env.BVISOR_TEST_CALLER_VARIABLE = 'from-the-caller';
    const root = tempDir();
    const id = 'menv';
    await createContainer({ root, id, bundle: probeBundle(['exit', '0']), cgroupParent: defaultTestParent(), pidFile: null, secretEnv: {}, host: facts() });
    cleanup.push(() => deleteContainer(root, id, true));
    const state = JSON.parse(readFileSync(join(root, 'containers', id, 'state.json'), 'utf8')) as { pid: { pid: number }; monitor: { pid: number } };
    for (const [who, pid] of [['monitor', state.monitor.pid], ['created workload', state.pid.pid]] as const) {
      const env = environOf(pid);
      expect(env.join('\n'), who).not.toContain(value);
      expect(env.filter((e) => !e.startsWith('BV_TEST_MONITOR=')), who).toEqual([]);
    }
  });
});
