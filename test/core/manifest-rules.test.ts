// The manifest's semantic rules and its normal form (src/core/manifest.ts normalise): what a
// manifest means when a clause is left out (the defaults schemas/boundary.schema.json documents in
// its descriptions), the rules the schema cannot say (normal paths, limits with a meaning, clauses
// that contradict each other), each refused with its issue code (docs/errors.md, "Issue codes"),
// the clause it is about and, where the fix is known, a hint. The good/bad fixture table in
// test/contract pins codes and locations; this file pins what each rule decides.
import { describe, expect, it } from 'vitest';
import { loadManifest, type NormalManifest } from '../../src/core/manifest.js';
import { BvisorError, type Issue } from '../../src/contract/errors.js';

const HEAD = 'bvisorVersion: "1"\n';
const PROC = HEAD + 'workload:\n  process: { exe: /usr/bin/true }\n';
const WASM = HEAD + 'workload:\n  wasm: { module: m.wasm }\n';

const load = (text: string): NormalManifest => loadManifest(text, 'b/boundary.yaml').manifest;

function refused(text: string): BvisorError {
  try {
    loadManifest(text, 'b/boundary.yaml');
  } catch (e) {
    if (e instanceof BvisorError) return e;
    throw e;
  }
  throw new Error('the manifest was accepted');
}
const issuesOf = (text: string): Issue[] => refused(text).issues;
/** The one issue of a manifest with exactly one problem: [code, clause]. */
function only(text: string): Issue {
  const issues = issuesOf(text);
  expect(issues, JSON.stringify(issues)).toHaveLength(1);
  return issues[0]!;
}

describe('defaults: what a clause left out means (the schema descriptions)', () => {
  it('a process manifest with nothing but its program', () => {
    const m = load(PROC);
    expect(m).toEqual({
      outputs: null,
      workload: { kind: 'process', exe: '/usr/bin/true', args: [], cwd: '/' }, // "Absolute working directory; default /."
      root: null,
      filesystem: [],
      network: { value: { mode: 'deny', connect: [], bind: [] }, guarantee: 'enforced', explicit: false }, // "deny (default)"
      spawn: { value: 'deny', guarantee: 'enforced', explicit: false }, // "deny (default)"
      env: [], // "The exact environment of the workload. Nothing is inherited."
      fds: [], // "none (default): only stdio"
      stdio: { stdin: 'null', stdout: 'inherit', stderr: 'inherit' }, // "Default: stdin null, stdout and stderr inherit."
      limits: {}, // "An absent limit is not requested"
      tmp: { value: 'none', guarantee: 'enforced', explicit: false }, // "none (default): no /tmp grant"
      syscalls: { value: 'errno', guarantee: 'enforced', explicit: false }, // "errno (default)"
      isolate: { value: { signals: false, abstractUnix: false }, guarantee: 'enforced', explicit: false },
      capabilities: [], // "Capabilities to keep (default: none)"
      defaultGuarantee: 'enforced',
      explicitDefaultGuarantee: false,
    });
  });

  it('a wasm module: no arguments, not deterministic, no seed of its own', () => {
    expect(load(WASM).workload).toEqual({ kind: 'wasm', module: 'm.wasm', args: [], deterministic: false, seed: null });
  });

  it('the manifest guarantee is every clause’s that names none, and says it was written', () => {
    const m = load(PROC + 'guarantee: mediated\nfilesystem:\n  - { path: /usr, access: read }\n  - { path: /srv, access: read, guarantee: best-effort }\nnetwork: host\nspawn: threads\ntmp: private\nsyscalls: { deny: kill }\nisolate: { signals: true }\nlimits: { wall: 1s }\n');
    expect(m.defaultGuarantee).toBe('mediated');
    expect(m.explicitDefaultGuarantee).toBe(true);
    expect([m.filesystem[0]!.guarantee, m.filesystem[1]!.guarantee]).toEqual(['mediated', 'best-effort']);
    for (const c of [m.network, m.spawn, m.tmp, m.syscalls, m.isolate, m.limits.wall!]) expect(c.guarantee).toBe('mediated');
  });

  it('a grant is recursive unless it says otherwise ("default true")', () => {
    const m = load(PROC + 'filesystem:\n  - { path: /usr, access: read }\n  - { path: /etc/hosts, access: read, recursive: false }\n');
    expect(m.filesystem).toEqual([
      { index: 0, path: '/usr', bundleRelative: false, access: 'read', recursive: true, guarantee: 'enforced' },
      { index: 1, path: '/etc/hosts', bundleRelative: false, access: 'read', recursive: false, guarantee: 'enforced' },
    ]);
  });

  it('a rootfs is read-only unless it says otherwise (fail closed), and carries its guarantee', () => {
    expect(load(PROC + 'root: { path: rootfs }\n').root).toEqual({ path: 'rootfs', readonly: true, guarantee: 'enforced' });
    expect(load(PROC + 'root: { path: rootfs, readonly: false, guarantee: best-effort }\n').root).toEqual({ path: 'rootfs', readonly: false, guarantee: 'best-effort' });
  });
});

