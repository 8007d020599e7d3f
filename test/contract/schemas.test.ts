// Good and bad documents for every schema other than the manifest (which has YAML fixtures):
// one table, each row a document and whether its validator must accept it.
import { describe, expect, it } from 'vitest';
import * as V from '../../src/contract/generated/validators.js';
import * as Records from '../../src/contract/generated/validators-records.js';
import * as ManifestV from '../../src/contract/generated/validators-manifest.js';
import { sealReport } from '../../src/core/report.js';
import { makeEntry } from '../../src/core/journal.js';
import { sha256Hex } from '../../src/host/hash.js';
import { plan } from '../../src/core/planner.js';
import { loadManifest } from '../../src/core/manifest.js';
import { sampleBody } from '../helpers/sample-report.js';
import { hybridHost } from '../helpers/hosts.js';

type Row = { name: string; validator: V.CompiledValidator; doc: unknown; valid: boolean };

const report = sealReport(sampleBody(), sha256Hex);
// A report with denials: one seen by seccomp (with its call decoded), one budget, and a source
// that was not watched, with its reason.
const denied = sealReport(
  {
    ...sampleBody(),
    outcome: { status: 'killed', reason: 'oom', exitCode: null, signal: 'SIGKILL' },
    denials: {
      sources: {
        seccomp: { observed: true, how: 'seccomp:user-notif', notObserved: null },
        landlock: { observed: false, how: null, notObserved: 'landlock logs denials only to the kernel audit log' },
        budgets: { observed: true, how: 'cgroup:memory.events oom_kill', notObserved: null },
      },
      items: [
        { kind: 'syscall', clause: 'syscalls', what: 'mount("none", "/mnt", "tmpfs", 0x0)', syscall: { name: 'mount', nr: 165, arch: 'x86_64', args: ['0x7f00', '0x7f10', '0x7f20', '0x0', '0x0', '0x0'], strings: ['none', '/mnt', 'tmpfs', null, null, null] }, rule: 'default denylist: changes the filesystem view', errno: 'EPERM', observedBy: 'seccomp:user-notif', allow: null, warning: null, count: 2, atMs: 3.5, pid: 7 },
        { kind: 'budget', clause: 'limits.memory', what: 'allocated past the limit', rule: '64Mi, by linux:cgroup2:memory.max', errno: null, observedBy: 'cgroup:memory.events oom_kill', allow: 'limits: { memory: 128Mi }', count: 1, atMs: null, pid: null },
      ],
      total: 3,
      truncated: false,
    },
  },
  sha256Hex,
);
const entry = makeEntry(null, report, '2026-11-29T20:00:01.000Z', sha256Hex);
const { manifest } = loadManifest('bvisorVersion: "1"\nworkload:\n  process: { exe: /usr/bin/true }\nfilesystem:\n  - { path: /usr, access: read-exec }\n', 'm.yaml');
const okPlan = plan({ manifest, host: hybridHost(), paths: { grants: [{ path: '/usr', kind: 'directory' }], exe: { path: '/usr/bin/true', kind: 'file' }, module: null, root: null }, cgroupParent: null }, sha256Hex);
const refusedPlan = plan({ manifest, host: hybridHost(), paths: { grants: [{ path: '/usr', kind: 'missing' }], exe: { path: '/usr/bin/true', kind: 'file' }, module: null, root: null }, cgroupParent: null }, sha256Hex);
const clone = <T>(x: T): T => structuredClone(x);
const mut = <T>(x: T, f: (y: any) => void): T => {
  const y = clone(x);
  f(y);
  return y;
};

const signals = { bvisorVersion: '1', sent: [{ by: 'kill', signal: 'SIGTERM', count: 2, firstAt: '2026-11-29T20:00:00.010Z', lastAt: '2026-11-29T20:00:00.020Z' }] };

const learned = {
  proposal: 'bvisorVersion: "1"\n',
  written: null,
  warnings: [],
  observed: { exitStatus: 0, runMs: 12.5, calls: 10, paths: 4, denials: 0 },
  check: { verified: false, why: 'it exited 1, not 0', exitStatus: 1, denials: [{ clause: 'filesystem', what: 'openat("/etc/x")', allow: null }] },
};

