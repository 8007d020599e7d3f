// A WASI preview 1 host, written for bvisor (never node:wasi, which a guest can escape: see
// ../shared/WASM.md). All 46 wasi_snapshot_preview1 imports exist: args, environ, clocks,
// random, stdio, poll_oneoff (clocks), proc_exit and sched_yield here, files in files.ts; the
// rest answer ENOSYS (sockets ENOTSUP), so nothing is reachable by accident. Host calls are
// charged to the fuel counter.
import { readSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { FileTable, fileImports, transferIovecs, type Preopen } from './files.js';

export const E = { SUCCESS: 0, BADF: 8, FAULT: 21, INVAL: 28, NOSYS: 52, NOTSUP: 58, SPIPE: 70, NOTCAPABLE: 76 } as const;

export const WASI_IMPORTS = [
  'args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get', 'clock_res_get', 'clock_time_get', 'fd_advise', 'fd_allocate',
  'fd_close', 'fd_datasync', 'fd_fdstat_get', 'fd_fdstat_set_flags', 'fd_fdstat_set_rights', 'fd_filestat_get', 'fd_filestat_set_size',
  'fd_filestat_set_times', 'fd_pread', 'fd_prestat_get', 'fd_prestat_dir_name', 'fd_pwrite', 'fd_read', 'fd_readdir', 'fd_renumber',
  'fd_seek', 'fd_sync', 'fd_tell', 'fd_write', 'path_create_directory', 'path_filestat_get', 'path_filestat_set_times', 'path_link',
  'path_open', 'path_readlink', 'path_remove_directory', 'path_rename', 'path_symlink', 'path_unlink_file', 'poll_oneoff', 'proc_exit',
  'proc_raise', 'sched_yield', 'random_get', 'sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown',
] as const;

export class ProcExit {
  constructor(readonly code: number) {}
}

export interface WasiOptions {
  args: string[];
  env: Array<[string, string]>;
  /** Seed for random_get and the virtual clock; null: real randomness and time. */
  seed: number | null;
  /** Charge a host call (units of fuel). */
  charge: (units: number) => void;
  preopens?: readonly Preopen[];
  /** The guest's secret values: a refusal's path holding one is recorded redacted. */
  redact?: readonly string[];
  /** Handed the file host once made: its refusals go into the outcome (runner.ts). */
  onFiles?: (table: FileTable) => void;
}

/** splitmix64: small, well known, and deterministic for a given seed. */
function prng(seed: number): () => number {
  let s = BigInt(seed) & 0xffffffffffffffffn;
  return () => {
    s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return Number((z ^ (z >> 31n)) & 0xffn);
  };
}

export function wasiImports(getMemory: () => WebAssembly.Memory, o: WasiOptions): Record<string, (...a: never[]) => number> {
  const enc = new TextEncoder();
  const args = o.args.map((a) => enc.encode(a + '\0'));
  const env = o.env.map(([k, v]) => enc.encode(`${k}=${v}\0`));
  const rand = o.seed === null ? null : prng(o.seed);
  let virtualNs = 1_700_000_000_000_000_000n; // a fixed epoch for deterministic runs
  const view = (): DataView => new DataView(getMemory().buffer);
  const bytes = (): Uint8Array => new Uint8Array(getMemory().buffer);
  // A charge is never negative: one that were would hand the guest fuel (a length it made up).
  const charge = (units: number): void => o.charge(units > 0 ? units : 0);
  const putList = (list: Uint8Array[], ptrs: number, buf: number): number => {
    // What is copied, one unit per 64 bytes (found by attack: a manifest's 1 MiB of arguments
    // copied again on every call for the cost of the call instruction).
    charge(Math.floor(list.reduce((n, x) => n + x.length + 4, 0) / 64));
    const dv = view();
    const b = bytes();
    let at = buf;
    list.forEach((item, i) => {
      dv.setUint32(ptrs + 4 * i, at, true);
      b.set(item, at);
      at += item.length;
    });
    return E.SUCCESS;
  };
  const sizes = (list: Uint8Array[], countPtr: number, sizePtr: number): number => {
    const dv = view();
    dv.setUint32(countPtr, list.length, true);
    dv.setUint32(sizePtr, list.reduce((n, x) => n + x.length, 0), true);
    return E.SUCCESS;
  };
  // stdio as readv/writev would answer a blocking caller (transferIovecs, which charges its iovecs
  // and bytes): never an exception out of the host, which would end the run as a host fault.
  const transfer = (iovs: number, iovsLen: number, out: number, op: (b: Uint8Array, p: number, l: number) => number): number => {
    charge(1);
    return transferIovecs(view(), bytes(), iovs, iovsLen, out, op, charge).errno;
  };

  const impl: Record<string, (...a: number[]) => number> = {
    args_get: (argv, buf) => putList(args, argv, buf),
    args_sizes_get: (c, s) => sizes(args, c, s),
    environ_get: (envp, buf) => putList(env, envp, buf),
    environ_sizes_get: (c, s) => sizes(env, c, s),
    clock_res_get: (_id, res) => {
      view().setBigUint64(res, 1000n, true);
      return E.SUCCESS;
    },
    clock_time_get: (id, _precision, res) => {
      let t: bigint;
      if (o.seed !== null) t = virtualNs += 1_000_000n; // each reading advances 1 ms
      else t = id === 0 ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint();
      view().setBigUint64(res, t, true);
      return E.SUCCESS;
    },
    fd_write: (fd, iovs, iovsLen, nwritten) => (fd !== 1 && fd !== 2 ? E.BADF : transfer(iovs, iovsLen, nwritten, (b, p, l) => writeSync(fd, b, p, l))),
    fd_read: (fd, iovs, iovsLen, nread) => (fd !== 0 ? E.BADF : transfer(iovs, iovsLen, nread, (b, p, l) => readSync(0, b, p, l, null))),
    fd_close: (fd) => (fd <= 2 ? E.SUCCESS : E.BADF),
    fd_fdstat_get: (fd, buf) => {
      const fe = table.get(fd);
      if (fe) {
        const dv = view();
        dv.setUint8(buf, fe.kind === 'dir' ? 3 : 4);
        dv.setUint16(buf + 2, fe.append ? 1 : 0, true);
        dv.setBigUint64(buf + 8, 0x1fffffffn, true); // every right: the host checks each call itself
        dv.setBigUint64(buf + 16, 0x1fffffffn, true);
        return E.SUCCESS;
      }
      if (fd > 2) return E.BADF;
      const dv = view();
      dv.setUint8(buf, 0); // filetype unknown: stdio may be a pipe, a file or /dev/null
      dv.setUint16(buf + 2, 0, true);
      // rights: fd_read (1<<1) for stdin, fd_write (1<<6) for stdout/stderr
      dv.setBigUint64(buf + 8, fd === 0 ? 2n : 64n, true);
      dv.setBigUint64(buf + 16, 0n, true);
      return E.SUCCESS;
    },
    fd_prestat_get: () => E.BADF, // no preopens in this version
    fd_prestat_dir_name: () => E.BADF,
    fd_seek: (fd) => (fd <= 2 ? E.SPIPE : E.BADF),
    fd_tell: (fd) => (fd <= 2 ? E.SPIPE : E.BADF),
    random_get: (buf, len) => {
      // Charged for what was asked, before it is looked at: a length past the memory still costs.
      charge(1 + Math.floor(len / 64));
      const mem = bytes();
      if (buf + len > mem.length) return E.FAULT;
      const b = mem.subarray(buf, buf + len);
      if (rand) for (let i = 0; i < b.length; i++) b[i] = rand();
      else randomFillSync(b);
      return E.SUCCESS;
    },
    sched_yield: () => E.SUCCESS,
    proc_exit: (code) => {
      throw new ProcExit(code);
    },
    proc_raise: () => E.NOSYS,
    // Clock subscriptions only (what sleep() uses): a deterministic run advances its virtual
    // clock instead of sleeping; fd subscriptions are not supported.
    poll_oneoff: (inPtr, outPtr, n, neventsPtr) => {
      // One unit a subscription, charged first; subscriptions or events past the memory: FAULT.
      charge(1 + n);
      const dv = view();
      if (inPtr + 48 * n > dv.byteLength || outPtr + 32 * n > dv.byteLength || neventsPtr + 4 > dv.byteLength) return E.FAULT;
      let maxNs = 0n;
      for (let i = 0; i < n; i++) {
        const sub = inPtr + 48 * i;
        if (dv.getUint8(sub + 8) !== 0) return E.NOTSUP; // 0 = clock
        const timeout = dv.getBigUint64(sub + 24, true);
        const absolute = (dv.getUint16(sub + 40, true) & 1) !== 0;
        const now = o.seed !== null ? virtualNs : process.hrtime.bigint();
        const wait = absolute ? (timeout > now ? timeout - now : 0n) : timeout;
        if (wait > maxNs) maxNs = wait;
        const ev = outPtr + 32 * i;
        dv.setBigUint64(ev, dv.getBigUint64(sub, true), true); // userdata
        dv.setUint16(ev + 8, 0, true); // error
        dv.setUint8(ev + 10, 0); // type clock
      }
      if (o.seed !== null) virtualNs += maxNs;
      else if (maxNs > 0n) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(maxNs / 1_000_000n));
      dv.setUint32(neventsPtr, n, true);
      return E.SUCCESS;
    },
    sock_accept: () => E.NOTSUP,
    sock_recv: () => E.NOTSUP,
    sock_send: () => E.NOTSUP,
    sock_shutdown: () => E.NOTSUP,
  };
  // Files: preopens and everything opened beneath them.
  const table = new FileTable(o.preopens ?? [], o.redact ?? []);
  o.onFiles?.(table);
  const dec = new TextDecoder();
  // A path is read from the guest's memory: one unit per 64 of its bytes, before it is decoded
  // (found by attack: a path_symlink of 32 MiB, decoded for one unit a call).
  const files = fileImports({
    table,
    mem: view,
    bytes,
    str: (p, l) => {
      charge(Math.floor(l / 64));
      return dec.decode(bytes().subarray(p, p + l));
    },
    charge,
  });
  const stdio = { fd_write: impl.fd_write!, fd_read: impl.fd_read!, fd_close: impl.fd_close!, fd_seek: impl.fd_seek!, fd_tell: impl.fd_tell! };
  for (const [name, f] of Object.entries(files)) {
    const std = (stdio as Record<string, ((...a: number[]) => number) | undefined>)[name];
    // stdio (0–2) stays with the stdio implementation; everything else is the file host's
    const file = (...a: number[]): number => {
      charge(1); // a file host call; files.ts charges what it moves and lists on top
      return (f as (...x: number[]) => number)(...a);
    };
    impl[name] = std ? (...a: number[]) => ((a[0] ?? 0) <= 2 ? std(...a) : file(...a)) : file;
  }
  // Every i32 parameter of preview1 is unsigned (pointers, sizes, fds, flags, exit codes), and
  // arrives from wasm as a signed number: 0x80000000 as -2147483648, which a length, a charge or a
  // subarray would take as negative. Each is made unsigned before any implementation sees it, and
  // so is every i64 (a BigInt: offsets, cookies, rights, timestamps are u64; fd_seek's delta, the
  // one signed i64, is read back as signed where it is used, files.ts).
  const out: Record<string, (...a: never[]) => number> = {};
  for (const name of WASI_IMPORTS) {
    const f = impl[name];
    out[name] = f
      ? (((...a: Array<number | bigint>): number => {
          for (let i = 0; i < a.length; i++) {
            const x = a[i]!;
            a[i] = typeof x === 'number' ? x >>> 0 : BigInt.asUintN(64, x);
          }
          try {
            return (f as (...x: Array<number | bigint>) => number)(...a);
          } catch (e) {
            // A pointer past the guest's memory met by a DataView or typed array (args_sizes_get
            // to 70000 in one page): FAULT, as every preview1 call answers a bad pointer, not a
            // trap of the host's (found by attack: unknown_trap). Anything else goes on: proc_exit's
            // ProcExit, a stack overflow (a RangeError too, the guest's trap), a bug of ours.
            if (e instanceof RangeError && /out of bounds|outside the bounds|Invalid typed array length/i.test(e.message)) return E.FAULT;
            throw e;
          }
        }) as (...a: never[]) => number)
      : () => E.NOSYS; // fail closed
  }
  return out;
}
