// The workload's root as data (pure). In host mode it is built from the grants, as bubblewrap
// builds one: an empty tmpfs, each grant bind-mounted at its own path with exactly its access, a
// fresh /proc (with /proc/sys read-only and the leaky files masked), a minimal /dev, a private
// /tmp when asked. What no grant names does not exist for the workload, so metadata calls
// (stat, chmod, chown, utime, xattr, inotify) and pathname unix sockets cannot reach it either;
// landlock stays on top as a second layer. In container mode the bundle's rootfs is the root
// and the same pieces are mounted into it.
//
// The planner puts this list into the plan (so `plan --json` shows the root and its hash covers
// it); lower.ts turns it into the child's mount steps without adding or reordering anything.
import type { FsRule, LayoutEntry, LaunchInputs } from '../contract/generated/types.js';

/** Device nodes every root gets (bound from the host's /dev, read-write, never others). */
export const MINIMAL_DEVICES = ['null', 'zero', 'full', 'random', 'urandom'] as const;
/** /proc files that leak or control host-wide state: hidden (as runc, crun and podman do). */
export const PROC_MASKED = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/sysrq-trigger', '/proc/latency_stats', '/proc/acpi', '/proc/scsi', '/proc/asound', '/proc/interrupts', '/proc/kallsyms'];
/** /proc directories that stay visible but read-only (host-wide tunables). */
export const PROC_READONLY = ['/proc/sys', '/proc/irq', '/proc/bus', '/proc/fs'];

export const under = (p: string, dir: string): boolean => dir === '/' || p === dir || p.startsWith(dir + '/');

/** The grant whose target covers p most closely (its rights are what landlock enforces there). */
export function coveringGrant(p: string, filesystem: readonly FsRule[]): FsRule | null {
  let best: FsRule | null = null;
  for (const r of filesystem) {
    if (p === r.target || (r.recursive && under(p, r.target))) if (!best || r.target.length > best.target.length) best = r;
  }
  return best;
}

/**
 * A grant of the host's own /proc (or a minimal device), which the fresh /proc (or the minimal
 * /dev) serves: a landlock rule there, no bind. Anything else, even a bundle directory a
 * container would see at /proc, is a bind like any grant (and then collides with /proc).
 */
export function servedBySpecial(r: { target: string; path: string }): 'proc' | 'device' | null {
  if (r.path !== r.target) return null;
  if (under(r.target, '/proc')) return 'proc';
  if (MINIMAL_DEVICES.some((d) => r.target === `/dev/${d}`) || r.target === '/dev/tty') return 'device';
  return null;
}

export interface LayoutContext {
  /** Symlinks at the top of the host's / (merged /usr: lib64 -> usr/lib64). Host mode only. */
  rootLinks: ReadonlyArray<{ name: string; target: string }>;
  /** Host mode: the trusted symlinks a grant's path passed through (PathFact.links), with its
   * clause: made again in the built root, so the path works as the manifest wrote it. */
  grantLinks?: ReadonlyArray<{ at: string; text: string; clause: string }>;
  /** Host paths bvisor keeps to itself (state root, cache): masked inside any bind holding them. */
  reserved: ReadonlyArray<{ path: string; what: string }>;
  /** Files bound read-only over themselves, executable (set-ID programs beneath a writable
   * idmapped mount: host/set-id.ts), with the clause of the tree that holds them. */
  readonlyFiles?: ReadonlyArray<{ target: string; clause: string; dev: string; ino: string; top: string }>;
  /** OCI bundles: the config's fresh mounts (devpts, mqueue, sysfs, cgroup2), maskedPaths and
   * readonlyPaths, each with the JSON path it came from. */
  oci?: {
    fsMounts: ReadonlyArray<{ path: string; destination: string; type: 'devpts' | 'mqueue' | 'sysfs' | 'cgroup2' | 'tmpfs'; options: readonly string[] }>;
    maskedPaths: readonly string[];
    readonlyPaths: readonly string[];
    /** process.user other than 0:0: idmapped mounts show every other id as on disk. */
    user?: { uid: number; gid: number };
  };
  /** Idmapped mounts show every id they do not map as on disk (features.ts othersAsOnDisk: an
   * OCI process.user, or a block of ids). Absent: as oci.user says. */
  othersAsOnDisk?: boolean;
}

