// Bundles shipped as .tar / .tar.gz. The archive is checked entry by entry BEFORE anything is
// written (absolute paths, .., hard links that leave the bundle or pass through a name the
// archive makes a symlink, entries beneath such a name, FIFOs, oversize archives; device nodes
// are never written, and allowed only in the rootfs's dev/), then extracted with the `tar` package into a private 0700 temp dir, symlinks last
// and by us, so that nothing the extraction writes ever passes through one. Then the extracted
// tree is checked once more, independently, by the kernel: every symlink is resolved with
// openat2(RESOLVE_BENEATH) from the bundle root, so a link that leaves the bundle is refused,
// unless it lies inside the bundle's rootfs (root.path), where the workload resolves every link
// within the root after pivot_root and bvisor itself opens nothing there by a path that follows
// one (see bundle.ts). Set-user/group-ID bits are cleared from files as they are written. Any
// failure removes the temp dir. Both passes stream: gzip is inflated a few KiB of input at a
// time, so memory stays small whatever the archive expands to.
import { mkdtempSync, mkdirSync, rmSync, lstatSync, readdirSync, readlinkSync, openSync, closeSync, fstatSync, readSync, constants as fsConstants } from 'node:fs';
import { tmpdir, constants as osConstants } from 'node:os';
import { createGunzip, constants as zlibConstants } from 'node:zlib';
import { join, posix } from 'node:path';
import type * as TarNs from 'tar';
import { fault } from './faults.js';
import { writeAll } from './atomic.js';
import { removeTree, writeOwner, TEMP_PREFIX } from './extracted.js';
import { procRef } from './proc.js';
import { BvisorError, undone } from '../contract/errors.js';
import { shim, O } from '../backends/linux/ffi/shim.js';
import { lateRequire } from '../backends/linux/ffi/runtime.js';
import { errnoName } from './facts.js';

// tar is loaded on first use: only commands that read an archive pay for it.
function tarLib(): typeof TarNs {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return lateRequire('tar') as typeof TarNs;
}

export interface TarLimits {
  /** Sum of entry sizes (decompressed). */
  maxBytes: number;
  maxEntries: number;
}
export const DEFAULT_TAR_LIMITS: TarLimits = { maxBytes: 1 << 30, maxEntries: 100_000 };

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);
// Device nodes are never written (extracted as root they would be the host's devices), but a
// rootfs made by debootstrap or mmdebstrap lists its /dev's: they are allowed in the rootfs's
// dev/, over which a container always gets bvisor's own /dev, and left out.
const DEVICE_TYPES = new Set(['CharacterDevice', 'BlockDevice']);
// Metadata records that describe the next entry; they are not written to disk.
const META_TYPES = new Set(['ExtendedHeader', 'GlobalExtendedHeader', 'NextFileHasLongPath', 'NextFileHasLongLinkpath', 'OldExtendedHeader']);

// openat2(2) resolve flags (include/uapi/linux/openat2.h, Linux ≥ 5.6).
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_NO_SYMLINKS = 0x04;
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

interface ListedLink {
  /** Position in the archive: of several problems, the first entry's is reported. */
  index: number;
  raw: string;
  /** normalEntryPath(raw); '' is the bundle root itself. */
  path: string;
  type: 'SymbolicLink' | 'Link';
  link: string;
}

/** The first entry (archive order) with a given property, and its raw name. */
interface FirstEntry {
  index: number;
  raw: string;
}

/** What a tar parser (the `tar` package's Parser or UnpackSync) takes from pumpTar. write()
 * returns false when the parser holds on to what it was given (backpressure). */
interface TarSink {
  write(chunk: Buffer): boolean;
  end(): unknown;
}

/**
 * Synchronous, incremental gunzip into the caller's buffer. node:zlib has no public API for
 * this (gunzipSync inflates everything at once, streams are asynchronous), so this drives the
 * binding the way gunzipSync does (`_handle.writeSync`, `_writeState`), as the minizlib package
 * under `tar` also does. A zlib error destroys the stream: it is thrown here.
 */
