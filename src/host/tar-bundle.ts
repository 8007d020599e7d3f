// Bundles shipped as .tar / .tar.gz. The archive is checked entry by entry BEFORE anything is
// written (absolute paths, .., links that leave the bundle, entries or link targets that pass
// through a name the archive makes a symlink, device nodes and FIFOs, oversize archives), then
// extracted with the `tar` package into a private 0700 temp dir, then the extracted tree is
// checked once more, independently, by the kernel: every symlink is resolved with
// openat2(RESOLVE_BENEATH) from the bundle root, so a link the lexical checks misjudged is still
// refused. Any failure removes the temp dir.
import { mkdtempSync, mkdirSync, rmSync, lstatSync, readdirSync, readlinkSync, chmodSync, openSync, closeSync, fstatSync, readSync, writeSync, constants as fsConstants } from 'node:fs';
import { tmpdir, constants as osConstants } from 'node:os';
import { join, posix } from 'node:path';
import type * as TarNs from 'tar';
import { removeTree, writeOwner, TEMP_PREFIX } from './extracted.js';
import { procRef } from './proc.js';
import { fault } from './faults.js';
import { BvisorError } from '../contract/errors.js';
import { shim, O } from '../backends/linux/ffi/shim.js';
import { errnoName } from './facts.js';

// tar is loaded on first use: only commands that read an archive pay for it.
function tarLib(): typeof TarNs {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('tar') as typeof TarNs;
}

export interface TarLimits {
  /** Sum of entry sizes (decompressed). */
  maxBytes: number;
  maxEntries: number;
}
export const DEFAULT_TAR_LIMITS: TarLimits = { maxBytes: 1 << 30, maxEntries: 100_000 };

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);
// Metadata records that describe the next entry; they are not written to disk.
const META_TYPES = new Set(['ExtendedHeader', 'GlobalExtendedHeader', 'NextFileHasLongPath', 'NextFileHasLongLinkpath', 'OldExtendedHeader']);

// openat2(2) resolve flags (include/uapi/linux/openat2.h, Linux ≥ 5.6).
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_BENEATH = 0x08;
const AT_FDCWD = -100;
const ERRNO = osConstants.errno;

export function isTarBundle(path: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/.test(path);
}

const REBUILD_HINT = 'rebuild the archive from a plain directory (tar -C bundle -cf bundle.tar .), or pass the directory itself';

function unsafe(archive: string, entry: string, why: string, hint = REBUILD_HINT): BvisorError {
  return new BvisorError('BV_BUNDLE_UNSAFE_TAR', `${archive}: entry "${entry}" ${why}`, { hint, detail: { entry } });
}

/** Lexical normal form of an archive path: no leading ./, no //, and null if it climbs. */
function normalEntryPath(p: string): string | null {
  const segs: string[] = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') return null;
    segs.push(s);
  }
  return segs.join('/');
}

interface ListedEntry {
  raw: string;
  /** normalEntryPath(raw); '' is the bundle root itself. */
  path: string;
  type: string;
  link: string;
}