/** The ids the child becomes: 0:0, or an OCI config's process.user (the one id the workload's
 * user namespace maps to the plan's identity, or one of an OCI config's block of ids). */
export function insideIds(launch: Pick<LaunchInputs, 'oci'>): { uid: number; gid: number } {
  return launch.oci?.user ?? { uid: 0, gid: 0 };
}

/** The host ids the workload's process holds once it has become insideIds: the plan's identity,
 * or, with an OCI config's block of ids (0..count-1 from the identity), its place in the block,
 * and its supplementary groups there. */
export function hostIdsOf(launch: Pick<LaunchInputs, 'oci' | 'identity'>): { uid: number; gid: number; groups: number[] } {
  if (!launch.oci?.ids) return { uid: launch.identity.uid, gid: launch.identity.gid, groups: [] };
  const inside = insideIds(launch);
  // Supplementary groups (the block's), as the kernel keeps them: ascending (groups_sort).
  return { uid: launch.identity.uid + inside.uid, gid: launch.identity.gid + inside.gid, groups: (launch.oci.groups ?? []).map((g) => launch.identity.gid + g).sort((a, b) => a - b) };
}

/** An idmapped mount's option: its owner on disk shows as the workload's identity (a block of
 * `count` ids from there as as many from the identity's: `×count`). In a launch that maps an OCI
 * process.user or a block (`othersAsOnDisk`), every other id shows as itself (see
 * backends/linux/lower.ts idmapLines). */
export function idmapOption(idmap: { uid: number; gid: number; count?: number }, identity: { uid: number; gid: number }, othersAsOnDisk: boolean): string {
  const n = idmap.count !== undefined && idmap.count > 1 ? `×${idmap.count}` : '';
  return `idmap=${idmap.uid}:${idmap.gid}${n}→${identity.uid}:${identity.gid}${n}${othersAsOnDisk ? '(others as on disk)' : ''}`;
}

/** Mount attributes a grant's bind gets: exactly its access, never set-id or device files. */
export function bindOptions(r: Pick<FsRule, 'access' | 'idmap'>, identity: { uid: number; gid: number }, othersAsOnDisk = false): string[] {
  const o = [r.access.includes('write') ? 'rw' : 'ro', 'nosuid', 'nodev'];
  if (!r.access.includes('exec')) o.push('noexec');
  if (r.idmap) o.push(idmapOption(r.idmap, identity, othersAsOnDisk));
  return o;
}

/** Parents before children, so every mount point exists (or is made) in what is already there. */
function byTarget(a: LayoutEntry, b: LayoutEntry): number {
  if (a.kind === 'root') return -1;
  if (b.kind === 'root') return 1;
  const sa = a.target.split('/').filter(Boolean);
  const sb = b.target.split('/').filter(Boolean);
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) if (sa[i] !== sb[i]) return sa[i]! < sb[i]! ? -1 : 1;
  return sa.length - sb.length;
}

type LayoutInputs = Pick<LaunchInputs, 'root' | 'filesystem' | 'namespaces' | 'tmp' | 'stdio' | 'memoryBytes' | 'identity'>;

