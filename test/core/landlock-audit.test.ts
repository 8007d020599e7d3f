// The landlock audit records → denials mapping, on records written as the kernel documents them
// (Documentation/admin-guide/LSM/landlock.rst, its event samples), framed as the shim's reader
// frames them ({u32 type; u32 len; text}, then END; native-shim/src/audit.h).
import { describe, expect, it } from 'vitest';
import { decodeAuditStream, landlockAuditDenials, parseAuditText, runDomain, type AuditRecord, type LandlockAuditInput } from '../../src/core/landlock-audit.js';

/** include/uapi/linux/audit.h */
const SYSCALL = 1300, ACCESS = 1423, DOMAIN = 1424;

function frame(recs: Array<[number, string]>, end: number[] | null = [1, 0, 0, recs.length]): Uint8Array {
  const parts: Buffer[] = [];
  for (const [type, text] of recs) {
    const t = Buffer.from(text);
    const h = Buffer.alloc(8);
    h.writeUInt32LE(type, 0);
    h.writeUInt32LE(t.length, 4);
    parts.push(h, t);
  }
  if (end) {
    const e = Buffer.alloc(24);
    e.writeUInt32LE(0, 0);
    e.writeUInt32LE(16, 4);
    end.forEach((v, i) => e.writeUInt32LE(v, 8 + 4 * i));
    parts.push(e);
  }
  return new Uint8Array(Buffer.concat(parts));
}

const T0 = 1729738800000;
const launch: LandlockAuditInput['launch'] = {
  filesystem: [
    { clause: 'filesystem[0]', path: '/srv/data', target: '/srv/data', access: 'read', recursive: true, kind: 'directory', rights: [], dev: '0', ino: '0', idmap: null } as never,
    { clause: 'filesystem[1]', path: '/srv/out', target: '/srv/out', access: 'read-write', recursive: true, kind: 'directory', rights: [], dev: '0', ino: '0', idmap: null } as never,
  ],
  network: { mode: 'ports', connect: [443], bind: [] },
};
const errnoName = (n: number): string => ({ [-13]: 'EACCES', [-1]: 'EPERM' })[n] ?? `E${-n}`;
const input = (records: AuditRecord[], o: Partial<LandlockAuditInput> = {}): LandlockAuditInput => ({ records, end: { barrier: 1, overflows: 0, dropped: 0, forwarded: records.length }, childPid: 289, launch, arch: 'x86_64', startedAtMs: T0, lostBefore: 0, lostAfter: 0, errnoName, ...o });

