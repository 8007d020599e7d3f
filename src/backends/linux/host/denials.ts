// Holding the seccomp listener for launches whose parent is this process (bvisor run, the API):
// the shim's thread answers each denied call at once (-EPERM, as the plain filter would) and
// writes a record to a pipe this side reads; at the end the records become report entries
// (core/seccomp/denials.ts). Containers' listeners are held by their monitor instead, which
// writes the same records to STATE_DIR/denials (readMonitorDenials).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { DenialSource, Denial } from '../../../contract/generated/types.js';
import { shim } from '../ffi/shim.js';
import { errnoName } from '../../../host/facts.js';
import { decodeNotifyRecords, seccompDenials, stringArgTable, MAX_LISTED, type NotifyEnd, type NotifyRecord } from '../../../core/seccomp/denials.js';
import type { Policy } from '../../../core/seccomp/policy.js';
import type { Arch } from '../../../core/seccomp/compile.js';
import { delay } from '../../../host/timers.js';

export interface SeccompDenials {
  source: DenialSource;
  items: Denial[];
  total: number;
  truncated: boolean;
  /** Observe mode (bvisor learn, run --explain): the calls let through, in order, and the
   * CLOCK_MONOTONIC time the workload was released (their time base); absent otherwise. */
  observed?: NotifyRecord[];
  observedSince?: bigint | null;
}

/** Observe mode (bvisor learn): more calls notify than the deny rows; the holder answers each by
 * running the plain deny program (see bv_notifier_observe). */
export interface ObserveMode {
  syscalls: readonly string[];
  /** The policy's program without notification, encoded (8 bytes per instruction). */
  denyProgram: Uint8Array;
}
/** Records an observing holder writes before it only counts. */
export const MAX_OBSERVED_RECORDS = 200_000;

/** Records the holder writes before it only counts (the report lists MAX_LISTED distinct ones). */
export const MAX_RECORDS = 256;
const HOW = 'seccomp:user-notif (the deny rows ask bvisor, which answers EPERM as the filter would; unseen: calls a filter the workload added answers first, calls an OCI profile denies (its own answer), and processes started by bvisor exec)';

/** The "nr:mask,…" argument of bvmonitor, and the byte table of the shim's thread. */
export function stringArgSpec(policy: Policy, arch: Arch, observe: readonly string[] = []): { spec: string; mask: Uint8Array } {
  const table = stringArgTable(policy, arch, observe);
  const mask = new Uint8Array(table.reduce((m, [nr]) => Math.max(m, nr + 1), 0));
  for (const [nr, bits] of table) mask[nr] = bits;
  return { spec: table.map(([nr, bits]) => `${nr}:${bits}`).join(','), mask };
}

const EPIPE = osConstants.errno.EPIPE;

export function notObservedSeccomp(why: string): SeccompDenials {
  return { source: { observed: false, how: null, notObserved: why }, items: [], total: 0, truncated: false };
}

function fromRecords(bytes: Uint8Array, policy: Policy, arch: Arch, t0Ns: bigint | null, counts: { total: number; dropped: number; error: number } | null): SeccompDenials {
  const { records, end, counts: perNr } = decodeNotifyRecords(bytes);
  // The holder never got a listener: the child hands it over right after its filter, before
  // exec, so the socket ends without one only for a launch that failed before exec; any other
  // errno is a listener that came and could not be received (Node's descriptor table full).
  if (!counts && end && !end.held) {
    const why = end.why === 1 ? 'no listener came from the child (stopped before it came)' : end.why === EPIPE ? 'no listener came from the child (EPIPE: the socket ended without one)' : `the listener could not be received (${errnoName(-end.why)})`;
    return notObservedSeccomp(`${why}; denied calls are answered ENOSYS by the kernel`);
  }
  const c: NotifyEnd | null = counts ? { total: counts.total, dropped: counts.dropped, why: counts.error, held: true } : end;
  const { items, distinct } = seccompDenials(records, policy, arch, t0Ns, perNr);
  const total = c ? Math.max(c.total, records.length) : records.length;
  // A listener that failed mid-run: the filter answered ENOSYS from then on (still denied), but
  // what was attempted is no longer seen; the source says so rather than claim a full list.
  const broken = c && c.why > 1 ? `the listener failed (${errnoName(-c.why)}); later denials were answered ENOSYS by the kernel and not observed` : null;
  const denied = records.filter((r) => r.kind === 'denied').length;
  const observed = records.filter((r) => r.kind === 'observed');
  return {
    source: broken ? { observed: true, how: `${HOW}; ${broken}`, notObserved: null } : { observed: true, how: HOW, notObserved: null },
    items,
    // With observed calls in the stream, the holder's total counts both kinds.
    total: observed.length ? denied : total,
    truncated: distinct > MAX_LISTED || (c !== null && c.dropped > 0),
    ...(observed.length ? { observed, observedSince: t0Ns } : {}),
  };
}

/** Reads a pipe a shim thread writes (its records) into `chunks` until the thread closes it;
 * resolves then, or on an error (what arrived stays). Takes ownership of fd. */
