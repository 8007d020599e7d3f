// The wasm runner's V8 start-up snapshot entry (issue 12 item 4; docs/startup.md, "wasm
// runner"). scripts/build-snapshot.mjs bundles this module with the runner and everything it
// imports (the WASI host, the file host, the shim's bindings, node:crypto) into one script and
// runs `node --max-old-space-size=128 --build-snapshot` on it; app/wasm.ts starts the runner as
//   node --max-old-space-size=128 --snapshot-blob dist/snapshot/runner.blob PACKAGE_ROOT
//        --wasm-max-mem-pages=N --wasm-max-table-size=N
// when the blob was built by that very Node binary, and dist/backends/wasm/runner.js otherwise.
//
// Why the wasm caps come after the package root: every V8 flag given on the command line is
// part of the snapshot's configuration tag, and Node refuses a blob whose tag differs (exit 14,
// "Failed to load the startup snapshot"). --max-old-space-size=128 is the same for every runner,
// so the blob is built with it; the two wasm caps differ per run (limits.memory), so this main
// function sets them with v8.setFlagsFromString before anything is compiled (V8 reads both each
// time a memory or table is made or a module validated), then checks they hold: a memory one page
// above the cap and a table one entry above it must be refused, or nothing runs.
//
// At snapshot time nothing may read the clock, the environment, randomness or the host (the
// build's guard fails on it), and WebAssembly does not exist there (Node builds snapshots with
// --no-expose-wasm): the top level only imports. koffi is a native addon and cannot be in a
// snapshot: the file host loads it on first use through a require made against the installed
// package (setRuntime).
import { startupSnapshot, setFlagsFromString } from 'node:v8';
import { main } from './runner.js';
import { setRuntime } from '../linux/ffi/runtime.js';

/** The runner's argv after the blob: PACKAGE_ROOT --wasm-max-mem-pages=N --wasm-max-table-size=N. */
export function runnerCaps(argv: readonly string[]): { root: string; pages: number; entries: number } | string {
  const [root, pagesArg, entriesArg, ...rest] = argv;
  const pages = /^--wasm-max-mem-pages=([0-9]{1,6})$/.exec(pagesArg ?? '');
  const entries = /^--wasm-max-table-size=([0-9]{1,9})$/.exec(entriesArg ?? '');
  if (!root || !root.startsWith('/') || !pages || !entries || rest.length) return `the runner was started with unexpected arguments: ${JSON.stringify(argv)}`;
  return { root, pages: Number(pages[1]), entries: Number(entries[1]) };
}

/** Sets V8's wasm caps and proves they hold; a message when they do not. */
function setCaps(argv: readonly string[]): string | null {
  const c = runnerCaps(argv);
  if (typeof c === 'string') return c;
  setRuntime(c.root);
  setFlagsFromString(`--wasm-max-mem-pages=${c.pages}`);
  setFlagsFromString(`--wasm-max-table-size=${c.entries}`);
  // The memory probe is refused before anything is reserved when the cap holds (V8 compares the
  // initial size with its cap first); 65536 pages is V8's own ceiling for 32-bit memories.
  if (c.pages < 65536 && accepted(() => new WebAssembly.Memory({ initial: c.pages + 1 }))) return `V8's memory cap (${c.pages} pages) did not take effect: not run`;
  if (accepted(() => new WebAssembly.Table({ element: 'anyfunc', initial: c.entries + 1 }))) return `V8's table cap (${c.entries} entries) did not take effect: not run`;
  return null;
}

function accepted(make: () => unknown): boolean {
  try {
    make();
    return true;
  } catch {
    return false;
  }
}

startupSnapshot.setDeserializeMainFunction(() => {
  // Node puts the first argument after the blob where a script's path would be (argv[1]).
  main(() => setCaps(process.argv.slice(1)));
});
