// The start-up snapshot entry for the commands that act on what create made (lifecycle.blob;
// docs/startup.md, "three blobs"): start, state, kill, delete and their kin. Their module graph
// holds no bundle reader, manifest or OCI parser, yaml, planner or launcher, so the blob is
// smaller than bvisor.blob, and a start from it deserialises less (about 13 ms per MiB on our
// machines). bin/bvisor picks it by the command's name; run, create and exec start from
// launch.blob, every other command from bvisor.blob. test/arch.test.ts checks this graph stays lean.
import type { Plan } from '../contract/generated/types.js';
import { LIFECYCLE_COMMANDS } from '../commands/lifecycle-index.js';
import { warmUpRecords } from './warm-up-records.js';
import { snapshotMain } from './snapshot-main.js';

/** The warm-up's plan (src/cli/warm-up.ts warmPlan), made by the build with the planner, which
 * this graph does not hold: a build input, the same every build. */
declare const BVISOR_WARM_PLAN: Plan;

warmUpRecords(BVISOR_WARM_PLAN);
snapshotMain(LIFECYCLE_COMMANDS, 'lifecycle.blob');
