// Global flags before the command, as container engines call runc (`bvisor --root /x state id`):
// oclif parses flags after the command id, so they are moved there first. Shared by both entries
// (bin/run.js and the start-up snapshot's main). bin/bvisor's scan for the command knows the
// same flags (test/cli/snapshot.e2e checks they agree).

export const GLOBAL_WITH_VALUE = new Set(['--root', '--log', '--log-format', '--cgroup-parent', '--journal-key']);
/** --json too: every command takes it (BaseCommand.enableJsonFlag), and `bvisor --json list`
 * reads as naturally as `bvisor --root X list`. */
export const GLOBAL_BOOL = new Set(['--debug', '--json']);

/** Commands named by two words, a topic's (`journal verify`): globals may come between them, and
 * left there oclif would find no command and print the topic's help, exiting 0 (`bvisor journal
 * --root X verify` would then verify nothing and say nothing was wrong). */
const TOPICS = new Set(['journal']);

/** Moves the global flags from `i` on into `into`; the index after them. */
function globalsFrom(argv: readonly string[], i: number, into: string[]): number {
  while (i < argv.length) {
    const a = argv[i]!;
    const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (GLOBAL_WITH_VALUE.has(name)) {
      if (a.includes('=') || argv[i + 1] === undefined) {
        into.push(a);
        i += 1;
      } else {
        into.push(a, argv[i + 1]!);
        i += 2;
      }
    } else if (GLOBAL_BOOL.has(a)) {
      into.push(a);
      i += 1;
    } else break;
  }
  return i;
}

export function hoistGlobals(argv: readonly string[]): string[] {
  const globals: string[] = [];
  let i = globalsFrom(argv, 0, globals);
  // `help [COMMAND]` (oclif's help plugin, which bvisor does not load, would answer it): the
  // command's --help, before any `--` (after one it would be the program's: `help exec -- ID sh`
  // must not run sh).
  if (argv[i] === 'help') {
    const out = hoistGlobals([...argv.slice(0, i), ...argv.slice(i + 1)]);
    const dd = out.indexOf('--');
    return dd < 0 ? [...out, '--help'] : [...out.slice(0, dd), '--help', ...out.slice(dd)];
  }
  const command: string[] = [];
  if (i < argv.length) command.push(argv[i++]!);
  if (TOPICS.has(command[0] ?? '')) {
    i = globalsFrom(argv, i, globals);
    if (i < argv.length && !argv[i]!.startsWith('-')) command.push(argv[i++]!);
  }
  const rest = argv.slice(i);
  // exec's argv after the container id is the process's own: its globals go right after `exec`,
  // and a `--` before the program, where the user wrote none, so that oclif reads none of the
  // program's arguments as its own (`bvisor exec ID ls --help` lists, it does not print help).
  if (command[0] === 'exec') {
    const { head, command: program } = splitExecArgv(rest);
    return head.includes('--') || program.length === 0 ? [...command, ...globals, ...rest] : [...command, ...globals, ...head, '--', ...program];
  }
  const dd = rest.indexOf('--');
  return dd < 0 ? [...command, ...rest, ...globals] : [...command, ...rest.slice(0, dd), ...globals, ...rest.slice(dd)];
}

/** Flags that take a value: exec's own, and the global ones hoisting puts after `exec`. */
const WITH_VALUE = new Set(['--process', '-p', '--console-socket', '--pid-file', '--cwd', '--env', '-e', '--user', '-u', '--cap', '-c', ...GLOBAL_WITH_VALUE]);

/** Splits exec's argv at the container id: [flags…, ID] for oclif, and the process's argv. */
export function splitExecArgv(argv: readonly string[]): { head: string[]; command: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return { head: argv.slice(0, i + 2), command: argv.slice(i + 2) };
    if (!a.startsWith('-') || a === '-') {
      const rest = argv.slice(i + 1);
      return { head: argv.slice(0, i + 1), command: rest[0] === '--' ? rest.slice(1) : rest };
    }
    if (WITH_VALUE.has(a)) i++;
  }
  return { head: [...argv], command: [] };
}
