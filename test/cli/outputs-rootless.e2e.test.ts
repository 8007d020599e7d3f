// outputs, rootless (bvisor as uid 65534, through bin/): the quarantine stays the user's, so its
// freeze is read-only and commit copies. Its own file so that the VM suite (test/vm/tests.txt)
// runs it on a stock kernel, where the rest of outputs.e2e is too long to list.
// Oracles: the quarantine's mode and owner on the disk, the destination's bytes, a hash made here.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { lastReport, outputsWork, rootless } from '../helpers/outputs.js';

const work = outputsWork();

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const bundle = work.bundle;

describe('outputs, rootless (e2e)', () => {
  it('the quarantine is frozen read-only (it stays the user\'s), committed by copy, discarded', () => {
    const { base, as65534 } = rootless();
    const b = bundle('printf mine > /out/f', '{ path: /out }');
    const r = as65534('run', '-b', b, 'rl-1');
    expect(r.status, r.stderr).toBe(0);
    const [runId] = readdirSync(join(base, 'root', 'outputs'));
    const q = join(base, 'root', 'outputs', runId!);
    expect(statSync(q).mode & 0o777).toBe(0o500);
    expect(statSync(q).uid).toBe(65534);
    const c = as65534('commit', 'rl-1', '--to', join(base, 'dest'));
    expect(c.status, c.stderr).toBe(0);
    expect(readFileSync(join(base, 'dest', 'f'), 'utf8')).toBe('mine');
    expect(existsSync(q)).toBe(false);
    expect(as65534('run', '-b', b, 'rl-2').status).toBe(0);
    expect(as65534('discard', 'rl-2').status).toBe(0);
    expect(readdirSync(join(base, 'root', 'outputs'))).toEqual([]);
  });

  it('a workload that takes away its own /out (chmod 000) still gets its report, and the quarantine is discarded', () => {
    const { base, as65534 } = rootless();
    const b = bundle('printf data > /out/f; chmod 000 /out', '{ path: /out }');
    const r = as65534('run', '-b', b, 'rl-000');
    expect(r.status, r.stderr).toBe(0);
    const a = lastReport(join(base, 'root')).body.artifacts;
    // The freeze made it 0500 through an O_PATH descriptor, so it could be walked and hashed.
    expect(a.items.map((x: { path: string; sha256: string }) => [x.path, x.sha256])).toEqual([['f', sha('data')]]);
    expect(statSync(a.quarantine).mode & 0o777).toBe(0o500);
    expect(as65534('discard', 'rl-000').status).toBe(0);
    expect(existsSync(a.quarantine)).toBe(false);
  });

  it('a manifest\'s absolute outputs.to is refused before anything runs; --outputs-to (the caller\'s) is where it commits, by copy', () => {
    const { base, as65534 } = rootless();
    const victim = join(base, 'victim');
    mkdirSync(victim, { mode: 0o777 });
    chmodSync(victim, 0o777);
    const b = bundle('printf evil > /out/f', `{ path: /out, commit: on-success, to: ${victim} }`);
    const r = as65534('run', '-b', b, 'rl-abs');
    expect(r.status, r.stderr).toBe(125);
    expect(r.stderr).toContain(`BV_OUTPUTS: outputs.to ${victim}: a bundle cannot choose a host destination`);
    expect(readdirSync(victim)).toEqual([]);
    expect(existsSync(join(base, 'root', 'outputs')) ? readdirSync(join(base, 'root', 'outputs')) : []).toEqual([]);
    const ok = as65534('run', '-b', b, '--outputs-to', join(base, 'dest'), 'rl-abs-2');
    expect(ok.status, ok.stderr).toBe(0);
    expect(readFileSync(join(base, 'dest', 'f'), 'utf8')).toBe('evil');
    expect(readdirSync(victim)).toEqual([]);
  });
});
