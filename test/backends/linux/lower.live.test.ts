// The launch body layout: the TS encoder's constants against the layout the C shim reports
// about itself (launch.h is the source of truth), and the encoder's output against the header.
import { describe, expect, it } from 'vitest';
import { shim } from '../../../src/backends/linux/ffi/shim.js';
import { lower, idmapLines, BODY_VERSION, HEADER_SIZE, HEADER_OFFSETS, FD_SIZE, RLIMIT_SIZE, MOUNT_SIZE, RECORD_SIZE, SOCK_FILTER_SIZE, BODY_MAGIC, FLAGS } from '../../../src/backends/linux/lower.js';
import type { LaunchInputs } from '../../../src/contract/generated/types.js';

const launch: LaunchInputs = {
  workload: { kind: 'process', path: '/bin/true', argv0: '/bin/true', args: ['a', 'b'], cwd: '/', dev: '0', ino: '0' },
  env: [],
  filesystem: [],
  landlockAbi: 7,
  network: { mode: 'deny', connect: [], bind: [] },
  spawn: 'deny',
  fds: [7],
  stdio: { stdin: 'null', stdout: 'inherit', stderr: 'inherit' },
  namespaces: ['user', 'pid', 'net'],
  cgroup: { parent: null, limits: [], watch: null, placements: [] },
  rlimits: [{ clause: 'limits.openFiles', resource: 'nofile', soft: 64, hard: 64 }],
  wallMs: null,
  cpuMs: null,
  fuel: null,
  memoryBytes: null,
  outputBytes: 0,
  tmp: { mode: 'none', sizeBytes: null },
  root: null,
  syscalls: { deny: 'errno', openat2: 'enosys' },
  scope: [],
  capabilities: [10],
  identity: { uid: 65534, gid: 65534, source: 'test' },
  layout: [],
  stdinFile: null,
};