class SyncGunzip {
  private readonly z = createGunzip();
  private readonly handle: { writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void };
  private readonly state: Uint32Array;
  constructor() {
    // destroy() emits the error again on the next tick; step() has already thrown it.
    this.z.on('error', () => {});
    const z = this.z as unknown as { _handle: SyncGunzip['handle']; _writeState: Uint32Array };
    this.handle = z._handle;
    this.state = z._writeState;
  }
  /** Inflates from input[inOff, inOff+inLen) into out[outOff, outOff+outLen). */
  step(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): { consumed: number; produced: number } {
    this.handle.writeSync(flush, input, inOff, inLen, out, outOff, outLen);
    if (this.z.destroyed) throw this.z.errored ?? new Error('corrupt gzip stream');
    return { consumed: inLen - this.state[1]!, produced: outLen - this.state[0]! };
  }
  close(): void {
    this.z.close();
  }
}

// The `tar` package reads 16 MiB of a file per step and inflates each step at once: a 3 MB
// archive of zeros took 1.2 GB of RAM. Here gzip input is read 16 KiB at a time and inflated
// into one reused 256 KiB buffer, and the parser is fed whole 512-byte blocks of it, so that it
// never keeps a partial block (a view of the buffer) between two steps.
const INPUT_STEP = 16 << 10;
const OUTPUT_SIZE = 256 << 10;
const BLOCK = 512;

/**
 * Streams an archive (gzip-compressed or plain tar; a bundle is named .tar, .tar.gz or .tgz)
 * into a tar parser, synchronously, in bounded memory. More than `maxStream` bytes of tar
 * stream is refused with `tooLarge()` before more is inflated. `stop` ends the pump early (the
 * caller has already refused the archive: the rest is not worth reading).
 */
function pumpTar(file: string, sink: TarSink, maxStream: number, tooLarge: () => BvisorError, stop: () => boolean = () => false): void {
  const fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  let gz: SyncGunzip | null = null;
  let out = Buffer.allocUnsafe(OUTPUT_SIZE);
  let pending = 0;
  let total = 0;
  /** Hands the parser the whole blocks pending in `out` (everything, at the end). */
  const feed = (final: boolean): void => {
    const n = final ? pending : pending - (pending % BLOCK);
    if (n === 0) return;
    total += n;
    if (total > maxStream) throw tooLarge();
    const flowing = sink.write(out.subarray(0, n));
    // A parser that did not take everything at once may still hold a view of `out`: leave that
    // buffer to it and go on in a fresh one.
    const next = flowing ? out : Buffer.allocUnsafe(OUTPUT_SIZE);
    out.copy(next, 0, n, pending);
    out = next;
    pending -= n;
  };
  try {
    const input = Buffer.allocUnsafe(INPUT_STEP);
    let k = readSync(fd, input, 0, input.length, null);
    if (k >= 2 && input[0] === 0x1f && input[1] === 0x8b) gz = new SyncGunzip();
    else {
      input.copy(out, 0, 0, k);
      pending = k;
    }
    while (k > 0 && !stop()) {
      if (gz) {
        let off = 0;
        while (off < k) {
          if (pending === out.length) feed(false);
          const r = gz.step(zlibConstants.Z_NO_FLUSH, input, off, k - off, out, pending, out.length - pending);
          off += r.consumed;
          pending += r.produced;
          // Data after the end of the gzip stream: nothing more will come out of it.
          if (r.consumed === 0 && r.produced === 0) break;
        }
        k = readSync(fd, input, 0, input.length, null);
      } else {
        if (pending === out.length) feed(false);
        k = readSync(fd, out, pending, out.length - pending, null);
        pending += k;
      }
      if (pending >= out.length / 2) feed(false);
    }
    if (stop()) return;
    // The end of the gzip stream: what zlib still holds, and a check that it is complete.
    for (;;) {
      if (!gz) break;
      if (pending === out.length) feed(false);
      const r = gz.step(zlibConstants.Z_FINISH, input, 0, 0, out, pending, out.length - pending);
      pending += r.produced;
      if (pending < out.length) break;
    }
    feed(true);
    if (!stop()) sink.end();
  } finally {
    gz?.close();
    closeSync(fd);
  }
}

/** A parser's or extractor's failure, as a coded error. */
function readError(e: unknown, archive: string, what: string): BvisorError {
  if (e instanceof BvisorError) return e;
  const msg = (e as Error)?.message ?? String(e);
  return new BvisorError('BV_BUNDLE_TAR_INVALID', `${archive}: ${what}: ${msg}`, { hint: 'check that it is a tar or gzip-compressed tar file', cause: e });
}

/** The most tar stream an archive within `limits` can need: its entries' bytes, a header and
 * padding per entry (and as much again for pax or long-name records), and the end blocks. */
