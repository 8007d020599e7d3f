// The main function of the CLI's V8 start-up snapshots (issue 12; docs/startup.md), shared by
// its three entries: src/cli/snapshot.ts (every command: bvisor.blob),
// src/cli/snapshot-lifecycle.ts (the commands that act on containers create made, without the
// bundle reader, the planner or the launcher: lifecycle.blob, smaller, so quicker to start) and
// src/cli/snapshot-launch.ts (run, create and exec, without the other commands: launch.blob).
// scripts/build-snapshot.mjs bundles each entry with everything it imports into one script and
// runs `node --build-snapshot` on it; bin/bvisor starts Node with a blob when that very Node
// binary built it, choosing the blob by the command's name, and bin/run.js otherwise.
//
// At snapshot time nothing may read the clock, the environment, randomness or the host: this
// module only registers the main function and adjusts oclif's prototypes. koffi is a native
// addon and cannot be in a snapshot; tar is loaded by the commands that need it: both come from
// a require made at run time against the installed package (setRuntime).
import { join, resolve } from 'node:path';
import { startupSnapshot } from 'node:v8';
import { refuseInspector } from './no-inspector.js';
import { Config, Plugin, flush, handle, run } from '@oclif/core';
import { hoistGlobals } from './argv.js';
import { answerUnknownCommand } from './unknown-command.js';
import { setRuntime } from '../backends/linux/ffi/runtime.js';
import { noteStart } from './start-note.js';

/** package.json and oclif.manifest.json, put in by the bundler (scripts/build-snapshot.mjs):
 * build inputs, the same for every start, so oclif need not find and read them (its first
 * asynchronous file read after deserialisation costs more than the rest of a start). */
declare const BVISOR_PACKAGE_JSON: Record<string, unknown>;
declare const BVISOR_OCLIF_MANIFEST: { commands: Record<string, unknown> };

/**
 * Makes this snapshot start oclif with `commands` as the root plugin's whole registry (each id
 * with its entry of oclif.manifest.json: help and flags as bin/run.js has them). `blob` names the
 * blob under --debug.
 */
export function snapshotMain(commands: Record<string, unknown>, blob: string): void {
  // The manifest the build put in holds exactly these commands (for lifecycle.blob and
  // launch.blob the build filters it: the bundler keeps a define's value whole in the heap, so a
  // filter here would keep nothing out). Ids in the manifest's order, as oclif reads them from the
  // file.
  const manifest = BVISOR_OCLIF_MANIFEST;
  const ids = Object.keys(manifest.commands);
  if (ids.length !== Object.keys(commands).length || !ids.every((id) => id in commands)) {
    throw new Error(`snapshot: the manifest's commands (${ids.join(', ')}) are not the registry's (${Object.keys(commands).join(', ')})`);
  }

  startupSnapshot.setDeserializeMainFunction(() => {
    refuseInspector(); // first: before anything else can take time
    // bin/bvisor starts `node --snapshot-blob BLOB PACKAGE_ROOT ARGS…`: Node puts the first
    // argument after the blob where a script's path would be.
    const root = resolve(process.argv[1]!);
    const args = process.argv.slice(2);
    process.argv.splice(1, 1, join(root, 'bin', 'bvisor'));
    setRuntime(root);
    noteStart(args, `started from the start-up snapshot ${blob} (${process.version})`);
    void main(root, hoistGlobals(args), ids);
  });

  // The root plugin's manifest and command registry come from the heap: oclif's Plugin.load asks
  // _manifest() for them (oclif 4.x; test/cli/snapshot.e2e.test.ts compares every command's help
  // and behaviour with bin/run.js, so a change there shows).
  type RootPlugin = { isRoot: boolean; commandCache: unknown; commandIDs: string[]; hasManifest: boolean };
  const pluginProto = Plugin.prototype as unknown as { _manifest(this: RootPlugin): Promise<unknown> };
  const readManifest = pluginProto._manifest;
  pluginProto._manifest = async function (this: RootPlugin) {
    if (!this.isRoot) return readManifest.call(this);
    this.commandCache = commands;
    this.commandIDs = ids;
    this.hasManifest = true;
    return manifest;
  };

  // Plugin.load sorts the root plugin's commands by id with localeCompare. A process's first
  // localeCompare builds ICU's collator for the locale: about 9 ms, paid by every command only for
  // an order nothing shows (oclif's help sorts the commands and topics again, by code point, and
  // commands are found by id). While the root plugin loads, ids compare by code point; for our ids
  // (ASCII) that is the order localeCompare gives (scripts/build-snapshot.mjs checks the manifest).
  type LoadingPlugin = { options: { isRoot?: boolean } };
  const pluginLoad = (Plugin.prototype as unknown as { load(this: LoadingPlugin): Promise<void> }).load;
  (Plugin.prototype as unknown as { load(this: LoadingPlugin): Promise<void> }).load = async function (this: LoadingPlugin) {
    if (!this.options.isRoot) return pluginLoad.call(this);
    const localeCompare = Object.getOwnPropertyDescriptor(String.prototype, 'localeCompare')!;
    Object.defineProperty(String.prototype, 'localeCompare', { ...localeCompare, value: codePointCompare });
    try {
      return await pluginLoad.call(this);
    } finally {
      Object.defineProperty(String.prototype, 'localeCompare', localeCompare);
    }
  };

  // oclif's Config.load reads a user theme file (<config dir>/theme.json) at every start. A theme
  // only sets colours, and the snapshot runs only where there are none (bin/bvisor: no terminal,
  // no FORCE_COLOR; colour detection was frozen as "none" at build): the file cannot change what
  // is printed, so the snapshot does not read it. bin/run.js, which may print colours, still does.
  (Config.prototype as unknown as { loadTheme(): Promise<undefined> }).loadTheme = async () => undefined;
}

function codePointCompare(this: string, that: string): number {
  const a = String(this);
  return a < that ? -1 : a > that ? 1 : 0;
}

async function main(root: string, argv: string[], ids: readonly string[]): Promise<void> {
  try {
    // Options, not a loaded Config: given a Config, oclif's run() builds and loads a second one.
    // userPlugins: false as in bin/run.js (LOAD_OPTIONS there says why).
    await run(argv, { root, pjson: BVISOR_PACKAGE_JSON as never, userPlugins: false });
    flush();
  } catch (e) {
    if (!answerUnknownCommand(e, argv, () => ids)) await handle(e as Error);
  }
}