export function collectPipe(fd: number, chunks: Buffer[]): Promise<void> & { destroy(): void } {
  const sock = new Socket({ fd, readable: true, writable: false });
  const p = new Promise<void>((resolve) => {
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => resolve());
    sock.on('close', () => resolve());
    sock.on('error', () => resolve());
  });
  // A caller that gives up waiting closes our end: nothing of it may keep the process alive.
  return Object.assign(p, { destroy: () => sock.destroy() });
}

/** The shim's holder thread for one launch. It is started before the workload is ready, on the
 * parent's end of the sync socket (the thread takes a duplicate): the child sends its listener
 * there right after its filter, before exec, and the thread holds it from then on. finish()
 * returns once the filter has no task left (the thread ends by itself) or, after `graceMs`,
 * stops it. */
export class DenialHolder {
  private chunks: Buffer[] = [];
  private ended: Promise<void>;
  private stopW: number;
  /** CLOCK_MONOTONIC of the go byte: denials are timed from it (setTimeBase). */
  private t0Ns = 0n;
  private constructor(outR: number, stopW: number, private readonly policy: Policy, private readonly arch: Arch) {
    this.stopW = stopW;
    this.ended = collectPipe(outR, this.chunks);
  }

  /** Starts the thread on `sock` (which stays the caller's); throws an Error naming what failed
   * (pipe2, or the thread), and the launcher then fails the launch. */
  static start(sock: number, policy: Policy, arch: Arch, observe: ObserveMode | null = null, secrets: readonly string[] = []): DenialHolder {
    const s = shim();
    const out = new Int32Array(2);
    const stop = new Int32Array(2);
    let rc = s.bv_pipe(out, 1, 1);
    if (rc < 0) throw new Error(`pipe2: ${errnoName(rc)}`);
    rc = s.bv_pipe(stop, 1, 1);
    if (rc < 0) {
      for (const fd of out) s.bv_close(fd);
      throw new Error(`pipe2: ${errnoName(rc)}`);
    }
    const { mask } = stringArgSpec(policy, arch, observe?.syscalls ?? []);
    const prog = observe ? observe.denyProgram : null;
    // The thread copies the values and wipes its copy when it ends; ours is wiped at once.
    const values = secrets.length ? Buffer.concat(secrets.map((v) => Buffer.from(`${v}\0`, 'utf8'))) : null;
    rc = s.bv_notify_thread(sock, out[1]!, stop[0]!, mask, mask.length, observe ? MAX_OBSERVED_RECORDS : MAX_RECORDS, prog, prog ? prog.length / 8 : 0, values, values?.length ?? 0, secrets.length);
    values?.fill(0);
    if (rc < 0) {
      for (const fd of [...out, ...stop]) s.bv_close(fd);
      throw new Error(`the holder thread: ${errnoName(rc)}`);
    }
    // out[1] and stop[0] are the thread's now (and its duplicate of sock).
    return new DenialHolder(out[0]!, stop[1]!, policy, arch);
  }

  setTimeBase(t0Ns: bigint): void {
    this.t0Ns = t0Ns;
  }

  async finish(graceMs = 2000): Promise<SeccompDenials> {
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([this.ended.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    // Ask the thread to end (a task still holds the filter: a zombie nobody reaped yet); it
    // writes its counts and closes the pipe.
    if (this.stopW >= 0) shim().bv_close(this.stopW);
    this.stopW = -1;
    if (late) await Promise.race([this.ended, delay(1000, undefined)]);
    return fromRecords(new Uint8Array(Buffer.concat(this.chunks)), this.policy, this.arch, this.t0Ns, null);
  }

  /** Stops the thread without waiting (an aborted launch). */
  abort(): void {
    if (this.stopW >= 0) shim().bv_close(this.stopW);
    this.stopW = -1;
  }
}

/** exit.json's counts (bvmonitor's write_exit). denialsError -1: not observed; 0: fine. */
export interface MonitorDenialCounts {
  denialsTotal?: number;
  denialsKept?: number;
  denialsError?: number;
  startedMonoNs?: number | string;
}

/** A container's denials, from its monitor's STATE_DIR/denials and exit.json counts; null when
 * the monitor did not observe them (an older monitor, or denials off). */
export function readMonitorDenials(stateDir: string, exit: MonitorDenialCounts | null, policy: Policy, arch: Arch): SeccompDenials | null {
  if (!exit || exit.denialsError === undefined || exit.denialsError === -1) return null;
  let bytes: Uint8Array = new Uint8Array(0);
  try {
    bytes = new Uint8Array(readFileSync(join(stateDir, 'denials')));
  } catch {
    // no file: nothing was denied before the disk refused it; the counts still say how many
  }
  const total = exit.denialsTotal ?? 0;
  const kept = exit.denialsKept ?? 0;
  if (exit.denialsError > 0 && total === 0 && kept === 0) {
    return notObservedSeccomp(`the monitor could not hold the listener (${errnoName(-exit.denialsError)}); denied calls were answered ENOSYS by the kernel`);
  }
  const t0 = exit.startedMonoNs === undefined ? null : BigInt(exit.startedMonoNs);
  return fromRecords(bytes, policy, arch, t0, { total, dropped: Math.max(0, total - kept), error: exit.denialsError });
}
