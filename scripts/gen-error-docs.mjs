// Writes docs/errors.md from the error registry in src/contract/errors.ts (built to dist/), so
// every code has its documented exit code and summary. Run after `npm run build:ts`; with
// `--check` it writes nothing and fails when docs/errors.md differs from what it would write
// (`npm run gen:check` runs that, so a hand edit of the generated file cannot drift).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { ERROR_CODES, ISSUE_CODES, EXIT } = require('../dist/contract/errors.js');
const exitName = Object.fromEntries(Object.entries(EXIT).map(([k, v]) => [v, k]));
// A summary starts lower-case to read inside a message; in the docs it opens a sentence, unless
// it opens with the command's own name.
const cap = (t) => (t.startsWith('bvisor ') ? t : t[0].toUpperCase() + t.slice(1));
// What the docs say beyond a code's summary: behaviour worth a reader's time that no error
// message needs to carry (the registry is compiled into every command's start-up blob).
const MORE = {
  BV_STATE_ROOT_UNUSABLE: 'Later, a full root makes `delete` (and `report`) of a stopped container fail with this code and keep the container, since its report cannot be sealed; `state` still answers (status `stopped`) and warns on stderr that recording the report waits for room (a failing disk, EIO, stays an error).',
  BV_CGROUP_SETUP: '`pause` and `resume` of a container this host placed in cgroup v1 leaves alone fail with it too: bvisor freezes through cgroup v2\'s `cgroup.freeze` (the hint names `kill --all ID STOP` and `CONT`).',
  BV_LEARN_UNSUPPORTED: 'See [learn.md](learn.md#what-learn-takes).',
  BV_LEARN_UNVERIFIED: 'See [learn.md](learn.md#the-check-run).',
};
for (const c of Object.keys(MORE)) if (!(c in ERROR_CODES)) throw new Error(`gen-error-docs: MORE names ${c}, which is not a registered code`);
let s = '# bvisor error codes\n\nEvery failure of a bvisor command carries one of these codes, on stderr as `bvisor: error CODE: message` (followed by located issues and a hint) or, with `--json`, as the object in [schemas/error.schema.json](../schemas/error.schema.json). The process exit code is fixed per code; see [exit-codes.md](exit-codes.md) (`bvisor run` reports all of them as 125). When undoing what a failed command made fails too (a temp dir that cannot be removed, say), the message says so after the failure\'s own (`; cleaning up after it failed too: …`, and `detail.cleanup` through the API): the code, issues and hint stay the first failure\'s.\n\n## Command errors\n\n';
for (const [c, i] of Object.entries(ERROR_CODES)) s += `### ${c}\n\nExit ${i.exit} (${exitName[i.exit]}). ${cap(i.summary)}.${MORE[c] ? ` ${MORE[c]}` : ''}\n\n`;
s += '## Issue codes\n\nThese appear inside `issues` of BV_MANIFEST_INVALID (the manifest) and BV_PLAN_REFUSED (the planner), one per problem, each with its clause path and, for the manifest, file:line:col.\n\n';
for (const [c, t] of Object.entries(ISSUE_CODES)) s += `### ${c}\n\n${cap(t)}.\n\n`;
const out = new URL('../docs/errors.md', import.meta.url);
if (process.argv.includes('--check')) {
  if (readFileSync(out, 'utf8') !== s) {
    console.error('docs/errors.md differs from the error registry: run `npm run build:ts && node scripts/gen-error-docs.mjs`, or move a hand edit into MORE in scripts/gen-error-docs.mjs');
    process.exit(1);
  }
} else writeFileSync(out, s);
