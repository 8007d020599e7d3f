// How a run's captured streams reach its caller as they arrive (bvisor run relays them to its
// own stdout/stderr). limits.output bounds what is relayed exactly as it bounds what is kept.
import type { CaptureSink } from '../backends/linux/launcher.js';

export interface RunRelay {
  stdout?: (b: Buffer) => void;
  stderr?: (b: Buffer) => void;
  /** A relayed stream reached limits.output: nothing more of it is relayed (or kept). */
  truncated?: (stream: 'stdout' | 'stderr', cap: number) => void;
}

export function relaySink(name: 'stdout' | 'stderr', cap: number, relay: RunRelay | undefined): CaptureSink {
  const chunk = relay?.[name];
  const truncated = relay?.truncated;
  return { cap, ...(chunk ? { onChunk: chunk } : {}), ...(truncated ? { onTruncate: (c: number) => truncated(name, c) } : {}) };
}
