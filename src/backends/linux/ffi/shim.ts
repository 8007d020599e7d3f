// The only file that imports koffi. It loads native-shim/build/libbvshim.so on first use (not at
// import time: start-up matters to scripts calling bvisor thousands of times) and exposes typed
// wrappers. Every wrapper returns what the C function returned: a value, or a negative errno
// that callers turn into a coded error. Nothing here decides policy.
import { existsSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BvisorError } from '../../../contract/errors.js';
import { NATIVE } from './native-artifacts.js';
import { lateRequire, packageRoot } from './runtime.js';

/** Must equal BV_SHIM_ABI in native-shim/src/bvshim.h. */
export const EXPECTED_SHIM_ABI = 18;

type Ptr = Uint8Array | Int32Array | BigInt64Array;
type AsyncCb = (err: unknown, res: number) => void;

interface ShimFns {
  bv_shim_abi(): number;
  bv_landlock_abi(): number;
  bv_userns_probe(uid: number, gid: number): number;
  bv_flock(fd: number, op: number): number;
  bv_body_layout(out: Int32Array, n: number): number;
  bv_spawn(body: Uint8Array, len: number, out: Int32Array): number;
  bv_spawn_vm(body: Uint8Array, len: number, out: Int32Array): number;
  bv_pipe(fds: Int32Array, cloexecRead: number, cloexecWrite: number): number;
  bv_spawn_detached(path: string, args: Uint8Array, argsLen: number, fds: Int32Array, nfds: number): number;
  bv_open(path: string, flags: number, mode: number): number;
  bv_close(fd: number): number;
  bv_set_cloexec(fd: number, on: number): number;
  bv_fd_info(fd: number, out: Int32Array): number;
  bv_wait(pidfd: number, out: BigInt64Array, nohang: number): number;
  bv_pidfd_signal(pidfd: number, sig: number): number;
  bv_pidfd_open(pid: number): number;
  bv_job_stops(hold: number): number;
  bv_tty_resume(fd: number): number;
  bv_termios_size(): number;
  bv_tty_get(fd: number, termios: Uint8Array): number;
  bv_tty_set(fd: number, termios: Uint8Array): number;
  bv_dup(fd: number): number;
  bv_memfd_sealed(name: string, bytes: Uint8Array, len: number): number;
  bv_tty_pgrp(fd: number): number;
  bv_tty_set_pgrp(fd: number, pgrp: number): number;
  bv_deadline_thread(pid: number, pidfd: number, killFd: number): number;
  bv_write_byte(fd: number): number;
  bv_recv_fd(sock: number): number;
  bv_bpf_eval(prog: Uint8Array, len: number, data: Uint8Array): number;
  bv_socketpair(fds: Int32Array): number;
  bv_notify_thread(sock: number, outFd: number, stopFd: number, strmask: Uint8Array, nmask: number, maxRecords: number, observeProg: Uint8Array | null, observeLen: number, secrets: Uint8Array | null, secretsLen: number, secretCount: number): number;
  bv_audit_status: { (out: Uint32Array): number; async(out: Uint32Array, cb: AsyncCb): void };
  bv_audit_open(): number;
  bv_audit_thread(auditFd: number, outFd: number, stopFd: number, token: string, secrets: Uint8Array | null, secretsLen: number, secretCount: number): number;
  bv_read_record: { (fd: number, rec: Int32Array): number; async(fd: number, rec: Int32Array, cb: AsyncCb): void };
  bv_landlock_create(fs: bigint, net: bigint, scoped: bigint, abi: number): number;
  bv_landlock_add_path(ruleset: number, parentFd: number, allowed: bigint): number;
  bv_landlock_add_port(ruleset: number, port: bigint, allowed: bigint): number;
  bv_mkfifo(path: string, mode: number): number;
  bv_fallocate(fd: number, len: number): number;
  bv_rename_noreplace(oldPath: string, newPath: string): number;
  bv_openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number;
  bv_fstat(fd: number, out: BigInt64Array): number;
  bv_getdents(fd: number, buf: Uint8Array, len: number): number;
  bv_lseek(fd: number, off: bigint, whence: number): number | bigint;
  bv_mkdirat(dirfd: number, name: string, mode: number): number;
  bv_unlinkat(dirfd: number, name: string, flags: number): number;
  bv_symlinkat(target: string, dirfd: number, name: string): number;
  bv_readlinkat(dirfd: number, name: string, buf: Uint8Array, len: number): number;
  bv_renameat(olddir: number, oldname: string, newdir: number, newname: string): number;
  bv_linkat(olddir: number, oldname: string, newdir: number, newname: string): number;
  bv_stat_id(fd: number, out: BigInt64Array): number;
  bv_tree(fd: number, attrs: number, usernsFd: number, recursive: number): number;
  bv_xattr_size(path: string, name: string, follow: number): number;
  bv_mount_tmpfs(target: string, data: string): number;
  bv_remount_ro(target: string): number;
  bv_umount(target: string): number;
  bv_userns(uidMap: string, gidMap: string): number;
  bv_unix_connect(path: string, timeoutMs: number): number;
}
void (null as unknown as Ptr);

