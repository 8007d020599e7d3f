// Opens a bundle (a directory, or a .tar/.tar.gz unpacked into a private temp dir), reads its
// manifest, and resolves every path the manifest names into facts the planner can use: the
// kernel resolves them (openat2), bundle-relative ones beneath the bundle (RESOLVE_BENEATH), the
// program of a rootfs inside it (RESOLVE_IN_ROOT), and each fact carries the object's physical
// path and (dev, ino), which the launcher checks again before it uses anything.
import { existsSync, fstatSync, lstatSync, readSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, join, resolve, posix, dirname } from 'node:path';
import { createHash } from 'node:crypto';
import { BvisorError, undone, type Issue } from '../contract/errors.js';
import { loadManifest, type NormalManifest } from '../core/manifest.js';
import { clauseSegments, writtenAt, type YamlReadResult } from '../core/yaml-reader.js';
import { containerTarget, type PathFact, type PlanPaths } from '../core/features.js';
import { bundleRelativeSegments } from '../core/paths.js';
import { translateOciConfig, jsonErrorAt, BOUNDARY_ANNOTATION, type OciExtras } from '../core/oci/config.js';
import { loadNarrowing, narrowOci } from '../core/oci/narrow.js';
import { isTarBundle, extractTarBundle } from './tar-bundle.js';
import { writeOwner } from './extracted.js';
import { shim, O } from '../backends/linux/ffi/shim.js';
import { identityOf, AT_FDCWD, RESOLVE, S_IFMT, S_IFLNK } from '../backends/linux/host/objects.js';
import { errnoName, mountsBeneath, onFilesystem } from './facts.js';
import { scanSetId } from './set-id.js';
import { dirLineage, factOfFd, identityBeneath, physical, resolveHostPath } from './host-paths.js';
import { loadManifestCached } from './manifest-cache.js';
import { fdPath } from './proc-fd.js';


export const MANIFEST_NAME = 'boundary.yaml';
/** An OCI runtime bundle's configuration (runtime-spec bundle.md). */
export const OCI_CONFIG_NAME = 'config.json';
/** A manifest larger than this is not a manifest. */
export const MAX_MANIFEST_BYTES = 1 << 20;

export interface OpenBundle {
  /** What the user passed, made absolute (its directory when that was the manifest's file). */
  source: string;
  /** The bundle as errors name it: what the user passed, or the directory of the manifest file
   * they passed (so a location reads b/boundary.yaml, never b/boundary.yaml/boundary.yaml). */
  shown: string;
  /** The bundle directory (real path). For a tar, the private temp dir. */
  dir: string;
  /** The bundle directory, opened once (O_PATH): the manifest is read and every bundle path is
   * resolved beneath this descriptor, never by name again (-1 once the paths are resolved). */
  fd: number;
  /** Closes the descriptor (the plan's facts carry what the launcher checks from then on). */
  releaseFd(): void;
  manifestPath: string;
  manifestText: string;
  manifestSha256: string;
  /**
   * Archives: keeps the extracted bundle past cleanup (a created container's rootfs and files
   * are used until delete) and returns the directory to remove then. null for a directory.
   */
  keep(stateDir: string, runId: string): string | null;
  cleanup(): void;
  /** A manifest given as text, with a directory the caller chose for its relative paths (the
   * API's { manifest, dir }): that directory is the caller's, not a bundle the manifest came in. */
  manifestOnly?: boolean;
}

/** Opens a bundle directory by the name the caller gave (symlinks followed: it is their choice). */
function openDir(path: string): number {
  const fd = shim().bv_openat2(AT_FDCWD, path, O.PATH | O.DIRECTORY, 0, RESOLVE.NO_MAGICLINKS);
  if (fd < 0) throw new BvisorError('BV_BUNDLE_NOT_FOUND', `open bundle ${path}: ${errnoName(fd)}`, { hint: 'pass a bundle directory (holding boundary.yaml) or a .tar/.tar.gz of one' });
  return fd;
}

/**
 * A directory right beneath the bundle holding a manifest or config.json (its name), or null: a
 * bundle passed (or archived) one level too high, as `tar -cf b.tar mybundle` makes it. Looks at
 * the first 64 entries only; an error reads as none found.
 */
