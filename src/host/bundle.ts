// Opens a bundle (a directory, or a .tar/.tar.gz unpacked into a private temp dir), reads its
// manifest, and resolves every path the manifest names into facts the planner can use. Bundle-
// relative paths are resolved physically (symlinks followed) and must stay inside the bundle;
// paths inside a rootfs are resolved as if the rootfs were `/` (absolute symlinks stay inside).
import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { join, resolve, posix } from 'node:path';
import { createHash } from 'node:crypto';
import { BvisorError, type Issue } from '../contract/errors.js';
import { loadManifest, type NormalManifest } from '../core/manifest.js';
import type { YamlReadResult } from '../core/yaml-reader.js';
import type { PathFact, PlanPaths } from '../core/features.js';
import { bundleRelativeSegments } from '../core/paths.js';
import { isTarBundle, extractTarBundle } from './tar-bundle.js';

export const MANIFEST_NAME = 'boundary.yaml';
/** A manifest larger than this is not a manifest. */
export const MAX_MANIFEST_BYTES = 1 << 20;

export interface OpenBundle {
  /** What the user passed, made absolute. */
  source: string;
  /** The bundle directory (real path). For a tar, the private temp dir. */
  dir: string;
  manifestPath: string;
  manifestText: string;
  manifestSha256: string;
  cleanup(): void;
}