export function layoutFor(launch: LayoutInputs, ctx: LayoutContext): LayoutEntry[] {
  if (!launch.namespaces.includes('mount')) return [];
  const out: LayoutEntry[] = [];
  const container = launch.root !== null;
  const othersAsOnDisk = ctx.othersAsOnDisk ?? ctx.oci?.user !== undefined;
  const rootIdmap = launch.root?.idmap ? [idmapOption(launch.root.idmap, launch.identity, othersAsOnDisk)] : [];
  out.push(container ? { target: '/', kind: 'root', source: launch.root!.path, options: [launch.root!.readonly ? 'ro' : 'rw', 'nosuid', 'nodev', ...rootIdmap], clause: 'root' } : { target: '/', kind: 'root', source: 'tmpfs', options: ['ro', 'nosuid', 'nodev', 'mode=755'], clause: 'filesystem' });

  const binds: FsRule[] = launch.filesystem.filter((r) => !servedBySpecial(r));
  for (const r of binds) out.push({ target: r.target, kind: 'bind', source: r.path, options: bindOptions(r, launch.identity, othersAsOnDisk), clause: r.clause });
  // A bind (or, in a container, the rootfs) that holds one of bvisor's own directories shows an
  // empty, read-only one instead.
  for (const res of ctx.reserved) {
    // One mask covers what lies beneath it (the wasm cache inside the state root).
    if (ctx.reserved.some((o) => o !== res && o.path !== res.path && under(res.path, o.path))) continue;
    if (container && res.path !== launch.root!.path && under(res.path, launch.root!.path)) {
      out.push({ target: res.path.slice(launch.root!.path.length), kind: 'mask', source: res.what, clause: 'root' });
    }
    for (const r of binds) {
      if (res.path !== r.path && under(res.path, r.path) && r.kind === 'directory') {
        out.push({ target: r.target === '/' ? res.path : r.target + res.path.slice(r.path === '/' ? 0 : r.path.length), kind: 'mask', source: res.what, clause: r.clause });
      }
    }
  }

  if (launch.namespaces.includes('pid')) {
    out.push({ target: '/proc', kind: 'proc', options: ['nosuid', 'nodev', 'noexec'], clause: 'filesystem' });
    for (const p of PROC_READONLY) out.push({ target: p, kind: 'readonly', options: ['ro'], clause: 'filesystem' });
    for (const p of PROC_MASKED) out.push({ target: p, kind: 'mask', source: 'host-wide', clause: 'filesystem' });
  }
  out.push({ target: '/dev', kind: 'tmpfs', options: ['nosuid', 'noexec', 'mode=755', 'size=65536'], clause: 'filesystem' });
  // /dev/tty is the caller's terminal: only when stdin is granted from it.
  const devices = launch.stdio.stdin === 'inherit' ? [...MINIMAL_DEVICES, 'tty'] : [...MINIMAL_DEVICES];
  for (const d of devices) out.push({ target: `/dev/${d}`, kind: 'device', source: `/dev/${d}`, options: ['nosuid', 'noexec'], clause: 'filesystem' });
  out.push({ target: '/dev/fd', kind: 'symlink', source: '/proc/self/fd', clause: 'filesystem' });
  ['stdin', 'stdout', 'stderr'].forEach((n, i) => out.push({ target: `/dev/${n}`, kind: 'symlink', source: `/proc/self/fd/${i}`, clause: 'filesystem' }));
  out.push({ target: '/dev/shm', kind: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'mode=1777', `size=${launch.memoryBytes ?? 64 * 2 ** 20}`], clause: 'filesystem' });
  if (launch.tmp.mode === 'private') {
    out.push({ target: '/tmp', kind: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${launch.tmp.sizeBytes ?? launch.memoryBytes ?? 64 * 2 ** 20}`], clause: 'tmp' });
  }
  if (ctx.oci) {
    for (const m of ctx.oci.fsMounts) {
      // The kernel's defaults for the rest; gid=5 is dropped (only the process's own group exists inside), and
      // sysfs and cgroup2 are never writable from a container.
      const opts = m.options.filter((o) => ['nosuid', 'nodev', 'noexec', 'ro'].includes(o) || (m.type === 'tmpfs' && /^(mode|size)=/.test(o)));
      if ((m.type === 'sysfs' || m.type === 'cgroup2') && !opts.includes('ro')) opts.push('ro');
      // (devpts is never nodev unless the config says so: its ptmx and ptys are device nodes.)
      for (const f of m.type === 'tmpfs' ? ['nosuid', 'nodev'] : m.type === 'devpts' ? ['nosuid', 'noexec'] : ['nosuid', 'nodev', 'noexec']) if (!opts.includes(f)) opts.push(f);
      if (m.type === 'devpts') opts.push('newinstance', 'ptmxmode=0666', 'mode=0620');
      out.push({ target: m.destination, kind: m.type, options: opts, clause: m.path });
      if (m.type === 'devpts' && m.destination === '/dev/pts') out.push({ target: '/dev/ptmx', kind: 'symlink', source: 'pts/ptmx', clause: m.path });
    }
    // /proc's leaky files are masked already (the same list runc and podman send, and more).
    ctx.oci.maskedPaths.forEach((p, i) => out.some((e) => e.kind === 'mask' && e.target === p) || out.push({ target: p, kind: 'mask', source: 'config', clause: `linux.maskedPaths[${i}]` }));
    ctx.oci.readonlyPaths.forEach((p, i) => out.some((e) => e.kind === 'readonly' && e.target === p) || out.push({ target: p, kind: 'readonly', options: ['ro'], clause: `linux.readonlyPaths[${i}]` }));
  }
  // One hidden by a mount over it (a bind, a tmpfs, a mask deeper than its tree's own top) is not
  // the workload's to reach: nothing to keep, and its path would name what is mounted there.
  const hidden = (f: { target: string; top: string }): boolean => out.some((e) => e.kind !== 'root' && e.kind !== 'readonly' && e.kind !== 'symlink' && e.target !== f.top && under(e.target, f.top) && (f.target === e.target || under(f.target, e.target)));
  for (const f of ctx.readonlyFiles ?? []) if (!hidden(f)) out.push({ target: f.target, kind: 'readonly', options: ['ro', 'nosuid', 'nodev', 'exec'], clause: f.clause, dev: f.dev, ino: f.ino });
  if (!container) {
    // A grant written through links (/etc/localtime → /usr/share/zoneinfo/…) is bound at its
    // physical place; the links on the way are made too, unless a bind already shows them (the
    // host's own link is then inside it) or something is mounted beneath the link's place.
    for (const l of ctx.grantLinks ?? []) {
      if (l.at === '/' || out.some((e) => e.target === l.at || under(e.target, l.at) || ((e.kind === 'bind' || e.kind === 'root') && e.target !== '/' && under(l.at, e.target)))) continue;
      out.push({ target: l.at, kind: 'symlink', source: l.text, clause: l.clause });
    }
    // Merged /usr: the loader is /lib64/ld-linux…, a link into /usr. Recreate the top-level links
    // whose destination some bind makes exist; nothing else of the host's / appears.
    for (const l of ctx.rootLinks) {
      const dest = l.target.startsWith('/') ? l.target : '/' + l.target;
      const name = '/' + l.name;
      if (out.some((e) => e.target === name || under(e.target, name))) continue;
      if (binds.some((r) => under(dest, r.target))) out.push({ target: name, kind: 'symlink', source: l.target, clause: 'filesystem' });
    }
  }
  return out.sort(byTarget);
}

/** Two steps that would mount on the same place: the later one would hide the earlier. */
export function layoutConflicts(layout: readonly LayoutEntry[]): Array<[LayoutEntry, LayoutEntry]> {
  const seen = new Map<string, LayoutEntry>();
  const out: Array<[LayoutEntry, LayoutEntry]> = [];
  for (const e of layout) {
    if (e.kind === 'readonly') continue;
    const prev = seen.get(e.target);
    if (prev) out.push([prev, e]);
    else seen.set(e.target, e);
  }
  return out;
}