function nestedManifest(dirFd: number): string | null {
  try {
    const top = fdPath(dirFd);
    for (const e of readdirSync(top, { withFileTypes: true }).slice(0, 64)) {
      if (e.isDirectory() && [MANIFEST_NAME, OCI_CONFIG_NAME].some((n) => lstatSync(join(top, e.name, n), { throwIfNoEntry: false })?.isFile())) return `${e.name}/`;
    }
  } catch {
    // a hint only: nothing to add
  }
  return null;
}

/** The manifest (or config.json) past MAX_MANIFEST_BYTES, named as it is. */
function tooLarge(shown: string, name: string): BvisorError {
  return name === OCI_CONFIG_NAME
    ? new BvisorError('BV_OCI_CONFIG_INVALID', `${join(shown, name)} is larger than ${MAX_MANIFEST_BYTES} bytes`, { hint: 'an OCI config.json from podman or containerd is a few KiB' })
    : new BvisorError('BV_MANIFEST_INVALID', `${join(shown, name)} is larger than ${MAX_MANIFEST_BYTES} bytes`, { hint: 'a manifest is a short YAML file' });
}

/**
 * Reads the manifest beneath the bundle descriptor: no symlink, never blocking (a FIFO in its
 * place is refused, not waited on), a regular file of sane size, read from the descriptor that
 * was checked.
 */
function readManifest(dirFd: number, shown: string, name = MANIFEST_NAME): Buffer {
  const s = shim();
  const fd = s.bv_openat2(dirFd, name, O.RDONLY | O.NOFOLLOW | O.NONBLOCK | O.NOCTTY, 0, RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS);
  if (fd === -2) {
    const here = shown === '.' || shown === './';
    const below = nestedManifest(dirFd);
    const hint = below
      ? `${below} holds one: pass that directory${isTarBundle(shown) ? `, or pack the bundle's contents at the archive's top (tar -C <bundle> -cf ${basename(shown)} .)` : ''}`
      : here ? 'pass the bundle directory (-b DIR, or validate DIR and plan DIR), or write one here with `bvisor spec`' : 'write one with `bvisor spec` in the bundle directory';
    // `-b` defaults to the current directory (as runc's): a bare "." would not say which.
    const named = here ? `the current directory (${resolve(shown)})` : shown;
    throw new BvisorError('BV_MANIFEST_NOT_FOUND', `${named} has no ${MANIFEST_NAME} (nor an OCI ${OCI_CONFIG_NAME})`, { hint });
  }
  if (fd === -40 || fd === -6 /* ELOOP, ENXIO */) throw new BvisorError('BV_MANIFEST_NOT_FOUND', `${join(shown, MANIFEST_NAME)} is not a regular file`, { hint: 'the manifest must be a plain file in the bundle, not a symlink' });
  if (fd < 0) throw new BvisorError('BV_MANIFEST_NOT_FOUND', `open ${join(shown, MANIFEST_NAME)}: ${errnoName(fd)}`);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new BvisorError('BV_MANIFEST_NOT_FOUND', `${join(shown, MANIFEST_NAME)} is not a regular file`, { hint: 'the manifest must be a plain file in the bundle, not a symlink' });
    if (st.size > MAX_MANIFEST_BYTES) throw tooLarge(shown, name);
    // Sized from fstat (zero-filling the largest allowed size cost a millisecond per launch), and
    // grown if the file grows while it is read, up to one byte past the limit.
    let buf = Buffer.alloc(Math.min(MAX_MANIFEST_BYTES + 1, st.size + 4096));
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        const bigger = Buffer.alloc(Math.min(MAX_MANIFEST_BYTES + 1, buf.length * 2));
        buf.copy(bigger);
        buf = bigger;
      }
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > MAX_MANIFEST_BYTES) throw tooLarge(shown, name);
    }
    return buf.subarray(0, n);
  } finally {
    s.bv_close(fd);
  }
}

