// The only file that imports koffi. It loads native-shim/build/libbvshim.so on first use (not at
// import time: start-up matters to scripts calling bvisor thousands of times) and exposes typed
// wrappers. Every wrapper returns what the C function returned: a value, or a negative errno
// that callers turn into a coded error. Nothing here decides policy.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BvisorError } from '../../../contract/errors.js';

/** Must equal BV_SHIM_ABI in native-shim/src/bvshim.h. */
export const EXPECTED_SHIM_ABI = 1;

interface ShimFns {
  bv_shim_abi(): number;
  bv_landlock_abi(): number;
  bv_userns_probe(uid: number, gid: number): number;
  bv_flock(fd: number, op: number): number;
}

let cached: ShimFns | null = null;

/** The package root: dist/backends/linux/ffi → ../../../.., and the same from src/ under vitest. */
export function packageRoot(): string {
  return join(__dirname, '..', '..', '..', '..');
}

export function shimPath(): string {
  return process.env.BVISOR_SHIM_PATH ?? join(packageRoot(), 'native-shim', 'build', 'libbvshim.so');
}

export function shim(): ShimFns {
  if (cached) return cached;
  const path = shimPath();
  if (!existsSync(path)) {
    throw new BvisorError('BV_SHIM_LOAD', `native shim not found at ${path}`, { hint: 'build it with `npm run build:shim` (needs cc and make)' });
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const koffi = require('koffi') as typeof import('koffi', { with: { 'resolution-mode': 'require' } });
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(path);
  } catch (e) {
    throw new BvisorError('BV_SHIM_LOAD', `cannot load native shim ${path}: ${(e as Error).message}`, { hint: 'rebuild it with `npm run build:shim`', cause: e });
  }
  const fns: ShimFns = {
    bv_shim_abi: lib.func('int bv_shim_abi(void)') as ShimFns['bv_shim_abi'],
    bv_landlock_abi: lib.func('int bv_landlock_abi(void)') as ShimFns['bv_landlock_abi'],
    bv_userns_probe: lib.func('int bv_userns_probe(int uid, int gid)') as ShimFns['bv_userns_probe'],
    bv_flock: lib.func('int bv_flock(int fd, int op)') as ShimFns['bv_flock'],
  };
  const abi = fns.bv_shim_abi();
  if (abi !== EXPECTED_SHIM_ABI) {
    throw new BvisorError('BV_SHIM_LOAD', `native shim ${path} reports ABI ${abi}, this build expects ${EXPECTED_SHIM_ABI}`, { hint: 'rebuild it with `npm run build:shim`' });
  }
  cached = fns;
  return fns;
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