describe('launch body layout', () => {
  it('matches what the shim reports about launch.h', () => {
    const out = new Int32Array(64);
    const n = shim().bv_body_layout(out, 64);
    const v = Array.from(out.slice(0, n));
    const offsets = Object.values(HEADER_OFFSETS);
    expect(v).toEqual([BODY_VERSION, HEADER_SIZE, ...offsets, FD_SIZE, RLIMIT_SIZE, MOUNT_SIZE, RECORD_SIZE, SOCK_FILTER_SIZE]);
  });

  it('encodes header, strings, fds and rlimits where the header says', () => {
    const body = lower({ launch, argv0: '/bin/true', env: [{ name: 'A', value: '1' }], runtime: { exeFd: 10, cgroupFd: -1, syncFd: 11, syncPeerFd: 13, failFd: 12, landlockFd: -1, stdio: [0, 1, 2], declared: [{ src: 7, type: 0o010000, accmode: 0 }] }, hostname: 'h', ready: true, dieWithParent: false, bpf: new Uint8Array(16) });
    const dv = new DataView(body.buffer);
    expect(dv.getUint32(HEADER_OFFSETS.magic, true)).toBe(BODY_MAGIC);
    expect(dv.getUint32(HEADER_OFFSETS.total_len, true)).toBe(body.length);
    expect(dv.getBigUint64(HEADER_OFFSETS.clone_flags, true)).toBe(0x10000000n | 0x20000000n | 0x40000000n);
    expect([dv.getUint32(HEADER_OFFSETS.argc, true), dv.getUint32(HEADER_OFFSETS.envc, true), dv.getUint32(HEADER_OFFSETS.nfds, true), dv.getUint32(HEADER_OFFSETS.bpf_len, true)]).toEqual([3, 1, 1, 2]);
    const so = dv.getUint32(HEADER_OFFSETS.strings_off, true);
    const sl = dv.getUint32(HEADER_OFFSETS.strings_len, true);
    expect(Buffer.from(body.subarray(so, so + sl)).toString('latin1')).toBe('h\0/bin/true\0a\0b\0A=1\0');
    const fo = dv.getUint32(HEADER_OFFSETS.fds_off, true);
    expect([dv.getInt32(fo, true), dv.getInt32(fo + 4, true), dv.getUint32(fo + 8, true), dv.getInt32(fo + 12, true)]).toEqual([7, 3, 0o010000, 0]);
    expect(dv.getBigUint64(HEADER_OFFSETS.cap_keep, true)).toBe(1n << 10n);
    const ro = dv.getUint32(HEADER_OFFSETS.rlimits_off, true);
    expect([dv.getUint32(ro, true), dv.getBigUint64(ro + 8, true), dv.getBigUint64(ro + 16, true)]).toEqual([7, 64n, 64n]);
  });

  it('encodes a terminal and an exec: console socket and size, the pidfd to join and its namespaces, the program to resolve', () => {
    const runtime = { exeFd: -1, cgroupFd: -1, syncFd: 11, syncPeerFd: 13, failFd: 12, landlockFd: -1, stdio: [0, 1, 2] as [number, number, number], declared: [], consoleFd: 9 };
    const body = lower({ launch, argv0: 'sh', env: [], runtime, hostname: null, ready: true, dieWithParent: false, bpf: null, console: { rows: 33, cols: 101 }, exec: { joinFd: 8, exePath: 'sh' } });
    const dv = new DataView(body.buffer);
    expect(dv.getInt32(HEADER_OFFSETS.console_fd, true)).toBe(9);
    expect([dv.getUint16(HEADER_OFFSETS.console_rows, true), dv.getUint16(HEADER_OFFSETS.console_cols, true)]).toEqual([33, 101]);
    expect(dv.getInt32(HEADER_OFFSETS.join_fd, true)).toBe(8);
    // An exec makes no namespace: it joins the plan's (user, pid, net).
    expect(dv.getBigUint64(HEADER_OFFSETS.clone_flags, true)).toBe(0n);
    expect(dv.getUint32(HEADER_OFFSETS.join_ns, true)).toBe(0x10000000 | 0x20000000 | 0x40000000);
    const so = dv.getUint32(HEADER_OFFSETS.strings_off, true);
    const at = dv.getUint32(HEADER_OFFSETS.exe_path, true);
    expect(Buffer.from(body.subarray(so + at, so + at + 3)).toString('latin1')).toBe('sh\0');
    expect(dv.getUint32(HEADER_OFFSETS.flags, true) & FLAGS.CONSOLE).toBe(FLAGS.CONSOLE);
    // Without one, the console fields say none.
    const plain = new DataView(lower({ launch, argv0: 'x', env: [], runtime: { ...runtime, consoleFd: undefined }, hostname: null, ready: false, dieWithParent: false, bpf: null }).buffer);
    expect([plain.getInt32(HEADER_OFFSETS.console_fd, true), plain.getInt32(HEADER_OFFSETS.join_fd, true), plain.getUint32(HEADER_OFFSETS.exe_path, true)]).toEqual([-1, -1, 0xffffffff]);
    expect(() => lower({ launch, argv0: 'x', env: [], runtime: { ...runtime, consoleFd: -1 }, hostname: null, ready: false, dieWithParent: false, bpf: null, console: { rows: 0, cols: 0 } })).toThrow(/console socket/);
  });

  it('the shim rejects a malformed body without cloning', () => {
    const body = lower({ launch, argv0: '/bin/true', env: [], runtime: { exeFd: -1, cgroupFd: -1, syncFd: -1, syncPeerFd: -1, failFd: -1, landlockFd: -1, stdio: [0, 1, 2], declared: [] }, hostname: null, ready: false, dieWithParent: false, bpf: null });
    const out = new Int32Array(2);
    const bad = body.slice();
    new DataView(bad.buffer).setUint32(HEADER_OFFSETS.strings_len, 100000, true);
    expect(shim().bv_spawn(bad, bad.length, out)).toBe(-74); // EBADMSG
    const wrongVersion = body.slice();
    new DataView(wrongVersion.buffer).setUint32(HEADER_OFFSETS.version, 99, true);
    expect(shim().bv_spawn(wrongVersion, wrongVersion.length, out)).toBe(-74);
    expect(shim().bv_spawn(body, body.length - 8, out)).toBe(-74);
    // A terminal without its socket, the early filter without the READY step that installs it
    // (a workload would run unfiltered), a net_fd below -1.
    for (const [field, value] of [['flags', FLAGS.CONSOLE], ['flags', FLAGS.SECCOMP_EARLY], ['net_fd', -2]] as const) {
      const b = body.slice();
      const dv = new DataView(b.buffer);
      dv.setUint32(HEADER_OFFSETS[field], field === 'flags' ? dv.getUint32(HEADER_OFFSETS.flags, true) | value : value, true);
      expect(shim().bv_spawn(b, b.length, out), field).toBe(-74);
    }
    const join = body.slice();
    new DataView(join.buffer).setInt32(HEADER_OFFSETS.join_fd, 0, true);
    new DataView(join.buffer).setUint32(HEADER_OFFSETS.join_ns, 0x20000000, true);
    expect(shim().bv_spawn(join, join.length, out)).toBe(-74); // clone_flags is not 0
    // A network namespace to be born in, and a new one asked for as well: contradictory.
    const net = body.slice();
    const ndv = new DataView(net.buffer);
    ndv.setInt32(HEADER_OFFSETS.net_fd, 0, true);
    ndv.setBigUint64(HEADER_OFFSETS.clone_flags, 0x40000000n, true); // CLONE_NEWNET
    expect(shim().bv_spawn(net, net.length, out)).toBe(-74);
    // The ids to become: (uid_t)-1 is setresuid's "unchanged", never an id; ids without SETIDS
    // mean nothing.
    for (const [field, value] of [['inside_uid', 0xffffffff], ['inside_gid', 0xffffffff], ['groups_pad', 1], ['ngroups', 65]] as const) {
      const b = body.slice();
      new DataView(b.buffer).setUint32(HEADER_OFFSETS[field], value, true);
      expect(shim().bv_spawn(b, b.length, out), field).toBe(-74);
    }
    const unset = body.slice();
    const udv = new DataView(unset.buffer);
    udv.setUint32(HEADER_OFFSETS.flags, udv.getUint32(HEADER_OFFSETS.flags, true) & ~FLAGS.SETIDS, true);
    udv.setUint32(HEADER_OFFSETS.inside_uid, 1000, true);
    expect(shim().bv_spawn(unset, unset.length, out)).toBe(-74);
  });

  it('an idmapped mount\'s map: the owner alone, or (process.user) one-to-one over every id with the rest as on disk', () => {
    expect(idmapLines(1000, 65534, false)).toBe('1000 65534 1\n');
    // user_namespaces(7): lines "ID-inside-ns ID-outside-ns length"; ids are 0..4294967294.
    const check = (onDisk: number, shown: number, count = 1, block = count): void => {
      const lines = idmapLines(onDisk, shown, true, count, block).trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number, number]);
      expect(lines.length).toBeLessThanOrEqual(340); // the kernel's limit on map lines
      const show = (id: number): number | null => {
        const hit = lines.find(([i, , n]) => id >= i && id < i + n);
        return hit ? hit[1] + (id - hit[0]) : null;
      };
      // The ranges overlap neither inside nor outside.
      for (const side of [0, 1]) {
        const spans = lines.map((l) => [l[side]!, l[side]! + l[2]]).sort((a, b) => a[0]! - b[0]!);
        for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]!);
        for (const [, end] of spans) expect(end).toBeLessThanOrEqual(0xffffffff);
      }
      // The ids on disk show as the block, one for one.
      for (const k of [0, 1, count - 1].filter((k) => k < count)) expect(show(onDisk + k)).toBe(shown + k);
      const inBlock = (id: number): boolean => (id >= onDisk && id < onDisk + count) || (id >= shown && id < shown + Math.max(count, block));
      for (const id of [0, 1, 999, 1001, 65533, 65535, 4294967294, onDisk - 1, onDisk + count, shown - 1, shown + block]) if (id >= 0 && id <= 4294967294 && !inBlock(id)) expect(show(id), String(id)).toBe(id);
      // The workload's ids on disk are left unmapped (only the ids on disk the map moves show as
      // them), unless they are those very ids.
      for (const k of [0, block - 1]) if (!(shown + k >= onDisk && shown + k < onDisk + count)) expect(show(shown + k), String(shown + k)).toBeNull();
    };
    check(1000, 65534);
    check(65534, 1000);
    check(0, 100_001);
    check(4294967294, 7);
    check(5, 5);
    // An OCI config's block: 200 ids from 300000 on disk show as 200 from 100001, apart, within
    // one another, and a one-id map in a launch whose block is larger.
    check(300_000, 100_001, 200);
    check(100_050, 100_001, 200);
    check(100_001, 100_050, 200);
    check(1000, 100_001, 1, 200);
    expect(idmapLines(300_000, 100_001, false, 200)).toBe('300000 100001 200\n');
    expect(idmapLines(1000, 65534, true)).toBe('1000 65534 1\n0 0 1000\n1001 1001 64533\n65535 65535 4294901760\n');
  });

  it('encodes the ids the child becomes: 0:0, or an OCI process.user', () => {
    const runtime = { exeFd: -1, cgroupFd: -1, syncFd: -1, syncPeerFd: -1, failFd: -1, landlockFd: -1, stdio: [0, 1, 2] as [number, number, number], declared: [] };
    const ids = (l: typeof launch): number[] => {
      const dv = new DataView(lower({ launch: l, argv0: 'x', env: [], runtime, hostname: null, ready: false, dieWithParent: false, bpf: null }).buffer);
      return [dv.getUint32(HEADER_OFFSETS.flags, true) & FLAGS.SETIDS, dv.getUint32(HEADER_OFFSETS.inside_uid, true), dv.getUint32(HEADER_OFFSETS.inside_gid, true)];
    };
    expect(ids(launch)).toEqual([FLAGS.SETIDS, 0, 0]);
    const oci = { hostname: null, seccomp: null, cgroupLeaf: null, oomScoreAdj: null, umask: null, terminal: false, engine: true, netns: null, hooks: {}, rootRules: null };
    expect(ids({ ...launch, oci: { ...oci, user: { uid: 1000, gid: 100 } } } as typeof launch)).toEqual([FLAGS.SETIDS, 1000, 100]);
    // Never wrapped into another id by the 32-bit field, nor (uid_t)-1.
    for (const bad of [2 ** 32, 0xffffffff, -1, 1.5]) expect(() => ids({ ...launch, oci: { ...oci, user: { uid: bad, gid: 100 } } } as typeof launch), String(bad)).toThrow(/not 0\.\.4294967294/);
  });

  it('encodes a block\'s supplementary groups only where root\'s are dropped (rootful); the shim rejects them elsewhere, misaligned or (gid_t)-1', () => {
    const runtime = { exeFd: -1, cgroupFd: -1, syncFd: -1, syncPeerFd: -1, failFd: -1, landlockFd: -1, stdio: [0, 1, 2] as [number, number, number], declared: [] };
    const oci = { hostname: null, seccomp: null, cgroupLeaf: null, oomScoreAdj: null, umask: null, terminal: false, engine: true, netns: null, hooks: {}, rootRules: null };
    const withGroups = { ...launch, oci: { ...oci, ids: { uid: 300000, gid: 300000, count: 200 }, groups: [10, 150] } } as typeof launch;
    const body = (rootful: boolean): Uint8Array => lower({ launch: withGroups, argv0: 'x', env: [], runtime, hostname: null, ready: false, dieWithParent: false, bpf: null, rootful });
    const read = (b: Uint8Array): number[] => {
      const dv = new DataView(b.buffer);
      const n = dv.getUint32(HEADER_OFFSETS.ngroups, true);
      const off = dv.getUint32(HEADER_OFFSETS.groups_off, true);
      return [dv.getUint32(HEADER_OFFSETS.flags, true) & FLAGS.DROP_GROUPS, n, ...Array.from({ length: n }, (_, i) => dv.getUint32(off + 4 * i, true))];
    };
    expect(read(body(true))).toEqual([FLAGS.DROP_GROUPS, 2, 10, 150]);
    expect(read(body(false))).toEqual([0, 0]);
    expect(() => lower({ launch: { ...withGroups, oci: { ...withGroups.oci!, groups: Array.from({ length: 65 }, (_, i) => i) } }, argv0: 'x', env: [], runtime, hostname: null, ready: false, dieWithParent: false, bpf: null, rootful: true })).toThrow(/65 supplementary groups/);
    const out = new Int32Array(2);
    const edit = (f: (dv: DataView, b: Uint8Array) => void): number => {
      const b = body(true).slice();
      f(new DataView(b.buffer), b);
      return shim().bv_spawn(b, b.length, out);
    };
    // Groups without DROP_GROUPS, a misaligned list, and (gid_t)-1 among them: rejected (EBADMSG).
    expect(edit((dv) => dv.setUint32(HEADER_OFFSETS.flags, dv.getUint32(HEADER_OFFSETS.flags, true) & ~FLAGS.DROP_GROUPS, true))).toBe(-74);
    expect(edit((dv) => dv.setUint32(HEADER_OFFSETS.groups_off, dv.getUint32(HEADER_OFFSETS.groups_off, true) + 2, true))).toBe(-74);
    expect(edit((dv) => dv.setUint32(dv.getUint32(HEADER_OFFSETS.groups_off, true) + 4, 0xffffffff, true))).toBe(-74);
  });
});
