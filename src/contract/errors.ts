// The one error type of bvisor and its closed registry of codes. Every code maps to a stable
// exit code (docs/exit-codes.md) and a documented anchor (docs/errors.md). A test checks that
// every code thrown anywhere in src/ is registered here and documented.

/** Stable process exit codes. `run` returns the workload's own status instead (see docs). */
export const EXIT = {
  ok: 0,
  runtime: 1,
  usage: 2,
  refused: 3,
  setup: 4,
  invalid: 5,
  notFound: 6,
  conflict: 7,
  integrity: 8,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

interface CodeInfo {
  exit: ExitCode;
  summary: string;
}

/** Codes that end a command. Issue codes (inside `issues`) are listed in ISSUE_CODES. */
export const ERROR_CODES = {
  BV_USAGE: { exit: EXIT.usage, summary: 'bad command-line flags or arguments, a command bvisor does not have (the hint names the nearest ones), or global flags with no command after them (a bare `bvisor` prints its help)' },
  BV_INTERNAL: { exit: EXIT.runtime, summary: 'a bug in bvisor' },
  BV_IO: { exit: EXIT.runtime, summary: 'a file operation failed' },
  BV_MANIFEST_NOT_FOUND: { exit: EXIT.invalid, summary: 'the bundle has no boundary.yaml (nor an OCI config.json)' },
  BV_OCI_CONFIG_INVALID: { exit: EXIT.invalid, summary: 'an OCI bundle\'s config.json cannot be read, is not JSON (file:line:col), is too large or nests too deep' },
  BV_CONSOLE_SOCKET: { exit: EXIT.setup, summary: 'the --console-socket cannot take the terminal (connect or send failed), or a terminal was asked without one' },
  BV_OUTPUTS: { exit: EXIT.runtime, summary: 'an outputs quarantine could not be made, staged, committed or discarded (the message says which artifact and why)' },
  BV_OUTPUTS_NOT_FOUND: { exit: EXIT.notFound, summary: 'no staged outputs for this id: no sealed report with artifacts, or they were committed or discarded already' },
  BV_HOOK_FAILED: { exit: EXIT.setup, summary: 'an OCI hook exited non-zero or ran past its timeout' },
  BV_MANIFEST_INVALID: { exit: EXIT.invalid, summary: 'the manifest is not valid (YAML, schema or meaning)' },
  BV_BUNDLE_NOT_FOUND: { exit: EXIT.invalid, summary: 'the bundle path does not exist' },
  BV_BUNDLE_UNSAFE_TAR: { exit: EXIT.invalid, summary: 'a bundle archive holds an entry that could escape or is not allowed' },
  BV_BUNDLE_TAR_TOO_LARGE: { exit: EXIT.invalid, summary: 'a bundle archive is larger than allowed' },
  BV_BUNDLE_TAR_INVALID: { exit: EXIT.invalid, summary: 'a bundle archive cannot be read' },
  BV_PLAN_REFUSED: { exit: EXIT.refused, summary: 'the planner refused one or more clauses on this host' },
  BV_HOST_PROBE: { exit: EXIT.runtime, summary: 'a host fact could not be read' },
  BV_SHIM_LOAD: { exit: EXIT.setup, summary: 'the native shim is missing or does not match this build, or the library bvisor preloads into its own wasm processes is missing, could not be loaded by ld.so (the runner or the rewriter then reads no job), or is installed under a path LD_PRELOAD cannot name (a space or a colon)' },
  BV_SPEC_EXISTS: { exit: EXIT.conflict, summary: 'bvisor spec would overwrite an existing file' },
  BV_SPEC_TARGET: { exit: EXIT.conflict, summary: 'the boundary.yaml that bvisor spec would write is a symlink or not a regular file; spec never writes through one' },
  BV_JOURNAL_CORRUPT: { exit: EXIT.integrity, summary: 'the journal failed verification' },
  BV_JOURNAL_LOCK: { exit: EXIT.runtime, summary: 'the journal lock could not be taken' },
  BV_JOURNAL_TORN: { exit: EXIT.integrity, summary: 'the journal ends in an append that did not finish (an incomplete last line, or an entry its head does not record); nothing is appended after it until bvisor journal verify --repair mends it' },
  BV_JOURNAL_KEY: { exit: EXIT.setup, summary: 'the journal key is unusable (mode, owner, place, size) or is not the key the journal is keyed with' },
  BV_STATE_ROOT_UNUSABLE: { exit: EXIT.setup, summary: 'the state root cannot take the writes a run needs (missing and not creatable, not a directory, a symlink, not ours, read-only or full); checked before anything runs. Every command that reads the root checks it first: a root that is not a directory of ours only we can write is refused, whatever it holds' },
  BV_CONTAINER_NOT_FOUND: { exit: EXIT.notFound, summary: 'no container with this id under the state root' },
  BV_CONTAINER_STATE: { exit: EXIT.conflict, summary: 'the container is not in a state that allows this operation' },
  BV_CONTAINER_EXISTS: { exit: EXIT.conflict, summary: 'a container with this id already exists under the state root' },
  BV_ID_INVALID: { exit: EXIT.usage, summary: 'a container id has characters or a length runc would not accept' },
  BV_SECRET_MISSING: { exit: EXIT.invalid, summary: 'a secret the manifest references is not provided to bvisor' },
  BV_SECRET_INVALID: { exit: EXIT.invalid, summary: 'a secret value cannot be passed to the workload as given (it holds a NUL byte, or bytes that are not UTF-8); the message names the variable, never the value' },
  BV_FD_NOT_OPEN: { exit: EXIT.setup, summary: 'a descriptor the manifest passes is not open in bvisor' },
  BV_CGROUP_SETUP: { exit: EXIT.setup, summary: 'a cgroup could not be created, limited, joined or read' },
  BV_LAUNCH_UNSUPPORTED: { exit: EXIT.setup, summary: 'the plan names a mechanism this build of the launcher does not implement' },
  BV_LAUNCH_RENDEZVOUS: { exit: EXIT.setup, summary: 'the parent could not prepare the child (uid/gid maps, cgroups); the workload never ran' },
  BV_IDS_EXHAUSTED: { exit: EXIT.setup, summary: 'every id of bvisor\'s range in /etc/subuid and /etc/subgid is held by a live run or container (per-run ids); nothing ran' },
  BV_LAUNCH_FAILED: { exit: EXIT.setup, summary: 'the child failed at a named setup stage before exec; the workload never ran' },
  BV_WASM_REFUSED: { exit: EXIT.invalid, summary: 'the wasm module is not one bvisor runs: invalid (the engine\'s validation or the rewriter\'s bounds checks), not a WASI command (_start, memory, WASI imports of the right types), a proposal or import bvisor does not run, tables and memory whose minimum exceeds limits.memory, or a module whose instrumenting needs more memory, heap or time than the rewriter may use (2 GiB, 1 GiB, 60 s) or grows past what V8 compiles' },
  BV_WASM_RUNNER: { exit: EXIT.runtime, summary: 'the wasm runner ended without reporting an outcome' },
  BV_LAUNCH_SPAWN: { exit: EXIT.setup, summary: 'clone3 or a descriptor needed for it failed' },
  BV_LAUNCH_CHANGED: { exit: EXIT.setup, summary: 'a path the plan names is no longer the object that was planned (swapped, replaced or made a symlink); nothing ran' },
  BV_MONITOR_FAULT: { exit: EXIT.runtime, summary: 'a container\'s monitor could not go on supervising its workload, so it killed it (a report outcome; no command ends with it)' },
  BV_ABORTED: { exit: EXIT.runtime, summary: 'the caller aborted the run (the API\'s signal) before its workload was released: nothing ran (its name is AbortError, as Node\'s own are; once released, an abort kills the workload and the report says killed, reason abort)' },
  BV_LAUNCH_EVIDENCE: { exit: EXIT.setup, summary: 'what the kernel reported about the prepared workload does not match the plan; it was never released' },
  BV_LEARN_UNSUPPORTED: { exit: EXIT.invalid, summary: 'bvisor learn proposes host-mode process manifests only: the bundle is container mode (root:, an OCI config.json), a wasm workload, or asks for outputs:' },
  BV_LEARN_NOT_OBSERVED: { exit: EXIT.setup, summary: 'the learning run could not be observed (no seccomp user-notification listener), so nothing can be proposed' },
  BV_LEARN_OUTPUT: { exit: EXIT.conflict, summary: 'bvisor learn will not write its proposal there: the bundle\'s own boundary.yaml, an existing file without --force, or not a regular file' },
  BV_LEARN_UNVERIFIED: { exit: EXIT.runtime, summary: 'the proposal, run once fully enforced, did not behave as the observed run (another exit status, or denials); the proposal is still written, with the denials listed' },
} as const satisfies Record<string, CodeInfo>;
export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes of single problems reported inside BV_MANIFEST_INVALID and BV_PLAN_REFUSED. */
export const ISSUE_CODES = {
  // manifest, from the YAML reader
  BV_YAML_SYNTAX: 'the YAML cannot be parsed',
  BV_YAML_DUPLICATE_KEY: 'a mapping repeats a key',
  BV_YAML_ALIAS: 'anchors and aliases are not allowed (no expansion bombs, no hidden sharing)',
  BV_YAML_TAG: 'custom or explicit tags are not allowed',
  BV_YAML_KEY_TYPE: 'mapping keys must be plain strings',
  BV_YAML_MULTI_DOC: 'a manifest is exactly one YAML document',
  // manifest, from the schema and semantic checks
  BV_SCHEMA: 'the manifest does not match schemas/boundary.schema.json',
  BV_MANIFEST_PATH: 'a path is not absolute, not normalised, or not allowed here',
  BV_MANIFEST_PATH_ESCAPE: 'a bundle-relative path leaves the bundle (.. or a symlink)',
  BV_MANIFEST_PATH_MISSING: 'a bundle-relative path does not exist',
  BV_MANIFEST_LIMIT: 'a limit is absurd (zero, too large, or not representable)',
  BV_MANIFEST_CONFLICT: 'two clauses contradict each other',
  BV_MANIFEST_STRING: 'an argument or environment string cannot reach the program unchanged (a NUL byte, or longer than execve passes)',
  // planner refusals
  BV_PLAN_BACKEND_UNSUPPORTED: 'the backend has no mechanism for this clause',
  BV_PLAN_LANDLOCK_UNAVAILABLE: 'landlock is not available on this kernel',
  BV_PLAN_LANDLOCK_ABI_TOO_OLD: "the kernel's landlock ABI lacks a right this clause needs",
  BV_PLAN_NON_RECURSIVE: 'a non-recursive grant on a directory cannot be enforced without widening it',
  BV_PLAN_PATH_MISSING: 'a granted path does not exist',
  BV_PLAN_PATH_KIND: 'a granted path has the wrong kind (file, directory) for this clause',
  BV_PLAN_USERNS_UNAVAILABLE: 'the clause needs a namespace that this host will not create for us',
  BV_PLAN_SECCOMP_UNAVAILABLE: 'seccomp filters are not available',
  BV_PLAN_CGROUP_UNAVAILABLE: 'no cgroup controller that we may use backs this limit',
  BV_PLAN_CGROUP_PARENT: 'an OCI config\'s linux.cgroupsPath is outside the cgroup parent the caller gave (--cgroup-parent)',
  BV_PLAN_RLIMIT_ABOVE_HARD: 'the limit is above our hard rlimit and we cannot raise it',
  BV_PLAN_RLIMIT_TOO_LOW: "one of our own rlimits, which the backend's processes inherit, is below what they need to run at all",
  BV_PLAN_WEAKER_THAN_REQUESTED: 'the only mechanism here is weaker than the guarantee the clause asks for',
  BV_PLAN_NEEDS_LIMIT: 'the clause needs another clause to bound it',
  BV_PLAN_EXE_NOT_GRANTED: 'the program is not reachable through an executable filesystem grant',
  BV_PLAN_GRANT_UNSAFE: 'the grant would hand the workload host-wide kernel state (/proc, /sys, devices) for writing',
  BV_PLAN_GRANT_RESERVED: "the grant reaches bvisor's own state root, cache or (for writing) install",
  BV_PLAN_GRANT_NESTED: 'a grant lies inside a wider one, whose landlock rule would widen it',
  BV_PLAN_WRITE_OWNER: 'a write grant belongs to an owner the workload may not act as here',
  BV_PLAN_ROOT_OUTSIDE: 'a root.path is the bundle directory itself (in any spelling, a link to it included), or an OCI config\'s lies outside the bundle and the engines\' storage, where bvisor (as root) would make its mount points',
  BV_PLAN_LAYOUT_CONFLICT: "two clauses would mount on the same place in the workload's root",
  BV_PLAN_CWD_UNREACHABLE: "the working directory does not exist in the workload's root",
  BV_PLAN_STDIN: 'the stdin file is not a regular file the workload could read itself',
  BV_PLAN_SECRET_NOT_ALLOWED: 'the manifest asks for a secret the caller did not hand to this run',
  BV_PLAN_FD_NOT_HANDED: 'the manifest passes a descriptor the caller did not hand to bvisor for the workload',
  BV_PLAN_HOST_ROOT: 'the workload would run as host root (no user namespace to map it)',
  BV_PLAN_PATH_LINK: 'a host path passes through a symlink that someone other than root (or the caller) controls',
  BV_PLAN_GRANT_PROCESS: "a grant names one process's /proc directory (/proc/self, /proc/thread-self, /proc/PID), which bvisor would resolve to a process of its own, not the workload's",
  // OCI bundles (config.json): the clause is the field's JSON path
  BV_OCI_INVALID: 'a config.json field does not follow the OCI runtime-spec (type, range, form)',
  BV_OCI_UNKNOWN_FIELD: 'config.json has a field bvisor does not know; it is refused, never ignored',
  BV_OCI_UNSUPPORTED: 'config.json asks for something bvisor cannot enforce or apply on this host',
  BV_OCI_VERSION: 'config.json is of a runtime-spec version bvisor does not read (1.0 to 1.2)',
  BV_OCI_SECCOMP: 'a linux.seccomp rule cannot be compiled or would weaken the filter',
  BV_PLAN_OUTPUTS: 'the outputs quarantine cannot be made or limited as the clause asks on this host',
} as const;
export type IssueCode = keyof typeof ISSUE_CODES;

/** One located problem: a YAML error, a schema violation, a refused clause. */
export interface Issue {
  code: IssueCode;
  /** Clause path, e.g. filesystem[2].access; '' for the document itself. */
  clause: string;
  message: string;
  hint?: string | null;
  file?: string | null;
  line?: number | null;
  col?: number | null;
}

export interface BvisorErrorOptions {
  hint?: string;
  detail?: Record<string, unknown>;
  issues?: Issue[];
  cause?: unknown;
}

export class BvisorError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | null;
  readonly detail: Record<string, unknown>;
  readonly issues: Issue[];

  constructor(code: ErrorCode, message: string, options: BvisorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BvisorError';
    this.code = code;
    this.hint = options.hint ?? null;
    this.detail = options.detail ?? {};
    this.issues = options.issues ?? [];
  }

  get exit(): ExitCode {
    return ERROR_CODES[this.code].exit;
  }

  get doc(): string {
    return `docs/errors.md#${this.code.toLowerCase()}`;
  }
}

