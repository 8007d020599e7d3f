// The wasm runner: a Node process started through the Linux launcher (namespaces, landlock,
// seccomp, cgroup) for one run, never sharing a process with bvisor or its API caller. It reads
// its job from fd 3 (a JSON line: args, env, fuel, seed; then the instrumented module's bytes),
// runs the module with bvisor's WASI host, and writes the outcome as one JSON line to fd 4.
// Under bvisor run both are pipes; a created container's fd 3 is an unnamed in-memory file and
// its fd 4 a file in the container's state directory (app/wasm.ts): read and written the same.
// It runs synchronously from start to end: no async I/O, no worker threads of its own.
import { writeSync, closeSync } from 'node:fs';
import { readAll } from './fd-io.js';
import { nonDumpable } from './nodump.js';
import { wasiImports, ProcExit } from './wasi.js';
import type { FileTable, WasiRefusal } from './files.js';
import { FUEL_EXPORT, START_EXPORT, TABLE_EXPORT_PREFIX } from '../../core/wasm/names.js';

interface Job {
  args: string[];
  env: Array<[string, string]>;
  fuel: string | null;
  seed: number | null;
  moduleBytes: number;
  preopens: Array<{ guest: string; host: string; readonly: boolean }>;
  /** The values of env that are the manifest's secrets: redacted from the refusals kept. */
  redact?: string[];
}

export interface Outcome {
  exitCode: number | null;
  trap: string | null;
  fuelUsed: string | null;
  peakPages: number;
  /** Entries of all the module's tables at the end (their peak). */
  tableEntries: number;
  message: string | null;
  /** The file host's refusals (ENOTCAPABLE), when there were any: distinct ones, and all counted. */
  refusals?: WasiRefusal[];
  refusalsTotal?: number;
}

/** V8's trap messages, pinned by tests; anything else is unknown_trap. */
export function classifyTrap(e: unknown, fuelLeft: bigint | null): string {
  if (fuelLeft !== null && fuelLeft < 0n) return 'out_of_fuel';
  if (e instanceof RangeError && /call stack/i.test(e.message)) return 'stack_overflow';
  const m = (e as Error)?.message ?? '';
  if (/memory access out of bounds|data segment is out of bounds/.test(m)) return 'memory_oob';
  if (/divide by zero/.test(m)) return 'int_div_zero';
  if (/divide result unrepresentable/.test(m)) return 'int_overflow';
  if (/float unrepresentable in integer range/.test(m)) return 'bad_conversion';
  if (/null function or function signature mismatch|function signature mismatch/.test(m)) return 'indirect_call';
  if (/table index is out of bounds/.test(m)) return 'table_oob';
  if (/unreachable/.test(m)) return 'unreachable';
  return 'unknown_trap';
}

function hostError(message: string): Outcome {
  return { exitCode: null, trap: 'host_error', fuelUsed: null, peakPages: 0, tableEntries: 0, message };
}

