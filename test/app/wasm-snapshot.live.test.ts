// Which entry a wasm run's runner started from: its V8 start-up snapshot (dist/snapshot/runner.blob)
// when the Node binary in use built it, else runner.js (docs/startup.md "wasm runner"). The
// oracle is the runner process itself, found under /proc while its guest spins: its command
// line, as the kernel holds it. The report's own evidence must agree with it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { descendants, hugepageAdvised, thpMode } from '../helpers/wait.js';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/host/bundle.js';
import { runLoaded, type RunOutcome } from '../../src/app/run.js';
import { runnerStart } from '../../src/app/wasm.js';
import { setRunnerSnapshotDir } from '../seams/runner-snapshot-dir.js';
import { defaultTestParent } from '../helpers/cgroups.js';
import { facts } from '../helpers/probe.js';
import { tempDir } from '../helpers/tmp.js';
import { skipOrFail } from '../helpers/require.js';
import { I, wasmModule } from '../core/wasm/builder.js';

const ROOT = join(__dirname, '..', '..');
const SNAP = join(ROOT, 'dist', 'snapshot');
const built = existsSync(join(SNAP, 'runner.blob'));
if (!built) skipOrFail('snapshot', `no ${join(SNAP, 'runner.blob')} (npm run build makes it; esbuild is a development dependency)`);

afterEach(() => setRunnerSnapshotDir(null));

/** A guest that spins until its wall limit, so its runner can be looked at. */
function spinner(): string {
  const d = tempDir('bvisor-wasm-snap-');
  writeFileSync(join(d, 'm.wasm'), wasmModule({ memory: { min: 1, export: 'memory' }, funcs: [{ body: [I.loop(), I.br(0), I.end], export: '_start' }] }));
  writeFileSync(join(d, 'boundary.yaml'), 'bvisorVersion: "1"\nworkload:\n  wasm: { module: m.wasm }\nstdio: { stdout: capture, stderr: capture }\nlimits: { wall: 1500ms, memory: 16Mi }\n');
  return d;
}

/** The runners among this process's descendants: pid and command line (NUL-separated words). */
function runners(): Array<{ pid: number; argv: string[] }> {
  return descendants().filter((d) => d.argv.some((a) => /runner\.(js|blob)$/.test(a)));
}

/** Whether a runner's malloc is up: its brk heap exists (glibc's own start is over). */
function heapUp(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/maps`, 'utf8').includes('[heap]');
  } catch {
    return false;
  }
}

/** Runs the spinning guest, sampling its runner: the first command line seen, and whether it
 * advised huge pages once its heap was up (null if never seen so). */
async function runAndLook(): Promise<{ out: RunOutcome; argv: string[] | null; hugepages: boolean | null }> {
  let argv: string[] | null = null;
  let hugepages: boolean | null = null;
  const timer = setInterval(() => {
    const r = runners()[0];
    if (!r) return;
    argv ??= r.argv;
    try {
      if (hugepages === null && heapUp(r.pid)) hugepages = hugepageAdvised(r.pid);
    } catch {
      // gone
    }
  }, 20);
  try {
    const out = await runLoaded(loadBundle(spinner()), { id: null, root: tempDir('bvisor-wasm-root-'), cgroupParent: defaultTestParent(), secretEnv: {}, host: facts() });
    return { out, argv, hugepages };
  } finally {
    clearInterval(timer);
  }
}

const startEvidence = (o: RunOutcome): unknown => o.report.body.evidence.find((e) => e.name === 'wasm.runner-start')?.value;

/** The snapshot record (built.sh) with one value replaced, as the build would have written it. */
function rewriteBuilt(dir: string, name: string, value: string): void {
  const file = join(dir, 'built.sh');
  const before = readFileSync(file, 'utf8');
  const after = before.replace(new RegExp(`^${name}='[^']*'$`, 'm'), `${name}='${value}'`);
  if (after === before) throw new Error(`${file} has no ${name}= line`);
  writeFileSync(file, after);
}

/** A copy of the build's snapshot directory, changed by `edit`. */
function snapCopy(edit: (dir: string) => void): string {
  const d = join(tempDir('bvisor-runner-snap-'), 'snapshot');
  mkdirSync(d);
  for (const f of ['runner.blob', 'built.sh', 'node.stamp']) copyFileSync(join(SNAP, f), join(d, f));
  const st = statSync(join(SNAP, 'node.stamp'));
  utimesSync(join(d, 'node.stamp'), st.atime, st.mtime);
  edit(d);
  return d;
}

