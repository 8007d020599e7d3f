// The fail-closed planner (pure): manifest + host facts + resolved paths → a plan in which every
// clause has a verdict and a mechanism, or the refusals of every clause that cannot be backed.
// A clause is admitted only by a mechanism at least as strong as the guarantee it asks for;
// weaker guarantees are honoured only where the manifest names them, and the verdict records it.
// Nothing here touches the host: facts come in as data, the hash function as an argument.
import type { OciLaunch, HostFacts, Plan, ClauseVerdict, Refusal, LaunchInputs, Guarantee, FsRule, CgroupLimit, CgroupPlacement, RlimitSetting } from '../contract/generated/types.js';
import type { NormalManifest, LimitName } from './manifest.js';
import { LIMIT_NAMES } from './manifest.js';
import { FEATURES, STRENGTH_RANK, rlimitCandidate, backendOf, grantIdmap, rootIdmap, idBlock, noBlockWhy, othersAsOnDisk, keptCapabilities, containerTarget, untrustedLink, inheritedStdin, type Backend, type Candidate, type FeatureCtx, type PlanPaths, type PathFact, type Reserved } from './features.js';
import { layoutFor, layoutConflicts, under } from './layout.js';
import { rightsFor, FS_RIGHTS } from './landlock.js';
import { canNamespace, cgroupFor, type CgroupChoice } from './host-view.js';
import { type Sha256Hex } from './seal.js';
import { planHashOf } from './plan-hash.js';
import { formatSize, formatDuration } from './units.js';
import { CAPABILITY_NUMBERS } from './capability-names.js';
import { secretVar } from './secrets.js';
import type { OciExtras } from './oci/config.js';
import { compileOciSeccomp } from './seccomp/oci.js';
import { openat2Answer } from './seccomp/policy.js';
import { foldClauses } from './clause-name.js';