/** Each function's C declaration, as koffi parses it. */
const SIGNATURES: { readonly [K in keyof ShimFns]: string } = {
  bv_shim_abi: 'int bv_shim_abi(void)',
  bv_landlock_abi: 'int bv_landlock_abi(void)',
  bv_userns_probe: 'int bv_userns_probe(int uid, int gid)',
  bv_flock: 'int bv_flock(int fd, int op)',
  bv_body_layout: 'int bv_body_layout(void *out, int n)',
  bv_spawn: 'int bv_spawn(const void *body, uint32_t len, void *out)',
  bv_spawn_vm: 'int bv_spawn_vm(const void *body, uint32_t len, void *out)',
  bv_pipe: 'int bv_pipe(void *fds, int cloexec_read, int cloexec_write)',
  bv_spawn_detached: 'int bv_spawn_detached(const char *path, const void *args, int args_len, const void *fds, int nfds)',
  bv_open: 'int bv_open(const char *path, int flags, int mode)',
  bv_close: 'int bv_close(int fd)',
  bv_set_cloexec: 'int bv_set_cloexec(int fd, int on)',
  bv_fd_info: 'int bv_fd_info(int fd, void *out)',
  bv_wait: 'int bv_wait(int pidfd, void *out, int nohang)',
  bv_pidfd_signal: 'int bv_pidfd_signal(int pidfd, int sig)',
  bv_pidfd_open: 'int bv_pidfd_open(int pid)',
  bv_job_stops: 'int bv_job_stops(int hold)',
  bv_tty_resume: 'int bv_tty_resume(int fd)',
  bv_termios_size: 'int bv_termios_size(void)',
  bv_tty_get: 'int bv_tty_get(int fd, void *termios)',
  bv_tty_set: 'int bv_tty_set(int fd, const void *termios)',
  bv_dup: 'int bv_dup(int fd)',
  bv_memfd_sealed: 'int bv_memfd_sealed(const char *name, const void *bytes, size_t len)',
  bv_tty_pgrp: 'int bv_tty_pgrp(int fd)',
  bv_tty_set_pgrp: 'int bv_tty_set_pgrp(int fd, int pgrp)',
  bv_deadline_thread: 'int bv_deadline_thread(int pid, int pidfd, int kill_fd)',
  bv_write_byte: 'int bv_write_byte(int fd)',
  bv_recv_fd: 'int bv_recv_fd(int sock)',
  bv_bpf_eval: 'uint32_t bv_bpf_eval(const void *prog, int len, const void *data)',
  bv_socketpair: 'int bv_socketpair(void *fds)',
  bv_notify_thread: 'int bv_notify_thread(int sock, int out_fd, int stop_fd, const void *strmask, int nmask, int max_records, const void *observe_prog, int observe_len, const void *secrets, int secrets_len, int secret_count)',
  bv_audit_status: 'int bv_audit_status(void *out)',
  bv_audit_open: 'int bv_audit_open(void)',
  bv_audit_thread: 'int bv_audit_thread(int audit_fd, int out_fd, int stop_fd, const char *token, const void *secrets, int secrets_len, int secret_count)',
  bv_read_record: 'int bv_read_record(int fd, void *rec)',
  bv_landlock_create: 'int bv_landlock_create(uint64_t fs, uint64_t net, uint64_t scoped, int abi)',
  bv_landlock_add_path: 'int bv_landlock_add_path(int ruleset, int parent_fd, uint64_t allowed)',
  bv_landlock_add_port: 'int bv_landlock_add_port(int ruleset, uint64_t port, uint64_t allowed)',
  bv_mkfifo: 'int bv_mkfifo(const char *path, int mode)',
  bv_fallocate: 'int bv_fallocate(int fd, int64_t len)',
  bv_rename_noreplace: 'int bv_rename_noreplace(const char *oldpath, const char *newpath)',
  bv_openat2: 'int bv_openat2(int dirfd, const char *path, int flags, int mode, int resolve)',
  bv_fstat: 'int bv_fstat(int fd, void *out)',
  bv_getdents: 'int bv_getdents(int fd, void *buf, int len)',
  bv_lseek: 'int64_t bv_lseek(int fd, int64_t off, int whence)',
  bv_mkdirat: 'int bv_mkdirat(int dirfd, const char *name, int mode)',
  bv_unlinkat: 'int bv_unlinkat(int dirfd, const char *name, int flags)',
  bv_symlinkat: 'int bv_symlinkat(const char *target, int dirfd, const char *name)',
  bv_readlinkat: 'int bv_readlinkat(int dirfd, const char *name, void *buf, int len)',
  bv_renameat: 'int bv_renameat(int olddir, const char *oldname, int newdir, const char *newname)',
  bv_linkat: 'int bv_linkat(int olddir, const char *oldname, int newdir, const char *newname)',
  bv_stat_id: 'int bv_stat_id(int fd, void *out)',
  bv_tree: 'int bv_tree(int fd, uint32_t attrs, int userns_fd, int recursive)',
  bv_xattr_size: 'int bv_xattr_size(const char *path, const char *name, int follow)',
  bv_mount_tmpfs: 'int bv_mount_tmpfs(const char *target, const char *data)',
  bv_remount_ro: 'int bv_remount_ro(const char *target)',
  bv_umount: 'int bv_umount(const char *target)',
  bv_userns: 'int bv_userns(const char *uid_map, const char *gid_map)',
  bv_unix_connect: 'int bv_unix_connect(const char *path, int timeout_ms)',
};

