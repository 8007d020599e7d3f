// A command bvisor does not have (`bvisor crate x`), a real one given a word it takes no place
// for (`bvisor list extra`), or no command at all before the global flags (`bvisor --root /x`),
// said as every other usage error is: BV_USAGE, exit 2, as text or as --json's error object, and
// in --log, with the commands a typo most likely meant. oclif's own answer is " ›   Error:
// command crate:x not found" in its format, never JSON. Both entries (bin/run.js and the
// snapshot's main) hand oclif's error here before oclif's handler.
import { BvisorError } from '../contract/errors.js';
import { swapDistance } from '../core/distance.js';
import { sayError } from './base.js';

/** oclif's words, from its command lookup and from its help (`bvisor crate --help`). */
const NOT_FOUND = /^command (.*) not found\.?$/i;

/**
 * Answers oclif's "command X not found" for `argv` (hoisted: the command first, cli/argv.ts),
 * given the command ids (oclif's, `journal:verify`; read only when the error is this one); false
 * for any other error, left to oclif.
 */
export function answerUnknownCommand(err: unknown, argv: readonly string[], commandIds: () => readonly string[]): boolean {
  const m = err instanceof Error ? NOT_FOUND.exec(err.message) : null;
  if (!m) return false;
  const ids = commandIds();
  const dd = argv.indexOf('--');
  const json = (dd < 0 ? argv : argv.slice(0, dd)).includes('--json');
  // oclif joins the words that could name a topic's command with ':' ("crate:x", "list:extra",
  // help's "journal verfy"): the longest start of them that is a command was given an argument
  // it takes no place for; else the command is the first word, or a topic's two.
  const words = m[1]!.split(/[: ]/);
  const known = new Set(ids);
  const cut = [...words.keys()].reverse().find((n) => n > 0 && known.has(words.slice(0, n).join(':')));
  let e: BvisorError;
  if (cut !== undefined) {
    const command = words.slice(0, cut).join(' ');
    e = new BvisorError('BV_USAGE', `Unexpected argument: ${words[cut]}`, { hint: `see bvisor ${command} --help` });
  } else {
    const topics = new Set(ids.filter((id) => id.includes(':')).map((id) => id.split(':')[0]!));
    const typed = topics.has(words[0]!) ? words.slice(0, 2).join(' ') : words[0]!;
    e = typed === '' || typed.startsWith('-')
      ? new BvisorError('BV_USAGE', 'no command given', { hint: 'bvisor --help lists the commands (global flags such as --root go before or after one)' })
      : new BvisorError('BV_USAGE', `"${typed}" is not a bvisor command`, { hint: commandsMeant(typed, ids.map((id) => id.replace(/:/g, ' '))) });
  }
  sayError(e, json, undefined);
  process.exitCode = e.exit;
  return true;
}

/**
 * The nearest commands (each as near as the nearest: `stat` is one edit from both start and
 * state), counting a swap of two letters as one edit; at most half a command's letters wrong
 * (`pss` is ps, `zz` is nothing), and never more than two. Then where the list is.
 */
export function commandsMeant(typed: string, commands: readonly string[]): string {
  const t = typed.toLowerCase();
  const near = commands.map((c) => ({ c, d: swapDistance(t, c) })).filter(({ c, d }) => d <= 2 && d <= Math.floor(c.length / 2));
  const best = Math.min(...near.map((n) => n.d));
  const all = near.filter((n) => n.d === best).map((n) => n.c);
  return `${all.length ? `did you mean ${all.join(' or ')}? ` : ''}bvisor --help lists the commands`;
}
