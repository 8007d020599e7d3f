// OCI runtime-spec config.json (1.0–1.2) → the same normalised manifest boundary.yaml gives
// (pure). Engines (podman, containerd) hand a runtime a bundle of config.json + rootfs; bvisor
// plans it like any manifest, so every field it honours gets a clause verdict with a mechanism,
// and every field it cannot honour is refused with its JSON path (`linux.seccomp.syscalls[12]
// .args[0]`) and a hint, never ignored. runc and crun skip unknown fields and syscalls; we do not.
//
// What bvisor adds to what the config asks, always (narrower, never wider; each is recorded as a
// verdict): a user namespace (the workload is never host root), no_new_privs, bvisor's own
// seccomp denylist stacked in front of the config's profile, landlock on the rootfs and binds.
//
// The field list follows the runtime-spec's config.md and config-linux.md. Reading is strict:
// a key this file does not know is refused, since silently dropping a field is exactly how a
// runtime weakens a boundary its caller believes in.
import type { ClauseVerdict, Refusal, Access } from '../../contract/generated/types.js';
import type { NormalManifest, NormalGrant, NormalLimits, ClauseSetting } from '../manifest.js';
import { CAPABILITY_NUMBERS } from '../capability-names.js';
import { bundleRelativeSegments, isNormalAbsolute, hasNameTooLong, NAME_MAX } from '../paths.js';
import { wasmHandlerOf, wasmFromOci } from './wasm.js';

/** exec(2)'s argv and envp, paths and mount options are C strings: a NUL byte ends one early, so
 * a config string holding one is refused here rather than at launch. */
const NUL_WHY = 'holds a NUL byte, which no argument, path or option passed to the kernel can carry';

export const OCI_SUPPORTED = /^1\.(0|1|2)\.[0-9]+(-[0-9A-Za-z.-]+)?$/;
/** The annotation a podman user (--annotation) or a Kubernetes pod sets to narrow the config. */
export const BOUNDARY_ANNOTATION = 'org.bvisor.boundary';
/** Set to best-effort, it lets a config carry AppArmor/SELinux labels bvisor does not apply. */
export const LSM_ANNOTATION = 'org.bvisor.lsm-labels';

const mountLabelOf = (c: Obj): string | null => (isObj(c.linux) && typeof c.linux.mountLabel === 'string' && c.linux.mountLabel !== '' ? c.linux.mountLabel : null);

/** A mount of the config that is not a bind: made fresh in the child (fsopen/fsmount). */
export interface OciFsMount {
  path: string; // JSON path, e.g. mounts[3]
  destination: string;
  type: 'devpts' | 'mqueue' | 'sysfs' | 'cgroup2' | 'tmpfs';
  options: string[];
}

export interface OciRlimit {
  path: string;
  resource: string; // lower-case, without RLIMIT_: nofile, nproc, core…
  soft: number;
  hard: number;
}

/** What a config asks beyond what a manifest can say; the planner carries it into the plan. */
export interface OciExtras {
  ociVersion: string;
  hostname: string | null;
  /** argv[0] exactly as the config gives it (args[0]); exe is its resolution in the rootfs. */
  argv0: string;
  /** PATH for resolving args[0] when it is not absolute (from process.env, else runc's default). */
  searchPath: string[];
  terminal: boolean;
  consoleSize: { height: number; width: number } | null;
  fsMounts: OciFsMount[];
  maskedPaths: string[];
  readonlyPaths: string[];
  rlimits: OciRlimit[];
  /** linux.seccomp, as given (compiled when the plan is lowered, composed behind bvisor's). */
  seccomp: unknown | null;
  /** cgroupsPath split as runc reads it: parent and leaf name; null when absent. */
  cgroupsPath: { parent: string; leaf: string } | null;
  /** linux.namespaces[network].path: the engine's network namespace to be born in, or null. */
  netnsPath: string | null;
  oomScoreAdj: number | null;
  umask: number | null;
  /** process.user's uid and gid when either is not 0: the one id mapped inside instead of 0
   * (or, with a block of ids, the ids the process becomes). */
  user?: { uid: number; gid: number };
  /** linux.uidMappings and gidMappings when they ask for a block of ids bvisor can give (one line
   * each, container ids 0..count-1, count ≥ 2, the same count): where those ids are on disk (the
   * config's host ids: the engine's storage is owned by them). The planner maps the block to ids
   * of bvisor's range where it has one; else the container gets its one id (narrower). */
  idMaps?: { uid: number; gid: number; count: number };
  /** process.user.additionalGids, as given (absent: none). */
  additionalGids?: number[];
  annotations: Record<string, string>;
  hooks: Partial<Record<HookName, OciHook[]>>;
  /** A narrowing boundary's filesystem grants (container paths; core/oci/narrow.ts), or none. */
  narrowFs?: Array<{ clause: string; path: string; access: Access; recursive: boolean }>;
  /** What was accepted, each with its mechanism, and what was refused, each with its path. */
  verdicts: ClauseVerdict[];
  refusals: Refusal[];
}

/**
 * The block of ids a config's maps ask for, where bvisor can give it: one line each for uids and
 * gids, from container id 0, the same size, at least 2. Other shapes (several lines, as rootless
 * podman sends) keep the container's one id. Every line is checked: one that is not one (a size
 * of 0, ids past 2^32-2, a field the spec does not have) is refused as invalid.
 */
function idBlockOf(uidMaps: unknown[], gidMaps: unknown[], r: Reader): OciExtras['idMaps'] {
  const lines = (m: unknown[], at: string): Array<{ c: number; h: number; n: number } | null> =>
    m.map((x, i) => {
      const o = r.obj(x, `${at}[${i}]`);
      // (r.obj refuses what is not an object; null or absent it lets pass, as a field would.)
      if (!o) return (x === null || x === undefined ? r.refuse(`${at}[${i}]`, 'must be an object', 'see the OCI runtime-spec (config-linux.md, User namespace mappings)', 'BV_OCI_INVALID') : undefined, null);
      r.keys(o, `${at}[${i}]`, ['containerID', 'hostID', 'size']);
      for (const k of ['containerID', 'hostID', 'size'] as const) if (o[k] === undefined || o[k] === null) r.refuse(`${at}[${i}].${k}`, 'is required', 'see the OCI runtime-spec (config-linux.md, User namespace mappings)', 'BV_OCI_INVALID');
      const c = r.int(o.containerID, `${at}[${i}].containerID`, 0, 0xfffffffe);
      const h = r.int(o.hostID, `${at}[${i}].hostID`, 0, 0xfffffffe);
      const n = r.int(o.size, `${at}[${i}].size`, 1, 0xffffffff);
      if (c === null || h === null || n === null) return null;
      // (uid_t)-1 is never an id: neither side may reach it.
      if (c + n - 1 > 0xfffffffe || h + n - 1 > 0xfffffffe) return (r.refuse(`${at}[${i}]`, `ids ${c}+${n} or ${h}+${n} pass 4294967294, the last id`, 'shrink the size', 'BV_OCI_INVALID'), null);
      return { c, h, n };
    });
  const u = lines(uidMaps, 'linux.uidMappings');
  const g = lines(gidMaps, 'linux.gidMappings');
  if (u.length !== 1 || g.length !== 1 || !u[0] || !g[0]) return undefined;
  const [a, b] = [u[0], g[0]];
  if (a.c !== 0 || b.c !== 0 || a.n !== b.n || a.n < 2) return undefined;
  return { uid: a.h, gid: b.h, count: a.n };
}