describe('clauses written out', () => {
  it('network as a word, as { mode, guarantee }, as ports', () => {
    expect(load(PROC + 'network: host\n').network).toEqual({ value: { mode: 'host', connect: [], bind: [] }, guarantee: 'enforced', explicit: true });
    expect(load(PROC + 'network: { mode: loopback, guarantee: best-effort }\n').network).toEqual({ value: { mode: 'loopback', connect: [], bind: [] }, guarantee: 'best-effort', explicit: true });
    expect(load(PROC + 'network: { connect: [443], guarantee: mediated }\n').network).toEqual({ value: { mode: 'ports', connect: [443], bind: [] }, guarantee: 'mediated', explicit: true });
    expect(load(PROC + 'network: { bind: [8080] }\n').network.value).toEqual({ mode: 'ports', connect: [], bind: [8080] });
  });

  it('ports are a set: their order in the manifest does not change the boundary (numeric order, so the plan hash is the same)', () => {
    const a = load(PROC + 'network: { connect: [8080, 443, 80], bind: [9000, 22] }\n').network;
    const b = load(PROC + 'network: { connect: [80, 8080, 443], bind: [22, 9000] }\n').network;
    expect(a).toEqual(b);
    expect(a.value.connect).toEqual([80, 443, 8080]);
    expect(a.value.bind).toEqual([22, 9000]);
  });

  it('a port allowlist with neither connect nor bind is a contradiction, with an example', () => {
    const i = only(PROC + 'network: { guarantee: enforced }\n');
    expect(i).toMatchObject({ code: 'BV_MANIFEST_CONFLICT', clause: 'network', message: expect.stringMatching(/needs connect or bind/), hint: expect.stringMatching(/connect: \[/) });
    // An empty list is a list: no TCP connect at all, binding nothing.
    expect(load(PROC + 'network: { connect: [] }\n').network.value).toEqual({ mode: 'ports', connect: [], bind: [] });
  });

  it('spawn, tmp: a word or { value, guarantee }', () => {
    expect(load(PROC + 'spawn: threads\n').spawn).toEqual({ value: 'threads', guarantee: 'enforced', explicit: true });
    expect(load(PROC + 'spawn: { value: descendants, guarantee: mediated }\nlimits: { processes: 4 }\n').spawn).toEqual({ value: 'descendants', guarantee: 'mediated', explicit: true });
    expect(load(PROC + 'tmp: private\n').tmp).toEqual({ value: 'private', guarantee: 'enforced', explicit: true });
    expect(load(PROC + 'tmp: { value: none, guarantee: best-effort }\n').tmp).toEqual({ value: 'none', guarantee: 'best-effort', explicit: true });
  });

  it('syscalls and isolate written empty are written: their defaults, marked explicit', () => {
    expect(load(PROC + 'syscalls: {}\n').syscalls).toEqual({ value: 'errno', guarantee: 'enforced', explicit: true });
    expect(load(PROC + 'syscalls: { deny: log, guarantee: best-effort }\n').syscalls).toEqual({ value: 'log', guarantee: 'best-effort', explicit: true });
    expect(load(PROC + 'isolate: {}\n').isolate).toEqual({ value: { signals: false, abstractUnix: false }, guarantee: 'enforced', explicit: true });
    expect(load(PROC + 'isolate: { abstractUnix: true, guarantee: mediated }\n').isolate).toEqual({ value: { signals: false, abstractUnix: true }, guarantee: 'mediated', explicit: true });
  });

  it('env: values and secret references, in name order whatever the manifest’s order', () => {
    const a = load(PROC + 'env: { ZED: z, TOKEN: { secret: api-token }, A_B: "", HOME: /nonexistent }\n').env;
    expect(a).toEqual([
      { name: 'A_B', value: '' },
      { name: 'HOME', value: '/nonexistent' },
      { name: 'TOKEN', secret: 'api-token' },
      { name: 'ZED', value: 'z' },
    ]);
    expect(load(PROC + 'env: { HOME: /nonexistent, A_B: "", ZED: z, TOKEN: { secret: api-token } }\n').env).toEqual(a);
    // Code-unit order, as the bytes of environ compare: upper case before _ before lower case.
    expect(load(PROC + 'env: { b: "1", _: "2", B: "3", a: "4" }\n').env.map((e) => e.name)).toEqual(['B', '_', 'a', 'b']);
  });

  it('fds: none is no descriptor; a list keeps its order, since it is renumbered from 3 in that order', () => {
    expect(load(PROC + 'fds: none\n').fds).toEqual([]);
    expect(load(PROC + 'fds: [5, 3]\n').fds).toEqual([5, 3]);
  });

  it('stdio: every stdin form; null and "null" are the same', () => {
    expect(load(PROC + 'stdio: { stdin: inherit }\n').stdio.stdin).toBe('inherit');
    expect(load(PROC + 'stdio: { stdin: null }\n').stdio.stdin).toBe('null');
    expect(load(PROC + 'stdio: { stdin: "null" }\n').stdio.stdin).toBe('null');
    expect(load(PROC + 'stdio: { stdin: { file: /data/in.txt } }\n').stdio.stdin).toBe('file:/data/in.txt');
    expect(load(PROC + 'stdio: { stdin: { file: ./in.txt } }\n').stdio.stdin).toBe('file:./in.txt');
    expect(load(PROC + 'stdio: { stdin: { file: data/in.txt } }\n').stdio.stdin).toBe('file:data/in.txt');
  });

  it('stdio: stdout and stderr each null, inherit or capture; YAML null is "null"', () => {
    expect(load(PROC + 'stdio: { stdout: null, stderr: capture }\n').stdio).toEqual({ stdin: 'null', stdout: 'null', stderr: 'capture' });
    expect(load(PROC + 'stdio: { stdout: capture }\n').stdio).toEqual({ stdin: 'null', stdout: 'capture', stderr: 'inherit' });
    expect(load(PROC + 'stdio: { stderr: "null" }\n').stdio).toEqual({ stdin: 'null', stdout: 'inherit', stderr: 'null' });
  });

  it('a stdin file outside the bundle by .., or not a path, is refused', () => {
    for (const f of ['../secret', 'a/../../b', '/tmp/../etc/shadow']) {
      expect(only(PROC + `stdio: { stdin: { file: "${f}" } }\n`)).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'stdio.stdin.file', message: `"${f}" must be absolute or inside the bundle` });
    }
  });

  it('capabilities are kept as written', () => {
    expect(load(PROC + 'capabilities: [CAP_NET_BIND_SERVICE, CAP_CHOWN]\n').capabilities).toEqual(['CAP_NET_BIND_SERVICE', 'CAP_CHOWN']);
  });
});