export function openBundle(given: string): OpenBundle {
  if (given === '') throw new BvisorError('BV_BUNDLE_NOT_FOUND', 'the bundle path is empty', { hint: 'pass a bundle directory (holding boundary.yaml) or a .tar/.tar.gz of one' });
  let arg = given;
  let source = resolve(arg);
  if (!existsSync(source)) throw new BvisorError('BV_BUNDLE_NOT_FOUND', `bundle ${arg} does not exist`, { hint: 'pass a bundle directory (holding boundary.yaml) or a .tar/.tar.gz of one' });
  let path: string;
  let removeTemp = (): void => {};
  let tempTop: string | null = null;
  let st = statSync(source);
  // `validate x/boundary.yaml`: the manifest's own file names its bundle, the directory it is in
  // (whose other files, a config.json beside it included, are the bundle's as ever); not when
  // the path says it is a directory (`x/boundary.yaml/`).
  if (!st.isDirectory() && [MANIFEST_NAME, OCI_CONFIG_NAME].includes(basename(source))) {
    if (/\/\.?$/.test(given)) throw new BvisorError('BV_BUNDLE_NOT_FOUND', `bundle ${given} is not a directory`, { hint: `pass ${given.replace(/\/\.?$/, '')} (the manifest's file) or its directory` });
    // Anything but a plain file there is refused when it is read as the manifest (a FIFO is
    // never opened to wait on).
    arg = dirname(arg);
    source = dirname(source);
    st = statSync(source);
  }
  if (st.isDirectory()) path = source;
  else if (st.isFile() && isTarBundle(source)) {
    const x = extractTarBundle(source, undefined, undefined, (dir) => rootfsWithin(dir, arg));
    path = x.dir;
    removeTemp = x.cleanup;
    tempTop = dirname(x.dir);
  } else throw new BvisorError('BV_BUNDLE_NOT_FOUND', `bundle ${arg} is neither a directory nor a .tar/.tar.gz`, { hint: /\.(ya?ml|json)$/i.test(arg) ? `a bundle's manifest is read only as ${MANIFEST_NAME} (or an OCI ${OCI_CONFIG_NAME}): name it so, in the bundle directory, and pass that directory or the file` : `pass a bundle directory (holding ${MANIFEST_NAME})` });
  let fd = -1;
  const release = (ob?: OpenBundle): void => {
    if (fd >= 0) shim().bv_close(fd);
    fd = -1;
    if (ob) ob.fd = -1;
  };
  try {
    fd = openDir(path);
    const dir = readlinkSync(`/proc/self/fd/${fd}`);
    // An OCI bundle: config.json (a boundary.yaml beside it narrows it; see loadBundle).
    const name = hasEntry(fd, OCI_CONFIG_NAME) ? OCI_CONFIG_NAME : MANIFEST_NAME;
    const buf = readManifest(fd, arg, name);
    const ob: OpenBundle = {
      source,
      shown: arg,
      dir,
      fd,
      manifestPath: join(dir, name),
      manifestText: buf.toString('utf8'),
      manifestSha256: createHash('sha256').update(buf).digest('hex'),
      releaseFd: () => release(ob),
      keep: (stateDir: string, runId: string) => {
        if (tempTop === null) return null;
        writeOwner(tempTop, { stateDir, runId });
        removeTemp = () => {};
        return tempTop;
      },
      cleanup: () => {
        release(ob);
        removeTemp();
      },
    };
    return ob;
  } catch (e) {
    throw undone(e, () => {
      release();
      removeTemp();
    });
  }
}

/**
 * Where an extracted bundle's manifest puts its rootfs: its physical path relative to the bundle,
 * or null when it names none, or one that is not a directory strictly inside the bundle (an OCI
 * config's absolute root.path is a host path; a link to `.` is the bundle itself). The manifest
 * is read and parsed as loading it will, so an invalid one is refused here with the same error.
 */
