// The core-wasm type of every WASI preview 1 function (wasi_snapshot_preview1), as the witx
// lowers it: handles, sizes, pointers, enums and flags of 32 bits or less are i32; filesize,
// timestamp, rights, dircookie, device and inode are i64; every function returns an errno (i32)
// except proc_exit. Written from the specification; test/core/wasm checks it against wasi-libc's
// own header (wasi/api.h) where that is installed.
//
// A module that imports a WASI name with another type is refused at load: the host functions
// are JavaScript, so the engine would link them whatever the declared type and the guest would
// then call them with arguments they cannot read.

export const I32 = 0x7f;
export const I64 = 0x7e;

type Sig = readonly [params: string, results: string];

/** name → [params, results] as strings of 'i' (i32) and 'I' (i64). */
const WASI: Record<string, Sig> = {
  args_get: ['ii', 'i'],
  args_sizes_get: ['ii', 'i'],
  environ_get: ['ii', 'i'],
  environ_sizes_get: ['ii', 'i'],
  clock_res_get: ['ii', 'i'],
  clock_time_get: ['iIi', 'i'],
  fd_advise: ['iIIi', 'i'],
  fd_allocate: ['iII', 'i'],
  fd_close: ['i', 'i'],
  fd_datasync: ['i', 'i'],
  fd_fdstat_get: ['ii', 'i'],
  fd_fdstat_set_flags: ['ii', 'i'],
  fd_fdstat_set_rights: ['iII', 'i'],
  fd_filestat_get: ['ii', 'i'],
  fd_filestat_set_size: ['iI', 'i'],
  fd_filestat_set_times: ['iIIi', 'i'],
  fd_pread: ['iiiIi', 'i'],
  fd_prestat_get: ['ii', 'i'],
  fd_prestat_dir_name: ['iii', 'i'],
  fd_pwrite: ['iiiIi', 'i'],
  fd_read: ['iiii', 'i'],
  fd_readdir: ['iiiIi', 'i'],
  fd_renumber: ['ii', 'i'],
  fd_seek: ['iIii', 'i'],
  fd_sync: ['i', 'i'],
  fd_tell: ['ii', 'i'],
  fd_write: ['iiii', 'i'],
  path_create_directory: ['iii', 'i'],
  path_filestat_get: ['iiiii', 'i'],
  path_filestat_set_times: ['iiiiIIi', 'i'],
  path_link: ['iiiiiii', 'i'],
  path_open: ['iiiiiIIii', 'i'],
  path_readlink: ['iiiiii', 'i'],
  path_remove_directory: ['iii', 'i'],
  path_rename: ['iiiiii', 'i'],
  path_symlink: ['iiiii', 'i'],
  path_unlink_file: ['iii', 'i'],
  poll_oneoff: ['iiii', 'i'],
  proc_exit: ['i', ''],
  proc_raise: ['i', 'i'],
  sched_yield: ['', 'i'],
  random_get: ['ii', 'i'],
  sock_accept: ['iii', 'i'],
  sock_recv: ['iiiiii', 'i'],
  sock_send: ['iiiii', 'i'],
  sock_shutdown: ['ii', 'i'],
};

export interface FuncType {
  params: readonly number[];
  results: readonly number[];
}

const decode = (s: string): number[] => [...s].map((c) => (c === 'I' ? I64 : I32));

/** The WASI preview 1 function names with their types. */
export const WASI_PREVIEW1: ReadonlyMap<string, FuncType> = new Map(Object.entries(WASI).map(([n, [p, r]]) => [n, { params: decode(p), results: decode(r) }]));

const VALTYPE: Record<number, string> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref' };

export function showType(t: FuncType): string {
  const list = (v: readonly number[]): string => v.map((x) => VALTYPE[x] ?? `0x${x.toString(16)}`).join(', ');
  return `(${list(t.params)}) -> (${list(t.results)})`;
}

export function sameType(a: FuncType, b: FuncType): boolean {
  return a.params.length === b.params.length && a.results.length === b.results.length && a.params.every((x, i) => x === b.params[i]) && a.results.every((x, i) => x === b.results[i]);
}
