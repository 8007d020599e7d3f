// The backends' feature tables: for every kind of clause, the mechanisms a backend could use,
// strongest first, each with its strength and whether this host has it (with the reason and a
// hint when it does not). The planner picks the first available mechanism at least as strong as
// the clause's guarantee; this file never decides, it only describes.
import type { HostFacts, Guarantee } from '../contract/generated/types.js';
import type { IssueCode } from '../contract/errors.js';
import type { NormalManifest, NormalGrant, LimitName } from './manifest.js';
import { rightsFor, FS_RIGHTS, KNOWN_ABI, type FsRight } from './landlock.js';
import { MINIMAL_DEVICES, under, idmapOption } from './layout.js';

const MINIMAL_DEVICE_PATHS: readonly string[] = MINIMAL_DEVICES.map((d) => `/dev/${d}`);
/** The first uid/gid of regular users on Debian-family systems (login.defs UID_MIN/GID_MIN). */
const FIRST_REGULAR_ID = 1000;
import { canNamespace, seccompAction, cgroupFor, hardRlimit, hasCap, CAP, perRunIds } from './host-view.js';
import { formatSize, formatDuration } from './units.js';
import { ruleCount, TABLES, type Arch } from './seccomp/compile.js';
import { openat2Answer, policyFor } from './seccomp/policy.js';
import { splitMemory } from './wasm/fuel.js';

function seccompArch(host: HostFacts): Arch | null {
  return host.kernel.arch in TABLES ? (host.kernel.arch as Arch) : null;
}

export type Strength = Guarantee;
export const STRENGTH_RANK: Record<Strength, number> = { 'best-effort': 1, mediated: 2, enforced: 3 };

export type Candidate =
  | { available: true; mechanism: string; strength: Strength; note?: string }
  | { available: false; mechanism: string; strength: Strength; code: IssueCode; reason: string; hint: string };

export interface PathFact {
  /** Absolute physical path on the host (no symlink in it when planned). */
  path: string;
  kind: 'file' | 'directory' | 'other' | 'missing';
  /** Identity when planned (decimal st_dev, st_ino): the launcher refuses any other object. */
  dev?: string;
  ino?: string;
  /** Owner and permission bits. */
  uid?: number;
  gid?: number;
  mode?: number;
  /** Rootful write grants: an idmapped mount of it works on this host (tried when planning). */
  idmap?: boolean;
  /** The path passes through a symlink someone other than root (or the caller) controls: why. */
  untrusted?: string;
  /** The trusted symlinks followed to reach it, in order: where each sits (its physical place)
   * and its text. Host mode recreates them in the built root, so the path as written works. */
  links?: ReadonlyArray<{ at: string; text: string }>;
  /** A program that is a #! script: its interpreter's path. */
  interpreter?: string;
  /** OCI bundles: the path lies in an engine's own container storage (the bundle, or a storage
   * root the operator trusts: see host/bundle.ts engineStorage), where its files are the
   * container's to write. */
  engineStorage?: boolean;
  /** OCI bundles: the path is the bundle directory, a directory holding it, or its config.json
   * or boundary.yaml (by identity or physical path): the container could rewrite the config the
   * next create reads. */
  holdsBundle?: boolean;
  /** A namespace file (nsfs), for an OCI config's namespace path. */
  nsfs?: boolean;
  /** A `bind` (not `rbind`) of a directory: the mount points beneath it, as this process sees
   * them (at most a few, for the message). */
  submounts?: string[];
  /** OCI, rootful, a writable directory (or file) an idmapped mount could bridge (the rootfs, a
   * write bind): all its set-ID and file-capability programs, by path beneath it and identity
   * (host/set-id.ts). */
  setIdScan?: { files: Array<{ path: string; dev: string; ino: string }>; complete: boolean };
  /** Host paths: owner, group and mode of every directory the lookup passed through (each needs
   * search permission for whoever looks the path up). */
  searched?: ReadonlyArray<{ uid: number; gid: number; mode: number }>;
}

export interface PlanPaths {
  grants: PathFact[];
  exe: PathFact | null;
  module: PathFact | null;
  root: PathFact | null;
  /** stdin: { file }, resolved like the other paths. */
  stdin?: PathFact | null;
  /** Symlinks at the top of the host's / (merged /usr links such as lib64 -> usr/lib64). */
  rootLinks?: ReadonlyArray<{ name: string; target: string }>;
  /** Container mode: what the rootfs has where bvisor will mount (grant targets, /proc, /dev,
   * /tmp), resolved beneath it with no symlink allowed ('symlink': one is on the way). */
  rootTargets?: Readonly<Record<string, PathFact['kind'] | 'symlink'>>;
  /** An OCI config's network namespace path (linux.namespaces[network].path), resolved. */
  netns?: PathFact | null;
}

/** Where a grant appears in container mode: bundle-relative ones at /<relative path>. */
export function containerTarget(g: NormalGrant, fact: PathFact): string {
  if (g.target !== undefined) return g.target;
  return g.bundleRelative ? '/' + g.path.split('/').filter((x) => x && x !== '.').join('/') : fact.path;
}

/** A refusal when the rootfs has a symlink, a FIFO, a device or the wrong kind where bvisor mounts. */
function rootTargetProblem(ctx: FeatureCtx, target: string, want: 'directory' | 'file', clause: string): Candidate | null {
  const got = ctx.paths.rootTargets?.[target];
  if (got === undefined || got === 'missing' || got === want) return null;
  const what = got === 'symlink' ? 'passes through a symlink' : got === 'other' ? 'is a FIFO, socket or device' : `is a ${got}, not a ${want}`;
  return missing('linux:mount', 'enforced', 'BV_PLAN_PATH_KIND', `${clause}: the mount point ${target} in the rootfs ${what}`, 'bvisor never mounts through links or onto special files in a rootfs: fix the rootfs, or mount elsewhere');
}

/** A host path bvisor keeps to itself. */
export interface Reserved {
  path: string;
  what: 'state root' | 'wasm cache' | 'bvisor install';
}

export interface FeatureCtx {
  host: HostFacts;
  manifest: NormalManifest;
  paths: PlanPaths;
  /** The cgroup parent the user named, or null (the planner then places cgroups itself). */
  cgroupParent: string | null;
  reserved?: readonly Reserved[];
}

export type Backend = 'linux' | 'wasm';

const missing = (mechanism: string, strength: Strength, code: IssueCode, reason: string, hint: string): Candidate => ({ available: false, mechanism, strength, code, reason, hint });
const have = (mechanism: string, strength: Strength, note?: string): Candidate => (note ? { available: true, mechanism, strength, note } : { available: true, mechanism, strength });

const NS_HINT = 'enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces>0), or run bvisor as root';

function namespaced(ctx: FeatureCtx, mechanism: string, what: string): Candidate {
  return canNamespace(ctx.host) ? have(mechanism, 'enforced') : missing(mechanism, 'enforced', 'BV_PLAN_USERNS_UNAVAILABLE', `${what} needs a new namespace and this host lets us create none (${ctx.host.userns.error ?? 'user namespaces unavailable'})`, NS_HINT);
}

// ---------------------------------------------------------------------------------------------
// linux

/** The workload's root is built from its grants (or is the rootfs): needs a mount namespace. */
function llSuffix(abi: number): string {
  return abi >= 1 ? `+landlock(abi=${Math.min(abi, KNOWN_ABI)})` : '';
}

