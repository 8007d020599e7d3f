// bvisor learn, the pure half: from the calls an observed run let through (seccomp user
// notification records, decoded to names), what the host says about each path, the denials and
// the budgets consumed, a proposed minimal boundary.yaml with a comment per clause saying what
// was observed. No host, no clock: the caller passes a lookup for host paths (realpath and kind)
// and the run's facts. The collapse rules are written in docs/learn.md.
import type { NamedCall } from './seccomp/denials.js';
import { parentOf } from './paths.js';
import { Document, isMap, isScalar, isSeq, type YAMLMap, type Scalar } from 'yaml';
import type { Denial } from '../contract/generated/types.js';
import { loadManifest } from './manifest.js';
import { under, MINIMAL_DEVICES } from './layout.js';
import { accessOf, covers, type Access } from './access.js';
import { AT_FDCWD, CLONE_THREAD, AF_UNIX, AF_INET, AF_INET6, SOCK_STREAM, PATHS, decodeSockaddr, intentOf, int32, normalize, type HostKind, type HostLookup, type Intent } from './calls.js';

/** A directory holding at least this many files the run read (outside /usr and /etc's own top
 * level) is proposed whole. */
export const DIR_THRESHOLD = 8;
/** Trees granted whole (read-exec) once the run executed or mapped anything from them. */
export const EXEC_TREES = ['/usr'];
/** limits.memory floor (Mi) and the headroom factors (see docs/learn.md). */
export const MIN_MEMORY_MI = 16;

/** One call the observed run made (let through, or denied by the plain program). */
export type LearnCall = Omit<NamedCall, 'tNs'>;

/** A grant of the bundle's manifest, kept as written; hostPath is where it resolves. */
export interface KeptGrant {
  raw: Record<string, unknown>;
  hostPath: string;
  access: string;
  recursive: boolean;
}

export interface LearnInput {
  /** The bundle's manifest as parsed YAML (workload, env, stdio, fds, … are carried over). */
  original: Record<string, unknown>;
  kept: readonly KeptGrant[];
  /** The program (physical path) and working directory. */
  exe: string;
  cwd: string;
  calls: readonly LearnCall[];
  /** The observed run's denials (the report's list). */
  denials: readonly Pick<Denial, 'clause' | 'what' | 'rule' | 'warning' | 'count'>[];
  budgets: { memoryPeakBytes: number | null; pidsPeak: number | null; runMs: number };
  /** Whether the learning run had the host network (--network): else outside connects failed. */
  hostNetwork: boolean;
  lookup: HostLookup;
  /** Host paths the learning run bound besides the grants and the top-level directories (the
   * program, the working directory), so not part of its private /tmp. */
  alsoBound?: readonly string[];
  /** Names of the symlinks at the top of the host's / (merged /usr: lib, lib64, bin, sbin): the
   * host-mode root makes them whenever their destination is bound. */
  rootLinks?: readonly string[];
}

export interface ProposedGrant {
  path: string;
  access: Access;
  comment: string;
  /** Writes the learning run could not make (outside the bundle's read-write grants). */
  notExercised?: boolean;
}

export interface Proposal {
  /** The YAML text, comments included. */
  text: string;
  /** The same, as data. */
  manifest: Record<string, unknown>;
  grants: ProposedGrant[];
  warnings: string[];
  /** What was observed, in numbers (for the command's summary). */
  stats: { calls: number; paths: number; dropped: number; unresolved: number; special: string[] };
}

interface Use {
  real: string;
  kind: HostKind;
  read: boolean;
  write: boolean;
  exec: boolean;
  list: boolean;
  probe: boolean;
  /** Lexical paths seen for it (before symlinks). */
  seen: Set<string>;
}

const isLibrary = (p: string): boolean => /\.so(\.[0-9]+)*$/.test(p);

const MI = 1024 * 1024;
/** limits from what the run consumed, with headroom: memory 2× peak (whole Mi, ≥ 16Mi), wall 3×
 * run time + 1 s (whole seconds), processes max(8, 2× pids peak). */
