// A command bvisor does not have (`bvisor crate x`), or none at all before the global flags
// (`bvisor --root /x`), said as every other usage error is: BV_USAGE, exit 2, as text or as
// --json's error object, and in --log, with the command a typo most likely meant. oclif's own
// answer is " ›   Error: command crate:x not found" in its format, never JSON. Both entries
// (bin/run.js and the snapshot's main) hand oclif's error here before oclif's handler.
import { BvisorError } from '../contract/errors.js';
import { editDistance, nearest } from '../core/distance.js';
import { sayError } from './base.js';

const NOT_FOUND = /^command (\S+) not found$/;

/**
 * Answers oclif's "command X not found" for `argv` (hoisted: the command first, cli/argv.ts),
 * given the command ids (oclif's, `journal:verify`); false for any other error, left to oclif.
 */
export function answerUnknownCommand(err: unknown, argv: readonly string[], ids: readonly string[]): boolean {
  const m = err instanceof Error ? NOT_FOUND.exec(err.message) : null;
  if (!m) return false;
  const dd = argv.indexOf('--');
  const json = (dd < 0 ? argv : argv.slice(0, dd)).includes('--json');
  // oclif joins the words that could name a topic's command with ':' ("crate:x"): the command is
  // the first, or a topic's two (journal verify).
  const words = m[1]!.split(':');
  const topics = new Set(ids.filter((id) => id.includes(':')).map((id) => id.split(':')[0]!));
  const typed = topics.has(words[0]!) ? words.slice(0, 2).join(' ') : words[0]!;
  const e = typed.startsWith('-')
    ? new BvisorError('BV_USAGE', 'no command given', { hint: 'bvisor --help lists the commands (global flags such as --root go before or after one)' })
    : new BvisorError('BV_USAGE', `"${typed}" is not a bvisor command`, { hint: hintFor(typed, ids.map((id) => id.replace(/:/g, ' '))) });
  sayError(e, json, undefined);
  process.exitCode = e.exit;
  return true;
}

/** The nearest commands (every one as near as the nearest: `stat` is one edit from both start
 * and state), then where the list is. */
function hintFor(typed: string, commands: readonly string[]): string {
  const near = nearest(typed, commands);
  const d = (c: string): number => editDistance(typed.toLowerCase(), c);
  const all = near === null ? [] : commands.filter((c) => d(c) === d(near));
  return `${all.length ? `did you mean ${all.join(' or ')}? ` : ''}bvisor --help lists the commands`;
}
