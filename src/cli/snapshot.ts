// The CLI's V8 start-up snapshot entry for every command (bvisor.blob; issue 12,
// docs/startup.md): oclif, the whole command registry, the validators, yaml and our modules
// already in the heap, and the code a typical command runs compiled (the warm-up). The main
// function is shared with the lifecycle commands' smaller blob (src/cli/snapshot-main.ts).
import { COMMANDS } from '../commands/index.js';
import { warmUp } from './warm-up.js';
import { snapshotMain } from './snapshot-main.js';

// Code compiled while the snapshot is made is kept in it as bytecode (src/cli/warm-up.ts).
warmUp();
snapshotMain(COMMANDS, 'bvisor.blob');
