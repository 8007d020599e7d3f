// Reading landlock's audit records for launches whose parent is this process (bvisor run, the
// API): the shim's reader thread (native-shim/src/audit.c) joins the audit READLOG multicast
// group before the workload is released, forwards the landlock records to a pipe this side
// reads, and ends with its barrier once the workload has exited; core/landlock-audit.ts turns
// the records into report entries. Nothing here changes the host's audit configuration: when
// audit is off there are no records, and the source says so.
import { chmodSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { DenialSource, LaunchInputs } from '../../../contract/generated/types.js';
import { shim } from '../ffi/shim.js';
import { collectPipe } from './denials.js';
import { errnoName } from '../../../host/facts.js';
import { decodeAuditStream, landlockAuditDenials } from '../../../core/landlock-audit.js';
import { EXPLAIN_INSTEAD, notObservedSource, type SourceDenials } from '../../../core/denials.js';
import type { Arch } from '../../../core/seccomp/compile.js';
import { delay } from '../../../host/timers.js';

/** AUDIT_GET, read only: whether the kernel emits records, and its lost counter. */
export interface AuditStatus {
  enabled: boolean;
  lost: number;
}

/** The audit subsystem's state, or the errno name of why it could not be asked. */
export function auditStatus(): AuditStatus | string {
  const out = new Uint32Array(4);
  return statusOf(shim().bv_audit_status(out), out);
}

/** auditStatus() on a worker thread. The kernel answers AUDIT_GET from a kernel thread it starts
 * for the reply (audit_send_reply), and the request waits for that thread to be made: 0.1-0.4 ms
 * on a busy 2-core machine, which a launch overlaps with its own preparation this way. */
export function auditStatusAsync(): Promise<AuditStatus | string> {
  const out = new Uint32Array(4);
  return new Promise((resolve) => shim().bv_audit_status.async(out, (err: unknown, rc: number) => resolve(err ? String((err as Error).message ?? err) : statusOf(rc, out))));
}

/** How long an answer that says landlock's records cannot be read (audit off, or a lasting
 * AUDIT_GET failure) serves the launches this process begins after it. */
export const AUDIT_ANSWER_REUSE_MS = 250;

/** The audit status a launch decides by, and how long before the launch it was asked. */
export interface LaunchAuditStatus {
  status: AuditStatus | string;
  askedMsAgo: number;
}

/** Why AUDIT_GET fails where it always will on this host: no audit in the kernel
 * (EPROTONOSUPPORT), a network namespace without the audit socket (ECONNREFUSED), no right to
 * ask (EPERM, EACCES). Any other failure (a timeout, no descriptor free) is asked again. */
const LASTING_AUDIT_ERRORS: ReadonlySet<string> = new Set(['EPROTONOSUPPORT', 'ECONNREFUSED', 'EPERM', 'EACCES']);

/**
 * One process's last AUDIT_GET, shared by its launches. Each request makes the kernel start a
 * thread for the reply (auditStatusAsync): on a busy 2-core machine that was 2-8% of an API
 * launch, paid again by every launch of a host where audit stays off. An answer that says audit
 * is off, or that AUDIT_GET fails for a lasting reason, serves every launch begun within
 * `reuseMs` of the request (the report says how old it was). One that says audit is on never
 * serves another launch, which reads the records and needs the lost counter as of its own start;
 * a passing failure, or a request that threw, serves none either.
 */
export class AuditStatusShare {
  private last: { askedAtMs: number; answer: Promise<AuditStatus | string> } | null = null;
  /** The answer that settled last (null: none yet). */
  private lastSettled: AuditStatus | string | null = null;

  constructor(
    private readonly ask: () => Promise<AuditStatus | string>,
    private readonly nowMs: () => number,
    private readonly reuseMs = AUDIT_ANSWER_REUSE_MS,
  ) {}

  async forLaunch(): Promise<LaunchAuditStatus> {
    const t = this.nowMs();
    const last = this.last;
    // A request still in flight is waited for only where the last answer could be shared (or
    // none has come yet): where audit is on, a launch asks for its own at once.
    if (last && t - last.askedAtMs <= this.reuseMs && (this.lastSettled === null || shareable(this.lastSettled))) {
      const status = await last.answer.catch(() => null);
      if (status !== null && shareable(status)) return { status, askedMsAgo: t - last.askedAtMs };
    }
    const answer = this.ask();
    const mine = { askedAtMs: t, answer };
    this.last = mine;
    answer.then(
      (status) => void (this.lastSettled = status),
      () => undefined,
    );
    try {
      return { status: await answer, askedMsAgo: 0 };
    } catch (e) {
      if (this.last === mine) this.last = null;
      throw e;
    }
  }
}

function shareable(status: AuditStatus | string): boolean {
  return typeof status === 'string' ? LASTING_AUDIT_ERRORS.has(status) : !status.enabled;
}

const shared = new AuditStatusShare(() => auditStatusAsync(), () => performance.now());

/** The audit status for a launch of this process (AuditStatusShare). */
export function auditStatusForLaunch(): Promise<LaunchAuditStatus> {
  return shared.forLaunch();
}

function statusOf(rc: number, out: Uint32Array): AuditStatus | string {
  if (rc < 0) return errnoName(rc);
  return { enabled: out[0]! !== 0, lost: out[1]! };
}

/** Why this host's landlock logs no denials whatever audit's state (ABI < 7), or null. Checked
 * before asking the audit status, which a host with an older ABI need not pay for. */
export function landlockLogsNothing(abi: number): string | null {
  return abi < 7 ? `landlock logs denials from ABI 7 (Linux 6.15, LANDLOCK_RESTRICT_SELF_LOG_*); this host has ABI ${abi}${EXPLAIN_INSTEAD}` : null;
}

/** Why landlock's denials cannot be read on this launch, or null when they can (ABI ≥ 7 and audit
 * on). `askedMsAgo`: how long before the launch the status was asked (a shared answer). */
export function auditUnavailable(abi: number, status: AuditStatus | string, askedMsAgo = 0): string | null {
  const old = landlockLogsNothing(abi);
  if (old) return old;
  const when = askedMsAgo > 0 ? `, asked ${askedMsAgo < 1 ? 'under 1' : Math.round(askedMsAgo)} ms before this launch` : '';
  if (typeof status === 'string') return `the kernel's audit status could not be read (AUDIT_GET: ${status}${when}); bvisor reads landlock's audit records only where audit is on${EXPLAIN_INSTEAD}`;
  if (!status.enabled) return `audit is off on this host (AUDIT_GET enabled=0${when}), so the kernel emits no landlock records; bvisor does not change the host's audit configuration${EXPLAIN_INSTEAD}`;
  return null;
}

/** One launch's reader thread. */
export class LandlockAuditReader {
  private chunks: Buffer[] = [];
  private ended: ReturnType<typeof collectPipe>;
  private constructor(outR: number, private stopW: number, private readonly lostBefore: number, private readonly token: string) {
    this.ended = collectPipe(outR, this.chunks);
  }

  /** Joins the multicast group and starts the thread; a reason string when it cannot. */
  static start(status: AuditStatus, token: string, secrets: readonly string[] = []): LandlockAuditReader | string {
    const s = shim();
    const fd = s.bv_audit_open();
    if (fd < 0) return `the audit READLOG group could not be joined (${errnoName(fd)}; it needs CAP_AUDIT_READ)`;
    const out = new Int32Array(2);
    const stop = new Int32Array(2);
    let rc = s.bv_pipe(out, 1, 1);
    if (rc < 0) {
      s.bv_close(fd);
      return `pipe2: ${errnoName(rc)}`;
    }
    rc = s.bv_pipe(stop, 1, 1);
    if (rc < 0) {
      for (const x of [fd, out[0]!, out[1]!]) s.bv_close(x);
      return `pipe2: ${errnoName(rc)}`;
    }
    // The thread copies the values and wipes its copy when it ends; ours is wiped at once.
    const values = secrets.length ? Buffer.concat(secrets.map((v) => Buffer.from(`${v}\0`, 'utf8'))) : null;
    rc = s.bv_audit_thread(fd, out[1]!, stop[0]!, token, values, values?.length ?? 0, secrets.length);
    values?.fill(0);
    if (rc < 0) {
      for (const x of [fd, ...out, ...stop]) s.bv_close(x);
      return `the reader thread: ${errnoName(rc)}`;
    }
    return new LandlockAuditReader(out[0]!, stop[1]!, status.lost, token);
  }

  /** Tells the thread the workload has exited: it runs its barrier meanwhile (the caller tears
   * down cgroups and collects streams while the barrier's record travels). */
  stop(): void {
    if (this.stopW >= 0) shim().bv_close(this.stopW);
    this.stopW = -1;
  }

  /** Stops the reader if not yet, waits for its barrier, and turns what it read into denials. */
  async finish(a: { childPid: number; launch: Pick<LaunchInputs, 'filesystem' | 'network'>; arch: Arch; startedAtMs: number }): Promise<SourceDenials> {
    this.stop();
    // The barrier waits at most 2 s (BV_AUDIT_BARRIER_MS); the pipe closes right after.
    const done = await Promise.race([this.ended.then(() => true), delay(5000, false)]);
    if (!done) this.ended.destroy(); // a thread that never ends must not hold the process
    const { records, end } = decodeAuditStream(new Uint8Array(Buffer.concat(this.chunks)));
    const after = auditStatus();
    return landlockAuditDenials({ records, end, ...a, token: this.token, lostBefore: this.lostBefore, lostAfter: typeof after === 'string' ? null : after.lost, errnoName });
  }

  abort(): void {
    this.stop();
  }
}


/** exit.json's field (bvmonitor's write_exit): -1 not asked; 0 read; else the errno that stopped it. */
export interface MonitorLandlockCounts {
  landlockError?: number;
}

/**
 * A container's landlock denials, at its seal: what its monitor read into STATE_DIR/landlock
 * (the same stream the shim's thread writes), or why there is nothing. When the monitor was not
 * asked, the reason is the host's as it stands now (audit off, an old ABI), else denials were off.
 */
export function containerLandlock(stateDir: string, exit: MonitorLandlockCounts | null, a: { childPid: number; launch: Pick<LaunchInputs, 'filesystem' | 'network'>; arch: Arch; startedAtMs: number; abi: number }): SourceDenials | DenialSource {
  const err = exit?.landlockError;
  if (err === undefined || err === -1) {
    const why = landlockLogsNothing(a.abi) ?? auditUnavailable(a.abi, auditStatus());
    return notObservedSource(why ?? 'the monitor did not read them (--no-denials or --no-landlock-audit at create, or no landlock domain)');
  }
  if (err > 0) return notObservedSource(`the monitor could not read landlock's audit records (${errnoName(-err)})`);
  let bytes = new Uint8Array(0);
  try {
    bytes = new Uint8Array(readFileSync(join(stateDir, 'landlock')));
  } catch {
    // no file: the monitor said it read, so the END record's absence is reported below
  }
  const { records, end } = decodeAuditStream(bytes);
  return landlockAuditDenials({ records, end, childPid: a.childPid, launch: a.launch, arch: a.arch, startedAtMs: a.startedAtMs, token: markerToken(stateDir), lostBefore: null, lostAfter: null, errnoName });
}

/** The run's landlock marker directory (launch.h ll_marker_fd): where, and its random part. */
export function newMarker(parent: string, prefix: string): { dir: string; token: string } {
  const token = randomBytes(16).toString('hex');
  const dir = join(parent, `${prefix}${token}`);
  // 0711: the child (an unprivileged id) may look up a name in it, never list or write it; the
  // block device it asks for is refused by landlock before any of that matters.
  mkdirSync(dir, { mode: 0o711 });
  chmodSync(dir, 0o711);
  return { dir, token };
}

/** A container's marker token, from its directory in the state directory (ll-<token>). */
function markerToken(stateDir: string): string | null {
  try {
    for (const n of readdirSync(stateDir)) {
      const m = /^ll-([0-9a-f]{32})$/.exec(n);
      if (m) return m[1]!;
    }
  } catch {
    // no state directory: no token
  }
  return null;
}
