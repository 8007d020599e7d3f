// Records which native module koffi's own loader picks on this machine (platform, libc) and its
// version, in native-shim/build/koffi.json, so the shim (src/backends/linux/ffi/shim.ts) can load
// that module directly: koffi's loader costs about 10 ms per process (ELF and libc detection,
// its platform package), the module itself about 3. Part of `npm run build:shim`. Anything the
// record does not match at run time goes through koffi's loader as before.
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const koffi = require('koffi');
const loaded = Object.keys(require.cache).filter((k) => k.endsWith('.node') && k.includes(`${sep}node_modules${sep}`));
const pkg = JSON.parse(readFileSync(join(dirname(require.resolve('koffi')), 'package.json'), 'utf8'));
const out = join(root, 'native-shim', 'build', 'koffi.json');
mkdirSync(dirname(out), { recursive: true });
if (loaded.length !== 1 || typeof koffi.load !== 'function') {
  // Nothing certain to record: the shim keeps using koffi's loader.
  writeFileSync(out + '.tmp', 'null\n');
} else {
  const native = require(loaded[0]);
  if (native.version !== pkg.version) throw new Error(`koffi ${pkg.version} loaded a native module of version ${native.version}`);
  writeFileSync(out + '.tmp', JSON.stringify({ path: relative(root, loaded[0]).split(sep).join('/'), version: pkg.version }) + '\n');
}
renameSync(out + '.tmp', out);
