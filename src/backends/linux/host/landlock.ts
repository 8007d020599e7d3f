// Builds the landlock ruleset in the parent: one path_beneath rule per filesystem grant, on the
// descriptor the launcher opened and checked (landlock names inodes, so the rule holds for the
// same inode bind-mounted into the workload's root), and TCP port rules for network: {connect,
// bind}. Grants the fresh /proc or the minimal /dev serve get their rules in the child, on the
// inodes that exist only there. The child only calls landlock_restrict_self on the fd. The
// handled set is everything the host's ABI knows, so nothing is left unrestricted by omission.
// The report's `landlock.ruleset` digest covers every rule of the ruleset, the parent's and the
// child's (rulesetEvidence, over the parent's rules and the LL_RULE steps lowered into the body).
import { createHash } from 'node:crypto';
import type { LaunchInputs } from '../../../contract/generated/types.js';
import { BvisorError } from '../../../contract/errors.js';
import { handledFs, maskOf, NET_RIGHTS, SCOPES, KNOWN_ABI, type FsRight } from '../../../core/landlock.js';
import { shim } from '../ffi/shim.js';
import { servedBySpecial } from '../../../core/layout.js';
import { errnoName } from '../../../host/facts.js';
import { MOUNT_OP, AUX, type MountStep } from '../lower.js';

/** One rule of the ruleset, as the digest names it (see rulesetEvidence). */
export interface RuleLine {
  /** parent: added here, on the descriptor of the grant's host path; child: an LL_RULE step,
   * on the target inside the workload's root, after its mounts. */
  side: 'parent' | 'child';
  kind: 'path' | 'port';
  /** The grant's host path (parent), the target in the workload's root (child), or the port. */
  subject: string | number;
  /** The access mask asked for (a file target's is narrowed to file rights by the kernel's rule). */
  mask: number;
  /** Child rules only: skipped when the target is missing (AUX_OPTIONAL). */
  optional: boolean;
}

export interface Ruleset {
  fd: number;
  abi: number;
  /** The handled access masks the ruleset was created with. */
  handled: { fs: bigint; net: bigint; scoped: bigint };
  /** The rules the parent added, in the order it added them. */
  parentRules: RuleLine[];
}

/** What the report shows of the ruleset: its ABI, how many rules, and their digest. */
export interface RulesetEvidence {
  abi: number;
  digest: string;
  rules: number;
}

/**
 * The digest over every rule applied, parent and child, in one canonical text:
 *
 *   bvisor-landlock-ruleset/2 abi=<abi> fs=<handled fs> net=<handled net> scoped=<scoped>\n
 *   then one line per rule, `<side> <kind> <subject> <mask> <required|optional>\n`, where side
 *   is parent|child, kind path|port, subject the path as a JSON string (parent: the grant's
 *   host path; child: the target inside the workload's root) or the decimal port, and mask the
 *   decimal access mask; the rule lines sorted by their UTF-8 bytes (landlock rules do not
 *   depend on their order).
 *
 * digest = sha256 (hex) of that text, UTF-8; rules = the number of rule lines. The child's
 * rules are the LL_RULE steps of `steps`, the mount plan lowered into the launch body, so the
 * digest covers exactly what the child is told to add.
 */
export function rulesetEvidence(ruleset: Ruleset, steps: readonly MountStep[]): RulesetEvidence {
  const child: RuleLine[] = steps
    .filter((m) => m.op === MOUNT_OP.LL_RULE)
    .map((m) => ({ side: 'child', kind: 'path', subject: m.target ?? '', mask: m.flags, optional: ((m.aux ?? 0) & AUX.OPTIONAL) !== 0 }));
  const line = (r: RuleLine): Buffer => Buffer.from(`${r.side} ${r.kind} ${r.kind === 'path' ? JSON.stringify(r.subject) : String(r.subject)} ${r.mask} ${r.optional ? 'optional' : 'required'}\n`, 'utf8');
  const lines = [...ruleset.parentRules, ...child].map(line).sort(Buffer.compare);
  const h = createHash('sha256');
  h.update(`bvisor-landlock-ruleset/2 abi=${ruleset.abi} fs=${ruleset.handled.fs} net=${ruleset.handled.net} scoped=${ruleset.handled.scoped}\n`);
  for (const l of lines) h.update(l);
  return { abi: ruleset.abi, digest: h.digest('hex'), rules: lines.length };
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
  const parentRules: RuleLine[] = [];
  try {
    for (const r of launch.filesystem) {
      const mask = maskOf(r.rights as FsRight[]);
      // Rules on paths the child mounts over are added by the child, after its mounts (LL_RULE
      // steps of the mount plan, which rulesetEvidence counts).
      if (launch.layout.length > 0 && servedBySpecial(r)) continue;
      // Narrowed to nothing (a narrowing boundary covers no part of this bind): no rule, so the
      // bind is mounted but unreachable; landlock refuses an empty rule anyway (ENOMSG).
      if (mask === 0) continue;
      const rc = s.bv_landlock_add_path(fd, grantFd(r.clause), BigInt(mask));
      if (rc < 0) throw new BvisorError('BV_LAUNCH_SPAWN', `${r.clause}: landlock_add_rule(path_beneath \`${r.path}\`): ${errnoName(rc)}`, { hint: 'a file grant can carry only file rights' });
      parentRules.push({ side: 'parent', kind: 'path', subject: r.path, mask, optional: false });
    }
    if (ports) {
      const add = (port: number, bit: number): void => {
        const rc = s.bv_landlock_add_port(fd, BigInt(port), BigInt(bit));
        if (rc < 0) throw new BvisorError('BV_LAUNCH_SPAWN', `network: landlock_add_rule(port ${port}): ${errnoName(rc)}`);
        parentRules.push({ side: 'parent', kind: 'port', subject: port, mask: bit, optional: false });
      };
      for (const p of launch.network.connect) add(p, NET_RIGHTS.CONNECT_TCP.bit);
      for (const p of launch.network.bind) add(p, NET_RIGHTS.BIND_TCP.bit);
    }
  } catch (e) {
    s.bv_close(fd);
    throw e;
  }
  return { fd, abi, handled: { fs: fsMask, net: netMask, scoped }, parentRules };
}