describe('the program, its arguments and its working directory', () => {
  it('a relative or unnormalised program is refused with an example of a full path', () => {
    for (const exe of ['true', 'bin/true', '/usr/bin/../bin/true', '/usr//bin/true', '/usr/bin/true/']) {
      expect(only(HEAD + `workload:\n  process: { exe: "${exe}" }\n`)).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'workload.process.exe', message: `exe "${exe}" must be an absolute, normalised path`, hint: expect.stringMatching(/\/usr\/bin\/env/) });
    }
  });

  it('a control character in the program is named as such, escaped so it cannot forge a line', () => {
    const i = only(HEAD + 'workload:\n  process: { exe: "/usr/bin/x\\ny" }\n');
    expect(i).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'workload.process.exe', message: 'exe "/usr/bin/x\\ny" holds a control character (NUL, newline, …)', hint: expect.stringMatching(/plain absolute path/) });
    expect(i.message).not.toContain('\n');
  });

  it('a cwd with a name longer than NAME_MAX (255 bytes, limits.h) is refused; 255 is fine', () => {
    const long = 'é'.repeat(128); // 256 bytes in UTF-8, 128 characters
    expect(only(HEAD + `workload:\n  process: { exe: /usr/bin/true, cwd: /srv/${long} }\n`)).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'workload.process.cwd', message: `cwd "/srv/${long}" has a name longer than 255 bytes, which no Linux filesystem holds (NAME_MAX)` });
    expect(loadManifest(HEAD + `workload:\n  process: { exe: /usr/bin/true, cwd: /srv/${'a'.repeat(255)} }\n`, 'm.yaml').manifest.workload).toMatchObject({ cwd: `/srv/${'a'.repeat(255)}` });
  });

  it('a relative or unnormalised cwd is refused; a control character in it is named', () => {
    expect(only(HEAD + 'workload:\n  process: { exe: /usr/bin/true, cwd: work }\n')).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'workload.process.cwd', message: 'cwd "work" must be an absolute, normalised path' });
    expect(only(HEAD + 'workload:\n  process: { exe: /usr/bin/true, cwd: /srv/./x }\n')).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'workload.process.cwd' });
    expect(only(HEAD + 'workload:\n  process: { exe: /usr/bin/true, cwd: "/srv\\tx" }\n')).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'workload.process.cwd', message: 'cwd "/srv\\tx" holds a control character (NUL, newline, …)' });
    expect(load(HEAD + 'workload:\n  process: { exe: /usr/bin/true, cwd: /srv/x }\n').workload).toMatchObject({ cwd: '/srv/x' });
  });

  it('arguments are kept in order; a bad one is named by its position counted from 1 (argv[1] is the first)', () => {
    expect(load(HEAD + 'workload:\n  process: { exe: /usr/bin/echo, args: [a, "", b] }\n').workload).toMatchObject({ args: ['a', '', 'b'] });
    const i = only(HEAD + 'workload:\n  process: { exe: /usr/bin/echo, args: [a, b, "c\\0"] }\n');
    expect(i).toMatchObject({ code: 'BV_MANIFEST_STRING', clause: 'workload.process.args[2]', message: 'argument 3 contains a NUL byte, which would end it early' });
    // execve(2): at most MAX_ARG_STRLEN (131072) bytes with the NUL, so 131071 bytes of text.
    expect(i.hint).toBe('each argument reaches the program as one NUL-terminated string of at most 131071 bytes');
  });

  it('a long argument names execve’s limit in bytes; a wasm argument has no such limit, only the NUL rule', () => {
    const long = 'x'.repeat(131072);
    const i = only(HEAD + `workload:\n  process: { exe: /usr/bin/echo, args: ["${long}"] }\n`);
    expect(i.message).toBe('argument 1 is longer than execve(2) passes (131071 bytes in UTF-8)');
    // Exactly 131071 bytes + NUL fit.
    expect(load(HEAD + `workload:\n  process: { exe: /usr/bin/echo, args: ["${'x'.repeat(131071)}"] }\n`).workload).toMatchObject({ kind: 'process' });
    const w = only(HEAD + 'workload:\n  wasm: { module: m.wasm, args: ["a\\0"] }\n');
    expect(w).toMatchObject({ code: 'BV_MANIFEST_STRING', clause: 'workload.wasm.args[0]', message: 'argument 1 contains a NUL byte, which would end it early', hint: 'each argument reaches the program as one NUL-terminated string' });
  });

  it('a UTF-8 argument is measured in bytes: 43691 three-byte characters are over the limit though short in characters', () => {
    const i = only(HEAD + `workload:\n  process: { exe: /usr/bin/echo, args: ["${'€'.repeat(43691)}"] }\n`);
    expect(i.code).toBe('BV_MANIFEST_STRING');
    expect(load(HEAD + `workload:\n  process: { exe: /usr/bin/echo, args: ["${'€'.repeat(43690)}"] }\n`).workload.kind).toBe('process');
  });

  it('an environment string is NAME=value: the limit counts both, for a process only', () => {
    const v = 'x'.repeat(131072 - 3); // "AB=" + v = 131072 bytes: one too many with the NUL
    expect(only(PROC + `env: { AB: "${v}" }\n`)).toMatchObject({ code: 'BV_MANIFEST_STRING', clause: 'env.AB', message: 'AB=… is longer than execve(2) passes (131071 bytes in UTF-8)', hint: 'each variable reaches the program as one NUL-terminated NAME=value string' });
    expect(load(WASM + `env: { AB: "${v}" }\n`).env).toEqual([{ name: 'AB', value: v }]);
  });
});

