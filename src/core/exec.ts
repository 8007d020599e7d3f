// What `bvisor exec` runs in a running container, and under what (pure). The request comes from
// an OCI process JSON (`exec --process FILE`, what podman and containerd send) or from runc's
// flags (`exec ID ARGS… --env --cwd --user --tty`). Whatever it asks, the process gets the
// init's confinement or narrower, never wider:
//   capabilities  the init's set ∩ the request's (effective ∩ permitted ∩ bounding); a
//                 capability the init lacks is dropped (narrowed), never raised; ambient is
//                 never raised; inheritable follows the kept set
//   no_new_privs  always set (noNewPrivileges: false is narrowed, as create narrows it)
//   rlimits       the plan's; a requested limit on the same resource applies only where it is
//                 lower; a resource the plan leaves alone takes the request's value
//   identity      the container's one mapped id (0:0, or its config's process.user; an
//                 unprivileged id on the host); anything else is refused, as no other exists;
//                 with a block of ids (its config's maps), any of them, and groups of them
//   the rest      (namespaces, cgroup, landlock, seccomp) is the container's, from its plan
// Refusals are collected and thrown together (BV_USAGE, each naming its JSON path or flag).
import type { LaunchInputs, RlimitSetting } from '../contract/generated/types.js';
import { BvisorError, type Issue } from '../contract/errors.js';
import { CAPABILITY_LIST, CAPABILITY_NUMBERS } from './capability-names.js';
import { isNormalAbsolute } from './paths.js';
import { insideIds } from './layout.js';

export interface ExecSpec {
  args: string[];
  env: Array<{ name: string; value: string }>;
  cwd: string;
  terminal: boolean;
  /** process.consoleSize (rows, cols), or null. */
  consoleSize: { rows: number; cols: number } | null;
  /** Capability numbers the process keeps (a subset of the init's). */
  capabilities: number[];
  rlimits: RlimitSetting[];
  /** The ids the process becomes, and its supplementary groups: ids of the container's block (an
   * OCI config's maps), or null for the container's own (its one mapped id, or its process.user
   * and groups in a block). */
  user: { uid: number; gid: number; groups: number[] } | null;
  /** process.user.umask, or null for the container's. */
  umask: number | null;
  /** process.oomScoreAdj, or null; never below the init's (the launcher raises it to that). */
  oomScoreAdj: number | null;
  /** What was asked and narrowed, in words (shown to the caller, never silently). */
  narrowed: string[];
}

const RLIMITS: Record<string, string> = {
  RLIMIT_AS: 'as', RLIMIT_CORE: 'core', RLIMIT_CPU: 'cpu', RLIMIT_DATA: 'data', RLIMIT_FSIZE: 'fsize', RLIMIT_LOCKS: 'locks',
  RLIMIT_MEMLOCK: 'memlock', RLIMIT_MSGQUEUE: 'msgqueue', RLIMIT_NICE: 'nice', RLIMIT_NOFILE: 'nofile', RLIMIT_NPROC: 'nproc',
  RLIMIT_RSS: 'rss', RLIMIT_RTPRIO: 'rtprio', RLIMIT_RTTIME: 'rttime', RLIMIT_SIGPENDING: 'sigpending', RLIMIT_STACK: 'stack',
};
const PROCESS_KEYS = ['terminal', 'consoleSize', 'cwd', 'env', 'args', 'commandLine', 'rlimits', 'apparmorProfile', 'capabilities', 'noNewPrivileges', 'oomScoreAdj', 'selinuxLabel', 'ioPriority', 'scheduler', 'execCPUAffinity', 'user'];
const U64_MAX = 2n ** 64n - 1n;

