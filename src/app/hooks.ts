// OCI hooks (runtime-spec config.md "POSIX-platform Hooks") run in the runtime namespace:
// prestart and createRuntime while `create` holds the init before its program, poststart after
// `start`, poststop after `delete`. Each gets the container's state JSON on stdin, exactly its
// own args (args[0] is argv[0], as execv's) and env (nothing inherited), and its timeout in
// seconds. A hook runs in a process group of its own, which is SIGKILLed at the timeout and
// once the hook has exited (its background leftovers in that group do not outlive it, nor hold
// create's pipes; one that leaves the group with setsid is the hook's own doing: hooks run as
// bvisor's own user, outside every boundary, which is why create runs them only when the caller
// allows it, --allow-hooks). createContainer and startContainer hooks run *inside* the
// container's namespaces; bvisor refuses them in the plan (src/core/oci/config.ts), it does not
// run them elsewhere.
import { spawn } from 'node:child_process';
import { BvisorError } from '../contract/errors.js';
import type { OciHook, HookName } from '../core/oci/config.js';
import type { ReportBody } from '../contract/generated/types.js';

export interface HookRun {
  name: HookName;
  index: number;
  path: string;
  status: number | null;
  signal: string | null;
  timedOut: boolean;
  ms: number;
}

/** A hook's run as the report lists it (schemas/report.schema.json hooks). */
export type HookRecord = NonNullable<ReportBody['hooks']>[number];

export function hookRecords(runs: readonly HookRun[]): HookRecord[] {
  return runs.flatMap((r) => (r.name === 'prestart' || r.name === 'createRuntime' || r.name === 'poststart' ? [{ kind: r.name, index: r.index, path: r.path, exitCode: r.status, signal: r.signal, timedOut: r.timedOut, ms: r.ms }] : []));
}

/** Hooks whose failure stops the container (spec: "MUST generate an error"); the rest warn. */
const FATAL: readonly HookName[] = ['prestart', 'createRuntime', 'createContainer', 'startContainer'];
/** The end of a hook's stderr kept for its error message. */
const STDERR_TAIL = 4096;

/** Printable text only: a hook's stderr reaches messages and logs. */
const printable = (s: string): string => s.replace(/[^\x20-\x7e\t]+/g, ' ').trim();

async function runOne(h: OciHook, input: string): Promise<{ status: number | null; signal: string | null; timedOut: boolean; error: string | null; stderr: string }> {
  const [argv0, ...rest] = h.args.length ? h.args : [h.path];
  return await new Promise((resolve) => {
    let tail = '';
    let timedOut = false;
    let error: string | null = null;
    const child = spawn(h.path, rest, {
      argv0,
      env: Object.fromEntries(h.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
      stdio: ['pipe', 'ignore', 'pipe'],
      cwd: '/',
      detached: true, // its own process group, killed as a whole
    });
    const killGroup = (): void => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
    };
    const timer = h.timeout ? setTimeout(() => ((timedOut = true), killGroup()), h.timeout * 1000) : null;
    child.stdin!.on('error', () => {}); // a hook that does not read its state
    child.stdin!.end(input);
    child.stderr!.on('data', (d: Buffer) => {
      tail = (tail + d.toString('utf8')).slice(-STDERR_TAIL);
    });
    // 'exit', not 'close': a leftover holding stderr must not keep us waiting; it is killed.
    child.on('exit', (status, signal) => {
      if (timer) clearTimeout(timer);
      killGroup();
      child.stderr!.destroy();
      resolve({ status, signal, timedOut, error, stderr: tail });
    });
    // It could not start (no exit follows).
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      error = (e as NodeJS.ErrnoException).code ?? e.message;
      resolve({ status: null, signal: null, timedOut, error, stderr: tail });
    });
  });
}

/**
 * Runs every hook of one kind, in order. A fatal hook that fails throws BV_HOOK_FAILED after
 * the ones before it ran; a non-fatal one is reported to `warn` and the rest still run.
 */
export async function runHooks(name: HookName, hooks: readonly OciHook[] | undefined, state: object, warn: (msg: string) => void = () => {}): Promise<HookRun[]> {
  const out: HookRun[] = [];
  const input = JSON.stringify(state);
  for (const [index, h] of (hooks ?? []).entries()) {
    const t0 = Date.now();
    const r = await runOne(h, input);
    out.push({ name, index, path: h.path, status: r.status, signal: r.signal, timedOut: r.timedOut, ms: Date.now() - t0 });
    // The timeout first: a hook killed at its deadline failed, whatever it would have said.
    if (!r.timedOut && !r.error && r.status === 0) continue;
    const why = r.timedOut ? `ran past its timeout of ${h.timeout}s (killed)` : r.error ? `could not start: ${r.error}` : r.signal ? `was killed by ${r.signal}` : `exited ${r.status}`;
    const last = printable(r.stderr.trim().split('\n').slice(-1)[0] ?? '').slice(0, 200);
    const msg = `hooks.${name}[${index}] ${h.path} ${why}${last ? `: ${last}` : ''}`;
    if (FATAL.includes(name)) throw new BvisorError('BV_HOOK_FAILED', msg, { hint: 'the container was not started; fix the hook or remove it from config.json' });
    warn(msg);
  }
  return out;
}
