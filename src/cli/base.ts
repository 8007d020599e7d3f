// The one base command: global flags (runc's --root, --log, --log-format, --debug), --json on
// every command, and the single place where errors become exit codes, hints and JSON error
// objects (schemas/error.schema.json). Commands stay thin: parse, call app/, render.
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { Command, Flags, Interfaces } from '@oclif/core';
import { BvisorError, isBvisorError, EXIT } from '../contract/errors.js';
import type { ErrorOutput } from '../contract/generated/types.js';
import { renderError, rootedHints, rootedText, usageMessage } from './render.js';
import { Logger } from './log.js';
import { hoistGlobals } from './argv.js';
import { nearest } from '../core/distance.js';
import { loadJournalKey, type JournalKey } from '../host/journal-store.js';
import { checkStateRoot } from '../host/state-root.js';
import { takeStartNote } from './start-note.js';

export function defaultRoot(): string {
  if (process.geteuid?.() === 0) return '/run/bvisor';
  const xdg = process.env.XDG_RUNTIME_DIR;
  return xdg ? `${xdg}/bvisor` : `/tmp/bvisor-${process.geteuid?.() ?? 'user'}`;
}

/**
 * --log and --log-format as written on the command line, from the argv hoisted (cli/argv.ts:
 * the globals moved after the verb, and a `--` before exec's program), up to the `--`: what
 * follows it is a program's own, and its `--log FILE` must never become a file bvisor writes.
 */
export function logOptionsFromArgv(hoisted: readonly string[]): { file: string | null; format: 'text' | 'json'; debug: boolean } {
  const dd = hoisted.indexOf('--');
  const argv = dd < 0 ? hoisted : hoisted.slice(0, dd);
  let file: string | null = null;
  let format: 'text' | 'json' = 'text';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [name, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (name === '--log') file = inline ?? argv[i + 1] ?? null;
    if (name === '--log-format') format = (inline ?? argv[i + 1]) === 'json' ? 'json' : 'text';
  }
  return { file, format, debug: argv.includes('--debug') };
}

/** For oclif's "Nonexistent flag(s): --bundel, --jsn", the flags each most likely meant
 * ("did you mean --bundle, --json? "), as a mistyped command gets; '' when none is near. */
function flagsMeant(message: string, flags: readonly string[]): string {
  const m = /^Nonexistent flags?: (.+)$/m.exec(message);
  if (!m) return '';
  const meant = m[1]!.split(', ').map((f) => nearest(f.replace(/^-+/, '').replace(/=.*$/, ''), flags)).filter((f): f is string => f !== null);
  return meant.length ? `did you mean ${[...new Set(meant)].map((f) => `--${f}`).join(', ')}? ` : '';
}

/**
 * Says an error where its reader looks: a JSON line in --log (the line an engine shows its user,
 * "OCI runtime create failed: <msg>": the cause itself, so a refusal names its clauses, not only
 * their number, and its hint, since the engine's user sees only this line), then the error object
 * on stdout under --json (schemas/error.schema.json), else its text on stderr.
 */
export function sayError(e: BvisorError, json: boolean, logger: Logger | undefined, status: number = e.exit): void {
  try {
    const cause = e.issues.length ? `${e.issues.map((i) => `${i.clause ? i.clause + ': ' : ''}${i.message}`).join('; ')} (${e.message})` : e.message;
    const hint = e.issues.find((i) => i.hint)?.hint ?? e.hint;
    const msg = hint ? `${cause}; hint: ${hint}` : cause;
    (logger ?? new Logger(logOptionsFromArgv(hoistGlobals(process.argv.slice(2))))).log('error', msg, { code: e.code });
  } catch {
    // the log file itself may be what failed
  }
  if (json) {
    const out: ErrorOutput = { error: { code: e.code, message: e.message, exit: e.exit, status, hint: e.hint, doc: e.doc } };
    if (e.issues.length) out.error.issues = e.issues.map((i) => ({ code: i.code, clause: i.clause, message: i.message, hint: i.hint ?? null, file: i.file ?? null, line: i.line ?? null, col: i.col ?? null }));
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    process.stderr.write(renderError(e) + '\n');
  }
}

