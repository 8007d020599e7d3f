// The per-backend table `bvisor check` prints: for each kind of clause, the strongest mechanism
// this host offers, or why there is none. It asks the same feature tables the planner uses, on
// a synthetic manifest per clause, so check and plan can never disagree.
import type { HostFacts } from '../contract/generated/types.js';
import type { NormalManifest, LimitName } from './manifest.js';
import { FEATURES, type Backend, type Candidate, type FeatureCtx, type PathFact } from './features.js';

export interface CapabilityRow {
  backend: Backend;
  clause: string;
  mechanism: string | null;
  strength: string | null;
  reason: string | null;
}

function base(kind: 'process' | 'wasm'): NormalManifest {
  return {
    workload: kind === 'process' ? { kind, exe: '/bin/true', args: [], cwd: '/' } : { kind, module: 'm.wasm', args: [], deterministic: false, seed: null },
    root: null,
    filesystem: [],
    network: { value: { mode: 'deny', connect: [], bind: [] }, guarantee: 'enforced', explicit: true },
    spawn: { value: 'deny', guarantee: 'enforced', explicit: true },
    env: [],
    fds: [],
    stdio: { stdin: 'null', stdout: 'inherit', stderr: 'inherit' },
    limits: {},
    tmp: { value: 'none', guarantee: 'enforced', explicit: true },
    syscalls: { value: 'errno', guarantee: 'enforced', explicit: false },
    isolate: { value: { signals: false, abstractUnix: false }, guarantee: 'enforced', explicit: false },
    capabilities: [],
    defaultGuarantee: 'enforced',
    explicitDefaultGuarantee: false,
  };
}

/** A directory as `check` supposes it: the workload's own (so a write grant needs no idmap). */
const dirFor = (host: HostFacts): PathFact => ({ path: '/srv/data', kind: 'directory', dev: '0', ino: '0', uid: host.mapping.uid, gid: host.mapping.gid, mode: 0o755 });

function best(backend: Backend, clause: string, cands: Candidate[]): CapabilityRow {
  const ok = cands.find((c) => c.available);
  if (ok) return { backend, clause, mechanism: ok.mechanism, strength: ok.strength, reason: null };
  const no = cands.find((c): c is Extract<Candidate, { available: false }> => !c.available);
  return { backend, clause, mechanism: null, strength: null, reason: no?.reason ?? 'no mechanism' };
}

export function capabilityTable(host: HostFacts, cgroupParent: string | null): CapabilityRow[] {
  const rows: CapabilityRow[] = [];
  for (const backend of ['linux', 'wasm'] as const) {
    const f = FEATURES[backend];
    const m0 = base(backend === 'linux' ? 'process' : 'wasm');
    const dir = dirFor(host);
    const ctx = (m: NormalManifest): FeatureCtx => ({ host, manifest: m, paths: { grants: [dir, dir], exe: { path: '/bin/true', kind: 'file', mode: 0o755 }, module: { path: '/b/m.wasm', kind: 'file', mode: 0o644 }, root: dir }, cgroupParent });
    rows.push(best(backend, 'filesystem (deny by default)', f.filesystemDefault(ctx(m0))));
    for (const access of ['read', 'read-write'] as const) {
      const m = { ...m0, filesystem: [{ index: 0, path: '/srv/data', bundleRelative: false, access, recursive: true, guarantee: 'enforced' as const }] };
      rows.push(best(backend, `filesystem grant (${access})`, f.grant(ctx(m), m.filesystem[0]!)));
    }
    if (backend === 'linux') rows.push(best(backend, 'root (container mode)', f.root(ctx({ ...m0, root: { path: 'rootfs', readonly: true, guarantee: 'enforced' } }))));
    for (const mode of ['deny', 'loopback', 'ports'] as const) {
      const m = { ...m0, network: { value: { mode, connect: mode === 'ports' ? [443] : [], bind: [] }, guarantee: 'enforced' as const, explicit: true } };
      rows.push(best(backend, `network: ${mode === 'ports' ? '{connect: [443]}' : mode}`, f.network(ctx(m))));
    }
    for (const value of ['deny', 'threads', 'descendants'] as const) {
      const m = { ...m0, spawn: { value, guarantee: 'enforced' as const, explicit: true }, limits: value === 'descendants' ? { processes: { value: 64, guarantee: 'enforced' as const, explicit: true } } : {} };
      rows.push(best(backend, `spawn: ${value}`, f.spawn(ctx(m))));
    }
    rows.push(best(backend, 'syscalls (default denylist)', f.syscalls(ctx(m0))));
    rows.push(best(backend, 'tmp: private', f.tmp(ctx({ ...m0, tmp: { value: 'private', guarantee: 'enforced', explicit: true } }))));
    const samples: Record<LimitName, number> = { wall: 30_000, cpu: 10_000, cpus: 0.5, memory: 256 * 2 ** 20, processes: 64, openFiles: 256, fuel: 1e9, output: 2 ** 20, tmpSize: 64 * 2 ** 20 };
    for (const name of Object.keys(samples) as LimitName[]) {
      if (backend === 'linux' && name === 'fuel') continue;
      const m = { ...m0, tmp: { value: 'private' as const, guarantee: 'enforced' as const, explicit: true } };
      rows.push(best(backend, `limits.${name}`, f.limit(ctx(m), name, samples[name])));
    }
  }
  return rows;
}
