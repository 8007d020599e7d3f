// Global flags before the command, as container engines call runc (`bvisor --root /x state id`):
// oclif parses flags after the command id, so they are moved there first. Shared by both entries
// (bin/run.js and the start-up snapshot's main).

export const GLOBAL_WITH_VALUE = new Set(['--root', '--log', '--log-format', '--cgroup-parent', '--journal-key']);
export const GLOBAL_BOOL = new Set(['--debug']);

export function hoistGlobals(argv: readonly string[]): string[] {
  const globals: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i]!;
    const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (GLOBAL_WITH_VALUE.has(name)) {
      if (a.includes('=')) {
        globals.push(a);
        i += 1;
      } else {
        if (argv[i + 1] !== undefined) globals.push(a, argv[i + 1]!);
        else globals.push(a);
        i += 2;
      }
    } else if (GLOBAL_BOOL.has(a)) {
      globals.push(a);
      i += 1;
    } else break;
  }
  if (globals.length === 0) return [...argv];
  const rest = argv.slice(i);
  const dd = rest.indexOf('--');
  // exec's argv after the container id is the process's own: its globals go right after `exec`.
  if (rest[0] === 'exec') return [rest[0], ...globals, ...rest.slice(1)];
  return dd < 0 ? [...rest, ...globals] : [...rest.slice(0, dd), ...globals, ...rest.slice(dd)];
}