class Problems {
  readonly issues: Issue[] = [];
  constructor(private readonly where: string) {}
  refuse(clause: string, message: string, hint: string): void {
    this.issues.push({ code: 'BV_SCHEMA', clause, message, hint });
  }
  throwIfAny(): void {
    if (!this.issues.length) return;
    const first = this.issues[0]!;
    throw new BvisorError('BV_USAGE', `${this.where}: ${this.issues.length === 1 ? `${first.clause}: ${first.message}` : `${this.issues.length} problems, first ${first.clause}: ${first.message}`}`, { hint: first.hint ?? 'fix the request', issues: this.issues });
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(v: unknown, at: string, p: Problems): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    p.refuse(at, 'must be an array of strings', 'fix the value');
    return [];
  }
  (v as string[]).forEach((s, i) => s.includes('\0') && p.refuse(`${at}[${i}]`, 'holds a NUL byte, which execve cannot pass', 'remove it'));
  return v as string[];
}

function envEntries(list: readonly string[], at: string, p: Problems): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  list.forEach((e, i) => {
    const eq = e.indexOf('=');
    if (eq <= 0) return p.refuse(`${at}[${i}]`, 'must be NAME=value with a non-empty name', 'fix the entry');
    const name = e.slice(0, eq);
    // The last one wins, as create keeps it.
    const j = out.findIndex((x) => x.name === name);
    if (j >= 0) out.splice(j, 1);
    out.push({ name, value: e.slice(eq + 1) });
  });
  return out;
}

/** The user: the container's one mapped id (0:0, or its config's process.user), and no group but
 * its own: no other id exists inside (another one asked for is left out, said in `narrowed`). With
 * a block of ids (the config's maps), any of them, and supplementary groups of them. */
function checkUser(uid: unknown, gid: unknown, extra: unknown, at: string, p: Problems, launch: Pick<LaunchInputs, 'oci'>, narrowed: string[]): ExecSpec['user'] {
  const mine = insideIds(launch);
  if (extra !== undefined && (!Array.isArray(extra) || extra.length > 64 || extra.some((g) => !Number.isInteger(g) || g < 0 || g > 0xfffffffe))) {
    p.refuse(`${at}.additionalGids`, 'must be an array of at most 64 gids', 'see the OCI runtime-spec (config.md, user)');
    return null;
  }
  const gids = (extra ?? []) as number[];
  // A block of ids: any of them, as runc lets an exec be any mapped id.
  const n = launch.oci?.ids?.count;
  if (n !== undefined) {
    const ok = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < n;
    if (!ok(uid)) p.refuse(`${at}.uid`, `uid ${JSON.stringify(uid)} is not one of the container's ${n} ids (0–${n - 1})`, `run as an id of the container's maps, e.g. ${mine.uid}`);
    if (!ok(gid)) p.refuse(`${at}.gid`, `gid ${JSON.stringify(gid)} is not one of the container's ${n} ids (0–${n - 1})`, `run with a gid of the container's maps, e.g. ${mine.gid}`);
    gids.forEach((g, i) => ok(g) || p.refuse(`${at}.additionalGids[${i}]`, `group ${g} is not one of the container's ${n} ids (0–${n - 1})`, 'drop it'));
    return ok(uid) && ok(gid) && gids.every(ok) ? { uid: uid as number, gid: gid as number, groups: [...new Set(gids)].sort((a, b) => a - b) } : null;
  }
  if (uid !== mine.uid) p.refuse(`${at}.uid`, `uid ${JSON.stringify(uid)} inside the container: bvisor maps exactly one id (the container's ${mine.uid === 0 ? 'root' : `user, ${mine.uid}`}) to an unprivileged host id`, `run as uid ${mine.uid}${mine.uid === 0 ? ' (it is not host root under bvisor)' : ''}`);
  if (gid !== mine.gid) p.refuse(`${at}.gid`, `gid ${JSON.stringify(gid)} inside the container: bvisor maps exactly one group (${mine.gid})`, `run with gid ${mine.gid}`);
  const others = gids.filter((g) => g !== mine.gid);
  if (others.length) narrowed.push(`${at}.additionalGids: only group ${mine.gid} exists inside the container; ${others.join(', ')} not set`);
  return null;
}