function linuxFilesystemDefault(ctx: FeatureCtx): Candidate[] {
  const abi = ctx.host.landlock.abi;
  const out: Candidate[] = [];
  // The root holds only what is granted: an ungranted path does not exist, so no call (open,
  // stat, chmod, xattr, inotify, connect to a socket file) can reach it. Landlock is a second
  // layer on top when the kernel has it. One way out of the root stays: /proc/self/fd/N of a
  // file the workload was handed open (stdin, a passed fd, a script) names the host's path on
  // the host's mount. Writing there needs WRITE_FILE (every ABI); truncating needs TRUNCATE
  // (ABI 3), so below it seccomp refuses the path-based truncations (docs/landlock.md).
  const root = ctx.manifest.root ? namespaced(ctx, `linux:mount(pivot_root)${llSuffix(abi)}`, 'container mode') : namespaced(ctx, `linux:mount(root from grants)${llSuffix(abi)}`, 'a root built from the grants');
  if (root.available && abi >= 1 && abi < 3) {
    const cover = truncateCover(ctx);
    if (cover === null) out.push({ ...root, mechanism: `${root.mechanism}+seccomp(truncate)` });
    else out.push(missing(root.mechanism, 'enforced', 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', `landlock ABI ${abi} cannot restrict truncate (needs ABI 3), so a file handed to the workload open (stdin, fds, a script) could be truncated through /proc/self/fd, and ${cover}`, 'run on Linux ≥ 6.2 (landlock ABI 3), or let seccomp deny truncate(2) (syscalls: { deny: errno }), or mark filesystem guarantee: best-effort'), { ...root, strength: 'best-effort', note: `landlock ABI ${abi} does not restrict truncate through /proc/self/fd` });
  } else out.push(root);
  // Without a mount namespace only landlock is left: reads and writes outside the grants are
  // denied, but metadata calls and unix sockets are not, so it is weaker than the promise.
  if (!ctx.manifest.root) {
    if (abi >= 3) out.push(have(`linux:landlock(abi=${Math.min(abi, KNOWN_ABI)})`, 'best-effort', 'landlock alone does not hide ungranted paths from stat, chmod, xattr or unix connect'));
    else if (abi >= 1) out.push(have(`linux:landlock(abi=${abi},unhandled=TRUNCATE)`, 'best-effort', 'landlock alone does not hide ungranted paths, and this ABI cannot restrict truncate'));
  }
  return out;
}

/**
 * Below landlock ABI 3, what keeps truncate(2) and open(O_RDONLY|O_TRUNC) from files outside the
 * grants is seccomp's truncate rules (policy.ts truncateRules): null when they will be installed
 * and refuse (errno or kill), else why not.
 */
function truncateCover(ctx: FeatureCtx): string | null {
  const act = ctx.manifest.syscalls.value;
  if (!seccompArch(ctx.host)) return `bvisor has no seccomp table for ${ctx.host.kernel.arch} to deny truncate(2) instead`;
  if (act === 'log') return 'syscalls: { deny: log } would only log truncate(2), not deny it';
  if (!seccompAction(ctx.host, act === 'kill' ? 'kill_process' : 'errno')) return 'seccomp filters are not available to deny truncate(2) instead';
  return null;
}

/**
 * stdin: inherit keeps the workload in the caller's session and process group (no setsid, so
 * the terminal stays its controlling terminal), and a pid namespace does not scope kill(0, sig):
 * it reaches every member of that group (kernel/signal.c, kill_something_info). Where the
 * workload runs as the caller's own uid (rootless), that is bvisor itself, its supervisor, and
 * the caller's shell. Landlock's signal scope (ABI 6) stops it; below that only a different uid
 * does (rootful: the workload's mapped id is not the caller's).
 */
export function inheritedStdin(host: HostFacts): Candidate[] {
  const abi = host.landlock.abi;
  if (abi >= 6) return [have(`linux:stdio+landlock-scope(abi=${Math.min(abi, KNOWN_ABI)},signal)`, 'enforced')];
  if (host.identity.euid === 0 && host.mapping.uid !== 0) return [have('linux:stdio', 'enforced', `stdin: inherit keeps the workload in your process group; it runs as ${host.mapping.uid}, so it can signal none of its other members but those of that uid`)];
  return [missing('linux:stdio+landlock-scope(signal)', 'enforced', 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', `stdin: inherit keeps the workload in your process group, where it runs as your uid: kill(0, SIGSTOP) would stop bvisor (its supervisor) and your shell; landlock scopes signals from ABI 6, this host has ${abi}`, 'use stdin: null or stdin: { file }, run bvisor as root (the workload then runs as another uid), or run on Linux ≥ 6.12 (landlock ABI 6)')];
}

/** A host path through a symlink that someone else could have planted or could swap. */
export function untrustedLink(path: string, why: string): Candidate {
  return missing('linux:mount', 'enforced', 'BV_PLAN_PATH_LINK', `${path} passes through a symlink bvisor will not follow: ${why}`, 'name the real path, or have root own the link and its directory');
}

/** Grants bvisor never makes, or makes only in a safe shape. null: nothing special. */
function unsafeGrant(ctx: FeatureCtx, g: NormalGrant, path: string, writes: boolean): Candidate | null {
  const no = (code: IssueCode, reason: string, hint: string): Candidate => missing('linux:mount', 'enforced', code, reason, hint);
  if (under(path, '/proc') && writes) return no('BV_PLAN_GRANT_UNSAFE', `${g.path} is in /proc, whose writable files steer the host kernel (core_pattern, sysrq)`, 'grant /proc read-only (the workload gets a fresh /proc of its own, /proc/sys read-only)');
  if (under(path, '/sys') && writes) return no('BV_PLAN_GRANT_UNSAFE', `${g.path} is in /sys, whose writable files (cgroups, devices, kernel knobs) are host-wide`, 'grant it read-only, or drop the grant');
  if (under(path, '/dev') && !(MINIMAL_DEVICE_PATHS.includes(path) && !g.access.includes('exec'))) {
    return no('BV_PLAN_GRANT_UNSAFE', `${g.path} is a device path; every root gets a minimal /dev (${MINIMAL_DEVICE_PATHS.join(', ')}) and nothing else of the host's`, 'drop the grant; the minimal /dev is always there');
  }
  // The outputs quarantine is bvisor's own directory for this run, made for the workload.
  for (const r of g.outputs ? [] : (ctx.reserved ?? [])) {
    if (r.what === 'bvisor install') {
      if (writes && (under(path, r.path) || under(r.path, path))) return no('BV_PLAN_GRANT_RESERVED', `${g.path} would let the workload write ${r.what} ${r.path}, which runs as root later`, 'grant it read-only, or a directory that does not hold bvisor');
    } else if (under(path, r.path)) {
      return no('BV_PLAN_GRANT_RESERVED', `${g.path} is inside bvisor's ${r.what} ${r.path} (other runs' state, reports and the journal)`, 'grant another directory; bvisor hides its own directories from every workload');
    }
  }
  return null;
}

/**
 * What bvisor's wasm runner (its own manifest, app/wasm.ts) may get on a preopen from a wider
 * grant around it: a preopen inside /usr or bvisor's code gets what those grants already give the
 * runner there, to read and to execute, and its guest none of it (WASI has no exec, and the host
 * opens every guest path itself, with the preopen's access). A right to change what is there (a
 * read-only preopen inside a read-write one) is still refused.
 */
const RUNNER_NESTED_OK: ReadonlySet<string> = new Set(['EXECUTE', 'READ_FILE', 'READ_DIR']);

/**
 * Landlock rules add up along a path, across mounts: a grant mounted inside a wider one would
 * get the wider rights. Where the workload sees them is what counts (in a container, the
 * targets). And in a container a grant mounted inside another grant's mount needs its mount
 * point there: only when the two host paths nest the same way does it already exist; otherwise
 * bvisor would have to make it in the other grant's host directory.
 */
function nestedWider(ctx: FeatureCtx, g: NormalGrant, path: string): Candidate | null {
  const mine = new Set(rightsFor(g.access, 'directory', path));
  const runner = ctx.manifest.internal?.wasmRunner === true;
  const where = (i: number, p: string): string => (ctx.manifest.root ? containerTarget(ctx.manifest.filesystem[i]!, ctx.paths.grants[i] ?? { path: p, kind: 'missing' }) : p);
  const myTarget = where(g.index, path);
  for (const o of ctx.manifest.filesystem) {
    if (o.index === g.index) continue;
    const op = ctx.paths.grants[o.index];
    if (!op || op.kind !== 'directory') continue;
    const oTarget = where(o.index, op.path);
    if (oTarget === myTarget || !under(myTarget, oTarget)) continue;
    if (ctx.manifest.root && myTarget.slice(oTarget.length) !== (under(path, op.path) ? path.slice(op.path === '/' ? 0 : op.path.length) : null)) {
      return missing('linux:mount', 'enforced', 'BV_PLAN_GRANT_NESTED', `${g.path} would be mounted at ${myTarget}, inside filesystem[${o.index}]'s mount at ${oTarget}, where ${o.path} has no such directory`, `mount it outside ${oTarget}, or grant a directory of ${o.path}`);
    }
    const extra = rightsFor(o.access, 'directory', op.path).filter((r) => !mine.has(r) && (ctx.paths.grants[g.index]?.kind === 'directory' || FS_RIGHTS[r].fileOk) && !(runner && RUNNER_NESTED_OK.has(r)));
    if (extra.length) return missing('linux:landlock', 'enforced', 'BV_PLAN_GRANT_NESTED', `${g.path} (${g.access}) lies inside filesystem[${o.index}] ${o.path} (${o.access}), whose rules also cover it: it would get ${extra.join(', ')}`, `grant the parts of ${o.path} that need ${o.access} one by one, beside ${g.path}, or give ${g.path} the same access`);
  }
  return null;
}

/** Why set-ID and file-capability programs beneath a writable idmapped mount are bound read-only. */
const SETID_WHY = 'through the idmapped mount the workload is their owner, and a write through a shared mapping (mmap) keeps a set-ID bit or file capability that write(2) would clear: a host user who ran the file would run the workload\'s code with its owner\'s ids or those capabilities';

/**
 * The set-ID files of a writable, idmapped tree (host/set-id.ts), each bound read-only over
 * itself in the container, or the refusal when they could not all be found (or the tree is
 * one such file). `at` names the tree in messages.
 */
function setIdReadonly(fact: PathFact, at: string, mechanism: string): { files: string[] } | Candidate {
  const scan = fact.setIdScan;
  if (!scan) return { files: [] };
  if (!scan.complete) return missing(mechanism, 'enforced', 'BV_PLAN_WRITE_OWNER', `${at} is writable through an idmapped mount, and bvisor could not look through all of it for set-ID and file-capability programs (more than 2^20 entries or 4,096 such files, one whose path is not UTF-8, or it changed while looked through: another writer); ${SETID_WHY}`, 'make it read-only in the config, or stop what else writes it');
  if (scan.files.some((f) => f.path === '')) return missing(mechanism, 'enforced', 'BV_PLAN_WRITE_OWNER', `${at} is a set-ID or file-capability program, writable in the config through an idmapped mount; ${SETID_WHY}`, 'bind it read-only');
  return { files: scan.files.map((f) => f.path) };
}

/** The mechanism suffix and note for set-ID files kept read-only. */
function setIdNote(files: readonly string[]): { suffix: string; note: string | undefined } {
  if (!files.length) return { suffix: '', note: undefined };
  const shown = files.slice(0, 4).join(', ') + (files.length > 4 ? `, … (${files.length})` : '');
  return { suffix: `,setid-ro=${files.length}`, note: `set-ID and file-capability programs kept read-only (${shown}): ${SETID_WHY}` };
}

/**
 * How a write grant stays usable when the workload is not the caller (rootful: it acts as an
 * unprivileged id). Returns the idmap (on-disk owner shown as the workload's own), null when no
 * mapping is needed, or a refusal.
 */
function writeShape(ctx: FeatureCtx, g: NormalGrant, fact: PathFact): { idmap: Idmap | null } | Candidate {
  const me = ctx.host.mapping;
  // The bundle's own directory (or one holding it, or its config file) writable: the container
  // would rewrite the config the next create of this bundle reads (rootful, as host root on an
  // idmapped mount), whoever owns it.
  if (ctx.manifest.oci && fact.holdsBundle) {
    return missing('linux:mount(bind,rw)', 'enforced', 'BV_PLAN_WRITE_OWNER', `${g.path} is the bundle directory, holds it, or is its config, and is writable in the config: the container could rewrite the config.json the next create reads`, 'bind it read-only, or bind a directory inside the bundle instead');
  }
  if (ctx.host.identity.euid !== 0) return { idmap: null }; // the workload is the caller: its own files
  if (fact.uid === undefined || fact.gid === undefined) return missing('linux:mount(bind,rw)', 'enforced', 'BV_PLAN_WRITE_OWNER', `${g.path}: its owner could not be read`, 'check that the path exists and bvisor may stat it');
  const id = `${fact.uid}:${fact.gid}`;
  // A config's process.user other than 0:0, in the engine's storage (a volume), world-writable
  // or not: that user's files there are its own and what it makes lands on disk as it, as under
  // runc. Only files on disk of that id become its own (every other owner shows as on disk, a
  // range id's too), so neither the mode check nor the range check below is needed for that.
  const blk = idBlock(ctx);
  if (blk && fact.engineStorage && fact.idmap) return { idmap: blk };
  if (ctx.manifest.oci?.user && fact.engineStorage && fact.idmap) return { idmap: ctx.manifest.oci.user };
  if (((fact.mode ?? 0) & 0o002) !== 0) return { idmap: null };
  // Where each launch has an id of its own, an id of the range is some workload's: a live one's
  // (the grant would hand it the other's files, bridged or not), or one an earlier holder left,
  // which the next launch to draw it would own or not by chance. Never this launch's to write
  // by owner, whichever it draws.
  const range = perRunIds(ctx.host) ? (me.range ?? null) : null;
  if (range && (within(fact.uid, range.uid, range.count) || within(fact.gid, range.gid, range.count))) {
    return missing('linux:mount(bind,rw)', 'enforced', 'BV_PLAN_WRITE_OWNER', `${g.path} is owned by ${id}, an id of bvisor's range (${range.uid}–${range.uid + range.count - 1}): another run's or container's, and each launch takes an id of its own`, `chown ${fact.path} to the user who should own the outputs (an idmapped mount then bridges it), or chmod 1777 it`);
  }
  if (fact.uid === me.uid) return { idmap: null };
  // An engine's container (OCI config.json): its rootfs and the files it binds belong to root,
  // as the engine made them, and the container's root is expected to write them. An idmapped
  // mount shows their owner as the workload's root; what it creates lands as that owner (host
  // root) on the engine's own storage, exactly as under runc, while set-id bits stay denied by
  // seccomp (setIdRules) and the mount is nosuid.
  // Only there: a config naming /etc or /usr writable must not make the container host root's
  // equal on them (a hostile or careless config; runc would let it, bvisor does not).
  if (ctx.manifest.oci && fact.engineStorage && fact.idmap) return { idmap: { uid: fact.uid!, gid: fact.gid! } };
  if (ctx.manifest.oci && fact.engineStorage) {
    return missing('linux:mount(bind,rw,idmap)', 'enforced', 'BV_PLAN_WRITE_OWNER', `${g.path} is owned by ${id} and writable in the config, and this filesystem cannot be idmapped (an overlay snapshot cannot), so the container's root (an unprivileged host id) could not write it`, `use a snapshotter or storage driver whose rootfs is a plain directory (containerd: --snapshotter native; podman: --storage-driver vfs), or a read-only root (root.readonly: true)`);
  }
  if (ctx.manifest.oci && (fact.uid === 0 || fact.gid === 0)) {
    return missing('linux:mount(bind,rw)', 'enforced', 'BV_PLAN_WRITE_OWNER', `${g.path} is owned by ${id} (root) and lies outside the bundle and the engines' container storage, so bvisor will not let the container write it as its owner`, `bind it read-only, or, if it is an engine's own storage, name that directory in BVISOR_OCI_STORAGE (colon-separated)`);
  }
  if (fact.uid === 0 || fact.gid === 0) {
    return missing('linux:mount(bind,rw)', 'enforced', 'BV_PLAN_WRITE_OWNER', `${g.path} is owned by ${id} (root); the workload runs as ${me.uid}:${me.gid} and bvisor never lets it create files as root`, `make the directory belong to the user who should own the outputs (chown USER ${fact.path})${perRunIds(ctx.host) ? '' : `, or to ${me.uid}`}, or make it world-writable (chmod 1777)`);
  }
  // An idmapped mount makes the workload the owner and a member of the group on that mount: a
  // system user or group (shadow, disk, docker…) is a privilege no workload gets, even there.
  if ((fact.uid ?? 0) < FIRST_REGULAR_ID || (fact.gid ?? 0) < FIRST_REGULAR_ID) {
    return missing('linux:mount(bind,rw,idmap)', 'enforced', 'BV_PLAN_WRITE_OWNER', `${g.path} is owned by ${id}, a system user or group (below ${FIRST_REGULAR_ID}); bvisor bridges only a regular user's directory with an idmapped mount`, `chown USER:GROUP ${fact.path} to a regular user and group (≥ ${FIRST_REGULAR_ID}), ${perRunIds(ctx.host) ? '' : `chown ${me.uid}:${me.gid} it, `}or chmod 1777 it`);
  }
  if (!fact.idmap) {
    return missing('linux:mount(bind,rw,idmap)', 'enforced', 'BV_PLAN_WRITE_OWNER', `${g.path} is owned by ${id}, the workload runs as ${me.uid}:${me.gid}, and this filesystem does not support idmapped mounts to bridge them`, `${perRunIds(ctx.host) ? `chmod 1777 ${fact.path}` : `chown ${me.uid}:${me.gid} ${fact.path} (or chmod 1777)`}, or use a filesystem with idmapped mounts (ext4, xfs, btrfs; tmpfs on Linux ≥ 6.3)`);
  }
  return { idmap: { uid: fact.uid!, gid: fact.gid! } };
}

/** Whether id lies in [start, start + count). */
const within = (id: number, start: number, count: number): boolean => id >= start && id < start + count;

/** An idmapped mount's map: the ids from uid and gid on disk show as `count` (absent: one) from
 * the workload's identity. */
export type Idmap = { uid: number; gid: number; count?: number };

/**
 * An OCI config's block of ids (oci.idMaps), where this host gives one (host/id-claims.ts claims
 * it for the launch), else null: the container then maps its one id, as before blocks (narrower,
 * and the maps' verdict says why: noBlockWhy).
 */
export function idBlock(ctx: Pick<FeatureCtx, 'host' | 'manifest'> & { paths?: Pick<PlanPaths, 'root' | 'grants'> }): { uid: number; gid: number; count: number } | null {
  const b = ctx.manifest.oci?.idMaps;
  return b && noBlockWhy(ctx) === null ? b : null;
}

/** Why an OCI config's block of ids is not given here (null: it is, or none was asked). */
export function noBlockWhy(ctx: Pick<FeatureCtx, 'host' | 'manifest'> & { paths?: Pick<PlanPaths, 'root' | 'grants'> }): string | null {
  const b = ctx.manifest.oci?.idMaps;
  if (!b) return null;
  const range = ctx.host.mapping.range ?? null;
  if (!perRunIds(ctx.host) || range === null) return `a block of ${b.count} ids (as the config asks) needs bvisor as root with a range of its own (bvisor:START:COUNT in /etc/subuid and /etc/subgid)`;
  const ids = `(${range.uid}–${range.uid + range.count - 1})`;
  // At most half of what the range gives out: one container never holds every id of the range
  // (every other launch would be refused while it lives).
  const most = Math.floor((range.count - 1) / 2);
  if (b.count > most) return `the config asks for ${b.count} ids, and one container may hold at most half of the ${range.count - 1} ids bvisor's range ${ids} gives out (${most}): give bvisor a larger range, or ask for fewer ids (podman: --userns=auto:size=N)`;
  // What the container makes lands on disk as the config's ids: never as ids of the range,
  // which are other launches' host ids.
  const meets = (a: number, r: number): boolean => a < r + range.count && r < a + b.count;
  if (meets(b.uid, range.uid) || meets(b.gid, range.gid)) return `the config's host ids (${b.uid}–${b.uid + b.count - 1}, gids ${b.gid}–${b.gid + b.count - 1}) meet bvisor's range ${ids}, whose ids are the host ids of other launches: what the container made on disk would be stored as theirs; map the container to host ids outside it`;
  const root = ctx.paths?.root;
  if (ctx.manifest.root && root && root.kind === 'directory' && root.idmap !== true) return `the rootfs ${root.path} cannot be idmapped (an overlay snapshot cannot), and a block's files on disk are the config's ids seen through an idmapped rootfs: use a snapshotter or storage driver whose rootfs is a plain directory (containerd: --snapshotter native; podman: --storage-driver vfs)`;
  // Every bind of a block container is idmapped (from the block, or blockFence): one whose
  // filesystem cannot be (tmpfs before Linux 6.3: an engine's /etc/hosts, a pod's secret volume)
  // keeps the container at its one id, where it ran before blocks.
  for (const g of ctx.manifest.filesystem) {
    const f = ctx.paths?.grants[g.index];
    if (!f || (f.kind !== 'directory' && f.kind !== 'file') || under(f.path, '/proc') || MINIMAL_DEVICE_PATHS.includes(f.path)) continue;
    if (f.idmap !== true) return `${g.ociPath ?? g.path} (${f.path}) cannot be idmapped (tmpfs before Linux 6.3, an overlay, FUSE), and every bind of a container with a block of ids is: bind a directory of a filesystem with idmapped mounts, or run on Linux 6.3 or later for tmpfs`;
  }
  return null;
}

/** Whether a launch's idmapped mounts show every id they do not map as on disk (lower.ts
 * idmapLines): with an OCI process.user or a block of ids. */
export function othersAsOnDisk(ctx: Pick<FeatureCtx, 'host' | 'manifest'> & { paths?: Pick<PlanPaths, 'root' | 'grants'> }): boolean {
  return ctx.manifest.oci?.user !== undefined || idBlock(ctx) !== null;
}

/** The idmap a write grant gets (planner and feature table agree through this). */
/** The idmap a writable rootfs gets (rootful, owned by a regular user). */
/** Why CAP_SETFCAP is not kept beside a writable idmapped mount. */
const FCAP_WHY = 'a file capability the workload wrote through an idmapped mount would be stored as the host owner\'s (host root\'s: a capability every host user who runs the file gets), capabilities(7), "File capability extended attribute versioning"';

/**
 * The capabilities a workload keeps: the manifest's, less CAP_SETFCAP where a mount it can write
 * is idmapped (the rootfs, a write grant). Through such a mount the kernel stores a
 * security.capability it sets against the on-disk owner (a version-2 one when that is host root:
 * valid in every namespace), so a workload could leave the host a binary that hands every user
 * who runs it full capabilities (an attack in December). Set-ID bits are refused by seccomp;
 * setxattr's name is a pointer seccomp cannot read, so the capability goes instead. Narrower
 * than asked, and said in the clause's note.
 */
export function keptCapabilities(ctx: FeatureCtx): { keep: string[]; dropped: string | null } {
  const keep = ctx.manifest.capabilities;
  if (!keep.includes('CAP_SETFCAP')) return { keep, dropped: null };
  const idmapped = rootIdmap(ctx) !== null || ctx.manifest.filesystem.some((g) => grantIdmap(ctx, g) !== null);
  return idmapped ? { keep: keep.filter((c) => c !== 'CAP_SETFCAP'), dropped: 'CAP_SETFCAP' } : { keep, dropped: null };
}

export function rootIdmap(ctx: FeatureCtx): Idmap | null {
  const r = ctx.paths.root;
  const m = ctx.manifest.root;
  if (!r || !m || r.kind !== 'directory' || !canNamespace(ctx.host)) return null;
  // A config's block of ids: the rootfs, read-only too, shows its owners on disk as the block.
  const blk = idBlock(ctx);
  if (blk) return r.idmap === true ? blk : null;
  // A config's process.user other than 0:0: the rootfs, read-only too, is idmapped so that its
  // files owned on disk by that id are the user's (root's are read through their mode).
  const user = ctx.manifest.oci?.user;
  if (user) return ctx.host.identity.euid === 0 && r.idmap === true ? user : null;
  if (m.readonly) return null;
  const w = writeShape(ctx, { index: -1, path: m.path, bundleRelative: true, access: 'read-write', recursive: true, guarantee: m.guarantee }, r);
  return 'idmap' in w ? w.idmap : null;
}

/** A read-only bind of an engine's storage (a podman volume), where the container runs as an OCI
 * user (oci.user): idmapped from that user, so its files there are its own to read, as under runc
 * (the mount is read-only: nothing is written through it). */
function readIdmap(ctx: FeatureCtx, fact: PathFact): Idmap | null {
  const blk = idBlock(ctx);
  if (blk) return fact.engineStorage === true && fact.idmap === true ? blk : null;
  const user = ctx.manifest.oci?.user;
  return user && ctx.host.identity.euid === 0 && fact.engineStorage === true && fact.idmap === true ? user : null;
}

export function grantIdmap(ctx: FeatureCtx, g: NormalGrant): Idmap | null {
  const fact = ctx.paths.grants[g.index];
  if (!fact || fact.kind === 'missing' || !canNamespace(ctx.host)) return null;
  let idmap: Idmap | null;
  if (!g.access.includes('write')) idmap = fact.kind === 'directory' || fact.kind === 'file' ? readIdmap(ctx, fact) : null;
  else {
    const w = writeShape(ctx, g, fact);
    idmap = 'idmap' in w ? w.idmap : null;
  }
  if (idmap || (fact.kind !== 'directory' && fact.kind !== 'file')) return idmap;
  const fence = blockFence(ctx, fact);
  return fence && 'idmap' in fence ? fence.idmap : null;
}

/**
 * In a launch with a block of ids, a bind that is not the engine's storage (idmapped from the
 * block) would show the block's host ids raw: every file an earlier launch left there under
 * one of them (the range's ids are handed out again) would be the container's, with its
 * capabilities, a config-chosen takeover of all of them at once (an attack in December: a
 * 1777 grant shared with earlier runs, their 0600 files read and rewritten). So such a bind is
 * idmapped too, showing the container's root as itself and every other id as on disk but the
 * rest of the block, left unmapped: there the container has what a one-id launch has. Null
 * without a block; a refusal where the filesystem has no idmapped mounts.
 */
function blockFence(ctx: FeatureCtx, fact: PathFact): { idmap: Idmap } | Candidate | null {
  if (!idBlock(ctx)) return null;
  const me = ctx.host.mapping;
  if (fact.idmap === true) return { idmap: { uid: me.uid, gid: me.gid } };
  return missing('linux:mount(bind,idmap)', 'enforced', 'BV_OCI_UNSUPPORTED', `${fact.path} cannot be idmapped, and in a container with a block of ids a bind outside the engine's storage is idmapped so that the block's ids are not the owners of what earlier launches left there`, 'bind a directory of a filesystem with idmapped mounts (ext4, xfs, btrfs; tmpfs on Linux ≥ 6.3), or drop the user namespace maps (the container then has one id)');
}

function linuxGrant(ctx: FeatureCtx, g: NormalGrant): Candidate[] {
  const fact = ctx.paths.grants[g.index];
  const abi = ctx.host.landlock.abi;
  if (fact?.untrusted) return [untrustedLink(g.path, fact.untrusted)];
  if (!fact || fact.kind === 'missing') {
    return [missing('linux:landlock', 'enforced', 'BV_PLAN_PATH_MISSING', `${g.path} does not exist`, 'create it first, or remove the grant')];
  }
  const writes = g.access.includes('write');
  const unsafe = unsafeGrant(ctx, g, fact.path, writes);
  if (unsafe) return [unsafe];
  if (ctx.manifest.root) {
    // In a container the grant appears at its target: a bundle directory mounted over the
    // container's /proc, /sys or /dev would replace what bvisor puts there.
    const t = containerTarget(g, fact);
    if (t !== fact.path && (under(t, '/proc') || under(t, '/sys') || under(t, '/dev'))) {
      return [missing('linux:mount', 'enforced', 'BV_PLAN_GRANT_UNSAFE', `${g.path} would be mounted at ${t}, over the container's own ${t.split('/').slice(0, 2).join('/')}`, 'mount it elsewhere in the container')];
    }
    // The host's /proc bound elsewhere (or / with it, by an rbind) is the host's
    // procfs: every host process's command line, which a fresh /proc of the container's own pid
    // namespace is not, whatever the plan said of it (an attack in December saw it called fresh).
    if (t !== fact.path && (under(fact.path, '/proc') || under('/proc', fact.path))) {
      return [missing('linux:mount', 'enforced', 'BV_PLAN_GRANT_UNSAFE', `${g.path} bound at ${t} would show the host's /proc (every host process)`, 'mount proc at /proc for the container\'s own, and bind narrower host paths')];
    }
  }
  // /proc/self is resolved where bvisor plans, so it names bvisor's own process (proc(5)), whose
  // directory the workload's fresh /proc does not have (found by a new-user pass: ENOENT at the
  // launch's landlock step); a pid names some host process; the workload's own is in /proc.
  const proc = /^\/proc\/(\d+)(\/|$)/.exec(fact.path);
  if (proc) return [missing('linux:mount', 'enforced', 'BV_PLAN_GRANT_PROCESS', `${g.path} is ${fact.path === g.path ? '' : `${fact.path} here, `}the /proc directory of process ${proc[1]}${g.path.startsWith('/proc/self') || g.path.startsWith('/proc/thread-self') ? ' (bvisor\'s own, where the path was resolved)' : ''}, not the workload's`, 'grant /proc (read): the workload\'s /proc/self is then its own process')];
  const device = MINIMAL_DEVICE_PATHS.includes(fact.path);
  if (fact.kind === 'other' && !device) {
    // A FIFO would block whoever opens it (bvisor included); sockets and devices are not files.
    return [missing('linux:mount', 'enforced', 'BV_PLAN_PATH_KIND', `${g.path} is not a regular file or a directory (a FIFO, socket or device)`, 'grant the directory that holds it, or a regular file')];
  }
  if (fact.kind === 'directory' && !g.recursive) {
    return [missing('linux:landlock', 'enforced', 'BV_PLAN_NON_RECURSIVE', `landlock rules cover everything beneath a directory; a non-recursive grant on ${g.path} would be widened`, 'grant the files you need one by one, or make the grant recursive')];
  }
  const single = leavesOutMounts('linux:mount(bind)', g, fact);
  if (single) return [single];
  const nested = nestedWider(ctx, g, fact.path);
  if (nested) return [nested];
  if (ctx.manifest.root) {
    const t = rootTargetProblem(ctx, containerTarget(g, fact), fact.kind === 'directory' ? 'directory' : 'file', `filesystem[${g.index}]`);
    if (t) return [t];
  }
  const kind = fact.kind === 'other' ? 'file' : fact.kind;
  const needed = rightsFor(g.access, kind, fact.path);
  const lacking = needed.filter((r) => FS_RIGHTS[r].abi > abi);
  const ns = canNamespace(ctx.host);
  let shape: string;
  let setId = setIdNote([]);
  if (under(fact.path, '/proc')) shape = 'proc(fresh,sys-ro,masked)';
  else if (device) shape = 'dev(minimal)';
  else {
    // Whom the workload writes as is a question of identity, whatever else the host lacks.
    let idmap: Idmap | null = null;
    if (writes) {
      const w = writeShape(ctx, g, fact);
      if (!('idmap' in w)) return [w];
      idmap = ns ? w.idmap : null;
      if (idmap) {
        const kept = setIdReadonly(fact, g.path, 'linux:mount(bind,rw,idmap)');
        if (!('files' in kept)) return [kept];
        setId = setIdNote(kept.files);
      }
    } else if (ns && (fact.kind === 'directory' || fact.kind === 'file')) idmap = readIdmap(ctx, fact);
    if (!idmap && ns && (fact.kind === 'directory' || fact.kind === 'file')) {
      const fence = blockFence(ctx, fact);
      if (fence && !('idmap' in fence)) return [fence];
      if (fence) idmap = fence.idmap;
    }
    // rbind: the mounts beneath the source come too (every grant but an OCI `bind`).
    shape = `mount(${g.submounts === false ? 'bind' : 'rbind'},${writes ? 'rw' : 'ro'}${g.access.includes('exec') ? '' : ',noexec'}${idmap ? `,${idmapOption(idmap, ctx.host.mapping, othersAsOnDisk(ctx))}` : ''}${setId.suffix})`;
  }
  const ll = abi >= 1 ? `+landlock(abi=${Math.min(abi, KNOWN_ABI)},rights=${abbreviate(needed.filter((r) => !lacking.includes(r)))})` : '';
  const out: Candidate[] = [];
  // With a mount namespace the mount is authoritative (read-only, noexec, only this path); the
  // landlock rule is a second layer, so an older ABI does not weaken the grant.
  if (ns) out.push(have(`linux:${shape}${ll}`, 'enforced', setId.note));
  else if (abi === 0) out.push(missing('linux:landlock', 'enforced', 'BV_PLAN_LANDLOCK_UNAVAILABLE', 'neither a mount namespace nor landlock is available to enforce the grant', NS_HINT));
  else if (lacking.length === 0) out.push(have(`linux:landlock(abi=${Math.min(abi, KNOWN_ABI)},rights=${abbreviate(needed)})`, 'best-effort', 'landlock alone: the path is reachable but only with these rights'));
  else {
    const need = Math.max(...lacking.map((r) => FS_RIGHTS[r].abi));
    out.push(missing(`linux:landlock(abi=${abi})`, 'enforced', 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', `landlock ABI ${abi} cannot restrict ${lacking.join(', ')} (needs ABI ${need}), and no mount namespace is available`, `run on a kernel with landlock ABI ≥ ${need}, or mark this grant guarantee: best-effort`));
    out.push(have(`linux:landlock(abi=${abi},rights=${abbreviate(needed.filter((r) => !lacking.includes(r)))},unhandled=${lacking.join('+')})`, 'best-effort'));
  }
  return out;
}

const ABBREV: Partial<Record<FsRight, string>> = { READ_FILE: 'r', READ_DIR: 'l', EXECUTE: 'x', WRITE_FILE: 'w', TRUNCATE: 't', REMOVE_DIR: 'D', REMOVE_FILE: 'F', MAKE_DIR: 'd', MAKE_REG: 'f', MAKE_SOCK: 's', MAKE_FIFO: 'p', MAKE_SYM: 'y', REFER: 'R', IOCTL_DEV: 'i' };
function abbreviate(rights: readonly FsRight[]): string {
  return rights.map((r) => ABBREV[r] ?? r).join('');
}

function linuxNetwork(ctx: FeatureCtx): Candidate[] {
  const n = ctx.manifest.network.value;
  const abi = ctx.host.landlock.abi;
  switch (n.mode) {
    case 'deny':
      return [namespaced(ctx, 'linux:netns(empty)', 'network: deny')];
    case 'loopback':
      return [namespaced(ctx, 'linux:netns(lo-up)', 'network: loopback')];
    case 'host':
      return [have('linux:host-network(granted)', 'enforced')];
    case 'ports': {
      // No network namespace here: the host's abstract unix sockets are reachable unless landlock
      // scopes them (ABI 6) or seccomp refuses unix sockets altogether (below it).
      const mech = abi >= 6 ? `linux:landlock-net(abi=${Math.min(abi, KNOWN_ABI)},tcp)+landlock-scope(abstract-unix)+seccomp(inet:tcp-only)` : `linux:landlock-net(abi=${abi},tcp)+seccomp(inet:tcp-only,unix:none)`;
      if (abi < 4) return [missing(mech, 'enforced', 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', `TCP port rules need landlock ABI 4 (this host has ${abi})`, 'run on Linux ≥ 6.7, or use network: deny / host')];
      if (!seccompAction(ctx.host, 'errno') || !seccompArch(ctx.host)) return [missing(mech, 'enforced', 'BV_PLAN_SECCOMP_UNAVAILABLE', 'landlock restricts only TCP; without seccomp, UDP and raw sockets would stay open', 'enable seccomp filters')];
      if (ctx.manifest.syscalls.value === 'log') return [missing(mech, 'enforced', 'BV_PLAN_WEAKER_THAN_REQUESTED', `landlock restricts only TCP, and syscalls: { deny: log } would only log UDP, raw${abi < 6 ? ' and unix' : ''} sockets`, 'use syscalls: { deny: errno }')];
      return [have(mech, 'enforced')];
    }
  }
}

function linuxSpawn(ctx: FeatureCtx): Candidate[] {
  const mode = ctx.manifest.spawn.value;
  if (mode === 'descendants') {
    const p = ctx.manifest.limits.processes;
    if (!p) return [missing('linux:cgroup(pids)', 'enforced', 'BV_PLAN_NEEDS_LIMIT', 'descendants must be bounded by limits.processes', 'add limits: { processes: 64 } (or another bound)')];
    return linuxLimit(ctx, 'processes', p.value).map((c) => ({ ...c, mechanism: `${c.mechanism} via limits.processes` }));
  }
  const act = ctx.manifest.syscalls.value;
  const mech = mode === 'deny' ? `linux:seccomp(${act}:clone,clone3,fork,vfork)` : `linux:seccomp(${act}:clone-without-CLONE_THREAD,clone-with-CLONE_NEW*,fork,vfork;clone3:ENOSYS)`;
  const s = seccompCandidate(ctx, mech);
  return act === 'log' && s.available ? [missing(mech, 'enforced', 'BV_PLAN_WEAKER_THAN_REQUESTED', 'syscalls: { deny: log } only logs spawning, it does not stop it', 'mark spawn guarantee: best-effort, or use deny: errno'), { ...s, strength: 'best-effort' }] : [s];
}

function seccompCandidate(ctx: FeatureCtx, mech: string): Candidate {
  const act = ctx.manifest.syscalls.value;
  const need = act === 'kill' ? 'kill_process' : act;
  if (!seccompArch(ctx.host)) return missing(mech, 'enforced', 'BV_PLAN_SECCOMP_UNAVAILABLE', `bvisor has no syscall table for ${ctx.host.kernel.arch}`, 'run on x86_64 or aarch64');
  if (!seccompAction(ctx.host, need)) return missing(mech, 'enforced', 'BV_PLAN_SECCOMP_UNAVAILABLE', `seccomp filters with the ${need} action are not available`, 'enable CONFIG_SECCOMP_FILTER');
  return have(mech, 'enforced');
}

function linuxSyscalls(ctx: FeatureCtx): Candidate[] {
  const arch = seccompArch(ctx.host);
  const act = ctx.manifest.syscalls.value;
  const n = arch ? ruleCount(policyFor({ spawn: ctx.manifest.spawn.value, network: ctx.manifest.network.value, landlockAbi: ctx.host.landlock.abi }, act, openat2Answer(ctx.manifest.internal?.wasmRunner === true)), arch) : 0;
  const mech = `linux:seccomp(${act},${n} rules)`;
  const s = seccompCandidate(ctx, mech);
  if (act === 'log' && s.available) return [missing(mech, 'enforced', 'BV_PLAN_WEAKER_THAN_REQUESTED', 'syscalls: { deny: log } logs the default denylist instead of enforcing it (only the rows every launch keeps stay denied: set-ID modes, TIOCSTI, TIOCLINUX and TIOCSETD, io_uring, the keyring, the x32 ABI)', 'mark syscalls guarantee: best-effort, or use deny: errno'), { ...s, strength: 'best-effort' }];
  return [s];
}

export function rlimitCandidate(ctx: FeatureCtx, resource: string, value: number, strength: Strength, mechanism: string): Candidate {
  const hard = hardRlimit(ctx.host, resource);
  if (hard === undefined) return missing(mechanism, strength, 'BV_PLAN_RLIMIT_ABOVE_HARD', `the hard limit of ${resource} could not be read`, 'run bvisor check to see why');
  if (hard !== null && value > hard && !hasCap(ctx.host, CAP.SYS_RESOURCE)) {
    return missing(mechanism, strength, 'BV_PLAN_RLIMIT_ABOVE_HARD', `${value} is above our hard ${resource} limit ${hard}, and without CAP_SYS_RESOURCE it cannot be raised`, `ask for at most ${hard}, or raise the hard limit (ulimit -H) before running bvisor`);
  }
  return have(mechanism, strength);
}

function cgroupCandidate(ctx: FeatureCtx, controller: string, v2file: string, v1file: string, strength: Strength = 'enforced'): Candidate {
  const c = cgroupFor(ctx.host, controller, ctx.cgroupParent);
  if (!c.ok) return missing(`linux:cgroup(${controller})`, strength, 'BV_PLAN_CGROUP_UNAVAILABLE', c.reason, c.hint);
  return have(c.choice.version === 2 ? `linux:cgroup2:${v2file}` : `linux:cgroup1:${v1file}`, strength);
}

/**
 * A limit a supervisor enforces (bvisor run's timer, the container's monitor) holds only if the
 * workload cannot stop its supervisor. In a pid namespace of its own it cannot see it; without
 * one (no user namespaces here) it shares its pid namespace and, rootless, its uid, and a
 * SIGSTOP would freeze the deadline: landlock's signal scope (ABI 6) forbids that.
 */
function supervised(ctx: FeatureCtx, c: Candidate): Candidate[] {
  if (!c.available || canNamespace(ctx.host)) return [c];
  const abi = ctx.host.landlock.abi;
  if (abi >= 6) return [{ ...c, mechanism: `${c.mechanism}+landlock-scope(abi=${Math.min(abi, KNOWN_ABI)},signal)` }];
  return [
    missing(c.mechanism, 'enforced', 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', `without a pid namespace the workload could stop its supervisor (SIGSTOP) and outlive the limit; landlock scopes signals from ABI 6, this host has ${abi}`, 'run where user namespaces are available, or mark the limit guarantee: best-effort'),
    { ...c, strength: 'best-effort' },
  ];
}

/**
 * Whether limits.cpu of `ms` can only be held by the supervisor's watch of the cgroup's usage
 * (mediated), not by RLIMIT_CPU: with spawn: descendants (RLIMIT_CPU is per process), or a budget
 * between whole seconds (RLIMIT_CPU counts seconds, setrlimit(2)).
 */
function cpuWatched(spawn: string, ms: number): boolean {
  return spawn === 'descendants' || !Number.isInteger(ms / 1000);
}

function linuxLimit(ctx: FeatureCtx, name: LimitName, value: number): Candidate[] {
  const spawn = ctx.manifest.spawn.value;
  switch (name) {
    case 'wall': {
      if (spawn !== 'descendants') return supervised(ctx, have('linux:supervisor(deadline,kill)', 'enforced'));
      // Descendants can outlive a killed parent; the deadline must reach all of them: killing
      // the init of a pid namespace does, and so does killing every member of a cgroup.
      if (canNamespace(ctx.host)) return [have('linux:supervisor(deadline,kill pid namespace)', 'enforced')];
      const c = cgroupFor(ctx.host, 'membership', ctx.cgroupParent);
      if (c.ok) return supervised(ctx, have(`linux:supervisor(deadline,kill cgroup${c.choice.version})`, 'enforced'));
      return [
        missing('linux:supervisor(deadline)', 'enforced', 'BV_PLAN_USERNS_UNAVAILABLE', 'with spawn: descendants the deadline must reach every descendant, and neither a pid namespace nor a cgroup is available', NS_HINT),
        have('linux:supervisor(deadline,kill process group)', 'best-effort'),
      ];
    }
    case 'cpu': {
      // Where the rlimit cannot hold it (cpuWatched), the supervisor's watch of the cgroup's usage
      // (mediated); the launch's inputs in planner.ts follow the verdict's mechanism.
      const watched = (): Candidate[] => supervised(ctx, cgroupCandidate(ctx, 'cpuacct', 'cpu.stat', 'cpuacct.usage', 'mediated')).map((c) => (c.available ? { ...c, mechanism: `${c.mechanism}+supervisor(poll,kill)` } : c));
      const secs = value / 1000;
      // The long form, written out: a hint that says "mark it mediated" leaves the syntax to guess.
      const mediated = `limits: { cpu: { value: ${formatDuration(value)}, guarantee: mediated } }`;
      if (cpuWatched(spawn, value)) {
        if (spawn === 'descendants') return [missing('linux:rlimit(RLIMIT_CPU)', 'enforced', 'BV_PLAN_WEAKER_THAN_REQUESTED', 'RLIMIT_CPU is per process; with spawn: descendants the total is not bounded by the kernel', `write ${mediated} (bvisor polls the cgroup and kills), or use spawn: deny`), ...watched()];
        // RLIMIT_CPU counts whole seconds: a budget between them would be rounded up (an attack
        // in December used 978 ms of a 100ms budget "enforced" as RLIMIT_CPU=1s).
        const [down, up] = [Math.floor(secs), Math.ceil(secs)];
        const whole = down === 0 ? `${up}s` : `${down}s or ${up}s`;
        return [missing('linux:rlimit(RLIMIT_CPU)', 'enforced', 'BV_PLAN_WEAKER_THAN_REQUESTED', `RLIMIT_CPU counts whole seconds: ${value}ms would be ${up}s, more than asked`, `write limits.cpu in whole seconds (${whole}), or ${mediated} (bvisor polls the cgroup and kills)`), ...watched()];
      }
      // RLIMIT_CPU is per process (all its threads): exact when the workload cannot fork.
      const rlimit = rlimitCandidate(ctx, 'cpu', secs, 'enforced', `linux:rlimit(RLIMIT_CPU=${secs}s)`);
      // Asked for mediated by name: the cgroup's watch where there is one, the container's whole
      // budget (what exec'd processes share too: exec refuses a per-process one), else the rlimit.
      if (ctx.manifest.limits.cpu?.guarantee === 'mediated') return [...watched(), rlimit];
      return [rlimit];
    }
    case 'cpus':
      return [cgroupCandidate(ctx, 'cpu', 'cpu.max', 'cpu.cfs_quota_us')];
    case 'memory':
      return [cgroupCandidate(ctx, 'memory', 'memory.max+memory.swap.max=0', 'memory.limit_in_bytes+swappiness=0'), rlimitCandidate(ctx, 'as', value, 'best-effort', `linux:rlimit(RLIMIT_AS=${formatSize(value)})`)];
    case 'processes': {
      // RLIMIT_NPROC counts a uid's processes per user namespace (ucounts, Linux 5.14+), and
      // every run gets a user namespace of its own: the limit is then this run's alone. Without
      // one, it counts every process of the workload's host uid: only best effort.
      const perRun = ctx.host.userns.canCreate && kernelAtLeast(ctx.host.kernel.release, 5, 14);
      const nproc = perRun
        ? rlimitCandidate(ctx, 'nproc', value, 'enforced', `linux:rlimit(RLIMIT_NPROC=${value},per-user-namespace)`)
        : rlimitCandidate(ctx, 'nproc', value, 'best-effort', `linux:rlimit(RLIMIT_NPROC=${value},per-uid)`);
      return [cgroupCandidate(ctx, 'pids', 'pids.max', 'pids.max'), nproc];
    }
    case 'openFiles':
      return [rlimitCandidate(ctx, 'nofile', value, 'enforced', `linux:rlimit(RLIMIT_NOFILE=${value})`)];
    case 'fuel':
      return [missing('linux:fuel', 'enforced', 'BV_PLAN_BACKEND_UNSUPPORTED', 'fuel counts Wasm instructions; native code has no fuel', 'use limits.cpu for native workloads, or run a wasm workload')];
    case 'output':
      return [have(`linux:capture(cap=${formatSize(value)})`, 'enforced')];
    case 'tmpSize':
      if (ctx.manifest.tmp.value !== 'private') return [missing('linux:mount(tmpfs)', 'enforced', 'BV_PLAN_NEEDS_LIMIT', 'limits.tmpSize applies to a private /tmp, and tmp is not private', 'add tmp: private, or drop limits.tmpSize')];
      return [namespaced(ctx, `linux:mount(tmpfs,size=${formatSize(value)})`, 'a private /tmp')];
  }
}

// ---------------------------------------------------------------------------------------------
// wasm

const WASM_UNSUPPORTED = (mech: string, reason: string, hint: string): Candidate => missing(mech, 'enforced', 'BV_PLAN_BACKEND_UNSUPPORTED', reason, hint);

/**
 * The address space bvisor's wasm runner needs. V8 (Node 20) reserves 10 GiB of it for each wasm
 * memory, as its trap handler's bounds checks need (4 GiB that a 32-bit index reaches, the rest
 * guard regions), beside Node's own (0.7 GiB measured: 10.7 GiB in all, by halving an
 * RLIMIT_AS until the instance failed); below it the runner cannot instantiate any module
 * ("Cannot allocate Wasm memory"), whatever the module's own memory. With room to spare.
 */
export const RUNNER_ADDRESS_SPACE = 12 * 2 ** 30;

/** A refusal when our address-space limit (which the runner inherits) is below what it needs. */
export function runnerAddressSpace(host: HostFacts): Candidate | null {
  const as = host.rlimits['as'];
  if (as === undefined) return missing('wasm:wasi-preview1', 'enforced', 'BV_PLAN_RLIMIT_TOO_LOW', 'our address-space limit (RLIMIT_AS) could not be read', 'run bvisor check to see why');
  if (as.soft === null || as.soft >= RUNNER_ADDRESS_SPACE) return null;
  const raise = as.hard === null || as.hard >= RUNNER_ADDRESS_SPACE ? 'raise it (ulimit -v unlimited' : 'raise it and its hard limit (ulimit -Hv unlimited, as root';
  return missing('wasm:wasi-preview1', 'enforced', 'BV_PLAN_RLIMIT_TOO_LOW', `the wasm runner needs ${formatSize(RUNNER_ADDRESS_SPACE)} of address space (V8 reserves 10 GiB for a wasm memory), and our RLIMIT_AS is ${formatSize(as.soft)}`, `${raise}; systemd: LimitAS=infinity) before running bvisor`);
}

/**
 * An OCI `bind` (not `rbind`) of a directory with mounts beneath it would uncover what they hide:
 * the kernel refuses that from the container's user namespace (has_locked_children: EINVAL), as
 * it would for runc in one, and an rbind instead would show what the config left out.
 */
function leavesOutMounts(mechanism: string, g: NormalGrant, fact: PathFact): Candidate | null {
  if (g.submounts !== false || !fact.submounts?.length) return null;
  const more = fact.submounts.length >= 4 ? ', …' : '';
  return missing(mechanism, 'enforced', 'BV_PLAN_NON_RECURSIVE', `a bind (not rbind) of ${g.path} leaves out the mounts beneath it (${fact.submounts.join(', ')}${more}), which would uncover what they hide; the kernel refuses that in the container's user namespace, and an rbind would widen the mount`, 'use rbind to include those mounts, or bind a directory with no mounts beneath it');
}

function wasmGrant(ctx: FeatureCtx, g: NormalGrant): Candidate[] {
  const fact = ctx.paths.grants[g.index];
  if (fact?.untrusted) return [untrustedLink(g.path, fact.untrusted)];
  if (!fact || fact.kind === 'missing') return [missing('wasm:preopen', 'enforced', 'BV_PLAN_PATH_MISSING', `${g.path} does not exist`, 'create it first, or remove the grant')];
  if (fact.kind !== 'directory') return [missing('wasm:preopen', 'enforced', 'BV_PLAN_PATH_KIND', `WASI preopens are directories; ${g.path} is a ${fact.kind}`, 'grant the directory that holds it')];
  if (!g.recursive) return [missing('wasm:preopen', 'enforced', 'BV_PLAN_NON_RECURSIVE', 'a WASI preopen covers everything beneath it; a non-recursive grant would be widened', 'make the grant recursive')];
  const single = leavesOutMounts('wasm:preopen', g, fact);
  if (single) return [single];
  const writes = g.access.includes('write');
  const unsafe = unsafeGrant(ctx, g, fact.path, writes);
  if (unsafe) return [unsafe];
  const mode = writes ? 'rw' : 'ro';
  // The host resolves every guest path with openat2(RESOLVE_BENEATH) and enforces read-only
  // itself (mediated); the runner process's root, built from its grants, makes it a kernel
  // guarantee (enforced), with landlock on top where the kernel has it.
  const out: Candidate[] = [];
  if (canNamespace(ctx.host)) {
    let idmap = '';
    if (writes) {
      const w = writeShape(ctx, g, fact);
      if (!('idmap' in w)) return [w];
      if (w.idmap) idmap = `,${idmapOption(w.idmap, ctx.host.mapping, othersAsOnDisk(ctx))}`;
    }
    out.push(have(`wasm:preopen(openat2-beneath,${mode})+linux:mount(rbind,${mode}${idmap})${llSuffix(ctx.host.landlock.abi)}`, 'enforced'));
  } else out.push(missing(`wasm:preopen(openat2-beneath,${mode})+linux:mount`, 'enforced', 'BV_PLAN_USERNS_UNAVAILABLE', 'the runner needs a mount namespace to hold only the preopened directories', 'mark the grant guarantee: mediated to rely on the WASI host alone'));
  out.push(have(`wasm:preopen(openat2-beneath,${mode})`, 'mediated'));
  return out;
}

function wasmLimit(ctx: FeatureCtx, name: LimitName, value: number): Candidate[] {
  switch (name) {
    case 'wall':
      return [have('wasm:runner(deadline,SIGKILL)', 'enforced')];
    case 'memory': {
      // Linear memory and tables share limits.memory (the rewriter's split, one place).
      const caps = splitMemory(value);
      return [have(`wasm:memory-cap(max-pages=${caps.maxPages},table-entries=${caps.tableEntries})`, 'enforced')];
    }
    case 'fuel':
      return [have('wasm:fuel(wasmtime-like/v1)', 'enforced')];
    case 'processes':
      return [have('wasm:no-spawn', 'enforced')];
    case 'openFiles':
      return [have(`wasm:fd-table(max=${value})`, 'mediated')];
    case 'output':
      return [have(`wasm:capture(cap=${formatSize(value)})`, 'enforced')];
    case 'cpu':
      return [WASM_UNSUPPORTED('wasm:cpu', `the wasm backend meters instructions, not CPU time (${formatDuration(value)} asked)`, 'use limits.fuel, and limits.wall as the backstop')];
    case 'cpus':
      return [WASM_UNSUPPORTED('wasm:cpus', 'a wasm guest runs on one thread; CPU bandwidth is not a wasm budget', 'drop limits.cpus')];
    case 'tmpSize':
      return [WASM_UNSUPPORTED('wasm:tmp', 'the wasm backend has no private /tmp', 'grant a bundle directory read-write instead')];
  }
}

// ---------------------------------------------------------------------------------------------

export interface BackendFeatures {
  workload(ctx: FeatureCtx): Candidate[];
  filesystemDefault(ctx: FeatureCtx): Candidate[];
  grant(ctx: FeatureCtx, g: NormalGrant): Candidate[];
  root(ctx: FeatureCtx): Candidate[];
  network(ctx: FeatureCtx): Candidate[];
  spawn(ctx: FeatureCtx): Candidate[];
  syscalls(ctx: FeatureCtx): Candidate[];
  capabilities(ctx: FeatureCtx): Candidate[];
  fds(ctx: FeatureCtx): Candidate[];
  tmp(ctx: FeatureCtx): Candidate[];
  isolate(ctx: FeatureCtx): Candidate[];
  limit(ctx: FeatureCtx, name: LimitName, value: number): Candidate[];
}

export const FEATURES: Record<Backend, BackendFeatures> = {
  linux: {
    workload(ctx) {
      const exe = ctx.paths.exe;
      if (exe?.untrusted) return [untrustedLink(exe.path, exe.untrusted)];
      // An OCI config's args[0] is reported in runc's words, which engines map to exit 127
      // (podman: "executable file not found in $PATH", "no such file or directory").
      const w = ctx.manifest.workload;
      const oci = ctx.manifest.oci;
      if ((!exe || exe.kind === 'missing') && oci && w.kind === 'process') return [missing('linux:execveat', 'enforced', 'BV_PLAN_PATH_MISSING', w.exe.includes('/') ? `process.args[0] ${w.exe}: no such file or directory in the rootfs` : `process.args[0] "${w.exe}": executable file not found in $PATH (${oci.searchPath.join(':')}) in the rootfs`, 'check process.args[0] and the image')];
      if (!exe || exe.kind === 'missing') return [missing('linux:execveat', 'enforced', 'BV_PLAN_PATH_MISSING', `the program ${ctx.manifest.workload.kind === 'process' ? ctx.manifest.workload.exe : ''} does not exist`, 'check workload.process.exe')];
      if (exe.kind !== 'file') return [missing('linux:execveat', 'enforced', 'BV_PLAN_PATH_KIND', `the program ${exe.path} is not a regular file`, 'check workload.process.exe')];
      return [have('linux:execveat(fd,AT_EMPTY_PATH)', 'enforced')];
    },
    filesystemDefault: linuxFilesystemDefault,
    grant: linuxGrant,
    root: (ctx) => {
      const r = ctx.paths.root;
      if (!r || r.kind !== 'directory') return [missing('linux:mount(pivot_root)', 'enforced', r && r.kind !== 'missing' ? 'BV_PLAN_PATH_KIND' : 'BV_PLAN_PATH_MISSING', `the rootfs ${r?.path ?? ''} is not a directory in the bundle`, 'unpack a root filesystem into the bundle (e.g. busybox)')];
      // bvisor makes the mount points a container needs in its rootfs, as root (as runc does): a
      // config must not point that at a host directory (root.path "/" with a bind at /etc/nologin
      // made that file). Only the bundle's own rootfs, or an engine's storage, is written.
      // Nor the bundle itself ("." in any spelling, a link to it, its absolute path): the
      // container's root would be the directory holding its own config.
      if (r.holdsBundle) {
        return [missing('linux:mount(pivot_root)', 'enforced', 'BV_PLAN_ROOT_OUTSIDE', `root.path ${r.path} is the bundle directory, or holds it: the container's root filesystem would hold its own ${ctx.manifest.oci ? 'config.json' : 'boundary.yaml'}`, 'unpack the root filesystem into a directory inside the bundle (root.path: rootfs)')];
      }
      if (ctx.manifest.oci && ctx.host.identity.euid === 0 && r.engineStorage === false) {
        return [missing('linux:mount(pivot_root)', 'enforced', 'BV_PLAN_ROOT_OUTSIDE', `root.path ${r.path} lies outside the bundle and the engines' container storage, and bvisor, as root, would make the container's mount points in it`, "put the rootfs in the bundle, or, if it is an engine's own storage, name that directory in BVISOR_OCI_STORAGE (colon-separated)")];
      }
      for (const t of ['/proc', '/dev', ...(ctx.manifest.tmp.value === 'private' ? ['/tmp'] : [])]) {
        const bad = rootTargetProblem(ctx, t, 'directory', 'root');
        if (bad) return [bad];
      }
      // A config's process.user other than 0:0: its files in the image must be its own, which
      // takes an idmapped rootfs (bvisor as root; a rootless caller's files are all its own).
      // A block of ids (the config's maps, bvisor's range): the rootfs, read-only too, is
      // idmapped from the config's host ids (idBlock gives none where it cannot be).
      const blk = idBlock(ctx);
      if (blk && ctx.manifest.root?.readonly) return [namespaced(ctx, `linux:mount(pivot_root,ro,${idmapOption(blk, ctx.host.mapping, true)})`, 'container mode')];
      const user = blk ? undefined : ctx.manifest.oci?.user;
      if (user && ctx.host.identity.euid !== 0) {
        return [missing('linux:userns', 'enforced', 'BV_OCI_UNSUPPORTED', `process.user ${user.uid}:${user.gid}: bvisor maps an id other than 0 only when it runs as root`, 'run the container as uid 0 (it is not host root under bvisor), or run bvisor as root')];
      }
      // Per-run ids: an id of the range is some other launch's host id; the user's files on disk
      // (its own, through the idmap) would be stored as it.
      const range = user && perRunIds(ctx.host) ? (ctx.host.mapping.range ?? null) : null;
      if (user && range && (within(user.uid, range.uid, range.count) || within(user.gid, range.gid, range.count))) {
        return [missing('linux:userns', 'enforced', 'BV_OCI_UNSUPPORTED', `process.user ${user.uid}:${user.gid} is an id of the bvisor range (${range.uid}–${range.uid + range.count - 1}), each of which is the host id of some launch: what the user makes would be stored as the id of another`, 'run the container as an id outside the range')];
      }
      if (user && r.idmap !== true) {
        return [missing('linux:mount(pivot_root,idmap)', 'enforced', 'BV_OCI_UNSUPPORTED', `process.user ${user.uid}:${user.gid}: the rootfs ${r.path} cannot be idmapped (an overlay snapshot cannot), so the image's files owned by ${user.uid}:${user.gid} would not be the user's inside`, 'use a snapshotter or storage driver whose rootfs is a plain directory (containerd: --snapshotter native; podman: --storage-driver vfs), or run the container as uid 0')];
      }
      if (user && ctx.manifest.root?.readonly) {
        const c = namespaced(ctx, `linux:mount(pivot_root,ro,${idmapOption(user, ctx.host.mapping, true)})`, 'container mode');
        return [c];
      }
      // A writable rootfs is written as the workload's id: the same rules as a write grant.
      let idmap = '';
      let setId = setIdNote([]);
      if (ctx.manifest.root && !ctx.manifest.root.readonly) {
        const w = writeShape(ctx, { index: -1, path: ctx.manifest.root.path, bundleRelative: true, access: 'read-write', recursive: true, guarantee: ctx.manifest.root.guarantee }, r);
        if (!('idmap' in w)) return [w];
        const mapped = blk ?? user ?? w.idmap;
        if (mapped && canNamespace(ctx.host)) {
          idmap = `,${idmapOption(mapped, ctx.host.mapping, othersAsOnDisk(ctx))}`;
          const kept = setIdReadonly(r, `the rootfs ${r.path}`, 'linux:mount(pivot_root,idmap)');
          if (!('files' in kept)) return [kept];
          setId = setIdNote(kept.files);
        }
      }
      const c = namespaced(ctx, `linux:mount(pivot_root${ctx.manifest.root?.readonly ? ',ro' : ''}${idmap}${setId.suffix})`, 'container mode');
      return [c.available && setId.note ? { ...c, note: setId.note } : c];
    },
    network: linuxNetwork,
    spawn: linuxSpawn,
    syscalls: linuxSyscalls,
    capabilities: (ctx) => {
      const { keep, dropped } = keptCapabilities(ctx);
      const note = dropped ? `; ${dropped} not kept: ${FCAP_WHY}` : '';
      if (keep.length === 0) return [{ ...have(`linux:capset(none)+no_new_privs`, 'enforced'), ...(note ? { note: note.slice(2) } : {}) }];
      // A kept capability is scoped to the workload's user namespace; outside one it would be
      // a real host privilege, which a boundary does not hand out.
      const mech = `linux:capset(keep=${keep.map((c) => c.replace(/^CAP_/, '')).join('+')},in-userns)+no_new_privs`;
      if (!ctx.host.userns.canCreate) return [missing(mech, 'enforced', 'BV_PLAN_USERNS_UNAVAILABLE', 'kept capabilities are granted only inside a user namespace, and this host will not create one for us', NS_HINT)];
      return [{ ...have(mech, 'enforced'), ...(note ? { note: note.slice(2) } : {}) }];
    },
    fds: () => [have('linux:fd-scrub(close_range)', 'enforced')],
    tmp: (ctx) => (ctx.manifest.tmp.value === 'private' ? [namespaced(ctx, 'linux:mount(tmpfs,/tmp)', 'a private /tmp')] : []),
    isolate: (ctx) => {
      const v = ctx.manifest.isolate.value;
      const what = [v.signals ? 'signal' : '', v.abstractUnix ? 'abstract-unix' : ''].filter(Boolean).join(',');
      const abi = ctx.host.landlock.abi;
      if (abi >= 6) return [have(`linux:landlock-scope(abi=${Math.min(abi, KNOWN_ABI)},${what})`, 'enforced')];
      // Below ABI 6 a namespace can still keep the promise: in its own pid namespace the
      // workload cannot name a process outside it (kill, pidfd_open, F_SETOWN take pids of its
      // namespace), and abstract unix sockets live per network namespace (unix(7)), so in an
      // empty or loopback-only one nobody outside is listening.
      const ns = canNamespace(ctx.host);
      const netns = ns && (ctx.manifest.network.value.mode === 'deny' || ctx.manifest.network.value.mode === 'loopback');
      const inherit = ctx.manifest.stdio.stdin === 'inherit';
      const uncovered = [v.signals && (!ns || inherit) ? `signals (${ns ? "stdin: inherit keeps the workload in the caller's process group" : 'no pid namespace here'})` : '', v.abstractUnix && !netns ? `abstract unix sockets (${ns ? `network: ${ctx.manifest.network.value.mode} shares the host's network namespace` : 'no network namespace here'})` : ''].filter(Boolean);
      if (uncovered.length) return [missing(`linux:landlock-scope(${what})`, 'enforced', 'BV_PLAN_LANDLOCK_ABI_TOO_OLD', `isolate: landlock scoping needs ABI 6 (this host has ${abi}), and no namespace covers ${uncovered.join(' or ')}`, `run on Linux ≥ 6.12 (landlock ABI 6)${v.abstractUnix && ns && !netns ? ', or use network: deny or loopback' : ''}${v.signals && ns && inherit ? ', or use stdin: null or { file }' : ''}, or drop isolate`)];
      return [have(`linux:${[v.signals ? 'pidns(signal)' : '', v.abstractUnix ? 'netns(abstract-unix)' : ''].filter(Boolean).join('+')}`, 'enforced')];
    },
    limit: linuxLimit,
  },
  wasm: {
    workload(ctx) {
      const m = ctx.paths.module;
      const named = ctx.manifest.workload.kind === 'wasm' ? ` ${ctx.manifest.workload.module}` : '';
      if (!m || m.kind === 'missing') return [missing('wasm:wasi-preview1', 'enforced', 'BV_PLAN_PATH_MISSING', `the module${named} does not exist in the bundle`, 'check workload.wasm.module, or put the module in the bundle')];
      if (m.kind !== 'file') return [missing('wasm:wasi-preview1', 'enforced', 'BV_PLAN_PATH_KIND', `the module ${m.path} is not a regular file`, 'check workload.wasm.module')];
      const room = runnerAddressSpace(ctx.host);
      if (room) return [room];
      return [have('wasm:wasi-preview1(bvisor-host)', 'enforced')];
    },
    filesystemDefault: () => [have('wasm:preopens-only', 'enforced')],
    grant: wasmGrant,
    root: () => [WASM_UNSUPPORTED('wasm:root', 'container mode (root:) applies to process workloads', 'drop root: for a wasm workload')],
    network: (ctx) => (ctx.manifest.network.value.mode === 'deny' ? [have('wasm:no-sockets', 'enforced')] : [WASM_UNSUPPORTED('wasm:network', `WASI preview 1 has no way to back network: ${ctx.manifest.network.value.mode}`, 'use network: deny for wasm workloads')]),
    spawn: (ctx) => (ctx.manifest.spawn.value === 'deny' ? [have('wasm:no-spawn', 'enforced')] : [WASM_UNSUPPORTED('wasm:spawn', `WASI preview 1 cannot create processes or threads (spawn: ${ctx.manifest.spawn.value})`, 'use spawn: deny for wasm workloads')]),
    syscalls: () => [have('wasm:wasi-imports-only', 'enforced')],
    capabilities: (ctx) => (ctx.manifest.capabilities.length ? [WASM_UNSUPPORTED('wasm:capabilities', 'a wasm guest has no capabilities to keep', 'drop capabilities for wasm workloads')] : [have('wasm:no-capabilities', 'enforced')]),
    fds: (ctx) => (ctx.manifest.fds.length === 0 ? [have('wasm:no-inherited-fds', 'enforced')] : [WASM_UNSUPPORTED('wasm:fds', 'the wasm backend does not pass host descriptors', 'use fds: none')]),
    tmp: (ctx) => (ctx.manifest.tmp.value === 'private' ? [WASM_UNSUPPORTED('wasm:tmp', 'the wasm backend has no private /tmp', 'grant a bundle directory read-write instead')] : []),
    // A guest has no signals and no sockets: there is nothing outside to reach.
    isolate: () => [have('wasm:no-signals,no-sockets', 'enforced')],
    limit: wasmLimit,
  },
};

/** Which backend a manifest runs on. */
export function backendOf(m: NormalManifest): Backend {
  return m.workload.kind === 'process' ? 'linux' : 'wasm';
}

/** Whether a kernel release string ("6.1.0-18-amd64") is at least major.minor. */
export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}
