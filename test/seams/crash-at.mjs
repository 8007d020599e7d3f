// Test preload (node --import): SIGKILLs this bvisor process when it reaches the fault point
// named by BVISOR_TEST_CRASH_AT. Only the crash-safety tests load it; the shipped CLI never
// reads that variable (test/seams/shipped.e2e.test.ts proves it).
import { faultPoints } from '../../dist/host/faults.js';

const want = process.env.BVISOR_TEST_CRASH_AT;
faultPoints.hit = (stage) => {
  if (stage === want) process.kill(process.pid, 'SIGKILL');
};
faultPoints.armed = (stage) => stage === want;
