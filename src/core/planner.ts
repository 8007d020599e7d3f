// The fail-closed planner (pure): manifest + host facts + resolved paths → a plan in which every
// clause has a verdict and a mechanism, or the refusals of every clause that cannot be backed.
// A clause is admitted only by a mechanism at least as strong as the guarantee it asks for;
// weaker guarantees are honoured only where the manifest names them, and the verdict records it.
// Nothing here touches the host: facts come in as data, the hash function as an argument.
import type { HostFacts, Plan, ClauseVerdict, Refusal, LaunchInputs, Guarantee, FsRule, CgroupLimit, RlimitSetting } from '../contract/generated/types.js';
import type { NormalManifest, LimitName } from './manifest.js';
import { LIMIT_NAMES } from './manifest.js';
import { FEATURES, STRENGTH_RANK, backendOf, type Backend, type Candidate, type FeatureCtx, type PlanPaths } from './features.js';
import { rightsFor, FS_RIGHTS } from './landlock.js';
import { canNamespace, cgroupFor } from './host-view.js';
import { contentHash, type Sha256Hex } from './seal.js';
import { formatSize, formatDuration } from './units.js';
import { CAPABILITY_NUMBERS } from './capability-names.js';
import { secretVar } from './secrets.js';

export interface PlanInput {
  manifest: NormalManifest;
  host: HostFacts;
  paths: PlanPaths;
  /** A cgroup parent the user named (relative to our own cgroup), or null. */
  cgroupParent: string | null;
  /** Force a backend; by default the workload decides (process → linux, wasm → wasm). */
  backend?: Backend;
}

/** Bytes kept per captured stream when the manifest captures without limits.output. */
export const DEFAULT_OUTPUT_CAP = 16 * 2 ** 20;

interface Choice {
  verdict: ClauseVerdict;
  refusal: Refusal | null;
}

function choose(clause: string, requested: string, guarantee: Guarantee, candidates: Candidate[]): Choice {
  const want = STRENGTH_RANK[guarantee];
  const pick = candidates.find((c) => c.available && STRENGTH_RANK[c.strength] >= want);
  if (pick) {
    const reason = pick.available && pick.note ? pick.note : pick.strength !== 'enforced' ? `accepted because the clause asks only for ${guarantee}` : null;
    return { verdict: { clause, requested, guarantee, verdict: pick.strength, mechanism: pick.mechanism, reason }, refusal: null };
  }
  const weaker = candidates.find((c) => c.available);
  const blocked = candidates.find((c): c is Extract<Candidate, { available: false }> => !c.available && STRENGTH_RANK[c.strength] >= want);
  let refusal: Refusal;
  if (blocked) {
    let hint = blocked.hint;
    if (weaker && !hint.includes('guarantee:')) hint += `; or accept ${weaker.mechanism} by marking the clause guarantee: ${weaker.strength}`;
    refusal = { code: blocked.code, clause, reason: blocked.reason, hint };
  } else if (weaker) {
    refusal = { code: 'BV_PLAN_WEAKER_THAN_REQUESTED', clause, reason: `only ${weaker.mechanism} (${weaker.strength}) is available, and the clause asks for ${guarantee}`, hint: `mark the clause guarantee: ${weaker.strength} to accept it` };
  } else {
    refusal = { code: 'BV_PLAN_BACKEND_UNSUPPORTED', clause, reason: 'no mechanism backs this clause', hint: 'remove the clause' };
  }
  return { verdict: { clause, requested, guarantee, verdict: 'refused', mechanism: null, reason: refusal.reason }, refusal };
}

function notRequested(clause: string, requested: string, guarantee: Guarantee, reason: string): Choice {
  return { verdict: { clause, requested, guarantee, verdict: 'not-requested', mechanism: null, reason }, refusal: null };
}

function limitWords(name: LimitName, v: number): string {
  if (name === 'wall' || name === 'cpu') return formatDuration(v);
  if (name === 'memory' || name === 'output' || name === 'tmpSize') return formatSize(v);
  return String(v);
}

