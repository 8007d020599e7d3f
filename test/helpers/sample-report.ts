// A complete report body for contract and journal tests.
import type { ReportBody, SealedReport } from '../../src/contract/generated/types.js';
import { sealReport } from '../../src/core/report.js';
import { sha256Hex } from '../../src/host/hash.js';

export function sampleBody(runId = 'run-1'): ReportBody {
  return {
    runId,
    containerId: 'c1',
    backend: 'linux',
    host: { kernel: '6.18.0', arch: 'x86_64', landlockAbi: 7, cgroupMode: 'hybrid' },
    requested: { bundle: '/b/hello', manifestSha256: 'a'.repeat(64), planHash: 'b'.repeat(64) },
    admitted: [{ clause: 'filesystem[0]', verdict: 'enforced', mechanism: 'linux:landlock(abi=7,rights=xrl)' }],
    evidence: [
      { name: 'NoNewPrivs', source: '/proc/123/status', value: 1, expected: 1, ok: true },
      { name: 'ns.net', source: '/proc/123/ns/net', value: { notObserved: 'process exited before read-back' } },
    ],
    outcome: { status: 'completed', reason: 'exit', exitCode: 0, signal: null },
    budgets: {
      wall: { unit: 'ms', limit: 10000, observed: 12 },
      cpu: { unit: 'ms', limit: null, observed: { notObserved: 'no cpu accounting cgroup' } },
      memory: { unit: 'bytes', limit: 67108864, observed: 1048576, source: '/sys/fs/cgroup/memory/x/memory.max_usage_in_bytes' },
      processes: { unit: 'count', limit: null, observed: 1 },
      fuel: { unit: 'fuel', limit: null, observed: { notObserved: 'linux backend' } },
    },
    streams: {
      stdout: { mode: 'capture', bytes: 6, sha256: 'c'.repeat(64), truncated: false },
      stderr: { mode: 'inherit', bytes: { notObserved: 'inherited stream' }, sha256: null, truncated: false },
    },
    timings: { createdAt: '2026-11-29T20:00:00.000Z', startedAt: '2026-11-29T20:00:00.010Z', endedAt: '2026-11-29T20:00:00.022Z', setupMs: 10, runMs: 12, teardownMs: 1 },
    teardown: { complete: true, notes: [] },
  };
}

/** sampleBody(runId), sealed. */
export function sampleReport(runId = 'run-1'): SealedReport {
  return sealReport(sampleBody(runId), sha256Hex);
}
