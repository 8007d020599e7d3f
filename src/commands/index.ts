// The explicit command registry (oclif "explicit" strategy): no directory scan at start-up, and
// a single module graph a V8 startup snapshot can hold.
import Check from './check.js';
import Spec from './spec.js';
import Validate from './validate.js';
import Plan from './plan.js';
import JournalVerify from './journal/verify.js';
import Run from './run.js';

export const COMMANDS = {
  check: Check,
  spec: Spec,
  validate: Validate,
  plan: Plan,
  'journal:verify': JournalVerify,
  run: Run,
};
