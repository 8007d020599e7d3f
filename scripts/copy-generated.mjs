// tsc does not copy plain .js; the ahead-of-time validators are JS emitted by ajv standalone.
import { cpSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const f of ['validators.js', 'validators-records.js', 'validators-manifest.js']) cpSync(join(root, 'src/contract/generated', f), join(root, 'dist/contract/generated', f));
