// OCI hooks (runtime-spec config.md "POSIX-platform Hooks") run in the runtime namespace:
// prestart and createRuntime while `create` holds the init before its program, poststart after
// `start`, poststop after `delete`. Each gets the container's state JSON on stdin, exactly its
// own args (args[0] is argv[0], as execv's) and env (nothing inherited), and its timeout in
// seconds (then SIGKILL). createContainer and startContainer hooks run *inside* the container's
// namespaces; bvisor refuses them in the plan (src/core/oci/config.ts), it does not run them
// elsewhere.
import { spawnSync } from 'node:child_process';
import { BvisorError } from '../contract/errors.js';
import type { OciHook, HookName } from '../core/oci/config.js';

export interface HookRun {
  name: HookName;
  index: number;
  path: string;
  status: number | null;
  signal: string | null;
  timedOut: boolean;
  ms: number;
}

/** Hooks whose failure stops the container (spec: "MUST generate an error"); the rest warn. */
const FATAL: readonly HookName[] = ['prestart', 'createRuntime', 'createContainer', 'startContainer'];

/**
 * Runs every hook of one kind, in order. A fatal hook that fails throws BV_HOOK_FAILED after
 * the ones before it ran; a non-fatal one is reported to `warn` and the rest still run.
 */
export function runHooks(name: HookName, hooks: readonly OciHook[] | undefined, state: object, warn: (msg: string) => void = () => {}): HookRun[] {
  const out: HookRun[] = [];
  const input = JSON.stringify(state);
  (hooks ?? []).forEach((h, index) => {
    const t0 = Date.now();
    const [argv0, ...rest] = h.args.length ? h.args : [h.path];
    const r = spawnSync(h.path, rest, {
      argv0,
      input,
      env: Object.fromEntries(h.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
      stdio: ['pipe', 'ignore', 'pipe'],
      timeout: h.timeout ? h.timeout * 1000 : undefined,
      killSignal: 'SIGKILL',
      cwd: '/',
    });
    const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
    const run: HookRun = { name, index, path: h.path, status: r.status, signal: r.signal, timedOut, ms: Date.now() - t0 };
    out.push(run);
    if (r.status === 0) return;
    const why = timedOut ? `ran past its timeout of ${h.timeout}s (killed)` : r.error && !timedOut ? `could not start: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}` : r.signal ? `was killed by ${r.signal}` : `exited ${r.status}`;
    const stderr = (r.stderr?.toString('utf8') ?? '').trim().split('\n').slice(-1)[0] ?? '';
    const msg = `hooks.${name}[${index}] ${h.path} ${why}${stderr ? `: ${stderr.slice(0, 200)}` : ''}`;
    if (FATAL.includes(name)) throw new BvisorError('BV_HOOK_FAILED', msg, { hint: 'the container was not started; fix the hook or remove it from config.json' });
    warn(msg);
  });
  return out;
}
