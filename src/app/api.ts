// The programmatic API for Node programs that launch many short workloads. Host facts are
// probed once per process (they do not change under a running program; pass refreshHost to
// re-probe). Secrets come only from options.secrets, descriptors only from options.fds.
import { resolve } from 'node:path';
import type { Denials, HostFacts, SealedReport } from '../contract/generated/types.js';
import { loadBundle, loadManifestText, type LoadedBundle } from '../host/bundle.js';
import { probeHost } from '../host/facts.js';
import { BvisorError } from '../contract/errors.js';
import { runLoaded } from './run.js';
import { secretVar } from '../core/secrets.js';
import { apiHandedFds } from '../host/fds.js';
import { loadJournalKey } from '../host/journal-store.js';
export { closeSpares } from './wasm.js';
import { commitOutputs as commitStaged, discardOutputs as discardStaged, journalSink, type Disposition } from './outputs.js';
import { sealedReportFor } from './report.js';
export type { Disposition } from './outputs.js';

export interface RunConfinedOptions {
  /** State root for the journal (and the container's directory when id is set). Default: none. */
  root?: string | null;
  id?: string | null;
  cgroupParent?: string | null;
  /** Secret values by name. A manifest may reference these and no others (default: none). */
  secrets?: Record<string, string>;
  /** Descriptors of yours to hand to the workload; a manifest's fds must be among them. */
  fds?: number[];
  refreshHost?: boolean;
  /** Key file of a keyed journal under root (0600, outside the root; see docs/journal.md). */
  journalKey?: string | null;
  /**
   * wasm workloads: keep a confined runner started ahead of time for the next run with the same
   * kind of boundary, hiding Node's start-up (about 50 ms). Call closeSpares() before exiting.
   */
  spare?: boolean;
  /** Observe seccomp denials (default true). Off, the filter denies the same calls and the
   * result's denials say seccomp was not observed. */
  observeDenials?: boolean;
}

export interface ConfinedResult {
  report: SealedReport;
  /** The workload's status as `bvisor run` would exit with it (128+N for signal N, 124 timeout). */
  exitStatus: number;
  stdout: Buffer | null;
  stderr: Buffer | null;
  /**
   * What the boundary blocked (report.body.denials): each denial with its clause and the manifest
   * line that would allow it, and for each source whether it was watched (docs/denials.md).
   */
  denials: Denials;
}

let hostCache: HostFacts | null = null;

export async function runConfined(bundle: string | { manifest: string; dir: string }, options: RunConfinedOptions = {}): Promise<ConfinedResult> {
  if (options.journalKey && !options.root) throw new BvisorError('BV_USAGE', 'journalKey needs a root: the journal it keys lives there', { hint: 'pass root as well, or drop journalKey' });
  if (!hostCache || options.refreshHost) hostCache = probeHost();
  const loaded: LoadedBundle = typeof bundle === 'string' ? loadBundle(bundle) : loadManifestText(bundle.manifest, bundle.dir);
  // Secrets travel only from the caller's map, never from bvisor's environment.
  const secretEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(options.secrets ?? {}).map(([k, v]) => [secretVar(k), v]));
  try {
    const out = await runLoaded(loaded, { id: options.id ?? null, root: options.root ? resolve(options.root) : null, cgroupParent: options.cgroupParent ?? null, secretEnv, secrets: Object.keys(options.secrets ?? {}), fds: apiHandedFds(options.fds ?? []), host: hostCache, spare: options.spare === true, journalKey: options.journalKey && options.root ? loadJournalKey(options.journalKey, resolve(options.root)) : null, ...(options.observeDenials === false ? { observeDenials: false } : {}) });
    return { report: out.report, exitStatus: out.exitStatus, stdout: out.stdout, stderr: out.stderr, denials: out.report.body.denials! };
  } finally {
    loaded.bundle.cleanup();
  }
}

/**
 * The host disposes (API): promote or drop what a run staged, by its sealed report (the one
 * runConfined returned, or the journal's under `root`). Each step is journaled under `root`.
 */
export function commitOutputs(root: string, report: SealedReport | string, o: { to?: string; artifacts?: readonly string[]; durable?: boolean } = {}): Disposition {
  const r = typeof report === 'string' ? sealedReportFor(resolve(root), report) : report;
  return commitStaged(resolve(root), r, { to: o.to ?? null, only: o.artifacts ?? [], durable: o.durable ?? false }, journalSink(resolve(root), null));
}

export function discardOutputs(root: string, report: SealedReport | string): Disposition {
  const r = typeof report === 'string' ? sealedReportFor(resolve(root), report) : report;
  return discardStaged(resolve(root), r, journalSink(resolve(root), null));
}