export interface PlanInput {
  manifest: NormalManifest;
  host: HostFacts;
  paths: PlanPaths;
  /** A cgroup parent the user named (relative to our own cgroup), or null. */
  cgroupParent: string | null;
  /** Force a backend; by default the workload decides (process → linux, wasm → wasm). */
  backend?: Backend;
  /** bvisor's own directories (state root, wasm cache, install), physical paths. */
  reserved?: readonly Reserved[];
  /** Secrets the caller hands to this run (--secret NAME, the API's secrets); no others. */
  secrets?: readonly string[];
  /** Descriptors the caller hands over for the workload (--preserve-fds, LISTEN_FDS, the API's
   * fds); a manifest may pass only these. */
  handedFds?: readonly number[];
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
  // Of the missing mechanisms that would have met the guarantee, name the one closest to it: a
  // stronger one may be missing for a reason that does not concern this clause (RLIMIT_CPU,
  // enforced but per process, for a clause that asked only for mediated polling).
  const blocked = candidates
    .filter((c): c is Extract<Candidate, { available: false }> => !c.available && STRENGTH_RANK[c.strength] >= want)
    .reduce<Extract<Candidate, { available: false }> | undefined>((best, c) => (best && STRENGTH_RANK[best.strength] <= STRENGTH_RANK[c.strength] ? best : c), undefined);
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

/** Whether cgroup path p is `parent` or beneath it; paths of two kinds (from the hierarchy's root,
 * or relative to our own cgroup) are not compared: not within. */
function cgroupWithin(p: string, parent: string): boolean {
  const norm = (x: string): string => (x.startsWith('/') ? '/' : '') + x.split('/').filter(Boolean).join('/');
  const [a, b] = [norm(p), norm(parent)];
  if (a.startsWith('/') !== b.startsWith('/')) return false;
  return a === b || b === '/' || a.startsWith(`${b}/`);
}

export function plan(input0: PlanInput, sha256: Sha256Hex): Plan {
  // An OCI config's linux.cgroupsPath names the parent (as runc reads it), inside the caller's
  // --cgroup-parent when the caller gave one: the bundle is not trusted to leave the subtree (and
  // the limits) its caller placed it in.
  const cgp = input0.manifest.oci?.cgroupsPath;
  const outside = !!cgp && cgp.parent !== '' && input0.cgroupParent !== null && !cgroupWithin(cgp.parent, input0.cgroupParent);
  const input: PlanInput = cgp && cgp.parent !== '' && !outside ? { ...input0, cgroupParent: cgp.parent } : input0;
  const { manifest: m, host } = input;
  const backend = input.backend ?? backendOf(m);
  const f = FEATURES[backend];
  const ctx: FeatureCtx = { host, manifest: m, paths: input.paths, cgroupParent: input.cgroupParent, reserved: input.reserved ?? [] };
  const choices: Choice[] = [];
  const dg = m.defaultGuarantee;
  if (outside) {
    const reason = `the config places the container's cgroups under ${cgp!.parent}, outside the cgroup parent the caller gave (${input0.cgroupParent})`;
    choices.push({ verdict: { clause: 'linux.cgroupsPath', requested: `${cgp!.parent}/${cgp!.leaf}`, guarantee: 'enforced', verdict: 'refused', mechanism: null, reason }, refusal: { code: 'BV_PLAN_CGROUP_PARENT', clause: 'linux.cgroupsPath', reason, hint: `a cgroupsPath beneath ${input0.cgroupParent} (or relative, a leaf name only), or no --cgroup-parent` } });
  }

  // Refuse a workload kind the chosen backend cannot run at all.
  const kindOk = (backend === 'linux') === (m.workload.kind === 'process');
  const w = m.workload;
  const wWords = w.kind === 'process' ? `process ${[w.exe, ...w.args].join(' ')}` : `wasm ${w.module}${w.args.length ? ' ' + w.args.join(' ') : ''}`;
  if (!kindOk) choices.push(choose('workload', wWords, dg, [{ available: false, mechanism: `${backend}:workload`, strength: 'enforced', code: 'BV_PLAN_BACKEND_UNSUPPORTED', reason: `the ${backend} backend does not run ${w.kind} workloads`, hint: `use the ${w.kind === 'process' ? 'linux' : 'wasm'} backend` }]));
  else if (host.identity.euid === 0 && !host.userns.canCreate) {
    // Without a user namespace there is nothing to map root to: the workload would be host root.
    choices.push(choose('workload', wWords, dg, [{ available: false, mechanism: 'linux:userns', strength: 'enforced', code: 'BV_PLAN_HOST_ROOT', reason: `the workload would run as host root: this host will not create a user namespace (${host.userns.error ?? 'unavailable'})`, hint: 'enable user namespaces (user.max_user_namespaces > 0), or run bvisor as an unprivileged user' }]));
  } else choices.push(choose('workload', wWords, dg, f.workload(ctx)));

  if (m.root) choices.push(choose('root', `${m.root.path}${m.root.readonly ? ' (read-only)' : ''}`, m.root.guarantee, f.root(ctx)));

  choices.push(choose('filesystem', m.filesystem.length ? `deny except ${m.filesystem.length} grant(s)` : 'deny everything', dg, f.filesystemDefault(ctx)));
  if (m.outputs) choices.push(outputsChoice(m, input, backend));
  for (const g of m.filesystem) {
    if (g.outputs) continue; // the outputs clause's own verdict (above) covers its quarantine
    choices.push(choose(g.ociPath ?? `filesystem[${g.index}]`, `${g.path} ${g.access}${g.recursive ? '' : ' (non-recursive)'}${g.target ? ` at ${g.target}` : ''}`, g.guarantee, f.grant(ctx, g)));
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
    const i = choices.findIndex((c) => c.verdict.clause === 'workload');
    let refusal: Refusal | null = null;
    const interp = input.paths.exe.interpreter;
    const interpCovered = !interp || m.filesystem.some((g) => {
      const p = input.paths.grants[g.index]?.path;
      return !!p && g.access.includes('exec') && (p === interp || (g.recursive && under(interp, p)));
    });
    if (!interpCovered) refusal = { code: 'BV_PLAN_EXE_NOT_GRANTED', clause: 'workload', reason: `${exePath} is a script for ${interp}, which is not under a read-exec grant, so it does not exist in the workload's root`, hint: `add { path: ${interp!.slice(0, interp!.lastIndexOf('/')) || '/'}, access: read-exec } to filesystem` };
    else if (!covered) {
      // Under a grant without exec it is there, but may not be run (a new-user pass read "does
      // not exist" of a program it could see); under none, it is not there at all.
      const seen = m.filesystem.find((g) => {
        const p = input.paths.grants[g.index]?.path;
        return !!p && (p === exePath || (g.recursive && under(exePath, p)));
      });
      refusal = seen
        ? { code: 'BV_PLAN_EXE_NOT_GRANTED', clause: 'workload', reason: `${exePath} is under filesystem[${seen.index}] (${seen.path}, ${seen.access}), which does not allow exec: the workload sees it and may not run it`, hint: `make filesystem[${seen.index}] read-exec, or add { path: ${exePath}, access: read-exec }` }
        : { code: 'BV_PLAN_EXE_NOT_GRANTED', clause: 'workload', reason: `${exePath} is not under a read-exec filesystem grant, so it does not exist in the workload's root`, hint: `add { path: ${exePath.slice(0, exePath.lastIndexOf('/')) || '/'}, access: read-exec } (and its libraries) to filesystem` };
    }
    else if (!mayAccess(input.paths.exe, host, 0o1)) refusal = { code: 'BV_PLAN_EXE_NOT_GRANTED', clause: 'workload', reason: `${exePath} is not executable by the workload's identity ${host.mapping.uid}:${host.mapping.gid} (its mode, or a directory on its path it may not search)`, hint: `chmod o+x ${exePath} and each directory above it` };
    if (refusal && choices[i]!.refusal === null) choices[i] = { verdict: { ...choices[i]!.verdict, verdict: 'refused', mechanism: null, reason: refusal.reason }, refusal };
  }

  const net = m.network.value;
  const netWords = net.mode === 'ports' ? ['tcp', net.connect.length ? `connect ${net.connect.join(',')}` : '', net.bind.length ? `bind ${net.bind.join(',')}` : ''].filter(Boolean).join(' ') : `${net.mode}${m.network.explicit ? '' : ' (default)'}`;
  choices.push(choose('network', netWords, m.network.guarantee, f.network(ctx)));
  choices.push(choose('spawn', `${m.spawn.value}${m.spawn.explicit ? '' : ' (default)'}`, m.spawn.guarantee, f.spawn(ctx)));
  choices.push(choose('syscalls', `default denylist (mount, ptrace, bpf, keyctl, …), denials: ${m.syscalls.value}`, m.syscalls.guarantee, f.syscalls(ctx)));
  choices.push(choose('capabilities', m.capabilities.length ? `keep ${m.capabilities.join(', ')}` : 'none', dg, f.capabilities(ctx)));

  const envWords = m.env.length === 0 ? 'empty' : m.env.map((e) => (e.secret ? `${e.name}=<secret ${e.secret}>` : e.name)).join(' ');
  choices.push(choose('env', envWords, dg, [{ available: true, mechanism: `${backend}:env(exact,${m.env.length} var${m.env.length === 1 ? '' : 's'})`, strength: 'enforced' }]));
  const handed = new Set(input.secrets ?? []);
  for (const e of m.env) {
    if (!e.secret) continue;
    // The caller decides which of its secrets a run receives; a bundle cannot ask for others.
    if (!handed.has(e.secret)) choices.push(choose(`env.${e.name}`, `secret ${e.secret}`, dg, [{ available: false, mechanism: 'secret:env', strength: 'enforced', code: 'BV_PLAN_SECRET_NOT_ALLOWED', reason: `secret "${e.secret}" was not handed to this run`, hint: `pass --secret ${e.secret} (API: secrets: { '${e.secret}': … }) if this bundle may have it` }]));
    else choices.push(choose(`env.${e.name}`, `secret ${e.secret}`, dg, [{ available: true, mechanism: `secret:env(${secretVar(e.secret)})`, strength: 'enforced' }]));
  }
  const handedFds = new Set(input.handedFds ?? []);
  const strayFds = m.fds.filter((fd) => !handedFds.has(fd));
  const fdsBackend = f.fds(ctx);
  if (strayFds.length && fdsBackend.some((c) => c.available)) choices.push(choose('fds', `pass ${m.fds.join(',')}`, dg, [{ available: false, mechanism: 'linux:fd-pass', strength: 'enforced', code: 'BV_PLAN_FD_NOT_HANDED', reason: `descriptor${strayFds.length === 1 ? '' : 's'} ${strayFds.join(', ')} ${strayFds.length === 1 ? 'was' : 'were'} not handed to bvisor for the workload (bvisor's own descriptors are never passed)`, hint: `open it in the calling shell and pass --preserve-fds N (fds 3..N+2), or list it in the API's fds` }]));
  else choices.push(choose('fds', m.fds.length ? `pass ${m.fds.join(',')} as 3..${2 + m.fds.length}` : 'none (stdio only)', dg, fdsBackend));
  choices.push(choose('stdio', `stdin=${m.stdio.stdin} stdout=${m.stdio.stdout} stderr=${m.stdio.stderr}`, dg, stdinCandidates(input, backend)));
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

  if (m.oci) choices.push(...ociChoices(m.oci, ctx));
  if (m.oci?.netnsPath) {
    // The engine's network namespace: the network clause says so instead of "host".
    const i = choices.findIndex((c) => c.verdict.clause === 'network');
    const fact = input.paths.netns;
    const no = (reason: string, hint: string): Choice => ({ verdict: { clause: 'network', requested: `the network namespace ${m.oci!.netnsPath}`, guarantee: 'enforced', verdict: 'refused', mechanism: null, reason }, refusal: { code: 'BV_OCI_UNSUPPORTED', clause: 'linux.namespaces(network).path', reason, hint } });
    if (host.identity.euid !== 0) choices[i] = no('entering a network namespace the host owns needs root (CAP_SYS_ADMIN in its user namespace)', 'run bvisor as root, or let it make the network namespace');
    else if (!fact || fact.kind === 'missing') choices[i] = no(`${m.oci.netnsPath} does not exist`, 'the engine must create the namespace before create');
    else if (!fact.nsfs) choices[i] = no(`${m.oci.netnsPath} is not a namespace file (nsfs)`, 'name a bind-mounted namespace file (/run/netns/NAME, as ip netns and CNI plugins make)');
    else choices[i] = { verdict: { clause: 'network', requested: `the network namespace ${m.oci.netnsPath}`, guarantee: 'enforced', verdict: 'enforced', mechanism: 'linux:setns(net) around clone3', reason: 'the engine\'s network namespace (its interfaces, routes and firewall are the engine\'s)' }, refusal: null };
  }
  choices.push(...layoutRefusals(input, backend, ctx));
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
    launch: admitted ? launchInputs(input, backend, ctx, clauses) : null,
  };
  body.planHash = planHashOf(body, sha256);
  return body;
}