function rootfsWithin(dir: string, shown: string): string | null {
  const fd = openDir(dir);
  const s = shim();
  try {
    const name = hasEntry(fd, OCI_CONFIG_NAME) ? OCI_CONFIG_NAME : MANIFEST_NAME;
    const text = readManifest(fd, shown, name).toString('utf8');
    const file = posix.join(shown, name);
    const m = name === OCI_CONFIG_NAME ? ociManifest(text, file) : loadManifest(text, file).manifest;
    const segs = m.root && !m.root.path.startsWith('/') ? bundleRelativeSegments(m.root.path) : null;
    // The bundle itself is no rootfs (the planner refuses it): its links get no leave.
    if (segs === null || segs.length === 0) return null;
    const rfd = s.bv_openat2(fd, segs.join('/'), O.PATH | O.DIRECTORY, 0, RESOLVE.BENEATH | RESOLVE.NO_MAGICLINKS);
    if (rfd < 0) return null;
    try {
      const top = readlinkSync(fdPath(fd));
      const at = readlinkSync(fdPath(rfd));
      return at.startsWith(top + '/') ? at.slice(top.length + 1) : null;
    } finally {
      s.bv_close(rfd);
    }
  } finally {
    s.bv_close(fd);
  }
}

/** Whether a directory (by descriptor) has an entry of this name, symlinks not followed. */
function hasEntry(dirFd: number, name: string): boolean {
  const s = shim();
  const fd = s.bv_openat2(dirFd, name, O.PATH | O.NOFOLLOW, 0, RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS);
  if (fd >= 0) s.bv_close(fd);
  return fd >= 0 || fd === -40 /* ELOOP: a symlink is there */;
}

/**
 * Resolves a path the way the kernel does (openat2, magic links refused), relative to dirFd
 * with the given RESOLVE_* flags, and describes what it finds. Missing: the physical path of
 * the deepest existing ancestor plus the rest, so messages still name something real.
 */
function resolveWith(dirFd: number, path: string, resolve: number, missingAs: () => string): PathFact | 'escape' {
  const s = shim();
  const fd = s.bv_openat2(dirFd, path, O.PATH, 0, resolve | RESOLVE.NO_MAGICLINKS);
  if (fd === -18 /* EXDEV: resolution left the anchor */) return 'escape';
  if (fd < 0) return { path: missingAs(), kind: 'missing' };
  try {
    return factOfFd(fd);
  } finally {
    s.bv_close(fd);
  }
}

