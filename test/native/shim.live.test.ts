// The native shim through koffi: it loads, reports its ABI, and its syscalls do what they say
// (oracles: a second process contending for a lock; the kernel's own errno for a bad fd).
import { openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shim, koffiFrom, EXPECTED_SHIM_ABI, LOCK_EX, LOCK_NB, LOCK_UN } from '../../src/backends/linux/ffi/shim.js';
import { writeFileSync as writeFile } from 'node:fs';
import { tempDir } from '../helpers/tmp.js';

describe('native shim (live)', () => {
  it('loads and reports the ABI this build expects', () => {
    expect(shim().bv_shim_abi()).toBe(EXPECTED_SHIM_ABI);
  });

  it('reads the header ABI constant the TS side expects', () => {
    const h = readFileSync(join(__dirname, '../../native-shim/src/bvshim.h'), 'utf8');
    expect(Number(/#define BV_SHIM_ABI (\d+)/.exec(h)![1])).toBe(EXPECTED_SHIM_ABI);
  });

  it('flock excludes another process, and unlocking lets it in', () => {
    const d = tempDir();
    const f = join(d, 'lock');
    const fd = openSync(f, 'a');
    try {
      expect(shim().bv_flock(fd, LOCK_EX)).toBe(0);
      const other = (): number | null =>
        spawnSync('flock', ['-n', '-x', f, 'true']).status;
      expect(other()).not.toBe(0);
      expect(shim().bv_flock(fd, LOCK_UN)).toBe(0);
      expect(other()).toBe(0);
    } finally {
      closeSync(fd);
    }
  });

  // The probe's child shares Node's memory (CLONE_VM) and, for the unprivileged answer, takes
  // uid 65534: the memory is non-dumpable while it does, then as it was. Oracles: util-linux's
  // unshare as that user (the answer), and the test build's prctl(PR_GET_DUMPABLE) read-out.
  it('the userns probes answer as unshare(1) does, and leave the process as dumpable as they found it', () => {
    if (process.geteuid?.() !== 0) return;
    const dumpable = (require('koffi') as { load(p: string): { func(sig: string): () => number } })
      .load(join(__dirname, '../../native-shim/build/test/libbvshim.so'))
      .func('int bv_test_dumpable(void)');
    const before = dumpable();
    expect([0, 1]).toContain(before);
    const asRoot = spawnSync('unshare', ['--user', 'true']).status === 0;
    const asNobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '--user', 'true']).status === 0;
    expect(shim().bv_userns_probe(-1, -1) === 0).toBe(asRoot);
    expect(shim().bv_userns_probe(65534, 65534) === 0).toBe(asNobody);
    expect(dumpable()).toBe(before);
  });

  // A child sharing our memory that takes other ids (the unprivileged userns probe; a root
  // launch's child) is safe only where the kernel then leaves the memory non-dumpable or
  // dumpable by root alone: fs.suid_dumpable 0 or 2, not 1 (Documentation/admin-guide/sysctl/
  // fs.rst: 0 default, 1 debug, 2 suidsafe; commit_creds sets the memory's flag to it). Elsewhere
  // the probe and the launcher copy our memory instead. (The sysctl is the host's: not changed here.)
  it('shares memory with an id-changing child only where fs.suid_dumpable is 0 or 2, and reads it as /proc does', () => {
    const lib = (require('koffi') as { load(p: string): { func(sig: string): (...a: number[]) => number } }).load(join(__dirname, '../../native-shim/build/test/libbvshim.so'));
    const may = lib.func('int bv_vm_child_may_change_ids(int suid_dumpable)');
    expect([0, 1, 2, -1].map((v) => may(v))).toEqual([1, 0, 1, 0]);
    expect(lib.func('int bv_suid_dumpable(void)')()).toBe(Number(readFileSync('/proc/sys/fs/suid_dumpable', 'utf8').trim()));
  });

  it('returns -errno instead of throwing', () => {
    expect(shim().bv_flock(987654, LOCK_EX | LOCK_NB)).toBe(-9); // EBADF
  });

  it('koffi is loaded by the native module the build recorded, and by its own loader when the record does not match', () => {
    const recorded = JSON.parse(readFileSync(join(__dirname, '../../native-shim/build/koffi.json'), 'utf8')) as { path: string; version: string };
    const koffiPkg = JSON.parse(readFileSync(join(__dirname, '../../node_modules/koffi/package.json'), 'utf8')) as { version: string };
    // The record names the module of the koffi installed (its package.json, not the shim's constant).
    expect(recorded.version).toBe(koffiPkg.version);
    const d = tempDir();
    const rec = (o: unknown): string => {
      const f = join(d, `k${Math.random().toString(36).slice(2)}.json`);
      writeFile(f, JSON.stringify(o));
      return f;
    };
    const good = koffiFrom(rec(recorded));
    expect(good.via).toBe('record');
    expect(typeof good.koffi.load).toBe('function');
    expect(koffiFrom(rec({ ...recorded, version: '0.0.1' })).via).toBe('loader');
    expect(koffiFrom(rec({ ...recorded, path: '/usr/lib/evil.node' })).via).toBe('loader');
    expect(koffiFrom(rec({ ...recorded, path: 'node_modules/../../evil.node' })).via).toBe('loader');
    expect(koffiFrom(join(d, 'absent.json')).via).toBe('loader');
  });
});