export function checkTar(file: string, limits: TarLimits = DEFAULT_TAR_LIMITS, archive: string = file): { entries: number; bytes: number } {
  let bytes = 0;
  let entries = 0;
  const listed: ListedEntry[] = [];
  let failure: BvisorError | null = null;
  const fail = (e: BvisorError): void => {
    if (!failure) failure = e;
  };
  // Pass 1, while reading: what each entry is on its own (size, path, type).
  try {
    tarLib().t({
      file,
      sync: true,
      strict: true,
      onReadEntry: (entry) => {
        entry.resume();
        if (failure) return;
        const type = entry.type as string;
        if (META_TYPES.has(type)) return;
        const raw = entry.path;
        entries++;
        if (entries > limits.maxEntries) return fail(new BvisorError('BV_BUNDLE_TAR_TOO_LARGE', `${archive}: more than ${limits.maxEntries} entries`, { hint: 'ship a smaller bundle, or a directory' }));
        bytes += entry.size ?? 0;
        if (bytes > limits.maxBytes) return fail(new BvisorError('BV_BUNDLE_TAR_TOO_LARGE', `${archive}: more than ${limits.maxBytes} bytes when unpacked`, { hint: 'ship a smaller bundle, or a directory' }));
        if (raw.startsWith('/')) return fail(unsafe(archive, raw, 'has an absolute path'));
        const p = normalEntryPath(raw);
        if (p === null) return fail(unsafe(archive, raw, 'climbs with ..'));
        if (!ALLOWED_TYPES.has(type)) return fail(unsafe(archive, raw, `is a ${type}; only files, directories and links are allowed`));
        // Set-user/group-ID files extracted as root would be root's set-id programs on the host.
        if (((entry.mode ?? 0) & 0o6000) !== 0) return fail(unsafe(archive, raw, `has set-user-ID or set-group-ID bits (mode ${(entry.mode ?? 0).toString(8)})`));
        listed.push({ raw, path: p, type, link: entry.linkpath ?? '' });
      },
    });
  } catch (e) {
    if (failure) throw failure;
    throw new BvisorError('BV_BUNDLE_TAR_INVALID', `${archive}: cannot read archive: ${(e as Error).message}`, { hint: 'check that it is a tar or gzip-compressed tar file', cause: e });
  }
  if (failure) throw failure;

  // Pass 2: how entries combine. Every name that ANY entry makes a symlink counts as a symlink,
  // whatever the order of entries. Order-independence is deliberate: a link's target is not
  // resolved when the link is written but whenever it is followed (by the next check, by the
  // launcher, by the workload), against the finished tree. Judging `a -> b/..` before `b ->
  // a2` exists judged a tree nobody will ever resolve against; that is how the chained archive
  // `d/q -> ../a, a -> b/.., b -> a2, a2 -> b2/.., b2 -> .` (CHAIN) escaped. Taking the
  // union (a name stays a symlink even if a later entry of the same name replaces it) also
  // spares us from modelling how the extractor overwrites duplicates: it only refuses more.
  // (The `tar` package has a guard of its own when it writes a link, but it too judges only
  // the links made so far, after applying `..` textually: CHAIN gets through it.)
  const symlinks = new Set(listed.filter((e) => e.type === 'SymbolicLink').map((e) => e.path));
  for (const { raw, path: p, type, link } of listed) {
    if (p === '' && type !== 'Directory') throw unsafe(archive, raw, 'would replace the bundle root with a non-directory');
    // An entry reached through a symlink could land anywhere.
    const parts = p === '' ? [] : p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const via = parts.slice(0, i).join('/');
      if (symlinks.has(via)) throw unsafe(archive, raw, `is reached through the symlink ${via}`);
    }
    if (type !== 'SymbolicLink' && type !== 'Link') continue;
    if (link === '' || link.startsWith('/')) throw unsafe(archive, raw, `links to an absolute path (${link || 'empty'})`);
    // Walk the raw target from where it will be resolved (the link's directory for a symlink,
    // the archive root for a hard link). Climbing above the root, or passing through a symlink
    // of this archive, is refused: normalising first would hide `r -> .` followed by
    // `esc -> r/..`. A symlink as the LAST component is fine (that link is judged on its own).
    const cur = type === 'SymbolicLink' ? parts.slice(0, -1) : [];
    const segs = link.split('/').filter((x) => x !== '' && x !== '.');
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      if (seg === '..') {
        if (cur.length === 0) throw unsafe(archive, raw, `links outside the bundle (${link})`);
        cur.pop();
      } else {
        cur.push(seg);
        if (i < segs.length - 1 && symlinks.has(cur.join('/'))) throw unsafe(archive, raw, `links through the symlink ${cur.join('/')} (${link})`);
      }
    }
    // link(2) on Linux does not follow a symlink: a hard link to one is a second symlink with
    // the same text in another directory, where `..` means something else.
    if (type === 'Link' && symlinks.has(cur.join('/'))) throw unsafe(archive, raw, `hard-links the symlink ${cur.join('/')}, which would re-anchor its target`);
  }
  return { entries, bytes };
}