/**
 * One setrlimit per resource: where two clauses bound the same one (a boundary's limits.cpu and
 * an OCI config's RLIMIT_CPU, limits.memory's RLIMIT_AS and the config's), the smaller of each
 * of soft and hard. Applied one after the other, the second would raise a hard limit the first
 * lowered, which setrlimit(2) refuses (EPERM) without CAP_SYS_RESOURCE in the initial
 * namespace: a plan that admits both would fail at launch.
 */
function oneRlimitEach(all: readonly RlimitSetting[]): RlimitSetting[] {
  const out: RlimitSetting[] = [];
  for (const r of all) {
    const i = out.findIndex((x) => x.resource === r.resource);
    if (i < 0) {
      out.push({ ...r });
      continue;
    }
    const was = out[i]!;
    const hard = Math.min(was.hard, r.hard);
    out[i] = { clause: foldClauses(was.clause, r.clause), resource: r.resource, soft: Math.min(was.soft, r.soft, hard), hard };
  }
  return out;
}

/**
 * An OCI config's own verdicts (each field accepted with its mechanism, or refused with its JSON
 * path), its rlimits against this host's hard limits, and its seccomp profile compiled here, so
 * a profile bvisor cannot compile is refused with the path of the rule before anything runs.
 */
function ociChoices(o: OciExtras, ctx: FeatureCtx): Choice[] {
  const blk = idBlock(ctx);
  const why = noBlockWhy(ctx);
  // With a block of ids, the maps' and the user's one-id verdicts give way to the block's; a
  // block asked for and not given here keeps the one id, and its verdict says why.
  const out: Choice[] = o.verdicts
    .filter((v) => !blk || (v.clause !== 'linux.uidMappings' && !(v.clause === 'process.user' && o.user)))
    .map((verdict) => ({ verdict: why && verdict.clause === 'linux.uidMappings' ? { ...verdict, reason: `${verdict.reason}; ${why}` } : verdict, refusal: null }));
  if (blk) out.push(...blockChoices(o, blk, ctx));
  if (o.additionalGids?.length) out.push(...groupChoices(o, blk, ctx.host.identity.euid === 0));
  for (const r of o.refusals) out.push({ verdict: { clause: r.clause || 'config.json', requested: 'config.json', guarantee: 'enforced', verdict: 'refused', mechanism: null, reason: r.reason }, refusal: { ...r, clause: r.clause || 'config.json' } });
  for (const r of o.rlimits) {
    const name = `RLIMIT_${r.resource.toUpperCase()}`;
    out.push(choose(r.path, `${name} soft ${r.soft} hard ${r.hard}`, 'enforced', [rlimitCandidate(ctx, r.resource, r.hard, 'enforced', `linux:rlimit(${name}=${r.soft}/${r.hard})`)]));
  }
  if (o.seccomp !== null) {
    const arch = ctx.host.kernel.arch === 'x86_64' || ctx.host.kernel.arch === 'aarch64' ? ctx.host.kernel.arch : null;
    if (!arch) out.push(choose('linux.seccomp', 'the config\'s seccomp profile', 'enforced', [{ available: false, mechanism: 'linux:seccomp(oci)', strength: 'enforced', code: 'BV_OCI_UNSUPPORTED', reason: `bvisor has no syscall table for ${ctx.host.kernel.arch}`, hint: 'run on x86_64 or aarch64' }]));
    else {
      const c = compileOciSeccomp(o.seccomp, arch);
      if (!c.ok) for (const r of c.refusals) out.push({ verdict: { clause: r.path, requested: 'config.json seccomp', guarantee: 'enforced', verdict: 'refused', mechanism: null, reason: r.reason }, refusal: { code: 'BV_OCI_SECCOMP', clause: r.path, reason: r.reason, hint: r.hint } });
      else {
        const skipped = c.compiled.skipped.length ? `; ${c.compiled.skipped.length} name(s) this arch lacks skipped (${c.compiled.skipped.slice(0, 4).map((x) => x.name).join(', ')}${c.compiled.skipped.length > 4 ? ', …' : ''})` : '';
        out.push({ verdict: { clause: 'linux.seccomp', requested: `profile of ${c.compiled.rules} rule(s)`, guarantee: 'enforced', verdict: 'enforced', mechanism: `linux:seccomp(oci,${c.compiled.insns.length} insns,behind bvisor's denylist)`, reason: `compiled by bvisor${skipped}${c.compiled.notes.length ? '; ' + c.compiled.notes.join('; ') : ''}` }, refusal: null });
      }
    }
  }
  return out;
}

