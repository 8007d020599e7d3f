// bvisor update — new memory, pids or cpu limits for a live container (runc update: --resources,
// or its limit flags).
import { Args, Flags } from '@oclif/core';
import { readFileSync } from 'node:fs';
import { BaseCommand } from '../cli/base.js';
import { updateResources } from '../app/oci.js';
import { BvisorError } from '../contract/errors.js';
import { formatSize, parseSize, sizeMeant } from '../core/units.js';
import { LIMIT_BOUNDS } from '../core/limit-bounds.js';

/** runc's limit flags bvisor applies, and the LinuxResources field each one fills. */
const LIMIT_FLAGS = ['memory', 'pids-limit', 'cpu-quota', 'cpu-period'] as const;

export default class Update extends BaseCommand<typeof Update> {
  static override summary = 'Lower the cgroup limits of a running container: --memory, --pids-limit, --cpu-quota/--cpu-period, or an OCI LinuxResources JSON file (-r, - for stdin)';
  static override usage = ['update ID [--memory SIZE] [--pids-limit N] [--cpu-quota µs [--cpu-period µs]]', 'update ID -r FILE'];
  static override args = { id: Args.string({ description: 'container id', required: true }) };
  static override flags = {
    resources: Flags.string({ char: 'r', description: 'LinuxResources JSON file (memory.limit, pids.limit, cpu.quota/period), - for stdin; its other fields are listed as not applied', exclusive: [...LIMIT_FLAGS] }),
    // As runc's flags, but a size is written as a manifest writes limits.memory (64Mi, 64M, bytes):
    // docker's "64m" is refused with what it may mean, rather than taken as 64Mi by a guess.
    memory: Flags.string({ description: 'memory limit: bytes, or 64Mi (1024²), 64M (1000²)…; below what the container uses now, cgroup v1 refuses it and v2 reclaims, then OOM-kills the container if it cannot', exclusive: ['resources'] }),
    'pids-limit': Flags.integer({ description: 'maximum number of tasks', exclusive: ['resources'] }),
    'cpu-quota': Flags.integer({ description: 'CPU time (µs) the container may use in each period (at least 1000)', exclusive: ['resources'] }),
    'cpu-period': Flags.integer({ description: 'the period (µs) of --cpu-quota (default 100000, 100 ms)', exclusive: ['resources'], dependsOn: ['cpu-quota'] }),
  };

  async run(): Promise<{ id: string; written: string[]; ignored: string[] }> {
    const { args } = await this.parse(Update);
    const f = this.flags;
    let parsed: unknown;
    if (f.resources !== undefined) {
      try {
        parsed = JSON.parse(readFileSync(f.resources === '-' ? 0 : f.resources, 'utf8'));
      } catch (e) {
        throw new BvisorError('BV_USAGE', `--resources ${f.resources}: ${(e as Error).message}`, { hint: 'a JSON object such as {"memory":{"limit":268435456}}' });
      }
    } else if (LIMIT_FLAGS.some((k) => f[k] !== undefined)) {
      parsed = fromFlags(f);
    } else {
      // runc would update nothing and exit 0: a command that changes nothing says so.
      throw new BvisorError('BV_USAGE', 'nothing to update: give --memory, --pids-limit, --cpu-quota (with --cpu-period) or --resources', { hint: `e.g. bvisor update --memory 32Mi ${args.id}` });
    }
    const { written, ignored } = updateResources(this.stateRoot, args.id, parsed);
    // What the runtime spec has and bvisor does not apply (engines send a whole LinuxResources
    // with every update, so it is not refused): in the log (runc's --log, which engines keep),
    // in --json, and on stderr for a person; never silently.
    for (const field of ignored) {
      this.logger.log('warn', `update ignored: ${field} (bvisor does not apply it)`, { id: args.id });
      const why = field.endsWith('(without a quota)') ? 'a cpu period is written only with a quota, whose bandwidth it changes' : 'bvisor applies memory.limit, pids.limit and cpu.quota/period only';
      if (!this.jsonEnabled()) process.stderr.write(`bvisor: update left ${field} as it was: ${why}\n`);
    }
    return { id: args.id, written, ignored };
  }
}

/** The LinuxResources object runc builds from its flags (update.go: only the flags given), each
 * value checked under the flag's own name. A 0, which the JSON form takes as "leave it" (runc's
 * rule), would change nothing here: refused, as a flag given is a change asked for. */
function fromFlags(f: { memory?: string; 'pids-limit'?: number; 'cpu-quota'?: number; 'cpu-period'?: number }): Record<string, Record<string, number>> {
  const r: Record<string, Record<string, number>> = {};
  const check = (flag: string, n: number | undefined, ok: (n: number) => boolean, want: string): void => {
    if (n === undefined || (Number.isSafeInteger(n) && ok(n))) return;
    throw new BvisorError('BV_USAGE', `--${flag} ${n}: ${n === 0 ? 'a 0 would leave the limit as it is' : 'out of range'}`, { hint: `--${flag} takes ${want}` });
  };
  check('pids-limit', f['pids-limit'], (n) => n > 0 || n === -1, 'a number of tasks above 0 (or -1, none)');
  check('cpu-quota', f['cpu-quota'], (n) => n >= 1000 || n === -1, 'microseconds, at least 1000 (or -1, none)');
  check('cpu-period', f['cpu-period'], (n) => n >= 1000 && n <= 1_000_000, 'microseconds from 1000 to 1000000');
  if (f.memory !== undefined) {
    // -1 is runc's "no limit"; update refuses it as a raise, saying so.
    const bytes = f.memory === '-1' ? -1 : parseSize(f.memory);
    if (bytes === 0) throw new BvisorError('BV_USAGE', `--memory ${f.memory}: a 0 would leave the limit as it is`, { hint: '--memory takes a size above 0 (or -1, none)' });
    if (bytes === null) {
      const meant = sizeMeant(f.memory);
      throw new BvisorError('BV_USAGE', `--memory ${f.memory} is not a size`, { hint: meant.length ? `did you mean ${meant.join(' or ')}?` : 'bytes, or a number with Ki, Mi, Gi (powers of 1024) or K, M, G (powers of 1000)' });
    }
    if (bytes > 0 && bytes < LIMIT_BOUNDS.memory.min) throw new BvisorError('BV_USAGE', `--memory ${f.memory}: out of range`, { hint: `--memory takes a size of at least ${formatSize(LIMIT_BOUNDS.memory.min)}, the least limits.memory takes (or -1, none)` });
    r.memory = { limit: bytes };
  }
  if (f['pids-limit'] !== undefined) r.pids = { limit: f['pids-limit'] };
  if (f['cpu-quota'] !== undefined) r.cpu = { quota: f['cpu-quota'], ...(f['cpu-period'] !== undefined ? { period: f['cpu-period'] } : {}) };
  return r;
}
