// Plain-text rendering for people: aligned tables and error blocks. No colours unless stdout is
// a TTY, so scripts that scrape text get stable output (they should use --json anyway).
import { resolve } from 'node:path';
import { BvisorError, formatIssueLocation, type ErrorCode } from '../contract/errors.js';

/** Control characters shown escaped (\xNN, \u{…}): text from a bundle (paths, names) can never
 * move the cursor, forge a line or clear the caller's terminal. */
export { visible } from '../core/visible.js';
import { visible } from '../core/visible.js';
import { CAPABILITY_LIST } from '../core/capability-names.js';

/** Whether table() cuts this cell (as shown: control characters escaped) at `maxWidth`. */
export function clipped(cell: string, maxWidth: number): boolean {
  return visible(cell).length > maxWidth;
}

export function table(headers: string[], rows: string[][], maxWidth = 72): string {
  const clip = (raw: string): string => {
    const s = visible(raw);
    return clipped(s, maxWidth) ? s.slice(0, maxWidth - 1) + '…' : s;
  };
  const cells = [headers, ...rows].map((r) => r.map((c) => clip(c)));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cells[0]!), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

/**
 * oclif's parse error, as one line: what is wrong, without the header oclif puts before a list
 * ("The following error occurred:"), its notes, or its "See more help with --help" (the error's
 * hint says where help is). "Missing 1 required arg:" gets the names oclif lists under it.
 */
export function usageMessage(raw: string): string {
  const lines = raw.split('\n').map((l) => l.trim());
  const end = lines.findIndex((l, i) => i > 0 && (l === '' || l.startsWith('See more help with') || l.startsWith('Note: ')));
  const body = (end < 0 ? lines : lines.slice(0, end)).filter(Boolean);
  if (/^The following errors? occurred:$/.test(body[0] ?? '')) body.shift();
  if (/^Missing \d+ required args?:$/.test(body[0] ?? '') && body.length > 1) return `${body[0]} ${body.slice(1).map((l) => l.split(/\s{2,}/)[0]).join(', ')}`;
  // A line ending in a colon introduces the next ("must be provided when using --a: / --b").
  return body.length ? body.reduce((out, l, i) => (i === 0 ? l : out.endsWith(':') ? `${out} ${l}` : `${out}; ${l}`), '') : raw;
}

/**
 * The line `run` prints when its report's outcome is bvisor's own error after the launch (a wasm
 * runner that could not set up its guest): exit 125 says bvisor failed, this says why. Found by
 * attack: such a run exited 125 with nothing on stderr. Null for any other outcome.
 */
export function outcomeErrorLine(outcome: { status: string; error?: { code: string; message: string } | null }, id: string, aim: (e: BvisorError) => BvisorError = (e) => e): string | null {
  if (outcome.status !== 'error' || !outcome.error) return null;
  // Rendered as a thrown error is (the report's codes are bvisor's own).
  return renderError(aim(new BvisorError(outcome.error.code as ErrorCode, outcome.error.message, { hint: `the report has it too: bvisor report ${id}` })));
}

/** The commands a hint may tell the user to run next; not where prose names one ("a bvisor run
 * still setting up", "made by bvisor create"). */
const HINTED = /(?<!\b(?:a|an|the|its|by|this|that|your) )\bbvisor (create|start|state|kill|delete|list|report|exec|pause|resume|update|ps|events|commit|discard|gc|recover|journal verify|run)\b/g;

/**
 * Text with the bvisor commands it tells the user to run aimed at `root`: a hint saying
 * `bvisor delete -f x`, run as written after a command given --root, would act on the default
 * root (and find nothing there, or another container of that name). The default root, or no
 * --root: as it is.
 */
export function rootedText(text: string, root: string | undefined, defaultRoot: string): string {
  if (root === undefined || resolve(root) === resolve(defaultRoot)) return text;
  const abs = resolve(root);
  const q = /^[A-Za-z0-9_./@+=:-]+$/.test(abs) ? abs : `'${abs.replace(/'/g, "'\\''")}'`;
  return text.replace(HINTED, `bvisor --root ${q} $1`);
}

/** The error with its hints' commands aimed at `root` (rootedText). */
export function rootedHints(e: BvisorError, root: string | undefined, defaultRoot: string): BvisorError {
  const fix = (h: string | null | undefined): string | null => (h ? rootedText(h, root, defaultRoot) : (h ?? null));
  if ([e.hint, ...e.issues.map((i) => i.hint)].every((h) => fix(h) === (h ?? null))) return e;
  return new BvisorError(e.code, e.message, { hint: fix(e.hint) ?? undefined, detail: e.detail, issues: e.issues.map((i) => ({ ...i, hint: fix(i.hint) })), cause: e.cause });
}

export function renderError(e: BvisorError): string {
  const out = [`bvisor: error ${e.code}: ${visible(e.message)}`];
  for (const i of e.issues) {
    const where = formatIssueLocation(i);
    // A lone issue the message already says in full (exec's flags): its hint alone, not the
    // same words twice (a new-user pass).
    if (e.issues.length === 1 && e.message.endsWith(`${where ? where + ': ' : ''}${i.message}`)) {
      if (i.hint) out.push(`hint: ${visible(i.hint)}`);
      continue;
    }
    out.push(`  ${visible(where ? where + ': ' : '')}${visible(i.message)} [${i.code}]`);
    if (i.hint) out.push(`    hint: ${visible(i.hint)}`);
  }
  // Each issue's hint under it; the error's own at the end unless it is one of theirs (the first
  // issue's, which run and the manifest reader repeat for callers that read one hint).
  if (e.hint && !e.issues.some((i) => i.hint === e.hint)) out.push(`hint: ${visible(e.hint)}`);
  return out.join('\n');
}

/** Most of the set is said by what it lacks: a host without CAP_SYS_RESOURCE, which the planner
 * refuses rlimits above the hard ones for, said "all (40)" (found by a new-user pass). Known
 * capabilities are those up to the highest one held (a newer kernel's beyond it are not known). */
export function capabilityLine(c: { effective: string; names: readonly string[] }): string {
  if (c.names.length === 0) return 'none';
  const held = BigInt(`0x${c.effective}`);
  const known = CAPABILITY_LIST.slice(0, held.toString(2).length);
  const lacking = known.filter((_, i) => ((held >> BigInt(i)) & 1n) === 0n);
  if (lacking.length > known.length / 2) return c.names.join(' ');
  return lacking.length === 0 ? `all (${c.names.length})` : `all but ${lacking.join(' ')} (${c.names.length} of ${known.length})`;
}
