// bvisor validate / plan: load a bundle, probe the host, run the planner. The bundle's temp dir
// (for a tar) is removed before returning, whatever happens.
import type { Plan } from '../contract/generated/types.js';
import { loadBundle } from '../host/bundle.js';
import { probeHost } from '../host/facts.js';
import { planLoaded, type PlanOptions } from './run.js';
import { backendOf } from '../core/features.js';

export interface ValidateResult {
  bundle: string;
  manifest: string;
  manifestSha256: string;
  backend: 'linux' | 'wasm';
  clauses: number;
}

export function validateBundle(arg: string): ValidateResult {
  const { bundle, manifest } = loadBundle(arg);
  try {
    return {
      bundle: bundle.source,
      manifest: bundle.manifestPath.startsWith(bundle.dir) && bundle.source !== bundle.dir ? `${arg}:boundary.yaml` : bundle.manifestPath,
      manifestSha256: bundle.manifestSha256,
      backend: backendOf(manifest),
      clauses: 1 + manifest.filesystem.length + Object.keys(manifest.limits).length + manifest.env.length,
    };
  } finally {
    bundle.cleanup();
  }
}

export interface PlanResult {
  bundle: string;
  plan: Plan;
}

export function planBundle(arg: string, opts: PlanOptions): PlanResult {
  const loaded = loadBundle(arg);
  const { bundle } = loaded;
  try {
    const plan = planLoaded(loaded, probeHost(), opts);
    return { bundle: bundle.source, plan };
  } finally {
    bundle.cleanup();
  }
}