export function plan(input: PlanInput, sha256: Sha256Hex): Plan {
  const { manifest: m, host } = input;
  const backend = input.backend ?? backendOf(m);
  const f = FEATURES[backend];
  const ctx: FeatureCtx = { host, manifest: m, paths: input.paths, cgroupParentNamed: input.cgroupParent !== null };
  const choices: Choice[] = [];
  const dg = m.defaultGuarantee;

  // Refuse a workload kind the chosen backend cannot run at all.
  const kindOk = (backend === 'linux') === (m.workload.kind === 'process');
  const w = m.workload;
  const wWords = w.kind === 'process' ? `process ${[w.exe, ...w.args].join(' ')}` : `wasm ${w.module}${w.args.length ? ' ' + w.args.join(' ') : ''}`;
  if (!kindOk) choices.push(choose('workload', wWords, dg, [{ available: false, mechanism: `${backend}:workload`, strength: 'enforced', code: 'BV_PLAN_BACKEND_UNSUPPORTED', reason: `the ${backend} backend does not run ${w.kind} workloads`, hint: `use the ${w.kind === 'process' ? 'linux' : 'wasm'} backend` }]));
  else choices.push(choose('workload', wWords, dg, f.workload(ctx)));

  if (m.root) choices.push(choose('root', `${m.root.path}${m.root.readonly ? ' (read-only)' : ''}`, m.root.guarantee, f.root(ctx)));

  choices.push(choose('filesystem', m.filesystem.length ? `deny except ${m.filesystem.length} grant(s)` : 'deny everything', dg, f.filesystemDefault(ctx)));
  for (const g of m.filesystem) {
    choices.push(choose(`filesystem[${g.index}]`, `${g.path} ${g.access}${g.recursive ? '' : ' (non-recursive)'}`, g.guarantee, f.grant(ctx, g)));
  }

  // In host mode the program must be reachable through an executable grant, or exec fails with
  // EACCES under landlock; say so now rather than at launch.
  if (backend === 'linux' && w.kind === 'process' && !m.root && input.paths.exe && input.paths.exe.kind === 'file') {
    const exePath = input.paths.exe.path;
    const covered = m.filesystem.some((g) => {
      const p = input.paths.grants[g.index]?.path;
      if (!p || !g.access.includes('exec')) return false;
      return p === exePath || (g.recursive && (p === '/' || exePath.startsWith(p + '/')));
    });
    if (!covered) {
      const i = choices.findIndex((c) => c.verdict.clause === 'workload');
      const refusal: Refusal = { code: 'BV_PLAN_EXE_NOT_GRANTED', clause: 'workload', reason: `${exePath} is not under a read-exec filesystem grant, so landlock would refuse to run it`, hint: `add { path: ${exePath.slice(0, exePath.lastIndexOf('/')) || '/'}, access: read-exec } (and its libraries) to filesystem` };
      choices[i] = { verdict: { ...choices[i]!.verdict, verdict: 'refused', mechanism: null, reason: refusal.reason }, refusal };
    }
  }

  const net = m.network.value;
  const netWords = net.mode === 'ports' ? `tcp ${net.connect.length ? 'connect ' + net.connect.join(',') : ''}${net.bind.length ? ' bind ' + net.bind.join(',') : ''}`.trim() : `${net.mode}${m.network.explicit ? '' : ' (default)'}`;
  choices.push(choose('network', netWords, m.network.guarantee, f.network(ctx)));
  choices.push(choose('spawn', `${m.spawn.value}${m.spawn.explicit ? '' : ' (default)'}`, m.spawn.guarantee, f.spawn(ctx)));
  choices.push(choose('syscalls', `default denylist (mount, ptrace, bpf, keyctl, …), denials: ${m.syscalls.value}`, m.syscalls.guarantee, f.syscalls(ctx)));
  choices.push(choose('capabilities', m.capabilities.length ? `keep ${m.capabilities.join(', ')}` : 'none', dg, f.capabilities(ctx)));

  const envWords = m.env.length === 0 ? 'empty' : m.env.map((e) => (e.secret ? `${e.name}=<secret ${e.secret}>` : e.name)).join(' ');
  choices.push(choose('env', envWords, dg, [{ available: true, mechanism: `${backend}:env(exact,${m.env.length} var${m.env.length === 1 ? '' : 's'})`, strength: 'enforced' }]));
  for (const e of m.env) {
    if (e.secret) choices.push(choose(`env.${e.name}`, `secret ${e.secret}`, dg, [{ available: true, mechanism: `secret:env(${secretVar(e.secret)})`, strength: 'enforced' }]));
  }
  choices.push(choose('fds', m.fds.length ? `pass ${m.fds.join(',')} as 3..${2 + m.fds.length}` : 'none (stdio only)', dg, f.fds(ctx)));
  choices.push(choose('stdio', `stdin=${m.stdio.stdin} stdout=${m.stdio.stdout} stderr=${m.stdio.stderr}`, dg, [{ available: true, mechanism: `${backend}:stdio`, strength: 'enforced' }]));
  if (m.isolate.value.signals || m.isolate.value.abstractUnix) {
    choices.push(choose('isolate', [m.isolate.value.signals ? 'signals' : '', m.isolate.value.abstractUnix ? 'abstract unix sockets' : ''].filter(Boolean).join(', '), m.isolate.guarantee, f.isolate(ctx)));
  }
  if (m.tmp.value === 'private') choices.push(choose('tmp', 'private', m.tmp.guarantee, f.tmp(ctx)));
  else choices.push(notRequested('tmp', `none${m.tmp.explicit ? '' : ' (default)'}`, m.tmp.guarantee, 'no /tmp is granted'));

  const capturing = m.stdio.stdout === 'capture' || m.stdio.stderr === 'capture';
  for (const name of LIMIT_NAMES) {
    const l = m.limits[name];
    if (l) choices.push(choose(`limits.${name}`, limitWords(name, l.value), l.guarantee, f.limit(ctx, name, l.value)));
    else if (name === 'output' && capturing) {
      const c = choose('limits.output', `${formatSize(DEFAULT_OUTPUT_CAP)} (default for captured streams)`, dg, f.limit(ctx, 'output', DEFAULT_OUTPUT_CAP));
      c.verdict.reason = 'default cap for captured streams';
      choices.push(c);
    } else if (name === 'fuel' && backend === 'linux') continue;
    else choices.push(notRequested(`limits.${name}`, 'unlimited', dg, 'not requested by the manifest'));
  }

  const clauses = choices.map((c) => c.verdict);
  const refusals = choices.flatMap((c) => (c.refusal ? [c.refusal] : []));
  const admitted = refusals.length === 0;
  const body: Plan = {
    bvisorVersion: '1',
    kind: 'bvisor.plan',
    backend,
    admitted,
    planHash: null,
    clauses,
    refusals,
    launch: admitted ? launchInputs(input, backend) : null,
  };
  body.planHash = contentHash(body, sha256);
  return body;
}