/**
 * An OCI config's block of ids (linux.uidMappings and gidMappings, one line each from 0), where
 * bvisor has a range: container ids 0..count-1 map to as many ids of the range, claimed for this
 * launch alone (host/id-claims.ts), instead of the config's host ids; on disk the container's ids
 * are the config's (the engine's storage is owned by them), which the idmapped rootfs and binds
 * show as the block (idBlock gives none where the range cannot hold it, where the config's ids on
 * disk are ids of the range, or where the rootfs or a bind cannot be idmapped). A process.user
 * outside the block is refused.
 */
function blockChoices(o: OciExtras, blk: { uid: number; gid: number; count: number }, ctx: FeatureCtx): Choice[] {
  const me = ctx.host.mapping;
  const n = blk.count;
  const words = `container ids 0–${n - 1} on host ids ${blk.uid}–${blk.uid + n - 1}, gids ${blk.gid}–${blk.gid + n - 1}`;
  const out: Choice[] = [{ verdict: { clause: 'linux.uidMappings', requested: words, guarantee: 'enforced', verdict: 'enforced', mechanism: `linux:userns(0→${me.uid}×${n})`, reason: `container ids 0–${n - 1} map to ${n} consecutive ids of bvisor's range (here ${me.uid}–${me.uid + n - 1}, gids ${me.gid}–${me.gid + n - 1}), claimed for each run or container alone, instead of the config's host ids (narrower: no other process has them); on disk they stay the config's: the rootfs and the engine's binds are idmapped from ${blk.uid}:${blk.gid}` }, refusal: null }];
  const user = o.user;
  if (user && (user.uid >= n || user.gid >= n)) out.push(choose('process.user', `uid ${user.uid}, gid ${user.gid}`, 'enforced', [{ available: false, mechanism: 'linux:userns', strength: 'enforced', code: 'BV_OCI_UNSUPPORTED', reason: `uid ${user.uid}, gid ${user.gid} is not one of the container's ${n} ids (0–${n - 1}, the config's maps)`, hint: 'run the container as an id its maps give, or map more ids' }]));
  else if (user) out.push({ verdict: { clause: 'process.user', requested: `uid ${user.uid}, gid ${user.gid}`, guarantee: 'enforced', verdict: 'enforced', mechanism: `linux:userns(0→${me.uid}×${n})+setresuid(${user.uid}:${user.gid})`, reason: `one of the container's ${n} ids${user.uid !== 0 ? ', holding no capability (exec as a uid other than 0 clears them), so it becomes no other id' : ''}` }, refusal: null });
  return out;
}

/**
 * process.user.additionalGids. With a block of ids, each must be one of them, and the init sets
 * them (setgroups, as runc does; containerd fills them from the image's /etc/group). With one id
 * only the process's own group exists inside: the others are not set (narrower), since a group
 * that does not exist in the user namespace can be no file's group there.
 */
