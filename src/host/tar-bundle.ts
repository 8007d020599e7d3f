// Bundles shipped as .tar / .tar.gz. The archive is checked entry by entry BEFORE anything is
// written (absolute paths, .., links that leave the bundle, entries reached through a symlink
// the archive made, device nodes and FIFOs, oversize archives), then extracted with the `tar`
// package into a private 0700 temp dir, then the extracted tree is walked once more with lstat
// as a second, independent check. Any failure removes the temp dir.
import { mkdtempSync, rmSync, lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type * as TarNs from 'tar';

// tar is loaded on first use: only commands that read an archive pay for it.
function tarLib(): typeof TarNs {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('tar') as typeof TarNs;
}
import { BvisorError } from '../contract/errors.js';

export interface TarLimits {
  /** Sum of entry sizes (decompressed). */
  maxBytes: number;
  maxEntries: number;
}
export const DEFAULT_TAR_LIMITS: TarLimits = { maxBytes: 1 << 30, maxEntries: 100_000 };

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);
// Metadata records that describe the next entry; they are not written to disk.
const META_TYPES = new Set(['ExtendedHeader', 'GlobalExtendedHeader', 'NextFileHasLongPath', 'NextFileHasLongLinkpath', 'OldExtendedHeader']);

export function isTarBundle(path: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/.test(path);
}

function unsafe(archive: string, entry: string, why: string): BvisorError {
  return new BvisorError('BV_BUNDLE_UNSAFE_TAR', `${archive}: entry "${entry}" ${why}`, {
    hint: 'rebuild the archive from a plain directory (tar -C bundle -cf bundle.tar .), or pass the directory itself',
    detail: { entry },
  });
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

export function checkTar(archive: string, limits: TarLimits = DEFAULT_TAR_LIMITS): { entries: number; bytes: number } {
  let bytes = 0;
  let entries = 0;
  const symlinks = new Set<string>();
  let failure: BvisorError | null = null;
  const fail = (e: BvisorError): void => {
    if (!failure) failure = e;
  };
  try {
    tarLib().t({
      file: archive,
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
        // An entry reached through a symlink made earlier by this archive could land anywhere.
        const parts = p.split('/');
        for (let i = 1; i < parts.length; i++) {
          if (symlinks.has(parts.slice(0, i).join('/'))) return fail(unsafe(archive, raw, `is reached through the symlink ${parts.slice(0, i).join('/')}`));
        }
        if (type === 'SymbolicLink' || type === 'Link') {
          const target = entry.linkpath ?? '';
          if (target === '' || target.startsWith('/')) return fail(unsafe(archive, raw, `links to an absolute path (${target || 'empty'})`));
          // Walk the raw target from where it will be resolved (the link's directory for a
          // symlink, the archive root for a hard link). Climbing above the root, or passing
          // through a symlink this archive made, is refused: normalising first would hide
          // `r -> .` followed by `esc -> r/..`.
          const cur = type === 'SymbolicLink' ? parts.slice(0, -1) : [];
          const segs = target.split('/').filter((x) => x !== '' && x !== '.');
          for (let i = 0; i < segs.length; i++) {
            const seg = segs[i]!;
            if (seg === '..') {
              if (cur.length === 0) return fail(unsafe(archive, raw, `links outside the bundle (${target})`));
              cur.pop();
            } else {
              cur.push(seg);
              if (i < segs.length - 1 && symlinks.has(cur.join('/'))) return fail(unsafe(archive, raw, `links through the symlink ${cur.join('/')} (${target})`));
            }
          }
          if (type === 'SymbolicLink') symlinks.add(p);
        } else symlinks.delete(p);
      },
    });
  } catch (e) {
    if (failure) throw failure;
    throw new BvisorError('BV_BUNDLE_TAR_INVALID', `${archive}: cannot read archive: ${(e as Error).message}`, { hint: 'check that it is a tar or gzip-compressed tar file', cause: e });
  }
  if (failure) throw failure;
  return { entries, bytes };
}

/** Walks an extracted tree and refuses anything a check missed: links that resolve outside. */
function verifyTree(root: string, archive: string): void {
  const realRoot = realpathSync(root);
  const stack = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    const abs = join(root, rel);
    for (const name of readdirSync(abs)) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r));
      if (st.isSymbolicLink()) {
        const target = readlinkSync(join(root, r));
        let inside: boolean;
        try {
          const real = realpathSync(join(root, r));
          inside = real === realRoot || real.startsWith(realRoot + '/');
        } catch {
          // Dangling: judge the text, from the link's physical directory.
          const rel2 = posix.normalize(posix.join(posix.relative(realRoot, realpathSync(join(root, posix.dirname(r)))), target));
          inside = !target.startsWith('/') && rel2 !== '..' && !rel2.startsWith('../');
        }
        if (!inside) throw unsafe(archive, r, `links outside the bundle (${target})`);
      } else if (st.isDirectory()) stack.push(r);
      else if (!st.isFile()) throw unsafe(archive, r, 'is not a file, directory or link');
    }
  }
}

export interface Extracted {
  dir: string;
  cleanup(): void;
}

export function extractTarBundle(archive: string, limits: TarLimits = DEFAULT_TAR_LIMITS): Extracted {
  checkTar(archive, limits);
  const dir = mkdtempSync(join(tmpdir(), 'bvisor-bundle-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    tarLib().x({ file: archive, cwd: dir, sync: true, strict: true, preservePaths: false, preserveOwner: false, noChmod: false, unlink: false });
    verifyTree(dir, archive);
  } catch (e) {
    cleanup();
    if (e instanceof BvisorError) throw e;
    throw new BvisorError('BV_BUNDLE_TAR_INVALID', `${archive}: cannot extract: ${(e as Error).message}`, { cause: e });
  }
  return { dir, cleanup };
}
