// Landlock's denials from the kernel's audit records (Linux 6.15+, landlock ABI 7): the stream the
// shim's reader (native-shim/src/audit.h) forwards, decoded, narrowed to this run's landlock
// domain, and each denial tied to the clause that refused it with the manifest line that would
// allow it. Record formats: Documentation/admin-guide/LSM/landlock.rst (AUDIT_LANDLOCK_ACCESS
// "domain=… blockers=… path=… dev=… ino=…", AUDIT_LANDLOCK_DOMAIN "domain=… status=allocated
// mode=… pid=… uid=… exe=… comm=…") and the SYSCALL record of the same event (pid=, syscall=,
// exit=). Pure: the records, the plan and the run's start come in as arguments.
import type { Denial, DenialSource, LaunchInputs } from '../contract/generated/types.js';
import type { SourceDenials } from './denials.js';
import { syscallName } from './seccomp/denials.js';
import type { Arch } from './seccomp/compile.js';
import { coveringGrant, under } from './layout.js';
import { grantAllow, widenAccess } from './access.js';

export const AUDIT_END = 0;
export const AUDIT_SYSCALL = 1300;
export const AUDIT_LANDLOCK_ACCESS = 1423;
export const AUDIT_LANDLOCK_DOMAIN = 1424;
/** Distinct denials the report lists (the rest are counted in total). */
export const MAX_LANDLOCK_LISTED = 64;

export interface AuditRecord {
  type: number;
  /** Wall-clock time of the event, ms since the epoch (audit(SECONDS.MILLIS:SERIAL)). */
  ms: number;
  serial: number;
  fields: Record<string, string>;
}

/** The reader's last record: how it ended. */
export interface AuditEnd {
  /** 1: the barrier's record arrived (nothing of the run can still be in flight); 0: not within
   * the timeout; 2: the barrier could not run. */
  barrier: number;
  /** Times the socket's buffer overflowed (records lost). */
  overflows: number;
  /** Records past the reader's byte cap (counted, not forwarded). */
  dropped: number;
  forwarded: number;
}

/** Fields whose unquoted value is a hex-encoded string (audit_log_untrustedstring encodes a
 * string that holds a space, a quote or a control character). */
const STRING_FIELDS = new Set(['path', 'exe', 'comm', 'ocomm', 'name']);

