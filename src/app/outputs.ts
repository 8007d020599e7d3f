// Outputs the host decides on (issue 15, items 1–3): the report stages, the host disposes.
//   prepare  before planning: a quarantine directory for this run under the state root
//            (outputs/<runId>), a tmpfs when the manifest limits its size or file count (the
//            limits are the kernel's), owned by the workload's identity, added to the manifest
//            as a grant bound read-write at outputs.path. A directory quarantine whose named
//            destination (outputs.to) is on another filesystem than the state root is placed on
//            the destination's filesystem instead (<to>/.bvisor-quarantine/<runId>, root's and
//            0700 above it), so that promotion is a rename; outputs/<runId> is then a symlink
//            to it, the index recovery and gc read.
//   stage    when the run is over (no process of it left): the quarantine is frozen (a tmpfs
//            remounted read-only, a directory made root's 0500) BEFORE anything is hashed, then
//            every regular file is hashed from a descriptor opened beneath it with no symlink
//            followed; symlinks, devices, FIFOs, sockets and hard links are refused and listed.
//   commit   re-verifies every artifact's hash, then promotes it whole (a rename within one
//            filesystem, else a copy, fsync, rename), durable adds the directory fsyncs;
//   discard  drops the quarantine. Both record what they did in the report's place (the
//            container's directory, or outputs/<runId>.disposition) and end the quarantine.
import { appendFileSync, chmodSync, chownSync, fchmodSync, fchownSync, existsSync, fstatSync, fsyncSync, lstatSync, mkdirSync, opendirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync, rmdirSync, type BigIntStats } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { basename, dirname, isAbsolute, join, posix, resolve } from 'node:path';
import { BvisorError } from '../contract/errors.js';
import type { HostFacts, JournalDisposition, Plan, ProcRef, ReportBody, SealedReport } from '../contract/generated/types.js';
import { alive, procRef } from '../host/proc.js';
import { appendDispositionSteps, type JournalKey } from '../host/journal-store.js';
import type { NormalManifest } from '../core/manifest.js';
import type { PlanPaths } from '../core/features.js';
import { shim, O, LOCK_EX } from '../backends/linux/ffi/shim.js';
import { withFlock } from '../host/flock.js';
import { AT_FDCWD, RESOLVE } from '../backends/linux/host/objects.js';
import type { OpenBundle } from '../host/bundle.js';
import { dirLineage, identityKey, physical, resolveHostPath } from '../host/host-paths.js';
import { under } from '../core/layout.js';
import { bundleRelativeSegments } from '../core/paths.js';
import { errnoName, parseMountinfo } from '../host/facts.js';
import { removeTree } from '../host/remove-tree.js';
import { hashFd, hashFdSteps, ValueWatch, searchBudgetFor } from '../host/hash.js';
import { runSteps, runStepsYielding, StepsStopped, type Steps } from '../host/steps.js';
import { writeAll } from '../host/atomic.js';
import { fdPath } from '../host/proc-fd.js';
import { REDACTED, holdsSecret } from '../core/redact.js';
import { fault } from '../host/faults.js';
import { ensureDirectory } from '../host/state-root.js';
import { rmdirIfEmpty } from '../host/lookup.js';

/** Artifacts listed in a report at most, and refused entries at most; more of either is
 * `truncated` (the quarantine still holds them). Both bound the report: a workload can make a
 * million symlinks as cheaply as a million files, and the report is one line of the journal. */
const MAX_ITEMS = 10_000;
/** The listing's paths and reasons, as JSON, at most: 10,000 paths 64 directories deep of names
 * of control characters (6 bytes each in JSON) would otherwise pass V8's longest string. */
const MAX_LISTED_BYTES = 8 * 2 ** 20;
/** Entries the walk looks at, at most, and the bytes of their paths (it holds every regular
 * file's path until hashing, and a path 64 directories of 255 bytes deep is 16 KiB). */
const MAX_WALKED = 200_000;
const MAX_WALKED_PATH_BYTES = 64 * 2 ** 20;
/** Refusals of entries that hold no data a commit could promote: a quarantine whose only refusals
 * are these ends when its artifacts are committed; any other refusal (a file not hashed, a name
 * not listed) keeps it for the host to look at and discard. */
const NOT_DATA = { link: 'a symlink', fifo: 'a FIFO', socket: 'a socket', device: 'a device' } as const;
const NOT_DATA_REASONS: ReadonlySet<string> = new Set(Object.values(NOT_DATA));
/** Bytes hashed per run at most: staging reads every artifact, and a sparse file of a terabyte
 * costs a workload nothing (not even in a size-limited tmpfs). A file past it is refused. */
export const MAX_HASHED_BYTES = 16 * 2 ** 30;
/** Bytes read times secret values searched for (ValueWatch.cost), per run at most. */
const MAX_SEARCHED = searchBudgetFor(MAX_HASHED_BYTES);

type Artifacts = NonNullable<ReportBody['artifacts']>;
/** Bytes each listing has used of MAX_LISTED_BYTES. */
const listedBytes = new WeakMap<Artifacts, number>();

/** Whether `path` (and `extra` bytes beside it) still fits the listing; if not, it is truncated. */
function fits(out: Artifacts, path: string, extra: number): boolean {
  const n = (listedBytes.get(out) ?? 0) + Buffer.byteLength(JSON.stringify(path)) + extra;
  if (n > MAX_LISTED_BYTES) {
    out.truncated = true;
    return false;
  }
  listedBytes.set(out, n);
  return true;
}

/** Lists a refused entry, unless MAX_ITEMS are listed already or it does not fit (truncated). */
function refuse(out: Artifacts, path: string, reason: string): void {
  if (out.refused.length >= MAX_ITEMS) out.truncated = true;
  else if (fits(out, path, Buffer.byteLength(JSON.stringify(reason)) + 24)) out.refused.push({ path, reason });
}

export function outputsDir(root: string): string {
  return join(root, 'outputs');
}

/** Where quarantines live on a destination's filesystem: `<to>/.bvisor-quarantine/<runId>`. A
 * workload's own entry of that name is refused as an artifact, so a commit never writes there. */
export const QUARANTINE_HOME = '.bvisor-quarantine';

export interface Quarantine {
  dir: string;
  /** Its entry under the state root: the directory itself, or the link to a placed one. */
  index: string;
  tmpfs: boolean;
  /** Removes it (unmount, remove): for a launch that never happened. */
  drop(): void;
}

/**
 * Makes the quarantine and adds it to the manifest and its resolved paths (before planning, so
 * the plan names it and the launcher checks it like any grant). null without an outputs clause.
 * outputs.to becomes the physical path commit will write to here (the plan shows it): the
 * caller's `callerTo` (--outputs-to, the API's outputsTo) when given, else the bundle's own `./x`.
 * The bundle is not trusted (docs/security.md) and commit writes as bvisor's user, so a bundle
 * names no host destination: its absolute outputs.to is refused, and so is a `./x` whose
 * symlinks lead out of the bundle.
 */
export function prepareOutputs(root: string, runId: string, m: NormalManifest, paths: PlanPaths, host: HostFacts, bundle: Pick<OpenBundle, 'source' | 'dir' | 'manifestOnly'>, callerTo: string | null = null): Quarantine | null {
  const o = m.outputs;
  if (!o) {
    if (callerTo !== null) throw new BvisorError('BV_USAGE', `--outputs-to ${callerTo}: the manifest has no outputs clause, so there is nothing to promote; nothing was run`, { hint: 'drop --outputs-to (the API: outputsTo), or add outputs: { path: … } to the manifest' });
    return null;
  }
  if (callerTo !== null) o.to = physical(resolve(callerTo));
  else {
    refuseBundleHostDestination(m);
    if (o.to !== null) o.to = bundleDestination(o.to, bundle);
  }
  o.toFrom = o.to === null ? null : callerTo !== null ? 'caller' : 'bundle';
  if (o.to !== null) {
    refuseStateRootDestination(o.to, root, 'outputs.to');
    refuseReachableDestination(o.to, m, paths, bundle);
  } else if (o.commit === 'on-success') {
    throw new BvisorError('BV_OUTPUTS', 'outputs: commit: on-success needs a destination, and neither the caller nor the bundle named one; nothing was run', { hint: 'pass --outputs-to DIR (the API: outputsTo), or give outputs.to a ./ place in the bundle' });
  }
  // The root made (or checked) as a state root is, before anything is made in it: a recursive
  // mkdir here made it through another user's symlink, as root, and the quarantine's chown and
  // tmpfs mount then went by that path (an attack in December: a root file chowned to the
  // workload's id, a tmpfs left over a directory), before the root's own check refused it.
  ensureDirectory(root);
  const base = outputsDir(root);
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const index = join(base, runId);
  const rootful = host.identity.euid === 0;
  const tmpfs = rootful && (o.sizeBytes !== null || o.files !== null);
  // A tmpfs is its own filesystem wherever it is mounted: only a directory gains by moving.
  const home = !tmpfs && o.to !== null ? destinationHome(o.to, base) : null;
  const dir = home ? join(home.dir, runId) : index;
  const drop = (): void => dropQuarantine(dir, tmpfs, index, home?.made ?? []);
  try {
    // Its maker first, so that no moment exists when recovery sees the quarantine and not who is
    // setting it up (it leaves the quarantine of a live maker alone).
    writeFileSync(makerFile(index), JSON.stringify(procRef(process.pid)) + '\n', { mode: 0o600, flag: 'wx' });
    if (home) {
      mkdirSync(dir, { mode: 0o700 });
      symlinkSync(dir, index);
    } else mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    drop();
    throw e;
  }
  try {
    if (tmpfs) {
      const data = [`mode=0700`, `uid=${host.mapping.uid}`, `gid=${host.mapping.gid}`, ...(o.sizeBytes !== null ? [`size=${o.sizeBytes}`] : []), ...(o.files !== null ? [`nr_inodes=${o.files}`] : [])].join(',');
      const rc = shim().bv_mount_tmpfs(dir, data);
      if (rc < 0) throw new BvisorError('BV_OUTPUTS', `mount a tmpfs quarantine at ${dir}: ${errnoName(rc)}`, { hint: 'outputs.size and outputs.files need a tmpfs bvisor can mount (root)' });
    } else if (rootful) chownSync(dir, host.mapping.uid, host.mapping.gid);
    m.filesystem.push({ index: m.filesystem.length, path: dir, bundleRelative: false, access: 'read-write', recursive: true, guarantee: o.guarantee, target: o.path, outputs: { tmpfs } });
    paths.grants.push(resolveHostPath(dir));
    return { dir, index, tmpfs, drop };
  } catch (e) {
    drop();
    throw e;
  }
}

