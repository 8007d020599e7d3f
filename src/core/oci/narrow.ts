// A boundary that narrows an OCI config (pure): a boundary.yaml beside config.json, or the
// `org.bvisor.boundary` annotation (a podman --annotation, or a Kubernetes pod annotation that
// containerd copies into config.json), in the manifest's own language minus what the config
// decides (the workload, the root, env, fds, stdio, tmp). It can only narrow: every clause it
// writes is intersected with what the config asks, and a clause that would widen the config is
// refused, named and hinted, like any other.
//
//   filesystem  landlock grants inside the container: only these paths (container paths) are
//               reachable, with at most these rights; the config's binds keep only the rights
//               a grant covering them gives. /proc, /dev and /sys stay as the config mounts them.
//   network     deny narrows a private network (no IP sockets); ports narrow the host network
//   spawn, syscalls, isolate, capabilities, limits (the smaller of the two), guarantee
import type { Refusal, ClauseVerdict } from '../../contract/generated/types.js';
import { BvisorError } from '../../contract/errors.js';
import { loadManifest, LIMIT_NAMES, type NormalManifest, type LimitName } from '../manifest.js';
import { readYamlStrict, type YamlReadResult } from '../yaml-reader.js';
import type { OciExtras } from './config.js';

/** A grant of the narrowing boundary: a path inside the container. */
export interface NarrowGrant {
  clause: string;
  path: string;
  access: NormalManifest['filesystem'][number]['access'];
  recursive: boolean;
}

/** The config decides these; a narrowing boundary that writes them is refused (BV_MANIFEST_CONFLICT). */
const CONFIG_OWNED = ['workload', 'root', 'env', 'fds', 'stdio', 'tmp'] as const;
const SPAWN_RANK = { deny: 0, threads: 1, descendants: 2 } as const;

/**
 * Parses a narrowing boundary (YAML text) with the manifest's strict reader and schema, its
 * problems located in `file`. The workload comes from the config, so a placeholder is appended
 * at the end of the text (line numbers of what the user wrote do not move).
 */
export function loadNarrowing(text: string, file: string): Narrowing {
  // The document's own top-level keys (quoted, explicit `? key` forms included), not a guess
  // from the text; a document that does not parse is reported by loadManifest below.
  const parsed = readYamlStrict(text, file);
  const keys = parsed.data !== null && typeof parsed.data === 'object' && !Array.isArray(parsed.data) ? Object.keys(parsed.data as object) : [];
  const owned = CONFIG_OWNED.filter((k) => keys.includes(k));
  if (owned.length) {
    throw new BvisorError('BV_MANIFEST_INVALID', `${file}: ${owned.join(', ')} ${owned.length === 1 ? 'comes' : 'come'} from config.json; a boundary beside an OCI config only narrows it`, {
      issues: owned.map((k) => ({ code: 'BV_MANIFEST_CONFLICT' as const, clause: k, message: `${k} is decided by config.json`, hint: 'remove it from the narrowing boundary', file, line: lineOf(text, k), col: 1 })),
      hint: `remove ${owned.join(', ')}: config.json decides ${owned.length === 1 ? 'it' : 'them'}`,
    });
  }
  const body = keys.includes('bvisorVersion') ? text : `bvisorVersion: "1"\n${text}`;
  const manifest = loadManifest(`${body.endsWith('\n') ? body : body + '\n'}workload: { process: { exe: /config.json } }\n`, file).manifest;
  // Which clauses were written at all (an absent capabilities clause keeps the config's; an
  // empty one drops them all).
  const written = new Set(keys);
  return { manifest, written, read: parsed };
}

export interface Narrowing {
  manifest: NormalManifest;
  written: ReadonlySet<string>;
  /** The text as the user wrote it, read: where each clause it writes is (line:col). */
  read: Pick<YamlReadResult, 'locate'>;
}

function lineOf(text: string, key: string): number {
  const i = text.split('\n').findIndex((l) => l.startsWith(key));
  return i < 0 ? 1 : i + 1;
}

/**
 * The config's manifest narrowed by `n` (from loadNarrowing): a new manifest whose clauses are
 * each at most the config's, with a verdict per narrowed clause and a refusal per clause that
 * would widen. `source` names where the boundary came from (boundary.yaml, the annotation).
 */