describe.skipIf(!built)('the wasm runner’s start', () => {
  it('a run starts its runner from the snapshot: the runner process’s command line names the blob', async () => {
    expect(runnerStart()).toEqual({ blob: join(SNAP, 'runner.blob') });
    const { out, argv } = await runAndLook();
    expect(out.report.body.outcome).toMatchObject({ status: 'timeout' });
    expect(argv, 'the sampler saw the runner').not.toBeNull();
    expect(argv!.slice(1, 4)).toEqual(['--max-old-space-size=128', '--snapshot-blob', join(SNAP, 'runner.blob')]);
    expect(argv!.slice(5)).toEqual([expect.stringMatching(/^--wasm-max-mem-pages=\d+$/), expect.stringMatching(/^--wasm-max-table-size=\d+$/)]);
    expect(startEvidence(out)).toBe('V8 start-up snapshot (runner.blob)');
  });

  // The runner's Node asks glibc's malloc for transparent huge pages (its environment's
  // GLIBC_TUNABLES, and the two THP settings granted for glibc to read: without them it asks
  // for none). Oracle: the runner's own mappings (proc(5): VmFlags hg).
  it("the runner asks for huge pages for malloc, unless bvisor's caller said hugetlb=0", async () => {
    if (thpMode() !== 'madvise') {
      skipOrFail('thp-madvise', `transparent huge pages are "${thpMode()}" here: glibc's malloc asks for them only where the mode is madvise`);
      return;
    }
    const ld = spawnSync('/lib64/ld-linux-x86-64.so.2', ['--list-tunables'], { encoding: 'utf8' });
    if (!/^glibc\.malloc\.hugetlb:/m.test(ld.stdout ?? '')) {
      skipOrFail('thp-madvise', 'this glibc has no glibc.malloc.hugetlb tunable (ld.so --list-tunables; glibc >= 2.35 has it)');
      return;
    }
    const saved = process.env.GLIBC_TUNABLES;
    try {
      delete process.env.GLIBC_TUNABLES;
      const { out, hugepages } = await runAndLook();
      expect(out.report.body.outcome).toMatchObject({ status: 'timeout' });
      expect(hugepages, 'the sampler saw the runner with its heap up').not.toBeNull();
      expect(hugepages).toBe(true);
      // The caller's own setting reaches the runner (bin/bvisor keeps it for the CLI's Node too).
      process.env.GLIBC_TUNABLES = 'glibc.malloc.check=0:glibc.malloc.hugetlb=0';
      const off = await runAndLook();
      expect(off.hugepages, 'the sampler saw the runner with its heap up').toBe(false);
    } finally {
      if (saved === undefined) delete process.env.GLIBC_TUNABLES;
      else process.env.GLIBC_TUNABLES = saved;
    }
  });

  it('a blob elsewhere (not under dist) is granted to the runner, and used', async () => {
    const d = snapCopy(() => {});
    setRunnerSnapshotDir(d);
    const { out, argv } = await runAndLook();
    expect(argv).toContain(join(d, 'runner.blob'));
    expect(out.report.body.outcome).toMatchObject({ status: 'timeout' });
  });

  it('falls back to runner.js when the blob is missing or stale, or another Node built it', async () => {
    const cases: Array<[string, RegExp]> = [
      [snapCopy((d) => rmSync(join(d, 'runner.blob'))), /no runner snapshot in/],
      [join(tempDir('bvisor-runner-snap-'), 'none'), /no runner snapshot in/],
      [snapCopy((d) => rewriteBuilt(d, 'built', '/usr/local/bin/some-other-node')), /it was built by \/usr\/local\/bin\/some-other-node/],
      [snapCopy((d) => rmSync(join(d, 'built.sh'))), /no record of what built it in/],
      [snapCopy((d) => utimesSync(join(d, 'node.stamp'), new Date(0), new Date(0))), /changed since it was built/],
      // (a blob built on another CPU: V8 would refuse it, exit 14, as it did in the VM of test/vm)
      [snapCopy((d) => rewriteBuilt(d, 'builtcpu', 'flags\t\t: fpu some-other-cpu')), /CPU's features are not those of the machine that built it/],
    ];
    for (const [dir, why] of cases) expect(runnerStart(dir)).toMatchObject({ script: join(ROOT, 'dist', 'backends', 'wasm', 'runner.js'), why: expect.stringMatching(why) });
    // a live run under the stale one: the runner is runner.js, with its caps as Node flags
    setRunnerSnapshotDir(cases[4]![0]);
    const { out, argv } = await runAndLook();
    expect(argv, 'the sampler saw the runner').not.toBeNull();
    expect(argv).not.toContain('--snapshot-blob');
    expect(argv!.slice(1)).toEqual([expect.stringMatching(/^--wasm-max-mem-pages=\d+$/), expect.stringMatching(/^--wasm-max-table-size=\d+$/), '--max-old-space-size=128', join(ROOT, 'dist', 'backends', 'wasm', 'runner.js')]);
    expect(out.report.body.outcome).toMatchObject({ status: 'timeout' });
    expect(startEvidence(out)).toBe('runner.js');
  });
});