function maxStreamOf(limits: TarLimits): number {
  return limits.maxBytes + limits.maxEntries * 4 * BLOCK + (1 << 20);
}

function tooLargeError(archive: string, limits: TarLimits): () => BvisorError {
  return () => new BvisorError('BV_BUNDLE_TAR_TOO_LARGE', `${archive}: more than ${limits.maxBytes} bytes when unpacked`, { hint: 'ship a smaller bundle, or a directory' });
}

/**
 * Why a hard link entry is refused (or null). link(2) follows the symlinks on its way to the
 * target (only the last component is not followed), so its target, walked from the archive
 * root, must not be absolute, climb above the root, or pass through a name this archive makes a
 * symlink: `a -> /etc` then a hard link to `a/shadow` would be the host's file. Normalising first
 * would hide `r -> .` followed by `r/../x`. A symlink is never judged here: writing one follows
 * nothing, and the kernel judges where it leads once the tree is complete.
 */
function hardLinkProblem(link: string, symlinks: ReadonlySet<string>): string | null {
  if (link === '' || link.startsWith('/')) return `links to an absolute path (${link || 'empty'})`;
  const cur: string[] = [];
  const segs = link.split('/').filter((x) => x !== '' && x !== '.');
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    if (seg === '..') {
      if (cur.length === 0) return `links outside the bundle (${link})`;
      cur.pop();
    } else {
      cur.push(seg);
      if (i < segs.length - 1 && symlinks.has(cur.join('/'))) return `links through the symlink ${cur.join('/')} (${link})`;
    }
  }
  // link(2) on Linux does not follow a symlink: a hard link to one is a second symlink with
  // the same text in another directory, where `..` means something else.
  if (symlinks.has(cur.join('/'))) return `hard-links the symlink ${cur.join('/')}, which would re-anchor its target`;
  return null;
}