export function narrowOci(m: NormalManifest & { oci: OciExtras }, narrowing: Narrowing, source: string): NormalManifest & { oci: OciExtras } {
  const n = narrowing.manifest;
  const verdicts: ClauseVerdict[] = [];
  const refusals: Refusal[] = [];
  const at = (clause: string): string => `${source}:${clause}`;
  const ok = (clause: string, requested: string, mechanism: string, reason: string): void => {
    verdicts.push({ clause: at(clause), requested, guarantee: 'enforced', verdict: 'enforced', mechanism, reason });
  };
  const no = (clause: string, reason: string, hint: string): void => {
    refusals.push({ code: 'BV_MANIFEST_CONFLICT', clause: at(clause), reason, hint });
  };
  const out: NormalManifest & { oci: OciExtras } = { ...m, limits: { ...m.limits }, oci: { ...m.oci, rlimits: [...m.oci.rlimits] } };

  // limits: the smaller one; a limit the config lacks is added (wall, cpu…).
  for (const name of LIMIT_NAMES) {
    const l = n.limits[name as LimitName];
    if (!l) continue;
    const mine = m.limits[name as LimitName];
    if (name === 'fuel' && m.workload.kind !== 'wasm') {
      no('limits.fuel', 'fuel counts Wasm instructions; this is a Linux container', 'remove limits.fuel');
      continue;
    }
    // openFiles is the config's RLIMIT_NOFILE when it has one: one rlimit, the smaller of both.
    const nofile = name === 'openFiles' ? out.oci.rlimits.find((x) => x.resource === 'nofile') : undefined;
    if (nofile) {
      out.oci.rlimits = out.oci.rlimits.map((x) => (x === nofile ? { ...x, soft: Math.min(x.soft, l.value), hard: Math.min(x.hard, l.value) } : x));
      ok('limits.openFiles', String(l.value), 'narrowed', `RLIMIT_NOFILE: the smaller of the config's ${nofile.soft}/${nofile.hard} and the boundary's ${l.value}`);
      continue;
    }
    if (!mine || l.value < mine.value) out.limits[name as LimitName] = { ...l };
    ok(`limits.${name}`, String(l.value), 'narrowed', mine ? `the smaller of the config's ${mine.value} and the boundary's ${l.value}` : 'the config sets none');
  }

  // spawn, syscalls, isolate, guarantee
  if (n.spawn.explicit) {
    if (SPAWN_RANK[n.spawn.value] <= SPAWN_RANK[m.spawn.value]) out.spawn = { ...n.spawn };
    ok('spawn', n.spawn.value, 'narrowed', `containers may make processes; the boundary allows ${n.spawn.value}`);
  }
  if (n.syscalls.explicit) {
    if (n.syscalls.value === 'log') no('syscalls', 'deny: log would let through what the default denylist denies', 'use errno or kill');
    else out.syscalls = { ...n.syscalls };
  }
  if (n.isolate.explicit) out.isolate = { value: { signals: m.isolate.value.signals || n.isolate.value.signals, abstractUnix: m.isolate.value.abstractUnix || n.isolate.value.abstractUnix }, guarantee: n.isolate.guarantee, explicit: true };

  // network: only narrower modes.
  if (n.network.explicit) {
    const from = m.network.value.mode;
    const to = n.network.value.mode;
    if (to === 'host' && from !== 'host') no('network', `host networking would widen the config's ${from} network`, 'keep network: deny or loopback, or give the container the host network in the config');
    else if (to === 'ports' && from !== 'host') no('network', 'port rules narrow the host network; this config gives the container a private network namespace', 'drop the network namespace from the config (host networking) to filter its ports, or use network: deny');
    else if (to === 'loopback' && from === 'host') no('network', 'a private loopback network instead of the host network would change the container\'s namespaces, not narrow them', 'use network ports ({ connect: [...] }) to narrow the host network');
    else {
      out.network = { ...n.network };
      ok('network', to, 'narrowed', `the config asks ${from}`);
    }
  }

  // filesystem: the container's reachable paths.
  if (n.filesystem.length) {
    const grants: NarrowGrant[] = [];
    for (const g of n.filesystem) {
      if (g.bundleRelative) {
        no(`filesystem[${g.index}]`, 'a narrowing grant is a path inside the container', `write it absolute, as the container sees it (e.g. /${g.path.replace(/^\.\//, '')})`);
        continue;
      }
      grants.push({ clause: at(`filesystem[${g.index}]`), path: g.path, access: g.access, recursive: g.recursive });
    }
    out.oci.narrowFs = [...(m.oci.narrowFs ?? []), ...grants];
    ok('filesystem', `${grants.length} grant(s) inside the container`, 'linux:landlock(container paths)', 'only these paths of the container are reachable (with at most the config\'s rights: its mounts\' flags still hold)');
  }
  if (narrowing.written.has('capabilities')) {
    out.capabilities = m.capabilities.filter((c) => n.capabilities.includes(c));
    ok('capabilities', n.capabilities.join(', '), 'narrowed', 'the config\'s capabilities that the boundary also lists');
  }
  out.oci.verdicts = [...m.oci.verdicts, ...verdicts];
  out.oci.refusals = [...m.oci.refusals, ...refusals];
  return out;
}