export type HookName = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';
export const HOOK_NAMES: readonly HookName[] = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];
export interface OciHook {
  path: string;
  args: string[];
  env: string[];
  timeout: number | null;
}

export interface OciTranslation {
  manifest: NormalManifest & { oci: OciExtras };
}

/** The pids limit of a container whose config sets none (podman's own default is 2048). */
export const DEFAULT_OCI_PIDS = 4096;

/** runc's PATH when the config's environment has none. */
const DEFAULT_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** RLIMIT_* names the kernel has (getrlimit(2)); the value is the resource bvisor's plan names. */
const RLIMITS: Record<string, string> = {
  RLIMIT_AS: 'as', RLIMIT_CORE: 'core', RLIMIT_CPU: 'cpu', RLIMIT_DATA: 'data', RLIMIT_FSIZE: 'fsize', RLIMIT_LOCKS: 'locks',
  RLIMIT_MEMLOCK: 'memlock', RLIMIT_MSGQUEUE: 'msgqueue', RLIMIT_NICE: 'nice', RLIMIT_NOFILE: 'nofile', RLIMIT_NPROC: 'nproc',
  RLIMIT_RSS: 'rss', RLIMIT_RTPRIO: 'rtprio', RLIMIT_RTTIME: 'rttime', RLIMIT_SIGPENDING: 'sigpending', RLIMIT_STACK: 'stack',
};

/** The flags (suid, dev, exec) bvisor's mount of this kind at `dest` always goes without
 * (core/layout.ts), so a config's option naming one cannot be given. */
function mountForces(type: string, dest: string, isBind: boolean): string[] {
  if (dest === '/dev/shm') return ['suid', 'dev', 'exec'];
  if (isBind) return ['suid', 'dev'];
  if (type === 'tmpfs') return dest === '/dev' ? ['suid', 'exec'] : ['suid', 'dev'];
  if (type === 'devpts') return ['suid', 'exec'];
  if (['proc', 'mqueue', 'sysfs', 'cgroup', 'cgroup2'].includes(type)) return ['suid', 'dev', 'exec'];
  return [];
}

/** Mount options that are kernel mount flags, as runc parses them (mount(8)). */
const FLAG_OPTIONS = new Set(['ro', 'rw', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'bind', 'rbind', 'private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared', 'unbindable', 'runbindable', 'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'noatime', 'atime', 'nodiratime', 'diratime', 'sync', 'async', 'dirsync', 'mand', 'nomand', 'silent', 'loud', 'remount', 'rro', 'rrw', 'rnosuid', 'rnodev', 'rnoexec']);

/** Namespace types of the spec, and how bvisor stands on each. */
const NS_TYPES = new Set(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Reader {
  readonly refusals: Refusal[] = [];
  readonly verdicts: ClauseVerdict[] = [];

  refuse(path: string, reason: string, hint: string, code = 'BV_OCI_UNSUPPORTED'): void {
    this.refusals.push({ code, clause: path, reason, hint });
  }

  accept(path: string, requested: string, mechanism: string, reason: string | null = null): void {
    this.verdicts.push({ clause: path, requested, guarantee: 'enforced', verdict: 'enforced', mechanism, reason });
  }

  /** Refuses every key of o that is not in known. */
  keys(o: Obj, path: string, known: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) this.refuse(join(path, k), `bvisor does not know the field ${JSON.stringify(k)}`, `remove it, or use a runtime that honours it; bvisor never ignores a field it cannot enforce`, 'BV_OCI_UNKNOWN_FIELD');
    }
  }

  obj(v: unknown, path: string): Obj | null {
    if (v === undefined || v === null) return null;
    if (!isObj(v)) {
      this.refuse(path, 'must be an object', 'see the OCI runtime-spec', 'BV_OCI_INVALID');
      return null;
    }
    return v;
  }

  str(v: unknown, path: string): string | null {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') {
      this.refuse(path, 'must be a string', 'see the OCI runtime-spec', 'BV_OCI_INVALID');
      return null;
    }
    if (v.includes('\0')) {
      this.refuse(path, NUL_WHY, 'remove the NUL byte', 'BV_OCI_INVALID');
      return null;
    }
    return v;
  }

  int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | null {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.refuse(path, `must be an integer in ${min}…${max}`, 'see the OCI runtime-spec', 'BV_OCI_INVALID');
      return null;
    }
    return v;
  }

  strs(v: unknown, path: string): string[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      this.refuse(path, 'must be an array of strings', 'see the OCI runtime-spec', 'BV_OCI_INVALID');
      return [];
    }
    const nul = (v as string[]).findIndex((x) => x.includes('\0'));
    if (nul >= 0) {
      this.refuse(`${path}[${nul}]`, NUL_WHY, 'remove the NUL byte', 'BV_OCI_INVALID');
      return [];
    }
    return v as string[];
  }

  arr(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.refuse(path, 'must be an array', 'see the OCI runtime-spec', 'BV_OCI_INVALID');
      return [];
    }
    return v;
  }
}

const join = (path: string, key: string | number): string => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key);
const setting = <T>(value: T): ClauseSetting<T> => ({ value, guarantee: 'enforced', explicit: true });

/**
 * Translates a parsed config.json. Never throws on content: problems are refusals with paths,
 * which the planner turns into refused clauses (so `bvisor plan` lists all of them at once).
 */