/** The init's capabilities ∩ the requested ones; what the init lacks is recorded as narrowed. */
function narrowCaps(init: readonly number[], requested: readonly string[] | null, narrowed: string[]): number[] {
  if (requested === null) return [...init];
  const have = new Set(init);
  const out: number[] = [];
  const dropped: string[] = [];
  for (const n of requested) {
    const c = CAPABILITY_NUMBERS[n]!;
    if (have.has(c)) out.push(c);
    else dropped.push(n);
  }
  if (dropped.length) narrowed.push(`capabilities the container's init does not have were dropped: ${[...new Set(dropped)].sort().join(', ')}`);
  return [...new Set(out)].sort((a, b) => a - b);
}

/** The plan's rlimits, lowered where the request asks for less; the request's own elsewhere. */
function narrowRlimits(plan: readonly RlimitSetting[], requested: ReadonlyArray<{ resource: string; soft: number; hard: number; at: string }>, narrowed: string[]): RlimitSetting[] {
  const out = plan.map((r) => ({ ...r }));
  for (const q of requested) {
    const mine = out.find((r) => r.resource === q.resource);
    if (!mine) {
      out.push({ clause: q.at, resource: q.resource, soft: q.soft, hard: q.hard });
      continue;
    }
    if (q.hard > mine.hard || q.soft > mine.soft) narrowed.push(`${q.at}: RLIMIT_${q.resource.toUpperCase()} ${q.soft}/${q.hard} is above the container's ${mine.soft}/${mine.hard}; the container's applies`);
    const hard = Math.min(mine.hard, q.hard);
    mine.soft = Math.min(mine.soft, q.soft, hard);
    mine.hard = hard;
  }
  return out;
}