export function learnedLimits(b: LearnInput['budgets'], spawn: 'deny' | 'threads' | 'descendants'): { limits: Record<string, string | number>; notes: string[] } {
  const limits: Record<string, string | number> = {};
  const notes: string[] = [];
  limits.wall = `${Math.ceil((3 * b.runMs + 1000) / 1000)}s`;
  notes.push(`ran ${b.runMs} ms`);
  if (b.memoryPeakBytes !== null) {
    limits.memory = `${Math.max(MIN_MEMORY_MI, Math.ceil((2 * b.memoryPeakBytes) / MI))}Mi`;
    notes.push(`memory peak ${(b.memoryPeakBytes / MI).toFixed(1)} Mi`);
  } else notes.push('memory peak not measured (no memory cgroup): no memory limit proposed');
  if (spawn === 'descendants') {
    limits.processes = Math.max(8, 2 * (b.pidsPeak ?? 4));
    notes.push(b.pidsPeak !== null ? `pids peak ${b.pidsPeak}` : 'pids peak not measured: processes from the floor');
  }
  return { limits, notes };
}

export function propose(input: LearnInput): Proposal {
  const warnings: string[] = [];
  const uses = new Map<string, Use>();
  const cwdOf = new Map<number, string>();
  let lastCwd = input.cwd;
  let unresolved = 0;
  let dropped = 0;
  const droppedSamples: string[] = [];
  const special = { proc: new Set<string>(), dev: new Set<string>(), tmp: 0 };
  let forks = 0;
  let threads = 0;
  const tcpPorts = new Set<number>();
  const outsideOther = new Set<string>();
  let loopbackUse = false;
  const ipSockets = { stream: 0, other: 0 };
  const unixSockets = new Set<string>();
  const abstractSockets = new Set<string>();

  const keptFor = (real: string, need: string): KeptGrant | undefined =>
    input.kept.find((k) => (real === k.hostPath || (k.recursive && under(real, k.hostPath))) && covers(k.access, need));
  const touch = (abs: string, intent: Intent): void => {
    // The learning run's /tmp was private: host facts say nothing about it.
    if (under(abs, '/tmp') && !input.kept.some((k) => under(abs, k.hostPath)) && !(input.alsoBound ?? []).some((b) => b !== '/' && under(abs, b))) {
      special.tmp++;
      return;
    }
    if (under(abs, '/proc')) {
      special.proc.add(abs.split('/').slice(0, 3).join('/').replace(/^\/proc\/(\d+|self|thread-self)$/, '/proc/<pid>'));
      return;
    }
    if (under(abs, '/dev')) {
      const d = abs.slice(5);
      const served = (MINIMAL_DEVICES as readonly string[]).includes(d) || ['fd', 'stdin', 'stdout', 'stderr', 'shm', ''].includes(d.split('/')[0]!);
      if (!served) special.dev.add(abs);
      return;
    }
    let h = input.lookup(abs);
    let kindIntent = intent;
    if (h.kind === 'missing') {
      if (intent !== 'create' && intent !== 'write' && intent !== 'readwrite') {
        // Only probed (glibc-hwcaps, search paths): it did not exist, so nothing to grant.
        dropped++;
        if (droppedSamples.length < 3 && !droppedSamples.includes(abs)) droppedSamples.push(abs);
        return;
      }
      // Made by the run: the nearest directory that exists is where it is made.
      let p = parentOf(abs);
      for (;;) {
        h = input.lookup(p);
        if (h.kind !== 'missing' || p === '/') break;
        p = parentOf(p);
      }
      kindIntent = 'create';
    } else if (intent === 'remove' || (intent === 'create' && h.kind === 'dir')) {
      // unlink/rename change the directory; mkdir of an existing directory fails EEXIST (probe).
      if (intent === 'remove') h = input.lookup(parentOf(h.real));
      else kindIntent = 'probe';
    }
    const u = uses.get(h.real) ?? { real: h.real, kind: h.kind, read: false, write: false, exec: false, list: false, probe: false, seen: new Set<string>() };
    u.seen.add(abs);
    if (kindIntent === 'read') u.read = true;
    if (kindIntent === 'list') (u.read = true), (u.list = true);
    if (kindIntent === 'write' || kindIntent === 'readwrite' || kindIntent === 'create' || intent === 'remove') u.write = true;
    // (a file it makes, it usually reads back; O_RDWR reads)
    if (kindIntent === 'readwrite' || kindIntent === 'create') u.read = true;
    if (kindIntent === 'exec') (u.exec = true), (u.read = true);
    if (kindIntent === 'probe') u.probe = true;
    if (u.read && u.kind === 'file' && isLibrary(u.real)) u.exec = true;
    uses.set(h.real, u);
  };

  touch(normalize(input.exe), 'exec');
  for (const c of input.calls) {
    const a0 = Number(c.args[0] ?? 0n);
    if (c.name === 'clone') {
      if (a0 & CLONE_THREAD) threads++;
      else forks++;
      continue;
    }
    if (c.name === 'fork' || c.name === 'vfork') {
      forks++;
      continue;
    }
    if (c.name === 'socket') {
      const fam = int32(c.args[0]);
      const type = int32(c.args[1]) & 0xf;
      if (fam === AF_INET || fam === AF_INET6) ipSockets[type === SOCK_STREAM ? 'stream' : 'other']++;
      continue;
    }
    if (c.name === 'connect') {
      const sa = c.sockaddr ? decodeSockaddr(c.sockaddr) : null;
      if (!sa) continue;
      if (sa.family === AF_INET || sa.family === AF_INET6) {
        if (sa.loopback) loopbackUse = true;
        else if (sa.port !== undefined) tcpPorts.add(sa.port);
      } else if (sa.family === AF_UNIX && sa.path) {
        if (sa.abstract) abstractSockets.add(sa.path);
        else unixSockets.add(sa.path.startsWith('/') ? normalize(sa.path) : normalize(`${cwdOf.get(c.pid) ?? lastCwd}/${sa.path}`));
      }
      continue;
    }
    const spots = PATHS[c.name];
    if (!spots) continue;
    for (const [si, di] of spots) {
      const s = c.strings[si];
      if (s === null || s === undefined) {
        if (Number(c.args[si] ?? 0n) !== 0) unresolved++; // not read (unmapped, or past the record)
        continue;
      }
      if (s === '') continue; // AT_EMPTY_PATH: a descriptor already open, not a path
      if (s.endsWith('…')) {
        unresolved++; // cut at the record's 256 bytes
        continue;
      }
      let abs: string;
      if (s.startsWith('/')) abs = normalize(s);
      else if (di === null || int32(c.args[di]) === AT_FDCWD) abs = normalize(`${cwdOf.get(c.pid) ?? lastCwd}/${s}`);
      else {
        // Relative to a descriptor the record cannot name (docs/learn.md: not observable).
        unresolved++;
        continue;
      }
      if (c.name === 'chdir') {
        cwdOf.set(c.pid, abs);
        lastCwd = abs;
      }
      touch(abs, intentOf(c.name, c.args));
    }
  }
  // Sockets of the host the run connected to: granted when they exist.
  for (const p of unixSockets) {
    const h = input.lookup(p);
    if (h.kind === 'missing') {
      dropped++;
      continue;
    }
    const u = uses.get(h.real) ?? { real: h.real, kind: h.kind, read: false, write: false, exec: false, list: false, probe: false, seen: new Set<string>() };
    u.read = u.write = true;
    u.seen.add(p);
    uses.set(h.real, u);
  }

  // ---- collapse ----
  const grants: ProposedGrant[] = [];
  const rest = new Map<string, Use>();
  let keptHits = 0;
  for (const u of uses.values()) {
    const need = accessOf(u);
    if (keptFor(u.real, u.probe && !u.read && !u.write ? 'read' : need)) {
      keptHits++;
      continue;
    }
    rest.set(u.real, u);
  }
  for (const tree of EXEC_TREES) {
    const inside = [...rest.values()].filter((u) => under(u.real, tree));
    if (!inside.some((u) => u.exec)) continue;
    const execd = inside.filter((u) => u.exec && !isLibrary(u.real)).map((u) => u.real);
    const libs = inside.filter((u) => isLibrary(u.real)).length;
    const wrote = inside.filter((u) => u.write);
    for (const u of inside) if (!u.write) rest.delete(u.real);
    grants.push({ path: tree, access: 'read-exec', comment: `read ${inside.filter((u) => u.read && u.kind === 'file').length} files under ${tree} (${libs} libraries), executed ${execd.slice(0, 4).join(', ')}${execd.length > 4 ? ` and ${execd.length - 4} more` : ''}` });
    void wrote;
  }
  // Directories the run read many files from, or listed (below the top level), whole.
  const byDir = new Map<string, Use[]>();
  for (const u of rest.values()) if (u.kind !== 'dir' && u.real.split('/').length > 2) byDir.set(parentOf(u.real), [...(byDir.get(parentOf(u.real)) ?? []), u]);
  const dirGrants = new Map<string, { uses: Use[]; why: string }>();
  for (const [dir, us] of byDir) {
    const depth = dir.split('/').length - 1;
    if (depth >= 2 && us.filter((u) => u.read || u.exec).length >= DIR_THRESHOLD) dirGrants.set(dir, { uses: us, why: `read ${us.length} files in it` });
  }
  for (const u of rest.values()) {
    if (u.kind === 'dir' && u.list && u.real.split('/').length - 1 >= 2 && !dirGrants.has(u.real)) dirGrants.set(u.real, { uses: [], why: 'listed it' });
  }
  // Innermost collapsed directories are dropped when an outer one is collapsed too.
  for (const d of [...dirGrants.keys()]) if ([...dirGrants.keys()].some((o) => o !== d && under(d, o))) dirGrants.delete(d);
  for (const [dir, g] of dirGrants) {
    const inside = [...rest.values()].filter((u) => under(u.real, dir));
    const acc = inside.reduce((m, u) => ({ read: true, write: m.write || u.write, exec: m.exec || u.exec }), { read: true, write: false, exec: false });
    for (const u of inside) rest.delete(u.real);
    const files = inside.filter((u) => u.kind !== 'dir').length;
    grants.push({ path: dir, access: accessOf(acc), comment: `${g.why}${g.why.startsWith('read') ? '' : files ? `, read ${files} files in it` : ''}`, ...(acc.write && !keptFor(dir, 'read-write') ? { notExercised: true } : {}) });
  }
  // Directories only probed or listed at the top: they exist in the root when a grant lies beneath
  // them (its mount point's parents are made), so no grant of their own.
  const all = (): string[] => [...grants.map((g) => g.path), ...[...rest.values()].filter((u) => u.kind !== 'dir' || u.write).map((u) => u.real)];
  for (const u of [...rest.values()]) {
    if (u.kind !== 'dir' || u.write) continue;
    const beneath = all().some((p) => p !== u.real && under(p, u.real)) || input.kept.some((k) => k.hostPath !== u.real && under(k.hostPath, u.real));
    if (beneath || u.real === '/' || u.real.split('/').length - 1 < 2) rest.delete(u.real);
  }
  for (const u of [...rest.values()].sort((a, b) => (a.real < b.real ? -1 : 1))) {
    const what = u.kind === 'socket' ? 'connected to this socket' : u.exec && !isLibrary(u.real) ? 'executed it' : u.write ? (u.kind === 'dir' ? 'made or removed entries in it' : 'wrote it') : u.kind === 'dir' ? 'needed it to exist (stat, chdir)' : u.read ? (isLibrary(u.real) ? 'mapped it (a library)' : 'read it') : 'needed it to exist (stat)';
    const alias = [...u.seen].filter((s) => s !== u.real);
    grants.push({ path: u.real, access: u.kind === 'socket' ? 'read-write' : accessOf({ read: u.read || u.probe || u.list || !u.write, write: u.write, exec: u.exec }), comment: what + (alias.length ? ` (as ${alias[0]})` : ''), ...(u.write && u.kind !== 'socket' ? { notExercised: true } : {}) });
  }
  // A grant beneath another with at least its access adds nothing.
  const final = grants.filter((g) => !grants.some((o) => o !== g && o.path !== g.path && under(g.path, o.path) && covers(o.access, g.access)));
  // Paths used through a symlink (/etc/os-release → ../usr/lib/os-release): the grant that covers
  // the file binds it at its physical place only; a grant of the path as used makes the planner
  // recreate the links on the way too (layout.ts, grantLinks). With the covering grant's access:
  // a narrower grant inside it would be refused (BV_PLAN_GRANT_NESTED). The top-level links of
  // merged /usr (/lib → usr/lib) are made anyway.
  const inRoot = (p: string): boolean => final.some((g) => under(p, g.path)) || input.kept.some((k) => under(p, k.hostPath)) || (input.rootLinks ?? []).includes(p.split('/')[1] ?? '');
  const linked = new Set<string>();
  for (const u of uses.values()) {
    for (const alias of u.seen) {
      if (alias === u.real || linked.has(alias) || inRoot(alias)) continue;
      const cover = final.find((g) => under(u.real, g.path)) ?? null;
      const kept = cover ? null : input.kept.find((k) => under(u.real, k.hostPath)) ?? null;
      if (!cover && !kept) continue; // not granted at all: nothing to link to
      linked.add(alias);
      final.push({ path: alias, access: (cover?.access ?? kept!.access) as ProposedGrant['access'], comment: `used as ${alias}, a link to ${u.real}: granted by that path so the link is made` });
    }
  }
  // cwd: must be in the root (the planner refuses one that is not).
  const cwd = normalize(input.cwd);
  if (cwd !== '/' && !final.some((g) => under(cwd, g.path)) && !input.kept.some((k) => under(cwd, k.hostPath))) final.push({ path: input.lookup(cwd).real, access: 'read', comment: 'the working directory' });
  final.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const g of final) if (g.notExercised) warnings.push(`filesystem ${g.path} ${g.access}: not exercised (the learning run could not write there; the write was seen as it was attempted)`);

  // ---- network, spawn, syscalls ----
  type Net = 'deny' | 'loopback' | 'host' | { connect: number[] };
  let network: Net = 'deny';
  let netWhy = 'no IP socket made';
  if (ipSockets.other > 0 && (tcpPorts.size > 0 || !loopbackUse)) {
    network = 'host';
    netWhy = `${ipSockets.other} non-TCP IP socket(s) made (UDP, raw): landlock filters TCP only`;
    warnings.push('network: host: the run made UDP or raw IP sockets, which no port list can restrict');
  } else if (tcpPorts.size > 0) {
    network = { connect: [...tcpPorts].sort((a, b) => a - b) };
    netWhy = `connected to TCP port(s) ${[...tcpPorts].join(', ')} outside this host`;
    if (!input.hostNetwork) warnings.push(`network connect ${[...tcpPorts].join(', ')}: not exercised (learned without --network: the connects were seen, and failed)`);
  } else if (loopbackUse || ipSockets.stream + ipSockets.other > 0) {
    network = 'loopback';
    netWhy = loopbackUse ? 'connected to loopback addresses only' : 'made IP sockets, connected nowhere outside';
  }
  if (abstractSockets.size) warnings.push(`abstract unix sockets ${[...abstractSockets].slice(0, 3).join(', ')}: in a network namespace of its own the host's are not reachable`);

  const spawn: 'deny' | 'threads' | 'descendants' = forks > 0 ? 'descendants' : threads > 0 ? 'threads' : 'deny';
  const spawnWhy = forks > 0 ? `${forks} fork/clone call(s) without CLONE_THREAD${threads ? `, ${threads} thread(s)` : ''}` : threads > 0 ? `${threads} clone(CLONE_THREAD) call(s), no process` : 'no fork, clone or vfork';
  const { limits, notes } = learnedLimits(input.budgets, spawn);
  const syscallNotes: string[] = [];
  for (const d of input.denials) {
    if (d.clause !== 'syscalls') continue;
    syscallNotes.push(` needed ${d.what}${d.count > 1 ? ` ×${d.count}` : ''}: denied (${d.rule})`);
    warnings.push(`syscalls: the run needed ${d.what}, a default denylist row (${d.rule}); it was denied with EPERM and stays denied${d.warning ? `; ${d.warning}` : ''}`);
  }

  // ---- the document ----
  const o = input.original;
  const grantsOut: Array<Record<string, unknown>> = [...input.kept.map((k) => k.raw), ...final.map((g) => ({ path: g.path, access: g.access }))];
  const manifest: Record<string, unknown> = { bvisorVersion: '1', workload: o.workload };
  manifest.filesystem = grantsOut;
  manifest.network = network;
  manifest.spawn = spawn;
  if (o.env !== undefined) manifest.env = o.env;
  if (o.fds !== undefined) manifest.fds = o.fds;
  if (o.stdio !== undefined) manifest.stdio = o.stdio;
  manifest.limits = limits;
  if (special.tmp > 0) manifest.tmp = 'private';
  for (const k of ['syscalls', 'isolate', 'capabilities', 'guarantee'] as const) if (o[k] !== undefined) manifest[k] = o[k];

  const doc = new Document(manifest);
  const top = doc.contents as YAMLMap;
  const keyComment = (key: string, text: string): void => {
    const pair = top.items.find((p) => isScalar(p.key) && (p.key as Scalar).value === key);
    if (pair) (pair.key as Scalar).commentBefore = text.split('\n').map((l) => ` ${l}`).join('\n');
  };
  doc.commentBefore = [
    ' Proposed by `bvisor learn` from one observed run: the smallest boundary that run needed.',
    ' Review it: a path the run did not touch this time is not granted. See docs/learn.md.',
  ].join('\n');
  const fsLines = [`${uses.size} paths used (${keptHits} under the bundle's own grants), ${dropped} missing paths only probed and dropped${droppedSamples.length ? ` (e.g. ${droppedSamples.join(', ')})` : ''}`];
  if (unresolved) fsLines.push(`${unresolved} path(s) not resolvable (relative to a descriptor, or cut): not observed`);
  if (special.proc.size) fsLines.push(`read ${[...special.proc].slice(0, 6).join(', ')}: /proc is private to the run; not granted (grant { path: /proc, access: read } if it needs it)`);
  if (special.dev.size) fsLines.push(`used ${[...special.dev].slice(0, 4).join(', ')}: not among the devices every root gets`);
  keyComment('filesystem', fsLines.join('\n'));
  const seq = top.get('filesystem', true);
  if (isSeq(seq)) {
    seq.items.forEach((item, i) => {
      if (!isMap(item)) return;
      item.flow = true;
      if (i < input.kept.length) item.commentBefore = i === 0 ? ' kept from the bundle' : undefined;
      else {
        const g = final[i - input.kept.length]!;
        item.commentBefore = ` ${g.comment}${g.notExercised ? ' (not exercised: writes there failed in the learning run)' : ''}`;
      }
    });
  }
  keyComment('network', netWhy + (unixSockets.size ? `; unix sockets: ${[...unixSockets].slice(0, 3).join(', ')}` : ''));
  keyComment('spawn', spawnWhy);
  keyComment('limits', notes.join('; '));
  const lim = top.get('limits', true);
  if (isMap(lim)) lim.flow = true;
  if (special.tmp > 0) keyComment('tmp', `${special.tmp} use(s) of /tmp`);
  if (syscallNotes.length) {
    doc.comment = [' Denylisted calls the run needed (each denied with EPERM; no clause lifts them):', ...syscallNotes].join('\n');
  }
  const text = doc.toString({ lineWidth: 0 });
  // The proposal must be a manifest bvisor accepts (schema and meaning).
  loadManifest(text, 'proposed boundary.yaml');
  return { text, manifest, grants: final, warnings, stats: { calls: input.calls.length, paths: uses.size, dropped, unresolved, special: [...special.proc, ...special.dev] } };
}