/** A manifest's absolute outputs.to (before a caller's --outputs-to replaced it): refused, for
 * run, create and the API (prepareOutputs) and for plan alike. */
export function refuseBundleHostDestination(m: NormalManifest): void {
  const to = m.outputs?.to ?? null;
  if (to !== null && isAbsolute(to)) {
    throw new BvisorError('BV_OUTPUTS', `outputs.to ${to}: a bundle cannot choose a host destination (bvisor promotes the workload's files there as its own user, root when it runs as root); nothing was run`, { hint: 'name the destination as the caller: bvisor run/create --outputs-to DIR, or the API\'s outputsTo; or use a ./ path inside the bundle. bvisor commit --to DIR still promotes anywhere you say' });
  }
}

/** outputs.to: ./x names a place in a bundle directory; a tar's is a temp dir, gone after the run. */
function bundleDestination(to: string, bundle: Pick<OpenBundle, 'source' | 'dir' | 'manifestOnly'>): string {
  // The API's { manifest, dir }: the directory is whatever the caller passed for the manifest's
  // relative paths (their home, even /), so a ./ place in it is a host destination, which a
  // manifest never chooses.
  if (bundle.manifestOnly) throw new BvisorError('BV_OUTPUTS', `outputs.to "${to}" names a place in ${bundle.dir}, the directory passed with the manifest's text, not a bundle of the manifest's own: a manifest cannot choose a host destination; nothing was run`, { hint: 'pass the destination as the caller (the API\'s outputsTo), or drop outputs.to and commit with commitOutputs(root, report, { to })' });
  const segs = bundleRelativeSegments(to);
  const isDir = ((): boolean => {
    try {
      return statSync(bundle.source).isDirectory();
    } catch {
      return false;
    }
  })();
  if (!segs || !isDir) throw new BvisorError('BV_OUTPUTS', `outputs.to "${to}" names a place in a bundle archive, which is unpacked to a temporary directory; nothing was run`, { hint: 'pass the destination as the caller (--outputs-to DIR, the API\'s outputsTo), or run the bundle from a directory' });
  // Physical: a symlink the bundle ships (./x -> /etc) is followed here, once, and what it leads
  // to must still be strictly inside the bundle; the report then names that physical path, and
  // commit refuses it if it resolves elsewhere later (refuseMovedDestination).
  const b = physical(bundle.dir);
  const dest = physical(join(b, ...segs));
  // (`./` itself is the bundle: refuseReachableDestination refuses it, saying so.)
  if (!under(dest, b)) throw new BvisorError('BV_OUTPUTS', `outputs.to "${to}" leads out of the bundle directory (to ${dest}, through a symlink): a bundle cannot choose a host destination; nothing was run`, { hint: 'pass the destination as the caller (--outputs-to DIR, the API\'s outputsTo), or make ./ paths in the bundle real directories' });
  return dest;
}

/**
 * A destination inside bvisor's state root, or one holding it, is refused whoever names it: a
 * commit would write the workload's files over the journal, its head or a container's records.
 */
function refuseStateRootDestination(to: string, root: string, what: string): void {
  const dest = physical(resolve(to));
  const r = physical(resolve(root));
  if (under(dest, r) || under(r, dest)) throw new BvisorError('BV_OUTPUTS', `${what} ${to} ${dest === r ? 'is' : under(dest, r) ? 'is inside' : 'holds'} bvisor's state root (${r}): a commit never writes into bvisor's own state; nothing was done`, { hint: 'promote outputs to a directory outside the state root (--root)' });
}

/**
 * The report's destination (no --to) was recorded physical, symlinks resolved, when the run was
 * prepared: if it now resolves elsewhere, a link was put on the way since (a bundle's `./x`
 * swapped for a link to /etc), and commit does not follow it.
 */
function refuseMovedDestination(to: string): void {
  const now = physical(to);
  if (now !== to) throw new BvisorError('BV_OUTPUTS', `the report's destination ${to} now resolves to ${now} (a symlink on the way since the run was prepared); nothing was promoted`, { hint: 'look at what changed there, then pass the destination you mean: bvisor commit --to DIR' });
}

/**
 * outputs.to must be out of the workload's reach: inside (or around) one of its writable grants or
 * a writable root it could plant a symlink or a directory where commit writes as bvisor's user,
 * and the bundle's own directory holds the manifest the next run reads. Refused before anything
 * runs (BV_OUTPUTS), whatever the quarantine's placement.
 */
function refuseReachableDestination(to: string, m: NormalManifest, paths: PlanPaths, bundle: Pick<OpenBundle, 'source' | 'dir'>): void {
  const dest = physical(to);
  const refuse = (what: string): never => {
    throw new BvisorError('BV_OUTPUTS', `outputs.to ${to} ${what}; nothing was run`, { hint: 'promote outputs to a directory the workload cannot write (outputs.to outside every read-write grant, and outside the bundle)' });
  };
  m.filesystem.forEach((g, i) => {
    if (g.outputs || !g.access.includes('write')) return;
    const gp = physical(paths.grants[i]?.path ?? g.path);
    if (under(dest, gp) || under(gp, dest)) refuse(`overlaps the read-write grant filesystem[${g.index}] (${gp}): the workload could plant links where commit writes`);
  });
  const b = physical(bundle.dir);
  if (under(b, dest)) refuse(`is the bundle directory or holds it (${b}): a commit could replace the manifest the next run reads`);
  if (m.root && !m.root.readonly && paths.root && under(dest, physical(paths.root.path))) refuse(`is inside the container's writable root (${paths.root.path})`);
}

/**
 * Whether every directory on the way to p (physical, existing part) is one only root or bvisor's
 * own user can change: owned by one of them, and not writable by group or others unless sticky
 * (then others cannot move what they do not own, and the next component must be ours). Only on
 * such a path is the quarantine placed in the destination: its freeze, hashing and promotion
 * work from descriptors, but its home must not be swapped by someone else between runs.
 */
function trustedPath(p: string): boolean {
  const me = process.geteuid?.() ?? -1;
  const ours = (uid: number): boolean => uid === 0 || uid === me;
  let at = '/';
  let st = lstatSync(at);
  for (const seg of p.split('/').filter(Boolean)) {
    const next = join(at, seg);
    if (!existsSync(next)) break;
    const nst = lstatSync(next);
    if (nst.isSymbolicLink() || !ours(nst.uid)) return false;
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) return false;
    at = next;
    st = nst;
  }
  return ours(st.uid) && (st.mode & 0o022) === 0;
}

/**
 * Where a directory quarantine goes so that promotion into `to` is a rename: null when the state
 * root's outputs directory is on to's filesystem already, or when the way to `to` is not
 * trusted (trustedPath); else <to>/.bvisor-quarantine, made (with to and any missing parent, each
 * recorded to be removed if it stays empty) 0700.
 */