export function checkTar(file: string, limits: TarLimits = DEFAULT_TAR_LIMITS, archive: string = file): { entries: number; bytes: number; devices: ListedDevice[] } {
  let bytes = 0;
  let entries = 0;
  const devices: ListedDevice[] = [];
  // What pass 2 needs, kept small (a 100,000-entry archive must not cost 100,000 objects): the
  // links, and for every directory that some entry lies beneath, the first such entry.
  const links: ListedLink[] = [];
  const firstBeneath = new Map<string, FirstEntry>();
  let rootReplaced = null as FirstEntry | null;
  let failure: BvisorError | null = null;
  const fail = (e: BvisorError): void => {
    if (!failure) failure = e;
  };
  // Pass 1, while reading: what each entry is on its own (size, path, type).
  try {
    const parser = new (tarLib().Parser)({
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
        // A GNU long name may keep a NUL (the package cuts at one only before any newline): the
        // kernel would read the name, or a link's text, only up to it, so not what is judged here.
        if (raw.includes('\0') || (entry.linkpath ?? '').includes('\0')) return fail(unsafe(archive, raw.replace(/\0/g, '\\0'), 'has a NUL byte in its name or link target'));
        if (raw.startsWith('/')) return fail(unsafe(archive, raw, 'has an absolute path'));
        const p = normalEntryPath(raw);
        if (p === null) return fail(unsafe(archive, raw, 'climbs with ..'));
        const index = entries - 1;
        if (DEVICE_TYPES.has(type)) devices.push({ index, raw, path: p, type });
        else if (!ALLOWED_TYPES.has(type)) return fail(unsafe(archive, raw, `is a ${type}; only files, directories and links are allowed`));
        if (p === '' && type !== 'Directory') rootReplaced ??= { index, raw };
        for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) {
          const dir = p.slice(0, i);
          if (!firstBeneath.has(dir)) firstBeneath.set(dir, { index, raw });
        }
        if (type === 'SymbolicLink' || type === 'Link') links.push({ index, raw, path: p, type, link: entry.linkpath ?? '' });
      },
    });
    // What the parser consumes without handing it over (entries of unknown types, pax and
    // GNU long-name records) still costs reading and inflating: it counts against the limits.
    parser.on('ignoredEntry', (entry: { size?: number }) => {
      entries++;
      bytes += entry.size ?? 0;
      if (!failure && (entries > limits.maxEntries || bytes > limits.maxBytes)) fail(new BvisorError('BV_BUNDLE_TAR_TOO_LARGE', `${archive}: more than ${limits.maxEntries} entries or ${limits.maxBytes} bytes when unpacked`, { hint: 'ship a smaller bundle, or a directory' }));
    });
    parser.on('meta', (text: string) => {
      bytes += text.length;
      if (!failure && bytes > limits.maxBytes) fail(new BvisorError('BV_BUNDLE_TAR_TOO_LARGE', `${archive}: more than ${limits.maxBytes} bytes when unpacked`, { hint: 'ship a smaller bundle, or a directory' }));
    });
    // Stop feeding at the first refusal: the rest of a hostile archive is not worth inflating.
    pumpTar(file, parser, maxStreamOf(limits), tooLargeError(archive, limits), () => failure !== null);
  } catch (e) {
    if (failure) throw failure;
    throw readError(e, archive, 'cannot read archive');
  }
  if (failure) throw failure;

  // Pass 2: how entries combine. Every name that ANY entry makes a symlink counts as a symlink,
  // whatever the order of entries: an entry beneath one, or a hard link through one, is refused
  // even if the symlink comes later in the archive (or is replaced by a later entry of the same
  // name). Order-independence is deliberate: a link is not followed when it is written but
  // whenever it is used, against the finished tree, and modelling how the extractor overwrites
  // duplicates would only be a way to get it wrong. (Judging symlinks' text here, link by link
  // against the links made so far, is how the chained archive `d/q -> ../a, a -> b/.., b -> a2,
  // a2 -> b2/.., b2 -> .` once escaped: symlinks are judged by the kernel after extraction.)
  const symlinks = new Set(links.filter((e) => e.type === 'SymbolicLink').map((e) => e.path));
  // The problem of the first entry that has one wins, whatever kind it is; for one entry, the
  // checks run in the order below.
  const worst: { index: number; rank: number; error: BvisorError | null } = { index: Infinity, rank: 0, error: null };
  const found = (index: number, rank: number, error: () => BvisorError): void => {
    if (index < worst.index || (index === worst.index && rank < worst.rank)) Object.assign(worst, { index, rank, error: error() });
  };
  if (rootReplaced) found(rootReplaced.index, 0, () => unsafe(archive, rootReplaced!.raw, 'would replace the bundle root with a non-directory'));
  // An entry reached through a symlink could land anywhere.
  for (const s of symlinks) {
    const first = firstBeneath.get(s);
    if (!first) continue;
    found(first.index, 1, () => {
      // Name the outermost symlink on that entry's way, as a reader would walk it.
      const parts = normalEntryPath(first.raw)!.split('/');
      let via = s;
      for (let i = 1; i < parts.length; i++) {
        const d = parts.slice(0, i).join('/');
        if (symlinks.has(d)) {
          via = d;
          break;
        }
      }
      return unsafe(archive, first.raw, `is reached through the symlink ${via}`);
    });
  }
  const devicePaths = new Set(devices.map((d) => d.path));
  for (const { index, raw, type, link } of links) {
    if (worst.index < index) break;
    const why = type === 'Link' ? (hardLinkProblem(link, symlinks) ?? (devicePaths.has(normalEntryPath(link) ?? '') ? `hard-links the device node ${normalEntryPath(link)}, which is not written` : null)) : null;
    if (why) found(index, 2, () => unsafe(archive, raw, why));
  }
  if (worst.error) throw worst.error;
  return { entries, bytes, devices };
}

/** A device node of the archive: not written; allowed only in the rootfs's dev/. */
export interface ListedDevice {
  index: number;
  raw: string;
  path: string;
  type: string;
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
  if (target.startsWith('/')) return `links to an absolute path (${target})`;
  if (fd === -ERRNO.EXDEV) return `links outside the bundle (${target})`;
  if (fd !== -ERRNO.ENOENT) return `cannot be resolved inside the bundle (${target}: ${errnoName(fd)})`;

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
  // gets created (or a dangling symlink lands): refused. A prefix resolves only if every shorter
  // one does (the walk goes through them), so the first that fails is found by bisection: a
  // target of n steps costs log n walks, not n (a link 1,000 steps deep, in a 2 KB archive, cost
  // 150 ms each way, and an archive may hold 100,000 of them).
  const prefix = (k: number): number => root.openBeneath([dir, ...segs.slice(0, k + 1)].join('/'));
  let lo = 0;
  let hi = segs.length;
  let failed = 0;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const pre = prefix(mid);
    if (pre >= 0) {
      root.close(pre);
      lo = mid + 1;
    } else {
      hi = mid;
      failed = pre;
    }
  }
  if (lo === segs.length) return `changed while it was checked (${target})`;
  if (failed === -ERRNO.EXDEV) return `links outside the bundle (${target})`;
  if (failed !== -ERRNO.ENOENT) return `cannot be resolved inside the bundle (${target}: ${errnoName(failed)})`;
  if (segs.slice(lo + 1).includes('..')) return `is dangling at ${segs[lo]} and climbs with .. after it (${target})`;
  return null;
}

