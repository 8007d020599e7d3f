// From manifest text to a normalised manifest: strict YAML, then the ahead-of-time schema
// validator, then the semantic rules a schema cannot say (normal paths, sane limits, clauses
// that contradict each other). Every problem is collected (not just the first) with file:line:col
// and its clause path. Defaults are NOT applied here; the planner applies them visibly.
import { BvisorError, type Issue } from '../contract/errors.js';
import type {
  BoundaryManifest,
  Guarantee,
  Access,
  NetworkMode,
  SpawnMode,
  TmpMode,
} from '../contract/generated/types.js';
import { validateBoundaryManifest } from '../contract/generated/validators-manifest.js';
import { boundarySchema } from '../contract/generated/boundary-schema.js';
import { readYamlStrict, clausePath, type PathSegment, type YamlReadResult } from './yaml-reader.js';
import { parseDuration, parseSize, sizeMeant, durationMeant, formatSize, formatDuration } from './units.js';
import type { OciExtras } from './oci/config.js';
import { isNormalAbsolute, bundleRelativeSegments, isBundleRelativeGrant, isAbsolute, hasControl, hasNameTooLong, NAME_MAX } from './paths.js';
import { nearest } from './distance.js';

export interface ClauseSetting<T> {
  value: T;
  /** The weakest guarantee accepted: the clause's own, else the manifest default, else enforced. */
  guarantee: Guarantee;
  /** Whether the manifest wrote this clause (false: the planner's default applies). */
  explicit: boolean;
}

export interface NormalGrant {
  index: number;
  path: string;
  bundleRelative: boolean;
  access: Access;
  recursive: boolean;
  guarantee: Guarantee;
  /** OCI bundles only: where the bind appears in the container (mounts[i].destination). */
  target?: string;
  /** OCI bundles only: the JSON path of the mount this grant came from (mounts[3]). */
  ociPath?: string;
  /** OCI bundles only: false for a `bind` (not `rbind`): that mount alone, without the mounts
   * beneath its source. Absent: the whole tree, as every other grant (bubblewrap's --bind). */
  submounts?: boolean;
  /** The outputs quarantine, bound at the outputs path (made by bvisor under its state root). */
  outputs?: { tmpfs: boolean };
}

export type NormalWorkload =
  | { kind: 'process'; exe: string; args: string[]; cwd: string }
  | { kind: 'wasm'; module: string; args: string[]; deterministic: boolean; seed: number | null };

export interface NormalLimits {
  wall?: ClauseSetting<number>; // ms
  cpu?: ClauseSetting<number>; // ms
  cpus?: ClauseSetting<number>;
  memory?: ClauseSetting<number>; // bytes
  processes?: ClauseSetting<number>;
  openFiles?: ClauseSetting<number>;
  fuel?: ClauseSetting<number>;
  output?: ClauseSetting<number>; // bytes
  tmpSize?: ClauseSetting<number>; // bytes
}
export type LimitName = keyof NormalLimits;
export const LIMIT_NAMES: readonly LimitName[] = ['wall', 'cpu', 'cpus', 'memory', 'processes', 'openFiles', 'fuel', 'output', 'tmpSize'];

export interface NormalManifest {
  workload: NormalWorkload;
  root: { path: string; readonly: boolean; guarantee: Guarantee } | null;
  filesystem: NormalGrant[];
  network: ClauseSetting<{ mode: NetworkMode | 'ports'; connect: number[]; bind: number[] }>;
  spawn: ClauseSetting<SpawnMode>;
  env: Array<{ name: string; value?: string; secret?: string }>;
  fds: number[];
  stdio: { stdin: string; stdout: 'null' | 'inherit' | 'capture'; stderr: 'null' | 'inherit' | 'capture' };
  limits: NormalLimits;
  tmp: ClauseSetting<TmpMode>;
  syscalls: ClauseSetting<'errno' | 'kill' | 'log'>;
  isolate: ClauseSetting<{ signals: boolean; abstractUnix: boolean }>;
  /** Capability names to keep (CAP_*). */
  capabilities: string[];
  defaultGuarantee: Guarantee;
  explicitDefaultGuarantee: boolean;
  /** Set only by bvisor for its own processes, never from YAML: the wasm runner, whose file host
   * uses openat2 (modes it chooses itself); and no core dump of a process that holds what it
   * must not write to a file (the runner: the guest's resolved secrets). */
  internal?: { wasmRunner?: true; noCoreDump?: true };
  /** Set only for an OCI bundle: what its config.json asks beyond a manifest (core/oci/config.ts). */
  oci?: OciExtras;
  /** outputs: a quarantine the workload writes and the host commits or discards. */
  outputs?: NormalOutputs | null;
}

