// create returns once the container's monitor has a reader on its exec fifo, so a start that
// follows at once finds it: the monitor says "listening" on its answer pipe after opening the
// fifo (native-shim/src/bvmonitor.c, step 3a), and create waits for that line, not for
// monitor.json, whose fsyncs are off create's path. A monitor that cannot open its fifo fails
// create instead of leaving a container that can never start.
// Oracles: fifo(7) (an O_WRONLY|O_NONBLOCK open fails with ENXIO while nothing reads the fifo),
// the monitor held stopped by this test (SIGSTOP, then SIGCONT), /proc and the state root.
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createContainer } from '../../src/app/create.js';
import { deleteContainer } from '../../src/app/lifecycle.js';
import { faultPoints } from '../../src/host/faults.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { facts, probeBundle } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const hit = faultPoints.hit;
afterEach(() => {
  faultPoints.hit = hit;
});

const monitorOf = (dir: string): number => (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { monitor: { pid: number } }).monitor.pid;
const gone = (pid: number): boolean => {
  try {
    return /^\d+ \(.*\) [ZX]/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
};

/** A create of bundle `exit 0` under a fresh root whose monitor `atConfirm` gets (its state dir and
 * pid) at create:before-confirm, just before the monitor is told the container was created. */
function createHeld(id: string, atConfirm: (dir: string, monitor: number) => void): { root: string; dir: string; created: Promise<unknown>; monitor(): number } {
  const root = tempDir();
  const dir = join(root, 'containers', id);
  let monitor = 0;
  faultPoints.hit = (stage) => {
    if (stage !== 'create:before-confirm') return;
    monitor = monitorOf(dir);
    atConfirm(dir, monitor);
  };
  const created = createContainer({ root, id, bundle: probeBundle(['exit', '0']), cgroupParent: defaultTestParent(), pidFile: null, secretEnv: {}, host: facts() });
  return { root, dir, created, monitor: () => monitor };
}

describe('create waits for its monitor to listen (live)', () => {
  it('returns only once the monitor reads its exec fifo, even when the monitor is held up', async () => {
    const id = 'listen';
    let resumedAt = 0;
    let resume: NodeJS.Timeout | undefined;
    // The monitor is told "created" next; held stopped, it cannot open its fifo until resumed.
    const { root, dir, created, monitor: held } = createHeld(id, (_, monitor) => {
      process.kill(monitor, 'SIGSTOP');
      resume = setTimeout(() => {
        resumedAt = Date.now();
        process.kill(monitor, 'SIGCONT');
      }, 300);
    });
    try {
      await created;
      const doneAt = Date.now();
      expect(held()).toBeGreaterThan(0);
      expect(resumedAt).toBeGreaterThan(0);
      expect(doneAt).toBeGreaterThanOrEqual(resumedAt);
      // A reader is there now (fifo(7): ENXIO otherwise). The monitor takes a writer that leaves
      // without a byte as no start, and opens the fifo again.
      closeSync(openSync(join(dir, 'exec.fifo'), constants.O_WRONLY | constants.O_NONBLOCK));
    } finally {
      faultPoints.hit = hit;
      clearTimeout(resume);
      if (held() && !gone(held())) process.kill(held(), 'SIGCONT');
      await deleteContainer(root, id, true).catch(() => undefined);
    }
  });

  it('fails, leaving nothing, when the monitor cannot open its exec fifo', async () => {
    const { root, dir, created, monitor } = createHeld('nofifo', (d) => unlinkSync(join(d, 'exec.fifo')));
    // The monitor's own errno for its openat (open(2): ENOENT, the fifo is not there).
    await expect(created).rejects.toMatchObject({ code: 'BV_LAUNCH_SPAWN', message: expect.stringMatching(/did not report the container created: it could not open .*exec\.fifo: ENOENT/) });
    expect(monitor()).toBeGreaterThan(0);
    await until('the monitor gone', () => gone(monitor()), 5000);
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(join(root, 'containers'))).toEqual([]);
  });

  it('fails after 5 s, leaving nothing, when the monitor never says it listens', async () => {
    const id = 'mute';
    const t0 = Date.now();
    // Stopped for good: it never reads the "created" byte. create gives up at 5 s; its clean-up
    // gives a monitor 5 s more to end on its own, then kills it (SIGKILL reaches a stopped
    // process): about 10 s in all.
    const { root, dir, created, monitor } = createHeld(id, (_, m) => process.kill(m, 'SIGSTOP'));
    try {
      await expect(created).rejects.toMatchObject({ code: 'BV_LAUNCH_SPAWN', message: expect.stringMatching(/did not report the container created: no answer within 5s/) });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(5000);
      await until('the monitor gone', () => gone(monitor()), 5000);
      expect(existsSync(dir)).toBe(false);
    } finally {
      faultPoints.hit = hit;
      if (monitor() && !gone(monitor())) {
        process.kill(monitor(), 'SIGCONT');
        await deleteContainer(root, id, true).catch(() => undefined);
      }
    }
  }, 20_000);
});
