// Writes docs/errors.md from the error registry in src/contract/errors.ts (built to dist/), so
// every code has its documented exit code and summary. Run after `npm run build:ts`.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { ERROR_CODES, ISSUE_CODES, EXIT } = require('../dist/contract/errors.js');
const exitName = Object.fromEntries(Object.entries(EXIT).map(([k, v]) => [v, k]));
const cap = (t) => t[0].toUpperCase() + t.slice(1);
let s = '# bvisor error codes\n\nEvery failure of a bvisor command carries one of these codes, on stderr as `bvisor: error CODE: message` (followed by located issues and a hint) or, with `--json`, as the object in [schemas/error.schema.json](../schemas/error.schema.json). The process exit code is fixed per code; see [exit-codes.md](exit-codes.md) (`bvisor run` reports all of them as 125). When undoing what a failed command made fails too (a temp dir that cannot be removed, say), the message says so after the failure\'s own (`; cleaning up after it failed too: …`, and `detail.cleanup` through the API): the code, issues and hint stay the first failure\'s.\n\n## Command errors\n\n';
for (const [c, i] of Object.entries(ERROR_CODES)) s += `### ${c}\n\nExit ${i.exit} (${exitName[i.exit]}). ${cap(i.summary)}.\n\n`;
s += '## Issue codes\n\nThese appear inside `issues` of BV_MANIFEST_INVALID (the manifest) and BV_PLAN_REFUSED (the planner), one per problem, each with its clause path and, for the manifest, file:line:col.\n\n';
for (const [c, t] of Object.entries(ISSUE_CODES)) s += `### ${c}\n\n${cap(t)}.\n\n`;
writeFileSync(new URL('../docs/errors.md', import.meta.url), s);