describe('wasm modules and the rootfs: paths inside the bundle', () => {
  it('a module outside the bundle is refused', () => {
    for (const mod of ['/abs/m.wasm', '../m.wasm', 'lib/../../m.wasm']) {
      expect(only(HEAD + `workload:\n  wasm: { module: "${mod}" }\n`)).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'workload.wasm.module', message: `module "${mod}" must be a path inside the bundle (relative, no .., no control characters)` });
    }
    expect(load(HEAD + 'workload:\n  wasm: { module: ./lib/m.wasm }\n').workload).toMatchObject({ module: './lib/m.wasm' });
  });

  it('a seed needs deterministic: true', () => {
    expect(only(HEAD + 'workload:\n  wasm: { module: m.wasm, seed: 7 }\n')).toMatchObject({ code: 'BV_MANIFEST_CONFLICT', clause: 'workload.wasm.seed', message: 'seed is only meaningful with deterministic: true' });
    expect(only(HEAD + 'workload:\n  wasm: { module: m.wasm, seed: 7, deterministic: false }\n').clause).toBe('workload.wasm.seed');
    expect(load(HEAD + 'workload:\n  wasm: { module: m.wasm, seed: 7, deterministic: true }\n').workload).toEqual({ kind: 'wasm', module: 'm.wasm', args: [], deterministic: true, seed: 7 });
    expect(load(HEAD + 'workload:\n  wasm: { module: m.wasm, seed: 0, deterministic: true }\n').workload).toMatchObject({ seed: 0 });
  });

  it('a rootfs outside the bundle, or the bundle itself, is refused with an example', () => {
    // The bundle itself: bvisor would make its mount points, as root, in the caller's directory
    // (the API's dir may be any directory, / included).
    for (const path of ['.', './', './.']) expect(only(PROC + `root: { path: "${path}" }\n`), path).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'root.path' });
    for (const path of ['/var/lib/rootfs', '../rootfs', '.', './', './.']) {
      expect(only(PROC + `root: { path: "${path}" }\n`)).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'root.path', message: `root path "${path}" must be a directory inside the bundle (relative, no .., not the bundle itself)`, hint: 'e.g. root: { path: rootfs }' });
    }
  });

  it('container mode is for processes: root with a wasm workload is a contradiction', () => {
    expect(only(WASM + 'root: { path: rootfs }\n')).toMatchObject({ code: 'BV_MANIFEST_CONFLICT', clause: 'root', message: 'root (container mode) applies to process workloads only' });
  });
});

