// bvisor's own long work before a workload runs (a large wasm module instrumented on a cache
// miss: seconds here) is said on a terminal, and never into a script's stderr. Oracles:
// what reaches the terminal (script(1)'s pty) and a pipe.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { BVISOR, cli, cliEnv } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { manyTypesModule } from '../core/wasm/builder.js';

/** A bundle whose module takes seconds to instrument: the engine validates its 14,000 types, in
 * and out, in about 1.9 s here, superlinear in their number, so a faster machine still takes well
 * over the half second that makes bvisor say it. Its output captured: a created container holds
 * no stream of the command that made it. */
function slowBundle(): string {
  const b = tempDir();
  writeFileSync(join(b, 'big.wasm'), manyTypesModule(14_000, 20));
  writeFileSync(join(b, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  wasm: { module: big.wasm }\nstdio: { stdin: null, stdout: capture, stderr: capture }\nlimits: { wall: 60s, memory: 16Mi }\n');
  return b;
}

/** bvisor with a terminal as its stdin, stdout and stderr (script(1)'s pty): what it wrote there,
 * and its status. */
function onTerminal(args: string[]): { status: number | null; out: string } {
  const command = [BVISOR, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-q', '-e', '-c', command, '/dev/null'], { env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: r.stdout };
}

const SAID = /^bvisor: instrumenting big\.wasm \(0\.3 MiB\) for its fuel and memory bounds \(once: it is then cached\)\.\.\.\r?\nbvisor: big\.wasm instrumented in \d+\.\d s\r?$/m;

describe('progress on a terminal', () => {
  it('bvisor run says a long instrumentation on a terminal, before and after it; through a pipe it says nothing', () => {
    const b = slowBundle();
    const t = onTerminal(['--root', tempDir(), 'run', 'said', '-b', b]);
    expect(t.status, t.out).toBe(0);
    expect(t.out).toMatch(SAID);
    const piped = cli(['--root', tempDir(), 'run', 'quiet', '-b', b]);
    expect(piped.status, piped.stderr).toBe(0);
    expect(piped.stderr).toBe('');
  });

  it('bvisor create says it too on a terminal; not through a pipe', () => {
    const b = slowBundle();
    const root = tempDir();
    onTestFinished(() => void cli(['--root', root, 'delete', '-f', 'said']));
    const t = onTerminal(['--root', root, 'create', 'said', '-b', b]);
    expect(t.status, t.out).toBe(0);
    expect(t.out).toMatch(SAID);
    expect(cli(['--root', root, 'delete', '-f', 'said']).status).toBe(0);
    const root2 = tempDir();
    onTestFinished(() => void cli(['--root', root2, 'delete', '-f', 'quiet']));
    const piped = cli(['--root', root2, 'create', 'quiet', '-b', b]);
    expect(piped.status, piped.stderr).toBe(0);
    expect(piped.stderr).toBe('');
    expect(cli(['--root', root2, 'delete', '-f', 'quiet']).status).toBe(0);
  });
});
