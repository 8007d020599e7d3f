// The signals bvisor's own commands sent to a container (bvisor kill, delete --force), and what
// they say about its end. A workload that died by a signal is `failed`, reason `signal`, unless
// that signal is one of these, sent before it ended: then the caller ended it, as the API's
// abort does, and the report says so (killed, reason kill or deleted) instead of calling a stop
// someone asked for a crash. The record is written by the command before it signals
// (app/lifecycle.ts), so a seal that follows the death always finds it.
import type { ReportBody, SignalSent, SignalsSentRecord } from '../contract/generated/types.js';
import { validateSignalsSentRecord } from '../contract/generated/validators-records.js';

export type { SignalSent };
export type SentBy = SignalSent['by'];

/** signals.json as bvisor writes it (schemas/signals-sent.schema.json), or null for anything
 * else (missing, torn, edited, another version's). */
export function parseSignalsSent(text: string | null): SignalSent[] | null {
  if (text === null) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  return validateSignalsSentRecord(v) ? (v as SignalsSentRecord).sent : null;
}

/** The record with one more sending of `signal` by `by` at `at` (an ISO 8601 time, UTC). */
export function withSignalSent(prev: readonly SignalSent[], by: SentBy, signal: string, at: string): SignalsSentRecord {
  const i = prev.findIndex((e) => e.by === by && e.signal === signal);
  const sent = i < 0 ? [...prev, { by, signal, count: 1, firstAt: at, lastAt: at }] : prev.map((e, j) => (j === i ? { ...e, count: e.count + 1, lastAt: at } : e));
  return { bvisorVersion: '1', sent };
}

/**
 * The body with the signals sent listed, and its outcome attributed to the earliest of them that
 * is the signal it died by and was sent while it ran: sent before it ended (timings.endedAt), and
 * last sent after it started (a signal sent to a created workload, which its init may not have
 * had a handler for, explains no death after start). Only a `failed`, reason `signal` outcome is
 * taken: a budget's end (wall, cpu, oom), the API's abort or an exit the workload chose after
 * catching the signal are what they were. A workload that caught the signal and later died by it
 * (a shell that cleans up and raises it again) is credited to it, however long that took.
 * Returns whether the outcome changed.
 */
export function attributeSignals(body: ReportBody, sent: readonly SignalSent[]): boolean {
  if (sent.length === 0) return false;
  body.signalsSent = [...sent];
  const o = body.outcome;
  const t = body.timings;
  if (o.status !== 'failed' || o.reason !== 'signal' || o.signal === null || t.endedAt === null || t.startedAt === null) return false;
  const [started, ended] = [Date.parse(t.startedAt), Date.parse(t.endedAt)];
  const cause = sent
    .filter((e) => e.signal === o.signal && Date.parse(e.firstAt) <= ended && Date.parse(e.lastAt) >= started)
    .sort((a, b) => Date.parse(a.firstAt) - Date.parse(b.firstAt))[0];
  if (!cause) return false;
  body.outcome = { status: 'killed', reason: cause.by === 'delete --force' ? 'deleted' : 'kill', exitCode: null, signal: o.signal };
  return true;
}

/** An end the caller asked for (the API's abort, bvisor kill, delete -f): not the workload's failure. */
export function stoppedByCaller(o: Pick<ReportBody['outcome'], 'status' | 'reason'>): boolean {
  return o.status === 'killed' && (o.reason === 'abort' || o.reason === 'kill' || o.reason === 'deleted');
}