describe('filesystem grants', () => {
  it('absolute paths must be normal, bundle-relative ones start with ./ and stay inside; each refusal says which', () => {
    expect(only(PROC + 'filesystem:\n  - { path: /srv/, access: read }\n')).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'filesystem[0].path', message: '"/srv/" must be normalised (no //, . or .., no trailing /)' });
    expect(only(PROC + 'filesystem:\n  - { path: srv, access: read }\n')).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'filesystem[0].path', message: '"srv" must be absolute, or bundle-relative starting with ./' });
    expect(only(PROC + 'filesystem:\n  - { path: ./a/../../b, access: read }\n')).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'filesystem[0].path', message: '"./a/../../b" leaves the bundle' });
    expect(load(PROC + 'filesystem:\n  - { path: ./data, access: read }\n  - { path: ., access: read }\n').filesystem.map((g) => [g.path, g.bundleRelative])).toEqual([
      ['./data', true],
      ['.', true],
    ]);
  });

  it('the same path granted twice is a conflict naming the first grant, with a hint to merge', () => {
    expect(only(PROC + 'filesystem:\n  - { path: /srv, access: read }\n  - { path: /usr, access: read }\n  - { path: /srv, access: write }\n')).toMatchObject({ code: 'BV_MANIFEST_CONFLICT', clause: 'filesystem[2].path', message: '"/srv" is already granted by filesystem[0]', hint: 'merge the two grants into one' });
  });
});

