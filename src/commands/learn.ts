// bvisor learn — run a bundle's workload once under observation, propose the minimal
// boundary.yaml it needed, and check the proposal by running it once fully enforced.
import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { learnBundle, writeProposal } from '../app/learn.js';
import { BvisorError } from '../contract/errors.js';
import { parseDuration } from '../core/units.js';

import type { LearnOutput } from '../contract/generated/types.js';

export default class Learn extends BaseCommand<typeof Learn> {
  static override summary = 'Observe a bundle\'s workload once and propose the minimal boundary.yaml it needs, checked by an enforced run';
  static override flags = {
    bundle: Flags.string({ char: 'b', description: 'bundle directory, or .tar/.tar.gz (host mode)', default: '.' }),
    output: Flags.string({ char: 'o', description: 'write the proposal to this file (default: stdout); never the bundle\'s own boundary.yaml' }),
    force: Flags.boolean({ description: 'replace an existing -o file', default: false }),
    wall: Flags.string({ description: 'wall-clock limit of the learning run', default: '60s' }),
    network: Flags.boolean({ description: 'the learning run gets the host network (default: a private loopback, so outside connects are seen but fail)', default: false }),
  };

  async run(): Promise<LearnOutput> {
    const json = this.jsonEnabled();
    const wallMs = parseDuration(this.flags.wall);
    if (wallMs === null || wallMs < 1000) throw new BvisorError('BV_USAGE', `--wall ${this.flags.wall}: not a duration of at least 1s`, { hint: 'e.g. --wall 60s, --wall 5m' });
    // The workload's own output goes to stderr: stdout is the proposal's (or the JSON's).
    const toErr = (b: Buffer): boolean => process.stderr.write(b);
    const r = await learnBundle({ bundle: this.flags.bundle, wallSeconds: Math.ceil(wallMs / 1000), network: this.flags.network, cgroupParent: this.cgroupParent, secretEnv: process.env, relay: { stdout: toErr, stderr: toErr } });
    const written = this.flags.output ? writeProposal(this.flags.output, r.proposal.text, this.flags.bundle, this.flags.force) : null;
    if (!json && !written) process.stdout.write(r.proposal.text);
    const err = (s: string): boolean => process.stderr.write(s + '\n');
    if (!json) {
      err(`bvisor learn: observed ${r.proposal.stats.calls} calls on ${r.proposal.stats.paths} paths in ${r.learned.runMs} ms (exit ${r.learned.exitStatus})${written ? `; proposal written to ${written}` : ''}`);
      for (const w of r.proposal.warnings) err(`warning: ${w}`);
      if (r.check.verified) err(`verified: the proposal, fully enforced, exited ${r.check.exitStatus} as observed, with no denials`);
      else {
        err(`not verified: ${r.check.why}`);
        for (const d of r.check.denials.slice(0, 10)) err(`  ${d.kind === 'budget' ? 'reached' : 'denied'} (${d.clause}): ${d.what}${d.allow ? `\n    ${d.kind === 'budget' ? 'raise' : 'allow'} with: ${d.allow}` : ''}`);
      }
    }
    const out: LearnOutput = {
      proposal: r.proposal.text,
      written,
      warnings: r.proposal.warnings,
      observed: { exitStatus: r.learned.exitStatus, runMs: r.learned.runMs, calls: r.proposal.stats.calls, paths: r.proposal.stats.paths, denials: r.learned.denials.length },
      check: { verified: r.check.verified, why: r.check.why, exitStatus: r.check.exitStatus, denials: r.check.denials.map((d) => ({ clause: d.clause, what: d.what, allow: d.allow })) },
    };
    if (!r.check.verified) {
      if (json) {
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        process.exitCode = 1;
        return undefined as unknown as LearnOutput;
      }
      throw new BvisorError('BV_LEARN_UNVERIFIED', `the proposal did not pass its enforced run: ${r.check.why}`, { hint: written ? `edit ${written} (the denials above say which clause), then check it with bvisor run` : 'the denials above say which clause; edit the proposal, then check it with bvisor run' });
    }
    return out;
  }
}