export function translateOciConfig(config: unknown): OciTranslation {
  const r = new Reader();
  const c: Obj = isObj(config) ? config : {};
  if (!isObj(config)) r.refuse('', 'config.json must hold a JSON object', 'see the OCI runtime-spec config.md', 'BV_OCI_INVALID');
  r.keys(c, '', ['ociVersion', 'root', 'mounts', 'process', 'hostname', 'domainname', 'hooks', 'annotations', 'linux']);

  const ociVersion = r.str(c.ociVersion, 'ociVersion') ?? '';
  if (!OCI_SUPPORTED.test(ociVersion)) r.refuse('ociVersion', `version ${JSON.stringify(ociVersion)} is not one bvisor reads (1.0 to 1.2)`, 'regenerate the bundle with a runtime-spec 1.0–1.2 tool', 'BV_OCI_VERSION');

  // root
  const root = r.obj(c.root, 'root');
  let rootPath = 'rootfs';
  let rootRo = false;
  if (!root) r.refuse('root', 'a config without root is not a container bvisor can run', 'give root.path (the rootfs directory)', 'BV_OCI_INVALID');
  else {
    r.keys(root, 'root', ['path', 'readonly']);
    rootPath = r.str(root.path, 'root.path') ?? 'rootfs';
    // Relative: a directory inside the bundle ("." in any spelling, or a path through "..",
    // would make the bundle, or what holds it, the rootfs); an absolute path is checked against
    // the host's engine storage when planned.
    if (!rootPath.startsWith('/') && !bundleRelativeSegments(rootPath)?.length) r.refuse('root.path', `"${rootPath}" must name a directory inside the bundle (relative, no .., not the bundle itself)`, 'e.g. rootfs', 'BV_OCI_INVALID');
    rootRo = root.readonly === true;
    if (root.readonly !== undefined && typeof root.readonly !== 'boolean') r.refuse('root.readonly', 'must be a boolean', 'true or false', 'BV_OCI_INVALID');
  }

  // process
  const p = r.obj(c.process, 'process') ?? {};
  if (!c.process) r.refuse('process', 'a config without process has nothing to run (bvisor create needs it)', 'give process.args', 'BV_OCI_INVALID');
  r.keys(p, 'process', ['terminal', 'consoleSize', 'cwd', 'env', 'args', 'commandLine', 'rlimits', 'apparmorProfile', 'capabilities', 'noNewPrivileges', 'oomScoreAdj', 'selinuxLabel', 'ioPriority', 'scheduler', 'execCPUAffinity', 'user']);
  const args = r.strs(p.args, 'process.args');
  if (p.args !== undefined && args.length === 0) r.refuse('process.args', 'is empty: nothing to run', 'give the program and its arguments', 'BV_OCI_INVALID');
  if (p.commandLine !== undefined) r.refuse('process.commandLine', 'is a Windows field', 'use process.args');
  // A trailing slash is taken off, as runc takes it (Kubernetes passes a workingDir of /app/ on).
  const given = r.str(p.cwd, 'process.cwd') ?? '/';
  const cwd = given.length > 1 && !/\/\/$/.test(given) ? given.replace(/\/$/, '') : given;
  if (!isNormalAbsolute(cwd)) r.refuse('process.cwd', `"${given}" must be an absolute, normalised path`, 'e.g. /', 'BV_OCI_INVALID');
  else if (hasNameTooLong(cwd)) r.refuse('process.cwd', `"${given}" has a name longer than ${NAME_MAX} bytes, which no Linux filesystem holds (NAME_MAX)`, 'shorten it', 'BV_OCI_INVALID');
  const envList = r.strs(p.env, 'process.env');
  const env: NormalManifest['env'] = [];
  const seen = new Set<string>();
  envList.forEach((e, i) => {
    const eq = e.indexOf('=');
    const name = eq < 0 ? e : e.slice(0, eq);
    if (eq <= 0 || e.includes('\0')) {
      r.refuse(`process.env[${i}]`, 'must be NAME=value with a non-empty name and no NUL', 'fix the entry', 'BV_OCI_INVALID');
      return;
    }
    // The last one wins, as execve's consumers (getenv) see the first: keep one, the last, like runc.
    if (seen.has(name)) env.splice(env.findIndex((x) => x.name === name), 1);
    seen.add(name);
    env.push({ name, value: e.slice(eq + 1) });
  });
  const pathVar = env.find((e) => e.name === 'PATH')?.value;
  const searchPath = pathVar !== undefined ? pathVar.split(':').filter((d) => d.startsWith('/')) : DEFAULT_PATH;

  const terminal = p.terminal === true;
  if (p.terminal !== undefined && typeof p.terminal !== 'boolean') r.refuse('process.terminal', 'must be a boolean', 'true or false', 'BV_OCI_INVALID');
  let consoleSize: OciExtras['consoleSize'] = null;
  const cs = r.obj(p.consoleSize, 'process.consoleSize');
  if (cs) {
    r.keys(cs, 'process.consoleSize', ['height', 'width']);
    consoleSize = { height: r.int(cs.height, 'process.consoleSize.height', 0, 65535) ?? 0, width: r.int(cs.width, 'process.consoleSize.width', 0, 65535) ?? 0 };
  }

  // user: the one id the container's user namespace maps. Its root (uid 0, gid 0) by default;
  // another uid or gid is mapped instead of 0 (to the same unprivileged host id), and then no
  // other id exists inside: the container has no root to become (see docs/oci.md).
  let umask: number | null = null;
  let inside: { uid: number; gid: number } | null = null;
  let additionalGids: number[] = [];
  const user = r.obj(p.user, 'process.user');
  if (!user) r.refuse('process.user', 'is required (uid, gid)', 'give process.user: { uid: 0, gid: 0 }', 'BV_OCI_INVALID');
  else {
    r.keys(user, 'process.user', ['uid', 'gid', 'umask', 'additionalGids', 'username']);
    // 4294967295 is (uid_t)-1, "no change" to setresuid(2): never an id.
    // Both are REQUIRED (runtime-spec config.md): one missing must not leave the process root.
    for (const k of ['uid', 'gid'] as const) if (user[k] === undefined || user[k] === null) r.refuse(`process.user.${k}`, 'is required', `give process.user.${k} (0 for the container's root)`, 'BV_OCI_INVALID');
    const uid = r.int(user.uid, 'process.user.uid', 0, 0xfffffffe);
    const gid = r.int(user.gid, 'process.user.gid', 0, 0xfffffffe);
    if (user.additionalGids !== undefined && user.additionalGids !== null && !Array.isArray(user.additionalGids)) r.refuse('process.user.additionalGids', 'must be an array of gids', 'see the OCI runtime-spec', 'BV_OCI_INVALID');
    const extra = Array.isArray(user.additionalGids) ? user.additionalGids : [];
    // Which of them are set is the planner's to say (core/planner.ts, groupChoices): with a block
    // of ids, those of the block; with one id, none (the others do not exist inside).
    const gids = extra.map((g, i) => (g === null || g === undefined ? (r.refuse(`process.user.additionalGids[${i}]`, 'must be a gid', 'see the OCI runtime-spec (config.md, user)', 'BV_OCI_INVALID'), null) : r.int(g, `process.user.additionalGids[${i}]`, 0, 0xfffffffe)));
    if (extra.length > 64) r.refuse('process.user.additionalGids', `${extra.length} supplementary groups, more than bvisor sets (64)`, 'drop some');
    else if (gids.every((g) => g !== null)) additionalGids = gids as number[];
    if (user.umask !== undefined) umask = r.int(user.umask, 'process.user.umask', 0, 0o777);
    if (user.username !== undefined) r.refuse('process.user.username', 'is a Windows field', 'use uid and gid');
    if (uid === 0 && gid === 0) r.accept('process.user', 'uid 0, gid 0', 'linux:userns(0→unprivileged host id)', 'the container\'s root is an unprivileged id on the host');
    else if (uid !== null && gid !== null) {
      inside = { uid, gid };
      r.accept('process.user', `uid ${uid}, gid ${gid}`, `linux:userns(${uid}:${gid}→unprivileged host id)+setresuid`, `uid ${uid} and gid ${gid} are the only ids inside, mapped to bvisor's unprivileged host id instead of 0; files owned by any other id show as the overflow id (65534, nobody)${uid !== 0 ? ', and the container has no root to become' : ''}`);
    }
  }

  // capabilities: one set in bvisor (bounding = permitted = effective); ambient and inheritable
  // must be empty or within it.
  const capabilities: string[] = [];
  const caps = r.obj(p.capabilities, 'process.capabilities');
  if (caps) {
    r.keys(caps, 'process.capabilities', ['bounding', 'effective', 'inheritable', 'permitted', 'ambient']);
    const sets: Record<string, string[]> = {};
    for (const k of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient']) {
      sets[k] = r.strs(caps[k], `process.capabilities.${k}`);
      sets[k]!.forEach((n, i) => {
        if (CAPABILITY_NUMBERS[n] === undefined) r.refuse(`process.capabilities.${k}[${i}]`, `unknown capability ${JSON.stringify(n)}`, 'see capabilities(7) for the names (CAP_…)', 'BV_OCI_INVALID');
      });
    }
    const keep = new Set(sets.permitted!.filter((n) => sets.bounding!.includes(n)));
    for (const n of sets.effective!) if (!keep.has(n)) r.refuse(`process.capabilities.effective`, `${n} is effective but not both permitted and bounding`, 'list it in permitted and bounding too, or drop it');
    for (const k of ['ambient', 'inheritable'] as const) {
      if (k === 'inheritable') for (const n of sets[k]!) if (!keep.has(n)) r.refuse(`process.capabilities.${k}`, `${n} is ${k} but not permitted and bounding`, `drop it from ${k}`);
      // A uid other than 0 keeps only ambient across exec, which bvisor does not raise: refused
      // (first branch). For uid 0 (the one id mapped leaves it no other to become), root holds
      // its permitted and effective set across exec without ambient
      // (capabilities(7), "Capabilities and execution of programs by root"), so an ambient list
      // within that set asks nothing more; `runc spec` writes one. Beyond it, refused.
      if (k === 'ambient' && sets[k]!.length && inside && inside.uid !== 0) {
        r.refuse('process.capabilities.ambient', `${sets[k]!.join(', ')} for uid ${inside.uid}: ambient capabilities are the only ones a uid other than 0 keeps across exec, and bvisor does not raise them`, 'drop ambient (podman and containerd leave it empty by default), or run the container as uid 0');
      } else if (k === 'ambient' && sets[k]!.length) {
        const held = new Set(sets.effective!.filter((n) => keep.has(n)));
        const beyond = sets[k]!.filter((n) => !held.has(n));
        if (beyond.length === 0) r.accept('process.capabilities.ambient', sets[k]!.join(', '), 'linux:capset(uid 0 keeps its set across exec)', 'uid 0 holds these across exec without ambient; bvisor raises none');
        else r.refuse('process.capabilities.ambient', `${beyond.join(', ')} beyond the effective, permitted and bounding set: ambient capabilities survive exec into every program the container runs, and bvisor does not raise them`, 'drop ambient, or keep it within effective, permitted and bounding (podman and containerd leave it empty by default)');
      }
    }
    // Kept only if effective too: bvisor's one set is permitted = effective.
    const eff = new Set(sets.effective);
    for (const n of keep) if (eff.has(n)) capabilities.push(n);
    for (const n of keep) if (!eff.has(n)) r.refuse('process.capabilities.permitted', `${n} is permitted but not effective: bvisor keeps one set`, 'list it in effective too, or drop it');
    capabilities.sort();
    // A uid other than 0 loses its permitted and effective sets at exec unless they are ambient
    // (capabilities(7), "Transformation of capabilities during execve()"): it holds none, and
    // bvisor drops the bounding set too rather than leave what it could never use.
    if (inside && inside.uid !== 0 && capabilities.length) {
      r.accept('process.capabilities', capabilities.join(', '), 'linux:capset(none)', `uid ${inside.uid} is not 0: exec clears its permitted and effective capabilities (capabilities(7)), so it holds none of these; bvisor keeps none`);
      capabilities.length = 0;
    }
  }

  if (p.noNewPrivileges === false || p.noNewPrivileges === undefined) {
    r.accept('process.noNewPrivileges', `${p.noNewPrivileges ?? 'unset'}`, 'linux:prctl(PR_SET_NO_NEW_PRIVS)', 'bvisor always sets no_new_privs (landlock and seccomp need it): set-id programs do not gain privileges; narrower than asked');
  } else if (p.noNewPrivileges !== true) r.refuse('process.noNewPrivileges', 'must be a boolean', 'true or false', 'BV_OCI_INVALID');
  else r.accept('process.noNewPrivileges', 'true', 'linux:prctl(PR_SET_NO_NEW_PRIVS)');
  const oomScoreAdj = r.int(p.oomScoreAdj, 'process.oomScoreAdj', -1000, 1000);
  if (oomScoreAdj !== null && oomScoreAdj < 0) r.refuse('process.oomScoreAdj', `${oomScoreAdj} would make the container harder to kill than bvisor itself`, 'use 0 or more');
  // LSM labels: bvisor applies none. Refused, unless the bundle says labels are best-effort
  // (the annotation below), and then recorded as not applied.
  const lsmBestEffort = isObj(c.annotations) && c.annotations[LSM_ANNOTATION] === 'best-effort';
  for (const k of ['apparmorProfile', 'selinuxLabel'] as const) {
    if (p[k] === undefined || p[k] === '') continue;
    if (lsmBestEffort) r.verdicts.push({ clause: `process.${k}`, requested: String(p[k]), guarantee: 'best-effort', verdict: 'best-effort', mechanism: 'none', reason: `not applied (bvisor confines with landlock and seccomp); accepted because ${LSM_ANNOTATION} is best-effort` });
    else r.refuse(`process.${k}`, `the LSM label ${JSON.stringify(p[k])} is not applied by bvisor`, `remove the label (bvisor confines with landlock and seccomp), or accept it unapplied with the annotation ${LSM_ANNOTATION}=best-effort`);
  }
  if (mountLabelOf(c) && lsmBestEffort) r.verdicts.push({ clause: 'linux.mountLabel', requested: String(mountLabelOf(c)), guarantee: 'best-effort', verdict: 'best-effort', mechanism: 'none', reason: `not applied; accepted because ${LSM_ANNOTATION} is best-effort` });
  for (const k of ['ioPriority', 'scheduler', 'execCPUAffinity'] as const) if (p[k] !== undefined) r.refuse(`process.${k}`, 'is not applied by bvisor', `remove process.${k}`);

  const rlimits: OciRlimit[] = [];
  r.arr(p.rlimits, 'process.rlimits').forEach((x, i) => {
    const at = `process.rlimits[${i}]`;
    const o = r.obj(x, at);
    if (!o) return;
    r.keys(o, at, ['type', 'soft', 'hard']);
    const type = r.str(o.type, `${at}.type`) ?? '';
    const res = RLIMITS[type];
    if (!res) return r.refuse(`${at}.type`, `unknown rlimit ${JSON.stringify(type)}`, 'see getrlimit(2) for RLIMIT_* names', 'BV_OCI_INVALID');
    const soft = r.int(o.soft, `${at}.soft`);
    const hard = r.int(o.hard, `${at}.hard`);
    if (soft === null || hard === null) return;
    if (soft > hard) return r.refuse(at, `soft ${soft} is above hard ${hard}`, 'soft must not exceed hard', 'BV_OCI_INVALID');
    // config.md#posix-process: duplicated entries with the same type MUST be an error.
    const first = rlimits.find((x) => x.resource === res);
    if (first) return r.refuse(`${at}.type`, `${type} is already set by ${first.path}`, 'keep one entry per type', 'BV_OCI_INVALID');
    rlimits.push({ path: at, resource: res, soft, hard });
  });

  // hostname, domainname
  const hostname = r.str(c.hostname, 'hostname');
  if (hostname !== null && (hostname.length > 64 || /[\0/]/.test(hostname))) r.refuse('hostname', 'must be at most 64 bytes, without NUL or /', 'shorten it (sethostname(2))', 'BV_OCI_INVALID');
  if (c.domainname !== undefined && c.domainname !== '') r.refuse('domainname', 'setdomainname is not applied by bvisor', 'remove domainname');

  // annotations
  const annotations: Record<string, string> = {};
  const ann = r.obj(c.annotations, 'annotations');
  if (ann) for (const [k, v] of Object.entries(ann)) {
    if (typeof v !== 'string') r.refuse(`annotations.${k}`, 'must be a string', 'annotations map strings to strings', 'BV_OCI_INVALID');
    else annotations[k] = v;
  }

  // hooks
  const hooks: OciExtras['hooks'] = {};
  const hk = r.obj(c.hooks, 'hooks');
  if (hk) {
    // createContainer and startContainer hooks run inside the container's namespaces (before
    // pivot_root, before the program); bvisor runs hooks only in the runtime namespace.
    for (const name of ['createContainer', 'startContainer'] as const) {
      if (Array.isArray(hk[name]) && (hk[name] as unknown[]).length) r.refuse(`hooks.${name}`, `${name} hooks run inside the container's namespaces, which bvisor does not do`, 'run the step as a createRuntime or poststart hook (runtime namespace), or in the image');
    }
    r.keys(hk, 'hooks', HOOK_NAMES);
    for (const name of HOOK_NAMES) {
      const list = r.arr(hk[name], `hooks.${name}`);
      if (!list.length) continue;
      hooks[name] = list.flatMap((h, i) => {
        const at = `hooks.${name}[${i}]`;
        const o = r.obj(h, at);
        if (!o) return [];
        r.keys(o, at, ['path', 'args', 'env', 'timeout']);
        const path = r.str(o.path, `${at}.path`) ?? '';
        if (!isNormalAbsolute(path)) r.refuse(`${at}.path`, `"${path}" must be an absolute path`, 'hooks run in the runtime namespace: name the program absolutely', 'BV_OCI_INVALID');
        const timeout = r.int(o.timeout, `${at}.timeout`, 1, 86400);
        return [{ path, args: r.strs(o.args, `${at}.args`), env: r.strs(o.env, `${at}.env`), timeout }];
      });
      if (name !== 'createContainer' && name !== 'startContainer') r.accept(`hooks.${name}`, `${list.length} hook(s)`, `bvisor:hook(${name === 'poststart' ? 'after start' : name === 'poststop' ? 'after delete' : 'at create, before the program'},runtime namespace,state on stdin)`, name === 'poststart' || name === 'poststop' ? 'a failure is a warning, as the runtime-spec says' : 'a failure stops the container before its program runs');
    }
  }

  // linux
  const l = r.obj(c.linux, 'linux') ?? {};
  r.keys(l, 'linux', ['namespaces', 'uidMappings', 'gidMappings', 'timeOffsets', 'devices', 'cgroupsPath', 'rdmaRdma', 'resources', 'unified', 'intelRdt', 'sysctl', 'seccomp', 'rootfsPropagation', 'maskedPaths', 'readonlyPaths', 'mountLabel', 'personality']);
  const nsTypes = new Set<string>();
  let netnsPath: string | null = null;
  r.arr(l.namespaces, 'linux.namespaces').forEach((x, i) => {
    const at = `linux.namespaces[${i}]`;
    const o = r.obj(x, at);
    if (!o) return;
    r.keys(o, at, ['type', 'path']);
    const type = r.str(o.type, `${at}.type`) ?? '';
    if (!NS_TYPES.has(type)) return r.refuse(`${at}.type`, `unknown namespace type ${JSON.stringify(type)}`, 'see config-linux.md', 'BV_OCI_INVALID');
    if (nsTypes.has(type)) return r.refuse(at, `namespace ${type} is listed twice`, 'list each type once', 'BV_OCI_INVALID');
    nsTypes.add(type);
    if (o.path !== undefined && o.path !== '') {
      // The network namespace an engine made (CNI, netavark, a pod's): the child is born in it
      // (bv_spawn enters it around clone3). Other kinds would share more than a network.
      if (type === 'network' && typeof o.path === 'string' && isNormalAbsolute(o.path)) {
        netnsPath = o.path;
        r.accept(`${at}.path`, `join ${o.path}`, 'linux:setns(net) around clone3', 'the engine\'s network namespace; the container\'s other namespaces are still its own');
      } else r.refuse(`${at}.path`, `joining an existing ${type} namespace (${String(o.path)}) is not supported by bvisor`, type === 'network' ? 'give an absolute path to the network namespace (/run/netns/…, /proc/<pid>/ns/net)' : `drop the path, so bvisor makes a new ${type} namespace (a pod's shared ${type} namespace is not supported)`);
    }
    if (type === 'time') r.refuse(at, 'time namespaces are not made by bvisor', 'remove the time namespace');
  });
  // bvisor makes a namespace of each kind the config lists, and more: user, pid, mount, ipc, uts
  // and cgroup always (narrower). The network follows the config: a new one, or the host's.
  for (const t of ['pid', 'mount', 'ipc', 'uts', 'cgroup', 'user']) {
    r.accept(`linux.namespaces(${t})`, nsTypes.has(t) ? `new ${t} namespace` : `${t}: the host's`, `linux:${t === 'mount' ? 'mnt' : t}ns`, nsTypes.has(t) ? null : `bvisor always makes a new ${t} namespace (narrower than the config)`);
  }
  // A joined network namespace is not the host's, but bvisor makes none: to the planner it is
  // "host" (no CLONE_NEWNET, sockets allowed), and the plan carries the namespace to join.
  const network: NormalManifest['network'] = nsTypes.has('network') && netnsPath === null ? { value: { mode: 'loopback', connect: [], bind: [] }, guarantee: 'enforced', explicit: true } : { value: { mode: 'host', connect: [], bind: [] }, guarantee: 'enforced', explicit: true };
  let idMaps: OciExtras['idMaps'] = undefined;
  if (nsTypes.has('user')) {
    // The config's own maps would place ids bvisor does not own; bvisor maps the container's one
    // id (0, or process.user) to its identity.
    const uidMaps = r.arr(l.uidMappings, 'linux.uidMappings');
    const gidMaps = r.arr(l.gidMappings, 'linux.gidMappings');
    idMaps = idBlockOf(uidMaps, gidMaps, r);
    // Where bvisor has a range of its own, the planner maps such a block to ids of it instead
    // (core/planner.ts, blockChoices), or says in this verdict why it does not (noBlockWhy).
    if (uidMaps.length + gidMaps.length) r.accept('linux.uidMappings', 'the config\'s id maps', `linux:userns(${inside ? `${inside.uid}:${inside.gid}` : '0'}→bvisor identity)`, `bvisor maps the container's one id (${inside ? 'process.user' : 'its root'}) to its own unprivileged host id instead of the config's ranges (narrower: one id)`);
  } else if (l.uidMappings !== undefined || l.gidMappings !== undefined) r.refuse('linux.uidMappings', 'id mappings without a user namespace', 'add a user namespace or drop the mappings', 'BV_OCI_INVALID');
  if (l.timeOffsets !== undefined) r.refuse('linux.timeOffsets', 'time namespaces are not made by bvisor', 'remove timeOffsets');

  // resources
  const limits: NormalLimits = {};
  const res = r.obj(l.resources, 'linux.resources');
  if (res) {
    r.keys(res, 'linux.resources', ['devices', 'memory', 'cpu', 'pids', 'blockIO', 'hugepageLimits', 'network', 'rdma', 'unified']);
    const mem = r.obj(res.memory, 'linux.resources.memory');
    if (mem) {
      r.keys(mem, 'linux.resources.memory', ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP', 'swappiness', 'disableOOMKiller', 'useHierarchy', 'checkBeforeUpdate']);
      // Of the wrong type, a value is refused by its path, never dropped (a "67108864" string
      // limit was admitted as no limit at all).
      const limit = r.int(mem.limit, 'linux.resources.memory.limit', -1);
      if (mem.swap !== undefined && mem.swap !== null) r.int(mem.swap, 'linux.resources.memory.swap', -1);
      for (const k of ['useHierarchy', 'checkBeforeUpdate', 'disableOOMKiller'] as const) {
        if (mem[k] !== undefined && mem[k] !== null && typeof mem[k] !== 'boolean') r.refuse(`linux.resources.memory.${k}`, 'must be a boolean', 'see the OCI runtime-spec', 'BV_OCI_INVALID');
      }
      if (limit !== null && limit > 0) {
        limits.memory = setting(limit);
        // bvisor gives no swap: memory.swap = limit (memory+swap, runc's meaning) is what it does.
        if (mem.swap !== undefined && mem.swap !== limit && mem.swap !== 0) r.refuse('linux.resources.memory.swap', `memory+swap ${mem.swap} differs from the limit ${limit}: bvisor gives containers no swap`, 'set swap equal to limit (podman: --memory-swap equal to --memory)');
      } else if (limit !== null && limit !== -1 && limit !== 0) r.refuse('linux.resources.memory.limit', `${limit} is not a limit`, 'a positive number of bytes, or -1 for none', 'BV_OCI_INVALID');
      for (const k of ['reservation', 'kernel', 'kernelTCP', 'swappiness'] as const) {
        if (mem[k] !== undefined && mem[k] !== null && mem[k] !== -1 && !(k === 'swappiness' && mem[k] === 0)) r.refuse(`linux.resources.memory.${k}`, 'is not applied by bvisor', `remove memory.${k}`);
      }
      if (mem.disableOOMKiller === true) r.refuse('linux.resources.memory.disableOOMKiller', 'a container that cannot be OOM-killed would hang at its limit', 'remove disableOOMKiller');
    }
    const pids = r.obj(res.pids, 'linux.resources.pids');
    if (pids) {
      r.keys(pids, 'linux.resources.pids', ['limit']);
      const pl = r.int(pids.limit, 'linux.resources.pids.limit', -1);
      if (pl !== null && pl > 0) limits.processes = setting(pl);
    }
    const cpu = r.obj(res.cpu, 'linux.resources.cpu');
    if (cpu) {
      r.keys(cpu, 'linux.resources.cpu', ['shares', 'quota', 'burst', 'period', 'realtimeRuntime', 'realtimePeriod', 'cpus', 'mems', 'idle']);
      const quota = r.int(cpu.quota, 'linux.resources.cpu.quota', -1);
      const period = r.int(cpu.period, 'linux.resources.cpu.period', 0) || 100_000;
      if (quota !== null && quota > 0) limits.cpus = setting(quota / period);
      // 1024 is the kernel's default weight (cpu.shares, what containerd always sends): nothing to do.
      if (cpu.shares !== undefined && cpu.shares !== null && cpu.shares !== 1024) r.refuse('linux.resources.cpu.shares', `a weight (${String(cpu.shares)}) is not applied by bvisor`, 'remove cpu.shares, or use quota/period (--cpus)');
      for (const k of ['burst', 'realtimeRuntime', 'realtimePeriod', 'cpus', 'mems', 'idle'] as const) {
        if (cpu[k] !== undefined && cpu[k] !== null && cpu[k] !== '' && cpu[k] !== 0) r.refuse(`linux.resources.cpu.${k}`, 'is not applied by bvisor', `remove cpu.${k} (bvisor applies quota/period)`);
      }
    }
    r.arr(res.devices, 'linux.resources.devices').forEach((x, i) => {
      const at = `linux.resources.devices[${i}]`;
      const o = r.obj(x, at);
      if (!o) return;
      r.keys(o, at, ['allow', 'type', 'major', 'minor', 'access']);
    });
    if (Array.isArray(res.devices) && res.devices.length) r.accept('linux.resources.devices', `${res.devices.length} device rule(s)`, 'linux:mount(/dev: null, zero, full, random, urandom, tty, pts)', 'no device node beyond these exists in the container, and in a user namespace none can be made: narrower than any allow rule');
    for (const k of ['blockIO', 'hugepageLimits', 'network', 'rdma'] as const) {
      if (res[k] !== undefined && !(Array.isArray(res[k]) && (res[k] as unknown[]).length === 0) && !(isObj(res[k]) && Object.keys(res[k] as Obj).length === 0)) r.refuse(`linux.resources.${k}`, 'is not applied by bvisor', `remove resources.${k}`);
    }
    if (res.unified !== undefined && isObj(res.unified) && Object.keys(res.unified).length) r.refuse('linux.resources.unified', 'raw cgroup v2 files are not written by bvisor', 'use memory, pids and cpu instead');
  }
  if (l.unified !== undefined) r.refuse('linux.unified', 'raw cgroup v2 files are not written by bvisor', 'remove it');

  let cgroupsPath: OciExtras['cgroupsPath'] = null;
  const cgp = r.str(l.cgroupsPath, 'linux.cgroupsPath');
  if (cgp !== null && cgp !== '') {
    // systemd's "slice:prefix:name" form needs a systemd manager; bvisor drives cgroupfs.
    if (/^[^/]*:[^:]*:[^:]*$/.test(cgp)) r.refuse('linux.cgroupsPath', `"${cgp}" is systemd's slice:prefix:name form; bvisor manages cgroupfs paths`, 'configure the engine with cgroup_manager = "cgroupfs" (podman) or SystemdCgroup = false (containerd)');
    else {
      const segs = cgp.split('/').filter(Boolean);
      if (segs.length === 0 || segs.some((s) => s === '.' || s === '..')) r.refuse('linux.cgroupsPath', `"${cgp}" is not a plain cgroup path`, 'e.g. /machine/ctr-1', 'BV_OCI_INVALID');
      else cgroupsPath = { parent: (cgp.startsWith('/') ? '/' : '') + segs.slice(0, -1).join('/'), leaf: segs[segs.length - 1]! };
    }
  }

  // devices to create: bvisor binds only its minimal set; the default OCI devices are among them.
  r.arr(l.devices, 'linux.devices').forEach((x, i) => {
    const o = isObj(x) ? x : {};
    const path = typeof o.path === 'string' ? o.path : '?';
    if (!['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'].includes(path)) r.refuse(`linux.devices[${i}]`, `device ${path} is not one bvisor provides (null, zero, full, random, urandom, tty)`, 'remove it; bvisor does not make device nodes for containers');
  });
  const sysctl = r.obj(l.sysctl, 'linux.sysctl');
  if (sysctl) for (const k of Object.keys(sysctl)) r.refuse(`linux.sysctl.${k}`, 'sysctls are not written by bvisor', 'remove it (podman: --sysctl; containerd: the spec\'s linux.sysctl)');
  const seccomp = l.seccomp ?? null;
  if (l.rootfsPropagation !== undefined && !['private', 'rprivate', 'slave', 'rslave'].includes(String(l.rootfsPropagation))) r.refuse('linux.rootfsPropagation', `${String(l.rootfsPropagation)} propagation would let mounts cross between the container and the host`, 'use private (bvisor\'s mounts are always private)');
  if (l.mountLabel !== undefined && l.mountLabel !== '' && !(isObj(c.annotations) && c.annotations[LSM_ANNOTATION] === 'best-effort')) r.refuse('linux.mountLabel', 'SELinux mount labels are not applied by bvisor', `remove mountLabel, or accept it unapplied with the annotation ${LSM_ANNOTATION}=best-effort`);
  if (l.intelRdt !== undefined) r.refuse('linux.intelRdt', 'is not applied by bvisor', 'remove it');
  if (l.rdmaRdma !== undefined) r.refuse('linux.rdmaRdma', 'is not applied by bvisor', 'remove it');
  if (l.personality !== undefined) r.refuse('linux.personality', 'is not applied by bvisor', 'remove it');
  const maskedPaths = r.strs(l.maskedPaths, 'linux.maskedPaths');
  const readonlyPaths = r.strs(l.readonlyPaths, 'linux.readonlyPaths');
  maskedPaths.forEach((m, i) => { if (!isNormalAbsolute(m)) r.refuse(`linux.maskedPaths[${i}]`, `"${m}" must be absolute`, 'fix the path', 'BV_OCI_INVALID'); });
  readonlyPaths.forEach((m, i) => { if (!isNormalAbsolute(m)) r.refuse(`linux.readonlyPaths[${i}]`, `"${m}" must be absolute`, 'fix the path', 'BV_OCI_INVALID'); });

  // mounts
  const filesystem: NormalGrant[] = [];
  const fsMounts: OciFsMount[] = [];
  const hasPid = nsTypes.has('pid');
  r.arr(c.mounts, 'mounts').forEach((x, i) => {
    const at = `mounts[${i}]`;
    const o = r.obj(x, at);
    if (!o) return;
    r.keys(o, at, ['destination', 'type', 'source', 'options', 'uidMappings', 'gidMappings']);
    const dest = r.str(o.destination, `${at}.destination`) ?? '';
    const type = r.str(o.type, `${at}.type`) ?? '';
    const source = r.str(o.source, `${at}.source`) ?? '';
    const options = r.strs(o.options, `${at}.options`);
    if (!isNormalAbsolute(dest)) return r.refuse(`${at}.destination`, `"${dest}" must be an absolute, normalised path`, 'fix the destination', 'BV_OCI_INVALID');
    if (o.uidMappings !== undefined || o.gidMappings !== undefined) return r.refuse(at, 'per-mount id maps are not made by bvisor', 'remove the mount\'s uidMappings/gidMappings');
    const isBind = type === 'bind' || options.includes('bind') || options.includes('rbind');
    // What bvisor mounts there without, whatever the config says (core/layout.ts): every mount
    // nosuid; nodev but where device nodes must open (its /dev's tmpfs, devpts); noexec for the
    // kernel's filesystems, /dev and /dev/shm. A config asking for one of them would get less than
    // it asked, silently (set-ID programs that do not gain, device nodes that do not open, programs
    // that do not run): refused by name. An option left out is bvisor's default (docs/oci.md).
    const forced = mountForces(type, dest, isBind);
    const wider = options.filter((opt) => forced.includes(opt));
    if (wider.length) return r.refuse(`${at}.options`, `${wider.join(', ')}: bvisor mounts ${dest} ${wider.map((w) => `no${w}`).join(' and ')}, and does not give the mount what it asks`, `drop ${wider.join(' and ')} (or say no${wider.join(', no')})`);
    if (isBind) {
      // /dev/shm shared from the engine's directory: bvisor gives every container its own.
      if (dest === '/dev/shm') return r.accept(at, `bind ${source} at /dev/shm`, 'linux:mount(tmpfs /dev/shm)', 'a private /dev/shm instead of the engine\'s shared one');
      const bad = options.filter((opt) => !FLAG_OPTIONS.has(opt));
      if (bad.length) return r.refuse(`${at}.options`, `bind options ${bad.join(', ')} are not applied by bvisor`, 'use ro/rw, nosuid, nodev, noexec, bind/rbind');
      if (options.some((opt) => ['shared', 'rshared', 'slave', 'rslave'].includes(opt))) return r.refuse(`${at}.options`, 'shared or slave propagation would let mounts cross the boundary', 'drop the propagation option');
      const ro = options.includes('ro') || options.includes('rro');
      const noexec = options.includes('noexec');
      const access: Access = ro ? (noexec ? 'read' : 'read-exec') : noexec ? 'read-write' : 'read-write-exec';
      const rel = !source.startsWith('/');
      if (!source || (rel && source.split('/').some((s) => s === '..'))) return r.refuse(`${at}.source`, `"${source}" must be an absolute host path, or a path inside the bundle`, 'fix the source', 'BV_OCI_INVALID');
      // runc's reading: `rbind` binds the whole tree, `bind` (or type bind alone) that mount only.
      const submounts = options.includes('rbind');
      filesystem.push({ index: filesystem.length, path: rel ? `./${source.replace(/^\.\//, '')}` : source, bundleRelative: rel, access, recursive: true, guarantee: 'enforced', target: dest, ociPath: at, ...(submounts ? {} : { submounts }) });
      return;
    }
    const known: Record<string, string> = { proc: '/proc', tmpfs: '', devpts: '/dev/pts', mqueue: '/dev/mqueue', sysfs: '/sys', cgroup: '/sys/fs/cgroup', cgroup2: '/sys/fs/cgroup' };
    if (!(type in known)) return r.refuse(`${at}.type`, `mount type ${JSON.stringify(type)} is not made by bvisor`, 'use bind, proc, tmpfs, devpts, mqueue, sysfs or cgroup');
    if (type === 'proc') {
      if (dest !== '/proc') return r.refuse(`${at}.destination`, 'proc is mounted only at /proc', 'mount proc at /proc');
      if (!hasPid) return r.refuse(at, 'a fresh /proc needs a pid namespace (bvisor makes one only when the config asks)', 'add a pid namespace');
      return r.accept(at, 'proc at /proc', 'linux:mount(proc, /proc/sys read-only, leaky files masked)');
    }
    if (type === 'tmpfs') {
      if (dest === '/dev') return r.accept(at, 'tmpfs at /dev', 'linux:mount(tmpfs /dev with null, zero, full, random, urandom, tty)');
      if (dest === '/dev/shm') return r.accept(at, 'tmpfs at /dev/shm', 'linux:mount(tmpfs /dev/shm)');
      if (dest === '/proc' || dest.startsWith('/proc/') || dest === '/sys' || dest.startsWith('/sys/') || dest.startsWith('/dev/')) return r.refuse(`${at}.destination`, `a tmpfs over ${dest} would hide what bvisor mounts there`, 'mount it elsewhere');
      const bad = options.filter((opt) => !FLAG_OPTIONS.has(opt) && !/^(mode=[0-7]{3,4}|size=[0-9]+[kmg%]?)$/.test(opt));
      if (bad.length) return r.refuse(`${at}.options`, `tmpfs options ${bad.join(', ')} are not applied by bvisor`, 'use mode= and size=');
      // As for binds: propagation the mount would not get is refused, not admitted unapplied.
      if (options.some((opt) => ['shared', 'rshared', 'slave', 'rslave'].includes(opt))) return r.refuse(`${at}.options`, 'shared or slave propagation would let mounts cross the boundary', 'drop the propagation option');
      fsMounts.push({ path: at, destination: dest, type: 'tmpfs', options });
      return r.accept(at, `tmpfs at ${dest}`, 'linux:mount(tmpfs)');
    }
    if (dest !== known[type]) return r.refuse(`${at}.destination`, `${type} is mounted only at ${known[type]}`, `mount it at ${known[type]}`);
    // sysfs may be mounted only by the owner of the network namespace (fs/sysfs/mount.c).
    if (type === 'sysfs' && !nsTypes.has('network')) return r.refuse(at, 'sysfs in a container that shares the host network would show the host\'s devices and cannot be mounted from a user namespace', 'add a network namespace, or drop the /sys mount');
    // A joined namespace belongs to the host's user namespace: no sysfs from ours. The
    // container gets an empty read-only /sys instead (narrower), and no cgroup2 under it.
    if (netnsPath !== null && type === 'sysfs') {
      fsMounts.push({ path: at, destination: dest, type: 'tmpfs', options: ['ro', 'nosuid', 'nodev', 'noexec', 'mode=755', 'size=4k'] });
      return r.accept(at, `sysfs at ${dest}`, 'linux:mount(tmpfs, empty, read-only)', 'narrowed: in the engine\'s network namespace sysfs cannot be mounted from the container\'s user namespace, so /sys is empty');
    }
    if (netnsPath !== null && (type === 'cgroup' || type === 'cgroup2')) return r.accept(at, `${type} at ${dest}`, 'none', 'narrowed: /sys is empty in the engine\'s network namespace (see the sysfs mount), so no cgroup2 is mounted there');
    const allowed = new Set([...FLAG_OPTIONS, 'newinstance', 'ptmxmode=0666', 'mode=0620', 'mode=620', 'gid=5', 'mode=755']);
    const bad = options.filter((opt) => !allowed.has(opt));
    if (bad.length) return r.refuse(`${at}.options`, `options ${bad.join(', ')} are not applied by bvisor`, 'use the defaults podman and containerd send');
    fsMounts.push({ path: at, destination: dest, type: type === 'cgroup' ? 'cgroup2' : (type as OciFsMount['type']), options });
    r.accept(at, `${type} at ${dest}`, `linux:mount(${type === 'cgroup' ? 'cgroup2, read-only, in the container\'s cgroup namespace' : type}${type === 'devpts' ? ', newinstance' : ''}${type === 'sysfs' || type === 'cgroup' ? ', read-only' : ''})`, type === 'devpts' && options.includes('gid=5') ? 'gid=5 dropped: only the process\'s own group exists inside (pty slaves belong to it)' : null);
  });

  // Containers fork; bvisor bounds their descendants always. Without linux.resources.pids the
  // bound is bvisor's default (narrower than the config, and said so).
  if (!limits.processes) {
    limits.processes = setting(DEFAULT_OCI_PIDS);
    r.accept('linux.resources.pids', `none (bvisor's default: ${DEFAULT_OCI_PIDS})`, 'linux:pids.max', `the config sets no pids limit; bvisor bounds every container's descendants, here at ${DEFAULT_OCI_PIDS}`);
  }

  // The program: args[0], resolved in the rootfs by the host side (PATH lookup inside the root).
  const argv0 = args[0] ?? '';
  const manifest: NormalManifest & { oci: OciExtras } = {
    workload: { kind: 'process', exe: argv0, args: args.slice(1), cwd },
    root: { path: rootPath, readonly: rootRo, guarantee: 'enforced' },
    filesystem,
    network,
    spawn: setting('descendants'),
    env,
    fds: [],
    stdio: { stdin: 'inherit', stdout: 'inherit', stderr: 'inherit' },
    limits,
    tmp: { value: 'none', guarantee: 'enforced', explicit: false },
    syscalls: { value: 'errno', guarantee: 'enforced', explicit: false },
    isolate: { value: { signals: false, abstractUnix: false }, guarantee: 'enforced', explicit: false },
    capabilities,
    defaultGuarantee: 'enforced',
    explicitDefaultGuarantee: false,
    oci: { netnsPath, ociVersion, hostname, argv0, searchPath, terminal, consoleSize, fsMounts, maskedPaths, readonlyPaths, rlimits, seccomp, cgroupsPath, oomScoreAdj, umask, ...(inside ? { user: inside } : {}), ...(idMaps ? { idMaps } : {}), ...(additionalGids.length ? { additionalGids } : {}), annotations, hooks, verdicts: r.verdicts, refusals: r.refusals },
  };
  // crun's wasm handlers (an annotation, args[0] a module): a wasm workload (core/oci/wasm.ts).
  const handler = wasmHandlerOf(config);
  if (handler.kind === 'refused') manifest.oci.refusals.push(handler.refusal);
  return { manifest: handler.kind === 'wasm' ? wasmFromOci(config, manifest, handler) : manifest };
}

/** Line and column of a JSON.parse error position, for file:line:col messages. */
export function jsonErrorAt(text: string, message: string): { line: number; col: number } {
  const m = /position (\d+)/.exec(message);
  const pos = m ? Number(m[1]) : text.length;
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return { line, col: pos - before.lastIndexOf('\n') };
}
