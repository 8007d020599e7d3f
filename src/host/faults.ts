// Named points in create, start, run and delete where the crash-safety tests kill bvisor with
// SIGKILL, to prove that whatever a crash leaves there, `delete -f` (or `gc`) removes; and points
// where a race test plays the second writer in a window too narrow to hit from outside. In the
// shipped code a fault point does nothing: no environment variable or flag reaches it. Only a
// test preload (test/seams/crash-at.mjs, loaded with `node --import`) or a test importing the
// sources replaces `faultPoints.hit`.
export type FaultStage =
  | 'create:after-state'
  | 'create:before-cgroup'
  | 'create:before-confirm'
  | 'create:after-spawn'
  | 'start:after-go'
  | 'run:claimed'
  | 'run:after-state'
  | 'run:before-cgroup'
  | 'run:running'
  | 'run:before-seal'
  // The workload has ended; its outputs are not yet staged.
  | 'run:before-staging'
  | 'run:after-journal'
  | 'delete:after-kill'
  | 'delete:after-teardown'
  | 'delete:after-seal'
  // kill, kill --all, delete -f: a signal recorded for the report (signals.json), not yet sent.
  | 'signal:recorded'
  | 'tar:extracting'
  // recover (and gc): the journal read, the host not yet surveyed.
  | 'recover:surveying'
  // The journal as a recovery log (docs/journal.md#recovery): around the start record, and
  // appends torn in half (only when armed: a shipped bvisor writes each line whole).
  | 'run:before-start-record'
  | 'run:after-start-record'
  | 'start:before-start-record'
  | 'start:after-start-record'
  | 'journal:torn-report'
  | 'journal:torn-started'
  // A cgroup member pinned by its pidfd, before it is looked for in the leaf again.
  | 'cgroup:member-pinned'
  // Each pass of a cgroup leaf's teardown, before its rmdir (a test keeps the leaf busy there).
  | 'cgroup:teardown-pass'
  // A commit by copy: its temporary name looked at, not yet created; the source checked against
  // the seal, not yet copied; the copy made and checked, its temporary name not yet renamed.
  | 'commit:before-create'
  | 'commit:before-copy'
  | 'commit:before-rename'
  // A state root being made: where the making starts checked, nothing made yet.
  | 'state-root:before-make'
  // A commit to the report's destination: its path checked, not yet made.
  | 'commit:destination-checked';

export const faultPoints = {
  hit(_stage: FaultStage): void {},
  /** Whether a test armed this stage (the journal then tears that append at it). */
  armed(_stage: FaultStage): boolean {
    return false;
  },
};

export function fault(stage: FaultStage): void {
  faultPoints.hit(stage);
}

/** `f`, then the fault point `stage`: a step's record made, the crash tests' moment before the
 * step itself (a cgroup leaf named in the state before it is made). */
export function thenFault<A extends unknown[], R>(f: (...args: A) => R, stage: FaultStage): (...args: A) => R {
  return (...args) => {
    const r = f(...args);
    fault(stage);
    return r;
  };
}
