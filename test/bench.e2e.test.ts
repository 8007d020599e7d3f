// npm run bench, at its smallest (one sample per case): issue 12 asks it to print, in one run,
// every case of the table against its baselines, the peers when installed, and peak RSS
// per command. This checks that each of those rows is there with a number (never what the
// number is: a benchmark, not a timed test), and that the run leaves no cgroup, temp dir or
// container behind.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ROOT, cliEnv } from './helpers/cli.js';
import { cgroupDirs } from './helpers/cgroups.js';

const which = (name: string): boolean => (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => d && existsSync(join(d, name)));
const benchDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('bvisor-bench-')).sort();

/** The row of a table that starts with `name`: its numbers, in order. */
function numbersOf(out: string, name: string): number[] {
  const line = out.split('\n').find((l) => l.startsWith(name));
  expect(line, `a row for ${name}`).toBeDefined();
  return [...line!.slice(name.length).matchAll(/(\d+(?:\.\d+)?)x?/g)].map((m) => Number(m[1]));
}

describe('npm run bench (one sample per case)', () => {
  it('prints every case of issue 12 with its ratios and peak RSS, and leaves nothing behind', () => {
    const dirsBefore = benchDirs();
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'bench.mjs')], {
      encoding: 'utf8',
      timeout: 240_000,
      env: cliEnv({ BENCH_N: '1', BENCH_API_N: '3', BENCH_CYCLE_N: '1', BENCH_LIST_N: '3', BENCH_TPUT_MS: '100', BENCH_LIFECYCLE_N: '1', BENCH_FUEL_N: '1' }),
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = r.stdout;
    const bare = process.env.NODE_EXTRA_CA_CERTS !== undefined;
    // Columns of a CLI row: median, × node -e 0, × bare where it is measured, and peak RSS where
    // GNU time is installed (else the bench prints "-" there).
    const columns = 2 + (bare ? 1 : 0) + (existsSync('/usr/bin/time') ? 1 : 0);

    // CLI start-up and run: median, × node -e 0, (× bare), peak RSS.
    for (const c of ['bvisor --version', 'bvisor validate bundles/hello', 'bvisor plan bundles/hello', 'bvisor run hello -b bundles/hello', 'bvisor run … bundles/hello-wasm']) {
      const n = numbersOf(out, c);
      expect(n.length, c).toBe(columns);
      expect(n.every((x) => x > 0), c).toBe(true);
    }
    // Each lifecycle command on its own, with its peak RSS, and run of the same boundary beside them.
    for (const c of ['create', 'state (created)', 'start', 'state (running)', 'kill KILL', 'state (stopped)', 'delete', 'run, the same boundary (true)']) {
      const n = numbersOf(out, `bvisor ${c} `);
      expect(n.length, c).toBe(columns);
    }
    expect(out).toMatch(/^create \+ start \+ one state \+ delete: [\d.]+ ms, [\d.]+x node -e 0/m);
    // The cycle against node -e 0, and the peers' when installed.
    expect(numbersOf(out, 'bvisor (boundary bundle, as the API)').length).toBeGreaterThanOrEqual(2);
    if (which('runc')) expect(numbersOf(out, 'runc (busybox OCI bundle)').length).toBeGreaterThanOrEqual(2);
    if (which('crun')) expect(numbersOf(out, 'crun (busybox OCI bundle) ¹').length).toBe(2);
    // The API launch against spawn and bwrap, and the launches per second.
    const api = numbersOf(out, 'runConfined(/usr/bin/true), full boundary');
    expect(api.length).toBe(which('bwrap') ? 3 : 2);
    expect(out).toMatch(/launches per second, one process, \d+ cpus: 1 in flight: \d+\/s, 2 in flight: \d+\/s, 4 in flight: \d+\/s, 8 in flight: \d+\/s/);
    expect(out).toMatch(/^runConfined\(bundles\/hello-wasm\)\s+[\d.]+ .*x node -e 0/m);
    // Fuel: every guest metered against unmetered, with identical output in every run.
    for (const g of ['fib-wat', 'fib-c', 'loops-c']) expect(out).toMatch(new RegExp(`^${g}: .*output identical in every run`, 'm'));
    expect(out.match(/^metered\s+[\d.]+\s+[\d.]+x\s+[\d.]+\s+[\d.]+x\s+\d+/gm)).toHaveLength(3);
    expect(out).not.toMatch(/SKIPPED|DIFFERS|failed|skipped/);

    // Nothing left: its temp dirs, its cgroup parent (named after its pid) in every hierarchy.
    expect(benchDirs()).toEqual(dirsBefore);
    for (const { own } of cgroupDirs()) expect(existsSync(join(own, `bvisor-bench-${r.pid}`)), own).toBe(false);
  }, 300_000);
});