/** An OCI process object (exec --process FILE), against the container's launch inputs. */
export function execFromProcess(doc: unknown, launch: LaunchInputs, file: string): ExecSpec {
  const p = new Problems(`exec --process ${file}`);
  const narrowed: string[] = [];
  if (!isObj(doc)) {
    p.refuse('process', 'must be a JSON object (an OCI runtime-spec process)', 'see config.md#process');
    p.throwIfAny();
  }
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!PROCESS_KEYS.includes(k)) p.refuse(k, 'is not a field bvisor knows; it is refused, never ignored', `remove ${k}`);
  const args = strings(o.args, 'args', p);
  if (!args.length) p.refuse('args', 'is missing or empty: nothing to run', 'give the program and its arguments');
  if (o.commandLine !== undefined) p.refuse('commandLine', 'is a Windows field', 'use args');
  const cwd = o.cwd === undefined ? '/' : o.cwd;
  if (typeof cwd !== 'string' || !isNormalAbsolute(cwd)) p.refuse('cwd', `${JSON.stringify(cwd)} must be an absolute, normalised path`, 'e.g. /');
  const env = envEntries(strings(o.env, 'env', p), 'env', p);
  if (o.terminal !== undefined && typeof o.terminal !== 'boolean') p.refuse('terminal', 'must be a boolean', 'true or false');
  let consoleSize: ExecSpec['consoleSize'] = null;
  if (o.consoleSize !== undefined) {
    const cs = o.consoleSize;
    const ok = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;
    if (!isObj(cs) || !ok(cs.height) || !ok(cs.width) || Object.keys(cs).some((k) => k !== 'height' && k !== 'width')) p.refuse('consoleSize', 'must be { height, width }, each 0..65535', 'fix the value');
    else consoleSize = { rows: cs.height, cols: cs.width };
  }
  let umask: number | null = null;
  let user: ExecSpec['user'] = null;
  if (!isObj(o.user)) p.refuse('user', 'is required (uid, gid)', `give user: { uid: ${insideIds(launch).uid}, gid: ${insideIds(launch).gid} } (the container's own id)`);
  else {
    const u = o.user;
    for (const k of Object.keys(u)) if (!['uid', 'gid', 'umask', 'additionalGids', 'username'].includes(k)) p.refuse(`user.${k}`, 'is not a field bvisor knows', `remove user.${k}`);
    user = checkUser(u.uid, u.gid, u.additionalGids, 'user', p, launch, narrowed);
    if (u.username !== undefined) p.refuse('user.username', 'is a Windows field', 'use uid and gid');
    if (u.umask !== undefined) {
      if (!Number.isInteger(u.umask) || (u.umask as number) < 0 || (u.umask as number) > 0o777) p.refuse('user.umask', 'must be 0..0777', 'fix the value');
      else umask = u.umask as number;
    }
  }
  let requestedCaps: string[] | null = null;
  if (o.capabilities !== undefined) {
    if (!isObj(o.capabilities)) p.refuse('capabilities', 'must be an object of capability sets', 'fix the value');
    else {
      const c = o.capabilities;
      const sets: Record<string, string[]> = {};
      for (const k of Object.keys(c)) if (!['bounding', 'effective', 'inheritable', 'permitted', 'ambient'].includes(k)) p.refuse(`capabilities.${k}`, 'is not a capability set', `remove capabilities.${k}`);
      for (const k of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient']) {
        sets[k] = strings(c[k], `capabilities.${k}`, p);
        sets[k]!.forEach((n, i) => CAPABILITY_NUMBERS[n] === undefined && p.refuse(`capabilities.${k}[${i}]`, `unknown capability ${JSON.stringify(n)}`, 'see capabilities(7) for the names (CAP_…)'));
      }
      // bvisor keeps one set: what is effective, permitted and bounding at once.
      requestedCaps = sets.effective!.filter((n) => sets.permitted!.includes(n) && sets.bounding!.includes(n));
      const lost = [...new Set([...sets.effective!, ...sets.permitted!])].filter((n) => !requestedCaps!.includes(n));
      if (lost.length) narrowed.push(`capabilities not in all of effective, permitted and bounding were dropped: ${lost.sort().join(', ')}`);
      if (sets.ambient!.length) narrowed.push('ambient capabilities are never raised (they would survive every exec in the container)');
    }
  }
  if (o.noNewPrivileges === false || o.noNewPrivileges === undefined) narrowed.push('no_new_privs is always set (landlock and seccomp need it), whatever noNewPrivileges says');
  else if (o.noNewPrivileges !== true) p.refuse('noNewPrivileges', 'must be a boolean', 'true or false');
  let oomScoreAdj: number | null = null;
  if (o.oomScoreAdj !== undefined) {
    if (!Number.isInteger(o.oomScoreAdj) || (o.oomScoreAdj as number) < -1000 || (o.oomScoreAdj as number) > 1000) p.refuse('oomScoreAdj', 'must be -1000..1000', 'fix the value');
    else oomScoreAdj = o.oomScoreAdj as number;
  }
  for (const k of ['apparmorProfile', 'selinuxLabel'] as const) if (o[k] !== undefined && o[k] !== '') p.refuse(k, `the LSM label ${JSON.stringify(o[k])} is not applied by bvisor`, 'remove the label; bvisor confines with landlock and seccomp');
  for (const k of ['ioPriority', 'scheduler', 'execCPUAffinity'] as const) if (o[k] !== undefined) p.refuse(k, 'is not applied by bvisor', `remove ${k}`);
  const rl: Array<{ resource: string; soft: number; hard: number; at: string }> = [];
  if (o.rlimits !== undefined && !Array.isArray(o.rlimits)) p.refuse('rlimits', 'must be an array', 'fix the value');
  (Array.isArray(o.rlimits) ? o.rlimits : []).forEach((x, i) => {
    const at = `rlimits[${i}]`;
    if (!isObj(x)) return p.refuse(at, 'must be { type, soft, hard }', 'fix the entry');
    const res = typeof x.type === 'string' ? RLIMITS[x.type] : undefined;
    if (!res) return p.refuse(`${at}.type`, `unknown rlimit ${JSON.stringify(x.type)}`, 'see getrlimit(2) for RLIMIT_* names');
    const n = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && BigInt(v) <= U64_MAX ? v : null);
    const soft = n(x.soft);
    const hard = n(x.hard);
    if (soft === null || hard === null) return p.refuse(at, 'soft and hard must be non-negative integers', 'fix the entry');
    if (soft > hard) return p.refuse(at, `soft ${soft} is above hard ${hard}`, 'soft must not exceed hard');
    // config.md#posix-process: duplicated entries with the same type MUST be an error.
    const first = rl.find((r) => r.resource === res);
    if (first) return p.refuse(`${at}.type`, `${x.type as string} is already set by ${first.at}`, 'keep one entry per type');
    rl.push({ resource: res, soft, hard, at });
  });
  p.throwIfAny();
  return {
    args,
    env,
    cwd: cwd as string,
    terminal: o.terminal === true,
    consoleSize,
    capabilities: narrowCaps(launch.capabilities, requestedCaps, narrowed),
    rlimits: narrowRlimits(launch.rlimits, rl, narrowed),
    user,
    umask,
    oomScoreAdj,
    narrowed,
  };
}