describe('limits: a number with a meaning', () => {
  it('durations and sizes in the units grammar; counts and cores as written; each with its guarantee', () => {
    const m = load(PROC + 'tmp: private\nlimits: { wall: 1.5s, cpu: 2m, memory: 64Mi, output: 1Ki, tmpSize: { value: 4096, guarantee: best-effort }, processes: 8, openFiles: 64, cpus: 0.5 }\n');
    expect(m.limits).toEqual({
      wall: { value: 1500, guarantee: 'enforced', explicit: true },
      cpu: { value: 120_000, guarantee: 'enforced', explicit: true },
      memory: { value: 64 * 2 ** 20, guarantee: 'enforced', explicit: true },
      output: { value: 1024, guarantee: 'enforced', explicit: true },
      tmpSize: { value: 4096, guarantee: 'best-effort', explicit: true },
      processes: { value: 8, guarantee: 'enforced', explicit: true },
      openFiles: { value: 64, guarantee: 'enforced', explicit: true },
      cpus: { value: 0.5, guarantee: 'enforced', explicit: true },
    });
    expect(load(WASM + 'limits: { fuel: 1000 }\n').limits.fuel).toEqual({ value: 1000, guarantee: 'enforced', explicit: true });
  });

  it('output may be 0: nothing kept', () => {
    expect(load(PROC + 'limits: { output: 0 }\n').limits.output?.value).toBe(0);
  });

  it('a wall of 30 days is the most (docs/lifecycle.md: "walls up to the schema\'s 30 days"); a minute more is out of range', () => {
    expect(load(PROC + 'limits: { wall: 720h }\n').limits.wall?.value).toBe(30 * 24 * 3_600_000);
    const i = only(PROC + 'limits: { wall: 721h }\n');
    // The bounds in the manifest's own words (a new-user pass read "(1…2592000000 ms)").
    expect(i).toMatchObject({ code: 'BV_MANIFEST_LIMIT', clause: 'limits.wall', message: '"721h" is out of range (1ms…720h)', hint: null });
  });

  it('memory below 1Mi cannot start anything: out of range, with the hint to give a few MiB', () => {
    expect(only(PROC + 'limits: { memory: 1Ki }\n')).toMatchObject({ code: 'BV_MANIFEST_LIMIT', clause: 'limits.memory', message: '"1Ki" is out of range (1Mi…1024Ti)', hint: expect.stringMatching(/1Mi/) });
    expect(load(PROC + 'limits: { memory: 1Mi }\n').limits.memory?.value).toBe(2 ** 20);
  });

  it('other limits out of range carry no memory hint', () => {
    // Fewer than the three stdio descriptors; more processes than PID_MAX_LIMIT (4194304,
    // include/linux/threads.h).
    expect(only(PROC + 'limits: { openFiles: 2 }\n')).toMatchObject({ code: 'BV_MANIFEST_LIMIT', clause: 'limits.openFiles', hint: null });
    expect(only(PROC + 'limits: { processes: 4194305 }\n')).toMatchObject({ code: 'BV_MANIFEST_LIMIT', clause: 'limits.processes', message: '4194305 is out of range (1…4194304 count)', hint: null });
    expect(load(PROC + 'limits: { processes: 4194304 }\n').limits.processes?.value).toBe(4194304);
  });

  it('a size too large to hold exactly is not representable, and that is what the issue says', () => {
    expect(only(PROC + 'limits: { memory: 999999999999999Ti }\n')).toMatchObject({ code: 'BV_MANIFEST_LIMIT', clause: 'limits.memory', message: '"999999999999999Ti" is not representable' });
  });

  it('openFiles must leave room for stdio and every passed descriptor', () => {
    // fds [3, 4] become 3 and 4: descriptors 0..4, five of them.
    expect(load(PROC + 'fds: [3, 4]\nlimits: { openFiles: 5 }\n').limits.openFiles?.value).toBe(5);
    expect(only(PROC + 'fds: [3, 4]\nlimits: { openFiles: 4 }\n')).toMatchObject({ code: 'BV_MANIFEST_CONFLICT', clause: 'limits.openFiles', message: 'openFiles 4 leaves no room for stdio and 2 passed fd(s)' });
  });
});