export interface NormalOutputs {
  /** Where the workload sees it. */
  path: string;
  /** Commit's default destination: absolute, or bundle-relative (./x), or null. */
  to: string | null;
  /** Who named `to` once it is resolved for a run (app/outputs.ts prepareOutputs): the bundle's
   * ./x, or the caller's --outputs-to; absent before, null when there is none. */
  toFrom?: 'bundle' | 'caller' | null;
  commit: 'manual' | 'on-success';
  durability: 'atomic' | 'durable';
  sizeBytes: number | null;
  files: number | null;
  guarantee: Guarantee;
}

import { LIMIT_BOUNDS } from './limit-bounds.js';
export { LIMIT_BOUNDS };

export interface ManifestLoad {
  manifest: NormalManifest;
  yaml: YamlReadResult;
}

/** Parses and checks a manifest. Throws BV_MANIFEST_INVALID listing every issue. `read` is a
 * read of these very bytes already made (fromEntry: a cache of an earlier one), else they are read. */
export function loadManifest(source: string, file: string, read?: YamlReadResult): ManifestLoad {
  const yaml = read ?? readYamlStrict(source, file);
  if (yaml.issues.length > 0) throw invalid(file, yaml.issues);
  if (yaml.data === null || typeof yaml.data !== 'object' || Array.isArray(yaml.data)) {
    throw invalid(file, [{ code: 'BV_SCHEMA', clause: '', message: 'the manifest must be a mapping (bvisorVersion, workload, …)', hint: 'run `bvisor spec` for a starter manifest', file, line: 1, col: 1 }]);
  }
  if (!validateBoundaryManifest(yaml.data)) {
    const issues = schemaIssues(validateBoundaryManifest.errors ?? [], yaml, file);
    throw invalid(file, issues);
  }
  const raw = yaml.data as BoundaryManifest;
  const issues: Issue[] = [];
  const manifest = normalise(raw, (path, code, message, hint, key) => {
    const at = yaml.locate(path, { key: key ?? false });
    issues.push({ code, clause: clausePath(path), message, hint: hint ?? null, file, line: at.line, col: at.col });
  });
  if (issues.length > 0) throw invalid(file, issues);
  return { manifest, yaml };
}

function invalid(file: string, issues: Issue[]): BvisorError {
  const n = issues.length;
  return new BvisorError('BV_MANIFEST_INVALID', `${file}: ${n} problem${n === 1 ? '' : 's'} in the manifest`, {
    issues,
    hint: issues.find((i) => i.hint)?.hint ?? 'see schemas/boundary.schema.json, or run `bvisor spec` for a starter manifest',
  });
}

// ---------------------------------------------------------------------------------------------
// Schema errors → located issues

