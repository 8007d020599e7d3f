// bvisor journal — a topic, not a command: alone (or with a word that is none of its commands) it
// is a usage error, as `bvisor` with no command is, so a script's `--json` gets the error object
// instead of oclif's topic help on stdout and exit 0.
import { BaseCommand } from '../../cli/base.js';
import { BvisorError } from '../../contract/errors.js';
import { commandsMeant } from '../../cli/unknown-command.js';

/** The topic's commands, as `bvisor journal X` names them. */
const SUBCOMMANDS = ['verify'];

export default class Journal extends BaseCommand<typeof Journal> {
  static override summary = "The report journal: `bvisor journal verify` checks its hash chain";
  static override description = 'Commands:\n  journal verify  check the hash chain and head (and, with --key, every entry\'s MAC); --repair mends what an interrupted append left';
  // Listed once, as the topic (bvisor --help), not again among the commands.
  static override hidden = true;
  // Any word is taken, to be named in the error below (oclif would say only "Unexpected argument").
  static override strict = false;

  async run(): Promise<never> {
    const { argv } = await this.parse(Journal);
    const word = (argv as string[]).find((a) => !a.startsWith('-'));
    // `bvisor journal -- verify`: after `--` a word is an argument, never a command.
    if (word !== undefined && SUBCOMMANDS.includes(word)) throw new BvisorError('BV_USAGE', `"${word}" after -- is an argument, not the command journal ${word}`, { hint: `bvisor journal ${word}` });
    if (word === undefined) throw new BvisorError('BV_USAGE', `journal needs a command: ${SUBCOMMANDS.map((c) => `journal ${c}`).join(', ')}`, { hint: 'see bvisor journal verify --help' });
    throw new BvisorError('BV_USAGE', `"journal ${word}" is not a bvisor command`, { hint: commandsMeant(`journal ${word}`, SUBCOMMANDS.map((c) => `journal ${c}`)) });
  }
}