describe('outputs', () => {
  it('defaults: committed by hand, atomically, to no destination yet, without limits ("manual (default)", "atomic (default)")', () => {
    expect(load(PROC + 'outputs: { path: /out }\n').outputs).toEqual({ path: '/out', to: null, commit: 'manual', durability: 'atomic', sizeBytes: null, files: null, guarantee: 'enforced' });
    expect(load(PROC + 'guarantee: best-effort\noutputs: { path: /out, to: ./results, commit: on-success, durability: durable, size: 1Mi, files: 100 }\n').outputs).toEqual({ path: '/out', to: './results', commit: 'on-success', durability: 'durable', sizeBytes: 2 ** 20, files: 100, guarantee: 'best-effort' });
    expect(load(PROC + 'outputs: { path: /out, to: /srv/results, guarantee: mediated }\n').outputs).toMatchObject({ to: '/srv/results', guarantee: 'mediated' });
  });

  it('the path where the workload sees it is absolute and normal', () => {
    expect(only(PROC + 'outputs: { path: out }\n')).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'outputs.path', message: 'outputs path "out" must be an absolute, normalised path', hint: 'e.g. outputs: { path: /out }' });
  });

  it('the destination is absolute, or inside the bundle', () => {
    expect(only(PROC + 'outputs: { path: /out, to: ../elsewhere }\n')).toMatchObject({ code: 'BV_MANIFEST_PATH', clause: 'outputs.to', message: 'outputs to "../elsewhere" must be absolute, or inside the bundle (./…)' });
    expect(load(PROC + 'outputs: { path: /out, to: results }\n').outputs?.to).toBe('results');
  });

  it('commit: on-success without a destination is the caller\'s to complete (--outputs-to): the manifest stands', () => {
    expect(load(PROC + 'outputs: { path: /out, commit: on-success }\n').outputs).toMatchObject({ commit: 'on-success', to: null });
  });

  it('a size limit is at least 4096 bytes', () => {
    expect(only(PROC + 'outputs: { path: /out, size: 4095 }\n')).toMatchObject({ code: 'BV_MANIFEST_LIMIT', clause: 'outputs.size', message: '4095 is not a size of at least 4096 bytes' });
    expect(only(PROC + 'outputs: { path: /out, size: 999999999999999Ti }\n')).toMatchObject({ code: 'BV_MANIFEST_LIMIT', clause: 'outputs.size' });
    expect(load(PROC + 'outputs: { path: /out, size: 4096 }\n').outputs?.sizeBytes).toBe(4096);
    expect(load(PROC + 'outputs: { path: /out, size: 4Ki }\n').outputs?.sizeBytes).toBe(4096);
  });

  it('the outputs path may not also be a filesystem grant (a bundle-relative grant is elsewhere)', () => {
    expect(only(PROC + 'filesystem:\n  - { path: /out, access: read-write }\noutputs: { path: /out }\n')).toMatchObject({ code: 'BV_MANIFEST_CONFLICT', clause: 'outputs.path', message: '/out is also a filesystem grant', hint: 'outputs gets its own directory; drop the grant' });
    expect(load(PROC + 'filesystem:\n  - { path: /srv, access: read }\noutputs: { path: /out }\n').outputs?.path).toBe('/out');
  });

  it('outputs is for processes (a wasm guest writes through a preopened grant)', () => {
    expect(only(WASM + 'outputs: { path: /out }\n')).toMatchObject({ code: 'BV_MANIFEST_CONFLICT', clause: 'outputs', message: expect.stringMatching(/^outputs applies to process workloads/) });
  });
});

describe('every problem is reported, not the first', () => {
  it('three rules broken: three issues, in manifest order, each located', () => {
    const e = refused(HEAD + 'workload:\n  process: { exe: bin/x, cwd: work }\nfilesystem:\n  - { path: srv, access: read }\n');
    expect(e.code).toBe('BV_MANIFEST_INVALID');
    expect(e.issues.map((i) => [i.code, i.clause, i.line, i.col])).toEqual([
      ['BV_MANIFEST_PATH', 'workload.process.exe', 3, 19],
      ['BV_MANIFEST_PATH', 'workload.process.cwd', 3, 31],
      ['BV_MANIFEST_PATH', 'filesystem[0].path', 5, 13],
    ]);
    expect(e.message).toBe('b/boundary.yaml: 3 problems in the manifest');
    // The error's hint is the first issue's that has one.
    expect(e.hint).toBe(e.issues[0]!.hint);
  });

  it('one problem is one problem; without a hint of its own the error points at the schema and bvisor spec', () => {
    const e = refused(PROC + 'limits: { openFiles: 2 }\n');
    expect(e.message).toBe('b/boundary.yaml: 1 problem in the manifest');
    expect(e.hint).toMatch(/schemas\/boundary\.schema\.json/);
    expect(e.hint).toMatch(/bvisor spec/);
  });
});
