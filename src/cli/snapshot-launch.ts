// The start-up snapshot entry for the commands that launch a workload (launch.blob; docs/startup.md,
// "three blobs"): run, create and exec. They need what bvisor.blob holds for them (the bundle
// reader, the planner, the launcher, the wasm rewriter, app/lifecycle.ts) and none of the other
// commands (check, spec, validate, plan, learn, journal verify, recover, commit, discard, the
// lifecycle commands) or the modules only those use, so their blob is smaller and a start from it
// deserialises less: run and create start 1-2.5 ms sooner (docs/performance.md, twenty-eighth
// pass). test/arch.test.ts checks the graph. The warm-up is bvisor.blob's: those very
// commands' paths.
import { LAUNCH_COMMANDS } from '../commands/launch-index.js';
import { warmUp } from './warm-up.js';
import { snapshotMain } from './snapshot-main.js';

warmUp();
snapshotMain(LAUNCH_COMMANDS, 'launch.blob');
