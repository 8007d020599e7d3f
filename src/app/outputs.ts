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
import { chmodSync, chownSync, closeSync, constants, existsSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeSync, rmdirSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { BvisorError } from '../contract/errors.js';
import type { HostFacts, JournalDisposition, Plan, ReportBody, SealedReport } from '../contract/generated/types.js';
import { appendDisposition, type JournalKey } from '../host/journal-store.js';
import type { NormalManifest } from '../core/manifest.js';
import type { PlanPaths } from '../core/features.js';
import { shim, O } from '../backends/linux/ffi/shim.js';
import { AT_FDCWD, RESOLVE } from '../backends/linux/host/objects.js';
import { resolveHostPath, type OpenBundle } from '../host/bundle.js';
import { bundleRelativeSegments } from '../core/paths.js';
import { errnoName } from '../host/facts.js';

/** Listed in a report at most; more is `truncated` (the quarantine still holds them). */
const MAX_ITEMS = 10_000;

export function outputsDir(root: string): string {
  return join(root, 'outputs');
}

/** Where quarantines live on a destination's filesystem: `<to>/.bvisor-quarantine/<runId>`. A
 * workload's own entry of that name is refused as an artifact, so a commit never writes there. */
export const QUARANTINE_HOME = '.bvisor-quarantine';

export interface Quarantine {
  dir: string;
  tmpfs: boolean;
  /** Removes it (unmount, remove): for a launch that never happened. */
  drop(): void;
}

/**
 * Makes the quarantine and adds it to the manifest and its resolved paths (before planning, so
 * the plan names it and the launcher checks it like any grant). null without an outputs clause.
 * A bundle-relative outputs.to becomes absolute here (the plan shows where commit will write).
 */
export function prepareOutputs(root: string, runId: string, m: NormalManifest, paths: PlanPaths, host: HostFacts, bundle: Pick<OpenBundle, 'source' | 'dir'>): Quarantine | null {
  const o = m.outputs;
  if (!o) return null;
  if (o.to !== null && !o.to.startsWith('/')) o.to = bundleDestination(o.to, bundle);
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
    return { dir, tmpfs, drop };
  } catch (e) {
    drop();
    throw e;
  }
}

/** outputs.to: ./x names a place in a bundle directory; a tar's is a temp dir, gone after the run. */
function bundleDestination(to: string, bundle: Pick<OpenBundle, 'source' | 'dir'>): string {
  const segs = bundleRelativeSegments(to);
  const isDir = ((): boolean => {
    try {
      return statSync(bundle.source).isDirectory();
    } catch {
      return false;
    }
  })();
  if (!segs || !isDir) throw new BvisorError('BV_OUTPUTS', `outputs.to "${to}" names a place in a bundle archive, which is unpacked to a temporary directory; nothing was run`, { hint: 'give outputs.to an absolute path, or run the bundle from a directory' });
  return join(bundle.dir, ...segs);
}

/**
 * Where a directory quarantine goes so that promotion into `to` is a rename: null when the state
 * root's outputs directory is on to's filesystem already; else <to>/.bvisor-quarantine, made
 * (with to and any missing parent, each recorded to be removed if it stays empty) 0700.
 */
function destinationHome(to: string, base: string): { dir: string; made: string[] } | null {
  let probe = to;
  while (!existsSync(probe)) probe = dirname(probe);
  if (statSync(probe).dev === statSync(base).dev) return null;
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
    for (const p of made) rmdirQuiet(p);
    throw new BvisorError('BV_OUTPUTS', `${want} is not a private directory of bvisor's user (mode 0700)`, { hint: `remove it, or choose another outputs.to` });
  }
  // The quarantine's path is checked with no symlink followed (hashBeneath): its real one.
  return { dir: realpathSync(want), made };
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function rmdirQuiet(p: string): void {
  try {
    rmdirSync(p);
  } catch {
    // not empty (another run's quarantine, or the user's files), or gone
  }
}

/**
 * Removes a quarantine: the tmpfs unmounted, the directory removed, and when it was placed on a
 * destination's filesystem, its index link under the state root and the home directory when
 * nothing else is in it (plus directories made for it, `made`, when empty).
 */
function dropQuarantine(dir: string, tmpfs: boolean, index: string | null, made: readonly string[] = []): void {
  if (tmpfs) shim().bv_umount(dir);
  rmSync(dir, { recursive: true, force: true });
  if (index !== null && index !== dir && isLink(index)) {
    unlinkSync(index);
    if (basename(dirname(dir)) === QUARANTINE_HOME) rmdirQuiet(dirname(dir));
  }
  for (const p of made) rmdirQuiet(p);
}

/** The index entry of a run's quarantine under the state root (the directory itself, or a link). */
export function quarantineIndex(root: string, runId: string): string {
  return join(outputsDir(root), runId);
}

