// Bundles extracted from archives: tmpdir()/bvisor-bundle-*/ (0700), holding bundle/ and an
// owner.json that names who it belongs to: the bvisor process extracting and using it, or the
// container that kept it until delete (create from a .tar). A crash leaves such a directory
// behind with a dead owner; sweepBundles (bvisor gc) finds and removes those.
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { removeTree } from './remove-tree.js';
import { alive } from './proc.js';

export const TEMP_PREFIX = 'bvisor-bundle-';
const OWNER_FILE = 'owner.json';
/**
 * An owner-less directory: an extraction killed between mkdtemp and its claim (a moment), or one
 * made by a bvisor from before owner.json existed, which may still be using it: only a day later
 * is it taken for litter.
 */
const UNCLAIMED_GRACE_MS = 24 * 3600_000;

export type BundleOwner = { pid: number; startTime: string } | ContainerOwner;
/** A container that kept its bundle until delete (create from a .tar). */
type ContainerOwner = { stateDir: string; runId: string };

export function writeOwner(top: string, owner: BundleOwner): void {
  writeFileAtomic(join(top, OWNER_FILE), JSON.stringify(owner) + '\n');
}

// rm -rf by descriptor, which also copes with directories the archive made unreadable (mode 000)
// and with trees deeper than PATH_MAX (host/remove-tree.ts); tar-bundle.ts takes it from here.
export { removeTree };

/** What owner.json says (throws when it is missing or unreadable). */
function readOwner(top: string): BundleOwner {
  return JSON.parse(readFileSync(join(top, OWNER_FILE), 'utf8')) as BundleOwner;
}

function ownerGone(top: string): boolean {
  let owner: BundleOwner;
  try {
    owner = readOwner(top);
  } catch {
    try {
      return Date.now() - lstatSync(top).mtimeMs > UNCLAIMED_GRACE_MS;
    } catch {
      return false;
    }
  }
  if ('pid' in owner) return !alive(owner);
  // A container's directory, recorded absolute; anything else is not ours to judge: keep it.
  if (typeof owner.stateDir !== 'string' || !isAbsolute(owner.stateDir)) return false;
  try {
    return (JSON.parse(readFileSync(join(owner.stateDir, 'state.json'), 'utf8')) as { runId?: string }).runId !== owner.runId;
  } catch {
    return !existsSync(owner.stateDir);
  }
}

/** Removes extracted bundles (ours) whose owner is gone; returns what was removed. */
export function sweepBundles(parent: string = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith(TEMP_PREFIX));
  } catch {
    return removed;
  }
  for (const name of names) {
    const top = join(parent, name);
    try {
      const st = lstatSync(top);
      if (!st.isDirectory() || st.uid !== process.geteuid?.()) continue;
      if (!ownerGone(top)) continue;
      removeTree(top);
      removed.push(top);
    } catch {
      // raced with its owner's own cleanup
    }
  }
  return removed;
}

/**
 * Removes a bundle a container kept, once the container is deleted. state.json names it, and the
 * removal is recursive: only a directory of ours that extraction made and whose owner.json names
 * this very container (its state directory and run id, as keep() wrote them) goes; anything else
 * is left for gc's sweep, which judges owners on its own.
 */
export function removeKeptBundle(top: string, owner: ContainerOwner): void {
  if (!isAbsolute(top) || !basename(top).startsWith(TEMP_PREFIX)) return;
  try {
    const st = lstatSync(top);
    if (!st.isDirectory() || st.uid !== process.geteuid?.()) return;
    const named = readOwner(top) as Partial<ContainerOwner>;
    if (named.stateDir !== owner.stateDir || named.runId !== owner.runId) return;
  } catch {
    return; // gone, or no owner to match
  }
  removeTree(top);
}
