// OCI bundles whose entrypoint is a WebAssembly module (pure): crun's wasm handlers, in bvisor's
// terms. crun runs process.args[0] as a WASI module instead of exec'ing it when the config
// carries `run.oci.handler: wasm` or `module.wasm.image/variant: compat` (the `-smart` variants
// only when args[0] ends in .wasm or .wat; crun's handler-utils.c, docs/wasm-wasi-on-kubernetes.md),
// with the config's args (args[0] as argv[0]) and env, the container's stdio, and the
// container's directory preopened.
//
// Here such a config becomes a wasm workload run by bvisor's own WASI host and runner, so every
// wasm budget and guarantee holds as for a boundary.yaml with `workload: { wasm: … }`. The
// translation starts from the Linux one (core/oci/config.ts reads and checks every field) and
// re-decides what a WASI guest makes moot or cannot have, each with a verdict or a refusal by
// JSON path:
//   - the rootfs is a preopen at / (read-only: narrowed when the config leaves it writable), and
//     each bind whose source is a directory a preopen at its destination (ro or rw); the network
//     and identity files engines bind (/etc/hosts, /etc/resolv.conf, …) and every kernel
//     filesystem (proc, sysfs, devpts, tmpfs, …) are not given to the guest: narrower;
//   - namespaces, id maps, capabilities, devices, masked and read-only /proc paths, hostname and
//     the config's seccomp profile are moot (a WASI guest has no syscalls, no /proc, no ids);
//     the runner process gets bvisor's own namespaces, seccomp and landlock from its own plan;
//   - refused: a terminal, a cwd other than /, rlimits that would bound what the guest does
//     (nofile, cpu, memory, fsize: the WASI host or bvisor's budgets bound those, differently),
//     a cpu quota, an oom score, a umask stricter than the WASI host's modes, a rootfs outside
//     the bundle (the module is resolved beneath the bundle), WebAssembly text (.wat).
import type { ClauseVerdict, Refusal } from '../../contract/generated/types.js';
import type { NormalGrant, NormalManifest } from '../manifest.js';
import type { OciExtras } from './config.js';

export const HANDLER_ANNOTATION = 'run.oci.handler';
export const VARIANT_ANNOTATION = 'module.wasm.image/variant';

/** What a config asks of the wasm handler. */
export type WasmHandler =
  /** Not a wasm container (no annotation, or a -smart one whose args[0] is no module). */
  | { kind: 'none' }
  /** args[0] is run as a WASI module; `by` names the annotation that said so. */
  | { kind: 'wasm'; by: string; value: string }
  /** The annotation asks for something bvisor cannot do (another handler, an unknown variant). */
  | { kind: 'refused'; refusal: Refusal };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasModuleSuffix = (s: string): boolean => /\.(wasm|wat)$/i.test(s);

/**
 * crun's rule (wasm_can_handle_container): run.oci.handler decides when present (wasm, or
 * wasm-smart when args[0] ends in .wasm/.wat), else module.wasm.image/variant (compat, or
 * compat-smart likewise). A value crun would hand to another handler (krun, …) is refused: bvisor
 * would otherwise run as a plain container what the config meant for something else.
 */
export function wasmHandlerOf(config: unknown): WasmHandler {
  const c = isObj(config) ? config : {};
  const ann = isObj(c.annotations) ? c.annotations : {};
  const p = isObj(c.process) ? c.process : {};
  const args0 = Array.isArray(p.args) && typeof p.args[0] === 'string' ? p.args[0] : '';
  const pick = (key: string, always: string, smart: string, hint: string): WasmHandler | null => {
    const v = ann[key];
    if (v === undefined) return null;
    if (v === always) return { kind: 'wasm', by: key, value: v };
    if (v === smart) return hasModuleSuffix(args0) ? { kind: 'wasm', by: key, value: v } : { kind: 'none' };
    return { kind: 'refused', refusal: { code: 'BV_OCI_UNSUPPORTED', clause: `annotations.${key}`, reason: `${JSON.stringify(v)} names a handler bvisor does not have (bvisor runs ${always} and ${smart})`, hint } };
  };
  return (
    pick(HANDLER_ANNOTATION, 'wasm', 'wasm-smart', 'use run.oci.handler: wasm (or wasm-smart), or remove the annotation to run a Linux container') ??
    pick(VARIANT_ANNOTATION, 'compat', 'compat-smart', 'use module.wasm.image/variant: compat (or compat-smart), or remove the annotation to run a Linux container') ?? { kind: 'none' }
  );
}

