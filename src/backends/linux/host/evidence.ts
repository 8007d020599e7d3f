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
  /** The single mapping lines the parent wrote ("0 65534 1"), when there is a user namespace. */
  uidMap?: string;
  gidMap?: string;
  /** The host ids the workload must hold (real, effective, saved, fs), and no supplementary
   * group: checked when bvisor is root, so the workload is never host root or root's group. */
  ids?: { uid: number; gid: number; groups?: readonly number[] };
  /** Namespaces the workload must be in exactly (kind → inode): an engine's network namespace. */
  joined?: Record<string, number>;
  /** The pid that must be the workload's parent, and so the one the kernel gives its exit status
   * to (wait(2)): the launching process, a container's monitor, or the engine an OCI init is
   * handed to. Absent: not recorded. */
  parent?: number;
}

/** /proc/<pid>/{uid,gid}_map, whitespace-normalised, against the one line the plan asked for. */
function mapEvidence(pid: number, which: 'uid_map' | 'gid_map', expected: string): Evidence {
  const source = `/proc/${pid}/${which}`;
  try {
    const v = readFileSync(source, 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).join(' ')).join('; ');
    return { name: which, source, value: v, expected, ok: v === expected };
  } catch {
    return { name: which, source, value: { notObserved: 'process gone before read-back' }, expected };
  }
}

/** Whether the value could not be read (not observed). */
export function unread(e: Evidence): boolean {
  return typeof e.value === 'object' && e.value !== null && 'notObserved' in e.value;
}

/** Evidence that contradicts the plan (ok: false), and evidence that could not be read where a
 * value was expected: either withholds the go byte. */
export function failedEvidence(ev: readonly Evidence[]): Evidence[] {
  return ev.filter((e) => e.ok === false || (e.expected !== undefined && e.expected !== null && unread(e)));
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
  // One pass over the lines ("Name:\tvalue", proc(5)), not one regular expression per field.
  const byName = new Map<string, string>();
  if (status !== null) {
    for (const line of status.split('\n')) {
      const colon = line.indexOf(':');
      if (colon > 0 && !byName.has(line.slice(0, colon))) byName.set(line.slice(0, colon), line.slice(colon + 1).trim());
    }
  }
  return fields.map(([name, expected]) => {
    const v = status === null ? null : (byName.get(name) ?? null);
    // Not read where a value was expected: kept with its expectation, so failedEvidence withholds the go byte.
    return v === null ? { name, source, value: { notObserved: 'process gone before read-back' }, ...(expected === null ? {} : { expected }) } : { name, source, value: v, expected, ok: expected === null ? null : v === expected };
  });
}

/**
 * What cannot change once the child is released: the id maps the parent wrote (a map is written
 * once, user_namespaces(7)) and the namespaces clone3 made (the launch's child calls neither
 * setns nor unshare; an engine's network namespace is entered before clone3). Read right after
 * the release byte, while the child builds its root, so that only what the child changes itself
 * (status, cgroup) is read between its READY and the go byte. The first read of /proc/<pid> also
 * makes its dentry, which is slow for a new process.
 */
export function fixedEvidence(pid: number, expect: EvidenceExpect): Evidence[] {
  const out: Evidence[] = [];
  if (expect.uidMap) out.push(mapEvidence(pid, 'uid_map', expect.uidMap));
  if (expect.gidMap) out.push(mapEvidence(pid, 'gid_map', expect.gidMap));
  for (const ns of NAMESPACES) {
    const theirs = nsInode(pid, ns);
    const ours = nsInode('self', ns);
    const wanted = expect.namespaces.some((n) => NS_OF[n] === ns);
    const source = `/proc/${pid}/ns/${ns}`;
    const joined = expect.joined?.[ns];
    // A joined namespace is exactly the one planned; a requested one differs from ours, an
    // unrequested one equals ours.
    const expected = joined !== undefined ? String(joined) : wanted ? `≠${ours}` : String(ours);
    if (theirs === null) out.push({ name: `ns.${ns}`, source, value: { notObserved: 'process gone before read-back' }, expected });
    else out.push({ name: `ns.${ns}`, source, value: theirs, expected, ok: joined !== undefined ? theirs === joined : wanted ? theirs !== ours : theirs === ours });
  }
  return out;
}

/** The read-back at READY: the child's status (ids, capabilities, no_new_privs), the fixed facts
 * read after its release (fixedEvidence), and its cgroups (it joins v1 leaves itself). */
export function readEvidence(pid: number, expect: EvidenceExpect, fixed: Evidence[] = fixedEvidence(pid, expect)): Evidence[] {
  const four = (n: number): string => [n, n, n, n].join('\t');
  const out = statusEvidence(pid, [
    ['NoNewPrivs', expect.noNewPrivs ? '1' : null],
    ['Seccomp', expect.seccomp ? '2' : null],
    ['CapEff', expect.capEff ?? '0000000000000000'],
    ['CapBnd', null],
    ['Uid', expect.ids ? four(expect.ids.uid) : null],
    ['Gid', expect.ids ? four(expect.ids.gid) : null],
    ['Groups', expect.ids ? (expect.ids.groups ?? []).join(' ') : null],
    // The parent as the kernel has it (proc(5): PPid), from the same read: an init handed to the
    // wrong process has its exit status collected by nobody who reports it.
    ...(expect.parent !== undefined ? [['PPid', String(expect.parent)] as const] : []),
  ]);
  out.push(...fixed);
  try {
    out.push({ name: 'cgroup', source: `/proc/${pid}/cgroup`, value: readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim() });
  } catch {
    out.push({ name: 'cgroup', source: `/proc/${pid}/cgroup`, value: { notObserved: 'process gone before read-back' } });
  }
  return out;
}