const rows: Row[] = [
  { name: 'learn output', validator: V.validateLearnOutput, doc: learned, valid: true },
  { name: 'learn output: a check run that never ran', validator: V.validateLearnOutput, doc: mut(learned, (l) => (l.check.exitStatus = null)), valid: true },
  { name: 'learn output: an empty proposal', validator: V.validateLearnOutput, doc: mut(learned, (l) => (l.proposal = '')), valid: false },
  { name: 'learn output: a denial without its clause', validator: V.validateLearnOutput, doc: mut(learned, (l) => delete l.check.denials[0].clause), valid: false },
  { name: 'learn output: an extra field', validator: V.validateLearnOutput, doc: mut(learned, (l) => (l.extra = 1)), valid: false },
  { name: 'sealed report', validator: V.validateSealedReport, doc: report, valid: true },
  { name: 'report: observed as a bare string', validator: V.validateSealedReport, doc: mut(report, (r) => (r.body.budgets.cpu.observed = 'n/a')), valid: false },
  { name: 'report: negative observation', validator: V.validateSealedReport, doc: mut(report, (r) => (r.body.budgets.wall.observed = -1)), valid: false },
  { name: 'report: unknown outcome', validator: V.validateSealedReport, doc: mut(report, (r) => (r.body.outcome.status = 'ok')), valid: false },
  { name: 'report: short hash', validator: V.validateSealedReport, doc: mut(report, (r) => (r.bodyHash = 'abc')), valid: false },
  { name: 'report: extra field', validator: V.validateSealedReport, doc: mut(report, (r) => (r.body.secret = 'x')), valid: false },
  { name: 'report: bad timestamp', validator: V.validateSealedReport, doc: mut(report, (r) => (r.body.timings.createdAt = 'yesterday')), valid: false },
  { name: 'report with denials', validator: V.validateSealedReport, doc: denied, valid: true },
  { name: 'report: a denial without its clause', validator: V.validateSealedReport, doc: mut(denied, (r) => delete r.body.denials.items[1].clause), valid: false },
  { name: 'report: a denial counted zero times', validator: V.validateSealedReport, doc: mut(denied, (r) => (r.body.denials.items[0].count = 0)), valid: false },
  { name: 'report: a denial source without its reason field', validator: V.validateSealedReport, doc: mut(denied, (r) => delete r.body.denials.sources.landlock.notObserved), valid: false },
  { name: 'report: syscall args not hex', validator: V.validateSealedReport, doc: mut(denied, (r) => (r.body.denials.items[0].syscall.args[0] = '32512')), valid: false },
  { name: 'report: unknown denial kind', validator: V.validateSealedReport, doc: mut(denied, (r) => (r.body.denials.items[1].kind = 'quota')), valid: false },
  { name: 'journal entry', validator: V.validateJournalEntry, doc: entry, valid: true },
  { name: 'journal entry: seq 0', validator: V.validateJournalEntry, doc: mut(entry, (e) => (e.seq = 0)), valid: false },
  { name: 'journal entry: report missing', validator: V.validateJournalEntry, doc: mut(entry, (e) => delete e.report), valid: false },
  { name: 'journal entry: embedded report invalid', validator: V.validateJournalEntry, doc: mut(entry, (e) => (e.report.kind = 'other')), valid: false },
  { name: 'admitted plan', validator: V.validatePlan, doc: okPlan, valid: true },
  { name: 'refused plan', validator: V.validatePlan, doc: refusedPlan, valid: true },
  { name: 'plan: verdict typo', validator: V.validatePlan, doc: mut(okPlan, (p) => (p.clauses[0].verdict = 'ok')), valid: false },
  { name: 'plan: refusal without hint', validator: V.validatePlan, doc: mut(refusedPlan, (p) => delete p.refusals[0].hint), valid: false },
  { name: 'signals sent', validator: V.validateSignalsSentRecord, doc: signals, valid: true },
  { name: 'signals sent: a command bvisor does not have', validator: V.validateSignalsSentRecord, doc: mut(signals, (s) => (s.sent[0].by = 'stop')), valid: false },
  { name: 'signals sent: a signal by number', validator: V.validateSignalsSentRecord, doc: mut(signals, (s) => (s.sent[0].signal = '9')), valid: false },
  { name: 'signals sent: no version', validator: V.validateSignalsSentRecord, doc: mut(signals, (s) => delete s.bvisorVersion), valid: false },
  { name: 'report listing the signals sent', validator: V.validateSealedReport, doc: mut(report, (r) => (r.body.signalsSent = signals.sent)), valid: true },
  { name: 'report: a signal sent zero times', validator: V.validateSealedReport, doc: mut(report, (r) => (r.body.signalsSent = [{ ...signals.sent[0], count: 0 }])), valid: false },
  { name: 'host facts', validator: V.validateHostFacts, doc: hybridHost(), valid: true },
  { name: 'host facts: cgroup mode typo', validator: V.validateHostFacts, doc: mut(hybridHost(), (h) => (h.cgroup.mode = 'mixed')), valid: false },
  { name: 'host facts: capeff not hex', validator: V.validateHostFacts, doc: mut(hybridHost(), (h) => (h.capabilities.effective = 'zz')), valid: false },
  { name: 'error output', validator: V.validateErrorOutput, doc: { error: { code: 'BV_USAGE', message: 'm', exit: 2, status: 2, hint: null, doc: 'docs/errors.md#bv_usage' } }, valid: true },
  { name: 'error output with issues', validator: V.validateErrorOutput, doc: { error: { code: 'BV_MANIFEST_INVALID', message: 'm', exit: 5, status: 125, hint: 'h', doc: 'd', issues: [{ code: 'BV_SCHEMA', clause: 'network', message: 'x', hint: null, file: 'b/boundary.yaml', line: 3, col: 10 }] } }, valid: true },
  { name: 'error output: lowercase code', validator: V.validateErrorOutput, doc: { error: { code: 'bv_usage', message: 'm', exit: 2, hint: null, doc: 'd' } }, valid: false },
];