/** The extracted tree's root, opened once; every resolution below is made beneath it. */
class BeneathRoot {
  readonly fd: number;
  /** Where the kernel says the root is (readlink of its fd), to place other fds against it. */
  readonly real: string;
  private constructor(fd: number) {
    this.fd = fd;
    this.real = readlinkSync(`/proc/self/fd/${fd}`);
  }
  /** A BvisorError naming `entry` when the root itself cannot be opened (no openat2: ENOSYS). */
  static open(root: string, archive: string, entry: string): BeneathRoot {
    const fd = shim().bv_openat2(AT_FDCWD, root, O.PATH | O.DIRECTORY, 0, RESOLVE_NO_MAGICLINKS);
    if (fd < 0) {
      throw unsafe(archive, entry, `is a symlink that cannot be checked: openat2 ${root}: ${errnoName(fd)}`, fd === -ERRNO.ENOSYS ? 'checking symlinks in a bundle archive needs openat2 (Linux ≥ 5.6); unpack it yourself and pass the directory' : REBUILD_HINT);
    }
    return new BeneathRoot(fd);
  }
  /** openat2(root, rel, O_PATH|extra) with RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS: an fd or -errno. */
  openBeneath(rel: string, extra = 0): number {
    return shim().bv_openat2(this.fd, rel, O.PATH | extra, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
  }
  /** Components of where an fd opened beneath the root really is, relative to the root. */
  where(fd: number): string[] | null {
    const at = readlinkSync(`/proc/self/fd/${fd}`);
    if (at === this.real) return [];
    const base = this.real === '/' ? '/' : this.real + '/';
    return at.startsWith(base) ? at.slice(base.length).split('/') : null;
  }
  close(fd = this.fd): void {
    shim().bv_close(fd);
  }
}

/**
 * Judges the symlink at `rel` (text `target`) as the kernel resolves it, beneath the root.
 * Returns why it is refused, or null when it stays inside.
 */
function judgeSymlink(root: BeneathRoot, rel: string, target: string): string | null {
  const fd = root.openBeneath(rel);
  if (fd >= 0) {
    root.close(fd);
    return null;
  }
  // EXDEV: resolution left the root (`..` above it, or an absolute target). ELOOP, ENOTDIR,
  // EACCES…: the kernel cannot say where it goes, so neither can we. Fail closed.
  if (fd === -ERRNO.EXDEV) return `links outside the bundle (${target})`;
  if (fd !== -ERRNO.ENOENT) return `cannot be resolved inside the bundle (${target}: ${errnoName(fd)})`;
  if (target.startsWith('/')) return `links to an absolute path (${target})`;

  // Dangling. It may come alive when the workload creates the missing name, so judge its text.
  // 1. Lexically from its parent directory, placed where the kernel really has it.
  const dir = posix.dirname(rel);
  const pfd = root.openBeneath(dir, O.DIRECTORY);
  if (pfd < 0) return `cannot be resolved inside the bundle (its directory: ${errnoName(pfd)})`;
  let pos: string[] | null;
  try {
    pos = root.where(pfd);
  } finally {
    root.close(pfd);
  }
  if (pos === null) return `sits in a directory outside the bundle (${target})`;
  const segs = target.split('/').filter((x) => x !== '' && x !== '.');
  for (const seg of segs) {
    if (seg !== '..') pos.push(seg);
    else if (pos.pop() === undefined) return `links outside the bundle (${target})`;
  }
  // 2. Lexical text can differ from the kernel where it passes through a symlink (`s/../..`
  // expands s first). So let the kernel walk the prefix up to the first missing name; from
  // there on nothing exists, and a `..` after it could climb from wherever the missing name
  // gets created (or a dangling symlink lands): refused.
  for (let k = 0; k < segs.length; k++) {
    const pre = root.openBeneath([dir, ...segs.slice(0, k + 1)].join('/'));
    if (pre >= 0) {
      root.close(pre);
      continue;
    }
    if (pre === -ERRNO.EXDEV) return `links outside the bundle (${target})`;
    if (pre !== -ERRNO.ENOENT) return `cannot be resolved inside the bundle (${target}: ${errnoName(pre)})`;
    if (segs.slice(k + 1).includes('..')) return `is dangling at ${segs[k]} and climbs with .. after it (${target})`;
    return null;
  }
  return `changed while it was checked (${target})`;
}

/**
 * Walks an extracted tree and refuses what a pre-extraction check missed: a symlink that the
 * kernel resolves outside the root (or cannot resolve), a hard link shared with a file outside
 * the tree, anything but files, directories and symlinks. Walks breadth-first in name order, so
 * the entry named in a refusal does not depend on readdir order. Exported for tests, which run
 * it on trees unpacked without the pre-extraction check.
 */
export function verifyExtractedTree(root: string, archive: string): void {
  let beneath: BeneathRoot | null = null;
  const linked = new Map<string, { entry: string; nlink: number; seen: number }>();
  try {
    const queue = [''];
    while (queue.length) {
      const rel = queue.shift()!;
      for (const name of readdirSync(join(root, rel)).sort()) {
        const r = rel ? `${rel}/${name}` : name;
        const st = lstatSync(join(root, r));
        if (st.isDirectory()) {
          queue.push(r);
          continue;
        }
        if (!st.isFile() && !st.isSymbolicLink()) throw unsafe(archive, r, 'is not a file, directory or link');
        if (st.isFile() && (st.mode & 0o6000) !== 0) throw unsafe(archive, r, 'has set-user-ID or set-group-ID bits');
        // A hard link's other names must all be in this tree: link counts say so without
        // knowing the names, and cannot be faked by the archive.
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const seen = linked.get(key);
          if (seen) seen.seen++;
          else linked.set(key, { entry: r, nlink: st.nlink, seen: 1 });
        }
        if (st.isSymbolicLink()) {
          // The shim is loaded only for trees that hold a symlink.
          beneath ??= BeneathRoot.open(root, archive, r);
          const why = judgeSymlink(beneath, r, readlinkSync(join(root, r)));
          if (why) throw unsafe(archive, r, why);
        }
      }
    }
    for (const { entry, nlink, seen } of linked.values()) {
      if (seen < nlink) throw unsafe(archive, entry, `is hard-linked to a file outside the bundle (${nlink} links, ${seen} inside)`);
    }
  } finally {
    beneath?.close();
  }
}

