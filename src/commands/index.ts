// The explicit command registry (oclif "explicit" strategy): no directory scan at start-up, and
// a single module graph a V8 startup snapshot can hold.
import Check from './check.js';
import Spec from './spec.js';
import Validate from './validate.js';
import Plan from './plan.js';
import JournalVerify from './journal/verify.js';
import Run from './run.js';
import Create from './create.js';
import Start from './start.js';
import State from './state.js';
import Kill from './kill.js';
import Delete from './delete.js';
import List from './list.js';
import Report from './report.js';
import Gc from './gc.js';
import Recover from './recover.js';
import Features from './features.js';
import Ps from './ps.js';
import Pause from './pause.js';
import Resume from './resume.js';
import Events from './events.js';
import Update from './update.js';
import Commit from './commit.js';
import Discard from './discard.js';
import Exec from './exec.js';
import Learn from './learn.js';

export const COMMANDS = {
  check: Check,
  spec: Spec,
  validate: Validate,
  plan: Plan,
  'journal:verify': JournalVerify,
  run: Run,
  create: Create,
  start: Start,
  state: State,
  kill: Kill,
  delete: Delete,
  list: List,
  report: Report,
  gc: Gc,
  recover: Recover,
  features: Features,
  ps: Ps,
  pause: Pause,
  resume: Resume,
  events: Events,
  update: Update,
  commit: Commit,
  discard: Discard,
  exec: Exec,
  learn: Learn,
};