describe('schemas accept good documents and reject bad ones', () => {
  for (const r of rows) {
    it(`${r.valid ? 'accepts' : 'rejects'} ${r.name}`, () => {
      const ok = r.validator(r.doc);
      expect(ok, JSON.stringify(r.validator.errors)).toBe(r.valid);
    });
  }
});

// src/ imports its validators from two smaller files generated from the same schemas
// (scripts/gen-contract.mjs: a start-up snapshot holds every module it reaches whole). Each must
// decide every row as the full set does, with the same errors.
describe('the validator sets src/ imports decide as the full set', () => {
  const subsets: Record<string, Record<string, unknown>> = { 'validators-records': Records, 'validators-manifest': ManifestV };
  it('each subset holds what src/ uses, and every one of its validators is the full set\'s, by name', () => {
    expect(Object.keys(Records).filter((k) => k.startsWith('validate')).sort()).toEqual(['validateContainerState', 'validateHostFacts', 'validateJournalEntry', 'validateSignalsSentRecord']);
    expect(Object.keys(ManifestV).filter((k) => k.startsWith('validate'))).toEqual(['validateBoundaryManifest']);
    for (const [file, m] of Object.entries(subsets)) for (const k of Object.keys(m).filter((x) => x.startsWith('validate'))) expect(V, `${file}.${k}`).toHaveProperty([k]);
  });
  const full = V as unknown as Record<string, V.CompiledValidator>;
  const named = rows.map((r) => ({ r, name: Object.keys(full).find((k) => full[k] === r.validator)! }));
  for (const { r, name } of named.filter((x) => x.name in Records)) {
    it(`${name} (validators-records) ${r.valid ? 'accepts' : 'rejects'} ${r.name}`, () => {
      const twin = (Records as unknown as Record<string, V.CompiledValidator>)[name]!;
      expect(twin(r.doc)).toBe(r.validator(r.doc));
      expect(twin.errors ?? null).toEqual(r.validator.errors ?? null);
    });
  }
});
