// A wasm run's report (pure but for reading the outcome file): the runner's outcome line,
// checked before it is believed, and the report body built from it and the runner's Linux
// records. What bvisor run seals and what state, delete and report seal for a created wasm
// container; apart from app/wasm.ts (which starts runners) so that those lifecycle commands' start-up
// snapshot holds no launcher and no rewriter (docs/startup.md).
import { closeSync, openSync, readSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import type { Plan, ReportBody } from '../contract/generated/types.js';
import { FUEL_VERSION, TABLE_ENTRY_BYTES } from '../core/wasm/names.js';
import type { LinuxRunResult } from '../backends/linux/launcher.js';
import type { CacheResult } from '../host/wasm-cache.js';
import type { Outcome } from '../backends/wasm/runner.js';
import { NOT_PRELOADED, notPreloadedError } from '../backends/wasm/nodump.js';
import { linuxReportBody, denialsOf, type ReportContext } from './report.js';
import { wasiDenials, type SourceDenials, type WasiRefusalFact } from '../core/denials.js';
import { notObserved, witness } from '../core/report.js';

/** A wasm page (the memory limits' unit). */
export const WASM_PAGE = 65536;

export interface WasmRun {
  result: LinuxRunResult;
  outcome: Outcome | null;
  runnerPlan: Plan;
  maxPages: number;
  /** The cap on all tables' entries together. */
  tableEntries: number;
  cache: CacheResult;
  /** The run used a runner started ahead of time. */
  spare: boolean;
  /** Deterministic mode's seed (random_get, clocks), or null. */
  seed: number | null;
}


/** In the container's state directory: what create decided about the runner (no secrets)… */
export const WASM_RECORD = 'wasm.json';
/** …and the runner's outcome line, written by the runner through the descriptor create gave it. */
export const OUTCOME_FILE = 'wasm-outcome';
/** An outcome is one short JSON line (the runner caps its message); more is not believed. */
export const OUTCOME_MAX = 64 * 1024;

/** What sealing a created wasm container's report needs besides the Linux records. */
export interface WasmRecord {
  runnerPlan: Plan;
  maxPages: number;
  tableEntries: number;
  cache: CacheResult;
  seed: number | null;
}


/** The runner's outcome from its text (the last line), or null when it is missing, too long,
 * or not an outcome's shape: whatever the runner wrote is checked before it reaches a report. */
export function parseOutcome(text: string): Outcome | null {
  if (text.length > OUTCOME_MAX) return null;
  const line = text.trim().split('\n').pop() ?? '';
  if (!line) return null;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  const o = v as Record<string, unknown>;
  const intOrNull = (x: unknown): boolean => x === null || (typeof x === 'number' && Number.isSafeInteger(x));
  const strOrNull = (x: unknown): boolean => x === null || typeof x === 'string';
  // A trap is a name (classifyTrap's); anything else is not an outcome.
  if (!o || typeof o !== 'object' || !intOrNull(o.exitCode) || (o.exitCode as number) < 0 || !(o.trap === null || (typeof o.trap === 'string' && /^[a-z_]{1,32}$/.test(o.trap))) || !strOrNull(o.message)) return null;
  // Never negative: a counter above its budget means the guest's runner was handed fuel (a
  // hostile host call's made-up length), and the report's schema would refuse the number.
  if (!(o.fuelUsed === null || (typeof o.fuelUsed === 'string' && /^[0-9]{1,20}$/.test(o.fuelUsed)))) return null;
  if (!(typeof o.peakPages === 'number' && Number.isSafeInteger(o.peakPages) && o.peakPages >= 0)) return null;
  if (!(o.tableEntries === undefined || (typeof o.tableEntries === 'number' && Number.isSafeInteger(o.tableEntries) && o.tableEntries >= 0))) return null;
  const refusals = refusalsOf(o.refusals, o.refusalsTotal);
  if (refusals === null) return null;
  return { exitCode: o.exitCode as number | null, trap: o.trap as string | null, fuelUsed: o.fuelUsed as string | null, peakPages: o.peakPages, tableEntries: (o.tableEntries as number | undefined) ?? 0, message: o.message as string | null, ...refusals };
}

/** The WASI host's refusals in an outcome (files.ts): absent, or each of their shape, at most
 * REFUSALS_KEPT of them; null when they are not (then the outcome is not believed). */
function refusalsOf(list: unknown, total: unknown): { refusals?: WasiRefusalFact[]; refusalsTotal?: number } | null {
  if (list === undefined && total === undefined) return {};
  if (!Array.isArray(list) || list.length > 32 || !(typeof total === 'number' && Number.isSafeInteger(total) && total >= list.length)) return null;
  const ok = (r: Record<string, unknown>): boolean =>
    typeof r.op === 'string' && /^[a-z_]{1,32}$/.test(r.op) &&
    typeof r.path === 'string' && r.path.length <= 257 &&
    (r.grant === null || (typeof r.grant === 'number' && Number.isSafeInteger(r.grant) && r.grant >= 0)) &&
    (r.why === 'absolute' || r.why === 'escape' || r.why === 'readonly') &&
    typeof r.count === 'number' && Number.isSafeInteger(r.count) && r.count >= 1 &&
    typeof r.atMs === 'number' && Number.isFinite(r.atMs) && r.atMs >= 0;
  if (!list.every((r) => r && typeof r === 'object' && ok(r as Record<string, unknown>))) return null;
  return { refusals: (list as WasiRefusalFact[]).map((r) => ({ op: r.op, path: r.path, grant: r.grant, why: r.why, count: r.count, atMs: r.atMs })), refusalsTotal: total };
}

/** The outcome a created container's runner left in its state directory (at most OUTCOME_MAX
 * bytes are read; the file is never followed through a link). */
export function readOutcome(stateDir: string): Outcome | null {
  let fd: number;
  try {
    fd = openSync(join(stateDir, OUTCOME_FILE), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(OUTCOME_MAX + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, n);
    return parseOutcome(buf.subarray(0, n).toString('utf8'));
  } finally {
    closeSync(fd);
  }
}

/** The report of a wasm run: the wasm plan's clauses, the runner's read-back, the guest's fate,
 * and what the boundary denied (from that fate: fuel, wall, memory). */
export function wasmReportBody(ctx: ReportContext, w: WasmRun): ReportBody {
  const body = wasmBody(ctx, w);
  body.denials = denialsOf(body, ctx.plan, w.result, wasiSourceOf(ctx.plan, w.outcome));
  return body;
}

/** The WASI host's refusals in the runner's outcome, as the report's filesystem denials (null:
 * no outcome, so not known). */
export function wasiSourceOf(plan: Plan, o: Outcome | null): SourceDenials | null {
  return o ? wasiDenials(o.refusals ?? [], o.refusalsTotal ?? 0, plan.launch!.filesystem) : null;
}

function wasmBody(ctx: ReportContext, w: WasmRun): ReportBody {
  const body = linuxReportBody({ ...ctx }, w.result);
  body.backend = 'wasm';
  const L = ctx.plan.launch!;
  const o = w.outcome;
  body.evidence.push({ name: 'wasm.fuel-unit', source: 'bvisor rewriter', value: FUEL_VERSION });
  body.evidence.push({ name: 'wasm.max-pages', source: 'rewritten memory limits', value: w.maxPages });
  body.evidence.push({ name: 'wasm.table-entries', source: 'rewritten table limits (all tables together)', value: w.tableEntries });
  body.evidence.push({ name: 'wasm.cache', source: 'instrumented-module cache (sha256-checked)', value: w.cache });
  body.evidence.push({ name: 'wasm.runner', source: 'runner process', value: w.spare ? 'pre-started spare' : 'started for this run' });
  body.evidence.push({ name: 'wasm.runner-start', source: 'the runner plan’s command line', value: w.runnerPlan.launch?.workload.args.includes('--snapshot-blob') ? 'V8 start-up snapshot (runner.blob)' : 'runner.js' });
  if (w.seed !== null) body.evidence.push({ name: 'wasm.seed', source: L.workload.seed !== null && L.workload.seed !== undefined ? 'the manifest' : 'derived from the module hash', value: w.seed });
  body.evidence.push({ name: 'wasm.runner-plan', source: 'the runner process boundary', value: w.runnerPlan.planHash! });
  // After a trap the engine raises (not unreachable, not out of fuel) the counter misses what the
  // trapping function's loops used since they last wrote it back (core/wasm/fuel.ts): a lower bound.
  const lowerBound = o?.trap && o.trap !== 'out_of_fuel' && o.trap !== 'unreachable';
  body.budgets.fuel = o?.fuelUsed ? witness('fuel', L.fuel, Number(o.fuelUsed), lowerBound ? 'the module’s fuel counter (at least: the trap cut the last loop’s count)' : 'the module’s fuel counter') : witness('fuel', L.fuel, notObserved('the runner reported no outcome'));
  // Without an outcome (the wall, a kill), what the launch measured is the runner's cgroup: the
  // guest's memory and the runner's own Node together, against a limit that is the guest's
  // alone; compared, it read as a limit broken (found by attack). Said as not observed, with it.
  const launched = body.budgets.memory?.observed;
  const runnerPeak = typeof launched === 'number' ? `; the runner process's peak, Node's own memory with it, was ${launched} bytes` : '';
  body.budgets.memory = o ? witness('bytes', L.memoryBytes, o.peakPages * WASM_PAGE + (o.tableEntries ?? 0) * TABLE_ENTRY_BYTES, `wasm linear memory (pages × 64 KiB) and tables (entries × ${TABLE_ENTRY_BYTES} B)`) : witness('bytes', L.memoryBytes, notObserved(`the runner reported no outcome, so the guest's pages and tables are not known${runnerPeak}`));
  if (w.result.timedOut || w.result.aborted) return body; // outcome timeout (wall) or killed (abort) from the launcher
  if (w.result.oomKilled) return body;
  // SIGKILLed before it could say anything (bvisor kill KILL, delete -f): the signal is the
  // outcome, as for a Linux workload.
  if (o === null && w.result.signal === 9) return body;
  if (o === null) {
    body.outcome = { ...body.outcome, status: 'error', reason: 'runner', error: { code: 'BV_WASM_RUNNER', message: 'the runner exited without an outcome' } };
  } else if (o.trap === 'host_error' && o.message === NOT_PRELOADED) {
    body.outcome = { ...body.outcome, status: 'error', reason: 'runner', error: { code: 'BV_SHIM_LOAD', message: notPreloadedError('the runner').message } };
  } else if (o.trap === 'host_error') {
    body.outcome = { ...body.outcome, status: 'error', reason: 'runner', error: { code: 'BV_WASM_RUNNER', message: `the runner could not set up the guest: ${o.message ?? 'unknown'}` } };
  } else if (o.trap === 'out_of_fuel') {
    body.outcome = { status: 'timeout', reason: 'fuel', exitCode: null, signal: null, trap: 'out_of_fuel' };
  } else if (o.trap) {
    body.outcome = { status: 'failed', reason: 'trap', exitCode: null, signal: null, trap: o.trap };
  } else {
    body.outcome = { status: o.exitCode === 0 ? 'completed' : 'failed', reason: 'exit', exitCode: o.exitCode, signal: null, trap: null };
  }
  return body;
}

export function wasmExitStatus(w: WasmRun): number {
  if (w.result.timedOut) return 124;
  if (w.result.signal !== null) return 128 + w.result.signal;
  if (!w.outcome) return 125;
  if (w.outcome.trap === 'out_of_fuel') return 124;
  if (w.outcome.trap === 'host_error') return 125; // bvisor's failure, not the guest's
  if (w.outcome.trap) return 134; // like an abort: the guest trapped
  // proc_exit takes a u32; a status keeps 8 bits, where 256 would read as success: saturated
  // (docs/exit-codes.md); the report keeps the code itself.
  const code = w.outcome.exitCode;
  return code === null ? 125 : Math.min(code, 255);
}