function destinationHome(to0: string, base: string): { dir: string; made: string[] } | null {
  const to = physical(to0);
  let probe = to;
  while (!existsSync(probe)) probe = dirname(probe);
  if (statSync(probe).dev === statSync(base).dev) return null;
  if (!trustedPath(to)) return null;
  const made: string[] = [];
  const want = join(to, QUARANTINE_HOME);
  const missing: string[] = [];
  for (let p = want; !existsSync(p); p = dirname(p)) missing.unshift(p);
  for (const p of missing) {
    mkdirSync(p, { mode: p === want ? 0o700 : 0o755 });
    made.unshift(p);
  }
  const st = lstatSync(want);
  // Somebody else's directory of that name (or a link) would let them into the quarantine.
  if (!st.isDirectory() || st.uid !== process.geteuid!() || (st.mode & 0o077) !== 0) {
    for (const p of made) rmdirIfEmpty(p);
    throw new BvisorError('BV_OUTPUTS', `${want} is not a private directory of bvisor's user (mode 0700)`, { hint: `remove it, or choose another outputs.to` });
  }
  // The quarantine's path is opened with no symlink followed (stageFiles, commit): its real one.
  return { dir: realpathSync(want), made };
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Removes a quarantine: the tmpfs unmounted, the directory removed, and when it was placed on a
 * destination's filesystem, its index link under the state root and the home directory when
 * nothing else is in it (plus directories made for it, `made`, when empty).
 */
function dropQuarantine(dir: string, tmpfs: boolean, index: string | null, made: readonly string[] = []): void {
  if (tmpfs) {
    // A tmpfs quarantine (outputs.size/files): its bytes live in the mount.
    const rc = shim().bv_umount(dir);
    if (rc < 0 && isMountPoint(dir)) throw new BvisorError('BV_OUTPUTS', `umount ${dir}: ${errnoName(rc)}`);
  }
  removeFrozen(dir);
  if (index !== null && index !== dir && isLink(index)) {
    unlinkSync(index);
    if (basename(dirname(dir)) === QUARANTINE_HOME) rmdirIfEmpty(dirname(dir));
  }
  for (const p of made) rmdirIfEmpty(p);
  if (index !== null) {
    rmSync(makerFile(index), { force: true });
    rmSync(commitRecord(index), { force: true });
    rmSync(dispositionLock(index), { force: true });
  }
}

/**
 * Beside a quarantine's index entry: the process that made it, by pid and start time. Until a
 * state or a start record names the run, recovery has only this to tell a run still setting up
 * (leave its quarantine) from one that died doing so (discard it). Not fsync'd: it says something
 * only while its maker lives, and no crash of the machine leaves that so.
 */
export function makerFile(index: string): string {
  return `${index}.maker`;
}

/** Beside a quarantine's index entry: the destinations its commits were decided for, one JSON line
 * each, written before any copy is made there. A commit cut short leaves its copy beside the
 * target (commitTemp); the next commit of that run removes it, and so does a discard, which has
 * only this to know where (a commit's --to). Not fsync'd: the copies it leads to are found after a
 * process's crash, the common one; a machine's crash may lose both. */
export function commitRecord(index: string): string {
  return `${index}.commit`;
}

/** The run ids that have a maker record (makerFile) under the root. */
export function makerRunIds(root: string): string[] {
  try {
    return readdirSync(outputsDir(root))
      .filter((n) => n.endsWith('.maker'))
      .map((n) => n.slice(0, -'.maker'.length));
  } catch {
    return [];
  }
}

/** Maker records with no quarantine beside them whose maker is gone: what a run killed between
 * the record and its quarantine's mkdir leaves (gc removes them). */
export function orphanMakers(root: string): string[] {
  return makerRunIds(root)
    .map((runId) => join(outputsDir(root), runId))
    .filter((index) => !existsSync(index) && !isLink(index) && !alive(quarantineMaker(index)))
    .map(makerFile);
}

/** Disposition locks and commit records with no quarantine beside them: a drop cut short after the
 * quarantine went, or a quarantine removed by hand (gc removes them; a command waiting on a lock
 * finds it gone). */
export function orphanLocks(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(outputsDir(root));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.lock') || n.endsWith('.commit'))
    .map((n) => join(outputsDir(root), n))
    .filter((file) => {
      const index = file.slice(0, file.lastIndexOf('.'));
      return !existsSync(index) && !isLink(index);
    });
}

/** A quarantine's maker (makerFile), or null when there is no readable record of one. */
export function quarantineMaker(index: string): ProcRef | null {
  try {
    const v = JSON.parse(readFileSync(makerFile(index), 'utf8')) as Partial<ProcRef> | null;
    return v && typeof v.pid === 'number' && typeof v.startTime === 'string' ? { pid: v.pid, startTime: v.startTime } : null;
  } catch {
    return null;
  }
}

/**
 * Removes a quarantine named by its index entry under the state root (recover, gc): the
 * directory, or the one its link names (then the link too, and the home when empty).
 */
export function discardQuarantine(index: string): void {
  const present = (): boolean => existsSync(index) || isLink(index);
  if (!present()) return;
  // Under the dispositions' lock: a commit or discard of it may be running.
  try {
    underDispositionLock(index, present, () => new BvisorError('BV_OUTPUTS_NOT_FOUND', `${index} went meanwhile`), () => discardQuarantineLocked(index));
  } catch (e) {
    if (!(e instanceof BvisorError && e.code === 'BV_OUTPUTS_NOT_FOUND')) throw e; // dropped by whoever held it
  }
}

function discardQuarantineLocked(index: string): void {
  const dir = isLink(index) ? readlinkSync(index) : index;
  // bvisor's links name <to>/.bvisor-quarantine/<runId>, with this index's run id (prepareOutputs):
  // one that names anything else is not followed, for the removal is recursive.
  if (dir !== index && !quarantineShaped(dir, basename(index), null)) {
    throw new BvisorError('BV_OUTPUTS', `${index} links to ${dir}, which is not a quarantine bvisor makes (<destination>/${QUARANTINE_HOME}/${basename(index)}): not followed, nothing removed`, { hint: `look at ${dir}, then remove the link ${index}` });
  }
  dropQuarantine(dir, isMountPoint(dir), index);
}

/**
 * Removes a quarantine directory. A frozen one is read-only (mode 0500); as root that does not
 * stop the removal, rootless it does (the directory stays the user's): made writable, then removed.
 */
export function removeFrozen(path: string): void {
  // By descriptor: the workload chose the tree's depth and names (removeTree says why).
  removeTree(path);
}

/** The index entry of a run's quarantine under the state root (the directory itself, or a link). */
export function quarantineIndex(root: string, runId: string): string {
  return join(outputsDir(root), runId);
}

/** A quarantine named by its index entry: the directory, following the link of a placed one. */
export function quarantineAt(index: string): string {
  return lstatSync(index).isSymbolicLink() ? readlinkSync(index) : index;
}

/**
 * Freezes the quarantine and lists it: the report's artifacts. `secrets`: the workload's secret
 * values (a name holding one is refused, never listed or committed); null when they are not
 * known here while the workload had some (a container's seal, in a later process than its
 * create): nothing is listed then, since no name could be checked.
 */
export function stageArtifacts(plan: Plan, secrets: readonly string[] | null): ReportBody['artifacts'] | undefined {
  return runSteps(stageSteps(plan, secrets, {}));
}

/**
 * stageArtifacts for run and the API: the event loop gets its turns while files are hashed (other
 * runs' deadlines are its timers), and a caller's stop (`signal`) ends the staging there: what was
 * listed stays listed, the listing says it was stopped (truncated), the rest stays in the
 * quarantine unlisted.
 */
export async function stageArtifactsYielding(plan: Plan, secrets: readonly string[] | null, signal?: AbortSignal): Promise<ReportBody['artifacts'] | undefined> {
  const made: { out?: Artifacts } = {};
  try {
    return await runStepsYielding(stageSteps(plan, secrets, made), signal);
  } catch (e) {
    if (!(e instanceof StepsStopped) || !made.out) throw e;
    made.out.truncated = true;
    // Listed whatever the bounds (one entry of a fixed size): the listing must say why it stops.
    made.out.refused.push({ path: '.', reason: 'staging stopped: the run was told to stop; what is not listed stays in the quarantine, unlisted' });
    return made.out;
  }
}

function* stageSteps(plan: Plan, secrets: readonly string[] | null, made: { out?: Artifacts }): Steps<ReportBody['artifacts'] | undefined> {
  const o = plan.launch?.outputs;
  if (!o || !o.quarantine) return undefined;
  const out: Artifacts = { quarantine: o.quarantine, commit: o.commit, to: o.to, ...(o.toFrom !== undefined ? { toFrom: o.toFrom } : {}), items: [], refused: [], truncated: false };
  made.out = out;
  if (!existsSync(o.quarantine)) {
    refuse(out, '.', 'the quarantine is gone');
    return out;
  }
  // Frozen first: no process of the run can change what is hashed (none is left, and from now
  // on the directory is read-only to everyone, the workload's identity included).
  if (o.tmpfs) {
    const rc = shim().bv_remount_ro(o.quarantine);
    if (rc < 0) throw new BvisorError('BV_OUTPUTS', `freeze ${o.quarantine} (remount read-only): ${errnoName(rc)}`);
  } else {
    // By descriptor, no symlink followed on the way: a name swapped since planning (the placed
    // quarantine's parents are checked trusted, but the freeze must not trust a path) fails.
    // O_PATH: opening needs no permission on the directory itself, which the workload may have
    // taken away (rootless, a chmod 000 of its /out would otherwise fail the seal and every
    // delete). fchown and fchmod refuse an O_PATH descriptor; through /proc/self/fd they act on
    // that very directory.
    const s = shim();
    const fd = s.bv_openat2(AT_FDCWD, o.quarantine, O.PATH | O.DIRECTORY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
    if (fd < 0) throw new BvisorError('BV_OUTPUTS', `freeze ${o.quarantine}: ${errnoName(fd)}`);
    try {
      // Rootless, the quarantine stays the user's (it cannot be given away): read-only is the freeze.
      if (process.geteuid?.() === 0) chownSync(fdPath(fd), 0, 0);
      chmodSync(fdPath(fd), 0o500);
    } catch (e) {
      if (e instanceof BvisorError) throw e;
      throw new BvisorError('BV_OUTPUTS', `freeze ${o.quarantine}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    } finally {
      s.bv_close(fd);
    }
  }
  if (secrets === null) {
    refuse(out, '.', "the workload had secrets in its environment, whose values are not known where a container's outputs are listed (its seal): a name it made could hold one, so nothing is listed or committable (bvisor run knows them); look, then discard");
    return out;
  }
  const files: Found[] = [];
  yield* walkSteps(o.quarantine, out, files, secrets.filter((v) => v.length > 0));
  yield* stageFilesSteps(o.quarantine, files, out, o.tmpfs ? o.sizeBytes : null, secrets);
  return out;
}

interface Found {
  path: string;
  /** `dev:ino`, to count a hard-linked file's names inside the quarantine. */
  inode: string;
  /** As the walk saw it (the hash budget is checked before a byte is read). */
  size: number;
  nlink: number;
}

/** A name as a report can spell it: UTF-8 as it is; otherwise each byte that is not part of valid
 * UTF-8 as \\xHH (a refused entry names it; such a name is never an artifact). */
function spell(raw: Buffer): { text: string; utf8: boolean } {
  let out = '';
  let run = 0; // where the current run of valid UTF-8 began
  let utf8 = true;
  for (let i = 0; i < raw.length; ) {
    const n = utf8SequenceAt(raw, i);
    if (n > 0) {
      i += n;
      continue;
    }
    utf8 = false;
    out += `${raw.toString('utf8', run, i)}\\x${raw[i]!.toString(16).padStart(2, '0')}`;
    run = ++i;
  }
  return utf8 ? { text: raw.toString('utf8'), utf8 } : { text: out + raw.toString('utf8', run), utf8 };
}

/** The length of the valid UTF-8 sequence at b[i] (RFC 3629 section 4: no overlong form, no
 * surrogate, nothing past U+10FFFF), or 0. Linear in the name, with no allocation: a workload
 * chooses the names, 200,000 of them. */
function utf8SequenceAt(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/**
 * Every regular file of the quarantine, in path order; everything else refused. By descriptor
 * (the quarantine is frozen, but a workload chose its names): each directory read through its
 * own descriptor and each name looked at relative to it, so no path length limit applies and a
 * name that is not UTF-8 is refused rather than looked up under another spelling.
 */
function* walkSteps(top: string, out: Artifacts, files: Found[], secrets: readonly string[] = []): Steps<void> {
  const s = shim();
  const topFd = s.bv_openat2(AT_FDCWD, top, O.RDONLY | O.DIRECTORY | O.NOCTTY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
  if (topFd < 0) {
    refuse(out, '.', `unreadable: ${errnoName(topFd)}`);
    return;
  }
  let walked = 0;
  let pathBytes = 0;
  const inDir = function* (dirFd: number, rel: string, relBytes: number, depth: number): Steps<void> {
    if (depth > 64) {
      refuse(out, rel, 'nested deeper than 64 directories');
      return;
    }
    const raw: Buffer[] = [];
    try {
      // Read as a stream, up to what the walk may still look at: a directory of millions of names
      // is never held whole.
      const dir = opendirSync(fdPath(dirFd), { encoding: 'buffer' as BufferEncoding });
      try {
        for (let d = dir.readSync(); d; d = dir.readSync()) {
          yield;
          if (++walked > MAX_WALKED) {
            out.truncated = true;
            break;
          }
          raw.push(d.name as unknown as Buffer);
        }
      } finally {
        dir.closeSync();
      }
    } catch (e) {
      refuse(out, rel || '.', `unreadable: ${(e as NodeJS.ErrnoException).code}`);
      return;
    }
    const names: Array<ReturnType<typeof spell>> = [];
    for (const r of raw) {
      yield;
      names.push(spell(r));
    }
    names.sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
    // The path above, as far back as a value could span (split by `/`s too: core/redact.ts): it
    // holds no value itself, or this directory would not have been entered.
    const tail = secrets.length && rel !== '' ? rel.slice(-(2 * Math.max(...secrets.map((v) => v.length)))) : '';
    for (const name of names) {
      yield;
      // The path's length in bytes, counted rather than measured: measuring (or searching) a path
      // built by concatenation makes V8 copy it whole, 16 KiB for a deep one.
      const pBytes = (rel ? relBytes + 1 : 0) + Buffer.byteLength(name.text);
      pathBytes += pBytes;
      if (pathBytes > MAX_WALKED_PATH_BYTES) {
        out.truncated = true;
        return;
      }
      const p = rel ? `${rel}/${name.text}` : name.text;
      // A name holding a secret value (a tool that named its cache after its token) is neither
      // listed nor committed, and what is beneath it is not looked at. The path above was checked
      // already: only this name, with as much of the path before it as a value could span.
      if (holdsSecret(rel === '' ? name.text : `${tail}/${name.text}`, secrets)) {
        refuse(out, REDACTED, 'a name holding a secret value: never listed, never committed');
        continue;
      }
      if (!name.utf8) {
        refuse(out, p, 'a name that is not UTF-8 (spelled here with \\xHH for its other bytes)');
        continue;
      }
      if (name.text === QUARANTINE_HOME) {
        refuse(out, p, 'a name bvisor reserves (where it keeps quarantines in a destination)');
        continue;
      }
      let st;
      try {
        // bigint: inode numbers past 2^53 (NFS file ids) stay apart when names are counted.
        st = lstatSync(fdPath(dirFd, name.text), { bigint: true });
      } catch (e) {
        refuse(out, p, `unreadable: ${(e as NodeJS.ErrnoException).code}`);
        continue;
      }
      if (st.isDirectory()) {
        const fd = s.bv_openat2(dirFd, name.text, O.RDONLY | O.DIRECTORY | O.NOCTTY, 0, BENEATH);
        if (fd < 0) {
          refuse(out, p, `unreadable: ${errnoName(fd)}`);
          continue;
        }
        try {
          yield* inDir(fd, p, pBytes, depth + 1);
        } finally {
          s.bv_close(fd);
        }
        continue;
      }
      if (!st.isFile()) {
        refuse(out, p, st.isSymbolicLink() ? NOT_DATA.link : st.isFIFO() ? NOT_DATA.fifo : st.isSocket() ? NOT_DATA.socket : NOT_DATA.device);
        continue;
      }
      files.push({ path: p, inode: `${st.dev}:${st.ino}`, nlink: Number(st.nlink), size: Number(st.size) });
    }
  };
  try {
    yield* inDir(topFd, '', 0, 0);
  } finally {
    s.bv_close(topFd);
  }
}

/** How many names each inode has inside the quarantine. */
function namesInside(files: readonly Found[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const f of files) n.set(f.inode, (n.get(f.inode) ?? 0) + 1);
  return n;
}

/**
 * Hashes what walk found. A file with several names is an artifact only when every name is in
 * the quarantine (the kernel's link count says how many there are): a name elsewhere would let
 * whoever holds it change the bytes after the seal, or let a commit hand out a host file.
 */
function* stageFilesSteps(top: string, files: readonly Found[], out: Artifacts, quarantineBytes: number | null, secrets: readonly string[]): Steps<void> {
  const inside = namesInside(files);
  let budget = MAX_HASHED_BYTES;
  // Searching for secret values costs per byte and per value; a workload that had a hundred of
  // them, or bytes shaped against one, must not hold the seal (and its caller) for long.
  let searchBudget = MAX_SEARCHED;
  let listedBytes = 0;
  // Each file is read once, however many names it has inside (hard links): by device and inode.
  const seen = new Map<string, { sha256: string; size: number; found: boolean }>();
  const s = shim();
  // The quarantine opened once, with no symlink followed; every file is hashed beneath it.
  const topFd = s.bv_openat2(AT_FDCWD, top, O.PATH | O.DIRECTORY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
  try {
    for (const f of files) {
      yield;
      const here = inside.get(f.inode)!;
      if (f.nlink > here) {
        refuse(out, f.path, `a hard link to a file outside the quarantine (${f.nlink} names, ${here} inside)`);
        continue;
      }
      if (out.items.length >= MAX_ITEMS || !fits(out, f.path, 200)) {
        out.truncated = true;
        continue;
      }
      // What a commit by copy writes is every listed file whole, holes as zeros and each name of
      // a hard-linked file a copy of its own; outputs.size bounds the quarantine's blocks, not
      // that. Files are listed in walk order while their sizes together fit: one that would
      // pass it (a sparse one alone, or one after many) is refused, a smaller one after it may
      // still fit.
      if (quarantineBytes !== null && listedBytes + f.size > quarantineBytes) {
        refuse(out, f.path, f.size > quarantineBytes ? `a sparse file: ${f.size} bytes in a quarantine of ${quarantineBytes} (outputs.size); a commit would write it whole` : `${f.size} bytes, with the ${listedBytes} listed before it, pass outputs.size (${quarantineBytes}): holes, or names of one file, that a commit would write whole; raise outputs.size, or write fewer, denser files`);
        continue;
      }
      const o = topFd < 0 ? `open the quarantine: ${errnoName(topFd)}` : openChecked(topFd, f.path, here);
      if (typeof o === 'string') {
        refuse(out, f.path, o);
        continue;
      }
      const key = `${o.st.dev}:${o.st.ino}`;
      let h = seen.get(key);
      if (!h) {
        const watch = new ValueWatch(secrets);
        if (f.size > budget) {
          s.bv_close(o.fd);
          refuse(out, f.path, `not hashed: ${f.size} bytes, past what staging hashes for a run (${MAX_HASHED_BYTES} bytes in all)`);
          continue;
        }
        if (watch.cost(f.size) > searchBudget) {
          s.bv_close(o.fd);
          refuse(out, f.path, `not searched for secret values: ${f.size} bytes, for ${watch.values} value(s), past what staging searches for a run (bytes read times values searched, at most ${MAX_SEARCHED})`);
          continue;
        }
        let r: Hashed | string;
        try {
          r = yield* hashOpenedSteps(o.fd, o.st, budget, watch.see);
        } catch (e) {
          // A read that fails (EIO): that file is not listed; the report is still sealed.
          refuse(out, f.path, `read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
          continue;
        }
        if (typeof r === 'string') {
          refuse(out, f.path, r);
          continue;
        }
        budget -= r.size;
        searchBudget -= watch.cost(r.size);
        h = { sha256: r.sha256, size: r.size, found: watch.found };
        seen.set(key, h);
      }
      s.bv_close(o.fd);
      // Bytes holding a secret value are not handed to the host, and their hash is not recorded
      // (a guess at a low-entropy secret could be checked against it offline).
      if (h.found) {
        refuse(out, f.path, 'its content holds a secret value: never listed, never committed');
        continue;
      }
      // Without outputs.size the same bound at MAX_HASHED_BYTES: a file is hashed once however many
      // names it has, but each name is a copy a commit writes (100 MiB and ten links of it wrote
      // 1.1 GiB; 16 GiB of holes with 10,000 names would be 160 TiB).
      if (quarantineBytes === null && listedBytes + h.size > MAX_HASHED_BYTES) {
        refuse(out, f.path, `${h.size} bytes, with the ${listedBytes} listed before it, pass the ${MAX_HASHED_BYTES} bytes a commit writes for a run at most: holes, or names of one file (each a copy of its own), that a commit would write whole`);
        continue;
      }
      listedBytes += h.size;
      out.items.push({ id: artifactId(f.path, h.sha256), path: f.path, size: h.size, sha256: h.sha256, mode: Number(o.st.mode) & 0o7777 });
    }
  } finally {
    if (topFd >= 0) s.bv_close(topFd);
  }
}

/** Outcome reasons of a run whose workload never ran, or whose end bvisor lost: never-started,
 * setup (its program failed to exec), runner (the wasm runner could not set up the guest), lost. */
const NEVER_RAN: ReadonlySet<string> = new Set(['never-started', 'setup', 'runner', 'lost']);

/** linux/limits.h: the longest path, its terminating NUL included. */
const PATH_MAX = 4096;
/** The journal's bound on a disposition's error message (schemas/journal-entry.schema.json). */
const MESSAGE_MAX = 2000;

/** What failed, said within the journal's bound on a message: names the workload chose are cut,
 * and the failures past the bound are counted. */
export function failures(failed: ReadonlyArray<{ path: string; error: string }>): string {
  const cut = (t: string, n: number): string => (t.length > n ? `${t.slice(0, n)}…` : t);
  let out = '';
  for (let i = 0; i < failed.length; i++) {
    const part = `${i ? '; ' : ''}${cut(failed[i]!.path, 200)}: ${cut(failed[i]!.error, 300)}`;
    if (out.length + part.length > MESSAGE_MAX - 40) return `${out}; and ${failed.length - i} more`;
    out += part;
  }
  return out;
}

export const artifactId = (path: string, sha256: string): string => createHash('sha256').update(`${path}\0${sha256}`).digest('hex').slice(0, 16);

// ---------------------------------------------------------------------------------------------
// dispose

export interface Disposition {
  action: 'commit' | 'discard';
  runId: string;
  to: string | null;
  applied: Array<{ id: string; path: string; to: string }>;
  failed: Array<{ id: string; path: string; error: string }>;
  /** Copies an earlier commit cut short left in a destination that could not be removed, said
   * (the discard, or the commit, that ended the quarantine: removeCommitCopies). */
  left?: string[];
}

/**
 * Where bvisor makes a run's quarantine (prepareOutputs): `<root>/outputs/<runId>`, or
 * `<destination>/.bvisor-quarantine/<runId>`. Disposal removes it recursively, so a path from a
 * report (an API caller's object, a journal line) or an index link is used only in that shape.
 */
function quarantineShaped(dir: string, runId: string, root: string | null): boolean {
  if (!isAbsolute(dir) || posix.normalize(dir) !== dir || basename(dir) !== runId) return false;
  return basename(dirname(dir)) === QUARANTINE_HOME || (root !== null && dir === quarantineIndex(resolve(root), runId));
}

/** The staged artifacts of a run, from its sealed report, in a quarantine of bvisor's shape. */
function staged(report: SealedReport, root: string): NonNullable<ReportBody['artifacts']> {
  const a = report.body.artifacts;
  if (!a) throw new BvisorError('BV_OUTPUTS_NOT_FOUND', `run ${report.body.runId} staged no outputs`, { hint: 'only a manifest with an outputs clause stages artifacts' });
  if (!quarantineShaped(a.quarantine, report.body.runId, root)) throw new BvisorError('BV_OUTPUTS', `the report of run ${report.body.runId} names ${a.quarantine} as its quarantine, which is not where bvisor stages outputs (${quarantineIndex(resolve(root), report.body.runId)}, or <destination>/${QUARANTINE_HOME}/${report.body.runId}): nothing was promoted or removed`, { hint: 'pass the report runConfined returned, or the run id' });
  if (!existsSync(a.quarantine)) throw new BvisorError('BV_OUTPUTS_NOT_FOUND', `the quarantine of run ${report.body.runId} is gone (committed or discarded already)`, { hint: 'bvisor journal shows its disposition' });
  return a;
}

/**
 * Promotes artifacts (all, or those named by id or path) into `to`: each re-hashed from the
 * quarantine first; a mismatch fails that artifact, never promotes it. Then the quarantine is
 * dropped. Returns what was applied and what failed.
 */
export function commitOutputs(root: string, report: SealedReport, o: { to: string | null; only?: readonly string[]; durable?: boolean }, sink?: DispositionSink): Disposition {
  const a = staged(report, root);
  return disposing(root, report.body.runId, a, () => runSteps(commitSteps(root, report, a, o, sink)));
}

/**
 * commitOutputs for run's `on-success` (and the API's): hashing and copying give the event loop
 * its turns, so other runs of the process keep their wall deadlines while gigabytes are copied. A
 * commit, once decided, is not stopped: the lock is held until it ends.
 */
export async function commitOutputsYielding(root: string, report: SealedReport, o: { to: string | null; only?: readonly string[]; durable?: boolean }, sink?: DispositionSink): Promise<Disposition> {
  const a = staged(report, root);
  return await disposing(root, report.body.runId, a, () => runStepsYielding(commitSteps(root, report, a, o, sink)));
}

/** The lock of a run's dispositions, beside its quarantine's index entry (removed with it). */
const dispositionLock = (index: string): string => `${index}.lock`;

/**
 * One disposition of a quarantine at a time (commit, discard, recovery's discard): two at once
 * interleave, and a discard could drop files a commit is promoting while the journal says both
 * were done. A flock on <index>.lock, made while the quarantine exists and removed with it, so a
 * command that waited finds it gone and says so.
 */
function disposing<T>(root: string, runId: string, a: { quarantine: string }, fn: () => T): T {
  const gone = (): BvisorError => new BvisorError('BV_OUTPUTS_NOT_FOUND', `the quarantine of run ${runId} is gone (committed or discarded by another command meanwhile)`, { hint: 'bvisor journal shows its disposition' });
  return underDispositionLock(quarantineIndex(resolve(root), runId), () => existsSync(a.quarantine), gone, fn);
}

/** fn under the lock of the quarantine indexed at `index`, if it is still `present` once held. */
function underDispositionLock<T>(index: string, present: () => boolean, gone: () => BvisorError, fn: () => T): T {
  const lock = dispositionLock(index);
  return withFlock(
    lock,
    LOCK_EX,
    'BV_OUTPUTS',
    () => {
      if (!present()) {
        // Dropped between the look and the lock: the lock file, made just now (or left by a drop
        // cut short), goes with it.
        rmSync(lock, { force: true });
        throw gone();
      }
      return fn();
    },
    { gone },
  );
}

function* commitSteps(root: string, report: SealedReport, a: NonNullable<ReportBody['artifacts']>, o: { to: string | null; only?: readonly string[]; durable?: boolean }, sink?: DispositionSink): Steps<Disposition> {
  // A run that never ran (never started, or its program failed to exec: setup), or whose end
  // bvisor lost, staged nothing a host should trust.
  if (NEVER_RAN.has(report.body.outcome.reason ?? '')) throw new BvisorError('BV_OUTPUTS', `run ${report.body.runId} ended ${report.body.outcome.reason}: its outputs are not committed`, { hint: 'discard them (bvisor discard), or let bvisor recover do it' });
  const to = o.to ?? a.to;
  if (!to) throw new BvisorError('BV_USAGE', `run ${report.body.runId} names no destination`, { hint: 'pass --to DIR' });
  if (o.to === null) refuseMovedDestination(to);
  refuseStateRootDestination(to, root, 'the destination');
  fault('commit:destination-checked');
  if (o.to === null) {
    // The report's destination was recorded physical: made (if missing) by descriptor from /,
    // each component opened with no symlink followed, so a link swapped onto its path since the
    // check above (whoever can write a bundle's ./x can) makes nothing where it points.
    const top = shim().bv_openat2(AT_FDCWD, '/', O.PATH | O.DIRECTORY, 0, RESOLVE.NO_MAGICLINKS);
    const made = top < 0 ? top : dirBeneath(top, to.split('/').filter(Boolean), true);
    if (top >= 0) shim().bv_close(top);
    if (made < 0) throw new BvisorError('BV_OUTPUTS', `the report's destination ${to}: ${errnoName(made)}${made === -40 ? ' (a symlink on its path since the run was prepared: not followed)' : ''}; nothing was promoted`, { hint: 'look at what changed there, then pass the destination you mean: bvisor commit --to DIR' });
    shim().bv_close(made);
  } else mkdirSync(resolve(to), { recursive: true });
  // The destination as the host names it now, symlinks in that name resolved once; from here on
  // everything is relative to descriptors opened with no symlink followed, so a link planted in
  // the destination (by anyone who can write there) fails the artifact instead of redirecting
  // bvisor's writes.
  const dest = realpathSync(resolve(to));
  if (o.to === null && dest !== to) refuseMovedDestination(to);
  const want = o.only && o.only.length ? a.items.filter((x) => o.only!.includes(x.id) || o.only!.includes(x.path)) : a.items;
  if (o.only && o.only.length && want.length !== o.only.length) throw new BvisorError('BV_USAGE', `no artifact ${o.only.filter((x) => !a.items.some((i) => i.id === x || i.path === x)).join(', ')} in run ${report.body.runId}`, { hint: 'bvisor report shows the artifacts (id and path)' });
  const durable = o.durable ?? false;
  // A directory quarantine on the destination's filesystem: promotion is a rename (atomic,
  // no copy). A tmpfs quarantine is always another filesystem: copy, fsync, rename.
  const sameFs = !isMountPoint(a.quarantine) && statSync(a.quarantine).dev === statSync(dest).dev;
  const s = shim();
  const destFd = s.bv_openat2(AT_FDCWD, dest, O.PATH | O.DIRECTORY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
  if (destFd < 0) throw new BvisorError('BV_OUTPUTS', `open the destination ${dest}: ${errnoName(destFd)}`);
  let rootId: string;
  try {
    rootId = refuseStateRootDirectory(destFd, dest, root);
  } catch (e) {
    s.bv_close(destFd);
    throw e;
  }
  const qFd = s.bv_openat2(AT_FDCWD, a.quarantine, O.PATH | O.DIRECTORY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
  if (qFd < 0) {
    s.bv_close(destFd);
    throw new BvisorError('BV_OUTPUTS', `open the quarantine ${a.quarantine}: ${errnoName(qFd)}`);
  }
  const d: Disposition = { action: 'commit', runId: report.body.runId, to: dest, applied: [], failed: [] };
  // A name the workload chose may be as long as a path inside the quarantine can be; under the
  // destination it can pass what a path may be (PATH_MAX, and the journal's bound on `to`). It
  // fails here, before the decision is recorded, rather than make an entry the journal refuses.
  const fitting = want.filter((x) => {
    const long = Buffer.byteLength(join(dest, x.path)) >= PATH_MAX;
    if (long) d.failed.push({ id: x.id, path: x.path, error: `its destination path would be longer than a path may be (PATH_MAX, ${PATH_MAX} bytes)` });
    return !long;
  });
  // Where this commit may leave copies, recorded before it decides anything (a discard finds them
  // there: removeCommitCopies); a record that cannot be written ends it with nothing decided.
  try {
    if (fitting.length) appendFileSync(commitRecord(quarantineIndex(root, d.runId)), JSON.stringify({ to: dest }) + '\n', { mode: 0o600 });
  } catch (e) {
    s.bv_close(destFd);
    s.bv_close(qFd);
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new BvisorError('BV_OUTPUTS', `record the commit's destination beside ${quarantineIndex(root, d.runId)}: ${code}; nothing was promoted`, { hint: 'make room in the state root, then commit again', cause: e });
  }
  // Decided first, durably: a crash from here on leaves a decided step without its outcome. A
  // decision not recorded (a journal that refuses it, a stop heard while it waited for the lock)
  // ends the commit here, with nothing moved and the descriptors closed.
  let decided = false;
  try {
    if (sink) yield* sink({ runId: d.runId, step: 'decided', action: 'commit', artifacts: fitting.map((x) => ({ id: x.id, sha256: x.sha256, to: join(dest, x.path) })) });
    decided = true;
  } finally {
    if (!decided) {
      s.bv_close(destFd);
      s.bv_close(qFd);
    }
  }
  // How many names a file has inside the quarantine, as staging counted them (the quarantine is
  // frozen: only root changes it): null when it is no longer there. A file with one name needs
  // no count; a walk, as staging's (and capped as it is), counts names only when some wanted file
  // has more, so the commit of a quarantine larger than a walk looks at still finds its files.
  let walked: Map<string, number> | null = null;
  const namesOf = (segs: readonly string[], name: string, path: string): number | null | 'uncounted' => {
    const dir = dirBeneath(qFd, segs, false);
    if (dir === -2) return null; // ENOENT
    if (dir < 0) return 1; // promoteSteps's own open says why
    const fd = s.bv_openat2(dir, name, O.PATH | O.NOFOLLOW, 0, BENEATH | RESOLVE.NO_XDEV);
    s.bv_close(dir);
    if (fd === -2) return null;
    if (fd < 0) return 1;
    let nlink: number;
    let file: boolean;
    try {
      const st = fstatSync(fd);
      nlink = st.nlink;
      file = st.isFile();
    } finally {
      s.bv_close(fd);
    }
    // Not a regular file any more, or one name: promoteSteps's own checks say what is wrong, if anything.
    if (nlink === 1 || !file) return 1;
    if (walked === null) {
      const found: Found[] = [];
      runSteps(walkSteps(a.quarantine, { quarantine: a.quarantine, commit: a.commit, to: a.to, items: [], refused: [], truncated: false }, found));
      const inside = namesInside(found);
      walked = new Map(found.map((f) => [f.path, inside.get(f.inode)!]));
    }
    // Not reached by the walk (its caps): its other names cannot be counted.
    return walked.get(path) ?? 'uncounted';
  };
  try {
    for (const it of fitting) {
      yield;
      const target = join(dest, it.path);
      const segs = it.path.split('/');
      if (!target.startsWith(dest + '/') || segs.some((x) => x === '' || x === '.' || x === '..' || x === QUARANTINE_HOME)) {
        d.failed.push({ id: it.id, path: it.path, error: 'leaves the destination' });
        continue;
      }
      const name = segs.pop()!;
      // No mount crossed beneath the destination: a mount there (a bind of the state root, say)
      // is not part of the directory the checks above looked at.
      // And none of its directories is the state root as a directory (a root that is itself a
      // bind mount of a directory beneath the destination: no mount point on this side).
      const destDir = dirBeneath(destFd, segs, true, RESOLVE.NO_XDEV, rootId);
      if (destDir < 0) {
        d.failed.push({ id: it.id, path: it.path, error: destDir === IS_STATE_ROOT ? `the destination's ${segs.join('/')} is bvisor's state root (${root}) as a directory: not written` : `the destination's ${segs.join('/')}: ${errnoName(destDir)}${destDir === -40 ? ' (a symlink: not followed)' : destDir === -18 ? ' (a mount point: not crossed)' : ''}` });
        continue;
      }
      try {
        // Promoted by an earlier commit (a rename takes it out of the quarantine; a commit cut
        // short by a crash may have promoted some): done when the destination holds its bytes.
        const n = namesOf(segs, name, it.path);
        if (n === 'uncounted') {
          d.failed.push({ id: it.id, path: it.path, error: 'a file with several names, which a walk of the quarantine did not reach to count them (it holds more than a walk looks at)' });
          continue;
        }
        if (n === null) {
          const opened = openChecked(destDir, name, 1);
          const there = typeof opened === 'string' ? opened : yield* hashOpenedSteps(opened.fd, opened.st, Infinity);
          if (typeof there !== 'string') s.bv_close(there.fd);
          if (typeof there !== 'string' && there.sha256 === it.sha256) d.applied.push({ id: it.id, path: it.path, to: target });
          else d.failed.push({ id: it.id, path: it.path, error: 'no longer in the quarantine' });
          continue;
        }
        const srcDir = dirBeneath(qFd, segs, false);
        if (srcDir < 0) {
          d.failed.push({ id: it.id, path: it.path, error: `open in the quarantine: ${errnoName(srcDir)}` });
          continue;
        }
        try {
          // Rootless, the frozen quarantine (0500) is read-only to its owner too: a copy.
          const err = yield* promoteSteps(srcDir, destDir, name, { ...it, tmp: commitTemp(d.runId, it.id) }, n, sameFs && n === 1 && process.geteuid?.() === 0, durable);
          if (err) d.failed.push({ id: it.id, path: it.path, error: err });
          else d.applied.push({ id: it.id, path: it.path, to: target });
        } finally {
          s.bv_close(srcDir);
        }
      } finally {
        s.bv_close(destDir);
      }
    }
  } finally {
    s.bv_close(destFd);
    s.bv_close(qFd);
  }
  const sums = new Map(a.items.map((x) => [x.id, x.sha256]));
  if (d.applied.length && sink) yield* sink({ runId: d.runId, step: 'applied', action: 'commit', artifacts: d.applied.map((x) => ({ id: x.id, sha256: sums.get(x.id)!, to: x.to })) });
  if (d.failed.length && sink) yield* sink({ runId: d.runId, step: 'failed', action: 'commit', artifacts: d.failed.map((x) => ({ id: x.id, sha256: sums.get(x.id)! })), error: { code: 'BV_OUTPUTS', message: failures(d.failed) } });
  // The quarantine ends when everything in it was promoted; a subset leaves the rest staged
  // (commit them later, or discard). So does a listing that left data out (truncated, a file not
  // hashed, a name not listed, nothing listed for a container with secrets): that is the host's
  // to look at before a discard, not bvisor's to delete.
  const unlisted = a.truncated || a.refused.some((r) => !NOT_DATA_REASONS.has(r.reason));
  if (d.failed.length === 0 && want.length === a.items.length && !unlisted) {
    // As a discard does: the record goes with the quarantine, and a copy an earlier commit cut
    // short left in another destination (its --to) would have nothing pointing at it after.
    const index = quarantineIndex(root, d.runId);
    // Only when an earlier commit was recorded: this one's own copies were renamed or removed.
    const left = removeCommitCopies(index, d.runId, a.items, 1);
    if (left.length) d.left = left;
    dropQuarantine(a.quarantine, isMountPoint(a.quarantine), index);
  }
  return d;
}

export function discardOutputs(root: string, report: SealedReport, sink?: DispositionSink): Disposition {
  const a = staged(report, root);
  return disposing(root, report.body.runId, a, () => discardLocked(root, report, a, sink));
}

function discardLocked(root: string, report: SealedReport, a: NonNullable<ReportBody['artifacts']>, sink?: DispositionSink): Disposition {
  const artifacts = a.items.map((x) => ({ id: x.id, sha256: x.sha256 }));
  if (sink) runSteps(sink({ runId: report.body.runId, step: 'decided', action: 'discard', artifacts }));
  const index = quarantineIndex(root, report.body.runId);
  // Before the record goes with the quarantine: it is what says where a commit cut short copied.
  const left = removeCommitCopies(index, report.body.runId, a.items);
  dropQuarantine(a.quarantine, isMountPoint(a.quarantine), index);
  if (sink) runSteps(sink({ runId: report.body.runId, step: 'applied', action: 'discard', artifacts }));
  return { action: 'discard', runId: report.body.runId, to: null, applied: a.items.map((x) => ({ id: x.id, path: x.path, to: '' })), failed: [], ...(left.length ? { left } : {}) };
}

/**
 * Removes the copies commits of this run cut short left beside their targets: commitTemp's name,
 * or that name and the 12 hex digits of one of its own (ownName, when a name was planted), in
 * each destination the commit record names, in the artifact's directory there, opened beneath it
 * with no symlink followed and no mount crossed, as the commit opened them. Only regular files of
 * ours, and never an artifact's own name there (a workload may name a file as a copy would be
 * named, and a commit of it promotes it under that name: a review). What could not be removed is
 * returned, said; a destination or directory gone has nothing to remove.
 */
function removeCommitCopies(index: string, runId: string, items: ReadonlyArray<{ id: string; path: string }>, ownLines = 0): string[] {
  let text: string;
  try {
    text = readFileSync(commitRecord(index), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    return [`${commitRecord(index)}: ${(e as NodeJS.ErrnoException).code ?? String(e)} (copies a commit cut short left are not looked for)`];
  }
  // The caller's own commit's lines (the last `ownLines`) lead to no copy left: none earlier, no sweep.
  const lines = text.split('\n').filter(Boolean);
  if (lines.length <= ownLines) return [];
  const dests = new Set<string>();
  for (const line of lines) {
    try {
      const to = (JSON.parse(line) as { to?: unknown }).to;
      if (typeof to === 'string' && isAbsolute(to)) dests.add(to);
    } catch {
      // a line cut short by a crash: its commit made no copy after it
    }
  }
  // Per directory of the artifacts: the names a copy of one of them may have, and their own names.
  const byDir = new Map<string, { copies: Set<string>; own: Set<string> }>();
  for (const it of items) {
    const rel = posix.dirname(it.path);
    const e = byDir.get(rel) ?? { copies: new Set<string>(), own: new Set<string>() };
    e.copies.add(commitTemp(runId, it.id));
    e.own.add(posix.basename(it.path));
    byDir.set(rel, e);
  }
  const isCopy = (name: string, copies: Set<string>): boolean => copies.has(name) || (/-[0-9a-f]{12}$/.test(name) && copies.has(name.slice(0, -13)));
  const s = shim();
  const uid = process.geteuid?.() ?? -1;
  const left: string[] = [];
  for (const dest of dests) {
    const destFd = s.bv_openat2(AT_FDCWD, dest, O.PATH | O.DIRECTORY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
    if (destFd === -2) continue;
    if (destFd < 0) {
      left.push(`${dest}: ${errnoName(destFd)}`);
      continue;
    }
    try {
      for (const [rel, names] of byDir) {
        const segs = rel === '.' ? [] : rel.split('/');
        const dir = dirBeneath(destFd, segs, false, RESOLVE.NO_XDEV);
        const where = join(dest, rel);
        if (dir === -2) continue;
        if (dir < 0) {
          left.push(`${where}: ${errnoName(dir)}`);
          continue;
        }
        try {
          for (const name of readdirSync(fdPath(dir))) {
            if (!isCopy(name, names.copies) || names.own.has(name)) continue;
            const st = lstatSync(fdPath(dir, name), { throwIfNoEntry: false });
            if (!st || !st.isFile() || st.uid !== uid) continue;
            const rc = s.bv_unlinkat(dir, name, 0);
            if (rc < 0 && rc !== -2) left.push(`${join(where, name)}: unlink: ${errnoName(rc)}`);
          }
        } catch (e) {
          left.push(`${where}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        } finally {
          s.bv_close(dir);
        }
      }
    } finally {
      s.bv_close(destFd);
    }
  }
  return left;
}

/** Whether a quarantine is a mount (a tmpfs bvisor made): its directory is a mount point. The
 * mount point as mountinfo writes it, its space, tab, newline and backslash escaped (proc(5)):
 * a state root with a space in its path held mounts nothing would remove. */
function isMountPoint(dir: string): boolean {
  try {
    return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).some((m) => m.mountPoint === dir);
  } catch {
    return false;
  }
}

const BENEATH = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS;

/** The directory `segs` beneath dirFd (O_PATH), each made (0755) when `make`, none a symlink;
 * a negative errno when it cannot be (ELOOP: a symlink on the way). */
/** dirBeneath's answer for a directory that is the one it must not enter (not an errno). */
const IS_STATE_ROOT = -100_000;

function dirBeneath(dirFd: number, segs: readonly string[], make: boolean, resolveMore = 0, forbidden: string | null = null): number {
  const s = shim();
  let fd = s.bv_openat2(dirFd, '.', O.PATH | O.DIRECTORY, 0, BENEATH | resolveMore);
  for (const seg of segs) {
    if (fd < 0) return fd;
    if (make) {
      const rc = s.bv_mkdirat(fd, seg, 0o755);
      if (rc < 0 && rc !== -17) {
        s.bv_close(fd);
        return rc;
      }
    }
    const next = s.bv_openat2(fd, seg, O.PATH | O.DIRECTORY, 0, BENEATH | resolveMore);
    s.bv_close(fd);
    fd = next;
    if (fd >= 0 && forbidden !== null) {
      if (identityKey(fd) === forbidden) {
        s.bv_close(fd);
        return IS_STATE_ROOT;
      }
    }
  }
  return fd;
}

/**
 * The destination as opened, against the state root as opened: neither may hold the other. The
 * path checks before it compare names; this compares directories, so a bind mount of the root, or
 * a link swapped onto the destination's path after those checks, is refused too.
 */
function lineageOrRefuse(fd: number, what: string): string[] {
  const line = dirLineage(fd);
  if (typeof line === 'number') throw new BvisorError('BV_OUTPUTS', `climb from ${what} to /: ${errnoName(line)}; nothing was promoted`, { hint: 'bvisor must be able to open every directory above the destination and the state root' });
  return line;
}

function refuseStateRootDirectory(destFd: number, dest: string, root: string): string {
  const s = shim();
  const rootFd = s.bv_openat2(AT_FDCWD, resolve(root), O.PATH | O.DIRECTORY, 0, RESOLVE.NO_MAGICLINKS);
  if (rootFd < 0) throw new BvisorError('BV_OUTPUTS', `open the state root ${root}: ${errnoName(rootFd)}; nothing was promoted`, { hint: 'check that --root names a directory bvisor can open' });
  let rootLine: string[];
  try {
    rootLine = lineageOrRefuse(rootFd, `the state root ${root}`);
  } finally {
    s.bv_close(rootFd);
  }
  const destLine = lineageOrRefuse(destFd, `the destination ${dest}`);
  const inside = destLine.indexOf(rootLine[0]!);
  if (inside >= 0 || rootLine.includes(destLine[0]!)) {
    throw new BvisorError('BV_OUTPUTS', `the destination ${dest} ${inside === 0 ? 'is' : inside > 0 ? 'is inside' : 'holds'} bvisor's state root (${root}) as a directory, whatever its name (a bind mount, or a link put on its path); a commit never writes into bvisor's own state, and nothing was promoted`, { hint: 'promote outputs to a directory outside the state root (--root)' });
  }
  return rootLine[0]!;
}

/** Opens the regular file `rel` beneath dirFd (no symlink followed, no mount crossed), which must
 * have exactly `names` names; an error text instead. */
function openChecked(dirFd: number, rel: string, names: number): { fd: number; st: BigIntStats } | string {
  const s = shim();
  const fd = s.bv_openat2(dirFd, rel, O.RDONLY | O.NOFOLLOW | O.NONBLOCK | O.NOCTTY, 0, BENEATH | RESOLVE.NO_XDEV);
  if (fd < 0) return `open: ${errnoName(fd)}`;
  // bigint: an inode number past 2^53 (NFS file ids) must not pass for another file's.
  const st = fstatSync(fd, { bigint: true });
  if (!st.isFile() || st.nlink !== BigInt(names)) {
    s.bv_close(fd);
    return 'changed into something other than a regular file with only the names it had';
  }
  return { fd, st };
}

/** Hashes what openChecked opened (may pause after each piece), leaving the descriptor open for
 * the caller, who closes it (commit renames or copies through it); closed, and an error text,
 * when it grew past maxBytes or the read failed (thrown as Node's). */
type Hashed = { sha256: string; size: number; mode: number; fd: number };
function* hashOpenedSteps(fd: number, st: BigIntStats, maxBytes: number, each?: (piece: Buffer) => void): Steps<Hashed | string> {
  const s = shim();
  let r: ReturnType<typeof hashFd>;
  let ended = false;
  try {
    r = yield* hashFdSteps(fd, maxBytes, each);
    ended = true;
  } finally {
    // Thrown, or ended early by the caller (the generator's return): the descriptor is ours.
    if (!ended) s.bv_close(fd);
  }
  // The file is frozen: one that grows past the budget is not the one the walk measured.
  if (r === null) {
    s.bv_close(fd);
    return 'changed while it was hashed (it grew)';
  }
  return { ...r, mode: Number(st.mode), fd };
}

function fsyncDirFd(dirFd: number): void {
  const s = shim();
  const fd = s.bv_openat2(dirFd, '.', O.RDONLY | O.DIRECTORY, 0, BENEATH);
  if (fd < 0) throw new Error(`fsync: ${errnoName(fd)}`);
  try {
    fsyncSync(fd);
  } finally {
    s.bv_close(fd);
  }
}

/**
 * Re-verifies one artifact and promotes it, all relative to descriptors: by rename within one
 * filesystem (the very inode, made root's and without group/other write first, through the
 * descriptor that was hashed), else copy into a new file beside the target, fsync, rename. The
 * destination's entry is replaced whole; a symlink there is replaced, never followed. An error
 * text, or null.
 */
/** The name a commit's copy has beside its target until it is renamed into place: the run's and
 * the artifact's, so that the next commit of it (which finishes one a crash cut short) removes
 * the copy that crash left, rather than leaving it in the destination for good. */
export const commitTemp = (runId: string, artifactId: string): string => `.bvisor-commit-${runId}-${artifactId}`;

function* promoteSteps(srcDir: number, destDir: number, name: string, it: { sha256: string; size: number; mode: number; tmp: string }, names: number, byRename: boolean, durable: boolean): Steps<string | null> {
  const s = shim();
  // No further than the sealed size (+1 to see it grew): a source that keeps growing is not read on.
  const opened = openChecked(srcDir, name, names);
  if (typeof opened === 'string') return opened;
  const h = yield* hashOpenedSteps(opened.fd, opened.st, it.size);
  if (typeof h === 'string') return h;
  try {
    // Only that it changed: the new bytes were never searched for secret values, so no hash of
    // them reaches a message (or the journal's failed entry).
    if (h.sha256 !== it.sha256 || h.size !== it.size) return `its hash is no longer the one the report sealed (${it.sha256.slice(0, 12)}…)`;
    const mode = it.mode & 0o777 & ~0o022;
    if (byRename) {
      if (process.geteuid?.() === 0) fchownSync(h.fd, 0, 0);
      fchmodSync(h.fd, mode);
      const rc = s.bv_renameat(srcDir, name, destDir, name);
      if (rc === 0) {
        if (durable) {
          fsyncDirFd(destDir);
          fsyncDirFd(srcDir);
        }
        return null;
      }
      // Two mounts of one filesystem (a bind on either side): the same st_dev, but the kernel
      // renames only within a mount (EXDEV). A copy then, as for another filesystem.
      if (rc !== -18) return `rename: ${errnoName(rc)}`;
    }
    // A copy of this very artifact left by an interrupted commit of this run (the run's lock
    // serialises its commits) is removed: a regular file of ours, nothing else. Anything else by
    // that name (its parts can be known: a run id, a hash of a name and its bytes) is left, and
    // the copy made under a name of its own, so no one can stop the commit by planting one.
    let tmp = it.tmp;
    let planted = false;
    try {
      const st = lstatSync(fdPath(destDir, tmp));
      planted = !(st.isFile() && st.uid === (process.geteuid?.() ?? st.uid) && s.bv_unlinkat(destDir, tmp, 0) === 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') planted = true;
    }
    const ownName = (): string => `${it.tmp}-${randomBytes(6).toString('hex')}`;
    const create = (): number => s.bv_openat2(destDir, tmp, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW, mode, BENEATH);
    if (planted) tmp = ownName();
    fault('commit:before-create');
    let out = create();
    // Planted between the look and the create (an attack in December: that commit failed
    // EEXIST, one attempt at a time): a name of its own, as for one planted before.
    if (out === -17 && tmp === it.tmp) {
      tmp = ownName();
      out = create();
    }
    if (out < 0) return `create ${tmp}: ${errnoName(out)}`;
    // The bytes copied are hashed as they are copied, and the copy is renamed into place only if
    // they are the sealed ones: rootless, the frozen quarantine's files stay writable by their
    // owner, so a write between the check above and the copy would otherwise be promoted (and
    // journaled under the sealed hash).
    let copied: string;
    let size: number;
    try {
      fault('commit:before-copy');
      const r = yield* hashFdSteps(h.fd, it.size, (piece) => writeAll(out, piece));
      if (r === null) throw Object.assign(new Error('it grew while it was copied'), { code: 'it grew while it was copied' });
      fsyncSync(out);
      ({ sha256: copied, size } = r);
    } catch (e) {
      s.bv_close(out);
      s.bv_unlinkat(destDir, tmp, 0);
      return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    }
    const made = fstatSync(out).ino;
    s.bv_close(out);
    if (copied !== it.sha256 || size !== it.size) {
      s.bv_unlinkat(destDir, tmp, 0);
      return `it changed while it was copied (from ${it.sha256.slice(0, 12)}…): not promoted`;
    }
    fault('commit:before-rename');
    const rc = s.bv_renameat(destDir, tmp, destDir, name);
    if (rc < 0) {
      s.bv_unlinkat(destDir, tmp, 0);
      return `rename: ${errnoName(rc)}`;
    }
    // The temporary file is renamed by name: whoever can write the destination could have put
    // another in its place meanwhile. What is there now must be the copy that was checked.
    let placed: number;
    try {
      placed = lstatSync(fdPath(destDir, name)).ino;
    } catch (e) {
      return `the destination's ${name} after the rename: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
    }
    if (placed !== made) return `the destination's ${name} was replaced during the commit (another writer there): not the checked copy`;
    if (durable) fsyncDirFd(destDir);
    return null;
  } finally {
    s.bv_close(h.fd);
  }
}

/** The quarantine of an aborted launch (no report will list it). */
export function removeQuarantine(q: Quarantine | null): void {
  if (!q) return;
  try {
    q.drop();
  } catch {
    // Best effort: gc removes what is left, once no maker record says a live process is on it.
    rmSync(makerFile(q.index), { force: true });
  }
  try {
    rmdirSync(q.dir);
  } catch {
    // gone already
  }
}

/** A disposition step, as the journal records it (decided before acting; applied or failed). */
export type DispositionStep = Omit<JournalDisposition, 'kind'>;

/** Where a disposition's steps are recorded, as steps: a wait for the journal's lock turns the
 * loop when the commit runs yielding (bvisor run's on-success commit) and sleeps otherwise. */
export type DispositionSink = (e: DispositionStep) => Steps<unknown>;

/**
 * The journal's disposition entries for a root (the recovery log: a decided step with no
 * applied or failed after it is an interrupted disposition, docs/journal.md). `decidedWanted`,
 * if given, is asked while the first entry ('decided') waits for the journal's lock, and under
 * it: its throw ends the disposition before anything is decided or moved (bvisor run's
 * on-success commit, told to stop).
 */
export function journalSink(root: string, key: JournalKey | null, decidedWanted?: () => void): DispositionSink {
  return (e) => appendDispositionSteps(root, e, { key, ...(decidedWanted && e.step === 'decided' ? { stillWanted: decidedWanted, beforeAppend: decidedWanted } : {}) });
}
