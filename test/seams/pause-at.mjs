// Test preload (node --import): holds this bvisor process at the fault point named by
// BVISOR_TEST_PAUSE_AT until the file BVISOR_TEST_PAUSE_UNTIL exists (at most 30 s; the file
// BVISOR_TEST_PAUSE_REACHED, if named, is made when it gets there), so a test
// can make the world change at that point: a state root filled while start waits, say. Only
// tests load it; no BVISOR_TEST_ name appears in dist (test/seams/shipped.e2e.test.ts).
import { existsSync, writeFileSync } from 'node:fs';
import { faultPoints } from '../../dist/host/faults.js';

const want = process.env.BVISOR_TEST_PAUSE_AT;
const until = process.env.BVISOR_TEST_PAUSE_UNTIL;
// Made when the point is reached (optional): the test then knows this process is held there.
const reached = process.env.BVISOR_TEST_PAUSE_REACHED;
const nap = new Int32Array(new SharedArrayBuffer(4));
faultPoints.hit = (stage) => {
  if (stage !== want || !until) return;
  if (reached) writeFileSync(reached, '');
  // A synchronous wait: fault points are called from synchronous code.
  for (const end = Date.now() + 30_000; !existsSync(until) && Date.now() < end; ) Atomics.wait(nap, 0, 0, 10);
};
