// The shim starts threads of its own (the wall's backstop, the notify holder, the audit readers)
// that can still be on their way out of poll(2) when Node exits. Node-API finalizers run at exit,
// and koffi then dlclose()s the library: were it unmapped, such a thread would run unmapped code
// and the process would end in SIGSEGV after its work was done (the likely cause of a CI failure
// of bvisor learn: "verified", then an exit by signal). The library is linked never to be unloaded.
// Oracles: /proc/self/maps after koffi's own unload, and the exit status of processes that exit
// while such threads are returning.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BUILD = join(__dirname, '../../native-shim/build');
const KOFFI = require.resolve('koffi');

/** node -e SCRIPT ARGS, behind a wrapper command (taskset) when one is given. */
function node(script: string, args: string[] = [], wrapper: string[] = []): ReturnType<typeof spawnSync> {
  const [cmd, ...argv] = [...wrapper, process.execPath, '-e', script, ...args];
  return spawnSync(cmd!, argv, { encoding: 'utf8', timeout: 30_000 });
}

describe('the shim is never unloaded (live)', () => {
  // The shipped library and the test build: one link line (native-shim/Makefile, SO_LDFLAGS).
  it.each(['libbvshim.so', 'test/libbvshim.so'])('%s stays mapped after koffi unloads it', (lib) => {
    const path = join(BUILD, lib);
    const r = node(`
      const koffi = require(${JSON.stringify(KOFFI)});
      const fs = require('node:fs');
      const mapped = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').some((l) => l.endsWith(' ' + process.argv[1]));
      const lib = koffi.load(process.argv[1]);
      const before = mapped();
      lib.unload();
      console.log(JSON.stringify({ before, after: mapped() }));`, [path]);
    expect(r.status, String(r.stderr)).toBe(0);
    expect(JSON.parse(String(r.stdout))).toEqual({ before: true, after: true });
  });

  // The symptom itself: fifty backstop threads woken (their channels closed) just before the
  // process exits, on one CPU so they wait for the exiting thread. Unmapped under them, about one
  // exit in ten ended in SIGSEGV on this machine; a process that exits must exit 0, every time.
  it('a process exiting while the shim\'s threads return exits 0, twenty times out of twenty', () => {
    const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0 ? ['taskset', '-c', '0'] : [];
    const script = `
      const koffi = require(${JSON.stringify(KOFFI)});
      const { spawn } = require('node:child_process');
      const { closeSync } = require('node:fs');
      const lib = koffi.load(process.argv[1]);
      const pidfdOpen = lib.func('int bv_pidfd_open(int pid)');
      const deadline = lib.func('int bv_deadline_thread(int pid, int pidfd, int kill_fd)');
      const c = spawn('sleep', ['30'], { stdio: 'ignore' });
      const pidfd = pidfdOpen(c.pid);
      const socks = [];
      for (let i = 0; i < 50; i++) socks.push(deadline(c.pid, pidfd, -1));
      if (pidfd < 0 || socks.some((s) => s < 0)) { c.kill('SIGKILL'); throw new Error('setup: ' + pidfd + ' ' + socks); }
      c.kill('SIGKILL');
      c.on('exit', () => { for (const s of socks) closeSync(s); });`;
    const ends: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = node(script, [join(BUILD, 'libbvshim.so')], pin);
      ends.push(r.signal ?? String(r.status));
      if (r.status !== 0 && r.signal === null) throw new Error(`the script failed: ${String(r.stderr)}`);
    }
    expect(ends.filter((e) => e !== '0')).toEqual([]);
  });
});