export function openBundle(arg: string): OpenBundle {
  const source = resolve(arg);
  if (!existsSync(source)) throw new BvisorError('BV_BUNDLE_NOT_FOUND', `bundle ${arg} does not exist`, { hint: 'pass a bundle directory (holding boundary.yaml) or a .tar/.tar.gz of one' });
  let dir: string;
  let cleanup = (): void => {};
  const st = statSync(source);
  if (st.isDirectory()) dir = realpathSync(source);
  else if (st.isFile() && isTarBundle(source)) {
    const x = extractTarBundle(source);
    dir = realpathSync(x.dir);
    cleanup = x.cleanup;
  } else throw new BvisorError('BV_BUNDLE_NOT_FOUND', `bundle ${arg} is neither a directory nor a .tar/.tar.gz`, { hint: 'pass a bundle directory (holding boundary.yaml)' });
  try {
    const manifestPath = join(dir, MANIFEST_NAME);
    let lst;
    try {
      lst = lstatSync(manifestPath);
    } catch {
      throw new BvisorError('BV_MANIFEST_NOT_FOUND', `${arg} has no ${MANIFEST_NAME}`, { hint: 'write one with `bvisor spec` in the bundle directory' });
    }
    if (!lst.isFile()) throw new BvisorError('BV_MANIFEST_NOT_FOUND', `${join(arg, MANIFEST_NAME)} is not a regular file`, { hint: 'the manifest must be a plain file in the bundle, not a symlink' });
    if (lst.size > MAX_MANIFEST_BYTES) throw new BvisorError('BV_MANIFEST_INVALID', `${join(arg, MANIFEST_NAME)} is larger than ${MAX_MANIFEST_BYTES} bytes`, { hint: 'a manifest is a short YAML file' });
    const buf = readFileSync(manifestPath);
    return { source, dir, manifestPath, manifestText: buf.toString('utf8'), manifestSha256: createHash('sha256').update(buf).digest('hex'), cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

function kindOf(path: string): PathFact['kind'] {
  try {
    const st = statSync(path);
    return st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
}

/** The real path when it exists; else the real path of the deepest existing ancestor + the rest. */
function physical(path: string): string {
  let head = path;
  const tail: string[] = [];
  for (;;) {
    try {
      const real = realpathSync(head);
      return tail.length ? join(real, ...tail.reverse()) : real;
    } catch {
      const parent = posix.dirname(head);
      if (parent === head) return path;
      tail.push(posix.basename(head));
      head = parent;
    }
  }
}

function inside(dir: string, p: string): boolean {
  return p === dir || p.startsWith(dir + '/');
}

/**
 * Resolves `path` (absolute, meaning inside root) under `root` the way the kernel would after
 * pivot_root: absolute symlink targets restart at root, and .. never climbs above it.
 */
export function resolveInRoot(root: string, path: string): string {
  let parts = path.split('/').filter((x) => x && x !== '.');
  const done: string[] = [];
  let hops = 0;
  while (parts.length) {
    const seg = parts.shift()!;
    if (seg === '..') {
      done.pop();
      continue;
    }
    const candidate = join(root, ...done, seg);
    let st;
    try {
      st = lstatSync(candidate);
    } catch {
      done.push(seg, ...parts);
      break;
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) throw new BvisorError('BV_MANIFEST_INVALID', `too many symlinks resolving ${path} in ${root}`);
      const target = readlinkSync(candidate);
      const tparts = target.split('/').filter((x) => x && x !== '.');
      if (target.startsWith('/')) done.length = 0;
      parts = [...tparts, ...parts];
    } else done.push(seg);
  }
  return join(root, ...done);
}

export interface ResolvedPaths {
  paths: PlanPaths;
  issues: Issue[];
}

export function resolvePlanPaths(m: NormalManifest, bundleDir: string, yaml: YamlReadResult, file: string): PlanPaths {
  const issues: Issue[] = [];
  const escape = (path: (string | number)[], clause: string, what: string): void => {
    const at = yaml.locate(path);
    issues.push({ code: 'BV_MANIFEST_PATH_ESCAPE', clause, message: `${what} resolves outside the bundle`, hint: 'bundle paths must stay inside the bundle, also through symlinks', file, line: at.line, col: at.col });
  };
  const inBundle = (rel: string, path: (string | number)[], clause: string): PathFact => {
    const segs = bundleRelativeSegments(rel) ?? [];
    const p = physical(join(bundleDir, ...segs));
    if (!inside(bundleDir, p)) {
      escape(path, clause, `"${rel}"`);
      return { path: p, kind: 'missing' };
    }
    return { path: p, kind: kindOf(p) };
  };

  const grants = m.filesystem.map((g) => {
    if (g.bundleRelative) return inBundle(g.path, ['filesystem', g.index, 'path'], `filesystem[${g.index}].path`);
    const p = physical(g.path);
    return { path: p, kind: kindOf(p) };
  });
  const root = m.root ? inBundle(m.root.path, ['root', 'path'], 'root.path') : null;
  let exe: PathFact | null = null;
  let module: PathFact | null = null;
  if (m.workload.kind === 'process') {
    if (root && root.kind === 'directory') {
      const p = resolveInRoot(root.path, m.workload.exe);
      exe = { path: p, kind: kindOf(p) };
    } else if (!root) {
      const p = physical(m.workload.exe);
      exe = { path: p, kind: kindOf(p) };
    }
  } else module = inBundle(m.workload.module, ['workload', 'wasm', 'module'], 'workload.wasm.module');
  if (issues.length) throw new BvisorError('BV_MANIFEST_INVALID', `${file}: ${issues.length} path(s) leave the bundle`, { issues, hint: issues[0]!.hint ?? undefined });
  return { grants, exe, module, root };
}

export interface LoadedBundle {
  bundle: OpenBundle;
  manifest: NormalManifest;
  paths: PlanPaths;
}

/** open → parse/validate → resolve paths. On any error the bundle's temp dir is removed. */
export function loadBundle(arg: string): LoadedBundle {
  const bundle = openBundle(arg);
  try {
    const file = posix.join(arg, MANIFEST_NAME);
    const { manifest, yaml } = loadManifest(bundle.manifestText, file);
    const paths = resolvePlanPaths(manifest, bundle.dir, yaml, file);
    return { bundle, manifest, paths };
  } catch (e) {
    bundle.cleanup();
    throw e;
  }
}

/** A manifest given as text (API users), resolved against a bundle directory. */
export function loadManifestText(text: string, dir: string, name = 'boundary.yaml'): LoadedBundle {
  const realDir = realpathSync(resolve(dir));
  const { manifest, yaml } = loadManifest(text, name);
  const paths = resolvePlanPaths(manifest, realDir, yaml, name);
  const bundle: OpenBundle = {
    source: realDir,
    dir: realDir,
    manifestPath: join(realDir, name),
    manifestText: text,
    manifestSha256: createHash('sha256').update(text, 'utf8').digest('hex'),
    cleanup: () => {},
  };
  return { bundle, manifest, paths };
}
