// Lexical path rules shared by the manifest checks and the planner. Pure: no filesystem access;
// the host layer resolves symlinks and checks that resolved paths stay inside the bundle.

/** POSIX normalisation without touching the disk: collapses //, ., and .. (never above /). */
export function normalizeAbsolute(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}

/** The directory holding an absolute, normal path (/ for / itself). */
export function parentOf(path: string): string {
  return path === '/' ? '/' : path.slice(0, path.lastIndexOf('/')) || '/';
}

export function isAbsolute(path: string): boolean {
  return path.startsWith('/');
}

/** Control characters (C0 and DEL): in a path they could forge lines of a plan table or an
 * error message on the caller's terminal, so no manifest path may hold one. */
export const hasControl = (s: string): boolean => /[\u0000-\u001f\u007f]/.test(s);

/** True when an absolute path is already in normal form (no //, ., .., trailing /). */
/** The longest name one directory entry may have (include/uapi/linux/limits.h). */
export const NAME_MAX = 255;
const utf8 = new TextEncoder();

/** Whether some component of a path is longer than any Linux filesystem holds (NAME_MAX bytes). */
export function hasNameTooLong(path: string): boolean {
  // A UTF-16 unit is at most 3 bytes of UTF-8: shorter names need no encoding.
  return path.split('/').some((c) => c.length * 3 > NAME_MAX && utf8.encode(c).length > NAME_MAX);
}

export function isNormalAbsolute(path: string): boolean {
  return isAbsolute(path) && normalizeAbsolute(path) === path && !hasControl(path);
}

/**
 * A bundle-relative path in normal form: `./out`, `rootfs`, `lib/x.wasm`. Returns the relative
 * segments, or null when the path is absolute, empty, contains NUL, or climbs with `..`.
 */
export function bundleRelativeSegments(path: string): string[] | null {
  if (path === '' || isAbsolute(path) || hasControl(path)) return null;
  const segs: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return null;
    segs.push(part);
  }
  return segs;
}

/** A grant path is bundle-relative when it starts with ./ (absolute paths are host paths). */
export function isBundleRelativeGrant(path: string): boolean {
  return path === '.' || path.startsWith('./');
}