export interface ExecFlags {
  args: string[];
  /** --env NAME=value, repeatable: over the container's environment. */
  env: string[];
  cwd: string | null;
  /** --user UID[:GID] */
  user: string | null;
  tty: boolean;
  /** --cap CAP_…: asked on top of the container's (never granted beyond the init's). */
  caps?: string[];
}

/** runc's flags: the container's own process (environment, cwd, capabilities) with the flags'
 * changes. `env` is the container's environment, secrets resolved by the caller. */
export function execFromFlags(f: ExecFlags, launch: LaunchInputs, env: ReadonlyArray<{ name: string; value: string }>): ExecSpec {
  const p = new Problems('exec');
  const narrowed: string[] = [];
  if (!f.args.length) p.refuse('ARGS', 'nothing to run', 'give the program and its arguments after the container id (or --process FILE)');
  f.args.forEach((a, i) => a.includes('\0') && p.refuse(`ARGS[${i}]`, 'holds a NUL byte', 'remove it'));
  const cwd = f.cwd ?? launch.workload.cwd;
  if (!isNormalAbsolute(cwd)) p.refuse('--cwd', `${JSON.stringify(cwd)} must be an absolute, normalised path`, 'e.g. /');
  const merged = [...env];
  for (const e of envEntries(f.env, '--env', p)) {
    const j = merged.findIndex((x) => x.name === e.name);
    if (j >= 0) merged.splice(j, 1);
    merged.push(e);
  }
  merged.forEach((e) => (e.name + e.value).includes('\0') && p.refuse('--env', `${e.name} holds a NUL byte`, 'remove it'));
  let user: ExecSpec['user'] = null;
  if (f.user !== null) {
    const m = /^(\d+)(?::(\d+))?$/.exec(f.user);
    if (!m) p.refuse('--user', `${JSON.stringify(f.user)} is not UID[:GID]`, `e.g. --user ${insideIds(launch).uid}:${insideIds(launch).gid}, the container's own id (names are not looked up)`);
    else user = checkUser(Number(m[1]), m[2] === undefined ? insideIds(launch).gid : Number(m[2]), undefined, '--user', p, launch, narrowed);
  }
  for (const c of f.caps ?? []) if (CAPABILITY_NUMBERS[c] === undefined) p.refuse('--cap', `unknown capability ${JSON.stringify(c)}`, 'see capabilities(7) for the names (CAP_…)');
  p.throwIfAny();
  const extra = (f.caps ?? []).filter((c) => !launch.capabilities.includes(CAPABILITY_NUMBERS[c]!));
  if (extra.length) narrowed.push(`--cap beyond the container's init was not granted: ${extra.join(', ')}`);
  return {
    args: f.args,
    env: merged,
    cwd,
    terminal: f.tty,
    consoleSize: null,
    capabilities: [...launch.capabilities],
    rlimits: launch.rlimits.map((r) => ({ ...r })),
    user,
    umask: null,
    oomScoreAdj: null,
    narrowed,
  };
}

/** Capability numbers as names, for messages. */
export function capabilityNames(caps: readonly number[]): string[] {
  return caps.map((c) => CAPABILITY_LIST[c] ?? `cap ${c}`);
}
