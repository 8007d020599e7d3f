// bvisor ps lists a container's processes from its cgroups, as runc does; a container with no
// cgroup (its boundary asked for no limit that needs one) listed none while its workload ran (an
// attack in December). Its processes are then those of its own pid namespace. Oracle: /proc (the
// workload's pid and its pid namespace).
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { probeBundle } from '../helpers/probe.js';
import { newRoot } from '../helpers/roots.js';

describe('bvisor ps of a container with no cgroup', () => {
  it('lists the processes of its pid namespace: its workload', () => {
    const root = newRoot();
    expect(cli(['create', 'ps-1', '-b', probeBundle(['sleep', '30'], 'limits: { wall: 30s }\n'), '--root', root]).status).toBe(0);
    try {
      const st = JSON.parse(readFileSync(join(root, 'containers', 'ps-1', 'state.json'), 'utf8'));
      // What this test is about: no cgroup was made for it, and it has a pid namespace.
      expect(st.cgroupDirs).toEqual([]);
      const pid = st.pid.pid as number;
      expect(readlinkSync(`/proc/${pid}/ns/pid`)).not.toBe(readlinkSync('/proc/self/ns/pid'));
      expect(cli(['start', 'ps-1', '--root', root]).status).toBe(0);
      const ps = cli(['ps', '--format', 'json', 'ps-1', '--root', root]);
      expect(ps.status, ps.stderr).toBe(0);
      expect(JSON.parse(ps.stdout)).toEqual([pid]);
    } finally {
      expect(cli(['delete', '-f', 'ps-1', '--root', root]).status).toBe(0);
    }
  });
});