/** A quarantine named by its index entry: the directory, following the link of a placed one. */
export function quarantineAt(index: string): string {
  return lstatSync(index).isSymbolicLink() ? readlinkSync(index) : index;
}

/** Freezes the quarantine and lists it: the report's artifacts. */
export function stageArtifacts(plan: Plan): ReportBody['artifacts'] | undefined {
  const o = plan.launch?.outputs;
  if (!o || !o.quarantine) return undefined;
  const out: NonNullable<ReportBody['artifacts']> = { quarantine: o.quarantine, commit: o.commit, to: o.to, items: [], refused: [], truncated: false };
  if (!existsSync(o.quarantine)) {
    out.refused.push({ path: '.', reason: 'the quarantine is gone' });
    return out;
  }
  // Frozen first: no process of the run can change what is hashed (none is left, and from now
  // on the directory is read-only to everyone, the workload's identity included).
  if (o.tmpfs) {
    const rc = shim().bv_remount_ro(o.quarantine);
    if (rc < 0) throw new BvisorError('BV_OUTPUTS', `freeze ${o.quarantine} (remount read-only): ${errnoName(rc)}`);
  } else {
    chownSync(o.quarantine, 0, 0);
    chmodSync(o.quarantine, 0o500);
  }
  const files: Found[] = [];
  walk(o.quarantine, '', out, files, 0);
  stageFiles(o.quarantine, files, out);
  return out;
}

interface Found {
  path: string;
  /** `dev:ino`, to count a hard-linked file's names inside the quarantine. */
  inode: string;
  nlink: number;
}