export interface Extracted {
  dir: string;
  cleanup(): void;
}

/**
 * Copies the archive once into a fresh private `bvisor-bundle-*` dir (0700) under `parentDir`,
 * checks that copy, extracts it into `bundle/` beneath, and checks the result. Reading the
 * caller's file once closes the window in which it could be swapped between the check and the
 * extraction; extracting one level down keeps the 0700 dir around whatever modes the archive
 * gives its own root (`./` with mode 0777). On any refusal or failure the dir is gone.
 */
export function extractTarBundle(archive: string, limits: TarLimits = DEFAULT_TAR_LIMITS, parentDir: string = tmpdir()): Extracted {
  const top = mkdtempSync(join(parentDir, TEMP_PREFIX));
  // Claimed at once: a crash from here on leaves a directory gc knows how to judge.
  writeOwner(top, procRef(process.pid)!);
  const cleanup = (): void => removeTree(top);
  try {
    const copy = join(top, 'archive');
    copyOnce(archive, copy, limits);
    checkTar(copy, limits, archive);
    const dir = join(top, 'bundle');
    mkdirSync(dir, { mode: 0o700 });
    tarLib().x({ file: copy, cwd: dir, sync: true, strict: true, preservePaths: false, preserveOwner: false, noChmod: false, unlink: false });
    fault('tar:extracting'); // crash tests: a tree extracted, not yet checked
    rmSync(copy);
    verifyExtractedTree(dir, archive);
    return { dir, cleanup };
  } catch (e) {
    cleanup();
    if (e instanceof BvisorError) throw e;
    throw new BvisorError('BV_BUNDLE_TAR_INVALID', `${archive}: cannot extract: ${(e as Error).message}`, { cause: e });
  }
}

/** The caller's archive, read once (never blocking on a FIFO) into a private copy. */
function copyOnce(archive: string, copy: string, limits: TarLimits): void {
  let fd: number;
  try {
    fd = openSync(archive, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (e) {
    throw new BvisorError('BV_BUNDLE_TAR_INVALID', `${archive}: cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new BvisorError('BV_BUNDLE_TAR_INVALID', `${archive} is not a regular file`, { hint: 'pass a tar file or a bundle directory' });
    if (st.size > limits.maxBytes) throw new BvisorError('BV_BUNDLE_TAR_TOO_LARGE', `${archive}: larger than ${limits.maxBytes} bytes`, { hint: 'ship a smaller bundle, or a directory' });
    const out = openSync(copy, 'wx', 0o600);
    try {
      const buf = Buffer.alloc(1 << 20);
      let total = 0;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        total += n;
        if (total > limits.maxBytes) throw new BvisorError('BV_BUNDLE_TAR_TOO_LARGE', `${archive}: larger than ${limits.maxBytes} bytes`, { hint: 'ship a smaller bundle, or a directory' });
        writeSync(out, buf, 0, n);
      }
    } finally {
      closeSync(out);
    }
  } finally {
    closeSync(fd);
  }
}
