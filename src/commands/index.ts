// The explicit command registry (oclif "explicit" strategy): no directory scan at start-up, and
// a single module graph a V8 startup snapshot can hold.
import Check from './check.js';
import Spec from './spec.js';
import Validate from './validate.js';
import Plan from './plan.js';
import Journal from './journal/index.js';
import JournalVerify from './journal/verify.js';
import Run from './run.js';
import Create from './create.js';
import Recover from './recover.js';
import Commit from './commit.js';
import Discard from './discard.js';
import Exec from './exec.js';
import Learn from './learn.js';
import { LIFECYCLE_COMMANDS } from './lifecycle-index.js';

// The lifecycle commands are lifecycle.blob's registry too (src/commands/lifecycle-index.ts), and
// run, create and exec launch.blob's (src/commands/launch-index.ts): the same classes.
export const COMMANDS = {
  check: Check,
  spec: Spec,
  validate: Validate,
  plan: Plan,
  journal: Journal,
  'journal:verify': JournalVerify,
  run: Run,
  create: Create,
  ...LIFECYCLE_COMMANDS,
  recover: Recover,
  commit: Commit,
  discard: Discard,
  exec: Exec,
  learn: Learn,
};
