// tsc does not copy plain .js; the ahead-of-time validators are JS emitted by ajv standalone.
import { cpSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
cpSync(join(root, 'src/contract/generated/validators.js'), join(root, 'dist/contract/generated/validators.js'));