/** Files engines bind for networking and identity: a WASI preview 1 guest has no sockets, no
 * resolver and no hostname, so they are not given to it (narrower). */
const ENGINE_FILES: Record<string, string> = {
  '/etc/hosts': 'a WASI guest has no sockets: no name to resolve',
  '/etc/resolv.conf': 'a WASI guest has no sockets: no resolver to configure',
  '/etc/hostname': 'WASI preview 1 has no hostname',
  '/run/.containerenv': 'podman\'s marker file; nothing a WASI guest reads',
  '/dev/shm': 'a WASI guest has no shared memory with other processes',
  '/dev/termination-log': 'Kubernetes\' termination message file; a WASI guest\'s outcome is in bvisor\'s report',
};

/** Bind options and what they mean for a preopen. Access comes from ro/rw; the rest act on
 * what a WASI guest cannot do (exec, device nodes, set-id) or on mount propagation, which stays
 * inside the runner's own mount namespace. Anything else is refused. */
const BIND_OPTIONS = new Set(['ro', 'rw', 'rro', 'rrw', 'bind', 'rbind', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'rnosuid', 'rnodev', 'rnoexec', 'private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared', 'unbindable', 'runbindable', 'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'noatime', 'atime', 'nodiratime', 'diratime']);
const KERNEL_FS = new Set(['proc', 'tmpfs', 'devpts', 'mqueue', 'sysfs', 'cgroup', 'cgroup2']);

/** rlimits that bound nothing a WASI guest can do, and why. */
const MOOT_RLIMITS: Record<string, string> = {
  RLIMIT_NPROC: 'a WASI guest cannot create processes',
  RLIMIT_CORE: 'a WASI guest cannot dump core; a trap is an outcome in the report',
  RLIMIT_SIGPENDING: 'WASI preview 1 has no signals',
  RLIMIT_MSGQUEUE: 'a WASI guest has no POSIX message queues',
  RLIMIT_NICE: 'a WASI guest cannot change its priority',
  RLIMIT_RTPRIO: 'a WASI guest cannot ask for real-time scheduling',
  RLIMIT_RTTIME: 'a WASI guest cannot ask for real-time scheduling',
  RLIMIT_MEMLOCK: 'a WASI guest cannot lock memory',
  RLIMIT_LOCKS: 'WASI preview 1 has no file locks',
};
const RLIMIT_HINTS: Record<string, string> = {
  RLIMIT_NOFILE: 'a WASI guest\'s descriptors belong to bvisor\'s WASI host, which this limit does not bound; remove it',
  RLIMIT_CPU: 'bound a wasm guest with limits.fuel or limits.wall (a boundary.yaml beside config.json); remove the rlimit',
  RLIMIT_AS: 'bound a wasm guest\'s memory with linux.resources.memory.limit (its linear memory and tables); remove the rlimit',
  RLIMIT_DATA: 'bound a wasm guest\'s memory with linux.resources.memory.limit (its linear memory and tables); remove the rlimit',
  RLIMIT_RSS: 'bound a wasm guest\'s memory with linux.resources.memory.limit (its linear memory and tables); remove the rlimit',
  RLIMIT_STACK: 'a wasm guest\'s stack is its own linear memory, bounded by linux.resources.memory.limit; remove the rlimit',
  RLIMIT_FSIZE: 'bvisor does not bound the size of files a wasm guest writes in its preopens; remove the rlimit',
};

/** Clause prefixes whose Linux verdicts and feature refusals a WASI guest makes moot; the wasm
 * translation decides them again below. Invalid or unknown fields stay refused everywhere. */
const REDECIDED = ['process.capabilities', 'process.user', 'process.rlimits', 'linux.namespaces', 'linux.uidMappings', 'linux.resources.devices', 'linux.resources.pids', 'mounts['];
const redecided = (clause: string): boolean => REDECIDED.some((p) => clause === p || clause.startsWith(p.endsWith('[') ? p : `${p}.`) || clause.startsWith(`${p}[`) || clause.startsWith(`${p}(`));
const configError = (r: Refusal): boolean => r.code === 'BV_OCI_INVALID' || r.code === 'BV_OCI_UNKNOWN_FIELD' || r.code === 'BV_OCI_VERSION';

/** Path segments of a module path, or null when it climbs ('..') or is empty. */
function segments(path: string): string[] | null {
  const out: string[] = [];
  for (const s of path.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') return null;
    out.push(s);
  }
  return out.length ? out : null;
}

/**
 * The wasm manifest of a config whose handler is wasm, from the Linux translation of the same
 * config: every verdict and refusal that still holds is kept, the moot ones are decided again.
 */
export function wasmFromOci(config: unknown, linux: NormalManifest & { oci: OciExtras }, handler: Extract<WasmHandler, { kind: 'wasm' }>): NormalManifest & { oci: OciExtras } {
  const c = isObj(config) ? config : {};
  const p = isObj(c.process) ? c.process : {};
  const l = isObj(c.linux) ? c.linux : {};
  const o = linux.oci;
  const verdicts: ClauseVerdict[] = o.verdicts.filter((v) => !redecided(v.clause));
  const refusals: Refusal[] = o.refusals.filter((r) => configError(r) || !redecided(r.clause));
  const accept = (clause: string, requested: string, mechanism: string, reason: string | null = null): void => {
    verdicts.push({ clause, requested, guarantee: 'enforced', verdict: 'enforced', mechanism, reason });
  };
  const refuse = (clause: string, reason: string, hint: string, code = 'BV_OCI_UNSUPPORTED'): void => {
    refusals.push({ code, clause, reason, hint });
  };
  const moot = (clause: string, requested: string, reason: string): void => accept(clause, requested, 'wasm:moot', `${reason} (narrower than the config)`);

  accept(`annotations.${handler.by}`, handler.value, 'wasm:wasi-preview1(bvisor-host)', 'process.args[0] is run as a WASI preview 1 module by bvisor\'s WASI host in a confined runner, as crun\'s wasm handlers run it');

  // The module: args[0] in the rootfs, which must be inside the bundle (the module is resolved
  // beneath the bundle, symlinks included, like every bundle path).
  const args0 = o.argv0;
  const rootPath = linux.root?.path ?? 'rootfs';
  const rootSegs = rootPath.startsWith('/') ? null : segments(rootPath);
  if (rootPath.startsWith('/')) refuse('root.path', `"${rootPath}" is outside the bundle: bvisor reads a wasm module only beneath the bundle directory`, 'give root.path relative to the bundle (containerd\'s layout: rootfs); podman\'s storage layers are not supported for wasm yet');
  else if (!rootSegs) refuse('root.path', `"${rootPath}" does not name a directory inside the bundle`, 'e.g. rootfs', 'BV_OCI_INVALID');
  const modSegs = segments(args0);
  if (/\.wat$/i.test(args0)) refuse('process.args[0]', `${args0} is WebAssembly text: bvisor runs binary modules only (it compiles no text at run time)`, 'ship the module built with wat2wasm (.wasm)');
  else if (!/\.wasm$/i.test(args0)) refuse('process.args[0]', `${handler.by}=${handler.value} asks for the wasm handler, but args[0] ${JSON.stringify(args0)} is not a .wasm module`, 'point args[0] at the .wasm module in the rootfs, or remove the annotation');
  else if (!modSegs) refuse('process.args[0]', `${JSON.stringify(args0)} does not name a file in the rootfs`, 'e.g. /app.wasm', 'BV_OCI_INVALID');
  const module = [...(rootSegs ?? ['rootfs']), ...(modSegs ?? ['module.wasm'])].join('/');
  if (linux.workload.kind === 'process' && linux.workload.cwd !== '/') refuse('process.cwd', `WASI preview 1 has no working directory: relative paths resolve from / (the rootfs preopen), not from ${linux.workload.cwd}`, 'set process.cwd to / (or use absolute paths in args)');

  // The rootfs, read-only at /; binds of directories as preopens at their destinations.
  const filesystem: NormalGrant[] = [];
  if (rootSegs) {
    filesystem.push({ index: 0, path: `./${rootSegs.join('/')}`, bundleRelative: true, access: 'read', recursive: true, guarantee: 'enforced', target: '/', ociPath: 'root.path' });
    if (linux.root && !linux.root.readonly) moot('root.readonly', 'false', 'the rootfs is preopened read-only at /: bvisor\'s runner cannot write an engine\'s root-owned rootfs as an unprivileged id');
  }
  const mounts = Array.isArray(c.mounts) ? c.mounts : [];
  mounts.forEach((x, i) => {
    const at = `mounts[${i}]`;
    if (!isObj(x)) return; // refused as invalid by the config reader
    const dest = typeof x.destination === 'string' ? x.destination : '';
    const type = typeof x.type === 'string' ? x.type : '';
    const source = typeof x.source === 'string' ? x.source : '';
    const options = Array.isArray(x.options) ? x.options.filter((v): v is string => typeof v === 'string') : [];
    if (o.refusals.some((r) => configError(r) && (r.clause === at || r.clause.startsWith(`${at}.`)))) return;
    const isBind = type === 'bind' || options.includes('bind') || options.includes('rbind');
    if (!isBind) {
      if (!KERNEL_FS.has(type)) return refuse(`${at}.type`, `mount type ${JSON.stringify(type)} is not made by bvisor`, 'use bind mounts of directories (preopens) for a wasm guest');
      return moot(at, `${type} at ${dest}`, `a WASI guest sees only its preopens: no ${type} is mounted`);
    }
    if (ENGINE_FILES[dest]) return moot(at, `bind ${source} at ${dest}`, `not given to the guest: ${ENGINE_FILES[dest]}`);
    const bad = options.filter((opt) => !BIND_OPTIONS.has(opt));
    if (bad.length) return refuse(`${at}.options`, `bind options ${bad.join(', ')} are not applied by bvisor`, 'use ro or rw (the rest do not apply to a WASI preopen)');
    const rel = !source.startsWith('/');
    if (!source || (rel && source.split('/').some((s) => s === '..'))) return refuse(`${at}.source`, `"${source}" must be an absolute host path, or a path inside the bundle`, 'fix the source', 'BV_OCI_INVALID');
    const ro = options.includes('ro') || options.includes('rro');
    // The planner checks it is a directory (WASI preopens are directories) and refuses by this path.
    // A `bind` leaves out the mounts beneath its source (the planner refuses one that has any).
    const submounts = options.includes('rbind');
    filesystem.push({ index: filesystem.length, path: rel ? `./${source.replace(/^\.\//, '')}` : source, bundleRelative: rel, access: ro ? 'read' : 'read-write', recursive: true, guarantee: 'enforced', target: dest, ociPath: at, ...(submounts ? {} : { submounts }) });
  });

  // process
  if (p.terminal === true) refuse('process.terminal', 'a WASI guest has no terminal (WASI preview 1 has no ioctls)', 'set process.terminal to false (podman: without -t)');
  const caps = isObj(p.capabilities) ? p.capabilities : null;
  const capCount = caps ? new Set(['bounding', 'effective', 'permitted', 'inheritable', 'ambient'].flatMap((k) => (Array.isArray(caps[k]) ? (caps[k] as unknown[]) : []))).size : 0;
  if (caps) moot('process.capabilities', `${capCount} capabilit${capCount === 1 ? 'y' : 'ies'}`, 'a WASI guest has no capabilities, and its runner keeps none');
  const user = isObj(p.user) ? p.user : null;
  if (user && !o.refusals.some((r) => configError(r) && r.clause.startsWith('process.user'))) {
    moot('process.user', `uid ${String(user.uid)}, gid ${String(user.gid)}`, 'WASI preview 1 has no user ids; the runner that hosts the guest runs as bvisor\'s unprivileged host id');
  }
  if (o.umask !== null) {
    // The WASI host creates files 0644 and directories 0755 at most; a umask that removes no more
    // than 022 is honoured by that (narrower or equal), a stricter one is not.
    if ((o.umask & ~0o022) !== 0) refuse('process.user.umask', `umask ${o.umask.toString(8).padStart(4, '0')} is stricter than the WASI host's modes (files 0644, directories 0755)`, 'use umask 0022 (or none) for a wasm guest');
    else accept('process.user.umask', o.umask.toString(8).padStart(4, '0'), 'wasm:preopen(files 0644, directories 0755)', 'the WASI host never creates anything more open than this umask allows');
  }
  if (o.oomScoreAdj !== null && o.oomScoreAdj > 0) refuse('process.oomScoreAdj', `an oom score (${o.oomScoreAdj}) is not applied to a wasm runner`, 'remove process.oomScoreAdj');
  const rlimits = Array.isArray(p.rlimits) ? p.rlimits : [];
  rlimits.forEach((x, i) => {
    const at = `process.rlimits[${i}]`;
    const type = isObj(x) && typeof x.type === 'string' ? x.type : '';
    if (o.refusals.some((r) => configError(r) && r.clause.startsWith(at))) return;
    if (MOOT_RLIMITS[type]) return moot(at, type, `${MOOT_RLIMITS[type]}: nothing to bound`);
    refuse(at, `${type} is a process limit; a wasm guest is bounded by bvisor's WASI host and budgets instead, which this limit would not mean`, RLIMIT_HINTS[type] ?? 'remove it');
  });

  // linux: namespaces, id maps, devices, masked paths and the seccomp profile are moot.
  const ns = Array.isArray(l.namespaces) ? l.namespaces.filter(isObj) : [];
  for (const n of ns) {
    const type = typeof n.type === 'string' ? n.type : '';
    const joined = typeof n.path === 'string' && n.path !== '';
    moot(`linux.namespaces(${type})`, joined ? `join ${String(n.path)}` : `new ${type} namespace`, type === 'network' ? 'a WASI preview 1 guest has no sockets: no network at all' : `a WASI guest sees no ${type} namespace; its runner gets its own from the runner plan`);
  }
  if (l.uidMappings !== undefined || l.gidMappings !== undefined) moot('linux.uidMappings', 'the config\'s id maps', 'WASI preview 1 has no user ids');
  const res = isObj(l.resources) ? l.resources : {};
  if (Array.isArray(res.devices) && res.devices.length) moot('linux.resources.devices', `${res.devices.length} device rule(s)`, 'a WASI guest opens no device');
  const cpu = isObj(res.cpu) ? res.cpu : {};
  if (typeof cpu.quota === 'number' && cpu.quota > 0) refuse('linux.resources.cpu.quota', 'a WASI guest runs on one thread; a cpu quota is not a wasm budget', 'bound it with limits.fuel or limits.wall in a boundary.yaml beside config.json; remove the quota');
  const pidsLimit = isObj(res.pids) && typeof res.pids.limit === 'number' && res.pids.limit > 0;
  if (Array.isArray(l.maskedPaths) && l.maskedPaths.length) moot('linux.maskedPaths', `${l.maskedPaths.length} path(s)`, 'a WASI guest has no /proc or /sys to mask');
  if (Array.isArray(l.readonlyPaths) && l.readonlyPaths.length) moot('linux.readonlyPaths', `${l.readonlyPaths.length} path(s)`, 'a WASI guest has no /proc or /sys');
  if (o.seccomp !== null) moot('linux.seccomp', 'the config\'s seccomp profile', 'a WASI guest makes no system calls; its runner keeps bvisor\'s own filter');
  if (o.hostname !== null) moot('hostname', o.hostname, 'WASI preview 1 has no hostname');
  if (o.cgroupsPath) accept('linux.cgroupsPath', `${o.cgroupsPath.parent}/${o.cgroupsPath.leaf}`, 'linux:cgroup(parent of the runner\'s leaf)', `the runner's cgroups are made under ${o.cgroupsPath.parent || 'our own cgroup'}, named by bvisor (bvisor-<id>-…), not ${o.cgroupsPath.leaf}`);

  const limits = { ...linux.limits };
  delete limits.cpus; // refused above when asked
  if (!pidsLimit) delete limits.processes; // bvisor's default for a Linux container's descendants
  return {
    ...linux,
    workload: { kind: 'wasm', module, args: linux.workload.kind === 'process' ? linux.workload.args : [], deterministic: false, seed: null },
    root: null,
    filesystem: filesystem.map((g, index) => ({ ...g, index })),
    network: { value: { mode: 'deny', connect: [], bind: [] }, guarantee: 'enforced', explicit: true },
    spawn: { value: 'deny', guarantee: 'enforced', explicit: true },
    capabilities: [],
    limits,
    // No network namespace is joined for a guest without sockets (the runner's plan has none).
    // (process.user is moot: the guest has no ids, and the runner runs as bvisor's host id.)
    oci: { ...withoutUser(o), netnsPath: null, terminal: false, fsMounts: [], maskedPaths: [], readonlyPaths: [], rlimits: [], seccomp: null, oomScoreAdj: null, umask: null, verdicts, refusals },
  };
}

function withoutUser(o: OciExtras): OciExtras {
  const { user: _moot, idMaps: _none, additionalGids: _unset, ...rest } = o;
  return rest;
}
