// Stands in for the wsl-utils package in the CLI's start-up snapshot (scripts/build-snapshot.mjs
// aliases it). oclif's Config.load imports wsl-utils at every start only to name its platform
// "wsl" instead of "linux" (is-wsl reads /proc/version and stats two paths; about 2-3 ms of a
// start from the snapshot, docs/startup.md). oclif uses that name for its user agent and for
// Windows-only choices, none of which bvisor prints or takes, so the snapshot answers "not WSL"
// without probing. bin/run.js loads the real package.

/** wsl-utils' answer, fixed: oclif then takes os.platform() ("linux"). */
export const isWsl = false;

/** wsl-utils' PowerShell path: oclif asks for it only when the platform is win32. */
export function powerShellPath(): never {
  throw new Error('bvisor: wsl-utils is not bundled in the start-up snapshot (no Windows shell to find)');
}
