// Writes oclif.manifest.json after the TypeScript build, so `bvisor --version`, `--help` and
// command lookup do not load every command module at start-up. The manifest comes from
// @oclif/core's own loader (no extra dependency on the `oclif` CLI package).
import { writeFileSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Config } = require('@oclif/core');
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// A stale manifest would be read back even with ignoreManifest; start from none.
rmSync(join(root, 'oclif.manifest.json'), { force: true });
const config = await Config.load({ root, ignoreManifest: true });
const plugin = config.getPluginsList().find((p) => p.root === root) ?? config.getPluginsList()[0];
writeFileSync(join(root, 'oclif.manifest.json'), JSON.stringify(plugin.manifest, null, 2) + '\n');
console.log(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`);
