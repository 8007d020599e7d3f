// The flags by which a caller hands a run its secrets and descriptors (run, create, plan). A
// manifest may reference only these: a bundle cannot help itself to bvisor's environment or to
// descriptors it happens to find open.
import { Flags } from '@oclif/core';
import { resolve } from 'node:path';
import type { Handover } from '../app/run.js';
import { cliHandedFds } from '../host/fds.js';

export const handoverFlags = {
  secret: Flags.string({ description: 'hand this secret to the run (its value comes from BVISOR_SECRET_<NAME>); repeatable', multiple: true }),
  'preserve-fds': Flags.integer({ description: 'hand descriptors 3..N+2 (after LISTEN_FDS) to the workload, as runc; only ones inherited from the caller (a contiguous run from 3) are handed', min: 0, max: 1024 }),
};

/** What run and create are told besides (--no-denials, --no-landlock-audit, --outputs-to), as
 * the options of runBundle and createContainer. */
export function launchChoices(flags: { 'no-denials': boolean; 'no-landlock-audit': boolean; 'outputs-to'?: string | undefined }): { observeDenials?: false; landlockAudit?: false; outputsTo?: string } {
  return { ...(flags['no-denials'] ? { observeDenials: false } : {}), ...(flags['no-landlock-audit'] ? { landlockAudit: false } : {}), ...(flags['outputs-to'] !== undefined ? { outputsTo: resolve(flags['outputs-to']) } : {}) };
}

export function handover(flags: { secret?: string[] | undefined; 'preserve-fds'?: number | undefined }): Handover {
  return { secrets: flags.secret ?? [], fds: cliHandedFds(flags['preserve-fds'] ?? 0, process.env, process.pid) };
}
