#!/usr/bin/env node
// bvisor's plain entry: Node loads the modules from dist/ as it starts. bin/bvisor starts the
// CLI from its V8 start-up snapshot instead when it can, and this file when it cannot. Global
// flags are accepted before the command, as container engines call runc (dist/cli/argv.js).
'use strict';

// SIGUSR1 must not open Node's inspector in a root process (dist/cli/no-inspector.js says why).
require('../dist/cli/no-inspector.js').refuseInspector();
const { hoistGlobals } = require('../dist/cli/argv.js');
const { run, flush, handle } = require('@oclif/core');
// userPlugins: false: oclif would otherwise read <data dir>/package.json (~/.local/share/bvisor)
// at every start and load the plugins it names. bvisor has no plugin command and a supervisor
// should run only the code it was installed with; the snapshot's main (src/cli/snapshot-main.ts)
// passes the same.
const LOAD_OPTIONS = { root: __dirname, userPlugins: false };
const args = hoistGlobals(process.argv.slice(2));
// bin/bvisor's word on why it did not start the snapshot (under --debug); not for any child.
if (process.env.BVISOR_START_NOTE !== undefined) {
  require('../dist/cli/start-note.js').noteStart(args, process.env.BVISOR_START_NOTE);
  delete process.env.BVISOR_START_NOTE;
}
// oclif's execute(), with a command bvisor lacks said as bvisor's usage error (the module and
// the ids, from the manifest oclif loaded, read only on an error, the ids only on that one).
// Whatever goes wrong there, oclif's handler still says the error itself.
run(args, LOAD_OPTIONS)
  .then(() => flush())
  .catch((e) => {
    try {
      if (require('../dist/cli/unknown-command.js').answerUnknownCommand(e, args, () => Object.keys(require('../oclif.manifest.json').commands))) return;
    } catch {
      // said by handle() below, as oclif would
    }
    return handle(e);
  });
