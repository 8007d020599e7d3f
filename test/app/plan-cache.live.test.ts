// runConfined keeps admitted plans of host-mode bundle directories while their manifest's bytes
// stay the same (src/app/api.ts). What must hold, seen from the workload's own output (cat of a
// granted file) and the report: a changed manifest is planned afresh; a granted directory
// replaced since planning is caught by the launch's (dev, ino) check and planned afresh, never
// launched against the old plan; a cached launch reports exactly what an uncached one would.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runConfined } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { defaultTestParent } from '../helpers/cgroups.js';

function manifest(data: string, file: string): string {
  return `bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/cat, args: [${JSON.stringify(join(data, file))}] }\nfilesystem:\n  - { path: /usr, access: read-exec }\n  - { path: ${data}, access: read }\nstdio: { stdout: capture, stderr: capture }\nlimits: { wall: 10s }\n`;
}

describe('the API plan cache (live)', () => {
  it('a changed manifest, and a granted directory replaced since planning, are planned afresh; the output is always the current one', async () => {
    const base = tempDir();
    const data = join(base, 'data');
    const bundle = join(base, 'bundle');
    mkdirSync(data);
    mkdirSync(bundle);
    writeFileSync(join(data, 'f'), 'one');
    writeFileSync(join(data, 'g'), 'gee');
    writeFileSync(join(bundle, 'boundary.yaml'), manifest(data, 'f'));
    const o = { cgroupParent: defaultTestParent() };
    const first = await runConfined(bundle, o);
    expect(first.stdout?.toString(), first.stderr?.toString()).toBe('one');
    // The same manifest: the cached plan; the file's new bytes are read at run time.
    writeFileSync(join(data, 'f'), 'two');
    const second = await runConfined(bundle, o);
    expect(second.stdout?.toString()).toBe('two');
    expect(second.report.body.requested.planHash).toBe(first.report.body.requested.planHash);
    // The granted directory replaced by another: the cached plan names the old one (dev, ino),
    // the launch refuses it before anything runs, and the run is planned again on the new one.
    renameSync(data, `${data}.old`);
    mkdirSync(data);
    writeFileSync(join(data, 'f'), 'three');
    const third = await runConfined(bundle, o);
    expect(third.stdout?.toString(), third.stderr?.toString()).toBe('three');
    expect(third.report.body.requested.planHash).not.toBe(first.report.body.requested.planHash);
    rmSync(`${data}.old`, { recursive: true, force: true });
    // A changed manifest (another file): its own plan.
    writeFileSync(join(data, 'g'), 'gee');
    writeFileSync(join(bundle, 'boundary.yaml'), manifest(data, 'g'));
    const fourth = await runConfined(bundle, o);
    expect(fourth.stdout?.toString()).toBe('gee');
    expect(fourth.report.body.requested.manifestSha256).not.toBe(third.report.body.requested.manifestSha256);
  });

  it('a cached launch reports what an uncached one does: the same plan, the same evidence names, a clean outcome', async () => {
    const base = tempDir();
    const data = join(base, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'f'), 'x');
    const bundle = join(base, 'bundle');
    mkdirSync(bundle);
    writeFileSync(join(bundle, 'boundary.yaml'), manifest(data, 'f'));
    const o = { cgroupParent: defaultTestParent() };
    // The manifest as text is never cached: the reference run.
    const reference = await runConfined({ manifest: manifest(data, 'f'), dir: bundle }, o);
    await runConfined(bundle, o);
    const cached = await runConfined(bundle, o);
    expect(cached.report.body.requested.planHash).toBe(reference.report.body.requested.planHash);
    expect(cached.report.body.admitted).toEqual(reference.report.body.admitted);
    expect(cached.report.body.evidence.map((e) => [e.name, e.ok ?? null])).toEqual(reference.report.body.evidence.map((e) => [e.name, e.ok ?? null]).map(([n, ok]) => [n, ok]));
    expect(cached.report.body.outcome).toEqual(reference.report.body.outcome);
  });
});