/** Every regular file of the quarantine, in path order; everything else refused. */
function walk(top: string, rel: string, out: NonNullable<ReportBody['artifacts']>, files: Found[], depth: number): void {
  if (depth > 64) {
    out.refused.push({ path: rel, reason: 'nested deeper than 64 directories' });
    return;
  }
  let names: string[];
  try {
    names = readdirSync(join(top, rel)).sort();
  } catch (e) {
    out.refused.push({ path: rel || '.', reason: `unreadable: ${(e as NodeJS.ErrnoException).code}` });
    return;
  }
  for (const name of names) {
    const p = rel ? `${rel}/${name}` : name;
    if (depth === 0 && name === QUARANTINE_HOME) {
      out.refused.push({ path: p, reason: 'a name bvisor reserves (where it keeps quarantines in a destination)' });
      continue;
    }
    const st = lstatSync(join(top, p));
    if (st.isDirectory()) {
      walk(top, p, out, files, depth + 1);
      continue;
    }
    if (!st.isFile()) {
      out.refused.push({ path: p, reason: st.isSymbolicLink() ? 'a symlink' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device' });
      continue;
    }
    files.push({ path: p, inode: `${st.dev}:${st.ino}`, nlink: st.nlink });
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
function stageFiles(top: string, files: readonly Found[], out: NonNullable<ReportBody['artifacts']>): void {
  const inside = namesInside(files);
  for (const f of files) {
    const here = inside.get(f.inode)!;
    if (f.nlink > here) {
      out.refused.push({ path: f.path, reason: `a hard link to a file outside the quarantine (${f.nlink} names, ${here} inside)` });
      continue;
    }
    if (out.items.length >= MAX_ITEMS) {
      out.truncated = true;
      continue;
    }
    const h = hashBeneath(top, f.path, here);
    if (typeof h === 'string') out.refused.push({ path: f.path, reason: h });
    else out.items.push({ id: artifactId(f.path, h.sha256), path: f.path, size: h.size, sha256: h.sha256, mode: h.mode & 0o7777 });
  }
}

export const artifactId = (path: string, sha256: string): string => createHash('sha256').update(`${path}\0${sha256}`).digest('hex').slice(0, 16);

/** Hashes a file beneath the quarantine, from a descriptor opened with no symlink followed; the
 * file must still have exactly `names` names (all of them in the quarantine, see stageFiles). */
function hashBeneath(top: string, rel: string, names: number): { sha256: string; size: number; mode: number } | string {
  const s = shim();
  const dirFd = s.bv_openat2(AT_FDCWD, top, O.PATH | O.DIRECTORY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
  if (dirFd < 0) return `open the quarantine: ${errnoName(dirFd)}`;
  try {
    const fd = s.bv_openat2(dirFd, rel, O.RDONLY | O.NOFOLLOW | O.NONBLOCK | O.NOCTTY, 0, RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS | RESOLVE.NO_XDEV);
    if (fd < 0) return `open: ${errnoName(fd)}`;
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.nlink !== names) return 'changed into something other than a regular file with only the names it had';
      const hash = createHash('sha256');
      const buf = Buffer.alloc(1 << 16);
      let size = 0;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        hash.update(buf.subarray(0, n));
        size += n;
      }
      return { sha256: hash.digest('hex'), size, mode: st.mode };
    } finally {
      s.bv_close(fd);
    }
  } finally {
    s.bv_close(dirFd);
  }
}

// ---------------------------------------------------------------------------------------------
// dispose

export interface Disposition {
  action: 'commit' | 'discard';
  runId: string;
  to: string | null;
  applied: Array<{ id: string; path: string; to: string }>;
  failed: Array<{ id: string; path: string; error: string }>;
}

/** The staged artifacts of a run, from its sealed report. */
function staged(report: SealedReport): NonNullable<ReportBody['artifacts']> {
  const a = report.body.artifacts;
  if (!a) throw new BvisorError('BV_OUTPUTS_NOT_FOUND', `run ${report.body.runId} staged no outputs`, { hint: 'only a manifest with an outputs clause stages artifacts' });
  if (!existsSync(a.quarantine)) throw new BvisorError('BV_OUTPUTS_NOT_FOUND', `the quarantine of run ${report.body.runId} is gone (committed or discarded already)`, { hint: 'bvisor journal shows its disposition' });
  return a;
}

/**
 * Promotes artifacts (all, or those named by id or path) into `to`: each re-hashed from the
 * quarantine first; a mismatch fails that artifact, never promotes it. Then the quarantine is
 * dropped. Returns what was applied and what failed.
 */
export function commitOutputs(root: string, report: SealedReport, o: { to: string | null; only?: readonly string[]; durable?: boolean }, sink?: (e: DispositionStep) => void): Disposition {
  const a = staged(report);
  // A run that never ran, or whose end bvisor lost, staged nothing a host should trust.
  if (report.body.outcome.reason === 'lost' || report.body.outcome.reason === 'never-started') throw new BvisorError('BV_OUTPUTS', `run ${report.body.runId} ended ${report.body.outcome.reason}: its outputs are not committed`, { hint: 'discard them (bvisor discard), or let bvisor recover do it' });
  const to = o.to ?? a.to;
  if (!to) throw new BvisorError('BV_USAGE', `run ${report.body.runId} names no destination`, { hint: 'pass --to DIR' });
  const dest = resolve(to);
  mkdirSync(dest, { recursive: true });
  const want = o.only && o.only.length ? a.items.filter((x) => o.only!.includes(x.id) || o.only!.includes(x.path)) : a.items;
  if (o.only && o.only.length && want.length !== o.only.length) throw new BvisorError('BV_USAGE', `no artifact ${o.only.filter((x) => !a.items.some((i) => i.id === x || i.path === x)).join(', ')} in run ${report.body.runId}`, { hint: 'bvisor report shows the artifacts (id and path)' });
  const durable = o.durable ?? false;
  // A directory quarantine on the destination's filesystem: promotion is a rename (atomic,
  // no copy). A tmpfs quarantine is always another filesystem: copy, fsync, rename.
  const sameFs = !isTmpfsQuarantine(a.quarantine) && statSync(a.quarantine).dev === statSync(dest).dev;
  const d: Disposition = { action: 'commit', runId: report.body.runId, to: dest, applied: [], failed: [] };
  // Decided first, durably: a crash from here on leaves a decided step without its outcome.
  sink?.({ runId: d.runId, step: 'decided', action: 'commit', artifacts: want.map((x) => ({ id: x.id, sha256: x.sha256, to: join(dest, x.path) })) });
  // Names per file as staging counted them (the quarantine is frozen: only root changes it).
  const found: Found[] = [];
  walk(a.quarantine, '', { quarantine: a.quarantine, commit: a.commit, to: a.to, items: [], refused: [], truncated: false }, found, 0);
  const inside = namesInside(found);
  const names = new Map(found.map((f) => [f.path, inside.get(f.inode)!]));
  for (const it of want) {
    const target = join(dest, it.path);
    if (!target.startsWith(dest + '/') || it.path.split('/')[0] === QUARANTINE_HOME) {
      d.failed.push({ id: it.id, path: it.path, error: 'leaves the destination' });
      continue;
    }
    // Promoted by an earlier commit (a rename takes it out of the quarantine; a commit cut short
    // by a crash may have promoted some): done already when the destination holds its bytes.
    if (!names.has(it.path) && sameBytes(target, it.sha256)) {
      d.applied.push({ id: it.id, path: it.path, to: target });
      continue;
    }
    const n = names.get(it.path) ?? 1;
    const h = hashBeneath(a.quarantine, it.path, n);
    if (typeof h === 'string' || h.sha256 !== it.sha256 || h.size !== it.size) {
      d.failed.push({ id: it.id, path: it.path, error: typeof h === 'string' ? h : `its hash is no longer the one the report sealed (${h.sha256.slice(0, 12)}… ≠ ${it.sha256.slice(0, 12)}…)` });
      continue;
    }
    try {
      // A file with other names in the quarantine is copied: a rename would take the inode
      // those names share into the destination, and the next promotion of one would alias it.
      if (sameFs && n === 1) promoteByRename(join(a.quarantine, it.path), target, it.mode, durable);
      else promote(join(a.quarantine, it.path), target, it.mode, durable);
      d.applied.push({ id: it.id, path: it.path, to: target });
    } catch (e) {
      d.failed.push({ id: it.id, path: it.path, error: (e as NodeJS.ErrnoException).code ?? (e as Error).message });
    }
  }
  const sums = new Map(a.items.map((x) => [x.id, x.sha256]));
  if (d.applied.length) sink?.({ runId: d.runId, step: 'applied', action: 'commit', artifacts: d.applied.map((x) => ({ id: x.id, sha256: sums.get(x.id)!, to: x.to })) });
  if (d.failed.length) sink?.({ runId: d.runId, step: 'failed', action: 'commit', artifacts: d.failed.map((x) => ({ id: x.id, sha256: sums.get(x.id)! })), error: { code: 'BV_OUTPUTS', message: d.failed.map((f) => `${f.path}: ${f.error}`).join('; ') } });
  // The quarantine ends when everything in it was promoted; a subset leaves the rest staged
  // (commit them later, or discard).
  if (d.failed.length === 0 && want.length === a.items.length) dropQuarantine(a.quarantine, isTmpfsQuarantine(a.quarantine), quarantineIndex(root, d.runId));
  return d;
}

export function discardOutputs(root: string, report: SealedReport, sink?: (e: DispositionStep) => void): Disposition {
  const a = staged(report);
  const artifacts = a.items.map((x) => ({ id: x.id, sha256: x.sha256 }));
  sink?.({ runId: report.body.runId, step: 'decided', action: 'discard', artifacts });
  dropQuarantine(a.quarantine, isTmpfsQuarantine(a.quarantine), quarantineIndex(root, report.body.runId));
  sink?.({ runId: report.body.runId, step: 'applied', action: 'discard', artifacts });
  return { action: 'discard', runId: report.body.runId, to: null, applied: a.items.map((x) => ({ id: x.id, path: x.path, to: '' })), failed: [] };
}

/** Whether a regular file (no symlink followed) holds bytes with this sha256. */
function sameBytes(path: string, sha256: string): boolean {
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) return false;
    const hash = createHash('sha256');
    const buf = Buffer.alloc(1 << 16);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
    return hash.digest('hex') === sha256;
  } catch {
    return false;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Whether a quarantine is a mount (a tmpfs bvisor made): its directory is a mount point. */
function isTmpfsQuarantine(dir: string): boolean {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
  } catch {
    return false;
  }
}

/** copy + fsync + rename (the quarantine is read-only and often another filesystem). */
function promote(src: string, target: string, mode: number, durable: boolean): void {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.bvisor-commit-${randomBytes(6).toString('hex')}`);
  const input = openSync(src, 'r');
  const output = openSync(tmp, 'wx', mode & 0o777 & ~0o022);
  try {
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const n = readSync(input, buf, 0, buf.length, null);
      if (n === 0) break;
      let off = 0;
      while (off < n) off += writeSync(output, buf, off, n - off);
    }
    fsyncSync(output);
  } catch (e) {
    closeSync(output);
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    closeSync(input);
  }
  closeSync(output);
  renameSync(tmp, target);
  if (durable) {
    const dfd = openSync(dirname(target), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}

/** rename within one filesystem: the file becomes bvisor's (root's, mode without group/other
 * write), as a copied one would be, then moves into place whole. */
function promoteByRename(src: string, target: string, mode: number, durable: boolean): void {
  mkdirSync(dirname(target), { recursive: true });
  chownSync(src, 0, 0);
  chmodSync(src, mode & 0o777 & ~0o022);
  renameSync(src, target);
  if (durable) {
    for (const d of [dirname(target), dirname(src)]) {
      const dfd = openSync(d, 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    }
  }
}

/** The quarantine of an aborted launch (no report will list it). */
export function removeQuarantine(q: Quarantine | null): void {
  if (!q) return;
  try {
    q.drop();
  } catch {
    // best effort: gc removes what is left
  }
  try {
    rmdirSync(q.dir);
  } catch {
    // gone already
  }
}

/** A disposition step, as the journal records it (decided before acting; applied or failed). */
export type DispositionStep = Omit<JournalDisposition, 'kind'>;

/**
 * The journal's disposition entries for a root (the recovery log: a decided step with no
 * applied or failed after it is an interrupted disposition, docs/journal.md).
 */
export function journalSink(root: string, key: JournalKey | null): (e: DispositionStep) => void {
  return (e) => {
    appendDisposition(root, e, { key });
  };
}
