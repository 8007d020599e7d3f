// bvisor.blob's warm-up (docs/startup.md): what the lifecycle commands run
// (src/cli/warm-up-records.ts), after a manifest read (YAML, schema, rules) and a plan of it for
// a typical pure cgroup v2 host (the root shell of test/vm), which create, run, validate and
// plan run. Pure work on constants, as there; nothing it computes is kept. The lifecycle blob,
// which holds no planner, gets the same plan from the build (scripts/build-snapshot.mjs).
import type { Plan } from '../contract/generated/types.js';
import { loadManifest } from '../core/manifest.js';
import { fromEntry, type ParsedEntry } from '../core/yaml-reader.js';
import { manifestCacheKey } from '../host/manifest-cache.js';
import { plan } from '../core/planner.js';
import { sha256Hex } from '../host/hash.js';
import { HOST, warmUpRecords } from './warm-up-records.js';
import { compile, encode } from '../core/seccomp/compile.js';
import { launchPolicy } from '../core/seccomp/policy.js';
import { maskOf, type FsRight } from '../core/landlock.js';
import { lower, mountPlan } from '../backends/linux/lower.js';

const MANIFEST = `bvisorVersion: "1"
workload:
  process: { exe: /bin/sh, args: ["-c", "echo hello"], cwd: / }
filesystem:
  - { path: /usr, access: read-exec }
  - { path: /srv/data, access: read-write }
network: deny
spawn: descendants
env: { PATH: /usr/bin:/bin }
stdio: { stdin: null, stdout: inherit, stderr: capture }
limits: { wall: 30s, memory: 256Mi, processes: 64, openFiles: 256 }
`;

const dir = (path: string, ino: number, uid = 0) => ({ path, kind: 'directory' as const, dev: '2049', ino: String(ino), uid, gid: uid, mode: 0o40755 });

/** The warm-up's plan: the manifest above, planned for HOST. */
export function warmPlan(): Plan {
  const { manifest, yaml } = loadManifest(MANIFEST, 'boundary.yaml');
  // create and run take the read from the state root's cache (host/manifest-cache.ts): that path
  // too, on the entry this read makes (kept as JSON there), with a located clause as a refusal's.
  const kept = JSON.parse(JSON.stringify(yaml.entry!())) as ParsedEntry;
  manifestCacheKey(MANIFEST);
  loadManifest(MANIFEST, 'boundary.yaml', fromEntry(kept)).yaml.locate(['filesystem', 1, 'access'], { key: true });
  return plan({ manifest, host: HOST, paths: { grants: [dir('/usr', 11), dir('/srv/data', 12, 65534)], exe: { path: '/usr/bin/sh', kind: 'file', dev: '2049', ino: '13', uid: 0, gid: 0, mode: 0o100755 }, module: null, root: null }, cgroupParent: null }, sha256Hex);
}

/** What a Linux launch computes before its clone (backends/linux/launcher.ts): the seccomp
 * program, the mount steps and the launch body, for the warm-up's plan. Descriptors are
 * placeholders: nothing here opens, and nothing made is kept. */
function warmLaunch(p: Plan): void {
  const launch = p.launch!;
  const bpf = encode(compile(launchPolicy(launch), 'x86_64', { notify: true }).insns);
  const { steps, slots } = mountPlan(launch, { landlock: true, ruleMask: (rights) => maskOf(rights as FsRight[]), trees: new Map(), rootfsRules: [] });
  lower({
    launch,
    argv0: launch.workload.argv0,
    env: [{ name: 'PATH', value: '/usr/bin:/bin' }],
    runtime: { exeFd: 10, cgroupFd: 11, syncFd: 12, syncPeerFd: 13, failFd: 14, landlockFd: 15, stdio: [0, 1, 2], declared: [], consoleFd: -1, netFd: -1, llMarkerFd: -1, cgroupJoin: [] },
    console: null,
    hostname: 'warm-up',
    ready: true,
    dieWithParent: false,
    engine: false,
    rootful: true,
    bpf,
    seccompNotify: true,
    seccompEarly: false,
    landlockLog: false,
    mounts: steps,
    slots,
  });
}

export function warmUp(): void {
  const p = warmPlan();
  warmUpRecords(p);
  warmLaunch(p);
}
