// bvisor check — probe the host and show what each backend can enforce here.
import { BaseCommand } from '../cli/base.js';
import { check, type CheckResult } from '../app/check.js';
import { capabilityLine, table } from '../cli/render.js';
import { perRunIds } from '../core/host-view.js';

export default class Check extends BaseCommand<typeof Check> {
  static override summary = 'Probe the host: kernel, landlock, seccomp, user namespaces, cgroups, and what each backend can enforce';

  async run(): Promise<CheckResult> {
    const r = check({ cgroupParent: this.cgroupParent });
    const h = r.host;
    const cg = h.cgroup;
    const lines = [
      `kernel        ${h.kernel.release} (${h.kernel.arch})`,
      `landlock      ${h.landlock.abi ? `ABI ${h.landlock.abi}` : `unavailable (${h.landlock.error})`}`,
      `seccomp       ${h.seccomp.available ? `filters; actions: ${h.seccomp.actions.join(' ')}` : 'unavailable'}`,
      `user ns       ${h.userns.canCreate ? 'can create' : 'cannot create'}; unprivileged: ${h.userns.unprivilegedCanCreate ? 'yes' : 'no'}; max_user_namespaces=${h.userns.maxUserNamespaces ?? '?'}${h.userns.error ? ` (${h.userns.error})` : ''}`,
      `identity      uid=${h.identity.uid} euid=${h.identity.euid} gid=${h.identity.gid}`,
      `workload ids  ${perRunIds(h) && h.mapping.range ? `one of its own per run or container, from ${h.mapping.range.uid + 1}:${h.mapping.range.gid + 1} on, ${h.mapping.range.count - 1} of them` : `${h.mapping.uid}:${h.mapping.gid}`} (${h.mapping.source})${h.identity.euid === 0 && h.mapping.source.startsWith('overflow') ? '; shared with everything that runs as nobody: give bvisor its own ids with a `bvisor:START:COUNT` line in /etc/subuid and /etc/subgid' : ''}`,
      `capabilities  ${capabilityLine(h.capabilities)}`,
      `rlimits       nofile ${fmt(h.rlimits.nofile?.soft)}/${fmt(h.rlimits.nofile?.hard)}, nproc ${fmt(h.rlimits.nproc?.soft)}/${fmt(h.rlimits.nproc?.hard)}, as ${fmt(h.rlimits.as?.hard)}, cpu ${fmt(h.rlimits.cpu?.hard)}`,
      `cgroups       ${cg.mode}`,
      `denials       seccomp: ${r.denials.seccomp.observed ? 'listed' : 'not observed'} (${r.denials.seccomp.how}); landlock: ${r.denials.landlock.observed ? 'listed' : 'not observed'} (${r.denials.landlock.how})`,
      `wasm runner   ${r.wasmProcesses.admitted ? 'can start' : 'cannot start here (every wasm run is refused)'}: ${r.wasmProcesses.why}${r.wasmProcesses.hint ? `\n              hint: ${r.wasmProcesses.hint}` : ''}`,
    ];
    const hier = [...(cg.v2 ? [cg.v2] : []), ...cg.v1];
    this.say(lines.join('\n'));
    this.say(table(['hierarchy', 'controllers', 'our cgroup'], hier.map((x) => [`v${x.version} ${x.mountPoint}`, x.controllers.join(',') || '-', `${x.ownPath}${x.isRoot ? ' (root)' : ''}`]), 90));
    // Where a run's cgroups go, hierarchy by hierarchy, and why (the planner uses the same rule).
    this.say('');
    for (const p of r.cgroupPlacements) {
      this.say(`${p.hierarchy}: ${p.dir ? `runs go under ${p.dir}` : 'bvisor places no cgroup here'}`);
      this.say(`  why: ${p.why}${p.hint ? `\n  hint: ${p.hint}` : ''}`);
    }
    this.say('');
    this.say(table(['backend', 'clause', 'mechanism here', 'strength'], r.capabilities.map((c) => [c.backend, c.clause, c.mechanism ?? `refused: ${c.reason}`, c.strength ?? '-']), 110));
    return r;
  }
}

function fmt(n: number | null | undefined): string {
  return n === null ? 'unlimited' : n === undefined ? '?' : String(n);
}

