// bvisor validate / plan: load a bundle, probe the host, run the planner. The bundle's temp dir
// (for a tar) is removed before returning, whatever happens (a removal that fails after a
// refusal is said beside the refusal, not in its place).
import type { Plan } from '../contract/generated/types.js';
import { loadBundle } from '../host/bundle.js';
import { probeHost } from '../host/facts.js';
import { perRunIds } from '../core/host-view.js';
import { everyHostRefused, planLoaded, refusalIssues, refusedHeadline, reservedPaths, type PlanOptions } from './run.js';
import { planOwnProcesses } from './wasm.js';
import { backendOf } from '../core/features.js';
import { BvisorError, withCleanup, type Issue } from '../contract/errors.js';
import { refuseBundleHostDestination } from './outputs.js';

export interface ValidateResult {
  bundle: string;
  manifest: string;
  manifestSha256: string;
  backend: 'linux' | 'wasm';
  clauses: number;
}

export function validateBundle(arg: string): ValidateResult {
  const loaded = loadBundle(arg);
  const { bundle, manifest } = loaded;
  return withCleanup(
    () => {
      // What the manifest earns on every host, from the planner against one with everything
      // (core/every-host.ts): no probe of this one, no state root or cache reserved or made.
      // And what the bundle itself lacks (its module, its rootfs, a ./ grant), and what an OCI
      // config asks that bvisor never gives: both go with the bundle.
      const every = everyHostRefused(loaded);
      if (every.length) {
        throw new BvisorError('BV_MANIFEST_INVALID', `${every.length} clause(s) would be refused on every host (bvisor plan says what this host refuses besides)`, {
          issues: refusalIssues({ refusals: every }, loaded),
          hint: every[0]!.hint,
        });
      }
      return {
        bundle: bundle.source,
        manifest: bundle.manifestPath.startsWith(bundle.dir) && bundle.source !== bundle.dir ? `${arg}:boundary.yaml` : bundle.manifestPath,
        manifestSha256: bundle.manifestSha256,
        backend: backendOf(manifest),
        clauses: 1 + manifest.filesystem.length + Object.keys(manifest.limits).length + manifest.env.length,
      };
    },
    bundle.cleanup,
  );
}

export interface PlanResult {
  bundle: string;
  plan: Plan;
  /** An admitted wasm plan whose run would still be refused, before anything runs: the runner's
   * or the rewriter's own boundary refused here, or their preloaded library missing. */
  ownProcesses: BvisorError | null;
  /** The plan's refusals as issues, each located in the manifest where it writes the clause. */
  refusals: Issue[];
  /** How many were refused, and how many of them on every host (null when admitted). */
  refusedHeadline: string | null;
}

export function planBundle(arg: string, opts: PlanOptions): PlanResult {
  const loaded = loadBundle(arg);
  const { bundle } = loaded;
  return withCleanup(() => {
    // As run and create refuse it (a plan has no --outputs-to to replace it with).
    refuseBundleHostDestination(loaded.manifest);
    const probed = probeHost();
    // Where each launch takes ids of its own, this plan cannot know which: it shows the range's
    // first, and says so (a run's or a container's plan names its own).
    const host = perRunIds(probed) ? { ...probed, mapping: { ...probed.mapping, source: `${probed.mapping.source}: the range's first; each launch takes an id of its own from the range` } } : probed;
    const reserved = reservedPaths(opts.root);
    const plan = planLoaded(loaded, host, opts, reserved);
    let ownProcesses: BvisorError | null = null;
    if (plan.admitted && plan.backend === 'wasm') {
      try {
        planOwnProcesses(plan, loaded.manifest, host, reserved);
      } catch (e) {
        if (!(e instanceof BvisorError)) throw e;
        ownProcesses = e;
      }
    }
    return { bundle: bundle.source, plan, ownProcesses, refusals: refusalIssues(plan, loaded), refusedHeadline: plan.admitted ? null : refusedHeadline(plan, loaded) };
  }, bundle.cleanup);
}
