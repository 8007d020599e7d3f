// run --sig-proxy: the caller's signals sent on to the run's workload, as runc run sends them. The
// run opens the relay once it has seen its workload exec and closes it when the workload has ended;
// outside that window the caller's listener gets false and stops the run as it would without the
// flag. A signal taken is queued and sent from the loop (app/lifecycle.ts sendOnToRun: under the
// container's lock, only to this run's live workload, recorded first for its report), so a
// listener never waits: a storm of one signal is one pending sending, as the kernel would merge
// it in a pending set anyway. The workload is in a session of its own (launcher ownSession), so
// what the caller's terminal or shell sends reaches it once, through here. A signal taken and
// then not sent (the workload ended first, say while another command held the lock) is said.
import { constants as osConstants } from 'node:os';
import type { ProcRef } from '../contract/generated/types.js';
import { alive, procState } from '../host/proc.js';
import { sendOnToRun } from './lifecycle.js';

/** What the caller's signal listeners ask (RunOptions.signalsForwarded). */
export interface SignalRelay {
  /** Takes `sig` for the workload: true when it is the workload's (queued to be sent on), false
   * when this run has no released, live workload. */
  take(sig: NodeJS.Signals): boolean;
}

/** The relay a run fills: closed (take → false) until open(), and again after close(). */
export interface RunSignalRelay extends SignalRelay {
  open(t: RelayTarget): void;
  close(): void;
}

/** `warn`: where a signal taken and not sent is said (the run goes on). */
export function signalRelay(warn: (line: string) => void): RunSignalRelay {
  let target: RelayTarget | null = null;
  const pending = new Set<NodeJS.Signals>();
  let draining = false;
  const drain = async (t: RelayTarget): Promise<void> => {
    draining = true;
    try {
      for (let sig = first(pending); sig !== undefined; sig = first(pending)) {
        pending.delete(sig);
        try {
          if (!(await sendOnToRun(t.dir, t.id, t.runId, osConstants.signals[sig]))) warn(notSent(sig));
        } catch (e) {
          warn(`bvisor: ${sig} was not sent on to the workload: ${(e as Error).message}\n`);
        }
      }
    } finally {
      draining = false;
    }
  };
  return {
    open: (t) => void (target = t),
    close: () => {
      target = null;
      for (const sig of pending) warn(notSent(sig));
      pending.clear();
    },
    take(sig) {
      const t = target;
      if (t === null || !alive(t.workload) || procState(t.workload.pid) === 'Z') return false;
      pending.add(sig);
      if (!draining) void drain(t);
      return true;
    },
  };
}

export interface RelayTarget {
  dir: string;
  id: string;
  runId: string;
  workload: ProcRef;
}

const notSent = (sig: string): string => `bvisor: ${sig} was not sent on: the workload had ended before it could be\n`;

function first<T>(s: Set<T>): T | undefined {
  for (const x of s) return x;
  return undefined;
}
