// Sealing and checking run reports. bodyHash = sha256(JCS(body)): any change to any field of the
// body, including key order-independent content, changes the hash.
import type { ReportBody, SealedReport, NotObserved, Witness, RlimitSetting } from '../contract/generated/types.js';
import { contentHash, type Sha256Hex } from './seal.js';
import { clausesOf } from './clause-name.js';

export function sealReport(body: ReportBody, sha256: Sha256Hex): SealedReport {
  return { bvisorVersion: '1', kind: 'bvisor.report', body, bodyHash: contentHash(body, sha256) };
}

export function reportIntact(r: SealedReport, sha256: Sha256Hex): boolean {
  return contentHash(r.body, sha256) === r.bodyHash;
}

export function notObserved(why: string): NotObserved {
  return { notObserved: why };
}

export function witness(unit: Witness['unit'], limit: number | null, observed: number | NotObserved, source?: string): Witness {
  return source === undefined ? { unit, limit, observed } : { unit, limit, observed, source };
}

/**
 * Whether a process that died by `signal` (a name) after `usedMs` of CPU time was ended by
 * RLIMIT_CPU: setrlimit(2) has the kernel send SIGXCPU at the soft limit (seconds) and SIGKILL
 * at the hard one. The kernel compares its tick-sampled CPU time with the limit, while the
 * rusage bvisor reads is the exact runtime (getrusage(2) scales the ticks to it): the two differ
 * by some ticks (time(7): a jiffy is 1 to 10 ms), by more for a workload that sleeps between
 * ticks: a tick charges its whole jiffy to the process running at it. Measured here, busy loops
 * killed at 1 s had run 995 to 999 ms alone on their CPU, but 666 to 924 ms beside programs that
 * ran in bursts on the same one. So where the kernel's own charge was read (`chargedMs`: the
 * process's PROF clock before it was reaped, native-shim/src/cpuclock.h), the signal counts when
 * that reached the limit: exactly the kernel's test. Where it was not (a record written before
 * bvisor read it), when the runtime came within 50 ms or 2 % of the limit, whichever is more. A
 * SIGKILL short of it (the workload's own `kill -9 $$`, an administrator's) is not the limit's.
 */
export function endedByCpuRlimit(rlimit: { soft: number; hard: number } | undefined, signal: string | null, usedMs: number | null, chargedMs: number | null = null): boolean {
  if (!rlimit || usedMs === null) return false;
  const near = (secs: number): boolean => (chargedMs !== null ? chargedMs >= secs * 1000 : usedMs >= secs * 1000 - Math.max(50, secs * 20));
  if (signal === 'SIGKILL') return near(rlimit.hard);
  if (signal === 'SIGXCPU') return near(rlimit.soft);
  return false;
}

/** The rlimit of `resource` that `clause` set, alone or folded with another clause's (the
 * planner's oneRlimitEach names a folded one "a + b"). */
export function rlimitOfClause(rlimits: readonly RlimitSetting[], clause: string, resource: string): RlimitSetting | undefined {
  return rlimits.find((r) => r.resource === resource && clausesOf(r.clause).includes(clause));
}