function groupChoices(o: OciExtras, blk: { count: number } | null, rootful: boolean): Choice[] {
  const gids = o.additionalGids!;
  const gid = o.user?.gid ?? 0;
  const words = gids.join(', ');
  if (blk) {
    const out = gids.flatMap((g, i): Choice[] => (g >= blk.count ? [choose(`process.user.additionalGids[${i}]`, `group ${g}`, 'enforced', [{ available: false, mechanism: 'linux:setgroups', strength: 'enforced', code: 'BV_OCI_UNSUPPORTED', reason: `group ${g} is not one of the container's ${blk.count} ids (0–${blk.count - 1}, the config's maps)`, hint: 'drop it, or map more ids' }])] : []));
    if (out.length) return out;
    return [{ verdict: { clause: 'process.user.additionalGids', requested: words, guarantee: 'enforced', verdict: 'enforced', mechanism: `linux:setgroups(${supplementaryGroups(gids).join(',')})`, reason: 'ids of the container\'s block, set as its supplementary groups before it runs' }, refusal: null }];
  }
  const others = gids.filter((g) => g !== gid);
  if (!others.length) return [{ verdict: { clause: 'process.user.additionalGids', requested: words, guarantee: 'enforced', verdict: 'enforced', mechanism: `linux:setresgid(${gid})`, reason: `the process's own group, ${gid}, is its gid (set with setresgid): bvisor adds no supplementary group for it` }, refusal: null }];
  // Rootless, the workload keeps its caller's groups (the kernel lets no unprivileged process set
  // them), which do not exist inside either.
  return [{ verdict: { clause: 'process.user.additionalGids', requested: words, guarantee: 'enforced', verdict: 'enforced', mechanism: rootful ? `linux:setresgid(${gid})+setgroups(none)` : `linux:setresgid(${gid})`, reason: `narrower: bvisor maps one group inside (${gid}), so ${others.join(', ')} do not exist there and are not set (a block of ids from the config's maps would have them)` }, refusal: null }];
}

/** What a launch carries of a block of ids: the block, and the supplementary groups it sets. */
function blockLaunch(blk: { uid: number; gid: number; count: number } | null, gids: readonly number[] | undefined): Pick<OciLaunch, 'ids' | 'groups'> {
  return blk ? { ids: blk, ...(gids?.length ? { groups: supplementaryGroups(gids) } : {}) } : {};
}

/** The supplementary groups the launch sets, in the kernel's order (groups_sort: ascending). */
export function supplementaryGroups(gids: readonly number[]): number[] {
  return [...new Set(gids)].sort((a, b) => a - b);
}

/**
 * outputs: a quarantine bvisor makes under its state root and binds read-write at the path.
 * Size and file-count limits are a tmpfs's (size, nr_inodes), which only root can mount on
 * the host: rootless, a limit is refused rather than left unenforced. The app layer makes the
 * quarantine before planning and adds it as a grant (marked outputs); a plan without it
 * (plan alone, no run) still judges the clause.
 */
function outputsChoice(m: NormalManifest, input: PlanInput, backend: Backend): Choice {
  const o = m.outputs!;
  const words = `${o.path}, commit ${o.commit}${o.to ? ` to ${o.to}` : ''}, ${o.durability}${o.sizeBytes !== null ? `, size ${formatSize(o.sizeBytes)}` : ''}${o.files !== null ? `, ${o.files} files` : ''}`;
  const limited = o.sizeBytes !== null || o.files !== null;
  const no = (reason: string, hint: string): Choice => choose('outputs', words, o.guarantee, [{ available: false, mechanism: 'linux:quarantine', strength: 'enforced', code: 'BV_PLAN_OUTPUTS', reason, hint }]);
  if (backend !== 'linux') return no('outputs applies to process workloads', 'grant a directory with filesystem');
  if (!input.manifest.root && !canNamespace(input.host)) return no('the quarantine is bound into the workload\'s root, which needs a mount namespace', 'run where bvisor can make namespaces');
  if (limited && input.host.identity.euid !== 0) return no('size and file limits are a tmpfs bvisor mounts on the host, which needs root', 'drop outputs.size and outputs.files, or run bvisor as root');
  // A grant the workload sees beneath the outputs path is bound onto a mount point bvisor makes
  // inside the quarantine: that empty entry would be staged and committed as an artifact the
  // workload never wrote (an attack in December).
  const inside = m.filesystem.filter((g) => !g.outputs).find((g) => {
    const fact = input.paths.grants[g.index] ?? { path: g.path, kind: 'missing' as const };
    const target = m.root ? containerTarget(g, fact) : fact.path;
    return target === o.path || under(target, o.path);
  });
  if (inside) return no(`${inside.ociPath ?? `filesystem[${inside.index}]`} (${inside.path}) lies beneath ${o.path}, the outputs path, where the workload sees it: its mount point would be made in the quarantine and staged as an output`, 'put outputs.path beside the grants, not around them');
  const mech = limited ? `linux:quarantine(tmpfs${o.sizeBytes !== null ? `,size=${o.sizeBytes}` : ''}${o.files !== null ? `,nr_inodes=${o.files}` : ''})+bind(rw)` : 'linux:quarantine(dir)+bind(rw)';
  return choose('outputs', words, o.guarantee, [{ available: true, mechanism: mech, strength: 'enforced', note: 'staged in the report (frozen, hashed); promoted only by commit' } as Candidate]);
}

/** Whether the workload's identity may read (4) or execute (1) a file, by its mode bits (ACLs
 * may allow more; refusing on the bits alone errs on the closed side), and search every directory
 * a lookup of a host path passes through (a 0644 file under a 0700 /root is not its to read). The
 * caller itself when rootless: then bvisor opens nothing the workload could not. */
