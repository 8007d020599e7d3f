// Runs test/orchestration.sh, the lifecycle as a shell script drives it.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeBundle } from './helpers/probe.js';

describe('orchestration script', () => {
  it('creates, starts, polls, kills, waits, reports and deletes from bash', () => {
    const r = spawnSync('bash', [join(__dirname, 'orchestration.sh'), probeBundle(['spew', '3']), probeBundle(['sleep', '30'])], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout + r.stderr).toContain('orchestration ok');
    expect(r.status).toBe(0);
  }, 120_000);
});