let cached: ShimFns | null = null;

export { packageRoot };

export function shimPath(): string {
  return join(packageRoot(), ...NATIVE.lib);
}

/** The library that makes bvisor's own Node processes non-dumpable (native-shim/src/nodump.c). */
export function nodumpPath(): string {
  return join(packageRoot(), ...NATIVE.nodump);
}

/** The per-container monitor binary. */
export function monitorPath(): string {
  return join(packageRoot(), ...NATIVE.monitor);
}

type Koffi = typeof import('koffi', { with: { 'resolution-mode': 'require' } });

/**
 * koffi, by the native module its own loader picked when the package was built (recorded by
 * scripts/record-koffi.mjs in native-shim/build/koffi.json): that loader's platform and libc
 * detection costs about 10 ms per process, the module itself about 3. Only a record naming a
 * module inside node_modules whose version is the one recorded is used; anything else goes
 * through koffi's loader, as without a record. Only `load` is used here, which both provide.
 */
export function koffiFrom(record: string): { koffi: Koffi; via: 'record' | 'loader' } {
  try {
    const rec = JSON.parse(readFileSync(record, 'utf8')) as { path?: unknown; version?: unknown } | null;
    if (rec && typeof rec.path === 'string' && typeof rec.version === 'string' && rec.path.startsWith('node_modules/') && rec.path.endsWith('.node') && !rec.path.split('/').includes('..')) {
      // process.dlopen, not require: the path is known, and require's resolution of it (stats
      // of the path and its package) was over a millisecond of every command that loads koffi.
      const mod = { exports: {} as { version?: unknown; load?: unknown } };
      process.dlopen(mod, join(packageRoot(), rec.path));
      const native = mod.exports;
      if (native.version === rec.version && typeof native.load === 'function') return { koffi: native as unknown as Koffi, via: 'record' };
    }
  } catch {
    // no record, or a module that will not load: koffi's own loader decides below
  }
  return { koffi: lateRequire('koffi') as Koffi, via: 'loader' };
}

function loadKoffi(): Koffi {
  return koffiFrom(join(packageRoot(), 'native-shim', 'build', 'koffi.json')).koffi;
}

export function shim(): ShimFns {
  if (cached) return cached;
  const path = shimPath();
  if (!existsSync(path)) {
    throw new BvisorError('BV_SHIM_LOAD', `native shim not found at ${path}`, { hint: 'build it with `npm run build:shim` (needs cc and make)' });
  }
  const koffi = loadKoffi();
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(path);
  } catch (e) {
    throw new BvisorError('BV_SHIM_LOAD', `cannot load native shim ${path}: ${(e as Error).message}`, { hint: 'rebuild it with `npm run build:shim`', cause: e });
  }
  // Each function is declared to koffi when first used (a getter that replaces itself with the
  // function): a command uses a few of the 46, and declaring them all cost every command that
  // loads the shim about 0.6 ms. A symbol missing from the library (possible only in a build whose
  // ABI number was not raised with it) then throws at its first use, not here.
  const fns = {} as ShimFns;
  for (const name of Object.keys(SIGNATURES) as Array<keyof ShimFns>) {
    Object.defineProperty(fns, name, {
      configurable: true,
      enumerable: true,
      get() {
        const f = lib.func(SIGNATURES[name]);
        Object.defineProperty(fns, name, { value: f, enumerable: true });
        return f;
      },
    });
  }
  const abi = fns.bv_shim_abi();
  if (abi !== EXPECTED_SHIM_ABI) {
    throw new BvisorError('BV_SHIM_LOAD', `native shim ${path} reports ABI ${abi}, this build expects ${EXPECTED_SHIM_ABI}`, { hint: 'rebuild it with `npm run build:shim`' });
  }
  cached = fns;
  return fns;
}

/** open(2) flags: from Node where it has them (they differ between arches), O_PATH is 010000000 on
 * both x86_64 and the generic (aarch64) ABI. */
export const O = {
  RDONLY: constants.O_RDONLY,
  WRONLY: constants.O_WRONLY,
  RDWR: constants.O_RDWR,
  CREAT: constants.O_CREAT,
  TRUNC: constants.O_TRUNC,
  APPEND: constants.O_APPEND,
  NONBLOCK: constants.O_NONBLOCK,
  DIRECTORY: constants.O_DIRECTORY,
  NOFOLLOW: constants.O_NOFOLLOW,
  NOCTTY: constants.O_NOCTTY,
  EXCL: constants.O_EXCL,
  PATH: 0o10000000,
} as const;

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
