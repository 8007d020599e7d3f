// The registry of the lifecycle start-up snapshot (src/cli/snapshot-lifecycle.ts): the commands
// that act on containers create made, or on the state root, and read no bundle or manifest. Each
// is the same class as in the full registry (commands/index.ts; test/cli/registry.test.ts checks
// both, test/arch.test.ts that this graph stays without the bundle reader, planner and launcher).
// bin/bvisor starts these from lifecycle.blob: its list of names is this one (test/cli/snapshot.e2e.test.ts).
import Start from './start.js';
import State from './state.js';
import Kill from './kill.js';
import Delete from './delete.js';
import List from './list.js';
import Report from './report.js';
import Gc from './gc.js';
import Features from './features.js';
import Ps from './ps.js';
import Pause from './pause.js';
import Resume from './resume.js';
import Events from './events.js';
import Update from './update.js';

export const LIFECYCLE_COMMANDS = {
  start: Start,
  state: State,
  kill: Kill,
  delete: Delete,
  list: List,
  report: Report,
  gc: Gc,
  features: Features,
  ps: Ps,
  pause: Pause,
  resume: Resume,
  events: Events,
  update: Update,
};
