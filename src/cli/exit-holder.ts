// The last thing a command does (both entries: src/cli/snapshot-main.ts and bin/run.js): start
// the memory holder, so that the script waiting for this process has its exit status before the
// kernel has freed our memory, not after (native-shim/src/spawn.c has the measurements).
import { holdMemoryPastExit } from '../backends/linux/ffi/shim.js';
import { fault } from '../host/faults.js';
import { errnoName } from '../host/facts.js';

/** Starts the holder when the command loaded the shim; under --debug, says what happened. A
 * holder that cannot start leaves the usual exit, which frees our memory itself. */
export function startExitHolder(debug: boolean): void {
  const holder = holdMemoryPastExit();
  if (debug) process.stderr.write(`bvisor: debug: ${holder === null ? 'no memory holder (the shim was not loaded)' : holder > 0 ? `memory holder ${holder}` : `no memory holder (${errnoName(-holder)})`}\n`);
  if (holder !== null && holder > 0) fault('cli:exit-holder');
}