/** Where a bundle's rootfs is, relative to the extracted bundle, or null when it has none
 * strictly inside it. Asked only when a symlink leaves the bundle. */
export type RootfsOf = (bundleDir: string) => string | null;

const STRAY_LINK_HINT = 'a symlink outside the rootfs must stay inside the bundle (make it relative, or move it under the rootfs that root.path names, where links resolve within the root)';

/**
 * Walks an extracted tree and refuses what a pre-extraction check missed: a symlink that the
 * kernel resolves outside the root (or cannot resolve), a hard link shared with a file outside
 * the tree, anything but files, directories and symlinks. A symlink beneath the rootfs (asked of
 * `rootfsOf` at the first one that leaves the bundle) is left as it is: an image's rootfs is full
 * of absolute links (`etc/mtab -> /proc/mounts`), which the workload resolves inside its root,
 * and bvisor opens rootfs paths only with RESOLVE_IN_ROOT or with no symlink followed. Walks
 * breadth-first in name order, so the entry named in a refusal does not depend on readdir
 * order. Exported for tests, which run it on trees unpacked without the pre-extraction check.
 */
export function verifyExtractedTree(root: string, archive: string, rootfsOf: RootfsOf = () => null): void {
  let beneath: BeneathRoot | null = null;
  let rootfs: string | null | undefined;
  const inRootfs = (r: string): boolean => {
    if (rootfs === undefined) rootfs = rootfsOf(root);
    return rootfs !== null && rootfs !== '' && r.startsWith(rootfs + '/');
  };
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
          if (why && !inRootfs(r)) throw unsafe(archive, r, why, STRAY_LINK_HINT);
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

/** An archive's symlink, made after everything else. */
interface PendingSymlink {
  raw: string;
  /** normalEntryPath(raw), never '' (pass 1 refuses a link in place of the root). */
  path: string;
  target: string;
}

/**
 * Makes the archive's symlinks beneath the extracted root, in archive order, once every other
 * entry is written: each parent directory is opened (or made, 0755 as the `tar` package makes
 * the ones an archive leaves out) with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), then
 * symlinkat(2) writes the text exactly as archived (the `tar` package would strip a leading
 * `/`, turning `etc/mtab -> /proc/mounts` into a link to `etc/proc/mounts`). A name already
 * taken is an archive naming one thing twice: refused rather than guessed at.
 */
function makeSymlinks(dir: string, links: readonly PendingSymlink[], archive: string): void {
  if (links.length === 0) return;
  const s = shim();
  const top = s.bv_openat2(AT_FDCWD, dir, O.PATH | O.DIRECTORY, 0, RESOLVE_NO_MAGICLINKS);
  if (top < 0) throw new BvisorError('BV_BUNDLE_TAR_INVALID', `${archive}: cannot extract: open ${dir}: ${errnoName(top)}`);
  // The last parent opened: an archive lists a directory's entries together.
  let last = { rel: '', fd: top };
  const parentOf = (l: PendingSymlink, rel: string): number => {
    if (rel === last.rel) return last.fd;
    let fd = top;
    for (const seg of rel.split('/')) {
      let next = s.bv_openat2(fd, seg, O.PATH | O.DIRECTORY, 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
      if (next === -ERRNO.ENOENT) {
        const made = s.bv_mkdirat(fd, seg, 0o755);
        if (made < 0 && made !== -ERRNO.EEXIST) next = made;
        else next = s.bv_openat2(fd, seg, O.PATH | O.DIRECTORY, 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
      }
      if (fd !== top) s.bv_close(fd);
      // ENOTDIR: a file of the archive is named as this link's directory; ELOOP cannot happen
      // (pass 1 refuses an entry beneath a symlink), and would be refused the same way.
      if (next < 0) throw unsafe(archive, l.raw, `cannot be placed: its directory ${rel} is not one (${errnoName(next)})`);
      fd = next;
    }
    if (last.fd !== top) s.bv_close(last.fd);
    last = { rel, fd };
    return fd;
  };
  try {
    for (const l of links) {
      const cut = l.path.lastIndexOf('/');
      const pfd = cut < 0 ? top : parentOf(l, l.path.slice(0, cut));
      const rc = s.bv_symlinkat(l.target, pfd, l.path.slice(cut + 1));
      if (rc === -ERRNO.EEXIST) throw unsafe(archive, l.raw, 'is named twice in the archive (a symlink and another entry of the same name)');
      if (rc < 0) throw new BvisorError('BV_BUNDLE_TAR_INVALID', `${archive}: cannot extract: symlink ${l.raw}: ${errnoName(rc)}`, { hint: rc === -ERRNO.ENAMETOOLONG ? 'its name or target is longer than this kernel allows' : 'check the free space and inodes of the temp dir' });
    }
  } finally {
    if (last.fd !== top) s.bv_close(last.fd);
    s.bv_close(top);
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
 * gives its own root (`./` with mode 0777). `rootfsOf` says where the bundle's rootfs is, for
 * the links that leave the bundle (see verifyExtractedTree). On any refusal or failure the dir is
 * gone.
 */
export function extractTarBundle(archive: string, limits: TarLimits = DEFAULT_TAR_LIMITS, parentDir: string = tmpdir(), rootfsOf: RootfsOf = () => null): Extracted {
  const top = mkdtempSync(join(parentDir, TEMP_PREFIX));
  // Claimed at once: a crash from here on leaves a directory gc knows how to judge.
  writeOwner(top, procRef(process.pid)!);
  const cleanup = (): void => removeTree(top);
  try {
    const copy = join(top, 'archive');
    copyOnce(archive, copy, limits);
    const { devices } = checkTar(copy, limits, archive);
    const dir = join(top, 'bundle');
    mkdirSync(dir, { mode: 0o700 });
    const symlinks: PendingSymlink[] = [];
    const filter = (_path: string, entry: { type: string; path: string; linkpath?: string; mode?: number }): boolean => {
      if (entry.type === 'SymbolicLink') {
        symlinks.push({ raw: entry.path, path: normalEntryPath(entry.path)!, target: entry.linkpath ?? '' });
        return false;
      }
      if (DEVICE_TYPES.has(entry.type)) return false;
      // A set-id file extracted as root would be root's set-id program on the host, and inside
      // the boundary the bits do nothing: no_new_privs is always set. (A directory's set-group-ID
      // bit would hand the group of what it holds to files the workload makes: cleared too.)
      if (entry.mode !== undefined && entry.type !== 'Link') entry.mode &= ~0o6000;
      return true;
    };
    // preservePaths: the `tar` package's own path guards are not needed here, and one of them is
    // cubic: without this option it makes each directory by mkdir and lstat of every step from
    // the top, so a 24 KB archive of 1,000 nested directories took over two minutes of CPU. With
    // it, one recursive mkdir. What those guards stop is stopped before: pass 1 refuses absolute
    // paths, `..`, hard links that climb or pass through a name the archive makes a symlink, and
    // symlinks are written after this, by makeSymlinks: while the package writes, the tree holds
    // no symlink for anything to pass through.
    pumpTar(copy, new (tarLib().UnpackSync)({ cwd: dir, strict: true, preservePaths: true, preserveOwner: false, chmod: true, unlink: false, filter: filter as never }), maxStreamOf(limits), tooLargeError(archive, limits));
    makeSymlinks(dir, symlinks, archive);
    fault('tar:extracting'); // crash tests: a tree extracted, not yet checked or owned
    rmSync(copy);
    let rootfs: string | null | undefined;
    const rootfsOnce: RootfsOf = (d) => (rootfs === undefined ? (rootfs = rootfsOf(d)) : rootfs);
    for (const d of devices) {
      const r = rootfsOnce(dir);
      if (r === null || !d.path.startsWith(r + '/dev/')) throw unsafe(archive, d.raw, `is a ${d.type}; only files, directories and links are allowed`, "a device node is allowed only in the rootfs's dev/ (root.path), where a container gets bvisor's own /dev: it is left out");
    }
    verifyExtractedTree(dir, archive, rootfsOnce);
    return { dir, cleanup };
  } catch (e) {
    // A temp dir that could not be removed is said beside the refusal (gc judges it later, by its
    // owner record), not thrown in its place.
    throw undone(readError(e, archive, 'cannot extract'), cleanup);
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
        writeAll(out, buf.subarray(0, n));
      }
    } finally {
      closeSync(out);
    }
  } finally {
    closeSync(fd);
  }
}