function mayAccess(fact: PathFact | null | undefined, host: HostFacts, bit: 4 | 1): boolean {
  if (!fact || fact.mode === undefined) return false;
  if (host.identity.euid !== 0) return true;
  const me = host.mapping;
  const allows = (o: { uid?: number; gid?: number; mode?: number }, b: number): boolean => {
    const mode = o.mode ?? 0;
    if (o.uid === me.uid) return (mode & (b << 6)) !== 0;
    if (o.gid === me.gid) return (mode & (b << 3)) !== 0;
    return (mode & b) !== 0;
  };
  return allows(fact, bit) && (fact.searched ?? []).every((d) => allows(d, 1));
}

function stdinCandidates(input: PlanInput, backend: Backend): Candidate[] {
  const s = input.manifest.stdio.stdin;
  if (s === 'inherit' && backend === 'linux') return inheritedStdin(input.host);
  if (!s.startsWith('file:')) return [{ available: true, mechanism: `${backend}:stdio`, strength: 'enforced' }];
  const fact = input.paths.stdin;
  const no = (reason: string, hint: string): Candidate[] => [{ available: false, mechanism: `${backend}:stdio(file)`, strength: 'enforced', code: 'BV_PLAN_STDIN', reason, hint }];
  if (fact?.untrusted) return [untrustedLink(s.slice(5), fact.untrusted)];
  if (!fact || fact.kind === 'missing') return no(`stdin file ${s.slice(5)} does not exist`, 'create it, or use stdin: null');
  // A FIFO would block bvisor's own open; a device is not a file to feed.
  if (fact.kind !== 'file') return no(`stdin file ${s.slice(5)} is not a regular file`, 'feed a regular file, or stdin: inherit');
  if (!mayAccess(fact, input.host, 4)) return no(`stdin file ${fact.path} is not readable by the workload's identity ${input.host.mapping.uid}:${input.host.mapping.gid} (its mode, or a directory on its path it may not search); bvisor opens it for the workload and will not read what the workload could not`, `chmod o+r ${fact.path} (and o+x each directory above it), or feed another file`);
  return [{ available: true, mechanism: `${backend}:stdio(file by fd)`, strength: 'enforced' }];
}

const ids = (f: PathFact | null | undefined): { dev: string; ino: string } => ({ dev: f?.dev ?? '0', ino: f?.ino ?? '0' });

function fsRules(input: PlanInput, backend: Backend, ctx: FeatureCtx): FsRule[] {
  const { manifest: m, host, paths } = input;
  return m.filesystem.map((g) => {
    const fact = paths.grants[g.index] ?? { path: g.path, kind: 'missing' as const };
    const kind = fact.kind === 'directory' ? 'directory' : fact.kind === 'file' ? 'file' : 'other';
    const rights = rightsFor(g.access, kind, fact.path).filter((r) => FS_RIGHTS[r].abi <= host.landlock.abi);
    // Container mode: grants are bind-mounted into the rootfs; bundle-relative ones at /<rel>.
    // wasm: preopens are named the same way, so a guest sees ./data as /data.
    // The outputs quarantine appears at the outputs path, in host mode too.
    const target = g.outputs ? g.target! : m.root || backend === 'wasm' ? containerTarget(g, fact) : fact.path;
    // A narrowing boundary beside an OCI config: a bind keeps only the rights a narrowing grant
    // covering its place in the container gives (none: no landlock rule, so unreachable).
    const narrowed = m.oci?.narrowFs ? rights.filter((r) => m.oci!.narrowFs!.some((n) => (n.path === target || (n.recursive && under(target, n.path))) && rightsFor(n.access, kind, target).includes(r))) : rights;
    return { clause: g.outputs ? 'outputs' : g.ociPath ?? `filesystem[${g.index}]`, path: fact.path, target, access: g.access, recursive: g.recursive, ...(g.submounts === false ? { submounts: false } : {}), kind, rights: narrowed, ...ids(fact), idmap: grantIdmap(ctx, g) };
  });
}

/**
 * Checks of the root as a whole, made on the layout a mount namespace would give whatever this
 * host has (so they do not come and go with host capabilities): no two steps on one place, and
 * the cwd exists in it.
 */
function layoutRefusals(input: PlanInput, backend: Backend, ctx: FeatureCtx): Choice[] {
  const { manifest: m } = input;
  if (backend !== 'linux') return [];
  const dg = m.defaultGuarantee;
  const rules = fsRules(input, backend, ctx);
  const layout = layoutFor(
    { root: m.root ? { path: 'rootfs', readonly: m.root.readonly, dev: '0', ino: '0', idmap: null } : null, filesystem: rules, namespaces: ['user', 'pid', 'mount'], tmp: { mode: m.tmp.value, sizeBytes: null }, stdio: m.stdio, memoryBytes: null, identity: input.host.mapping },
    { rootLinks: [], reserved: (input.reserved ?? []).filter((r) => r.what !== 'bvisor install'), ...(m.oci ? { oci: m.oci } : {}), othersAsOnDisk: othersAsOnDisk(ctx) },
  );
  const out: Choice[] = [];
  for (const [a, b] of layoutConflicts(layout)) {
    out.push(choose(b.clause ?? 'filesystem', `${b.kind} at ${b.target}`, dg, [{ available: false, mechanism: 'linux:mount', strength: 'enforced', code: 'BV_PLAN_LAYOUT_CONFLICT', reason: `${b.clause ?? b.kind} and ${a.clause ?? a.kind} would both be mounted at ${b.target}; the later would hide the earlier`, hint: 'drop one of them (tmp: private already gives an empty writable /tmp)' }]));
  }
  const w = m.workload;
  const masked = w.kind === 'process' ? layout.find((e) => e.kind === 'mask' && under(w.cwd, e.target)) : undefined;
  if (w.kind === 'process' && masked) {
    out.push(choose('workload.process.cwd', w.cwd, dg, [{ available: false, mechanism: 'linux:chdir', strength: 'enforced', code: 'BV_PLAN_CWD_UNREACHABLE', reason: `${w.cwd} is inside ${masked.target}, which the workload sees empty (${masked.source ?? 'masked'})`, hint: 'set cwd to a directory the workload can use' }]));
  } else if (w.kind === 'process' && !m.root && w.cwd !== '/' && !layout.some((e) => e.kind !== 'symlink' && e.kind !== 'mask' && e.target !== '/' && under(w.cwd, e.target))) {
    out.push(choose('workload.process.cwd', w.cwd, dg, [{ available: false, mechanism: 'linux:chdir', strength: 'enforced', code: 'BV_PLAN_CWD_UNREACHABLE', reason: `${w.cwd} is not under any grant, so it does not exist in the workload's root`, hint: `grant ${w.cwd} (or a directory above it), or set cwd: /` }]));
  }
  return out;
}