export function isBvisorError(e: unknown): e is BvisorError {
  return e instanceof BvisorError;
}

/** Where an issue is, as people read it: file:line:col clause. */
export function formatIssueLocation(i: Issue): string {
  const where = i.file ? `${i.file}${i.line ? `:${i.line}:${i.col ?? 1}` : ''}` : '';
  return [where, i.clause].filter(Boolean).join(' ');
}

/**
 * The error to throw once what a failed step made is undone: `failure` itself. An undo that
 * fails too is said beside it (in its message, and in a BvisorError's detail.cleanup), never
 * thrown in its place: the first error is the one that explains (a manifest refused at its
 * file:line:col, say), and what the undo could not remove is said, not hidden. A failure whose
 * message cannot take the note (not an Error, a frozen one) comes back as an AggregateError of
 * the two, first the failure.
 */
export function undone(failure: unknown, undo: () => void): unknown {
  try {
    undo();
  } catch (u) {
    const also = describe(u);
    if (failure instanceof Error) {
      try {
        failure.message += `; cleaning up after it failed too: ${also}`;
        if (failure instanceof BvisorError) {
          const before = failure.detail.cleanup;
          failure.detail.cleanup = typeof before === 'string' ? `${before}; ${also}` : also;
        }
        return failure;
      } catch {
        // frozen, or a message with only a getter: both below
      }
    }
    return new AggregateError([failure, u], `${describe(failure)}; cleaning up after it failed too: ${also}`);
  }
  return failure;
}

/** What a thrown value says, whatever it is (String() of an object without a prototype throws). */
function describe(x: unknown): string {
  try {
    return x instanceof Error ? x.message : String(x);
  } catch {
    return Object.prototype.toString.call(x);
  }
}

/** `body`, then `cleanup` whether it threw or not: try/finally, except that a cleanup failing
 * after body threw is said beside body's error (undone) instead of replacing it. */
export function withCleanup<T>(body: () => T, cleanup: () => void): T {
  let r: T;
  try {
    r = body();
  } catch (e) {
    throw undone(e, cleanup);
  }
  cleanup();
  return r;
}

/** withCleanup for an async body. */
export async function withCleanupAsync<T>(body: () => Promise<T>, cleanup: () => void): Promise<T> {
  let r: T;
  try {
    r = await body();
  } catch (e) {
    throw undone(e, cleanup);
  }
  cleanup();
  return r;
}
