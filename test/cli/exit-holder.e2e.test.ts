// The memory holder (native-shim/src/spawn.c, src/cli/exit-holder.ts): a process a command starts
// as its last step, sharing its memory, so the kernel frees that memory after the command's caller
// has its exit status. What it must never be: a process left behind, a holder of the command's
// descriptors (a reader waiting for EOF on its output would wait for it), or a place where a
// signal runs one of Node's handlers. Oracles: /proc of both processes, and kcmp(2) KCMP_VM for
// "shares the command's memory" (two processes with one mm_struct compare equal).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, BVISOR, PAUSE_SEAM, ROOT, cli, cliEnv } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { startTimeOf, until } from '../helpers/wait.js';

/** The kernel's answer to kcmp(a, b, KCMP_VM = 1): 0 when both use one address space (kcmp(2)).
 * Through python3's ctypes: the syscall number is x86_64's (312) or the generic table's (272). */
function sameMemory(a: number, b: number): number {
  const nr = process.arch === 'x64' ? 312 : 272;
  const r = spawnSync('python3', ['-c', `import ctypes,sys; libc=ctypes.CDLL(None, use_errno=True); r=libc.syscall(${nr}, ${a}, ${b}, 1, 0, 0); print(r if r >= 0 else -ctypes.get_errno())`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kcmp through python3: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** The signal numbers a /proc/<pid>/status mask line holds (bit n-1 is signal n, proc(5)). */
function signalsIn(status: string, field: string): Set<number> {
  const hex = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)![1]!;
  const bits = BigInt(`0x${hex}`);
  const out = new Set<number>();
  for (let n = 1; n <= 64; n++) if ((bits >> BigInt(n - 1)) & 1n) out.add(n);
  return out;
}

const holderOf = (stderr: string): number => Number(/memory holder (\d+)/.exec(stderr)?.[1] ?? NaN);

const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('the memory holder', () => {
  it('shares the finished command\'s memory, holds none of its descriptors, blocks every signal, and ends with it', async () => {
    const dir = tempDir();
    const reached = join(dir, 'reached');
    const go = join(dir, 'go');
    // validate loads the shim (it opens the bundle through it), so it starts a holder; held at
    // the fault point just after, while both processes are there to look at.
    const c = spawn(process.execPath, ['--import', PAUSE_SEAM, BIN, 'validate', join(ROOT, 'bundles', 'hello'), '--debug'], {
      env: cliEnv({ BVISOR_TEST_PAUSE_AT: 'cli:exit-holder', BVISOR_TEST_PAUSE_UNTIL: go, BVISOR_TEST_PAUSE_REACHED: reached }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(c);
    let stderr = '';
    c.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => c.on('close', (code) => r(code)));
    await until('the command to reach cli:exit-holder', () => existsSync(reached), 30_000);
    const holder = holderOf(stderr);
    expect(holder, stderr).toBeGreaterThan(0);
    const status = readFileSync(`/proc/${holder}/status`, 'utf8');
    // A process of its own (its own thread group), the command's child, on the command's memory.
    expect(status).toMatch(new RegExp(`^Tgid:\\s*${holder}$`, 'm'));
    expect(status).toMatch(new RegExp(`^PPid:\\s*${c.pid}$`, 'm'));
    expect(sameMemory(holder, c.pid!)).toBe(0);
    // Not one of the command's descriptors: only the pidfd it waits on.
    const fds = readdirSync(`/proc/${holder}/fd`);
    expect(fds.map((fd) => readlinkSync(`/proc/${holder}/fd/${fd}`))).toEqual(['anon_inode:[pidfd]']);
    // Every signal a caller or a terminal sends is blocked (signal(7): SIGHUP 1, SIGINT 2,
    // SIGQUIT 3, SIGUSR1 10, SIGPIPE 13, SIGALRM 14, SIGTERM 15, SIGCHLD 17, SIGTSTP 20, SIGWINCH 28).
    const blocked = signalsIn(status, 'SigBlk');
    for (const s of [1, 2, 3, 10, 13, 14, 15, 17, 20, 28]) expect(blocked.has(s), `signal ${s} blocked`).toBe(true);
    const born = startTimeOf(holder);
    writeFileSync(go, '');
    expect(await exited).toBe(0);
    await until('the holder to end with the command', () => startTimeOf(holder) !== born, 5000);
  });

  it('ends when the command is killed after starting it', async () => {
    const r = spawnSync(process.execPath, ['--import', join(ROOT, 'test', 'seams', 'crash-at.mjs'), BIN, 'validate', join(ROOT, 'bundles', 'hello'), '--debug'], {
      env: cliEnv({ BVISOR_TEST_CRASH_AT: 'cli:exit-holder' }),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.signal).toBe('SIGKILL');
    const holder = holderOf(r.stderr);
    expect(holder, r.stderr).toBeGreaterThan(0);
    const born = startTimeOf(holder);
    // Reparented to init (or the nearest subreaper) once we are gone, which reaps it.
    if (born !== null) await until('the holder to end with the killed command', () => startTimeOf(holder) !== born, 5000);
  });

  it('is started by the snapshot\'s entry too, and not by a command that never loaded the shim', () => {
    const v = cli(['validate', join(ROOT, 'bundles', 'hello'), '--debug']);
    expect(v.status).toBe(0);
    expect(v.stderr).toMatch(/started from the start-up snapshot/);
    expect(v.stderr).toMatch(/bvisor: debug: memory holder \d+\n/);
    const version = spawnSync(BVISOR, ['--version', '--debug'], { env: cliEnv(), encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(version.stderr).toMatch(/no memory holder \(the shim was not loaded\)/);
  });
});
