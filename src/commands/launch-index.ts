// The registry of the launching commands' start-up snapshot (src/cli/snapshot-launch.ts): the
// commands that read a bundle or a container's process, plan and launch a workload. Each is the
// same class as in the full registry (commands/index.ts; test/cli/registry.test.ts checks both).
// bin/bvisor starts these from launch.blob: its list of names is this one (test/cli/snapshot.e2e.test.ts).
import Run from './run.js';
import Create from './create.js';
import Exec from './exec.js';

export const LAUNCH_COMMANDS = {
  run: Run,
  create: Create,
  exec: Exec,
};