/** The interpreter of a #! script (its first word), or null for anything else. */
function interpreterOf(path: string): string | null {
  const s = shim();
  const fd = s.bv_openat2(AT_FDCWD, path, O.RDONLY | O.NONBLOCK | O.NOFOLLOW | O.NOCTTY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
  if (fd < 0) return null;
  try {
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const head = buf.subarray(0, n).toString('latin1');
    if (!head.startsWith('#!')) return null;
    return /^#!\s*(\S+)/.exec(head)?.[1] ?? null;
  } catch {
    return null;
  } finally {
    s.bv_close(fd);
  }
}

/** Top-level symlinks of the host's / (merged /usr: bin -> usr/bin, lib64 -> usr/lib64). */
export function hostRootLinks(): Array<{ name: string; target: string }> {
  const out: Array<{ name: string; target: string }> = [];
  for (const e of readdirSync('/', { withFileTypes: true })) {
    if (!e.isSymbolicLink()) continue;
    try {
      out.push({ name: e.name, target: readlinkSync('/' + e.name) });
    } catch {
      // vanished: nothing to recreate
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** One user namespace per process for trying idmapped mounts while planning. */
let probeUserns: number | null = null;

/**
 * Whether an idmapped mount of the directory works here (the filesystem supports it and we may
 * make one): tried for real on a detached copy that is dropped at once.
 */
export function idmappable(path: string): boolean {
  const s = shim();
  probeUserns ??= s.bv_userns('0 65534 1\n', '0 65534 1\n');
  if (probeUserns < 0) return false;
  const fd = s.bv_openat2(AT_FDCWD, path, O.PATH, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
  if (fd < 0) return false;
  try {
    const tree = s.bv_tree(fd, 0, probeUserns, 1);
    if (tree >= 0) s.bv_close(tree);
    return tree >= 0;
  } finally {
    s.bv_close(fd);
  }
}

export interface ResolvedPaths {
  paths: PlanPaths;
  issues: Issue[];
}

export function resolvePlanPaths(m: NormalManifest, bundleDir: string, bundleFd: number, yaml: YamlReadResult, file: string): PlanPaths {
  const issues: Issue[] = [];
  const escape = (path: (string | number)[], clause: string, what: string): void => {
    const at = yaml.locate(path);
    issues.push({ code: 'BV_MANIFEST_PATH_ESCAPE', clause, message: `${what} resolves outside the bundle`, hint: 'bundle paths must stay inside the bundle, also through symlinks', file, line: at.line, col: at.col });
  };
  const s = shim();
  // Bundle-relative paths are resolved by the kernel beneath the bundle: a symlink (or a
  // chain of them) that leaves it is EXDEV, whatever its text looks like.
  const inBundle = (rel: string, path: (string | number)[], clause: string): PathFact => {
    const segs = bundleRelativeSegments(rel) ?? [];
    if (segs.length === 0) return factOfFd(bundleFd);
    const f = resolveWith(bundleFd, segs.join('/'), RESOLVE.BENEATH, () => physical(join(bundleDir, ...segs)));
    if (f === 'escape') {
      escape(path, clause, `"${rel}"`);
      return { path: join(bundleDir, ...segs), kind: 'missing' };
    }
    return f;
  };
  const rootful = process.geteuid?.() === 0;
  const grants = m.filesystem.map((g) => {
    const f = g.bundleRelative ? inBundle(g.path, ['filesystem', g.index, 'path'], `filesystem[${g.index}].path`) : resolveHostPath(g.path);
    // Rootful write grants not already the workload's: can an idmapped mount bridge them?
    if (rootful && g.access.includes('write') && f.kind === 'directory' && f.uid !== 0 && f.gid !== 0) f.idmap = idmappable(f.path);
    // An engine's binds and rootfs are root's: bridged by an idmapped mount where the filesystem has them.
    // (Read-only ones too for a process.user or a block of ids: their files in a volume are the
    // container's own to read.)
    else if (rootful && m.oci && (g.access.includes('write') || m.oci.user || m.oci.idMaps) && (f.kind === 'directory' || f.kind === 'file')) f.idmap = idmappable(f.path);
    // A `bind` leaves out the mounts beneath its source: which are there, for the planner.
    if (g.submounts === false && f.kind === 'directory') f.submounts = mountsBeneath(f.path);
    // (A writable bind of one such file is itself the file found: the planner refuses it.)
    if (m.oci && f.idmap && g.access.includes('write') && (f.kind === 'directory' || f.kind === 'file')) f.setIdScan = scanSetId(f.path);
    return f;
  });
  // An OCI config may name its rootfs absolutely (podman: the storage's layer directory).
  const root = m.root ? (m.oci && m.root.path.startsWith('/') ? resolveHostPath(m.root.path) : inBundle(m.root.path, ['root', 'path'], 'root.path')) : null;
  // (Read-only too for an OCI process.user other than 0:0, or a block of ids: their files in the
  // image are the container's own.)
  if (root && rootful && m.root && (!m.root.readonly || m.oci?.user || m.oci?.idMaps) && root.kind === 'directory' && (m.oci || (root.uid !== 0 && root.gid !== 0))) root.idmap = idmappable(root.path);
  if (root && m.oci && root.idmap && !m.root?.readonly) root.setIdScan = scanSetId(root.path);
  // The manifest's rule (not the bundle itself) is about spelling; a link to `.` is the same
  // directory. (An OCI config's root is judged with its storage, in loadOpened.)
  if (root && !m.oci && root.kind === 'directory' && root.path === bundleDir) root.holdsBundle = true;
  let exe: PathFact | null = null;
  let module: PathFact | null = null;
  const w = m.workload;
  if (w.kind === 'process') {
    if (root && root.kind === 'directory') {
      // The program as the workload will find it after pivot_root: resolved in the rootfs,
      // absolute symlinks included, never above it (RESOLVE_IN_ROOT).
      const rfd = s.bv_openat2(AT_FDCWD, root.path, O.PATH | O.DIRECTORY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
      if (rfd >= 0) {
        try {
          // An OCI config's args[0] may be a bare name: looked up in its PATH inside the root,
          // as runc does (the first regular file found).
          const tries = m.oci && !w.exe.includes('/') ? m.oci.searchPath.map((d) => posix.join(d, w.exe)) : [w.exe];
          for (const t of tries) {
            const f = resolveWith(rfd, t, RESOLVE.IN_ROOT, () => join(root.path, t));
            exe = f === 'escape' ? { path: join(root.path, t), kind: 'missing' } : f;
            if (exe.kind === 'file') break;
          }
        } finally {
          s.bv_close(rfd);
        }
      }
    } else if (!root) exe = resolveHostPath(w.exe);
    if (exe && exe.kind === 'file') {
      const interp = interpreterOf(exe.path);
      // Where the interpreter really is (through root's own links, as /bin/sh -> usr/bin/dash).
      if (interp) exe.interpreter = root ? interp : resolveHostPath(interp).path;
    }
  } else module = inBundle(w.module, ['workload', 'wasm', 'module'], 'workload.wasm.module');
  // Container mode: what the rootfs holds where bvisor will mount, no symlink followed.
  const rootTargets: Record<string, PathFact['kind'] | 'symlink'> = {};
  if (root && root.kind === 'directory') {
    const rfd = s.bv_openat2(AT_FDCWD, root.path, O.PATH | O.DIRECTORY, 0, RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS);
    if (rfd >= 0) {
      try {
        const targets = ['/proc', '/dev', '/tmp', ...m.filesystem.map((g, i) => containerTarget(g, grants[i]!))];
        for (const t of targets) {
          const fd = s.bv_openat2(rfd, t.replace(/^\/+/, ''), O.PATH | O.NOFOLLOW, 0, RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS);
          if (fd === -40 /* ELOOP */) rootTargets[t] = 'symlink';
          else if (fd < 0) rootTargets[t] = 'missing';
          else {
            try {
              rootTargets[t] = (identityOf(fd).mode & S_IFMT) === S_IFLNK ? 'symlink' : factOfFd(fd).kind;
            } finally {
              s.bv_close(fd);
            }
          }
        }
      } finally {
        s.bv_close(rfd);
      }
    }
  }
  let stdin: PathFact | null = null;
  if (m.stdio.stdin.startsWith('file:')) {
    const f = m.stdio.stdin.slice(5);
    stdin = f.startsWith('/') ? resolveHostPath(f) : inBundle(f, ['stdio', 'stdin', 'file'], 'stdio.stdin.file');
  }
  if (issues.length) throw new BvisorError('BV_MANIFEST_INVALID', `${file}: ${issues.length} path(s) leave the bundle`, { issues, hint: issues[0]!.hint ?? undefined });
  return { grants, exe, module, root, stdin, rootLinks: m.root ? [] : hostRootLinks(), rootTargets };
}

/** config.json text → the manifest it translates to (refusals travel inside, for the planner). */
export function ociManifest(text: string, file: string): NormalManifest & { oci: OciExtras } {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const at = jsonErrorAt(text, msg);
    throw new BvisorError('BV_OCI_CONFIG_INVALID', `${file}:${at.line}:${at.col}: not JSON (${msg})`, { hint: 'config.json must be one JSON object (OCI runtime-spec config.md)' });
  }
  const deep = tooDeep(config, MAX_CONFIG_DEPTH);
  if (deep !== null) throw new BvisorError('BV_OCI_CONFIG_INVALID', `${file}: ${deep} nests deeper than ${MAX_CONFIG_DEPTH} levels`, { hint: 'the runtime spec\'s config nests a few levels: this is not one an engine wrote' });
  return translateOciConfig(config).manifest;
}

/** How deep a config.json may nest: the runtime spec's deepest field is a handful of levels; past
 * this the translation's own recursion (messages that print a value whole) would overflow the
 * stack (an attack sent 20,000 levels: BV_INTERNAL). */
const MAX_CONFIG_DEPTH = 32;

/** The JSON path of the first value nested deeper than `max` (walked without recursion), or null. */
function tooDeep(value: unknown, max: number): string | null {
  const stack: Array<{ v: unknown; at: string; depth: number }> = [{ v: value, at: '', depth: 0 }];
  while (stack.length) {
    const { v, at, depth } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return at || '(the top)';
    if (Array.isArray(v)) v.forEach((x, i) => stack.push({ v: x, at: `${at}[${i}]`, depth: depth + 1 }));
    else for (const [k, x] of Object.entries(v)) stack.push({ v: x, at: at ? `${at}.${k}` : k, depth: depth + 1 });
  }
  return null;
}

/** fs/nsfs.c's magic: a namespace file (/run/netns/x, /proc/<pid>/ns/net). */
const NSFS_MAGIC = 0x6e736673;
const isNsfs = (path: string): boolean => onFilesystem(path, NSFS_MAGIC);

/**
 * Where an OCI container's root-owned files are its own to write: its bundle, the storage roots
 * of the engines bvisor knows (podman/CRI-O's and containerd's, as root), and those the operator
 * names in BVISOR_OCI_STORAGE (colon-separated absolute paths). Physical paths, existing only.
 */
export const ENGINE_STORAGE_DEFAULTS = ['/var/lib/containers/storage', '/run/containers/storage', '/var/lib/containerd', '/run/containerd'];
function engineStorage(bundleDir: string): string[] {
  const named = (process.env.BVISOR_OCI_STORAGE ?? '').split(':').filter((p) => p.startsWith('/'));
  const out: string[] = [];
  for (const p of [bundleDir, ...ENGINE_STORAGE_DEFAULTS, ...named]) {
    try {
      out.push(realpathSync(p));
    } catch {
      // absent here: nothing to trust
    }
  }
  return out;
}

/** JSON has no located issues past parsing: every issue names its JSON path instead. */
function jsonLocator(): YamlReadResult {
  return { data: undefined, issues: [], locate: () => ({ line: 1, col: 1 }) } as unknown as YamlReadResult;
}

export interface LoadedBundle {
  bundle: OpenBundle;
  manifest: NormalManifest;
  paths: PlanPaths;
  /** Where the manifest writes a plan's clause (file:line:col of its value), for the refusals a
   * user reads; null for a clause it leaves to its default, or where it is not YAML. */
  where?: (clause: string) => { file: string; line: number; col: number } | null;
}

/** LoadedBundle.where for a YAML manifest read as `read`. */
function whereIn(read: Pick<YamlReadResult, 'locate'>, file: string): (clause: string) => { file: string; line: number; col: number } | null {
  return (clause) => {
    const path = clauseSegments(clause);
    const at = path && writtenAt(read, path);
    return at ? { file, ...at } : null;
  };
}

/**
 * LoadedBundle.where for an OCI bundle narrowed by a boundary.yaml beside config.json: a clause
 * that file writes is located there (its own refusals are named `boundary.yaml:<clause>`). Not the
 * filesystem grants the planner names: its list is the config's mounts and the narrowing's grants
 * together, whose indices are not the file's. What config.json decides has no line of YAML.
 */
function narrowingWhere(read: Pick<YamlReadResult, 'locate'>, file: string): NonNullable<LoadedBundle['where']> {
  const inFile = whereIn(read, file);
  const own = `${MANIFEST_NAME}:`;
  return (clause) => {
    if (clause.startsWith(own)) return inFile(clause.slice(own.length));
    return clause.startsWith('filesystem') ? null : inFile(clause);
  };
}

export interface LoadOptions {
  /** The state root whose cache of manifest reads (host/manifest-cache.ts) to take this one's
   * from, or keep it in; the commands that launch pass theirs. */
  manifestCacheRoot?: string | null;
}

/** open → parse/validate → resolve paths. On any error the bundle's temp dir is removed. */
export function loadBundle(arg: string, o: LoadOptions = {}): LoadedBundle {
  const opened = openBundle(arg);
  return loadOpened(opened, opened.shown, o);
}

/** parse/validate → resolve paths, for a bundle already opened (its manifest read and hashed). */
export function loadOpened(bundle: OpenBundle, arg: string, o: LoadOptions = {}): LoadedBundle {
  try {
    if (bundle.manifestPath.endsWith('/' + OCI_CONFIG_NAME)) {
      const file = posix.join(arg, OCI_CONFIG_NAME);
      let manifest = ociManifest(bundle.manifestText, file);
      // Narrowed by a boundary beside it, then by the annotation (each can only narrow).
      let where: LoadedBundle['where'];
      if (hasEntry(bundle.fd, MANIFEST_NAME)) {
        const yamlFile = posix.join(arg, MANIFEST_NAME);
        const narrowing = loadNarrowing(readManifest(bundle.fd, arg).toString('utf8'), yamlFile);
        manifest = narrowOci(manifest, narrowing, MANIFEST_NAME);
        where = narrowingWhere(narrowing.read, yamlFile);
      }
      const ann = manifest.oci.annotations[BOUNDARY_ANNOTATION];
      if (ann !== undefined) manifest = narrowOci(manifest, loadNarrowing(ann, `${file} annotations["${BOUNDARY_ANNOTATION}"]`), `annotations.${BOUNDARY_ANNOTATION}`);
      const paths = resolvePlanPaths(manifest, bundle.dir, bundle.fd, jsonLocator(), file);
      // The engine's network namespace, identified now: the launcher enters only this one.
      // Only a namespace file (nsfs): a FIFO or a device there must never be opened.
      if (manifest.oci.netnsPath) {
        const ns = resolveHostPath(manifest.oci.netnsPath);
        if (ns.kind !== 'missing') ns.nsfs = isNsfs(ns.path);
        paths.netns = ns;
      }
      // The engine's storage: where root-owned files are the container's to write (idmapped).
      const storage = engineStorage(bundle.dir);
      // What a container must not get to write: the bundle directory and every directory above
      // it, and the files the next create of this bundle reads, by identity (a bind mount of
      // either is the same object), then by physical path.
      const line = dirLineage(bundle.fd);
      const configs = [OCI_CONFIG_NAME, MANIFEST_NAME];
      const guarded = new Set([...(typeof line === 'number' ? [] : line), ...configs.flatMap((n) => identityBeneath(bundle.fd, n))]);
      const inStorage = (f: PathFact | null | undefined): void => {
        if (!f || f.kind === 'missing') return;
        f.engineStorage = storage.some((s) => f.path === s || f.path.startsWith(s + '/'));
        f.holdsBundle = guarded.has(`${f.dev}:${f.ino}`) || f.path === bundle.dir || bundle.dir.startsWith(f.path === '/' ? '/' : f.path + '/') || configs.some((n) => f.path === join(bundle.dir, n));
      };
      paths.grants.forEach(inStorage);
      inStorage(paths.root);
      bundle.releaseFd();
      return { bundle, manifest, paths, ...(where ? { where } : {}) };
    }
    const file = posix.join(arg, MANIFEST_NAME);
    const { manifest, yaml } = o.manifestCacheRoot ? loadManifestCached(bundle.manifestText, file, o.manifestCacheRoot) : loadManifest(bundle.manifestText, file);
    const paths = resolvePlanPaths(manifest, bundle.dir, bundle.fd, yaml, file);
    bundle.releaseFd();
    return { bundle, manifest, paths, where: whereIn(yaml, file) };
  } catch (e) {
    throw undone(e, bundle.cleanup);
  }
}

/** A manifest given as text (API users), resolved against a bundle directory. */
export function loadManifestText(text: string, dir: string, name = 'boundary.yaml'): LoadedBundle {
  let fd = openDir(resolve(dir));
  const cleanup = (): void => {
    if (fd >= 0) shim().bv_close(fd);
    fd = -1;
  };
  try {
    const realDir = readlinkSync(`/proc/self/fd/${fd}`);
    const { manifest, yaml } = loadManifest(text, name);
    const paths = resolvePlanPaths(manifest, realDir, fd, yaml, name);
    cleanup();
    const bundle: OpenBundle = {
      source: realDir,
      shown: dir,
      dir: realDir,
      fd: -1,
      manifestPath: join(realDir, name),
      manifestText: text,
      manifestSha256: createHash('sha256').update(text, 'utf8').digest('hex'),
      releaseFd: () => {},
      keep: () => null,
      cleanup: () => {},
      manifestOnly: true,
    };
    return { bundle, manifest, paths, where: whereIn(yaml, name) };
  } catch (e) {
    cleanup();
    throw e;
  }
}