interface AjvErr {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

function pointerSegments(ptr: string): PathSegment[] {
  if (ptr === '') return [];
  return ptr
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

function schemaAt(schemaPath: string): Record<string, unknown> | undefined {
  // A $ref ('#/…') inside boundary.schema.json (its $defs are local).
  let node: unknown = boundarySchema;
  for (const seg of schemaPath.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node as Record<string, unknown> | undefined;
}

type SchemaNode = Record<string, unknown>;
const isNode = (x: unknown): x is SchemaNode => x !== null && typeof x === 'object' && !Array.isArray(x);

/** A schema node with its $ref followed (the node itself if it has none; no $def is a bare $ref). */
function deref(node: SchemaNode | undefined): SchemaNode | undefined {
  return node && typeof node.$ref === 'string' ? schemaAt(node.$ref) : node;
}

/** The schema node (as written, $ref not followed) that describes one step into `parent`. */
function stepInto(parent: SchemaNode, seg: PathSegment): SchemaNode | undefined {
  if (typeof seg === 'number') return isNode(parent.items) ? parent.items : undefined;
  const props = parent.properties;
  if (isNode(props) && isNode(props[seg])) return props[seg] as SchemaNode;
  return isNode(parent.additionalProperties) ? parent.additionalProperties : undefined;
}

/**
 * The schema node that describes the value at an instance path, found by walking the schema
 * from its root. ajv's schemaPath cannot be used for this: inside a $ref'd definition it is
 * relative to that definition ('#/anyOf' in Network), so read from the root it names the wrong
 * node. No kept error lies beneath an anyOf (those are dropped below), so the walk never has
 * to choose a branch.
 */
function schemaFor(path: PathSegment[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = boundarySchema as SchemaNode;
  for (const seg of path) {
    const here = deref(node);
    node = here && stepInto(here, seg);
  }
  return node;
}

function describe(schema: SchemaNode | undefined): string | undefined {
  if (!schema) return undefined;
  if (typeof schema.description === 'string') return schema.description;
  const ref = schema.$ref;
  if (typeof ref === 'string') return describe(schemaAt(ref));
  return undefined;
}

/** A definition's title as words: SizeLimit → "size limit" (the schema's names are not the user's). */
function words(title: string): string {
  return title.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

/**
 * What an anyOf accepts, said as its branches' own descriptions: a limit's bare value (Size:
 * "4096, 64Ki, 256Mi…") and its long form, { value, guarantee } (the manifest's guarantee words).
 * Undefined where a branch says nothing of itself.
 */
function forms(s: SchemaNode): string | undefined {
  const branches = Array.isArray(s.anyOf) ? (s.anyOf as unknown[]).filter(isNode) : [];
  const said: string[] = [];
  for (const b of branches) {
    const props = isNode(b.properties) ? b.properties : null;
    if (props && isNode(props.value) && isNode(props.guarantee)) {
      const g = deref(props.guarantee as SchemaNode);
      const values = g && Array.isArray(g.enum) ? (g.enum as unknown[]).join(' | ') : 'a guarantee';
      said.push(`Or { value: the same, guarantee: ${values} }.`);
      continue;
    }
    const d = describe(b);
    if (d === undefined) return undefined;
    said.push(d);
  }
  return said.length ? said.join(' ') : undefined;
}

/** The value written at `path` (the schema runs only on a document read without issues). */
function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let v = data;
  for (const seg of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[String(seg)] : undefined;
  return v;
}

/** For a size or duration written in another tool's units (docker's 64m, "10sec"), ours. */
function unitsMeant(title: unknown, written: unknown): string[] {
  const v = written !== null && typeof written === 'object' && 'value' in written ? (written as { value: unknown }).value : written;
  // A value that is already one (its { value, guarantee } wrong elsewhere) needs no other.
  if (title === 'SizeLimit' || title === 'Size') return typeof v === 'string' && parseSize(v) === null ? sizeMeant(v) : [];
  if (title === 'DurationLimit' || title === 'Duration') return durationMeant(v);
  return [];
}

function schemaIssues(errors: AjvErr[], yaml: YamlReadResult, file: string): Issue[] {
  // An anyOf failure explains itself better than each branch's complaint: keep the anyOf error
  // and drop every error at or beneath its instance path (no anyOf in boundary.schema.json has a
  // sibling keyword, so all of them come from its branches); of anyOf errors nested in one
  // another, keep the outermost.
  const anyOfPaths = errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath);
  const at = (p: string, a: string): boolean => p === a || p.startsWith(a + '/');
  const kept = errors.filter((e) => {
    if (e.keyword === 'anyOf') return !anyOfPaths.some((a) => a !== e.instancePath && at(e.instancePath, a));
    return !anyOfPaths.some((a) => at(e.instancePath, a));
  });
  const out: Issue[] = [];
  const seen = new Set<string>();
  for (const e of kept) {
    // A name refused by propertyNames is reported once, on the key itself (below), not again by
    // the rule inside propertyNames that it failed.
    if ((e as { propertyName?: string }).propertyName !== undefined) continue;
    let path = pointerSegments(e.instancePath);
    const node = schemaFor(path);
    let key = false;
    let message = e.message ?? e.keyword;
    let hint: string | undefined;
    switch (e.keyword) {
      case 'additionalProperties': {
        const prop = String(e.params.additionalProperty);
        path = [...path, prop];
        key = true;
        const parent = deref(node);
        const allowed = parent && isNode(parent.properties) ? Object.keys(parent.properties) : [];
        message = `unknown key "${prop}"`;
        const near = nearest(prop, allowed);
        if (allowed.length) hint = `${near ? `did you mean "${near}"? ` : ''}allowed here: ${allowed.join(', ')}`;
        break;
      }
      case 'required':
        message = `missing required key "${String(e.params.missingProperty)}"`;
        break;
      case 'enum':
        message = `must be one of: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
        break;
      case 'const':
        message = `must be ${JSON.stringify(e.params.allowedValue)}`;
        break;
      case 'anyOf': {
        const s = deref(node);
        message = `is not a valid ${typeof s?.title === 'string' ? words(s.title) : 'value'}`;
        const meant = unitsMeant(s?.title, valueAt(yaml.data, path));
        hint = [meant.length ? `did you mean ${meant.join(' or ')}?` : undefined, describe(node), s ? forms(s) : undefined].filter((x, i, all) => x && all.indexOf(x) === i).join(' ') || undefined;
        break;
      }
      case 'pattern':
        message = `has the wrong form`;
        hint = describe(node);
        break;
      case 'propertyNames': {
        const name = String(e.params.propertyName);
        path = [...path, name];
        key = true;
        message = `${JSON.stringify(name)} is not a valid name here`;
        const names = deref(node)?.propertyNames;
        hint = describe(isNode(names) ? names : undefined);
        break;
      }
      case 'minProperties':
      case 'maxProperties':
        hint = describe(node);
        break;
      default:
        break;
    }
    const clause = clausePath(path);
    const dedupe = `${clause}|${message}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    const loc = yaml.locate(path, { key });
    out.push({ code: 'BV_SCHEMA', clause, message, hint: hint ?? null, file, line: loc.line, col: loc.col });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Semantic rules

type Report = (path: PathSegment[], code: Issue['code'], message: string, hint?: string, key?: boolean) => void;

// The kernel copies each argv and envp string with its NUL terminator and refuses (E2BIG) one
// longer than MAX_ARG_STRLEN (32 pages: 131072 bytes, include/uapi/linux/binfmts.h); a NUL
// inside a string would silently cut it short. The schema bounds characters, not UTF-8 bytes.
const MAX_ARG_STRLEN = 131072;
const utf8 = new TextEncoder();

/**
 * Why this string could not reach the program unchanged, or null. Both execve(2) and WASI
 * (args_get, environ_get) hand strings over NUL-terminated; only execve has a length limit.
 */
function stringProblem(s: string, execve: boolean): string | null {
  if (s.includes('\0')) return 'contains a NUL byte, which would end it early';
  if (execve && s.length * 3 >= MAX_ARG_STRLEN && utf8.encode(s).length >= MAX_ARG_STRLEN) return `is longer than execve(2) passes (${MAX_ARG_STRLEN - 1} bytes in UTF-8)`;
  return null;
}

function checkArgs(args: readonly string[], at: PathSegment[], execve: boolean, report: Report): void {
  args.forEach((a, i) => {
    const why = stringProblem(a, execve);
    if (why) report([...at, i], 'BV_MANIFEST_STRING', `argument ${i + 1} ${why}`, `each argument reaches the program as one NUL-terminated string${execve ? ` of at most ${MAX_ARG_STRLEN - 1} bytes` : ''}`);
  });
}

function unwrap<T>(v: T | { value: T; guarantee?: Guarantee }, isObjectForm: (x: unknown) => boolean): { value: T; guarantee?: Guarantee } {
  if (isObjectForm(v)) return v as { value: T; guarantee?: Guarantee };
  return { value: v as T };
}
const hasValue = (x: unknown): boolean => x !== null && typeof x === 'object' && !Array.isArray(x) && 'value' in (x as object);

function normalise(m: BoundaryManifest, report: Report): NormalManifest {
  const defaultGuarantee: Guarantee = m.guarantee ?? 'enforced';
  const g = (own: Guarantee | undefined): Guarantee => own ?? defaultGuarantee;

  // workload
  let workload: NormalWorkload;
  if (m.workload.process) {
    const p = m.workload.process;
    if (hasControl(p.exe)) report(['workload', 'process', 'exe'], 'BV_MANIFEST_PATH', `exe ${JSON.stringify(p.exe)} holds a control character (NUL, newline, …)`, 'write the program as a plain absolute path, e.g. /usr/bin/env');
    else if (!isNormalAbsolute(p.exe)) report(['workload', 'process', 'exe'], 'BV_MANIFEST_PATH', `exe "${p.exe}" must be an absolute, normalised path`, 'write the full path, e.g. /usr/bin/env');
    const cwd = p.cwd ?? '/';
    if (hasControl(cwd)) report(['workload', 'process', 'cwd'], 'BV_MANIFEST_PATH', `cwd ${JSON.stringify(cwd)} holds a control character (NUL, newline, …)`);
    else if (!isNormalAbsolute(cwd)) report(['workload', 'process', 'cwd'], 'BV_MANIFEST_PATH', `cwd "${cwd}" must be an absolute, normalised path`);
    else if (hasNameTooLong(cwd)) report(['workload', 'process', 'cwd'], 'BV_MANIFEST_PATH', `cwd "${cwd}" has a name longer than ${NAME_MAX} bytes, which no Linux filesystem holds (NAME_MAX)`);
    checkArgs(p.args ?? [], ['workload', 'process', 'args'], true, report);
    workload = { kind: 'process', exe: p.exe, args: p.args ?? [], cwd };
  } else {
    const w = m.workload.wasm!;
    if (bundleRelativeSegments(w.module) === null) report(['workload', 'wasm', 'module'], 'BV_MANIFEST_PATH', `module ${JSON.stringify(w.module)} must be a path inside the bundle (relative, no .., no control characters)`);
    checkArgs(w.args ?? [], ['workload', 'wasm', 'args'], false, report);
    workload = { kind: 'wasm', module: w.module, args: w.args ?? [], deterministic: w.deterministic ?? false, seed: w.seed ?? null };
    if (w.seed !== undefined && !w.deterministic) report(['workload', 'wasm', 'seed'], 'BV_MANIFEST_CONFLICT', 'seed is only meaningful with deterministic: true');
  }

  // root
  let root: NormalManifest['root'] = null;
  if (m.root) {
    // Inside, not the bundle itself: bvisor makes the container's mount points in its rootfs, as
    // root, and the bundle's directory is the caller's (the API's `dir` may be any directory).
    if (!bundleRelativeSegments(m.root.path)?.length) report(['root', 'path'], 'BV_MANIFEST_PATH', `root path "${m.root.path}" must be a directory inside the bundle (relative, no .., not the bundle itself)`, 'e.g. root: { path: rootfs }');
    root = { path: m.root.path, readonly: m.root.readonly ?? true, guarantee: g(m.root.guarantee) };
    if (workload.kind === 'wasm') report(['root'], 'BV_MANIFEST_CONFLICT', 'root (container mode) applies to process workloads only');
  }

  // filesystem
  const filesystem: NormalGrant[] = [];
  const seenPaths = new Map<string, number>();
  (m.filesystem ?? []).forEach((grant, index) => {
    const rel = isBundleRelativeGrant(grant.path);
    if (rel) {
      if (bundleRelativeSegments(grant.path) === null) report(['filesystem', index, 'path'], 'BV_MANIFEST_PATH', `"${grant.path}" leaves the bundle`);
    } else if (!isNormalAbsolute(grant.path)) {
      const why = isAbsolute(grant.path) ? 'must be normalised (no //, . or .., no trailing /)' : 'must be absolute, or bundle-relative starting with ./';
      report(['filesystem', index, 'path'], 'BV_MANIFEST_PATH', `"${grant.path}" ${why}`);
    }
    const prev = seenPaths.get(grant.path);
    if (prev !== undefined) report(['filesystem', index, 'path'], 'BV_MANIFEST_CONFLICT', `"${grant.path}" is already granted by filesystem[${prev}]`, 'merge the two grants into one');
    seenPaths.set(grant.path, index);
    filesystem.push({ index, path: grant.path, bundleRelative: rel, access: grant.access, recursive: grant.recursive ?? true, guarantee: g(grant.guarantee) });
  });

  // network
  const netRaw = m.network;
  let network: NormalManifest['network'];
  if (netRaw === undefined) network = { value: { mode: 'deny', connect: [], bind: [] }, guarantee: defaultGuarantee, explicit: false };
  else if (typeof netRaw === 'string') network = { value: { mode: netRaw, connect: [], bind: [] }, guarantee: defaultGuarantee, explicit: true };
  else if ('mode' in netRaw && netRaw.mode !== undefined) network = { value: { mode: netRaw.mode, connect: [], bind: [] }, guarantee: g(netRaw.guarantee), explicit: true };
  else {
    const o = netRaw as { connect?: number[]; bind?: number[]; guarantee?: Guarantee };
    if (!o.connect && !o.bind) report(['network'], 'BV_MANIFEST_CONFLICT', 'a port allowlist needs connect or bind', 'e.g. network: { connect: [443] }');
    network = { value: { mode: 'ports', connect: [...(o.connect ?? [])].sort((a, b) => a - b), bind: [...(o.bind ?? [])].sort((a, b) => a - b) }, guarantee: g(o.guarantee), explicit: true };
  }

  // spawn, tmp
  const spawnU = m.spawn === undefined ? null : unwrap<SpawnMode>(m.spawn, hasValue);
  const spawn: NormalManifest['spawn'] = spawnU ? { value: spawnU.value, guarantee: g(spawnU.guarantee), explicit: true } : { value: 'deny', guarantee: defaultGuarantee, explicit: false };
  const tmpU = m.tmp === undefined ? null : unwrap<TmpMode>(m.tmp, hasValue);
  const tmp: NormalManifest['tmp'] = tmpU ? { value: tmpU.value, guarantee: g(tmpU.guarantee), explicit: true } : { value: 'none', guarantee: defaultGuarantee, explicit: false };

  const syscalls: NormalManifest['syscalls'] = m.syscalls
    ? { value: m.syscalls.deny ?? 'errno', guarantee: g(m.syscalls.guarantee), explicit: true }
    : { value: 'errno', guarantee: defaultGuarantee, explicit: false };

  const isolate: NormalManifest['isolate'] = {
    value: { signals: m.isolate?.signals ?? false, abstractUnix: m.isolate?.abstractUnix ?? false },
    guarantee: g(m.isolate?.guarantee),
    explicit: m.isolate !== undefined,
  };

  // env
  const env: NormalManifest['env'] = [];
  for (const [name, v] of Object.entries(m.env ?? {})) {
    if (typeof v === 'string') {
      const why = stringProblem(`${name}=${v}`, workload.kind === 'process');
      if (why) report(['env', name], 'BV_MANIFEST_STRING', `${name}=… ${why}`, 'each variable reaches the program as one NUL-terminated NAME=value string');
      env.push({ name, value: v });
    } else if (v) env.push({ name, secret: v.secret });
  }
  env.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // fds
  const fds = m.fds === undefined || m.fds === 'none' ? [] : [...m.fds];

  // stdio
  const out = (v: string | null | undefined, dflt: 'null' | 'inherit'): 'null' | 'inherit' | 'capture' => (v === undefined ? dflt : v === null ? 'null' : (v as 'null' | 'inherit' | 'capture'));
  const s = m.stdio ?? {};
  let stdin = 'null';
  if (s.stdin === 'inherit') stdin = 'inherit';
  else if (s.stdin && typeof s.stdin === 'object') {
    const f = s.stdin.file;
    if (!isNormalAbsolute(f) && bundleRelativeSegments(f) === null) report(['stdio', 'stdin', 'file'], 'BV_MANIFEST_PATH', `"${f}" must be absolute or inside the bundle`);
    stdin = `file:${f}`;
  }
  const stdio = { stdin, stdout: out(s.stdout, 'inherit'), stderr: out(s.stderr, 'inherit') };

  // limits
  const limits: NormalLimits = {};
  const rawLimits = (m.limits ?? {}) as Record<string, unknown>;
  for (const name of LIMIT_NAMES) {
    const raw = rawLimits[name];
    if (raw === undefined) continue;
    const u = unwrap<unknown>(raw, hasValue);
    let n: number | null;
    if (name === 'wall' || name === 'cpu') n = parseDuration(u.value as string);
    else if (name === 'memory' || name === 'output' || name === 'tmpSize') n = parseSize(u.value as number | string);
    else n = u.value as number;
    const path: PathSegment[] = ['limits', name];
    const b = LIMIT_BOUNDS[name];
    if (n === null) {
      report(path, 'BV_MANIFEST_LIMIT', `${JSON.stringify(u.value)} is not representable`);
      continue;
    }
    if (n < b.min || n > b.max) {
      // The bounds in the manifest's own words (1Mi…1024Ti, 1ms…720h), as a limit is written.
      const shown = (x: number): string => (b.unit === 'bytes' ? formatSize(x) : b.unit === 'ms' ? formatDuration(x) : String(x));
      report(path, 'BV_MANIFEST_LIMIT', `${JSON.stringify(u.value)} is out of range (${shown(b.min)}…${shown(b.max)}${b.unit === 'bytes' || b.unit === 'ms' ? '' : ` ${b.unit}`})`, name === 'memory' ? 'below 1Mi nothing can start; give at least a few MiB' : undefined);
      continue;
    }
    limits[name] = { value: n, guarantee: g(u.guarantee), explicit: true };
  }
  if (limits.openFiles && limits.openFiles.value < 3 + fds.length) {
    report(['limits', 'openFiles'], 'BV_MANIFEST_CONFLICT', `openFiles ${limits.openFiles.value} leaves no room for stdio and ${fds.length} passed fd(s)`);
  }

  // outputs
  let outputs: NormalOutputs | null = null;
  if (m.outputs) {
    const o = m.outputs;
    if (!isNormalAbsolute(o.path)) report(['outputs', 'path'], 'BV_MANIFEST_PATH', `outputs path "${o.path}" must be an absolute, normalised path`, 'e.g. outputs: { path: /out }');
    if (o.to !== undefined && !isNormalAbsolute(o.to) && bundleRelativeSegments(o.to) === null) report(['outputs', 'to'], 'BV_MANIFEST_PATH', `outputs to "${o.to}" must be absolute, or inside the bundle (./…)`);
    // commit: on-success without outputs.to: the caller names the destination (--outputs-to,
    // the API's outputsTo), checked when the run is prepared (app/outputs.ts prepareOutputs).
    const size = o.size === undefined ? null : parseSize(o.size as number | string);
    if (o.size !== undefined && (size === null || size < 4096)) report(['outputs', 'size'], 'BV_MANIFEST_LIMIT', `${JSON.stringify(o.size)} is not a size of at least 4096 bytes`);
    if (filesystem.some((g) => !g.bundleRelative && (g.path === o.path))) report(['outputs', 'path'], 'BV_MANIFEST_CONFLICT', `${o.path} is also a filesystem grant`, 'outputs gets its own directory; drop the grant');
    outputs = { path: o.path, to: o.to ?? null, commit: o.commit ?? 'manual', durability: o.durability ?? 'atomic', sizeBytes: size, files: o.files ?? null, guarantee: g(o.guarantee) };
    if (workload.kind === 'wasm') report(['outputs'], 'BV_MANIFEST_CONFLICT', 'outputs applies to process workloads (wasm preopens are granted with filesystem)');
  }

  return {
    outputs,
    workload,
    root,
    filesystem,
    network,
    spawn,
    env,
    fds,
    stdio,
    limits,
    tmp,
    syscalls,
    isolate,
    capabilities: [...(m.capabilities ?? [])],
    defaultGuarantee,
    explicitDefaultGuarantee: m.guarantee !== undefined,
  };
}
