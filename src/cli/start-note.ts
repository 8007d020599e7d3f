// What bvisor says under --debug about how it started: from which start-up snapshot, or why from
// none (bin/bvisor, src/cli/snapshot-main.ts). It is said before any command exists, so it goes
// to stderr at once, as runc's debug lines do without --log; with --log it waits for the
// command's logger and goes into the log with the command's own debug lines (cli/base.ts), where
// an engine that passes --log reads them and its caller's stderr stays clean. Where no command
// took it (--version, an unknown command), it is said on stderr as bvisor exits.

let pending: string | null = null;

/** `--log F` or `--log=F` among the arguments (before or after the command: argv.ts hoists them). */
function logged(args: readonly string[]): boolean {
  return args.some((a) => a === '--log' || a.startsWith('--log='));
}

/** Says `line` under --debug (nothing without it): now on stderr, or with --log, later in the log. */
export function noteStart(args: readonly string[], line: string): void {
  if (!args.includes('--debug')) return;
  if (!logged(args)) return say(line);
  pending = line;
  process.once('exit', () => {
    if (pending !== null) say(pending);
  });
}

function say(line: string): void {
  process.stderr.write(`bvisor: debug: ${line}\n`);
}

/** The line noteStart kept for the log, once. */
export function takeStartNote(): string | null {
  const line = pending;
  pending = null;
  return line;
}
