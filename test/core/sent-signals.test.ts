// The signals bvisor kill and delete -f sent, and the outcome they explain. Expected values from
// the report schema's words: a caller's end is `killed` with the reason naming the command; a
// death by a signal nobody of ours sent stays `failed`, reason `signal` (wait(2): the status is
// the signal's, whoever sent it).
import { describe, expect, it } from 'vitest';
import { attributeSignals, parseSignalsSent, stoppedByCaller, withSignalSent } from '../../src/core/sent-signals.js';
import { validateSealedReport } from '../../src/contract/generated/validators.js';
import { sealReport } from '../../src/core/report.js';
import { sha256Hex } from '../../src/host/hash.js';
import { sampleBody } from '../helpers/sample-report.js';

const END = Date.parse('2026-11-29T20:00:00.022Z'); // sampleBody's timings.endedAt
const iso = (ms: number): string => new Date(ms).toISOString();

function diedBy(signal: string): ReturnType<typeof sampleBody> {
  const b = sampleBody();
  b.outcome = { status: 'failed', reason: 'signal', exitCode: null, signal };
  return b;
}

describe('signals.json', () => {
  it('counts each (command, signal) once, with its first and last sending', () => {
    let r = withSignalSent([], 'kill', 'SIGTERM', iso(END - 10));
    r = withSignalSent(r.sent, 'kill', 'SIGKILL', iso(END - 5));
    r = withSignalSent(r.sent, 'kill', 'SIGTERM', iso(END - 1));
    expect(r.sent).toEqual([
      { by: 'kill', signal: 'SIGTERM', count: 2, firstAt: new Date(END - 10).toISOString(), lastAt: new Date(END - 1).toISOString() },
      { by: 'kill', signal: 'SIGKILL', count: 1, firstAt: new Date(END - 5).toISOString(), lastAt: new Date(END - 5).toISOString() },
    ]);
    expect(parseSignalsSent(JSON.stringify(r))).toEqual(r.sent);
  });

  it('reads nothing from a file that is not one bvisor writes', () => {
    const ok = withSignalSent([], 'kill', 'SIGTERM', iso(END));
    expect(parseSignalsSent(null)).toBeNull();
    expect(parseSignalsSent('{"sent": [')).toBeNull(); // torn
    const edited = (e: object): string => JSON.stringify({ ...ok, sent: [{ ...ok.sent[0], ...e }] });
    expect(parseSignalsSent(edited({}))).toEqual(ok.sent);
    expect(parseSignalsSent(edited({ by: 'the workload' }))).toBeNull();
    expect(parseSignalsSent(edited({ signal: 'TERM' }))).toBeNull();
    expect(parseSignalsSent(edited({ count: 0 }))).toBeNull();
    expect(parseSignalsSent(edited({ extra: 1 }))).toBeNull();
    expect(parseSignalsSent(JSON.stringify({ sent: ok.sent }))).toBeNull(); // no version
    expect(parseSignalsSent(JSON.stringify({ ...ok, bvisorVersion: '2' }))).toBeNull();
    // (command, signal) pairs are at most 3 × 64: a longer list is not one bvisor wrote.
    expect(parseSignalsSent(JSON.stringify({ ...ok, sent: Array.from({ length: 257 }, () => ok.sent[0]) }))).toBeNull();
  });
});

describe('attributeSignals', () => {
  it('a death by a signal bvisor kill sent before the end is killed, reason kill; the report still validates', () => {
    const b = diedBy('SIGKILL');
    const sent = withSignalSent([], 'kill', 'SIGKILL', iso(END - 3)).sent;
    attributeSignals(b, sent);
    expect(b.outcome).toEqual({ status: 'killed', reason: 'kill', exitCode: null, signal: 'SIGKILL' });
    expect(b.signalsSent).toEqual(sent);
    expect(validateSealedReport(sealReport(b, sha256Hex)), JSON.stringify(validateSealedReport.errors)).toBe(true);
    expect(stoppedByCaller(b.outcome)).toBe(true);
  });

  it('delete --force\'s SIGKILL is reason deleted; of two that match, the first sent is the cause', () => {
    const b = diedBy('SIGKILL');
    const sent = withSignalSent(withSignalSent([], 'delete --force', 'SIGKILL', iso(END - 2)).sent, 'kill --all', 'SIGKILL', iso(END - 7)).sent;
    attributeSignals(b, sent);
    expect(b.outcome).toMatchObject({ status: 'killed', reason: 'kill' });
    const d = diedBy('SIGKILL');
    attributeSignals(d, withSignalSent([], 'delete --force', 'SIGKILL', iso(END - 2)).sent);
    expect(d.outcome).toMatchObject({ status: 'killed', reason: 'deleted', signal: 'SIGKILL' });
  });

  it('another signal, or the same one sent after the end, explains nothing: failed, reason signal, with what was sent listed', () => {
    const other = diedBy('SIGKILL');
    attributeSignals(other, withSignalSent([], 'kill', 'SIGCONT', iso(END - 3)).sent);
    expect(other.outcome).toEqual({ status: 'failed', reason: 'signal', exitCode: null, signal: 'SIGKILL' });
    expect(other.signalsSent).toMatchObject([{ by: 'kill', signal: 'SIGCONT' }]);
    const late = diedBy('SIGTERM');
    expect(attributeSignals(late, withSignalSent([], 'kill', 'SIGTERM', iso(END + 1)).sent)).toBe(false);
    expect(late.outcome).toMatchObject({ status: 'failed', reason: 'signal' });
    expect(stoppedByCaller(late.outcome)).toBe(false);
    // Sent only before start (to a created workload): it explains no death after start.
    const early = diedBy('SIGTERM');
    const START = Date.parse(early.timings.startedAt!);
    expect(attributeSignals(early, withSignalSent([], 'kill', 'SIGTERM', iso(START - 1)).sent)).toBe(false);
    expect(early.outcome).toMatchObject({ status: 'failed', reason: 'signal' });
    // Sent before start and again while it ran: the second sending counts.
    const again = diedBy('SIGTERM');
    expect(attributeSignals(again, withSignalSent(withSignalSent([], 'kill', 'SIGTERM', iso(START - 1)).sent, 'kill', 'SIGTERM', iso(START + 1)).sent)).toBe(true);
    expect(again.outcome).toMatchObject({ status: 'killed', reason: 'kill' });
  });

  it('an end that was not a death by signal is what it was: a budget, an exit after catching it', () => {
    const wall = sampleBody();
    wall.outcome = { status: 'timeout', reason: 'wall', exitCode: null, signal: 'SIGKILL' };
    attributeSignals(wall, withSignalSent([], 'kill', 'SIGKILL', iso(END - 3)).sent);
    expect(wall.outcome).toEqual({ status: 'timeout', reason: 'wall', exitCode: null, signal: 'SIGKILL' });
    const caught = sampleBody();
    caught.outcome = { status: 'failed', reason: 'exit', exitCode: 143, signal: null };
    attributeSignals(caught, withSignalSent([], 'kill', 'SIGTERM', iso(END - 3)).sent);
    expect(caught.outcome).toEqual({ status: 'failed', reason: 'exit', exitCode: 143, signal: null });
  });

  it('nothing sent: the body is untouched (no signalsSent key)', () => {
    const b = diedBy('SIGSEGV');
    attributeSignals(b, []);
    expect(b).toEqual(diedBy('SIGSEGV'));
    expect('signalsSent' in b).toBe(false);
  });
});