/**
 * A write to stdout or stderr fails as an 'error' event, which with no listener ends Node with a
 * stack trace. The reader gone (`bvisor list | head`: EPIPE) is no fault of bvisor's: a producer
 * in a shell pipeline dies by SIGPIPE there (Node ignores that signal), so the command ends as
 * one would, 141 (128 + SIGPIPE), saying nothing (there is nowhere to say it). It finishes its
 * work first: what it printed comes after what it did, and nothing is left half-done. EIO (a
 * terminal that hung up) is taken the same way; any other failure is the command's error.
 */
function endQuietlyWhenTheReaderGoes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'EIO') throw e;
      process.exitCode = READER_GONE;
    });
  }
}

/** A shell's status for a process its reader left (a pipeline's producer killed by SIGPIPE):
 * 141 (docs/exit-codes.md). run's own stop (stop-signals.ts) ends with it too. */
export const READER_GONE = 128 + constants.signals.SIGPIPE;

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;

export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true;
  /** Commands whose own exit status is the workload's (run) report bvisor failures with this. */
  static failureExit: number | null = null;

  static override baseFlags = {
    root: Flags.string({ description: 'state root (default /run/bvisor as root, $XDG_RUNTIME_DIR/bvisor otherwise)', helpGroup: 'GLOBAL' }),
    log: Flags.string({ description: 'append log lines to this file', helpGroup: 'GLOBAL' }),
    'log-format': Flags.string({ description: 'log line format', options: ['text', 'json'], default: 'text', helpGroup: 'GLOBAL' }),
    debug: Flags.boolean({ description: 'log debug detail (to stderr without --log)', default: false, helpGroup: 'GLOBAL' }),
    'cgroup-parent': Flags.string({ description: 'parent cgroup for bvisor\'s cgroups: relative to our own cgroup, or absolute from the hierarchy root (see docs/cgroups.md)', env: 'BVISOR_CGROUP_PARENT', helpGroup: 'GLOBAL' }),
    'journal-key': Flags.string({ description: 'key file (0600, outside the state root) to MAC journal entries with; see docs/journal.md', helpGroup: 'GLOBAL' }),
  };

  protected flags!: BaseFlags<T>;
  protected logger!: Logger;

  /** Commands that handle a failed write to stdout or stderr themselves (run: stop-signals.ts). */
  static ownsOutputErrors = false;

  public override async init(): Promise<void> {
    if (!(this.ctor as unknown as typeof BaseCommand).ownsOutputErrors) endQuietlyWhenTheReaderGoes();
    await super.init();
    const { flags } = await this.parse({ flags: this.ctor.flags, baseFlags: (this.ctor as typeof BaseCommand).baseFlags, args: this.ctor.args, strict: this.ctor.strict, enableJsonFlag: this.ctor.enableJsonFlag });
    this.flags = flags as BaseFlags<T>;
    if (this.flags.root === '') throw new BvisorError('BV_USAGE', '--root is empty', { hint: 'name the state root directory, or leave --root out for the default' });
    this.logger = new Logger({ file: this.flags.log ?? null, format: this.flags['log-format'] === 'json' ? 'json' : 'text', debug: this.flags.debug });
    this.logger.check();
    // (A --debug that the command took for its own argument, exec's program's: left to stderr.)
    const note = this.flags.debug ? takeStartNote() : null;
    if (note !== null) this.logger.log('debug', note);
  }

  private checkedRoot: string | null = null;

  /** The state root, absolute and unchecked: only for reading a root that may not be ours
   * (journal verify audits a root; a key, not the root's owner, is what it trusts). */
  protected get stateRootToAudit(): string {
    return resolve(this.flags.root ?? defaultRoot());
  }

  /**
   * The state root, absolute: recorded paths (owner.json, state files) must not depend on the
   * cwd. Checked once (checkStateRoot) before any command reads what it holds.
   */
  protected get stateRoot(): string {
    if (this.checkedRoot === null) {
      const root = this.stateRootToAudit;
      checkStateRoot(root);
      this.checkedRoot = root;
    }
    return this.checkedRoot;
  }

  /** The journal key file (--journal-key), for app/ to load with loadJournalKey(file, stateRoot). */
  protected get journalKeyFile(): string | null {
    return this.flags['journal-key'] ?? null;
  }

  /** How this command journals reports: with the --journal-key key, loaded and checked once. */
  protected get journal(): { key: JournalKey | null } {
    const file = this.journalKeyFile;
    return { key: file === null ? null : loadJournalKey(file, this.stateRoot) };
  }

  protected get cgroupParent(): string | null {
    return this.flags['cgroup-parent'] ?? null;
  }

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<void> {
    // A parse that failed is one that ran: under NODE_ENV=development or test, oclif would add
    // "Command list did not parse its arguments. Did you forget to call 'this.parse'?" after the
    // usage error.
    (this as unknown as { parsed: boolean }).parsed = true;
    let e: BvisorError;
    const fsErr = err as NodeJS.ErrnoException;
    if (isBvisorError(err)) e = err;
    else if (typeof fsErr.code === 'string' && /^E[A-Z]+$/.test(fsErr.code) && typeof fsErr.syscall === 'string') {
      // A file operation no coded path caught: still the caller's to fix (a path, a mode, space).
      e = new BvisorError('BV_IO', `${fsErr.syscall} ${fsErr.path ?? ''}: ${fsErr.code}`.replace(/\s+:/, ':'), { hint: 'check the path, its permissions and free space', cause: err });
    }
    else if (err.oclif?.exit !== undefined && err.oclif.exit !== 0 && /flag|argument|Expected|Missing|Unexpected|Nonexistent|provided/i.test(err.message)) {
      e = new BvisorError('BV_USAGE', usageMessage(err.message), { hint: `${flagsMeant(err.message, ['json', ...Object.keys((this.ctor as typeof BaseCommand).baseFlags ?? {}), ...Object.keys((this.ctor as typeof BaseCommand).flags ?? {})])}see bvisor ${this.id ?? ''} --help`.replace(/\s+/g, ' ').trim() });
    } else if (err.oclif?.exit !== undefined) {
      // oclif's own exits (help, version) pass through.
      throw err;
    } else {
      e = new BvisorError('BV_INTERNAL', err.message || String(err), { hint: 'this is a bug in bvisor; rerun with --debug and report it', cause: err });
      if (this.flags?.debug) process.stderr.write(`${err.stack ?? err}\n`);
    }
    e = this.aimed(e);
    // A flag error can end init before the logger exists: engines still need the error line.
    // oclif's jsonEnabled reads this.argv up to a `--` (so a flag error before parsing still
    // answers in JSON), never an exec'd program's own arguments, which follow one (cli/argv.ts).
    const status = (this.ctor as unknown as typeof BaseCommand).failureExit ?? e.exit;
    sayError(e, this.jsonEnabled(), this.logger, status);
    process.exitCode = status;
  }

  /** The error with its hints' bvisor commands aimed at this command's --root (cli/render.ts). */
  protected aimed(e: BvisorError): BvisorError {
    return rootedHints(e, this.flags?.root, defaultRoot());
  }

  /** Text that tells the user a bvisor command, aimed at this command's --root. */
  protected rooted(text: string): string {
    return rootedText(text, this.flags?.root, defaultRoot());
  }

  /** Prints text for people; with --json the returned value is printed instead by oclif. */
  protected say(text: string): void {
    if (!this.jsonEnabled()) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}

export { EXIT };