function outputsLaunch(m: NormalManifest): LaunchInputs['outputs'] {
  const o = m.outputs!;
  const q = m.filesystem.find((g) => g.outputs);
  return { path: o.path, quarantine: q?.path ?? '', tmpfs: q?.outputs?.tmpfs ?? false, commit: o.commit, durability: o.durability, to: o.to, ...(o.toFrom !== undefined ? { toFrom: o.toFrom } : {}), sizeBytes: o.sizeBytes, files: o.files };
}

function launchInputs(input: PlanInput, backend: Backend, ctx: FeatureCtx, clauses: Plan['clauses']): LaunchInputs {
  const { manifest: m, host, paths } = input;
  const w = m.workload;
  const filesystem = fsRules(input, backend, ctx);
  const limits: CgroupLimit[] = [];
  const rlimits: RlimitSetting[] = [];
  let watch: LaunchInputs['cgroup']['watch'] = null;
  // One placement per hierarchy: every choice for a hierarchy comes from the same rule.
  const placements = new Map<string, CgroupPlacement>();
  const place = (controller: string): CgroupChoice | null => {
    const c = cgroupFor(host, controller, input.cgroupParent);
    if (!c.ok) return null;
    placements.set(c.choice.placement.mountPoint, c.choice.placement);
    return c.choice;
  };
  const addCg = (clause: string, controller: string, v2: [string, string][], v1: [string, string][]): void => {
    const c = place(controller);
    if (!c) return;
    for (const [file, value] of c.version === 2 ? v2 : v1) limits.push({ clause, version: c.version, controller, file, value });
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
    // As the verdict chose (a mechanism in the plan is a promise): RLIMIT_CPU, or the watch.
    const cpuByRlimit = clauses.find((c) => c.clause === 'limits.cpu')?.mechanism?.startsWith('linux:rlimit(RLIMIT_CPU') === true;
    if (L.cpu && cpuByRlimit) {
      const s = L.cpu.value / 1000;
      rlimits.push({ clause: 'limits.cpu', resource: 'cpu', soft: s, hard: s });
    }
    if (L.cpu && !cpuByRlimit) {
      // Mediated: the whole tree's usage, from the cgroup, polled by the supervisor.
      const c = place('cpuacct');
      if (c) watch = { clause: 'limits.cpu', version: c.version, controller: 'cpuacct', file: c.version === 2 ? 'cpu.stat' : 'cpuacct.usage', limitUs: L.cpu.value * 1000 };
    }
    if (L.openFiles) rlimits.push({ clause: 'limits.openFiles', resource: 'nofile', soft: L.openFiles.value, hard: L.openFiles.value });
    for (const r of m.oci?.rlimits ?? []) rlimits.push({ clause: r.path, resource: r.resource, soft: r.soft, hard: r.hard });
    // Both limits 0: the process cannot raise it back, and the kernel writes no core file of it.
    // A core_pattern pipe would still be run, handed the limit as %c (the kernel applies none to
    // pipes): what keeps it from the process's memory is that process being non-dumpable (the
    // library its launch preloads, app/wasm.ts ownProcessEnv).
    if (m.internal?.noCoreDump === true) rlimits.push({ clause: 'internal.noCoreDump', resource: 'core', soft: 0, hard: 0 });
  }
  const capturing = m.stdio.stdout === 'capture' || m.stdio.stderr === 'capture';
  const namespaces: LaunchInputs['namespaces'] = [];
  if (backend === 'linux') {
    if (host.userns.canCreate) namespaces.push('user');
    if (canNamespace(host)) {
      namespaces.push('pid', 'mount', 'ipc', 'uts', 'cgroup');
      if (m.network.value.mode === 'deny' || m.network.value.mode === 'loopback') namespaces.push('net');
    }
    // A cgroup that finds every descendant (teardown, kill --all) when limits make none.
    if ((m.spawn.value === 'descendants' || !namespaces.includes('pid')) && placements.size === 0) place('membership');
    // An OCI container also gets a cgroup v2 leaf wherever v2 exists (hybrid hosts too): the
    // freezer of pause/resume (cgroup.freeze) lives only there.
    if (m.oci && host.cgroup.v2 && ![...placements.values()].some((p) => p.version === 2)) place('membership');
  }
  const workload: LaunchInputs['workload'] =
    w.kind === 'process'
      ? { kind: 'process', path: paths.exe?.path ?? w.exe, argv0: m.oci?.argv0 ?? w.exe, args: w.args, cwd: w.cwd, ...ids(paths.exe), ...(paths.exe?.interpreter ? { script: true } : {}) }
      : { kind: 'wasm', path: paths.module?.path ?? w.module, argv0: w.module, args: w.args, cwd: '/', deterministic: w.deterministic, seed: w.seed, ...ids(paths.module) };
  const stdinFile = m.stdio.stdin.startsWith('file:') && paths.stdin ? { path: paths.stdin.path, ...ids(paths.stdin) } : null;
  const inputs: Omit<LaunchInputs, 'layout'> = {
    workload,
    env: m.env.map((e) => (e.secret ? { name: e.name, secret: e.secret } : { name: e.name, value: e.value ?? '' })),
    filesystem,
    landlockAbi: host.landlock.abi,
    network: { mode: m.network.value.mode, connect: m.network.value.connect, bind: m.network.value.bind },
    spawn: m.spawn.value,
    fds: m.fds,
    stdio: stdinFile ? { ...m.stdio, stdin: `file:${stdinFile.path}` } : m.stdio,
    stdinFile,
    namespaces,
    cgroup: { parent: input.cgroupParent, limits, watch, placements: [...placements.values()] },
    rlimits: oneRlimitEach(rlimits),
    wallMs: m.limits.wall?.value ?? null,
    cpuMs: m.limits.cpu?.value ?? null,
    fuel: m.limits.fuel?.value ?? null,
    memoryBytes: m.limits.memory?.value ?? null,
    outputBytes: m.limits.output?.value ?? (capturing ? DEFAULT_OUTPUT_CAP : 0),
    tmp: { mode: m.tmp.value, sizeBytes: m.limits.tmpSize?.value ?? null },
    root: m.root && paths.root ? { path: paths.root.path, readonly: m.root.readonly, ...ids(paths.root), idmap: rootIdmap(ctx) } : null,
    syscalls: { deny: m.syscalls.value, openat2: openat2Answer(m.internal?.wasmRunner === true) },
    capabilities: keptCapabilities(ctx).keep.map((c) => CAPABILITY_NUMBERS[c]!).sort((a, b) => a - b),
    // Landlock scopes (ABI 6; below it the features' namespaces or refusals decide, and none is
    // listed). Signals are scoped wherever the workload could reach a process outside: without a
    // pid namespace, and with stdin: inherit, which keeps it in the caller's process group
    // (kill(0, …)). Abstract unix sockets: without a network namespace (network ports).
    scope: backend === 'linux' && host.landlock.abi < 6 ? [] : [...(m.isolate.value.signals || (backend === 'linux' && (!namespaces.includes('pid') || m.stdio.stdin === 'inherit')) ? (['signal'] as const) : []), ...(m.isolate.value.abstractUnix || (backend === 'linux' && m.network.value.mode === 'ports') ? (['abstract-unix-socket'] as const) : [])],
    // The workload's root is host id `identity`, never 0 (rootless: the caller itself).
    identity: { uid: host.mapping.uid, gid: host.mapping.gid, source: host.mapping.source },
    outputs: m.outputs ? outputsLaunch(m) : null,
    oci: m.oci ? { netns: m.oci.netnsPath && paths.netns ? { path: paths.netns.path, ...ids(paths.netns) } : null, hooks: Object.fromEntries((['prestart', 'createRuntime', 'poststart', 'poststop'] as const).filter((k) => m.oci!.hooks[k]?.length).map((k) => [k, m.oci!.hooks[k]!])), rootRules: m.oci.narrowFs ? m.oci.narrowFs.map((n) => ({ clause: n.clause, target: n.path, rights: rightsFor(n.access, 'directory', n.path).filter((r) => FS_RIGHTS[r].abi <= host.landlock.abi) })) : null, hostname: m.oci.hostname, seccomp: m.oci.seccomp as OciLaunch['seccomp'], cgroupLeaf: m.oci.cgroupsPath?.leaf ?? null, oomScoreAdj: m.oci.oomScoreAdj, umask: m.oci.umask, ...(m.oci.user ? { user: m.oci.user } : {}), ...blockLaunch(idBlock({ host, manifest: m, paths }), m.oci.additionalGids), terminal: m.oci.terminal, engine: true } : null,
  };
  // Only the state root and the cache are hidden inside binds; the install is readable.
  const hide = (input.reserved ?? []).filter((r) => r.what !== 'bvisor install');
  // Host mode: each grant's links on the way, to be made in the built root.
  const grantLinks = m.root ? [] : m.filesystem.filter((g) => !g.outputs).flatMap((g) => (paths.grants[g.index]?.links ?? []).map((l) => ({ ...l, clause: g.ociPath ?? `filesystem[${g.index}]` })));
  // Set-ID files beneath a writable idmapped mount, each bound read-only over itself (their
  // trees' clauses said so; host/set-id.ts says why).
  const readonlyFiles: Array<{ target: string; clause: string; dev: string; ino: string; top: string }> = [];
  if (inputs.root?.idmap && paths.root?.setIdScan?.complete) for (const f of paths.root.setIdScan.files) readonlyFiles.push({ target: f.path, clause: 'root', dev: f.dev, ino: f.ino, top: '/' });
  for (const g of m.filesystem) {
    const fact = paths.grants[g.index];
    if (!fact?.setIdScan?.complete || fact.kind !== 'directory' || !grantIdmap(ctx, g)) continue;
    const top = m.root || backend === 'wasm' ? containerTarget(g, fact) : fact.path;
    for (const f of fact.setIdScan.files) readonlyFiles.push({ target: top === '/' ? f.path : top + f.path, clause: g.ociPath ?? `filesystem[${g.index}]`, dev: f.dev, ino: f.ino, top });
  }
  return { ...inputs, layout: backend === 'linux' ? layoutFor(inputs, { rootLinks: paths.rootLinks ?? [], grantLinks, reserved: hide, readonlyFiles, ...(m.oci ? { oci: m.oci } : {}), othersAsOnDisk: othersAsOnDisk({ host, manifest: m, paths }) }) : [] };
}
