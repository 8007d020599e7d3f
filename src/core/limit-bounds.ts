// The bounds of each limit a manifest may write: their own module, so commands that check a
// value against them (update) do not load the manifest parser.
/** Bounds that keep limits meaningful: below the minimum nothing can run, above the maximum it is a typo. */
export const LIMIT_BOUNDS: Record<'wall' | 'cpu' | 'cpus' | 'memory' | 'processes' | 'openFiles' | 'fuel' | 'output' | 'tmpSize', { min: number; max: number; unit: string }> = {
  wall: { min: 1, max: 30 * 24 * 3_600_000, unit: 'ms' },
  cpu: { min: 1, max: 30 * 24 * 3_600_000, unit: 'ms' },
  cpus: { min: 0.01, max: 4096, unit: 'cpus' },
  memory: { min: 2 ** 20, max: 2 ** 50, unit: 'bytes' },
  processes: { min: 1, max: 4_194_304, unit: 'count' },
  openFiles: { min: 3, max: 1 << 30, unit: 'count' },
  fuel: { min: 1, max: Number.MAX_SAFE_INTEGER, unit: 'fuel' },
  output: { min: 0, max: 2 ** 40, unit: 'bytes' },
  tmpSize: { min: 4096, max: 2 ** 50, unit: 'bytes' },
};
