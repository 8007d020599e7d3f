// npm run bench: start-up cost of the CLI against baselines measured in the same run.
// Runs each command N times, interleaved (so machine noise hits all of them alike), and prints
// medians and ratios to `node -e 0`. Not a test: numbers are for the closing notes and for
// spotting regressions by eye.
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'run.js');
const N = Number(process.env.BENCH_N ?? 21);

const cases = [
  { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
  { name: 'bvisor --version', argv: [process.execPath, bin, '--version'] },
  { name: 'bvisor validate bundles/hello', argv: [process.execPath, bin, 'validate', join(root, 'bundles/hello')] },
  { name: 'bvisor plan bundles/hello', argv: [process.execPath, bin, 'plan', join(root, 'bundles/hello')] },
  { name: 'bvisor check --json', argv: [process.execPath, bin, 'check', '--json'] },
];

function once(argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const samples = new Map(cases.map((c) => [c.name, []]));
for (const c of cases) once(c.argv); // warm the page cache
for (let i = 0; i < N; i++) for (const c of cases) samples.get(c.name).push(once(c.argv));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const base = median(samples.get('node -e 0'));
console.log(`start-up, ${N} runs each, interleaved; node ${process.version}`);
console.log('command'.padEnd(34) + 'median ms'.padStart(10) + '  ratio to node -e 0');
for (const c of cases) {
  const m = median(samples.get(c.name));
  console.log(c.name.padEnd(34) + m.toFixed(1).padStart(10) + `  ${(m / base).toFixed(2)}x`);
}
