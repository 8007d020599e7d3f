// bvisor gc: what crashed commands left under a state root, found and removed as delete -f would.
import { statSync } from 'node:fs';
import { checkStateRoot } from '../host/state-root.js';
import { join, relative } from 'node:path';
import type { RecoveredAttempt } from '../contract/generated/types.js';
import { BvisorError } from '../contract/errors.js';
import { idProblem } from '../core/ids.js';
import { sweepBundles } from '../host/extracted.js';
import { recoverForGc } from './recover.js';
import { alive } from '../host/proc.js';
import { orphanLocks, orphanMakers } from './outputs.js';
import { claimMaker, claimsIn, containerIds, containersDir, deleteContainer, derive, readState, removeDir, type JournalOptions } from './lifecycle.js';

export interface GcResult {
  /** Entries removed: broken containers (their processes killed, cgroups removed, a report
   * sealed and journaled where one can be) and half-made directories. */
  removed: Array<{ id: string; why: string; reportHash: string | null }>;
  /** Bundles extracted from archives whose owner (a bvisor process or container) is gone. */
  bundles: string[];
  /** Entries that could not be removed, and why. */
  failed: Array<{ id: string; error: string }>;
  /** Attempts bvisor recover's classification acted on first (docs/journal.md#recovery). */
  recovered?: RecoveredAttempt[];
}

/** A directory without state younger than this may be a create between mkdir and its lock. */
const HALF_MADE_GRACE_MS = 60_000;

/**
 * bvisor gc: finds what crashed commands left under the state root (a run or create killed
 * mid-way, a monitor lost) by their state and their processes, and removes it as delete -f
 * would. Containers that stopped normally are left for their owner's delete.
 */
export async function gcRoot(root: string, j: JournalOptions = {}): Promise<GcResult> {
  const out: GcResult = { removed: [], bundles: [], failed: [] };
  // A root that is not there holds nothing (loadExisting in app/lifecycle.ts says why it is
  // checked again here).
  if (!checkStateRoot(root)) return out;
  try {
    // The journal as a recovery log first: crashed attempts classified and cleaned up, each
    // recorded; a refused attempt's entry stays as evidence.
    const rec = await recoverForGc(root, j, out.failed);
    out.recovered = rec.recovered;
    const base = containersDir(root);
    // What a run killed while it set up leaves, nothing started for it yet, once its maker is gone:
    // its registration not yet renamed to its id, or its quarantine's maker record without the
    // quarantine (killed between the two writes).
    const leftovers = [
      ...claimsIn(root)
        .filter((name) => !alive(claimMaker(name)))
        .map((name) => ({ id: name, path: join(base, name), why: "a run's registration, never finished (its maker is gone)" })),
      ...orphanMakers(root).map((path) => ({ id: relative(root, path), path, why: "a quarantine's maker record, its quarantine never made (its maker is gone)" })),
      ...orphanLocks(root).map((path) => ({ id: relative(root, path), path, why: path.endsWith('.commit') ? "a quarantine's commit record, its quarantine gone" : "a quarantine's disposition lock, its quarantine gone" })),
    ];
    for (const l of leftovers) {
      try {
        removeDir(l.path);
        out.removed.push({ id: l.id, why: l.why, reportHash: null });
      } catch (e) {
        out.failed.push({ id: l.id, error: e instanceof BvisorError ? `${e.code}: ${e.message}` : String((e as Error).message ?? e) });
      }
    }
    for (const id of containerIds(root)) {
      const dir = join(base, id);
      try {
        if (idProblem(id) || rec.keep.has(id) || !statSync(dir).isDirectory()) continue;
        const s = readState(dir);
        if (!s) {
          if (Date.now() - statSync(dir).mtimeMs < HALF_MADE_GRACE_MS) continue;
          await deleteContainer(root, id, true, j);
          out.removed.push({ id, why: 'no readable state.json', reportHash: null });
          continue;
        }
        const d = derive(dir, s);
        if (d.status !== 'stopped' || !d.broken) continue;
        const r = await deleteContainer(root, id, true, j);
        out.removed.push({ id, why: d.broken, reportHash: r.report?.bodyHash ?? null });
      } catch (e) {
        out.failed.push({ id, error: e instanceof BvisorError ? `${e.code}: ${e.message}` : String((e as Error).message ?? e) });
      }
    }
  } finally {
    // Extracted bundles last, and even when the state root could not be read: a create killed
    // before it handed its bundle to the container leaves one whose owner (that create) is gone
    // while a container set up from it (its root, say) is still there until recovery or the
    // deletions above have torn it down.
    out.bundles = sweepBundles();
  }
  return out;
}

