// Waiting on the outside world: a condition polled until it holds, and whether a pid still runs.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls fn every 20 ms until it holds; fails naming `what` after ms. */
export async function until(what: string, fn: () => boolean, ms = 8000): Promise<void> {
  const t = Date.now();
  while (!fn()) {
    if (Date.now() - t > ms) throw new Error(`${what}: not reached within ${ms} ms`);
    await sleep(20);
  }
}

/** This process's children, as the kernel lists them for its main thread (where tests run). */
export function ourChildren(): number[] {
  return readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** Whether pid is a running process (a zombie has exited; only its parent's wait is missing). */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** A process's start time (field 22 of /proc/<pid>/stat), or null when it is gone: with the pid,
 * what tells a process from a later one given the same pid. */
export function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
  } catch {
    return null;
  }
}

/** A process as bvisor records it: pid and start time (field 22 of /proc/<pid>/stat). */
export interface ProcRefLike {
  pid: number;
  startTime: string;
}

/** Whether a recorded process still runs: the same pid with the same start time, not a zombie. */
export function running(ref: ProcRefLike | null | undefined): boolean {
  if (!ref) return false;
  try {
    const stat = readFileSync(`/proc/${ref.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[19] === ref.startTime && f[0] !== 'Z';
  } catch {
    return false;
  }
}

/** This process's descendants now, with their command lines (NUL-separated words), from /proc. */
export function descendants(): Array<{ pid: number; argv: string[] }> {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const mine = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  const out: Array<{ pid: number; argv: string[] }> = [];
  for (const pid of parent.keys()) {
    if (!mine(pid)) continue;
    try {
      out.push({ pid, argv: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean) });
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * Whether a process holds memory it asked the kernel to back with transparent huge pages:
 * madvise(MADV_HUGEPAGE) marks the mapping `hg` in /proc/<pid>/smaps (proc(5), "VmFlags").
 */
export function hugepageAdvised(pid: number): boolean {
  return /^VmFlags:.* hg( |$)/m.test(readFileSync(`/proc/${pid}/smaps`, 'utf8'));
}

/** The host's transparent huge page mode (the bracketed word of the sysfs file), or null. */
export function thpMode(): string | null {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The target of the link at `path` ('' when it cannot be read: the process gone, the fd closed). */
export function linkOrEmpty(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

/** Whether process `pid` has `path` open (/proc/PID/fd): a flock(2) waiter holds the lock file. */
export function holdsOpen(pid: number, path: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => linkOrEmpty(`/proc/${pid}/fd/${fd}`) === path);
  } catch {
    return false;
  }
}
