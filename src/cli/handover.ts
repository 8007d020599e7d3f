// The flags by which a caller hands a run its secrets and descriptors (run, create, plan). A
// manifest may reference only these: a bundle cannot help itself to bvisor's environment or to
// descriptors it happens to find open.
import { Flags } from '@oclif/core';
import type { Handover } from '../app/run.js';
import { cliHandedFds } from '../host/fds.js';

export const handoverFlags = {
  secret: Flags.string({ description: 'hand this secret to the run (its value comes from BVISOR_SECRET_<NAME>); repeatable', multiple: true }),
  'preserve-fds': Flags.integer({ description: 'hand descriptors 3..N+2 (after LISTEN_FDS) to the workload, as runc; only ones inherited from the caller (a contiguous run from 3) are handed', min: 0, max: 1024 }),
};

export function handover(flags: { secret?: string[] | undefined; 'preserve-fds'?: number | undefined }): Handover {
  return { secrets: flags.secret ?? [], fds: cliHandedFds(flags['preserve-fds'] ?? 0, process.env, process.pid) };
}
