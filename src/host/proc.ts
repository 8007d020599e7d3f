// Processes named by pid and start time (field 22 of /proc/<pid>/stat), so a recycled pid is
// never taken for the process that was recorded.
import { readFileSync, readdirSync } from 'node:fs';
import type { ProcRef } from '../contract/generated/types.js';

/** The fields of /proc/<pid>/stat after comm (proc(5): the first is field 3, the state), or null
 * when the process is gone (ENOENT, or ESRCH mid-read). Any other failure to read is thrown. */
function statFields(pid: number): string[] | null {
  return statAt(`/proc/${pid}`);
}

/** The same, of the task whose directory is `dir` (/proc/<pid>, /proc/<pid>/task/<tid>). */
function statAt(dir: string): string[] | null {
  try {
    const stat = readFileSync(`${dir}/stat`, 'latin1');
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

/** Start time of a process, or null only when it is gone (ENOENT, ESRCH): any other failure to
 * read /proc is thrown, never taken for its end (what judges an id's holders needs that). */
export function startTimeStrict(pid: number): string | null {
  return statFields(pid)?.[19] ?? null;
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

/** Whether a task (the directory /proc/<pid> or /proc/<pid>/task/<tid>) is ending: a zombie or
 * dead (state Z, X), in its exit already (PF_EXITING, 0x4 in field 9 of its stat, proc(5) and
 * include/linux/sched.h), or with SIGKILL pending (bit 9, 0x100, of SigPnd or ShdPnd in its
 * status: a group's fatal signal is queued to every thread before any runs it). null: gone. A
 * failure to read other than its being gone is thrown. */
function taskEnding(base: string): boolean | null {
  const f = statAt(base);
  if (f === null) return null;
  if (!running(f)) return true;
  let status: string;
  try {
    status = readFileSync(`${base}/status`, 'latin1');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw e;
  }
  return /^(SigPnd|ShdPnd):\s*[0-9a-f]*[13579bdf][0-9a-f]{2}$/m.test(status);
}

/**
 * Whether process `pid` has exited, or is exiting: gone from /proc, or every thread of its group
 * ending (taskEnding). A leader that ended by exit(2) alone, not exit_group, is a zombie while the
 * group's other threads run on (an attack in December: `State: Z` taken for the end let a
 * workload outlive its sealed report): that process runs. A failure to read other than its being
 * gone is thrown.
 */
export function hasExited(pid: number): boolean {
  const f = statFields(pid);
  if (f === null) return true;
  if (running(f)) return false;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return true;
    throw e;
  }
  // A thread gone meanwhile (null) has ended.
  return tids.every((tid) => taskEnding(`/proc/${pid}/task/${tid}`) !== false);
}

/** Whether the task whose stat fields (statAt: after comm, state ppid pgrp session tty_nr tpgid
 * flags…) these are is neither a zombie nor in its exit (PF_EXITING). Of a leader: a running
 * process (a signal pending to it is not an exit yet), known from one read, the common case (state
 * derivation asks it of every live workload). */
function running(f: string[]): boolean {
  return f[0] !== 'Z' && f[0] !== 'X' && (Number(f[6]) & 0x4) === 0;
}

/** Whether the recorded process still runs (one that has exited, hasExited, is a zombie at most:
 * only its parent's wait is missing). Unreadable is taken for gone. */
export function alive(ref: ProcRef | null): boolean {
  if (!ref) return false;
  try {
    const f = statFields(ref.pid);
    if (f === null || f[19] !== ref.startTime) return false;
    return running(f) || !hasExited(ref.pid);
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

