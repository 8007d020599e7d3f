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

/**
 * Whether process `pid` has exited: gone from /proc, or its leader a zombie (or dead) with no
 * other thread of its group left running. A leader that ended by exit(2) alone, not exit_group,
 * is a zombie while the group's other threads run on (an attack in December: `State: Z` taken for
 * the end let a workload outlive its sealed report): that process runs. A failure to read other
 * than its being gone is thrown.
 */
export function hasExited(pid: number): boolean {
  const state = procState(pid);
  if (state === null) return true;
  if (state !== 'Z' && state !== 'X') return false;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return true;
    throw e;
  }
  for (const tid of tids) {
    let st: string;
    try {
      st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ESRCH') continue; // that thread is gone
      throw e;
    }
    const letter = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    if (letter !== 'Z' && letter !== 'X') return false;
  }
  return true;
}

/** Whether the recorded process still runs (one that has exited, hasExited, is a zombie at most:
 * only its parent's wait is missing). Unreadable is taken for gone. */
export function alive(ref: ProcRef | null): boolean {
  if (!ref) return false;
  if (startTime(ref.pid) !== ref.startTime) return false;
  try {
    return !hasExited(ref.pid);
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