describe('landlock audit records', () => {
  it('parses the documented ACCESS and DOMAIN records: quoted, plain and hex-encoded values', () => {
    const a = parseAuditText(ACCESS, 'audit(1729738800.221:34): domain=1a6fdc679 blockers=fs.write_file path="/etc/passwd" dev="vda2" ino=143821')!;
    expect(a).toEqual({ type: ACCESS, ms: 1729738800221, serial: 34, fields: { domain: '1a6fdc679', blockers: 'fs.write_file', path: '/etc/passwd', dev: 'vda2', ino: '143821' } });
    // audit_log_untrustedstring: a path with a space is logged unquoted, hex-encoded.
    const h = parseAuditText(ACCESS, 'audit(1.5:7): domain=1 blockers=fs.read_file path=2F746D702F6120622F63 dev="vda2" ino=1')!;
    expect(h.fields.path).toBe('/tmp/a b/c');
    expect(h.fields.ino).toBe('1'); // not a string field: never decoded
    expect(parseAuditText(DOMAIN, 'not an audit record')).toBeNull();
  });

  it('decodes the reader stream and its END record; a record cut short is dropped', () => {
    const bytes = frame([[ACCESS, 'audit(1.000:1): domain=a blockers=fs.read_dir path="/" dev="x" ino=2']], [0, 2, 3, 1]);
    expect(decodeAuditStream(bytes)).toMatchObject({ records: [{ serial: 1 }], end: { barrier: 0, overflows: 2, dropped: 3, forwarded: 1 } });
    expect(decodeAuditStream(bytes.subarray(0, 20))).toEqual({ records: [], end: null });
  });

  it('the run\'s domain is the smallest one whose creator is the child; a nested younger domain and other runs are not ours', () => {
    const recs = decodeAuditStream(frame([
      [DOMAIN, 'audit(1.0:2): domain=1a6fdc67a status=allocated mode=enforcing pid=289 uid=0 exe="/usr/bin/node" comm="node"'],
      [DOMAIN, 'audit(1.0:1): domain=1a6fdc679 status=allocated mode=enforcing pid=289 uid=0 exe="/usr/bin/node" comm="node"'],
      [DOMAIN, 'audit(1.0:3): domain=100 status=allocated mode=enforcing pid=290 uid=0 exe="/x" comm="x"'],
      [DOMAIN, 'audit(1.0:4): domain=1 status=deallocated denials=3'],
    ])).records;
    expect(runDomain(recs, 289)).toBe('1a6fdc679');
    expect(runDomain(recs, 291)).toBeNull();
  });

  it('maps each blocker to its clause and the line that allows it, counting repeats; other domains are ignored', () => {
    const { records } = decodeAuditStream(frame([
      [ACCESS, 'audit(1729738800.221:33): domain=1a6fdc679 blockers=fs.write_file path="/srv/data/f" dev="vda2" ino=9'],
      [DOMAIN, 'audit(1729738800.221:33): domain=1a6fdc679 status=allocated mode=enforcing pid=289 uid=0 exe="/usr/bin/node" comm="node"'],
      [SYSCALL, 'audit(1729738800.221:33): arch=c000003e syscall=257 success=no exit=-13 ppid=272 pid=300 auid=0 uid=0 comm="sh"'],
      [ACCESS, 'audit(1729738800.250:34): domain=1a6fdc679 blockers=fs.write_file path="/srv/data/f" dev="vda2" ino=9'],
      [ACCESS, 'audit(1729738800.260:35): domain=1a6fdc679 blockers=fs.read_file path="/etc/shadow" dev="vda2" ino=10'],
      [ACCESS, 'audit(1729738800.270:36): domain=1a6fdc679 blockers=net.connect_tcp daddr=127.0.0.1 dest=80'],
      [ACCESS, 'audit(1729738800.280:37): domain=1a6fdc679 blockers=fs.make_char path="/srv/out" dev="vda2" ino=11'],
      [ACCESS, 'audit(1729738800.290:38): domain=1a6fdc679 blockers=scope.signal opid=1 ocomm="systemd"'],
      [ACCESS, 'audit(1729738800.300:39): domain=ffff blockers=fs.read_file path="/elsewhere" dev="vda2" ino=12'],
    ]));
    const d = landlockAuditDenials(input(records));
    expect(d.total).toBe(6);
    expect(d.truncated).toBe(false);
    expect(d.source).toMatchObject({ observed: true, notObserved: null });
    expect(d.items.map((x) => [x.kind, x.clause, x.count])).toEqual([
      ['filesystem', 'filesystem[0]', 2],
      ['filesystem', 'filesystem', 1],
      ['network', 'network', 1],
      ['filesystem', 'filesystem', 1],
      ['syscall', 'isolate', 1],
    ]);
    const [w, r, n, c, s] = d.items;
    // openat is x86_64 syscall 257 (syscall_64.tbl); the pid is the SYSCALL record's.
    expect(w).toMatchObject({ what: 'openat("/srv/data/f"): fs.write_file', errno: 'EACCES', pid: 300, atMs: 221, rule: '/srv/data is granted read', allow: 'filesystem: [{ path: /srv/data, access: read-write }]   # in place of filesystem[0]' });
    expect(r).toMatchObject({ what: 'access("/etc/shadow"): fs.read_file', pid: null, rule: 'no grant covers /etc/shadow', allow: 'filesystem: [{ path: /etc/shadow, access: read }]' });
    expect(n).toMatchObject({ port: 80, allow: 'network: { connect: [80, 443] }', errno: 'EACCES' });
    expect(c).toMatchObject({ allow: null, path: '/srv/out' });
    expect(s).toMatchObject({ errno: 'EPERM', allow: null, what: 'access to pid 1 (systemd): scope.signal' });
  });

  it('the run\'s procfs collapses to /proc/<pid> with a /proc grant; a directory of the built root that only holds mount points has no allow line', () => {
    const { records } = decodeAuditStream(frame([
      [ACCESS, 'audit(1729738800.221:40): domain=1a6fdc679 blockers=fs.read_file path="/proc/2/mounts" dev="proc" ino=9'],
      [DOMAIN, 'audit(1729738800.221:40): domain=1a6fdc679 status=allocated mode=enforcing pid=289 uid=0 exe="/usr/bin/node" comm="node"'],
      [ACCESS, 'audit(1729738800.222:41): domain=1a6fdc679 blockers=fs.read_file path="/proc/3/mounts" dev="proc" ino=10'],
      [ACCESS, 'audit(1729738800.223:42): domain=1a6fdc679 blockers=fs.read_dir path="/" dev="tmpfs" ino=1'],
      [ACCESS, 'audit(1729738800.224:43): domain=1a6fdc679 blockers=fs.read_dir path="/srv" dev="tmpfs" ino=2'],
    ]));
    const d = landlockAuditDenials(input(records));
    expect(d.items.map((x) => [x.path, x.count, x.allow])).toEqual([
      ['/proc/<pid>/mounts', 2, 'filesystem: [{ path: /proc, access: read }]'],
      ['/', 1, null],
      ['/srv', 1, null],
    ]);
  });

  it('with a marker token: the run\'s domain is the one whose marker record holds the token, whatever other domains share the child\'s pid; the marker itself is not listed', () => {
    const token = '0123456789abcdef0123456789abcdef';
    const { records } = decodeAuditStream(frame([
      // another user's older domain, its creator's pid reused by the run's child
      [DOMAIN, 'audit(1729738800.100:50): domain=100 status=allocated mode=enforcing pid=289 uid=65534 exe="/x" comm="x"'],
      [ACCESS, 'audit(1729738800.100:50): domain=100 blockers=fs.read_file path="/etc/passwd" dev="vda2" ino=3'],
      // the run's marker (before exec), then its real denial
      [ACCESS, `audit(1729738800.200:51): domain=1a6fdc679 blockers=fs.make_block path="/tmp/bvisor-ll-${token}" dev="tmpfs" ino=4`],
      [DOMAIN, 'audit(1729738800.200:51): domain=1a6fdc679 status=allocated mode=enforcing pid=289 uid=0 exe="/usr/bin/node" comm="node"'],
      [ACCESS, 'audit(1729738800.300:52): domain=1a6fdc679 blockers=net.connect_tcp daddr=127.0.0.1 dest=9'],
      // a domain the workload stacked (younger, same pid)
      [ACCESS, 'audit(1729738800.400:53): domain=1a6fdc680 blockers=fs.read_file path="/usr/bin/x" dev="vda2" ino=5'],
      [DOMAIN, 'audit(1729738800.400:53): domain=1a6fdc680 status=allocated mode=enforcing pid=289 uid=65534 exe="/usr/bin/x" comm="x"'],
    ]));
    const d = landlockAuditDenials(input(records, { token }));
    expect(d.items.map((x) => x.port)).toEqual([9]);
    expect(d.total).toBe(1);
    // without the token, the pid alone would have taken the other user's domain
    expect(runDomain(records, 289)).toBe('100');
    // the marker's record missing: nothing can be told to be the run's
    const none = landlockAuditDenials(input(records.filter((r) => !(r.fields.path ?? '').includes(token)), { token }));
    expect(none.items).toEqual([]);
    expect(none.source.how).toMatch(/marker record did not arrive/);
  });

  it('says what may be missing: no barrier, an overflow, records past the cap, the kernel\'s lost counter', () => {
    const none = landlockAuditDenials(input([], { end: { barrier: 0, overflows: 2, dropped: 5, forwarded: 0 }, lostBefore: 4, lostAfter: 7 }));
    expect(none.items).toEqual([]);
    expect(none.truncated).toBe(true);
    expect(none.source.how).toMatch(/barrier record did not arrive/);
    expect(none.source.how).toMatch(/overflowed 2 time/);
    expect(none.source.how).toMatch(/5 record\(s\) past/);
    expect(none.source.how).toMatch(/lost counter rose by 3/);
    expect(landlockAuditDenials(input([], { end: null })).source.how).toMatch(/without its last record/);
    expect(landlockAuditDenials(input([])).source.how).not.toMatch(/missing|lost/);
  });
});
