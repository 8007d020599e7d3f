// Read-back after launch: what the kernel says about the workload, from /proc/<pid>, compared
// with what the plan asked. Values that could not be read are "not observed", never guessed.
import { readFileSync, readlinkSync } from 'node:fs';
import type { Evidence } from '../../../contract/generated/types.js';

const NAMESPACES = ['user', 'pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup'] as const;
const NS_OF: Record<string, (typeof NAMESPACES)[number]> = { user: 'user', pid: 'pid', mount: 'mnt', net: 'net', ipc: 'ipc', uts: 'uts', cgroup: 'cgroup' };

function nsInode(pid: number | 'self', ns: string): number | null {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${ns}`));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export interface EvidenceExpect {
  namespaces: string[];
  noNewPrivs: boolean;
  seccomp: boolean;
  /** CapEff as 16 hex digits: the kept capabilities, or none. */
  capEff?: string;
}

/** Fields of /proc/<pid>/status (one read), each against its expected value (null: recorded only). */
export function statusEvidence(pid: number, fields: ReadonlyArray<readonly [name: string, expected: string | null]>): Evidence[] {
  const source = `/proc/${pid}/status`;
  let status: string | null = null;
  try {
    status = readFileSync(source, 'utf8');
  } catch {
    // gone already: every field is recorded as not observed
  }
  return fields.map(([name, expected]) => {
    const v = status === null ? null : (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? null);
    return v === null ? { name, source, value: { notObserved: 'process gone before read-back' } } : { name, source, value: v, expected, ok: expected === null ? null : v === expected };
  });
}

export function readEvidence(pid: number, expect: EvidenceExpect): Evidence[] {
  const out = statusEvidence(pid, [
    ['NoNewPrivs', expect.noNewPrivs ? '1' : null],
    ['Seccomp', expect.seccomp ? '2' : null],
    ['CapEff', expect.capEff ?? '0000000000000000'],
    ['CapBnd', null],
  ]);
  for (const ns of NAMESPACES) {
    const theirs = nsInode(pid, ns);
    const ours = nsInode('self', ns);
    const wanted = expect.namespaces.some((n) => NS_OF[n] === ns);
    const source = `/proc/${pid}/ns/${ns}`;
    if (theirs === null) out.push({ name: `ns.${ns}`, source, value: { notObserved: 'process gone before read-back' } });
    // ok: a requested namespace differs from ours; an unrequested one equals ours.
    else out.push({ name: `ns.${ns}`, source, value: theirs, expected: wanted ? `≠${ours}` : String(ours), ok: wanted ? theirs !== ours : theirs === ours });
  }
  try {
    out.push({ name: 'cgroup', source: `/proc/${pid}/cgroup`, value: readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim() });
  } catch {
    out.push({ name: 'cgroup', source: `/proc/${pid}/cgroup`, value: { notObserved: 'process gone before read-back' } });
  }
  return out;
}