function launchInputs(input: PlanInput, backend: Backend): LaunchInputs {
  const { manifest: m, host, paths } = input;
  const w = m.workload;
  const filesystem: FsRule[] = m.filesystem.map((g) => {
    const fact = paths.grants[g.index]!;
    const kind = fact.kind === 'directory' ? 'directory' : fact.kind === 'file' ? 'file' : 'other';
    const rights = rightsFor(g.access, kind, fact.path).filter((r) => FS_RIGHTS[r].abi <= host.landlock.abi);
    // Container mode: grants are bind-mounted into the rootfs; bundle-relative ones at /<rel>.
    // wasm: preopens are named the same way, so a guest sees ./data as /data.
    const target = m.root || backend === 'wasm' ? (g.bundleRelative ? '/' + g.path.split('/').filter((x) => x && x !== '.').join('/') : fact.path) : fact.path;
    return { clause: `filesystem[${g.index}]`, path: fact.path, target, access: g.access, recursive: g.recursive, kind, rights };
  });
  const limits: CgroupLimit[] = [];
  const rlimits: RlimitSetting[] = [];
  const parentNamed = input.cgroupParent !== null;
  const addCg = (clause: string, controller: string, v2: [string, string][], v1: [string, string][]): void => {
    const c = cgroupFor(host, controller, parentNamed);
    if (!c.ok) return;
    for (const [file, value] of c.choice.version === 2 ? v2 : v1) limits.push({ clause, version: c.choice.version, controller, file, value });
  };
  if (backend === 'linux') {
    const L = m.limits;
    if (L.memory) {
      const v = String(L.memory.value);
      addCg('limits.memory', 'memory', [['memory.max', v], ['memory.swap.max', '0']], [['memory.limit_in_bytes', v], ['memory.swappiness', '0']]);
      if (!limits.some((l) => l.clause === 'limits.memory')) rlimits.push({ clause: 'limits.memory', resource: 'as', soft: L.memory.value, hard: L.memory.value });
    }
    if (L.processes) {
      const v = String(L.processes.value);
      addCg('limits.processes', 'pids', [['pids.max', v]], [['pids.max', v]]);
      if (!limits.some((l) => l.clause === 'limits.processes')) rlimits.push({ clause: 'limits.processes', resource: 'nproc', soft: L.processes.value, hard: L.processes.value });
    }
    if (L.cpus) {
      const period = 100_000;
      const quota = Math.max(1000, Math.round(L.cpus.value * period));
      addCg('limits.cpus', 'cpu', [['cpu.max', `${quota} ${period}`]], [['cpu.cfs_period_us', String(period)], ['cpu.cfs_quota_us', String(quota)]]);
    }
    if (L.cpu && m.spawn.value !== 'descendants') {
      const s = Math.ceil(L.cpu.value / 1000);
      rlimits.push({ clause: 'limits.cpu', resource: 'cpu', soft: s, hard: s });
    }
    if (L.openFiles) rlimits.push({ clause: 'limits.openFiles', resource: 'nofile', soft: L.openFiles.value, hard: L.openFiles.value });
  }
  const capturing = m.stdio.stdout === 'capture' || m.stdio.stderr === 'capture';
  const namespaces: LaunchInputs['namespaces'] = [];
  if (backend === 'linux') {
    if (host.userns.canCreate) namespaces.push('user');
    if (canNamespace(host)) {
      namespaces.push('pid', 'mount', 'ipc', 'uts', 'cgroup');
      if (m.network.value.mode === 'deny' || m.network.value.mode === 'loopback') namespaces.push('net');
    }
  }
  const workload: LaunchInputs['workload'] =
    w.kind === 'process'
      ? { kind: 'process', path: paths.exe?.path ?? w.exe, argv0: w.exe, args: w.args, cwd: w.cwd }
      : { kind: 'wasm', path: paths.module?.path ?? w.module, argv0: w.module, args: w.args, cwd: '/', deterministic: w.deterministic, seed: w.seed };
  return {
    workload,
    env: m.env.map((e) => (e.secret ? { name: e.name, secret: e.secret } : { name: e.name, value: e.value ?? '' })),
    filesystem,
    landlockAbi: host.landlock.abi,
    network: { mode: m.network.value.mode, connect: m.network.value.connect, bind: m.network.value.bind },
    spawn: m.spawn.value,
    fds: m.fds,
    stdio: m.stdio,
    namespaces,
    cgroup: { parent: input.cgroupParent, limits },
    rlimits,
    wallMs: m.limits.wall?.value ?? null,
    cpuMs: m.limits.cpu?.value ?? null,
    fuel: m.limits.fuel?.value ?? null,
    memoryBytes: m.limits.memory?.value ?? null,
    outputBytes: m.limits.output?.value ?? (capturing ? DEFAULT_OUTPUT_CAP : 0),
    tmp: { mode: m.tmp.value, sizeBytes: m.limits.tmpSize?.value ?? null },
    root: m.root && paths.root ? { path: paths.root.path, readonly: m.root.readonly } : null,
    syscalls: { deny: m.syscalls.value },
    capabilities: m.capabilities.map((c) => CAPABILITY_NUMBERS[c]!).sort((a, b) => a - b),
    scope: [...(m.isolate.value.signals ? (['signal'] as const) : []), ...(m.isolate.value.abstractUnix ? (['abstract-unix-socket'] as const) : [])],
  };
}
