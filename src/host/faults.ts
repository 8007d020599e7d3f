// Named points in create, start, run and delete where the crash-safety tests kill bvisor with
// SIGKILL, to prove that whatever a crash leaves there, `delete -f` (or `gc`) removes. In the
// shipped code a fault point does nothing: no environment variable or flag reaches it. Only a
// test preload (test/seams/crash-at.mjs, loaded with `node --import`) replaces `faultPoints.hit`.
export type FaultStage =
  | 'create:after-state'
  | 'create:before-cgroup'
  | 'create:before-confirm'
  | 'create:after-spawn'
  | 'start:after-go'
  | 'run:after-state'
  | 'run:before-cgroup'
  | 'run:running'
  | 'run:before-seal'
  | 'run:after-journal'
  | 'delete:after-kill'
  | 'delete:after-teardown'
  | 'delete:after-seal'
  | 'tar:extracting';

export const faultPoints = {
  hit(_stage: FaultStage): void {},
};

export function fault(stage: FaultStage): void {
  faultPoints.hit(stage);
}
