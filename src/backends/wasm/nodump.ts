// Whether this process (the wasm runner, the rewriter) was made non-dumpable before Node's main
// by bvisor's preloaded library (native-shim/src/nodump.c says why). ld.so skips a preload it
// cannot load and runs the program anyway (ld.so(8)), so each process checks before it reads its
// job and runs nothing without it. The library's constructor says it ran in the environment
// (it exits the process when prctl(2) fails); the launch itself never sets that variable.
export const NONDUMPABLE_MARK = 'BVISOR_NONDUMPABLE';

/** What the runner and the rewriter answer when the library did not run: bvisor reads it back as
 * an install fault (BV_SHIM_LOAD), not a guest's or a module's. */
export const NOT_PRELOADED = "this process was not made non-dumpable (bvisor's libbvnodump.so was not preloaded): not run";

/** The same, as bvisor tells it: what was not run, why, and the fix. */
export function notPreloadedError(who: string): { message: string; hint: string } {
  return {
    message: `${who} was not made non-dumpable: ld.so could not preload bvisor's libbvnodump.so (a file it cannot load, or unreadable to the process's id), so it read no job; nothing was run`,
    hint: 'rebuild it with `npm run build:shim` (needs cc and make), and keep native-shim/build readable by everyone',
  };
}

/** Why this process may not go on, from its environment; null when the library ran. */
export function notPreloaded(env: Readonly<Record<string, string | undefined>>): string | null {
  return env[NONDUMPABLE_MARK] === '1' ? null : NOT_PRELOADED;
}

/** The check, on this process's own environment. */
export function nonDumpable(): string | null {
  return notPreloaded(process.env);
}
