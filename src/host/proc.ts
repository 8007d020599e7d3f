// Processes named by pid and start time (field 22 of /proc/<pid>/stat), so a recycled pid is
// never taken for the process that was recorded.
import { readFileSync, readdirSync } from 'node:fs';
import type { ProcRef } from '../contract/generated/types.js';

/** The fields of /proc/<pid>/stat after comm (proc(5): the first is field 3, the state), or null
 * when the process is gone (ENOENT, or ESRCH mid-read). Any other failure to read is thrown. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // comm may hold spaces and parentheses: fields start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw e;
  }
}

/** Start time of a process, or null when it is gone (or its /proc cannot be read). */
export function startTime(pid: number): string | null {
  try {
    return statFields(pid)?.[19] ?? null;
  } catch {
    return null;
  }
}

/** A process's state letter (field 3 of /proc/<pid>/stat, proc(5): R, S, D, Z, X…), or null when
 * it is gone. Any other failure to read is thrown: it says nothing. */
export function procState(pid: number): string | null {
  return statFields(pid)?.[0] ?? null;
}

/** A process's parent (field 4 of /proc/<pid>/stat), or null when it is gone. */
export function parentOf(pid: number): number | null {
  const f = statFields(pid);
  return f ? Number(f[1]) : null;
}

export function procRef(pid: number): ProcRef | null {
  const st = startTime(pid);
  return st === null ? null : { pid, startTime: st };
}

/** Whether the recorded process still runs (a zombie has exited; only its parent's wait is missing). */
export function alive(ref: ProcRef | null): boolean {
  if (!ref) return false;
  if (startTime(ref.pid) !== ref.startTime) return false;
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${ref.pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * The processes of process group `pgrp` that descend from `root` (by their parents' chain, as
 * /proc has it now), `root` included when it is in the group. A process that left the chain
 * (reparented outside `root`'s tree) is not found. One scan of /proc.
 */
export function groupDescendants(pgrp: number, root: number): number[] {
  const parent = new Map<number, number>();
  const inGroup: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const f = statFields(pid);
    if (!f) continue;
    parent.set(pid, Number(f[1]));
    if (Number(f[2]) === pgrp) inGroup.push(pid);
  }
  return inGroup.filter((pid) => {
    for (let p: number | undefined = pid, n = 0; p !== undefined && p > 1 && n < 100_000; p = parent.get(p), n++) if (p === root) return true;
    return false;
  });
}

/** This process's process group (field 5 of /proc/self/stat). */
export function ownGroup(): number {
  return Number(statFields(process.pid)![2]);
}