function hexString(v: string): string {
  const bytes = new Uint8Array(v.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(v.slice(2 * i, 2 * i + 2), 16);
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

/** key=value pairs of one record's text after "audit(…): ". */
export function parseAuditText(type: number, text: string): AuditRecord | null {
  const head = /^audit\((\d+)\.(\d+):(\d+)\):\s?/.exec(text);
  if (!head) return null;
  const fields: Record<string, string> = {};
  const re = /([a-z_]+)=("[^"]*"|\S+)/g;
  const body = text.slice(head[0].length);
  for (let m = re.exec(body); m; m = re.exec(body)) {
    const [, key, raw] = m as unknown as [string, string, string];
    if (key in fields) continue; // the first occurrence (a record never repeats a key it means)
    if (raw.startsWith('"')) fields[key] = raw.slice(1, -1);
    else if (STRING_FIELDS.has(key) && /^([0-9A-F]{2})+$/.test(raw)) fields[key] = hexString(raw);
    else fields[key] = raw;
  }
  return { type, ms: Number(head[1]) * 1000 + Number(head[2]), serial: Number(head[3]), fields };
}

/** The reader's stream: { u32 type; u32 len; text } records, then END (audit.h). */
export function decodeAuditStream(buf: Uint8Array): { records: AuditRecord[]; end: AuditEnd | null } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: AuditRecord[] = [];
  let end: AuditEnd | null = null;
  const dec = new TextDecoder('utf-8', { fatal: false });
  for (let o = 0; o + 8 <= buf.length; ) {
    const type = dv.getUint32(o, true);
    const len = dv.getUint32(o + 4, true);
    if (o + 8 + len > buf.length) break; // a cut record: the reader died mid-write
    if (type === AUDIT_END && len >= 16) {
      end = { barrier: dv.getUint32(o + 8, true), overflows: dv.getUint32(o + 12, true), dropped: dv.getUint32(o + 16, true), forwarded: dv.getUint32(o + 20, true) };
    } else {
      const r = parseAuditText(type, dec.decode(buf.subarray(o + 8, o + 8 + len)));
      if (r) records.push(r);
    }
    o += 8 + len;
  }
  return { records, end };
}

/**
 * This run's domain: the one whose creator is the launched child (its pid, as the host sees it).
 * The child restricts itself once, before exec; a workload that nests a domain of its own in the
 * same process makes a younger one, and domain ids only grow, so the smallest is ours. Only a
 * domain that denied something has a record: null when ours denied nothing.
 */
export function runDomain(records: readonly AuditRecord[], childPid: number): string | null {
  let best: bigint | null = null;
  let id: string | null = null;
  for (const r of records) {
    if (r.type !== AUDIT_LANDLOCK_DOMAIN || r.fields.status !== 'allocated' || Number(r.fields.pid) !== childPid) continue;
    const d = r.fields.domain;
    if (!d || !/^[0-9a-f]+$/i.test(d)) continue;
    const v = BigInt(`0x${d}`);
    if (best === null || v < best) {
      best = v;
      id = d;
    }
  }
  return id;
}

const DEVICE_BLOCKERS = new Set(['fs.make_char', 'fs.make_block', 'fs.ioctl_dev']);
const WRITE_BLOCKERS = new Set(['fs.write_file', 'fs.truncate', 'fs.remove_dir', 'fs.remove_file', 'fs.make_char', 'fs.make_dir', 'fs.make_reg', 'fs.make_sock', 'fs.make_fifo', 'fs.make_block', 'fs.make_sym', 'fs.refer']);

/** The access word a set of filesystem blockers needs, on top of `base`. */
function neededAccess(blockers: readonly string[], base?: string): string {
  return widenAccess(base, { write: blockers.some((x) => WRITE_BLOCKERS.has(x)), exec: blockers.includes('fs.execute') });
}

export interface LandlockAuditInput {
  records: readonly AuditRecord[];
  end: AuditEnd | null;
  /** The launched child's pid (the domain's creator). */
  childPid: number;
  /** The random part of the run's marker directory (launch.h ll_marker_fd): the marker's record
   * (fs.make_block in that directory, before exec) names the run's domain. null: identify the
   * domain by its creator's pid instead (a run without a marker). */
  token?: string | null;
  launch: Pick<LaunchInputs, 'filesystem' | 'network'>;
  arch: Arch;
  /** The run's start (report startedAt), ms since the epoch: atMs is counted from it. */
  startedAtMs: number;
  /** The audit subsystem's lost counter before and after the run (AUDIT_GET), when read. */
  lostBefore: number | null;
  lostAfter: number | null;
  /** errno names (-13 → EACCES), from the platform. */
  errnoName: (negErrno: number) => string;
}

export const LANDLOCK_AUDIT_HOW = 'landlock:audit (the kernel\'s AUDIT_LANDLOCK_ACCESS records, read from the audit READLOG multicast group; the host\'s audit configuration unchanged; unseen: processes started by bvisor exec, which restrict themselves without the log flag)';

const quote = (s: string): string => JSON.stringify(s);

/** One denial per (blockers, object), repeats counted, in the order first seen. */
export function landlockAuditDenials(a: LandlockAuditInput): SourceDenials {
  const isMarker = (r: AuditRecord): boolean => !!a.token && r.type === AUDIT_LANDLOCK_ACCESS && (r.fields.path ?? '').includes(a.token);
  const marker = a.token ? a.records.find(isMarker) : undefined;
  const domain = a.token ? (marker?.fields.domain ?? null) : runDomain(a.records, a.childPid);
  const syscalls = new Map<number, AuditRecord>();
  for (const r of a.records) if (r.type === AUDIT_SYSCALL) syscalls.set(r.serial, r);
  const byKey = new Map<string, Denial>();
  let total = 0;
  for (const r of a.records) {
    if (r.type !== AUDIT_LANDLOCK_ACCESS || domain === null || r.fields.domain !== domain || isMarker(r)) continue;
    total++;
    const blockers = (r.fields.blockers ?? '').split(',').filter(Boolean);
    const sc = syscalls.get(r.serial);
    const pid = sc?.fields.pid !== undefined ? Number(sc.fields.pid) : null;
    const nr = sc?.fields.syscall !== undefined ? Number(sc.fields.syscall) : null;
    const call = nr !== null && Number.isInteger(nr) ? syscallName(a.arch, nr) : null;
    const exit = sc?.fields.exit !== undefined ? Number(sc.fields.exit) : NaN;
    const scope = blockers.some((b) => b.startsWith('scope.'));
    const errno = Number.isInteger(exit) && exit < 0 ? a.errnoName(exit) : scope ? 'EPERM' : 'EACCES';
    const atMs = Math.max(0, r.ms - a.startedAtMs);
    const base = { errno, observedBy: 'landlock:audit', count: 1, atMs, pid, signal: null as string | null, port: null as number | null, path: null as string | null };
    let d: Denial;
    if (blockers.some((b) => b.startsWith('fs.'))) {
      const p = r.fields.path ?? '?';
      const what = `${call ?? 'access'}(${quote(p)}): ${blockers.join(', ')}`;
      const device = blockers.filter((b) => DEVICE_BLOCKERS.has(b));
      if (device.length) {
        // No access word grants these: a workload never makes device nodes nor drives devices
        // beyond the few /dev entries bvisor provides.
        d = { ...base, kind: 'filesystem', clause: 'filesystem', what, path: p, rule: `no grant allows ${device.join(', ')} (device nodes and device ioctls are never granted)`, allow: null };
      } else if (p === '/proc' || p.startsWith('/proc/')) {
        // The run's own procfs: its pids are the workload's (the path names one); the grant
        // that covers any of it is /proc's.
        const shown = p.replace(/^\/proc\/\d+(?=\/|$)/, '/proc/<pid>');
        d = { ...base, kind: 'filesystem', clause: 'filesystem', what: `${call ?? 'access'}(${quote(shown)}): ${blockers.join(', ')}`, path: shown, rule: 'no grant covers /proc (the run\'s own procfs is mounted, but landlock allows nothing in it without a grant)', allow: grantAllow('/proc', neededAccess(blockers)) };
      } else if (!coveringGrant(p, a.launch.filesystem) && a.launch.filesystem.some((r) => r.target !== p && under(r.target, p)) && blockers.every((b) => b === 'fs.read_dir')) {
        // A directory of the built root that only holds grants' mount points (/, /var…): no grant
        // lists it, and granting it would grant everything beneath it on the host.
        d = { ...base, kind: 'filesystem', clause: 'filesystem', what, path: p, rule: `${p} holds only the mount points of the grants beneath it; listing it is not granted`, allow: null };
      } else {
        const g = coveringGrant(p, a.launch.filesystem);
        // make_*, remove_* and refer name the directory changed; read_file, execute the file.
        const need = neededAccess(blockers, g?.access);
        d = g
          ? { ...base, kind: 'filesystem', clause: g.clause, what, path: p, rule: `${g.target} is granted ${g.access}`, allow: grantAllow(g.path, need, g.clause) }
          : { ...base, kind: 'filesystem', clause: 'filesystem', what, path: p, rule: `no grant covers ${p}`, allow: p === '?' ? null : grantAllow(p, need) };
      }
    } else if (blockers.some((b) => b.startsWith('net.'))) {
      const connect = blockers.includes('net.connect_tcp');
      const port = Number(connect ? r.fields.dest : r.fields.src);
      const n = a.launch.network;
      const what = `${call ?? (connect ? 'connect' : 'bind')}(port ${Number.isInteger(port) ? port : '?'}): ${blockers.join(', ')}`;
      if (connect && Number.isInteger(port)) {
        const ports = [...new Set([...n.connect, port])].sort((x, y) => x - y);
        d = { ...base, kind: 'network', clause: 'network', what, port, rule: `network: connect is limited to ports ${n.connect.join(', ') || '(none)'} (landlock)`, allow: `network: { connect: [${ports.join(', ')}] }` };
      } else {
        d = { ...base, kind: 'network', clause: 'network', what, port: Number.isInteger(port) ? port : null, rule: `network: ${blockers.join(', ')} is not granted (landlock)`, allow: n.mode === 'ports' && Number.isInteger(port) && !connect && blockers.includes('net.bind_tcp') ? `network: { connect: [${n.connect.join(', ')}], bind: [${[...new Set([...n.bind, port])].sort((x, y) => x - y).join(', ')}] }` : null };
      }
    } else {
      // scope.signal, scope.abstract_unix_socket: the boundary's isolation, which no clause lifts.
      const target = r.fields.opid ? ` to pid ${r.fields.opid}${r.fields.ocomm ? ` (${r.fields.ocomm})` : ''}` : r.fields.path ? ` ${quote(r.fields.path)}` : '';
      d = { ...base, kind: 'syscall', clause: 'isolate', what: `${call ?? 'access'}${target}: ${blockers.join(', ')}`, rule: `landlock scopes the workload (${blockers.join(', ')}): it cannot reach processes or abstract sockets outside its boundary`, allow: null };
    }
    const key = `${d.clause}|${blockers.join(',')}|${d.path ?? ''}|${d.port ?? ''}|${r.fields.opid ?? ''}`;
    const seen = byKey.get(key);
    if (seen) seen.count++;
    else byKey.set(key, d);
  }
  const items = [...byKey.values()];
  const notes: string[] = [];
  if (a.token && !marker) notes.push('the run\'s marker record did not arrive, so no record could be told to be this run\'s: none is listed');
  const e = a.end;
  if (!e) notes.push('the reader ended without its last record: later denials may be missing');
  else {
    if (e.barrier === 0) notes.push('the barrier record did not arrive in time: the last denials may be missing');
    if (e.barrier === 2) notes.push('the barrier could not run: the last denials may be missing');
    if (e.overflows > 0) notes.push(`the socket overflowed ${e.overflows} time(s): records were lost`);
    if (e.dropped > 0) notes.push(`${e.dropped} record(s) past the reader's cap were not read`);
  }
  if (a.lostBefore !== null && a.lostAfter !== null && a.lostAfter > a.lostBefore) notes.push(`the kernel's audit lost counter rose by ${a.lostAfter - a.lostBefore} during the run (rate or backlog limits): records may be missing`);
  const source: DenialSource = { observed: true, how: notes.length ? `${LANDLOCK_AUDIT_HOW}; ${notes.join('; ')}` : LANDLOCK_AUDIT_HOW, notObserved: null };
  return { source, items: items.slice(0, MAX_LANDLOCK_LISTED), total, truncated: items.length > MAX_LANDLOCK_LISTED || (e?.dropped ?? 0) > 0 };
}
