// Where the installed package is, and the require that loads what cannot be bundled (koffi, a
// native addon) or is loaded only by the commands that use it (tar). From dist/ both are this
// module's own; in the CLI's start-up snapshot, whose modules were bundled into one script at
// build time, the snapshot's main sets them from the running installation (src/cli/snapshot-main.ts,
// src/backends/wasm/runner-snapshot.ts).
import { createRequire } from 'node:module';
import { join } from 'node:path';

let packageRootDir: string | null = null;
let runtimeRequire: NodeRequire | null = null;

/** Runs from the package installed at `root`: its files, and a require made against it (on the
 * first lateRequire: making one costs about half a millisecond, and most commands never load
 * koffi through it, nor tar). */
export function setRuntime(root: string): void {
  packageRootDir = root;
  runtimeRequire = null;
}

/** The package root: dist/backends/linux/ffi → ../../../.., and the same from src/ under vitest. */
export function packageRoot(): string {
  return packageRootDir ?? join(__dirname, '..', '..', '..', '..');
}

/** require() of a dependency at run time. */
export function lateRequire(id: string): unknown {
  if (packageRootDir !== null) runtimeRequire ??= createRequire(join(packageRootDir, 'package.json'));
  return (runtimeRequire ?? require)(id);
}