/** The job's outcome. Never throws: whatever goes wrong becomes an outcome, never a stack trace on the guest's stderr. */
export function runJob(raw: Buffer): Outcome {
  const nl = raw.indexOf(10);
  if (nl < 0) return hostError('the job is incomplete');
  let job: Job;
  try {
    job = JSON.parse(raw.subarray(0, nl).toString('utf8')) as Job;
  } catch (e) {
    return hostError(`the job is not valid JSON: ${message(e)}`);
  }
  const bytes = raw.subarray(nl + 1, nl + 1 + job.moduleBytes);
  if (bytes.length !== job.moduleBytes) return hostError(`the job carries ${bytes.length} module bytes of ${job.moduleBytes}`);
  let mod: WebAssembly.Module;
  try {
    mod = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    return hostError(`the module could not be compiled: ${message(e)}`);
  }
  let memory: WebAssembly.Memory | null = null;
  let fuelGlobal: WebAssembly.Global | null = null;
  const charge = (units: number): void => {
    if (fuelGlobal) fuelGlobal.value = (fuelGlobal.value as bigint) - BigInt(units);
  };
  let instance: WebAssembly.Instance;
  let files: FileTable | null = null;
  try {
    const imports = { wasi_snapshot_preview1: wasiImports(() => memory!, { args: job.args, env: job.env, seed: job.seed, charge, preopens: job.preopens, redact: job.redact ?? [], onFiles: (t) => (files = t) }) };
    instance = new WebAssembly.Instance(mod, imports);
  } catch (e) {
    // A segment that does not fit its memory or table traps during instantiation: the guest's
    // fault, reported as a trap. Anything else is the host that could not be set up (a preopen
    // that is not what the plan checked, memory): an outcome bvisor reports.
    if (e instanceof WebAssembly.RuntimeError) return { exitCode: null, trap: classifyTrap(e, null), fuelUsed: null, peakPages: 0, tableEntries: 0, message: message(e) };
    return hostError(message(e));
  }
  const ex = instance.exports;
  memory = ex.memory instanceof WebAssembly.Memory ? ex.memory : null;
  const counter = ex[FUEL_EXPORT];
  fuelGlobal = counter instanceof WebAssembly.Global ? counter : null;
  const start = ex._start;
  if (typeof start !== 'function') return hostError('module has no _start export');
  if (!fuelGlobal) return hostError('the module carries no fuel counter (it was not instrumented): not run'); // fail closed
  const budget = job.fuel === null ? 2n ** 62n : BigInt(job.fuel);
  if (fuelGlobal) fuelGlobal.value = budget;
  const out: Outcome = { exitCode: null, trap: null, fuelUsed: null, peakPages: 0, tableEntries: 0, message: null };
  try {
    (ex[START_EXPORT] as (() => void) | undefined)?.();
    (start as () => void)();
    out.exitCode = 0;
  } catch (e) {
    if (e instanceof ProcExit) out.exitCode = e.code;
    else {
      out.trap = classifyTrap(e, fuelGlobal ? (fuelGlobal.value as bigint) : null);
      out.message = message(e);
    }
  }
  if (fuelGlobal) out.fuelUsed = String(budget - (fuelGlobal.value as bigint));
  out.peakPages = memory ? memory.buffer.byteLength / 65536 : 0;
  // tables never shrink: their length now is their peak
  for (const [name, t] of Object.entries(ex)) if (name.startsWith(TABLE_EXPORT_PREFIX) && t instanceof WebAssembly.Table) out.tableEntries += t.length;
  const f = files as FileTable | null;
  if (f && f.refusalsTotal > 0) {
    out.refusals = f.refusals;
    out.refusalsTotal = f.refusalsTotal;
  }
  return out;
}

/** Bounded: the outcome is one short line (bvisor does not believe a longer one). */
function message(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.length > 1024 ? `${m.slice(0, 1024)}…` : m;
}

/** Reads the job from fd 3, runs it, writes the outcome to fd 4. `setup`, when given (the start
 * from the runner's snapshot: runner-snapshot.ts), runs first and may refuse with a message. */
export function main(setup?: () => string | null): void {
  let out: Outcome;
  // Not dumpable before the job (and its secrets) is read; then the caller's own checks.
  const refused = guarded(nonDumpable) ?? (setup ? guarded(setup) : null);
  if (refused !== null) {
    writeSync(4, JSON.stringify(hostError(refused)) + '\n');
    return;
  }
  try {
    const raw = readAll(3);
    closeSync(3);
    out = runJob(raw);
  } catch (e) {
    out = hostError(`the job could not be read: ${message(e)}`);
  }
  writeSync(4, JSON.stringify(out) + '\n');
}

function guarded(f: () => string | null): string | null {
  try {
    return f();
  } catch (e) {
    return message(e);
  }
}

if (require.main === module) main();
