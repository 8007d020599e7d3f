// Builds the landlock ruleset in the parent: one path_beneath rule per filesystem grant, on the
// descriptor the launcher opened and checked (landlock names inodes, so the rule holds for the
// same inode bind-mounted into the workload's root), and TCP port rules for network: {connect,
// bind}. Grants the fresh /proc or the minimal /dev serve get their rules in the child, on the
// inodes that exist only there. The child only calls landlock_restrict_self on the fd. The
// handled set is everything the host's ABI knows, so nothing is left unrestricted by omission.
import { createHash } from 'node:crypto';
import type { LaunchInputs } from '../../../contract/generated/types.js';
import { BvisorError } from '../../../contract/errors.js';
import { handledFs, maskOf, NET_RIGHTS, SCOPES, KNOWN_ABI, type FsRight } from '../../../core/landlock.js';
import { shim } from '../ffi/shim.js';
import { servedBySpecial } from '../../../core/layout.js';
import { errnoName } from '../../../host/facts.js';

export interface Ruleset {
  fd: number;
  abi: number;
  /** sha256 over the rules as applied (handled masks, each path with its mask, each port). */
  digest: string;
  rules: number;
}

export function buildRuleset(launch: LaunchInputs, grantFd: (clause: string) => number): Ruleset {
  const abi = Math.min(launch.landlockAbi ?? 0, KNOWN_ABI);
  if (abi < 1) throw new BvisorError('BV_LAUNCH_UNSUPPORTED', 'the plan needs landlock but names no landlock ABI', { hint: 'plan again on this host' });
  const s = shim();
  const fsMask = BigInt(maskOf(handledFs(abi)));
  const ports = launch.network.mode === 'ports';
  const netMask = ports && abi >= 4 ? BigInt(NET_RIGHTS.BIND_TCP.bit | NET_RIGHTS.CONNECT_TCP.bit) : 0n;
  const scoped = abi >= 6 ? BigInt((launch.scope.includes('signal') ? SCOPES.SIGNAL.bit : 0) | (launch.scope.includes('abstract-unix-socket') ? SCOPES.ABSTRACT_UNIX_SOCKET.bit : 0)) : 0n;
  const fd = s.bv_landlock_create(fsMask, netMask, scoped, abi);
  if (fd < 0) throw new BvisorError('BV_LAUNCH_SPAWN', `landlock_create_ruleset(abi=${abi}): ${errnoName(fd)}`, { hint: 'run `bvisor check`: landlock may be disabled' });
  const h = createHash('sha256');
  h.update(`abi=${abi};fs=${fsMask};net=${netMask};scoped=${scoped}\n`);
  let rules = 0;
  try {
    for (const r of launch.filesystem) {
      const mask = BigInt(maskOf(r.rights as FsRight[]));
      // Rules on paths the child mounts over are added by the child, after its mounts.
      if (launch.layout.length > 0 && servedBySpecial(r)) {
        h.update(`child ${r.target} ${mask}\n`);
        rules++;
        continue;
      }
      const rc = s.bv_landlock_add_path(fd, grantFd(r.clause), mask);
      if (rc < 0) throw new BvisorError('BV_LAUNCH_SPAWN', `${r.clause}: landlock_add_rule(path_beneath \`${r.path}\`): ${errnoName(rc)}`, { hint: 'a file grant can carry only file rights' });
      h.update(`path ${r.path} ${mask}\n`);
      rules++;
    }
    if (ports) {
      const add = (port: number, bit: number): void => {
        const rc = s.bv_landlock_add_port(fd, BigInt(port), BigInt(bit));
        if (rc < 0) throw new BvisorError('BV_LAUNCH_SPAWN', `network: landlock_add_rule(port ${port}): ${errnoName(rc)}`);
        h.update(`port ${port} ${bit}\n`);
        rules++;
      };
      for (const p of launch.network.connect) add(p, NET_RIGHTS.CONNECT_TCP.bit);
      for (const p of launch.network.bind) add(p, NET_RIGHTS.BIND_TCP.bit);
    }
  } catch (e) {
    s.bv_close(fd);
    throw e;
  }
  return { fd, abi, digest: h.digest('hex'), rules };
}
